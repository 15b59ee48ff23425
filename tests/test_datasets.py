"""Named datasets: manifests with checksums, clear errors naming what is missing."""

from __future__ import annotations

import shutil

import pytest

from ncodec.cli import main
from ncodec.datasets.catalog import build_manifest, dataset_files, resolve_data, verify_folder
from ncodec.errors import UnsupportedInputError

from conftest import ASSETS, shared_kodak


def test_manifest_detects_missing_and_changed_files(tmp_path):
    folder = tmp_path / "imgs"
    shutil.copytree(ASSETS, folder)
    manifest = build_manifest(folder)
    assert len(verify_folder(folder, manifest)) == len(list(ASSETS.glob("kodim*")))
    victim = sorted(folder.glob("kodim*"))[0]
    data = bytearray(victim.read_bytes())
    data[-1] ^= 1
    victim.write_bytes(bytes(data))
    with pytest.raises(UnsupportedInputError, match="differs from the manifest"):
        verify_folder(folder, manifest)
    verify_folder(folder, manifest, checksums=False)  # same size: only the checksum notices
    victim.unlink()
    with pytest.raises(UnsupportedInputError, match=f"1 of .* missing .*{victim.name}"):
        verify_folder(folder, manifest)


def test_missing_dataset_names_where_it_should_be(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("NCODEC_DATA", str(tmp_path))
    with pytest.raises(UnsupportedInputError, match=r"clic valid not found at .*clic/valid"):
        dataset_files("clic", "valid")
    with pytest.raises(UnsupportedInputError, match="does not train on it"):
        resolve_data("kodak:test")
    assert main(["dataset", "verify", "kodak"]) == 4
    assert "kodak test not found" in capsys.readouterr().err
    (tmp_path / "clic" / "train").mkdir(parents=True)
    shutil.copy(ASSETS / "kodim21_64x64.png", tmp_path / "clic" / "train")
    assert [p.name for p in resolve_data("clic:train")] == ["kodim21_64x64.png"]


def test_cli_manifest_then_verify(tmp_path, capsys):
    out = tmp_path / "m.json"
    assert main(["dataset", "manifest", str(ASSETS), "-o", str(out)]) == 0
    (tmp_path / "clic" / "valid").mkdir(parents=True)
    for p in ASSETS.glob("kodim*"):
        shutil.copy(p, tmp_path / "clic" / "valid")
    assert dataset_files("clic", "valid", root=tmp_path, verify=True, manifest=out)


@pytest.mark.skipif(shared_kodak() is None, reason="needs ../shared/data/kodak (benchmark data)")
def test_shared_kodak_matches_shipped_checksums():
    assert len(dataset_files("kodak", verify=True)) == 24
