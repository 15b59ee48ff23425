"""The weight zoo: every shipped file matches its manifest entry, loads, and stays within budget."""

from __future__ import annotations

import hashlib

from ncodec.codecs.image import LearnedImageCodec
from ncodec.codecs.registry import DEFAULT_CODEC, REGISTRY
from ncodec.models.zoo import MANIFEST, WEIGHTS_DIR, integer_synthesis_entries, manifest, realism_entries


def test_manifest_matches_files():
    entries = manifest()
    assert any(e["codec"] == DEFAULT_CODEC and e["default"] for e in entries)
    total = 0
    for e in entries:
        path = WEIGHTS_DIR / e["file"]
        data = path.read_bytes()
        total += len(data)
        assert hashlib.sha256(data).hexdigest() == e["sha256"], e["file"]
        assert e["codec"] in REGISTRY and e["recipe"] and e["steps"] > 0 and e["data"]
        if REGISTRY[e["codec"]].modality == "pointcloud":  # the learned octree model: qualities are bit depths
            from ncodec.codecs.pointcloud import OctreeDenseCodec, OctreeLearnedCodec

            if e["codec"] == OctreeDenseCodec.name:
                assert OctreeDenseCodec(str(path)).sha256 == e["sha256"]
                continue
            octree = OctreeLearnedCodec(str(path))
            assert octree.sha256 == e["sha256"] and octree.model.net is not None
            assert all(1 <= q <= 20 for q in e["qualities"])
            continue
        if REGISTRY[e["codec"]].modality == "task":  # the task codec decodes labels
            from ncodec.codecs.task import TaskClassifierCodec

            task = TaskClassifierCodec(path)
            assert task.sha256 == e["sha256"] and task.model.config() == e["config"]
            assert e["qualities"] == [float(q) for q in range(1, task.levels + 1)]
            continue
        codec = LearnedImageCodec.from_file(path)
        assert codec.name == e["codec"] and codec.model.config() == e["config"]
        for q in e["qualities"]:
            assert 1 <= q <= codec.levels
    import json

    from ncodec.codecs.realism import RealismDecoder

    bases = {e["sha256"]: e for e in entries}
    for e in realism_entries():  # realism generators: bound to shipped base weights, within the budget
        data = (WEIGHTS_DIR / e["file"]).read_bytes()
        total += len(data)
        assert hashlib.sha256(data).hexdigest() == e["sha256"], e["file"]
        assert e["base_sha256"] in bases and bases[e["base_sha256"]]["codec"] == e["base_codec"]
        decoder = RealismDecoder.from_file(WEIGHTS_DIR / e["file"])
        assert decoder.base_sha256 == e["base_sha256"] and e["recipe"] and e["steps"] > 0
    from ncodec.codecs.intsynth import load_program

    for e in integer_synthesis_entries():  # integer syntheses: bound to shipped base weights, within the budget
        data = (WEIGHTS_DIR / e["file"]).read_bytes()
        total += len(data)
        assert hashlib.sha256(data).hexdigest() == e["sha256"], e["file"]
        assert e["base_sha256"] in bases and bases[e["base_sha256"]]["codec"] == e["base_codec"]
        load_program(WEIGHTS_DIR / e["file"], e["base_sha256"])
        assert e["recipe"] and e["steps"] > 0 and e["data"]
    for e in json.loads(MANIFEST.read_text()).get("task_models", []):
        total += (WEIGHTS_DIR / e["file"]).stat().st_size
    assert total < 60 * 10**6  # every shipped weight file together: under 60 MB


def test_ship_weights_refuses_a_missing_data_manifest(tmp_path):
    """A mistyped --data-manifest ends in one line before anything is read or written."""
    import subprocess
    import sys
    from pathlib import Path

    repo = Path(__file__).resolve().parents[1]
    manifest = repo / "models" / "weights" / "manifest.json"
    before = manifest.read_bytes()
    proc = subprocess.run([sys.executable, str(repo / "scripts" / "ship_weights.py"), str(tmp_path / "none.pt"),
                           "--name", "never.ncw", "--data-manifest", str(tmp_path / "missing.json")],
                          capture_output=True, text=True)
    assert proc.returncode != 0
    assert proc.stderr.strip().splitlines() == [f"error: --data-manifest {tmp_path / 'missing.json'} does not exist"]
    assert manifest.read_bytes() == before
    assert not (repo / "models" / "weights" / "never.ncw").exists()
