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
"""

from __future__ import annotations

from psweep.lifecycle.execute.task import (
    EXEC_HOST,
    Block,
    Job,
    Plan,
    check_main_guard,
    execute,
    run_task,
)
from psweep.lifecycle.execute.task import _ranges as _ranges  # tests import it from here

__all__ = [
    "EXEC_HOST",
    "Block",
    "Job",
    "Plan",
    "check_main_guard",
    "execute",
    "run_task",
]
