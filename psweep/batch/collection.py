"""collect_batch: the result files of batch jobs into the database."""

from __future__ import annotations

import json
import logging
import os
import shlex

import pandas as pd

from psweep.batch.layout import RESULT_BASENAME
from psweep.batch.states import batch_states
from psweep.lifecycle.merge import merge_rows
from psweep.store.database import df_read, df_write
from psweep.store.legacy import adopt_database, in_layout, layout_of
from psweep.store.locking import DEFAULT_LOCK_TIMEOUT_S, database_lock
from psweep.store.paths import StudyPaths

__all__ = ["RESULT_BASENAME", "collect_batch"]

log = logging.getLogger("psweep")


def _not_done(calc_dir: str, result_basename: str) -> dict[str, str]:
    """The psets with batch jobs whose result files do not count, and their status.

    A result counts where :func:`batch_states` calls a job of the pset ``done``, or
    where no job of it went out (``prepared`` only: a result made by other means).
    Otherwise it is ``"failed"`` where a job is ``failed`` or ``timeout`` (what it left
    is partial), else ``"missing"``: the job of the pset's latest submission waits,
    runs, or ended without a result of its own (a file there is an earlier job's).
    squeue is asked where the submit scripts call sbatch.
    """
    states = batch_states(calc_dir, result_basename=result_basename)
    by_pset = states.groupby("_pset_id", sort=False)["state"].agg(set)
    return {
        str(i): "failed" if got & {"failed", "timeout"} else "missing"
        for i, got in by_pset.items()
        if "done" not in got and not got <= {"prepared"}
    }


def _read_result(fn: str) -> tuple[str, dict | None]:
    """``("done", data)`` for a result file that holds a JSON object, else
    ``("missing", None)`` or ``("invalid", None)``."""
    try:
        with open(fn) as fh:
            data = json.load(fh)
    except FileNotFoundError:
        return "missing", None
    except (ValueError, OSError):
        return "invalid", None
    return ("done", data) if isinstance(data, dict) else ("invalid", None)


def collect_batch(
    calc_dir: str = "calc",
    database_basename: str = "database.pk",
    result_basename: str = RESULT_BASENAME,
    lock_timeout_s: float = DEFAULT_LOCK_TIMEOUT_S,
) -> pd.DataFrame:
    """Merge the ``result.json`` files written by batch jobs into the database.

    Each job may write ``<calc_dir>/<_pset_id>/result.json``, a JSON object
    whose keys become columns of the pset's row. Every row gets
    ``_batch_status``: ``"done"``, ``"missing"`` (no result file: the job has
    not run, or failed before writing it), ``"failed"`` (a result file left
    by a job that then failed: :func:`psweep.batch_states` calls it
    ``failed`` or ``timeout`` on a machine and ``done`` on none; its values
    are not collected) or ``"invalid"`` (not a JSON object). A result file
    older than the job of the pset's latest submission, or written by a job
    that is still running, does not count either (``"missing"``: see
    :func:`psweep.batch_states`). Jobs without a
    usable result are logged as a warning. Collecting again re-reads all
    files; a value a file lacks (or has as null) keeps the one the row has.
    The rows are merged by ``psweep.lifecycle.merge.merge_rows``. Returns the
    updated database, also written back in its layout.
    """
    calc_dir = os.fspath(calc_dir)
    paths = StudyPaths(calc_dir, database_basename)
    db_fn = paths.database
    paths.make_psweep_dir()
    with database_lock(paths.lock, lock_timeout_s):
        raw = df_read(db_fn)
        layout = layout_of(raw)  # a database of ps.run stays in its layout
        df = adopt_database(raw, calc_dir)
        not_done = _not_done(calc_dir, result_basename)
        status = []
        results: dict[str, dict] = {}
        for pset_id in df.index:
            got, data = _read_result(os.path.join(calc_dir, str(pset_id), result_basename))
            if got != "missing" and str(pset_id) in not_done:
                # what a failed job left, or an earlier job's file: no result
                got, data = not_done[str(pset_id)], None
            if data is not None:
                results[pset_id] = data
            status.append(got)
        found = pd.DataFrame.from_dict(results, orient="index") if results else pd.DataFrame()
        own = [c for c in found.columns if str(c).startswith("_") and c in df.columns]
        found = found.drop(columns=own)  # a result never overwrites bookkeeping
        found = found.reindex(df.index).assign(_batch_status=pd.array(status, dtype="str"))
        df = merge_rows(df, found, source=f"the {result_basename} files of {calc_dir!r}").df
        df_write(in_layout(df, layout), db_fn)
    bad = df[df["_batch_status"] != "done"]
    if len(bad):
        counts = bad["_batch_status"].value_counts().to_dict()
        log.warning(
            "collect_batch: %d of %d jobs have no usable %s (%s), e.g. %s",
            len(bad),
            len(df),
            result_basename,
            ", ".join(f"{v} {k}" for k, v in counts.items()),
            ", ".join(shlex.quote(str(i)) for i in bad.index[:3]),
        )
    return in_layout(df, layout)
