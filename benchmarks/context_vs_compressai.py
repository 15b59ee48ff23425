"""Encode/decode time of ncodec's context model (checkerboard-channel) against CompressAI's ELIC-style
checkerboard + channel-slice model (``Elic2022Chandelier``) at the same channels and slices, side by
side in one process on a 768x512 image (issue 20 item 1).

CompressAI has no model with exactly ncodec's transforms, so its ELIC model gets ncodec's trained g_a
and g_s modules (Ballé transforms, N=64, M=96) in place of its own, keeps its own hyperprior and
entropy model with the same slices (4, 4, 8, 16, 64), and calls ``update()``; it codes the ungained
latent, so its rate differs: the times are what is compared. ncodec decodes with its integer synthesis
where the weights ship one (else the float one). Medians of repeated runs after a warm-up, model
loading excluded. Writes results/bench-context-vs-compressai.json and prints a table.
"""

from __future__ import annotations

import argparse
import copy
import json
import platform
import sys
from pathlib import Path

import numpy as np
import torch

from ncodec.codecs import container
from ncodec.codecs.imageio import read_image
from ncodec.codecs.registry import load_codec
from ncodec.datasets.images import data_root
from speed import median_time  # benchmarks/ is on sys.path when run as a script

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--image", default=str(data_root() / "kodak" / "kodim23.png"))
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--quality", type=float, default=3.0)
    p.add_argument("--out", default=str(ROOT / "results" / "bench-context-vs-compressai.json"))
    a = p.parse_args()
    image = read_image(a.image)
    codec = load_codec("checkerboard-channel")
    model = codec.model
    synthesis = "integer" if codec.integer_synthesis() is not None else "float"

    def nc_encode() -> bytes:
        enc = codec.compress(image, quality=a.quality)
        return container.pack(enc.header, enc.sections)

    data = nc_encode()
    nc_enc = median_time(nc_encode, a.repeats)
    nc_dec = median_time(lambda: codec.decompress(*container.unpack(data)), a.repeats)

    from compressai.models import Elic2022Chandelier

    slices = [int(s) for s in getattr(model, "slices", (4, 4, 8, 16, 64))]
    ref = Elic2022Chandelier(N=model.N, M=model.M, groups=slices).eval()
    ref.g_a, ref.g_s = copy.deepcopy(model.g_a), copy.deepcopy(model.g_s)
    ref.update(force=True)
    x = torch.from_numpy(np.array(image, copy=True)).permute(2, 0, 1)[None].float() / 255.0
    with torch.inference_mode():
        out = ref.compress(x)

        def total(strings) -> int:
            return sum(total(s) if isinstance(s, (list, tuple)) else len(s) for s in strings)

        ref_bytes = total(out["strings"])
        ref_enc = median_time(lambda: ref.compress(x), a.repeats)
        ref_dec = median_time(lambda: ref.decompress(out["strings"], out["shape"]), a.repeats)
    result = {"image": Path(a.image).name, "size": [int(image.shape[1]), int(image.shape[0])],
              "N": model.N, "M": model.M, "slices": slices, "repeats": a.repeats,
              "machine": f"{platform.machine()} {platform.processor() or ''}".strip()
              + f", torch threads {torch.get_num_threads()}",
              "ncodec": {"codec": codec.name, "quality": a.quality, "bytes": len(data), "encode_s": nc_enc,
                         "decode_s": nc_dec, "decode_synthesis": synthesis},
              "compressai_elic2022_chandelier_same_transforms": {"bytes": ref_bytes, "encode_s": ref_enc,
                                                                 "decode_s": ref_dec},
              "ratio_encode": nc_enc / ref_enc, "ratio_decode": nc_dec / ref_dec}
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps(result, indent=2) + "\n")
    print(f"{'':44} {'encode s':>9} {'decode s':>9} {'bytes':>8}")
    print(f"{'ncodec checkerboard-channel (' + synthesis + ' synthesis)':44} {nc_enc:9.3f} {nc_dec:9.3f} {len(data):8d}")
    print(f"{'compressai Elic2022Chandelier, same g_a/g_s':44} {ref_enc:9.3f} {ref_dec:9.3f} {ref_bytes:8d}")
    print(f"{'ratio ncodec / compressai':44} {result['ratio_encode']:9.2f} {result['ratio_decode']:9.2f}")
    print(f"wrote {a.out}")
    return 0


if __name__ == "__main__":
    from ncodec.cli import run_reporting_errors

    sys.exit(run_reporting_errors(main))
