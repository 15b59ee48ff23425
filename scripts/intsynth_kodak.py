"""Acceptance (issue 20 item 2): the integer synthesis of the default codec on Kodak, real bitstreams.

For every Kodak image at qualities 1..levels: the stream is decoded by the integer synthesis with 1 and
2 torch threads, by the reference executor, by the numpy decoder without torch (codecs/lite.py) and,
where onnxruntime is installed, by the exported ONNX decoder graph; the PNG files written from them
are compared byte for byte. The same stream decoded by the float synthesis gives the RD cost: BD-rate of the
integer decoder's curve against the float decoder's (same bits, so the cost is all distortion). The
int8 encoder of ``--effort fast`` is measured the same way: its streams decoded by the integer
synthesis, against the float encoder (``--analysis float``) with the float decoder and with the
integer decoder. Writes results/intsynth-kodak.json.

    .venv/bin/python scripts/intsynth_kodak.py [--images 24] [--reference-images 24]
"""

from __future__ import annotations

import argparse
import io
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from ncodec.codecs import container
from ncodec.codecs.intsynth import ReferenceIntegerSynthesis
from ncodec.codecs.imageio import read_image
from ncodec.codecs.registry import DEFAULT_CODEC, load_codec
from ncodec.datasets.images import data_root, list_images
from ncodec.evaluation.bdrate import Curve, bd_rate
from ncodec.evaluation.metrics import psnr_rgb

ROOT = Path(__file__).resolve().parent.parent


def png_bytes(image: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="PNG")
    return buf.getvalue()


def decode_with_threads(codec, header, sections, threads: int, synthesis: str) -> np.ndarray:
    old = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        return codec.decompress(header, sections, synthesis=synthesis)
    finally:
        torch.set_num_threads(old)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--codec", default=DEFAULT_CODEC, help="a learned image codec whose weights ship an integer synthesis")
    p.add_argument("--kodak", default=str(data_root() / "kodak"))
    p.add_argument("--images", type=int, default=24)
    p.add_argument("--reference-images", type=int, default=24,
                   help="images (first N) also decoded by the slow reference executor")
    p.add_argument("--out", default=str(ROOT / "results" / "intsynth-kodak.json"))
    a = p.parse_args()
    codec = load_codec(a.codec)
    fast = codec.integer_synthesis()
    if fast is None:
        raise SystemExit(f"the {a.codec} weights have no integer synthesis")
    from ncodec.codecs.lite import LITE_KINDS

    lite_covers = codec.name in LITE_KINDS  # the numpy decoder and the ONNX export: mean-scale only
    reference = ReferenceIntegerSynthesis(fast.program)
    from ncodec.codecs.lite import lite_decoder_for

    lite = None
    onnx_session = None
    try:
        import tempfile

        if not lite_covers:
            raise ImportError
        import onnxruntime

        from ncodec.codecs.onnx_export import export_onnx

        with tempfile.TemporaryDirectory() as tmp:
            export_onnx(codec, tmp)
            onnx_session = onnxruntime.InferenceSession(str(Path(tmp) / "decoder.onnx"),
                                                        providers=["CPUExecutionProvider"])
    except ImportError:
        print("the ONNX decoder is not compared (onnx/onnxruntime missing, or a codec it does not cover)")
    lite_identical = onnx_identical = True
    files = list_images(a.kodak)[: a.images]
    t0 = time.perf_counter()
    rows, identical, ref_identical, compared, ref_compared = [], True, True, 0, 0
    curves: dict[str, list[tuple[float, float]]] = {"float": [], "integer": [], "fast_encoder_integer": []}
    for q in range(1, codec.levels + 1):
        acc: dict[str, list[float]] = {"bpp": [], "float": [], "integer": [], "fast_bpp": [], "fast_integer": []}
        for n, f in enumerate(files):
            img = read_image(f)
            pixels = img.shape[0] * img.shape[1]
            enc = codec.compress(img, quality=float(q), analysis="float")  # the float g_a, whatever the default
            data = container.pack(enc.header, enc.sections)
            header, sections = container.unpack(data)
            one = png_bytes(decode_with_threads(codec, header, sections, 1, "integer"))
            two_img = decode_with_threads(codec, header, sections, 2, "integer")
            identical &= one == png_bytes(two_img)
            compared += 1
            if lite_covers:
                lite = lite or lite_decoder_for(header)
                lite_identical &= png_bytes(lite.decode(header, sections)) == one
            if onnx_session is not None:
                from ncodec.codecs.intsynth import integer_latent
                from ncodec.models.intsynth import quality_index

                latents, _, _ = codec.decompress_latents(header, sections)
                mult = fast.program["input_mult"][quality_index(float(q), codec.levels)].numpy().reshape(1, -1, 1, 1)
                pix = onnx_session.run(None, {"latent": integer_latent(latents[0]).float().numpy(),
                                              "input_mult": mult})[0][0].transpose(1, 2, 0)
                onnx_identical &= png_bytes(np.ascontiguousarray(pix[:img.shape[0], :img.shape[1]])) == one
            if n < a.reference_images:
                codec._int_synthesis = reference
                ref_identical &= png_bytes(codec.decompress(header, sections, synthesis="integer")) == one
                codec._int_synthesis = fast
                ref_compared += 1
            acc["bpp"].append(8 * len(data) / pixels)
            acc["float"].append(psnr_rgb(img, codec.decompress(header, sections, synthesis="float")))
            acc["integer"].append(psnr_rgb(img, two_img))
            enc_fast = codec.compress(img, quality=float(q), effort="fast")  # = default without an int8 analysis
            data_fast = container.pack(enc_fast.header, enc_fast.sections)
            acc["fast_bpp"].append(8 * len(data_fast) / pixels)
            acc["fast_integer"].append(psnr_rgb(img, codec.decompress(*container.unpack(data_fast))))
        row = {"quality": q, **{k: float(np.mean(v)) for k, v in acc.items()}}
        rows.append(row)
        curves["float"].append((row["bpp"], row["float"]))
        curves["integer"].append((row["bpp"], row["integer"]))
        curves["fast_encoder_integer"].append((row["fast_bpp"], row["fast_integer"]))
        print(f"q{q}: {row['bpp']:.4f} bpp, float {row['float']:.3f} dB, integer {row['integer']:.3f} dB; "
              f"fast encoder {row['fast_bpp']:.4f} bpp {row['fast_integer']:.3f} dB", flush=True)

    def curve(name: str) -> Curve:
        return Curve(tuple(r for r, _ in curves[name]), tuple(v for _, v in curves[name]), name)

    result = {
        "codec": codec.name, "weights_sha256": codec.sha256, "executor": fast.name, "images": len(files),
        "machine": f"{platform.machine()} {platform.processor() or ''}".strip() + f", torch {torch.__version__}",
        "points": rows,
        "png_identical_1_vs_2_threads": bool(identical), "streams_compared": compared,
        "png_identical_reference_vs_fast": bool(ref_identical), "reference_streams_compared": ref_compared,
        "png_identical_numpy_decoder_without_torch": bool(lite_identical) if lite_covers else None,
        "png_identical_onnxruntime_decoder": bool(onnx_identical) if onnx_session is not None else None,
        "bd_rate_integer_vs_float_synthesis_pct": bd_rate(curve("float"), curve("integer")),
        "bd_rate_fast_encoder_integer_vs_default_float_pct": bd_rate(curve("float"), curve("fast_encoder_integer")),
        "bd_rate_int8_analysis_vs_float_analysis_integer_synthesis_pct": (
            bd_rate(curve("integer"), curve("fast_encoder_integer")) if codec.integer_analysis() is not None else None),
        "int8_analysis_w_max": (None if codec.integer_analysis() is None
                                else int(codec.integer_analysis().program.get("w_max", 0)) or None),
        "wall_s": round(time.perf_counter() - t0, 1),
    }
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps(result, indent=2) + "\n")
    print(f"PNG identical 1 vs 2 threads: {identical} ({compared} streams); reference vs fast: {ref_identical} "
          f"({ref_compared}); numpy decoder: {lite_identical}; onnxruntime: {onnx_identical}; BD-rate integer vs float synthesis {result['bd_rate_integer_vs_float_synthesis_pct']:+.2f} %; "
          f"fast encoder + integer decoder vs float encoder + float decoder "
          f"{result['bd_rate_fast_encoder_integer_vs_default_float_pct']:+.2f} %; int8 vs float analysis, both through "
          f"the integer synthesis: {result['bd_rate_int8_analysis_vs_float_analysis_integer_synthesis_pct']}")
    print(f"wrote {a.out}")
    return 0 if identical and ref_identical and lite_identical and onnx_identical else 1


if __name__ == "__main__":
    from ncodec.cli import run_reporting_errors

    sys.exit(run_reporting_errors(main))
