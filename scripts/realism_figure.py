"""README figure (issue 17 item 1): crops side by side at (about) equal bpp.

Reads the PNGs ``scripts/realism_kodak.py --save-decoded DIR`` wrote and its JSON (for the rates), and
draws one row per image: original, MSE decoder (R=0), realism 0.5 and 1.0, AVIF and HEVC-intra at the
same or a lower rate.

    .venv/bin/python scripts/realism_figure.py --decoded DIR/q1 --images kodim13,kodim23 \
        --out results/realism/crops.png
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
COLUMNS = [("original", None), ("MSE decoder (R=0)", "R0"), ("realism 0.5", "R0.5"), ("realism 1.0", "R1"),
           ("AVIF", "avif"), ("HEVC-intra", "hevc-intra")]


def main() -> int:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    import json

    from ncodec.codecs.imageio import read_image
    from ncodec.datasets.images import data_root
    from ncodec.errors import UnsupportedInputError

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--decoded", required=True, help="folder of decoded PNGs (realism_kodak.py --save-decoded, per q)")
    p.add_argument("--kodak", default=str(data_root() / "kodak"))
    p.add_argument("--images", default="kodim13,kodim23", help="comma-separated Kodak stems")
    p.add_argument("--crop", type=int, default=192, help="crop size (pixels), from the image centre")
    p.add_argument("--out", default=str(ROOT / "results" / "realism" / "crops.png"))
    a = p.parse_args()
    folder = Path(a.decoded)
    sizes_path = folder / "bpp.json"
    bpp = json.loads(sizes_path.read_text()) if sizes_path.is_file() else {}
    stems = [s for s in a.images.split(",") if s]
    fig, axes = plt.subplots(len(stems), len(COLUMNS), figsize=(2.2 * len(COLUMNS), 2.4 * len(stems)), squeeze=False)
    for row, stem in enumerate(stems):
        original = read_image(Path(a.kodak) / f"{stem}.png")
        h, w = original.shape[:2]
        top, left = (h - a.crop) // 2, (w - a.crop) // 2
        for col, (title, key) in enumerate(COLUMNS):
            path = None if key is None else folder / f"{stem}-{key}.png"
            if path is not None and not path.is_file():
                raise UnsupportedInputError(f"missing {path}: run scripts/realism_kodak.py --save-decoded")
            img = original if path is None else read_image(path)
            ax = axes[row][col]
            ax.imshow(np.asarray(img)[top:top + a.crop, left:left + a.crop], interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if row == 0:
                ax.set_title(title, fontsize=9)
            if key is not None and key in bpp.get(stem, {}):
                ax.set_xlabel(f"{bpp[stem][key]:.3f} bpp", fontsize=8)
        axes[row][0].set_ylabel(stem, fontsize=9)
    fig.tight_layout()
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.stem + ".tmp" + out.suffix)
    fig.savefig(tmp, dpi=110)
    tmp.replace(out)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    from ncodec.cli import run_reporting_errors

    sys.exit(run_reporting_errors(main))
