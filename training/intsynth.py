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

from ncodec.errors import UnsupportedInputError, UsageError


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
    p.add_argument("--w-max", type=int, default=127,
                   help="largest |int8 weight|: 64 keeps u8 x s8 pair sums in int16, so oneDNN's int8 kernels "
                        "are exact on CPUs without VNNI (AVX2) too")
    p.add_argument("--resume", action="store_true")


def _load_checkpoint(path: Path, base_sha256: str) -> dict[str, Any]:
    """A run's checkpoint for ``--resume``; one-line errors for a missing or foreign one."""
    if not path.exists():
        raise UnsupportedInputError(f"--resume: no checkpoint at {path}")
    ck = torch.load(path, map_location="cpu", weights_only=False)
    if ck["base_sha256"] != base_sha256:
        raise UnsupportedInputError("checkpoint was written for another base codec")
    return ck


def _restore_state(ck: dict[str, Any], opt: Any, sampler: Any, rng: random.Random) -> tuple[int, float]:
    """Optimizer, random streams and counters of a checkpoint; returns (step, wall seconds)."""
    opt.load_state_dict(ck["opt"])
    torch.set_rng_state(ck["torch_rng"])
    sampler.set_state(ck["sampler_rng"])
    rng.setstate(ck["py_rng"])
    return int(ck["step"]), float(ck["wall_s"])


def _save_checkpoint(path: Path, base_sha256: str, sim: torch.nn.Module, opt: Any, sampler: Any,
                     rng: random.Random, step: int, wall: float, **extra: Any) -> None:
    torch.save({"base_sha256": base_sha256, **extra, "sim": sim.state_dict(), "opt": opt.state_dict(),
                "torch_rng": torch.get_rng_state(), "sampler_rng": sampler.state(), "py_rng": rng.getstate(),
                "step": step, "wall_s": wall}, path)


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
    from ncodec.models.intsynth import W_MAX_PORTABLE, FakeQuantSynthesis, build_analysis_program, build_program
    from ncodec.training.realism import decoded_batch, frozen_codec

    if not 1 <= args.w_max <= 127:
        raise UnsupportedInputError(f"--w-max must be in 1..127 (int8 weights), got {args.w_max}")
    codec = frozen_codec(args.base, args.threads)
    train_files, val_files = training_split(args.data, args.val_count)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    ckpt_path = out / "checkpoint.pt"
    torch.manual_seed(args.seed)
    rng = random.Random(args.seed)
    step, wall = 0, 0.0
    if args.resume:
        ck = _load_checkpoint(ckpt_path, codec.sha256)
        if ck.get("w_max", 127) != args.w_max:
            raise UnsupportedInputError(f"--resume: the checkpoint was trained with --w-max {ck.get('w_max', 127)}")
        sim = FakeQuantSynthesis(copy.deepcopy(codec.model.g_s), ck["calibration"], ck.get("w_max", 127))
        sim.load_state_dict(ck["sim"])
    else:
        calibration = calibrate(codec, train_files[: args.calibration_images])
        sim = FakeQuantSynthesis(copy.deepcopy(codec.model.g_s), calibration, args.w_max)
    for p in sim.parameters():
        p.requires_grad_(True)
    opt = torch.optim.Adam(sim.parameters(), lr=args.lr)
    sampler = PatchSampler(train_files, args.patch_size, seed=args.seed + 1)
    if args.resume:
        step, wall = _restore_state(ck, opt, sampler, rng)
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
                _save_checkpoint(ckpt_path, codec.sha256, sim, opt, sampler, rng, step, wall,
                                 calibration=sim.calibration, w_max=sim.w_max)
    inverse_gain = lambda q: codec.model.gains(q)[1].view(-1).double()  # noqa: E731
    program = build_program(sim.g_s, inverse_gain, codec.levels, sim.calibration, w_max=sim.w_max)
    val = validate(codec, program, val_files)
    meta = {"steps": step, "train_s": round(wall, 1), "batch": args.batch, "patch_size": args.patch_size,
            "lr": args.lr, "seed": args.seed, "w_max": sim.w_max, "validation": val,
            "data": "photos-train " + ", ".join(f.name for f in train_files[:1] + train_files[-1:])}
    analysis = build_analysis_program(codec.model.g_a, calibrate_analysis(codec, train_files[: args.calibration_images]),
                                      W_MAX_PORTABLE)
    path = out / "intsynth.ncw"
    save_program(program, codec.name, codec.sha256, path, meta, analysis=analysis)
    return path


# ----------------------------------------------------------------------------- the encoder's int8 analysis
def add_intanalysis_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--base", default="models/weights/msh-vr-n64m96.ncw", help="frozen base codec weight file")
    p.add_argument("--intsynth", default="models/weights/msh-vr-n64m96.intsyn.ncw",
                   help="integer-synthesis file whose synthesis program is kept (and whose analysis seeds the run)")
    p.add_argument("--out", required=True, help="run folder (checkpoint.pt, log.csv, intsynth.ncw)")
    p.add_argument("--data", default=None, help="training images (default: photos-train)")
    p.add_argument("--val-count", type=int, default=3, help="last N images held out for validation")
    p.add_argument("--steps", type=int, default=1500)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--patch-size", type=int, default=128)
    p.add_argument("--lr", type=float, default=1e-5)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--w-max", type=int, default=None,
                   help="int8 weight range [-W, W] (default 64, W_MAX_PORTABLE: exact on every x86 int8 kernel; "
                        "127 is exact only where int8 dot products need no int16 pair sums: VNNI or AMX)")
    p.add_argument("--resume", action="store_true")


def validate_analysis(codec: Any, analysis: dict[str, Any], files: list[Path],
                      qualities: tuple[float, ...] = (1.0, 2.0, 3.0, 4.0)) -> dict[str, float]:
    """BD-rate of the int8 encoder against the float encoder on held-out images: real bitstreams,
    both decoded by the float synthesis (so the difference is all the encoder's)."""
    from ncodec.codecs.imageio import read_image
    from ncodec.codecs.intsynth import FastIntegerAnalysis
    from ncodec.evaluation.bdrate import Curve, bd_rate
    from ncodec.evaluation.metrics import psnr_rgb

    from ncodec.codecs.intsynth import int8_kernels_fit
    from ncodec.models.intsynth import run_analysis_reference

    fields = ("_int_analysis", "_int_synthesis")
    saved = {f: getattr(codec, f) for f in fields if hasattr(codec, f)}
    # where oneDNN's int8 kernels would saturate this program (8-bit weights without VNNI/AMX), or are
    # missing, the reference definition computes the same latents, slowly
    executor = FastIntegerAnalysis(analysis) if int8_kernels_fit(analysis) else \
        (lambda pixels: run_analysis_reference(analysis, pixels))
    codec._int_analysis, codec._int_synthesis = executor, saved.get("_int_synthesis")
    curves: dict[str, list[tuple[float, float]]] = {"default": [], "fast": []}
    try:
        with torch.no_grad():
            for q in qualities:
                for effort in curves:
                    bits = pixels = 0
                    psnrs = []
                    for f in files:
                        img = read_image(f)
                        enc = codec.compress(img, quality=q, analysis="float" if effort == "default" else "integer")
                        rec = codec.decompress(enc.header, enc.sections, synthesis="float")
                        bits += 8 * sum(len(s) for s in enc.sections)
                        pixels += img.shape[0] * img.shape[1]
                        psnrs.append(psnr_rgb(img, rec))
                    curves[effort].append((bits / pixels, float(np.mean(psnrs))))
    finally:
        for f in fields:
            if f in saved:
                setattr(codec, f, saved[f])
            else:
                delattr(codec, f)
    anchor = Curve(*map(list, zip(*curves["default"])))
    test = Curve(*map(list, zip(*curves["fast"])))
    return {"bd_rate_pct": float(bd_rate(anchor, test)),
            "default": curves["default"], "fast": curves["fast"]}


def run_intanalysis_training(args: argparse.Namespace) -> Path:
    """Quantisation-aware fine-tuning of the encoder's int8 g_a (``FakeQuantAnalysis``) on the codec's
    own RD objective, everything else frozen (the float decoder reads its latents); returns
    OUT/intsynth.ncw: the ``--intsynth`` file's synthesis program with the tuned analysis program."""
    from ncodec.codecs.intsynth import load_program, save_program
    from ncodec.datasets.catalog import training_split
    from ncodec.datasets.images import PatchSampler
    from ncodec.models.intsynth import (W_MAX, W_MAX_PORTABLE, FakeQuantAnalysis, analysis_calibration,
                                        build_analysis_program)
    from ncodec.training.realism import frozen_codec

    codec = frozen_codec(args.base, args.threads)
    model = codec.model
    program = load_program(args.intsynth, codec.sha256)
    seed_analysis = load_program(args.intsynth, codec.sha256, part="analysis")
    if seed_analysis is None:
        raise UnsupportedInputError(f"{args.intsynth} has no analysis program to start from")
    train_files, val_files = training_split(args.data, args.val_count)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    ckpt_path = out / "checkpoint.pt"
    torch.manual_seed(args.seed)
    rng = random.Random(args.seed)
    w_max = W_MAX_PORTABLE if args.w_max is None else int(args.w_max)
    if not 1 <= w_max <= W_MAX:
        raise UsageError(f"--w-max must lie in [1, {W_MAX}]")
    sim = FakeQuantAnalysis(copy.deepcopy(model.g_a), analysis_calibration(seed_analysis), w_max=w_max)
    step, wall = 0, 0.0
    if args.resume:
        ck = _load_checkpoint(ckpt_path, codec.sha256)
        sim.load_state_dict(ck["sim"])
    for p in sim.parameters():
        p.requires_grad_(True)
    opt = torch.optim.Adam(sim.parameters(), lr=args.lr)
    sampler = PatchSampler(train_files, args.patch_size, seed=args.seed + 1)
    if args.resume:
        step, wall = _restore_state(ck, opt, sampler, rng)
    log_path = out / "log.csv"
    new_log = not (args.resume and log_path.exists())
    with log_path.open("w" if new_log else "a", newline="") as fh:
        writer = csv.writer(fh)
        if new_log:
            writer.writerow(["step", "loss", "bpp", "psnr", "wall_s"])
        window: list[tuple[float, float, float]] = []
        while step < args.steps:
            t0 = time.perf_counter()
            x = sampler.sample(args.batch)
            qualities = [round(rng.uniform(1.0, float(codec.levels)) * 100) / 100 for _ in range(args.batch)]
            gains = torch.cat([model.gains(q)[0] for q in qualities])
            inv_gains = torch.cat([model.gains(q)[1] for q in qualities])
            lambdas = torch.tensor([model.lambda_at(q) for q in qualities])
            for group in opt.param_groups:  # cosine decay to 10 %
                group["lr"] = args.lr * (0.55 + 0.45 * np.cos(np.pi * step / max(args.steps, 1)))
            y_hat, likelihoods = model.latent_forward(sim(x) * gains, mode="ste")
            x_hat = model.g_s(y_hat * inv_gains)
            bits = sum(torch.log(lik.float()).flatten(1).sum(1) for lik in likelihoods.values()) / -np.log(2)
            bpp = bits / (x.shape[2] * x.shape[3])
            mse = ((x_hat - x) ** 2).flatten(1).mean(1)
            loss = (lambdas * 255.0 ** 2 * mse + bpp).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            step += 1
            wall += time.perf_counter() - t0
            window.append((float(loss.detach()), float(bpp.detach().mean()), float(mse.detach().mean())))
            if step % 50 == 0 or step == args.steps:
                lo, bp, ms = (float(np.mean(v)) for v in zip(*window))
                writer.writerow([step, f"{lo:.5f}", f"{bp:.5f}", f"{10 * np.log10(1.0 / ms):.4f}", f"{wall:.1f}"])
                fh.flush()
                window = []
            if step % 200 == 0 or step == args.steps:
                _save_checkpoint(ckpt_path, codec.sha256, sim, opt, sampler, rng, step, wall)
    analysis = build_analysis_program(sim.g_a, sim.calibration, sim.w_max)
    state = torch.load(args.intsynth, map_location="cpu", weights_only=True)
    meta = dict(state.get("meta", {}))
    meta.pop("analysis_default", None)  # a new analysis is the default only once measured (ship_intsynth.py)
    meta["analysis"] = {"steps": step, "w_max": sim.w_max, "train_s": round(wall, 1), "batch": args.batch, "patch_size": args.patch_size,
                        "lr": args.lr, "seed": args.seed, "seeded_from": Path(args.intsynth).name,
                        "validation": validate_analysis(codec, analysis, val_files),
                        "validation_seed": validate_analysis(codec, seed_analysis, val_files)}
    path = out / "intsynth.ncw"
    save_program(program, codec.name, codec.sha256, path, meta, analysis=analysis)
    return path
