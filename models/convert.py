"""Bring CompressAI models into ncodec (``ncodec import-compressai``).

CompressAI's ``bmshj2018-factorized``, ``bmshj2018-hyperprior`` and ``mbt2018-mean`` have the same
layers as ncodec's ``factorized``, ``hyperprior`` and ``mean-scale-hyperprior`` (GDN with the same
square-root reparameterisation, the same Ballé factorized density, the same hyper transforms, LeakyReLU
kept where CompressAI has it), so their trained float weights map one to one. What changes is the entropy
path: ncodec runs the hyper-synthesis in fixed point and codes with integer tables built from the
imported densities, so the imported model gets ncodec's portable, deterministic bitstreams. The model
gets one rate level (the checkpoint's λ) with unit gains.

The parallel context models CompressAI defines (``elic2022-official``, ``elic2022-chandelier``,
``cheng2020-anchor-checkerboard``) map onto ncodec's ``checkerboard-channel`` model built with their
layout (``arch``): same transforms, hyper nets, channel contexts, checkerboard-masked spatial contexts
(the mask is folded into the weights) and parameter aggregation, with the aggregation's input channels
reordered to ncodec's (hyper, channel context, spatial context) and its output to (scales, means). All
of their entropy nets are ReLU/LeakyReLU convolutions (plus pixel shuffles), so every one of them runs
in fixed point. Context models that decode serially (``mbt2018``, ``cheng2020-anchor``/``-attn``) have no
parallel counterpart and are refused with a message saying so.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from ncodec.entropy.fixedpoint import CONVS, FixedPointNet
from ncodec.errors import ModelMismatchError, UnsupportedInputError
from ncodec.models.context import CheckerboardChannelContext
from ncodec.models.image import MeanScaleHyperprior, VariableRateImageModel, build_model

ARCHITECTURES = {
    # CompressAI name (zoo name or class name) -> ncodec kind
    "bmshj2018-factorized": "factorized", "FactorizedPrior": "factorized",
    "bmshj2018-hyperprior": "hyperprior", "ScaleHyperprior": "hyperprior",
    "mbt2018-mean": "mean-scale-hyperprior", "MeanScaleHyperprior": "mean-scale-hyperprior",
}
CONTEXT_ARCHITECTURES = {
    # CompressAI name -> layout of ncodec's checkerboard-channel model
    "elic2022-official": "elic2022-official", "Elic2022Official": "elic2022-official",
    "elic2022-chandelier": "elic2022-chandelier", "Elic2022Chandelier": "elic2022-chandelier",
    "cheng2020-anchor-checkerboard": "cheng2020-anchor-checkerboard",
    "Cheng2020AnchorCheckerboard": "cheng2020-anchor-checkerboard",
}
UNSUPPORTED = {"mbt2018": "serial autoregressive context", "cheng2020-anchor": "serial autoregressive context",
               "cheng2020-attn": "serial autoregressive context", "JointAutoregressiveHierarchicalPriors":
               "serial autoregressive context"}


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """A CompressAI checkpoint (its training script's dict with ``state_dict``, or a bare state dict)."""
    p = Path(path)
    if not p.is_file():
        raise UnsupportedInputError(f"checkpoint not found: {p}")
    try:
        obj = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types on foreign files
        raise UnsupportedInputError(f"{p.name} is not a PyTorch checkpoint ({type(exc).__name__})") from None
    if isinstance(obj, dict) and isinstance(obj.get("state_dict"), dict):
        obj = obj["state_dict"]
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise UnsupportedInputError(f"{p.name} holds no state dict")
    return {k.removeprefix("module."): v for k, v in obj.items()}  # DataParallel prefixes


def _density_filters(state: dict[str, torch.Tensor], prefix: str) -> tuple[int, ...]:
    count = sum(1 for k in state if k.startswith(f"{prefix}.matrices."))
    return tuple(int(state[f"{prefix}.matrices.{i}"].shape[1]) for i in range(count - 1))


def _density(state: dict[str, torch.Tensor], src: str, dst: str) -> dict[str, torch.Tensor]:
    out = {f"{dst}.quantiles": state[f"{src}.quantiles"]}
    for name in ("matrices", "biases", "factors"):
        for key, value in state.items():
            if key.startswith(f"{src}.{name}."):
                out[dst + key[len(src):]] = value
    return out


def convert_compressai(state: dict[str, torch.Tensor], arch: str, lmbda: float) -> VariableRateImageModel:
    """An ncodec model holding a CompressAI model's weights (float; the codec makes the entropy path
    fixed-point when it exports the model)."""
    if arch in UNSUPPORTED:
        raise ModelMismatchError(f"{arch} cannot be imported: its {UNSUPPORTED[arch]} has no ncodec counterpart")
    if arch in CONTEXT_ARCHITECTURES:
        return convert_context_model(state, CONTEXT_ARCHITECTURES[arch], lmbda)
    if arch not in ARCHITECTURES:
        names = [k for k in (*ARCHITECTURES, *CONTEXT_ARCHITECTURES) if "-" in k]
        raise ModelMismatchError(f"unknown CompressAI architecture {arch!r}; supported: {', '.join(names)}")
    kind = ARCHITECTURES[arch]
    try:
        N, M = int(state["g_a.0.weight"].shape[0]), int(state["g_a.6.weight"].shape[0])
        config: dict[str, Any] = {"kind": kind, "N": N, "M": M, "lambdas": [float(lmbda)]}
        if kind == MeanScaleHyperprior.kind:
            config["hyper_activation"] = "leaky_relu"
        config["density_filters"] = list(_density_filters(state, "entropy_bottleneck"))
        model = build_model(config)
        mapped: dict[str, torch.Tensor] = {}
        for key, value in state.items():
            top = key.split(".", 1)[0]
            if top in ("g_a", "g_s", "h_a") and (key.endswith(".weight") or key.endswith(".bias")
                                                  or key.endswith(".beta") or key.endswith(".gamma")):
                mapped[key] = value
            elif top == "h_s" and (key.endswith(".weight") or key.endswith(".bias")):
                mapped["h_s.net." + key[len("h_s."):]] = value
        density = "y_density" if kind == "factorized" else "z_density"
        mapped.update(_density(state, "entropy_bottleneck", density))
        if kind != "factorized":
            _use_medians(model, state, "entropy_bottleneck", mapped)
        _load_checked(model, mapped)
    except KeyError as exc:
        raise ModelMismatchError(f"checkpoint does not match CompressAI's {arch}: {exc.args[0]}") from None
    return model.eval()


def _conv_params(state: dict[str, torch.Tensor], prefix: str) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """(weight, bias) of every convolution under ``prefix``, in module order (a state dict keeps it)."""
    out = []
    for key in state:
        if key.startswith(prefix) and key.endswith(".weight"):
            out.append((state[key], state[key[:-len("weight")] + "bias"]))
    if not out:
        raise KeyError(f"no layers under {prefix.rstrip('.')}")
    return out


def _fill_net(net: FixedPointNet, name: str, convs: list[tuple[torch.Tensor, torch.Tensor]],
              mapped: dict[str, torch.Tensor]) -> None:
    positions = [i for i, layer in enumerate(net.net) if isinstance(layer, CONVS)]
    if len(positions) != len(convs):
        raise KeyError(f"{name} has {len(convs)} layers, expected {len(positions)}")
    for i, (w, b) in zip(positions, convs):
        mapped[f"{name}.net.{i}.weight"], mapped[f"{name}.net.{i}.bias"] = w, b


def convert_context_model(state: dict[str, torch.Tensor], arch: str, lmbda: float) -> CheckerboardChannelContext:
    """ncodec's checkerboard-channel model in CompressAI's ELIC or Cheng-checkerboard layout, holding
    that model's weights (one rate level, unit gains)."""
    try:
        if arch == "cheng2020-anchor-checkerboard":
            N = M = int(state["g_a.0.conv1.weight"].shape[0])
            slices = [N]
            y_prefix = ["latent_codec.y."]
        else:
            N, M = int(state["g_a.0.weight"].shape[0]), int(state["g_a.13.weight"].shape[0])
            slices = []
            while f"latent_codec.y.latent_codec.y{len(slices)}.context_prediction.weight" in state:
                slices.append(int(state[f"latent_codec.y.latent_codec.y{len(slices)}.context_prediction.weight"].shape[1]))
            y_prefix = [f"latent_codec.y.latent_codec.y{k}." for k in range(len(slices))]
        config: dict[str, Any] = {"kind": CheckerboardChannelContext.kind, "N": N, "M": M, "lambdas": [float(lmbda)],
                                  "slices": slices, "arch": arch,
                                  "density_filters": list(_density_filters(state, "latent_codec.hyper.entropy_bottleneck"))}
        model = build_model(config)
        assert isinstance(model, CheckerboardChannelContext)
        mapped: dict[str, torch.Tensor] = {}
        for key, value in state.items():
            top = key.split(".", 1)[0]
            if top in ("g_a", "g_s") and key.endswith((".weight", ".bias", ".beta", ".gamma")):
                mapped[key] = value
            elif key.startswith("latent_codec.hyper.h_a.") and key.endswith((".weight", ".bias")):
                mapped[key[len("latent_codec.hyper."):]] = value
        mapped.update(_density(state, "latent_codec.hyper.entropy_bottleneck", "z_density"))
        _fill_net(model.h_s, "h_s", _conv_params(state, "latent_codec.hyper.h_s."), mapped)
        hyper_channels = model.h_s.net[-1].out_channels
        for k, s in enumerate(slices):
            if k:
                _fill_net(model.channel_ctx[k - 1], f"channel_ctx.{k - 1}",
                          _conv_params(state, f"latent_codec.y.channel_context.y{k}."), mapped)
            ctx = y_prefix[k] + "context_prediction."
            mask = state.get(ctx + "mask", torch.ones_like(state[ctx + "weight"]))
            mapped[f"spatial_ctx.{k}.net.0.weight"] = state[ctx + "weight"] * mask
            mapped[f"spatial_ctx.{k}.net.0.bias"] = state[ctx + "bias"]
            convs = _conv_params(state, y_prefix[k] + "entropy_parameters.")
            # CompressAI feeds [spatial (2s), channel context (2s, k > 0), hyper]; ncodec [hyper, channel, spatial]
            w0, b0 = convs[0]
            ch = 2 * s if k else 0
            w0 = torch.cat([w0[:, 2 * s + ch:], w0[:, 2 * s:2 * s + ch], w0[:, :2 * s]], dim=1)
            if w0.shape[1] != 2 * s + ch + hyper_channels:
                raise KeyError(f"entropy parameters of slice {k} take {w0.shape[1]} channels")
            convs[0] = (w0, b0)
            if arch == "elic2022-chandelier":  # its Gaussian reads (means, scales); ncodec (scales, means)
                w, b = convs[-1]
                convs[-1] = (torch.cat([w[s:], w[:s]]), torch.cat([b[s:], b[:s]]))
            _fill_net(model.aggregate[k], f"aggregate.{k}", convs, mapped)
        _use_medians(model, state, "latent_codec.hyper.entropy_bottleneck", mapped)
        _load_checked(model, mapped)
    except KeyError as exc:
        raise ModelMismatchError(f"checkpoint does not match CompressAI's {arch}: {exc.args[0]}") from None
    except ValueError as exc:
        raise ModelMismatchError(f"checkpoint does not match CompressAI's {arch}: {exc}") from None
    return model.eval()


def _use_medians(model: VariableRateImageModel, state: dict[str, torch.Tensor], prefix: str,
                 mapped: dict[str, torch.Tensor]) -> None:
    """CompressAI codes z as round(z - median) + median: keep its per-channel medians (units 2**-8)."""
    medians = state[f"{prefix}.quantiles"][:, 0, 1].double()
    model.enable_z_offsets()
    mapped["z_offset"] = torch.round(medians * 256).long()


def _load_checked(model: VariableRateImageModel, mapped: dict[str, torch.Tensor]) -> None:
    """Load every parameter of ``model`` from ``mapped`` (gains excepted), or raise KeyError naming the first
    missing, unexpected or mis-shaped one."""
    own = model.state_dict()
    missing = [k for k in own if k not in mapped and not k.startswith("log_")]
    extra = [k for k in mapped if k not in own]
    if missing or extra:
        raise KeyError(f"missing {missing[:3]} unexpected {extra[:3]}")
    for key, value in mapped.items():
        if tuple(own[key].shape) != tuple(value.shape):
            raise KeyError(f"{key} has shape {tuple(value.shape)}, expected {tuple(own[key].shape)}")
    model.load_state_dict(mapped, strict=False)  # log_gain / log_inv_gain stay 0: unit gains
