"""scripts/device_check.sh without a GPU: the one-line no-GPU exit, and a CPU dry run of the
bit-exactness step on one tiny image (the JSON each writes is what is checked)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "device_check.sh"


@pytest.mark.skipif(torch.cuda.is_available() or shutil.which("nvidia-smi") is not None,
                    reason="checks the path taken on a machine without a GPU")
def test_no_gpu_exits_with_one_line_and_a_json(tmp_path):
    out = tmp_path / "out"
    proc = subprocess.run(["bash", str(SCRIPT), str(out)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 3, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("device_check: no CUDA GPU"), proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr
    doc = json.loads((out / "device-check.json").read_text())
    assert doc["status"] == "no-gpu" and doc["reason"]
    assert [s["name"] for s in doc["steps"]] == ["setup", "kernels", "bitexact", "bench", "train"]
    assert {s["status"] for s in doc["steps"]} == {"skipped"}


def test_cpu_dry_run_of_the_bit_exactness_step(tmp_path):
    out = tmp_path / "out"
    cmd = [sys.executable, str(ROOT / "scripts" / "device_check.py"), "--out", str(out), "--dry-run-cpu",
           "--only", "bitexact", "--codecs", "mean-scale-hyperprior", "--backends", "rans-interleaved",
           "--images", str(ROOT / "tests" / "assets" / "kodim21_64x64.png"), "--qualities", "1"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "bitexact" in proc.stdout and "PASS" in proc.stdout
    doc = json.loads((out / "device-check.json").read_text())
    assert doc["mode"] == "dry-run-cpu" and doc["status"] == "pass"
    assert doc["machine"]["torch"] and doc["machine"]["cpu_count"]
    steps = {s["name"]: s for s in doc["steps"]}
    assert steps["setup"]["status"] == "pass"
    assert all(steps[n]["status"] == "skipped" for n in ("kernels", "bench", "train"))
    bit = steps["bitexact"]
    assert bit["status"] == "pass", bit
    details = bit["details"]
    assert details["codecs"] == ["mean-scale-hyperprior"] and details["backends"] == ["rans-interleaved"]
    (case,) = details["cases"]
    assert case["ok"] and case["streams_identical"] and not case["coder_mismatch"]
    assert case["decode"] == {"cpu->cpu": True, "cpu->cpu-1thread": True, "cpu: decoders agree": True,
                              "cpu-1thread->cpu": True, "cpu-1thread->cpu-1thread": True,
                              "cpu-1thread: decoders agree": True}
    assert case["pixels"]["cpu"]["total"] == 64 * 64 * 3 and case["pixels"]["cpu"]["max_abs"] <= 1
    assert details["summary"]["ok"] == 1 and "1/1 cases exact" in bit["summary"]
    assert (out / "device-check.log").exists()
