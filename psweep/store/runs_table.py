"""Where and how each run ran: a runs table beside the database.

``runs.pk`` is a pickled DataFrame; each write of it is followed by one of
``runs.json``, the same runs as plain JSON (:mod:`psweep.store.runs_json`), which
``psweep status`` reads without pandas.
"""

from __future__ import annotations

import getpass
import logging
import os
import platform
import shlex
import sys
from datetime import datetime, timezone
from typing import Any

import pandas as pd

from psweep.errors import PsweepDatabaseError
from psweep.host import HOST
from psweep.store import run_status
from psweep.store.database import df_read, df_write, records_frame
from psweep.store.files import remove_stale_temp_files
from psweep.store.paths import RUNS_BASENAME, StudyPaths
from psweep.store.runs_json import write_runs_json
from psweep.store.utctime import utc_now
from psweep.store.vcs import git_work_tree

__all__ = [
    "RUNS_BASENAME",
    "check_runs_table",
    "merge_runs",
    "now_utc",
    "own_run_ids",
    "read_runs_table",
    "recorded_runs",
    "run_info",
    "write_run",
]

log = logging.getLogger("psweep")


def now_utc() -> pd.Timestamp:
    """The current UTC time as a naive Timestamp (like the database's _time_utc)."""
    return pd.Timestamp(utc_now())


def _git_state(path: str) -> tuple[str | None, bool | None]:
    if git_work_tree(path) is None:  # not in a repository: no git facts, and no gitpython
        return None, None
    try:
        import git as gitpython

        repo = gitpython.Repo(path, search_parent_directories=True)
        commit = repo.head.commit.hexsha if repo.head.is_valid() else None
        return commit, repo.is_dirty(untracked_files=True)
    except Exception:  # not a repository, no git binary, ...: no git facts
        return None, None


def _user() -> str | None:
    try:
        return getpass.getuser()
    except Exception:  # no user name in this environment (containers)
        return None


def run_info(run_id: str, calc_dir: str, database_basename: str) -> dict[str, Any]:
    """Collect the facts of a run that starts now."""
    from psweep.version import __version__

    commit, dirty = _git_state(os.getcwd())
    return {
        "_run_id": run_id,
        "start_utc": now_utc(),
        "end_utc": pd.NaT,
        "status": run_status.RUNNING,
        "n_psets": 0,
        "n_failed": 0,
        "host": HOST,
        "user": _user(),
        "pid": os.getpid(),
        "cwd": os.getcwd(),
        "command": shlex.join([sys.executable, *sys.argv]),
        "python": platform.python_version(),
        "psweep": __version__,
        "pandas": pd.__version__,
        "git_commit": commit,
        "git_dirty": dirty,
        "calc_dir": calc_dir,
        "database_basename": database_basename,
    }


def _damaged_name(fn: str) -> str:
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H-%M-%S.%fZ")
    return f"{fn}.damaged-{stamp}"


def _read_or_set_aside(fn: str) -> pd.DataFrame | None:
    """The runs table in `fn` (None if there is none); a damaged one is set aside.

    A runs table is provenance, not results: a damaged one (cut short, garbage,
    no DataFrame) must not stop a run nor fail it at its end, nor is any of its
    bytes lost. It is renamed to ``runs.pk.damaged-<UTC time>``, with a
    warning, and the run starts a new table. A file that cannot be opened
    (permissions) is an error as before: nothing is wrong with its content.
    """
    try:
        ino = os.stat(fn).st_ino
    except FileNotFoundError:
        return None
    try:
        runs = df_read(fn, fmt="pickle")
    except FileNotFoundError:  # replaced meanwhile and gone: nothing to read
        return None
    except PsweepDatabaseError as exc:
        reason = exc.__cause__ if exc.__cause__ is not None else exc
        aside = _damaged_name(fn)
        try:
            if os.stat(fn).st_ino != ino:  # rewritten meanwhile (another run): read that
                return df_read(fn, fmt="pickle")
            os.rename(fn, aside)
        except FileNotFoundError:  # another run set it aside first
            return None
        log.warning(
            "the runs table %s is damaged (%s: %s); it was set aside as %s (nothing is "
            "lost) and a new runs table is started. The database is not affected",
            fn,
            type(reason).__name__,
            str(reason)[:200],
            aside,
        )
        return None
    return runs


def read_runs_table(calc_dir: str) -> pd.DataFrame | None:
    """The runs table of `calc_dir` as it is (None if there is none), never changed.

    A damaged one raises :class:`~psweep.errors.PsweepDatabaseError` in one
    line that names the file and what to do.
    """
    fn = StudyPaths(calc_dir).runs_table
    if not os.path.exists(fn):
        return None
    try:
        return df_read(fn, fmt="pickle")
    except PsweepDatabaseError as exc:
        reason = exc.__cause__ if exc.__cause__ is not None else exc
        raise PsweepDatabaseError(
            f"the runs table {fn!r} is damaged ({type(reason).__name__}: "
            f"{str(reason)[:200]}); the database is not affected. The next run sets the "
            f"file aside as {RUNS_BASENAME}.damaged-<time> and starts a new one (or move "
            "it away yourself)"
        ) from exc


def check_runs_table(db_dir: str) -> None:
    """Before a run: a damaged runs table of `db_dir` is set aside now, with a warning,
    not found when the run ends (see :func:`write_run`)."""
    _read_or_set_aside(StudyPaths(db_dir).runs_table)


def write_run(calc_dir: str, info: dict[str, Any]) -> None:
    """Add or update the row of one run in ``<calc_dir>/runs.pk``.

    The caller holds the database lock. A damaged runs table is set aside
    (``runs.pk.damaged-<UTC time>``) with a warning, and a new one started.
    """
    fn = StudyPaths(calc_dir).runs_table
    remove_stale_temp_files(fn)  # of a write that a kill cut short
    row = records_frame([info]).set_index(pd.Index([info["_run_id"]]))  # any text (assemble)
    old = _read_or_set_aside(fn)
    if old is not None and len(old):
        new = pd.concat([old.drop(index=info["_run_id"], errors="ignore"), row])
    else:
        new = row
    _write(calc_dir, new)


def _write(calc_dir: str, runs: pd.DataFrame) -> None:
    """Write the runs table `runs` to ``runs.pk``, then its plain copy ``runs.json``."""
    paths = StudyPaths(calc_dir)
    df_write(runs, paths.runs_table)
    remove_stale_temp_files(paths.runs_json)  # of a write that a kill cut short
    write_runs_json(calc_dir, runs)


def merge_runs(calc_dir: str, other: pd.DataFrame) -> int:
    """Merge the runs table `other` (e.g. pulled from a cluster) into that of `calc_dir`.

    Runs on either side are kept. A run on both (same ``_run_id``) takes the values of
    `other` except where it has none, as a row of the database does in a pull
    (:func:`psweep.lifecycle.merge.merge_databases`). Returns the number of runs added. The
    caller holds the database lock.
    """
    if not isinstance(other, pd.DataFrame):
        raise PsweepDatabaseError(
            f"a runs table to merge into {calc_dir!r} must be a DataFrame, got "
            f"{type(other).__name__}"
        )
    fn = StudyPaths(calc_dir).runs_table
    remove_stale_temp_files(fn)
    local = df_read(fn) if os.path.exists(fn) else None
    if len(other) == 0:
        return 0
    if local is None or len(local) == 0:
        _write(calc_dir, other)
        return len(other)
    in_local = other.index.isin(local.index)
    shared = other[in_local].combine_first(local[local.index.isin(other.index)])
    new = other[~in_local]
    order = [*local.index, *new.index]
    _write(calc_dir, pd.concat([local[~local.index.isin(other.index)], shared, new]).loc[order])
    return len(new)


def own_run_ids(calc_dir: str) -> pd.Index:
    """The ``_run_id`` of the runs recorded in `calc_dir` (none if there is no readable
    runs table): a database beside them was written by this psweep."""
    fn = StudyPaths(calc_dir).runs_table
    try:  # read only: a damaged table is left for the next run to set aside
        return df_read(fn, fmt="pickle").index if os.path.exists(fn) else pd.Index([])
    except Exception as exc:  # a damaged runs table: the caller then knows less, no more
        log.warning("could not read the runs table of %s: %s", calc_dir, exc)
        return pd.Index([])


def recorded_runs(calc_dir: str) -> pd.DataFrame:
    """The runs table as written (finished, failed, interrupted runs), without journals."""
    runs = _read_or_set_aside(StudyPaths(calc_dir).runs_table)
    if runs is None:
        return pd.DataFrame(columns=["_run_id", "start_utc", "end_utc", "status"])
    return runs
