"""Run psets one after another: the serial backend, and what each pool or dask worker
does with its chunk (:func:`_run_range`)."""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Generator, Iterator
from typing import Any

from psweep.lifecycle.execute.task import _WORKER, Block, Job, Plan, run_task
from psweep.lifecycle.journal import JournalWriter
from psweep.lifecycle.results import ResultBlock
from psweep.params.hashing import pset_hashes, uuid4_strings

_BLOCK_ROWS = 1000
_YIELD_S = 0.5  # the longest a finished pset waits in a block before the run hears of it
_STOP_CHECK_S = 0.02  # how often pool workers look whether the run is stopping


def _run_range(
    job: Job,
    part: Plan,
    offset: int,
    journal: JournalWriter | None,
    stop_flag: Any,
    task: Callable = run_task,
) -> Iterator[Block | BaseException]:
    """Run the psets of `part`, which start at position `offset` of the run.

    Yields blocks, then the exception that ended the part, if any. `task` runs
    one pset and returns its :class:`ResultRow` fields (:func:`run_task`); the rows
    are journaled one by one and handed on in blocks of columns.
    """
    ids = uuid4_strings(len(part))
    sha1s = part.sha1s if part.sha1s is not None else pset_hashes(part.psets)
    rows: list[tuple] = []
    add_row = rows.append
    add_to_journal = journal.add if journal is not None else None
    clock = time.perf_counter
    track = _WORKER.get("track")
    # a stopping run starts no new pset: look at the flag before the first one, too
    next_check = clock() if stop_flag is not None else math.inf
    next_yield = clock() + _YIELD_S  # slow psets: a block now and then, for the progress
    try:
        for k, pset, pset_id, sha1 in zip(
            range(offset, offset + len(part)), part.psets, ids, sha1s, strict=True
        ):
            now = clock()
            if rows and (len(rows) >= _BLOCK_ROWS or now >= next_yield):
                next_yield = now + _YIELD_S
                yield ResultBlock.of_run(rows)
                rows = []
                add_row = rows.append
            if now >= next_check:  # asking the shared flag costs a lock
                if stop_flag.is_set() or os.getppid() != _WORKER.get("parent", os.getppid()):
                    break  # the run stops, or its process is gone: stop with it
                next_check = now + _STOP_CHECK_S
            if track is not None:
                track[0][track[2]] = k  # the parent sees which pset this worker runs
                track[1][track[2]] = time.time()
            row = task(job, k, pset, pset_id, sha1)
            if track is not None:
                track[0][track[2]] = -1
            if add_to_journal is not None:
                add_to_journal(row)
            add_row(row)
    except GeneratorExit:
        raise
    except BaseException as exc:
        yield from _ended_by(exc, rows, journal)
        return
    if rows:
        yield ResultBlock.of_run(rows)


def _ended_by(
    exc: BaseException, rows: list[tuple], journal: JournalWriter | None
) -> Iterator[Block | BaseException]:
    """The end of a part that `exc` stopped (func raised, Ctrl-C, a timeout): the
    journal written out (if it can be: on a full disk the rows go on in memory), then
    the rows not yielded yet, then `exc`."""
    if journal is not None:
        journal.flush(raise_errors=False)
    if rows:
        yield ResultBlock.of_run(rows)
    yield exc


def _serial(job: Job, plan: Plan) -> Generator[Block, None, None]:
    journal = None
    if job.journal_dir is not None:
        journal = JournalWriter(os.path.join(job.journal_dir, f"{os.getpid()}.journal"), job.header)
    try:
        for item in _run_range(job, plan, 0, journal, None):
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        if journal is not None:
            journal.close()
