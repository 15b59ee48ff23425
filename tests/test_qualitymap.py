"""Quality maps / ROI (issue 18 item 2): the per-cell qualities travel in a versioned section, the
decoder needs nothing else, the region gets its quality, and damaged sections are bitstream errors."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from ncodec import api
from ncodec.cli import main
from ncodec.codecs import container, qualitymap
from ncodec.codecs.imageio import read_image
from ncodec.codecs.registry import load_codec
from ncodec.errors import BitstreamError, UsageError
from ncodec.evaluation.metrics import psnr_rgb

from conftest import ASSETS


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    return read_image(ASSETS / "kodim19_203x147.jpg")


def test_cells_take_the_largest_quality_of_their_pixels() -> None:
    qmap = np.ones((40, 40))
    qmap[5:9, 20:37] = 3.456
    cells = qualitymap.latent_cells(qmap, 16, 3, 3)
    assert cells.tolist() == [[1.0, 3.46, 3.46], [1.0, 1.0, 1.0], [1.0, 1.0, 1.0]]
    packed = qualitymap.pack_section([cells, cells[:1]])
    back = qualitymap.unpack_section(packed, [(3, 3), (1, 3)], levels=4)
    np.testing.assert_array_equal(back[0], cells) and np.testing.assert_array_equal(back[1], cells[:1])


@pytest.mark.parametrize("kind", ["mean-scale-hyperprior", "checkerboard-channel"])
def test_roi_gets_its_quality_for_fewer_bytes(kind: str, photo: np.ndarray) -> None:
    codec = load_codec(kind)
    h, w = photo.shape[:2]
    rect = (48, 32, 96, 80)
    qmap = qualitymap.roi_map([f"{rect[0]},{rect[1]},{rect[2]},{rect[3]}:4"], h, w, 1.0, codec.levels)
    enc = codec.compress(photo, quality_map=qmap)
    data = container.pack(enc.header, enc.sections)
    header, sections = container.unpack(data)
    assert header.metadata[qualitymap.QMAP_KEY] == 1 and header.quality == 4.0
    latents, _, _ = codec.decompress_latents(header, sections)
    for k in enc.latents[0]:
        np.testing.assert_array_equal(enc.latents[0][k], latents[0][k])
    out = codec.decompress(header, sections)

    def roi(a):
        return a[rect[1]:rect[1] + rect[3], rect[0]:rect[0] + rect[2]]

    top = codec.compress(photo, quality=4.0)
    top_out = codec.decompress(top.header, top.sections)
    low = codec.compress(photo, quality=1.0)
    low_out = codec.decompress(low.header, low.sections)
    assert psnr_rgb(roi(photo), roi(out)) > psnr_rgb(roi(photo), roi(low_out)) + 1.0
    assert psnr_rgb(roi(photo), roi(out)) > psnr_rgb(roi(photo), roi(top_out)) - 0.5
    assert len(data) < len(container.pack(top.header, top.sections))
    # a uniform map is the uniform quality's image (the same gains), with one more section
    flat = codec.compress(photo, quality_map=np.full((h, w), 2.5))
    uniform = codec.compress(photo, quality=2.5)
    np.testing.assert_array_equal(codec.decompress(flat.header, flat.sections),
                                  codec.decompress(uniform.header, uniform.sections))


def test_damaged_or_missing_map_sections_are_bitstream_errors(photo: np.ndarray) -> None:
    codec = load_codec("mean-scale-hyperprior")
    enc = codec.compress(photo, quality_map=np.full(photo.shape[:2], 2.0))
    sec = list(enc.sections)
    bad = [sec[:-1], sec[:-1] + [b"QM"], sec[:-1] + [sec[-1][:-3]], sec[:-1] + [b"QX" + sec[-1][2:]]]
    high = qualitymap.pack_section([np.full((10, 13), 7.0)])
    bad.append(sec[:-1] + [high])
    wrong_count = qualitymap.pack_section([np.full((2, 2), 2.0)])
    bad.append(sec[:-1] + [wrong_count])
    for sections in bad:
        with pytest.raises(BitstreamError):
            codec.decompress(enc.header, sections)
    enc.header.metadata[qualitymap.QMAP_KEY] = 2
    with pytest.raises(BitstreamError):
        codec.decompress(enc.header, sec)


def test_cli_map_png_and_roi(tmp_path, photo, capsys) -> None:
    src = ASSETS / "kodim19_203x147.jpg"
    h, w = photo.shape[:2]
    grey = np.zeros((h, w), np.uint8)
    grey[20:60, 30:90] = 255
    Image.fromarray(grey).save(tmp_path / "map.png")
    assert main(["encode", str(src), str(tmp_path / "m.ncd"), "--quality-map", str(tmp_path / "map.png")]) == 0
    assert main(["decode", str(tmp_path / "m.ncd"), str(tmp_path / "m.png")]) == 0
    assert read_image(tmp_path / "m.png").shape == photo.shape
    api.encode(src, tmp_path / "r.ncd", roi=["30,20,60,40:4"], quality=1.5)
    assert api.info(tmp_path / "r.ncd")["metadata"][qualitymap.QMAP_KEY] == 1
    Image.fromarray(grey[:50]).save(tmp_path / "small.png")
    for argv, message in ((["--quality-map", str(tmp_path / "small.png")], "the image is 203x147"),
                          (["--roi", "1,2,3"], "x,y,w,h:Q"), (["--roi", "1,2,3,4:1.2.3"], "x,y,w,h:Q"),
                          (["--roi", "500,2,3,4:2"], "outside"),
                          (["--roi", "1,2,3,4:2", "--codec", "jpeg"], "need a learned codec"),
                          (["--roi", "1,2,3,4:2", "--target-size", "900"], "no target size")):
        assert main(["encode", str(src), str(tmp_path / "x.ncd"), *argv]) == UsageError.exit_code
        err = capsys.readouterr().err.strip()
        assert message in err and len(err.splitlines()) == 1
    assert not (tmp_path / "x.ncd").exists()
