"""The interleaved rANS CUDA kernels: built on demand with nvcc, called through ctypes on torch tensors.

``load_or_none("cuda")`` returns a ``CudaRans`` when a CUDA device and nvcc are present, else None (the
caller then uses the C++ CPU coder, which writes the same bytes). The shared library is cached under
``$NCODEC_CACHE`` (default ``~/.cache/ncodec``), keyed by the source's hash and the device architecture.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import shutil
import struct
import subprocess
import tempfile
import warnings
from pathlib import Path

import numpy as np

from ncodec.errors import BitstreamError

SOURCE = Path(__file__).resolve().parent / "csrc" / "rans_interleaved.cu"


def nvcc_path() -> str | None:
    """nvcc from PATH, else from $CUDA_HOME/bin."""
    found = shutil.which("nvcc")
    if found:
        return found
    home = os.environ.get("CUDA_HOME") or os.environ.get("CUDA_PATH")
    candidate = Path(home, "bin", "nvcc") if home else None
    return str(candidate) if candidate and candidate.exists() else None


def compile_command(nvcc: str, arch: str | None, output: Path, shared: bool = True) -> list[str]:
    """The nvcc command that builds the kernels (``arch`` like ``sm_90``; None: nvcc's default)."""
    cmd = [nvcc, "-O3", "-std=c++17", "-Xcompiler", "-fPIC"]
    if arch:
        cmd.append(f"-arch={arch}")
    cmd += ["-shared" if shared else "-c", "-o", str(output), str(SOURCE)]
    return cmd


def build_library(arch: str, cache_dir: Path | None = None) -> Path:
    """Compile the kernels for ``arch`` unless a cached build of this exact source exists."""
    nvcc = nvcc_path()
    if nvcc is None:
        raise RuntimeError("nvcc was not found (PATH or $CUDA_HOME/bin)")
    digest = hashlib.sha256(SOURCE.read_bytes()).hexdigest()[:16]
    cache_dir = cache_dir or Path(os.environ.get("NCODEC_CACHE", Path.home() / ".cache" / "ncodec")) / "cuda"
    cache_dir.mkdir(parents=True, exist_ok=True)
    target = cache_dir / f"rans_interleaved-{digest}-{arch}.so"
    if not target.exists():
        with tempfile.TemporaryDirectory(dir=cache_dir) as tmp:
            built = Path(tmp) / target.name
            proc = subprocess.run(compile_command(nvcc, arch, built), capture_output=True, text=True)
            if proc.returncode != 0:
                raise RuntimeError(f"nvcc failed: {proc.stderr.strip()[-2000:]}")
            os.replace(built, target)
    return target


class CudaRans:
    """Encode and decode the rans-interleaved format with the CUDA kernels (same bytes as the CPU coder)."""

    def __init__(self, library: Path, device: str = "cuda") -> None:
        import torch

        self.torch = torch
        self.device = torch.device(device)
        lib = ctypes.CDLL(str(library))
        p, i64, i32 = ctypes.c_void_p, ctypes.c_int64, ctypes.c_int
        lib.ncodec_rans_encode.argtypes = [p, p, i64, p, i32, i32, i32, i64, p, p, p, p]
        lib.ncodec_rans_compact.argtypes = [p, p, p, i64, i64, p, p]
        lib.ncodec_rans_decode.argtypes = [p, p, p, p, i64, p, i32, i32, i32, i64, p, p, p]
        for fn in (lib.ncodec_rans_encode, lib.ncodec_rans_compact, lib.ncodec_rans_decode):
            fn.restype = ctypes.c_int
        self.lib = lib

    def _stream(self) -> int:
        return self.torch.cuda.current_stream(self.device).cuda_stream

    def _check(self, code: int, what: str) -> None:
        if code != 0:
            raise RuntimeError(f"CUDA error {code} in {what}")

    def tensor(self, array: np.ndarray, dtype) -> "torch.Tensor":  # noqa: F821
        """A device copy of a host array, converted on the host (torch lacks most uint32/uint16 casts)."""
        host = {self.torch.int32: np.int32, self.torch.int16: np.int16}[dtype]
        return self.torch.from_numpy(np.ascontiguousarray(array).astype(host)).to(self.device)

    def encode_device(self, bins, idx, cdf, lanes: int, chunk_symbols: int):
        """Device tensors in (int32 bins and indexes, int32 cdf), device tensors out: (words, counts)."""
        torch = self.torch
        n = bins.numel()
        chunks = -(-n // chunk_symbols)
        cap = 3 * lanes + chunk_symbols
        scratch = torch.empty(chunks * cap, dtype=torch.int16, device=self.device)
        counts = torch.empty(chunks, dtype=torch.int32, device=self.device)
        errors = torch.zeros(chunks, dtype=torch.int32, device=self.device)
        rows, width = cdf.shape
        self._check(self.lib.ncodec_rans_encode(bins.data_ptr(), idx.data_ptr(), n, cdf.data_ptr(), rows, width,
                                                lanes, chunk_symbols, scratch.data_ptr(), counts.data_ptr(),
                                                errors.data_ptr(), self._stream()), "encode")
        if chunks and bool(errors.any()):
            raise ValueError("a symbol has zero probability in its table, or a table index is out of range")
        offsets = torch.zeros(chunks + 1, dtype=torch.int64, device=self.device)
        torch.cumsum(counts.long(), 0, out=offsets[1:])
        words = torch.empty(int(offsets[-1]) if chunks else 0, dtype=torch.int16, device=self.device)
        self._check(self.lib.ncodec_rans_compact(scratch.data_ptr(), counts.data_ptr(), offsets.data_ptr(), chunks,
                                                 cap, words.data_ptr(), self._stream()), "compact")
        return words, counts

    def decode_device(self, words, counts, idx, cdf, lanes: int, chunk_symbols: int):
        """Device tensors in (int16 words, int32 counts, int32 indexes and cdf); int32 bins out."""
        torch = self.torch
        n = idx.numel()
        chunks = counts.numel()
        offsets = torch.zeros(chunks + 1, dtype=torch.int64, device=self.device)
        torch.cumsum(counts.long(), 0, out=offsets[1:])
        out = torch.empty(n, dtype=torch.int32, device=self.device)
        errors = torch.zeros(max(chunks, 1), dtype=torch.int32, device=self.device)
        rows, width = cdf.shape
        self._check(self.lib.ncodec_rans_decode(words.data_ptr(), offsets.data_ptr(), counts.data_ptr(),
                                                idx.data_ptr(), n, cdf.data_ptr(), rows, width, lanes, chunk_symbols,
                                                out.data_ptr(), errors.data_ptr(), self._stream()), "decode")
        if bool(errors.any()):
            raise BitstreamError("interleaved rANS stream is corrupt (rejected by the CUDA decoder)")
        return out

    def encode(self, bins: np.ndarray, idx: np.ndarray, cdf: np.ndarray, lanes: int, chunk_symbols: int) -> bytes:
        """Host arrays in, the stream's bytes out (identical to the CPU coder's)."""
        if lanes < 32 or lanes % 32:  # the kernels run whole warps (the coder sends smaller K to the C++ coder)
            raise ValueError("the CUDA encoder needs a multiple of 32 lanes")
        torch = self.torch
        if int(bins.size) >= 2**31:
            raise ValueError("the CUDA coder takes fewer than 2**31 symbols per call")
        words, counts = self.encode_device(self.tensor(bins, torch.int32), self.tensor(idx, torch.int32),
                                           self.tensor(cdf, torch.int32), lanes, chunk_symbols)
        header = struct.pack("<HI", lanes, chunk_symbols)
        return header + counts.cpu().numpy().astype("<u4").tobytes() + words.cpu().numpy().astype("<i2").tobytes()

    def decode(self, data: bytes, idx: np.ndarray, cdf: np.ndarray) -> np.ndarray:
        """The stream's bytes in, int64 bins out; the header is validated on the host."""
        torch = self.torch
        n = int(idx.size)
        if len(data) < 6:
            raise BitstreamError("interleaved rANS header truncated")
        lanes, chunk_symbols = struct.unpack_from("<HI", data, 0)
        if lanes < 1 or lanes > 1024 or (lanes >= 32 and lanes % 32) or chunk_symbols < lanes \
                or chunk_symbols % lanes:
            raise BitstreamError("interleaved rANS header is invalid")
        if lanes < 32:  # a small tensor's stream: the kernels run whole warps, so the C++ coder decodes it
            from ncodec.entropy import _rans

            try:
                return _rans.decode(data, idx, cdf, 1)
            except RuntimeError as exc:
                raise BitstreamError(str(exc)) from None
        chunks = -(-n // chunk_symbols)
        if len(data) < 6 + 4 * chunks:
            raise BitstreamError("interleaved rANS chunk table truncated")
        counts = np.frombuffer(data, dtype="<u4", count=chunks, offset=6)
        if 6 + 4 * chunks + 2 * int(counts.astype(np.int64).sum()) != len(data):
            raise BitstreamError("interleaved rANS chunk sizes do not match the payload")
        words = np.frombuffer(data, dtype="<i2", offset=6 + 4 * chunks)
        out = self.decode_device(self.tensor(words, torch.int16), self.tensor(counts.astype(np.int32), torch.int32),
                                 self.tensor(idx, torch.int32), self.tensor(cdf, torch.int32), lanes, chunk_symbols)
        return out.cpu().numpy().astype(np.int64)


def load_or_none(device: str = "cuda") -> CudaRans | None:
    """The CUDA coder on ``device``, or None (with a warning saying why) when it cannot run here."""
    try:
        import torch

        if not torch.cuda.is_available():
            return None
        major, minor = torch.cuda.get_device_capability(torch.device(device))
        return CudaRans(build_library(f"sm_{major}{minor}"), device)
    except Exception as exc:  # no driver, no nvcc, compile error: the CPU coder writes the same bytes
        warnings.warn(f"CUDA rANS kernels unavailable, using the CPU coder: {exc}", RuntimeWarning, stacklevel=2)
        return None
