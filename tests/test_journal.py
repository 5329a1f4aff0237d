"""Tests of the run journal: durable rows, damaged tails, crash recovery with SIGKILL."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pandas as pd
import pytest

import psweep as ps
from psweep.lifecycle.journal import JournalWriter, read_journal_dir

ROOT = Path(__file__).resolve().parents[1]


def test_writer_reader_roundtrip(tmp_path):
    """It reads back the header and every row added, after close."""
    run_dir = tmp_path / "run"
    journal = JournalWriter(str(run_dir / "1.journal"), {"run_id": "r"})
    rows = [(k, {"a": k}, f"id{k}", "h", 0, 0.0, {"r": k}, None) for k in range(5000)]
    for row in rows:
        journal.add(row)
    journal.close()
    header, got = read_journal_dir(str(run_dir))
    assert header == {"run_id": "r"}
    assert sorted(got) == rows


def test_journal_of_rows_one_tuple_each_is_read(tmp_path):
    """A journal whose frames hold a list of row tuples (as psweep wrote them before
    frames held columns, and as rows are written one by one) is read as well, also
    when such frames and frames in columns follow each other in one file."""
    import pickle
    import struct
    import zlib

    def frame(obj):
        payload = pickle.dumps(obj)
        return struct.pack("<II", len(payload), zlib.crc32(payload)) + payload

    run_dir = tmp_path / "run"
    run_dir.mkdir()
    rows = [(k, {"a": k}, f"id{k}", "h", 0, 0.0, {"r": k}, None) for k in range(4)]
    columns = {"psweep-rows-in-columns": tuple(zip(*rows[2:], strict=True))}
    (run_dir / "1.journal").write_bytes(
        b"PSWEEP-JOURNAL-1\n" + frame({"run_id": "r"}) + frame(rows[:2]) + frame(columns)
    )
    header, got = read_journal_dir(str(run_dir))
    assert header == {"run_id": "r"}
    assert got == rows


def test_rows_reach_the_os_within_the_flush_interval(tmp_path):
    """It writes a queued row to the file within JOURNAL_FLUSH_S, without close."""
    run_dir = tmp_path / "run"
    journal = JournalWriter(str(run_dir / "1.journal"), {"run_id": "r"})
    journal.add((0, {}, "id0", "h", 0, 0.0, {}, None))
    time.sleep(ps.JOURNAL_FLUSH_S * 2 + 0.1)
    _, got = read_journal_dir(str(run_dir))  # another reader, file not closed
    assert len(got) == 1
    journal.close()


@pytest.mark.parametrize("cut", [1, 5, 9, 30])
def test_damaged_tail_is_skipped_with_warning(tmp_path, cut):
    """It keeps the rows before a half-written last frame and warns about the rest."""
    run_dir = tmp_path / "run"
    path = run_dir / "1.journal"
    journal = JournalWriter(str(path), {"run_id": "r"})
    journal.add((0, {}, "id0", "h", 0, 0.0, {}, None))
    journal.flush()
    journal.add((1, {}, "id1", "h", 0, 0.0, {"x": "y" * 50}, None))
    journal.close()
    data = path.read_bytes()
    path.write_bytes(data[:-cut])
    with pytest.warns(ps.PsweepJournalWarning, match="damaged tail"):
        header, got = read_journal_dir(str(run_dir))
    assert header == {"run_id": "r"}
    assert [row[2] for row in got] == ["id0"]


def test_flipped_byte_is_detected(tmp_path):
    """It stops at a frame whose checksum does not match."""
    run_dir = tmp_path / "run"
    path = run_dir / "1.journal"
    journal = JournalWriter(str(path), {"run_id": "r"})
    journal.add((0, {}, "id0", "h", 0, 0.0, {}, None))
    journal.close()
    data = bytearray(path.read_bytes())
    data[-3] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.warns(ps.PsweepJournalWarning):
        _, got = read_journal_dir(str(run_dir))
    assert got == []


STUDY = textwrap.dedent(
    """
    import os, sys, time
    import psweep as ps

    def func(pset):
        time.sleep(pset["sleep"])
        marker = os.path.join("markers", str(pset["i"]))
        with open(marker, "w") as fh:
            fh.write(pset["_pset_id"])
        return {"r": pset["i"] * 2}

    if __name__ == "__main__":
        os.makedirs("markers", exist_ok=True)
        poolsize = int(sys.argv[1]) or None
        params = ps.pgrid(ps.plist("i", range(600)), ps.plist("sleep", [0.004]))
        print("started", flush=True)
        ps.run_local(func, params, poolsize=poolsize)
    """
)


def _start_study(workdir: Path, poolsize: int) -> subprocess.Popen:
    (workdir / "study.py").write_text(STUDY)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "study.py", str(poolsize)],
        cwd=workdir,
        env=env,
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    assert proc.stdout.readline().strip() == "started"
    return proc


# scheduling slack on a loaded machine, on top of the documented flush delay
SLACK_S = 0.15


def _wait_for_first_marker(proc: subprocess.Popen, timeout_s: float = 30) -> None:
    deadline = time.time() + timeout_s
    while not (Path("markers").is_dir() and any(Path("markers").iterdir())):
        assert proc.poll() is None, "the study ended before its first pset finished"
        assert time.time() < deadline, "no pset finished in time"
        time.sleep(0.01)


@pytest.mark.parametrize("poolsize", [0, 2], ids=["serial", "pool2"])
@pytest.mark.parametrize("attempt", range(3))
def test_sigkill_loses_no_finished_pset(tmp_path, monkeypatch, poolsize, attempt):
    """It keeps, after SIGKILL at a random moment, every pset finished before the flush delay."""
    monkeypatch.chdir(tmp_path)
    proc = _start_study(tmp_path, poolsize)
    _wait_for_first_marker(proc)
    time.sleep(random.uniform(0.4, 0.9))
    os.killpg(proc.pid, signal.SIGKILL)
    killed_at = time.time()
    proc.wait()
    assert Path("calc/.psweep/journal").is_dir()
    assert not Path("calc/database.pk").exists()

    df = ps.recover("calc")
    markers = {int(p.name): p for p in Path("markers").iterdir()}
    # func wrote its marker just before returning; allow the flush delay plus slack
    old_enough = {
        i
        for i, p in markers.items()
        if p.stat().st_mtime < killed_at - ps.JOURNAL_FLUSH_S - SLACK_S
    }
    assert old_enough, "the study was killed before any pset finished; raise the sleep"
    assert old_enough <= set(df["i"])
    assert set(df["i"]) <= set(markers)
    assert df["_pset_id"].is_unique
    assert df["i"].is_unique
    assert (df["r"] == df["i"] * 2).all()
    for i in old_enough:
        assert markers[i].read_text() in df.index
    assert df["_pset_seq"].tolist() == list(range(len(df)))
    assert not any(Path("calc/.psweep/journal").iterdir())
    runs = ps.df_runs("calc")
    assert runs["status"].tolist() == ["interrupted"]
    assert runs["n_psets"].iloc[0] == len(df)


def test_next_run_recovers_and_says_so(tmp_path, monkeypatch, caplog):
    """It merges a killed run's journal before the next run, and logs a warning."""
    monkeypatch.chdir(tmp_path)
    proc = _start_study(tmp_path, 0)
    _wait_for_first_marker(proc)
    time.sleep(0.3)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    time.sleep(0.05)
    with caplog.at_level("WARNING", logger="psweep"):
        df = ps.run_local(lambda p: {"r": -1}, [{"i": -1, "sleep": 0}])
    assert "recovered" in caplog.text
    assert len(df) > 1
    assert df["i"].iloc[-1] == -1
    assert df["_run_id"].nunique() == 2
    assert df["_pset_seq"].tolist() == list(range(len(df)))
    assert pd.read_pickle("calc/database.pk").equals(df)


def test_a_recovered_run_ends_with_its_last_pset(tmp_path, monkeypatch):
    """The runs table's end_utc of a recovered run is when its last journaled pset
    finished, not when the recovery ran: its rate and duration stay true."""
    monkeypatch.chdir(tmp_path)
    proc = _start_study(tmp_path, 0)
    _wait_for_first_marker(proc)
    time.sleep(0.5)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    time.sleep(2.0)  # the recovery comes later
    df = ps.recover("calc")
    run = ps.df_runs("calc").iloc[0]
    last = (df["_time_utc"] + pd.to_timedelta(df["_pset_runtime"], unit="s")).max()
    assert run["end_utc"] == last
    assert run["end_utc"] < pd.Timestamp.now("UTC").tz_convert(None) - pd.Timedelta(seconds=1.5)


def test_recover_leaves_a_running_study_alone(tmp_path, monkeypatch):
    """It does not merge the journal of a run that is still going in another process."""
    monkeypatch.chdir(tmp_path)
    proc = _start_study(tmp_path, 0)
    try:
        _wait_for_first_marker(proc)
        time.sleep(0.3)
        df = ps.recover("calc")
        assert len(df) == 0
        assert any(Path("calc/.psweep/journal").iterdir())
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    assert len(ps.recover("calc")) > 0


def test_recover_without_anything(tmp_path):
    """It returns an empty database when there is nothing to recover."""
    assert len(ps.recover(tmp_path / "calc")) == 0


@pytest.mark.filterwarnings("error::pytest.PytestUnhandledThreadExceptionWarning")
def test_concurrent_flushes_lose_no_rows(tmp_path):
    """It keeps every row when the background thread and add() flush at the same time."""
    run_dir = tmp_path / "run"
    journal = JournalWriter(str(run_dir / "1.journal"), {"run_id": "r"}, flush_s=0.0001)
    rows = [(k, {}, f"id{k}", "h", 0, 0.0, {}, None) for k in range(30_000)]
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads often, so flushes overlap
    try:
        for row in rows:
            journal.add(row)
    finally:
        sys.setswitchinterval(interval)
    journal.close()
    _, got = read_journal_dir(str(run_dir))
    assert sorted(got) == rows


def test_a_row_that_cannot_be_pickled_costs_only_itself(tmp_path, caplog):
    import threading

    path = str(tmp_path / "j.journal")
    writer = JournalWriter(path, {"run_id": "r"})
    writer.add((0, {"a": 0}, "id0"))
    writer.add((1, {"a": threading.Lock()}, "id1"))
    writer.add((2, {"a": 2}, "id2"))
    writer.close()
    _, rows = read_journal_dir(str(tmp_path))
    assert [row[0] for row in rows] == [0, 2]
    assert "position 1" in caplog.text


def test_counts_from_progress_file_equal_a_full_read(tmp_path, monkeypatch):
    """status counts journal rows from the .progress shortcut plus the tail: the same
    numbers as reading every row, also when the tail was cut by a crash."""
    import psweep.lifecycle.journal as journal

    monkeypatch.setattr(journal, "PROGRESS_S", 0.0)
    path = str(tmp_path / "1.journal")
    writer = journal.JournalWriter(path, {"run_id": "r"}, flush_s=3600)
    for k in range(30):
        exc = f"Traceback\nValueError: bad {k}" if k % 7 == 0 else None
        writer.add((k, {"a": k}, f"id{k}", "h", 0, 0.0, {}, exc))
        writer.flush()
    writer.close()
    _, rows = journal.read_journal_dir(str(tmp_path))
    n, failed, last = journal.read_journal_counts(path)
    assert (n, failed) == (30, 5) == (len(rows), sum(r[7] is not None for r in rows))
    assert last == "Traceback\nValueError: bad 28"
    # a frame written after the last progress update, then cut short by a crash
    monkeypatch.setattr(journal, "PROGRESS_S", 3600.0)
    writer = journal.JournalWriter(str(tmp_path / "2.journal"), {"run_id": "r"}, flush_s=3600)
    writer._last_progress = -1e9
    writer.add((0, {}, "x", "h", 0, 0.0, {}, None))
    writer.flush()  # progress written here (the first time)
    writer.add((1, {}, "y", "h", 0, 0.0, {}, "E: late"))
    writer.flush()
    writer.close()
    with open(tmp_path / "2.journal", "ab") as fh:
        fh.write(b"\x05\x00\x00")  # a torn frame head
    with pytest.warns(ps.PsweepJournalWarning):
        assert journal.read_journal_counts(str(tmp_path / "2.journal")) == (2, 1, "E: late")


def _row(k: int) -> tuple:
    return (k, {"a": k}, f"id{k}", "h", 0, 0.0, {"r": k}, None)


def test_full_disk_is_not_retried_per_pset(tmp_path, monkeypatch):
    """While the disk stays full, rows wait and the writer tries again at most every
    JOURNAL_RETRY_S (each try pickles every waiting row): 5,000 rows added cost a few
    tries, not thousands. Once writing works, every row is written. (A stand-in for a
    full disk: the write raises ENOSPC; the tmpfs tests below use a real one.)"""
    import errno

    from psweep.lifecycle import journal as journal_mod

    journal = JournalWriter(str(tmp_path / "run" / "1.journal"), {"run_id": "r"})
    real_write = JournalWriter._write
    tries = []

    def full(fd, data):
        tries.append(len(data))
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(JournalWriter, "_write", staticmethod(full))
    rows = [_row(k) for k in range(5000)]
    t0 = time.perf_counter()
    for row in rows:
        journal.add(row)
    elapsed = time.perf_counter() - t0
    assert 1 <= len(tries) <= 2 + elapsed / journal_mod.JOURNAL_RETRY_S * 2
    monkeypatch.setattr(JournalWriter, "_write", staticmethod(real_write))
    journal.close()  # writes what waits, whether or not a retry is due
    assert sorted(read_journal_dir(str(tmp_path / "run"))[1]) == rows


def test_journal_opened_on_a_full_disk(tmp_path):
    """A journal opened on a real full disk (a tmpfs; needs root) does not fail the run:
    its header waits with the rows. Until something is written the file is empty and
    read as no rows, without a warning; once there is room, header and rows are
    written together and read back."""
    import warnings

    from disk_utils import fill_disk, small_disk

    with small_disk(tmp_path / "disk") as disk:
        fill_disk(disk / "filler")
        run_dir = disk / "run"
        journal = JournalWriter(str(run_dir / "1.journal"), {"run_id": "r"})
        journal.add(_row(0))
        journal.flush(raise_errors=False)
        assert (run_dir / "1.journal").stat().st_size == 0
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            assert read_journal_dir(str(run_dir)) == (None, [])
        os.unlink(disk / "filler")
        journal.add(_row(1))
        journal.close()
        assert read_journal_dir(str(run_dir)) == ({"run_id": "r"}, [_row(0), _row(1)])
