"""Faults at unlucky moments, with real processes and file systems (issue 10).

A driver process is killed (os._exit, as SIGKILL would) at a chosen step: while
a backup is copied, while the database is written. Read-only calc dirs are
real tmpfs mounts (needs root; skipped otherwise).
"""

from __future__ import annotations

import contextlib
import glob
import subprocess
import sys
from pathlib import Path

import pytest

import psweep as ps


def func(pset):
    return {"r": pset["a"] * 2}


DIE_AT = """\
import os, sys
import psweep as ps

def func(pset):
    return {"r": pset["a"] * 2}

real_rename, real_replace = os.rename, os.replace

def rename(src, dst, *a, **k):
    if ".partial-" in str(src) and sys.argv[1] == "backup":
        os._exit(9)  # the backup was copied, not yet renamed
    return real_rename(src, dst, *a, **k)

def replace(src, dst, *a, **k):
    if str(dst).endswith("database.pk") and sys.argv[1] == "write":
        os._exit(9)  # the new database is in its temp file, not yet in place
    return real_replace(src, dst, *a, **k)

os.rename, os.replace = rename, replace
ps.run_local(func, ps.plist("a", [10, 11]), backup=True)
"""


@pytest.fixture
def study(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    ps.run_local(func, ps.plist("a", [1, 2, 3]))
    (tmp_path / "driver.py").write_text(DIE_AT)
    return tmp_path


def _die(step: str) -> None:
    proc = subprocess.run([sys.executable, "driver.py", step], capture_output=True)
    assert proc.returncode == 9, proc.stderr.decode()


def test_kill_during_backup(study):
    """Case 10: a backup cut short never has a backup's name; the next run removes it."""
    _die("backup")
    assert glob.glob("calc.bak_*") and all(".partial-" in p for p in glob.glob("calc.bak_*"))
    df = ps.run_local(func, ps.plist("a", [4]), backup=True)
    backups = glob.glob("calc.bak_*")
    assert len(backups) == 1 and ".partial-" not in backups[0]
    assert len(ps.df_read(Path(backups[0]) / "database.pk")) == 3
    assert df["a"].tolist() == [1, 2, 3, 4]


def test_kill_during_database_write(study):
    """Case 10: the temp file of a database write cut short is removed by the next run."""
    _die("write")
    assert glob.glob("calc/.database.pk.*.tmp")
    df = ps.run_local(func, ps.plist("a", [4]))
    assert glob.glob("calc/.database.pk.*.tmp") == []
    assert sorted(df["a"]) == [1, 2, 3, 4, 10, 11]  # the killed run's rows, from its journal


@contextlib.contextmanager
def _tmpfs(path: Path):
    path.mkdir()
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(path)])
    if proc.returncode != 0:
        pytest.skip("cannot mount a tmpfs here (needs root)")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def test_read_only_calc_dir_makes_no_backup(tmp_path, monkeypatch):
    """Case 17: a calc dir that cannot be written stops the run before the backup."""
    monkeypatch.chdir(tmp_path)
    with _tmpfs(tmp_path / "calc"):
        ps.run_local(func, ps.plist("a", [1, 2]))
        subprocess.run(["mount", "-o", "remount,ro", str(tmp_path / "calc")], check=True)
        with pytest.raises(ps.PsweepDatabaseError, match="nothing ran and no backup was made"):
            ps.run_local(func, ps.plist("a", [3]), backup=True)
        assert glob.glob(str(tmp_path / "calc.bak_*")) == []
        assert len(ps.df_read("calc/database.pk")) == 2
