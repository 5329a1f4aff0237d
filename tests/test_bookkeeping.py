"""Tests of a run's housekeeping (psweep.lifecycle.bookkeeping) on a full disk.

Real full file systems: a 2 MB tmpfs per test (disk_utils; needs root, skipped
otherwise).
"""

from __future__ import annotations

import errno
import glob
import os
from pathlib import Path

import pytest
from disk_utils import fill_disk, small_disk

import psweep as ps


def func(pset):
    return {"b": "x" * 2000}


@pytest.fixture
def disk(tmp_path, monkeypatch):
    with small_disk(tmp_path / "disk") as path:
        monkeypatch.chdir(path)
        try:
            yield path
        finally:
            os.chdir(tmp_path)


def test_run_on_a_full_disk_stops_before_any_pset(disk):
    """A disk with no room left stops the run at its start with PsweepDiskFullError
    (errno ENOSPC) naming the folder: nothing ran, the database is as it was."""
    ps.run_local(func, ps.plist("a", [1]))
    before = Path("calc/database.pk").read_bytes()
    fill_disk(disk / "filler")
    called = []
    with pytest.raises(ps.PsweepDiskFullError) as caught:
        ps.run_local(lambda pset: called.append(pset) or {}, ps.plist("a", [2]))
    assert caught.value.errno == errno.ENOSPC
    assert "nothing ran and no backup was made" in str(caught.value)
    assert "Free space on the device" in str(caught.value)
    assert called == []
    assert Path("calc/database.pk").read_bytes() == before


def test_backup_on_a_full_disk(disk):
    """backup=True on a disk without room for the copy: PsweepDiskFullError naming the
    backup, nothing ran, no part of the copy is left, and the next run goes on."""
    ps.run_local(func, ps.plist("a", range(200)))
    fill_disk(disk / "filler", leave_bytes=64 * 1024)
    with pytest.raises(ps.PsweepDiskFullError) as caught:
        ps.run_local(func, ps.plist("a", [1000]), backup=True)
    text = str(caught.value)
    assert text.startswith("backup=True: cannot copy 'calc' to 'calc.bak_")
    assert "No space left on device. Nothing ran" in text
    assert glob.glob("calc.bak_*") == [] and glob.glob("calc/.psweep/journal/*") == []
    assert len(ps.df_read("calc/database.pk")) == 200
    os.unlink(disk / "filler")
    assert len(ps.run_local(func, ps.plist("a", [1000]), backup=True)) == 201


def test_simulate_on_a_full_disk(disk):
    """A dry run whose copy of the database finds no room: PsweepDiskFullError (not a bare
    OSError), nothing ran, no empty copy is left, calc/ is as it was; the next dry run,
    with room again, works."""
    ps.run_local(func, ps.plist("a", range(200)))
    before = Path("calc/database.pk").read_bytes()
    fill_disk(disk / "filler", leave_bytes=64 * 1024)
    with pytest.raises(ps.PsweepDiskFullError) as caught:
        ps.run_local(func, ps.plist("a", [1000]), simulate=True)
    assert str(caught.value).startswith("simulate: cannot copy the database 'calc/database.pk'")
    assert "Nothing ran" in str(caught.value)
    assert not Path("calc.simulate/database.pk").exists()
    assert Path("calc/database.pk").read_bytes() == before
    os.unlink(disk / "filler")
    assert len(ps.run_local(func, ps.plist("a", [1000]), simulate=True)) == 201
