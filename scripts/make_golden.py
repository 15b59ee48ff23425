"""Create golden bitstreams for a format version (run once per released version; never overwrites).

Writes, under tests/golden/v<version>/: small seeded weight files, .ncd bitstreams of the committed
test assets for both coder backends, the integer latents the encoder coded (.npz) and the decoded
images (.png). tests/test_golden.py checks forever that these streams decode to these latents.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from conftest import small_model  # noqa: E402

from ncodec.codecs import container  # noqa: E402
from ncodec.codecs.container import FORMAT_VERSION  # noqa: E402
from ncodec.codecs.image import LearnedImageCodec, save_weights  # noqa: E402
from ncodec.codecs.imageio import read_image, write_image  # noqa: E402

CASES = [("kodim21_64x64.png", 2.0), ("kodim15_grey_160x120.png", 1.5)]


def main() -> int:
    out = ROOT / "tests" / "golden" / f"v{FORMAT_VERSION}"
    out.mkdir(parents=True, exist_ok=True)
    for kind in ("mean-scale-hyperprior", "factorized", "checkerboard-channel", "checkerboard-channel-gmm", "mcq",
                 "mcq-parent"):
        wpath = out / f"{kind}-small.ncw"
        if wpath.exists():
            print(f"exists, not touched: {wpath}")
            continue
        # keeps the files small (tests/ ships under 5 MB)
        extra = {"hidden": 32} if kind == "checkerboard-channel" else \
            {"hidden": 8, "N": 8, "M": 12} if kind == "checkerboard-channel-gmm" else {}
        if kind.startswith("mcq"):  # no gain vectors: the seeded models of tests/test_mcq.py
            from test_mcq import small_mcq

            model = small_mcq(prior="parent" if kind == "mcq-parent" else "flat")
        else:
            model = small_model(kind, **extra)
        save_weights(model, wpath, meta={"purpose": "golden test weights (seeded, untrained)"})
        codec = LearnedImageCodec.from_file(wpath)
        for asset, quality in CASES:
            img = read_image(ROOT / "tests" / "assets" / asset)
            for backend in ("constriction", "compressai"):
                stem = f"{kind}-{Path(asset).stem}-q{quality:g}-{backend}"
                enc = codec.compress(img, quality=quality, backend=backend)
                data = container.pack(enc.header, enc.sections)
                (out / f"{stem}.ncd").write_bytes(data)
                np.savez_compressed(out / f"{stem}.npz", **{f"{k}{i}": v for i, lat in enumerate(enc.latents)
                                                           for k, v in lat.items()})
                header, sections = container.unpack(data)
                write_image(out / f"{stem}.png", codec.decompress(header, sections))
                print(f"wrote {stem}.ncd ({len(data)} bytes)")
    return 0


if __name__ == "__main__":
    from ncodec.cli import run_reporting_errors

    sys.exit(run_reporting_errors(main))
