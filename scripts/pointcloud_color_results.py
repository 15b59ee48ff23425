"""Colour RD on the coloured stereo scan: ncodec's RAHT colour coder against Draco's colour quantisation.

Geometry is fixed (10 bits, the same voxels for both codecs). Colour rate = bytes of the bitstream with
colours minus bytes of the same codec's geometry-only bitstream, per voxel. Colour quality: PSNR-Y
(BT.601) and PSNR-RGB of the decoded voxel colours against the voxelised input colours (the mean colour
of the input points in each voxel, which both codecs receive). ncodec's knob is the quantisation step
of the transform coefficients; Draco codes colours losslessly, so its knob is how many low bits are
dropped first (Draco's own colour quantisation). Real ``.ncd`` bitstreams, encoded and decoded.
Writes results/3d/color-mug.json and results/3d/color.png.

    python scripts/pointcloud_color_results.py
    python scripts/pointcloud_color_results.py --plot-only   # redraw color.png from the committed JSON
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import numpy as np

from ncodec.codecs import container
from ncodec.codecs.attributes import RGB_TO_YCBCR
from ncodec.codecs.pointio import morton_encode, read_points, voxelize
from ncodec.codecs.registry import load_codec
from ncodec.datasets.images import data_root
from ncodec.evaluation.bdrate import Curve, bd_rate

ROOT = Path(__file__).resolve().parent.parent
BITS = 10


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return math.inf if mse == 0 else 10 * math.log10(255.0 ** 2 / mse)


def by_key(coords: np.ndarray, colors: np.ndarray) -> np.ndarray:
    return colors[np.argsort(morton_encode(coords))]


def run_codec(name: str, cloud, knobs: list[float]) -> dict:
    codec = load_codec(name)
    expected = voxelize(cloud, BITS)
    reference = by_key(expected.coords, expected.colors)
    geometry_only = len(container.pack(*_pack(codec.compress(cloud, quality=BITS, color_step=0))))
    rows = []
    for knob in knobs:
        enc = codec.compress(cloud, quality=BITS, color_step=knob)
        data = container.pack(enc.header, enc.sections)
        header, sections = container.unpack(data)
        out = codec.decompress(header, sections)
        got = by_key(out.coords, out.colors)
        y_ref, y_got = reference @ RGB_TO_YCBCR[0], got @ RGB_TO_YCBCR[0]
        rows.append({"color_step": knob, "bytes": len(data), "color_bytes": len(data) - geometry_only,
                     "color_bits_per_point": 8 * (len(data) - geometry_only) / len(reference),
                     "psnr_y": psnr(y_ref, y_got), "psnr_rgb": psnr(reference, got)})
        print(f"{name:10s} step {knob:6g}  {rows[-1]['color_bits_per_point']:6.3f} bits/point  "
              f"PSNR-Y {rows[-1]['psnr_y']:6.2f} dB  PSNR-RGB {rows[-1]['psnr_rgb']:6.2f} dB", flush=True)
    return {"name": name, "geometry_bytes": geometry_only, "rows": rows,
            "results": {k: [r[k] for r in rows] for k in ("color_bits_per_point", "psnr_y", "psnr_rgb")}}


def _pack(enc):
    return enc.header, enc.sections


def plot(doc: dict, out: Path) -> Path:
    """PSNR-Y against colour bits per voxel, one line per codec, from the color-mug.json document."""
    from ncodec.evaluation.plot import MARKERS, Panel, Series, draw_panels, save_figure

    bd = doc["bd_rate_psnr_y_vs_draco"]
    series = [Series(e["name"] + (f" ({bd:+.1f} % vs draco, BD-rate on PSNR-Y)" if e["name"] == "octree-pc" else ""),
                     list(e["results"]["color_bits_per_point"]), list(e["results"]["psnr_y"]), color=f"C{k}",
                     marker=MARKERS[k]) for k, e in enumerate(doc["codecs"])]
    panel = Panel("psnr_y", series, "PSNR-Y [dB]", "colour bits per voxel",
                  title=f"{doc['object']}, {doc['voxels']:,} voxels ({doc['geometry_bits']}-bit geometry)")
    fig = draw_panels([panel], title="Point-cloud colour: ncodec's RAHT colour coder vs Draco (real bitstreams)",
                      panel_width=6.0)
    return save_figure(fig, out / "color.png", formats=(".png",))[0]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--input", default=str(data_root() / "3d" / "table_scene_mug_stereo_textured.pcd"))
    p.add_argument("--out", default=str(ROOT / "results" / "3d"))
    p.add_argument("--plot-only", action="store_true", help="redraw results/3d/color.png from color-mug.json")
    a = p.parse_args()
    if a.plot_only:
        print(f"wrote {plot(json.loads((Path(a.out) / 'color-mug.json').read_text()), Path(a.out))}")
        return 0
    cloud = read_points(a.input)
    entries = [run_codec("octree-pc", cloud, [2, 4, 8, 16, 32, 64]),
               run_codec("draco", cloud, [2, 4, 8, 16, 32, 64])]  # Draco: drops 1..6 low bits
    finite = [{k: [v for v, y in zip(e["results"][k], e["results"]["psnr_y"]) if math.isfinite(y)]
               for k in ("color_bits_per_point", "psnr_y")} for e in entries]
    bd = bd_rate(Curve(finite[1]["color_bits_per_point"], finite[1]["psnr_y"]),
                 Curve(finite[0]["color_bits_per_point"], finite[0]["psnr_y"]))
    doc = {"object": Path(a.input).name, "geometry_bits": BITS, "voxels": len(voxelize(cloud, BITS).coords),
           "note": ("colour rate = bytes with colours - bytes of the same codec without; quality against the "
                    "voxelised input colours; Draco codes colours losslessly after dropping low bits"),
           "bd_rate_psnr_y_vs_draco": bd, "codecs": entries}
    out = Path(a.out)
    (out / "color-mug.json").write_text(json.dumps(doc, indent=1) + "\n")
    plot(doc, out)
    print(f"BD-rate (PSNR-Y) of ncodec's colour coder vs Draco: {bd:+.1f} %")
    return 0


if __name__ == "__main__":
    from ncodec.cli import run_reporting_errors

    raise SystemExit(run_reporting_errors(main))
