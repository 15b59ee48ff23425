"""Compressed-domain learning with the WaLLoC-style codec (issue 21 item 2b): a Fashion-MNIST classifier
trained on the codec's decoded *latents* (no synthesis) against the same classifier on its decoded
pixels and on the original pixels.

Every image goes through real bitstreams: 28x28 images, zero-padded to 32x32, are laid out as 32x32
mosaics (1,024 images, 1024x1024 pixels, one tile), coded with ``ncodec``'s walloc codec at each rate
level, and parsed back. The latent of an image is its 4x4 block of the mosaic's 32-channel latent grid
(times the level's inverse gain); its pixels are its 32x32 block of the decoded mosaic. The classifiers
share everything but the stem that brings the input to a 4x4 grid of 64 features: a 1x1 convolution on
the latent, an 8x8 stride-8 convolution on pixels. They train on training images
(by default the first 12,288, coded at every measured level; no augmentation, since a flipped latent is
not the latent of the flipped image), are chosen on nothing, and are measured once on the 10,000 test
images.

    .venv/bin/python scripts/walloc_compressed_learning.py --weights models/weights/walloc-n128m32.ncw \\
        -o results/walloc/compressed-learning.json

``--task text`` measures a second task built offline, text/no-text on 64x64 RGB photo patches
(``datasets.textpages.text_patches``): half the patches carry one to three words. The classifiers train
on 16,384 patches of photos-train 001-029 with the training-page fonts and licence-text words (6 epochs),
and are tested on 3,072 patches of photos 030-039 (other photos) with the evaluation-page fonts (DejaVu,
Liberation) and corpus words. The mosaics hold 16x16 patches. A text stroke is finer than one 8x8
patch embedding can generalise from, so both stems have two layers: a first one to an 8x8 grid of 32
features (a 1x1 convolution on the latent, an 8x8 stride-8 convolution on pixels, the encoder's own
footprint), then BN-ReLU and the same 2x2 stride-2 convolution to 4x4x64.

    .venv/bin/python scripts/walloc_compressed_learning.py --task text \\
        --weights models/weights/walloc-n128m32.ncw -o results/walloc/compressed-learning-text.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn
import torch.nn.functional as F

MOSAIC = 1024  # images are coded as MOSAIC x MOSAIC mosaics of equal cells, one tile each


def mosaics(cells: np.ndarray) -> list[np.ndarray]:
    """(N, C, C[, 3]) uint8 cells -> MOSAIC x MOSAIC mosaics of them in rows (the last one zero-filled)."""
    cell = cells.shape[1]
    side = MOSAIC // cell
    per = side * side
    out = []
    for start in range(0, len(cells), per):
        chunk = np.zeros((per,) + cells.shape[1:], np.uint8)
        part = cells[start:start + per]
        chunk[:len(part)] = part
        grid = chunk.reshape((side, side) + cells.shape[1:]).swapaxes(1, 2)
        out.append(grid.reshape((MOSAIC, MOSAIC) + cells.shape[3:]))
    return out


def code_split(codec, cells: np.ndarray, quality: float) -> tuple[np.ndarray, np.ndarray, float]:
    """(latents (N, M, C/d, C/d) float32 scaled by the inverse gain, decoded pixels (N, channels, C, C)
    uint8, bits per image) of (N, C, C[, 3]) cells, all from real bitstreams."""
    from ncodec.codecs import container

    lat, pix, bits = [], [], 0
    with torch.no_grad():
        _, inv_gain = codec.model.gains(quality)
    d, cell = codec.downsample, cells.shape[1]
    side, channels = MOSAIC // cell, 1 if cells.ndim == 3 else 3
    for mosaic in mosaics(cells):
        enc = codec.compress(mosaic, quality=quality, tile=MOSAIC)
        data = container.pack(enc.header, enc.sections)
        bits += 8 * len(data)
        header, sections = container.unpack(data)
        latents, _, _ = codec.decompress_latents(header, sections)
        y = torch.from_numpy(latents[0]["y"].astype(np.float32)) * inv_gain  # (1, M, MOSAIC/d, MOSAIC/d)
        grid = y[0].reshape(y.shape[1], side, cell // d, side, cell // d).permute(1, 3, 0, 2, 4)
        lat.append(grid.reshape(side * side, y.shape[1], cell // d, cell // d).numpy())
        out = codec.decompress(header, sections)
        out = (out[..., :1] if channels == 1 else out) if out.ndim == 3 else out[..., None]
        pix.append(out.reshape(side, cell, side, cell, channels).transpose(0, 2, 4, 1, 3)
                   .reshape(-1, channels, cell, cell))
    n = len(cells)
    return np.concatenate(lat)[:n], np.concatenate(pix)[:n], bits / n


class Classifier(nn.Module):
    """Stem to a 4x4 grid of 64 features, then two 3x3 Conv-BN-ReLU and a linear layer on the 4x4 grid."""

    def __init__(self, stem: nn.Module, classes: int = 10) -> None:
        super().__init__()
        self.stem = stem
        self.trunk = nn.Sequential(nn.BatchNorm2d(64), nn.ReLU(), nn.Conv2d(64, 64, 3, padding=1, bias=False),
                                   nn.BatchNorm2d(64), nn.ReLU(), nn.Conv2d(64, 64, 3, padding=1, bias=False),
                                   nn.BatchNorm2d(64), nn.ReLU(), nn.Flatten(), nn.Linear(64 * 16, classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.trunk(self.stem(x))


def macs(model: Classifier, shape: tuple[int, ...]) -> int:
    """Multiply-adds of one forward pass on an input of ``shape`` (convolutions and the linear layer)."""
    total, hooks = [0], []

    def hook(m, inp, out):
        if isinstance(m, nn.Conv2d):
            total[0] += out.numel() * m.in_channels * m.kernel_size[0] * m.kernel_size[1] // m.groups
        elif isinstance(m, nn.Linear):
            total[0] += m.in_features * m.out_features

    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            hooks.append(m.register_forward_hook(hook))
    model.eval()
    with torch.no_grad():
        model(torch.zeros(1, *shape))
    for h in hooks:
        h.remove()
    return total[0]


def train_and_test(stem: nn.Module, train_x: np.ndarray, train_y: np.ndarray, tests: dict[str, np.ndarray],
                   test_y: np.ndarray, epochs: int, seed: int, scale: float,
                   classes: int = 10) -> tuple[dict[str, float], int, float]:
    """Train a classifier with ``stem`` (AdamW, one-cycle, batch 256), return test top-1 per test set."""
    torch.manual_seed(seed)
    model = Classifier(stem, classes)
    gen = torch.Generator().manual_seed(seed)
    batch = 256
    steps = epochs * (len(train_x) // batch)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=5e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=3e-3, total_steps=steps)
    xs, ys = torch.from_numpy(train_x), torch.from_numpy(train_y).long()
    t0 = time.perf_counter()
    model.train()
    for epoch in range(epochs):
        order = torch.randperm(len(xs), generator=gen)
        for b in range(len(xs) // batch):
            idx = order[b * batch:(b + 1) * batch]
            x = xs[idx].float() * scale
            loss = F.cross_entropy(model(x), ys[idx], label_smoothing=0.05)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
    train_s = time.perf_counter() - t0
    model.eval()
    out = {}
    with torch.no_grad():
        for name, x in tests.items():
            pred = torch.cat([model(torch.from_numpy(x[i:i + 1000]).float() * scale).argmax(1)
                              for i in range(0, len(x), 1000)])
            out[name] = float((pred.numpy() == test_y).mean())
    return out, macs(model, tuple(train_x.shape[1:])), train_s


def fashion_mnist_task(train_count: int) -> dict:
    """Fashion-MNIST: 28x28 images zero-padded to 32x32 grey cells, 10 classes."""
    from ncodec.datasets.fashion_mnist import load_fashion_mnist

    def pad(images: np.ndarray) -> np.ndarray:
        cells = np.zeros((len(images), 32, 32), np.uint8)
        cells[:, 2:30, 2:30] = images
        return cells

    train_img, train_lab = load_fashion_mnist("train")
    test_img, test_lab = load_fashion_mnist("test")
    return {"train": pad(train_img[:train_count]), "train_labels": train_lab[:train_count],
            "test": pad(test_img), "test_labels": test_lab, "classes": 10,
            "latent_stem": lambda m: nn.Conv2d(m, 64, 1), "pixel_stem": lambda: nn.Conv2d(1, 64, 8, stride=8),
            "task": "Fashion-MNIST top-1, 10,000 test images; classifiers trained on train images 0-%d"
                    % (train_count - 1)}


def _two_layer_stem(to_grid: nn.Module) -> nn.Module:
    """``to_grid`` (input -> 8x8 grid of 32 features), then BN-ReLU and a 2x2 stride-2 convolution to 4x4x64."""
    return nn.Sequential(to_grid, nn.BatchNorm2d(32), nn.ReLU(), nn.Conv2d(32, 64, 2, stride=2))


def text_task(train_count: int, test_count: int) -> dict:
    """Text/no-text on 64x64 RGB photo patches: training photos, fonts and words disjoint from the test ones."""
    from PIL import Image

    from ncodec.datasets import textpages
    from ncodec.datasets.catalog import dataset_files

    photos = [np.asarray(Image.open(f).convert("RGB")) for f in dataset_files("photos-train")]
    if len(photos) < 20:
        raise SystemExit(f"error: photos-train has {len(photos)} photos, the text task needs 20 or more")
    split = len(photos) - 10
    train, train_lab = textpages.text_patches(photos[:split], train_count, 0, textpages.training_fonts(),
                                              textpages.training_words())
    words = textpages.CORPUS.read_text(encoding="utf-8").split()
    test, test_lab = textpages.text_patches(photos[split:], test_count, 1, textpages.available_fonts(), words)
    return {"train": train, "train_labels": train_lab, "test": test, "test_labels": test_lab, "classes": 2,
            "latent_stem": lambda m: _two_layer_stem(nn.Conv2d(m, 32, 1)),
            "pixel_stem": lambda: _two_layer_stem(nn.Conv2d(3, 32, 8, stride=8)),
            "task": f"text/no-text top-1 on {test_count:,} 64x64 patches of photos-train {split + 1:03d}-"
                    f"{len(photos):03d} with the evaluation-page fonts and corpus words; classifiers trained "
                    f"on {train_count:,} patches of photos 001-{split:03d} with the training-page fonts and "
                    "licence-text words; half of each set carries text"}


def main() -> int:
    from ncodec.codecs.image import LearnedImageCodec
    from ncodec.codecs.imageio import atomic_write_bytes

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--weights", required=True)
    p.add_argument("-o", "--output", required=True)
    p.add_argument("--task", choices=("fashion-mnist", "text"), default="fashion-mnist")
    p.add_argument("--qualities", default="1,3,5")
    p.add_argument("--epochs", type=int, help="classifier epochs (default 3 Fashion-MNIST, 6 text)")
    p.add_argument("--train-count", type=int, help="training images (default 12,288 Fashion-MNIST, 16,384 text)")
    p.add_argument("--test-count", type=int, default=3072, help="text task test patches")
    p.add_argument("--threads", type=int, default=1)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    codec = LearnedImageCodec.from_file(a.weights)
    if codec.name != "walloc":
        raise SystemExit(f"error: {a.weights} holds a {codec.name} model, not walloc")
    qualities = [float(q) for q in a.qualities.split(",")]
    if a.task == "text":
        task = text_task(a.train_count or 16384, a.test_count)
        a.epochs = a.epochs or 6
    else:
        task = fashion_mnist_task(a.train_count or 12288)
        a.epochs = a.epochs or 3
    t0 = time.perf_counter()
    coded_train = [code_split(codec, task["train"], q) for q in qualities]
    coded_test = {q: code_split(codec, task["test"], q) for q in qualities}
    coding_s = time.perf_counter() - t0
    m = codec.model.M
    lat_train = np.concatenate([c[0] for c in coded_train])
    pix_train = np.concatenate([c[1] for c in coded_train])
    y_train = np.tile(task["train_labels"], len(qualities)).astype(np.int64)
    test_lab = task["test_labels"]

    def as_planes(cells: np.ndarray) -> np.ndarray:
        return cells[:, None] if cells.ndim == 3 else np.ascontiguousarray(cells.transpose(0, 3, 1, 2))

    original_train, original_test = as_planes(task["train"]), as_planes(task["test"])
    runs = {}
    lat_scale = 1.0 / float(np.abs(lat_train).mean() + 1e-9)
    classes = task["classes"]
    runs["latent"] = train_and_test(task["latent_stem"](m), lat_train, y_train,
                                    {q: coded_test[q][0] for q in qualities}, test_lab, a.epochs, 0, lat_scale,
                                    classes)
    runs["decoded-pixels"] = train_and_test(task["pixel_stem"](), pix_train, y_train,
                                            {q: coded_test[q][1] for q in qualities}, test_lab, a.epochs, 0,
                                            1 / 255, classes)
    runs["original-pixels"] = train_and_test(task["pixel_stem"](), original_train,
                                             task["train_labels"].astype(np.int64), {"original": original_test},
                                             test_lab, a.epochs, 0, 1 / 255, classes)
    costs = codec.model.macs_per_pixel()
    pixels = task["train"].shape[1] * task["train"].shape[2]
    doc = {"schema": "ncodec-compressed-learning-1", "weights": str(a.weights), "weights_sha256": codec.sha256,
           "task": task["task"],
           "qualities": qualities, "bits_per_image": [coded_test[q][2] for q in qualities],
           "top1": {"latent": [runs["latent"][0][q] for q in qualities],
                    "decoded_pixels": [runs["decoded-pixels"][0][q] for q in qualities],
                    "original_pixels": runs["original-pixels"][0]["original"]},
           "classifier_macs_per_image": {k: v[1] for k, v in runs.items()},
           "classifier_train_s": {k: round(v[2], 1) for k, v in runs.items()},
           "codec_macs_per_image": {"encoder": (costs["encoder"] + costs["wavelet"]) * pixels,
                                    "decoder": (costs["decoder"] + costs["wavelet"]) * pixels},
           "coding_s_all_mosaics": round(coding_s, 1), "epochs": a.epochs,
           "machine": "2-core x86_64 CPU (this project's development machine), torch " + torch.__version__}
    atomic_write_bytes(a.output, (json.dumps(doc, indent=2) + "\n").encode())
    print(f"{'quality':>8} {'bits/img':>9} {'latent':>8} {'decoded':>8}")
    for i, q in enumerate(qualities):
        print(f"{q:8.1f} {doc['bits_per_image'][i]:9.1f} {doc['top1']['latent'][i]:8.4f} {doc['top1']['decoded_pixels'][i]:8.4f}")
    print(f"original pixels: {doc['top1']['original_pixels']:.4f}; classifier MACs/image "
          + ", ".join(f"{k} {v:,}" for k, v in doc["classifier_macs_per_image"].items()))
    print(f"wrote {a.output}")
    return 0


if __name__ == "__main__":
    from ncodec.cli import run_reporting_errors

    sys.exit(run_reporting_errors(main))
