"""Multi-codebook vector quantisation over cascaded scales (after McQuic, Zhu et al., CVPR 2022).

The analysis transform maps an image to a latent ``y`` at stride 8 (or 16, config ``transforms``);
small stride-2 nets derive coarser latents from it (strides 16, 32, ... or 32, 64, ...). Quantisation runs coarse to fine: the coarsest
latent is vector-quantised with ``groups`` sub-codebooks of ``codewords`` entries each (one per
channel group); every finer scale is predicted from the dequantised coarser one by an up-sampling
net, and its residual is vector-quantised the same way, so each scale's dequantised features
condition the next. Codewords act as the means of a multivariate Gaussian mixture whose mixture
weights give the rate: the likelihood of a latent vector is the prior probability of the codeword it
is assigned. With ``prior="flat"`` the weights are one learned vector per stage and group; with
``prior="parent"`` (McQuic's cascaded prior) every stage below the coarsest has one weight vector per
codeword of its *parent*, the index of the same group at the co-located position of the coarser
stage, so flat regions (a "quiet" parent codeword) cost few bits. The parent is an integer known to
the decoder before the child stage, so the table choice stays integer.

Training relaxes the hard assignment with a straight-through softmax over the Gaussian-mixture
posterior logits (negative squared distances over twice the component variance): the forward value
is the hard assignment, the gradient that of the soft one; optional Gumbel noise (``gumbel``) turns it
into straight-through Gumbel-softmax. Codewords that stay unused are re-assigned to current encoder
vectors every ``reassign_every`` training steps.

That relaxation (``quantizer="softmax"``) gives the analysis transform a gradient only through the
posterior, which vanishes once the codebook is sharp: a 22,500-step run learned codebooks whose
latent error fell 19x from rate level 2 to 5 while PSNR rose 0.7 dB (benchmarks/RESULTS.md, mcq). The
``quantizer="ste"`` training instead passes the distortion gradient straight through
(ŷ = r + sg(q - r), VQ-VAE), moves the codewords by an exponential moving average of their assigned
vectors (online k-means; no gradient), adds a commitment term β·||r - sg(q)||² divided by the batch's
latent variance (so shrinking the latent cannot cheat it), and keeps the softmax only inside the rate
term, where it lets the rate shape the encoder. ``quantizer="ecvq"`` adds entropy-constrained
assignment in training (the nearest codeword in distance + w·code length, w a fixed fraction of the
batch's mean nearest distance), so the k-means updates trade rate for distortion as the encoder's
``rd_weights`` do (with "ste" alone, k-means spreads usage evenly and the prior cannot compress). All
three train the same model and stream format.

Encoder-side rate-distortion assignment (entropy-constrained VQ): the decoder only reads indices, so
the encoder may pick, instead of the nearest codeword, the one minimising
``||r - c_k||^2 + w_l * bits_k`` with ``bits_k`` the code length of index k in the shipped integer
table (given the parent) and ``w_l`` a weight per rate level (config ``rd_weights``, tuned after
training on held-out photos by ``scripts/mcq_tune_rd.py``; absent = 0 = nearest codeword).

Variable rate (tail drop): a *unit* is one stage's groups, and the finest stage is split into
``levels - 1`` units of channel groups. Rate level ``l`` (0-based) keeps every coarse stage and the
first ``l`` units of the finest one; a dropped group's residual is zero (the decoder uses the
prediction). Training draws a level per sample, so one set of weights learns every rate point. The
module is pure: it knows nothing about bytes, tables or coders.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ncodec.models.layers import GDN, conv, deconv

DEFAULT_LAMBDAS = (0.0018, 0.0035, 0.0067, 0.0130, 0.0250)
PRIOR_FLOOR = 2.0 ** -16  # the integer tables' smallest probability (one count of 2**16)
# The mixture weights are softmax(PRIOR_GAIN * prior_logits): Adam moves a parameter by about lr per step,
# so without the gain the prior would need ~10^4 steps to follow the code usage (measured: after 1000
# steps its logits spanned +-0.25 while the usage entropy was 0.8-1.3 bits below log2 k).
PRIOR_GAIN = 10.0
PRIORS = ("flat", "parent")
QUANTIZERS = ("softmax", "ste", "ecvq")
STRAIGHT_THROUGH = ("ste", "ecvq")  # the quantisers with EMA codebooks and a commitment term
ECVQ_WEIGHT = 0.5  # "ecvq" default (config ``ecvq_weight``): one bit is worth this fraction of the mean nearest distance
# transforms (config ``transforms``) -> stride of the finest latent: the first runs' 3-layer stride-8
# transforms, or the hyperprior codecs' 4-layer stride-16 ones (whose trained weights can seed mcq)
TRANSFORMS = {"stride8": 8, "hyperprior": 16}
EMA_DECAY = 0.99  # codebook EMA (online k-means) decay of the "ste" quantiser
COMMITMENT = 0.25  # weight of the scale-free commitment term of the "ste" quantiser


class CodebookStage(nn.Module):
    """``groups`` sub-codebooks of ``codewords`` vectors over ``channels // groups`` channels each,
    with a learned prior (mixture weights) per group and usage counters for re-assignment."""

    def __init__(self, channels: int, groups: int, codewords: int, parents: int = 0,
                 quantizer: str = "softmax", ecvq_weight: float = ECVQ_WEIGHT) -> None:
        super().__init__()
        if channels % groups:
            raise ValueError(f"{channels} channels do not split into {groups} groups")
        self.channels, self.groups, self.codewords = channels, groups, codewords
        self.parents = int(parents)  # 0: one weight vector per group; else one per parent codeword
        self.dim = channels // groups
        self.codebook = nn.Parameter(torch.randn(groups, codewords, self.dim) * 0.5)
        shape = (groups, self.parents, codewords) if self.parents else (groups, codewords)
        self.prior_logits = nn.Parameter(torch.zeros(shape))
        # learned multiplier of the posterior logits (log-parameterised; 0 = the plain Gaussian posterior)
        self.log_scale = nn.Parameter(torch.zeros(()))
        self.register_buffer("usage", torch.zeros(groups, codewords))
        self.quantizer = quantizer
        self.ecvq_weight = float(ecvq_weight)  # "ecvq": bits are worth this fraction of the mean nearest distance
        if quantizer in STRAIGHT_THROUGH:  # online k-means statistics (in checkpoints; weight files leave them out)
            self.register_buffer("ema_count", torch.ones(groups, codewords))
            self.register_buffer("ema_sum", self.codebook.detach().clone())
        self.gumbel = 0.0  # Gumbel noise multiplier of the training relaxation (see ``relaxed``)

    def _vectors(self, r: torch.Tensor) -> torch.Tensor:
        b, _, h, w = r.shape
        return r.reshape(b, self.groups, self.dim, h, w).permute(0, 3, 4, 1, 2).reshape(-1, self.groups, self.dim)

    def _unvectors(self, v: torch.Tensor, shape: torch.Size) -> torch.Tensor:
        b, _, h, w = shape
        return v.reshape(b, h, w, self.groups, -1).permute(0, 3, 4, 1, 2).reshape(b, -1, h, w)

    def distances(self, vec: torch.Tensor) -> torch.Tensor:
        """Squared distances (P, groups, codewords) of vectors (P, groups, dim) to the codewords."""
        cb = self.codebook
        return ((vec * vec).sum(-1, keepdim=True) - 2.0 * torch.einsum("pgd,gkd->pgk", vec, cb)
                + (cb * cb).sum(-1)[None])

    def prior(self) -> torch.Tensor:
        """Mixture weights, floored at the integer tables' resolution: (groups, codewords), or
        (groups, parents, codewords) for a parent-conditioned stage."""
        return torch.softmax(PRIOR_GAIN * self.prior_logits, dim=-1).clamp_min(PRIOR_FLOOR)

    def per_vector(self, table: torch.Tensor, parent: torch.Tensor | None,
                   shape: torch.Size | tuple[int, ...]) -> torch.Tensor:
        """Rows (P, groups, codewords) of a per-group ``table`` ((groups, codewords), or (groups,
        parents, codewords) for a parent-conditioned stage) for every vector of a residual of ``shape``
        (B, C, h, w); ``parent`` (B, groups, h/2, w/2) int64 holds the coarser stage's indices."""
        b, _, h, w = shape
        if not self.parents:
            return table[None].expand(b * h * w, -1, -1)
        if parent is None:
            raise ValueError("a parent-conditioned stage needs the coarser stage's indices")
        up = parent.repeat_interleave(2, dim=2).repeat_interleave(2, dim=3)[:, :, :h, :w]
        flat = up.permute(0, 2, 3, 1).reshape(-1, self.groups)  # (P, groups)
        g = torch.arange(self.groups, device=flat.device)[None]
        return table[g, flat]

    def weights_at(self, parent: torch.Tensor | None, shape: torch.Size | tuple[int, ...]) -> torch.Tensor:
        """Mixture weights per vector (P, groups, codewords) (see ``per_vector``)."""
        return self.per_vector(self.prior(), parent, shape)

    def indices(self, r: torch.Tensor, bits: torch.Tensor | None = None, weight: float = 0.0,
                parent: torch.Tensor | None = None, relative: bool = False) -> torch.Tensor:
        """Hard assignment: int64 code indices (B, groups, h, w) of a residual (B, C, h, w); the nearest
        codeword, or with ``weight`` > 0 the one minimising distance + weight * bits, ``bits`` being
        the code lengths (groups[, parents], codewords) of the integer tables. With ``relative`` the
        weight is in units of each group's mean nearest distance over this residual, as the "ecvq"
        training assignment weighs it (the stages' distances differ by orders of magnitude)."""
        cost = self.distances(self._vectors(r))
        if weight > 0.0 and bits is not None:
            w = weight
            if relative:
                w = weight * cost.min(dim=-1).values.mean(dim=0)[None, :, None]  # (1, groups, 1)
            cost = cost + w * self.per_vector(bits.to(cost.dtype), parent, r.shape)
        idx = torch.argmin(cost, dim=-1)
        b, _, h, w = r.shape
        return idx.reshape(b, h, w, self.groups).permute(0, 3, 1, 2).contiguous()

    def lookup(self, idx: torch.Tensor) -> torch.Tensor:
        """Dequantised residual (B, C, h, w) of int64 code indices (B, groups, h, w)."""
        g = torch.arange(self.groups, device=idx.device).view(1, -1, 1, 1)
        vec = self.codebook[g, idx]  # (B, groups, h, w, dim)
        b, _, h, w = idx.shape
        return vec.permute(0, 1, 4, 2, 3).reshape(b, self.channels, h, w)

    def relaxed(self, r: torch.Tensor, parent: torch.Tensor | None = None
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Training quantisation: (dequantised residual, likelihoods (B, groups, h, w), hard indices).

        The logits are the posterior of a Gaussian mixture whose components sit on the codewords with
        an isotropic variance equal to the batch's mean quantisation error per dimension (per group), so
        the relaxation keeps its sharpness whatever the latent's scale. The forward value is the hard
        assignment; gradients flow through the softmax (straight-through, Gumbel-softmax with
        ``gumbel`` times the Gumbel noise; 0 = noise-free soft-to-hard relaxation). With full noise,
        broad posteriors made whole stages pick codewords at random (a collapsed /16 stage at 5000
        steps: 6 % of samples equal to the nearest codeword), so the default is 0.
        """
        if self.quantizer in STRAIGHT_THROUGH:
            return self._straight_through(r, parent)
        vec = self._vectors(r)
        dist = self.distances(vec)
        sigma2 = (dist.detach().min(dim=-1).values.mean(dim=0) / self.dim).clamp_min(1e-6)  # (groups,)
        logits = -dist * (torch.exp(self.log_scale) / (2.0 * sigma2))[None, :, None]
        if self.training and self.gumbel > 0:
            u = torch.rand_like(logits).clamp_(1e-9, 1.0 - 1e-7)
            logits = logits - self.gumbel * torch.log(-torch.log(u))
        hard = F.one_hot(torch.argmax(logits.detach(), dim=-1), self.codewords).to(vec.dtype)
        if self.training:
            soft = torch.softmax(logits, dim=-1)
            onehot = hard + soft - soft.detach()
        else:
            onehot = hard
        q = torch.einsum("pgk,gkd->pgd", onehot, self.codebook)
        lik = (onehot * self.weights_at(parent, r.shape)).sum(-1)
        idx = onehot.detach().argmax(-1)
        return self._unvectors(q, r.shape), self._unvectors(lik, r.shape), self._unvectors(idx, r.shape)

    def _straight_through(self, r: torch.Tensor, parent: torch.Tensor | None
                          ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The "ste" training quantisation (see the module docstring): the forward value is the nearest
        codeword, the distortion gradient reaches ``r`` unchanged, and the rate term's gradient flows
        through the posterior softmax; the codebook itself gets no gradient (``ema_update`` moves it)."""
        vec = self._vectors(r)
        cb = self.codebook.detach()
        dist = ((vec * vec).sum(-1, keepdim=True) - 2.0 * torch.einsum("pgd,gkd->pgk", vec, cb)
                + (cb * cb).sum(-1)[None])
        weights = self.weights_at(parent, r.shape)
        if self.quantizer == "ecvq" and self.training:  # entropy-constrained assignment (Chou et al. 1989)
            scale = self.ecvq_weight * dist.detach().min(dim=-1).values.mean(dim=0)  # (groups,)
            cost = dist.detach() - scale[None, :, None] * torch.log2(weights.detach())
        else:
            cost = dist.detach()
        idx = torch.argmin(cost, dim=-1)  # (P, groups)
        q = cb[torch.arange(self.groups, device=idx.device)[None], idx]  # (P, groups, dim)
        out = vec + (q - vec).detach()
        sigma2 = (dist.detach().min(dim=-1).values.mean(dim=0) / self.dim).clamp_min(1e-6)
        logits = -dist * (torch.exp(self.log_scale) / (2.0 * sigma2))[None, :, None]
        hard = F.one_hot(idx, self.codewords).to(vec.dtype)
        soft = torch.softmax(logits, dim=-1) if self.training else hard
        lik = ((hard + soft - soft.detach()) * weights).sum(-1)
        return self._unvectors(out, r.shape), self._unvectors(lik, r.shape), self._unvectors(idx, r.shape)

    def commitment(self, r: torch.Tensor, q: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Scale-free commitment term: mean over kept groups of ||r - sg(q)||² / sg(var(r)) (a scalar)."""
        m = mask.repeat_interleave(self.dim, dim=1)  # (B, C, 1, 1)
        err = ((r - q.detach()) ** 2 * m).sum() / (m.sum() * r.shape[2] * r.shape[3]).clamp_min(1.0)
        return err / r.detach().var().clamp_min(1e-8)

    @torch.no_grad()
    def ema_update(self, r: torch.Tensor, idx: torch.Tensor, mask: torch.Tensor) -> None:
        """Online k-means step of the "ste" quantiser: codewords <- EMA of their assigned vectors of the
        residual ``r`` (B, C, h, w) with indices ``idx`` (B, groups, h, w), counting kept groups only.
        The codebook tensor is replaced, not written in place, so the autograd graph of this step keeps
        the codewords it used."""
        vec = self._vectors(r.detach()).to(self.ema_sum.dtype)  # (P, groups, dim)
        keep = mask[:, :, 0, 0].to(vec.dtype)  # (B, groups)
        b, _, h, w = r.shape
        weight = keep[:, None, None, :].expand(b, h, w, self.groups).reshape(-1, self.groups)  # (P, groups)
        flat_idx = idx.permute(0, 2, 3, 1).reshape(-1, self.groups)
        onehot = F.one_hot(flat_idx, self.codewords).to(vec.dtype) * weight[..., None]  # (P, groups, k)
        self.ema_count.mul_(EMA_DECAY).add_(onehot.sum(0), alpha=1.0 - EMA_DECAY)
        self.ema_sum.mul_(EMA_DECAY).add_(torch.einsum("pgk,pgd->gkd", onehot, vec), alpha=1.0 - EMA_DECAY)
        n = self.ema_count.sum(dim=1, keepdim=True)
        count = (self.ema_count + 1e-5) / (n + self.codewords * 1e-5) * n  # Laplace-smoothed
        self.codebook.data = (self.ema_sum / count[..., None]).to(self.codebook.dtype)

    @torch.no_grad()
    def restart_statistics(self) -> None:
        """Usage counters to zero and the k-means statistics to the current codebook with a count of 1,
        as at construction (after loading a weight file, which carries neither)."""
        self.usage.zero_()
        if self.quantizer in STRAIGHT_THROUGH:
            self.ema_count.fill_(1.0)
            self.ema_sum.copy_(self.codebook.detach())

    @torch.no_grad()
    def count(self, idx: torch.Tensor, mask: torch.Tensor) -> None:
        """Add hard assignments (B, groups, h, w) to the usage counters where mask (B, groups, 1, 1)."""
        onehot = F.one_hot(idx, self.codewords).to(self.usage.dtype) * mask[..., None].to(self.usage.dtype)
        self.usage += onehot.sum(dim=(0, 2, 3))

    @torch.no_grad()
    def reassign_dead(self, r: torch.Tensor, fraction: float = 0.02) -> int:
        """Move codewords used less than ``fraction`` of the mean usage onto random vectors of the
        residual ``r`` (B, C, h, w); resets their prior weight and all counters. Returns how many moved."""
        vec = self._vectors(r.detach())
        mean = self.usage.mean(dim=1, keepdim=True)
        dead = self.usage < fraction * mean.clamp_min(1e-12)
        moved = int(dead.sum())
        if moved:
            g_idx, k_idx = torch.nonzero(dead, as_tuple=True)
            pick = torch.randint(vec.shape[0], (moved,), device=vec.device)
            spread = vec.std(dim=0, correction=0).mean(dim=-1).clamp_min(1e-3)  # (groups,)
            noise = torch.randn(moved, self.dim, device=vec.device) * 0.01 * spread[g_idx, None]
            fresh = self.codebook.data.clone()  # replaced, not written in place (see ``ema_update``)
            fresh[g_idx, k_idx] = vec[pick, g_idx] + noise
            self.codebook.data = fresh
            if self.quantizer in STRAIGHT_THROUGH:  # restart the moved codewords' statistics at the mean count
                mean_count = self.ema_count.mean(dim=1)[g_idx]
                self.ema_count[g_idx, k_idx] = mean_count
                self.ema_sum[g_idx, k_idx] = fresh[g_idx, k_idx] * mean_count[:, None]
            logits = self.prior_logits.data
            live = (~dead).view(self.groups, *([1] * (logits.dim() - 2)), self.codewords)
            live_mean = (logits * live).sum(-1) / live.sum(-1).clamp_min(1)  # (groups[, parents])
            if self.parents:
                logits[g_idx, :, k_idx] = live_mean[g_idx]
            else:
                logits[g_idx, k_idx] = live_mean[g_idx]
        self.usage.zero_()
        return moved


class MultiCodebookVQ(nn.Module):
    """Cascaded multi-codebook VQ image model (kind ``mcq``); see the module docstring."""

    kind = "mcq"
    latent_codec = "mcq"  # the latent-codec family that codes the indices (codecs/latent_mcq.py)

    def __init__(self, N: int = 64, M: int = 64, lambdas: tuple[float, ...] = DEFAULT_LAMBDAS,
                 groups: int = 8, codewords: int | tuple[int, ...] = (256, 256, 64), scales: int = 3,
                 reassign_every: int = 100, gumbel: float = 0.0, prior: str = "flat",
                 rd_weights: tuple[float, ...] | None = None, quantizer: str = "softmax",
                 rd_relative: bool = False, transforms: str = "stride8",
                 ecvq_weight: float = ECVQ_WEIGHT) -> None:
        super().__init__()
        self.N, self.M = int(N), int(M)
        self.lambdas = tuple(float(v) for v in lambdas)
        self.groups, self.scales = int(groups), int(scales)
        if isinstance(codewords, int):
            codewords = (codewords,) * self.scales
        self.codewords = tuple(int(k) for k in codewords)  # per stage, coarsest first
        if len(self.codewords) != self.scales or min(self.codewords) < 2 or max(self.codewords) > 4096:
            raise ValueError(f"need {scales} codebook sizes in [2, 4096], got {codewords}")
        self.reassign_every = int(reassign_every)
        if self.scales < 1 or self.levels < 2:
            raise ValueError("mcq needs at least one scale and two rate levels")
        if self.groups < self.levels - 1:
            raise ValueError(f"{groups} groups cannot give {self.levels} rate levels")
        if transforms not in TRANSFORMS:
            raise ValueError(f"transforms must be one of {tuple(TRANSFORMS)}, got {transforms!r}")
        self.transforms = transforms
        self.stride = TRANSFORMS[transforms]  # stride of the finest latent
        self.downsample = self.stride * 2 ** (self.scales - 1)
        N, M = self.N, self.M
        if transforms == "stride8":
            self.g_a = nn.Sequential(conv(3, N), GDN(N), conv(N, N), GDN(N), conv(N, M))
            self.g_s = nn.Sequential(deconv(M, N), GDN(N, inverse=True), deconv(N, N), GDN(N, inverse=True),
                                     deconv(N, 3))
        else:  # the hyperprior codecs' transforms (models.image), so their trained weights can seed these
            self.g_a = nn.Sequential(conv(3, N), GDN(N), conv(N, N), GDN(N), conv(N, N), GDN(N), conv(N, M))
            self.g_s = nn.Sequential(deconv(M, N), GDN(N, inverse=True), deconv(N, N), GDN(N, inverse=True),
                                     deconv(N, N), GDN(N, inverse=True), deconv(N, 3))
        self.ecvq_weight = float(ecvq_weight)
        # down[i]: latent at stride s * 2**i -> stride s * 2**(i+1); up[i]: the reverse prediction
        self.down = nn.ModuleList(nn.Sequential(conv(M, M, 3, 2), nn.LeakyReLU(0.1), conv(M, M, 3, 1))
                                  for _ in range(self.scales - 1))
        self.up = nn.ModuleList(nn.Sequential(deconv(M, M, 3, 2), nn.LeakyReLU(0.1), conv(M, M, 3, 1))
                                for _ in range(self.scales - 1))
        if prior not in PRIORS:
            raise ValueError(f"prior must be one of {PRIORS}, got {prior!r}")
        self.prior = prior
        if quantizer not in QUANTIZERS:
            raise ValueError(f"quantizer must be one of {QUANTIZERS}, got {quantizer!r}")
        self.quantizer = quantizer
        self.rd_weights = tuple(float(v) for v in rd_weights) if rd_weights else None
        self.rd_relative = bool(rd_relative)  # rd_weights in units of each group's mean nearest distance
        if self.rd_weights is not None and (len(self.rd_weights) != self.levels or min(self.rd_weights) < 0):
            raise ValueError(f"need {self.levels} non-negative rd_weights, got {rd_weights}")
        # stages in coding order: coarsest first; a parent-conditioned stage has one weight vector
        # per codeword of the stage above it
        parents = [0] + ([k for k in self.codewords[:-1]] if prior == "parent" else [0] * (self.scales - 1))
        self.stages = nn.ModuleList(CodebookStage(M, self.groups, k, p, quantizer, self.ecvq_weight)
                                    for k, p in zip(self.codewords, parents))
        self.gumbel = float(gumbel)
        for stage in self.stages:
            stage.gumbel = self.gumbel
        self.register_buffer("train_steps", torch.zeros((), dtype=torch.int64))

    # ------------------------------------------------------------------ configuration

    @property
    def levels(self) -> int:
        return len(self.lambdas)

    def config(self) -> dict[str, Any]:
        cfg = {"kind": self.kind, "N": self.N, "M": self.M, "lambdas": list(self.lambdas),
               "groups": self.groups, "codewords": list(self.codewords), "scales": self.scales}
        if self.gumbel:
            cfg["gumbel"] = self.gumbel
        if self.prior != "flat":  # absent = flat: the weight files written before the parent prior
            cfg["prior"] = self.prior
        if self.quantizer != "softmax":  # absent = the softmax relaxation (the earlier weight files)
            cfg["quantizer"] = self.quantizer
        if self.quantizer == "ecvq" and self.ecvq_weight != ECVQ_WEIGHT:  # absent = the first ecvq runs' 0.5
            cfg["ecvq_weight"] = self.ecvq_weight
        if self.transforms != "stride8":  # absent = the stride-8 transforms of the earlier weight files
            cfg["transforms"] = self.transforms
        if self.rd_weights is not None:  # absent = nearest-codeword encoding
            # relative weights get their own key, so a reader that predates them falls back to the
            # nearest codeword instead of taking them as absolute weights
            cfg["rd_weights_relative" if self.rd_relative else "rd_weights"] = list(self.rd_weights)
        return cfg

    def training_only_keys(self) -> set[str]:
        """State entries a decoder never reads: the prior logits (the weight file's integer tables
        replace them; ``McqLatentCodec`` restores logits from the tables when they are absent), the
        usage counters and the k-means statistics. Weight files leave them out (4.3 MB of an 11.9 MB
        parent-prior file); training checkpoints keep them."""
        keys = set()
        for i, stage in enumerate(self.stages):
            keys |= {f"stages.{i}.prior_logits", f"stages.{i}.usage"}
            if stage.quantizer in STRAIGHT_THROUGH:
                keys |= {f"stages.{i}.ema_count", f"stages.{i}.ema_sum"}
        return keys

    def restart_statistics(self) -> None:
        """Every stage's usage and k-means statistics restarted from its codebook (see the stage's)."""
        for stage in self.stages:
            stage.restart_statistics()

    def rd_weight(self, level: int) -> float:
        """Encoder rate weight of a 0-based rate level (0 = nearest codeword)."""
        return 0.0 if self.rd_weights is None else self.rd_weights[int(level)]

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> "MultiCodebookVQ":
        codewords = config.get("codewords", (256, 256, 64))
        codewords = int(codewords) if isinstance(codewords, int) else tuple(int(k) for k in codewords)
        return cls(N=int(config["N"]), M=int(config["M"]), lambdas=tuple(float(v) for v in config["lambdas"]),
                   groups=int(config.get("groups", 8)), codewords=codewords, scales=int(config.get("scales", 3)),
                   gumbel=float(config.get("gumbel", 0.0)), prior=str(config.get("prior", "flat")),
                   rd_weights=tuple(config.get("rd_weights_relative") or config.get("rd_weights") or ()) or None,
                   quantizer=str(config.get("quantizer", "softmax")),
                   rd_relative=bool(config.get("rd_weights_relative")) or bool(config.get("rd_relative", False)),
                   transforms=str(config.get("transforms", "stride8")),
                   ecvq_weight=float(config.get("ecvq_weight", ECVQ_WEIGHT)))

    def aux_loss(self) -> torch.Tensor:
        """No auxiliary parameters: a constant zero."""
        return torch.zeros(())

    def fine_groups(self, level: int) -> int:
        """Groups of the finest stage kept at 0-based rate level ``level``."""
        return (self.groups * int(level)) // (self.levels - 1)

    def stage_groups(self, level: int) -> list[int]:
        """Groups coded per stage (coarsest first) at 0-based rate level ``level``."""
        return [self.groups] * (self.scales - 1) + [self.fine_groups(level)]

    def units(self) -> list[tuple[int, int, int]]:
        """Coding units in stream order: (stage, first group, end group). Rate level l codes the first
        ``scales - 1 + l`` units, so dropping trailing units gives a coarser rate point."""
        out = [(s, 0, self.groups) for s in range(self.scales - 1)]
        edges = [self.fine_groups(level) for level in range(self.levels)]
        out += [(self.scales - 1, a, b) for a, b in zip(edges[:-1], edges[1:]) if b > a]
        return out

    def units_for_level(self, level: int) -> int:
        """How many units rate level ``level`` (0-based) codes."""
        keep = self.fine_groups(level)
        return (self.scales - 1) + sum(1 for s, _, b in self.units() if s == self.scales - 1 and b <= keep)

    def latent_shape(self, height: int, width: int) -> tuple[int, int, int, int]:
        """Shape (1, C, h, w) of the finest latent of a padded tile; stage s has (h, w) >> (scales-1-s)."""
        if height % self.downsample or width % self.downsample:
            raise ValueError(f"tile {height}x{width} is not a multiple of {self.downsample}")
        return (1, self.M, height // self.stride, width // self.stride)

    # ------------------------------------------------------------------ transforms

    def analysis(self, x: torch.Tensor, quality: float | None = None) -> torch.Tensor:
        """Finest latent (B, M, H/s, W/s), s = ``self.stride``, in float64; the rate point does not change it.

        The encoder's codeword choices are argmins, so a one-ulp change of the latent can flip a near
        tie: float32 convolutions differ between thread counts (measured on Kodak: different bytes
        with 1 vs 2 threads), float64 ones by ~1e-16, far below any tie seen in practice. The
        encoder therefore runs on a float64 copy of the model (``LatentCodec.encoder_model``: the
        latent codec makes it once), about twice the float32 time; the decoder is unchanged."""
        return self.g_a(x.to(self.stages[0].codebook.dtype))

    def synthesis_input(self, y_hat: torch.Tensor, quality: float | None = None) -> torch.Tensor:
        """What g_s reads (a realism generator's condition): the dequantised latent itself."""
        return y_hat

    def synthesis(self, y_hat: torch.Tensor, quality: float | None = None) -> torch.Tensor:
        """Reconstruction from the dequantised finest latent."""
        return self.g_s(y_hat)

    def pyramid(self, y: torch.Tensor) -> list[torch.Tensor]:
        """Latents per stage, coarsest first."""
        ys = [y]
        for d in self.down:
            ys.append(d(ys[-1]))
        return ys[::-1]

    def predict(self, stage: int, y_hat_coarse: torch.Tensor) -> torch.Tensor:
        """Prediction of stage ``stage`` (>= 1) from the dequantised stage ``stage - 1``."""
        return self.up[self.scales - 1 - stage](y_hat_coarse)

    def _group_mask(self, keep: torch.Tensor, device: torch.device) -> torch.Tensor:
        """(B, groups, 1, 1) float mask of the kept groups for per-sample group counts ``keep`` (B,)."""
        return (torch.arange(self.groups, device=device)[None] < keep[:, None]).float()[:, :, None, None]

    def _expand(self, mask: torch.Tensor) -> torch.Tensor:
        return mask.repeat_interleave(self.M // self.groups, dim=1)

    # ------------------------------------------------------------------ training

    def forward(self, x: torch.Tensor, levels: torch.Tensor) -> dict[str, Any]:
        """Training/eval forward: reconstruction and the prior likelihood of every coded index."""
        ys = self.pyramid(self.g_a(x))
        b = x.shape[0]
        keep_fine = (self.groups * levels.long()) // (self.levels - 1)
        likelihoods: dict[str, torch.Tensor] = {}
        reassign = False
        if self.training:
            self.train_steps += 1
            reassign = self.reassign_every > 0 and int(self.train_steps) % self.reassign_every == 0
        y_hat = None
        idx = None
        commitment = torch.zeros((), device=x.device)
        for s, stage in enumerate(self.stages):
            pred = None if y_hat is None else self.predict(s, y_hat)
            r = ys[s] if pred is None else ys[s] - pred
            keep = keep_fine if s == self.scales - 1 else torch.full((b,), self.groups, device=x.device)
            mask = self._group_mask(keep, x.device)
            q, lik, idx = stage.relaxed(r, idx)
            if self.quantizer in STRAIGHT_THROUGH and self.training:
                commitment = commitment + stage.commitment(r, q, mask)
            q = q * self._expand(mask)
            likelihoods[f"s{s}"] = lik * mask + (1.0 - mask)  # dropped groups cost nothing
            if self.training:
                stage.count(idx, mask)
                if self.quantizer in STRAIGHT_THROUGH:
                    stage.ema_update(r, idx, mask)
                if reassign:
                    stage.reassign_dead(r)
            y_hat = q if pred is None else pred + q
        out: dict[str, Any] = {"x_hat": self.g_s(y_hat), "likelihoods": likelihoods}
        if self.quantizer in STRAIGHT_THROUGH and self.training:
            out["extra_loss"] = COMMITMENT * commitment  # added to the RD loss by training.loop.rd_loss
        return out

    # ------------------------------------------------------------------ integer-path helpers

    @torch.no_grad()
    def encode_indices(self, y: torch.Tensor, level: int, bits: list[torch.Tensor] | None = None,
                       weight: float | None = None) -> list[torch.Tensor]:
        """Hard code indices per stage (coarsest first), (B, groups_s, h_s, w_s) int64, at a 0-based
        rate level, in the model's own precision (the encoder's is a float64 copy, see ``analysis``).
        With ``bits`` (code lengths per stage from the integer tables) the assignment is rate-distortion
        optimised with ``weight`` (default: the level's ``rd_weight``)."""
        ys = self.pyramid(y.to(self.stages[0].codebook.dtype))
        kept = self.stage_groups(level)
        w = self.rd_weight(level) if weight is None else float(weight)
        out: list[torch.Tensor] = []
        y_hat = None
        parent_full = None
        for s, stage in enumerate(self.stages):
            pred = None if y_hat is None else self.predict(s, y_hat)
            r = ys[s] if pred is None else ys[s] - pred
            full = stage.indices(r, None if bits is None else bits[s], w, parent_full, self.rd_relative)
            parent_full = full
            idx = full[:, : kept[s]]
            out.append(idx)
            y_hat = self._dequantize_stage(s, idx, pred, r.shape)
        return out

    def _dequantize_stage(self, s: int, idx: torch.Tensor, pred: torch.Tensor | None,
                          shape: torch.Size | tuple[int, ...]) -> torch.Tensor:
        stage = self.stages[s]
        b, _, h, w = shape
        full = torch.zeros((b, self.groups, h, w), dtype=torch.int64, device=idx.device)
        full[:, : idx.shape[1]] = idx
        q = stage.lookup(full)
        mask = (torch.arange(self.groups, device=idx.device) < idx.shape[1]).to(q.dtype)
        q = q * mask.repeat_interleave(self.M // self.groups).view(1, -1, 1, 1)
        return q if pred is None else pred + q

    @torch.no_grad()
    def dequantize(self, indices: list[torch.Tensor], shape: tuple[int, int, int, int]) -> torch.Tensor:
        """Finest ŷ (B, M, h, w) from per-stage indices (coarsest first; a stage may hold fewer
        groups, the missing ones are zero residuals, and missing trailing stages are predictions)."""
        b, _, h, w = shape
        y_hat = None
        for s in range(self.scales):
            f = 2 ** (self.scales - 1 - s)
            pred = None if y_hat is None else self.predict(s, y_hat)
            stage_shape = (b, self.M, h // f, w // f)
            if s < len(indices):
                y_hat = self._dequantize_stage(s, indices[s], pred, stage_shape)
            elif pred is None:
                y_hat = torch.zeros(stage_shape, dtype=self.stages[0].codebook.dtype,
                                    device=self.stages[0].codebook.device)
            else:
                y_hat = pred
        assert y_hat is not None
        return y_hat

    def parameter_count(self) -> int:
        return sum(p.numel() for p in self.parameters())


def bits_per_index(codewords: int) -> float:
    """Raw bits of one code index (for sizing)."""
    return math.log2(codewords)
