"""BD-rate / BD-quality: agreement with the `bjontegaard` package and the published anchor numbers."""

from __future__ import annotations

import json

import bjontegaard
import pytest

from ncodec.cli import main
from ncodec.evaluation.bdrate import Curve, bd_quality, bd_rate
from ncodec.evaluation.curves import load_curve, shipped_anchors

ANCHORS = [a for a in shipped_anchors("kodak") if not a.endswith("/vtm")]


@pytest.mark.parametrize("method", ["cubic", "pchip"])
@pytest.mark.parametrize("name", ANCHORS)
def test_agrees_with_bjontegaard_package(name, method):
    vtm, test = load_curve("anchor:kodak/vtm"), load_curve(name)
    ref_rate = bjontegaard.bd_rate(list(vtm.rate), list(vtm.quality), list(test.rate), list(test.quality),
                                   method=method, require_matching_points=False, min_overlap=0)
    ref_psnr = bjontegaard.bd_psnr(list(vtm.rate), list(vtm.quality), list(test.rate), list(test.quality),
                                   method=method, require_matching_points=False, min_overlap=0)
    assert bd_rate(vtm, test, method) == pytest.approx(ref_rate, rel=1e-3, abs=1e-3)
    assert bd_quality(vtm, test, method) == pytest.approx(ref_psnr, rel=1e-3, abs=1e-3)


def test_published_orientation_numbers():
    vtm = load_curve("anchor:kodak/vtm")
    assert bd_rate(vtm, load_curve("anchor:kodak/jpeg")) == pytest.approx(210, abs=1)
    assert bd_rate(vtm, load_curve("anchor:kodak/paper-elic2022_mse")) == pytest.approx(-7, abs=0.5)
    assert bd_rate(vtm, vtm) == pytest.approx(0, abs=1e-9)


def test_lower_is_better_sign_convention():
    anchor = Curve((0.1, 0.2, 0.4, 0.8), (25.0, 28.0, 31.0, 34.0))
    better = Curve((0.08, 0.16, 0.32, 0.64), (25.0, 28.0, 31.0, 34.0))
    as_error = lambda c: Curve(c.rate, tuple(-q for q in c.quality))  # noqa: E731
    assert bd_rate(anchor, better) == pytest.approx(-20.0, abs=1e-6)
    assert bd_rate(as_error(anchor), as_error(better), higher_is_better=False) == pytest.approx(-20.0, abs=1e-6)


@pytest.mark.parametrize("payload", ["not json", "[]", '{"results": {"bpp": [1, 2]}}',
                                     '{"results": {"bpp": [0.1, 0.2, 0.3, 0.4], "psnr-rgb": [1, 2, 3]}}',
                                     '{"results": {"bpp": [0.1, 0.2, 0.3, -1], "psnr-rgb": [1, 2, 3, 4]}}'])
def test_bad_result_files_give_one_line_errors(tmp_path, capsys, payload):
    f = tmp_path / "r.json"
    f.write_text(payload)
    assert main(["bdrate", "anchor:kodak/vtm", str(f)]) == 4
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("ncodec: error:")


def test_cli_json_output(capsys):
    assert main(["bdrate", "anchor:kodak/vtm", "anchor:kodak/webp", "--json", "--method", "pchip"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["bd_rate_pct"] == pytest.approx(78.75, abs=0.05)
