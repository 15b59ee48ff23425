"""Train the Fashion-MNIST task codec (issue 21; models/taskcodec.py) and write its weight file.

Encoder, entropy bottleneck and student head are trained jointly on rate + task loss (cross-entropy
plus distillation from the shipped fmnist-cnn teacher), one random rate level per image, on the first
55,000 training images; the last 5,000 validate. The test split is only measured, by
scripts/task_codec_eval.py, never used for a choice.

    .venv/bin/python scripts/train_task_codec.py --out runs/task-fmnist --epochs 8 --threads 2
    .venv/bin/python scripts/train_task_codec.py --out runs/task-fmnist-s --encoder smallcnn --channels 16 \
        --init-log-gain 1.0 --epochs 6 --threads 1     # Entropic Student: start from the teacher

Writes OUT/checkpoint.pt (resume with --resume), OUT/log.csv and OUT/task-fmnist.ncw.
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
from pathlib import Path

import numpy as np
import torch

from ncodec.cli import run_reporting_errors


@torch.no_grad()
def validate(model, images: np.ndarray, labels: np.ndarray) -> list[tuple[float, float]]:
    """(bits per image from the eval-mode likelihoods, top-1) per level."""
    model.eval()
    out = []
    x = torch.from_numpy(images).float()[:, None] / 255.0
    for level in range(model.levels):
        lv = torch.full((len(x),), level, dtype=torch.long)
        res = model(x, lv)
        bits = float((torch.log2(res["likelihoods"]).flatten(1).sum(1) * -1).mean())
        out.append((bits, float((res["logits"].argmax(1).numpy() == labels).mean())))
    model.train()
    return out


def main() -> int:
    from ncodec.codecs.task import save_task_codec
    from ncodec.datasets.fashion_mnist import augment, load_fashion_mnist
    from ncodec.errors import UnsupportedInputError
    from ncodec.evaluation.tasks.classify import _fmnist_model
    from ncodec.models.taskcodec import SupervisedTaskCodec, task_loss

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", required=True)
    p.add_argument("--epochs", type=int, default=8)
    p.add_argument("--channels", type=int, default=12)
    p.add_argument("--encoder", choices=("plain", "smallcnn"), default="plain",
                   help="smallcnn: the teacher's layout, initialised from the teacher's weights (Entropic Student)")
    p.add_argument("--init-log-gain", type=float, default=0.0,
                   help="initial log gain of every level (a finer first quantisation keeps the teacher's features)")
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--resume", action="store_true")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    gen = torch.Generator().manual_seed(a.seed)
    images, labels = load_fashion_mnist("train")
    train_x, train_y = images[:55000], labels[:55000]
    val_x, val_y = images[55000:], labels[55000:]
    teacher, teacher_sha = _fmnist_model()
    model = SupervisedTaskCodec(channels=a.channels, encoder=a.encoder)
    if a.encoder == "smallcnn":
        model.init_from_teacher(teacher)
    with torch.no_grad():
        model.log_gain.fill_(a.init_log_gain)
    density = [p_ for n, p_ in model.named_parameters() if n.startswith("density.") and not n.endswith("quantiles")]
    nets = [p_ for n, p_ in model.named_parameters() if not n.startswith("density.")]
    main_params = nets + density
    opt = torch.optim.AdamW([{"params": nets, "weight_decay": 1e-4},  # the prior learns 5x faster
                             {"params": density, "lr": 5 * a.lr, "weight_decay": 0.0}], lr=a.lr)
    aux_opt = torch.optim.Adam([model.density.quantiles], lr=1e-2)
    steps_per_epoch = len(train_x) // a.batch
    total = a.epochs * steps_per_epoch
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=[a.lr, 5 * a.lr], total_steps=total, pct_start=0.1)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    ckpt = out / "checkpoint.pt"
    step, wall = 0, 0.0
    if a.resume:
        if not ckpt.exists():
            raise UnsupportedInputError(f"--resume: no checkpoint at {ckpt}")
        ck = torch.load(ckpt, map_location="cpu", weights_only=False)
        model.load_state_dict(ck["model"])
        opt.load_state_dict(ck["opt"])
        aux_opt.load_state_dict(ck["aux_opt"])
        sched.load_state_dict(ck["sched"])
        gen.set_state(ck["gen"])
        torch.set_rng_state(ck["torch_rng"])
        step, wall = int(ck["step"]), float(ck["wall_s"])
    log_path = out / "log.csv"
    new_log = not (a.resume and log_path.exists())
    with log_path.open("w" if new_log else "a", newline="") as fh:
        writer = csv.writer(fh)
        if new_log:
            writer.writerow(["step", "loss", "bits", "ce", "wall_s", "val"])
        while step < total:
            epoch = step // steps_per_epoch
            order = torch.randperm(len(train_x), generator=torch.Generator().manual_seed(a.seed * 1000 + epoch)).numpy()
            b = step % steps_per_epoch
            t0 = time.perf_counter()
            idx = order[b * a.batch:(b + 1) * a.batch]
            x = augment(torch.from_numpy(train_x[idx]).float()[:, None] / 255.0, gen)
            y = torch.from_numpy(train_y[idx])
            levels = torch.randint(model.levels, (len(idx),), generator=gen)
            with torch.no_grad():
                teacher_logits = teacher(x)
            res = task_loss(model, model(x, levels), y, levels, teacher_logits)
            opt.zero_grad()
            res["loss"].backward()
            torch.nn.utils.clip_grad_norm_(main_params, 5.0)
            opt.step()
            sched.step()
            aux = model.aux_loss()
            aux_opt.zero_grad()
            aux.backward()
            aux_opt.step()
            step += 1
            wall += time.perf_counter() - t0
            end_of_epoch = step % steps_per_epoch == 0
            if step % 100 == 0 or end_of_epoch:
                val = validate(model, val_x, val_y) if end_of_epoch else ""
                writer.writerow([step, f"{float(res['loss']):.5f}", f"{float(res['bits']):.3f}",
                                 f"{float(res['ce']):.5f}", f"{wall:.1f}",
                                 " ".join(f"{bt:.1f}b:{acc:.4f}" for bt, acc in val) if val else ""])
                fh.flush()
                if val:
                    print(f"epoch {step // steps_per_epoch}: " + ", ".join(f"{bt:.1f} bits {acc:.4f}" for bt, acc in val),
                          flush=True)
            if step % 500 == 0 or end_of_epoch:
                torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "aux_opt": aux_opt.state_dict(),
                            "sched": sched.state_dict(), "gen": gen.get_state(), "torch_rng": torch.get_rng_state(),
                            "step": step, "wall_s": wall}, ckpt)
    for _ in range(2000):  # settle the tail quantiles the tables span
        aux = model.aux_loss()
        aux_opt.zero_grad()
        aux.backward()
        aux_opt.step()
    meta = {"epochs": a.epochs, "encoder": a.encoder, "init_log_gain": a.init_log_gain, "steps": step,
            "train_s": round(wall, 1), "batch": a.batch, "lr": a.lr,
            "seed": a.seed, "teacher": "fmnist-cnn", "teacher_sha256": teacher_sha,
            "data": "Fashion-MNIST train images 0-54999; 55000-59999 validation",
            "validation": validate(model, val_x, val_y)}
    path = out / "task-fmnist.ncw"
    save_task_codec(model, path, meta)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(run_reporting_errors(main))
