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

from .database import df_read, df_write
from .errors import PsweepDatabaseError
from .files import remove_stale_temp_files

__all__ = [
    "RUNS_BASENAME",
    "check_runs_table",
    "df_runs",
    "now_utc",
    "own_run_ids",
    "read_runs_table",
    "recorded_runs",
    "run_info",
    "write_run",
]

RUNS_BASENAME = "runs.pk"
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
    from . import __version__

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
    fn = os.path.join(calc_dir, RUNS_BASENAME)
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
    _read_or_set_aside(os.path.join(db_dir, RUNS_BASENAME))


def write_run(calc_dir: str, info: dict[str, Any]) -> None:
    """Add or update the row of one run in ``<calc_dir>/runs.pk``.

    The caller holds the database lock. A damaged runs table is set aside
    (``runs.pk.damaged-<UTC time>``) with a warning, and a new one started.
    """
    fn = os.path.join(calc_dir, RUNS_BASENAME)
    remove_stale_temp_files(fn)  # of a write that a kill cut short
    row = pd.DataFrame([info]).set_index(pd.Index([info["_run_id"]]))
    old = _read_or_set_aside(fn)
    if old is not None and len(old):
        new = pd.concat([old.drop(index=info["_run_id"], errors="ignore"), row])
    else:
        new = row
    df_write(new, fn)


def own_run_ids(calc_dir: str) -> pd.Index:
    """The ``_run_id`` of the runs recorded in `calc_dir` (none if there is no readable
    runs table): a database beside them was written by this psweep."""
    fn = os.path.join(calc_dir, RUNS_BASENAME)
    try:  # read only: a damaged table is left for the next run to set aside
        return df_read(fn, fmt="pickle").index if os.path.exists(fn) else pd.Index([])
    except Exception as exc:  # a damaged runs table: the caller then knows less, no more
        log.warning("could not read the runs table of %s: %s", calc_dir, exc)
        return pd.Index([])


def recorded_runs(calc_dir: str) -> pd.DataFrame:
    """The runs table as written (finished, failed, interrupted runs), without journals."""
    runs = _read_or_set_aside(os.path.join(calc_dir, RUNS_BASENAME))
    if runs is None:
        return pd.DataFrame(columns=["_run_id", "start_utc", "end_utc", "status"])
    return runs


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
    from .status import journal_runs

    live = journal_runs(calc_dir)  # before the table: a run ending meanwhile is in it then
    runs = read_runs_table(calc_dir)
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
