"""Integer synthesis (issue 20): exact integer program of g_s, identical pixels for every executor and
thread count, golden pixels, the QAT simulation, and the decoder/CLI switches."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from ncodec.codecs import container
from ncodec.codecs.image import LearnedImageCodec
from ncodec.codecs.imageio import read_image
from ncodec.codecs.intsynth import (FastIntegerAnalysis, FastIntegerSynthesis, FloatExactIntegerSynthesis,
                                    ReferenceIntegerSynthesis, build_executor, int8_kernels_fit, integer_latent,
                                    load_program, onednn_available, program_is_portable)
from ncodec.codecs.lite import LiteImageDecoder
from ncodec.errors import MissingWeightsError, ModelMismatchError, UsageError
from ncodec.models.intsynth import (EXACT_LIMIT, W_MAX_PORTABLE, FakeQuantAnalysis, FakeQuantSynthesis,
                                    analysis_trace, build_analysis_program, build_program, check_bounds,
                                    float_trace, merge_traces, phase_shuffle, run_analysis_reference, run_reference,
                                    subpixel_weight)

GOLDEN = Path(__file__).resolve().parent / "golden" / "v1"
ROOT_WEIGHTS = Path(__file__).resolve().parent.parent / "models" / "weights"
KINDS = ("mean-scale-hyperprior", "checkerboard-channel", "checkerboard-channel-gmm")
STREAMS = sorted(p for k in KINDS for p in GOLDEN.glob(f"{k}-kodim*.ncd"))
needs_onednn = pytest.mark.skipif(not onednn_available(), reason="this torch build has no oneDNN int8 convolution")


def _kind(path: Path) -> str:
    return path.name.split("-kodim")[0]


def _golden_codec(kind: str) -> LearnedImageCodec:
    codec = LearnedImageCodec.from_file(GOLDEN / f"{kind}-small.ncw")
    codec.attach_integer_synthesis(GOLDEN / f"{kind}-small.intsyn.ncw")
    return codec


def test_subpixel_form_equals_the_transposed_convolution():
    gen = torch.Generator().manual_seed(0)
    w = torch.randn(6, 5, 5, 5, generator=gen, dtype=torch.float64)
    b = torch.randn(5, generator=gen, dtype=torch.float64)
    x = torch.randn(2, 6, 7, 9, generator=gen, dtype=torch.float64)
    want = F.conv_transpose2d(x, w, b, stride=2, padding=2, output_padding=1)
    got = phase_shuffle(F.conv2d(x, subpixel_weight(w), b.repeat(4), padding=1))
    assert torch.allclose(want, got, atol=1e-12)


def test_golden_fixtures_cover_three_scalar_families():
    assert len(STREAMS) == 12
    assert all(p.with_suffix(".int.png").exists() for p in STREAMS)


@pytest.mark.parametrize("path", STREAMS, ids=[p.name for p in STREAMS])
def test_golden_streams_decode_to_the_committed_integer_pixels(path: Path):
    """Byte-identical pixels with the reference, the float32-exact executor and (where its self-test
    passes: int8 kernels that saturate fail it) the oneDNN int8 executor, 1 and 2 threads."""
    codec = _golden_codec(_kind(path))
    header, sections = container.unpack(path.read_bytes())
    expected = read_image(path.with_suffix(".int.png"))
    program = codec.integer_synthesis().program
    executors = [ReferenceIntegerSynthesis(program), FloatExactIntegerSynthesis(program)]
    if int8_kernels_fit(program) and FastIntegerSynthesis(program).self_test():
        executors.append(FastIntegerSynthesis(program))
    threads = torch.get_num_threads()
    try:
        for executor in executors:
            codec._int_synthesis = executor
            for n in (1, 2):
                torch.set_num_threads(n)
                image = codec.decompress(header, sections, synthesis="integer")
                assert np.array_equal(image, expected), f"{executor.name}, {n} threads"
    finally:
        torch.set_num_threads(threads)


def test_float64_host_path_gives_the_same_integers():
    """The reference computes its sums in float64 and the fast path in int32/float32: the same pixels,
    so a float64-only host (or a GPU with exact float32 sums) agrees too."""
    path = STREAMS[4]
    codec = _golden_codec(_kind(path))
    header, sections = container.unpack(path.read_bytes())
    latents, _, q = codec.decompress_latents(header, sections)
    program = codec.integer_synthesis().program
    lat = integer_latent(latents[0])
    a = run_reference(program, lat, q)
    b = run_reference(program, lat.double(), q)
    assert torch.equal(a, b)


def test_bounds_are_checked():
    program = load_program(GOLDEN / "mean-scale-hyperprior-small.intsyn.ncw")
    check_bounds(program)
    bad = dict(program)
    bad["conv1.bias"] = program["conv1.bias"].clone()
    bad["conv1.bias"][0] = EXACT_LIMIT
    with pytest.raises(ValueError, match="2\\*\\*24"):
        check_bounds(bad)


def test_program_is_bound_to_its_base_weights():
    codec = LearnedImageCodec.from_file(GOLDEN / "factorized-small.ncw")
    with pytest.raises(ModelMismatchError, match="built for weights"):
        codec.attach_integer_synthesis(GOLDEN / "mean-scale-hyperprior-small.intsyn.ncw")
    with pytest.raises(ModelMismatchError, match="not an ncodec integer-synthesis file"):
        load_program(GOLDEN / "factorized-small.ncw")


def test_self_test_rejects_a_kernel_that_differs(monkeypatch):
    program = load_program(GOLDEN / "mean-scale-hyperprior-small.intsyn.ncw")
    fast = FloatExactIntegerSynthesis(program)
    assert fast.self_test()
    real = fast.kernels

    class OffByOne:
        def __getattr__(self, name):
            return getattr(real, name)

        @staticmethod
        def pixels_u8(v, out, threads):
            real.pixels_u8(v, out, threads)
            out[0, 0, 0] ^= 1

    fast.kernels = OffByOne()
    assert not fast.self_test()
    monkeypatch.setattr("ncodec.codecs.intsynth.FastIntegerSynthesis.self_test", lambda self: False)
    assert isinstance(build_executor(program), FloatExactIntegerSynthesis)
    monkeypatch.setattr("ncodec.codecs.intsynth.FloatExactIntegerSynthesis.self_test", lambda self: False)
    assert isinstance(build_executor(program), ReferenceIntegerSynthesis)


def test_portable_weights_keep_int8_pair_sums_in_int16():
    """A program built with ``w_max=W_MAX_PORTABLE`` never exceeds it, so any two u8 x s8 products sum
    within int16 (what AVX2 int8 kernels without VNNI need), and it is still exact."""
    kind = "mean-scale-hyperprior"
    codec = LearnedImageCodec.from_file(GOLDEN / f"{kind}-small.ncw")
    path = [p for p in STREAMS if _kind(p) == kind][0]
    header, sections = container.unpack(path.read_bytes())
    latents, _, q = codec.decompress_latents(header, sections)
    x = codec.model.synthesis_input(codec.latent.y_hat(latents[0], "cpu", torch.float32), q)
    program = build_program(codec.model.g_s, lambda v: codec.model.gains(v)[1].view(-1).double(), codec.levels,
                            merge_traces([float_trace(codec.model.g_s, x)]), w_max=W_MAX_PORTABLE)
    assert program["w_max"] == W_MAX_PORTABLE and program_is_portable(program)
    assert not program_is_portable(load_program(GOLDEN / f"{kind}-small.intsyn.ncw"))  # 8-bit weights
    for key in program:
        if key.endswith(".weight"):
            assert int(program[key].abs().max()) <= W_MAX_PORTABLE and 2 * 255 * W_MAX_PORTABLE <= 32767
    lat = integer_latent(latents[0])
    want = ReferenceIntegerSynthesis(program)(lat, q)
    assert np.array_equal(FloatExactIntegerSynthesis(program)(lat, q), want)
    if onednn_available():
        fast = FastIntegerSynthesis(program)
        assert fast.self_test() and np.array_equal(fast(lat, q), want)


def test_int8_analysis_matches_its_reference_and_training_graph(asset_images):
    """The encoder's int8 g_a: its QAT graph is the program's arithmetic (within float rounding of the
    dequantised sums), and on oneDNN the portable program runs exactly as its reference; a program
    whose int8 kernels saturate fails the self-test (the encoder then uses the float g_a)."""
    codec = LearnedImageCodec.from_file(GOLDEN / "mean-scale-hyperprior-small.ncw")
    img = asset_images["kodim21_64x64.png"]
    pixels = torch.from_numpy(np.ascontiguousarray(img)).permute(2, 0, 1)[None]
    x = pixels.float() / 255.0
    calibration = merge_traces([analysis_trace(codec.model.g_a, x)])
    program = build_analysis_program(codec.model.g_a, calibration, W_MAX_PORTABLE)
    want = run_analysis_reference(program, pixels)
    with torch.no_grad():
        sim = FakeQuantAnalysis(codec.model.g_a, calibration)(x)
        fl = codec.model.g_a(x)
    assert float((sim - want).abs().max()) < 1e-3 * float(want.abs().max()) + 1e-4
    assert float((fl - want).abs().mean()) < 0.1 * float(fl.abs().mean())
    if onednn_available():
        fast = FastIntegerAnalysis(program)
        assert fast.self_test() and torch.equal(fast(pixels), want)


def test_fake_quant_training_graph_matches_the_program():
    """QAT trains what the decoder runs: the float simulation's pixels are within a rounding step of
    the integer program's."""
    kind = "mean-scale-hyperprior"
    codec = LearnedImageCodec.from_file(GOLDEN / f"{kind}-small.ncw")
    path = [p for p in STREAMS if _kind(p) == kind and "kodim21" in p.name][0]
    header, sections = container.unpack(path.read_bytes())
    latents, _, q = codec.decompress_latents(header, sections)
    y_hat = codec.latent.y_hat(latents[0], "cpu", torch.float32)
    x = codec.model.synthesis_input(y_hat, q)
    calibration = merge_traces([float_trace(codec.model.g_s, x)])
    program = build_program(codec.model.g_s, lambda v: codec.model.gains(v)[1].view(-1).double(), codec.levels,
                            calibration)
    with torch.no_grad():
        sim = torch.round(FakeQuantSynthesis(codec.model.g_s, calibration)(x) * 255).clamp(0, 255)
    ref = run_reference(program, integer_latent(latents[0]), q).double()
    diff = (sim.double() - ref).abs()
    assert float(diff.mean()) < 0.05 and float(diff.max()) <= 2


def test_decoder_switches(asset_images):
    codec = LearnedImageCodec.from_file(GOLDEN / "mean-scale-hyperprior-small.ncw")
    enc = codec.compress(asset_images["kodim21_64x64.png"], quality=2.0)
    codec.attach_integer_synthesis(None)  # these test weights ship none
    assert codec.integer_synthesis() is None
    with pytest.raises(MissingWeightsError, match="no integer synthesis"):
        codec.decompress(enc.header, enc.sections, synthesis="integer")
    auto = codec.decompress(enc.header, enc.sections)
    assert np.array_equal(auto, codec.decompress(enc.header, enc.sections, synthesis="float"))
    codec.attach_integer_synthesis(GOLDEN / "mean-scale-hyperprior-small.intsyn.ncw")
    integer = codec.decompress(enc.header, enc.sections, synthesis="integer")
    assert np.array_equal(integer, codec.decompress(enc.header, enc.sections))  # auto takes it
    assert np.abs(integer.astype(int) - auto.astype(int)).mean() < 2.0
    # a quality map's cells take their own rows of input multipliers: a uniform map gives the pixels of
    # the uniform quality, and a real map decodes the same with every executor
    image = asset_images["kodim21_64x64.png"]
    enc_flat = codec.compress(image, quality_map=np.full(image.shape[:2], 1.5))
    uniform = codec.compress(image, quality=1.5)
    assert np.array_equal(codec.decompress(enc_flat.header, enc_flat.sections),
                          codec.decompress(uniform.header, uniform.sections))
    qmap = np.full(image.shape[:2], 1.0)
    qmap[16:48, 8:40] = 2.73
    enc_map = codec.compress(image, quality_map=qmap)
    fast = codec.decompress(enc_map.header, enc_map.sections, synthesis="integer")
    codec._int_synthesis = ReferenceIntegerSynthesis(codec._int_synthesis.program)
    assert np.array_equal(fast, codec.decompress(enc_map.header, enc_map.sections, synthesis="integer"))
    lite = LiteImageDecoder(GOLDEN / "mean-scale-hyperprior-small.ncw",
                            GOLDEN / "mean-scale-hyperprior-small.intsyn.ncw", codec.sha256)
    assert np.array_equal(fast, lite.decode(enc_map.header, enc_map.sections))
    with pytest.raises(UsageError, match="realism 0"):
        codec.decompress(enc.header, enc.sections, synthesis="integer", realism=0.5)
    with pytest.raises(UsageError, match="synthesis must be"):
        codec.decompress(enc.header, enc.sections, synthesis="fixed")


def _cli(*argv: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ncodec", *argv], capture_output=True, text=True, timeout=300)


def test_cli_synthesis_option(tmp_path):
    src = Path(__file__).resolve().parent / "assets" / "kodim21_64x64.png"
    stream = tmp_path / "x.ncd"
    assert _cli("encode", str(src), str(stream), "--quality", "2").returncode == 0
    outs = {}
    for mode in ("integer", "float"):
        out = tmp_path / f"{mode}.png"
        r = _cli("decode", str(stream), str(out), "--synthesis", mode)
        assert r.returncode == 0, r.stderr
        outs[mode] = read_image(out)
    assert np.abs(outs["integer"].astype(int) - outs["float"].astype(int)).mean() < 2.0
    jpeg = tmp_path / "x-jpeg.ncd"
    assert _cli("encode", str(src), str(jpeg), "--codec", "jpeg", "--quality", "80").returncode == 0
    r = _cli("decode", str(jpeg), str(tmp_path / "j.png"), "--synthesis", "integer")
    assert r.returncode != 0 and len(r.stderr.strip().splitlines()) == 1 and "learned image" in r.stderr
    assert not (tmp_path / "j.png").exists()


def test_reference_square_root_is_correctly_rounded():
    """torch.sqrt on float32 CPU tensors can miss the nearest float (0.8912468 -> 0.94405872); the
    reference uses the IEEE operation, as the fast kernels, numpy and onnxruntime do."""
    from ncodec.models.intsynth import sqrt_ieee

    x = torch.tensor([0.8912467956542969], dtype=torch.float32)
    assert int(sqrt_ieee(x).numpy().view(np.uint32)[0]) == 1064414676
    values = torch.rand(100_000, generator=torch.Generator().manual_seed(0)) * 4.0
    correct = np.sqrt(values.numpy().astype(np.float64)).astype(np.float32)  # double then round: exact
    assert np.array_equal(sqrt_ieee(values).numpy(), correct)


def test_int8_analysis_training_takes_a_weight_range(tmp_path):
    """scripts/train_intanalysis.py: two QAT steps with ``--w-max 127`` give an analysis program within
    [-127, 127] beside the unchanged synthesis program; a range outside [1, 127] is a usage error."""
    import argparse

    from PIL import Image

    from ncodec.training.intsynth import add_intanalysis_arguments, run_intanalysis_training

    rng = np.random.RandomState(0)
    data = tmp_path / "photos"
    data.mkdir()
    for i in range(3):  # smooth colour fields with noise: not real photos, enough for two steps
        base = np.linspace(0, 255, 96)[None, :, None] * rng.uniform(0.3, 1.0, (1, 1, 3))
        Image.fromarray(np.clip(base + rng.randn(96, 96, 3) * 20, 0, 255).astype(np.uint8)).save(data / f"{i}.png")
    p = argparse.ArgumentParser()
    add_intanalysis_arguments(p)
    common = ["--out", str(tmp_path / "run"), "--data", str(data), "--val-count", "1", "--batch", "2",
              "--patch-size", "64", "--threads", "1", "--base", str(ROOT_WEIGHTS / "msh-vr-n64m96.ncw"),
              "--intsynth", str(ROOT_WEIGHTS / "msh-vr-n64m96.intsyn.ncw")]
    threads = torch.get_num_threads()
    try:  # the trainer sets the process's thread count
        with pytest.raises(UsageError, match="--w-max"):
            run_intanalysis_training(p.parse_args(common + ["--steps", "1", "--w-max", "128"]))
        path = run_intanalysis_training(p.parse_args(common + ["--steps", "2", "--w-max", "127"]))
    finally:
        torch.set_num_threads(threads)
    analysis = load_program(path, part="analysis")
    assert analysis["w_max"] == 127
    assert all(int(v.abs().max()) <= 127 for k, v in analysis.items() if k.endswith(".weight"))
    seed = load_program(ROOT_WEIGHTS / "msh-vr-n64m96.intsyn.ncw")
    program = load_program(path)
    assert all(torch.equal(program[k], v) for k, v in seed.items() if isinstance(v, torch.Tensor))
