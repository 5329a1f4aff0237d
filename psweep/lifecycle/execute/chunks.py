"""A run in chunks: the ranges a plan is split into for pool and dask workers, the
exception that ends a chunk made fit to travel, and the row of a pset that never came back."""

from __future__ import annotations

import itertools
import math
import pickle
import time
import traceback
from collections.abc import Iterator

from psweep.errors import PsweepError
from psweep.lifecycle.execute.task import Block, Job, Plan
from psweep.lifecycle.results import ResultBlock
from psweep.params.hashing import pset_hashes, uuid4_strings


def _picklable(exc: BaseException) -> BaseException:
    """The exception itself if it can travel to the parent process, else a stand-in."""
    try:
        pickle.dumps(exc)
    except Exception:
        text = "".join(traceback.format_exception(exc))
        return PsweepError(f"func raised {type(exc).__name__} (not picklable):\n{text}")
    return exc


def _ranges(n: int, nworkers: int, per_worker: int) -> list[tuple[int, int]]:
    """Split range(n) into near-equal chunks, a multiple of nworkers of them.

    Equal chunks keep the workers equally busy to the end; several per worker
    even out psets of unequal cost; at most 5000 psets per chunk keep the
    result messages small.
    """
    if n == 0:
        return []
    nchunks = max(nworkers * per_worker, math.ceil(n / 5000))
    nchunks = min(n, nworkers * math.ceil(nchunks / nworkers))
    bounds = [n * i // nchunks for i in range(nchunks + 1)]
    return list(itertools.pairwise(bounds))


def _parts(plan: Plan, ranges: list[tuple[int, int]]) -> Iterator[tuple[int, Plan]]:
    for a, b in ranges:
        yield a, plan.part(a, b)


def _failed_block(
    job: Job, plan: Plan, pos: int, started: float, text: str, pset_id: str | None = None
) -> Block:
    """The row of a pset whose worker died: failed, with `text` as its _exc (and `pset_id`,
    if the warning about it named one already)."""
    (sha1,) = (
        plan.sha1s[pos : pos + 1] if plan.sha1s is not None else pset_hashes([plan.psets[pos]])
    )
    runtime = max(0.0, time.time() - started)
    return ResultBlock(
        [pos],
        [pset_id] if pset_id else uuid4_strings(1),
        [sha1],
        [int(started * 1e9)],
        [runtime],
        [{}],
        [text],
    )
