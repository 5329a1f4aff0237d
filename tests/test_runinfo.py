"""Tests of a run's end (psweep.lifecycle.runinfo): a disk that runs full while psets
run or while the database is written at the end.

Each test mounts a real 2 MB tmpfs (disk_utils; needs root, skipped otherwise) and
fills it from within func, as a func that writes big output would.
"""

from __future__ import annotations

import errno
import glob
import os
import time
from pathlib import Path

import pytest
from disk_utils import fill_disk, small_disk

import psweep as ps
from psweep.lifecycle.journal import journal_run_dirs, read_journal_dir

BASENAMES = ["database.pk", "database.parquet", "database.json"]
N = 20


def func(pset):
    """Fill the disk in the pset at position $FILL_AT (then raise, with $FILL_RAISES), wait
    $SLEEP_S, and note each call in the file $COUNT (outside the small disk)."""
    if pset["a"] == int(os.environ.get("FILL_AT", -1)):
        fill_disk(os.environ["FILLER"])
        if os.environ.get("FILL_RAISES"):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), "output.dat")
    time.sleep(float(os.environ.get("SLEEP_S", 0)))
    with open(os.environ["COUNT"], "a") as fh:
        fh.write(f"{pset['a']}\n")
    return {"b": 2 * pset["a"]}


@pytest.fixture
def disk(tmp_path, monkeypatch):
    """A full-disk study: cwd on a small tmpfs, func told where to fill and count."""
    with small_disk(tmp_path / "disk") as path:
        monkeypatch.chdir(path)
        monkeypatch.setenv("FILLER", str(path / "filler"))
        monkeypatch.setenv("COUNT", str(tmp_path / "count"))
        try:
            yield path
        finally:
            os.chdir(tmp_path)  # leave the mount before it is unmounted


def ran(tmp_path: Path) -> list[int]:
    """The psets func was called for since the last call of this (and forget them)."""
    count = tmp_path / "count"
    if not count.exists():
        return []
    calls = sorted(int(line) for line in count.read_text().split())
    count.unlink()
    return calls


def journaled_ids() -> set[str]:
    """The _pset_id of each row in the journals of the study in ./calc."""
    ids: set[str] = set()
    for run_dir in journal_run_dirs("calc"):
        ids.update(row[2] for row in read_journal_dir(run_dir)[1])
    return ids


def free_space(monkeypatch, disk: Path) -> None:
    os.unlink(disk / "filler")
    monkeypatch.delenv("FILL_AT")


@pytest.mark.parametrize("poolsize", [None, 2])
@pytest.mark.parametrize("basename", BASENAMES)
def test_disk_full_at_the_end_keeps_every_finished_pset(
    disk, tmp_path, monkeypatch, basename, poolsize
):
    """The disk runs full in the last pset, so the database cannot be written at the end.
    The run raises one PsweepDiskFullError (an OSError with ENOSPC) that names the
    database, says how many rows the journal holds, and carries all of the run's rows;
    the database file is as it was, no temporary file is left. After space is freed,
    the next run with skip_dups=True merges the journal and runs only the psets whose
    rows did not reach it."""
    ps.run_local(func, ps.plist("a", [100, 101]), database_basename=basename)
    db = disk / "calc" / basename
    before = db.read_bytes()
    ran(tmp_path)
    monkeypatch.setenv("FILL_AT", str(N - 1))
    params = ps.plist("a", range(N))
    with pytest.raises(ps.PsweepDiskFullError) as caught:
        ps.run_local(func, params, poolsize=poolsize, database_basename=basename)
    err = caught.value
    assert isinstance(err, OSError) and err.errno == errno.ENOSPC
    assert err.filename == f"calc/{basename}"
    text = str(err)
    assert f"cannot write the database 'calc/{basename}': No space left on device" in text
    assert "The file is as it was" in text and "skip_dups=True" in text
    assert db.read_bytes() == before
    assert glob.glob(f"calc/.{basename}.*.tmp") == []
    assert sorted(err.rows["a"]) == list(range(N))
    assert (err.rows["b"] == 2 * err.rows["a"]).all()
    assert sorted(err.df["a"]) == [*range(N), 100, 101]
    in_journal = journaled_ids() & set(err.rows["_pset_id"])
    if len(in_journal) == N:
        assert "All of them are in the run's journal" in text
    elif in_journal:
        assert f"{len(in_journal)} of them are in the run's journal" in text
        assert f"the other {N - len(in_journal)} could not be written anywhere" in text
    else:
        assert "None of them reached the run's journal" in text
    assert ran(tmp_path) == list(range(N))

    free_space(monkeypatch, disk)
    df = ps.run_local(func, params, poolsize=poolsize, database_basename=basename, skip_dups=True)
    assert sorted(df["a"]) == [*range(N), 100, 101]
    assert (df["b"] == 2 * df["a"]).all()
    again = ran(tmp_path)
    missing = err.rows[~err.rows["_pset_id"].isin(in_journal)]
    assert again == sorted(missing["a"])  # the journaled ones did not run again
    assert journal_run_dirs("calc") == []
    assert sorted(ps.df_read(db)["a"]) == [*range(N), 100, 101]


def test_rows_of_the_error_go_into_the_next_run(disk, tmp_path, monkeypatch):
    """In a notebook, the rows that reached no file are kept: the error's df, passed to
    the next run (after space is freed), puts them into the database, and with
    skip_dups=True no pset runs again."""
    monkeypatch.setenv("FILL_AT", str(N - 1))
    params = ps.plist("a", range(N))
    with pytest.raises(ps.PsweepDiskFullError) as caught:
        ps.run_local(func, params)
    ran(tmp_path)
    free_space(monkeypatch, disk)
    df = ps.run_local(func, params, df=caught.value.df, skip_dups=True)
    assert ran(tmp_path) == []
    assert sorted(df["a"]) == list(range(N))
    assert sorted(ps.df_read("calc/database.pk")["a"]) == list(range(N))


@pytest.mark.parametrize("poolsize", [None, 2])
def test_disk_full_in_mid_run(disk, tmp_path, monkeypatch, poolsize):
    """The disk runs full at the 6th of 20 psets (20 ms each): the journal cannot write
    from then on, the run goes on to its end (in a pool too) and stops with one
    PsweepDiskFullError carrying all 20 rows. Every pset that finished before the disk
    ran full is in the journal, and the next run recovers it instead of running it."""
    monkeypatch.setenv("FILL_AT", "5")
    monkeypatch.setenv("SLEEP_S", "0.02")
    params = ps.plist("a", range(N))
    with pytest.raises(ps.PsweepDiskFullError) as caught:
        ps.run_local(func, params, poolsize=poolsize)
    err = caught.value
    assert sorted(err.rows["a"]) == list(range(N))
    assert ran(tmp_path) == list(range(N))
    in_journal = journaled_ids()
    if poolsize is None:  # one process: the rows of psets 0-4 were written before pset 5
        ids = dict(zip(err.rows["a"], err.rows["_pset_id"], strict=True))
        assert {ids[a] for a in range(5)} <= in_journal

    free_space(monkeypatch, disk)
    df = ps.run_local(func, params, poolsize=poolsize, skip_dups=True)
    assert sorted(df["a"]) == list(range(N)) and df["_pset_id"].is_unique
    again = ran(tmp_path)
    assert again == sorted(err.rows[~err.rows["_pset_id"].isin(in_journal)]["a"])


@pytest.mark.parametrize("poolsize", [None, 2])
def test_func_that_fails_on_the_full_disk(disk, tmp_path, monkeypatch, poolsize):
    """func raises ENOSPC itself (it writes output) and stops the run: the finished psets
    cannot be saved either. The run raises PsweepDiskFullError, caused by func's error
    and naming it, with the finished rows; the next run recovers what the journal holds."""
    monkeypatch.setenv("FILL_AT", "5")
    monkeypatch.setenv("FILL_RAISES", "1")
    monkeypatch.setenv("SLEEP_S", "0.02")
    params = ps.plist("a", range(N))
    with pytest.raises(ps.PsweepDiskFullError) as caught:
        ps.run_local(func, params, poolsize=poolsize)
    err = caught.value
    assert "stopped (OSError: [Errno 28] No space left on device: 'output.dat')" in str(err)
    assert isinstance(err.__cause__, OSError) and "output.dat" in str(err.__cause__)
    done = ran(tmp_path)
    assert sorted(err.rows["a"]) == done and 5 not in done
    if poolsize is None:
        assert done == [0, 1, 2, 3, 4]
        assert "All of them are in the run's journal" in str(err)

    not_journaled = set(err.rows[~err.rows["_pset_id"].isin(journaled_ids())]["a"])

    free_space(monkeypatch, disk)
    monkeypatch.delenv("FILL_RAISES")
    df = ps.run_local(func, params, poolsize=poolsize, skip_dups=True)
    assert sorted(df["a"]) == list(range(N))
    assert set(ran(tmp_path)) == (set(range(N)) - set(done)) | not_journaled
