"""``ncodec eval``: real bitstreams, metrics that match an independent computation, resumable output."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
from PIL import Image

from ncodec.cli import main
from ncodec.codecs.imageio import read_image
from ncodec.evaluation.metrics import psnr_rgb, psnr_y, ms_ssim_rgb
from ncodec.errors import UnsupportedInputError
from ncodec.evaluation.runner import run_eval

from conftest import ASSETS


def test_jpeg_eval_matches_independent_pillow(tmp_path):
    doc = run_eval(ASSETS, "jpeg", [10.0, 50.0, 90.0], tmp_path / "r.json", progress=False)
    assert doc["results"]["bpp"] == sorted(doc["results"]["bpp"])
    for rec in doc["per_image"]:
        img = read_image(ASSETS / rec["image"])
        buf = io.BytesIO()
        Image.fromarray(img).save(buf, format="JPEG", quality=int(rec["quality"]))
        dec = np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("L" if img.ndim == 2 else "RGB"))
        assert rec["payload_bytes"] == len(buf.getvalue())
        assert rec["bytes"] - rec["payload_bytes"] < 64  # container header and framing only
        assert rec["psnr-rgb"] == pytest.approx(psnr_rgb(img, dec), abs=1e-9)
        assert rec["psnr-y"] == pytest.approx(psnr_y(img, dec), abs=1e-9)


def test_eval_resumes_and_learned_codec(tmp_path):
    out = tmp_path / "msh.json"
    first = run_eval(ASSETS, "mean-scale-hyperprior", [1.0, 3.0], out, progress=False)
    second = run_eval(ASSETS, "mean-scale-hyperprior", [1.0, 3.0], out, progress=False)
    assert second["per_image"] == first["per_image"]  # nothing re-coded
    more = run_eval(ASSETS, "mean-scale-hyperprior", [1.0, 3.0, 4.0], out, progress=False)
    assert len(more["per_image"]) == 3 * len(list(ASSETS.glob("kodim*")))
    assert more["results"]["bpp"][0] < more["results"]["bpp"][2]
    from ncodec.codecs.registry import load_codec

    # the transforms the default encoder and decoder ran are recorded (int8 or float g_a: the CPU decides)
    assert more["pipeline"] == load_codec("mean-scale-hyperprior").default_paths()
    assert more["pipeline"]["synthesis"] == "integer" and more["pipeline"]["analysis"] in ("integer", "float")
    doc = json.loads(out.read_text())  # a file coded by the other encoder is not resumed into
    doc["pipeline"] = dict(doc["pipeline"], analysis="float" if doc["pipeline"]["analysis"] == "integer" else "integer")
    out.write_text(json.dumps(doc))
    with pytest.raises(UnsupportedInputError, match="choose another output"):
        run_eval(ASSETS, "mean-scale-hyperprior", [1.0, 3.0, 4.0], out, progress=False)


def test_eval_refuses_foreign_output(tmp_path, capsys):
    out = tmp_path / "x.json"
    out.write_text(json.dumps({"name": "something else"}))
    assert main(["eval", str(ASSETS), "--codec", "jpeg", "--qualities", "50", "-o", str(out), "--no-progress"]) == 4
    assert capsys.readouterr().err.count("\n") == 1


def test_metrics_sanity():
    rng = np.random.default_rng(0)
    a = rng.integers(0, 256, (200, 220, 3), dtype=np.uint8)
    b = np.clip(a.astype(int) + rng.integers(-3, 4, a.shape), 0, 255).astype(np.uint8)
    assert psnr_rgb(a, a) == float("inf")
    assert 35 < psnr_rgb(a, b) < 45 and psnr_y(a, b) > psnr_rgb(a, b)
    assert ms_ssim_rgb(a, a) == pytest.approx(1.0, abs=1e-6) and ms_ssim_rgb(a, b) < 1.0
