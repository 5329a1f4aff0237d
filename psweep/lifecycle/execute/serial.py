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
from psweep.lifecycle.rows import ResultBlock
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

    Yields blocks, then the exception that ended the part, if any.
    """
    ids = uuid4_strings(len(part))
    sha1s = part.sha1s if part.sha1s is not None else pset_hashes(part.psets)
    cols: Block = ResultBlock.new()
    pos, bids, bsha1s, times, runtimes, rets, excs = cols
    clock = time.perf_counter
    track = _WORKER.get("track")
    # a stopping run starts no new pset: look at the flag before the first one, too
    next_check = clock() if stop_flag is not None else math.inf
    next_yield = clock() + _YIELD_S  # slow psets: a block now and then, for the progress
    try:
        for k, pset, pset_id, sha1 in zip(
            range(offset, offset + len(part)), part.psets, ids, sha1s, strict=True
        ):
            if clock() >= next_check:  # asking the shared flag costs a lock
                if stop_flag.is_set() or os.getppid() != _WORKER.get("parent", os.getppid()):
                    break  # the run stops, or its process is gone: stop with it
                next_check = clock() + _STOP_CHECK_S
            if track is not None:
                track[0][track[2]] = k  # the parent sees which pset this worker runs
                track[1][track[2]] = time.time()
            t, rt, ret, exc = task(job, k, pset, pset_id, sha1)
            if track is not None:
                track[0][track[2]] = -1
            if journal is not None:
                journal.add((k, pset, pset_id, sha1, t, rt, ret, exc))
            pos.append(k)
            bids.append(pset_id)
            bsha1s.append(sha1)
            times.append(t)
            runtimes.append(rt)
            rets.append(ret)
            excs.append(exc)
            if len(pos) >= _BLOCK_ROWS or clock() >= next_yield:
                next_yield = clock() + _YIELD_S
                yield cols
                cols = ResultBlock.new()
                pos, bids, bsha1s, times, runtimes, rets, excs = cols
    except GeneratorExit:
        raise
    except BaseException as exc:
        yield from _ended_by(exc, cols, journal)
        return
    if pos:
        yield cols


def _ended_by(
    exc: BaseException, cols: Block, journal: JournalWriter | None
) -> Iterator[Block | BaseException]:
    """The end of a part that `exc` stopped (func raised, Ctrl-C, a timeout): the
    journal written out, then the rows not yielded yet, then `exc`."""
    if journal is not None:
        journal.flush()
    if cols[0]:
        yield cols
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
