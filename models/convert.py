"""Bring CompressAI models into ncodec (``ncodec import-compressai``).

CompressAI's ``bmshj2018-factorized``, ``bmshj2018-hyperprior`` and ``mbt2018-mean`` have the same
layers as ncodec's ``factorized``, ``hyperprior`` and ``mean-scale-hyperprior`` (GDN with the same
square-root reparameterisation, the same Ballé factorized density, the same hyper transforms, LeakyReLU
kept where CompressAI has it), so their trained float weights map one to one. What changes is the entropy
path: ncodec runs the hyper-synthesis in fixed point and codes with integer tables built from the
imported densities, so the imported model gets ncodec's portable, deterministic bitstreams. The model
gets one rate level (the checkpoint's λ) with unit gains.

Context models that decode serially (``mbt2018``, ``cheng2020-*``) or ELIC's own architecture have no
ncodec counterpart layer for layer and are refused with a message saying so.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from ncodec.errors import ModelMismatchError, UnsupportedInputError
from ncodec.models.image import MeanScaleHyperprior, VariableRateImageModel, build_model

ARCHITECTURES = {
    # CompressAI name (zoo name or class name) -> ncodec kind
    "bmshj2018-factorized": "factorized", "FactorizedPrior": "factorized",
    "bmshj2018-hyperprior": "hyperprior", "ScaleHyperprior": "hyperprior",
    "mbt2018-mean": "mean-scale-hyperprior", "MeanScaleHyperprior": "mean-scale-hyperprior",
}
UNSUPPORTED = {"mbt2018": "serial autoregressive context", "cheng2020-anchor": "serial autoregressive context",
               "cheng2020-attn": "serial autoregressive context", "JointAutoregressiveHierarchicalPriors":
               "serial autoregressive context", "elic2022": "ELIC's residual/attention transforms"}


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
    if arch not in ARCHITECTURES:
        raise ModelMismatchError(f"unknown CompressAI architecture {arch!r}; supported: "
                                 f"{', '.join(k for k in ARCHITECTURES if '-' in k)}")
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
        own = model.state_dict()
        missing = [k for k in own if k not in mapped and not k.startswith("log_")]
        extra = [k for k in mapped if k not in own]
        if missing or extra:
            raise KeyError(f"missing {missing[:3]} unexpected {extra[:3]}")
        for key, value in mapped.items():
            if tuple(own[key].shape) != tuple(value.shape):
                raise KeyError(f"{key} has shape {tuple(value.shape)}, expected {tuple(own[key].shape)}")
        model.load_state_dict(mapped, strict=False)  # log_gain / log_inv_gain stay 0: unit gains
    except KeyError as exc:
        raise ModelMismatchError(f"checkpoint does not match CompressAI's {arch}: {exc.args[0]}") from None
    return model.eval()
