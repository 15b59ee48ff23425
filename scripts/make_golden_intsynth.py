"""Golden integer-synthesis fixtures (issue 20): for the golden weight files of the default codec's
family and both context models (the factorized family's g_s is the same; it is left out to keep
tests/ under 5 MB), build a program
calibrated on that family's golden streams, and write the reference executor's pixels of each stream.

Writes tests/golden/v1/<kind>-small.intsyn.ncw and <stream>.int.png; never overwrites (delete them to
rebuild). tests/test_intsynth.py checks that every executor and thread count reproduces these pixels.
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch

from ncodec.codecs import container
from ncodec.codecs.image import LearnedImageCodec
from ncodec.codecs.imageio import write_image
from ncodec.codecs.intsynth import integer_latent, save_program
from ncodec.models.intsynth import build_program, float_trace, merge_traces, run_reference

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = ROOT / "tests" / "golden" / "v1"
KINDS = ("mean-scale-hyperprior", "checkerboard-channel", "checkerboard-channel-gmm")


def streams_of(kind: str) -> list[Path]:
    return sorted(p for p in GOLDEN.glob(f"{kind}-kodim*.ncd"))


def main() -> int:
    for kind in KINDS:
        weights = GOLDEN / f"{kind}-small.ncw"
        target = GOLDEN / f"{kind}-small.intsyn.ncw"
        if target.exists():
            print(f"exists, kept: {target.name}")
            continue
        codec = LearnedImageCodec.from_file(weights)
        decoded = []
        for path in streams_of(kind):
            header, sections = container.unpack(path.read_bytes())
            latents, _, q = codec.decompress_latents(header, sections)
            decoded.append((path, header, latents, q))
        traces = []
        with torch.no_grad():
            for _, _, latents, q in decoded:
                for lat in latents:
                    y_hat = codec.latent.y_hat(lat, "cpu", torch.float32)
                    traces.append(float_trace(codec.model.g_s, codec.model.synthesis_input(y_hat, q)))
        program = build_program(codec.model.g_s, lambda q: codec.model.gains(q)[1].view(-1).double(),
                                codec.levels, merge_traces(traces))
        save_program(program, codec.name, codec.sha256, target,
                     {"note": "test fixture: post-training quantisation calibrated on the golden streams"})
        codec.attach_integer_synthesis(target)
        for path, header, latents, q in decoded:
            _, h, w = header.shape
            pixels = codec.decompress(header, container.unpack(path.read_bytes())[1], synthesis="integer")
            # the same pixels straight from the reference definition, tile by tile
            ref = run_reference(program, integer_latent(latents[0]), q)[0].permute(1, 2, 0).numpy()
            if header.shape[0] == 3 and not (ref[:h, :w] == pixels).all():
                raise SystemExit(f"{path.name}: executor differs from the reference")
            write_image(path.with_suffix(".int.png"), pixels)
            print(f"wrote {path.with_suffix('.int.png').name}")
        print(f"wrote {target.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
