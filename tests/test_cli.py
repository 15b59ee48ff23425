"""CLI and Python API: round trips on paths, arrays and bytes; one-line errors, exit codes, no partial files."""

from __future__ import annotations

import json

import shutil
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest

import ncodec
from ncodec.cli import main
from ncodec.errors import BitstreamError, OutputExistsError, UnsupportedInputError

from conftest import ASSETS


def _png_claiming(width: int, height: int) -> bytes:
    """A PNG whose header claims width x height pixels (CRC-valid chunks, tiny IDAT)."""
    def chunk(tag: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + tag + body + struct.pack(">I", zlib.crc32(tag + body))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 16)) + chunk(b"IEND", b"")


def test_cli_encode_decode_info(tmp_path, capsys):
    src = ASSETS / "kodim19_203x147.jpg"
    ncd, png = tmp_path / "x.ncd", tmp_path / "y.png"
    assert main(["encode", str(src), str(ncd), "--quality", "2.5"]) == 0
    out = capsys.readouterr().out
    assert "bytes" in out and "bpp" in out and " s " in out
    assert main(["decode", str(ncd), str(png)]) == 0
    assert "decoded" in capsys.readouterr().out
    assert main(["info", str(ncd), "--json"]) == 0
    info = capsys.readouterr().out
    assert '"codec": "mean-scale-hyperprior"' in info and '"quality": 2.5' in info
    from ncodec.codecs.imageio import read_image

    assert read_image(png).shape == (147, 203, 3)
    # no overwrite without --force
    assert main(["decode", str(ncd), str(png)]) == OutputExistsError.exit_code
    assert main(["decode", str(ncd), str(png), "--force"]) == 0


def test_cli_compressai_backend_and_models(tmp_path, capsys):
    ncd = tmp_path / "x.ncd"
    assert main(["encode", str(ASSETS / "kodim15_grey_160x120.png"), str(ncd), "--backend", "compressai"]) == 0
    assert main(["decode", str(ncd), str(tmp_path / "g.pgm")]) == 0
    assert main(["models"]) == 0
    assert "mean-scale-hyperprior" in capsys.readouterr().out


def test_cli_coder_option_lists_every_backend(tmp_path, capsys):
    from ncodec.cli import CODER_BACKENDS
    from ncodec.entropy.coders import BACKENDS

    assert sorted(CODER_BACKENDS) == sorted(BACKENDS)
    ncd = tmp_path / "r.ncd"
    assert main(["encode", str(ASSETS / "kodim21_64x64.png"), str(ncd), "--coder", "rans-interleaved"]) == 0
    capsys.readouterr()
    assert main(["info", str(ncd), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["coder"] == "rans-interleaved"
    assert main(["decode", str(ncd), str(tmp_path / "r.png")]) == 0


@pytest.mark.parametrize("case", ["missing", "empty", "text", "huge", "truncated_png"])
def test_bad_inputs_one_line_error_no_output(tmp_path, capsys, case):
    src = tmp_path / "in.png"
    if case == "empty":
        src.write_bytes(b"")
    elif case == "text":
        src.write_text("this is not an image\n")
    elif case == "huge":
        src.write_bytes(_png_claiming(100000, 100000))
    elif case == "truncated_png":
        src.write_bytes((ASSETS / "kodim21_64x64.png").read_bytes()[:300])
    out = tmp_path / "out.ncd"
    code = main(["encode", str(src), str(out)])
    err = capsys.readouterr().err
    assert code == UnsupportedInputError.exit_code
    assert err.count("\n") == 1 and err.startswith("ncodec: error:")
    assert not out.exists() and list(tmp_path.iterdir()) == ([src] if src.exists() else [])


@pytest.mark.parametrize("payload", [b"", b"\x89NCD", b"garbage" * 10])
def test_bad_bitstreams_one_line_error_no_output(tmp_path, capsys, payload):
    src = tmp_path / "in.ncd"
    src.write_bytes(payload)
    out = tmp_path / "out.png"
    code = main(["decode", str(src), str(out)])
    assert code == BitstreamError.exit_code
    assert capsys.readouterr().err.count("\n") == 1
    assert not out.exists()


def test_api_paths_arrays_bytes(tmp_path):
    img = np.asarray(__import__("PIL.Image", fromlist=["Image"]).open(ASSETS / "kodim05_96x80.ppm"))
    data = ncodec.encode(img, quality=1.5)
    assert ncodec.info(data)["shape"] == [3, 80, 96]
    from_bytes = ncodec.encode((ASSETS / "kodim05_96x80.ppm").read_bytes(), quality=1.5)
    assert from_bytes == data  # same pixels, same encoder, same bytes
    out = ncodec.decode(data)
    assert out.shape == img.shape
    path = tmp_path / "a.ncd"
    ncodec.encode(ASSETS / "kodim05_96x80.ppm", path, quality=1.5)
    assert path.read_bytes() == data
    assert np.array_equal(ncodec.decode(path), out)
    assert ncodec.open(path).header.quality == 1.5
    grey = ncodec.decode(ncodec.encode(np.full((33, 47), 128, dtype=np.uint8)))
    assert grey.shape == (33, 47)


def test_console_script_and_demo(tmp_path):
    exe = shutil.which("ncodec") or str(Path(sys.executable).parent / "ncodec")
    r = subprocess.run([exe, "demo", "--out-dir", str(tmp_path), "--qualities", "2"], capture_output=True,
                       text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert "PSNR" in r.stdout and (tmp_path / "demo-decoded.png").exists()
    r = subprocess.run([exe, "decode", str(tmp_path / "nope.ncd"), str(tmp_path / "o.png")], capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == UnsupportedInputError.exit_code and "Traceback" not in r.stderr
    r = subprocess.run([exe, "encode", "--help"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and "--quality" in r.stdout
