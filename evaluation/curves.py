"""Loading RD curves from result JSON files (CompressAI's format, which ``ncodec eval`` also writes)
and from the shipped published anchors."""

from __future__ import annotations

import json
import math
from pathlib import Path

from ncodec.errors import UnsupportedInputError
from ncodec.evaluation.bdrate import Curve

ANCHORS_DIR = Path(__file__).resolve().parent / "anchors"
LOWER_IS_BETTER = {"lpips", "error-rate", "top1-error"}


def _metric_values(results: dict, metric: str) -> list[float]:
    if metric in results:
        return [float(v) for v in results[metric]]
    if metric.endswith("-db") and metric[:-3] in results:  # e.g. ms-ssim-rgb-db from ms-ssim-rgb
        vals = [float(v) for v in results[metric[:-3]]]
        if any(not 0 <= v < 1 for v in vals):
            raise ValueError(f"{metric[:-3]} values must lie in [0, 1) to convert to dB")
        return [-10.0 * math.log10(1.0 - v) for v in vals]
    if metric == "ms-ssim-db" and "ms-ssim-rgb" in results:
        return _metric_values(results, "ms-ssim-rgb-db")
    raise KeyError(metric)


def load_curve(path: str | Path, metric: str = "psnr-rgb") -> Curve:
    """Curve of ``metric`` against ``bpp`` from a result JSON; one-line UnsupportedInputError otherwise.

    ``path`` may also name a shipped anchor, e.g. ``anchor:kodak/vtm``.
    """
    p = Path(path)
    if str(path).startswith("anchor:"):
        p = ANCHORS_DIR / (str(path)[len("anchor:"):] + ".json")
    if not p.is_file():
        raise UnsupportedInputError(f"result file not found: {path}")
    try:
        doc = json.loads(p.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise UnsupportedInputError(f"{p.name} is not valid JSON ({str(exc).splitlines()[0][:80]})") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("results"), dict):
        raise UnsupportedInputError(f"{p.name} is not an RD result file (no 'results' object)")
    results = doc["results"]
    try:
        rate = [float(v) for v in results["bpp"]]
        quality = _metric_values(results, metric)
        return Curve(tuple(rate), tuple(quality), str(doc.get("name", p.stem)))
    except KeyError as exc:
        raise UnsupportedInputError(f"{p.name} has no {exc.args[0]!r} values") from None
    except (TypeError, ValueError) as exc:
        raise UnsupportedInputError(f"{p.name}: {str(exc).splitlines()[0][:120]}") from None


def shipped_anchors(dataset: str = "kodak") -> list[str]:
    return sorted(f"anchor:{dataset}/{p.stem}" for p in (ANCHORS_DIR / dataset).glob("*.json"))
