"""Command-line interface: ``ncodec encode|decode|info|models|train|export|eval|bdrate|plot|demo``.

Thin layer over the public API. Every NcodecError becomes one line on stderr and the error class's
exit code; argument errors exit 2; anything unexpected is reported in one line with exit code 70.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path
from typing import Callable

from ncodec.errors import MissingDependencyError, MissingDeviceError, NcodecError, UsageError

CODER_BACKENDS = ["constriction", "compressai", "rans-interleaved"]  # entropy.coders.BACKENDS (kept import-light)

EXIT_INTERNAL = 70

QUALITY_HELP = ("what it means depends on the codec (`ncodec models` lists each): learned image codecs a float in "
                "[1, 4] (higher is better), jpeg 1-95, webp/avif 0-100, jpeg-xl 1-99, hevc-intra the QP 0-51 "
                "(lower is better), jpeg2000 the target PSNR in dB; 3D codecs the bit depth 1-20; inr-video 1-5 "
                "(default: the codec's default)")


def _float_list(text: str | None, flag: str = "--qualities") -> list[float] | None:
    """Comma-separated numbers (``1,2.5,4``), the one list convention of every ncodec option."""
    if text is None:
        return None
    try:
        values = [float(v) for v in text.split(",")]
    except ValueError:
        raise UsageError(f"{flag} must be comma-separated numbers such as 1,2,3, got {text!r}") from None
    if not all(math.isfinite(v) for v in values):
        raise UsageError(f"{flag} must be finite numbers, got {text!r}")
    return values


def _check_output_suffix(path: str, suffixes: tuple[str, ...], what: str) -> None:
    """Refuse an output name whose extension contradicts what is written there, before any work."""
    if Path(path).suffix.lower() not in suffixes:
        raise UsageError(f"{Path(path).name}: {what} is written as {' or '.join(suffixes)}; name the output so")


def _check_output_folder(path: str) -> None:
    from ncodec.api import check_output_folder

    check_output_folder(path)


def _check_device(device: str | None) -> None:
    """``--device cuda`` needs a CUDA GPU; say so in one line instead of failing deep inside torch."""
    if device != "cuda":
        return
    import torch

    if not torch.cuda.is_available():
        raise MissingDeviceError("--device cuda: no CUDA GPU is available on this machine "
                                 "(torch.cuda.is_available() is False); use --device cpu")


def _summary(kind: str, stats: dict, extra: str = "") -> None:
    secs = stats.get("encode_s", stats.get("decode_s", 0.0))
    if "points" in stats:  # point clouds: bits per input point instead of bits per pixel
        rate = f"{8 * stats['bytes'] / stats['points']:.4f} bits/point, {stats['points']} points"
    elif "bits_per_tile" in stats:  # task streams decode to one label per tile
        rate = f"{stats['bits_per_tile']:.1f} bits/tile"
    else:
        rate = f"{stats['bpp']:.4f} bpp"
    print(f"{kind}: {stats['bytes']} bytes, {rate}, {secs:.3f} s{extra}")


def cmd_encode(a: argparse.Namespace) -> int:
    from ncodec import api

    api.encode(a.input, a.output, codec=a.codec, quality=a.quality, backend=a.backend, device=a.device,
               weights=a.weights, force=a.force, color_step=a.color_step, frames=a.frames,
               size=_size(a.size), progress=not a.no_progress, fit_effort=a.fit_effort,
               group_frames=a.group_frames, target_size=a.target_size, target_bpp=a.target_bpp,
               quality_map=a.quality_map, roi=a.roi, effort=a.effort, analysis=a.analysis,
               voxel_grid=a.voxel_grid, surface_voxels=a.surface_voxels)
    s = api.encode.last_stats
    for note in s.get("notes", []):
        print(f"note: {note}", file=sys.stderr)
    _summary("encoded", s, f" (codec {s['codec']}, quality {s['quality']:g}) -> {a.output}")
    if "target" in s:
        print(f"target: {s['target']['explain']}")
    return 0


def _size(text: str | None) -> tuple[int, int] | None:
    """``WxH`` to (width, height)."""
    if text is None:
        return None
    from ncodec.errors import UnsupportedInputError

    try:
        width, height = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise UnsupportedInputError(f"size must be WIDTHxHEIGHT, got {text!r}") from None
    if not (1 <= width <= 16384 and 1 <= height <= 16384):
        raise UnsupportedInputError(f"size out of range: {text}")
    return width, height


def _realism(text: str) -> float:
    """``--realism``: a number in [0, 1] (argparse reports the one-line error)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number in [0, 1], got {text!r}") from None
    if not 0.0 <= value <= 1.0:  # also refuses nan
        raise argparse.ArgumentTypeError(f"must lie in [0, 1], got {text}")
    return value


def cmd_decode(a: argparse.Namespace) -> int:
    from ncodec import api

    img = api.decode(a.input, a.output, weights=a.weights, device=a.device, force=a.force,
                     realism=a.realism, realism_weights=a.realism_weights, synthesis=a.synthesis)
    s = api.decode.last_stats
    if "frames" in s:
        size = f"{s['frames']} frames of {img.shape[2]}x{img.shape[1]}, {s['fps']:.1f} frames/s"
    elif "bits_per_tile" in s:
        size = f"{img.size} class labels"
    else:
        size = f"{len(img)} points" if "points" in s else f"{img.shape[1]}x{img.shape[0]}"
    _summary("decoded", s, f" ({size}) -> {a.output}")
    return 0


def cmd_info(a: argparse.Namespace) -> int:
    from ncodec import api

    d = api.info(a.input)
    if a.json:
        print(json.dumps(d, indent=2))
    else:
        for k, v in d.items():
            if isinstance(v, float):
                v = f"{v:.4f}" if k in ("bpp", "bits_per_point") else f"{v:g}"
            print(f"{k:>22}: {v}")
    return 0


def cmd_models(a: argparse.Namespace) -> int:
    from ncodec.codecs.registry import DEFAULT_CODEC, list_codecs

    for c in list_codecs():
        mark = "*" if c["name"] == DEFAULT_CODEC else " "
        w = c["weights"] or "no shipped weights (train with `ncodec train`)"
        print(f"{mark} {c['name']:<24} {c['modality']:<10} {c['description']}\n"
              f"    --quality: {c['quality']}\n    weights: {w}")
    return 0


def cmd_train(a: argparse.Namespace) -> int:
    from ncodec.training.loop import main_train

    return main_train(a)


def cmd_export(a: argparse.Namespace) -> int:
    if a.onnx is not None:
        return _export_onnx(a)
    import torch

    from ncodec.codecs.image import save_weights
    from ncodec.errors import UnsupportedInputError
    from ncodec.models.image import build_model

    if a.checkpoint is None or a.output is None:
        raise UsageError("ncodec export needs CHECKPOINT OUTPUT, or --onnx DIR")
    if not Path(a.checkpoint).is_file():
        raise UnsupportedInputError(f"checkpoint not found: {a.checkpoint}")
    ck = torch.load(a.checkpoint, map_location="cpu", weights_only=False)
    model = build_model(ck["config"])
    model.load_state_dict(ck["model"])
    sha = save_weights(model, a.output, meta={"step": int(ck.get("step", 0)), "qat": bool(ck.get("qat", False))})
    print(f"exported {a.output} sha256 {sha}")
    return 0


def _export_onnx(a: argparse.Namespace) -> int:
    from ncodec.codecs.onnx_export import export_onnx
    from ncodec.codecs.registry import DEFAULT_CODEC, load_codec

    if a.checkpoint is not None:
        raise UsageError("ncodec export --onnx DIR takes no checkpoint: choose the codec with --codec/--weights")
    codec = load_codec(a.codec or DEFAULT_CODEC, a.weights)
    if a.weights is not None:
        sibling = Path(a.weights).with_suffix(".intsyn.ncw")
        codec.attach_integer_synthesis(sibling if sibling.is_file() else None)
    for path in export_onnx(codec, a.onnx):
        print(f"wrote {path}")
    return 0


def cmd_eval(a: argparse.Namespace) -> int:
    from ncodec.evaluation.routing import eval_route

    qualities = _float_list(a.qualities)
    _check_output_folder(a.output)
    _check_output_suffix(a.output, (".json",), "the result")
    route = eval_route(a.dataset, a.codec)  # the codec's modality first, then the files
    if route == "video":
        from ncodec.evaluation.video_eval import run_video_eval

        doc = run_video_eval(a.dataset, a.codec, qualities, a.output, frames=a.frames, size=_size(a.size),
                             pix_fmt=a.pix_fmt, fit_effort=a.fit_effort, backend=a.backend,
                             progress=not a.no_progress)
        r = doc["results"]
        print(f"{len(doc['clips'])} clip(s): {', '.join(doc['clips'])}")
        print(f"{'quality':>8} {'bpp':>8} {'PSNR-RGB':>9} {'PSNR-Y':>8} {'enc fps':>8} {'dec fps':>8}")
        for i, q in enumerate(doc["qualities"]):
            print(f"{q:>8g} {r['bpp'][i]:8.4f} {r['psnr-rgb'][i]:9.3f} {r['psnr-y'][i]:8.3f} "
                  f"{r['encode_fps'][i]:8.2f} {r['decode_fps'][i]:8.1f}")
        print(f"wrote {a.output}")
        return 0
    if route == "pointcloud":
        from ncodec.evaluation.pointcloud_eval import run_pointcloud_eval

        doc = run_pointcloud_eval(a.dataset, a.codec, qualities, a.output, weights=a.weights, backend=a.backend,
                                  progress=not a.no_progress)
        print(f"{'bits':>5} {'bits/point':>11} {'D1 PSNR':>8} {'D2 PSNR':>8} {'Chamfer':>10}")
        r = doc["results"]
        for i, q in enumerate(doc["qualities"]):
            print(f"{q:>5} {r['bits_per_point'][i]:11.4f} {r['d1_psnr'][i] or math.nan:8.2f} "
                  f"{r['d2_psnr'][i] or math.nan:8.2f} {r['chamfer'][i]:10.3g}")
        print(f"wrote {a.output}")
        return 0
    from ncodec.evaluation.runner import run_eval

    doc = run_eval(a.dataset, a.codec, qualities, a.output, weights=a.weights, backend=a.backend,
                   progress=not a.no_progress, workers=a.workers)
    qualities, r = doc["qualities"], doc["results"]
    estimated = r.get("estimated_bpp")
    print(f"{'quality':>8} {'bpp':>8} {'PSNR-RGB':>9} {'PSNR-Y':>8} {'MS-SSIM':>8}"
          + (f" {'est. bpp':>8} {'gap':>7}" if estimated else ""))
    for i, q in enumerate(qualities):
        p_rgb, p_y, ms = r["psnr-rgb"][i], r["psnr-y"][i], r["ms-ssim-rgb"][i]
        line = (f"{q:>8g} {r['bpp'][i]:8.4f} {'exact' if p_rgb is None else format(p_rgb, '.3f'):>9} "
                f"{'exact' if p_y is None else format(p_y, '.3f'):>8} {'n/a' if ms is None else format(ms, '.4f'):>8}")
        if estimated and estimated[i]:
            line += f" {estimated[i]:8.4f} {100 * (r['bpp'][i] / estimated[i] - 1):+6.2f}%"
        print(line)
    gap = doc.get("rate_estimate")
    if gap is not None:
        parts = ", ".join(f"{k} {v:+.0f}" for k, v in gap["gap_bytes"].items())
        print(f"real vs estimated rate: {100 * gap['gap']:+.2f} % in total (bytes: {parts})")
        if gap["over_threshold"]:
            shown = ", ".join(gap["over_threshold"][:5]) + (" ..." if len(gap["over_threshold"]) > 5 else "")
            print(f"warning: real rate differs from the model's estimate by more than "
                  f"{100 * gap['threshold']:.0f} % on {len(gap['over_threshold'])} image(s): {shown}", file=sys.stderr)
    print(f"wrote {a.output}")
    return 0


def cmd_bdrate(a: argparse.Namespace) -> int:
    from ncodec.errors import UnsupportedInputError
    from ncodec.evaluation.bdrate import bd_quality, bd_rate
    from ncodec.evaluation.curves import LOWER_IS_BETTER, load_curve

    anchor, test = load_curve(a.anchor, a.metric), load_curve(a.test, a.metric)
    higher = a.metric not in LOWER_IS_BETTER
    try:
        rate = bd_rate(anchor, test, a.method, higher_is_better=higher)
        quality = bd_quality(anchor, test, a.method, higher_is_better=higher)
    except ValueError as exc:
        raise UnsupportedInputError(str(exc)) from None
    if a.json:
        print(json.dumps({"anchor": anchor.name, "test": test.name, "metric": a.metric, "method": a.method,
                          "higher_is_better": higher, "bd_rate_pct": rate, "bd_quality": quality}))
    else:
        better = "higher" if higher else "lower"
        print(f"{test.name} vs {anchor.name} ({a.metric}, {a.method}): BD-rate {rate:+.2f} %, "
              f"BD-{a.metric} {quality:+.3f}  (negative BD-rate = fewer bits; {better} {a.metric} is better; "
              f"BD-{a.metric} = test minus anchor)")
    return 0


def cmd_perception(a: argparse.Namespace) -> int:
    from ncodec.codecs.registry import get_spec

    get_spec(a.codec)
    qualities = _float_list(a.qualities)
    _check_output_folder(a.output)
    _check_output_suffix(a.output, (".json",), "the result")
    from ncodec.evaluation.perception import run_perception
    from ncodec.evaluation.tasks import get_task

    options = {"engine": a.engine} if a.task == "ocr" and a.engine else {}
    if a.task == "classify":
        options = {"mode": a.mode, **({"model": a.model} if a.model else {}), **({"weights": a.model_weights} if a.model_weights else {})}
    task = get_task(a.task, **options)
    doc = run_perception(task, a.codec, a.data, a.output, qualities=qualities, weights=a.weights, backend=a.backend,
                         progress=None if a.no_progress else lambda line: print(line, flush=True),
                         realism=a.realism, realism_weights=a.realism_weights)
    metric, r = task.metric, doc["results"]
    print(f"{task.name} ({doc['task'].get('engine', doc['task'].get('model', ''))}) through {a.codec}: "
          f"original {metric} {doc['original'][metric]:.4f} on {doc['items']} items")
    print(f"{'quality':>8} {'bpp':>8} {metric:>8} {'PSNR-RGB':>9}")
    for i, q in enumerate(doc["qualities"]):
        if "psnr-rgb" not in r:  # a task codec decodes no pixels
            print(f"{q:>8g} {r['bpp'][i]:8.4f} {r[metric][i]:8.4f} {'no pixels':>9}")
            continue
        ps = r["psnr-rgb"][i]
        print(f"{q:>8g} {r['bpp'][i]:8.4f} {r[metric][i]:8.4f} {'exact' if ps is None else format(ps, '.2f'):>9}")
    print(f"wrote {a.output}")
    return 0


def cmd_plot(a: argparse.Namespace) -> int:
    from ncodec.evaluation.plot import plot_rd  # matplotlib, no torch

    metrics = [m.strip() for m in a.metrics.split(",") if m.strip()] if a.metrics else None
    _check_output_folder(a.output)
    _check_output_suffix(a.output, (".png", ".svg"), "the plot (PNG and SVG, side by side)")
    written = plot_rd(a.files, a.output, metrics, anchor=a.anchor or None, method=a.method, title=a.title,
                      max_bpp=a.max_bpp, reference_panel=not a.inline_references)
    print("wrote " + ", ".join(str(p) for p in written))
    return 0


def cmd_import_compressai(a: argparse.Namespace) -> int:
    from ncodec.codecs.image import LearnedImageCodec, save_weights
    from ncodec.errors import OutputExistsError
    from ncodec.models.convert import convert_compressai, read_state_dict

    if Path(a.output).exists() and not a.force:
        raise OutputExistsError(f"{a.output} exists (use --force to overwrite)")
    state = read_state_dict(a.checkpoint)
    model = convert_compressai(state, a.arch, a.lmbda)
    sha = save_weights(model, a.output, meta={"imported_from": "compressai", "arch": a.arch,
                                              "checkpoint": Path(a.checkpoint).name})
    print(f"imported {a.arch} (N={model.N}, M={model.M}) as {model.kind} -> {a.output} sha256 {sha}")
    print(f"use it with: ncodec encode IMAGE OUT.ncd --codec {model.kind} --weights {a.output} --quality 1")
    if a.compare:
        from ncodec.evaluation.compressai_compare import compare_rates

        report = compare_rates(state, LearnedImageCodec.from_file(a.output), a.compare, limit=a.compare_count)
        for r in report["images"]:
            print(f"{r['image']:>24}: CompressAI {r['compressai_bpp']:.4f} bpp {r['compressai_psnr']:.2f} dB | "
                  f"ncodec {r['ncodec_bpp']:.4f} bpp {r['ncodec_psnr']:.2f} dB")
        print(f"rate cost of the fixed-point entropy path and container: {report['rate_cost_pct']:+.2f} %")
        if a.report:
            from ncodec.codecs.imageio import atomic_write_bytes

            report.update({"arch": a.arch, "checkpoint": Path(a.checkpoint).name, "weights_sha256": sha})
            atomic_write_bytes(a.report, (json.dumps(report, indent=1) + "\n").encode())
            print(f"wrote {a.report}")
    return 0


def cmd_dataset(a: argparse.Namespace) -> int:
    from ncodec.codecs.imageio import atomic_write_bytes
    from ncodec.datasets.catalog import DATASETS, build_manifest, dataset_files

    if a.action == "list":
        from ncodec.datasets.catalog import OTHER_DATA
        from ncodec.datasets.images import data_root

        root = data_root()
        print(f"data root: {root} ({'present' if root.is_dir() else 'missing'}; set NCODEC_DATA to change it)")
        for spec in DATASETS.values():
            where = ", ".join(f"{s}: {'present' if (root / d).is_dir() else 'missing'} {root / d}"
                              for s, d in spec.splits.items())
            print(f"{spec.name:<14} {spec.note}\n{'':<14} {where}")
        for name, (folder, note) in OTHER_DATA.items():
            print(f"{name:<14} {note}\n{'':<14} {'present' if (root / folder).is_dir() else 'missing'} {root / folder}")
    elif a.action == "manifest":
        atomic_write_bytes(a.output, (json.dumps(build_manifest(a.target), indent=1) + "\n").encode())
        print(f"wrote {a.output}")
    else:
        name, _, split = a.target.partition(":")
        files = dataset_files(name, split or None, verify=True, manifest=a.manifest)
        print(f"{a.target}: {len(files)} files present" + (", checksums match" if a.manifest or
                                                           DATASETS[name].manifest else " (no manifest to check)"))
    return 0


def cmd_demo(a: argparse.Namespace) -> int:
    """Encode -> decode the bundled sample image; print bpp, PSNR and timings; write the decoded PNG."""
    from ncodec import api
    from ncodec.evaluation.metrics import psnr_rgb
    from ncodec.codecs.imageio import read_image

    qualities = _float_list(a.qualities)
    from ncodec.codecs.registry import DEFAULT_CODEC, load_codec

    for q in qualities:  # every quality is checked before any work
        load_codec(DEFAULT_CODEC).check_quality(q)
    sample = Path(__file__).resolve().parent / "data" / "sample.png"
    out_dir = Path(a.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    ncd, png = out_dir / "demo.ncd", out_dir / "demo-decoded.png"
    original = read_image(sample)
    print(f"sample: {sample.name} {original.shape[1]}x{original.shape[0]}")
    for q in qualities:
        api.encode(sample, ncd, quality=q, force=True)
        e = api.encode.last_stats
        rec = api.decode(ncd, png, force=True)
        d = api.decode.last_stats
        print(f"{e['codec']} q={q:g}: {e['bytes']} bytes, {e['bpp']:.4f} bpp, PSNR {psnr_rgb(original, rec):.2f} dB, "
              f"encode {e['encode_s']:.3f} s, decode {d['decode_s']:.3f} s")
    print(f"wrote {ncd} and {png}")
    return 0


class _OneLineParser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (the issue and where to look), exit code 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see `{self.prog} --help`)\n")


def build_parser() -> argparse.ArgumentParser:
    from ncodec import __version__

    p = _OneLineParser(prog="ncodec", description="Learned neural codecs with deterministic bitstreams.")
    p.add_argument("--version", action="version", version=f"ncodec {__version__}")
    sub = p.add_subparsers(dest="command", required=True)

    e = sub.add_parser("encode", help="encode an image, video or 3D file to .ncd")
    e.add_argument("input")
    e.add_argument("output")
    e.add_argument("--codec", default=None, help="registered codec (`ncodec models`); default by input: "
                                                 "mean-scale-hyperprior for images, octree-pc for 3D, inr-video for video")
    e.add_argument("--quality", type=float, default=None, help=QUALITY_HELP)
    e.add_argument("--effort", default="default", choices=["fast", "default", "best"],
                   help="images: encoder effort; fast runs the default codec's int8 analysis (~4x faster g_a), "
                        "best refines the latents of the learned codecs (decoder "
                        "unchanged, ~70-130x slower) and picks a classical library's slowest setting")
    e.add_argument("--analysis", default="auto", choices=["auto", "integer", "float"],
                   help="learned image codecs: integer = the weights' int8 encoder transform, float = the "
                        "trained g_a; auto = int8 where the weights make it the default, else float")
    e.add_argument("--quality-map", default=None, metavar="MAP.png",
                   help="learned image codecs: per-pixel quality from a greyscale image of the input's size "
                        "(grey 0 = quality 1 ... 255 = the highest); carried in the bitstream")
    e.add_argument("--roi", action="append", default=None, metavar="x,y,w,h:Q",
                   help="learned image codecs: a rectangle coded at quality Q over a background of --quality "
                        "(default 1); repeatable, later rectangles win")
    e.add_argument("--target-size", type=int, default=None, metavar="BYTES",
                   help="images: the largest file at or under BYTES (real trial encodes over the quality grid)")
    e.add_argument("--target-bpp", type=float, default=None, metavar="B",
                   help="images: the largest file at or under B bits per pixel (instead of --quality)")
    e.add_argument("--coder", "--backend", dest="backend", default="constriction", choices=CODER_BACKENDS,
                    help="entropy coder backend (the decoder reads it from the bitstream)")
    e.add_argument("--weights", default=None, help="weight file (.ncw) instead of the shipped one")
    e.add_argument("--color-step", type=float, default=None,
                   help="point clouds with colours: quantisation step of the colour transform (default 8; 0: no colours)")
    e.add_argument("--voxel-grid", choices=("cube", "identity"), default="cube",
                   help="point clouds: voxelise in the bounding cube (default), or code integer coordinates in "
                        "[0, 2^bits) as they are (dense voxelised clouds, MPEG style)")
    e.add_argument("--surface-voxels", action="store_true",
                   help="meshes: code every voxel the surface passes through at the bit depth (--quality), "
                        "as ../shared/tools/dense_voxels.py makes them, instead of the vertices")
    e.add_argument("--frames", type=int, default=None, help="video: code at most N frames")
    e.add_argument("--size", default=None,
                   help="video: WxH to scale and centre-crop the frames to; raw .yuv input (a clip, or a 4:2:0 "
                        "still for an image codec): its size")
    e.add_argument("--fit-effort", type=float, default=1.0,
                   help="video: scale the fitting steps of the quality level (faster previews below 1)")
    e.add_argument("--group-frames", type=int, default=None,
                   help="video: frames per network (default 16; each group starts from the previous one)")
    e.add_argument("--no-progress", action="store_true", help="video: no progress bar while fitting")
    e.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    e.add_argument("--force", action="store_true", help="overwrite OUTPUT")
    e.set_defaults(func=cmd_encode)

    d = sub.add_parser("decode", help="decode .ncd to an image (PNG, PPM, …), a video (.mp4, .mkv, .y4m, "
                                      "frame folder), a point cloud (.ply) or a mesh (.ply, .obj, .off, .stl), "
                                      "by the bitstream's modality")
    d.add_argument("input")
    d.add_argument("output")
    d.add_argument("--weights", default=None)
    d.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    d.add_argument("--force", action="store_true")
    d.add_argument("--realism", type=_realism, default=0.0, metavar="R",
                   help="learned image streams: realism R in [0, 1] of the generative decoder (0 = the MSE "
                        "decoder, bit for bit; chosen at decode time, the stream is unchanged)")
    d.add_argument("--realism-weights", default=None, metavar="FILE",
                   help="realism generator weights (default: the shipped ones for the stream's weights)")
    d.add_argument("--synthesis", choices=("auto", "integer", "float"), default="auto",
                   help="learned image streams: integer synthesis (the same pixels on every machine and "
                        "thread count), the float one, or auto (integer where the weights ship one)")
    d.set_defaults(func=cmd_decode)

    i = sub.add_parser("info", help="show a bitstream's header and sections")
    i.add_argument("input")
    i.add_argument("--json", action="store_true")
    i.set_defaults(func=cmd_info)

    m = sub.add_parser("models", help="list registered codecs and shipped weights")
    m.set_defaults(func=cmd_models)

    t = sub.add_parser("train", help="train a variable-rate learned image codec")
    from ncodec.training.options import add_train_arguments  # torch-free: --help answers at once

    add_train_arguments(t)
    t.set_defaults(func=cmd_train)

    x = sub.add_parser("export", help="export a training checkpoint to a .ncw weight file, or a codec's "
                                      "transforms to ONNX (--onnx DIR)")
    x.add_argument("checkpoint", nargs="?")
    x.add_argument("output", nargs="?")
    x.add_argument("--onnx", metavar="DIR", default=None,
                   help="write decoder.onnx (integer synthesis), encoder.onnx, tables.npz and codec.json "
                        "(docs/onnx-export.md)")
    x.add_argument("--codec", default=None, help="with --onnx: the codec (default: the default codec)")
    x.add_argument("--weights", default=None,
                   help="with --onnx: a weight file (its integer synthesis: X.intsyn.ncw beside X.ncw)")
    x.set_defaults(func=cmd_export)

    ev = sub.add_parser("eval", help="rate-distortion evaluation of a codec on images, video or 3D (real bitstreams)")
    ev.add_argument("dataset", help="image folder (e.g. ../shared/data/kodak); a folder of 3D files for a point-cloud "
                                    "codec (qualities = bit depths); a clip, frame folder or folder of clips for "
                                    "inr-video, x264/x265 (qualities = CRFs) or an image codec per frame")
    ev.add_argument("--codec", default="mean-scale-hyperprior")
    ev.add_argument("--qualities", default=None,
                    help="comma-separated qualities, e.g. 10,50,90 (default: the codec's grid); " + QUALITY_HELP)
    ev.add_argument("--workers", type=int, default=1, help="processes coding images in parallel (default 1)")
    ev.add_argument("-o", "--output", required=True, help="result JSON (resumed if it exists)")
    ev.add_argument("--weights", default=None)
    ev.add_argument("--coder", "--backend", dest="backend", default="constriction", choices=CODER_BACKENDS,
                    help="entropy coder backend (the decoder reads it from the bitstream)")
    ev.add_argument("--no-progress", action="store_true")
    ev.add_argument("--frames", type=int, default=None, help="video: first N frames of each clip")
    ev.add_argument("--size", default=None, help="video: scale and centre-crop to WxH")
    ev.add_argument("--pix-fmt", default="yuv420p", choices=["yuv420p", "yuv444p"], help="x264/x265 pixel format")
    ev.add_argument("--fit-effort", type=float, default=1.0, help="inr-video: scale the fitting steps")
    ev.set_defaults(func=cmd_eval)

    b = sub.add_parser("bdrate", help="Bjontegaard delta rate/quality of TEST against ANCHOR result files")
    b.add_argument("anchor", help="result JSON (CompressAI format) or a shipped anchor, e.g. anchor:kodak/vtm")
    b.add_argument("test")
    b.add_argument("--metric", default="psnr-rgb", help="psnr-rgb, ms-ssim-rgb, ms-ssim-rgb-db, … (default psnr-rgb)")
    b.add_argument("--method", default="cubic", choices=["cubic", "pchip"])
    b.add_argument("--json", action="store_true")
    b.set_defaults(func=cmd_bdrate)

    pc = sub.add_parser("perception", help="downstream task accuracy (OCR, classification, faces) vs bpp through a codec")
    pc.add_argument("data", help="task data: a folder (OCR pages with .txt truth, images with faces, an ImageFolder) "
                                 "or fashion-mnist[:test] for classification")
    pc.add_argument("--task", required=True, choices=["ocr", "classify", "faces"])
    pc.add_argument("--codec", default="mean-scale-hyperprior")
    pc.add_argument("--qualities", default=None, help="comma-separated qualities (default: the codec's grid)")
    pc.add_argument("-o", "--output", required=True, help="result JSON")
    pc.add_argument("--weights", default=None, help="codec weight file")
    pc.add_argument("--coder", "--backend", dest="backend", default="constriction", choices=CODER_BACKENDS,
                    help="entropy coder backend (the decoder reads it from the bitstream)")
    pc.add_argument("--engine", default=None, help="ocr: rapidocr (default) or tesseract")
    pc.add_argument("--mode", default="mosaic", choices=["mosaic", "single"],
                    help="classify: code images as tiles of mosaics (default) or one file each")
    pc.add_argument("--model", default=None, help="classify: torchvision/timm architecture for an ImageFolder")
    pc.add_argument("--model-weights", default=None, help="classify: that model's weights file")
    pc.add_argument("--realism", type=_realism, default=0.0, metavar="R",
                    help="learned image codecs: decode with the realism generator at R in [0, 1]")
    pc.add_argument("--realism-weights", default=None, metavar="FILE",
                    help="realism generator weights (default: the shipped ones for the codec's weights)")
    pc.add_argument("--no-progress", action="store_true")
    pc.set_defaults(func=cmd_perception)

    ic = sub.add_parser("import-compressai", help="turn a CompressAI model/checkpoint into an ncodec weight file")
    ic.add_argument("checkpoint", help="CompressAI state dict or training checkpoint (.pth/.pth.tar)")
    ic.add_argument("--arch", required=True, help="bmshj2018-factorized, bmshj2018-hyperprior, mbt2018-mean, "
                                                  "elic2022-official, elic2022-chandelier or cheng2020-anchor-checkerboard")
    ic.add_argument("-o", "--output", required=True, help="ncodec weight file (.ncw) to write")
    ic.add_argument("--lmbda", type=float, default=0.013, help="the model's training lambda (recorded)")
    ic.add_argument("--compare", default=None, metavar="DIR",
                    help="report CompressAI's vs ncodec's real bitstream sizes on images of DIR")
    ic.add_argument("--compare-count", type=int, default=4)
    ic.add_argument("--report", default=None, help="write the --compare figures to this JSON file")
    ic.add_argument("--force", action="store_true")
    ic.set_defaults(func=cmd_import_compressai)

    ds = sub.add_parser("dataset", help="list known datasets, verify one against its manifest, or write a manifest")
    ds.add_argument("action", choices=["list", "verify", "manifest"])
    ds.add_argument("target", nargs="?", default="", help="verify: NAME[:SPLIT] (e.g. kodak, clic:valid); manifest: a folder")
    ds.add_argument("--manifest", default=None, help="verify against this manifest instead of the shipped one")
    ds.add_argument("-o", "--output", default="manifest.json")
    ds.set_defaults(func=cmd_dataset)

    pl = sub.add_parser("plot", help="RD curves (PNG and SVG) from result JSON files and shipped anchors")
    pl.add_argument("files", nargs="+", help="result JSON files (ncodec eval or CompressAI format) or anchor:kodak/NAME")
    pl.add_argument("-o", "--output", required=True, help="rd.png or rd.svg; the other format is written beside it")
    pl.add_argument("--anchor", default="anchor:kodak/vtm",
                    help="curve the legend's BD-rates are measured against (default anchor:kodak/vtm; '' for none)")
    pl.add_argument("--metrics", default=None,
                    help="one panel per metric (comma-separated; default psnr-rgb,ms-ssim-rgb-db for images, "
                         "d1_psnr,d2_psnr for point clouds)")
    pl.add_argument("--inline-references", action="store_true",
                    help="keep far-off single points (lossless references) on the curves' own x axis "
                         "instead of a separate panel")
    pl.add_argument("--method", default="cubic", choices=["cubic", "pchip"])
    pl.add_argument("--max-bpp", type=float, default=None, help="limit the x axis (BD-rates still use every point)")
    pl.add_argument("--title", default=None)
    pl.set_defaults(func=cmd_plot)

    demo = sub.add_parser("demo", help="encode and decode the bundled sample image")
    demo.add_argument("--out-dir", default="ncodec-demo")
    demo.add_argument("--qualities", default="1,2,3,4", help="comma-separated qualities (default 1,2,3,4)")
    demo.set_defaults(func=cmd_demo)
    return p


def run_reporting_errors(func: Callable[[], int | None]) -> int:
    """Run ``func`` the way the CLI runs a command: every NcodecError becomes one line on stderr and
    its documented exit code, anything else one line with exit code 70; never a traceback. The
    acceptance scripts and benchmarks use it too (``sys.exit(run_reporting_errors(main))``)."""
    t0 = time.perf_counter()
    try:
        return int(func() or 0)
    except NcodecError as exc:
        print(f"ncodec: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except ModuleNotFoundError as exc:
        if exc.name and exc.name.split(".")[0] in ("torch", "torchvision", "compressai"):
            print(f"ncodec: error: this command needs {exc.name.split('.')[0]}, which is not installed: install "
                  "ncodec's full extra (scripts/setup.sh does); the base install only decodes", file=sys.stderr)
            return MissingDependencyError.exit_code
        print(f"ncodec: internal error: ModuleNotFoundError: {exc}", file=sys.stderr)
        return EXIT_INTERNAL
    except KeyboardInterrupt as exc:  # a message, when there is one, says how to resume
        print(f"ncodec: {exc}" if str(exc) else "ncodec: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # last resort: one line, never a traceback
        print(f"ncodec: internal error: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
              f" (after {time.perf_counter() - t0:.1f} s)", file=sys.stderr)
        return EXIT_INTERNAL


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)

    def run() -> int:
        _check_device(getattr(args, "device", None))
        return int(args.func(args) or 0)

    return run_reporting_errors(run)


if __name__ == "__main__":
    sys.exit(main())
