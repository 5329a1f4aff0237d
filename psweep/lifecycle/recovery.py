"""Recovery of crashed runs: their journals merge into the database before the next run.

A run killed before its end (SIGKILL, power loss, a cluster's time limit) leaves
the journal of the psets it finished and maybe a half-copied backup.
:func:`recover` merges the journals (through :func:`psweep.lifecycle.merge.merge_run`,
the one merge) and removes the half copies; :func:`psweep.run_local` calls it
before each run.
"""

from __future__ import annotations

import logging
import os
import shutil

import pandas as pd

from psweep.errors import PsweepDiskFullError, PsweepFormatError
from psweep.host import HOST, pid_alive
from psweep.lifecycle.journal import (
    journal_run_dirs,
    read_journal_dir,
    read_journal_header,
    remove_half_made_journals,
    remove_run_dir,
)
from psweep.lifecycle.merge import DbSnapshot, merge_run
from psweep.lifecycle.results import ResultRow
from psweep.lifecycle.rows import COLUMNS_016, result_rows_frame
from psweep.store import run_status
from psweep.store.database import df_read
from psweep.store.locking import DEFAULT_LOCK_TIMEOUT_S, try_lock
from psweep.store.paths import StudyPaths

__all__ = ["recover", "recover_journals", "remove_partial_backups"]

log = logging.getLogger("psweep")


def remove_partial_backups(paths: StudyPaths) -> None:
    """Remove backups that a killed run left half copied (their writer is gone); part of
    recovery, so that a study whose runs have no backup=True loses them too."""
    for path, pid in paths.partial_backups():
        if pid is not None and not pid_alive(pid):
            log.warning("removing %s, a backup that a killed run left unfinished", path)
            shutil.rmtree(path, ignore_errors=True)


def recover_journals(
    calc_dir: str, database_basename: str, lock_timeout_s: float = DEFAULT_LOCK_TIMEOUT_S
) -> int:
    """Merge leftover journals of `calc_dir` (see :func:`recover`); return the run count."""
    paths = StudyPaths(calc_dir, database_basename)
    remove_half_made_journals(paths)
    database_fn = paths.database
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
        except PsweepDiskFullError as exc:
            raise PsweepDiskFullError(
                f"{exc}. The journal of the interrupted run {name} ({run_dir!r}) is kept: "
                "nothing is lost, and no pset ran. Free space on the device, then run again "
                f"(or call ps.recover({calc_dir!r})): the journal is merged first",
                exc.filename,
                exc.errno,
            ) from exc.__cause__
        finally:
            lock.release()
    return merged


_ORPHAN_WAIT_S = 10.0


def _owner_gone(run_dir: str) -> bool:
    """Whether the process that ran this run (on this host) is gone."""
    header = read_journal_header(run_dir)
    info = (header or {}).get("info") or {}
    pid, host = info.get("pid"), info.get("host")
    return isinstance(pid, int) and host == HOST and not pid_alive(pid)


def _recover_run(
    run_dir: str, database_fn: str, database_basename: str, lock_timeout_s: float
) -> int:
    header, rows = read_journal_dir(run_dir)
    if header is None:
        remove_run_dir(run_dir)
        return 0
    if header["database_basename"] != database_basename:
        return 0
    unique = list({ResultRow._make(row).pset_id: row for row in rows}.values())
    df_new = result_rows_frame(
        unique,
        run_id=header["run_id"],
        run_seq=header["run_seq"],
        pset_seq0=header["pset_seq0"],
        calc_dir=header["calc_dir"],
        record=header["record"],
        extra=header.get("extra", COLUMNS_016),  # older journals: the columns rows had then
    )
    info = {**header["info"], "status": run_status.INTERRUPTED}
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
    remove_partial_backups(StudyPaths(calc_dir, database_basename))
    recover_journals(calc_dir, database_basename, lock_timeout_s)
    database_fn = StudyPaths(calc_dir, database_basename).database
    return df_read(database_fn) if os.path.exists(database_fn) else pd.DataFrame()
