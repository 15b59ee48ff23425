"""Coder backends: exact round trips (table index and per-symbol CDFs, chunks, escapes) and rate."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ncodec.entropy.coders import BACKENDS, get_coder
from ncodec.entropy.escape import pack_escapes
from ncodec.entropy.gaussian import GaussianConditional, default_scale_table
from ncodec.entropy.mixture import GaussianMixture, phi_table, quantize_params
from ncodec.errors import BitstreamError

GAUSS_TABLES, THRESHOLDS = GaussianConditional.build_tables()
PHI = phi_table()


def ideal_bits(symbols: np.ndarray, idx: np.ndarray, tables) -> float:
    """-log2 p of the integer model, escapes included at their raw cost."""
    lo = tables.offsets[idx]
    hi = lo + tables.lengths[idx] - 1
    esc = (symbols < lo) | (symbols > hi)
    bins = np.where(esc, tables.lengths[idx], symbols - lo)
    p = tables.counts[idx, bins] / float(1 << tables.precision)
    raw = 8 * len(pack_escapes(symbols[esc], lo[esc], hi[esc]))
    return float(-np.log2(p).sum()) + raw


@pytest.mark.parametrize("backend", sorted(BACKENDS))
def test_gaussian_round_trip_with_escapes(backend):
    rng = np.random.default_rng(1)
    idx = rng.integers(0, 64, 20000)
    sym = np.round(rng.normal(0, default_scale_table().numpy()[idx])).astype(np.int64)
    sym[:6] = [10**6, -10**6, 2**40, -(2**40), 5000, -5000]
    coder = get_coder(backend)
    data = coder.encode(sym, idx, GAUSS_TABLES, chunks=4)
    assert np.array_equal(coder.decode(data, idx, GAUSS_TABLES), sym)


@pytest.mark.parametrize("backend", sorted(BACKENDS))
def test_chunks_are_independent(backend):
    rng = np.random.default_rng(2)
    idx = rng.integers(0, 64, 3000)
    sym = rng.integers(-1, 2, 3000)  # inside every table: no escapes
    coder = get_coder(backend)
    data = bytearray(coder.encode(sym, idx, GAUSS_TABLES, chunks=3))
    nchunks = data[0]
    sizes = np.frombuffer(bytes(data[1:1 + 4 * nchunks]), dtype="<u4")
    assert nchunks == coder.outer_chunks(3) and int(sizes.sum()) + 1 + 4 * nchunks == len(data)
    if nchunks == 1:  # rans-interleaved cuts its own independent chunks (tests/test_rans_interleaved.py)
        return
    # corrupt the last chunk only: the first two still decode to the right symbols
    data[-1] ^= 0xFF
    start = 1 + 4 * nchunks
    first = bytes(data[start:start + int(sizes[0])])
    from ncodec.entropy.coders import _chunk_bounds

    a, b = _chunk_bounds(3000, 3)[0]
    main_len = int(np.frombuffer(first[:4], dtype="<u4")[0])
    bins = coder._decode_bins(first[4:4 + main_len], idx[a:b], GAUSS_TABLES, False)
    assert np.array_equal(bins + GAUSS_TABLES.offsets[idx[a:b]], sym[a:b])


@pytest.mark.parametrize("backend", sorted(BACKENDS))
def test_mixture_per_symbol_round_trip(backend):
    torch.manual_seed(0)
    n, k = 4000, 3
    means, scales, logits = torch.randn(n, k) * 6, torch.rand(n, k) * 5 + 0.05, torch.randn(n, k)
    m, s, w = quantize_params(means, scales, logits)
    tables = GaussianMixture.coding_tables(m, s, w, PHI)
    tables.validate()
    comp = torch.randint(0, k, (n,))
    y = torch.round(torch.randn(n) * scales[torch.arange(n), comp] + means[torch.arange(n), comp]).long().numpy()
    y[:3] = [900, -900, 123456]
    coder = get_coder(backend)
    data = coder.encode(y, None, tables, chunks=2)
    assert np.array_equal(coder.decode(data, None, tables), y)
    bits = ideal_bits(y, np.arange(n), tables)
    assert len(data) <= 1.01 * bits / 8 + 64 + 2 * coder.fixed_cost(n)
    # the integer tables are close to the float likelihood (cost of the integer model)
    lik = GaussianMixture().likelihood(torch.tensor(y[3:]).double(), m[3:].double() / 256, s[3:].double() / 256,
                                       torch.log(w[3:].double()))
    assert bits / 8 <= 1.03 * float(-torch.log2(lik).sum()) / 8 + 200


def test_mixture_tables_are_integer_only():
    """Same integer parameters -> identical tables regardless of thread count."""
    m, s, w = quantize_params(torch.randn(500, 4) * 3, torch.rand(500, 4) * 10, torch.randn(500, 4))
    old = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        a = GaussianMixture.coding_tables(m, s, w, PHI)
        torch.set_num_threads(2)
        b = GaussianMixture.coding_tables(m, s, w, PHI)
    finally:
        torch.set_num_threads(old)
    assert np.array_equal(a.counts, b.counts) and np.array_equal(a.offsets, b.offsets)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(n=st.integers(0, 3000), log_scale=st.floats(-6, 14), spread=st.floats(0, 3), chunks=st.integers(1, 3),
       backend=st.sampled_from(sorted(BACKENDS)), seed=st.integers(0, 2**31 - 1))
def test_property_gaussian_round_trip_and_rate(n, log_scale, spread, chunks, backend, seed):
    """Random symbols from random (extreme) scales: exact round trip, size within 1 % + 64 B of ideal."""
    rng = np.random.default_rng(seed)
    scales = np.exp(log_scale + spread * rng.standard_normal(n))
    fixed = np.round(scales * 256).astype(np.int64)
    idx = np.searchsorted(THRESHOLDS.numpy(), fixed, side="right")
    sym = np.round(rng.normal(0, scales)).astype(np.int64)
    coder = get_coder(backend)
    data = coder.encode(sym, idx, GAUSS_TABLES, chunks=chunks)
    assert np.array_equal(coder.decode(data, idx, GAUSS_TABLES), sym)
    assert len(data) <= 1.01 * ideal_bits(sym, idx, GAUSS_TABLES) / 8 + 64 + chunks * coder.fixed_cost(n)


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 800), k=st.integers(1, 4), mscale=st.floats(0, 200), sscale=st.floats(-3, 7),
       backend=st.sampled_from(sorted(BACKENDS)), seed=st.integers(0, 2**31 - 1))
def test_property_mixture_round_trip_and_rate(n, k, mscale, sscale, backend, seed):
    g = torch.Generator().manual_seed(seed)
    means = torch.randn(n, k, generator=g) * mscale
    scales = torch.exp(torch.randn(n, k, generator=g) + sscale)
    m, s, w = quantize_params(means, scales, torch.randn(n, k, generator=g))
    tables = GaussianMixture.coding_tables(m, s, w, PHI)
    y = torch.round(means[:, 0] + torch.randn(n, generator=g) * scales[:, 0]).long().numpy()
    coder = get_coder(backend)
    data = coder.encode(y, None, tables)
    assert np.array_equal(coder.decode(data, None, tables), y)
    assert len(data) <= 1.01 * ideal_bits(y, np.arange(n), tables) / 8 + 64 + coder.fixed_cost(n)


@pytest.mark.parametrize("backend", sorted(BACKENDS))
def test_garbage_streams_raise_bitstream_error(backend):
    rng = np.random.default_rng(3)
    idx = rng.integers(0, 64, 500)
    coder = get_coder(backend)
    for trial in range(200):
        data = rng.integers(0, 256, int(rng.integers(0, 64)), dtype=np.uint8).tobytes()
        try:
            out = coder.decode(data, idx, GAUSS_TABLES)
            assert out.shape == (500,)
        except BitstreamError:
            pass


def test_empty_and_single_symbol():
    for backend in BACKENDS:
        coder = get_coder(backend)
        for sym in (np.zeros(0, dtype=np.int64), np.array([7], dtype=np.int64)):
            idx = np.zeros(sym.size, dtype=np.int64)
            assert np.array_equal(coder.decode(coder.encode(sym, idx, GAUSS_TABLES), idx, GAUSS_TABLES), sym)


def test_scale_table_thresholds_are_monotone():
    t = THRESHOLDS.numpy()
    assert (np.diff(t) > 0).all() and math.isclose(t[0] / 256, 0.11 * (256 / 0.11) ** (0.5 / 63), rel_tol=0.02)
