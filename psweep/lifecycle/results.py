"""Finished psets as a run keeps them: one row per pset (:class:`ResultRow`, what the
journal holds) and the columnar block executors hand to the runner (:class:`ResultBlock`).

Plain tuples and lists, no pandas: the journal (which ``psweep status`` reads) needs
them without a DataFrame; :mod:`psweep.lifecycle.rows` makes database rows of them.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import chain
from typing import Any, NamedTuple

__all__ = ["ResultBlock", "ResultRow"]


class ResultRow(NamedTuple):
    """One finished pset, as the journal keeps it until the run merges its rows."""

    pos: int  # the pset's position in the run
    pset: dict
    pset_id: str
    sha1: Any  # the pset's hash (NaN where it has none)
    time_ns: int  # when func started, ns since the epoch (UTC)
    runtime_s: float
    ret: Any  # what func returned
    exc: str | None  # the traceback text of a pset that failed (on_error="record")


class ResultBlock(NamedTuple):
    """Finished psets of a run in columns, in the order they ran: what an executor
    yields. Columns, not a row object per pset, keep a long run's memory small."""

    pos: list[int]
    pset_ids: list[str]
    sha1s: list
    times_ns: list[int]
    runtimes_s: list[float]
    rets: list
    excs: list

    @classmethod
    def new(cls) -> ResultBlock:
        """An empty block to append to."""
        return cls([], [], [], [], [], [], [])

    @classmethod
    def of_rows(cls, rows: Sequence[tuple]) -> ResultBlock | None:
        """The journal rows (:class:`ResultRow` fields) as one block, one row per
        position (a row journaled twice counts once), in order; None if there are none."""
        unique = sorted({row[0]: row for row in rows}.values(), key=lambda row: row[0])
        if not unique:
            return None
        pos, _psets, *cols = (list(col) for col in zip(*unique, strict=True))
        return cls(pos, *cols)

    @classmethod
    def of_run(cls, rows: Sequence[tuple]) -> ResultBlock:
        """The rows (:class:`ResultRow` fields) of consecutive psets, as they ran, in
        columns (one row per pset: no sorting, no de-duplication)."""
        pos, _psets, *cols = (list(col) for col in zip(*rows, strict=True))
        return cls(pos, *cols)

    @classmethod
    def joined(cls, blocks: Sequence[ResultBlock]) -> ResultBlock:
        """The blocks of a run as one, in run order (each block is in order, and the
        blocks of a chunk follow each other)."""
        ordered = sorted(blocks, key=lambda block: block[0][0])
        if not ordered:
            return cls.new()
        return cls(*(list(chain.from_iterable(col)) for col in zip(*ordered, strict=True)))
