"""Point-cloud geometry RD results: octree coders against Draco on issue 7's test objects.

For each object and codec, at bit depths 8..14: the real ``.ncd`` bitstream is written and decoded,
and the decoded points are compared with the *input* points (D1/D2 PSNR with the bounding-cube side as
peak, Chamfer distance). Rate is bits per input point. Also checks that the decoded voxels equal the
voxelised input exactly. Writes results/3d/OBJECT.json (one document per object, one entry per codec)
and prints BD-rates against Draco on D1-PSNR.

    python scripts/pointcloud_results.py [--codecs octree-adaptive,draco] [--bits 8-14]
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from pathlib import Path


from ncodec import api
from ncodec.codecs.pointio import read_points, voxelize
from ncodec.datasets.images import data_root
from ncodec.evaluation.bdrate import Curve, bd_rate
from ncodec.evaluation.metrics3d import estimate_normals, geometry_metrics

ROOT = Path(__file__).resolve().parent.parent
OBJECTS = ["bunny00.off", "armadillo.off", "ChineseDragon-10kv.off", "bun0.pcd"]


def run_object(path: Path, codecs: list[str], depths: list[int]) -> dict:
    cloud = read_points(path)
    normals = cloud.normals if cloud.normals is not None else estimate_normals(cloud.points)
    entries = []
    with tempfile.TemporaryDirectory() as tmp:
        for codec in codecs:
            rows = []
            for bits in depths:
                ncd = Path(tmp) / f"{codec}-{bits}.ncd"
                t0 = time.perf_counter()
                data = api.encode(str(path), ncd, codec=codec, quality=bits, force=True)
                t1 = time.perf_counter()
                decoded = api.decode(ncd)
                t2 = time.perf_counter()
                expected = voxelize(cloud, bits)
                stream = api.open(ncd)
                from ncodec.codecs.registry import load_codec

                vox = load_codec(codec).decompress(stream.header, stream.sections)
                exact = {tuple(r) for r in vox.coords.tolist()} == {tuple(r) for r in expected.coords.tolist()}
                m = geometry_metrics(cloud.points, decoded, expected.side, original_normals=normals)
                rows.append({"bits": bits, "bytes": len(data), "bits_per_point": 8 * len(data) / len(cloud),
                             "voxels": len(expected.coords), "exact_voxels": exact, "encode_s": t1 - t0,
                             "decode_s": t2 - t1, **m})
                print(f"{path.name:24s} {codec:16s} {bits:2d} bits  {8 * len(data) / len(cloud):7.3f} b/pt  "
                      f"D1 {m['d1_psnr']:6.2f} dB  D2 {m['d2_psnr']:6.2f} dB  exact={exact}", flush=True)
            entries.append({"name": codec, "rows": rows,
                            "results": {k: [r[k] for r in rows] for k in
                                        ("bits", "bits_per_point", "d1_psnr", "d2_psnr", "chamfer", "bytes")}})
    return {"object": path.name, "points": len(cloud), "peak": rows[0]["peak"], "codecs": entries}


def write_curves(doc: dict, out: Path) -> None:
    """One file per (object, codec) in the `ncodec eval` layout, for `ncodec plot` and `ncodec bdrate`
    (rate: bits_per_point; metrics d1_psnr, d2_psnr, chamfer)."""
    for entry in doc["codecs"]:
        curve = {"name": entry["name"], "description": f"{entry['name']} on {doc['object']}",
                 "object": doc["object"], "points": doc["points"], "peak": doc["peak"],
                 "results": entry["results"]}
        (out / f"{Path(doc['object']).stem}-{entry['name']}.json").write_text(json.dumps(curve, indent=1) + "\n")


def bd_vs(doc: dict, codec: str, anchor: str = "draco", metric: str = "d1_psnr") -> float | None:
    by = {e["name"]: e["results"] for e in doc["codecs"]}
    if codec not in by or anchor not in by:
        return None
    test, ref = by[codec], by[anchor]
    return bd_rate(Curve(ref["bits_per_point"], ref[metric]), Curve(test["bits_per_point"], test[metric]))


def plot(out: Path) -> Path:
    """D1-PSNR vs bits per input point, one panel per object, from the JSON in ``out``."""
    from ncodec.evaluation.plot import MARKERS, Panel, Series, draw_panels, save_figure

    docs = [json.loads((out / f"{Path(n).stem}.json").read_text()) for n in OBJECTS if (out / f"{Path(n).stem}.json").exists()]
    if not docs:
        raise SystemExit(f"no OBJECT.json results in {out}: run without --plot-only first")
    codecs = list(dict.fromkeys(e["name"] for doc in docs for e in doc["codecs"]))  # same colour in every panel
    panels = []
    for doc in docs:
        series = []
        for entry in doc["codecs"]:
            r = entry["results"]
            bd = doc.get("bd_rate_vs_draco_d1", {}).get(entry["name"])
            k = codecs.index(entry["name"])
            series.append(Series(entry["name"] + (f" ({bd:+.1f} % vs draco)" if bd is not None else ""),
                                 list(r["bits_per_point"]), list(r["d1_psnr"]), color=f"C{k % 10}",
                                 marker=MARKERS[k % len(MARKERS)]))
        panels.append(Panel(doc["object"], series, "D1 PSNR [dB]", "bits per input point",
                            title=f"{doc['object']} ({doc['points']:,} points)"))
    fig = draw_panels(panels, title="Point-cloud geometry: D1 PSNR against bits per input point, octree coders "
                                    "vs Draco (real bitstreams, bit depths 8-14; BD-rate vs Draco on D1)",
                      columns=2, panel_width=5.0)
    return save_figure(fig, out / "rd.png", formats=(".png",))[0]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--codecs", default="octree-pc,octree-adaptive,draco")
    p.add_argument("--bits", default="8-14", help="range A-B of bit depths")
    p.add_argument("--out", default=str(ROOT / "results" / "3d"))
    p.add_argument("--plot-only", action="store_true", help="redraw results/3d/rd.png from the JSON")
    a = p.parse_args()
    if a.plot_only:
        for name in OBJECTS:
            path = Path(a.out) / f"{Path(name).stem}.json"
            if path.exists():
                write_curves(json.loads(path.read_text()), Path(a.out))
        print(f"wrote {plot(Path(a.out))}")
        return 0
    lo, hi = (int(x) for x in a.bits.split("-"))
    codecs = a.codecs.split(",")
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    summary = []
    for name in OBJECTS:
        doc = run_object(data_root() / "3d" / name, codecs, list(range(lo, hi + 1)))
        doc["machine"] = {"platform": platform.platform()}
        doc["note"] = ("rate: bits per input point; D1/D2 PSNR = 10 log10(3 peak^2 / max MSE of both directions), "
                       "peak = bounding-cube side; every codec codes the same voxelised, de-duplicated cloud")
        doc["bd_rate_vs_draco_d1"] = {c: bd_vs(doc, c) for c in codecs if c != "draco"}
        doc["bd_rate_vs_adaptive_d1"] = {c: bd_vs(doc, c, anchor="octree-adaptive") for c in codecs
                                         if c not in ("draco", "octree-adaptive")}
        (out / f"{Path(name).stem}.json").write_text(json.dumps(doc, indent=1) + "\n")
        write_curves(doc, out)
        summary.append((name, doc["bd_rate_vs_draco_d1"]))
    print(f"wrote {plot(out)}")
    print("\n| object | " + " | ".join(f"{c} BD-rate vs Draco (D1)" for c in codecs if c != "draco") + " |")
    print("|---|" + "---|" * len([c for c in codecs if c != "draco"]))
    for name, bds in summary:
        print(f"| {name} | " + " | ".join(f"{v:+.1f} %" if v is not None else "–" for v in bds.values()) + " |")
    return 0


if __name__ == "__main__":
    from ncodec.cli import run_reporting_errors

    raise SystemExit(run_reporting_errors(main))
