"""Call `func` on psets: serially, in a process pool, or on a dask cluster.

The psets of a run form a :class:`Plan`. Executors yield *blocks* of results
as they finish: ``(pos, ids, sha1s, times_ns, runtimes_s, rets, excs)``,
lists aligned with each other, where `pos` is the pset's position in the
plan, `ids` the new ``_pset_id`` values, `rets` the dicts `func` returned
(empty if it failed) and `excs` the failures' type, message and traceback
(``None`` for success).

Each finished pset is also written to the run's journal (see
:mod:`psweep.lifecycle.journal`) by the process that ran it, so a crash loses none
that finished more than :data:`~psweep.lifecycle.journal.JOURNAL_FLUSH_S` seconds
before.

One module per backend, as submitit splits its executors:

- :mod:`~psweep.lifecycle.execute.task`: a :class:`Job`, a :class:`Plan` and what
  running one pset is (:func:`run_task`)
- :mod:`~psweep.lifecycle.execute.serial`: psets one after another (also what each
  worker does with its chunk)
- :mod:`~psweep.lifecycle.execute.chunks`: the chunks a plan is split into
- :mod:`~psweep.lifecycle.execute.pool` and :mod:`~psweep.lifecycle.execute.pool_worker`:
  a process pool, the run's side and the worker's
- :mod:`~psweep.lifecycle.execute.dask` and :mod:`~psweep.lifecycle.execute.dask_worker`:
  a dask cluster, the client's side and the worker's
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

from psweep.lifecycle.execute.chunks import _ranges as _ranges  # tests import it from here
from psweep.lifecycle.execute.dask import _dask
from psweep.lifecycle.execute.pool import _pool, check_main_guard
from psweep.lifecycle.execute.serial import _serial
from psweep.lifecycle.execute.task import EXEC_HOST, Block, Job, Plan, all_plain, run_task

__all__ = [
    "EXEC_HOST",
    "Block",
    "Job",
    "Plan",
    "all_plain",
    "check_main_guard",
    "execute",
    "run_task",
]


def execute(
    job: Job, plan: Plan, poolsize: int | None = None, dask_client: Any = None
) -> Generator[Block, None, None]:
    """Run all psets of `plan`; yield blocks of results as they finish.

    A generator: closing it stops the run (its pool workers, its dask tasks).
    """
    if dask_client is not None:
        return _dask(job, plan, dask_client)
    if poolsize is not None:
        return _pool(job, plan, poolsize)
    return _serial(job, plan)
