"""Learned image transforms: factorized prior (Ballé 2018), scale hyperprior (Ballé 2018) and
mean-scale hyperprior (Minnen 2018), all variable-rate through per-level gain vectors.

Variable rate (gain units, Cui et al. 2021): the latent is multiplied channel-wise by a gain vector
before quantisation and by an inverse gain after; one gain pair per trained rate level, and any
quality between two levels interpolates the pair geometrically. Quality q is a float in
[1, levels]. The modules are pure: they know nothing about bytes or coders.
"""

from __future__ import annotations

import math
from abc import ABCMeta, abstractmethod
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from ncodec.entropy.factorized import FactorizedDensity
from ncodec.entropy.fixedpoint import FixedPointNet
from ncodec.entropy.gaussian import GaussianConditional
from ncodec.models.layers import GDN, conv, deconv

# CompressAI's MSE lambdas for its quality levels 1..8 (distortion on 0..1 pixels, scaled by 255**2).
DEFAULT_LAMBDAS = (0.0018, 0.0035, 0.0067, 0.0130, 0.0250)


RoundingMode = str | Callable[[torch.Tensor], torch.Tensor] | None


def round_ste(x: torch.Tensor) -> torch.Tensor:
    """Round with a straight-through gradient."""
    return x + (torch.round(x) - x).detach()


def gain_weights(quality: float, levels: int) -> tuple[int, int, float]:
    """(lower level, upper level, t) so that gain = g[lo]**(1-t) * g[hi]**t, for q in [1, levels]."""
    if not (1.0 <= quality <= levels) or math.isnan(quality):
        raise ValueError(f"quality must lie in [1, {levels}], got {quality}")
    pos = quality - 1.0
    lo = min(int(math.floor(pos)), levels - 1)
    hi = min(lo + 1, levels - 1)
    return lo, hi, pos - lo


class VariableRateImageModel(nn.Module, metaclass=ABCMeta):
    """Shared parts: analysis/synthesis transforms and the gain vectors. Subclasses define
    ``forward(x, levels)`` returning the reconstruction and the likelihoods of every latent."""

    kind = "base"
    supports_quality_map = True  # gains per latent position (region-of-interest coding)
    downsample = 16  # total stride of the analysis transform
    latent_codec = "factorized"  # the latent-codec family that codes y (codecs/latent.py)

    def __init__(self, N: int, M: int, lambdas: tuple[float, ...] = DEFAULT_LAMBDAS) -> None:
        super().__init__()
        self.N, self.M = N, M
        self.lambdas = tuple(float(v) for v in lambdas)
        levels = len(self.lambdas)
        self.g_a = nn.Sequential(conv(3, N), GDN(N), conv(N, N), GDN(N), conv(N, N), GDN(N), conv(N, M))
        self.g_s = nn.Sequential(deconv(M, N), GDN(N, inverse=True), deconv(N, N), GDN(N, inverse=True),
                                 deconv(N, N), GDN(N, inverse=True), deconv(N, 3))
        # log-parameterised gains keep them positive; inverse gains start as the reciprocal
        self.log_gain = nn.Parameter(torch.zeros(levels, M))
        self.log_inv_gain = nn.Parameter(torch.zeros(levels, M))

    @property
    def levels(self) -> int:
        return len(self.lambdas)

    def config(self) -> dict[str, Any]:
        cfg = {"kind": self.kind, "N": self.N, "M": self.M, "lambdas": list(self.lambdas)}
        filters = getattr(self, "density_filters", None)
        if filters is not None:
            cfg["density_filters"] = list(filters)
        if getattr(self, "z_offset", None) is not None:
            cfg["z_offsets"] = True
        return cfg

    def set_density_filters(self, filters: tuple[int, ...]) -> None:
        """Rebuild the factorized densities with other hidden widths (CompressAI uses (3, 3, 3, 3))."""
        self.density_filters = tuple(int(f) for f in filters)
        for attr in ("z_density", "y_density"):
            density = getattr(self, attr, None)
            if isinstance(density, FactorizedDensity):
                setattr(self, attr, FactorizedDensity(density.channels, filters=self.density_filters))

    def gains(self, quality: float | torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(gain, inverse gain), each (1, M, 1, 1), for a float quality in [1, levels]; for a quality
        map (1, 1, h, w) on the latent grid (region-of-interest coding), each (1, M, h, w)."""
        if isinstance(quality, torch.Tensor):
            return self._gain_map(quality)
        lo, hi, t = gain_weights(quality, self.levels)
        g = torch.exp(self.log_gain[lo] * (1 - t) + self.log_gain[hi] * t)
        ig = torch.exp(self.log_inv_gain[lo] * (1 - t) + self.log_inv_gain[hi] * t)
        return g.view(1, -1, 1, 1), ig.view(1, -1, 1, 1)

    def _gain_map(self, qmap: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-position gains of a quality map, interpolated between levels exactly as ``gains`` does."""
        pos = qmap[0, 0].to(self.log_gain.device).double() - 1.0  # (h, w)
        if bool((pos < 0).any()) or bool((pos > self.levels - 1).any()) or bool(torch.isnan(pos).any()):
            raise ValueError(f"quality map values must lie in [1, {self.levels}]")
        lo = pos.floor().long().clamp_max(self.levels - 1)
        hi = (lo + 1).clamp_max(self.levels - 1)
        t = (pos - lo.double()).unsqueeze(-1)  # (h, w, 1)

        def blend(table: torch.Tensor) -> torch.Tensor:
            value = table.double()[lo] * (1 - t) + table.double()[hi] * t  # (h, w, M)
            return torch.exp(value).permute(2, 0, 1)[None].to(table.dtype)

        return blend(self.log_gain), blend(self.log_inv_gain)

    def analysis(self, x: torch.Tensor, quality: float) -> torch.Tensor:
        """Encoder: pixels in [0, 1] -> the latent the latent codec codes (gain-scaled for the rate)."""
        gain, _ = self.gains(quality)
        return self.g_a(x) * gain.to(x.dtype)

    def synthesis_input(self, y_hat: torch.Tensor, quality: float) -> torch.Tensor:
        """What g_s reads: the decoded latent times the inverse gain (a realism generator's condition)."""
        _, inv_gain = self.gains(quality)
        return y_hat * inv_gain.to(y_hat.dtype)

    def synthesis(self, y_hat: torch.Tensor, quality: float) -> torch.Tensor:
        """Decoder: decoded latent -> pixels (unclamped)."""
        return self.g_s(self.synthesis_input(y_hat, quality))

    def latent_shape(self, height: int, width: int) -> tuple[int, int, int, int]:
        """Shape of the latent of a padded tile of ``height`` x ``width`` pixels."""
        return (1, self.M, height // 16, width // 16)

    def level_gains(self, levels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-sample gains for 0-based level indices (B,), each (B, M, 1, 1); a floating-point level
        interpolates between its two neighbours as ``gains`` does (quality = level + 1)."""
        if not levels.is_floating_point():
            g = torch.exp(self.log_gain[levels])
            ig = torch.exp(self.log_inv_gain[levels])
            return g[:, :, None, None], ig[:, :, None, None]
        pairs = [self.gains(float(v) + 1.0) for v in levels.tolist()]
        return torch.cat([g for g, _ in pairs]), torch.cat([ig for _, ig in pairs])

    def enable_z_offsets(self) -> None:
        """Code hyper-latents around a per-channel offset held in units 2**-8 (CompressAI quantises z
        around each channel's median); h_s then reads the dequantised values, symbol + offset."""
        self.register_buffer("z_offset", torch.zeros(self.N, dtype=torch.int64))
        self.h_s.input_kind = "activations"

    def z_offsets(self) -> torch.Tensor | None:
        """Per-channel hyper-latent offsets as float64 (N,), or None when z is coded on the integers."""
        offset = getattr(self, "z_offset", None)
        return None if offset is None else offset.double() / 256.0

    def quantize_z(self, z: torch.Tensor) -> torch.Tensor:
        """z_hat for training: rounded on the coding grid (integers, or integers + offset)."""
        offsets = self.z_offsets()
        if offsets is None:
            return round_ste(z)
        off = offsets.to(z.dtype).view(1, -1, 1, 1)
        return round_ste(z - off) + off

    def rounding(self, mode: RoundingMode) -> RoundingMode:
        """How ``latent_forward`` reads likelihoods: ``noise`` (training's additive uniform noise),
        ``round`` (rounded on the coding grid: the eval-mode estimate of the coded rate), ``ste``
        (rounded with a straight-through gradient) or a callable soft quantiser of centred values
        (encoder-side refinement's annealed rounding, ``codecs/refine.py``). None: by train/eval mode."""
        return mode or ("noise" if self.training else "round")

    def quantize(self, v: torch.Tensor, around: torch.Tensor | None = None, mode: RoundingMode = None) -> torch.Tensor:
        """ŷ, the value the synthesis reads: rounded on the grid (integers + ``around``) with a
        straight-through gradient, or the callable quantiser's value."""
        fn = mode if callable(mode) else round_ste
        return fn(v) if around is None else fn(v - around) + around

    def perturb(self, v: torch.Tensor, around: torch.Tensor | None = None, mode: RoundingMode = None) -> torch.Tensor:
        """Where the likelihood of a latent is read (see ``rounding``): with additive uniform noise in
        training, rounded on the coding grid (integers + ``around``) otherwise, so an eval forward's
        likelihoods are the model's own estimate of the coded rate (CompressAI's eval-mode estimate)."""
        mode = self.rounding(mode)
        if callable(mode):
            return self.quantize(v, around, mode)
        if mode == "noise":
            return v + torch.empty_like(v).uniform_(-0.5, 0.5)
        rnd = round_ste if mode == "ste" else torch.round
        return rnd(v) if around is None else rnd(v - around) + around

    def lambda_at(self, quality: float) -> float:
        """The rate-distortion weight of a float quality: the levels' lambdas interpolated geometrically,
        as the gains are (the objective encoder-side refinement minimises)."""
        lo, hi, t = gain_weights(quality, self.levels)
        return math.exp(math.log(self.lambdas[lo]) * (1 - t) + math.log(self.lambdas[hi]) * t)

    @abstractmethod
    def latent_forward(self, y: torch.Tensor, mode: RoundingMode = None) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """The gain-scaled latent ``y`` -> (ŷ before the inverse gain, likelihoods of everything coded);
        each family's entropy model defines it."""

    def forward(self, x: torch.Tensor, levels: torch.Tensor) -> dict[str, Any]:
        """Training/eval forward: reconstruction and the likelihood of every coded latent."""
        g, ig = self.level_gains(levels)
        y_hat, likelihoods = self.latent_forward(self.g_a(x) * g)
        return {"x_hat": self.g_s(y_hat * ig), "likelihoods": likelihoods}

    def aux_loss(self) -> torch.Tensor:
        return sum((m.aux_loss() for m in self.modules() if isinstance(m, FactorizedDensity)),
                   torch.zeros(()))


class FactorizedPrior(VariableRateImageModel):
    """Ballé 2018 factorized-prior model: the latent is coded with a learned per-channel density."""

    kind = "factorized"

    def __init__(self, N: int = 64, M: int = 96, lambdas: tuple[float, ...] = DEFAULT_LAMBDAS) -> None:
        super().__init__(N, M, lambdas)
        self.y_density = FactorizedDensity(M)

    def latent_forward(self, y: torch.Tensor, mode: RoundingMode = None) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        y_hat = self.quantize(y, mode=mode)
        y_read = y_hat if callable(mode) else self.perturb(y, mode=mode)  # one soft sample for both
        return y_hat, {"y": self.y_density.likelihood(y_read)}


class ScaleHyperprior(VariableRateImageModel):
    """Ballé 2018 scale hyperprior: a hyper-latent z predicts the scale of each latent element."""

    kind = "hyperprior"
    downsample = 64
    latent_codec = "hyperprior"

    def __init__(self, N: int = 64, M: int = 96, lambdas: tuple[float, ...] = DEFAULT_LAMBDAS) -> None:
        super().__init__(N, M, lambdas)
        self.h_a = nn.Sequential(conv(M, N, 3, 1), nn.ReLU(), conv(N, N), nn.ReLU(), conv(N, N))
        self.h_s = FixedPointNet([deconv(N, N), nn.ReLU(), deconv(N, N), nn.ReLU(), conv(N, M, 3, 1), nn.ReLU()])
        self.z_density = FactorizedDensity(N)
        self.gaussian = GaussianConditional()

    def hyper_input(self, y: torch.Tensor) -> torch.Tensor:
        """What the hyper-analysis reads: |y| (a scale-only hyperprior predicts no sign)."""
        return torch.abs(y)

    def split_params(self, params: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """h_s output -> (scales, means or None); the same split for float and fixed-point outputs."""
        return params, None

    def entropy_parameters(self, z_hat: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        return self.split_params(self.h_s(z_hat))

    def latent_forward(self, y: torch.Tensor, mode: RoundingMode = None) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        mode = self.rounding(mode)
        z = self.h_a(self.hyper_input(y))
        z_hat = self.quantize_z(z)
        z_read = self.perturb(z, mode=mode) if mode == "noise" else z_hat
        scales, means = self.entropy_parameters(z_hat)
        if means is None:
            y_hat = self.quantize(y, mode=mode)
            y_read = y_hat if callable(mode) else self.perturb(y, mode=mode)  # one soft sample for both
            y_lik = self.gaussian.likelihood(y_read, scales)
        else:
            y_hat = self.quantize(y, means, mode)
            y_read = y_hat if callable(mode) else self.perturb(y, means, mode)
            y_lik = self.gaussian.likelihood(y_read, scales, means)
        return y_hat, {"y": y_lik, "z": self.z_density.likelihood(z_read)}


class MeanScaleHyperprior(ScaleHyperprior):
    """Minnen 2018 mean-scale hyperprior (without the autoregressive context)."""

    kind = "mean-scale-hyperprior"

    def __init__(self, N: int = 64, M: int = 96, lambdas: tuple[float, ...] = DEFAULT_LAMBDAS,
                 hyper_activation: str = "relu") -> None:
        VariableRateImageModel.__init__(self, N, M, lambdas)
        self.h_a = nn.Sequential(conv(M, N, 3, 1), nn.LeakyReLU(inplace=True), conv(N, N),
                                 nn.LeakyReLU(inplace=True), conv(N, N))
        # ncodec trains h_s with ReLU; models imported from CompressAI keep its LeakyReLU.
        if hyper_activation not in ("relu", "leaky_relu"):
            raise ValueError(f"unknown hyper activation {hyper_activation!r}")
        self.hyper_activation = hyper_activation
        act = nn.ReLU if hyper_activation == "relu" else nn.LeakyReLU
        self.h_s = FixedPointNet([deconv(N, M), act(), deconv(M, M * 3 // 2), act(),
                                  conv(M * 3 // 2, M * 2, 3, 1)])
        self.z_density = FactorizedDensity(N)
        self.gaussian = GaussianConditional()

    def config(self) -> dict[str, Any]:
        cfg = super().config()
        if self.hyper_activation != "relu":
            cfg["hyper_activation"] = self.hyper_activation
        return cfg

    def hyper_input(self, y: torch.Tensor) -> torch.Tensor:
        return y

    def split_params(self, params: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        scales, means = params.chunk(2, dim=1)
        return scales, means


MODEL_CLASSES: dict[str, type[VariableRateImageModel]] = {
    cls.kind: cls for cls in (FactorizedPrior, ScaleHyperprior, MeanScaleHyperprior)
}


# kind -> (module, class) of image models outside this file; each class has ``from_config(config)``.
EXTRA_MODEL_KINDS: dict[str, tuple[str, str]] = {"mcq": ("ncodec.models.mcq", "MultiCodebookVQ"),
                                                  "walloc": ("ncodec.models.walloc", "WaveletAutoencoder"),
                                                  "ocr-text": ("ncodec.models.textcodec", "TextPageCodec")}


def build_model(config: dict[str, Any]) -> VariableRateImageModel:
    """Instantiate an image model from its ``config()`` dict."""
    from ncodec.models.context import CheckerboardChannelContext, CheckerboardChannelGMM

    kind = config.get("kind")
    lambdas = tuple(float(v) for v in config["lambdas"])
    if kind in EXTRA_MODEL_KINDS:  # families that live in their own module (lazily imported)
        import importlib

        module_name, class_name = EXTRA_MODEL_KINDS[kind]
        return getattr(importlib.import_module(module_name), class_name).from_config(config)
    if kind in (CheckerboardChannelContext.kind, CheckerboardChannelGMM.kind):
        slices = tuple(int(s) for s in config["slices"]) if config.get("slices") else None
        extra = {"components": int(config.get("components", 3))} if kind == CheckerboardChannelGMM.kind else {}
        cls = CheckerboardChannelGMM if extra else CheckerboardChannelContext
        model_ctx = cls(N=int(config["N"]), M=int(config["M"]), lambdas=lambdas, slices=slices,
                        hidden=int(config.get("hidden", 128)), arch=str(config.get("arch", "ncodec")), **extra)
        if config.get("density_filters"):
            model_ctx.set_density_filters(tuple(config["density_filters"]))
        if config.get("z_offsets"):
            model_ctx.enable_z_offsets()
        return model_ctx
    if kind not in MODEL_CLASSES:
        raise ValueError(f"unknown image model kind {kind!r}")
    if kind == MeanScaleHyperprior.kind and "hyper_activation" in config:
        model: VariableRateImageModel = MeanScaleHyperprior(N=int(config["N"]), M=int(config["M"]), lambdas=lambdas,
                                                            hyper_activation=str(config["hyper_activation"]))
    else:
        model = MODEL_CLASSES[kind](N=int(config["N"]), M=int(config["M"]), lambdas=lambdas)
    if config.get("density_filters"):
        model.set_density_filters(tuple(config["density_filters"]))
    if config.get("z_offsets"):
        model.enable_z_offsets()
    return model
