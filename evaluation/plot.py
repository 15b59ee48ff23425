"""``ncodec plot``: rate-distortion (or task-metric) curves from result JSON files and shipped anchors.

One panel per metric (default PSNR-RGB and MS-SSIM in dB for images, D1 and D2 PSNR for point clouds),
one line per file, and each legend entry carries the file's BD-rate against the chosen anchor for that
panel's metric. Legends sit below the axes, never over the curves. Single-point references far beyond
the curves' rates (lossless PNG or WebP at 3-13 bpp next to lossy curves at 0.1-2 bpp) are drawn in a
narrow panel of their own to the right (a broken x axis), so the curves keep the full width of theirs.
The figure is written as PNG and as SVG (same stem), both through a temporary file and a rename.

Scripts whose JSON is not in the ``ncodec eval`` layout build :class:`Series` and :class:`Panel`
themselves and call :func:`draw_panels` and :func:`save_figure`, so every figure looks the same.
"""

from __future__ import annotations

import io
import json
import math
import os
import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from ncodec.codecs.imageio import atomic_write_bytes
from ncodec.errors import UnsupportedInputError
from ncodec.evaluation.bdrate import Curve, bd_rate
from ncodec.evaluation.curves import LOWER_IS_BETTER, load_result, metric_points, original_value, rate_key, resolve

AXIS_LABELS = {"psnr-rgb": "PSNR-RGB [dB]", "psnr-y": "PSNR-Y [dB]", "ms-ssim-rgb": "MS-SSIM (RGB)",
               "ms-ssim-rgb-db": "MS-SSIM (RGB) [dB]", "psnr_y": "PSNR-Y [dB]", "psnr_rgb": "PSNR-RGB [dB]",
               "d1_psnr": "D1 PSNR [dB]", "d2_psnr": "D2 PSNR [dB]", "chamfer": "Chamfer distance (lower is better)",
               "cer": "character error rate (lower is better)", "top1": "top-1 accuracy",
               "f1": "face-detection F1", "lpips": "LPIPS (lower is better)"}
RATE_LABELS = {"bpp": "bits per pixel", "bits_per_point": "bits per input point"}
DEFAULT_METRICS = {"bpp": ["psnr-rgb", "ms-ssim-rgb-db"], "bits_per_point": ["d1_psnr", "d2_psnr"]}
# A single-point series whose rate lies beyond this factor times the curves' largest rate (or beyond
# max_bpp) goes to the narrow reference panel instead of stretching the curves' x axis.
REFERENCE_GAP = 1.25
# Error rates (lower is better) spanning this factor or more get a log y axis, so the good end is legible.
LOG_SPAN = 10.0
PANEL_WIDTH = 5.6  # inches, one metric's main axes
REFERENCE_WIDTH = 1.3  # inches, the narrow reference panel beside it
AXES_HEIGHT = 3.6  # inches, axes plus tick labels and axis label
LEGEND_FONT = 8
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*", "<", ">")


@dataclass
class Series:
    """One line (or one reference point) of a panel."""

    label: str
    rate: list[float]
    quality: list[float]
    is_anchor: bool = False
    color: str | None = None
    marker: str = "o"
    linestyle: str = "-"
    lossless: bool = False


@dataclass
class Panel:
    """One axes' worth of series (plus an optional narrow reference panel), with its labels."""

    name: str
    series: list[Series]
    ylabel: str
    xlabel: str = "bits per pixel"
    title: str | None = None
    legend_title: str | None = None
    lower_is_better: bool = False
    max_rate: float | None = None
    levels: list[tuple[float, str]] = field(default_factory=list)  # horizontal reference lines (value, label)
    log_y: bool = False


def _doc(path: str) -> dict:
    return json.loads(resolve(path).read_text(encoding="utf-8"))


def _is_lossless(results: dict) -> bool:
    """A result whose every PSNR is null (exact reconstruction) or whose MS-SSIM is exactly 1."""
    psnr = results.get("psnr-rgb", results.get("psnr"))
    if isinstance(psnr, list) and psnr and all(v is None for v in psnr):
        return True
    ms = results.get("ms-ssim-rgb", results.get("ms-ssim"))
    return isinstance(ms, list) and bool(ms) and all(v == 1 for v in ms)


def _series(path: str, metric: str, with_original: bool = True) -> Series | None:
    """The file's finite (rate, metric) points, or None when it has no such metric (e.g. lossless PSNR)."""
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
    original = original_value(path, metric) if with_original else None
    if original is not None:
        name = f"{name}, original {original:.4g}"
    return Series(name, [p[0] for p in points], [p[1] for p in points], lossless=_is_lossless(results))


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


def split_references(panel: Panel, reference_panel: bool = True) -> tuple[list[Series], list[Series]]:
    """(curves, references): single points far right of the curves go to the narrow reference panel."""
    curves = [s for s in panel.series if len(s.rate) > 1]
    singles = [s for s in panel.series if len(s.rate) == 1]
    if not reference_panel or not curves or not singles:
        return panel.series, []
    if panel.max_rate is not None:
        limit = panel.max_rate
    else:
        limit = REFERENCE_GAP * max(max(s.rate) for s in curves)
    refs = [s for s in singles if s.rate[0] > limit]
    return [s for s in panel.series if not any(s is r for r in refs)], refs


def _text_width_pt(text: str, size: float) -> float:
    from matplotlib.font_manager import FontProperties
    from matplotlib.textpath import TextToPath

    width, _, _ = TextToPath().get_text_width_height_descent(text, FontProperties(size=size), ismath=False)
    return width


def _legend_columns(labels: Sequence[str], width_in: float) -> int:
    """How many legend columns fit in ``width_in`` inches at the legend font."""
    if not labels:
        return 1
    em = LEGEND_FONT
    column = max(_text_width_pt(label, LEGEND_FONT) for label in labels) + (2.0 + 0.8 + 2.0) * em
    return max(1, min(len(labels), int((width_in * 72 - 2 * em) // column)))


def _legend_height_in(n: int, ncol: int, has_title: bool) -> float:
    rows = math.ceil(n / ncol) if n else 0
    return (rows * LEGEND_FONT * 1.75 + (LEGEND_FONT * 1.6 if has_title else 0) + 2 * LEGEND_FONT) / 72


def _wrap(text: str, width_in: float, size: float) -> str:
    """Wrap a title to the figure's width, so it is never cut off at the edge."""
    chars = max(20, int(width_in * 72 / (0.55 * size)))
    return "\n".join(textwrap.fill(line, chars) for line in text.splitlines())


def _draw_series(ax: Any, s: Series) -> None:
    points = [(r, q) for r, q in zip(s.rate, s.quality) if math.isfinite(r) and math.isfinite(q)]
    if not points:
        return
    ax.plot([p[0] for p in points], [p[1] for p in points], color=s.color, marker=s.marker,
            linestyle=s.linestyle if len(points) > 1 else "none",
            markersize=4 if len(points) > 1 else 7, label=s.label)


def _reference_xlim(refs: list[Series]) -> tuple[float, float]:
    rates = [r for s in refs for r in s.rate]
    lo, hi = min(rates), max(rates)
    pad = max(0.15 * (hi - lo), 0.08 * hi)
    return max(0.0, lo - pad), hi + pad


def _mark_break(main: Any, side: Any) -> None:
    """Hide the facing spines and draw the slanted marks of a broken x axis."""
    main.spines["right"].set_visible(False)
    side.spines["left"].set_visible(False)
    side.tick_params(axis="y", which="both", left=False, labelleft=False)
    marks = {"marker": [(-1, -1.5), (1, 1.5)], "markersize": 8, "linestyle": "none", "color": "k",
             "mec": "k", "mew": 1, "clip_on": False}
    main.plot([1, 1], [0, 1], transform=main.transAxes, **marks)
    side.plot([0, 0], [0, 1], transform=side.transAxes, **marks)


def _handles(axes: list[Any], last: Sequence[str] = ()) -> tuple[list[Any], list[str]]:
    """Legend entries of ``axes`` without repeats; labels in ``last`` (reference lines) go to the end."""
    handles, labels = [], []
    for ax in axes:
        for h, label in zip(*ax.get_legend_handles_labels()):
            if label not in labels:
                handles.append(h)
                labels.append(label)
    order = sorted(range(len(labels)), key=lambda k: labels[k] in last)
    return [handles[k] for k in order], [labels[k] for k in order]


def draw_panels(panels: list[Panel], title: str | None = None, reference_panel: bool = True,
                shared_legend: bool = False, columns: int | None = None,
                panel_width: float = PANEL_WIDTH) -> Any:
    """A matplotlib Figure with one panel per :class:`Panel`, legends below the axes.

    ``shared_legend`` draws one legend for the whole figure (when every panel lists the same files with
    the same labels); otherwise each panel has its own. ``columns`` panels per row (default: one row).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    plt.rcParams["svg.fonttype"] = "none"  # SVG text stays text (searchable, editable)
    plt.rcParams["svg.hashsalt"] = "ncodec"  # stable SVG ids, so regenerated figures diff cleanly
    cols = max(1, min(columns or len(panels), len(panels)))
    rows = math.ceil(len(panels) / cols)
    parts = [split_references(p, reference_panel) for p in panels]
    widths = [panel_width + (REFERENCE_WIDTH if refs else 0.0) for _, refs in parts]
    col_widths = [max(widths[i] for i in range(c, len(panels), cols)) for c in range(cols)]
    fig_width = sum(col_widths)

    labels_per_panel = []
    for p, (curves, refs) in zip(panels, parts):
        names = [s.label for s in curves + refs] + [label for _, label in p.levels]
        labels_per_panel.append(list(dict.fromkeys(names)))
    if shared_legend:
        union = list(dict.fromkeys(label for names in labels_per_panel for label in names))
        ncol_shared = _legend_columns(union, fig_width)
        legend_titles = {p.legend_title for p in panels}
        shared_title = legend_titles.pop() if len(legend_titles) == 1 else None
        legend_rows_in = [0.0] * rows
        bottom_in = _legend_height_in(len(union), ncol_shared, shared_title is not None)
    else:
        ncols = [_legend_columns(names, widths[i]) for i, names in enumerate(labels_per_panel)]
        heights = [_legend_height_in(len(names), ncols[i], panels[i].legend_title is not None)
                   for i, names in enumerate(labels_per_panel)]
        legend_rows_in = [max(heights[r * cols:(r + 1) * cols]) for r in range(rows)]
        bottom_in = 0.0
    wrapped = _wrap(title, fig_width, 12) if title else None
    title_in = (wrapped.count("\n") + 1) * 0.25 + 0.1 if wrapped else 0.0
    panel_title_in = 0.3 if any(p.title for p in panels) else 0.0
    row_heights = [AXES_HEIGHT + panel_title_in + legend_rows_in[r] for r in range(rows)]
    fig = plt.figure(figsize=(fig_width, sum(row_heights) + title_in + bottom_in), layout="constrained")
    subfigs = fig.subfigures(rows, cols, width_ratios=col_widths, height_ratios=row_heights, squeeze=False)
    for i, (panel, (curves, refs)) in enumerate(zip(panels, parts)):
        sf = subfigs[i // cols][i % cols]
        if refs:
            main, side = sf.subplots(1, 2, width_ratios=[panel_width, REFERENCE_WIDTH], sharey=True)
        else:
            main, side = sf.subplots(1, 1), None
        main.set_label(f"main:{panel.name}")
        for s in curves:
            _draw_series(main, s)
        for value, label in panel.levels:
            main.axhline(value, color="0.35", linestyle=":", linewidth=1.2, label=label)
        main.set_xlabel(panel.xlabel)
        main.set_ylabel(panel.ylabel + (", log scale" if panel.log_y else ""))
        if panel.log_y:
            main.set_yscale("log")
        main.grid(True, alpha=0.3)
        if panel.title:
            main.set_title(_wrap(panel.title, widths[i], 10), fontsize=10)
        if side is not None:
            side.set_label(f"references:{panel.name}")
            for s in refs:
                _draw_series(side, s)
            for value, _ in panel.levels:
                side.axhline(value, color="0.35", linestyle=":", linewidth=1.2)
            side.set_xlim(*_reference_xlim(refs))
            side.xaxis.set_major_locator(MaxNLocator(nbins=3))
            side.grid(True, alpha=0.3)
            side.set_title("lossless" if all(s.lossless for s in refs) else "single points", fontsize=9)
            _mark_break(main, side)
        if panel.max_rate is not None:
            main.set_xlim(0, panel.max_rate)
            visible = [q for s in curves for r, q in zip(s.rate, s.quality) if r <= panel.max_rate]
            visible += [q for s in refs for q in s.quality] + [v for v, _ in panel.levels]
            visible = [q for q in visible if math.isfinite(q)]
            if visible and panel.log_y:
                main.set_ylim(min(visible) / 1.15, max(visible) * 1.15)
            elif visible:
                pad = 0.03 * (max(visible) - min(visible) or 1.0)
                main.set_ylim(min(visible) - pad, max(visible) + pad)
        if not shared_legend:
            handles, labels = _handles([main] + ([side] if side is not None else []),
                                       [label for _, label in panel.levels])
            if handles:
                sf.legend(handles, labels, loc="outside lower center", ncol=ncols[i], fontsize=LEGEND_FONT,
                          title=panel.legend_title, title_fontsize=LEGEND_FONT)
    if shared_legend:
        handles, labels = _handles(fig.axes, [label for p in panels for _, label in p.levels])
        if handles:
            fig.legend(handles, labels, loc="outside lower center", ncol=ncol_shared, fontsize=LEGEND_FONT,
                       title=shared_title, title_fontsize=LEGEND_FONT)
    if wrapped:
        fig.suptitle(wrapped, fontsize=12)
    return fig


def save_figure(fig: Any, output: str | os.PathLike[str], formats: Sequence[str] = (".png", ".svg"),
                dpi: int = 120) -> list[Path]:
    """Write ``fig`` once per format (same stem as ``output``) through a temp file and a rename; closes it."""
    import matplotlib.pyplot as plt

    out = Path(output)
    written = []
    try:
        for suffix in formats:
            buf = io.BytesIO()
            # no timestamps: regenerating a figure from the same JSON gives the same file
            fig.savefig(buf, format=suffix[1:], dpi=dpi, metadata={"Date": None} if suffix == ".svg" else None)
            target = out.with_suffix(suffix)
            atomic_write_bytes(target, buf.getvalue())
            written.append(target)
    finally:
        plt.close(fig)
    return written


def _default_title(files: list[str]) -> str | None:
    """Point-cloud results name their object: '<object> (N points)'; other results get no default title."""
    objects = {}
    for f in files:
        doc = _doc(f)
        if isinstance(doc.get("object"), str):
            objects.setdefault(doc["object"], doc.get("points"))
    if not objects:
        return None
    names = ", ".join(f"{o} ({n:,} points)" if isinstance(n, int) else o for o, n in objects.items())
    return f"{names}: geometry rate-distortion"


def rd_figure(files: list[str], metrics: list[str] | None = None, anchor: str | None = None,
              method: str = "cubic", title: str | None = None, max_bpp: float | None = None,
              reference_panel: bool = True) -> Any:
    """The Figure :func:`plot_rd` writes (not yet saved); raises UnsupportedInputError on bad input."""
    for f in files + ([anchor] if anchor else []):
        load_result(f)  # every input is validated before anything is drawn
    if anchor:  # the anchor is drawn once, as the anchor, even when it is also among the files
        files = [f for f in files if resolve(f).resolve() != resolve(anchor).resolve()] or files
    kinds = [rate_key(load_result(f)[1]) for f in files]
    if not metrics:
        metrics = DEFAULT_METRICS["bits_per_point" if kinds and all(k == "bits_per_point" for k in kinds) else "bpp"]
    xlabel = RATE_LABELS["bits_per_point" if "bits_per_point" in kinds else "bpp"]
    # Colours and markers follow the files that are drawn somewhere, the same in every panel.
    drawn = [i for i, f in enumerate(files) if any(_series(f, m, with_original=False) for m in metrics)]
    style = {i: (f"C{k % 10}", MARKERS[k % len(MARKERS)], "-" if k < 10 else "-.") for k, i in enumerate(drawn)}
    panels = []
    labels_by_file: dict[int, set[str]] = {}
    for metric in metrics:
        originals = {v for v in (original_value(f, metric) for f in files) if v is not None}
        one_original = len(originals) == 1  # one dotted line instead of the same number in every label
        anchor_series = _series(anchor, metric) if anchor else None
        series = []
        if anchor_series is not None:
            anchor_series.is_anchor = True
            anchor_series.label = f"{anchor_series.label} (anchor)"
            anchor_series.color, anchor_series.marker, anchor_series.linestyle = "k", ".", "--"
            series.append(anchor_series)
        for i, f in enumerate(files):
            s = _series(f, metric, with_original=not one_original)
            if s is None:
                continue
            s.label = _bd_label(s, anchor_series, metric, method)
            labels_by_file.setdefault(i, set()).add(s.label)
            s.color, s.marker, s.linestyle = style[i]
            series.append(s)
        if not series:
            continue
        levels = []
        if one_original:
            value = originals.pop()
            levels.append((value, f"uncompressed inputs ({value:.4g})"))
        values = [q for s in series for q in s.quality] + [v for v, _ in levels]
        log_y = (metric in LOWER_IS_BETTER and min(values) > 0 and max(values) >= LOG_SPAN * min(values))
        panels.append(Panel(metric, series, AXIS_LABELS.get(metric, metric), xlabel, log_y=log_y,
                            legend_title=f"BD-rate vs {anchor_series.label[:-len(' (anchor)')]} ({method})"
                            if anchor_series is not None else None,
                            lower_is_better=metric in LOWER_IS_BETTER, max_rate=max_bpp, levels=levels))
    if not any(any(not s.is_anchor for s in p.series) for p in panels):
        raise UnsupportedInputError(f"none of the files has {' or '.join(metrics)} values to plot")
    if title is None:
        title = _default_title(files)
    # Without an anchor the labels carry no per-metric BD-rate: one legend serves every panel.
    shared = anchor is None and all(len(labels) == 1 for labels in labels_by_file.values())
    return draw_panels(panels, title=title, reference_panel=reference_panel, shared_legend=shared)


def plot_rd(files: list[str], output: str | os.PathLike[str], metrics: list[str] | None = None,
            anchor: str | None = None, method: str = "cubic", title: str | None = None,
            max_bpp: float | None = None, reference_panel: bool = True) -> list[Path]:
    """Draw one panel per metric; returns the written PNG and SVG paths.

    BD-rates use every point of each curve; ``max_bpp`` only limits the visible x range. ``metrics``
    None: PSNR-RGB and MS-SSIM [dB] for images, D1 and D2 PSNR for point clouds. ``reference_panel``
    False keeps far-off single points (lossless references) on the curves' own x axis.
    """
    out = Path(output)
    if out.suffix.lower() not in (".png", ".svg"):
        raise UnsupportedInputError(f"plot output must end in .png or .svg, got {out.name}")
    fig = rd_figure(files, metrics, anchor=anchor, method=method, title=title, max_bpp=max_bpp,
                    reference_panel=reference_panel)
    return save_figure(fig, out)
