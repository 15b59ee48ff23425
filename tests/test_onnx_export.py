"""``ncodec export --onnx``: the exported decoder graph gives the integer synthesis's golden pixels
exactly under onnxruntime, and the encoder graph matches the float analysis."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from ncodec.codecs import container
from ncodec.codecs.image import LearnedImageCodec
from ncodec.codecs.imageio import read_image
from ncodec.codecs.intsynth import integer_latent
from ncodec.models.intsynth import quality_index

ort = pytest.importorskip("onnxruntime", reason="onnxruntime is part of the full extra")
pytest.importorskip("onnx", reason="onnx is part of the full extra")

GOLDEN = Path(__file__).resolve().parent / "golden" / "v1"
KIND = "mean-scale-hyperprior"
STREAMS = sorted(GOLDEN.glob(f"{KIND}-kodim*.ncd"))


@pytest.fixture(scope="module")
def exported(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("onnx")
    r = subprocess.run([sys.executable, "-m", "ncodec", "export", "--onnx", str(out),
                        "--weights", str(GOLDEN / f"{KIND}-small.ncw")], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    return out


def test_export_writes_graphs_and_tables(exported: Path):
    assert {p.name for p in exported.iterdir()} == {"decoder.onnx", "encoder.onnx", "tables.npz", "codec.json"}
    info = json.loads((exported / "codec.json").read_text())
    codec = LearnedImageCodec.from_file(GOLDEN / f"{KIND}-small.ncw")
    assert info["weights_sha256"] == codec.sha256
    tables = np.load(exported / "tables.npz")
    assert np.array_equal(tables["y_counts"], codec.latent.gaussian.y_tables.counts)


@pytest.mark.parametrize("path", STREAMS, ids=[p.name for p in STREAMS])
def test_exported_decoder_gives_the_golden_integer_pixels(exported: Path, path: Path):
    codec = LearnedImageCodec.from_file(GOLDEN / f"{KIND}-small.ncw")
    tables = np.load(exported / "tables.npz")
    header, sections = container.unpack(path.read_bytes())
    latents, _, q = codec.decompress_latents(header, sections)
    row = quality_index(q, codec.levels)
    session = ort.InferenceSession(str(exported / "decoder.onnx"), providers=["CPUExecutionProvider"])
    pixels = session.run(None, {"latent": integer_latent(latents[0]).float().numpy(),
                                "input_mult": tables["input_mult"][row].reshape(1, -1, 1, 1)})[0]
    _, h, w = header.shape
    image = pixels[0].transpose(1, 2, 0)[:h, :w]
    if header.shape[0] == 1:
        image = np.round(image.astype(np.float32).mean(axis=2)).astype(np.uint8)
    assert np.array_equal(image, read_image(path.with_suffix(".int.png")))


def test_exported_encoder_matches_the_float_analysis(exported: Path):
    codec = LearnedImageCodec.from_file(GOLDEN / f"{KIND}-small.ncw")
    x = torch.rand(1, 3, 128, 192, generator=torch.Generator().manual_seed(0))
    gain, _ = codec.model.gains(2.0)
    session = ort.InferenceSession(str(exported / "encoder.onnx"), providers=["CPUExecutionProvider"])
    y, z = session.run(None, {"image": x.numpy(), "gain": gain.detach().float().numpy()})
    with torch.no_grad():
        y_ref = codec.model.g_a(x) * gain
        z_ref = codec.model.h_a(y_ref)
    assert np.allclose(y, y_ref.numpy(), atol=1e-4) and np.allclose(z, z_ref.numpy(), atol=1e-4)
