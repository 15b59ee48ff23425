"""Latent codecs: the integer coding path of each entropy-model family, behind one contract.

An image codec is an analysis/synthesis pair (the model's ``analysis``/``synthesis``) plus one latent
codec, picked by name from the model's ``latent_codec`` attribute: the image codec never branches on
the family. A latent codec owns (DESIGN.md, latent-codec contract):

- ``export(model)``: what it puts into the weight file (integer tables, fixed-point nets, codebooks);
- ``__init__(model, state)``: reading those entries back (``ValueError`` when they do not fit the model);
- ``encode(y, quality, coder)`` -> the sections of one tile and its integer latents;
- ``decode(sections, latent_shape, quality, metadata, coder)`` -> the same integer latents, with every
  value range-checked (``BitstreamError`` on garbage);
- ``y_hat(latents, device, dtype)``: the decoded latent the synthesis transform reads.

The training forward of each family lives in its model (``models/``). Families nest: the hyperprior
codes z with the factorized coding of ``FactorizedLatentCodec`` and y with a Gaussian conditional; the
context model adds channel slices and the checkerboard on top of the same z coding. New families (the
multi-codebook VQ ``mcq``, Gaussian mixtures) add a class here or in their own module and one entry in
``LATENT_CODECS``.
"""

from __future__ import annotations

import importlib
from abc import ABC, abstractmethod
from typing import Any, Callable

import numpy as np
import torch

from ncodec.entropy.coders import Coder
from ncodec.entropy.fixedpoint import IN_LIMIT
from ncodec.entropy.gaussian import GaussianConditional, scale_indexes
from ncodec.entropy.tables import TableSet
from ncodec.errors import BitstreamError, UnsupportedInputError

MAX_LATENT_ABS = 1 << 20  # the largest |symbol| any scalar latent may take (encoder refuses, decoder rejects)
Y_CHUNKS = 4  # independently decodable chunks of a y section (parallel decoding)


def channel_index(shape: tuple[int, ...] | torch.Size) -> np.ndarray:
    """Table index per element of a (1, C, h, w) tensor in raster order: its channel."""
    _, c, hh, ww = shape
    return np.repeat(np.arange(c, dtype=np.int64), hh * ww)


def _checked(symbols: np.ndarray, limit: int, what: str) -> np.ndarray:
    if np.abs(symbols).max(initial=0) > limit:
        raise BitstreamError(f"{what} value out of range")
    return symbols


class LatentCodec(ABC):
    """Base class: the contract every entropy-model family's integer path follows."""

    # Smallest quality change that can change the stream (the image codec rounds qualities to 0.01;
    # a family with discrete rate points says so): rate control searches this grid.
    quality_step = 0.01

    def __init__(self, model: torch.nn.Module, state: dict[str, Any]) -> None:
        self.model = model

    @staticmethod
    @abstractmethod
    def export(model: torch.nn.Module) -> dict[str, Any]:
        """The entries this family adds to the weight file (integer tables, fixed-point nets, ...)."""

    @abstractmethod
    def sections_per_tile(self, quality: float, metadata: dict[str, Any]) -> int:
        """How many container sections one tile has at this rate point."""

    def header_metadata(self, quality: float) -> dict[str, Any]:
        """Extra header metadata a rate point needs (none for the scalar families)."""
        return {}

    def encoder_model(self) -> torch.nn.Module:
        """The model the encoder's analysis runs on: the model itself, unless the family needs another
        precision for a machine-independent encoder (mcq's argmins run on a float64 copy)."""
        return self.model

    def float64_model(self) -> torch.nn.Module:
        """A float64 copy of the model, made once: float32 convolutions sum in an order that depends on
        the thread count, and a one-ulp change can flip a rounding or an argmin; float64 ones differ by
        ~1e-16, far below any tie seen in practice."""
        if getattr(self, "_float64", None) is None:
            import copy

            self._float64 = copy.deepcopy(self.model).double().eval()
        return self._float64

    @abstractmethod
    def encode(self, y: torch.Tensor, quality: float, coder: Coder) -> tuple[list[bytes], dict[str, np.ndarray]]:
        """One tile's latent -> its sections and its integer latents."""

    @abstractmethod
    def decode(self, sections: list[bytes], latent_shape: tuple[int, ...], quality: float,
               metadata: dict[str, Any], coder: Coder) -> dict[str, np.ndarray]:
        """One tile's sections -> the same integer latents (BitstreamError on garbage)."""

    def integer_synthesis_input(self, latents: dict[str, np.ndarray]) -> torch.Tensor:
        """What the integer synthesis (``codecs/intsynth.py``) reads: the latent in units of 2**-8;
        for the scalar families the exact integers 256*symbol + mean (int64)."""
        from ncodec.codecs.intsynth import integer_latent

        return integer_latent(latents)

    def synthesis_quality(self, quality: Any) -> Any:
        """The quality whose input multipliers the integer synthesis applies: the header quality (or a
        quality map's cell qualities) for families whose gains depend on it."""
        return quality

    def y_hat(self, latents: dict[str, np.ndarray], device: str | torch.device, dtype: torch.dtype) -> torch.Tensor:
        """Scalar families: symbol + mean (means in units 2**-8, exact in float64)."""
        y = torch.from_numpy(latents["y"]).double()
        if latents.get("means") is not None:
            y = y + torch.from_numpy(latents["means"]).double() / 256.0
        return y.to(device=device, dtype=dtype)


class FactorizedLatentCodec(LatentCodec):
    """Ballé 2018 factorized prior: one integer table per channel, y rounded to the integers."""

    def __init__(self, model: torch.nn.Module, state: dict[str, Any]) -> None:
        super().__init__(model, state)
        self.y_tables = TableSet.from_state(state["y_tables"])
        if self.y_tables.lengths.size != model.M:
            raise ValueError("table count does not match the model")

    @staticmethod
    def export(model: torch.nn.Module) -> dict[str, Any]:
        return {"y_tables": model.y_density.build_tables().to_state()}

    def sections_per_tile(self, quality: float, metadata: dict[str, Any]) -> int:
        return 1

    def encode(self, y: torch.Tensor, quality: float, coder: Coder) -> tuple[list[bytes], dict[str, np.ndarray]]:
        y_sym = torch.round(y.double().cpu()).long()
        _check_encodable(y_sym)
        section = coder.encode(y_sym.numpy().reshape(-1), channel_index(y_sym.shape), self.y_tables, chunks=Y_CHUNKS)
        return [section], {"y": y_sym.numpy()}

    def decode(self, sections: list[bytes], latent_shape: tuple[int, ...], quality: float,
               metadata: dict[str, Any], coder: Coder) -> dict[str, np.ndarray]:
        y_sym = coder.decode(sections[0], channel_index(latent_shape), self.y_tables)
        return {"y": _checked(y_sym, MAX_LATENT_ABS, "latent").reshape(latent_shape), "means": None}


def _check_encodable(y_sym: torch.Tensor) -> None:
    """Encoder: a latent beyond the coding limit (a pathological input) is refused, not coded."""
    if y_sym.numel() and int(y_sym.abs().max()) > MAX_LATENT_ABS:
        raise UnsupportedInputError("latent values exceed the coding limit")


class HyperLatentCoding:
    """The factorized coding of the hyper-latent z shared by the hyperprior families.

    z is coded per channel with the model's factorized density tables, around per-channel offsets where
    the model has them (CompressAI's medians); the fixed-point h_s reads symbol + offset in 2**-8 units.
    """

    def __init__(self, model: torch.nn.Module, state: dict[str, Any]) -> None:
        self.model = model
        self.z_tables = TableSet.from_state(state["z_tables"])

    @staticmethod
    def export(model: torch.nn.Module) -> dict[str, Any]:
        return {"z_tables": model.z_density.build_tables(offsets=model.z_offsets()).to_state()}

    def symbols(self, z: torch.Tensor) -> torch.Tensor:
        """Encoder: hyper-latent symbols, rounded on the coding grid."""
        offsets = self.model.z_offsets()
        if offsets is not None:
            z = z.double().cpu() - offsets.cpu().view(1, -1, 1, 1)  # the model may sit on the GPU
        return torch.round(z).clamp(-IN_LIMIT, IN_LIMIT).long().cpu()

    def h_s_input(self, z_sym: torch.Tensor) -> torch.Tensor:
        """What the fixed-point h_s reads: the symbols, or symbol + offset in units 2**-8."""
        offset = getattr(self.model, "z_offset", None)
        return z_sym if offset is None else z_sym * 256 + offset.to(z_sym.device).view(1, -1, 1, 1)

    def encode(self, z_sym: torch.Tensor, coder: Coder) -> bytes:
        return coder.encode(z_sym.numpy().reshape(-1), channel_index(z_sym.shape), self.z_tables)

    def decode(self, section: bytes, z_shape: tuple[int, ...], coder: Coder) -> np.ndarray:
        z_sym = coder.decode(section, channel_index(z_shape), self.z_tables)
        return _checked(z_sym, IN_LIMIT, "hyper-latent").reshape(z_shape)

    def decode_for(self, section: bytes, latent_shape: tuple[int, ...], coder: Coder) -> np.ndarray:
        """The hyper-latent of a y of ``latent_shape`` (1, M, h, w): z is (1, N, h/4, w/4)."""
        _, _, h, w = latent_shape
        return self.decode(section, (1, self.model.N, h // 4, w // 4), coder)


class _GaussianTables:
    """The shared Gaussian-conditional tables and their integer scale thresholds."""

    def __init__(self, state: dict[str, Any]) -> None:
        self.y_tables = TableSet.from_state(state["y_tables"])
        self.thresholds = state["scale_thresholds"].long()

    @staticmethod
    def export() -> dict[str, Any]:
        g_tables, thresholds = GaussianConditional.build_tables()
        return {"y_tables": g_tables.to_state(), "scale_thresholds": thresholds}


def _export_fixed(net_export: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k: (v.int() if k.endswith("weight") else v) for k, v in net_export.items()}


class HyperpriorLatentCodec(LatentCodec):
    """Scale (Ballé 2018) or mean-scale (Minnen 2018) hyperprior: z factorized, y Gaussian conditional
    with scale-table indices (and means) from the fixed-point h_s. Sections per tile: z, y."""

    def __init__(self, model: torch.nn.Module, state: dict[str, Any]) -> None:
        super().__init__(model, state)
        self.hyper = HyperLatentCoding(model, state)
        self.gaussian = _GaussianTables(state)
        self.fixed = {k: v.long() for k, v in state["fixed"].items()}
        model.h_s.check_params(self.fixed)
        if self.hyper.z_tables.lengths.size != model.N or \
                self.gaussian.y_tables.lengths.size != self.gaussian.thresholds.numel() + 1:
            raise ValueError("table counts do not match the model")

    @staticmethod
    def export(model: torch.nn.Module) -> dict[str, Any]:
        return {**HyperLatentCoding.export(model), **_GaussianTables.export(),
                "fixed": _export_fixed(model.h_s.export())}

    def sections_per_tile(self, quality: float, metadata: dict[str, Any]) -> int:
        return 2

    def params(self, z_sym: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Integer path: z symbols -> (table index per y element, mean in units 2**-8 or None)."""
        scales, means = self.model.split_params(self.model.h_s.run_fixed(self.fixed, self.hyper.h_s_input(z_sym)))
        return scale_indexes(scales, self.gaussian.thresholds), means

    def encode(self, y: torch.Tensor, quality: float, coder: Coder) -> tuple[list[bytes], dict[str, np.ndarray]]:
        z_sym = self.hyper.symbols(self.model.h_a(self.model.hyper_input(y)))
        idx, means = self.params(z_sym)
        y_cpu = y.double().cpu()
        y_sym = torch.round(y_cpu - means.double() / 256.0).long() if means is not None else torch.round(y_cpu).long()
        _check_encodable(y_sym)
        sections = [self.hyper.encode(z_sym, coder),
                    coder.encode(y_sym.numpy().reshape(-1), idx.numpy().reshape(-1), self.gaussian.y_tables,
                                 chunks=Y_CHUNKS)]
        return sections, {"z": z_sym.numpy(), "y": y_sym.numpy()}

    def decode(self, sections: list[bytes], latent_shape: tuple[int, ...], quality: float,
               metadata: dict[str, Any], coder: Coder) -> dict[str, np.ndarray]:
        z_sym = self.hyper.decode_for(sections[0], latent_shape, coder)
        idx, means = self.params(torch.from_numpy(z_sym))
        y_sym = coder.decode(sections[1], idx.numpy().reshape(-1), self.gaussian.y_tables)
        return {"z": z_sym, "y": _checked(y_sym, MAX_LATENT_ABS, "latent").reshape(latent_shape),
                "means": means.numpy() if means is not None else None}


class CheckerboardChannelLatentCodec(LatentCodec):
    """Parallel context model: z as in the hyperprior, then per channel slice two checkerboard passes
    (anchors, then non-anchors), every context and aggregation net in fixed point. Sections per tile:
    z, then for each slice its anchors and its non-anchors, in decoding order."""

    def __init__(self, model: torch.nn.Module, state: dict[str, Any]) -> None:
        super().__init__(model, state)
        self.hyper = HyperLatentCoding(model, state)
        self.load_tables(state)
        nets = model.entropy_nets()
        self.fixed_nets = {name: {k: v.long() for k, v in state["fixed_nets"][name].items()} for name in nets}
        for name, net in nets.items():
            net.check_params(self.fixed_nets[name])

    def load_tables(self, state: dict[str, Any]) -> None:
        """The integer tables the y symbols are coded with (here the Gaussian-conditional ones)."""
        self.gaussian = _GaussianTables(state)

    @classmethod
    def export_tables(cls) -> dict[str, Any]:
        return _GaussianTables.export()

    @classmethod
    def export(cls, model: torch.nn.Module) -> dict[str, Any]:
        return {**HyperLatentCoding.export(model), **cls.export_tables(),
                "fixed_nets": {name: _export_fixed(net.export()) for name, net in model.entropy_nets().items()}}

    def sections_per_tile(self, quality: float, metadata: dict[str, Any]) -> int:
        return 1 + 2 * len(self.model.slices)

    def passes(self, z_sym: torch.Tensor, y_shape: tuple[int, ...],
               code_group: Callable[[int, int, torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]
               ) -> tuple[torch.Tensor, torch.Tensor]:
        """Integer path: 2 passes per slice (anchors, then non-anchors).

        ``code_group(k, slice_index, mask, distribution, means)`` returns the int64 symbols of group k at
        the ``mask`` positions (channel-major, raster order): the encoder computes and records them, the
        decoder decodes them from section k. Returns (symbols, means in units 2**-8), each (1, M, h, w).
        """
        from ncodec.models.context import checkerboard

        model = self.model
        nets, params = model.entropy_nets(), self.fixed_nets
        _, _, h, w = y_shape
        hyper = nets["h_s"].run_fixed(params["h_s"], self.hyper.h_s_input(z_sym))
        anchor = checkerboard(h, w)
        decoded, all_syms, all_means = [], [], []
        for i, s in enumerate(model.slices):
            parts = [hyper]
            if i:
                name = f"channel_ctx.{i - 1}"
                parts.append(nets[name].run_fixed(params[name], model.channel_context_input(i, decoded)))
            aggregate, agg_params = nets[f"aggregate.{i}"], params[f"aggregate.{i}"]
            context = torch.cat(parts, dim=1)
            spatial = torch.zeros(1, 2 * s, h, w, dtype=torch.int64)
            syms = torch.zeros(1, s, h, w, dtype=torch.int64)
            means = torch.zeros(1, s, h, w, dtype=torch.int64)
            for k, mask in ((2 * i, anchor), (2 * i + 1, ~anchor)):
                if k % 2:  # non-anchors also see the decoded anchors of this slice
                    name = f"spatial_ctx.{i}"
                    spatial = nets[name].run_fixed(params[name], (syms * 256 + means) * anchor)
                # The aggregation is pointwise (1x1): run it on this group's positions only, as a 1 x n
                # map; the flattened result is channel-major, raster order, like ``tensor[full]``.
                where = mask[0, 0]
                inputs = torch.cat([context[:, :, where], spatial[:, :, where]], dim=1).unsqueeze(2)
                scales_k, means_k = aggregate.run_fixed(agg_params, inputs)[:, :, 0].chunk(2, dim=1)
                full = mask.expand(1, s, h, w)
                syms[full] = code_group(k, i, full, self.distribution(i, inputs, scales_k), means_k.reshape(-1))
                means[full] = means_k.reshape(-1)
            decoded.append(syms * 256 + means)
            all_syms.append(syms)
            all_means.append(means)
        return torch.cat(all_syms, dim=1), torch.cat(all_means, dim=1)

    def distribution(self, i: int, inputs: torch.Tensor, scales: torch.Tensor) -> Any:
        """What codes a group of slice ``i``: here the Gaussian table index of each symbol (channel-major,
        raster order), from the fixed-point scales (1, s, n) by integer comparison."""
        return scale_indexes(scales.reshape(-1), self.gaussian.thresholds)

    def encode_group(self, symbols: np.ndarray, distribution: Any, coder: Coder) -> bytes:
        return coder.encode(symbols, distribution.numpy(), self.gaussian.y_tables)

    def decode_group(self, section: bytes, distribution: Any, coder: Coder) -> np.ndarray:
        return coder.decode(section, distribution.numpy(), self.gaussian.y_tables)

    def encode(self, y: torch.Tensor, quality: float, coder: Coder) -> tuple[list[bytes], dict[str, np.ndarray]]:
        encoder = self.encoder_model()  # the model itself, or the GMM's float64 copy
        z_sym = self.hyper.symbols(encoder.h_a(y.to(next(encoder.parameters()).dtype)))
        y_slices = y.double().cpu().split(self.model.slices, dim=1)
        groups: list[tuple[np.ndarray, Any]] = []

        def record(k: int, i: int, mask: torch.Tensor, dist: Any, means: torch.Tensor) -> torch.Tensor:
            sym = torch.round(y_slices[i][mask] - means.double() / 256.0).long()
            groups.append((sym.numpy(), dist))
            return sym

        y_sym, _ = self.passes(z_sym, tuple(y.shape), record)
        _check_encodable(y_sym)
        sections = [self.hyper.encode(z_sym, coder)]
        sections.extend(self.encode_group(sym, dist, coder) for sym, dist in groups)
        return sections, {"z": z_sym.numpy(), "y": y_sym.numpy()}

    def decode(self, sections: list[bytes], latent_shape: tuple[int, ...], quality: float,
               metadata: dict[str, Any], coder: Coder) -> dict[str, np.ndarray]:
        z_sym = self.hyper.decode_for(sections[0], latent_shape, coder)

        def decode_group(k: int, i: int, mask: torch.Tensor, dist: Any, means: torch.Tensor) -> torch.Tensor:
            sym = self.decode_group(sections[1 + k], dist, coder)
            return torch.from_numpy(_checked(sym, MAX_LATENT_ABS, "latent"))

        y_sym, means = self.passes(torch.from_numpy(z_sym), latent_shape, decode_group)
        return {"z": z_sym, "y": y_sym.numpy(), "means": means.numpy()}


class CheckerboardChannelGMMLatentCodec(CheckerboardChannelLatentCodec):
    """The context model with a K-component Gaussian mixture per symbol (``CheckerboardChannelGMM``).

    Same passes and sections as the Gaussian context model. Each symbol's CDF is built from its integer
    mixture: means and scales in 2**-8 units from the fixed-point aggregation and mixture nets, weights
    from the integer logits by an integer softmax over a shipped exp table.

    The CDFs are built and coded in chunks, so memory stays bounded whatever the image size: a group's
    symbols are ordered by their alphabet width (a function of their integer scales, stable sort) and
    cut where the running sum of widths crosses a multiple of ``TABLE_BUDGET``. Encoder and decoder
    compute the same order and cuts from the same integers. A group's section is ``u32 length + coded
    chunk`` per chunk.
    """

    TABLE_BUDGET = 1 << 18  # table entries built at once (2 MB of counts: cache-sized, measured fastest)

    def encoder_model(self) -> torch.nn.Module:
        """The float64 copy: with float32 transforms, kodim02 at quality 4 coded different bytes with 1 and
        2 threads (the 3,000-step weights; ``scripts/latent_exactness.py``)."""
        return self.float64_model()

    def load_tables(self, state: dict[str, Any]) -> None:
        from ncodec.entropy.mixture import PHI_FRAC, PHI_RANGE

        self.phi = state["mixture_phi"].long()
        self.exp = state["mixture_exp"].long()
        if self.phi.numel() != 2 * PHI_RANGE * (1 << PHI_FRAC) + 1 or self.exp.numel() != EXP_STEPS + 1:
            raise ValueError("mixture tables do not match this version")
        if (self.phi.diff() < 0).any() or (self.exp <= 0).any():
            raise ValueError("mixture tables are not monotone")

    @classmethod
    def export_tables(cls) -> dict[str, Any]:
        """The standard-normal CDF and the exp table, integers (int32: every value is below 2**24)."""
        from ncodec.entropy.mixture import phi_table

        return {"mixture_phi": phi_table().int(), "mixture_exp": exp_table().int()}

    def distribution(self, i: int, inputs: torch.Tensor, scales: torch.Tensor) -> Any:
        """Integer (means, scales, weights), each (n, K), of the group's symbols (channel-major, raster)."""
        nets, s = self.model.entropy_nets(), self.model.slices[i]
        out = nets[f"mixture.{i}"].run_fixed(self.fixed_nets[f"mixture.{i}"], inputs)[:, :, 0]  # (1, 3Ks, n)
        means_k, scales_k, logits = self.model.split_mixture(out, scales, s)  # (1, s, n, K)
        k = self.model.components
        weights = integer_softmax(logits.reshape(-1, k), self.exp)
        return means_k.reshape(-1, k), scales_k.reshape(-1, k).clamp_min(SCALE_MIN_FIXED), weights

    def _chunks(self, distribution: Any) -> list[np.ndarray]:
        """The symbol positions of each chunk, in coding order (see the class docstring)."""
        from ncodec.entropy.mixture import MAX_ALPHABET

        scales = distribution[1]
        if scales.shape[0] == 0:
            return []
        width = (2 * ((scales.max(dim=-1).values * 8) >> 8) + 3).clamp(3, MAX_ALPHABET)
        order = torch.argsort(width, stable=True)
        chunk_of = (torch.cumsum(width[order], 0) - 1) // self.TABLE_BUDGET
        cuts = (torch.nonzero(chunk_of[1:] != chunk_of[:-1]).flatten() + 1).tolist()
        return [part.numpy() for part in torch.tensor_split(order, cuts)]

    def _chunk_tables(self, distribution: Any, where: np.ndarray) -> TableSet:
        from ncodec.entropy.mixture import GaussianMixture

        means, scales, weights = distribution
        index = torch.from_numpy(where)
        return GaussianMixture.coding_tables(means[index], scales[index], weights[index], self.phi)

    def encode_group(self, symbols: np.ndarray, distribution: Any, coder: Coder) -> bytes:
        parts = []
        for where in self._chunks(distribution):
            data = coder.encode(symbols[where], None, self._chunk_tables(distribution, where))
            parts.append(len(data).to_bytes(4, "little") + data)
        return b"".join(parts)

    def decode_group(self, section: bytes, distribution: Any, coder: Coder) -> np.ndarray:
        out, pos, view = np.zeros(distribution[0].shape[0], dtype=np.int64), 0, memoryview(section)
        for where in self._chunks(distribution):
            if pos + 4 > len(view):
                raise BitstreamError("mixture chunk table truncated")
            size = int.from_bytes(view[pos:pos + 4], "little")
            if pos + 4 + size > len(view):
                raise BitstreamError("mixture chunk truncated")
            out[where] = coder.decode(bytes(view[pos + 4:pos + 4 + size]), None, self._chunk_tables(distribution, where))
            pos += 4 + size
        if pos != len(view):
            raise BitstreamError("trailing bytes after the mixture chunks")
        return out


EXP_STEPS = 16 << 8  # logit differences up to 16 (in 2**-8 units) have their own weight; beyond, the minimum
EXP_BITS = 20
SCALE_MIN_FIXED = 28  # 0.11 in units 2**-8 (entropy.gaussian.SCALE_MIN)


def exp_table() -> torch.Tensor:
    """int64 table of round(2**EXP_BITS * exp(-j / 256)), j = 0..EXP_STEPS (export time only: shipped)."""
    j = torch.arange(EXP_STEPS + 1, dtype=torch.float64)
    return torch.round(torch.exp(-j / 256.0) * (1 << EXP_BITS)).long().clamp_min(1)


def integer_softmax(logits: torch.Tensor, exp: torch.Tensor) -> torch.Tensor:
    """Integer mixture weights (n, K) summing to 2**16, each >= 1, from integer logits in 2**-8 units:
    a table lookup of exp(-(max - l)) and integer division, the same on every machine."""
    from ncodec.entropy.mixture import WEIGHT_BITS

    k = logits.shape[-1]
    d = (logits.max(dim=-1, keepdim=True).values - logits).clamp(0, EXP_STEPS)
    e = exp[d]
    w = torch.div(e * ((1 << WEIGHT_BITS) - k), e.sum(-1, keepdim=True), rounding_mode="floor") + 1
    w[:, 0] += (1 << WEIGHT_BITS) - w.sum(-1)
    return w


# family name (a model's ``latent_codec``) -> the class, or "module:Class" imported on first use
LATENT_CODECS: dict[str, type[LatentCodec] | str] = {
    "factorized": FactorizedLatentCodec,
    "hyperprior": HyperpriorLatentCodec,
    "checkerboard-channel": CheckerboardChannelLatentCodec,
    "checkerboard-channel-gmm": CheckerboardChannelGMMLatentCodec,
    "mcq": "ncodec.codecs.latent_mcq:McqLatentCodec",
}


def latent_codec_class(family: str) -> type[LatentCodec]:
    """The latent codec of a family name; a ``ValueError`` for an unknown one (a weight-file mismatch)."""
    entry = LATENT_CODECS.get(family)
    if entry is None:
        raise ValueError(f"unknown latent-codec family {family!r}")
    if isinstance(entry, str):
        module, name = entry.split(":")
        entry = getattr(importlib.import_module(module), name)
        LATENT_CODECS[family] = entry
    return entry
