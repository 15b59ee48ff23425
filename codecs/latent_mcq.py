"""Latent codec of the multi-codebook VQ family ``mcq`` (models/mcq.py): code indices per stage.

Sections of one tile: one per coding *unit* of the model (``MultiCodebookVQ.units()``), coarsest
stage first; the finest stage is split into units of channel groups. Unit symbols are the code
indices of its groups in (group, row, column) order, each coded with an integer frequency table
built at export from the learned mixture weights and shipped in the weight file: one table per
(stage, group) for the flat prior; for the parent prior, stages below the coarsest have one table per
(stage, group, parent codeword), the parent being the coarser stage's index of the same group at
(row // 2, column // 2). Table indices are integers known before the section is decoded (the coarser
stages come first in the stream), so the parse never depends on floating point.

Rate points: quality q (1..levels; a fractional q is floored) codes the first
``model.units_for_level(q - 1)`` units; the header metadata ``mcq_units`` says how many units each
tile holds, so a stream cut after any unit (trailing sections dropped, ``mcq_units`` lowered)
decodes to a coarser image: missing groups get a zero residual, missing stages the prediction.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from ncodec.codecs.latent import LatentCodec
from ncodec.entropy.coders import Coder
from ncodec.entropy.tables import TableSet, quantize_pmf
from ncodec.errors import BitstreamError, UnsupportedInputError

UNITS_KEY = "mcq_units"  # header metadata: coded units per tile


class McqLatentCodec(LatentCodec):
    """Integer path of ``mcq``: per-(stage, group) frequency tables over the code indices."""

    quality_step = 1.0  # the rate points are whole levels (fractional qualities are floored)

    def __init__(self, model: torch.nn.Module, state: dict[str, Any]) -> None:
        super().__init__(model, state)
        self.tables = TableSet.from_state(state["mcq_tables"])
        units = state["mcq_units"]
        if not isinstance(units, torch.Tensor) or units.dim() != 2 or units.shape[1] != 3:
            raise ValueError("malformed mcq_units")
        self.units: list[tuple[int, int, int]] = [(int(s), int(a), int(b)) for s, a, b in units.tolist()]
        if self.units != model.units():
            raise ValueError("coding units do not match the model")
        rows = [model.groups * max(stage.parents, 1) for stage in model.stages]
        self.table_base = np.concatenate([[0], np.cumsum(rows)[:-1]]).astype(np.int64)  # first table per stage
        if self.tables.lengths.size != sum(rows):
            raise ValueError("table count does not match the model")
        expected = np.repeat(np.asarray(model.codewords, dtype=np.int64), rows)
        if not np.array_equal(self.tables.lengths, expected) or bool((self.tables.offsets != 0).any()):
            raise ValueError("table sizes do not match the codebooks")
        self._bits: list[torch.Tensor] | None = None
        if "stages.0.prior_logits" not in state.get("state_dict", {}):
            self._restore_prior_logits()

    @torch.no_grad()
    def _restore_prior_logits(self) -> None:
        """Float mixture weights equal to the integer tables' (weight files leave the logits out):
        softmax(PRIOR_GAIN * logits) = counts / 2**precision, so the model's own rate estimate (an
        eval-mode forward) matches the tables."""
        from ncodec.models.mcq import PRIOR_GAIN

        for stage, base in zip(self.model.stages, self.table_base):
            rows = self.model.groups * max(stage.parents, 1)
            counts = self.tables.counts[int(base):int(base) + rows, : stage.codewords].astype(np.float64)
            logits = np.log(np.maximum(counts, 1.0)) / PRIOR_GAIN
            stage.prior_logits.copy_(torch.from_numpy(logits.reshape(stage.prior_logits.shape)))

    def encoder_model(self) -> torch.nn.Module:
        """The float64 copy: the codeword argmins must not depend on the thread count or the machine (see
        ``MultiCodebookVQ.analysis``)."""
        return self.float64_model()

    def code_lengths(self) -> list[torch.Tensor]:
        """Code length in bits of every index under the shipped integer tables, per stage, shaped
        (groups, codewords) or (groups, parents, codewords): the encoder's rate term (float64)."""
        if self._bits is None:
            precision = float(self.tables.precision)
            out = []
            for stage, base in zip(self.model.stages, self.table_base):
                rows = self.model.groups * max(stage.parents, 1)
                counts = self.tables.counts[int(base):int(base) + rows, : stage.codewords].astype(np.float64)
                bits = precision - np.log2(np.maximum(counts, 1.0))
                shape = (self.model.groups, stage.parents, stage.codewords) if stage.parents else \
                    (self.model.groups, stage.codewords)
                out.append(torch.from_numpy(bits.reshape(shape)))
            self._bits = out
        return self._bits

    @staticmethod
    @torch.no_grad()
    def export(model: torch.nn.Module) -> dict[str, Any]:
        """Integer frequency tables (one per stage and group, or per stage, group and parent codeword;
        escape bin last) and the unit layout."""
        rows = []
        for stage in model.stages:
            prior = stage.prior().detach().double().cpu().reshape(-1, stage.codewords)
            prior = prior / prior.sum(dim=1, keepdim=True)
            counts = quantize_pmf(prior, tail=torch.zeros(prior.shape[0], dtype=torch.float64))
            rows.extend(counts.unbind(0))
        tables = TableSet.from_rows(rows, offsets=[0] * len(rows))
        tables.validate()
        return {"mcq_tables": tables.to_state(), "mcq_units": torch.tensor(model.units(), dtype=torch.int64)}

    # ------------------------------------------------------------------ rate points

    def level(self, quality: float) -> int:
        """0-based rate level of a quality in [1, levels] (fractional qualities are floored)."""
        q = float(quality)
        if math.isnan(q) or not 1.0 <= q <= self.model.levels:
            raise UnsupportedInputError(f"quality must lie in [1, {self.model.levels}], got {quality}")
        return int(math.floor(q)) - 1

    def header_metadata(self, quality: float) -> dict[str, Any]:
        return {UNITS_KEY: self.model.units_for_level(self.level(quality))}

    def sections_per_tile(self, quality: float, metadata: dict[str, Any]) -> int:
        n = metadata.get(UNITS_KEY)
        if not isinstance(n, int) or isinstance(n, bool) or not 1 <= n <= len(self.units):
            raise BitstreamError(f"invalid {UNITS_KEY} in metadata")
        return n

    # ------------------------------------------------------------------ coding

    def _table_index(self, stage: int, a: int, b: int, hw: tuple[int, int],
                     parent: np.ndarray | None) -> np.ndarray:
        """Table index of every symbol of groups [a, b) of ``stage`` in (group, row, column) order;
        ``parent`` (groups, h/2, w/2) holds the coarser stage's indices (parent-prior stages)."""
        h, w = hw
        base = int(self.table_base[stage])
        parents = self.model.stages[stage].parents
        if not parents:
            return np.repeat(np.arange(base + a, base + b, dtype=np.int64), h * w)
        if parent is None or parent.shape[0] < b:
            raise BitstreamError("mcq stage decoded before its parent stage")
        up = parent[a:b].repeat(2, axis=1).repeat(2, axis=2)[:, :h, :w].astype(np.int64)
        groups = np.arange(a, b, dtype=np.int64)[:, None, None]
        return (base + groups * parents + up).reshape(-1)

    def encode(self, y: torch.Tensor, quality: float, coder: Coder) -> tuple[list[bytes], dict[str, np.ndarray]]:
        """Sections of one tile (one per unit of the rate point) and its code indices per stage."""
        level = self.level(quality)
        indices = [idx.cpu() for idx in self.encoder_model().encode_indices(y, level, self.code_lengths())]
        sections = []
        for s, a, b in self.units[: self.model.units_for_level(level)]:
            sym = indices[s][0, a:b].numpy().reshape(-1)
            hw = (indices[s].shape[2], indices[s].shape[3])
            parent = indices[s - 1][0].numpy() if s else None
            sections.append(coder.encode(sym, self._table_index(s, a, b, hw, parent), self.tables))
        return sections, {f"s{s}": idx.numpy() for s, idx in enumerate(indices)}

    def _stage_shapes(self, latent_shape: tuple[int, ...]) -> list[tuple[int, int]]:
        model = self.model
        if len(latent_shape) != 4 or tuple(latent_shape[:2]) != (1, model.M):
            raise BitstreamError("invalid latent shape")
        h, w = int(latent_shape[2]), int(latent_shape[3])
        f = 2 ** (model.scales - 1)
        if h <= 0 or w <= 0 or h % f or w % f:
            raise BitstreamError("invalid latent shape")
        return [(h >> (model.scales - 1 - s), w >> (model.scales - 1 - s)) for s in range(model.scales)]

    def decode(self, sections: list[bytes], latent_shape: tuple[int, ...], quality: float,
               metadata: dict[str, Any], coder: Coder) -> dict[str, np.ndarray]:
        """Code indices per stage from one tile's sections; every index range-checked."""
        n = self.sections_per_tile(quality, metadata)
        if len(sections) != n:
            raise BitstreamError(f"expected {n} mcq sections, found {len(sections)}")
        shapes = self._stage_shapes(latent_shape)
        parts: list[list[np.ndarray]] = [[] for _ in range(self.model.scales)]
        for section, (s, a, b) in zip(sections, self.units[:n]):
            hh, ww = shapes[s]
            parent = np.concatenate(parts[s - 1], axis=1)[0] if s and parts[s - 1] else None
            try:
                sym = coder.decode(section, self._table_index(s, a, b, (hh, ww), parent), self.tables)
            except BitstreamError:
                raise
            except Exception as exc:  # any other failure of a backend on garbage is a bad stream
                raise BitstreamError(f"mcq section does not decode ({type(exc).__name__})") from None
            if sym.size != (b - a) * hh * ww:
                raise BitstreamError("mcq section has the wrong symbol count")
            if sym.size and (int(sym.min()) < 0 or int(sym.max()) >= self.model.codewords[s]):
                raise BitstreamError("code index outside its codebook")
            parts[s].append(sym.reshape(1, b - a, hh, ww))
        out = {}
        for s, (hh, ww) in enumerate(shapes):
            out[f"s{s}"] = (np.concatenate(parts[s], axis=1) if parts[s]
                            else np.zeros((1, 0, hh, ww), dtype=np.int64))
        return out

    def y_hat(self, latents: dict[str, np.ndarray], device: str | torch.device, dtype: torch.dtype) -> torch.Tensor:
        """Codebook lookups through the cascade: the finest latent the synthesis reads."""
        return _dequantize(self.model, latents, device).to(dtype)

    def integer_synthesis_input(self, latents: dict[str, np.ndarray]) -> torch.Tensor:
        """256 * ŷ for the integer synthesis, looked up and predicted on the float64 copy (so that the
        synthesis's rounding to its int8 input grid does not move with the thread count). ŷ is not on
        an integer grid: the synthesis's input step is its own (``models/intsynth.py``)."""
        return 256.0 * _dequantize(self.encoder_model(), latents, "cpu")

    def synthesis_quality(self, quality: Any) -> Any:
        """The gains of one quality are folded into the transforms (``scripts/mcq_init_from_msh.py``): an
        mcq integer synthesis tabulates a single input multiplier, that of quality 1."""
        return 1.0


def _dequantize(model: torch.nn.Module, latents: dict[str, np.ndarray], device: str | torch.device) -> torch.Tensor:
    indices = [torch.from_numpy(np.ascontiguousarray(latents[f"s{s}"], dtype=np.int64)).to(device)
               for s in range(model.scales)]
    fine = indices[-1]
    return model.dequantize(indices, (fine.shape[0], model.M, fine.shape[2], fine.shape[3]))
