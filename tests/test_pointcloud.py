"""Point-cloud codecs: exact voxel round trips, determinism, Draco baseline, metrics, bad input."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from conftest import ASSETS
from ncodec import api
from ncodec.cli import main
from ncodec.codecs import container
from ncodec.codecs.octree import expand, occupancy_levels
from ncodec.codecs.pointcloud import DracoCodec, OctreeAdaptiveCodec
from ncodec.codecs.pointio import morton_decode, morton_encode, read_points, voxelize, write_ply
from ncodec.errors import NcodecError, UnsupportedInputError, UsageError
from ncodec.evaluation.metrics3d import geometry_metrics

pytest.importorskip("open3d", reason="3D tests need open3d (pip install open3d; Debian libusb-1.0-0)")
PIG = ASSETS / "pig.off"


def _voxel_set(coords: np.ndarray) -> set[tuple[int, int, int]]:
    return {tuple(r) for r in coords.tolist()}


def test_morton_round_trip_and_order():
    rng = np.random.default_rng(0)
    coords = rng.integers(0, 1 << 20, (5000, 3))
    assert np.array_equal(morton_decode(morton_encode(coords)), coords)
    assert morton_encode(np.array([[0, 0, 1], [0, 1, 0], [1, 0, 0]])).tolist() == [1, 2, 4]


def test_occupancy_levels_rebuild_the_leaves():
    rng = np.random.default_rng(1)
    keys = np.unique(morton_encode(rng.integers(0, 64, (3000, 3))))
    nodes, symbols = occupancy_levels(keys, 6)
    current = np.zeros(1, dtype=np.int64)
    for level in range(6):
        assert np.array_equal(current, nodes[level])
        current = expand(current, symbols[level])
    assert np.array_equal(current, keys)


@pytest.mark.parametrize("bits", [4, 8, 11])
@pytest.mark.parametrize("codec_cls", [OctreeAdaptiveCodec, DracoCodec])
def test_decoded_voxels_equal_voxelised_input(codec_cls, bits):
    cloud = read_points(PIG)
    codec = codec_cls()
    enc = codec.compress(cloud, quality=bits)
    header, sections = container.unpack(container.pack(enc.header, enc.sections))
    out = codec.decompress(header, sections)
    expected = voxelize(cloud, bits)
    assert _voxel_set(out.coords) == _voxel_set(expected.coords) == _voxel_set(enc.voxels.coords)
    assert np.allclose(out.positions().min(axis=0), cloud.points.min(axis=0), atol=expected.side / (1 << bits))


def test_octree_bytes_do_not_depend_on_threads():
    cloud = read_points(PIG)
    old = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = OctreeAdaptiveCodec().compress(cloud, quality=10).sections
        torch.set_num_threads(2)
        two = OctreeAdaptiveCodec().compress(cloud, quality=10).sections
    finally:
        torch.set_num_threads(old)
    assert one == two


def test_octree_backends_agree_on_geometry():
    cloud = read_points(PIG)
    sets = []
    for backend in ("constriction", "rans-interleaved", "compressai"):
        codec = OctreeAdaptiveCodec()
        enc = codec.compress(cloud, quality=9, backend=backend)
        sets.append(_voxel_set(codec.decompress(enc.header, enc.sections).coords))
    assert sets[0] == sets[1] == sets[2]


def test_corrupt_and_truncated_streams_end_in_ncodec_error(tmp_path):
    data = api.encode(str(PIG), tmp_path / "p.ncd", quality=9)
    rng = np.random.default_rng(3)
    header, sections = container.unpack(data)
    codec = OctreeAdaptiveCodec()
    for trial in range(60):
        broken = [bytearray(s) for s in sections]
        k = int(rng.integers(0, len(broken)))
        if trial % 3 == 0:
            broken[k] = broken[k][: int(rng.integers(0, len(broken[k]) + 1))]
        elif len(broken[k]):
            broken[k][int(rng.integers(0, len(broken[k])))] ^= int(rng.integers(1, 256))
        if trial % 7 == 0:
            broken = broken[:-1]
        try:
            out = codec.decompress(header, [bytes(b) for b in broken])
            assert out.coords.shape[1] == 3
        except NcodecError:
            pass
    for cut in (10, len(data) // 2, len(data) - 1):  # truncated files fail in the container's checks
        with pytest.raises(NcodecError):
            api.decode(data[:cut])


def test_cli_encode_decode_ply(tmp_path, capsys):
    ncd, ply = tmp_path / "pig.ncd", tmp_path / "pig.ply"
    assert main(["encode", str(PIG), str(ncd), "--quality", "9"]) == 0
    assert "bits/point" in capsys.readouterr().out
    assert main(["decode", str(ncd), str(ply)]) == 0
    back = read_points(ply)
    assert _voxel_set(voxelize(back, 9, *_cube(read_points(PIG))).coords) == _voxel_set(
        voxelize(read_points(PIG), 9).coords)
    assert main(["decode", str(ncd), str(tmp_path / "pig.png")]) == UsageError.exit_code  # refused before decoding
    assert not (tmp_path / "pig.png").exists()


def _cube(cloud):
    from ncodec.codecs.pointio import bounding_cube

    return bounding_cube(cloud.points)


def test_bad_point_inputs(tmp_path):
    empty = tmp_path / "e.ply"
    empty.write_bytes(b"")
    text = tmp_path / "t.off"
    text.write_text("this is not a mesh\n")
    for path in (tmp_path / "missing.ply", empty, text):
        with pytest.raises(UnsupportedInputError):
            api.encode(str(path), tmp_path / "x.ncd")
        assert not (tmp_path / "x.ncd").exists()
    with pytest.raises(UsageError):
        api.encode(str(PIG), tmp_path / "y.ncd", quality=9.5)


def test_geometry_metrics():
    rng = np.random.default_rng(4)
    pts = rng.random((2000, 3))
    same = geometry_metrics(pts, pts.copy(), peak=1.0)
    assert same["d1_psnr"] == np.inf and same["chamfer"] == 0
    noisy = geometry_metrics(pts, pts + rng.normal(0, 1e-3, pts.shape), peak=1.0)
    # D1 MSE of Gaussian noise (sigma 1e-3, 3 axes) is about 3e-6 (nearest neighbours can only shorten it)
    assert 1e-6 < noisy["d1_mse"] <= 3.5e-6 and 60 < noisy["d1_psnr"] < 66
    assert noisy["d2_psnr"] > noisy["d1_psnr"]  # point-to-plane ignores the tangential part


def test_write_ply_round_trip(tmp_path):
    pts = np.random.default_rng(5).random((100, 3))
    cols = np.random.default_rng(6).integers(0, 256, (100, 3)).astype(np.uint8)
    write_ply(tmp_path / "c.ply", pts, cols)
    back = read_points(tmp_path / "c.ply")
    assert np.allclose(back.points, pts) and np.array_equal(back.colors, cols)


def test_every_input_type_reads_the_same_points(tmp_path):
    """off (the asset), obj, stl, ply mesh and xyz/pcd clouds written by open3d give the same vertex set."""
    import open3d as o3d

    mesh = o3d.io.read_triangle_mesh(str(PIG))
    reference = voxelize(read_points(PIG), 12).coords
    cube = _cube(read_points(PIG))
    cloud = o3d.geometry.PointCloud(mesh.vertices)
    for suffix in (".obj", ".stl", ".ply"):
        if suffix == ".stl":
            mesh.compute_triangle_normals()
        assert o3d.io.write_triangle_mesh(str(tmp_path / f"m{suffix}"), mesh)
    for suffix in (".xyz", ".pcd"):
        assert o3d.io.write_point_cloud(str(tmp_path / f"c{suffix}"), cloud)
    for path in sorted(tmp_path.iterdir()):
        got = voxelize(read_points(path), 12, *cube).coords
        assert _voxel_set(got) == _voxel_set(reference), path.name


@pytest.fixture(scope="module", params=[1, 2], ids=["features-1", "features-2"])
def small_octree_weights(tmp_path_factory, request):
    """Small seeded octree-pc models (both feature sets) exported to the integer weight format (no
    shipped weights needed)."""
    import sys
    from pathlib import Path

    from ncodec.models.octree import OctreeOccupancyModel

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))
    from train_octree import export

    from ncodec.codecs.octree_features import FEATURES, FEATURES_V2

    torch.manual_seed(0)
    model = OctreeOccupancyModel(features=FEATURES if request.param == 1 else FEATURES_V2, hidden=16)
    folder = tmp_path_factory.mktemp("octree")
    torch.save({"config": model.config(), "state": model.state_dict(), "step": 0, "qat": False}, folder / "model.pt")
    export(folder / "model.pt", folder / "octree-small.ncw")
    return folder / "octree-small.ncw"


@pytest.mark.parametrize("bits", [5, 9])
def test_learned_octree_round_trip_and_determinism(small_octree_weights, bits):
    from ncodec.codecs.pointcloud import OctreeLearnedCodec

    cloud = read_points(PIG)
    codec = OctreeLearnedCodec(str(small_octree_weights))
    old = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = codec.compress(cloud, quality=bits)
        torch.set_num_threads(2)
        two = codec.compress(cloud, quality=bits)
        decoded = codec.decompress(one.header, one.sections)
    finally:
        torch.set_num_threads(old)
    assert one.sections == two.sections
    assert _voxel_set(decoded.coords) == _voxel_set(voxelize(cloud, bits).coords)


def test_learned_octree_refuses_corrupt_streams_and_wrong_weights(small_octree_weights, tmp_path):
    from ncodec.codecs.pointcloud import OctreeLearnedCodec
    from ncodec.errors import ModelMismatchError

    codec = OctreeLearnedCodec(str(small_octree_weights))
    enc = codec.compress(read_points(PIG), quality=7)
    rng = np.random.default_rng(8)
    for trial in range(30):
        broken = [bytearray(s) for s in enc.sections]
        k = int(rng.integers(1, len(broken)))
        if len(broken[k]) and trial % 2:
            broken[k][int(rng.integers(0, len(broken[k])))] ^= 0x5A
        else:
            broken[k] = broken[k][: len(broken[k]) // 2]
        try:
            codec.decompress(enc.header, [bytes(b) for b in broken])
        except NcodecError:
            pass
    other = tmp_path / "other.ncw"
    doc = torch.load(small_octree_weights, weights_only=True)
    doc["fixed"] = {k: v + 1 if k.endswith("bias") else v for k, v in doc["fixed"].items()}
    torch.save(doc, other)
    with pytest.raises(ModelMismatchError):
        OctreeLearnedCodec(str(other)).decompress(enc.header, enc.sections)
    (tmp_path / "bad.ncw").write_bytes(b"not a model")
    with pytest.raises(ModelMismatchError):
        OctreeLearnedCodec(str(tmp_path / "bad.ncw"))


def test_integer_counts_are_a_valid_distribution():
    from ncodec.codecs.octree_learned import exp2_table, integer_counts

    rng = np.random.default_rng(9)
    logits = rng.integers(-(1 << 20), 1 << 20, (500, 256))
    logits[:50] = 0  # flat rows
    counts = integer_counts(logits, exp2_table())
    assert counts.shape == (500, 257) and (counts >= 1).all() and (counts.sum(axis=1) == 65536).all()
    top = np.argmax(logits[50:], axis=1)
    assert (np.argmax(counts[50:, :256], axis=1) == top).all()
    from ncodec.entropy import _rans

    assert np.array_equal(_rans.counts_from_log2(logits, exp2_table(), 2), counts)  # the codec's C++ path


def test_training_samples_match_what_the_codec_sees(small_octree_weights):
    """scripts/octree_data.py (training) and the codec must build identical features, node for node."""
    import sys
    from pathlib import Path

    from ncodec.codecs.octree_learned import OctreeContextModel, encode_geometry_learned
    from ncodec.entropy.coders import get_coder

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))
    from octree_data import octree_samples

    model = OctreeContextModel.from_file(small_octree_weights)
    seen = []
    original = model.tables
    model.tables = lambda feats: (seen.append(feats), original(feats))[1]
    vox = voxelize(read_points(PIG), 7)
    encode_geometry_learned(vox, get_coder("constriction"), model)
    feats, _ = octree_samples(np.unique(morton_encode(vox.coords)), 7, model.feature_set)
    # the codec sees each level's first-pass nodes, then its second-pass nodes; training keeps level order
    assert sorted(map(tuple, np.concatenate(seen).tolist())) == sorted(map(tuple, feats.tolist()))


def test_node_major_logits_equal_the_fixed_point_net(small_octree_weights):
    """The codec's node-major integer MLP is FixedPointNet.run_fixed, value for value."""
    from ncodec.codecs.octree_learned import OctreeContextModel

    model = OctreeContextModel.from_file(small_octree_weights)
    width = model.net.net[0].in_channels
    feats = np.random.default_rng(12).integers(0, 40, (3000, width))
    feats[:5] = 5000  # beyond the input clamp
    reference = model.net.run_fixed(model.params, torch.from_numpy(feats).t()[None, :, :, None])[0, :, :, 0].t()
    assert np.array_equal(model.logits(feats), reference.numpy())


def _coloured_pig(tmp_path):
    cloud = read_points(PIG)
    span = cloud.points.max(axis=0) - cloud.points.min(axis=0)
    colors = np.clip((cloud.points - cloud.points.min(axis=0)) / span * 255, 0, 255).astype(np.uint8)
    path = tmp_path / "pig-rgb.ply"
    write_ply(path, cloud.points, colors)
    return path


def test_raht_is_orthonormal_and_invertible():
    from ncodec.codecs.attributes import raht_forward, raht_inverse

    rng = np.random.default_rng(13)
    keys = np.unique(rng.integers(0, 1 << 15, 2000))
    values = rng.random((keys.size, 3)) * 255
    coefficients = raht_forward(keys, values, 5)
    assert sum(c.shape[0] for c in coefficients) == keys.size  # one coefficient per voxel and channel
    assert np.isclose(sum(float((c ** 2).sum()) for c in coefficients), float((values ** 2).sum()))  # energy
    assert np.allclose(raht_inverse(keys, coefficients, 5), values)


@pytest.mark.parametrize("name", ["octree-adaptive", "draco"])
def test_colours_round_trip(tmp_path, name):
    from ncodec.codecs.registry import load_codec

    cloud = read_points(_coloured_pig(tmp_path))
    codec = load_codec(name)
    expected = voxelize(cloud, 9)
    order = np.argsort(morton_encode(expected.coords))
    previous = 0.0
    for step in (32, 8, 2):
        enc = codec.compress(cloud, quality=9, color_step=step)
        header, sections = container.unpack(container.pack(enc.header, enc.sections))
        out = codec.decompress(header, sections)
        got = out.colors[np.argsort(morton_encode(out.coords))]
        mse = np.mean((got.astype(float) - expected.colors[order].astype(float)) ** 2)
        quality = 10 * np.log10(255 ** 2 / max(mse, 1e-9))
        assert quality > previous and quality > 20
        previous = quality
    plain = codec.compress(cloud, quality=9, color_step=0)
    assert codec.decompress(plain.header, plain.sections).colors is None


def test_corrupt_colour_section_ends_in_ncodec_error(tmp_path):
    from ncodec.codecs.pointcloud import OctreeAdaptiveCodec

    codec = OctreeAdaptiveCodec()
    enc = codec.compress(read_points(_coloured_pig(tmp_path)), quality=8, color_step=4)
    rng = np.random.default_rng(14)
    for trial in range(30):
        broken = list(enc.sections)
        colour = bytearray(broken[-1])
        if trial % 2:
            colour = colour[: int(rng.integers(0, len(colour)))]
        else:
            colour[int(rng.integers(0, len(colour)))] ^= 0xFF
        broken[-1] = bytes(colour)
        try:
            out = codec.decompress(enc.header, broken)
            assert out.colors.shape == (len(out.coords), 3)
        except NcodecError:
            pass


def test_cli_colour_ply_round_trip(tmp_path):
    src = _coloured_pig(tmp_path)
    ncd, ply = tmp_path / "c.ncd", tmp_path / "c.ply"
    assert main(["encode", str(src), str(ncd), "--codec", "octree-adaptive", "--quality", "9", "--color-step", "2"]) == 0
    assert main(["decode", str(ncd), str(ply)]) == 0
    assert read_points(ply).colors is not None


def test_draco_mesh_round_trip(tmp_path):
    from ncodec.codecs.pointio import read_mesh

    ncd, out = tmp_path / "m.ncd", tmp_path / "m.obj"
    assert main(["encode", str(PIG), str(ncd), "--codec", "draco-mesh", "--quality", "12"]) == 0
    assert main(["decode", str(ncd), str(out)]) == 0
    src, back = read_mesh(PIG), read_mesh(out)
    assert len(back.faces) == len(src.faces)
    side = float((src.vertices.max(axis=0) - src.vertices.min(axis=0)).max())
    # every decoded vertex lies within one quantisation step of an input vertex
    from scipy.spatial import cKDTree

    dist, _ = cKDTree(src.vertices).query(back.vertices)
    assert dist.max() <= side / (1 << 12) * 2
    data = bytearray(ncd.read_bytes())
    with pytest.raises(NcodecError):
        api.decode(bytes(data[: len(data) // 2]))
    assert main(["decode", str(ncd), str(tmp_path / "m.png")]) == UsageError.exit_code


def test_plot_and_bdrate_take_3d_results(tmp_path, capsys):
    import json

    for name, rates in (("draco", [7.0, 10.0, 13.0, 16.0]), ("octree-pc", [5.0, 8.0, 11.0, 14.0])):
        doc = {"name": name, "results": {"bits_per_point": rates, "d1_psnr": [59.0, 65.0, 71.0, 77.0]}}
        (tmp_path / f"obj-{name}.json").write_text(json.dumps(doc))
    assert main(["bdrate", str(tmp_path / "obj-draco.json"), str(tmp_path / "obj-octree-pc.json"),
                 "--metric", "d1_psnr"]) == 0
    assert "BD-rate -" in capsys.readouterr().out
    assert main(["plot", str(tmp_path / "obj-draco.json"), str(tmp_path / "obj-octree-pc.json"),
                 "--metrics", "d1_psnr", "-o", str(tmp_path / "rd.png")]) == 0
    assert (tmp_path / "rd.png").stat().st_size > 0


def test_eval_on_a_3d_folder(tmp_path, capsys):
    import json
    import shutil

    folder = tmp_path / "objects"
    folder.mkdir()
    shutil.copy(PIG, folder / "pig.off")
    out = tmp_path / "eval.json"
    assert main(["eval", str(folder), "--codec", "octree-adaptive", "--qualities", "5,6,7,8", "-o", str(out)]) == 0
    doc = json.loads(out.read_text())
    assert doc["qualities"] == [5, 6, 7, 8] and len(doc["per_item"]) == 4
    rates, d1 = doc["results"]["bits_per_point"], doc["results"]["d1_psnr"]
    assert rates == sorted(rates) and d1 == sorted(d1)
    assert main(["plot", str(out), "--metrics", "d1_psnr", "-o", str(tmp_path / "p.png")]) == 0


@pytest.mark.parametrize("progress", [True, False])
def test_3d_eval_shows_progress_on_stderr_unless_told_not_to(tmp_path, capsys, progress):
    import shutil

    from ncodec.evaluation.pointcloud_eval import run_pointcloud_eval

    folder = tmp_path / "objects"
    folder.mkdir()
    shutil.copy(PIG, folder / "pig.off")
    doc = run_pointcloud_eval(folder, "octree-adaptive", [5, 6], tmp_path / "eval.json", progress=progress)
    assert len(doc["per_item"]) == 2
    captured = capsys.readouterr()
    if progress:
        assert "eval octree-adaptive" in captured.err and "2/2" in captured.err  # one step per (file, depth)
    else:
        assert captured.err == ""


PIG_SURFACE_7_SHA256 = "ec37eeff44798a9aaa6ecf7d65c270b16a623f6d8a1e2ab676511eab01ce07da"  # dense_voxels.py --bits 7


def test_surface_voxels_are_the_shared_tools_dense_clouds():
    """A mesh's dense surface voxels (issue 19 item 1) equal ../shared/tools/dense_voxels.py's: the sha256
    that tool prints for tests/assets/pig.off at 7 bits, and its voxels at 6 bits where the tool is here."""
    from pathlib import Path

    from ncodec.codecs.pointio import read_mesh, surface_voxels, voxel_sha256

    mesh = read_mesh(PIG)
    dense = surface_voxels(mesh, 7)
    assert voxel_sha256(dense) == PIG_SURFACE_7_SHA256 and len(dense) == 27360
    assert len(surface_voxels(mesh, 6)) < len(dense) and dense.min() >= 0 and dense.max() <= 127
    tool = Path(__file__).resolve().parents[2] / "shared" / "tools" / "dense_voxels.py"
    if tool.is_file():  # the benchmark's own generator, where this checkout sits beside ../shared
        import importlib.util

        spec = importlib.util.spec_from_file_location("dense_voxels", tool)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        assert np.array_equal(module.dense_voxels(mesh.vertices, mesh.faces, 6), surface_voxels(mesh, 6))


def test_cli_codes_surface_voxels_and_integer_grids_exactly(tmp_path, capsys):
    """``--surface-voxels`` codes the dense cloud and decodes its voxel indices; ``--voxel-grid identity``
    keeps a cloud's integer coordinates where the bounding cube would rescale them; bad uses are one line."""
    from ncodec.codecs.pointio import read_mesh, surface_voxels, voxel_sha256

    out = tmp_path / "pig.ncd"
    assert main(["encode", str(PIG), str(out), "--surface-voxels", "--quality", "6", "--codec", "octree-adaptive"]) == 0
    assert main(["decode", str(out), str(tmp_path / "pig.ply")]) == 0
    decoded = read_points(tmp_path / "pig.ply").points
    assert np.array_equal(decoded, np.round(decoded))
    assert voxel_sha256(decoded.astype(np.int64)) == voxel_sha256(surface_voxels(read_mesh(PIG), 6))

    rng = np.random.default_rng(3)
    coords = np.unique(rng.integers(5, 40, (400, 3)), axis=0)  # well inside [0, 63]: not its own bounding cube
    write_ply(tmp_path / "grid.ply", coords.astype(np.float64))
    for grid, same in (("identity", True), ("cube", False)):
        target = tmp_path / f"{grid}.ncd"
        assert main(["encode", str(tmp_path / "grid.ply"), str(target), "--quality", "6", "--voxel-grid", grid]) == 0
        assert main(["decode", str(target), str(tmp_path / f"{grid}.ply")]) == 0
        back = read_points(tmp_path / f"{grid}.ply").points  # identity: the coordinates themselves, exactly
        exact = len(back) == len(coords) and np.array_equal(back, np.round(back)) and \
            _voxel_set(back.astype(np.int64)) == _voxel_set(coords)
        assert exact == same
    capsys.readouterr()
    assert main(["encode", str(tmp_path / "grid.ply"), str(tmp_path / "x.ncd"), "--quality", "5",
                 "--voxel-grid", "identity"]) != 0  # 39 > 31
    assert main(["encode", str(PIG), str(tmp_path / "y.ncd"), "--voxel-grid", "identity"]) != 0  # float vertices
    assert main(["encode", str(ASSETS / "kodim21_64x64.png"), str(tmp_path / "z.ncd"), "--surface-voxels"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 3 and all(line.startswith("ncodec: error:") for line in err)
    assert not any((tmp_path / n).exists() for n in ("x.ncd", "y.ncd", "z.ncd"))
