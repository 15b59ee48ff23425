"""Kodak RD results for every shipped codec and classical baseline, the RD plot and the README table.

    python scripts/kodak_results.py --run [--workers 2]   # ncodec eval of every codec (resumable), then below
    python scripts/kodak_results.py                       # regenerate summary, plot and README table from JSON
    python scripts/kodak_results.py --check               # exit 1 if README's table is not what the JSON gives
    python scripts/kodak_results.py --plot-only           # only redraw results/kodak/rd.png and .svg

Every number in the README table comes from `results/kodak/*.json` (ncodec eval, real bitstreams) and the
published anchors shipped in `evaluation/anchors/kodak/`; BD-rates are against the published VTM curve
over the overlapping PSNR range. `--run` needs the Kodak folder ($NCODEC_DATA/kodak); the other modes
need only the repository.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ncodec.codecs.imageio import atomic_write_bytes
from ncodec.datasets.images import data_root
from ncodec.errors import UnsupportedInputError
from ncodec.evaluation.bdrate import bd_rate
from ncodec.evaluation.curves import load_curve, load_result

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "results" / "kodak"
README = REPO / "README.md"
BEGIN, END = "<!-- kodak-table:begin (scripts/kodak_results.py) -->", "<!-- kodak-table:end -->"
ANCHOR = "anchor:kodak/vtm"
# Shipped learned codecs first, then the classical baselines; lossless references last.
CODECS = ["checkerboard-channel", "mean-scale-hyperprior", "walloc", "jpeg", "webp", "avif", "jpeg-xl", "hevc-intra", "jpeg2000", "png",
          "webp-lossless"]
PUBLISHED = ["vtm", "hm", "bpg_444_x265_ycbcr", "av1", "webp", "jpeg2000", "jpeg",
             "compressai-mbt2018-mean_mse_cuda", "compressai-bmshj2018-hyperprior_mse_cuda",
             "compressai-bmshj2018-factorized_mse_cuda", "paper-elic2022_mse"]
PLOTTED_ANCHORS = ["compressai-mbt2018-mean_mse_cuda", "bpg_444_x265_ycbcr"]


def _bd(path: str, metric: str, method: str) -> float | None:
    try:
        return bd_rate(load_curve(ANCHOR, metric), load_curve(path, metric), method)
    except (UnsupportedInputError, ValueError):  # lossless (no finite PSNR) or no MS-SSIM published
        return None


def summarise() -> list[dict]:
    rows = []
    for codec in CODECS:
        path = OUT / f"{codec}.json"
        if not path.is_file():
            raise UnsupportedInputError(f"{path.relative_to(REPO)} is missing: run with --run first")
        doc = json.loads(path.read_text())
        r = doc["results"]
        rows.append({"codec": codec, "source": "ncodec eval", "file": str(path.relative_to(REPO)),
                     "images": len({p["image"] for p in doc["per_image"]}),
                     "lossless": all(p.get("exact") for p in doc["per_image"]),
                     "bpp_min": min(r["bpp"]), "bpp_max": max(r["bpp"]),
                     "bd_psnr_cubic": _bd(str(path), "psnr-rgb", "cubic"),
                     "bd_psnr_pchip": _bd(str(path), "psnr-rgb", "pchip"),
                     "bd_msssim_cubic": _bd(str(path), "ms-ssim-rgb-db", "cubic"),
                     "encode_s": sum(r["encoding_time"]) / len(r["encoding_time"]),
                     "decode_s": sum(r["decoding_time"]) / len(r["decoding_time"])})
    for name in PUBLISHED:
        ref = f"anchor:kodak/{name}"
        label, r = load_result(ref)
        rows.append({"codec": label, "source": "published", "file": f"evaluation/anchors/kodak/{name}.json",
                     "lossless": False, "bpp_min": min(r["bpp"]), "bpp_max": max(r["bpp"]),
                     "bd_psnr_cubic": _bd(ref, "psnr-rgb", "cubic"), "bd_psnr_pchip": _bd(ref, "psnr-rgb", "pchip"),
                     "bd_msssim_cubic": _bd(ref, "ms-ssim-rgb-db", "cubic")})
    return rows


def _pct(v: float | None) -> str:
    return "—" if v is None else f"{v:+.1f} %"


def table(rows: list[dict]) -> str:
    lines = [BEGIN, "",
             "| codec | source | bpp range | BD-rate PSNR-RGB (cubic) | (PCHIP) | BD-rate MS-SSIM dB (cubic) "
             "| encode s/img | decode s/img |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        bd = ("lossless", "lossless", "lossless") if r["lossless"] else \
            (_pct(r["bd_psnr_cubic"]), _pct(r["bd_psnr_pchip"]), _pct(r["bd_msssim_cubic"]))
        times = (f"{r['encode_s']:.3f}", f"{r['decode_s']:.3f}") if "encode_s" in r else ("—", "—")
        name = f"`{r['codec']}`" if r["source"] == "ncodec eval" else r["codec"]
        lines.append(f"| {name} | {r['source']} | {r['bpp_min']:.2f}–{r['bpp_max']:.2f} | {bd[0]} | {bd[1]} | "
                     f"{bd[2]} | {times[0]} | {times[1]} |")
    lines += ["", "BD-rate against the published VTM curve over the overlapping quality range; negative means "
              "fewer bits than VTM. Times: mean seconds per Kodak image, two images coded at once on a 2-core "
              "CPU (`--workers 2`; each JSON's `machine` says where it ran).", "", END]
    return "\n".join(lines)


def _readme_with(text: str) -> str:
    readme = README.read_text()
    if BEGIN not in readme or END not in readme:
        raise UnsupportedInputError(f"README.md lacks the {BEGIN} … {END} markers")
    head, rest = readme.split(BEGIN, 1)
    return head + text + rest.split(END, 1)[1]


def run(workers: int) -> None:
    from ncodec.evaluation.runner import run_eval

    kodak = data_root() / "kodak"
    if not kodak.is_dir():
        raise UnsupportedInputError(f"Kodak not found at {kodak} (set NCODEC_DATA to the folder holding kodak/)")
    OUT.mkdir(parents=True, exist_ok=True)
    for codec in CODECS:
        run_eval(kodak, codec, None, OUT / f"{codec}.json", workers=workers)


def plot() -> None:
    """results/kodak/rd.png and .svg from the JSON and the shipped anchors."""
    from ncodec.evaluation.plot import plot_rd

    files = [str(OUT / f"{c}.json") for c in CODECS] + [f"anchor:kodak/{n}" for n in PLOTTED_ANCHORS]
    plot_rd(files, OUT / "rd.png", ["psnr-rgb", "ms-ssim-rgb-db"], anchor=ANCHOR, max_bpp=2.0,
            title="Kodak (24 images), real bitstreams; published curves for VTM, BPG and mbt2018-mean")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", action="store_true", help="run ncodec eval for every codec first (needs Kodak)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--check", action="store_true", help="only verify README's table against the JSON")
    ap.add_argument("--plot-only", action="store_true", help="only redraw results/kodak/rd.png and .svg from the JSON")
    a = ap.parse_args(argv)
    try:
        if a.run:
            run(a.workers)
        if a.plot_only:
            plot()
            return 0
        rows = summarise()
        text = table(rows)
        if a.check:
            if _readme_with(text) != README.read_text():
                print("README.md's Kodak table differs from results/kodak/*.json: run scripts/kodak_results.py",
                      file=sys.stderr)
                return 1
            print("README table matches results/kodak/*.json")
            return 0
        atomic_write_bytes(OUT.parent / "kodak-summary.json", (json.dumps(rows, indent=1) + "\n").encode())
        plot()
        atomic_write_bytes(README, _readme_with(text).encode())
        print(text)
    except UnsupportedInputError as exc:
        print(f"kodak_results: error: {exc}", file=sys.stderr)
        return 4
    return 0


if __name__ == "__main__":
    from ncodec.cli import run_reporting_errors

    sys.exit(run_reporting_errors(main))
