"""The quick-start demo study runs end to end on a machine without git identity."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]


def test_demo_study(tmp_path):
    """It builds a git-tracked study with two runs, a backup and a dry run."""
    home = tmp_path / "home"
    home.mkdir()
    env = {key: val for key, val in os.environ.items() if not key.startswith(("GIT_", "EMAIL"))}
    env.update(HOME=str(home), GIT_CONFIG_NOSYSTEM="1", PYTHONPATH=str(ROOT))
    dest = tmp_path / "my demo"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "demo_study.py"), str(dest)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    df = pd.read_pickle(dest / "calc" / "database.pk")
    assert len(df) == 7
    assert df["_run_seq"].tolist() == [0] * 4 + [1] * 3
    assert len(pd.read_pickle(dest / "calc.simulate" / "database.pk")) == 11
    assert len(list(dest.glob("calc.bak_*"))) == 1
    log = subprocess.run(
        ["git", "log", "--format=%s"], cwd=dest, env=env, capture_output=True, text=True
    ).stdout.splitlines()
    run_ids = df["_run_id"].unique()
    assert log[0] == f"psweep: my demo: run_id={run_ids[1]}"
    assert f"run_id={run_ids[0]}" in log[1]
    status = subprocess.run(
        ["git", "status", "--porcelain"], cwd=dest, env=env, capture_output=True, text=True
    ).stdout
    assert status == ""
