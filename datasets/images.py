"""Image folders for training and evaluation, with random patch sampling.

The shared data root defaults to ``../shared/data`` beside the checkout and can be overridden with the
``NCODEC_DATA`` environment variable.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from ncodec.codecs.imageio import IMAGE_SUFFIXES  # noqa: F401  (re-exported)
from ncodec.errors import UnsupportedInputError



def data_root() -> Path:
    """Root of the shared data folder (``NCODEC_DATA`` or ``../shared/data`` beside the repo)."""
    env = os.environ.get("NCODEC_DATA")
    if env:
        return Path(env)
    return Path(__file__).resolve().parent.parent.parent / "shared" / "data"


def list_images(folder: str | os.PathLike[str]) -> list[Path]:
    """Sorted image files of a folder (single-frame 4:2:0 ``.y4m`` stills included); a clear error if
    it is missing or holds none."""
    path = Path(folder)
    if not path.is_dir():
        raise UnsupportedInputError(f"image folder not found: {path} (set NCODEC_DATA to the data root)")
    from ncodec.codecs.yuvstill import is_y4m_still

    files = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES or is_y4m_still(p))
    if not files:
        raise UnsupportedInputError(f"no images in {path}")
    return files


def load_rgb(path: Path) -> torch.Tensor:
    """uint8 tensor (3, H, W) of an image file converted to RGB."""
    with Image.open(path) as im:
        arr = np.asarray(im.convert("RGB"))
    return torch.from_numpy(arr.copy()).permute(2, 0, 1).contiguous()


class PatchSampler:
    """Random square crops with horizontal/vertical flips (unless ``flips`` is false) from images held in
    memory as uint8."""

    def __init__(self, files: list[Path], patch_size: int, seed: int, flips: bool = True) -> None:
        self.images = [load_rgb(p) for p in files]
        small = [str(p) for p, im in zip(files, self.images) if min(im.shape[1:]) < patch_size]
        if small:
            raise UnsupportedInputError(f"images smaller than the patch size {patch_size}: {small[:3]}")
        self.patch_size = patch_size
        self.flips = flips
        self.generator = torch.Generator().manual_seed(seed)

    def sample(self, batch_size: int) -> torch.Tensor:
        """Float batch (B, 3, P, P) in [0, 1]."""
        p = self.patch_size
        out = torch.empty(batch_size, 3, p, p)
        picks = torch.randint(len(self.images), (batch_size,), generator=self.generator).tolist()
        for i, idx in enumerate(picks):
            im = self.images[idx]
            top = int(torch.randint(im.shape[1] - p + 1, (1,), generator=self.generator))
            left = int(torch.randint(im.shape[2] - p + 1, (1,), generator=self.generator))
            crop = im[:, top:top + p, left:left + p]
            flips = torch.randint(2, (2,), generator=self.generator).tolist() if self.flips else [0, 0]
            if flips[0]:
                crop = crop.flip(2)
            if flips[1]:
                crop = crop.flip(1)
            out[i] = crop.float() / 255.0
        return out

    def state(self) -> torch.Tensor:
        return self.generator.get_state()

    def set_state(self, state: torch.Tensor) -> None:
        self.generator.set_state(state)
