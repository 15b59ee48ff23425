"""Retrain every shipped weight file from scratch, or check a short seeded run against the logged curve.

    python scripts/recipes.py list
    python scripts/recipes.py run NAME [--runs runs/]          # the full recipe (hours on 2 CPU cores)
    python scripts/recipes.py check NAME [--steps 200]         # first N steps of stage 1 vs its committed log

The commands are the manifest's (models/weights/manifest.json, "recipe"); each stage's training log is
committed as models/weights/logs/<file stem>.stage<k>.csv. ``check`` reruns the first stage for --steps
steps with the full run's learning-rate schedule (``--stop-after``), after running in full any commands
before it (mcq's seeding script), and compares loss, bpp and MSE at
every logged step: on the machine that trained the weights they agree to float printing precision;
elsewhere small floating-point differences grow slowly, so the check allows 2 % before failing.
Needs the training data ($NCODEC_DATA/photos-train); recipes that start from another shipped weight
file (``--init models/weights/…``) read it from the repository.
"""

from __future__ import annotations

import argparse
import csv
import json
import shlex
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
MANIFEST = REPO / "models" / "weights" / "manifest.json"
LOGS = REPO / "models" / "weights" / "logs"


def recipes() -> dict[str, dict]:
    return {Path(e["file"]).stem: e for e in json.loads(MANIFEST.read_text())["models"]}


def _ncodec(command: str, extra: list[str]) -> list[str]:
    """A recipe command as an argv: ``ncodec …`` or ``python scripts/…`` (the 3D model's recipe)."""
    argv = shlex.split(command)
    if argv[0] == "python":
        return [sys.executable] + argv[1:] + extra
    if argv[0] != "ncodec":
        raise SystemExit(f"recipe commands start with 'ncodec' or 'python': {command}")
    return [sys.executable, "-m", "ncodec"] + argv[1:] + extra


def _read_log(path: Path) -> dict[int, dict[str, float]]:
    with open(path, newline="") as f:
        return {int(r["step"]): {k: float(r[k]) for k in ("loss", "bpp", "mse")} for r in csv.DictReader(f)}


def check(name: str, steps: int, runs: Path) -> int:
    entry = recipes()[name]
    commands = entry["recipe"]
    train = next((i for i, c in enumerate(commands) if shlex.split(c)[:2] == ["ncodec", "train"]), None)
    if train is None:  # scripts/train_octree.py checks itself
        return subprocess.run(_ncodec(commands[0], ["--check"]), cwd=REPO).returncode
    logged = _read_log(LOGS / f"{name}.stage1.csv")
    out = runs / f"check-{name}"
    first = shlex.split(commands[train])
    run_dir = first[first.index("--out") + 1]
    # the commands before the first training (e.g. mcq's seeding script) run in full, into the check folder
    for command in commands[:train]:
        argv = _ncodec(command.replace(run_dir + "/", f"{out}/"), [])
        print("running:", shlex.join(argv[1:]), flush=True)
        subprocess.run(argv, check=True, cwd=REPO)
    first = shlex.split(commands[train].replace(run_dir + "/", f"{out}/"))
    first[first.index("--out") + 1] = str(out)
    cmd = _ncodec(shlex.join(first), ["--stop-after", str(steps), "--no-progress", "--val-every", str(10 ** 9)])
    print("running:", shlex.join(cmd[2:]), flush=True)
    subprocess.run(cmd, check=True, cwd=REPO)
    rerun = _read_log(out / "log.csv")
    worst = 0.0
    print(f"{'step':>6} {'logged loss':>12} {'rerun loss':>12} {'logged bpp':>11} {'rerun bpp':>10}")
    for step in sorted(s for s in rerun if s in logged):
        a, b = logged[step], rerun[step]
        worst = max(worst, *(abs(a[k] - b[k]) / max(abs(a[k]), 1e-9) for k in a))
        print(f"{step:>6} {a['loss']:12.5f} {b['loss']:12.5f} {a['bpp']:11.5f} {b['bpp']:10.5f}")
    print(f"largest relative difference: {100 * worst:.3f} %")
    return 0 if worst <= 0.02 else 1


def run(name: str, runs: Path) -> int:
    entry = recipes()[name]
    for command in entry["recipe"]:
        argv = shlex.split(command.replace("runs/", f"{runs}/"))
        print("running:", shlex.join(argv), flush=True)
        subprocess.run(_ncodec(shlex.join(argv), []), check=True, cwd=REPO)
    print(f"expected wall time on the original machine: {entry.get('train_wall_s', 0) / 3600:.1f} h of training")
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("action", choices=["list", "run", "check"])
    ap.add_argument("name", nargs="?")
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--runs", default="runs")
    a = ap.parse_args()
    table = recipes()
    if a.action == "list" or a.name is None:
        for name, e in table.items():
            print(f"{name}: {e['codec']}, {e['steps']} steps, {e.get('train_wall_s', 0) / 3600:.1f} h on "
                  f"{e.get('machine', '?')}")
            for command in e["recipe"]:
                print("    " + command)
        return 0
    if a.name not in table:
        print(f"unknown recipe {a.name!r}; known: {', '.join(table)}", file=sys.stderr)
        return 2
    return run(a.name, Path(a.runs)) if a.action == "run" else check(a.name, a.steps, Path(a.runs))


if __name__ == "__main__":
    from ncodec.cli import run_reporting_errors

    sys.exit(run_reporting_errors(main))
