"""Run a function over params and keep the results in the database.

:func:`run_local` (and :func:`run`, psweep 0.16's entry) is the lifecycle of one
run as named steps, each from its own module:

1. check the arguments and psets (:mod:`~psweep.lifecycle.options`);
2. open: recover crashed runs, read the database, plan the psets
   (:mod:`~psweep.lifecycle.opening`);
3. begin: number the run, git commit and back up (:mod:`~psweep.lifecycle.bookkeeping`),
   open its journal; the run is a :class:`~psweep.lifecycle.runinfo.RunInfo`;
4. execute the psets (:mod:`~psweep.lifecycle.execute`), with SIGTERM and the garbage
   collector handled (:mod:`~psweep.lifecycle.guards`);
5. merge the rows into the database and record the run's status
   (:meth:`RunInfo.merge <psweep.lifecycle.runinfo.RunInfo.merge>`,
   :mod:`psweep.store.run_status`);
6. commit the results (git, DVC).
"""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Callable, Generator, Sequence
from typing import Any, cast

import pandas as pd

from psweep.crashpoints import crash_point
from psweep.errors import PsweepTerminated, error_line
from psweep.lifecycle.bookkeeping import (
    backup_study,
    commit_results,
    git_preflight,
    require_writable,
)
from psweep.lifecycle.capture import check_capture_logs
from psweep.lifecycle.execute import EXEC_HOST, Job, Plan, all_plain, execute
from psweep.lifecycle.guards import (
    die_of_sigterm,
    gc_frozen,
    gc_paused,
    sigterm_as_interrupt,
)
from psweep.lifecycle.merge import DbSnapshot
from psweep.lifecycle.opening import RunPaths, open_database, plan_psets, seq_start, with_pset_hash
from psweep.lifecycle.options import (
    NO_FILL,
    ON_ERROR_CHOICES,
    check_options,
    check_params,
    check_timeout,
    check_verbose,
    fill_template,
)
from psweep.lifecycle.progress import Progress, want_progress
from psweep.lifecycle.rows import RESERVED_COLUMNS, ResultColumns, extra_columns
from psweep.lifecycle.runinfo import RunInfo
from psweep.store import run_status
from psweep.store.columns import df_extract_pset
from psweep.store.database import check_picklable_psets, check_storable, records_frame
from psweep.store.legacy import in_layout, layout_016
from psweep.store.locking import DEFAULT_LOCK_TIMEOUT_S, try_lock
from psweep.store.paths import StudyPaths
from psweep.store.runs_table import run_info
from psweep.store.vcs import git_commit_all

__all__ = ["ON_ERROR_CHOICES", "RESERVED_COLUMNS", "run", "run_local"]

log = logging.getLogger("psweep")


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
    check_options(
        func, poolsize, dask_client, on_error, calc_dir, database_basename, database_dir,
        lock_timeout_s,
    )  # fmt: skip
    check_timeout(timeout_s, poolsize, dask_client)
    capture_logs = check_capture_logs(capture_logs)
    check_verbose(verbose)
    params = check_params(params)
    if fill_value is not NO_FILL:
        fill = fill_template(params, fill_value)
        if fill is not None:
            params = [{**fill, **pset} for pset in params]
    # the lifecycle: open (recover, read) -> plan -> begin (journal) -> execute -> merge -> commit
    repo = git_preflight(git, simulate, {"calc_dir": calc_dir, "database_dir": database_dir})
    where = RunPaths.make(calc_dir, database_dir, database_basename, save, simulate)
    base, df, had_sha1 = open_database(where, df, save, simulate, lock_timeout_s)
    extra = extra_columns(df, _api016)
    layout = layout_016(had_sha1) if _api016 else None  # how the database is written
    if "_pset_hash" in extra and len(df):
        base, df = with_pset_hash(base, df)
    with gc_paused():
        plan = plan_psets(params, df, skip_dups)
    if len(plan) == 0:
        log.info("nothing to run: %d psets given, none new", len(params))
        return in_layout(df, layout)
    plain = _check_storable(where, plan) if save else None
    crash_point("planned")
    run = _begin(where, df, base, save, on_error, repo, backup, simulate, lock_timeout_s)
    run.extra, run.layout = extra, layout
    if run.runs_row is not None:
        run.runs_row["n_planned"] = len(plan)  # psweep status: how many are left
    job = Job(
        func, run.run_id, run.run_seq, run.pset_seq0, where.work.calc_dir, simulate, tmpsave,
        verbose, run.record, run.journal_dir, run.header, timeout_s, capture_logs, EXEC_HOST,
        extra, _api016, not (plain if plain is not None else all_plain(plan.psets)),
    )  # fmt: skip
    try:
        results = _execute(run, job, plan, poolsize, dask_client, progress)
        crash_point("executed")
        out = run.merge(plan, results, run_status.OK)
    finally:
        run.release()  # also when the save failed: the run is not going on
    if _after_save is not None:  # internal: prep_batch writes its submit scripts here
        _after_save(out)
    if run.record:
        _warn_failures(out, run.run_id, len(plan))
    if repo is not None:
        commit_results(repo, where.work.calc_dir, run.run_id)
    return in_layout(out, layout)


def _check_storable(where: RunPaths, plan: Plan) -> bool | None:
    """Refuse, before they run, psets that the database cannot hold: ones JSON or
    Parquet cannot hold, a lambda in a pickle. For a pickle, say whether all values
    are plain (see Job.copy_values); else None (not known)."""
    if where.work.database_format == "pickle":
        return check_picklable_psets(plan.psets)
    with gc_paused():
        check_storable(records_frame(plan.psets), where.work.database)
    return None


def _begin(
    where: RunPaths,
    df: pd.DataFrame,
    base: pd.DataFrame | DbSnapshot,
    save: bool,
    on_error: str,
    repo: Any,
    backup: bool,
    simulate: bool,
    lock_timeout_s: float,
) -> RunInfo:
    """Step 3: number the run, commit and back up what is there, open the journal."""
    run_seq, pset_seq0 = seq_start(df)
    work = where.work
    if save:
        require_writable(work.database_dir)
    run = RunInfo(
        str(uuid.uuid4()), run_seq, pset_seq0, where, df, base, save, on_error == "record",
        lock_timeout_s,
    )  # fmt: skip
    if repo is not None:
        name = os.path.basename(os.path.abspath("."))
        git_commit_all(repo, f"psweep: {name}: run_id={run.run_id}: local changes")
    if backup and not simulate:
        backup_study(where.study, df)
    elif backup:
        log.info("simulate: backup skipped")
    if save:
        run.runs_row = run_info(run.run_id, work.calc_dir, work.database_basename)
        work.make_psweep_dir()
        run.journal_dir = work.run_journal(run.run_id)
        # made under another name and locked before it appears: another process's
        # recovery must never see this run's folder unlocked (and take it for a crash)
        making = work.run_journal_making(run.run_id, os.getpid())
        os.makedirs(making)
        run.lock = try_lock(StudyPaths.run_lock(making))
        os.rename(making, run.journal_dir)
        crash_point("journal-opened")
    return run


def _execute(
    run: RunInfo, job: Job, plan: Plan, poolsize: int | None, dask_client: Any, progress: Any
) -> ResultColumns:
    """Step 4: run the psets; return their results (:class:`ResultColumns`).

    A stop (an exception in func, Ctrl-C, SIGTERM) saves every finished pset
    first, then propagates; SIGTERM then ends the process as SIGTERM does.
    """
    results = ResultColumns()  # the finished psets, in compact columns
    bar = Progress(len(plan), want_progress(progress))
    # With a pool or dask this process runs no user code: pause the collector.
    # Serially, func runs here: only hide the objects that exist now from it.
    quiet_gc = gc_paused() if (poolsize or dask_client is not None) else gc_frozen()
    running = cast(Generator[Any, None, None], execute(job, plan, poolsize, dask_client))
    try:
        with quiet_gc, sigterm_as_interrupt():
            for block in running:
                results.add(block)
                crash_point("block-done")
                if bar.enabled:
                    bar.update(len(block[0]), failed=sum(e is not None for e in block[-1]))
    except BaseException as exc:
        try:
            running.close()  # stop the workers and wait for them
        finally:
            bar.close()
            try:
                run.save_stopped(exc, plan, results)
            finally:
                run.release()
        if isinstance(exc, PsweepTerminated):
            die_of_sigterm()
        raise
    bar.close()
    return results


def _warn_failures(df: pd.DataFrame, run_id: str, n_run: int) -> None:
    """One warning at the end of a run with failed psets: how many, the first, what next."""
    if "_pset_status" not in df.columns:
        return
    mine = df[(df["_run_id"] == run_id).to_numpy() & (df["_pset_status"] == "failed").to_numpy()]
    if len(mine) == 0:
        return
    first = mine.iloc[0]
    # the pset as it ran: not the keys of other psets, nor the results of func
    params = df_extract_pset(df, first["_pset_id"], py_types=True)
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
