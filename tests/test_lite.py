"""The decoder without PyTorch (issue 20 item 3): a golden stream decoded in a process where importing
torch fails gives exactly the integer synthesis's committed pixels."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from ncodec.codecs import container
from ncodec.codecs.imageio import read_image
from ncodec.codecs.lite import LiteImageDecoder, read_torch_file
from ncodec.errors import ModelMismatchError
from ncodec.fileutil import sha256_file

GOLDEN = Path(__file__).resolve().parent / "golden" / "v1"
KIND = "mean-scale-hyperprior"
STREAMS = sorted(GOLDEN.glob(f"{KIND}-kodim*-constriction.ncd"))
# torch's import fails in the child: sys.modules[name] = None makes `import torch` raise ImportError
BLOCK_TORCH = ("import sys; sys.modules['torch'] = None; from ncodec.cli import main; "
               "r = main(sys.argv[1:]); assert 'torch' not in [m.split('.')[0] for m in sys.modules if sys.modules[m]]; "
               "sys.exit(r)")


@pytest.mark.parametrize("path", STREAMS, ids=[p.name for p in STREAMS])
def test_numpy_decoder_gives_the_golden_integer_pixels(path: Path):
    weights = GOLDEN / f"{KIND}-small.ncw"
    lite = LiteImageDecoder(weights, GOLDEN / f"{KIND}-small.intsyn.ncw", sha256_file(weights))
    header, sections = container.unpack(path.read_bytes())
    assert np.array_equal(lite.decode(header, sections), read_image(path.with_suffix(".int.png")))


@pytest.mark.parametrize("path", STREAMS[:1] + STREAMS[-1:], ids=["grey", "rgb"])
def test_cli_decode_in_a_process_that_cannot_import_torch(path: Path, tmp_path):
    out = tmp_path / "out.png"
    r = subprocess.run([sys.executable, "-c", BLOCK_TORCH, "decode", str(path), str(out),
                        "--weights", str(GOLDEN / f"{KIND}-small.ncw")], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert np.array_equal(read_image(out), read_image(path.with_suffix(".int.png")))


def test_without_torch_the_float_paths_are_refused(tmp_path):
    path = STREAMS[-1]
    r = subprocess.run([sys.executable, "-c", BLOCK_TORCH, "decode", str(path), str(tmp_path / "o.png"),
                        "--weights", str(GOLDEN / f"{KIND}-small.ncw"), "--synthesis", "float"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode != 0 and len(r.stderr.strip().splitlines()) == 1 and "PyTorch" in r.stderr
    assert not (tmp_path / "o.png").exists()


def test_torch_file_reader_matches_torch():
    import torch

    path = GOLDEN / f"{KIND}-small.ncw"
    ours, ref = read_torch_file(path), torch.load(path, weights_only=True)
    for key, tensor in ref["state_dict"].items():
        assert np.array_equal(ours["state_dict"][key], tensor.numpy()), key
    assert ours["config"] == ref["config"]
    with pytest.raises(ModelMismatchError):
        read_torch_file(path.with_suffix(".png") if path.with_suffix(".png").exists() else STREAMS[0])


@pytest.mark.parametrize("backend", ["constriction", "rans-interleaved"])
def test_numpy_decoder_matches_torch_on_tiles_and_backends(backend: str, asset_images):
    """Several tiles, both torch-free coders, RGB and grey: the same pixels as torch's integer path."""
    from ncodec.codecs.image import LearnedImageCodec

    weights = GOLDEN / f"{KIND}-small.ncw"
    codec = LearnedImageCodec.from_file(weights)
    codec.attach_integer_synthesis(GOLDEN / f"{KIND}-small.intsyn.ncw")
    lite = LiteImageDecoder(weights, GOLDEN / f"{KIND}-small.intsyn.ncw", codec.sha256)
    for name in ("kodim19_203x147.jpg", "kodim15_grey_160x120.png"):
        enc = codec.compress(asset_images[name], quality=1.73, tile=64, backend=backend)
        header, sections = container.unpack(container.pack(enc.header, enc.sections))
        assert len(sections) > 2  # more than one tile
        assert np.array_equal(lite.decode(header, sections), codec.decompress(header, sections, synthesis="integer"))


def _zip_with_pickle(path: Path, payload: bytes, storages: dict[str, bytes] | None = None) -> Path:
    import zipfile

    with zipfile.ZipFile(path, "w") as z:
        z.writestr("archive/data.pkl", payload)
        for key, data in (storages or {}).items():
            z.writestr(f"archive/data/{key}", data)
    return path


def test_torch_file_reader_refuses_foreign_objects_and_bad_views(tmp_path):
    import pickle

    class Evil:
        def __reduce__(self):
            import os

            return (os.system, ("echo pwned",))

    with pytest.raises(ModelMismatchError):
        read_torch_file(_zip_with_pickle(tmp_path / "evil.ncw", pickle.dumps(Evil())))
    # a tensor whose size/stride reach past its storage (4 floats) is refused, not read
    import torch

    good = tmp_path / "good.ncw"
    torch.save({"t": torch.arange(4, dtype=torch.float32)}, good)
    assert np.array_equal(read_torch_file(good)["t"], np.arange(4, dtype=np.float32))
    import zipfile

    with zipfile.ZipFile(good) as z:
        names = z.namelist()
        pkl = z.read([n for n in names if n.endswith("data.pkl")][0])
        data = {n.rsplit("/", 1)[-1]: z.read(n) for n in names if "/data/" in n}
    bad_pkl = pkl.replace(b"K\x04\x85", b"M\x00\x10\x85")  # size (4,) -> (4096,)
    assert bad_pkl != pkl
    with pytest.raises(ModelMismatchError):
        read_torch_file(_zip_with_pickle(tmp_path / "bad.ncw", bad_pkl, data))


def test_numpy_fallback_without_the_extension_gives_the_same_pixels(monkeypatch):
    path = STREAMS[-1]
    weights = GOLDEN / f"{KIND}-small.ncw"
    lite = LiteImageDecoder(weights, GOLDEN / f"{KIND}-small.intsyn.ncw", sha256_file(weights))
    header, sections = container.unpack(path.read_bytes())
    monkeypatch.setitem(sys.modules, "ncodec.models._intsynth", None)  # the import now fails
    assert np.array_equal(lite.decode(header, sections), read_image(path.with_suffix(".int.png")))
