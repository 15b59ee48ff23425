"""GPU device check: the first minutes on a lent GPU machine, in one time-boxed run with one JSON out.

Steps, in order, each in its own process with its own time limit (a failed or timed-out step does not
stop the next one):

  setup     which Python, torch and CUDA; ncodec is built into a scratch folder when it is not
            importable (a bare GPU machine has no .venv: ``pip install --no-deps --no-index --target``,
            plus any wheels in ``.whl/``); what is missing is named
  kernels   tests/test_rans_cuda.py (the interleaved rANS CUDA kernels, compiled on demand by nvcc)
  bitexact  every learned image codec with shipped weights x every coder backend x a few real images:
            GPU-encoded streams decoded on the CPU and CPU-encoded streams decoded on the GPU give the
            encoder's latents exactly; GPU and CPU bitstreams compared byte for byte (and, where they
            differ, how many latent symbols differ); max/mean pixel difference of GPU vs CPU decodes
  bench     benchmarks/entropy_coding.py, writing into the output folder (never results/)
  train     a short ``ncodec train --device cuda --amp`` run (mean-scale hyperprior N=64 M=96): steps/s

Writes OUTDIR/device-check.json (rewritten after every step), OUTDIR/device-check.log (every step's
output), OUTDIR/bench-entropy-coding.json and OUTDIR/train-log.csv, and prints a table. Exit status:
0 all steps passed, 1 a step failed or timed out, 3 no usable CUDA GPU (nothing run), 2 usage error.
Without a GPU, ``--dry-run-cpu`` runs the same steps on the CPU (the bit-exactness check then compares
the CPU at torch's default thread count with the CPU at one thread) to prove the plumbing works.

    bash scripts/device_check.sh [OUTDIR] [--dry-run-cpu] [--only bitexact,bench] [--budget 450]
    python scripts/device_check.py bitexact --devices cuda,cpu --json out.json   # the check alone
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback
import xml.etree.ElementTree as ET
from importlib import metadata
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
STEPS = ("kernels", "bitexact", "bench", "train")
LIMITS_S = {"setup": 90, "kernels": 90, "bitexact": 120, "bench": 90, "train": 120}
BUDGET_S = 450  # all steps together: leaves room inside 8 minutes for the machine's own overhead
BACKENDS = ("constriction", "compressai", "rans-interleaved")
SOURCE_DIRS = ("ncodec", "codecs", "entropy", "models", "datasets", "training", "evaluation")
SOURCE_FILES = ("pyproject.toml", "setup.py", "README.md", "LICENSE", "NOTICE")
COMMITTED_BENCH = ROOT / "results" / "bench-entropy-coding.json"
EXIT_FAIL, EXIT_USAGE, EXIT_NO_GPU = 1, 2, 3

PROBE = r"""
import importlib, importlib.util, json, shutil, sys
out = {"python": sys.version.split()[0], "executable": sys.executable, "modules": {}}
try:
    import torch
    out["torch"] = torch.__version__
    out["torch_cuda"] = torch.version.cuda
    out["cuda_available"] = bool(torch.cuda.is_available())
    if out["cuda_available"]:
        out["gpu"] = torch.cuda.get_device_name(0)
        out["capability"] = "%d.%d" % torch.cuda.get_device_capability(0)
        out["gpu_count"] = torch.cuda.device_count()
except Exception as exc:
    out["torch_error"] = f"{type(exc).__name__}: {exc}"[:300]
for name in ("numpy", "PIL", "ncodec.codecs.image", "ncodec.entropy._rans"):
    try:
        importlib.import_module(name)
        out["modules"][name] = "ok"
    except BaseException as exc:
        out["modules"][name] = f"{type(exc).__name__}: {exc}"[:300]
for name in ("constriction", "compressai", "pytest", "tqdm"):
    try:
        found = importlib.util.find_spec(name) is not None
    except Exception:
        found = False
    out["modules"][name] = "ok" if found else "not installed"
try:
    import ncodec
    out["ncodec_from"] = str(ncodec.__file__)
    from ncodec.entropy import rans_cuda
    out["nvcc"] = rans_cuda.nvcc_path()
except Exception:
    out["nvcc"] = shutil.which("nvcc")
print("PROBE " + json.dumps(out))
"""


# ----------------------------------------------------------------------------- small helpers

def write_json(path: Path, doc: dict[str, Any]) -> None:
    """Atomic JSON write (temp file + rename)."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(doc, indent=1, default=str) + "\n")
    os.replace(tmp, path)


def tail(text: str, lines: int = 25) -> str:
    """The last lines of a step's output (for the JSON)."""
    return "\n".join(text.rstrip().splitlines()[-lines:])


def run_limited(cmd: list[str], limit_s: float, cwd: Path, env: dict[str, str],
                log: Path) -> tuple[int | None, float, str]:
    """Run ``cmd`` in its own process group, killing the group after ``limit_s`` seconds.

    Returns (exit status, or None when it timed out; seconds; its output, also appended to ``log``).
    """
    t0 = time.monotonic()
    with tempfile.TemporaryFile("w+") as buf:
        proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=buf, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
        try:
            rc: int | None = proc.wait(timeout=max(1.0, limit_s))
        except subprocess.TimeoutExpired:
            rc = None
            for sig, wait_s in ((signal.SIGTERM, 5), (signal.SIGKILL, 10)):
                try:
                    os.killpg(proc.pid, sig)  # the group of the process started here, by its id
                except ProcessLookupError:
                    break
                try:
                    proc.wait(timeout=wait_s)
                    break
                except subprocess.TimeoutExpired:
                    continue
        seconds = time.monotonic() - t0
        buf.seek(0)
        text = buf.read()
    shown = " ".join(arg if len(arg) < 200 else "<script>" for arg in cmd)
    with log.open("a") as f:
        f.write(f"\n===== {shown}\n===== cwd {cwd}; limit {limit_s:.0f} s; "
                f"{'TIMED OUT' if rc is None else f'exit {rc}'} after {seconds:.1f} s\n{text}")
    return rc, seconds, text


def nvidia_smi() -> dict[str, Any]:
    """GPU name, driver, memory and the driver's CUDA version from nvidia-smi (empty if absent)."""
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return {}
    info: dict[str, Any] = {"path": exe}
    try:
        q = subprocess.run([exe, "--query-gpu=name,driver_version,memory.total", "--format=csv,noheader"],
                           capture_output=True, text=True, timeout=30)
        rows = [r.strip() for r in q.stdout.strip().splitlines() if r.strip()]
        if q.returncode == 0 and rows:
            name, driver, memory = (v.strip() for v in (rows[0].split(",") + ["", "", ""])[:3])
            info.update(name=name, driver=driver, memory=memory, gpus=len(rows))
        else:
            info["error"] = (q.stderr or q.stdout).strip()[:300] or f"exit {q.returncode}"
        full = subprocess.run([exe], capture_output=True, text=True, timeout=30)
        for token in full.stdout.split("|"):
            if "CUDA Version" in token:
                info["driver_cuda"] = token.split("CUDA Version:")[-1].strip()
                break
    except (OSError, subprocess.SubprocessError) as exc:
        info["error"] = f"{type(exc).__name__}: {exc}"[:300]
    return info


def nvcc_version(nvcc: str | None) -> str | None:
    """The release line of ``nvcc --version``."""
    if not nvcc:
        return None
    try:
        out = subprocess.run([nvcc, "--version"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    lines = [line for line in out.splitlines() if "release" in line]
    return lines[-1].strip() if lines else None


def git_commit() -> str | None:
    """HEAD of the checkout, when it travelled with its .git (read-only query)."""
    if not (ROOT / ".git").exists() or shutil.which("git") is None:
        return None
    try:
        q = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10)
        return (q.stdout.strip() or None) if q.returncode == 0 else None
    except (OSError, subprocess.SubprocessError):
        return None


def package_version(name: str) -> str | None:
    """An installed distribution's version, without importing it."""
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


# ----------------------------------------------------------------------------- the orchestrator

class Check:
    """One device-check run: the steps, their results and the JSON document."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.out = Path(args.out).resolve()
        self.json_path = self.out / "device-check.json"
        self.log = self.out / "device-check.log"
        self.t0 = time.monotonic()
        self.deadline = self.t0 + args.budget
        self.scratch = Path(tempfile.mkdtemp(prefix="ncodec-device-check-"))
        self.env = dict(os.environ, PYTHONUNBUFFERED="1", PYTHONDONTWRITEBYTECODE="1")
        self.python = sys.executable
        self.gpu = not args.dry_run_cpu
        self.probe: dict[str, Any] = {}
        self.doc: dict[str, Any] = {
            "check": "ncodec-device-check", "format": 1, "mode": "dry-run-cpu" if args.dry_run_cpu else "gpu",
            "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "status": "running", "budget_s": args.budget,
            "machine": {}, "python_choice": os.environ.get("DEVICE_CHECK_PYTHON_NOTE", ""), "missing": [],
            "steps": [], "json": str(self.json_path)}

    # -------------------------------------------------------------- bookkeeping
    def save(self) -> None:
        """Rewrite the JSON (after every step, so a killed run still leaves one)."""
        self.doc["elapsed_s"] = round(time.monotonic() - self.t0, 2)
        write_json(self.json_path, self.doc)

    def add_step(self, name: str, status: str, seconds: float = 0.0, limit: float | None = None,
                 summary: str = "", **extra: Any) -> dict[str, Any]:
        step = {"name": name, "status": status, "seconds": round(seconds, 2), "limit_s": limit,
                "summary": summary, **extra}
        self.doc["steps"].append(step)
        self.save()
        return step

    def limit_for(self, name: str) -> float:
        """The step's own limit, cut to what is left of the whole budget."""
        return min(LIMITS_S[name], self.deadline - time.monotonic() - 5)

    def run(self, cmd: list[str], limit: float, cwd: Path | None = None) -> tuple[int | None, float, str]:
        """A time-boxed subprocess in the scratch folder (see ``run_limited``)."""
        return run_limited(cmd, limit, cwd or self.scratch, self.env, self.log)

    # -------------------------------------------------------------- machine and set-up
    def machine(self) -> dict[str, Any]:
        m = {"hostname": platform.node(), "platform": platform.platform(), "cpu_count": os.cpu_count(),
             "python": platform.python_version(), "python_executable": sys.executable,
             "torch": package_version("torch"), "git_commit": git_commit(), "nvidia_smi": nvidia_smi()}
        self.doc["machine"] = m
        return m

    def run_probe(self, limit: float) -> dict[str, Any]:
        """What the interpreter has: torch, CUDA, ncodec, the optional coders, nvcc."""
        rc, _, text = self.run([self.python, "-c", PROBE], limit)
        for line in text.splitlines():
            if line.startswith("PROBE "):
                return json.loads(line[6:])
        return {"error": "the probe did not finish" if rc is None else tail(text, 5)}

    def ncodec_ok(self) -> bool:
        """ncodec and its C++ coder import in the steps' environment."""
        mods = self.probe.get("modules", {})
        return mods.get("ncodec.codecs.image") == "ok" and mods.get("ncodec.entropy._rans") == "ok"

    def bootstrap(self, limit: float) -> str:
        """Build ncodec (C++ extension included) into the scratch folder; wheels from .whl/ beside it."""
        notes = []
        src, site = self.scratch / "src", self.scratch / "site"
        src.mkdir()
        ignore = shutil.ignore_patterns("__pycache__", "*.so", "*.pyc", "*.egg-info", "build")
        for d in SOURCE_DIRS:
            shutil.copytree(ROOT / d, src / d, ignore=ignore)
        for f in SOURCE_FILES:
            if (ROOT / f).exists():
                shutil.copy2(ROOT / f, src / f)
        cmd = [self.python, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "--no-index",
               "--no-cache-dir", "--no-compile", "--target", str(site), str(src)]
        rc, secs, text = self.run(cmd, limit)
        paths = []
        if rc == 0:
            paths.append(str(site))
            notes.append(f"built ncodec into {site} ({secs:.0f} s)")
        else:
            notes.append("building ncodec failed" + (" (timed out)" if rc is None else f": {tail(text, 3)}"))
        wheels = sorted((ROOT / ".whl").glob("*.whl"))
        if wheels:
            target = self.scratch / "wheels"
            rc, _, text = self.run([self.python, "-m", "pip", "install", "-q", "--no-deps", "--no-index",
                                    "--no-cache-dir", "--no-compile", "--target", str(target)]
                                   + [str(w) for w in wheels], max(10.0, self.deadline - time.monotonic() - 60))
            if rc == 0:
                paths.append(str(target))
                notes.append(f"installed {len(wheels)} wheels from .whl/")
            else:
                notes.append(f"installing .whl/ wheels failed: {tail(text, 2)}")
        if paths:
            old = self.env.get("PYTHONPATH")
            self.env["PYTHONPATH"] = os.pathsep.join(paths + ([old] if old else []))
        return "; ".join(notes)

    def setup(self) -> bool:
        """Probe the interpreter; build ncodec when it is not importable. True when the steps can run."""
        t0 = time.monotonic()
        limit = self.limit_for("setup")
        self.probe = self.run_probe(min(60.0, limit))
        notes = []
        if not self.ncodec_ok() and "torch" in self.probe:
            notes.append(self.bootstrap(max(10.0, limit - (time.monotonic() - t0))))
            self.probe = self.run_probe(60.0)
        p = self.probe
        m = self.doc["machine"]
        m.update({k: p.get(k) for k in ("torch", "torch_cuda", "cuda_available", "gpu", "capability", "nvcc")})
        m["torch"] = p.get("torch") or m.get("torch")
        m["nvcc_version"] = nvcc_version(p.get("nvcc"))
        m["ncodec_from"] = p.get("ncodec_from")
        missing = [name for name, state in p.get("modules", {}).items() if state != "ok"]
        if "torch" not in p:
            missing.insert(0, "torch")
        if self.gpu and not p.get("nvcc"):
            missing.append("nvcc")
        self.doc["missing"] = missing
        ok = "torch" in p and self.ncodec_ok() and (p.get("cuda_available") or not self.gpu)
        if "torch" not in p:
            notes.append(f"torch is not importable with {self.python}: {p.get('torch_error', p.get('error'))}")
        elif self.gpu and not p.get("cuda_available"):
            notes.append(f"torch {p.get('torch')} sees no CUDA device")
        elif not self.ncodec_ok():
            notes.append("ncodec is not importable: " + "; ".join(
                f"{k}: {v}" for k, v in p["modules"].items() if k.startswith("ncodec") and v != "ok"))
        if missing:
            notes.append("missing: " + ", ".join(missing))
        summary = f"{self.python}; torch {p.get('torch')}"
        if p.get("torch_cuda"):
            summary += f" (CUDA {p.get('torch_cuda')})"
        self.add_step("setup", "pass" if ok else "fail", time.monotonic() - t0, LIMITS_S["setup"],
                      "; ".join([summary] + [n for n in notes if n]), probe=p)
        return ok

    # -------------------------------------------------------------- steps
    def step_kernels(self, limit: float) -> dict[str, Any]:
        """tests/test_rans_cuda.py under pytest; counts read from its JUnit XML."""
        if self.probe.get("modules", {}).get("pytest") != "ok":
            return {"status": "skipped", "summary": "pytest is not installed"}
        xml = self.scratch / "kernels.xml"
        cmd = [self.python, "-m", "pytest", str(ROOT / "tests" / "test_rans_cuda.py"), "-q", "-rfEs",
               "-p", "no:cacheprovider", f"--junitxml={xml}"]
        rc, secs, text = self.run(cmd, limit)
        counts = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
        failed = []
        if xml.exists():
            root = ET.parse(xml).getroot()
            for suite in root.iter("testsuite"):
                for key in counts:
                    counts[key] += int(suite.get(key, 0))
            for case in root.iter("testcase"):
                if case.find("failure") is not None or case.find("error") is not None:
                    failed.append(case.get("name"))
        passed = counts["tests"] - counts["failures"] - counts["errors"] - counts["skipped"]
        summary = f"{passed} passed, {counts['failures'] + counts['errors']} failed, {counts['skipped']} skipped"
        if rc is None:
            status, summary = "timeout", f"timed out after {secs:.0f} s; " + summary
        elif rc != 0 or counts["failures"] or counts["errors"]:
            status = "fail"
        elif self.gpu and (counts["skipped"] or not passed):
            status, summary = "fail", summary + " (on a GPU machine nothing may skip)"
        else:
            status = "pass"
            if not self.gpu:
                summary += " (no GPU: the CUDA tests skip, as expected in a dry run)"
        return {"status": status, "summary": summary, "seconds": secs, "counts": counts, "failed": failed[:20],
                "log_tail": tail(text)}

    def step_bitexact(self, limit: float) -> dict[str, Any]:
        """The ``bitexact`` subcommand in its own process (GPU vs CPU, or CPU vs CPU at 1 thread)."""
        a = self.args
        result = self.scratch / "bitexact.json"
        cmd = [self.python, str(Path(__file__).resolve()), "bitexact", "--json", str(result),
               "--devices", "cuda,cpu" if self.gpu else "cpu,cpu", "--deadline", str(max(5.0, limit - 15))]
        for flag, value in (("--codecs", a.codecs), ("--backends", a.backends), ("--images", a.images),
                            ("--qualities", a.qualities)):
            if value:
                cmd += [flag, value]
        rc, secs, text = self.run(cmd, limit)
        if not result.exists():
            return {"status": "timeout" if rc is None else "fail", "seconds": secs,
                    "summary": "no result written: " + tail(text, 3), "log_tail": tail(text)}
        doc = json.loads(result.read_text())
        s = doc.get("summary", {})
        status = "pass" if rc == 0 and doc.get("ok") else "timeout" if rc is None else "fail"
        if status == "pass" and doc.get("stopped_early"):
            status = "partial"  # every case that ran is exact; the summary says that some did not run
        summary = s.get("text", "") or tail(text, 2)
        return {"status": status, "seconds": secs, "summary": summary, "details": doc, "log_tail": tail(text, 12)}

    def step_bench(self, limit: float) -> dict[str, Any]:
        """benchmarks/entropy_coding.py writing into the output folder; coders not installed are skipped."""
        target = self.out / "bench-entropy-coding.json"
        if target.resolve() == COMMITTED_BENCH.resolve():  # never overwrite the committed figures
            target = self.out / "bench-entropy-coding.device-check.json"
        mods = self.probe.get("modules", {})
        skip = [name for name in ("constriction", "compressai") if mods.get(name) != "ok"]
        sizes = self.args.bench_sizes or ("1e6,1e7" if self.gpu else "1e5")
        cmd = [self.python, str(ROOT / "benchmarks" / "entropy_coding.py"), "--sizes", sizes,
               "--threads", str(max(1, min(os.cpu_count() or 1, 16))), "--repeats", "3" if self.gpu else "1",
               "--out", str(target)]
        if skip:
            cmd += ["--skip", ",".join(skip)]
        rc, secs, text = self.run(cmd, limit)
        if rc is None:
            return {"status": "timeout", "seconds": secs, "summary": f"timed out after {secs:.0f} s",
                    "log_tail": tail(text)}
        if rc != 0 or not target.exists():
            return {"status": "fail", "seconds": secs, "summary": tail(text, 2), "log_tail": tail(text)}
        doc = json.loads(target.read_text())
        rows = [{k: r.get(k) for k in ("symbols", "coder", "encode_msym_s", "decode_msym_s", "overhead_pct",
                                        "same_bytes_as_cpu")} for r in doc.get("results", [])]
        cuda = [r for r in rows if "CUDA kernels" in (r["coder"] or "")]
        status, parts = "pass", []
        if self.gpu and not cuda:
            status, parts = "fail", ["no CUDA rows: the kernels did not load (see the log)"]
        if any(r.get("same_bytes_as_cpu") is False for r in cuda):
            status, parts = "fail", parts + ["CUDA bytes differ from the CPU coder's"]
        biggest = max((r["symbols"] for r in rows), default=0)
        for r in rows:
            if r["symbols"] == biggest and ("CUDA kernels" in r["coder"] or "C++" in r["coder"]):
                label = "CUDA kernels" if "CUDA" in r["coder"] else "C++"
                parts.append(f"{label} {biggest:.0e}: enc {r['encode_msym_s']:.0f} / dec {r['decode_msym_s']:.0f} M sym/s")
        if skip:
            parts.append(f"skipped {', '.join(skip)} (not installed)")
        return {"status": status, "seconds": secs, "summary": "; ".join(parts), "output": str(target),
                "rows": rows, "log_tail": tail(text, 12)}

    def training_data(self) -> tuple[Path | None, str]:
        """--data, else ../shared/data/photos-train, else crops of ncodec/data/sample.png in scratch."""
        if self.args.data:
            return Path(self.args.data), "--data"
        shared = ROOT.parent / "shared" / "data" / "photos-train"
        if shared.is_dir() and len(list(shared.glob("*.png"))) > 3:
            return shared, str(shared)
        try:
            from PIL import Image
        except ImportError:
            return None, "PIL is not installed"
        folder = self.scratch / "train-data"
        folder.mkdir()
        with Image.open(ROOT / "ncodec" / "data" / "sample.png") as im:
            im = im.convert("RGB")
            w, h = im.size
            side = min(192, w, h)
            for i, (fx, fy) in enumerate(((0, 0), (0.5, 0), (1, 0), (0, 1), (0.5, 1), (1, 1))):
                left, top = int(fx * (w - side)), int(fy * (h - side))
                im.crop((left, top, left + side, top + side)).save(folder / f"crop{i}.png")
        return folder, "6 crops of ncodec/data/sample.png (no ../shared/data/photos-train here)"

    def step_train(self, limit: float) -> dict[str, Any]:
        """A short ``ncodec train`` run (bf16 autocast on CUDA); steps/s from its log.csv."""
        data, where = self.training_data()
        if data is None:
            return {"status": "skipped", "summary": where}
        run_dir = self.scratch / "train"
        steps = self.args.train_steps or (400 if self.gpu else 20)
        cmd = [self.python, "-m", "ncodec", "train", "--codec", "mean-scale-hyperprior", "--N", "64", "--M", "96",
               "--data", str(data), "--out", str(run_dir), "--steps", "1000000", "--stop-after", str(steps),
               "--batch-size", "8", "--patch-size", "128", "--lr", "3e-4", "--seed", "0", "--no-progress",
               "--val-every", "1000000000", "--checkpoint-every", "1000000000",
               "--log-every", str(max(1, min(50, steps // 4)))]
        cmd += ["--device", "cuda", "--amp"] if self.gpu else ["--device", "cpu"]
        rc, secs, text = self.run(cmd, limit)
        log_csv = run_dir / "log.csv"
        rows = []
        if log_csv.exists():
            shutil.copy2(log_csv, self.out / "train-log.csv")
            with log_csv.open() as f:
                rows = list(csv.DictReader(f))
        done = int(rows[-1]["step"]) if rows else 0
        rate = None
        if len(rows) >= 2:  # from the first logged step on: leaves out start-up and the first steps' warm-up
            d_steps = int(rows[-1]["step"]) - int(rows[0]["step"])
            d_wall = float(rows[-1]["wall_s"]) - float(rows[0]["wall_s"])
            rate = d_steps / d_wall if d_wall > 0 else None
        elif rows and float(rows[-1]["wall_s"]) > 0:
            rate = done / float(rows[-1]["wall_s"])
        figures = {"steps": done, "steps_per_s": rate, "process_s": secs, "data": where, "amp": self.gpu,
                   "last": rows[-1] if rows else None}
        summary = f"{done}/{steps} steps" + (f", {rate:.1f} steps/s" if rate else "") + \
                  (" (bf16 autocast, batch 8 of 128x128)" if self.gpu else " (CPU, batch 8 of 128x128)")
        if rows:
            summary += f", last bpp {float(rows[-1]['bpp']):.3f} psnr {float(rows[-1]['psnr']):.2f}"
        if rc is None:
            status, summary = "timeout", f"timed out after {secs:.0f} s; " + summary
        elif rc != 0 or done < steps:
            status = "fail"
            summary += "; " + tail(text, 2)
        else:
            status = "pass"
        return {"status": status, "seconds": secs, "summary": summary, "figures": figures, "log_tail": tail(text, 8)}

    # -------------------------------------------------------------- the whole run
    def execute(self) -> int:
        """Set-up, then every step in order; returns the exit status."""
        ready = self.setup()
        chosen = set(self.args.only.split(",")) if self.args.only else set(STEPS)
        for name in STEPS:
            if name not in chosen:
                self.add_step(name, "skipped", summary="not selected (--only)")
                continue
            if not ready:
                self.add_step(name, "skipped", summary="set-up failed (see the setup step)")
                continue
            limit = self.limit_for(name)
            if limit < 15:
                self.add_step(name, "skipped", summary=f"the {self.args.budget:.0f} s budget is spent")
                continue
            t0 = time.monotonic()
            try:
                result = getattr(self, f"step_{name}")(limit)
            except Exception as exc:  # a bug here must not cost the other steps
                with self.log.open("a") as f:
                    f.write(traceback.format_exc())
                result = {"status": "fail", "summary": f"device_check error: {type(exc).__name__}: {exc}"}
            seconds = result.pop("seconds", time.monotonic() - t0)
            self.add_step(name, result.pop("status"), seconds, round(limit), result.pop("summary", ""), **result)
        statuses = [s["status"] for s in self.doc["steps"]]
        bad = [s for s in statuses if s in ("fail", "timeout")]
        self.doc["status"] = "fail" if bad else "partial" if "partial" in statuses else "pass"
        self.doc["total_s"] = round(time.monotonic() - self.t0, 2)
        self.save()
        self.print_table()
        return EXIT_FAIL if bad else 0

    def print_table(self) -> None:
        """The short table on stdout."""
        m = self.doc["machine"]
        gpu = m.get("gpu") or m.get("nvidia_smi", {}).get("name") or "no GPU"
        print(f"\nncodec device check ({self.doc['mode']}): {gpu}; torch {m.get('torch')} "
              f"(CUDA {m.get('torch_cuda')}); nvcc {m.get('nvcc_version') or 'not found'}")
        print(f"{'step':<9} {'status':<8} {'time':>7} {'limit':>6}  summary")
        for s in self.doc["steps"]:
            limit = f"{s['limit_s']:.0f}s" if s.get("limit_s") else "-"
            print(f"{s['name']:<9} {s['status']:<8} {s['seconds']:6.1f}s {limit:>6}  {s['summary']}")
        print(f"overall: {self.doc['status'].upper()} in {self.doc['total_s']:.0f} s -> {self.json_path}")

    def cleanup(self) -> None:
        """Remove the scratch folder (unless --keep-scratch)."""
        if not self.args.keep_scratch:
            shutil.rmtree(self.scratch, ignore_errors=True)
        else:
            print(f"scratch kept: {self.scratch}")


def gpu_absent_reason() -> str | None:
    """Why there is certainly no usable NVIDIA GPU here, or None (decided without importing torch)."""
    smi = shutil.which("nvidia-smi")
    if smi is None and not Path("/dev/nvidia0").exists() and not Path("/dev/nvidiactl").exists():
        return "no NVIDIA driver (nvidia-smi not found, no /dev/nvidia*)"
    if smi is not None:
        try:
            q = subprocess.run([smi, "-L"], capture_output=True, text=True, timeout=30)
        except (OSError, subprocess.SubprocessError) as exc:
            return f"nvidia-smi failed ({type(exc).__name__})"
        if q.returncode != 0 or "GPU" not in q.stdout:
            return f"nvidia-smi lists no GPU ({(q.stderr or q.stdout).strip()[:120] or f'exit {q.returncode}'})"
    return None


def orchestrate(argv: list[str]) -> int:
    """The device check: parse options, stop at once without a GPU, else run the steps."""
    p = argparse.ArgumentParser(description="ncodec GPU device check (see the module docstring)")
    p.add_argument("--out", default=str(ROOT / "runs" / "device-check"), help="output folder")
    p.add_argument("--dry-run-cpu", action="store_true",
                   help="no GPU needed: run every step on the CPU (bit-exactness: default threads vs 1 thread)")
    p.add_argument("--only", default="", help=f"comma-separated steps to run, of {','.join(STEPS)} (default: all)")
    p.add_argument("--budget", type=float, default=BUDGET_S, help="seconds for all steps together")
    p.add_argument("--codecs", default="", help="bitexact: codec names (default: every shipped learned image codec)")
    p.add_argument("--backends", default="", help=f"bitexact: coder backends (default: {','.join(BACKENDS)})")
    p.add_argument("--images", default="", help="bitexact: comma-separated image files (default: tests/assets + sample)")
    p.add_argument("--qualities", default="", help="bitexact: quality levels, 'max' allowed (default: 1,max)")
    p.add_argument("--bench-sizes", default="", help="benchmark symbol counts (default: 1e6,1e7; dry run 1e5)")
    p.add_argument("--train-steps", type=int, default=0, help="training steps (default: 400; dry run 20)")
    p.add_argument("--data", default="", help="training images (default: ../shared/data/photos-train or sample crops)")
    p.add_argument("--keep-scratch", action="store_true", help="keep the scratch folder (built ncodec, run files)")
    a = p.parse_args(argv)
    unknown = set(filter(None, a.only.split(","))) - set(STEPS)
    if unknown:
        p.error(f"unknown step(s) {', '.join(sorted(unknown))}; choose from {', '.join(STEPS)}")
    # the steps run in a scratch folder: paths given relative to the caller's folder are made absolute
    a.images = ",".join(str(Path(x).resolve()) for x in a.images.split(",") if x)
    a.data = str(Path(a.data).resolve()) if a.data else ""
    out = Path(a.out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        print(f"device_check: cannot create the output folder {out}: {exc.strerror}", file=sys.stderr)
        return EXIT_USAGE
    if not a.dry_run_cpu:
        reason = gpu_absent_reason()
        if reason:
            doc = {"check": "ncodec-device-check", "format": 1, "mode": "gpu", "status": "no-gpu",
                   "reason": reason, "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                   "machine": {"hostname": platform.node(), "platform": platform.platform(),
                               "cpu_count": os.cpu_count(), "python": platform.python_version(),
                               "python_executable": sys.executable, "torch": package_version("torch")},
                   "python_choice": os.environ.get("DEVICE_CHECK_PYTHON_NOTE", ""),
                   "steps": [{"name": n, "status": "skipped", "seconds": 0.0, "limit_s": LIMITS_S[n],
                              "summary": "no GPU"} for n in ("setup",) + STEPS]}
            write_json(out.resolve() / "device-check.json", doc)
            print(f"device_check: no CUDA GPU on this machine: {reason}; nothing was run "
                  f"(--dry-run-cpu exercises the checks on the CPU); wrote {out / 'device-check.json'}",
                  file=sys.stderr)
            return EXIT_NO_GPU
    check = Check(a)
    (check.log).write_text(f"ncodec device check, {check.doc['started']}, python {sys.executable}\n")
    try:
        check.machine()
        check.save()
        code = check.execute()
        if not a.dry_run_cpu and check.doc["steps"][0]["status"] != "pass" and not check.probe.get("cuda_available"):
            print(f"device_check: no usable CUDA GPU: {check.doc['steps'][0]['summary']}", file=sys.stderr)
            return EXIT_NO_GPU
        return code
    finally:
        check.cleanup()


# ----------------------------------------------------------------------------- the bit-exactness check

def _label(devices: list[str]) -> list[str]:
    """Names for the two sides: 'cuda'/'cpu', or 'cpu'/'cpu-1thread' in a CPU dry run."""
    return [devices[0], devices[1] + "-1thread"] if devices[0] == devices[1] else list(devices)


class _Side:
    """A device, and for the second CPU of a dry run torch at one thread (a real perturbation)."""

    def __init__(self, device: str, one_thread: bool) -> None:
        self.device, self.one_thread, self._saved = device, one_thread, 0

    def __enter__(self) -> "_Side":
        import torch

        if self.one_thread:
            self._saved = torch.get_num_threads()
            torch.set_num_threads(1)
        return self

    def __exit__(self, *exc: object) -> None:
        import torch

        if self.one_thread:
            torch.set_num_threads(self._saved)


def _decode_with_latents(codec: Any, header: Any, sections: list[bytes], device: str) -> tuple[list[dict], Any]:
    """Pixels and the parsed latents of one decode (the latents are caught on their way through
    ``decompress``, so nothing is decoded twice)."""
    caught: dict[str, Any] = {}
    inner = codec.decompress_latents

    def recording(*args: Any, **kwargs: Any) -> Any:
        result = inner(*args, **kwargs)
        caught["latents"] = result[0]
        return result

    codec.decompress_latents = recording  # an instance attribute: shadows the method for this call
    try:
        pixels = codec.decompress(header, sections, device=device)
    finally:
        del codec.decompress_latents
    return caught["latents"], pixels


def _same_latents(encoded: list[dict], decoded: list[dict]) -> bool:
    import numpy as np

    if len(encoded) != len(decoded):
        return False
    return all(np.array_equal(np.asarray(e[k]).reshape(-1), np.asarray(d[k]).reshape(-1))
               for e, d in zip(encoded, decoded) for k in e)


def _same_decodes(x: list[dict], y: list[dict]) -> bool:
    """Two decoders' latents, means included."""
    import numpy as np

    return len(x) == len(y) and all(
        (a[k] is None and b[k] is None) or (a[k] is not None and b[k] is not None and np.array_equal(a[k], b[k]))
        for a, b in zip(x, y) for k in a)


def _symbol_diff(x: list[dict], y: list[dict]) -> dict[str, list[int]]:
    """Per latent: [differing symbols, total] between two encoders' latents."""
    import numpy as np

    out: dict[str, list[int]] = {}
    for a, b in zip(x, y):
        for k in a:
            u, v = np.asarray(a[k]).reshape(-1), np.asarray(b[k]).reshape(-1)
            n = int((u != v).sum()) if u.shape == v.shape else int(max(u.size, v.size))
            prev = out.get(k, [0, 0])
            out[k] = [prev[0] + n, prev[1] + int(max(u.size, v.size))]
    return out


def _one_line(exc: BaseException) -> str:
    """An exception as one line (its traceback goes to the step's log)."""
    traceback.print_exc()
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"[:300]


def check_case(codec: Any, image: Any, quality: float, backend: str, devices: list[str]) -> dict[str, Any]:
    """One codec x backend x image x quality: encode on both sides, decode each stream on both sides.

    A failing encode or decode is recorded in ``errors`` and the rest still runs (a GPU-encode bug must
    not hide the CPU-encode -> GPU-decode result)."""
    import numpy as np

    from ncodec.codecs import container

    labels = _label(devices)
    sides = [_Side(devices[0], False), _Side(devices[1], devices[0] == devices[1])]
    row: dict[str, Any] = {"encode_s": {}, "decode_s": {}, "bytes": {}, "sha256": {}, "decode": {}, "pixels": {},
                           "errors": {}}
    enc, streams = {}, {}
    for label, side in zip(labels, sides):
        try:
            with side:
                t0 = time.perf_counter()
                enc[label] = codec.compress(image, quality=quality, backend=backend, device=side.device)
                row["encode_s"][label] = round(time.perf_counter() - t0, 4)
            streams[label] = container.pack(enc[label].header, enc[label].sections)
        except Exception as exc:
            row["errors"][f"encode on {label}"] = _one_line(exc)
            continue
        row["bytes"][label] = len(streams[label])
        row["sha256"][label] = hashlib.sha256(streams[label]).hexdigest()[:16]
    a, b = labels
    ok = len(streams) == 2
    if ok:
        row["streams_identical"] = streams[a] == streams[b]
        row["encoder_latents_identical"] = _same_latents(enc[a].latents, enc[b].latents)
        if not row["streams_identical"]:
            row["symbols_differing"] = _symbol_diff(enc[a].latents, enc[b].latents)
        # the same symbols must give the same bytes: anything else is a coder mismatch between the devices
        row["coder_mismatch"] = row["encoder_latents_identical"] and not row["streams_identical"]
        ok = not row["coder_mismatch"]
    for src in streams:
        header, sections = container.unpack(streams[src])
        decoded, pixels = {}, {}
        for label, side in zip(labels, sides):
            try:
                with side:
                    t0 = time.perf_counter()
                    decoded[label], pixels[label] = _decode_with_latents(codec, header, sections, side.device)
                    row["decode_s"][f"{src}->{label}"] = round(time.perf_counter() - t0, 4)
            except Exception as exc:
                row["errors"][f"decode {src}->{label}"] = _one_line(exc)
                ok = False
                continue
            exact = _same_latents(enc[src].latents, decoded[label])
            row["decode"][f"{src}->{label}"] = exact
            ok = ok and exact
        if len(decoded) == 2:
            row["decode"][f"{src}: decoders agree"] = _same_decodes(decoded[a], decoded[b])
            ok = ok and row["decode"][f"{src}: decoders agree"]
            diff = np.abs(pixels[a].astype(np.int16) - pixels[b].astype(np.int16))
            row["pixels"][src] = {"max_abs": int(diff.max(initial=0)),
                                  "mean_abs": float(diff.mean()) if diff.size else 0.0,
                                  "differing": int((diff != 0).sum()), "total": int(diff.size)}
    if "cuda" in devices and backend == "rans-interleaved":
        row["cuda_kernels_used"] = codec.coder(backend, "cuda")._gpu is not None
        ok = ok and row["cuda_kernels_used"]
    if not row["errors"]:
        del row["errors"]
    row["ok"] = bool(ok)
    return row


def _summarise(doc: dict[str, Any]) -> dict[str, Any]:
    cases = doc["cases"]
    done = [c for c in cases if "error" not in c]
    a, b = doc["labels"]
    s = {"cases": len(cases), "errors": sum(bool(c.get("error") or c.get("errors")) for c in cases),
         "ok": sum(bool(c.get("ok")) for c in cases),
         "streams_identical": sum(bool(c.get("streams_identical")) for c in done),
         "coder_mismatches": sum(bool(c.get("coder_mismatch")) for c in done),
         f"{a}_encoded_{b}_decoded_exact": sum(bool(c["decode"].get(f"{a}->{b}")) for c in done),
         f"{b}_encoded_{a}_decoded_exact": sum(bool(c["decode"].get(f"{b}->{a}")) for c in done)}
    diffs = [p for c in done for p in c["pixels"].values()]
    s["pixel_max_abs"] = max((p["max_abs"] for p in diffs), default=0)
    s["pixel_mean_abs"] = sum(p["mean_abs"] for p in diffs) / len(diffs) if diffs else 0.0
    s["pixels_differing"] = sum(p["differing"] for p in diffs)
    s["pixels_total"] = sum(p["total"] for p in diffs)
    text = (f"{s['ok']}/{s['cases']} cases exact ({len(doc['codecs'])} codecs x {len(doc['backends'])} coders x "
            f"{len(doc['images'])} images x {len(doc['qualities'])} q); {a}->{b} {s[f'{a}_encoded_{b}_decoded_exact']}, "
            f"{b}->{a} {s[f'{b}_encoded_{a}_decoded_exact']} latents exact; streams identical "
            f"{s['streams_identical']}/{len(done)}; pixels {a} vs {b} decode: max {s['pixel_max_abs']}, "
            f"mean {s['pixel_mean_abs']:.2g}, {s['pixels_differing']}/{s['pixels_total']} differ")
    if s["errors"]:
        bad = next(c for c in cases if c.get("error") or c.get("errors"))
        first = bad.get("error") or ": ".join(next(iter(bad["errors"].items())))
        text += f"; {s['errors']} cases with errors, first: {first}"
    if doc.get("skipped"):
        text += "; skipped: " + ", ".join(doc["skipped"])
    if doc.get("stopped_early"):
        text += f"; {doc['stopped_early']}"
    s["text"] = text
    return s


def bitexact_main(argv: list[str]) -> int:
    """The ``bitexact`` subcommand: writes its JSON after every case (partial results survive a kill)."""
    p = argparse.ArgumentParser(prog="device_check.py bitexact", description=check_case.__doc__)
    p.add_argument("--json", required=True)
    p.add_argument("--devices", default="cuda,cpu", help="encode/decode sides, e.g. cuda,cpu or cpu,cpu")
    p.add_argument("--codecs", default="")
    p.add_argument("--backends", default=",".join(BACKENDS))
    p.add_argument("--images", default="")
    p.add_argument("--qualities", default="1,max")
    p.add_argument("--deadline", type=float, default=100.0, help="seconds after which no new case starts")
    a = p.parse_args(argv)
    t_end = time.monotonic() + a.deadline
    devices = [d.strip() for d in a.devices.split(",")]
    if len(devices) != 2:
        p.error("--devices takes two devices")
    out = Path(a.json)

    import importlib.util

    import numpy as np
    import torch

    from ncodec.codecs.image import LearnedImageCodec
    from ncodec.codecs.imageio import read_image
    from ncodec.entropy.coders import get_coder
    from ncodec.models.context import CheckerboardChannelContext
    from ncodec.models.image import MODEL_CLASSES
    from ncodec.models.zoo import WEIGHTS_DIR, manifest

    kinds = set(MODEL_CLASSES) | {CheckerboardChannelContext.kind}
    wanted = set(filter(None, a.codecs.split(",")))
    entries, seen = [], set()
    for e in manifest():
        if e["codec"] in kinds and (not wanted or e["codec"] in wanted) and e["file"] not in seen \
                and (WEIGHTS_DIR / e["file"]).exists():
            entries.append(e)
            seen.add(e["file"])
    if a.images:
        image_paths = [Path(x) for x in a.images.split(",") if x]
    else:
        image_paths = sorted((ROOT / "tests" / "assets").glob("kodim*")) + [ROOT / "ncodec" / "data" / "sample.png"]
    images = sorted(((p, read_image(p)) for p in image_paths), key=lambda t: t[1].shape[0] * t[1].shape[1])
    doc: dict[str, Any] = {"devices": devices, "labels": _label(devices), "torch": torch.__version__,
                           "threads": torch.get_num_threads(), "codecs": [e["codec"] for e in entries],
                           "images": [f"{p.name} {img.shape[1]}x{img.shape[0]}" for p, img in images],
                           "backends": [], "skipped": [], "qualities": [], "cases": [], "ok": False}
    for name in wanted - {e["codec"] for e in entries}:
        doc["skipped"].append(f"{name} (no shipped weights)")
    for backend in filter(None, a.backends.split(",")):
        package = {"constriction": "constriction", "compressai": "compressai"}.get(backend)
        try:
            missing = bool(package) and importlib.util.find_spec(package) is None
        except (ImportError, ValueError):
            missing = True
        if missing:
            doc["skipped"].append(f"{backend} ({package} not installed)")
            continue
        try:
            get_coder(backend)
        except Exception as exc:
            doc["skipped"].append(f"{backend} ({type(exc).__name__}: {exc})")
            continue
        doc["backends"].append(backend)
    codecs = {e["codec"]: LearnedImageCodec.from_file(WEIGHTS_DIR / e["file"]) for e in entries}
    quality_spec = [q.strip() for q in a.qualities.split(",") if q.strip()]
    doc["qualities"] = quality_spec
    write_json(out, doc)
    for q_text in quality_spec:  # small images first, every codec and coder on each: a deadline cuts the big ones
        for path, img in images:
            for name, codec in codecs.items():
                q = float(codec.levels) if q_text == "max" else float(q_text)
                for backend in doc["backends"]:
                    if time.monotonic() > t_end:
                        doc["stopped_early"] = "deadline reached: later cases not run"
                        break
                    case = {"codec": name, "backend": backend, "image": path.name, "quality": q}
                    try:
                        case.update(check_case(codec, img, q, backend, devices))
                    except Exception as exc:
                        case.update(ok=False, error=_one_line(exc))
                    doc["cases"].append(case)
                    flags = "ok" if case["ok"] else "FAIL " + "; ".join(
                        [case["error"]] if "error" in case else [f"{k}: {v}" for k, v in case.get("errors", {}).items()])
                    print(f"{name:<22} {backend:<17} {path.name:<24} q{q:g}: {flags}", flush=True)
                    doc["summary"] = _summarise(doc)
                    write_json(out, doc)
    doc["ok"] = bool(doc["cases"]) and all(c.get("ok") for c in doc["cases"])
    doc["summary"] = _summarise(doc)
    doc["complete"] = "stopped_early" not in doc
    write_json(out, doc)
    print(doc["summary"]["text"])
    return 0 if doc["ok"] else EXIT_FAIL


def main(argv: list[str] | None = None) -> int:
    """Entry point: the orchestrator, or the ``bitexact`` subcommand."""
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        if argv[:1] == ["bitexact"]:
            return bitexact_main(argv[1:])
        return orchestrate(argv)
    except KeyboardInterrupt:
        print("device_check: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # one line, never a traceback
        print(f"device_check: internal error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 70


if __name__ == "__main__":
    raise SystemExit(main())
