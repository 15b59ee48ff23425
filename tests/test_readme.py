"""Every command in README.md works as written, so the README cannot drift from the code.

Commands that need nothing beyond the repository run, in README order, in a temporary copy of the
working tree with no data root (as on a newcomer's fresh clone). Commands marked ``# needs data`` are
checked to be well-formed: ``ncodec`` commands parse with the real argument parser, scripts exist and
know every option the README gives them. The two set-up commands are the ones ``.ci/run`` executes.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
README = REPO / "README.md"
SETUP_COMMANDS = ("./scripts/setup.sh && .venv/bin/ncodec demo", "./scripts/test.sh")
NEEDS_DATA = re.compile(r"#\s*needs data\b")
COPY_IGNORE = shutil.ignore_patterns(".venv", ".git", "runs", "__pycache__", "*.egg-info", ".pytest_cache",
                                     ".hypothesis", "build", "ncodec-demo", "*.so")


@dataclass(frozen=True)
class Command:
    text: str
    language: str  # bash or python
    line: int
    needs_data: bool

    def __str__(self) -> str:
        return f"README.md:{self.line}: {self.text.splitlines()[0]}"


def readme_commands(text: str) -> list[Command]:
    """The commands of the README's ```bash blocks (continuation lines joined), then its ```python blocks."""
    commands: list[Command] = []
    language, pending, start = None, "", 0
    for number, line in enumerate(text.splitlines(), 1):
        fence = re.match(r"^```(\w*)\s*$", line)
        if fence:
            language = (fence.group(1) or "other") if language is None else None
            continue
        if language != "bash" or (not pending and (not line.strip() or line.lstrip().startswith("#"))):
            continue
        if not pending:
            start = number
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        full, pending = pending + line, ""
        commands.append(Command(full.strip(), "bash", start, bool(NEEDS_DATA.search(full))))
    return commands + _python_blocks(text)


def _python_blocks(text: str) -> list[Command]:
    blocks = []
    for match in re.finditer(r"^```python\n(.*?)^```", text, flags=re.S | re.M):
        line = text[: match.start()].count("\n") + 2
        blocks.append(Command(match.group(1), "python", line, bool(NEEDS_DATA.search(match.group(1)))))
    return blocks


COMMANDS = readme_commands(README.read_text(encoding="utf-8"))


def _words(command: Command) -> list[str]:
    return shlex.split(command.text, comments=True)


def test_readme_has_the_setup_commands_ci_runs():
    ci = (REPO / ".ci" / "run").read_text()
    texts = [c.text for c in COMMANDS]
    for setup in SETUP_COMMANDS:
        assert setup in texts, f"README lost its set-up command {setup!r}"
        assert setup in ci.splitlines(), f".ci/run does not run the README's {setup!r} verbatim"


def test_commands_that_need_data_say_so():
    for c in COMMANDS:
        if "../shared" in c.text or "NCODEC_DATA" in c.text:
            assert c.needs_data, f"{c} reads the data root but is not marked '# needs data'"


@pytest.mark.parametrize("command", [c for c in COMMANDS if c.needs_data and c.language == "bash"], ids=str)
def test_commands_that_need_data_are_well_formed(command: Command):
    words = _words(command)
    if words[0] == "ncodec":
        from ncodec.cli import build_parser

        build_parser().parse_args(words[1:])  # argparse exits (fails the test) on a malformed command
        return
    assert words[0] == "python" and words[1].endswith(".py"), f"{command}: unknown kind of command"
    script = REPO / words[1]
    assert script.is_file(), f"{command}: {words[1]} does not exist"
    help_text = subprocess.run([sys.executable, str(script), "--help"], capture_output=True, text=True,
                               timeout=120, cwd=REPO)
    assert help_text.returncode == 0, f"{command}: --help failed: {help_text.stderr[-300:]}"
    for option in (w.split("=")[0] for w in words[2:] if w.startswith("--")):
        assert option in help_text.stdout, f"{command}: {words[1]} has no option {option}"


def _bash_words(text: str, cwd: Path, env: dict[str, str]) -> list[str]:
    """The argument words bash makes of a one-line command (quotes removed, globs expanded in ``cwd``,
    the trailing comment dropped)."""
    r = subprocess.run(["bash", "-c", f"printf '%s\\0' {text}"], cwd=cwd, env=env, capture_output=True,
                       timeout=30)
    return [w.decode() for w in r.stdout.split(b"\0")[:-1]] if r.returncode == 0 else []


def _run_in_process(argv: list[str], cwd: Path, env: dict[str, str],
                    monkeypatch: pytest.MonkeyPatch) -> tuple[int, str, str]:
    """``ncodec.cli.main(argv)`` in ``cwd`` with ``env``; returns (exit code, stdout, stderr)."""
    import contextlib
    import io

    from ncodec import cli

    out, err = io.StringIO(), io.StringIO()
    with monkeypatch.context() as m:
        m.chdir(cwd)
        for key, value in env.items():
            m.setenv(key, value)
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = cli.main(argv)
            except SystemExit as exc:  # argparse errors
                code = exc.code if isinstance(exc.code, int) else 1
    return int(code or 0), out.getvalue(), err.getvalue()


def test_every_repository_only_command_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Run them in order, in a copy of the working tree, with no data root and the venv on PATH."""
    runnable = [c for c in COMMANDS if not c.needs_data and c.text not in SETUP_COMMANDS
                and c.text != "source .venv/bin/activate"]
    assert len(runnable) >= 15, "the README lost its runnable examples"
    copy = tmp_path / "ncodec"
    shutil.copytree(REPO, copy, ignore=COPY_IGNORE)
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
               NCODEC_DATA=str(tmp_path / "no-data-root"), MPLBACKEND="Agg")
    # The first ``ncodec`` command runs the installed entry point; the later ones run the same
    # ``ncodec.cli.main`` in this process on the words bash expands (quotes, globs, comments), which
    # saves a torch import per command (about 2 s each on a 2-core machine).
    entry_point_ran = False
    for c in runnable:
        words = _bash_words(c.text, copy, env) if c.language == "bash" else []
        if entry_point_ran and words and words[0] == "ncodec" and not any(ch in c.text for ch in "|;&><$`"):
            code, out, err = _run_in_process(words[1:], copy, env, monkeypatch)
            assert code == 0, f"{c} exited {code}: {(err or out).strip()[-500:]}"
            assert "Traceback" not in err, f"{c} printed a traceback"
            continue
        argv = ["bash", "-c", c.text] if c.language == "bash" else [sys.executable, "-c", c.text]
        r = subprocess.run(argv, cwd=copy, env=env, capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, f"{c} exited {r.returncode}: {(r.stderr or r.stdout).strip()[-500:]}"
        assert "Traceback" not in r.stderr, f"{c} printed a traceback"
        entry_point_ran = entry_point_ran or (bool(words) and words[0] == "ncodec")

    # A user who runs Python in the folder that holds the clone (named ncodec) gets the package, not
    # the clone as an empty namespace package (scripts/setup.sh puts the editable finder first).
    r = subprocess.run([sys.executable, "-c", "import ncodec; print(callable(ncodec.encode))"], cwd=tmp_path,
                       env=env, capture_output=True, text=True, timeout=60)
    assert r.stdout.strip() == "True", r.stderr[-300:]
