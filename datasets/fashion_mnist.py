"""Fashion-MNIST (Zalando, MIT licence) read from Debian's ``dataset-fashion-mnist`` package (IDX files,
gzip), or from ``NCODEC_FASHION_MNIST``. Nothing is downloaded."""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import numpy as np

from ncodec.errors import UnsupportedInputError

DEFAULT_DIR = Path("/usr/share/datasets/fashion-mnist")
FILES = {"train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
         "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")}
CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")


def fashion_mnist_dir() -> Path:
    return Path(os.environ.get("NCODEC_FASHION_MNIST", DEFAULT_DIR))


def _read_idx(path: Path, dims: int) -> np.ndarray:
    with gzip.open(path, "rb") as fh:
        data = fh.read()
    if len(data) < 4 + 4 * dims or data[2] != 0x08 or data[3] != dims:
        raise UnsupportedInputError(f"{path.name} is not an IDX file of unsigned bytes with {dims} dimensions")
    shape = tuple(int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(dims))
    body = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * dims)
    if body.size != int(np.prod(shape)):
        raise UnsupportedInputError(f"{path.name} is truncated")
    return body.reshape(shape)


def load_fashion_mnist(split: str = "test") -> tuple[np.ndarray, np.ndarray]:
    """(images uint8 (N, 28, 28), labels int64 (N,)) of the train (60,000) or test (10,000) split."""
    if split not in FILES:
        raise UnsupportedInputError(f"Fashion-MNIST has splits train and test, not {split!r}")
    folder = fashion_mnist_dir()
    paths = [folder / name for name in FILES[split]]
    missing = [p.name for p in paths if not p.is_file()]
    if missing:
        raise UnsupportedInputError(f"Fashion-MNIST files missing in {folder}: {', '.join(missing)} (install Debian's "
                                    "dataset-fashion-mnist, or set NCODEC_FASHION_MNIST to a folder holding them)")
    images, labels = _read_idx(paths[0], 3), _read_idx(paths[1], 1)
    if len(images) != len(labels):
        raise UnsupportedInputError("Fashion-MNIST images and labels differ in count")
    return images, labels.astype(np.int64)


def augment(x: "torch.Tensor", gen: "torch.Generator") -> "torch.Tensor":
    """Training augmentation of (B, 1, 28, 28) batches: random horizontal flips per image and one shift of
    up to 2 pixels per batch (zero padding); the Fashion-MNIST CNN and the task codec train with it."""
    import torch
    import torch.nn.functional as F

    flip = torch.rand(x.shape[0], generator=gen) < 0.5
    x = torch.where(flip[:, None, None, None], x.flip(-1), x)
    padded = F.pad(x, (2, 2, 2, 2))
    dy, dx = torch.randint(0, 5, (2,), generator=gen).tolist()
    return padded[:, :, dy:dy + 28, dx:dx + 28]
