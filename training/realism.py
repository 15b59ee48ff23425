"""Adversarial training of a realism generator on a frozen MSE codec (issue 17 item 1).

Every step encodes real patches with the base codec's integer path (the generator sees exactly the
latents a decoder will see), decodes them with the MSE synthesis, draws a realism R ~ U[0, 1] per
patch and trains

    generator:      w_mse * MSE(x_R, x) + R * (w_adv * softplus(-D(x_R | y)) + w_fm * FM(x_R, x | y))
    discriminator:  softplus(-D(x | y)) + softplus(D(x_R | y))

where D is a conditional patch discriminator (the decoded latent, projected and up-sampled, is
concatenated to the image, as in HiFiC) and FM is the L1 distance of D's features of x_R and x
(pix2pixHD feature matching; a perceptual term that needs no downloaded network). R weighting the
realism terms gives one generator for every R ("multi-realism"). Checkpoints carry both optimisers
and every RNG, so ``--resume`` continues the same trajectory.
"""

from __future__ import annotations

import argparse
import csv
import math
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import spectral_norm

from ncodec.errors import UnsupportedInputError


class ConditionalDiscriminator(nn.Module):
    """Patch discriminator on (image, decoded latent); returns per-patch logits and its features."""

    def __init__(self, latent_channels: int, stride: int, width: int = 64, cond: int = 12) -> None:
        super().__init__()
        self.stride = int(stride)
        self.cond = nn.Conv2d(latent_channels, cond, 1)
        chans = [3 + cond, width, 2 * width, 4 * width]
        self.blocks = nn.ModuleList(spectral_norm(nn.Conv2d(a, b, 4, 2, 1)) for a, b in zip(chans[:-1], chans[1:]))
        self.head = spectral_norm(nn.Conv2d(chans[-1], 1, 3, 1, 1))

    def forward(self, image: torch.Tensor, latent: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        c = F.interpolate(self.cond(latent), scale_factor=float(self.stride), mode="nearest")
        h = torch.cat([image * 2.0 - 1.0, c[:, :, : image.shape[2], : image.shape[3]]], dim=1)
        feats = []
        for block in self.blocks:
            h = F.leaky_relu(block(h), 0.2)
            feats.append(h)
        return self.head(h), feats


def frozen_codec(weights: str | Path, threads: int = 0) -> Any:
    """A learned image codec in eval mode with every parameter frozen: the base of a decoder-side
    training (realism generator, integer synthesis); ``threads`` > 0 sets torch's thread count."""
    from ncodec.codecs.image import LearnedImageCodec

    if threads:
        torch.set_num_threads(threads)
    codec = LearnedImageCodec.from_file(weights)
    codec.model.eval()
    for p in codec.model.parameters():
        p.requires_grad_(False)
    return codec


def decoded_batch(codec: Any, x: torch.Tensor, qualities: list[float]) -> tuple[torch.Tensor, torch.Tensor]:
    """(synthesis input, MSE reconstruction in [0, 1]) of patches x (B, 3, P, P) through the codec's
    real integer path (encode -> bytes -> decoded integer latents -> y_hat), one quality per patch."""
    latents, recons = [], []
    model = codec.model
    with torch.no_grad():
        for img, q in zip(x, qualities):
            arr = (img.permute(1, 2, 0) * 255.0).round().byte().numpy()
            enc = codec.compress(np.ascontiguousarray(arr), quality=q)
            decoded, _, _ = codec.decompress_latents(enc.header, enc.sections)  # with the decoder's means
            y_hat = codec.latent.y_hat(decoded[0], "cpu", torch.float32)
            latents.append(model.synthesis_input(y_hat, q))
            recons.append(model.synthesis(y_hat, q).clamp(0, 1))
    return torch.cat(latents), torch.cat(recons)


def add_realism_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--base", required=True, help="the MSE codec's weight file (.ncw), kept frozen")
    p.add_argument("--data", default=None, help="training image folder (default: $NCODEC_DATA/photos-train)")
    p.add_argument("--val-count", type=int, default=2, help="last N images of the folder are held out")
    p.add_argument("--out", required=True, help="run folder (checkpoint.pt, log.csv, realism.ncw)")
    p.add_argument("--steps", type=int, default=4000)
    p.add_argument("--stop-after", type=int, default=0, help="stop after this many steps (same schedule)")
    p.add_argument("--batch-size", type=int, default=4)
    p.add_argument("--patch-size", type=int, default=128)
    p.add_argument("--lr", type=float, default=1e-4)
    p.add_argument("--w-mse", type=float, default=150.0, help="weight of the MSE on [0, 1] pixels")
    p.add_argument("--w-adv", type=float, default=0.15, help="weight of the adversarial term (times R)")
    p.add_argument("--w-fm", type=float, default=1.0, help="weight of discriminator feature matching (times R)")
    p.add_argument("--qualities", default="1,2", help="range lo,hi of base qualities drawn per patch")
    p.add_argument("--widths", default="96,64,48,24", help="generator widths per up-sampling block")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--checkpoint-every", type=int, default=200)
    p.add_argument("--log-every", type=int, default=20)
    p.add_argument("--resume", action="store_true")


def run_realism_training(args: argparse.Namespace) -> Path:
    """Train; returns the path of the exported realism weight file (OUT/realism.ncw)."""
    from ncodec.codecs.realism import save_realism_weights
    from ncodec.datasets.catalog import training_split
    from ncodec.datasets.images import PatchSampler
    from ncodec.models.realism import RealismGenerator

    codec = frozen_codec(args.base, args.threads)
    if args.patch_size % codec.downsample:
        raise UnsupportedInputError(f"--patch-size must be a multiple of {codec.downsample}")
    q_lo, q_hi = (float(v) for v in str(args.qualities).split(","))
    codec.check_quality(q_lo), codec.check_quality(q_hi)
    train_files, _ = training_split(args.data, args.val_count)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    ckpt_path = out / "checkpoint.pt"

    torch.manual_seed(args.seed)
    widths = tuple(int(w) for w in str(args.widths).split(","))
    gen = RealismGenerator(codec.model.M, widths)
    latent_stride = codec.downsample // codec.model.latent_shape(codec.downsample, codec.downsample)[2]
    if gen.stride != latent_stride:
        raise UnsupportedInputError(f"--widths needs {int(math.log2(latent_stride))} blocks for a codec whose "
                                    f"latent has stride {latent_stride}")
    disc = ConditionalDiscriminator(codec.model.M, gen.stride)
    opt_g = torch.optim.Adam(gen.parameters(), lr=args.lr, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(disc.parameters(), lr=args.lr, betas=(0.5, 0.999))
    sampler = PatchSampler(train_files, args.patch_size, seed=args.seed + 1)
    step, wall = 0, 0.0
    if args.resume:
        if not ckpt_path.exists():
            raise UnsupportedInputError(f"--resume: no checkpoint at {ckpt_path}")
        ck = torch.load(ckpt_path, map_location="cpu", weights_only=False)
        if ck["config"] != gen.config() or ck["base_sha256"] != codec.sha256:
            raise UnsupportedInputError("checkpoint was written for another generator or base codec")
        gen.load_state_dict(ck["generator"])
        disc.load_state_dict(ck["discriminator"])
        opt_g.load_state_dict(ck["opt_g"])
        opt_d.load_state_dict(ck["opt_d"])
        torch.set_rng_state(ck["torch_rng"])
        sampler.set_state(ck["sampler_rng"])
        step, wall = int(ck["step"]), float(ck["wall_s"])

    def save() -> None:
        tmp = ckpt_path.with_suffix(".tmp")
        torch.save({"config": gen.config(), "base_sha256": codec.sha256, "generator": gen.state_dict(),
                    "discriminator": disc.state_dict(), "opt_g": opt_g.state_dict(), "opt_d": opt_d.state_dict(),
                    "torch_rng": torch.get_rng_state(), "sampler_rng": sampler.state(), "step": step,
                    "wall_s": wall, "args": vars(args)}, tmp)
        tmp.replace(ckpt_path)

    log_path = out / "log.csv"
    new_log = not log_path.exists() or not args.resume
    with open(log_path, "w" if new_log else "a", newline="") as log_file:
        log = csv.writer(log_file)
        if new_log:
            log.writerow(["step", "mse_psnr", "realism_psnr_r1", "g_adv", "g_fm", "d_loss", "wall_s"])
        acc = np.zeros(5)
        n = 0
        last = min(args.steps, args.stop_after) if args.stop_after else args.steps
        while step < last:
            t0 = time.perf_counter()
            x = sampler.sample(args.batch_size)
            qs = (q_lo + (q_hi - q_lo) * torch.rand(args.batch_size)).tolist()
            latent, x_mse = decoded_batch(codec, x, qs)
            r = torch.rand(args.batch_size)
            r[0] = 1.0  # every batch trains the full-realism end
            noise = torch.randn(gen.noise_shape(latent))
            x_r = gen(latent, x_mse, r, noise)

            # discriminator
            real_logits, _ = disc(x, latent)
            fake_logits, _ = disc(x_r.detach(), latent)
            d_loss = F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean()
            opt_d.zero_grad(set_to_none=True)
            d_loss.backward()
            opt_d.step()

            # generator
            fake_logits, fake_feats = disc(x_r, latent)
            with torch.no_grad():
                _, real_feats = disc(x, latent)
            rw = r.view(-1, 1, 1, 1)
            adv = (F.softplus(-fake_logits) * rw).mean()
            fm = sum(((a - b).abs() * rw).mean() for a, b in zip(fake_feats, real_feats)) / len(fake_feats)
            mse = F.mse_loss(x_r, x)
            g_loss = args.w_mse * mse + args.w_adv * adv + args.w_fm * fm
            opt_g.zero_grad(set_to_none=True)
            g_loss.backward()
            torch.nn.utils.clip_grad_norm_(gen.parameters(), 1.0)
            opt_g.step()

            step += 1
            wall += time.perf_counter() - t0
            with torch.no_grad():
                mse_base = float(F.mse_loss(x_mse[:1], x[:1]))
                mse_r1 = float(F.mse_loss(x_r[:1], x[:1]))
            acc += np.array([mse_base, mse_r1, float(adv.detach()), float(fm.detach()), float(d_loss.detach())])
            n += 1
            if step % args.log_every == 0 or step == last:
                m = acc / n
                log.writerow([step, f"{10 * math.log10(1 / max(m[0], 1e-12)):.3f}",
                              f"{10 * math.log10(1 / max(m[1], 1e-12)):.3f}", f"{m[2]:.4f}", f"{m[3]:.4f}",
                              f"{m[4]:.4f}", f"{wall:.1f}"])
                log_file.flush()
                acc[:] = 0
                n = 0
            if step % args.checkpoint_every == 0 or step == last:
                save()
    gen.eval()
    meta = {"steps": step, "train_wall_s": round(wall, 1), "recipe_args": {k: v for k, v in vars(args).items()
                                                                         if k not in ("resume",)}}
    target = out / "realism.ncw"
    save_realism_weights(gen, target, codec.name, codec.sha256, meta)
    return target
