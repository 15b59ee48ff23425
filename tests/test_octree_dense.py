"""octree-dense: exact round trips of dense surfaces, thread-independent bytes, the integer path equal to
the fake-quantised training path, and corrupt streams ending in NcodecError."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from ncodec.codecs.octree_dense import (FEATURES, DenseOccupancyNet, LevelGrids, binary_tables, coded_rows,
                                        features, morton_levels, training_samples)
from ncodec.codecs.pointio import morton_decode
from ncodec.codecs.pointio import PointCloud, read_mesh, surface_voxels
from ncodec.errors import ModelMismatchError, NcodecError, UnsupportedInputError
from ncodec.models.octree_dense import BIN_FRAC, BINS, DenseOccupancyModel

ROOT = Path(__file__).resolve().parent.parent
PIG = ROOT / "tests" / "assets" / "pig.off"


def _cloud(bits: int) -> PointCloud:
    return PointCloud(surface_voxels(read_mesh(PIG), bits).astype(np.float64))


@pytest.fixture(scope="module")
def small_model() -> DenseOccupancyModel:
    """A small model trained briefly on the pig's 7-bit surface, calibrated and fake-quantised."""
    torch.manual_seed(0)
    vox = surface_voxels(read_mesh(PIG), 7)
    x, y = training_samples(vox, 7, 1.0, np.random.default_rng(0))
    x, y = torch.from_numpy(x).float(), torch.from_numpy(y).float()
    model = DenseOccupancyModel(16, 8)
    opt = torch.optim.Adam(model.parameters(), 1e-2)
    for step in range(150):
        if step == 100:
            model.calibrate(x)
        loss = model.bits(x, y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return model


@pytest.fixture(scope="module")
def small_weights(small_model, tmp_path_factory) -> Path:
    """The small model exported by the recipe's own export step."""
    sys.path.insert(0, str(ROOT / "scripts"))
    from train_octree_dense import export

    folder = tmp_path_factory.mktemp("octree-dense")
    torch.save({"model": small_model.state_dict(), "quantised": True, "config": small_model.config(), "step": 150},
               folder / "checkpoint.pt")
    export(folder / "checkpoint.pt", folder / "dense-small.ncw")
    return folder / "dense-small.ncw"


def test_integer_path_picks_the_bins_of_the_fake_quantised_model(small_model, small_weights):
    net = DenseOccupancyNet.from_file(small_weights)
    nodes, symbols = morton_levels(surface_voxels(read_mesh(PIG), 6), 6)
    checked = 0
    for level in (4, 6):
        grids = LevelGrids(morton_decode(nodes[level - 1]), level)
        grids.children[grids.index] = symbols[level - 1]
        sums = net.parent_part(grids)
        for g in range(8):
            rows = np.arange(grids.index.size)[coded_rows(grids, g)]
            bins = net.bins_for(grids, sums, g, 6 - level, rows)
            with torch.no_grad():
                logit = small_model(torch.from_numpy(features(grids, g, 6 - level, rows)).float())
            expected = torch.round(logit * 2 ** BIN_FRAC - 0.5).long() + BINS // 2
            assert np.array_equal(bins, expected.numpy()), (level, g)
            checked += rows.size
    assert checked > 1000


@pytest.mark.parametrize("bits", [5, 8])
def test_round_trip_exact_and_bytes_independent_of_threads(small_weights, bits):
    from ncodec.codecs.pointcloud import OctreeDenseCodec

    codec = OctreeDenseCodec(str(small_weights))
    cloud = _cloud(bits)
    old = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = codec.compress(cloud, quality=bits, grid="identity")
        torch.set_num_threads(2)
        two = codec.compress(cloud, quality=bits, grid="identity")
        decoded = codec.decompress(one.header, one.sections)
    finally:
        torch.set_num_threads(old)
    assert one.sections == two.sections
    assert np.array_equal(np.unique(decoded.coords, axis=0), np.unique(cloud.points.astype(np.int64), axis=0))


def test_stream_size_is_close_to_the_models_code_length(small_model, small_weights):
    """Every coded child is a training sample (keep=1): the bitstream is the model's cross-entropy
    plus the coders' small per-section cost."""
    from ncodec.codecs.pointcloud import OctreeDenseCodec

    vox = surface_voxels(read_mesh(PIG), 8)
    x, y = training_samples(vox, 8, 1.0, np.random.default_rng(0))
    with torch.no_grad():
        ideal = small_model.bits(torch.from_numpy(x).float(), torch.from_numpy(y).float()).item() * len(y) / 8
    enc = OctreeDenseCodec(str(small_weights)).compress(PointCloud(vox.astype(np.float64)), quality=8, grid="identity")
    payload = sum(len(s) for s in enc.sections[1:])
    assert ideal < payload < ideal * 1.01 + 16


def test_bad_input_and_weights_are_refused(small_weights, tmp_path):
    from ncodec.codecs.pointcloud import OctreeDenseCodec

    codec = OctreeDenseCodec(str(small_weights))
    with pytest.raises(UnsupportedInputError):
        codec.compress(PointCloud(np.array([[0.0, 0.0, 0.0], [4095.0, 1.0, 2.0]])), quality=12, grid="identity")
    (tmp_path / "bad.ncw").write_bytes(b"not a model")
    with pytest.raises(ModelMismatchError):
        OctreeDenseCodec(str(tmp_path / "bad.ncw"))
    doc = torch.load(small_weights, weights_only=True)
    doc["integers"]["w2"] = doc["integers"]["w2"].to(torch.int32) * 4096  # breaks the exact-sum bound
    torch.save(doc, tmp_path / "big.ncw")
    with pytest.raises(ModelMismatchError):
        OctreeDenseCodec(str(tmp_path / "big.ncw"))
    enc = codec.compress(_cloud(5), quality=5, grid="identity")
    other = tmp_path / "other.ncw"
    doc = torch.load(small_weights, weights_only=True)
    doc["integers"]["b3"] = doc["integers"]["b3"] + 1
    torch.save(doc, other)
    with pytest.raises(ModelMismatchError):
        OctreeDenseCodec(str(other)).decompress(enc.header, enc.sections)


def test_binary_tables_are_valid_and_monotone():
    counts = binary_tables(BINS, BIN_FRAC)
    assert counts.shape == (BINS, 3) and (counts >= 1).all() and (counts.sum(axis=1) == 1 << 16).all()
    assert (np.diff(counts[:, 1]) >= 0).all() and counts[0, 1] < 100 and counts[-1, 0] < 100
    assert FEATURES == 261


def test_fuzzed_streams_end_in_ncodec_errors(small_weights):
    sys.path.insert(0, str(ROOT / "tests"))
    from fuzzlib import run_campaign

    from ncodec import api
    from ncodec.codecs import container
    from ncodec.codecs.pointcloud import OctreeDenseCodec

    codec = OctreeDenseCodec(str(small_weights))
    seeds = []
    for bits in (4, 6):
        enc = codec.compress(_cloud(bits), quality=bits, grid="identity")
        seeds.append(container.pack(enc.header, enc.sections))
    stats = run_campaign(lambda data: api.decode(data, weights=small_weights), seeds, 500, seed=3)
    assert stats["failures"] == [] and stats["errors"] > 250


@pytest.mark.parametrize("backend", ["constriction", "compressai", "rans-interleaved"])
def test_encode_parts_round_trip_on_every_backend(backend):
    """Coder.encode_parts / part_decoder: parts decode in order, damage ends in BitstreamError."""
    from ncodec.entropy.coders import get_coder
    from ncodec.entropy.tables import TableSet
    from ncodec.errors import BitstreamError

    counts = binary_tables(BINS, BIN_FRAC)
    tables = TableSet(counts, np.full(BINS, 2, dtype=np.int64), np.zeros(BINS, dtype=np.int64))
    rng = np.random.default_rng(4)
    parts = []
    for n in (0, 1, 500, 3000):
        idx = rng.integers(0, BINS, n)
        p1 = counts[idx, 1] / 65536.0
        parts.append(((rng.random(n) < p1).astype(np.int64), idx))
    coder = get_coder(backend)
    data = coder.encode_parts(parts, tables)
    reader = coder.part_decoder(data, tables)
    for symbols, idx in parts:
        assert np.array_equal(reader.next(idx), symbols)
    reader.finish()
    with pytest.raises(BitstreamError):
        reader = coder.part_decoder(data[: len(data) // 2] + b"\0" * 3, tables)
        for _, idx in parts:
            reader.next(idx)
        reader.finish()
