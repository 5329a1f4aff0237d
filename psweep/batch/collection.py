"""collect_batch: the result files of batch jobs into the database."""

from __future__ import annotations

import json
import logging
import os
import shlex

import pandas as pd

from psweep.store.database import df_read, df_write
from psweep.store.locking import DEFAULT_LOCK_TIMEOUT_S, database_lock
from psweep.store.paths import StudyPaths

__all__ = ["RESULT_BASENAME", "collect_batch"]

log = logging.getLogger("psweep")

RESULT_BASENAME = "result.json"


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
    not run, or failed before writing it) or ``"invalid"`` (not a JSON
    object). Missing and invalid jobs are logged as a warning. Collecting
    again re-reads all files. Returns the updated database, also written back.
    """
    calc_dir = os.fspath(calc_dir)
    paths = StudyPaths(calc_dir, database_basename)
    db_fn = paths.database
    paths.make_psweep_dir()
    with database_lock(paths.lock, lock_timeout_s):
        df = df_read(db_fn)
        status = []
        results: dict[str, dict] = {}
        for pset_id in df.index:
            fn = os.path.join(calc_dir, str(pset_id), result_basename)
            try:
                with open(fn) as fh:
                    data = json.load(fh)
            except FileNotFoundError:
                status.append("missing")
                continue
            except (ValueError, OSError):
                status.append("invalid")
                continue
            if not isinstance(data, dict):
                status.append("invalid")
                continue
            results[pset_id] = data
            status.append("done")
        if results:
            res = pd.DataFrame.from_dict(results, orient="index")
            for col in res.columns:
                if col.startswith("_") and col in df.columns:
                    continue  # never overwrite bookkeeping
                new = res[col].reindex(df.index)
                df[col] = (
                    new if col not in df.columns else new.where(new.index.isin(res.index), df[col])
                )
        df["_batch_status"] = pd.array(status, dtype="str")
        df_write(df, db_fn)
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
    return df
