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


def _task_result(path, name, bpp, cer, psnr, original=0.001):
    path.write_text(json.dumps({"name": name, "original": {"cer": original},
                                "results": {"bpp": bpp, "cer": cer, "psnr-rgb": psnr}}))
    return str(path)


def _inside(inner, outer, slack=1.0):
    return (inner.x0 >= outer.x0 - slack and inner.x1 <= outer.x1 + slack and inner.y0 >= outer.y0 - slack
            and inner.y1 <= outer.y1 + slack)


def test_lossless_points_get_their_own_panel_and_legends_sit_outside(tmp_path):
    import matplotlib.pyplot as plt

    from ncodec.evaluation.plot import rd_figure

    lossy = _task_result(tmp_path / "jpeg.json", "jpeg", [0.2, 0.4, 0.8, 1.2], [0.03, 0.01, 0.004, 0.002],
                         [28.0, 31.0, 34.0, 37.0])
    near = _task_result(tmp_path / "one.json", "one-rate", [0.5], [0.006], [32.0])  # inside the curves' range
    png = _task_result(tmp_path / "png.json", "png", [9.5], [0.001], [None])
    title = "a deliberately long title that has to wrap rather than run off the edge of the figure " * 3
    fig = rd_figure([lossy, near, png], ["cer", "psnr-rgb"], title=title)
    try:
        axes = {ax.get_label(): ax for ax in fig.axes}
        assert set(axes) == {"main:cer", "references:cer", "main:psnr-rgb"}  # lossless has no PSNR panel part
        main, refs = axes["main:cer"], axes["references:cer"]
        assert main.get_xlim()[1] < 2.0  # the lossy curves fill their panel
        assert refs.get_xlim()[0] < 9.5 < refs.get_xlim()[1]
        assert [line.get_label() for line in refs.get_lines() if not line.get_label().startswith("_")] == ["png"]
        assert "one-rate" in [line.get_label() for line in main.get_lines()]
        assert main.get_ylabel() == "character error rate (lower is better), log scale"  # 0.001..0.03
        assert main.get_yscale() == "log" and axes["main:psnr-rgb"].get_yscale() == "linear"
        assert refs.get_title() == "lossless"
        fig.canvas.draw()
        renderer = fig.canvas.get_renderer()
        box = fig.bbox
        assert len(fig.legends) == 1  # no anchor: one legend for both panels
        legend = fig.legends[0].get_window_extent(renderer)
        assert _inside(legend, box)
        assert all(not legend.overlaps(ax.get_window_extent(renderer)) for ax in fig.axes)
        labels = [t.get_text() for t in fig.legends[0].get_texts()]
        assert labels[-1] == "uncompressed inputs (0.001)" and "png" in labels
        assert not any("original" in label for label in labels)  # once, as a dotted line, not per entry
        assert _inside(fig._suptitle.get_window_extent(renderer), box)
        assert fig._suptitle.get_text().replace("\n", " ").split() == title.split()
    finally:
        plt.close(fig)
    fig = rd_figure([lossy, png], ["cer"], reference_panel=False)
    try:
        assert [ax.get_label() for ax in fig.axes] == ["main:cer"] and fig.axes[0].get_xlim()[1] > 9.5
    finally:
        plt.close(fig)


def test_point_cloud_plot_names_its_axes_and_object(tmp_path):
    import matplotlib.pyplot as plt

    from ncodec.evaluation.plot import rd_figure

    files = []
    for name, shift in (("draco", 0.0), ("octree-pc", -0.5)):
        doc = {"name": name, "object": "bun0.pcd", "points": 112586,
               "results": {"bits_per_point": [1.0 + shift, 2.0 + shift, 4.0 + shift, 8.0 + shift],
                           "d1_psnr": [60.0, 66.0, 72.0, 78.0], "d2_psnr": [64.0, 70.0, 76.0, 82.0]}}
        (tmp_path / f"bun0-{name}.json").write_text(json.dumps(doc))
        files.append(str(tmp_path / f"bun0-{name}.json"))
    fig = rd_figure(files, None, anchor=files[0])  # metrics None: D1 and D2 PSNR for point clouds
    try:
        mains = [ax for ax in fig.axes if ax.get_label().startswith("main:")]
        assert [ax.get_ylabel() for ax in mains] == ["D1 PSNR [dB]", "D2 PSNR [dB]"]
        assert all(ax.get_xlabel() == "bits per input point" for ax in mains)
        assert "bun0.pcd (112,586 points)" in fig._suptitle.get_text()
        fig.canvas.draw()
        renderer = fig.canvas.get_renderer()
        assert len(fig.legends) == 0 and all(len(sf.legends) == 1 for sf in fig.subfigs)  # BD-rates per panel
        for sf, ax in zip(fig.subfigs, mains):
            legend = sf.legends[0]
            labels = [t.get_text() for t in legend.get_texts()]
            assert labels[0] == "draco (anchor)" and labels[1].startswith("octree-pc (-") and len(labels) == 2
            assert not legend.get_window_extent(renderer).overlaps(ax.get_window_extent(renderer))
            assert _inside(legend.get_window_extent(renderer), fig.bbox)
    finally:
        plt.close(fig)
    written = plot_rd(files, tmp_path / "pc.png", ["d1_psnr"], anchor=files[0], title="bunny")
    assert "D1 PSNR [dB]" in written[1].read_text() and "bits per input point" in written[1].read_text()
