"""Run a function over params and keep the results in the database."""

from __future__ import annotations

import contextlib
import gc
import itertools
import logging
import os
import pickle
import shutil
import signal
import tempfile
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import pandas as pd

from psweep.crashpoints import crash_point
from psweep.errors import (
    PsweepDatabaseError,
    PsweepFormatError,
    PsweepGitError,
    PsweepParamsError,
    error_line,
)
from psweep.lifecycle.capture import check_capture_logs
from psweep.lifecycle.execute import (
    EXEC_HOST,
    Job,
    Plan,
    check_main_guard,
    execute,
)
from psweep.lifecycle.journal import read_journal_dir, remove_run_dir, rows_to_block
from psweep.lifecycle.merge import (
    DbSnapshot,
    merge_databases,
    merge_run,
    recover_journals,
)
from psweep.lifecycle.progress import Progress, want_progress
from psweep.lifecycle.rows import (
    COLUMNS_016,
    RESERVED_COLUMNS,
    STATUS_COLUMNS,
    append_rows,
    extra_columns,
    rows_to_df,
)
from psweep.params.hashing import pset_hashes
from psweep.store.database import check_picklable_psets, check_storable, records_frame
from psweep.store.dvctrack import dvc_commit, dvc_tracked, in_dvc_stage
from psweep.store.legacy import adopt_database, in_layout, layout_016
from psweep.store.locking import DEFAULT_LOCK_TIMEOUT_S, pid_alive, try_lock
from psweep.store.paths import PSWEEP_DIRNAME, RUNS_BASENAME, StudyPaths
from psweep.store.runs_table import check_runs_table, run_info
from psweep.store.vcs import (
    git_commit_all,
    git_repo,
    git_require_identity,
    git_require_no_conflicts,
)

__all__ = ["ON_ERROR_CHOICES", "RESERVED_COLUMNS", "run", "run_local"]

log = logging.getLogger("psweep")

ON_ERROR_CHOICES = ("raise", "record")


class _NoFill:
    def __repr__(self) -> str:
        return "NO_FILL"


NO_FILL = _NoFill()  # run_local's default: psets reach func as given (psweep 0.7.0)


@contextlib.contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector during bookkeeping (no user code runs).

    Building and merging large row sets creates millions of small objects;
    the collector would scan them over and over, for nothing.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


@contextlib.contextmanager
def _gc_frozen() -> Iterator[None]:
    """Keep the collector from rescanning the (large) plan while func runs."""
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


# columns psweep writes itself; a pset may not set them, except as a whole database row
_BOOKKEEPING = (
    frozenset(RESERVED_COLUMNS)
    | frozenset(COLUMNS_016)
    | frozenset(STATUS_COLUMNS)
    | {"_batch_status"}
)
_BOOKKEEPING_SHOWN = sorted(_BOOKKEEPING)
# a row read back from a database of any release (0.7.0, 0.16, ours) has these
_FROM_DATABASE = frozenset({"_run_id", "_pset_id", "_run_seq", "_pset_seq", "_calc_dir"})


def _check_params(params: Iterable) -> list[dict]:
    if isinstance(params, dict) or not isinstance(params, Iterable):
        raise PsweepParamsError(
            f"params must be a list of psets (dicts), got {type(params).__name__}; "
            "for one pset use [pset]"
        )
    params = list(params)
    for pos, pset in enumerate(params):
        if not isinstance(pset, dict):
            raise PsweepParamsError(
                f"params[{pos}] is a {type(pset).__name__} ({pset!r:.100}), not a pset "
                "(dict); build params with plist/pgrid or as a list of dicts"
            )
        if _BOOKKEEPING.isdisjoint(pset):
            continue
        own = _BOOKKEEPING.intersection(pset)
        if _FROM_DATABASE.issubset(pset):
            # a row read back from a database (df.to_dict("records")): its bookkeeping
            # belongs to the old row, the new run makes its own
            params[pos] = {k: v for k, v in pset.items() if k not in _BOOKKEEPING}
        else:
            raise PsweepParamsError(
                f"params[{pos}] has the key {sorted(own)[0]!r}, a column that psweep fills in "
                f"itself ({', '.join(_BOOKKEEPING_SHOWN)}); rename that parameter. (Whole rows "
                "of a database, with all their bookkeeping columns, are fine as psets.)"
            )
    return params


def _check_options(
    func: Callable,
    poolsize: Any,
    dask_client: Any,
    on_error: Any,
    calc_dir: Any,
    database_basename: Any,
    database_dir: Any,
    lock_timeout_s: Any,
) -> None:
    if not callable(func):
        raise TypeError(f"func must be callable, got {type(func).__name__}: {func!r}")
    if on_error not in ON_ERROR_CHOICES:
        raise PsweepParamsError(
            f"on_error={on_error!r} is not valid; choose one of {', '.join(ON_ERROR_CHOICES)}"
        )
    if poolsize is not None and (
        isinstance(poolsize, bool) or not isinstance(poolsize, int) or poolsize < 1
    ):
        raise PsweepParamsError(
            f"poolsize must be None (serial) or a whole number >= 1, got {poolsize!r}"
        )
    if dask_client is not None:
        if poolsize is not None:
            raise PsweepParamsError(
                f"use either poolsize (got {poolsize!r}) or dask_client, not both; "
                "the dask cluster decides how many workers run"
            )
        if not all(hasattr(dask_client, a) for a in ("submit", "scatter", "scheduler_info")):
            raise PsweepParamsError(
                f"dask_client must be a dask.distributed Client, got {type(dask_client).__name__}"
            )
    if not isinstance(calc_dir, str | os.PathLike) or not os.fspath(calc_dir).strip():
        raise PsweepParamsError(f"calc_dir must be a non-empty path, got {calc_dir!r}")
    if os.path.exists(calc_dir) and not os.path.isdir(calc_dir):
        raise PsweepParamsError(
            f"calc_dir {os.fspath(calc_dir)!r} exists and is not a directory; "
            "move the file away or choose another calc_dir"
        )
    if (
        not isinstance(database_basename, str)
        or not database_basename.strip()
        or os.sep in database_basename
    ):
        raise PsweepParamsError(
            f"database_basename must be a file name without folders, got {database_basename!r}"
        )
    if database_basename in (".", "..", PSWEEP_DIRNAME, RUNS_BASENAME) or (
        os.altsep and os.altsep in database_basename
    ):
        raise PsweepParamsError(
            f"database_basename {database_basename!r} is taken: '.' and '..' are folders, "
            f"{PSWEEP_DIRNAME!r} holds psweep's journals and locks, {RUNS_BASENAME!r} its "
            "table of runs; choose another file name (e.g. database.pk)"
        )
    target = StudyPaths(calc_dir, database_basename, database_dir).database
    if os.path.isdir(target):
        raise PsweepParamsError(
            f"database_basename {database_basename!r}: {target!r} is a folder, not a database "
            "file; choose another file name"
        )
    if not isinstance(lock_timeout_s, int | float) or lock_timeout_s < 0:
        raise PsweepParamsError(f"lock_timeout_s must be a number >= 0, got {lock_timeout_s!r}")
    if poolsize is not None:
        try:
            pickle.dumps(func)
        except Exception as exc:
            raise PsweepParamsError(
                f"poolsize={poolsize} sends func to worker processes, but {func!r} "
                f"cannot be pickled ({exc}); define it with def at module level"
            ) from exc
        check_main_guard(poolsize)


def _seq_start(df: pd.DataFrame) -> tuple[int, int]:
    if len(df) == 0:
        return 0, 0
    missing = [c for c in ("_run_seq", "_pset_seq") if c not in df.columns]
    if missing:
        raise PsweepParamsError(
            f"the database to append to has no column(s) {missing}; pass a "
            "DataFrame made by run_local (or df=None)"
        )
    return int(df["_run_seq"].max()) + 1, int(df["_pset_seq"].max()) + 1


def _combine_given_df(
    df: pd.DataFrame, snapshot: DbSnapshot, db_src: str, lock_timeout_s: float
) -> DbSnapshot:
    """With save=True, the rows of `df` join the database file; none of the file is lost.

    A row in both takes the values of `df` where it has them (a column added in
    a notebook is kept); rows only in the file (other runs, rows recovered after
    a crash) stay; rows only in `df` are added. The run then appends to that.
    """
    on_disk = snapshot.df
    if len(on_disk) == len(df) and on_disk.index.equals(df.index) and on_disk.equals(df):
        return snapshot
    missing = int((~on_disk.index.isin(df.index)).sum()) if len(on_disk) else 0
    if missing:
        log.info(
            "df lacks %d rows of %s (another run, or recovered); they are kept", missing, db_src
        )
    os.makedirs(os.path.dirname(db_src) or ".", exist_ok=True)
    merge_databases(db_src, df, lock_timeout_s)
    return DbSnapshot(db_src)


def _remove_partial_backups(paths: StudyPaths) -> None:
    """Remove backups that a killed run left half copied (their writer is gone)."""
    for path, pid in paths.partial_backups():
        if pid is not None and not pid_alive(pid):
            log.warning("removing %s, a backup that a killed run left unfinished", path)
            shutil.rmtree(path, ignore_errors=True)


def _backup(paths: StudyPaths, df: pd.DataFrame) -> str | None:
    """Copy the calc dir, with the database and runs table where they are elsewhere
    (`database_dir`), to its backup folder; a copy cut short never has the backup's name."""
    _remove_partial_backups(paths)
    calc_dir = paths.calc_dir
    elsewhere = [] if paths.database_in_calc_dir else [paths.database, paths.runs_table]
    elsewhere = [fn for fn in elsewhere if os.path.isfile(fn)]
    if not (os.path.isdir(calc_dir) or elsewhere):
        return None
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")
    last = str(df["_run_id"].iloc[-1]) if len(df) and "_run_id" in df.columns else "none"
    dst = paths.backup_dir(stamp, last)
    own = os.path.abspath(paths.psweep_dir)

    def skip_running_state(folder: str, names: list[str]) -> list[str]:
        if os.path.abspath(folder) == own:
            return StudyPaths.running_state(names)
        return []

    partial = paths.partial_backup(dst, os.getpid())
    try:
        if os.path.isdir(calc_dir):
            shutil.copytree(calc_dir, partial, symlinks=True, ignore=skip_running_state)
        else:
            os.makedirs(partial)
        for fn in elsewhere:  # where a study without database_dir has them
            shutil.copy2(fn, _free_name(os.path.join(partial, os.path.basename(fn))))
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    crash_point("backup-copied")
    os.rename(partial, dst)
    log.info("backup: %s -> %s", calc_dir, dst)
    return dst


def _free_name(path: str) -> str:
    """`path`, or if the calc dir has a file of that name, ``<path>.database_dir``."""
    if not os.path.lexists(path):
        return path
    name = os.path.basename(path)
    log.warning(
        "backup: the calc dir has its own %s; the database_dir's is %s.database_dir", name, name
    )
    return f"{path}.database_dir"


def _require_writable(folder: str) -> None:
    """Raise before any work if `folder` (or the nearest folder above it) cannot be written."""
    probe_dir = os.path.abspath(folder)
    while not os.path.isdir(probe_dir):
        probe_dir = os.path.dirname(probe_dir)
    try:
        with tempfile.TemporaryFile(dir=probe_dir, prefix=".psweep-write-test-"):
            pass
    except OSError as exc:
        raise PsweepDatabaseError(
            f"cannot write to {probe_dir!r} ({exc.strerror or exc}), so the database "
            f"{folder!r} could not be saved: nothing ran and no backup was made. Make it "
            "writable, or choose another calc_dir"
        ) from exc


def _prepare_simulate(db_src: str, sim_dir: str) -> None:
    if os.path.isdir(sim_dir):
        shutil.rmtree(sim_dir)
    os.makedirs(sim_dir)
    if os.path.exists(db_src):
        shutil.copy2(db_src, os.path.join(sim_dir, os.path.basename(db_src)))
    else:
        log.warning("simulate: no database %s yet, starting a new one in %s", db_src, sim_dir)


def _plan(params: list[dict], df: pd.DataFrame, skip_dups: bool) -> Plan:
    """The psets to run: all, or with skip_dups those without a successful row in `df`.

    Hashes are made here only when skip_dups needs them; otherwise the
    executors make them where the psets run.
    """
    if not (skip_dups and len(df) and "_pset_sha1" in df.columns):
        return Plan(params)
    hashes = pset_hashes(params)
    ok = df["_pset_sha1"]
    if "_pset_status" in df.columns:
        ok = ok[df["_pset_status"].ne("failed").to_numpy()]
    have = set(ok.dropna().to_numpy())
    todo = [i for i, h in enumerate(hashes) if h not in have]
    nohash = [i for i in todo if not isinstance(hashes[i], str)]
    if nohash:
        log.warning(
            "skip_dups: %d psets have no hash, so they run whether they ran before or not "
            "(a value without a stable text, e.g. %r)",
            len(nohash),
            params[nohash[0]],
        )
    log.info("skip_dups: %d of %d psets are done already", len(params) - len(todo), len(params))
    return Plan([params[i] for i in todo], [hashes[i] for i in todo])


def run_local(
    func: Callable[[dict], dict],
    params: Sequence[dict],
    df: pd.DataFrame | None = None,
    poolsize: int | None = None,
    save: bool = True,
    tmpsave: bool = False,
    verbose: bool | Sequence[str] = False,
    calc_dir: str = "calc",
    simulate: bool = False,
    database_basename: str = "database.pk",
    backup: bool = False,
    git: bool = False,
    database_dir: str | None = None,
    *,
    skip_dups: bool = False,
    on_error: str = "raise",
    dask_client: Any = None,
    progress: bool | None = None,
    lock_timeout_s: float = DEFAULT_LOCK_TIMEOUT_S,
    timeout_s: float | None = None,
    capture_logs: str | None = None,
    fill_value: Any = NO_FILL,
    _after_save: Callable[[pd.DataFrame], None] | None = None,
    _api016: bool = False,
) -> pd.DataFrame:
    """Call `func` on every pset in `params` and return the database.

    One call is one *run*: it gets a new ``_run_id``; each pset gets a new
    ``_pset_id``. `func` receives the pset plus the reserved fields
    (``_run_id``, ``_pset_id``, ``_calc_dir``, ...) and returns a dict that is
    merged into the pset's row.

    While the run goes on, each finished pset is journaled in
    ``<calc_dir>/.psweep/journal/`` before the next one starts (psets shorter
    than 10 ms are journaled together), so a crash loses only the psets in
    flight; the next run (or :func:`recover`) merges the journal.

    Parameters
    ----------
    func
        Called as ``func(pset)``; returns a dict (may be empty).
    params
        The psets (dicts) to run.
    df
        Database to append to. ``None`` or an empty DataFrame reads
        ``<calc_dir>/<database_basename>`` if it exists. With `save`, `df`
        and the file are combined first, so no row on disk is lost: rows only
        in the file (other runs, recovered rows) stay, rows only in `df` are
        added, and a row in both takes the values of `df` where it has them.
    poolsize
        ``None`` runs serially; ``N`` runs in N worker processes (`func` must
        be defined at module level). Rows are the same either way.
    save
        Write the database to ``<calc_dir>/<database_basename>``. With
        ``False`` nothing at all is written.
    tmpsave
        Also save each pset's row as ``<calc_dir>/tmpsave/<_run_id>/<_pset_id>.pk``.
    verbose
        ``True`` prints each row as it starts; a list of column names prints
        only those.
    calc_dir
        Folder of the database and of files that `func` writes.
    simulate
        Dry run: copy only the database to ``<calc_dir>.simulate/`` and add
        the rows there without calling `func`; `calc_dir` is not touched.
    database_basename
        File name of the database inside `calc_dir`.
    backup
        Before running, copy `calc_dir` to
        ``<calc_dir>.bak_<UTC time>Z_run_id_<last _run_id>``; with
        `database_dir`, the database and the runs table are copied into it too.
    git
        Commit local changes before the run and the results after it, with
        the ``_run_id`` in each message. Needs a git repository. A
        `calc_dir` kept by DVC is recorded with ``dvc commit`` first, so the
        last commit's ``dvc.lock`` (or ``calc.dvc``) points at it. A commit
        that would add a virtualenv or more than
        ``psweep.store.vcs.GIT_MAX_ADD_BYTES`` (50 MB) stops with an error instead.
    database_dir
        Folder of the database if not `calc_dir`.
    skip_dups
        Skip psets whose hash has a successful row in the database already
        (resume an interrupted study, extend a grid). Failed psets run again.
    on_error
        ``"raise"`` (default): an exception in `func` stops the run; rows of
        psets that finished are saved, then the exception propagates with the
        pset named. ``"record"``: the run goes on; each row gets
        ``_pset_status`` (``"ok"``/``"failed"``) and ``_exc`` (the traceback).
    dask_client
        A ``dask.distributed.Client``: run psets as tasks on its cluster
        (a ``LocalCluster``, ``dask_jobqueue.SLURMCluster``, ...).
    progress
        Show a progress bar on stderr; default: only on a terminal.
    lock_timeout_s
        How long to wait for another process that writes the same database.
    timeout_s
        With `poolsize` or `dask_client`: the longest one pset may run. A pset
        that takes longer is stopped and counts as failed: recorded with
        ``on_error="record"``, else the run stops with the pset named. In a
        pool, ``PsweepTimeout`` is raised in `func` (a worker stuck in compiled
        code is killed); on dask, where tasks run in threads, the pset is given
        up and its worker restarted.
    capture_logs
        ``"file"``: what func and its subprocesses print (stdout and stderr,
        in order) goes to ``<calc_dir>/<_pset_id>/logs.txt`` while it runs;
        ``"db"``: into the ``_logs`` column; ``"db+file"``: both. ``None``
        (default): nothing is captured.
    fill_value
        If given, psets that lack keys other psets have get them with this
        value before func sees them (psweep 0.16; :func:`run` fills with
        ``pd.NA`` by default). Hashes leave ``pd.NA`` values out, so a filled
        pset hashes like the pset as given.

    A worker process that dies while it runs a pset (a crash in compiled
    code, ``os._exit``, a kill) does not hang the run: that pset counts as
    failed in the same way, the other workers go on. On dask, the task of the
    dead worker is run again pset by pset to find the one at fault.

    Returns
    -------
    pandas.DataFrame
        The whole database, indexed by ``_pset_id``.
    """
    _check_options(
        func, poolsize, dask_client, on_error, calc_dir, database_basename, database_dir,
        lock_timeout_s,
    )  # fmt: skip
    _check_timeout(timeout_s, poolsize, dask_client)
    capture_logs = check_capture_logs(capture_logs)
    _check_verbose(verbose)
    params = _check_params(params)
    if fill_value is not NO_FILL:
        fill = _fill_template(params, fill_value)
        if fill is not None:
            params = [{**fill, **pset} for pset in params]
    # the lifecycle: open (recover, read) -> plan -> begin (journal) -> execute -> merge -> commit
    repo = _git_preflight(git, simulate, {"calc_dir": calc_dir, "database_dir": database_dir})
    where = _Where.make(calc_dir, database_dir, database_basename, save, simulate)
    base, df, had_sha1 = _open_database(where, df, save, simulate, lock_timeout_s)
    extra = extra_columns(df, _api016)
    layout = layout_016(had_sha1) if _api016 else None  # how the database is written
    if "_pset_hash" in extra and len(df):
        base, df = _with_pset_hash(base, df)
    with _gc_paused():
        plan = _plan(params, df, skip_dups)
    if len(plan) == 0:
        log.info("nothing to run: %d psets given, none new", len(params))
        return in_layout(df, layout)
    if save and where.work.database_format != "pickle":
        # a pset that the format (JSON, Parquet) cannot hold stops the run before it runs
        with _gc_paused():
            check_storable(records_frame(plan.psets), where.work.database)
    elif save:
        check_picklable_psets(plan.psets)  # a lambda in a pset: refused, not lost at the end
    crash_point("planned")
    run = _begin(where, df, base, save, on_error, repo, backup, simulate, lock_timeout_s)
    run.extra, run.layout = extra, layout
    if run.info is not None:
        run.info["n_planned"] = len(plan)  # psweep status: how many are left
    job = Job(
        func, run.run_id, run.run_seq, run.pset_seq0, where.work.calc_dir, simulate, tmpsave,
        verbose, run.record, run.journal_dir, run.header, timeout_s, capture_logs, EXEC_HOST,
        extra, _api016,
    )  # fmt: skip
    try:
        blocks = _execute(run, job, plan, poolsize, dask_client, progress)
        crash_point("executed")
        out = run.merge(plan, blocks, "ok")
    finally:
        run.release()  # also when the save failed: the run is not going on
    if _after_save is not None:  # internal: prep_batch writes its submit scripts here
        _after_save(out)
    if run.record:
        _warn_failures(out, run.run_id, len(plan))
    if repo is not None:
        _commit_results(repo, where.work.calc_dir, run.run_id)
    return in_layout(out, layout)


def _with_pset_hash(
    base: pd.DataFrame | DbSnapshot, df: pd.DataFrame
) -> tuple[pd.DataFrame | DbSnapshot, pd.DataFrame]:
    """The database with psweep 0.16's ``_pset_hash`` in every row (``_pset_sha1``'s value:
    one hash per database), also in rows of 0.7.0 or recovered without it."""
    if "_pset_sha1" not in df.columns:
        return base, df
    if "_pset_hash" in df.columns:
        gap = df["_pset_hash"].isna().to_numpy() & df["_pset_sha1"].notna().to_numpy()
        if not gap.any():
            return base, df
    df = df.assign(_pset_hash=df["_pset_sha1"])
    if isinstance(base, DbSnapshot):
        base.df = df
        return base, df
    return df, df


def _warn_failures(df: pd.DataFrame, run_id: str, n_run: int) -> None:
    """One warning at the end of a run with failed psets: how many, the first, what next."""
    if "_pset_status" not in df.columns:
        return
    mine = df[(df["_run_id"] == run_id).to_numpy() & (df["_pset_status"] == "failed").to_numpy()]
    if len(mine) == 0:
        return
    first = mine.iloc[0]
    params = {k: first[k] for k in df.columns if not str(k).startswith("_") and k in first}
    params = {
        k: (v.item() if hasattr(v, "item") and getattr(v, "ndim", 1) == 0 else v)
        for k, v in params.items()
        if not (isinstance(v, float) and v != v)
    }
    log.warning(
        "run %s: %d of %d psets failed; the first (_pset_id %s, %s): %s. The rows have "
        "_pset_status='failed' and the traceback in _exc; run the same params again with "
        "skip_dups=True to repeat only the failed ones",
        run_id,
        len(mine),
        n_run,
        first["_pset_id"],
        _short(params),
        error_line(first.get("_exc")) or "(no message)",
    )


def _short(params: dict) -> str:
    text = repr(params)
    return text if len(text) <= 200 else text[:200] + "...}"


def _check_verbose(verbose: Any) -> None:
    if verbose is None or isinstance(verbose, bool):
        return
    if isinstance(verbose, str) or not isinstance(verbose, Sequence):
        raise PsweepParamsError(
            f"verbose must be True, False or a list of column names, got {verbose!r}"
        )


def _fill_template(params: list[dict], fill_value: Any) -> dict | None:
    """The keys of all psets in first-seen order, each with `fill_value`; None if all
    psets have the same keys (then nothing needs filling)."""
    if not params:
        return None
    first = params[0].keys()
    if all(p.keys() == first for p in params):
        return None
    keys: dict = {}
    for pset in params:
        keys.update(dict.fromkeys(pset))
    return dict.fromkeys(keys, fill_value)


def _check_timeout(timeout_s: Any, poolsize: int | None, dask_client: Any) -> None:
    if timeout_s is None:
        return
    if isinstance(timeout_s, bool) or not isinstance(timeout_s, int | float) or timeout_s <= 0:
        raise PsweepParamsError(f"timeout_s must be None or a number > 0, got {timeout_s!r}")
    if poolsize is None and dask_client is None:
        raise PsweepParamsError(
            f"timeout_s={timeout_s!r} needs poolsize or dask_client: a pset that overruns is "
            "stopped in its worker process (poolsize=1 runs one pset at a time)"
        )


def _git_preflight(git: bool, simulate: bool, folders: dict[str, Any]) -> Any:
    """The repository of a git=True run, checked before anything happens; else None.

    `folders` (``{"calc_dir": ..., "database_dir": ...}``, None for unset) must
    be inside the repository, or their results would never be committed.
    """
    if not git:
        return None
    if simulate:
        log.info("simulate: git commits skipped")
        return None
    repo = git_repo(".")
    git_require_identity(repo)
    git_require_no_conflicts(repo)
    top = os.path.realpath(os.fspath(repo.working_tree_dir or "."))
    for name, folder in folders.items():
        if folder is None:
            continue
        real = os.path.realpath(folder)
        try:
            inside = os.path.commonpath([top, real]) == top
        except ValueError:  # another drive (Windows)
            inside = False
        if not inside:
            raise PsweepGitError(
                f"git=True commits into the git repository {top!r}, but {name} "
                f"{os.fspath(folder)!r} ({real}) is outside it: its results would never be "
                f"committed. Choose a {name} inside {top!r}, run from the repository that "
                "holds it, or leave git=True out"
            )
    return repo


@dataclass(frozen=True)
class _Where:
    """The paths of the study and of the run: the same, or for a simulated run those of
    ``<calc_dir>.simulate`` (:meth:`StudyPaths.simulated`)."""

    study: StudyPaths  # as given: its journals are recovered, it is backed up
    work: StudyPaths  # where func runs and the database is written
    db_src: str  # the database the run starts from

    @classmethod
    def make(
        cls, calc_dir: Any, database_dir: Any, basename: str, save: bool, simulate: bool
    ) -> _Where:
        study = StudyPaths(calc_dir, basename, database_dir)
        if not simulate:
            return cls(study, study, study.database)
        work = study.simulated()
        return cls(study, work, work.database if save else study.database)


def _open_database(
    where: _Where, df: pd.DataFrame | None, save: bool, simulate: bool, lock_timeout_s: float
) -> tuple[pd.DataFrame | DbSnapshot, pd.DataFrame, bool]:
    """Step 1: recover crashed runs, then read the database the run appends to.

    Returns what the run merges into at its end (a snapshot of the file, or
    with save=False the given DataFrame), the database as a DataFrame, and
    whether it had 0.7.0's ``_pset_sha1`` before it was read into our layout.
    """
    study = where.study
    if save and not simulate and os.path.isdir(study.database_dir):
        check_runs_table(study.database_dir)  # damaged: set aside now, not found at the end
        recover_journals(study.database_dir, study.database_basename, lock_timeout_s)
    if save and simulate:
        _prepare_simulate(study.database, where.work.database_dir)
    given = df is not None and len(df) > 0
    had_sha1 = given and "_pset_sha1" in df.columns
    if given:
        # a DataFrame of psweep 0.7.0, 0.16 or ps.run (whose hashes are ours where our
        # runs table lists runs beside the database)
        df = adopt_database(df, study.database_dir)
    if given and not save:
        return df, df, had_sha1
    base = DbSnapshot(where.db_src)
    had_sha1 = had_sha1 or base.had_sha1
    if given:
        base = _combine_given_df(df, base, where.db_src, lock_timeout_s)
    return base, base.df, had_sha1


@dataclass
class _Run:
    """A run that has begun: its numbers, its journal and lock, and how it ends."""

    run_id: str
    run_seq: int
    pset_seq0: int
    where: _Where
    df: pd.DataFrame
    base: pd.DataFrame | DbSnapshot
    save: bool
    record: bool
    lock_timeout_s: float
    info: dict | None = None
    journal_dir: str | None = None
    lock: Any = None
    extra: tuple[str, ...] = ()  # the 0.16 columns of its rows (assemble.extra_columns)
    layout: str | None = None  # how the file is written (legacy.in_layout)

    @property
    def header(self) -> dict:
        """What a journal file says about its run (enough to recover it)."""
        return {
            "run_id": self.run_id,
            "run_seq": self.run_seq,
            "pset_seq0": self.pset_seq0,
            "calc_dir": self.where.work.calc_dir,
            "database_basename": self.where.work.database_basename,
            "record": self.record,
            "extra": list(self.extra),
            "layout": self.layout,
            "info": self.info,
        }

    def merge(self, plan: Plan, blocks: list, status: str) -> pd.DataFrame:
        """Step 5: append the finished rows to the database, record the run, drop the journal.

        Each part can be cut short by a crash: the next run's recovery merges
        the journal again and skips the rows that made it (see merge_run).
        """
        # blocks of a chunk are in order and chunks are ranges: sorting the
        # blocks by their first position puts all rows in order
        blocks.sort(key=lambda block: block[0][0])
        cols = [list(itertools.chain.from_iterable(c)) for c in zip(*blocks, strict=True)]
        pos, *rest = cols or [[]] * 7
        with _gc_paused():
            df_new = rows_to_df(
                pos,
                [plan.psets[k] for k in pos],
                *rest,
                run_id=self.run_id,
                run_seq=self.run_seq,
                pset_seq0=self.pset_seq0,
                calc_dir=self.where.work.calc_dir,
                record=self.record,
                extra=self.extra,
            )
            if not self.save:
                return append_rows(self.df, df_new)
            info_end = {**self.info, "status": status}
            try:
                out = merge_run(
                    self.where.work.database, df_new, info_end, self.base, self.lock_timeout_s,
                    layout=self.layout,
                )  # fmt: skip
            except PsweepFormatError:
                remove_run_dir(self.journal_dir)  # the rows are set aside (merge_run)
                raise
        remove_run_dir(self.journal_dir)
        crash_point("journal-removed")
        return out

    def save_stopped(self, exc: BaseException, plan: Plan, blocks: list) -> None:
        """Save every finished pset of a run that an exception or a signal stopped."""
        status = "interrupted" if isinstance(exc, KeyboardInterrupt) else "failed"
        if self.info is not None and status == "failed":
            self.info["last_error"] = f"{type(exc).__name__}: {exc}"[:500]
        if self.save:
            blocks.extend(_journaled_blocks(self.journal_dir, blocks))
        ndone = sum(len(block[0]) for block in blocks)
        if not (self.save or ndone):
            return
        try:
            self.merge(plan, blocks, status)
        except Exception as save_exc:
            log.error("could not save the finished rows of run %s: %s", self.run_id, save_exc)
            return
        if not ndone:
            log.warning("run %s stopped before any pset finished; nothing to save", self.run_id)
        else:
            log.warning(
                "run %s stopped after %d of %d psets; their rows are saved. To go on with "
                "the rest, run the same params again with skip_dups=True (in a study "
                "repository: python input.py --skip-dups); a plain rerun runs all of them again",
                self.run_id,
                ndone,
                len(plan),
            )

    def release(self) -> None:
        if self.lock is not None:
            self.lock.release()
            self.lock = None


def _begin(
    where: _Where,
    df: pd.DataFrame,
    base: pd.DataFrame | DbSnapshot,
    save: bool,
    on_error: str,
    repo: Any,
    backup: bool,
    simulate: bool,
    lock_timeout_s: float,
) -> _Run:
    """Step 3: number the run, commit and back up what is there, open the journal."""
    run_seq, pset_seq0 = _seq_start(df)
    work = where.work
    if save:
        _require_writable(work.database_dir)
    run = _Run(
        str(uuid.uuid4()), run_seq, pset_seq0, where, df, base, save, on_error == "record",
        lock_timeout_s,
    )  # fmt: skip
    if repo is not None:
        name = os.path.basename(os.path.abspath("."))
        git_commit_all(repo, f"psweep: {name}: run_id={run.run_id}: local changes")
    if backup and not simulate:
        _backup(where.study, df)
    elif backup:
        log.info("simulate: backup skipped")
    if save:
        run.info = run_info(run.run_id, work.calc_dir, work.database_basename)
        work.make_psweep_dir()
        run.journal_dir = work.run_journal(run.run_id)
        # made under another name and locked before it appears: another process's
        # recovery must never see this run's folder unlocked (and take it for a crash)
        making = f"{run.journal_dir}.new-{os.getpid()}"
        os.makedirs(making)
        run.lock = try_lock(StudyPaths.run_lock(making))
        os.rename(making, run.journal_dir)
        crash_point("journal-opened")
    return run


def _execute(
    run: _Run, job: Job, plan: Plan, poolsize: int | None, dask_client: Any, progress: Any
) -> list:
    """Step 4: run the psets; return their result blocks.

    A stop (an exception in func, Ctrl-C, SIGTERM) saves every finished pset
    first, then propagates; SIGTERM then ends the process as SIGTERM does.
    """
    blocks: list = []  # of (pos, ids, sha1s, times, runtimes, rets, excs)
    bar = Progress(len(plan), want_progress(progress))
    # With a pool or dask this process runs no user code: pause the collector.
    # Serially, func runs here: only hide the objects that exist now from it.
    quiet_gc = _gc_paused() if (poolsize or dask_client is not None) else _gc_frozen()
    running = execute(job, plan, poolsize, dask_client)
    try:
        with quiet_gc, _sigterm_as_interrupt():
            for block in running:
                blocks.append(block)
                crash_point("block-done")
                if bar.enabled:
                    bar.update(len(block[0]), failed=sum(e is not None for e in block[-1]))
    except BaseException as exc:
        try:
            running.close()  # stop the workers and wait for them
        finally:
            bar.close()
            try:
                run.save_stopped(exc, plan, blocks)
            finally:
                run.release()
        if isinstance(exc, PsweepTerminated):
            _die_of_sigterm()
        raise
    bar.close()
    return blocks


def _journaled_blocks(journal_dir: str | None, blocks: list) -> list:
    """Rows that the journals hold but `blocks` do not (psets finished in workers whose
    results had not come back when the run stopped), as one block."""
    if journal_dir is None or not os.path.isdir(journal_dir):
        return []
    have = {pset_id for block in blocks for pset_id in block[1]}
    _, rows = read_journal_dir(journal_dir)
    block = rows_to_block([row for row in rows if row[2] not in have])
    return [] if block is None else [block]


class PsweepTerminated(KeyboardInterrupt):
    """The run got SIGTERM (e.g. a cluster's time limit): it saves what finished, then dies."""


@contextlib.contextmanager
def _sigterm_as_interrupt():
    """In the main thread, turn SIGTERM into PsweepTerminated while the psets run."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    here = os.getpid()

    def handler(signum, frame):
        if os.getpid() != here:  # a pool worker forked before it reset the handler
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            os.kill(os.getpid(), signal.SIGTERM)
            return
        raise PsweepTerminated(f"signal {signum} (SIGTERM)")

    handler._psweep_run = True  # type: ignore[attr-defined]
    _reset_sigterm_in_children()
    old = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, old)


_AT_FORK: list[bool] = []


def _reset_sigterm_in_children() -> None:
    """A process forked while the run's SIGTERM handler is set (by func: its own process
    pool, serially) gets SIGTERM's default back at once.

    Inherited, the handler ends such a child only when Python code runs in it, and
    a child that waits in C (an idle pool worker) could miss SIGTERM: Pool.terminate
    then waited for ever. Registered once, on the first run; it acts only while a
    run's handler is set.
    """
    if _AT_FORK or not hasattr(os, "register_at_fork"):
        return
    _AT_FORK.append(True)

    def after_in_child() -> None:
        if getattr(signal.getsignal(signal.SIGTERM), "_psweep_run", False):
            signal.signal(signal.SIGTERM, signal.SIG_DFL)

    os.register_at_fork(after_in_child=after_in_child)


def _die_of_sigterm() -> None:
    """End the process as SIGTERM would have, now that the finished psets are saved."""
    log.warning("psweep: stopped by SIGTERM; finished psets are saved")
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    os.kill(os.getpid(), signal.SIGTERM)


def _commit_results(repo, calc_dir: str, run_id: str) -> None:
    """The commit that ends a git=True run; a DVC-tracked calc_dir is recorded by DVC first."""
    name = os.path.basename(os.path.abspath("."))
    if dvc_tracked(calc_dir, repo.working_tree_dir):
        if in_dvc_stage():
            log.info("run by dvc repro: it records %s in dvc.lock; no commit here", calc_dir)
            return
        dvc_commit(calc_dir, repo.working_tree_dir)
    git_commit_all(repo, f"psweep: {name}: run_id={run_id}")


def run(
    func: Callable[[dict], dict],
    params: Sequence[dict],
    df: pd.DataFrame | None = None,
    poolsize: int | None = None,
    dask_client: Any = None,
    save: bool = True,
    tmpsave: bool = False,
    verbose: bool | Sequence[str] = False,
    calc_dir: str = "calc",
    simulate: bool = False,
    database_basename: str = "database.pk",
    backup: bool = False,
    git: bool = False,
    skip_dups: bool = False,
    capture_logs: str | None = None,
    fill_value: Any = pd.NA,
    *,
    on_error: str = "raise",
    progress: bool | None = None,
    lock_timeout_s: float = DEFAULT_LOCK_TIMEOUT_S,
    timeout_s: float | None = None,
    database_dir: str | None = None,
) -> pd.DataFrame:
    """Call `func` on every pset in `params` and return the database (psweep 0.16's entry).

    The same run as :func:`run_local`, with psweep 0.16's arguments in its
    order (`dask_client` is the fifth) and its defaults: psets that lack keys
    other psets have get them as `fill_value` (``pd.NA``) before func sees
    them, and `capture_logs` is available. See :func:`run_local` for every
    argument.

    The database, returned and on disk, is in 0.16's layout: indexed by
    ``_pset_seq``, with ``_pset_hash`` (the hash :func:`run_local` calls
    ``_pset_sha1``, which a database that has it keeps) and ``_exec_host``.
    :func:`run_local` reads such a database and writes it back in its own
    layout (indexed by ``_pset_id``); its new rows keep the 0.16 columns the
    database has.
    """
    return run_local(
        func, params, df, poolsize, save, tmpsave, verbose, calc_dir, simulate,
        database_basename, backup, git, database_dir,
        skip_dups=skip_dups, on_error=on_error, dask_client=dask_client, progress=progress,
        lock_timeout_s=lock_timeout_s, timeout_s=timeout_s, capture_logs=capture_logs,
        fill_value=fill_value, _api016=True,
    )  # fmt: skip
