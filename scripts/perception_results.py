"""Machine-perception results: OCR, classification and face detection through the default learned codec,
JPEG and WebP, each at five rates, with real bitstreams.

    python scripts/make_perception_data.py        # once: OCR pages and face set into runs/perception-data
    python scripts/perception_results.py --run    # every evaluation (resumes: finished files are kept)
    python scripts/perception_results.py          # plots + README table from the JSON in results/perception/
    python scripts/perception_results.py --check  # the README table matches the JSON
    python scripts/perception_results.py --plot-only  # only redraw the plots from the JSON

Results land in results/perception/TASK-CODEC.json, plots in results/perception/TASK.png (and .svg).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "results" / "perception"
DATA = REPO / "runs" / "perception-data"
README = REPO / "README.md"
BEGIN, END = "<!-- perception-table:begin (scripts/perception_results.py) -->", "<!-- perception-table:end -->"

CODECS = {  # five rates each (the lossless references: one); the first three are the acceptance set
    "mean-scale-hyperprior": "1,1.75,2.5,3.25,4",
    "jpeg": "5,10,20,40,80",
    "webp": "5,15,30,50,80",
    "checkerboard-channel": "1,1.75,2.5,3.25,4",
    "avif": "10,30,50,70,90",
    "jpeg-xl": "10,30,50,70,90",
    "hevc-intra": "46,41,36,31,26",
    "jpeg2000": "24,28,32,36,40",
    "png": "9",
    "webp-lossless": "50",
    "task-fmnist": "1,2,3,4,5",  # the task codec (issue 21): decodes classes, classification only
    "ocr-text": "1,2,3,4,5",  # the OCR codec (issue 21): luma-only, trained on text pages
}
TASK_ONLY = {"task-fmnist": "classify", "ocr-text": "ocr"}  # codecs that serve one task
# Extra low-rate OCR points for the classical codecs that stay accurate longest, so that their CER curves
# reach the rates where the OCR codec works (results/perception/ocr-lowrate/CODEC.json).
OCR_LOWRATE = {"jpeg-xl": "1,4,7", "hevc-intra": "51,48", "avif": "5,15,20"}
CLASSICAL = ("jpeg", "webp", "avif", "jpeg-xl", "hevc-intra", "jpeg2000")
OCR_TARGETS = (0.02, 0.01, 0.005)  # CER at which the rates are compared
TASKS = {
    "ocr": {"data": str(DATA / "pages"), "metric": "cer", "args": ["--engine", "rapidocr"],
            "title": "OCR (RapidOCR) on rendered pages: character error rate and PSNR-RGB vs bits per pixel"},
    "classify": {"data": "fashion-mnist:test", "metric": "top1", "args": [],
                 "title": "Fashion-MNIST classification: top-1 accuracy and PSNR-RGB vs bits per pixel"},
    "faces": {"data": str(DATA / "faces"), "metric": "f1", "args": [],
              "title": "Face detection (OpenCV Haar cascade; F1 against its detections on the originals) "
                       "and PSNR-RGB vs bits per pixel"},
}


def result_path(task: str, codec: str) -> Path:
    return OUT / f"{task}-{codec}.json"


def lowrate_path(codec: str) -> Path:
    return OUT / "ocr-lowrate" / f"{codec}.json"


def run_all(tasks: list[str], codecs: list[str]) -> None:
    from ncodec.cli import main as ncodec

    OUT.mkdir(parents=True, exist_ok=True)
    for task in tasks:
        spec = TASKS[task]
        for codec in codecs:
            if TASK_ONLY.get(codec, task) != task:
                continue
            qualities = CODECS[codec]
            out = result_path(task, codec)
            if out.exists():
                print(f"kept {out.relative_to(REPO)}")
                continue
            code = ncodec(["perception", spec["data"], "--task", task, "--codec", codec, "--qualities", qualities,
                           "-o", str(out), "--no-progress", *spec["args"]])
            if code != 0:
                raise SystemExit(f"{task} through {codec} failed with exit code {code}")
    for codec in (c for c in codecs if c in OCR_LOWRATE and "ocr" in tasks):
        out = lowrate_path(codec)
        if out.exists():
            print(f"kept {out.relative_to(REPO)}")
            continue
        out.parent.mkdir(parents=True, exist_ok=True)
        code = ncodec(["perception", TASKS["ocr"]["data"], "--task", "ocr", "--codec", codec, "--qualities",
                       OCR_LOWRATE[codec], "-o", str(out), "--no-progress", *TASKS["ocr"]["args"]])
        if code != 0:
            raise SystemExit(f"low-rate ocr through {codec} failed with exit code {code}")


def table() -> str:
    from ncodec.evaluation.bdrate import Curve, bd_rate
    from ncodec.evaluation.curves import LOWER_IS_BETTER

    lines = ["| task (metric) | codec | original | bpp range | metric at each rate (low → high bpp) | BD-rate vs JPEG |",
             "|---|---|---|---|---|---|"]
    for task, spec in TASKS.items():
        metric = spec["metric"]
        docs = {c: json.loads(result_path(task, c).read_text()) for c in CODECS if result_path(task, c).exists()}
        if not docs:
            continue
        anchor = docs.get("jpeg")
        for codec, doc in docs.items():
            r = doc["results"]
            pairs = sorted(zip(r["bpp"], r[metric]))
            bd = "—"
            lower = metric in LOWER_IS_BETTER

            def monotonic(points: list[tuple[float, float]]) -> bool:
                values = [v for _, v in points]
                return all((b <= a) if lower else (b >= a) for a, b in zip(values, values[1:]))

            if anchor is not None and codec != "jpeg" and not (
                    monotonic(pairs) and monotonic(sorted(zip(anchor["results"]["bpp"], anchor["results"][metric])))):
                bd = "n/a (not monotonic)"
            elif anchor is not None and codec != "jpeg":
                a = anchor["results"]
                try:
                    value = bd_rate(Curve(tuple(a["bpp"]), tuple(a[metric]), "jpeg"),
                                    Curve(tuple(r["bpp"]), tuple(r[metric]), codec), "pchip",
                                    higher_is_better=metric not in LOWER_IS_BETTER)
                    bd = f"{value:+.1f} %"
                except ValueError:
                    bd = "n/a (no overlap or non-monotonic)"
            lines.append(f"| {task} ({metric}) | `{codec}` | {doc['original'][metric]:.4f} | "
                         f"{pairs[0][0]:.3f}–{pairs[-1][0]:.3f} | "
                         + ", ".join(f"{v:.4f}" for _, v in pairs) + f" | {bd} |")
    lines += task_codec_lines()
    lines += ocr_codec_lines()
    note = ("Every number comes from decoded real bitstreams; `original` is the metric on the uncompressed inputs "
            "(faces: 1 by construction, the detector's own detections are the pseudo ground truth). BD-rate at "
            "equal task metric (PCHIP) against JPEG; n/a where the curves do not overlap or are not monotonic.")
    return "\n".join([BEGIN, "", *lines, "", note, "", END])


def task_codec_lines() -> list[str]:
    """Bits per Fashion-MNIST image of the task codec against every classical codec at the same top-1
    (the classical codec's rate interpolated on its own monotonic curve; only where it reaches it)."""
    import numpy as np

    task = result_path("classify", "task-fmnist")
    if not task.exists():
        return []
    pixels = 28 * 28
    t = json.loads(task.read_text())["results"]
    out = ["", "| task-fmnist point | bits/image | top-1 | " + " | ".join(
        f"`{c}` bits/image at that top-1 (ratio)" for c in ("hevc-intra", "jpeg", "avif")) + " |",
        "|---|---|---|" + "---|" * 3]
    curves = {}
    for codec in ("hevc-intra", "jpeg", "avif"):
        path = result_path("classify", codec)
        if path.exists():
            r = json.loads(path.read_text())["results"]
            pts = sorted(zip(r["top1"], r["bpp"]))
            if all(b2 >= b1 for (_, b1), (_, b2) in zip(pts, pts[1:])):
                curves[codec] = pts
    for i, (bpp, top1) in enumerate(sorted(zip(t["bpp"], t["top1"]))):
        cells = []
        for codec in ("hevc-intra", "jpeg", "avif"):
            pts = curves.get(codec)
            if pts is None or not pts[0][0] <= top1 <= pts[-1][0]:
                cells.append("not reached" if pts is not None and top1 > pts[-1][0] else "below its range")
                continue
            other = float(np.interp(top1, [p[0] for p in pts], [p[1] for p in pts])) * pixels
            cells.append(f"{other:.0f} ({other / (bpp * pixels):.1f}×)")
        out.append(f"| {i + 1} | {bpp * pixels:.1f} | {top1:.4f} | " + " | ".join(cells) + " |")
    out += matched_at_jpeg_best(t, curves, pixels)
    return out


def matched_at_jpeg_best(task: dict, curves: dict, pixels: int) -> list[str]:
    """The issue's acceptance comparison: at the top-1 JPEG reaches at its best rate, the task codec's
    bits per image (its cheapest point at or above that top-1: an upper bound of its rate there) against
    each classical codec's rate at that top-1."""
    import numpy as np

    jpeg = curves.get("jpeg")
    if jpeg is None:
        return []
    target = jpeg[-1][0]
    above = [b for b, t1 in zip(task["bpp"], task["top1"]) if t1 >= target]
    if not above:
        return ["", f"At JPEG's best top-1 ({target:.4f}) the task codec has no point: it does not reach it."]
    mine = min(above) * pixels
    cells = []
    for codec in ("hevc-intra", "jpeg", "avif"):
        pts = curves.get(codec)
        if pts is None or not pts[0][0] <= target <= pts[-1][0]:
            continue
        other = float(np.interp(target, [q[0] for q in pts], [q[1] for q in pts])) * pixels
        cells.append(f"`{codec}` {other:.0f} bits ({other / mine:.1f}× the task codec's)")
    return ["", f"At JPEG's best top-1 ({target:.4f}): the task codec needs at most {mine:.1f} bits per image "
            f"(its cheapest point at or above it); " + ", ".join(cells) + "."]


def ocr_points(codec: str) -> list[tuple[float, float]]:
    """(bpp, CER) of every OCR result of a codec: its five rates plus its low-rate file, sorted by bpp."""
    points = []
    for path in (result_path("ocr", codec), lowrate_path(codec)):
        if path.exists():
            r = json.loads(path.read_text())["results"]
            points += list(zip(r["bpp"], r["cer"]))
    return sorted(points)


def pareto(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """The operational front: the points with a lower CER than every cheaper point."""
    front: list[tuple[float, float]] = []
    for bpp, cer in sorted(points):
        if not front or cer < front[-1][1]:
            front.append((bpp, cer))
    return front


def rate_at(front: list[tuple[float, float]], cer: float) -> float | None:
    """bpp a codec needs for ``cer`` on its front (log-log interpolation); None outside its CER range."""
    import numpy as np

    if len(front) < 2 or not front[-1][1] <= cer <= front[0][1]:
        return None
    log_cer = [np.log(c) for _, c in front][::-1]  # increasing
    log_bpp = [np.log(b) for b, _ in front][::-1]
    return float(np.exp(np.interp(np.log(cer), log_cer, log_bpp)))


def bd_rate_cer(anchor: list[tuple[float, float]], test: list[tuple[float, float]]) -> float | None:
    """Average bpp difference (percent) of ``test`` vs ``anchor`` at equal CER: log bpp interpolated
    piecewise-linearly in log CER on each front, averaged over their common CER range (the fronts are
    monotonic where the raw CER curves are not: OCR noise near the originals' own CER)."""
    import numpy as np

    if len(anchor) < 2 or len(test) < 2:
        return None
    lo = max(min(c for _, c in anchor), min(c for _, c in test))
    hi = min(max(c for _, c in anchor), max(c for _, c in test))
    if not lo < hi:
        return None
    grid = np.clip(np.exp(np.linspace(np.log(lo), np.log(hi), 200)), lo, hi)  # exp(log x) may leave [lo, hi]
    diff = np.mean([np.log(rate_at(test, c)) - np.log(rate_at(anchor, c)) for c in grid])
    return float((np.exp(diff) - 1.0) * 100.0)


def ocr_codec_lines() -> list[str]:
    """The OCR codec against every codec: bpp needed for a few CER targets on each operational front, and
    BD-rate at equal CER; the best classical codec is the one the OCR codec gains least against."""
    if not result_path("ocr", "ocr-text").exists():
        return []
    ours = pareto(ocr_points("ocr-text"))
    others = [c for c in CODECS if c not in TASK_ONLY and c not in ("png", "webp-lossless")
              and result_path("ocr", c).exists()]
    out = ["", "| OCR: codec | points (low-rate extra) | " + " | ".join(f"bpp at CER {t:.1%}" for t in OCR_TARGETS)
           + " | `ocr-text` BD-rate at equal CER |", "|---|---|" + "---|" * len(OCR_TARGETS) + "---|"]
    best: tuple[str, float] | None = None
    for codec in ["ocr-text", *others]:
        points = ocr_points(codec)
        front = pareto(points)
        extra = len(json.loads(lowrate_path(codec).read_text())["results"]["bpp"]) if lowrate_path(codec).exists() else 0
        cells = []
        for target in OCR_TARGETS:
            rate = rate_at(front, target)
            if rate is not None:
                cells.append(f"{rate:.3f}")
            else:
                cells.append("not reached" if target < front[-1][1] else f"< {front[0][0]:.3f}")
        bd = "—"
        if codec != "ocr-text":
            value = bd_rate_cer(front, ours)
            bd = "n/a (no common CER range)" if value is None else f"{value:+.1f} %"
            if value is not None and codec in CLASSICAL and (best is None or value > best[1]):
                best = (codec, value)
        out.append(f"| `{codec}` | {len(points)} ({extra}) | " + " | ".join(cells) + f" | {bd} |")
    if best is not None:
        out += ["", f"OCR codec against the best classical codec at equal CER (`{best[0]}`, the one it gains least "
                f"against): BD-rate {best[1]:+.1f} %. Fronts are each codec's operational points with a lower CER "
                "than every cheaper point; rates interpolated log-log."]
    return out


def plots() -> None:
    from ncodec.evaluation.plot import plot_rd

    for task, spec in TASKS.items():
        files = [str(result_path(task, c)) for c in CODECS if result_path(task, c).exists()]
        if files:
            plot_rd(files, OUT / f"{task}.png", [spec["metric"], "psnr-rgb"], anchor=None,
                    title=f"{spec['title']} (real bitstreams)")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--run", action="store_true", help="run the evaluations that have no result file yet")
    p.add_argument("--check", action="store_true", help="fail if the README table differs from the JSON")
    p.add_argument("--plot-only", action="store_true", help="only redraw the plots from the JSON (README untouched)")
    p.add_argument("--tasks", default=",".join(TASKS), help="with --run: which tasks (default all)")
    p.add_argument("--codecs", default=",".join(CODECS), help="with --run: which codecs (default all)")
    a = p.parse_args(argv)
    if a.run:
        run_all([t for t in a.tasks.split(",") if t], [c for c in a.codecs.split(",") if c])
    if a.plot_only:
        plots()
        return 0
    text = README.read_text(encoding="utf-8")
    pattern = re.compile(re.escape(BEGIN) + ".*?" + re.escape(END), re.S)
    if a.check:
        found = pattern.search(text)
        if found is None or found.group(0) != table():
            print("README perception table differs from results/perception/*.json")
            return 1
        print("README perception table matches the JSON")
        return 0
    plots()
    new = table()
    README.write_text(pattern.sub(lambda _: new, text) if pattern.search(text) else text, encoding="utf-8")
    print(new)
    return 0


if __name__ == "__main__":
    from ncodec.cli import run_reporting_errors

    sys.exit(run_reporting_errors(main))
