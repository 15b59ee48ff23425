"""Quantisation-aware fine-tuning of the integer synthesis (issue 20 item 2; models/intsynth.py).

The base codec stays frozen: its encoder, entropy model and bitstream are untouched. Only g_s (and its
inverse GDNs) is fine-tuned, through ``FakeQuantSynthesis``, on the synthesis inputs the real decoder
sees (patches coded to real bitstreams and parsed back), against the original pixels (MSE). The
activation multipliers come from a calibration pass over training photos before the first step.
"""

from __future__ import annotations

import argparse
import copy
import csv
import random
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ncodec.errors import UnsupportedInputError


def add_intsynth_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--base", default="models/weights/msh-vr-n64m96.ncw", help="frozen base codec weight file")
    p.add_argument("--out", required=True, help="run folder (checkpoint.pt, log.csv, intsynth.ncw)")
    p.add_argument("--data", default=None, help="training images (default: photos-train)")
    p.add_argument("--val-count", type=int, default=3, help="last N images held out for validation")
    p.add_argument("--calibration-images", type=int, default=12)
    p.add_argument("--steps", type=int, default=2000)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--patch-size", type=int, default=128)
    p.add_argument("--lr", type=float, default=2e-5)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--resume", action="store_true")


def calibrate(codec: Any, files: list[Path], qualities: tuple[float, ...] = (1.0, 2.0, 3.0, 4.0)) -> list[torch.Tensor]:
    """Per-channel max |value| at every quantisation point over whole training images, coded for real."""
    from ncodec.codecs.imageio import read_image
    from ncodec.models.intsynth import float_trace, merge_traces

    traces = []
    with torch.no_grad():
        for f in files:
            img = read_image(f)
            for q in qualities:
                q = min(q, float(codec.levels))
                enc = codec.compress(img, quality=q, tile=4096)
                decoded, _, _ = codec.decompress_latents(enc.header, enc.sections)
                y_hat = codec.latent.y_hat(decoded[0], "cpu", torch.float32)
                traces.append(float_trace(codec.model.g_s, codec.model.synthesis_input(y_hat, q)))
    return merge_traces(traces)


def calibrate_analysis(codec: Any, files: list[Path]) -> list[torch.Tensor]:
    """Per-channel maxima at the int8 analysis's quantisation points over whole training images."""
    from ncodec.codecs.imageio import read_image
    from ncodec.models.intsynth import analysis_trace, merge_traces

    traces = []
    with torch.no_grad():
        for f in files:
            x = torch.from_numpy(np.ascontiguousarray(read_image(f))).permute(2, 0, 1)[None].float() / 255.0
            traces.append(analysis_trace(codec.model.g_a, codec._pad(x)))
    return merge_traces(traces)


def validate(codec: Any, program: dict[str, Any], files: list[Path],
             qualities: tuple[float, ...] = (1.0, 2.5, 4.0)) -> dict[str, float]:
    """Mean PSNR-RGB of the float and integer syntheses on held-out images (same decoded latents)."""
    from ncodec.codecs.imageio import read_image
    from ncodec.codecs.intsynth import integer_latent
    from ncodec.evaluation.metrics import psnr_rgb
    from ncodec.models.intsynth import run_reference

    fl, it = [], []
    with torch.no_grad():
        for f in files:
            img = read_image(f)
            h, w = img.shape[:2]
            for q in qualities:
                enc = codec.compress(img, quality=q, tile=4096)
                decoded, _, _ = codec.decompress_latents(enc.header, enc.sections)
                rec = codec.decompress(enc.header, enc.sections, synthesis="float")
                pix = run_reference(program, integer_latent(decoded[0]), q)[0].permute(1, 2, 0).numpy()[:h, :w]
                fl.append(psnr_rgb(img, rec))
                it.append(psnr_rgb(img, np.ascontiguousarray(pix)))
    return {"float_psnr": float(np.mean(fl)), "int_psnr": float(np.mean(it)),
            "delta_db": float(np.mean(it) - np.mean(fl))}


def run_intsynth_training(args: argparse.Namespace) -> Path:
    """Calibrate, fine-tune, export; returns the path of OUT/intsynth.ncw."""
    from ncodec.codecs.intsynth import save_program
    from ncodec.datasets.catalog import training_split
    from ncodec.datasets.images import PatchSampler
    from ncodec.models.intsynth import FakeQuantSynthesis, build_analysis_program, build_program
    from ncodec.training.realism import decoded_batch, frozen_codec

    codec = frozen_codec(args.base, args.threads)
    train_files, val_files = training_split(args.data, args.val_count)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    ckpt_path = out / "checkpoint.pt"
    torch.manual_seed(args.seed)
    rng = random.Random(args.seed)
    step, wall = 0, 0.0
    if args.resume:
        if not ckpt_path.exists():
            raise UnsupportedInputError(f"--resume: no checkpoint at {ckpt_path}")
        ck = torch.load(ckpt_path, map_location="cpu", weights_only=False)
        if ck["base_sha256"] != codec.sha256:
            raise UnsupportedInputError("checkpoint was written for another base codec")
        sim = FakeQuantSynthesis(copy.deepcopy(codec.model.g_s), ck["calibration"])
        sim.load_state_dict(ck["sim"])
    else:
        calibration = calibrate(codec, train_files[: args.calibration_images])
        sim = FakeQuantSynthesis(copy.deepcopy(codec.model.g_s), calibration)
    for p in sim.parameters():
        p.requires_grad_(True)
    opt = torch.optim.Adam(sim.parameters(), lr=args.lr)
    sampler = PatchSampler(train_files, args.patch_size, seed=args.seed + 1)
    if args.resume:
        opt.load_state_dict(ck["opt"])
        torch.set_rng_state(ck["torch_rng"])
        sampler.set_state(ck["sampler_rng"])
        rng.setstate(ck["py_rng"])
        step, wall = int(ck["step"]), float(ck["wall_s"])
    log_path = out / "log.csv"
    new_log = not (args.resume and log_path.exists())
    with log_path.open("w" if new_log else "a", newline="") as fh:
        writer = csv.writer(fh)
        if new_log:
            writer.writerow(["step", "mse_255", "psnr", "wall_s"])
        window: list[float] = []
        while step < args.steps:
            t0 = time.perf_counter()
            x = sampler.sample(args.batch)
            qualities = [round(rng.uniform(1.0, float(codec.levels)) * 100) / 100 for _ in range(args.batch)]
            inputs, _ = decoded_batch(codec, x, qualities)
            for group in opt.param_groups:  # cosine decay to 10 %
                group["lr"] = args.lr * (0.55 + 0.45 * np.cos(np.pi * step / max(args.steps, 1)))
            loss = torch.mean((sim(inputs) - x) ** 2) * 255.0 ** 2
            opt.zero_grad()
            loss.backward()
            opt.step()
            step += 1
            wall += time.perf_counter() - t0
            window.append(float(loss.detach()))
            if step % 50 == 0 or step == args.steps:
                mse = float(np.mean(window))
                writer.writerow([step, f"{mse:.4f}", f"{10 * np.log10(255.0 ** 2 / mse):.4f}", f"{wall:.1f}"])
                fh.flush()
                window = []
            if step % 200 == 0 or step == args.steps:
                torch.save({"base_sha256": codec.sha256, "calibration": sim.calibration, "sim": sim.state_dict(),
                            "opt": opt.state_dict(), "torch_rng": torch.get_rng_state(),
                            "sampler_rng": sampler.state(), "py_rng": rng.getstate(), "step": step,
                            "wall_s": wall}, ckpt_path)
    inverse_gain = lambda q: codec.model.gains(q)[1].view(-1).double()  # noqa: E731
    program = build_program(sim.g_s, inverse_gain, codec.levels, sim.calibration)
    val = validate(codec, program, val_files)
    meta = {"steps": step, "train_s": round(wall, 1), "batch": args.batch, "patch_size": args.patch_size,
            "lr": args.lr, "seed": args.seed, "validation": val,
            "data": "photos-train " + ", ".join(f.name for f in train_files[:1] + train_files[-1:])}
    analysis = build_analysis_program(codec.model.g_a, calibrate_analysis(codec, train_files[: args.calibration_images]))
    path = out / "intsynth.ncw"
    save_program(program, codec.name, codec.sha256, path, meta, analysis=analysis)
    return path
