"""``ncodec plot``: PNG and SVG RD figures with BD-rates in the legend; bad JSON is one line, no file."""

from __future__ import annotations

import json

from PIL import Image

from ncodec.cli import main
from ncodec.evaluation.plot import plot_rd


def _result(path, name, bpp, psnr, ms=None):
    results = {"bpp": bpp, "psnr-rgb": psnr}
    if ms is not None:
        results["ms-ssim-rgb"] = ms
    path.write_text(json.dumps({"name": name, "results": results}))
    return str(path)


def test_plot_writes_png_and_svg_with_bd_rates(tmp_path):
    a = _result(tmp_path / "a.json", "codec-a", [0.2, 0.4, 0.8, 1.6], [28.0, 31.0, 34.0, 37.0],
                [0.93, 0.96, 0.98, 0.99])
    lossless = tmp_path / "png.json"
    lossless.write_text(json.dumps({"name": "png", "results": {"bpp": [10.4], "psnr-rgb": [None],
                                                                "ms-ssim-rgb": [1.0]}}))
    written = plot_rd([a, str(lossless), "anchor:kodak/jpeg"], tmp_path / "rd.png",
                      ["psnr-rgb", "ms-ssim-rgb-db"], anchor="anchor:kodak/vtm", max_bpp=2.0)
    assert [p.name for p in written] == ["rd.png", "rd.svg"]
    with Image.open(written[0]) as im:
        assert im.format == "PNG" and im.size[0] > 1000
    svg = written[1].read_text()
    assert "codec-a (+" in svg and "JPEG (+" in svg and "VTM (anchor)" in svg  # BD-rates vs VTM in the legend
    assert "PSNR-RGB [dB]" in svg and "MS-SSIM (RGB) [dB]" in svg


def test_plot_cli_and_bad_inputs(tmp_path, capsys):
    good = _result(tmp_path / "a.json", "codec-a", [0.2, 0.4, 0.8, 1.6], [28.0, 31.0, 34.0, 37.0])
    out = tmp_path / "fig.svg"
    assert main(["plot", good, "-o", str(out), "--metrics", "psnr-rgb", "--anchor", ""]) == 0
    assert out.exists() and out.with_suffix(".png").exists()
    capsys.readouterr()
    bad_cases = {"corrupt.json": '{"results": {"bpp": [0.1, ', "foreign.json": '{"hello": "world"}',
                 "text.json": "not json at all", "nometric.json": '{"results": {"bpp": [0.1, 0.2]}}',
                 "wrong.json": '{"results": {"bpp": [0.1, 0.2], "psnr-rgb": ["a", "b"]}}'}
    for name, text in bad_cases.items():
        bad = tmp_path / name
        bad.write_text(text)
        target = tmp_path / f"{name}.png"
        assert main(["plot", str(bad), "-o", str(target), "--metrics", "psnr-rgb"]) == 4, name
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "Traceback" not in err, err
        assert not target.exists() and not target.with_suffix(".svg").exists()
    assert main(["plot", str(tmp_path / "missing.json"), "-o", str(tmp_path / "m.png")]) == 4
    assert main(["bdrate", "anchor:kodak/vtm", str(tmp_path / "foreign.json")]) == 4
