"""Rate-distortion training: loss = lambda * 255**2 * MSE + bpp, or lambda * (1 - MS-SSIM) + bpp
(``--distortion ms-ssim``), plus the auxiliary quantile loss.

Variable rate: each sample of a batch draws a rate level, so one set of weights learns every level.
Checkpoints are written atomically (temp file + rename) and hold everything needed to resume
bit-for-bit: model, optimisers, step, and the RNG states of the noise and of the patch sampler.

Data-parallel training: under ``torchrun --nproc_per_node=N -m ncodec train …`` every process trains
on its own patches (``--batch-size`` per process) through DistributedDataParallel (gloo on CPU, NCCL
on CUDA); rank 0 logs, validates and writes checkpoints holding every rank's RNG states.
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

from ncodec.datasets.catalog import training_split
from ncodec.datasets.images import PatchSampler
from ncodec.errors import UnsupportedInputError, UsageError
from ncodec.entropy.fixedpoint import FixedPointNet
from ncodec.models.context import CheckerboardChannelContext, CheckerboardChannelGMM
from ncodec.models.image import EXTRA_MODEL_KINDS, MODEL_CLASSES, DEFAULT_LAMBDAS, VariableRateImageModel, build_model
from ncodec.training.options import add_train_arguments  # noqa: F401  (re-exported)

TRAINABLE_KINDS = (sorted(MODEL_CLASSES) + [CheckerboardChannelContext.kind, CheckerboardChannelGMM.kind]
                   + sorted(EXTRA_MODEL_KINDS))


def rd_loss(model: VariableRateImageModel, out: dict[str, Any], x: torch.Tensor,
            levels: torch.Tensor, distortion: str = "mse") -> dict[str, torch.Tensor]:
    """Per-batch RD loss with per-sample lambdas; returns loss, bpp and mse (means over the batch)."""
    num_pixels = x.shape[2] * x.shape[3]
    bits = sum(torch.log(lik.float()).flatten(1).sum(1) for lik in out["likelihoods"].values()) / -math.log(2)
    bpp = bits / num_pixels
    x_hat = out["x_hat"].float()
    mse = ((x_hat - x) ** 2).flatten(1).mean(1)
    lambdas = torch.tensor(model.lambdas, device=x.device)[levels]
    if distortion == "ms-ssim":
        from pytorch_msssim import ms_ssim

        d = 1.0 - ms_ssim(x_hat, x, data_range=1.0, size_average=False)
        loss = (lambdas * d + bpp).mean()
    else:
        loss = (lambdas * 255.0 ** 2 * mse + bpp).mean()
    if "extra_loss" in out:  # a model's own regulariser, e.g. mcq's commitment term
        loss = loss + out["extra_loss"]
    return {"loss": loss, "bpp": bpp.mean(), "mse": mse.mean()}


def _distributed(device: torch.device) -> tuple[int, int, torch.device]:
    """(rank, world size, device); joins the process group when launched by torchrun."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return 0, 1, device
    import torch.distributed as dist

    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    if device.type == "cuda":
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        torch.cuda.set_device(device)
    return dist.get_rank(), world, device


def _atomic_save(obj: Any, path: Path) -> None:
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def _family_options(args: argparse.Namespace) -> dict[str, Any]:
    """Config entries of the family-specific options (mcq's ``--codewords``, ``--prior``, ``--quantizer``,
    ``--ecvq-weight``, ``--transforms``, ``--groups``)."""
    extra: dict[str, Any] = {}
    if getattr(args, "codewords", None):
        try:
            extra["codewords"] = [int(v) for v in str(args.codewords).split(",")]
        except ValueError:
            raise UsageError(f"--codewords must be comma-separated integers, got {args.codewords!r}") from None
    if getattr(args, "prior", None):
        extra["prior"] = args.prior
    if getattr(args, "quantizer", None):
        extra["quantizer"] = args.quantizer
    if getattr(args, "ecvq_weight", None) is not None:
        extra["ecvq_weight"] = float(args.ecvq_weight)
    if getattr(args, "transforms", None):
        extra["transforms"] = args.transforms
    if getattr(args, "groups", None):
        extra["groups"] = int(args.groups)
    if extra and args.codec != "mcq":
        raise UsageError("--codewords, --prior, --quantizer, --ecvq-weight, --transforms and --groups apply to "
                         f"--codec mcq, not {args.codec}")
    if getattr(args, "wavelet_levels", None) is not None:
        if args.codec != "walloc":
            raise UsageError(f"--wavelet-levels applies to --codec walloc, not {args.codec}")
        if not 1 <= args.wavelet_levels <= 4:
            raise UsageError(f"--wavelet-levels must be 1-4, got {args.wavelet_levels}")
        extra["wavelet_levels"] = int(args.wavelet_levels)
    return extra


def freeze_parameters(model: torch.nn.Module, spec: str | None) -> int:
    """Keep the parameters under the comma-separated module names of ``spec`` (e.g. ``g_a``) fixed:
    fine-tuning around a trained transform (mcq seeded from the mean-scale default: training its
    analysis through the straight-through estimator drifted the latent off the codebooks, 31.1 to
    26.5 dB in 800 steps). Returns how many tensors were frozen; an unknown name is a usage error."""
    if not spec:
        return 0
    names = [n.strip() for n in str(spec).split(",") if n.strip()]
    modules = dict(model.named_modules())
    unknown = [n for n in names if n not in modules]
    if unknown:
        raise UsageError(f"--freeze: the model has no module {unknown[0]!r}")
    count = 0
    for name in names:
        for param in modules[name].parameters():
            param.requires_grad_(False)
            count += 1
    return count


def run_training(args: argparse.Namespace,
                 validate: Callable[[VariableRateImageModel, list[Path]], dict[str, float]] | None = None) -> Path:
    """Train (or resume) a model; returns the checkpoint path."""
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise UnsupportedInputError("--device cuda requested but no CUDA device is available")
    if args.amp and device.type != "cuda":
        raise UnsupportedInputError("--amp needs --device cuda")
    if args.distortion == "ms-ssim" and args.patch_size < 192:
        raise UnsupportedInputError("--distortion ms-ssim needs --patch-size >= 192 (5 MS-SSIM scales)")
    rank, world, device = _distributed(device)
    train_files, val_files = training_split(args.data, args.val_count)
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    ckpt_path = out_dir / "checkpoint.pt"

    torch.manual_seed(args.seed)
    lambdas = tuple(float(v) for v in str(args.lambdas).split(","))
    model = build_model({"kind": args.codec, "N": args.N, "M": args.M, "lambdas": list(lambdas),
                         **_family_options(args)})
    config = model.config()  # complete (e.g. the context model's default slices)
    if args.patch_size % model.downsample:
        raise UnsupportedInputError(f"--patch-size must be a multiple of {model.downsample} for {args.codec}")
    sampler = PatchSampler(train_files, args.patch_size, seed=args.seed + 1 + 1000 * rank,
                           flips=not getattr(args, "no_flips", False))
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
        elif "model" not in init and any(k not in init["state_dict"] for k in model.state_dict()):
            # a weight file without the training-only tensors (mcq's prior logits, k-means statistics):
            # the codec's loader restores them from the integer tables and the codebooks
            from ncodec.codecs.image import LearnedImageCodec

            model.load_state_dict(LearnedImageCodec(init, "0" * 64).model.state_dict())
        else:
            model.load_state_dict(weights)
    model.to(device)
    if world > 1:  # every rank its own noise (single-process runs keep their historical RNG stream)
        torch.manual_seed(args.seed + 7919 * rank)
    for net in model.modules():  # every fixed-point net is fake-quantised during --qat
        if isinstance(net, FixedPointNet):
            net.qat = bool(args.qat)
    frozen = freeze_parameters(model, getattr(args, "freeze", None))
    if frozen:
        print(f"--freeze: {frozen} tensors kept fixed", file=sys.stderr)
    aux_params = [p for n, p in model.named_parameters() if n.endswith("quantiles") and p.requires_grad]
    main_params = [p for n, p in model.named_parameters() if not n.endswith("quantiles") and p.requires_grad]
    net = model
    if world > 1:
        from torch.nn.parallel import DistributedDataParallel

        # the quantiles only enter the auxiliary loss, so they are "unused" in forward
        net = DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None,
                                      find_unused_parameters=True)
    opt = torch.optim.Adam(main_params, lr=args.lr)
    # models without auxiliary parameters (e.g. VQ codebooks) get no auxiliary optimiser
    aux_opt = torch.optim.Adam(aux_params, lr=args.aux_lr) if aux_params else None
    step = 0
    wall = 0.0
    if args.resume:
        if not ckpt_path.exists():
            raise UnsupportedInputError(f"--resume: no checkpoint at {ckpt_path}")
        ck = torch.load(ckpt_path, map_location="cpu", weights_only=False)
        if ck["config"] != config:
            raise UnsupportedInputError(f"checkpoint config {ck['config']} differs from {config}")
        saved_freeze = (ck.get("args") or {}).get("freeze")
        if (saved_freeze or None) != (getattr(args, "freeze", None) or None):
            # the optimiser state holds the trainable tensors only, so it cannot move to another set
            raise UsageError(f"--resume: the run was trained with --freeze {saved_freeze or '(none)'}; "
                             "resume it with the same --freeze")
        model.load_state_dict(ck["model"])
        opt.load_state_dict(ck["optimizer"])
        if aux_opt is not None:
            aux_opt.load_state_dict(ck["aux_optimizer"])
        step, wall = int(ck["step"]), float(ck.get("wall_s", 0.0))
        if world > 1:
            if len(ck.get("rank_states", [])) != world:
                raise UnsupportedInputError(f"checkpoint was written by {len(ck.get('rank_states', [])) or 1} "
                                            f"process(es); resume with the same --nproc_per_node")
            torch.set_rng_state(ck["rank_states"][rank]["torch_rng"])
            sampler.set_state(ck["rank_states"][rank]["sampler_rng"])
        else:
            torch.set_rng_state(ck["torch_rng"])
            sampler.set_state(ck["sampler_rng"])

    log_path = out_dir / "log.csv"
    main_rank = rank == 0
    new_log = not log_path.exists() or not args.resume
    log_file = open(log_path, "w" if new_log else "a", newline="") if main_rank else None
    log = csv.writer(log_file) if log_file else None
    if log and new_log:
        log.writerow(["step", "loss", "bpp", "mse", "psnr", "aux", "lr", "wall_s"])
    board = None
    if args.tensorboard and main_rank:
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            raise UnsupportedInputError("--tensorboard needs the tensorboard package (pip install tensorboard)") from None
        board = SummaryWriter(str(out_dir / "tensorboard"))

    def save() -> None:
        rank_state = {"torch_rng": torch.get_rng_state(), "sampler_rng": sampler.state()}
        states = [rank_state]
        if world > 1:
            import torch.distributed as dist

            states = [None] * world
            dist.all_gather_object(states, rank_state)
        if main_rank:
            _atomic_save({"config": config, "model": model.state_dict(), "optimizer": opt.state_dict(),
                          "aux_optimizer": aux_opt.state_dict() if aux_opt is not None else {}, "step": step, "wall_s": wall,
                          "torch_rng": states[0]["torch_rng"], "sampler_rng": states[0]["sampler_rng"],
                          "rank_states": states if world > 1 else [], "world_size": world,
                          "args": vars(args), "qat": bool(args.qat)}, ckpt_path)

    bar = None
    if not args.no_progress and main_rank:
        from tqdm import tqdm

        bar = tqdm(total=args.steps, initial=step, unit="step", file=sys.stderr, dynamic_ncols=True)
    drop_at = int(args.steps * args.lr_drop)
    acc = {"loss": 0.0, "bpp": 0.0, "mse": 0.0, "aux": 0.0, "n": 0}
    model.train()
    try:
        last = min(args.steps, args.stop_after) if args.stop_after else args.steps
        while step < last:
            t0 = time.perf_counter()
            lr = args.lr * (0.1 if step >= drop_at else 1.0)
            for group in opt.param_groups:
                group["lr"] = lr
            x = sampler.sample(args.batch_size).to(device)
            levels = torch.randint(len(lambdas), (args.batch_size,)).to(device)
            with torch.autocast("cuda", dtype=torch.bfloat16, enabled=bool(args.amp)):
                out = net(x, levels)
            terms = rd_loss(model, out, x, levels, args.distortion)
            opt.zero_grad(set_to_none=True)
            terms["loss"].backward()
            if args.clip > 0:
                torch.nn.utils.clip_grad_norm_(main_params, args.clip)
            opt.step()
            aux = model.aux_loss()
            if aux_opt is not None:
                aux_opt.zero_grad(set_to_none=True)
                aux.backward()
                if world > 1:  # the auxiliary loss is outside DDP's forward: average its gradients by hand
                    import torch.distributed as dist

                    for p_aux in aux_params:
                        dist.all_reduce(p_aux.grad)
                        p_aux.grad /= world
                aux_opt.step()
            step += 1
            wall += time.perf_counter() - t0
            for k in ("loss", "bpp", "mse"):
                acc[k] += float(terms[k].detach())
            acc["aux"] += float(aux.detach())
            acc["n"] += 1
            if bar is not None:
                bar.update(1)
            if step % args.log_every == 0 or step == last:
                if world > 1:  # log the mean over all ranks
                    import torch.distributed as dist

                    packed = torch.tensor([acc["loss"], acc["bpp"], acc["mse"], acc["aux"]], dtype=torch.float64)
                    dist.all_reduce(packed)
                    acc.update(zip(("loss", "bpp", "mse", "aux"), (packed / world).tolist()))
                n = acc["n"]
                mse = acc["mse"] / n
                psnr = 10 * math.log10(1.0 / max(mse, 1e-12))
                if log:
                    log.writerow([step, f"{acc['loss'] / n:.5f}", f"{acc['bpp'] / n:.5f}", f"{mse:.6f}",
                                  f"{psnr:.3f}", f"{acc['aux'] / n:.3f}", f"{lr:.2e}", f"{wall:.1f}"])
                    log_file.flush()
                if board:
                    for key, value in (("loss", acc["loss"] / n), ("bpp", acc["bpp"] / n), ("psnr", psnr),
                                       ("aux", acc["aux"] / n), ("lr", lr)):
                        board.add_scalar(f"train/{key}", value, step)
                if bar is not None:
                    bar.set_postfix(loss=f"{acc['loss'] / n:.3f}", bpp=f"{acc['bpp'] / n:.3f}", psnr=f"{psnr:.2f}")
                acc = {"loss": 0.0, "bpp": 0.0, "mse": 0.0, "aux": 0.0, "n": 0}
            if step % args.checkpoint_every == 0 or step == last:
                save()
            if (validate is not None and main_rank and args.val_every > 0
                    and (step % args.val_every == 0 or step == args.steps)):
                model.eval()
                metrics = validate(model, val_files)
                model.train()
                with open(out_dir / "val.csv", "a", newline="") as f:
                    csv.writer(f).writerow([step] + [f"{k}={v:.4f}" for k, v in metrics.items()])
                if board:
                    for key, value in metrics.items():
                        board.add_scalar(f"val/{key}", value, step)
    finally:
        if log_file:
            log_file.close()
        if board:
            board.close()
        if bar is not None:
            bar.close()
    if world > 1:
        import torch.distributed as dist

        dist.barrier()
    return ckpt_path


def main_train(args: argparse.Namespace) -> int:
    """CLI entry: train, then report where the checkpoint is."""
    from ncodec.codecs.image import validate_with_bitstreams

    try:
        path = run_training(args, validate=validate_with_bitstreams)
    except KeyboardInterrupt:
        print("interrupted; resume with --resume", file=sys.stderr)
        return 130
    if int(os.environ.get("RANK", "0")) != 0:  # under torchrun only rank 0 exports
        return 0
    from ncodec.codecs.image import save_weights

    ck = torch.load(path, map_location="cpu", weights_only=False)
    model = build_model(ck["config"])
    model.load_state_dict(ck["model"])
    weights = Path(args.out) / "model.ncw"
    sha = save_weights(model, weights, meta={"step": int(ck["step"]), "qat": bool(ck.get("qat", False))})
    print(f"checkpoint: {path}\nweights: {weights} (sha256 {sha})")
    return 0

