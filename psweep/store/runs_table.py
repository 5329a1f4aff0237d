"""Where and how each run ran: a runs table beside the database."""

from __future__ import annotations

import getpass
import logging
import os
import platform
import shlex
import socket
import sys
from datetime import datetime, timezone
from typing import Any

import pandas as pd

from psweep.errors import PsweepDatabaseError
from psweep.store.database import df_read, df_write, records_frame
from psweep.store.files import remove_stale_temp_files
from psweep.store.paths import RUNS_BASENAME, StudyPaths

__all__ = [
    "RUNS_BASENAME",
    "df_runs",
    "merge_runs",
    "now_utc",
    "own_run_ids",
    "recorded_runs",
    "run_info",
    "write_run",
]

log = logging.getLogger("psweep")


def now_utc() -> pd.Timestamp:
    """The current UTC time as a naive Timestamp (like the database's _time_utc)."""
    return pd.Timestamp(datetime.now(timezone.utc).replace(tzinfo=None))


def _git_state(path: str) -> tuple[str | None, bool | None]:
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
        "status": "running",
        "n_psets": 0,
        "n_failed": 0,
        "host": socket.gethostname(),
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


def write_run(calc_dir: str, info: dict[str, Any]) -> None:
    """Add or update the row of one run in ``<calc_dir>/runs.pk``.

    The caller holds the database lock.
    """
    fn = StudyPaths(calc_dir).runs_table
    remove_stale_temp_files(fn)  # of a write that a kill cut short
    row = records_frame([info]).set_index(pd.Index([info["_run_id"]]))  # any text (assemble)
    old = df_read(fn) if os.path.exists(fn) else None
    if old is not None and len(old):
        new = pd.concat([old.drop(index=info["_run_id"], errors="ignore"), row])
    else:
        new = row
    df_write(new, fn)


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
        df_write(other, fn)
        return len(other)
    in_local = other.index.isin(local.index)
    shared = other[in_local].combine_first(local[local.index.isin(other.index)])
    new = other[~in_local]
    order = [*local.index, *new.index]
    df_write(pd.concat([local[~local.index.isin(other.index)], shared, new]).loc[order], fn)
    return len(new)


def own_run_ids(calc_dir: str) -> pd.Index:
    """The ``_run_id`` of the runs recorded in `calc_dir` (none if there is no readable
    runs table): a database beside them was written by this psweep."""
    try:
        return recorded_runs(calc_dir).index
    except Exception as exc:  # a damaged runs table: the caller then knows less, no more
        log.warning("could not read the runs table of %s: %s", calc_dir, exc)
        return pd.Index([])


def recorded_runs(calc_dir: str) -> pd.DataFrame:
    """The runs table as written (finished, failed, interrupted runs), without journals."""
    fn = StudyPaths(calc_dir).runs_table
    if not os.path.exists(fn):
        return pd.DataFrame(columns=["_run_id", "start_utc", "end_utc", "status"])
    return df_read(fn)


def df_runs(calc_dir: str = "calc") -> pd.DataFrame:
    """Return the runs table of `calc_dir`: one row per run, indexed by ``_run_id``.

    Columns: start and end time (UTC), status (``ok``, ``failed``,
    ``interrupted``; ``running`` or ``crashed`` for a run whose journal is
    not merged yet), number of psets (done so far, for those two) and of
    failed ones, the last error, host, user, pid, working directory, command
    line, Python/psweep/pandas versions, and the git commit and dirty flag of
    the working directory. A crashed run shows here before any recovery, with
    the psets its journal holds; recovery turns it into ``interrupted``.
    """
    from psweep.observe.runstate import journal_runs

    live = journal_runs(calc_dir)  # before the table: a run ending meanwhile is in it then
    fn = StudyPaths(calc_dir).runs_table
    runs = df_read(fn) if os.path.exists(fn) else None
    extra = [r for r in live if runs is None or r["run_id"] not in runs.index]
    if extra:
        rows = pd.DataFrame(
            [
                {
                    "_run_id": r["run_id"],
                    "start_utc": r["start_utc"],
                    "end_utc": pd.NaT,
                    "status": r["state"],
                    "n_psets": r["n_done"],
                    "n_failed": r["n_failed"],
                    "last_error": r["last_error"],
                    "host": r["host"],
                    "pid": r["pid"],
                    "command": r["command"],
                }
                for r in extra
            ]
        ).set_index(pd.Index([r["run_id"] for r in extra]))
        runs = rows if runs is None or len(runs) == 0 else pd.concat([runs, rows])
    if runs is None:
        return pd.DataFrame(columns=["_run_id", "start_utc", "end_utc", "status"])
    return runs
