"""Rate-distortion training: loss = lambda * 255**2 * MSE + bpp (+ auxiliary quantile loss).

Variable rate: each sample of a batch draws a rate level, so one set of weights learns every level.
Checkpoints are written atomically (temp file + rename) and hold everything needed to resume
bit-for-bit: model, optimisers, step, and the RNG states of the noise and of the patch sampler.
"""

from __future__ import annotations

import argparse
import csv
import math
import os
import sys
import time
from pathlib import Path
from typing import Any, Callable

import torch

from ncodec.datasets.images import PatchSampler, data_root, list_images
from ncodec.errors import UnsupportedInputError
from ncodec.entropy.fixedpoint import FixedPointNet
from ncodec.models.context import CheckerboardChannelContext
from ncodec.models.image import MODEL_CLASSES, DEFAULT_LAMBDAS, VariableRateImageModel, build_model

TRAINABLE_KINDS = sorted(MODEL_CLASSES) + [CheckerboardChannelContext.kind]


def add_train_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--codec", default="mean-scale-hyperprior", choices=TRAINABLE_KINDS)
    p.add_argument("--N", type=int, default=64, help="transform channels")
    p.add_argument("--M", type=int, default=96, help="latent channels")
    p.add_argument("--lambdas", default=",".join(str(v) for v in DEFAULT_LAMBDAS),
                   help="comma-separated rate levels (MSE lambdas on 0..1 pixels x 255**2)")
    p.add_argument("--data", default=None, help="training image folder (default: $NCODEC_DATA/photos-train)")
    p.add_argument("--val-count", type=int, default=2, help="last N images of the folder are held out")
    p.add_argument("--out", required=True, help="run folder (checkpoint.pt, log.csv)")
    p.add_argument("--steps", type=int, default=100000)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--patch-size", type=int, default=128)
    p.add_argument("--lr", type=float, default=2e-4)
    p.add_argument("--lr-drop", type=float, default=0.9, help="fraction of --steps after which lr /= 10")
    p.add_argument("--aux-lr", type=float, default=1e-3)
    p.add_argument("--clip", type=float, default=1.0, help="gradient-norm clip (0 disables)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0 = torch default)")
    p.add_argument("--init", default=None,
                   help="start from the model weights of a checkpoint or .ncw weight file (fresh optimiser)")
    p.add_argument("--init-partial", action="store_true",
                   help="with --init: copy only the tensors whose names and shapes match (e.g. a mean-scale "
                        "hyperprior's transforms into checkerboard-channel) and report how many")
    p.add_argument("--qat", action="store_true",
                   help="fake-quantise the fixed-point entropy-parameter net (quantisation-aware fine-tuning)")
    p.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint.pt")
    p.add_argument("--checkpoint-every", type=int, default=500)
    p.add_argument("--val-every", type=int, default=2000)
    p.add_argument("--log-every", type=int, default=50)
    p.add_argument("--no-progress", action="store_true")


def rd_loss(model: VariableRateImageModel, out: dict[str, Any], x: torch.Tensor,
            levels: torch.Tensor) -> dict[str, torch.Tensor]:
    """Per-batch RD loss with per-sample lambdas; returns loss, bpp and mse (means over the batch)."""
    num_pixels = x.shape[2] * x.shape[3]
    bits = sum(torch.log(lik).flatten(1).sum(1) for lik in out["likelihoods"].values()) / -math.log(2)
    bpp = bits / num_pixels
    mse = ((out["x_hat"] - x) ** 2).flatten(1).mean(1)
    lambdas = torch.tensor(model.lambdas, device=x.device)[levels]
    loss = (lambdas * 255.0 ** 2 * mse + bpp).mean()
    return {"loss": loss, "bpp": bpp.mean(), "mse": mse.mean()}


def _atomic_save(obj: Any, path: Path) -> None:
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def run_training(args: argparse.Namespace,
                 validate: Callable[[VariableRateImageModel, list[Path]], dict[str, float]] | None = None) -> Path:
    """Train (or resume) a model; returns the checkpoint path."""
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise UnsupportedInputError("--device cuda requested but no CUDA device is available")
    folder = Path(args.data) if args.data else data_root() / "photos-train"
    files = list_images(folder)
    if len(files) <= args.val_count:
        raise UnsupportedInputError(f"need more than {args.val_count} images in {folder}")
    train_files, val_files = files[: len(files) - args.val_count], files[len(files) - args.val_count:]
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    ckpt_path = out_dir / "checkpoint.pt"

    torch.manual_seed(args.seed)
    lambdas = tuple(float(v) for v in str(args.lambdas).split(","))
    if args.codec == CheckerboardChannelContext.kind:
        model: VariableRateImageModel = CheckerboardChannelContext(args.N, args.M, lambdas)
    else:
        model = build_model({"kind": args.codec, "N": args.N, "M": args.M, "lambdas": list(lambdas)})
    config = model.config()
    if args.patch_size % model.downsample:
        raise UnsupportedInputError(f"--patch-size must be a multiple of {model.downsample} for {args.codec}")
    sampler = PatchSampler(train_files, args.patch_size, seed=args.seed + 1)
    if args.init and not args.resume:
        if not Path(args.init).is_file():
            raise UnsupportedInputError(f"--init: no such file {args.init}")
        init = torch.load(args.init, map_location="cpu", weights_only=False)
        weights = init["model"] if "model" in init else init["state_dict"]  # checkpoint or .ncw weight file
        if args.init_partial:
            own = model.state_dict()
            matched = {k: v for k, v in weights.items() if k in own and own[k].shape == v.shape}
            model.load_state_dict(matched, strict=False)
            print(f"--init-partial: copied {len(matched)} of {len(own)} tensors from {args.init}", file=sys.stderr)
        elif init["config"] != config:
            raise UnsupportedInputError(f"--init file has config {init['config']}, expected {config}"
                                        " (use --init-partial to copy matching tensors)")
        else:
            model.load_state_dict(weights)
    model.to(device)
    for net in model.modules():  # every fixed-point net is fake-quantised during --qat
        if isinstance(net, FixedPointNet):
            net.qat = bool(args.qat)
    aux_params = [p for n, p in model.named_parameters() if n.endswith("quantiles")]
    main_params = [p for n, p in model.named_parameters() if not n.endswith("quantiles")]
    opt = torch.optim.Adam(main_params, lr=args.lr)
    aux_opt = torch.optim.Adam(aux_params, lr=args.aux_lr)
    step = 0
    wall = 0.0
    if args.resume:
        if not ckpt_path.exists():
            raise UnsupportedInputError(f"--resume: no checkpoint at {ckpt_path}")
        ck = torch.load(ckpt_path, map_location="cpu", weights_only=False)
        if ck["config"] != config:
            raise UnsupportedInputError(f"checkpoint config {ck['config']} differs from {config}")
        model.load_state_dict(ck["model"])
        opt.load_state_dict(ck["optimizer"])
        aux_opt.load_state_dict(ck["aux_optimizer"])
        step, wall = int(ck["step"]), float(ck.get("wall_s", 0.0))
        torch.set_rng_state(ck["torch_rng"])
        sampler.set_state(ck["sampler_rng"])

    log_path = out_dir / "log.csv"
    new_log = not log_path.exists() or not args.resume
    log_file = open(log_path, "w" if new_log else "a", newline="")
    log = csv.writer(log_file)
    if new_log:
        log.writerow(["step", "loss", "bpp", "mse", "psnr", "aux", "lr", "wall_s"])

    def save() -> None:
        _atomic_save({"config": config, "model": model.state_dict(), "optimizer": opt.state_dict(),
                      "aux_optimizer": aux_opt.state_dict(), "step": step, "wall_s": wall,
                      "torch_rng": torch.get_rng_state(), "sampler_rng": sampler.state(),
                      "args": vars(args), "qat": bool(args.qat)}, ckpt_path)

    bar = None
    if not args.no_progress:
        from tqdm import tqdm

        bar = tqdm(total=args.steps, initial=step, unit="step", file=sys.stderr, dynamic_ncols=True)
    drop_at = int(args.steps * args.lr_drop)
    acc = {"loss": 0.0, "bpp": 0.0, "mse": 0.0, "aux": 0.0, "n": 0}
    model.train()
    try:
        while step < args.steps:
            t0 = time.perf_counter()
            lr = args.lr * (0.1 if step >= drop_at else 1.0)
            for group in opt.param_groups:
                group["lr"] = lr
            x = sampler.sample(args.batch_size).to(device)
            levels = torch.randint(len(lambdas), (args.batch_size,)).to(device)
            out = model(x, levels)
            terms = rd_loss(model, out, x, levels)
            opt.zero_grad(set_to_none=True)
            terms["loss"].backward()
            if args.clip > 0:
                torch.nn.utils.clip_grad_norm_(main_params, args.clip)
            opt.step()
            aux = model.aux_loss()
            aux_opt.zero_grad(set_to_none=True)
            aux.backward()
            aux_opt.step()
            step += 1
            wall += time.perf_counter() - t0
            for k in ("loss", "bpp", "mse"):
                acc[k] += float(terms[k].detach())
            acc["aux"] += float(aux.detach())
            acc["n"] += 1
            if bar is not None:
                bar.update(1)
            if step % args.log_every == 0 or step == args.steps:
                n = acc["n"]
                mse = acc["mse"] / n
                psnr = 10 * math.log10(1.0 / max(mse, 1e-12))
                log.writerow([step, f"{acc['loss'] / n:.5f}", f"{acc['bpp'] / n:.5f}", f"{mse:.6f}",
                              f"{psnr:.3f}", f"{acc['aux'] / n:.3f}", f"{lr:.2e}", f"{wall:.1f}"])
                log_file.flush()
                if bar is not None:
                    bar.set_postfix(loss=f"{acc['loss'] / n:.3f}", bpp=f"{acc['bpp'] / n:.3f}", psnr=f"{psnr:.2f}")
                acc = {"loss": 0.0, "bpp": 0.0, "mse": 0.0, "aux": 0.0, "n": 0}
            if step % args.checkpoint_every == 0 or step == args.steps:
                save()
            if validate is not None and (step % args.val_every == 0 or step == args.steps):
                model.eval()
                metrics = validate(model, val_files)
                model.train()
                with open(out_dir / "val.csv", "a", newline="") as f:
                    csv.writer(f).writerow([step] + [f"{k}={v:.4f}" for k, v in metrics.items()])
    finally:
        log_file.close()
        if bar is not None:
            bar.close()
    return ckpt_path


def main_train(args: argparse.Namespace) -> int:
    """CLI entry: train, then report where the checkpoint is."""
    from ncodec.codecs.image import validate_with_bitstreams

    try:
        path = run_training(args, validate=validate_with_bitstreams)
    except KeyboardInterrupt:
        print("interrupted; resume with --resume", file=sys.stderr)
        return 130
    from ncodec.codecs.image import save_weights

    ck = torch.load(path, map_location="cpu", weights_only=False)
    model = build_model(ck["config"])
    model.load_state_dict(ck["model"])
    weights = Path(args.out) / "model.ncw"
    sha = save_weights(model, weights, meta={"step": int(ck["step"]), "qat": bool(ck.get("qat", False))})
    print(f"checkpoint: {path}\nweights: {weights} (sha256 {sha})")
    return 0

