"""``ncodec plot``: rate-distortion (or task-metric) curves from result JSON files and shipped anchors.

One panel per metric (default PSNR-RGB and MS-SSIM in dB), one line per file, and each legend entry
carries the file's BD-rate against the chosen anchor for that panel's metric. The figure is written
as PNG and as SVG (same stem), both through a temporary file and a rename.
"""

from __future__ import annotations

import io
import math
import os
from dataclasses import dataclass
from pathlib import Path

from ncodec.codecs.imageio import atomic_write_bytes
from ncodec.errors import UnsupportedInputError
from ncodec.evaluation.bdrate import Curve, bd_rate
from ncodec.evaluation.curves import LOWER_IS_BETTER, load_result, metric_points, original_value, rate_key

AXIS_LABELS = {"psnr-rgb": "PSNR-RGB [dB]", "psnr-y": "PSNR-Y [dB]", "ms-ssim-rgb": "MS-SSIM (RGB)",
               "ms-ssim-rgb-db": "MS-SSIM (RGB) [dB]"}


@dataclass
class Series:
    label: str
    rate: list[float]
    quality: list[float]
    is_anchor: bool = False


def _series(path: str, metric: str) -> Series | None:
    """The file's finite (bpp, metric) points, or None when it has no such metric (e.g. lossless PSNR)."""
    name, results = load_result(path)
    try:
        rate, quality = metric_points(results, metric)
    except KeyError:
        return None
    except (TypeError, ValueError):
        raise UnsupportedInputError(f"{Path(path).name}: malformed {metric!r} values") from None
    # Non-finite points are skipped: a lossless reference has no finite PSNR or MS-SSIM in dB.
    points = sorted((r, q) for r, q in zip(rate, quality) if math.isfinite(r) and math.isfinite(q) and r > 0)
    if not points:
        return None
    original = original_value(path, metric)  # task metrics: the uncompressed inputs' value goes in the legend
    if original is not None:
        name = f"{name}, original {original:.4g}"
    return Series(name, [p[0] for p in points], [p[1] for p in points])


def _bd_label(series: Series, anchor: Series | None, metric: str, method: str) -> str:
    if anchor is None or series.is_anchor:
        return series.label
    try:
        value = bd_rate(Curve(tuple(anchor.rate), tuple(anchor.quality), anchor.label),
                        Curve(tuple(series.rate), tuple(series.quality), series.label),
                        method, higher_is_better=metric not in LOWER_IS_BETTER)
    except ValueError:  # too few points or no overlap with the anchor
        return f"{series.label} (BD-rate n/a)"
    return f"{series.label} ({value:+.1f} %)"


def plot_rd(files: list[str], output: str | os.PathLike[str], metrics: list[str], anchor: str | None = None,
            method: str = "cubic", title: str | None = None, max_bpp: float | None = None) -> list[Path]:
    """Draw one panel per metric; returns the written PNG and SVG paths.

    BD-rates use every point of each curve; ``max_bpp`` only limits the visible x range.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams["svg.fonttype"] = "none"  # SVG text stays text (searchable, editable)
    plt.rcParams["svg.hashsalt"] = "ncodec"  # stable SVG ids, so regenerated figures diff cleanly
    out = Path(output)
    if out.suffix.lower() not in (".png", ".svg"):
        raise UnsupportedInputError(f"plot output must end in .png or .svg, got {out.name}")
    for f in files + ([anchor] if anchor else []):
        load_result(f)  # every input is validated before anything is drawn
    fig, axes = plt.subplots(1, len(metrics), figsize=(6.4 * len(metrics), 4.8), squeeze=False)
    drawn = 0
    for ax, metric in zip(axes[0], metrics):
        anchor_series = _series(anchor, metric) if anchor else None
        if anchor_series is not None:
            anchor_series.is_anchor = True
        panel = [s for s in (_series(f, metric) for f in files) if s is not None]
        if anchor_series is not None:
            ax.plot(anchor_series.rate, anchor_series.quality, "k--", marker=".", label=f"{anchor_series.label} (anchor)")
        for s in panel:
            ax.plot(s.rate, s.quality, marker="o", markersize=3, label=_bd_label(s, anchor_series, metric, method))
        drawn += len(panel)
        per_point = any(rate_key(load_result(f)[1]) == "bits_per_point" for f in files)
        ax.set_xlabel("bits per input point" if per_point else "bits per pixel")
        ax.set_ylabel(AXIS_LABELS.get(metric, metric))
        ax.grid(True, alpha=0.3)
        if max_bpp is not None:
            ax.set_xlim(0, max_bpp)
            visible = [q for c in panel + ([anchor_series] if anchor_series else []) for r, q in zip(c.rate, c.quality)
                       if r <= max_bpp]
            if visible:
                pad = 0.03 * (max(visible) - min(visible) or 1.0)
                ax.set_ylim(min(visible) - pad, max(visible) + pad)
        if panel or anchor_series is not None:
            legend_title = f"BD-rate vs {anchor_series.label} ({method})" if anchor_series else None
            ax.legend(fontsize=7, title=legend_title, title_fontsize=7,
                      loc="upper right" if metric in LOWER_IS_BETTER else "lower right")
    if drawn == 0:
        plt.close(fig)
        raise UnsupportedInputError(f"none of the files has {' or '.join(metrics)} values to plot")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    written = []
    for suffix in (".png", ".svg"):
        buf = io.BytesIO()
        # no timestamps: regenerating a figure from the same JSON gives the same file
        fig.savefig(buf, format=suffix[1:], dpi=120, metadata={"Date": None} if suffix == ".svg" else None)
        target = out.with_suffix(suffix)
        atomic_write_bytes(target, buf.getvalue())
        written.append(target)
    plt.close(fig)
    return written
