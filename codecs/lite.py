"""A decoder without PyTorch (issue 20 item 3): numpy, the coder extensions and nothing else.

It decodes image streams of the hyperprior families whose weights ship an integer synthesis (the
default codec): the container and the coders are already torch-free; this module adds a reader of
torch's zip weight files, the fixed-point h_s and the integer synthesis in numpy. Every sum is an
exact integer (float64 for the fixed-point nets, below 2**53; float32 for the synthesis, below 2**24
by the program's bounds) and every other step is the same IEEE operation as the torch executors, so
the pixels are identical to ``ncodec decode --synthesis integer`` (tests/test_lite.py).

``ncodec decode`` takes this path by itself when torch cannot be imported (``pip install ncodec[decode]``).
"""

from __future__ import annotations

import os
import pickle
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from ncodec.codecs.container import Header
from ncodec.errors import BitstreamError, MissingDependencyError, MissingWeightsError, ModelMismatchError

# entropy/fixedpoint.py's constants (that module needs torch; these are its integer format)
W_FRAC, A_FRAC, A_LIMIT, IN_LIMIT, SLOPE_FRAC = 14, 8, (1 << 20) - 1, (1 << 12) - 1, 12
MAX_LATENT_ABS = 1 << 20
DOWNSAMPLE = 64  # tiles are padded to this (the hyper-latent's total stride), as models/image.py says
LITE_KINDS = ("mean-scale-hyperprior",)
_DTYPES = {"FloatStorage": np.float32, "DoubleStorage": np.float64, "HalfStorage": np.float16,
           "LongStorage": np.int64, "IntStorage": np.int32, "ShortStorage": np.int16, "CharStorage": np.int8,
           "ByteStorage": np.uint8, "BoolStorage": np.bool_}


# ----------------------------------------------------------------------------- torch zip files
class _Storage:
    def __init__(self, dtype: Any) -> None:
        self.dtype = dtype


MAX_TENSOR_ELEMENTS = 1 << 28  # far above any ncodec weight tensor; a crafted file asks for more


def _rebuild_tensor(storage: np.ndarray, offset: int, size: tuple[int, ...], stride: tuple[int, ...], *_: Any) -> np.ndarray:
    """A tensor view of a storage, checked: every element it addresses lies inside the storage."""
    size, stride = tuple(int(v) for v in size), tuple(int(v) for v in stride)
    offset = int(offset)
    if not isinstance(storage, np.ndarray) or len(size) != len(stride) or offset < 0 or min(size + stride, default=0) < 0:
        raise pickle.UnpicklingError("malformed tensor in a weight file")
    count = int(np.prod(size, dtype=np.int64)) if size else 1
    last = offset + sum((n - 1) * st for n, st in zip(size, stride)) if count else offset - 1
    if count > MAX_TENSOR_ELEMENTS or last >= storage.size:
        raise pickle.UnpicklingError("tensor outside its storage in a weight file")
    if not size:
        return storage[offset:offset + 1].reshape(()).copy()
    item = storage.itemsize
    view = np.lib.stride_tricks.as_strided(storage[offset:], shape=size, strides=tuple(st * item for st in stride))
    return np.array(view, copy=True)


class _TorchFreeUnpickler(pickle.Unpickler):
    """Unpickles ``torch.save`` output into numpy arrays; refuses every other global."""

    def __init__(self, data: bytes, archive: zipfile.ZipFile, prefix: str) -> None:
        import io

        super().__init__(io.BytesIO(data))
        self.archive, self.prefix = archive, prefix

    def find_class(self, module: str, name: str) -> Any:
        if module == "torch._utils" and name == "_rebuild_tensor_v2":
            return _rebuild_tensor
        if module == "torch" and name in _DTYPES:
            return _Storage(_DTYPES[name])
        if module == "collections" and name == "OrderedDict":
            import collections

            return collections.OrderedDict
        raise pickle.UnpicklingError(f"unexpected object {module}.{name} in a weight file")

    def persistent_load(self, pid: Any) -> np.ndarray:
        kind, storage_type, key, _location, numel = pid
        if kind != "storage" or not isinstance(storage_type, _Storage):
            raise pickle.UnpicklingError("unexpected persistent id in a weight file")
        name = f"{self.prefix}data/{key}"
        nbytes = int(numel) * np.dtype(storage_type.dtype).itemsize
        if int(numel) < 0 or int(numel) > MAX_TENSOR_ELEMENTS or self.archive.getinfo(name).file_size != nbytes:
            raise pickle.UnpicklingError("storage size does not match its record in a weight file")
        return np.frombuffer(self.archive.read(name), dtype=storage_type.dtype, count=int(numel))


def read_torch_file(path: str | Path) -> dict[str, Any]:
    """A ``torch.save`` zip file (tensors, dicts, lists, numbers, strings) with numpy arrays in place of
    tensors, read without torch; a missing or foreign file is a one-line ncodec error."""
    p = Path(path)
    if not p.is_file():
        raise MissingWeightsError(f"weight file not found: {p}")
    try:
        with zipfile.ZipFile(p) as archive:
            pkl = [n for n in archive.namelist() if n.endswith("data.pkl")]
            if len(pkl) != 1:
                raise ValueError("no data.pkl")
            prefix = pkl[0][: -len("data.pkl")]
            return _TorchFreeUnpickler(archive.read(pkl[0]), archive, prefix).load()
    except (zipfile.BadZipFile, pickle.UnpicklingError, ValueError, KeyError, EOFError, TypeError, AttributeError,
            IndexError, MemoryError, OverflowError) as exc:
        raise ModelMismatchError(f"{p} is not an ncodec weight file ({type(exc).__name__})") from None


# ----------------------------------------------------------------------------- exact numpy convolutions
def conv_hwc(x: np.ndarray, weight: np.ndarray, pad: int) -> np.ndarray:
    """Stride-1 convolution of (H, W, C) by (O, C, k, k), no bias; sums in x's dtype (exact for the
    integer-valued tensors of this module, whatever the order of the additions).

    With fewer outputs than inputs (the last synthesis layer: 12 from 64) the products are taken per
    input pixel, (H*W, C) @ (C, k*k*O), and scattered with k*k shifted additions (col2im); otherwise
    the patches are gathered (im2col, one strided block copy per tap) for a BLAS product. Both work in
    bands of rows with one reused buffer of a few MB: fewer page faults in a fresh process."""
    o, c, k, _ = weight.shape
    h, w, _ = x.shape
    if k == 1:
        wmat = np.ascontiguousarray(weight.reshape(o, c).T, dtype=x.dtype)
        return (x.reshape(h * w, c) @ wmat).reshape(h, w, o)
    if o < c:
        wcols = np.ascontiguousarray(weight.transpose(1, 2, 3, 0).reshape(c, k * k * o), dtype=x.dtype)
        big = np.zeros((h + 2 * pad, w + 2 * pad, o), dtype=x.dtype)
        band = max(1, (4 << 20) // (w * k * k * o * x.itemsize))  # products of ~4 MB at a time
        buf = np.empty((min(band, h) * w, k * k * o), dtype=x.dtype)
        for top in range(0, h, band):
            rows = min(band, h - top)
            taps = np.matmul(x[top:top + rows].reshape(rows * w, c), wcols, out=buf[:rows * w]).reshape(rows, w, k, k, o)
            for dy in range(k):
                for dx in range(k):
                    r0, c0 = top + 2 * pad - dy, 2 * pad - dx
                    big[r0:r0 + rows, c0:c0 + w] += taps[:, :, dy, dx]
        return big[pad:pad + h, pad:pad + w]
    wmat = np.ascontiguousarray(weight.transpose(2, 3, 1, 0).reshape(k * k * c, o), dtype=x.dtype)
    padded = np.zeros((h + 2 * pad, w + 2 * pad, c), dtype=x.dtype)
    padded[pad:pad + h, pad:pad + w] = x
    out = np.empty((h, w, o), dtype=x.dtype)
    band = max(1, (8 << 20) // (w * k * k * c * x.itemsize))  # ~8 MB of patches at a time, reused
    cols = np.empty((min(band, h), w, k * k, c), dtype=x.dtype)
    for top in range(0, h, band):
        rows = min(band, h - top)
        for dy in range(k):
            for dx in range(k):
                cols[:rows, :, dy * k + dx, :] = padded[top + dy:top + dy + rows, dx:dx + w, :]
        np.matmul(cols[:rows].reshape(rows * w, k * k * c), wmat, out=out[top:top + rows].reshape(rows * w, o))
    return out


def subpixel_weight(w: np.ndarray, padding: int = 2) -> np.ndarray:
    """numpy twin of ``models.intsynth.subpixel_weight``: (Cin, Cout, 5, 5) -> (4*Cout, Cin, 3, 3)."""
    cin, cout, k, _ = w.shape
    out = np.zeros((4, cout, cin, 3, 3), dtype=w.dtype)
    for rh in range(2):
        for rw in range(2):
            for dh in (-1, 0, 1):
                kh = rh + padding - 2 * dh
                for dw in (-1, 0, 1):
                    kw = rw + padding - 2 * dw
                    if 0 <= kh < k and 0 <= kw < k:
                        out[2 * rh + rw, :, :, dh + 1, dw + 1] = w[:, :, kh, kw].T
    return out.reshape(4 * cout, cin, 3, 3)


def phase_shuffle_hwc(x: np.ndarray) -> np.ndarray:
    """(H, W, 4*C) phase-major -> (2H, 2W, C)."""
    h, w, c4 = x.shape
    c = c4 // 4
    return x.reshape(h, w, 2, 2, c).transpose(0, 2, 1, 3, 4).reshape(2 * h, 2 * w, c)


# ----------------------------------------------------------------------------- the decoder
class LiteImageDecoder:
    """Torch-free decoder of one hyperprior-family weight file plus its integer synthesis."""

    def __init__(self, weights: str | Path, intsynth: str | Path, sha256: str) -> None:
        from ncodec.entropy.tables import TableSet

        state = read_torch_file(weights)
        config = state.get("config", {})
        if state.get("format") != 1 or config.get("kind") not in LITE_KINDS:
            raise MissingDependencyError(f"decoding {config.get('kind')!r} streams needs torch (the decoder without "
                                         f"it reads {' / '.join(LITE_KINDS)} weights): install ncodec's full extra")
        syn = read_torch_file(intsynth)
        if syn.get("kind") != "integer-synthesis" or syn.get("base_sha256") != sha256:
            raise ModelMismatchError(f"{intsynth} is not the integer synthesis of these weights")
        self.kind, self.sha256 = config["kind"], sha256
        self.N, self.M = int(config["N"]), int(config["M"])
        self.levels = len(config["lambdas"])
        self.leaky = config.get("hyper_activation", "relu") == "leaky_relu"
        self.z_offset = state["state_dict"].get("z_offset") if config.get("z_offsets") else None
        self.z_tables = TableSet.from_state(state["z_tables"])
        self.y_tables = TableSet.from_state(state["y_tables"])
        self.thresholds = np.asarray(state["scale_thresholds"]).astype(np.int64)
        self.fixed = {k: np.asarray(v).astype(np.int64) for k, v in state["fixed"].items()}
        self.program = syn["program"]
        if syn.get("format") != 1 or int(self.program.get("version", -1)) != 1:
            raise ModelMismatchError(f"{intsynth}: unknown integer-synthesis file or program version")
        self._check_bounds(intsynth)

    def _check_bounds(self, path: str | Path) -> None:
        """``models.intsynth.check_bounds`` in numpy: every integer sum provably below 2**24."""
        for i in range(int(self.program["layers"])):
            for name, fan in ((f"conv{i}", 128), (f"gdn{i}", 255)):
                if f"{name}.weight" not in self.program:
                    continue
                q = np.asarray(self.program[f"{name}.weight"]).astype(np.int64)
                b = np.asarray(self.program[f"{name}.bias"]).astype(np.int64)
                if ((np.abs(q.reshape(q.shape[0], -1)).sum(axis=1) * fan + np.abs(b)) >= (1 << 24)).any():
                    raise ModelMismatchError(f"{path}: {name}: an integer sum can reach 2**24")

    # -- entropy path (codecs/latent.py HyperpriorLatentCodec.decode, in numpy)
    def _h_s(self, z: np.ndarray) -> np.ndarray:
        """entropy/fixedpoint.py FixedPointNet.run_fixed for h_s = [deconv, act, deconv, act, conv3x3]:
        (h, w, N) int -> (4h, 4w, C) int64 in units 2**-8."""
        if self.z_offset is None:
            h = np.clip(z.astype(np.float64), -IN_LIMIT, IN_LIMIT) * float(1 << A_FRAC)
        else:
            h = np.clip((z * 256 + np.asarray(self.z_offset).reshape(1, 1, -1)).astype(np.float64), -A_LIMIT, A_LIMIT)
        half, div = float(1 << (W_FRAC - 1)), float(1 << W_FRAC)
        for i in (0, 2, 4):
            w = self.fixed[f"{i}.weight"].astype(np.float64)
            bias = self.fixed[f"{i}.bias"].astype(np.float64)
            if i < 4:  # 5x5 stride-2 transposed convolution in its exact sub-pixel form
                acc = phase_shuffle_hwc(conv_hwc(h, subpixel_weight(w), 1) + np.tile(bias, 4))
            else:
                acc = conv_hwc(h, w, 1) + bias
            h = np.clip(np.floor((acc + half) / div), -A_LIMIT, A_LIMIT)
            if i < 4:
                h = np.where(h < 0, np.floor(h * 41.0 / float(1 << SLOPE_FRAC)), h) if self.leaky else np.maximum(h, 0.0)
        return h.astype(np.int64)

    def latents(self, sections: list[bytes], shape: tuple[int, int], coder: Any) -> tuple[np.ndarray, np.ndarray]:
        """One tile's two sections -> (y symbols, means in units 2**-8), each (h, w, M)."""
        hh, ww = shape[0] // 16, shape[1] // 16
        zn = self.N
        z_idx = np.repeat(np.arange(zn, dtype=np.int64), (hh // 4) * (ww // 4))
        z = coder.decode(sections[0], z_idx, self.z_tables)
        if np.abs(z).max(initial=0) > IN_LIMIT:
            raise BitstreamError("hyper-latent value out of range")
        params = self._h_s(z.reshape(zn, hh // 4, ww // 4).transpose(1, 2, 0))  # (h, w, 2M) or (h, w, M)
        scales = params[:, :, : self.M]
        means = params[:, :, self.M:] if self.kind == "mean-scale-hyperprior" else np.zeros_like(scales)
        idx = np.searchsorted(self.thresholds, scales.transpose(2, 0, 1).reshape(-1), side="right")
        y = coder.decode(sections[1], idx, self.y_tables)
        if np.abs(y).max(initial=0) > MAX_LATENT_ABS:
            raise BitstreamError("latent value out of range")
        return y.reshape(self.M, hh, ww).transpose(1, 2, 0), means

    # -- integer synthesis (models/intsynth.py run_reference, in numpy)
    def synthesis(self, y: np.ndarray, means: np.ndarray, quality: Any) -> np.ndarray:
        """Integer latent -> uint8 pixels (16h, 16w, 3): the program's arithmetic, with the fused C++
        element-wise passes of ``ncodec.models._intsynth`` where that extension is built."""
        try:
            from ncodec.models import _intsynth as kernels
        except ImportError:  # a build without the extension: the same operations in numpy
            kernels = None
        threads = os.cpu_count() or 1
        p = self.program
        table = np.asarray(p["input_mult"]).astype(np.float32)
        cells = np.asarray(quality, dtype=np.float64)  # the header quality, or (h, w) cell qualities
        rows = np.round((cells - 1.0) * 100)
        if (rows < 0).any() or (rows >= table.shape[0]).any() or (np.abs(rows - (cells - 1.0) * 100) > 1e-6).any():
            raise BitstreamError("no integer-synthesis input multipliers for the stream's qualities")
        mult = table[rows.astype(np.int64)]  # (M,) or (h, w, M)
        latent = (y * 256 + means).astype(np.float32)
        a = np.clip(np.rint(latent * mult), -128, 127).astype(np.float32)
        layers = int(p["layers"])
        for i in range(layers):
            exp = np.ldexp(np.float32(1.0), -np.asarray(p[f"conv{i}.exp"]).astype(np.int32)).astype(np.float32)
            acc = conv_hwc(a, np.asarray(p[f"conv{i}.weight"]).astype(np.float32), 1) \
                + np.asarray(p[f"conv{i}.bias"]).astype(np.float32)
            v = np.ascontiguousarray(acc * exp)  # exact: a power of two per channel
            h, w, c4 = v.shape
            c = c4 // 4
            if i == layers - 1:
                if kernels is None:
                    return np.clip(np.rint(phase_shuffle_hwc(v) * np.float32(255.0)), 0, 255).astype(np.uint8)
                pixels = np.empty((2 * h, 2 * w, c), dtype=np.uint8)
                kernels.pixels_u8(v, pixels, threads)
                return pixels
            sq_mult = np.asarray(p[f"gdn{i}.sq_mult"]).astype(np.float32)
            if kernels is None:
                sq = np.clip(np.rint((v * v) * np.tile(sq_mult, 4)), 0, 255).astype(np.float32)
            else:
                sq8 = np.empty(v.shape, dtype=np.uint8)
                kernels.square_u8(v, sq_mult, sq8, threads)
                sq = sq8.astype(np.float32)
            gexp = np.ldexp(np.float32(1.0), -np.asarray(p[f"gdn{i}.exp"]).astype(np.int32)).astype(np.float32)
            gw = np.asarray(p[f"gdn{i}.weight"]).astype(np.float32).reshape(c, c, 1, 1)
            n = (conv_hwc(sq.reshape(h, 4 * w, c), gw, 0) + np.asarray(p[f"gdn{i}.bias"]).astype(np.float32)) * gexp
            n = np.ascontiguousarray(n.reshape(h, w, c4))
            out_mult = np.asarray(p[f"gdn{i}.out_mult"]).astype(np.float32)
            if kernels is None:
                out = (v * np.sqrt(n)) * np.tile(out_mult, 4)
                a = phase_shuffle_hwc(np.clip(np.rint(out), -128, 127).astype(np.float32))
            else:
                nxt = np.empty((2 * h, 2 * w, c), dtype=np.uint8)
                kernels.gdn_u8(v, n, out_mult, nxt, True, threads)
                a = nxt.astype(np.float32) - np.float32(128)
        raise AssertionError("unreachable")

    def decode(self, header: Header, sections: list[bytes]) -> np.ndarray:
        """Header + sections -> uint8 (H, W, 3) or (H, W), as LearnedImageCodec.decompress(synthesis="integer")."""
        from ncodec.entropy.coders import BACKEND_IDS, get_coder

        if header.weights_sha256 != self.sha256[:16]:
            raise ModelMismatchError(f"bitstream needs weights {header.weights_sha256}…, loaded {self.sha256[:16]}…")
        if header.backend not in BACKEND_IDS:
            raise BitstreamError(f"unknown coder backend id {header.backend}")
        if BACKEND_IDS[header.backend] == "compressai":
            raise MissingDependencyError("this stream was coded with CompressAI's rANS, which needs torch and "
                                         "compressai: install ncodec's full extra")
        if len(header.shape) != 3 or header.shape[0] not in (1, 3):
            raise BitstreamError(f"invalid image shape {header.shape}")
        from ncodec.codecs.imageio import check_image_size
        from ncodec.errors import UnsupportedInputError

        try:
            check_image_size(header.shape[2], header.shape[1])
        except UnsupportedInputError as exc:
            raise BitstreamError(str(exc)) from None
        coder = get_coder(BACKEND_IDS[header.backend])
        channels, h, w = header.shape
        tile = header.metadata.get("tile")
        if not isinstance(tile, int) or isinstance(tile, bool) or tile % DOWNSAMPLE or not 64 <= tile <= 4096:
            raise BitstreamError("invalid tile size in metadata")
        if not 1.0 <= header.quality <= self.levels:
            raise BitstreamError(f"quality {header.quality} outside [1, {self.levels}]")
        tiles = [(top, left, min(tile, h - top), min(tile, w - left)) for top in range(0, h, tile) for left in range(0, w, tile)]
        shapes = [(-(-th // DOWNSAMPLE) * DOWNSAMPLE, -(-tw // DOWNSAMPLE) * DOWNSAMPLE) for _, _, th, tw in tiles]
        maps = None
        flag = header.metadata.get("qmap")
        if flag is not None:  # codecs/qualitymap.py: per-cell qualities in the last section
            from ncodec.codecs.qualitymap import unpack_section

            if flag != 1 or isinstance(flag, bool) or not sections:
                raise BitstreamError("invalid quality-map flag in metadata")
            maps = unpack_section(sections[-1], [(a // 16, b // 16) for a, b in shapes], self.levels)
            sections = sections[:-1]
        if len(sections) != 2 * len(tiles):
            raise BitstreamError(f"expected {2 * len(tiles)} sections, found {len(sections)}")
        result = np.empty((h, w, 3), dtype=np.uint8)
        for i, (top, left, th, tw) in enumerate(tiles):
            y, means = self.latents(sections[2 * i:2 * i + 2], shapes[i], coder)
            quality = header.quality if maps is None else maps[i]
            result[top:top + th, left:left + tw] = self.synthesis(y, means, quality)[:th, :tw]
        if channels == 1:
            return np.round(result.astype(np.float32).mean(axis=2)).astype(np.uint8)
        return result


def lite_decoder_available(header: Header, weights: str | Path | None = None) -> bool:
    """Whether ``lite_decoder_for(header, weights)`` would find weights and an integer synthesis and the
    stream is one this decoder reads (constriction or rans-interleaved)."""
    from ncodec.entropy.coders import BACKEND_IDS
    from ncodec.models.zoo import integer_synthesis_entries

    if BACKEND_IDS.get(header.backend) in (None, "compressai"):
        return False
    if weights is not None:
        path = Path(weights)
        return path.is_file() and path.with_name(path.name[: -len(path.suffix)] + ".intsyn.ncw").is_file()
    return any(e["base_codec"] == header.codec and e["base_sha256"].startswith(header.weights_sha256)
               for e in integer_synthesis_entries())


def lite_decoder_for(header: Header, weights: str | Path | None = None) -> LiteImageDecoder:
    """The torch-free decoder of a stream: its codec's shipped weights (or ``weights``) and their
    integer synthesis (the manifest's, or ``X.intsyn.ncw`` beside a given ``X.ncw``); one-line errors
    when either is missing."""
    from ncodec.fileutil import sha256_file
    from ncodec.models.zoo import WEIGHTS_DIR, find_weights, integer_synthesis_entries

    path = Path(weights) if weights is not None else find_weights(header.codec, header.weights_sha256)
    if not path.is_file():
        raise MissingWeightsError(f"weight file not found: {path}")
    sha = sha256_file(path)
    sibling = path.with_name(path.name[: -len(path.suffix)] + ".intsyn.ncw") if path.suffix else None
    if weights is not None and sibling is not None and sibling.is_file():
        return LiteImageDecoder(path, sibling, sha)
    for entry in integer_synthesis_entries():
        if entry["base_codec"] == header.codec and entry["base_sha256"] == sha:
            return LiteImageDecoder(path, WEIGHTS_DIR / entry["file"], sha)
    raise MissingWeightsError(f"decoding without torch needs an integer synthesis for {header.codec} weights "
                              f"{sha[:16]}…; install torch to decode this stream")
