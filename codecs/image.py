"""Learned image codecs: a variable-rate transform (models) + integer entropy coding (entropy).

Bitstream sections, per tile in raster order: [hyper-latent z (absent for ``factorized``), latent y];
for the context model ``checkerboard-channel``, y is 2 x slices sections (each slice's anchors, then
its non-anchors), in decoding order.
Everything that decides which distribution codes a symbol is integer: the factorized tables, the
fixed-point hyper-synthesis, the scale-index thresholds and the Gaussian tables all come from the
weight file. Only the synthesis transform (latents -> pixels) is floating point.
"""

from __future__ import annotations

import hashlib
import io
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from ncodec.codecs.container import EncodeResult, Header  # EncodeResult: re-exported
from ncodec.entropy.coders import BACKEND_IDS, Coder, get_coder
from ncodec.entropy.fixedpoint import IN_LIMIT
from ncodec.entropy.gaussian import GaussianConditional, scale_indexes
from ncodec.entropy.tables import TableSet
from ncodec.errors import BitstreamError, ModelMismatchError, MissingWeightsError, UnsupportedInputError
from ncodec.models.context import CheckerboardChannelContext, checkerboard
from ncodec.models.image import ScaleHyperprior, VariableRateImageModel, build_model

WEIGHTS_FORMAT = 1
DEFAULT_TILE = 1024
MAX_LATENT_ABS = 1 << 20
Y_CHUNKS = 4


# ----------------------------------------------------------------------------- weight files

@torch.no_grad()
def export_state(model: VariableRateImageModel, meta: dict[str, Any] | None = None) -> dict[str, Any]:
    """Everything a decoder needs: float weights, integer tables and integer entropy-path weights."""
    state: dict[str, Any] = {"format": WEIGHTS_FORMAT, "config": model.config(),
                             "state_dict": {k: v.detach().cpu().clone() for k, v in model.state_dict().items()},
                             "meta": dict(meta or {})}
    if isinstance(model, (ScaleHyperprior, CheckerboardChannelContext)):
        state["z_tables"] = model.z_density.build_tables(offsets=model.z_offsets()).to_state()
        g_tables, thresholds = GaussianConditional.build_tables()
        state["y_tables"] = g_tables.to_state()
        state["scale_thresholds"] = thresholds
        if isinstance(model, CheckerboardChannelContext):
            state["fixed_nets"] = {name: {k: (v.int() if k.endswith("weight") else v) for k, v in net.export().items()}
                                   for name, net in model.entropy_nets().items()}
        else:
            state["fixed"] = {k: (v.int() if k.endswith("weight") else v) for k, v in model.h_s.export().items()}
    else:
        state["y_tables"] = model.y_density.build_tables().to_state()
    return state


def save_weights(model: VariableRateImageModel, path: str | Path, meta: dict[str, Any] | None = None) -> str:
    """Export to a ``.ncw`` weight file (atomic write); returns its sha256."""
    from ncodec.codecs.imageio import atomic_write_bytes

    buf = io.BytesIO()
    torch.save(export_state(model, meta), buf)
    data = buf.getvalue()
    atomic_write_bytes(path, data)
    return hashlib.sha256(data).hexdigest()



# ----------------------------------------------------------------------------- the codec

class LearnedImageCodec:
    """An image codec bound to one weight file."""

    modality = "image"

    def __init__(self, state: dict[str, Any], sha256: str) -> None:
        if state.get("format") != WEIGHTS_FORMAT:
            raise ModelMismatchError(f"unsupported weight-file format {state.get('format')!r}")
        self.sha256 = sha256
        self.model = build_model(state["config"])
        self.model.load_state_dict(state["state_dict"])
        self.model.eval()
        self.name = self.model.kind
        self.meta = state.get("meta", {})
        try:
            self.y_tables = TableSet.from_state(state["y_tables"])
            self.context = isinstance(self.model, CheckerboardChannelContext)
            self.hyper = isinstance(self.model, ScaleHyperprior) or self.context
            if self.hyper:
                self.z_tables = TableSet.from_state(state["z_tables"])
                self.thresholds = state["scale_thresholds"].long()
            if self.context:
                nets = self.model.entropy_nets()
                self.fixed_nets = {name: {k: v.long() for k, v in state["fixed_nets"][name].items()} for name in nets}
                for name, net in nets.items():
                    net.check_params(self.fixed_nets[name])
                self.fixed = self.fixed_nets["h_s"]
            elif self.hyper:
                self.fixed = {k: v.long() for k, v in state["fixed"].items()}
                self.model.h_s.check_params(self.fixed)
                if self.z_tables.lengths.size != self.model.N or self.y_tables.lengths.size != self.thresholds.numel() + 1:
                    raise ValueError("table counts do not match the model")
            elif self.y_tables.lengths.size != self.model.M:
                raise ValueError("table count does not match the model")
        except (KeyError, ValueError) as exc:
            raise ModelMismatchError(f"weight file is inconsistent: {exc}") from None
        self.levels = self.model.levels
        self.downsample = self.model.downsample
        self._coders: dict[tuple[str, str], Coder] = {}

    def coder(self, backend: str, device: str = "cpu") -> Coder:
        """This codec's coder instance for a backend (it caches models built from this codec's tables).
        ``device`` only matters to backends with GPU kernels (rans-interleaved); the bytes never change."""
        key = (backend, device)
        if key not in self._coders:
            self._coders[key] = get_coder(backend, device)
        return self._coders[key]

    @classmethod
    def from_file(cls, path: str | Path) -> "LearnedImageCodec":
        p = Path(path)
        if not p.is_file():
            raise MissingWeightsError(f"weight file not found: {p}")
        data = p.read_bytes()
        try:
            state = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
        except Exception as exc:  # torch raises many types for a non-weight file
            raise ModelMismatchError(f"{p} is not an ncodec weight file ({type(exc).__name__})") from None
        return cls(state, hashlib.sha256(data).hexdigest())

    @classmethod
    def from_model(cls, model: VariableRateImageModel) -> "LearnedImageCodec":
        """Bind to in-memory weights (used for validation during training)."""
        buf = io.BytesIO()
        torch.save(export_state(model), buf)
        buf.seek(0)
        return cls(torch.load(buf, map_location="cpu", weights_only=True), hashlib.sha256(buf.getvalue()).hexdigest())

    # ------------------------------------------------------------------ tiles
    @staticmethod
    def tiles(height: int, width: int, tile: int) -> list[tuple[int, int, int, int]]:
        return [(top, left, min(tile, height - top), min(tile, width - left))
                for top in range(0, height, tile) for left in range(0, width, tile)]

    def check_quality(self, quality: float | None) -> float:
        """The quality the encoder will use; a one-line error if it is outside the weights' range."""
        return self._quality(quality)

    def _quality(self, quality: float | None) -> float:
        q = float(self.levels if quality is None else quality)
        if math.isnan(q) or not 1.0 <= q <= self.levels:
            raise UnsupportedInputError(f"quality must lie in [1, {self.levels}] for {self.name}, got {quality}")
        return round(q * 100) / 100.0

    # ------------------------------------------------------------------ entropy path (integer)
    def _hyper_params(self, z_sym: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Integer path: z symbols -> (table index per y element, mean in units 2**-8 or None)."""
        params = self.model.h_s.run_fixed(self.fixed, self._h_s_input(z_sym))
        if self.model.kind == "mean-scale-hyperprior":
            scales, means = params.chunk(2, dim=1)
        else:
            scales, means = params, None
        return scale_indexes(scales, self.thresholds), means

    def _h_s_input(self, z_sym: torch.Tensor) -> torch.Tensor:
        """What the fixed-point h_s reads: the symbols, or symbol + offset in units 2**-8."""
        offset = getattr(self.model, "z_offset", None)
        return z_sym if offset is None else z_sym * 256 + offset.to(z_sym.device).view(1, -1, 1, 1)

    def _z_symbols(self, z: torch.Tensor) -> torch.Tensor:
        """Encoder: hyper-latent symbols, rounded on the coding grid."""
        offsets = self.model.z_offsets()
        if offsets is not None:
            z = z.double().cpu() - offsets.cpu().view(1, -1, 1, 1)  # the model may sit on the GPU
        return torch.round(z).clamp(-IN_LIMIT, IN_LIMIT).long().cpu()

    def _context_passes(self, z_sym: torch.Tensor, y_shape: tuple[int, int, int, int],
                        code_group) -> tuple[torch.Tensor, torch.Tensor]:
        """Integer path of the context model: 2 passes per slice (anchors, then non-anchors).

        ``code_group(k, slice_index, mask, table_idx, means)`` returns the int64 symbols of group k at
        the ``mask`` positions (channel-major, raster order): the encoder computes and records them, the
        decoder decodes them from section k. Returns (symbols, means in units 2**-8), each (1, M, h, w).
        """
        model: CheckerboardChannelContext = self.model  # type: ignore[assignment]
        nets, params = model.entropy_nets(), self.fixed_nets
        _, _, h, w = y_shape
        hyper = nets["h_s"].run_fixed(params["h_s"], self._h_s_input(z_sym))
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
                syms[full] = code_group(k, i, full, scale_indexes(scales_k.reshape(-1), self.thresholds),
                                        means_k.reshape(-1))
                means[full] = means_k.reshape(-1)
            decoded.append(syms * 256 + means)
            all_syms.append(syms)
            all_means.append(means)
        return torch.cat(all_syms, dim=1), torch.cat(all_means, dim=1)

    # ------------------------------------------------------------------ encode
    @torch.inference_mode()
    def compress(self, image: np.ndarray, quality: float | None = None, backend: str = "constriction",
                 device: str = "cpu", tile: int = DEFAULT_TILE) -> EncodeResult:
        """uint8 (H, W, 3) or (H, W) -> header + sections."""
        if image.dtype != np.uint8 or image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] != 3):
            raise UnsupportedInputError("expected a uint8 image of shape (H, W) or (H, W, 3)")
        if tile % self.downsample or not 64 <= tile <= 4096:
            raise UnsupportedInputError(f"tile size must be a multiple of {self.downsample} in 64..4096")
        q = self._quality(quality)
        coder = self.coder(backend, device)
        channels = 1 if image.ndim == 2 else 3
        h, w = image.shape[:2]
        rgb = np.repeat(image[:, :, None], 3, axis=2) if channels == 1 else image
        x_full = torch.from_numpy(np.array(rgb, copy=True)).permute(2, 0, 1)[None].float().div_(255.0)
        model = self.model.to(device)
        dtype = next(model.parameters()).dtype
        gain, _ = model.gains(q)
        sections, latents = [], []
        for top, left, th, tw in self.tiles(h, w, tile):
            x = self._pad(x_full[:, :, top:top + th, left:left + tw]).to(device=device, dtype=dtype)
            y = model.g_a(x) * gain
            if self.context:
                z_sym = self._z_symbols(model.h_a(y))
                y_slices = y.double().cpu().split(self.model.slices, dim=1)
                groups: list[tuple[np.ndarray, np.ndarray]] = []

                def record(k: int, i: int, mask: torch.Tensor, idx: torch.Tensor, means: torch.Tensor) -> torch.Tensor:
                    sym = torch.round(y_slices[i][mask] - means.double() / 256.0).long()
                    groups.append((sym.numpy(), idx.numpy()))
                    return sym

                y_sym, _ = self._context_passes(z_sym, tuple(y.shape), record)
                sections.append(coder.encode(z_sym.numpy().reshape(-1), self._channel_index(z_sym.shape), self.z_tables))
                sections.extend(coder.encode(sym, idx, self.y_tables) for sym, idx in groups)
                latents.append({"z": z_sym.numpy(), "y": y_sym.numpy()})
            elif self.hyper:
                z = model.h_a(torch.abs(y) if self.model.kind == "hyperprior" else y)
                z_sym = self._z_symbols(z)
                idx, means = self._hyper_params(z_sym)
                y_cpu = y.double().cpu()
                y_sym = torch.round(y_cpu - means.double() / 256.0).long() if means is not None else torch.round(y_cpu).long()
                z_idx = self._channel_index(z_sym.shape)
                sections.append(coder.encode(z_sym.numpy().reshape(-1), z_idx, self.z_tables))
                sections.append(coder.encode(y_sym.numpy().reshape(-1), idx.numpy().reshape(-1), self.y_tables, chunks=Y_CHUNKS))
                latents.append({"z": z_sym.numpy(), "y": y_sym.numpy()})
            else:
                y_sym = torch.round(y.double().cpu()).long()
                sections.append(coder.encode(y_sym.numpy().reshape(-1), self._channel_index(y_sym.shape),
                                             self.y_tables, chunks=Y_CHUNKS))
                latents.append({"y": y_sym.numpy()})
            if int(np.abs(latents[-1]["y"]).max(initial=0)) > MAX_LATENT_ABS:
                raise UnsupportedInputError("latent values exceed the coding limit")
        header = Header(codec=self.name, modality="image", weights_sha256=self.sha256[:16],
                        backend=coder.backend_id, backend_version=coder.version, quality=q,
                        shape=(channels, h, w), metadata={"tile": tile})
        return EncodeResult(header, sections, latents)

    def _pad(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[2:]
        d = self.downsample
        ph, pw = (-h) % d, (-w) % d
        return F.pad(x, (0, pw, 0, ph), mode="replicate") if (ph or pw) else x

    @staticmethod
    def _channel_index(shape: tuple[int, ...] | torch.Size) -> np.ndarray:
        b, c, hh, ww = shape
        return np.repeat(np.arange(c, dtype=np.int64), hh * ww)

    # ------------------------------------------------------------------ decode
    def check_header(self, header: Header) -> None:
        if header.modality != self.modality:
            raise ModelMismatchError(f"bitstream holds a {header.modality}, not an image")
        if header.codec != self.name:
            raise ModelMismatchError(f"bitstream is for codec {header.codec!r}, not {self.name!r}")
        if header.weights_sha256 != self.sha256[:16]:
            raise ModelMismatchError(f"bitstream needs weights {header.weights_sha256}…, loaded {self.sha256[:16]}…")

    @torch.inference_mode()
    def decompress_latents(self, header: Header, sections: list[bytes], device: str = "cpu"
                           ) -> tuple[list[dict[str, np.ndarray]], list[tuple[int, int, int, int]], float]:
        """Parse the sections into the integer latents of every tile (no floating point involved)."""
        self.check_header(header)
        if header.backend not in BACKEND_IDS:
            raise BitstreamError(f"unknown coder backend id {header.backend}")
        coder = self.coder(BACKEND_IDS[header.backend], device)
        if len(header.shape) != 3 or header.shape[0] not in (1, 3):
            raise BitstreamError(f"invalid image shape {header.shape}")
        _, h, w = header.shape
        from ncodec.codecs.imageio import check_image_size

        try:
            check_image_size(w, h)
        except UnsupportedInputError as exc:
            raise BitstreamError(str(exc)) from None
        tile = header.metadata.get("tile")
        if not isinstance(tile, int) or isinstance(tile, bool) or tile % self.downsample or not 64 <= tile <= 4096:
            raise BitstreamError("invalid tile size in metadata")
        q = header.quality
        if not 1.0 <= q <= self.levels:
            raise BitstreamError(f"quality {q} outside [1, {self.levels}]")
        tiles = self.tiles(h, w, tile)
        per_tile = 1 + 2 * len(self.model.slices) if self.context else 2 if self.hyper else 1
        if len(sections) != per_tile * len(tiles):
            raise BitstreamError(f"expected {per_tile * len(tiles)} sections, found {len(sections)}")
        out = []
        d = self.downsample
        for i, (_, _, th, tw) in enumerate(tiles):
            ph, pw = -(-th // d) * d, -(-tw // d) * d
            y_shape = (1, self.model.M, ph // 16, pw // 16)
            if self.context:
                first = per_tile * i
                z_shape = (1, self.model.N, ph // 64, pw // 64)
                z_sym = coder.decode(sections[first], self._channel_index(z_shape), self.z_tables)
                if np.abs(z_sym).max(initial=0) > IN_LIMIT:
                    raise BitstreamError("hyper-latent value out of range")

                def decode_group(k: int, i: int, mask: torch.Tensor, idx: torch.Tensor, means: torch.Tensor,
                                 first: int = first) -> torch.Tensor:
                    sym = coder.decode(sections[first + 1 + k], idx.numpy(), self.y_tables)
                    if np.abs(sym).max(initial=0) > MAX_LATENT_ABS:
                        raise BitstreamError("latent value out of range")
                    return torch.from_numpy(sym)

                y_sym, means = self._context_passes(torch.from_numpy(z_sym).view(z_shape), y_shape, decode_group)
                tile_lat = {"z": z_sym.reshape(z_shape), "y": y_sym.numpy(), "means": means.numpy()}
            elif self.hyper:
                z_shape = (1, self.model.N, ph // 64, pw // 64)
                z_sym = coder.decode(sections[2 * i], self._channel_index(z_shape), self.z_tables)
                if np.abs(z_sym).max(initial=0) > IN_LIMIT:
                    raise BitstreamError("hyper-latent value out of range")
                z_t = torch.from_numpy(z_sym).view(z_shape)
                idx, means = self._hyper_params(z_t)
                y_sym = coder.decode(sections[2 * i + 1], idx.numpy().reshape(-1), self.y_tables)
                tile_lat = {"z": z_sym.reshape(z_shape), "y": y_sym.reshape(y_shape),
                            "means": means.numpy() if means is not None else None}
            else:
                y_sym = coder.decode(sections[i], self._channel_index(y_shape), self.y_tables)
                tile_lat = {"y": y_sym.reshape(y_shape), "means": None}
            if np.abs(tile_lat["y"]).max(initial=0) > MAX_LATENT_ABS:
                raise BitstreamError("latent value out of range")
            out.append(tile_lat)
        return out, tiles, q

    @torch.inference_mode()
    def decompress(self, header: Header, sections: list[bytes], device: str = "cpu") -> np.ndarray:
        """Header + sections -> uint8 (H, W, 3) or (H, W)."""
        latents, tiles, q = self.decompress_latents(header, sections, device)
        channels, h, w = header.shape
        model = self.model.to(device)
        dtype = next(model.parameters()).dtype
        _, inv_gain = model.gains(q)
        result = np.empty((h, w, 3), dtype=np.uint8)
        for lat, (top, left, th, tw) in zip(latents, tiles):
            y = torch.from_numpy(lat["y"]).double()
            if lat["means"] is not None:
                y = y + torch.from_numpy(lat["means"]).double() / 256.0
            x_hat = model.g_s(y.to(device=device, dtype=dtype) * inv_gain)
            x_hat = x_hat[:, :, :th, :tw].clamp(0, 1).mul(255).round().byte().cpu()
            result[top:top + th, left:left + tw] = x_hat[0].permute(1, 2, 0).numpy()
        if channels == 1:
            grey = np.round(result.astype(np.float32).mean(axis=2)).astype(np.uint8)
            return grey
        return result


@torch.no_grad()
def validate_with_bitstreams(model: VariableRateImageModel, files: list[Path]) -> dict[str, float]:
    """Real encode -> bytes -> decode of the validation images at every rate level (training hook)."""
    from ncodec.codecs import container
    from ncodec.codecs.imageio import read_image
    from ncodec.evaluation.metrics import psnr_rgb

    training = model.training
    codec = LearnedImageCodec.from_model(model)
    metrics: dict[str, float] = {}
    t0 = time.perf_counter()
    for level in range(1, codec.levels + 1):
        bpp, ps = [], []
        for f in files:
            img = read_image(f)
            enc = codec.compress(img, quality=level)
            data = container.pack(enc.header, enc.sections)
            header, sections = container.unpack(data)
            rec = codec.decompress(header, sections)
            bpp.append(8 * len(data) / (img.shape[0] * img.shape[1]))
            ps.append(psnr_rgb(img, rec))
        metrics[f"q{level}_bpp"] = float(np.mean(bpp))
        metrics[f"q{level}_psnr"] = float(np.mean(ps))
    metrics["val_s"] = time.perf_counter() - t0
    model.train(training)
    return metrics
