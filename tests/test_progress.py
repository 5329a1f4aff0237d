"""Progress without a terminal, and the checks a pool run makes of its script."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from psweep.lifecycle.progress import Progress, want_progress

ROOT = Path(__file__).resolve().parents[1]

SLOW = """\
import time
import psweep as ps

def func(pset):
    time.sleep(0.05)
    if pset["i"] == 3:
        raise ValueError("three")
    return {"x": pset["i"]}

if __name__ == "__main__":
    ps.run_local(func, ps.plist("i", range(30)), on_error="record")
"""


def _run(tmp_path: Path, script: str, **env: str) -> subprocess.CompletedProcess:
    (tmp_path / "script.py").write_text(script)
    pythonpath = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    return subprocess.run(
        [sys.executable, "script.py"],
        cwd=tmp_path,
        capture_output=True,  # stderr is no terminal, as in a cluster's job log
        text=True,
        env={**os.environ, "PYTHONPATH": pythonpath, **env},
        timeout=300,
        check=False,
    )


def test_a_run_without_terminal_prints_a_line_now_and_then(tmp_path):
    """Without a tty, a run writes a line of progress to stderr every interval."""
    proc = _run(tmp_path, SLOW, PSWEEP_PROGRESS_INTERVAL_S="0.3")
    assert proc.returncode == 0, proc.stderr
    lines = re.findall(r"^psweep: (\d+) of 30 psets done( \(1 failed\))? after .*$",
                       proc.stderr, re.M)  # fmt: skip
    assert len(lines) >= 2, proc.stderr
    counts = [int(done) for done, _ in lines]
    assert counts == sorted(counts) and counts[-1] < 30
    assert "left" in proc.stderr and "\r" not in proc.stderr  # no bar in a log file


def test_the_default_interval_keeps_short_runs_quiet(tmp_path):
    """A run shorter than a minute writes no progress line (nor a bar) to a log."""
    proc = _run(tmp_path, SLOW)
    assert proc.returncode == 0, proc.stderr
    assert "psets done" not in proc.stderr and "\r" not in proc.stderr


def test_want_progress():
    """None: a bar on a terminal, lines elsewhere; True a bar; False nothing."""
    assert want_progress(True) == "bar" and want_progress(False) is None
    assert want_progress(None) in ("bar", "lines")
    bar = Progress(10, None)
    bar.update(5)
    assert not bar.enabled


def test_progress_line_text():
    """The line names done, total, failures, rate and the time left."""
    bar = Progress(200, "lines")
    bar.update(82, failed=3)
    text = bar.line()
    assert text.startswith("psweep: 82 of 200 psets done (3 failed) after 0:00:")
    assert "psets/s, about" in text and text.endswith("left")


UNGUARDED = """\
import multiprocessing, sys
import psweep as ps

def func(pset):
    return {{"x": pset["i"]}}

multiprocessing.set_start_method({method!r})
ps.run_local(func, ps.plist("i", range(4)), poolsize=2)
print("ROWS", len(ps.df_read("calc/database.pk")))
"""


@pytest.mark.parametrize("method", ["spawn", "forkserver"])
def test_pool_refuses_a_script_without_main_guard(tmp_path, method):
    """Where workers start anew, a script without the guard is refused before any
    pset runs, and the error names the script and the fix."""
    proc = _run(tmp_path, UNGUARDED.format(method=method))
    assert proc.returncode == 1
    assert "PsweepParamsError" in proc.stderr and "script.py" in proc.stderr
    assert 'if __name__ == \\"__main__\\":' in proc.stderr or '"__main__"' in proc.stderr
    assert not (tmp_path / "calc" / "database.pk").exists()


def test_pool_warns_of_a_script_without_main_guard_where_workers_fork(tmp_path):
    """With fork the run works, and a warning says it would not elsewhere."""
    proc = _run(tmp_path, UNGUARDED.format(method="fork"))
    assert proc.returncode == 0, proc.stderr
    assert "ROWS 4" in proc.stdout
    assert "has no 'if __name__ == \"__main__\":' guard" in proc.stderr
    assert "macOS, Windows" in proc.stderr


def test_pool_says_nothing_of_a_guarded_script(tmp_path):
    """A script with the guard gets no warning."""
    script = UNGUARDED.format(method="fork").replace(
        "multiprocessing.set_start_method('fork')\n", 'if __name__ == "__main__":\n    '
    ).replace("\nprint(", "\n    print(")  # fmt: skip
    assert 'if __name__ == "__main__":\n    ps.run_local' in script
    proc = _run(tmp_path, script)
    assert proc.returncode == 0, proc.stderr
    assert "guard" not in proc.stderr
