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

SIDE, CELL = 32, 32  # mosaic of SIDE x SIDE images, each padded to CELL x CELL


def mosaics(images: np.ndarray) -> list[np.ndarray]:
    """(N, 28, 28) -> 1024x1024 mosaics of zero-padded 32x32 cells (the last one zero-filled)."""
    per = SIDE * SIDE
    out = []
    for start in range(0, len(images), per):
        chunk = np.zeros((per, CELL, CELL), np.uint8)
        part = images[start:start + per]
        chunk[:len(part), 2:30, 2:30] = part
        out.append(chunk.reshape(SIDE, SIDE, CELL, CELL).transpose(0, 2, 1, 3).reshape(SIDE * CELL, SIDE * CELL))
    return out


def code_split(codec, images: np.ndarray, quality: float) -> tuple[np.ndarray, np.ndarray, float]:
    """(latents (N, M, 4, 4) float32 scaled by the inverse gain, decoded pixels (N, 1, 32, 32) uint8,
    bits per image), all from real bitstreams."""
    from ncodec.codecs import container

    lat, pix, bits = [], [], 0
    with torch.no_grad():
        _, inv_gain = codec.model.gains(quality)
    d = codec.downsample
    for mosaic in mosaics(images):
        enc = codec.compress(mosaic, quality=quality, tile=SIDE * CELL)
        data = container.pack(enc.header, enc.sections)
        bits += 8 * len(data)
        header, sections = container.unpack(data)
        latents, _, _ = codec.decompress_latents(header, sections)
        y = torch.from_numpy(latents[0]["y"].astype(np.float32)) * inv_gain  # (1, M, 128, 128)
        cells = y[0].reshape(y.shape[1], SIDE, CELL // d, SIDE, CELL // d).permute(1, 3, 0, 2, 4)
        lat.append(cells.reshape(SIDE * SIDE, y.shape[1], CELL // d, CELL // d).numpy())
        out = codec.decompress(header, sections)
        out = out[..., 0] if out.ndim == 3 else out
        pix.append(out.reshape(SIDE, CELL, SIDE, CELL).transpose(0, 2, 1, 3).reshape(-1, 1, CELL, CELL))
    n = len(images)
    return np.concatenate(lat)[:n], np.concatenate(pix)[:n], bits / n


class Classifier(nn.Module):
    """Stem to a 4x4 grid of 64 features, then two 3x3 Conv-BN-ReLU and a linear layer on the 4x4 grid."""

    def __init__(self, stem: nn.Module) -> None:
        super().__init__()
        self.stem = stem
        self.trunk = nn.Sequential(nn.BatchNorm2d(64), nn.ReLU(), nn.Conv2d(64, 64, 3, padding=1, bias=False),
                                   nn.BatchNorm2d(64), nn.ReLU(), nn.Conv2d(64, 64, 3, padding=1, bias=False),
                                   nn.BatchNorm2d(64), nn.ReLU(), nn.Flatten(), nn.Linear(64 * 16, 10))

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
                   test_y: np.ndarray, epochs: int, seed: int, scale: float) -> tuple[dict[str, float], int, float]:
    """Train a classifier with ``stem`` (AdamW, one-cycle, batch 256), return test top-1 per test set."""
    torch.manual_seed(seed)
    model = Classifier(stem)
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


def main() -> int:
    from ncodec.codecs.image import LearnedImageCodec
    from ncodec.codecs.imageio import atomic_write_bytes
    from ncodec.datasets.fashion_mnist import load_fashion_mnist

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--weights", required=True)
    p.add_argument("-o", "--output", required=True)
    p.add_argument("--qualities", default="1,3,5")
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--train-count", type=int, default=12288)
    p.add_argument("--threads", type=int, default=1)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    codec = LearnedImageCodec.from_file(a.weights)
    if codec.name != "walloc":
        raise SystemExit(f"error: {a.weights} holds a {codec.name} model, not walloc")
    qualities = [float(q) for q in a.qualities.split(",")]
    train_img, train_lab = load_fashion_mnist("train")
    train_img, train_lab = train_img[:a.train_count], train_lab[:a.train_count]
    test_img, test_lab = load_fashion_mnist("test")
    t0 = time.perf_counter()
    coded_train = [code_split(codec, train_img, q) for q in qualities]
    coded_test = {q: code_split(codec, test_img, q) for q in qualities}
    coding_s = time.perf_counter() - t0
    m = codec.model.M
    lat_train = np.concatenate([c[0] for c in coded_train])
    pix_train = np.concatenate([c[1] for c in coded_train])
    y_train = np.tile(train_lab, len(qualities)).astype(np.int64)
    original_test = np.zeros((len(test_img), 1, CELL, CELL), np.uint8)
    original_test[:, 0, 2:30, 2:30] = test_img
    original_train = np.zeros((len(train_img), 1, CELL, CELL), np.uint8)
    original_train[:, 0, 2:30, 2:30] = train_img
    runs = {}
    lat_scale = 1.0 / float(np.abs(lat_train).mean() + 1e-9)
    runs["latent"] = train_and_test(nn.Conv2d(m, 64, 1), lat_train, y_train,
                                    {q: coded_test[q][0] for q in qualities}, test_lab, a.epochs, 0, lat_scale)
    runs["decoded-pixels"] = train_and_test(nn.Conv2d(1, 64, 8, stride=8), pix_train, y_train,
                                            {q: coded_test[q][1] for q in qualities}, test_lab, a.epochs, 0, 1 / 255)
    runs["original-pixels"] = train_and_test(nn.Conv2d(1, 64, 8, stride=8), original_train,
                                             train_lab.astype(np.int64), {"original": original_test}, test_lab,
                                             a.epochs, 0, 1 / 255)
    costs = codec.model.macs_per_pixel()
    pixels = CELL * CELL
    doc = {"schema": "ncodec-compressed-learning-1", "weights": str(a.weights), "weights_sha256": codec.sha256,
           "task": "Fashion-MNIST top-1, 10,000 test images; classifiers trained on train images 0-%d" % (a.train_count - 1),
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
