"""Realism decoder (issue 17 item 1): R = 0 is the MSE decoder bit for bit, R > 0 is reproducible from
the stream alone, bad R and wrong weights are one-line errors, and the adversarial trainer trains,
resumes and exports a weight file the decoder reads.

Tolerance across thread counts: the generator, like the MSE synthesis, is floating point; pixels of
1 vs 2 torch threads may differ by at most one level (DESIGN.md determinism rule 5), and runs with
the same thread count are identical.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from ncodec import api
from ncodec.codecs import container
from ncodec.codecs.image import LearnedImageCodec
from ncodec.codecs.realism import RealismDecoder, save_realism_weights, stream_seed
from ncodec.errors import ModelMismatchError
from ncodec.models.realism import RealismGenerator

from conftest import ASSETS

GOLDEN = Path(__file__).resolve().parent / "golden" / "v1"
BASE = GOLDEN / "mean-scale-hyperprior-small.ncw"
STREAM = GOLDEN / "mean-scale-hyperprior-kodim21_64x64-q2-constriction.ncd"
LEARNED_STREAMS = sorted(p for p in GOLDEN.glob("*.ncd") if (GOLDEN / f"{p.name.split('-kodim')[0]}-small.ncw").exists())


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A realism generator trained for 4 steps on the shipped assets (exercises the whole trainer)."""
    from ncodec.training.realism import add_realism_arguments, run_realism_training

    out = tmp_path_factory.mktemp("realism")

    def args(steps: int, resume: bool = False) -> argparse.Namespace:
        p = argparse.ArgumentParser()
        add_realism_arguments(p)
        argv = ["--base", str(BASE), "--data", str(ASSETS), "--val-count", "1", "--out", str(out),
                "--steps", str(steps), "--batch-size", "2", "--patch-size", "64", "--widths", "16,16,8,8",
                "--threads", "1", "--log-every", "1", "--checkpoint-every", "1", "--lr", "3e-3"]
        return p.parse_args(argv + (["--resume"] if resume else []))

    run_realism_training(args(2))
    path = run_realism_training(args(4, resume=True))
    assert torch.load(out / "checkpoint.pt", weights_only=False)["step"] == 4
    assert len((out / "log.csv").read_text().splitlines()) == 1 + 4
    return path


@pytest.mark.parametrize("path", LEARNED_STREAMS, ids=[p.name for p in LEARNED_STREAMS])
def test_realism_zero_is_the_mse_decoder_on_golden_files(path: Path) -> None:
    weights = GOLDEN / f"{path.name.split('-kodim')[0]}-small.ncw"
    plain = api.decode(path, weights=weights)
    np.testing.assert_array_equal(api.decode(path, weights=weights, realism=0.0), plain)


def test_generator_starts_as_the_mse_decoder() -> None:
    torch.manual_seed(0)
    gen = RealismGenerator(24, (8, 8, 8, 8))
    latent, x = torch.randn(1, 24, 2, 3), torch.rand(1, 3, 32, 48)
    out = gen(latent, x, torch.tensor([1.0]), torch.randn(gen.noise_shape(latent)))
    torch.testing.assert_close(out, x, rtol=0, atol=0)  # zero-initialised output layer
    assert RealismGenerator.from_config(gen.config()).config() == gen.config()


def test_realism_changes_pixels_reproducibly(trained: Path) -> None:
    plain = api.decode(STREAM, weights=BASE)
    half = api.decode(STREAM, weights=BASE, realism=0.5, realism_weights=trained)
    full = api.decode(STREAM, weights=BASE, realism=1.0, realism_weights=trained)
    assert half.shape == plain.shape and half.dtype == np.uint8
    assert not np.array_equal(full, plain) and not np.array_equal(half, full)
    # same file + R -> same pixels (noise seeded by the stream, not by the process)
    torch.manual_seed(12345)
    np.testing.assert_array_equal(api.decode(STREAM, weights=BASE, realism=1.0, realism_weights=trained), full)
    # a larger R moves the output further from the MSE decoder
    assert np.abs(full.astype(int) - plain).mean() > np.abs(half.astype(int) - plain).mean()


def test_realism_across_thread_counts(trained: Path) -> None:
    old = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = api.decode(STREAM, weights=BASE, realism=1.0, realism_weights=trained)
        torch.set_num_threads(2)
        two = api.decode(STREAM, weights=BASE, realism=1.0, realism_weights=trained)
    finally:
        torch.set_num_threads(old)
    assert np.abs(one.astype(int) - two.astype(int)).max() <= 1


def test_seed_depends_on_the_stream() -> None:
    header, sections = container.unpack(STREAM.read_bytes())
    assert stream_seed(sections) == stream_seed(list(sections))
    assert stream_seed(sections) != stream_seed(sections[:-1] + [sections[-1] + b"\0"])
    assert 0 <= stream_seed(sections) < 2 ** 63


def test_realism_weights_are_bound_to_their_base(trained: Path, tmp_path: Path) -> None:
    decoder = RealismDecoder.from_file(trained)
    other = tmp_path / "other.ncw"
    save_realism_weights(decoder.generator, other, decoder.base_codec, "f" * 64)
    with pytest.raises(ModelMismatchError):
        api.decode(STREAM, weights=BASE, realism=1.0, realism_weights=other)
    codec = LearnedImageCodec.from_file(BASE)
    assert decoder.base_sha256 == codec.sha256
    not_weights = tmp_path / "x.ncw"
    not_weights.write_bytes(b"nonsense")
    with pytest.raises(ModelMismatchError):
        RealismDecoder.from_file(not_weights)


def _cli(*argv: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ncodec", *argv], capture_output=True, text=True, timeout=300)


def test_cli_bad_realism_is_a_one_line_error(tmp_path: Path) -> None:
    out = tmp_path / "out.png"
    for bad in ("1.5", "-0.1", "nan", "high"):
        r = _cli("decode", str(STREAM), str(out), "--weights", str(BASE), "--realism", bad)
        assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1, r.stderr
        assert "--realism" in r.stderr and not out.exists()
    # no realism weights for these base weights: a clear error and no output file
    r = _cli("decode", str(STREAM), str(out), "--weights", str(BASE), "--realism", "0.5")
    assert r.returncode != 0 and len(r.stderr.strip().splitlines()) == 1 and "realism weights" in r.stderr
    assert not out.exists()
    # realism on a classical stream is refused
    jpg = tmp_path / "x.ncd"
    assert _cli("encode", str(ASSETS / "kodim21_64x64.png"), str(jpg), "--codec", "jpeg").returncode == 0
    r = _cli("decode", str(jpg), str(out), "--realism", "0.5")
    assert r.returncode == 2 and "learned image" in r.stderr and not out.exists()


def test_trainer_sees_what_the_decoder_sees() -> None:
    """The trainer's latents and MSE reconstruction are the decoder's (means from the decoded stream)."""
    from ncodec.codecs.imageio import read_image
    from ncodec.training.realism import decoded_batch

    codec = LearnedImageCodec.from_file(BASE)
    img = read_image(ASSETS / "kodim21_64x64.png")
    x = torch.from_numpy(img.copy()).permute(2, 0, 1)[None].float() / 255.0
    _, x_mse = decoded_batch(codec, x, [2.0])
    enc = codec.compress(img, quality=2.0)
    expected = codec.decompress(enc.header, enc.sections)
    np.testing.assert_array_equal((x_mse[0].permute(1, 2, 0) * 255).round().byte().numpy(), expected)
