"""A reproducible face-detection set: the Kodak photographs (several show faces) plus composites in which
faces cut from them are pasted, at several scales, onto the training photographs' backgrounds.

The composites vary face size (40-200 px), position and background; ``generate_face_set`` writes
``kodimNN.png`` copies of Kodak's images and ``composite-NN.png`` files into a work folder (never into
the repository). The same seed and inputs give the same files.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from ncodec.codecs.imageio import read_image
from ncodec.datasets.catalog import dataset_files

# Kodak images with clear frontal faces and the face box (x, y, w, h) the composites cut around.
FACE_SOURCES = {"kodim04.png": (107, 213, 354, 354), "kodim15.png": (344, 9, 369, 369),
                "kodim18.png": (255, 174, 67, 67)}

def _face_patch(image: np.ndarray, box: tuple[int, int, int, int], margin: float = 0.35) -> np.ndarray:
    x, y, w, h = box
    mx, my = int(w * margin), int(h * margin)
    top, left = max(0, y - my), max(0, x - mx)
    return image[top:min(image.shape[0], y + h + my), left:min(image.shape[1], x + w + mx)]


def generate_face_set(out_dir: str | Path, composites: int = 12, seed: int = 0) -> list[Path]:
    """Write the Kodak images and ``composites`` composite images into ``out_dir``; return their paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    kodak = {p.name: p for p in dataset_files("kodak")}
    written = []
    for name, path in sorted(kodak.items()):
        Image.open(path).save(out / name)
        written.append(out / name)
    patches = [_face_patch(read_image(kodak[name]), box) for name, box in FACE_SOURCES.items()]
    backgrounds = dataset_files("photos-train")
    rng = np.random.default_rng(seed)
    for i in range(composites):
        bg = Image.open(backgrounds[int(rng.integers(0, len(backgrounds)))]).convert("RGB")
        scale = 768 / max(bg.size)
        canvas = bg.resize((max(1, round(bg.width * scale)), max(1, round(bg.height * scale))), Image.BICUBIC)
        taken: list[tuple[int, int, int, int]] = []
        for _ in range(int(rng.integers(2, 5))):
            patch = patches[int(rng.integers(0, len(patches)))]
            size = int(rng.integers(40, 201) * 1.7)  # face box ~ patch / 1.7
            pw = size
            ph = max(1, round(patch.shape[0] * size / patch.shape[1]))
            if pw >= canvas.width or ph >= canvas.height:
                continue
            for _attempt in range(20):
                x, y = int(rng.integers(0, canvas.width - pw)), int(rng.integers(0, canvas.height - ph))
                if all(x + pw <= a or a + c <= x or y + ph <= b or b + d <= y for a, b, c, d in taken):
                    canvas.paste(Image.fromarray(patch).resize((pw, ph), Image.BICUBIC), (x, y))
                    taken.append((x, y, pw, ph))
                    break
        path = out / f"composite-{i:02d}.png"
        canvas.save(path)
        written.append(path)
    return written
