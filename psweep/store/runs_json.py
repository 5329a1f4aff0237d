"""``runs.json``: the runs table as plain JSON beside ``runs.pk``, for readers without pandas.

:mod:`psweep.store.runs_table`, the one writer of the runs table, writes it right after
each write of ``runs.pk``, under the same database lock, atomically. It is one JSON
document::

    {"format": 1, "runs_pk": {"size": ..., "mtime_ns": ...},
     "index": [<_run_id>, ...], "runs": [{"_run_id": ..., "start_utc": ..., ...}, ...]}

with each run's columns as plain values (:func:`plain`: times as ISO text, missing
values as null). ``runs_pk`` names the ``runs.pk`` it copies: :func:`read_runs_json`
gives the runs only while ``runs.pk`` is still that file. Where it is not (written by a
psweep without runs.json, copied here alone, damaged since, or the copy could not be
written), the reader reads ``runs.pk`` with pandas instead. ``psweep status`` reads it:
importing pandas takes longer than all the rest of what status does.
"""

from __future__ import annotations

import json
import logging
import os
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from psweep.store.paths import StudyPaths
from psweep.store.utctime import is_missing

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["plain", "read_runs_json", "write_runs_json"]

FORMAT = 1
log = logging.getLogger("psweep")


def plain(value: Any) -> Any:
    """A value of the runs table as plain data: None where it is missing (None, NaN, NaT),
    ISO text for a time (a pandas Timestamp or Timedelta, a datetime), a Python number for
    a numpy one, anything else as it is.

    Examples
    --------
    >>> from datetime import datetime
    >>> plain(datetime(2026, 12, 5, 8, 20, 35)), plain(float("nan")), plain("ok")
    ('2026-12-05T08:20:35', None, 'ok')
    """
    if is_missing(value):
        return None
    if isinstance(value, datetime) or (
        isinstance(value, timedelta) and hasattr(value, "isoformat")
    ):
        return value.isoformat()
    if hasattr(value, "item") and getattr(value, "ndim", 1) == 0:
        return value.item()
    return value


def _stamp(stat: os.stat_result) -> dict[str, int]:
    return {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns}


def write_runs_json(calc_dir: str, runs: pd.DataFrame) -> None:
    """Write `runs`, just written to ``runs.pk`` of `calc_dir`, to ``runs.json``.

    The caller holds the database lock. A copy that cannot be written (a full disk) is
    only logged: readers then read ``runs.pk``, which has it all.
    """
    from psweep.store.files import atomic_open  # writers have pandas loaded; readers not

    paths = StudyPaths(calc_dir)
    try:
        doc = {
            "format": FORMAT,
            "runs_pk": _stamp(os.stat(paths.runs_table)),
            "index": [plain(run_id) for run_id in runs.index],
            "runs": [
                {str(col): plain(val) for col, val in zip(runs.columns, row, strict=True)}
                for row in runs.itertuples(index=False, name=None)
            ],
        }
        # no fsync: a copy that a power cut leaves torn or old no longer matches the
        # stamp of runs.pk (which is synced), and readers then read runs.pk
        with atomic_open(paths.runs_json, "w", sync=False) as fh:
            json.dump(doc, fh, default=str, allow_nan=False)
    except (OSError, ValueError) as exc:
        log.warning(
            "could not write %s (%s); psweep status reads %s instead",
            paths.runs_json,
            exc,
            paths.runs_table,
        )


def read_runs_json(calc_dir: str) -> list[tuple[Any, dict[str, Any]]] | None:
    """The runs of ``runs.json`` in `calc_dir` as ``(run_id, columns)``, in the table's
    order; None if it is missing, damaged, or not the copy of the ``runs.pk`` there is
    now (then read that)."""
    paths = StudyPaths(calc_dir)
    try:
        stamp = _stamp(os.stat(paths.runs_table))
        with open(paths.runs_json) as fh:
            doc = json.load(fh)
    except (OSError, ValueError):
        return None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT or doc.get("runs_pk") != stamp:
        return None
    index, runs = doc.get("index"), doc.get("runs")
    if not (isinstance(index, list) and isinstance(runs, list) and len(index) == len(runs)):
        return None
    if not all(isinstance(run, dict) for run in runs):
        return None
    return list(zip(index, runs, strict=True))
