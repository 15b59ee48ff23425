"""The interleaved rANS CUDA kernels on a real GPU: same bytes as the CPU coder, cross decoding.

Skipped without a CUDA device. Run on a GPU machine with:
    .venv/bin/python -m pytest tests/test_rans_cuda.py -v
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ncodec.entropy import _rans, rans_cuda
from ncodec.entropy.coders import RansInterleavedCoder
from ncodec.entropy.gaussian import GaussianConditional
from ncodec.errors import BitstreamError
from rans_vectors import cases, digest, expected_digests, random_cdf, random_symbols

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


@pytest.fixture(scope="module")
def gpu():
    coder = rans_cuda.load_or_none("cuda")
    assert coder is not None, "a CUDA device is present but the kernels did not build (see the warning)"
    return coder


@pytest.mark.parametrize("case", cases(), ids=lambda c: c["name"])
def test_shared_vectors_on_gpu(gpu, case):
    data = gpu.encode(case["bins"], case["idx"], case["cdf"], case["lanes"], case["chunk_symbols"])
    assert digest(data) == expected_digests()[case["name"]]
    assert np.array_equal(gpu.decode(data, case["idx"], case["cdf"]), case["bins"])


@pytest.mark.parametrize("seed", range(6))
def test_gpu_and_cpu_streams_cross_decode(gpu, seed):
    rng = np.random.default_rng(100 + seed)
    cdf = random_cdf(rng, int(rng.integers(1, 200)), int(rng.integers(2, 80)))
    bins, idx = random_symbols(rng, cdf, int(rng.integers(1, 300_000)))
    lanes = int(rng.choice([32, 64, 256]))
    chunk = lanes * int(rng.integers(1, 300))
    on_gpu = gpu.encode(bins, idx, cdf, lanes, chunk)
    on_cpu = _rans.encode(bins, idx, cdf, lanes, chunk, 2)
    assert on_gpu == on_cpu
    assert np.array_equal(_rans.decode(on_gpu, idx, cdf, 2), bins)  # GPU-encoded, CPU-decoded
    assert np.array_equal(gpu.decode(on_cpu, idx, cdf), bins)  # CPU-encoded, GPU-decoded


def test_backend_device_cuda_round_trip_with_escapes():
    tables, _ = GaussianConditional.build_tables()
    rng = np.random.default_rng(3)
    idx = rng.integers(0, tables.lengths.size, 100_000)
    sym = np.round(rng.normal(0, 4, idx.size)).astype(np.int64)
    sym[:4] = [10**6, -(10**6), 2**40, -5000]
    gpu, cpu = RansInterleavedCoder(device="cuda"), RansInterleavedCoder()
    assert gpu._gpu is not None
    data = gpu.encode(sym, idx, tables)
    assert data == cpu.encode(sym, idx, tables)
    assert np.array_equal(cpu.decode(data, idx, tables), sym)
    assert np.array_equal(gpu.decode(data, idx, tables), sym)


def test_corrupt_streams_are_rejected_on_gpu(gpu):
    rng = np.random.default_rng(9)
    cdf = random_cdf(rng, 8, 30)
    bins, idx = random_symbols(rng, cdf, 5000)
    good = gpu.encode(bins, idx, cdf, 32, 1024)
    for _ in range(100):
        bad = bytearray(good)
        bad[int(rng.integers(6, len(bad)))] ^= int(rng.integers(1, 256))
        try:
            cpu_out = _rans.decode(bytes(bad), idx, cdf, 1)
        except RuntimeError:
            with pytest.raises(BitstreamError):
                gpu.decode(bytes(bad), idx, cdf)
            continue
        assert np.array_equal(gpu.decode(bytes(bad), idx, cdf), cpu_out)
