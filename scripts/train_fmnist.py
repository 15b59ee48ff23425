"""Train the Fashion-MNIST CNN of the classification perception task and ship it to the zoo.

Trains on the first 55,000 training images, validates on the last 5,000 (the test split is only
measured, never used for choices), then records the test top-1 in models/weights/manifest.json:

    .venv/bin/python scripts/train_fmnist.py            # ~15 min on 2 CPU cores
    .venv/bin/python scripts/train_fmnist.py --check    # re-run the first 200 steps, compare to the log
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import json
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

from ncodec.datasets.fashion_mnist import augment, load_fashion_mnist
from ncodec.models.classifier import SmallCNN
from ncodec.models.zoo import MANIFEST, WEIGHTS_DIR

NAME = "fmnist-cnn"
LOG = WEIGHTS_DIR / "logs" / f"{NAME}.csv"


@torch.no_grad()
def accuracy(model: SmallCNN, images: np.ndarray, labels: np.ndarray) -> float:
    model.eval()
    correct = 0
    for i in range(0, len(images), 1000):
        x = torch.from_numpy(images[i:i + 1000]).float()[:, None] / 255.0
        correct += int((model(x).argmax(1).numpy() == labels[i:i + 1000]).sum())
    model.train()
    return correct / len(images)


def train(epochs: int, seed: int, max_steps: int | None = None) -> tuple[SmallCNN, list[dict]]:
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    images, labels = load_fashion_mnist("train")
    train_x, train_y = images[:55000], labels[:55000]
    val_x, val_y = images[55000:], labels[55000:]
    model = SmallCNN()
    batch = 128
    steps_per_epoch = len(train_x) // batch
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=5e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=3e-3, total_steps=epochs * steps_per_epoch)
    log, step, t0 = [], 0, time.perf_counter()
    for epoch in range(epochs):
        order = torch.randperm(len(train_x), generator=gen).numpy()
        for b in range(steps_per_epoch):
            idx = order[b * batch:(b + 1) * batch]
            x = augment(torch.from_numpy(train_x[idx]).float()[:, None] / 255.0, gen)
            loss = F.cross_entropy(model(x), torch.from_numpy(train_y[idx]), label_smoothing=0.05)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            step += 1
            if step % 100 == 0:
                log.append({"step": step, "loss": round(loss.item(), 5), "wall_s": round(time.perf_counter() - t0, 1)})
            if max_steps and step >= max_steps:
                return model, log
        log[-1]["val_top1"] = round(accuracy(model, val_x, val_y), 5)
        print(f"epoch {epoch + 1}/{epochs}: loss {loss.item():.4f} val top-1 {log[-1]['val_top1']:.4f} "
              f"({time.perf_counter() - t0:.0f} s)", flush=True)
    return model, log


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--epochs", type=int, default=8)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--check", action="store_true", help="re-run 200 steps and compare the loss to the shipped log")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    if a.check:
        _, log = train(a.epochs, a.seed, max_steps=200)
        with LOG.open() as fh:
            shipped = {int(r["step"]): float(r["loss"]) for r in csv.DictReader(fh)}
        diffs = [abs(r["loss"] - shipped[r["step"]]) for r in log]
        print(f"first 200 steps: max |loss - logged loss| = {max(diffs):.2e}")
        return 0 if max(diffs) < 1e-3 else 1
    t0 = time.perf_counter()
    model, log = train(a.epochs, a.seed)
    wall = time.perf_counter() - t0
    test_x, test_y = load_fashion_mnist("test")
    top1 = accuracy(model.eval(), test_x, test_y)
    buf = io.BytesIO()
    torch.save({k: v.detach().clone() for k, v in model.state_dict().items()}, buf)
    data = buf.getvalue()
    (WEIGHTS_DIR / f"{NAME}.pt").write_bytes(data)
    LOG.parent.mkdir(parents=True, exist_ok=True)
    with LOG.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=["step", "loss", "wall_s", "val_top1"])
        writer.writeheader()
        writer.writerows(log)
    doc = json.loads(MANIFEST.read_text())
    entry = {"name": NAME, "file": f"{NAME}.pt", "task": "classify", "sha256": hashlib.sha256(data).hexdigest(),
             "size_bytes": len(data), "architecture": "ncodec.models.classifier.SmallCNN",
             "data": "Fashion-MNIST train images 0-54999 (Debian dataset-fashion-mnist); 55000-59999 validation",
             "recipe": f".venv/bin/python scripts/train_fmnist.py --epochs {a.epochs} --seed {a.seed} --threads {a.threads}",
             "epochs": a.epochs, "train_wall_s": round(wall, 1),
             "machine": "2-core x86_64 CPU (this project's development machine), torch " + torch.__version__,
             "fashion_mnist_test_top1": round(top1, 5), "log": f"logs/{NAME}.csv"}
    doc["task_models"] = [e for e in doc.get("task_models", []) if e["name"] != NAME] + [entry]
    MANIFEST.write_text(json.dumps(doc, indent=2) + "\n")
    print(f"test top-1 {top1:.4f}; wrote {WEIGHTS_DIR / (NAME + '.pt')} ({len(data)} bytes) in {wall:.0f} s")
    return 0


if __name__ == "__main__":
    from ncodec.cli import run_reporting_errors

    sys.exit(run_reporting_errors(main))
