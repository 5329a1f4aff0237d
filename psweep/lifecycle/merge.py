"""The one merge of rows into a database (:func:`merge_rows`), and its users.

Run end (:func:`merge_run`), recovery of crashed runs (:func:`recover`), a
pull or a DataFrame given to a run (:func:`merge_databases`) and
:func:`psweep.collect_batch` all merge rows with :func:`merge_rows`.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from psweep.crashpoints import crash_point
from psweep.errors import (
    PsweepDatabaseError,
    PsweepDiskFullError,
    PsweepError,
    PsweepFormatError,
    PsweepParamsError,
    error_line,
    is_disk_full,
)
from psweep.lifecycle.rows import append_rows
from psweep.store.database import df_read, df_write
from psweep.store.files import remove_stale_temp_files
from psweep.store.legacy import adopt_copy, adopt_database, in_layout, layout_of
from psweep.store.locking import DEFAULT_LOCK_TIMEOUT_S, database_lock
from psweep.store.lookup import first_repeated, isin_text
from psweep.store.paths import StudyPaths
from psweep.store.runs_table import now_utc, recorded_runs, write_run

__all__ = [
    "DbSnapshot",
    "Merged",
    "check_frame",
    "lock_path",
    "merge_databases",
    "merge_rows",
    "merge_run",
    "psweep_dir",
    "read_copy",
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


# a row on both sides of a merge keeps where it is in this database's history
_KEPT_HERE = ("_pset_id", "_run_id", "_run_seq", "_pset_seq", "_pset_sha1")
_ON_SHARED = ("update", "skip", "error")


@dataclass(frozen=True)
class Merged:
    """What :func:`merge_rows` made: the database, and how many rows were new or shared."""

    df: pd.DataFrame
    n_new: int
    n_shared: int


def check_frame(obj: Any, source: str) -> None:
    """Raise :class:`PsweepDatabaseError`, naming `source`, if `obj` is no DataFrame."""
    if not isinstance(obj, pd.DataFrame):
        raise PsweepDatabaseError(
            f"cannot merge {source}: it holds a {type(obj).__name__}, not a pandas "
            "DataFrame; nothing was merged"
        )


def merge_rows(
    old: pd.DataFrame, new: pd.DataFrame, *, source: str, on_shared: str = "update"
) -> Merged:
    """Merge the rows `new` into the database `old`: the one merge of psweep.

    Run end, recovery, pull and :func:`psweep.collect_batch` all merge with
    it. Both are in this release's layout (indexed by ``_pset_id``), the
    returned database too; its index, ``_pset_id`` and ``_pset_seq`` stay
    unique and each run keeps one ``_run_seq`` of its own.

    A row of `new` whose ``_pset_id`` is not in `old` is appended. Its run
    keeps its ``_run_seq`` where `old` knows the run; other runs are numbered
    after those of `old`, in the order their rows come, and the rows'
    ``_pset_seq`` follow those of `old` in their order. What becomes of a
    row in both says `on_shared`:

    - ``"update"`` (pull, collect_batch): it takes the values of `new` where
      they are not NaN, and keeps its place here (``_run_id``, ``_run_seq``,
      ``_pset_seq``, ``_pset_sha1``);
    - ``"skip"`` (recovery: a crash after the database was written merged it);
    - ``"error"`` (run end): a :class:`PsweepDatabaseError` naming it and `source`.

    `source` names `new` in messages. Returns the database and the counts.
    """
    check_frame(new, source)
    check_frame(old, "the database")
    if on_shared not in _ON_SHARED:
        raise PsweepParamsError(
            f"merge_rows(): on_shared must be one of {_ON_SHARED}, got {on_shared!r}"
        )
    if len(new) == 0:
        return Merged(old, 0, 0)
    if (dup := first_repeated(new.index)) is not None:
        raise PsweepDatabaseError(
            f"cannot merge {source}: _pset_id {dup!r} is in more than one row; nothing was merged"
        )
    in_old = isin_text(new.index, old.index) if len(old) else np.zeros(len(new), dtype=bool)
    shared, fresh = (new[in_old], new[~in_old]) if in_old.any() else (new.iloc[:0], new)
    if len(shared) and on_shared == "error":
        raise PsweepDatabaseError(
            f"_pset_id {shared.index[0]!r} of {source} is already in the database; "
            "the new rows were not written"
        )
    out = _update_rows(old, shared) if len(shared) and on_shared == "update" else old
    if len(fresh):
        out = append_rows(out, _renumber(fresh, out, source))
    return Merged(out, len(fresh), len(shared))


def _update_rows(old: pd.DataFrame, shared: pd.DataFrame) -> pd.DataFrame:
    """`old` with the values of `shared` (rows of it) where they are not NaN."""
    incoming = shared.drop(columns=[c for c in _KEPT_HERE if c in old.columns], errors="ignore")
    here = old.loc[incoming.index]
    upd = incoming.combine_first(here)
    cols = [*old.columns, *(c for c in incoming.columns if c not in old.columns)]
    return append_rows(old.drop(index=incoming.index), upd[cols]).loc[old.index]


def _seq_max(df: pd.DataFrame, col: str) -> int:
    if len(df) == 0 or col not in df.columns:
        return -1
    top = pd.to_numeric(df[col], errors="coerce").max()
    return -1 if pd.isna(top) else int(top)


def _renumber(rows: pd.DataFrame, base: pd.DataFrame, source: str) -> pd.DataFrame:
    """Number `rows` (new to `base`) to follow it (see :func:`merge_rows`)."""
    if "_run_seq" not in rows.columns or "_pset_seq" not in rows.columns:
        return rows  # no rows of a run (a DataFrame made by hand): nothing to number
    run_ids = rows["_run_id"] if "_run_id" in rows.columns else pd.Series("", index=rows.index)
    codes, runs = pd.factorize(run_ids, use_na_sentinel=False)
    known: dict = {}
    if len(base) and "_run_id" in base.columns and "_run_seq" in base.columns:
        # the rows of these runs that base has: looked up by position (a mask on all of
        # base would copy a million-row database to find none)
        where = np.flatnonzero(base["_run_id"].isin(runs).to_numpy())
        known = dict(zip(base["_run_id"].iloc[where], base["_run_seq"].iloc[where], strict=True))
    next_run = _seq_max(base, "_run_seq") + 1
    seq_of_run = np.empty(len(runs), dtype=np.int64)
    for k, run_id in enumerate(runs):
        if run_id in known:
            seq_of_run[k] = int(known[run_id])
        else:
            seq_of_run[k], next_run = next_run, next_run + 1
    run_seqs = seq_of_run[codes]
    seq0 = _seq_max(base, "_pset_seq") + 1
    pset_seqs = seq0 + np.arange(len(rows), dtype=np.int64)
    if (
        rows["_run_seq"].dtype == np.int64
        and rows["_pset_seq"].dtype == np.int64
        and np.array_equal(rows["_run_seq"].to_numpy(), run_seqs)
        and np.array_equal(rows["_pset_seq"].to_numpy(), pset_seqs)
    ):
        return rows  # numbered as they follow already (a run's own rows, as a rule)
    log.info(
        "%s: %d rows numbered _pset_seq from %d to follow the database (runs: _run_seq %s)",
        source,
        len(rows),
        seq0,
        ", ".join(map(str, sorted(set(seq_of_run.tolist())))),
    )
    return rows.assign(_run_seq=run_seqs, _pset_seq=pset_seqs)


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
    snapshot of the file, re-read if another process wrote it meanwhile. The
    rows are merged by :func:`merge_rows`: their sequence numbers follow the
    database's (moved if another run was saved meanwhile).
    With `skip_merged` (recovery), rows of this run that the database holds
    already are left out instead of being an error: a crash after the
    database was written but before the journal was removed merged them.
    The file is written in `layout` (:func:`psweep.store.legacy.in_layout`: ours,
    or ``ps.run``'s); the returned database is in our layout.
    """
    db_dir = os.path.dirname(database_fn) or "."
    run_id = (info or {}).get("_run_id")
    if run_id is None and len(df_new):
        run_id = df_new["_run_id"].iloc[0]
    with database_lock(lock_path(db_dir, os.path.basename(database_fn)), lock_timeout_s):
        old = base.current() if isinstance(base, DbSnapshot) else base
        merged = merge_rows(
            old, df_new, source=f"run {run_id}", on_shared="skip" if skip_merged else "error"
        )
        out = merged.df
        if merged.n_shared:
            log.info("run %s: %d journaled rows were merged already", run_id, merged.n_shared)
        df_new = df_new[~isin_text(df_new.index, old.index)] if merged.n_shared else df_new
        # a recovered run ended with its last pset, not when it is recovered
        end_utc = _last_finish(out, run_id) if skip_merged else now_utc()
        recorded = functools.partial(
            _disk_full_as,
            f"the database {database_fn!r} holds the rows of run {run_id}, but the runs table "
            "beside it could not be written",
            StudyPaths(db_dir).runs_table, df_new.iloc[:0], out,
        )  # fmt: skip
        if skip_merged and len(df_new) == 0:  # nothing left: record the run only if it is not yet
            if info is not None and run_id not in recorded_runs(db_dir).index:
                with recorded():
                    write_run(db_dir, {**info, "end_utc": end_utc, "n_psets": _n_rows(old, run_id)})
            return old
        if len(df_new):
            _remove_stale_temp_files(database_fn)
            try:
                with _disk_full_as(
                    f"cannot write the database {database_fn!r}", database_fn, df_new, out
                ):
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
            with recorded():
                write_run(
                    db_dir,
                    {
                        **info,
                        "end_utc": end_utc,
                        # the run's rows: those it had in the database (a recovered run
                        # may have some) and its new ones (df_new holds this run's rows only)
                        "n_psets": _n_rows(old, run_id) + merged.n_new,
                        "n_failed": failed,
                        "last_error": last_error or info.get("last_error"),
                    },
                )
            crash_point("run-recorded")
    return out


def _last_finish(df: pd.DataFrame, run_id: Any) -> Any:
    """When the last pset of run `run_id` in `df` finished (``_time_utc`` plus
    ``_pset_runtime``); now if the database cannot tell."""
    if run_id is None or not {"_run_id", "_time_utc"} <= set(df.columns):
        return now_utc()
    rows = df[(df["_run_id"] == run_id).to_numpy()]
    start = pd.to_datetime(rows["_time_utc"], errors="coerce", utc=True).dt.tz_convert(None)
    took = rows["_pset_runtime"] if "_pset_runtime" in rows.columns else 0.0
    ends = start + pd.to_timedelta(pd.to_numeric(took, errors="coerce").fillna(0.0), unit="s")
    last = ends.max()
    return now_utc() if pd.isna(last) else pd.Timestamp(last)


@contextlib.contextmanager
def _disk_full_as(what: str, filename: str, rows: pd.DataFrame, df: pd.DataFrame) -> Iterator[None]:
    """A write in the block that fails for want of space raises
    :class:`PsweepDiskFullError` that says `what` and carries `rows` (the run's rows that
    the database file lacks) and `df` (the database with them)."""
    try:
        yield
    except OSError as exc:
        if isinstance(exc, PsweepError) or not is_disk_full(exc):
            raise
        reason = exc.strerror or str(exc)
        raise PsweepDiskFullError(
            f"{what}: {reason}", filename, exc.errno, rows=rows, df=df
        ) from exc


def _n_rows(df: pd.DataFrame, run_id: Any) -> int:
    """How many rows of run `run_id` the database holds (the runs table's n_psets: a
    recovered run's journal may hold fewer, or rows merged before its crash)."""
    if run_id is None or "_run_id" not in df.columns:
        return 0
    return int((df["_run_id"] == run_id).sum())


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


def read_copy(fn: str, source: str) -> pd.DataFrame:
    """Read `fn`, a copy of the database `source` (a pull stages one); errors name `source`."""
    try:
        return df_read(fn)
    except PsweepDatabaseError as exc:
        cause = exc.__cause__
        why = f"{type(cause).__name__}: {cause}" if cause is not None else str(exc)
        name = repr(os.fspath(fn))
        why = why.replace(f"database {name} ", "it ").replace(name, "it")
        why = " ".join(why.split())[:300]  # one line
        raise PsweepDatabaseError(
            f"cannot merge {source}: it is no database psweep can read ({why}); nothing was merged"
        ) from exc


def merge_databases(
    database_fn: str,
    other: pd.DataFrame | str | os.PathLike,
    lock_timeout_s: float = DEFAULT_LOCK_TIMEOUT_S,
    *,
    source: str | None = None,
) -> tuple[pd.DataFrame, int, int]:
    """Merge the rows of `other` (e.g. a copy pulled from a cluster) into `database_fn`.

    `other` is a DataFrame or the file of one; `source` names it in messages
    (default: the file). Under the database's lock, by :func:`merge_rows`:
    rows on either side are kept. A row on both sides (same ``_pset_id``)
    takes the values of `other`, except where `other` has none (NaN), so
    results collected on the other side arrive and nothing known here is lost.
    Rows only in `other` are appended, their runs numbered after the local
    ones. `other` may be in any layout (:func:`psweep.legacy.adopt_copy`);
    the file stays in its own (0.7.0's, with ``_pset_sha1`` in every row, or
    0.16's). Returns the merged database (in our layout) and the counts of
    new and of shared rows. Nothing is written if `other` is no database.
    """
    if isinstance(other, (str, os.PathLike)):
        source = source or repr(os.fspath(other))
        other = read_copy(os.fspath(other), source)
    source = source or "the DataFrame to merge"
    check_frame(other, source)
    layout = layout_of(other)
    other = adopt_copy(other, source)
    db_dir = os.path.dirname(database_fn) or "."
    with database_lock(lock_path(db_dir, os.path.basename(database_fn)), lock_timeout_s):
        local = df_read(database_fn) if os.path.exists(database_fn) else pd.DataFrame()
        if len(local):
            layout = layout_of(local)
            local = adopt_database(local, db_dir)
            if layout is None and "_pset_hash" not in local.columns:
                other = other.drop(columns="_pset_hash", errors="ignore")  # = _pset_sha1
        merged = merge_rows(local, other, source=source, on_shared="update")
        if merged.n_new or merged.n_shared:
            _remove_stale_temp_files(database_fn)
            with _disk_full_as(
                f"cannot write the database {database_fn!r} with the rows of {source}",
                database_fn, other, merged.df,
            ):  # fmt: skip
                df_write(in_layout(merged.df, layout), database_fn)
    return merged.df, merged.n_new, merged.n_shared
