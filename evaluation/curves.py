"""Loading RD curves from result JSON files (CompressAI's format, which ``ncodec eval`` also writes)
and from the shipped published anchors."""

from __future__ import annotations

import json
import math
from pathlib import Path

from ncodec.errors import UnsupportedInputError
from ncodec.evaluation.bdrate import Curve

ANCHORS_DIR = Path(__file__).resolve().parent / "anchors"
LOWER_IS_BETTER = {"lpips", "error-rate", "top1-error", "cer", "chamfer"}


METRIC_ALIASES = {"ms-ssim-db-rgb": "ms-ssim-rgb-db", "ms-ssim-db": "ms-ssim-rgb-db", "psnr": "psnr-rgb",
                  "ms-ssim": "ms-ssim-rgb"}


def _floats(values: list) -> list[float]:
    """Numbers as floats; null (e.g. the PSNR of a lossless result) becomes NaN."""
    return [math.nan if v is None else float(v) for v in values]


def _metric_values(results: dict, metric: str) -> list[float]:
    candidates = [metric] + [k for k, v in METRIC_ALIASES.items() if v == metric]
    for key in candidates:
        if key in results:
            return _floats(results[key])
    if metric.endswith("-db") and metric[:-3] in results:  # e.g. ms-ssim-rgb-db from ms-ssim-rgb
        vals = _floats(results[metric[:-3]])
        if any(not 0 <= v <= 1 for v in vals if not math.isnan(v)):
            raise ValueError(f"{metric[:-3]} values must lie in [0, 1] to convert to dB")
        return [math.inf if v == 1 else -10.0 * math.log10(1.0 - v) for v in vals]
    if metric in METRIC_ALIASES:
        return _metric_values(results, METRIC_ALIASES[metric])
    raise KeyError(metric)


def resolve(path: str | Path) -> Path:
    """A result file path, or a shipped anchor named ``anchor:DATASET/NAME`` (e.g. ``anchor:kodak/vtm``)."""
    if str(path).startswith("anchor:"):
        return ANCHORS_DIR / (str(path)[len("anchor:"):] + ".json")
    return Path(path)


def load_result(path: str | Path) -> tuple[str, dict]:
    """(name, results) of a result JSON (ncodec's or CompressAI's layout); one-line error otherwise."""
    p = resolve(path)
    if not p.is_file():
        if str(path).startswith("anchor:"):
            dataset = str(path)[len("anchor:"):].split("/")[0]
            known = ", ".join(shipped_anchors(dataset)) or "anchor:kodak/…"
            raise UnsupportedInputError(f"no shipped anchor {path}; available: {known}")
        raise UnsupportedInputError(f"result file not found: {path}")
    try:
        doc = json.loads(p.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise UnsupportedInputError(f"{p.name} is not valid JSON ({str(exc).splitlines()[0][:80]})") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("results"), dict):
        raise UnsupportedInputError(f"{p.name} is not an RD result file (no 'results' object)")
    if not isinstance(doc["results"].get(RATE_KEYS[0]), list) and not isinstance(doc["results"].get(RATE_KEYS[1]), list):
        raise UnsupportedInputError(f"{p.name} has no 'bpp' (or 'bits_per_point') list in 'results'")
    return str(doc.get("name", p.stem)), doc["results"]


RATE_KEYS = ("bpp", "bits_per_point")  # images and video: bits per pixel; point clouds: bits per input point


def rate_key(results: dict) -> str:
    """Which rate a result uses: ``bpp`` or, for point clouds, ``bits_per_point``."""
    return RATE_KEYS[0] if RATE_KEYS[0] in results else RATE_KEYS[1]


def original_value(path: str | Path, metric: str) -> float | None:
    """The metric on the uncompressed inputs, which ``ncodec perception`` records as ``original``."""
    doc = json.loads(resolve(path).read_text(encoding="utf-8"))
    value = doc.get("original", {}).get(metric) if isinstance(doc.get("original"), dict) else None
    return float(value) if isinstance(value, (int, float)) else None


def metric_points(results: dict, metric: str) -> tuple[list[float], list[float]]:
    """(bpp, metric) pairs of one result; KeyError if absent, ValueError if malformed.

    Null values come back as NaN and exact (lossless) MS-SSIM as +inf dB; callers that need finite
    curves (BD metrics) reject them, plots skip them.
    """
    rate = [float(v) for v in results[rate_key(results)]]
    quality = _metric_values(results, metric)
    if len(rate) != len(quality):
        raise ValueError(f"{len(rate)} rate values but {len(quality)} {metric} values")
    return rate, quality


def load_curve(path: str | Path, metric: str = "psnr-rgb") -> Curve:
    """Curve of ``metric`` against ``bpp`` from a result JSON; one-line UnsupportedInputError otherwise.

    ``path`` may also name a shipped anchor, e.g. ``anchor:kodak/vtm``.
    """
    name, results = load_result(path)
    label = resolve(path).name
    try:
        rate, quality = metric_points(results, metric)
        return Curve(tuple(rate), tuple(quality), name)
    except KeyError as exc:
        have = sorted(k for k, v in results.items() if isinstance(v, list) and k not in RATE_KEYS)
        raise UnsupportedInputError(f"{label} has no {exc.args[0]!r} values; use --metric with one of: "
                                    f"{', '.join(have)}") from None
    except (TypeError, ValueError) as exc:
        raise UnsupportedInputError(f"{label}: {str(exc).splitlines()[0][:120]}") from None


def shipped_anchors(dataset: str = "kodak") -> list[str]:
    return sorted(f"anchor:{dataset}/{p.stem}" for p in (ANCHORS_DIR / dataset).glob("*.json"))
