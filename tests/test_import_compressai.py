"""CompressAI models come across: same layers, ncodec's fixed-point entropy path, deterministic files."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ncodec.cli import main
from ncodec.codecs import container
from ncodec.codecs.image import LearnedImageCodec
from ncodec.errors import ModelMismatchError
from ncodec.models.convert import convert_compressai, read_state_dict

from conftest import ASSETS

cm = pytest.importorskip("compressai.models")


@pytest.mark.parametrize("arch, cls", [("mbt2018-mean", "MeanScaleHyperprior"),
                                       ("bmshj2018-hyperprior", "ScaleHyperprior"),
                                       ("bmshj2018-factorized", "FactorizedPrior")])
def test_imported_transforms_equal_compressai(arch, cls):
    torch.manual_seed(0)
    ref = getattr(cm, cls)(16, 24).eval()
    model = convert_compressai(ref.state_dict(), arch, 0.01)
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        y = ref.g_a(x)
        assert torch.allclose(model.g_a(x), y, rtol=1e-5, atol=1e-6)  # GDN op order differs at ulp level
        assert torch.allclose(model.g_s(torch.round(y)), ref.g_s(torch.round(y)), rtol=1e-5, atol=1e-6)
        if arch != "bmshj2018-factorized":
            z = torch.round(ref.h_a(torch.abs(y) if arch == "bmshj2018-hyperprior" else y))
            assert torch.allclose(model.h_s(z), ref.h_s(z))  # the float h_s, before fixed point
        density = model.y_density if arch == "bmshj2018-factorized" else model.z_density
        v = torch.linspace(-5, 5, 41).view(1, 1, -1).expand(density.channels, 1, -1)
        assert torch.allclose(density._logits_cdf(v), ref.entropy_bottleneck._logits_cumulative(v, stop_gradient=True))


def test_import_cli_round_trip_is_deterministic(tmp_path, capsys):
    torch.manual_seed(1)
    ref = cm.MeanScaleHyperprior(16, 24)
    with torch.no_grad():  # an untrained hyper-analysis gives all-zero z: make the test non-trivial
        ref.h_a[-1].weight.mul_(40.0)
    ckpt = tmp_path / "mbt.pth.tar"
    torch.save({"epoch": 3, "state_dict": {"module." + k: v for k, v in ref.state_dict().items()}}, ckpt)
    weights = tmp_path / "mbt.ncw"
    assert main(["import-compressai", str(ckpt), "--arch", "mbt2018-mean", "-o", str(weights)]) == 0
    image = ASSETS / "kodim19_203x147.jpg"
    outs = []
    old = torch.get_num_threads()
    try:
        for threads in (1, 2):
            torch.set_num_threads(threads)
            out = tmp_path / f"a{threads}.ncd"
            assert main(["encode", str(image), str(out), "--codec", "mean-scale-hyperprior", "--weights", str(weights),
                         "--quality", "1"]) == 0
            assert main(["decode", str(out), str(tmp_path / f"a{threads}.png"), "--weights", str(weights)]) == 0
            outs.append(out.read_bytes())
    finally:
        torch.set_num_threads(old)
    assert outs[0] == outs[1]  # same file with 1 and 2 threads
    codec = LearnedImageCodec.from_file(weights)
    header, sections = container.unpack(outs[0])
    latents, _, _ = codec.decompress_latents(header, sections)
    assert np.abs(latents[0]["z"]).max() > 0
    assert (tmp_path / "a1.png").read_bytes() == (tmp_path / "a2.png").read_bytes()


def test_unsupported_and_foreign_checkpoints(tmp_path, capsys):
    with pytest.raises(ModelMismatchError, match="serial autoregressive"):
        convert_compressai({}, "mbt2018", 0.01)
    bad = tmp_path / "x.pth"
    bad.write_bytes(b"not a checkpoint")
    assert main(["import-compressai", str(bad), "--arch", "mbt2018-mean", "-o", str(tmp_path / "o.ncw")]) == 4
    torch.save(cm.FactorizedPrior(16, 24).state_dict(), bad)
    assert main(["import-compressai", str(bad), "--arch", "mbt2018-mean", "-o", str(tmp_path / "o.ncw")]) == 5
    assert capsys.readouterr().err.count("\n") == 2
    assert not (tmp_path / "o.ncw").exists()
    assert read_state_dict(bad)
