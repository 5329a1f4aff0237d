"""Shared helpers for the psweep benchmark scripts in this folder.

Nothing here runs at import time. The helpers describe *which* psweep a child
process imports (a :class:`Target`), set up the reference venv with upstream
psweep from the package index, run measurement children and format tables.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
RESULTS_DIR = BENCH_DIR / "results"
UPSTREAM_VENV = BENCH_DIR / ".venv-upstream"
UPSTREAM_VERSION = "0.16.0"
UPSTREAM_SPEC = f"psweep=={UPSTREAM_VERSION}"
# variables that could make the reference interpreter see the repository
_LEAKY_ENV = ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "PYTHONUSERBASE")


class BenchError(RuntimeError):
    """A measurement child or the reference setup failed."""


@dataclass(frozen=True)
class Target:
    """An interpreter plus the environment that decides which psweep it imports."""

    label: str
    python: str
    env: dict[str, str]
    isolated: bool  # run with -I: no PYTHONPATH, no user site, no script dir

    def argv(self, *args: str) -> list[str]:
        return [self.python, *(["-I"] if self.isolated else []), *args]


def ours_target() -> Target:
    """The current interpreter with the repository root first on PYTHONPATH."""
    env = dict(os.environ)
    paths = [str(REPO_ROOT), *filter(None, [env.get("PYTHONPATH")])]
    env["PYTHONPATH"] = os.pathsep.join(paths)
    return Target("ours", sys.executable, env, isolated=False)


def _venv_python(venv: Path) -> Path:
    return venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def _upstream_target(venv: Path) -> Target:
    env = {k: v for k, v in os.environ.items() if k not in _LEAKY_ENV}
    return Target("upstream", str(_venv_python(venv)), env, isolated=True)


def _tail(text: str | bytes | None, lines: int = 5) -> str:
    if isinstance(text, bytes):
        text = text.decode(errors="replace")
    return " | ".join((text or "").strip().splitlines()[-lines:])


def run_child(target: Target, args: Sequence[str], cwd: Path, timeout: float) -> str:
    """Run ``target``'s interpreter with ``args`` in ``cwd``; return its stdout."""
    try:
        proc = subprocess.run(
            target.argv(*args),
            cwd=cwd,
            env=target.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise BenchError(f"{target.label}: {exc}") from exc
    if proc.returncode != 0:
        raise BenchError(f"{target.label}: exit {proc.returncode}: {_tail(proc.stderr)}")
    return proc.stdout


def run_json_child(
    target: Target, args: Sequence[str], cwd: Path, timeout: float
) -> dict[str, Any]:
    """Like :func:`run_child`, but parse the child's last stdout line as a JSON object.

    If the object has a ``psweep_file`` key, also check that ``ours`` imported
    the repository's package and any other target did not.
    """
    out = run_child(target, args, cwd, timeout)
    try:
        info = json.loads(out.strip().splitlines()[-1])
    except (IndexError, ValueError) as exc:
        raise BenchError(f"{target.label}: no JSON line in {_tail(out)!r}") from exc
    if not isinstance(info, dict):
        raise BenchError(f"{target.label}: last line is not a JSON object: {info!r}")
    if "psweep_file" in info:
        from_repo = Path(info["psweep_file"]).resolve().is_relative_to(REPO_ROOT / "psweep")
        if from_repo != (target.label == "ours"):
            raise BenchError(f"{target.label} imported {info['psweep_file']}")
    return info


def _probe(target: Target) -> bool:
    """True if the venv interpreter imports upstream psweep of the right version."""
    if not Path(target.python).exists():
        return False
    code = "import psweep; print(psweep.__version__)"
    with tempfile.TemporaryDirectory() as tmp:
        try:
            out = run_child(target, ["-c", code], Path(tmp), timeout=120)
        except BenchError:
            return False
    return out.strip() == UPSTREAM_VERSION


def ensure_upstream_venv(
    venv: Path = UPSTREAM_VENV, log: Callable[[str], None] = print
) -> Target | None:
    """Reuse or create the reference venv; None (after a message) on failure."""
    target = _upstream_target(venv)
    if _probe(target):
        return target
    log(f"setting up reference venv {venv} with {UPSTREAM_SPEC} ...")
    steps = [
        [sys.executable, "-m", "venv", "--clear", str(venv)],
        [target.python, "-m", "pip", "install", "--quiet", UPSTREAM_SPEC],
    ]
    try:
        for cmd in steps:
            subprocess.run(
                cmd,
                env=target.env,
                capture_output=True,
                check=True,
                timeout=900,
            )
    except subprocess.CalledProcessError as exc:
        log(f"reference setup failed ({_tail(exc.stderr)}); upstream column: n/a")
        return None
    except (OSError, subprocess.TimeoutExpired) as exc:
        log(f"reference setup failed ({exc}); upstream column: n/a")
        return None
    if _probe(target):
        return target
    log(f"{venv} does not import psweep {UPSTREAM_VERSION}; upstream column: n/a")
    return None


def selected_cases(parser: Any, text: str, known: Sequence[str]) -> list[str]:
    """The case names of a comma-separated `--cases` value; an unknown one is a usage
    error of `parser` (an :class:`argparse.ArgumentParser`) that lists the known ones."""
    cases = [c.strip() for c in text.split(",") if c.strip()]
    unknown = sorted(set(cases) - set(known))
    if unknown:
        parser.error(f"unknown case(s) {unknown}; known: {', '.join(known)}")
    return cases


def median_time(fn: Callable[[], Any], repeat: int) -> float:
    """The median wall time of `repeat` calls of `fn`, in seconds."""
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def median_or_none(values: Sequence[float]) -> float | None:
    return statistics.median(values) if values else None


def fmt(value: float | None, spec: str = ".1f") -> str:
    return "n/a" if value is None else format(value, spec)


def render_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Markdown-style table, fixed widths: first column left, others right."""
    cols = zip(headers, *rows, strict=True)
    widths = [max(len(cell) for cell in col) for col in cols]

    def line(cells: Sequence[str]) -> str:
        padded = [cells[0].ljust(widths[0])]
        padded += [c.rjust(w) for c, w in zip(cells[1:], widths[1:], strict=True)]
        return "| " + " | ".join(padded) + " |"

    sep = [":" + "-" * (widths[0] + 1)] + ["-" * (w + 1) + ":" for w in widths[1:]]
    return "\n".join([line(headers), "|" + "|".join(sep) + "|", *map(line, rows)])
