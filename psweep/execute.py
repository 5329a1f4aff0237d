"""Call `func` on psets: serially, in a process pool, or on a dask cluster.

Each executor is a generator of *rows*, tuples
``(i, pset, pset_id, sha1, time_ns, runtime_s, ret, exc_text)`` where `i` is
the pset's position in the run, `ret` the dict `func` returned (``None`` if it
failed) and `exc_text` the failure's type, message and traceback. Rows are
journaled as they finish, so a crash loses none that finished more than
:data:`~psweep.journal.JOURNAL_FLUSH_S` seconds before.
"""

from __future__ import annotations

import functools
import logging
import math
import multiprocessing
import os
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from .database import df_print
from .errors import PsweepError
from .journal import JournalWriter

__all__ = ["Job", "PsweepFuncError", "execute"]

log = logging.getLogger("psweep")

Task = tuple[int, dict, str, Any]
Row = tuple[int, Any, str, Any, int, float, Any, Any]


class PsweepFuncError(PsweepError, TypeError):
    """`func` returned something other than a dict."""


@dataclass(frozen=True)
class Job:
    """Everything a worker needs besides the psets."""

    func: Callable
    run_id: str
    run_seq: int
    pset_seq0: int
    calc_dir: str
    simulate: bool
    tmpsave: bool
    verbose: bool | Sequence[str]
    record: bool
    journal_dir: str | None
    header: dict


def _describe(pset: dict) -> str:
    public = {k: v for k, v in pset.items() if not (isinstance(k, str) and k.startswith("_"))}
    text = repr(public)
    if len(text) > 500:
        text = text[:500] + "...}"
    return f"pset {text} (_pset_seq={pset.get('_pset_seq')}, _pset_id={pset.get('_pset_id')})"


def _print_row(row: dict, verbose: bool | Sequence[str]) -> None:
    df = pd.DataFrame([row], index=[row["_time_utc"]])
    if verbose is True:
        df_print(df, index=True, special_cols=True)
    else:
        df_print(df, cols=list(verbose), index=True)


def run_task(job: Job, task: Task) -> Row:
    """Call ``job.func`` on one pset and return its row."""
    i, pset, pset_id, sha1 = task
    start_ns = time.time_ns()
    full = {
        **pset,
        "_run_id": job.run_id,
        "_pset_id": pset_id,
        "_run_seq": job.run_seq,
        "_pset_seq": job.pset_seq0 + i,
        "_pset_sha1": sha1,
        "_calc_dir": job.calc_dir,
        "_time_utc": pd.Timestamp(start_ns, unit="ns"),
    }
    if job.verbose:
        _print_row(full, job.verbose)
    exc_text = None
    t0 = time.perf_counter()
    if job.simulate:
        ret: Any = {}
    else:
        try:
            ret = job.func(full)
        except Exception as exc:
            if not job.record:
                note = f"psweep: raised by func for {_describe(full)}"
                if hasattr(exc, "add_note"):  # Python >= 3.11
                    exc.add_note(note)
                else:
                    log.error(note)
                raise
            ret, exc_text = {}, traceback.format_exc()
    runtime = time.perf_counter() - t0
    if not isinstance(ret, dict):
        err = PsweepFuncError(
            f"func must return a dict (may be empty), got {type(ret).__name__} "
            f"{ret!r:.200} for {_describe(full)}"
        )
        if not job.record:
            raise err
        ret, exc_text = {}, f"{type(err).__name__}: {err}"
    row = (i, pset, pset_id, sha1, start_ns, runtime, ret, exc_text)
    if job.tmpsave:
        from .assemble import rows_to_df
        from .database import df_write

        df_write(
            rows_to_df([row], job.run_id, job.run_seq, job.pset_seq0, job.calc_dir, job.record),
            os.path.join(job.calc_dir, "tmpsave", job.run_id, f"{pset_id}.pk"),
        )
    return row


def _serial(job: Job, tasks: list[Task]) -> Iterator[Row]:
    journal = None
    if job.journal_dir is not None:
        journal = JournalWriter(os.path.join(job.journal_dir, f"{os.getpid()}.journal"), job.header)
    try:
        for task in tasks:
            row = run_task(job, task)
            if journal is not None:
                journal.add(row)
            yield row
    finally:
        if journal is not None:
            journal.close()


# -- process pool -------------------------------------------------------------

_WORKER: dict[str, Any] = {"stop": None, "journals": {}}


def _init_worker(stop: Any) -> None:
    _WORKER["stop"] = stop
    _WORKER["journals"] = {}


def _worker_journal(job: Job) -> JournalWriter | None:
    if job.journal_dir is None:
        return None
    journals = _WORKER["journals"]
    if job.run_id not in journals:
        path = os.path.join(job.journal_dir, f"{os.getpid()}.journal")
        journals[job.run_id] = JournalWriter(path, job.header)
    return journals[job.run_id]


def run_chunk(job: Job, chunk: list[Task]) -> tuple[list[Row], BaseException | None]:
    """Run a chunk of tasks in a worker; stop early when the run is stopping.

    Returns the rows (without their psets, which the caller has) and the
    exception that ended the chunk, if any.
    """
    journal = _worker_journal(job)
    stop = _WORKER["stop"]
    rows: list[Row] = []
    for task in chunk:
        if stop is not None and stop.is_set():
            break
        try:
            row = run_task(job, task)
        except Exception as exc:
            if journal is not None:
                journal.flush()
            return rows, exc
        if journal is not None:
            journal.add(row)
        rows.append((row[0], None, *row[2:]))
    if journal is not None and stop is not None and stop.is_set():
        journal.flush()
    return rows, None


def _chunks(tasks: list[Task], nworkers: int, per_worker: int = 16) -> list[list[Task]]:
    size = max(1, min(5000, math.ceil(len(tasks) / (nworkers * per_worker))))
    return [tasks[i : i + size] for i in range(0, len(tasks), size)]


def _with_psets(rows: list[Row], tasks: list[Task]) -> Iterator[Row]:
    for row in rows:
        yield (row[0], tasks[row[0]][1], *row[2:])


def _pool(job: Job, tasks: list[Task], poolsize: int) -> Iterator[Row]:
    ctx = multiprocessing.get_context()
    stop = ctx.Event()
    error: BaseException | None = None
    with ctx.Pool(poolsize, initializer=_init_worker, initargs=(stop,)) as pool:
        try:
            for rows, exc in pool.imap_unordered(
                functools.partial(run_chunk, job), _chunks(tasks, poolsize)
            ):
                yield from _with_psets(rows, tasks)
                if exc is not None and error is None:
                    error = exc
                    stop.set()
        except BaseException:
            stop.set()
            raise
        finally:
            pool.close()
            pool.join()
    if error is not None:
        raise error


# -- dask ---------------------------------------------------------------------


def _dask_chunk(job: Job, chunk: list[Task]) -> tuple[list[Row], BaseException | None]:
    rows: list[Row] = []
    for task in chunk:
        try:
            row = run_task(job, task)
        except Exception as exc:
            return rows, exc
        rows.append((row[0], None, *row[2:]))
    return rows, None


def _dask(job: Job, tasks: list[Task], client: Any) -> Iterator[Row]:
    from distributed import as_completed

    nworkers = max(1, len(client.scheduler_info().get("workers", {})))
    journal = None
    if job.journal_dir is not None:
        journal = JournalWriter(os.path.join(job.journal_dir, "client.journal"), job.header)
    worker_job = Job(**{**job.__dict__, "journal_dir": None})
    [job_future] = client.scatter([worker_job], broadcast=True)
    futures = [
        client.submit(_dask_chunk, job_future, chunk, pure=False)
        for chunk in _chunks(tasks, nworkers, per_worker=8)
    ]
    error = None
    try:
        for future in as_completed(futures):
            rows, exc = future.result()
            for row in _with_psets(rows, tasks):
                if journal is not None:
                    journal.add(row)
                yield row
            if exc is not None:
                error = exc
                client.cancel(futures)
                break
    finally:
        client.cancel(futures)
        if journal is not None:
            journal.close()
    if error is not None:
        raise error


def execute(
    job: Job, tasks: list[Task], poolsize: int | None = None, dask_client: Any = None
) -> Iterator[Row]:
    """Run all tasks and yield their rows as they finish."""
    if dask_client is not None:
        return _dask(job, tasks, dask_client)
    if poolsize is not None:
        return _pool(job, tasks, poolsize)
    return _serial(job, tasks)
