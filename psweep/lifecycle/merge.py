"""Merge the rows of a run into the database on disk, and recover crashed runs."""

from __future__ import annotations

import logging
import os
import socket
from typing import Any

import numpy as np
import pandas as pd

from psweep.crashpoints import crash_point
from psweep.errors import PsweepDatabaseError, PsweepFormatError, error_line
from psweep.lifecycle.journal import (
    journal_run_dirs,
    read_journal_dir,
    read_journal_header,
    remove_run_dir,
)
from psweep.lifecycle.rows import COLUMNS_016, append_rows, rows_to_df
from psweep.store.database import df_read, df_write
from psweep.store.files import remove_stale_temp_files
from psweep.store.legacy import adopt_database, in_layout
from psweep.store.locking import DEFAULT_LOCK_TIMEOUT_S, database_lock, pid_alive, try_lock
from psweep.store.paths import StudyPaths
from psweep.store.runs_table import now_utc, recorded_runs, write_run

__all__ = [
    "DbSnapshot",
    "lock_path",
    "merge_databases",
    "merge_run",
    "psweep_dir",
    "recover",
    "recover_journals",
]

log = logging.getLogger("psweep")


def psweep_dir(db_dir: str) -> str:
    """Return ``<db_dir>/.psweep`` (journals, locks), created with a .gitignore
    (:meth:`StudyPaths.make_psweep_dir`)."""
    return StudyPaths(db_dir).make_psweep_dir()


def lock_path(db_dir: str, database_basename: str) -> str:
    """The lock of database `database_basename` in `db_dir` (:attr:`StudyPaths.lock`),
    its folder made."""
    paths = StudyPaths(db_dir, database_basename)
    paths.make_psweep_dir()
    return paths.lock


class DbSnapshot:
    """A database read from disk, with the file's identity to spot later writes."""

    def __init__(self, fn: str) -> None:
        self.fn = fn
        self.load()

    def load(self) -> None:
        self.stat = self._stat()
        # a database of psweep 0.7.0 or 0.16 is taken in our layout (psweep.store.legacy)
        if self.stat is None:
            self.df, self.had_sha1 = pd.DataFrame(), False
            return
        raw = df_read(self.fn)
        self.had_sha1 = "_pset_sha1" in raw.columns  # ps.run keeps it where the file has it
        self.df = adopt_database(raw, os.path.dirname(self.fn) or ".")

    def _stat(self) -> tuple | None:
        try:
            st = os.stat(self.fn)
        except FileNotFoundError:
            return None
        return (st.st_ino, st.st_size, st.st_mtime_ns)

    def replace(self, df: pd.DataFrame) -> None:
        """Take `df`, just written to the file, as the snapshot (no re-read)."""
        self.df, self.stat = df, self._stat()

    def current(self) -> pd.DataFrame:
        """The database as it is on disk now (re-read only if it changed)."""
        if self._stat() != self.stat:
            log.info("database %s changed during the run (another writer); re-reading", self.fn)
            self.load()
        return self.df


def _renumber(df_new: pd.DataFrame, base: pd.DataFrame) -> pd.DataFrame:
    run_seq = int(base["_run_seq"].max()) + 1 if len(base) else 0
    pset_seq0 = int(base["_pset_seq"].max()) + 1 if len(base) else 0
    seqs = pset_seq0 + np.arange(len(df_new), dtype=np.int64)
    if df_new["_run_seq"].iloc[0] != run_seq or not np.array_equal(df_new["_pset_seq"], seqs):
        log.info(
            "run %s: numbered _run_seq=%d, _pset_seq from %d to follow the database",
            df_new["_run_id"].iloc[0],
            run_seq,
            pset_seq0,
        )
        df_new = df_new.assign(_run_seq=np.int64(run_seq), _pset_seq=seqs)
    return df_new


def _remove_stale_temp_files(database_fn: str) -> None:
    """Remove temporary files of the database that a killed write left behind.

    Every write of the database happens under its lock, so while this process
    holds the lock, such a file belongs to no writer that is still going.
    """
    for path in remove_stale_temp_files(database_fn, all_writers=True):
        log.info("removed %s, left by a database write that did not finish", path)


def merge_run(
    database_fn: str,
    df_new: pd.DataFrame,
    info: dict[str, Any] | None,
    base: pd.DataFrame | DbSnapshot,
    lock_timeout_s: float = DEFAULT_LOCK_TIMEOUT_S,
    *,
    skip_merged: bool = False,
    layout: str | None = None,
) -> pd.DataFrame:
    """Append a run's rows to the database under its lock; record the run.

    `base` is either the DataFrame to append to (given by the caller) or a
    snapshot of the file, re-read if another process wrote it meanwhile; in
    that case the run's sequence numbers are moved to follow the database.
    With `skip_merged` (recovery), rows of this run that the database holds
    already are left out instead of being an error: a crash after the
    database was written but before the journal was removed merged them.
    The file is written in `layout` (:func:`psweep.store.legacy.in_layout`: ours,
    or ``ps.run``'s); the returned database is in our layout.
    """
    db_dir = os.path.dirname(database_fn) or "."
    with database_lock(lock_path(db_dir, os.path.basename(database_fn)), lock_timeout_s):
        old = base.current() if isinstance(base, DbSnapshot) else base
        if skip_merged and (info is not None or len(df_new)):
            run_id = info["_run_id"] if info is not None else df_new["_run_id"].iloc[0]
            done = old.index[old["_run_id"] == run_id] if len(old) else old.index[:0]
            if len(done):
                log.info("run %s: %d journaled rows were merged already", run_id, len(done))
                df_new = df_new[~df_new.index.isin(done)]
            if len(df_new) == 0:  # nothing left: record the run only if it is not yet
                if info is not None and run_id not in recorded_runs(db_dir).index:
                    write_run(db_dir, {**info, "end_utc": now_utc(), "n_psets": len(done)})
                return old
        if isinstance(base, DbSnapshot) and len(df_new):
            df_new = _renumber(df_new, old)
        if len(df_new) and len(old):
            clash = df_new.index[df_new.index.isin(old.index)]
            if len(clash):
                raise PsweepDatabaseError(
                    f"_pset_id {clash[0]!r} of run {df_new['_run_id'].iloc[0]} is already in "
                    f"{database_fn!r}; the new rows were not written"
                )
        out = append_rows(old, df_new)
        if len(df_new):
            _remove_stale_temp_files(database_fn)
            try:
                df_write(in_layout(out, layout), database_fn)
            except PsweepFormatError as exc:
                raise _set_aside(df_new, database_fn, exc) from exc
            if isinstance(base, DbSnapshot):
                base.replace(out)
            crash_point("database-written")
        if info is not None:
            failed, last_error = 0, None
            if "_pset_status" in df_new.columns:
                is_failed = (df_new["_pset_status"] == "failed").to_numpy()
                failed = int(is_failed.sum())
                if failed and "_exc" in df_new.columns:
                    last_error = error_line(df_new["_exc"][is_failed].iloc[-1])
            write_run(
                db_dir,
                {
                    **info,
                    "end_utc": now_utc(),
                    "n_psets": len(df_new),
                    "n_failed": failed,
                    "last_error": last_error or info.get("last_error"),
                },
            )
            crash_point("run-recorded")
    return out


def _set_aside(df_new: pd.DataFrame, database_fn: str, exc: Exception) -> PsweepFormatError:
    """Keep rows that the database's format cannot hold in a pickle beside it.

    The journal can then go: a run that fails so (and the recovery of it) leaves
    nothing that every later run would trip over, and loses nothing. Returns
    the error to raise, which names the file.
    """
    run_id = df_new["_run_id"].iloc[0]
    aside = StudyPaths.of_database(database_fn).unsaved_rows(run_id)
    df_write(df_new, aside, fmt="pickle")
    return PsweepFormatError(
        f"{exc}. The {len(df_new)} rows of run {run_id} are kept in {aside!r} (a pickle: "
        "read it with ps.df_read, change the values, and write them into the database "
        "with ps.df_write, or use a pickle database)"
    )


def recover_journals(
    calc_dir: str, database_basename: str, lock_timeout_s: float = DEFAULT_LOCK_TIMEOUT_S
) -> int:
    """Merge leftover journals of `calc_dir` (see :func:`recover`); return the run count."""
    database_fn = StudyPaths(calc_dir, database_basename).database
    merged = 0
    for run_dir in journal_run_dirs(calc_dir):
        name = os.path.basename(run_dir)
        lock = try_lock(StudyPaths.run_lock(run_dir))
        if lock is None and _owner_gone(run_dir):
            # the run's process is gone, its pool workers are just ending (they hold
            # the lock they inherited until then): wait for them
            lock = try_lock(StudyPaths.run_lock(run_dir), timeout_s=_ORPHAN_WAIT_S)
        if lock is None:
            log.info("run %s is still going in another process; its journal is left alone", name)
            continue
        try:
            merged += _recover_run(run_dir, database_fn, database_basename, lock_timeout_s)
        except PsweepFormatError as exc:
            log.error("could not recover run %s into %s: %s", name, database_fn, exc)
            remove_run_dir(run_dir)  # its rows are set aside
        finally:
            lock.release()
    return merged


_ORPHAN_WAIT_S = 10.0


def _owner_gone(run_dir: str) -> bool:
    """Whether the process that ran this run (on this host) is gone."""
    header = read_journal_header(run_dir)
    info = (header or {}).get("info") or {}
    pid, host = info.get("pid"), info.get("host")
    return isinstance(pid, int) and host == socket.gethostname() and not pid_alive(pid)


def _recover_run(
    run_dir: str, database_fn: str, database_basename: str, lock_timeout_s: float
) -> int:
    header, rows = read_journal_dir(run_dir)
    if header is None:
        remove_run_dir(run_dir)
        return 0
    if header["database_basename"] != database_basename:
        return 0
    unique = list({row[2]: row for row in rows}.values())
    df_new = rows_to_df(
        *([list(col) for col in zip(*unique, strict=True)] if unique else [[]] * 8),
        run_id=header["run_id"],
        run_seq=header["run_seq"],
        pset_seq0=header["pset_seq0"],
        calc_dir=header["calc_dir"],
        record=header["record"],
        extra=header.get("extra", COLUMNS_016),  # older journals: the columns rows had then
    )
    info = {**header["info"], "status": "interrupted"}
    before = DbSnapshot(database_fn)
    n_before = len(before.df)
    out = merge_run(
        database_fn, df_new, info, before, lock_timeout_s,
        skip_merged=True, layout=header.get("layout"),
    )  # fmt: skip
    log.warning(
        "recovered %d finished psets of interrupted run %s from its journal into %s",
        len(out) - n_before,
        header["run_id"],
        database_fn,
    )
    remove_run_dir(run_dir)
    return 1


def recover(
    calc_dir: str = "calc",
    database_basename: str = "database.pk",
    lock_timeout_s: float = DEFAULT_LOCK_TIMEOUT_S,
) -> pd.DataFrame:
    """Merge the journals of interrupted runs in `calc_dir` into its database.

    A run killed before it finished (SIGKILL, power loss, a cluster's time
    limit) leaves a journal of the psets it finished. This merges them, marks
    the run ``interrupted`` in :func:`psweep.df_runs`, and logs a warning per
    run. Journals of runs that are still going (in another process) are left
    alone. :func:`psweep.run_local` calls this before each run.

    Returns the database (empty if there is none).
    """
    calc_dir = os.fspath(calc_dir)
    recover_journals(calc_dir, database_basename, lock_timeout_s)
    database_fn = StudyPaths(calc_dir, database_basename).database
    return df_read(database_fn) if os.path.exists(database_fn) else pd.DataFrame()


def merge_databases(
    database_fn: str, other: pd.DataFrame, lock_timeout_s: float = DEFAULT_LOCK_TIMEOUT_S
) -> tuple[pd.DataFrame, int, int]:
    """Merge the rows of `other` (e.g. a copy pulled from a cluster) into `database_fn`.

    Under the database's lock: rows on either side are kept. A row on both sides
    (same ``_pset_id``) takes the values of `other`, except where `other` has
    none (NaN), so results collected on the other side arrive and nothing known
    here is lost. Rows only in `other` are appended. Returns the merged database
    and the counts of new and of shared rows.
    """
    db_dir = os.path.dirname(database_fn) or "."
    with database_lock(lock_path(db_dir, os.path.basename(database_fn)), lock_timeout_s):
        local = df_read(database_fn) if os.path.exists(database_fn) else pd.DataFrame()
        # rows pair by _pset_id whichever release or entry (ps.run) wrote either side
        local, other = adopt_database(local, db_dir), adopt_database(other, db_dir)
        if len(local) == 0:
            out, nnew, nshared = other, len(other), 0
        else:
            in_local = other.index.isin(local.index)
            shared = other[in_local].combine_first(local[local.index.isin(other.index)])
            new = other[~in_local]
            order = [*local.index, *new.index]
            out = pd.concat([local[~local.index.isin(other.index)], shared, new]).loc[order]
            nnew, nshared = len(new), int(in_local.sum())
        if nnew or nshared:
            _remove_stale_temp_files(database_fn)
            df_write(out, database_fn)
    return out, nnew, nshared
