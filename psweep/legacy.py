"""Databases of other psweep releases, brought to this release's layout when a run opens them.

psweep 0.7.0 wrote a ``RangeIndex`` and ``_pset_sha1``; psweep 0.16 writes a
``RangeIndex``, ``_pset_hash`` (a joblib hash) and only object columns, with
``pd.NA`` in cells of keys a pset did not have. A run that extends such a
database works on it as on one of ours: indexed by ``_pset_id``, with
``_pset_sha1`` and ``_pset_hash`` both holding :func:`psweep.pset_hash`, and
the book-keeping columns in their own dtypes. The file is rewritten only when
the run saves.
"""

from __future__ import annotations

import contextlib
import logging

import numpy as np
import pandas as pd

from .columns import row_hashes

__all__ = ["adopt_database"]

log = logging.getLogger("psweep")


def _as_index(df: pd.DataFrame) -> pd.DataFrame:
    ids = df["_pset_id"]
    if ids.isna().any() or ids.duplicated().any():
        log.warning(
            "the database's _pset_id column has empty or repeated ids; it stays indexed as it was"
        )
        return df
    df = df.copy()
    df.index = pd.Index(ids.astype("str").to_numpy(), dtype="str")
    return df


def _native(df: pd.DataFrame) -> pd.DataFrame:
    """Book-keeping columns that 0.16 stored as objects, in the dtypes our rows have."""
    casts = {"_run_seq": np.int64, "_pset_seq": np.int64, "_pset_runtime": np.float64}
    for col, dtype in casts.items():
        if col in df.columns and df[col].dtype == object and df[col].notna().all():
            with contextlib.suppress(TypeError, ValueError):
                df[col] = df[col].astype(dtype)
    if "_time_utc" in df.columns and df["_time_utc"].dtype == object:
        with contextlib.suppress(TypeError, ValueError):
            df["_time_utc"] = pd.to_datetime(df["_time_utc"])
    return df


def adopt_database(df: pd.DataFrame) -> pd.DataFrame:
    """Return `df` in this release's layout (`df` itself when it is in it already)."""
    if len(df) == 0 or "_pset_id" not in df.columns:
        return df
    foreign_index = df.index.dtype.kind in "iu" or isinstance(df.index, pd.RangeIndex)
    no_sha1 = "_pset_sha1" not in df.columns
    no_hash = "_pset_hash" not in df.columns
    if not (foreign_index or no_sha1 or no_hash):
        return df
    df = _as_index(df) if foreign_index else df.copy()
    if no_sha1:
        # psweep 0.16: its _pset_hash is joblib's; one hash per database, ours
        hashes = row_hashes(df)
        df["_pset_sha1"] = pd.Series(hashes, index=df.index, dtype=object)
        df["_pset_hash"] = df["_pset_sha1"]
        log.info("database of psweep 0.16: _pset_hash of %d rows made by pset_hash()", len(df))
    elif no_hash:
        df["_pset_hash"] = df["_pset_sha1"]
    return _native(df)
