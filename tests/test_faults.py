"""Faults at unlucky moments, with real processes and file systems (issue 10).

A driver process is killed (os._exit, as SIGKILL would) at a chosen step: while
a backup is copied, while the database is written. Read-only calc dirs are
real tmpfs mounts (needs root; skipped otherwise).
"""

from __future__ import annotations

import contextlib
import glob
import os
import subprocess
import sys
import time
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


@pytest.mark.parametrize("then", ["run", "recover"])
def test_kill_during_backup_then_no_backup(study, then):
    """A backup cut short is removed by the next run without backup=True, and by
    ps.recover, too: recovery cleans what a killed run left (found by the study model)."""
    _die("backup")
    if then == "run":
        ps.run_local(func, ps.plist("a", [4]))
    else:
        ps.recover("calc")
    assert glob.glob("calc.bak_*") == []


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


KILL_DRIVER = """\
import os, sys, time
import psweep as ps

def func(pset):
    i = pset["i"]
    if i == FILL_AT:  # the disk runs full ...
        with open(os.path.join(pset["_calc_dir"], "filler"), "wb") as fh:
            try:
                while True:
                    fh.write(b"x" * 65536)
                    fh.flush()
            except OSError:
                pass
    if i == FREE_AT:  # ... and has room again
        os.remove(os.path.join(pset["_calc_dir"], "filler"))
    time.sleep(0.01)
    open(os.path.join(DONE, str(i)), "w").close()
    return {"x": i}

if __name__ == "__main__":
    ps.run_local(func, ps.plist("i", range(400)), poolsize=None if sys.argv[1] == "serial" else 2)
"""


def _kill_when_done(tmp_path: Path, mode: str, ndone: int, fill_at=-1, free_at=-1) -> set:
    done = tmp_path / "done"
    done.mkdir()
    script = KILL_DRIVER.replace("FILL_AT", str(fill_at)).replace("FREE_AT", str(free_at))
    (tmp_path / "driver.py").write_text(script.replace("DONE", repr(str(done))))
    proc = subprocess.Popen([sys.executable, "driver.py", mode], cwd=tmp_path)
    while len(os.listdir(done)) < ndone and proc.poll() is None:
        time.sleep(0.001)
    proc.kill()
    proc.wait()
    return {int(name) for name in os.listdir(done)}


@pytest.mark.parametrize("mode", ["serial", "2"])
def test_sigkill_loses_only_psets_in_flight(tmp_path, monkeypatch, mode):
    """Case 12: with 10 ms psets, a SIGKILL loses no pset that had finished (its marker
    written), except the one or two whose row was being handed over at that moment."""
    monkeypatch.chdir(tmp_path)
    finished = _kill_when_done(tmp_path, mode, 60)
    df = ps.recover("calc")
    lost = finished - set(df["i"])
    assert len(lost) <= (1 if mode == "serial" else 2), sorted(lost)
    assert df["i"].is_unique and (df["x"] == df["i"]).all()


def test_disk_full_for_a_moment_keeps_crash_safety(tmp_path, monkeypatch):
    """Case 3: a journal write that fails on a full disk is retried; a later kill loses
    only what was in flight."""
    monkeypatch.chdir(tmp_path)
    with _tmpfs(tmp_path / "calc"):
        finished = _kill_when_done(tmp_path, "serial", 120, fill_at=20, free_at=40)
        df = ps.recover("calc")
        lost = finished - set(df["i"])
        assert len(lost) <= 1, sorted(lost)
        assert len(df) >= 119


MAIN_CLASS_DRIVER = """\
import os, sys, time
import psweep as ps

class Energy:  # lives in the driver's __main__
    def __init__(self, value):
        self.value = value

def func(pset):
    time.sleep(0.01)
    open(os.path.join("done", str(pset["i"])), "w").close()
    return {"e": Energy(pset["i"])}

if __name__ == "__main__":
    if sys.argv[1] == "run":
        ps.run_local(func, ps.plist("i", range(1000)))
    else:
        print(len(ps.recover("calc")))
"""


def test_recover_from_another_program_keeps_the_journal(tmp_path, monkeypatch):
    """Case 6: rows whose class lives in the driver's __main__ are not taken for damage."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "done").mkdir()
    (tmp_path / "driver.py").write_text(MAIN_CLASS_DRIVER)
    proc = subprocess.Popen([sys.executable, "driver.py", "run"])
    while len(os.listdir("done")) < 20:
        time.sleep(0.005)
    proc.kill()
    proc.wait()
    journal = glob.glob("calc/.psweep/journal/*/*.journal")
    before = [Path(p).read_bytes() for p in journal]
    with pytest.raises(ps.PsweepDatabaseError, match="cannot read"):
        ps.recover("calc")
    assert [Path(p).read_bytes() for p in journal] == before  # kept, untouched
    out = subprocess.run(
        [sys.executable, "driver.py", "recover"], capture_output=True, text=True, check=True
    )
    assert int(out.stdout) >= 19
    assert glob.glob("calc/.psweep/journal/*/*.journal") == []


def lock_for_two(pset):
    import threading

    return {"r": threading.Lock() if pset["a"] == 2 else pset["a"]}


@pytest.mark.parametrize("poolsize", [None, 2])
def test_unpicklable_result_names_its_pset_and_keeps_the_others(tmp_path, poolsize):
    """Case 8: a result that cannot be stored is an error of that pset; other rows stay."""
    calc = tmp_path / "calc"
    params = ps.plist("a", [1, 2, 3])
    with pytest.raises(ps.PsweepFuncError, match=r"key 'r' holds a lock.*'a': 2"):
        ps.run_local(lock_for_two, params, calc_dir=calc, poolsize=poolsize)
    df = ps.df_read(calc / "database.pk")
    assert 2 not in set(df["a"]) and 1 in set(df["a"])
    assert not os.listdir(calc / ".psweep" / "journal")  # nothing left to recover
    df = ps.run_local(lock_for_two, params, calc_dir=calc, poolsize=poolsize, on_error="record")
    bad = df[df["a"] == 2]
    assert list(bad["_pset_status"]) == ["failed"]
    assert "cannot be pickled" in bad["_exc"].iloc[0]
    last = df[df["_run_id"] == df["_run_id"].iloc[-1]]
    assert list(last["a"]) == [1, 2, 3]
    assert list(last["_pset_status"]) == ["ok", "failed", "ok"]


def array_result(pset):
    import numpy as np

    return {"r": np.arange(pset["a"])}  # JSON databases cannot hold arrays


def test_json_database_refuses_a_pset_before_running(tmp_path):
    calc = tmp_path / "calc"
    with pytest.raises(ps.PsweepFormatError, match=r"tuple"):
        ps.run_local(func, [{"a": 1, "shape": (3, 4)}], calc_dir=calc,
                     database_basename="database.json")  # fmt: skip
    assert not (calc / "database.json").exists()
    assert not glob.glob(str(calc / ".psweep" / "journal" / "*"))


def test_result_the_format_cannot_hold_is_set_aside(tmp_path):
    """A result JSON cannot hold: the run's rows go to a pickle beside the database,
    named in the error; the database is untouched and the next run works."""
    calc = tmp_path / "calc"
    kw = dict(calc_dir=calc, database_basename="database.json")
    ps.run_local(func, ps.plist("a", [1]), **kw)
    before = (calc / "database.json").read_bytes()
    with pytest.raises(ps.PsweepFormatError, match=r"unsaved-.*\.pk") as info:
        ps.run_local(array_result, ps.plist("a", [2, 3]), **kw)
    assert (calc / "database.json").read_bytes() == before
    assert not glob.glob(str(calc / ".psweep" / "journal" / "*"))
    (aside,) = glob.glob(str(calc / "database.json.unsaved-*.pk"))
    assert aside in str(info.value)
    assert list(ps.df_read(aside)["a"]) == [2, 3]
    df = ps.run_local(func, ps.plist("a", [4]), **kw)
    assert list(df["a"]) == [1, 4]


RECOVER_ARRAYS = """\
import sys
import numpy as np
import psweep as ps
import psweep.crashpoints

def func(pset):
    return {"r": np.arange(pset["a"])}

psweep.crashpoints.CRASH_AT = "executed"
ps.run_local(func, ps.plist("a", [2, 3]), calc_dir="calc", database_basename="database.json")
"""


def test_recovering_rows_the_format_cannot_hold_sets_them_aside(tmp_path, caplog):
    (tmp_path / "driver.py").write_text(RECOVER_ARRAYS)
    proc = subprocess.run([sys.executable, "driver.py"], cwd=tmp_path, timeout=120)
    assert proc.returncode == -9  # killed at the crash point, journal left
    calc = tmp_path / "calc"
    assert glob.glob(str(calc / ".psweep" / "journal" / "*"))
    df = ps.run_local(func, ps.plist("a", [5]), calc_dir=calc, database_basename="database.json")
    assert list(df["a"]) == [5]  # the study goes on
    assert "could not recover run" in caplog.text
    (aside,) = glob.glob(str(calc / "database.json.unsaved-*.pk"))
    assert list(ps.df_read(aside)["a"]) == [2, 3]
    assert not glob.glob(str(calc / ".psweep" / "journal" / "*"))
