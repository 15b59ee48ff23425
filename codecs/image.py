"""Learned image codecs: an analysis/synthesis transform (models) + one latent codec (codecs/latent.py).

The image is coded in tiles (raster order); each tile's sections are its latent codec's, in that
codec's order (factorized: y; hyperpriors: z, y; the context model: z, then each channel slice's
anchors and non-anchors). Everything that decides which distribution codes a symbol is integer and
comes from the weight file; only the synthesis transform (latents -> pixels) is floating point. This
module never branches on the entropy-model family: the model names its latent codec.
"""

from __future__ import annotations

import hashlib
import io
import math
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from ncodec.codecs import qualitymap
from ncodec.codecs.container import EncodeResult, Header  # EncodeResult: re-exported
from ncodec.codecs.latent import LatentCodec, latent_codec_class
from ncodec.codecs.refine import check_effort, refine_latent
from ncodec.entropy.coders import BACKEND_IDS, Coder, get_coder
from ncodec.entropy.ledger import RateLedger
from ncodec.errors import BitstreamError, ModelMismatchError, MissingWeightsError, UnsupportedInputError, UsageError
from ncodec.models.image import VariableRateImageModel, build_model

WEIGHTS_FORMAT = 1
DEFAULT_TILE = 1024


# ----------------------------------------------------------------------------- weight files

@torch.no_grad()
def export_state(model: VariableRateImageModel, meta: dict[str, Any] | None = None) -> dict[str, Any]:
    """Everything a decoder needs: float weights plus what the model's latent codec exports. Tensors a
    model marks as training-only (``training_only_keys``: mcq's prior logits, usage and k-means
    statistics, which the exported integer tables replace) are left out."""
    skip = model.training_only_keys() if hasattr(model, "training_only_keys") else set()
    state: dict[str, Any] = {"format": WEIGHTS_FORMAT, "config": model.config(),
                             "state_dict": {k: v.detach().cpu().clone() for k, v in model.state_dict().items()
                                            if k not in skip},
                             "meta": dict(meta or {})}
    state.update(latent_codec_class(model.latent_codec).export(model))
    return state


def read_weight_file(path: str | Path, what: str = "weight file") -> tuple[dict[str, Any], str]:
    """(state, sha256) of a ``.ncw`` file, loaded tensors-only; a missing or foreign file is a one-line
    ncodec error naming it."""
    p = Path(path)
    if not p.is_file():
        raise MissingWeightsError(f"{what} not found: {p}")
    data = p.read_bytes()
    try:
        state = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for a non-weight file
        raise ModelMismatchError(f"{p} is not an ncodec weight file ({type(exc).__name__})") from None
    return state, hashlib.sha256(data).hexdigest()


def rewrite_weight_file(state: dict[str, Any], path: str | Path, config: dict[str, Any] | None = None,
                        meta: dict[str, Any] | None = None) -> str:
    """Write a weight file's state with a new config and/or meta (atomic), keeping every tensor and
    integer table as they are: re-exporting a loaded model would quantise its tables again (mcq's
    tables are rebuilt from logits restored from the tables, which is not exact). The result must load;
    returns its sha256."""
    from ncodec.codecs.imageio import atomic_write_bytes

    out = dict(state)
    if config is not None:
        out["config"] = dict(config)
    if meta is not None:
        out["meta"] = {**dict(state.get("meta", {})), **meta}
    buf = io.BytesIO()
    torch.save(out, buf)
    data = buf.getvalue()
    LearnedImageCodec(torch.load(io.BytesIO(data), map_location="cpu", weights_only=True), "0" * 64)  # loads
    atomic_write_bytes(path, data)
    return hashlib.sha256(data).hexdigest()


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
        try:
            missing, unexpected = self.model.load_state_dict(state["state_dict"], strict=False)
        except RuntimeError as exc:  # a tensor of the wrong shape
            raise ModelMismatchError(f"weight file does not match its config: {str(exc).splitlines()[0]}") from None
        optional = self.model.training_only_keys() if hasattr(self.model, "training_only_keys") else set()
        if unexpected or not set(missing) <= optional:
            raise ModelMismatchError(f"weight file does not match its config (missing {sorted(set(missing) - optional)[:3]}, "
                                     f"unexpected {sorted(unexpected)[:3]})")
        if missing and hasattr(self.model, "restart_statistics"):  # training-only state, left out of the file
            self.model.restart_statistics()
        self.model.eval()
        self.name = self.model.kind
        self.meta = state.get("meta", {})
        try:
            self.latent: LatentCodec = latent_codec_class(self.model.latent_codec)(self.model, state)
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
        return cls(*read_weight_file(path))

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

    def quality_grid(self) -> list[float]:
        """Every quality that gives a distinct rate point, from the lowest rate to the highest."""
        step = self.latent.quality_step
        count = int(round((self.levels - 1.0) / step))
        return [round((1.0 + i * step) * 100) / 100.0 for i in range(count + 1)]

    def _quality(self, quality: float | None) -> float:
        q = float(self.levels if quality is None else quality)
        if math.isnan(q) or not 1.0 <= q <= self.levels:
            raise UsageError(f"quality must lie in [1, {self.levels}] for {self.name}, got {q:g}")
        return round(q * 100) / 100.0

    # ------------------------------------------------------------------ encode
    @torch.inference_mode()
    def compress(self, image: np.ndarray, quality: float | None = None, backend: str = "constriction",
                 device: str = "cpu", tile: int = DEFAULT_TILE, ledger: RateLedger | None = None,
                 quality_map: np.ndarray | None = None, effort: str = "default",
                 analysis: str = "auto") -> EncodeResult:
        """uint8 (H, W, 3) or (H, W) -> header + sections; a ``ledger`` records where the coded bytes go.

        ``quality_map`` (H, W) of qualities in [1, levels] replaces the uniform ``quality``: each latent
        cell takes the largest quality of its pixels, and the per-cell qualities travel in one more
        section (``codecs/qualitymap.py``); the header's quality is then the map's maximum.
        ``effort="best"`` refines every tile's latent at the encoder (``codecs/refine.py``).
        ``analysis``: "integer" runs the weights' int8 analysis (``codecs/intsynth.py``), "float" the
        trained g_a, "auto" the int8 one where the weights make it the default (its Kodak cost was
        measured below 1 %) or ``effort="fast"`` asks for it, on CPUs whose int8 kernels pass its
        self-test."""
        if image.dtype != np.uint8 or image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] != 3):
            raise UnsupportedInputError("expected a uint8 image of shape (H, W) or (H, W, 3)")
        if tile % self.downsample or not 64 <= tile <= 4096:
            raise UnsupportedInputError(f"tile size must be a multiple of {self.downsample} in 64..4096")
        refine = check_effort(effort) == "best"
        fast_analysis = self._pick_analysis(analysis, effort, device)
        if refine and not hasattr(self.model, "latent_forward"):
            raise UsageError(f"{self.name} has no differentiable latent to refine: --effort best needs a "
                             "gain-based learned codec (its encoder already minimises rate + distortion)")
        if quality_map is not None:
            if refine:
                raise UsageError("--effort best with a quality map is not supported: refine at a uniform quality")
            quality = self._check_quality_map(quality_map, image.shape[:2])
        q = self._quality(quality)
        coder = self.coder(backend, device)
        if ledger is not None:
            coder = ledger.wrap(coder)
        channels = 1 if image.ndim == 2 else 3
        h, w = image.shape[:2]
        rgb = np.repeat(image[:, :, None], 3, axis=2) if channels == 1 else image
        x_full = torch.from_numpy(np.array(rgb, copy=True)).permute(2, 0, 1)[None].float().div_(255.0)
        model = self.latent.encoder_model().to(device)
        dtype = next(model.parameters()).dtype
        sections, latents, cells = [], [], []
        for top, left, th, tw in self.tiles(h, w, tile):
            x = self._pad(x_full[:, :, top:top + th, left:left + tw]).to(device=device, dtype=dtype)
            gain_quality: float | torch.Tensor = q
            if quality_map is not None:
                _, _, lh, lw = self.model.latent_shape(x.shape[2], x.shape[3])
                cell = qualitymap.latent_cells(quality_map[top:top + th, left:left + tw], x.shape[2] // lh, lh, lw)
                cells.append(cell)
                gain_quality = torch.from_numpy(cell)[None, None]
            if refine:
                y = refine_latent(model, x, q)
            elif fast_analysis is not None:  # --effort fast: the int8 g_a reads the pixels themselves
                y = fast_analysis(torch.round(x * 255.0).to(torch.uint8)) * model.gains(gain_quality)[0].to(x.dtype)
            else:
                y = model.analysis(x, gain_quality)
            tile_sections, tile_latents = self.latent.encode(y, q, coder)
            sections.extend(tile_sections)
            latents.append(tile_latents)
        metadata = {"tile": tile, **self.latent.header_metadata(q)}
        if quality_map is not None:
            sections.append(qualitymap.pack_section(cells))
            metadata[qualitymap.QMAP_KEY] = 1
        header = Header(codec=self.name, modality="image", weights_sha256=self.sha256[:16],
                        backend=coder.backend_id, backend_version=coder.version, quality=q,
                        shape=(channels, h, w), metadata=metadata)
        return EncodeResult(header, sections, latents)

    def _check_quality_map(self, quality_map: np.ndarray, shape: tuple[int, ...]) -> float:
        """Validate a pixel quality map; returns its maximum (the header's quality)."""
        if not getattr(self.model, "supports_quality_map", False):
            raise UsageError(f"{self.name} has discrete rate points without per-position gains: "
                             "quality maps and --roi need a gain-based variable-rate codec")
        qmap = np.asarray(quality_map, dtype=np.float64)
        if qmap.shape != tuple(shape):
            raise UsageError(f"quality map is {qmap.shape[1]}x{qmap.shape[0]}, the image is {shape[1]}x{shape[0]}")
        if not np.isfinite(qmap).all() or qmap.min() < 1.0 or qmap.max() > self.levels:
            raise UsageError(f"quality map values must lie in [1, {self.levels}] for {self.name}")
        return float(qmap.max())

    @torch.inference_mode()
    def estimate_bits(self, image: np.ndarray, quality: float | None = None, tile: int = DEFAULT_TILE) -> float:
        """The model's own rate estimate, sum(-log2 p) of an eval-mode forward over the same padded tiles
        the encoder codes (latents rounded, continuous densities: what CompressAI users call the
        estimated bpp), at the rate level of ``quality`` (fractional qualities interpolate the gains)."""
        if image.dtype != np.uint8 or image.ndim not in (2, 3):
            raise UnsupportedInputError("expected a uint8 image of shape (H, W) or (H, W, 3)")
        q = self._quality(quality)
        rgb = np.repeat(image[:, :, None], 3, axis=2) if image.ndim == 2 else image
        x_full = torch.from_numpy(np.array(rgb, copy=True)).permute(2, 0, 1)[None].float().div_(255.0)
        model = self.model.eval()
        level = torch.tensor([q - 1.0], dtype=torch.float64)
        bits = 0.0
        for top, left, th, tw in self.tiles(image.shape[0], image.shape[1], tile):
            x = self._pad(x_full[:, :, top:top + th, left:left + tw])
            out = model(x.to(next(model.parameters()).dtype), level)
            bits += sum(float(-torch.log2(lik.double()).sum()) for lik in out["likelihoods"].values())
        return bits

    def _pad(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[2:]
        d = self.downsample
        ph, pw = (-h) % d, (-w) % d
        return F.pad(x, (0, pw, 0, ph), mode="replicate") if (ph or pw) else x

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
        per_tile = self.latent.sections_per_tile(q, header.metadata)
        if self._quality_maps(header, sections, tiles) is not None:
            sections = sections[:-1]  # the quality map, parsed by ``_quality_maps``
        if len(sections) != per_tile * len(tiles):
            raise BitstreamError(f"expected {per_tile * len(tiles)} sections, found {len(sections)}")
        out = []
        d = self.downsample
        for i, (_, _, th, tw) in enumerate(tiles):
            shape = self.model.latent_shape(-(-th // d) * d, -(-tw // d) * d)
            out.append(self.latent.decode(sections[per_tile * i:per_tile * (i + 1)], shape, q, header.metadata, coder))
        return out, tiles, q

    def _quality_maps(self, header: Header, sections: list[bytes],
                      tiles: list[tuple[int, int, int, int]]) -> list[np.ndarray] | None:
        """Per-tile latent-cell qualities of a stream with a quality-map section (its last), else None."""
        flag = header.metadata.get(qualitymap.QMAP_KEY)
        if flag is None:
            return None
        if flag != 1 or isinstance(flag, bool) or not getattr(self.model, "supports_quality_map", False):
            raise BitstreamError("invalid quality-map flag in metadata")
        if not sections:
            raise BitstreamError("quality-map section missing")
        d = self.downsample
        shapes = [tuple(self.model.latent_shape(-(-th // d) * d, -(-tw // d) * d)[2:]) for _, _, th, tw in tiles]
        return qualitymap.unpack_section(sections[-1], shapes, self.levels)

    # ------------------------------------------------------------------ integer synthesis
    def attach_integer_synthesis(self, path: str | Path | None = None) -> Any:
        """Load the integer synthesis (``codecs/intsynth.py``) of these weights: ``path``, or the shipped
        file of the manifest. Returns its executor, or None when these weights have none."""
        from ncodec.codecs.intsynth import build_executor, find_integer_synthesis, load_meta, load_program

        from ncodec.codecs.intsynth import FastIntegerAnalysis, int8_kernels_fit

        found = Path(path) if path is not None else find_integer_synthesis(self.name, self.sha256)
        self._int_synthesis = None if found is None else build_executor(load_program(found, self.sha256))
        analysis = None if found is None else load_program(found, self.sha256, part="analysis")
        self._int_analysis = None
        self._analysis_default = found is not None and bool(load_meta(found).get("analysis_default", False))
        if analysis is not None and int8_kernels_fit(analysis):
            try:
                fast = FastIntegerAnalysis(analysis)
                self._int_analysis = fast if fast.self_test() else None  # a kernel that differs: float g_a
            except (RuntimeError, ValueError, ImportError):  # a oneDNN or kernel refusal: the float g_a
                self._int_analysis = None
        return self._int_synthesis

    def _analysis_is_default(self) -> bool:
        """Whether the weights' integer-synthesis file makes its int8 analysis the default encoder (read
        once, without building any executor)."""
        if not hasattr(self, "_analysis_default"):
            from ncodec.codecs.intsynth import find_integer_synthesis, load_meta
            from ncodec.errors import NcodecError

            try:
                found = find_integer_synthesis(self.name, self.sha256)
                self._analysis_default = found is not None and bool(load_meta(found).get("analysis_default", False))
            except NcodecError:
                self._analysis_default = False
        return self._analysis_default

    def _pick_analysis(self, analysis: str, effort: str, device: str) -> Any:
        """The int8 analysis executor ``compress`` runs, or None for the float g_a."""
        if analysis not in ("auto", "integer", "float"):
            raise UsageError(f"analysis must be auto, integer or float, got {analysis!r}")
        if analysis == "float" or effort == "best":
            if analysis == "integer":
                raise UsageError("--effort best refines the float analysis: it cannot run with --analysis integer")
            return None
        if analysis == "auto" and effort != "fast" and not self._analysis_is_default():
            return None  # the float g_a, without loading any integer program
        fast = self.integer_analysis()  # attaches the weights' integer-synthesis file on first use
        fast = fast if device == "cpu" else None
        if analysis == "integer" and fast is None:
            raise UsageError(f"{self.name}: no int8 analysis runs here (none shipped with these weights, a "
                             "non-CPU device, or int8 kernels that fail its self-test)")
        if analysis == "auto" and effort != "fast" and not getattr(self, "_analysis_default", False):
            return None
        return fast

    def integer_analysis(self) -> Any:
        """The int8 encoder transform of ``--effort fast`` (oneDNN machines whose int8 kernels compute
        its program exactly), or None."""
        if not hasattr(self, "_int_synthesis"):
            self.attach_integer_synthesis()
        return self._int_analysis

    def integer_synthesis(self) -> Any:
        """The executor of the integer synthesis (loaded on first use), or None."""
        if not hasattr(self, "_int_synthesis"):
            self.attach_integer_synthesis()
        return self._int_synthesis

    def default_paths(self) -> dict[str, str]:
        """The encoder and decoder transforms a default encode/decode runs on this machine (recorded by
        ``ncodec eval``): "integer" or "float" each."""
        analysis = self._pick_analysis("auto", "default", "cpu")
        return {"analysis": "float" if analysis is None else "integer",
                "synthesis": self.synthesis_path("auto", 0.0, None)}

    def synthesis_path(self, synthesis: str, realism: float, quality_maps: Any) -> str:
        """"integer" or "float" for ``decompress(synthesis=...)``: "auto" takes the integer synthesis
        when these weights have one and R = 0 (the realism generator reads the float synthesis)."""
        if synthesis not in ("auto", "integer", "float"):
            raise UsageError(f"synthesis must be auto, integer or float, got {synthesis!r}")
        if synthesis == "float":
            return "float"
        allowed = realism == 0.0
        if synthesis == "integer":
            if self.integer_synthesis() is None:
                raise MissingWeightsError(f"{self.name} weights {self.sha256[:16]}… have no integer synthesis "
                                          "(train one with scripts/train_intsynth.py)")
            if not allowed:
                raise UsageError("the integer synthesis decodes at realism 0: --realism runs on the float "
                                 "synthesis (--synthesis float or auto)")
            return "integer"
        return "integer" if allowed and self.integer_synthesis() is not None else "float"

    @torch.inference_mode()
    def decompress(self, header: Header, sections: list[bytes], device: str = "cpu", realism: float = 0.0,
                   realism_decoder: Any = None, synthesis: str = "auto") -> np.ndarray:
        """Header + sections -> uint8 (H, W, 3) or (H, W).

        ``realism`` R > 0 runs ``realism_decoder`` (``codecs.realism.RealismDecoder``) on top of the
        synthesis, with noise seeded by the stream; R = 0 is the MSE decoder and never touches it.
        ``synthesis``: "integer" (bit-identical pixels everywhere, where the weights have one), "float"
        (the trained g_s), or "auto" (integer when available and R = 0, else float)."""
        latents, tiles, q = self.decompress_latents(header, sections, device)
        maps = self._quality_maps(header, sections, tiles)
        if self.synthesis_path(synthesis, realism, maps) == "integer":
            return self._integer_pixels(header, latents, tiles, q, maps)
        channels, h, w = header.shape
        model = self.model.to(device)
        dtype = next(model.parameters()).dtype
        noise = None
        if realism > 0.0:
            if realism_decoder is None:
                raise ValueError("realism > 0 needs a realism decoder")
            realism_decoder.check_base(self.name, self.sha256)
            from ncodec.codecs.realism import stream_seed

            noise = torch.Generator(device="cpu").manual_seed(stream_seed(sections))
        result = np.empty((h, w, 3), dtype=np.uint8)
        for i, (lat, (top, left, th, tw)) in enumerate(zip(latents, tiles)):
            y_hat = self.latent.y_hat(lat, device, dtype)
            gain_quality: float | torch.Tensor = q if maps is None else torch.from_numpy(maps[i])[None, None]
            x_hat = model.synthesis(y_hat, gain_quality)
            if noise is not None:
                x_hat = realism_decoder.apply(model.synthesis_input(y_hat, gain_quality), x_hat.clamp(0, 1),
                                              realism, noise)
            x_hat = x_hat[:, :, :th, :tw].clamp(0, 1).mul(255).round().byte().cpu()
            result[top:top + th, left:left + tw] = x_hat[0].permute(1, 2, 0).numpy()
        if channels == 1:
            grey = np.round(result.astype(np.float32).mean(axis=2)).astype(np.uint8)
            return grey
        return result


    def _integer_pixels(self, header: Header, latents: list[dict[str, np.ndarray]],
                        tiles: list[tuple[int, int, int, int]], q: float,
                        maps: list[np.ndarray] | None) -> np.ndarray:
        executor = self.integer_synthesis()
        channels, h, w = header.shape
        result = np.empty((h, w, 3), dtype=np.uint8)
        for i, (lat, (top, left, th, tw)) in enumerate(zip(latents, tiles)):
            quality = q if maps is None else maps[i]  # a quality map's cell qualities (0.01 grid)
            pixels = executor(self.latent.integer_synthesis_input(lat), self.latent.synthesis_quality(quality))
            result[top:top + th, left:left + tw] = pixels[:th, :tw]
        if channels == 1:
            return np.round(result.astype(np.float32).mean(axis=2)).astype(np.uint8)
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
