"""Databases of other psweep releases, brought to this release's layout when a run opens them.

psweep 0.7.0 wrote a ``RangeIndex`` and ``_pset_sha1``; psweep 0.16 writes a
``RangeIndex``, ``_pset_hash`` (a joblib hash) and only object columns, with
``pd.NA`` in cells of keys a pset did not have. A run that extends such a
database works on it as on one of ours: indexed by ``_pset_id``, with
``_pset_sha1`` (and, where 0.16 wrote it, ``_pset_hash``) holding
:func:`psweep.pset_hash`, and the book-keeping columns in their own dtypes.
The file is rewritten only when the run saves. :func:`to_016_layout` is the
way back: the layout that ``ps.run`` (psweep 0.16's entry) returns and writes.
"""

from __future__ import annotations

import contextlib
import logging

import numpy as np
import pandas as pd

from psweep.errors import PsweepDatabaseError
from psweep.store.columns import row_hashes
from psweep.store.runs_table import own_run_ids

__all__ = [
    "LAYOUT_016",
    "LAYOUT_016_SHA1",
    "adopt_copy",
    "adopt_database",
    "in_layout",
    "layout_016",
    "layout_of",
    "to_016_layout",
]

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


def adopt_database(df: pd.DataFrame, db_dir: str | None = None) -> pd.DataFrame:
    """Return `df` in this release's layout (`df` itself when it is in it already).

    `db_dir` is the folder of the database `df` is (a copy of). Where its
    runs table lists runs, this psweep has written the file, and its
    ``_pset_hash`` holds :func:`psweep.pset_hash` (``ps.run`` writes the hash
    under that name only): it is taken as it is. Otherwise a few rows are
    hashed again to tell our hash from psweep 0.16's. The runs table is read
    only for such a database.
    """
    if len(df) == 0 or "_pset_id" not in df.columns:
        return df
    foreign_index = df.index.dtype.kind in "iu" or isinstance(df.index, pd.RangeIndex)
    no_sha1 = "_pset_sha1" not in df.columns
    if not (foreign_index or no_sha1):
        return df
    df = _as_index(df) if foreign_index else df.copy()
    if no_sha1 and _hashed_by_us(df, db_dir):
        df["_pset_sha1"] = df["_pset_hash"]  # written by ps.run: 0.16's name of our hash
    elif no_sha1:
        # psweep 0.16: its _pset_hash is joblib's; one hash per database, ours
        hashes = row_hashes(df)
        df["_pset_sha1"] = pd.Series(hashes, index=df.index, dtype=object)
        if "_pset_hash" in df.columns:
            df["_pset_hash"] = df["_pset_sha1"]
        log.info("database of psweep 0.16: _pset_sha1 of %d rows made by pset_hash()", len(df))
    return _native(df)


def adopt_copy(df: pd.DataFrame, source: str) -> pd.DataFrame:
    """A database from elsewhere (`source`: a pulled copy, a DataFrame) in our layout.

    Unlike :func:`adopt_database` it trusts no runs table (the copy's hashes are
    told apart by hashing a few rows again) and makes every row whole: rows
    without a ``_pset_id`` are left out with a warning (psweep 0.16 writes such
    rows, holding only a hash, when it extends a database indexed by
    ``_pset_id``), rows without ``_pset_sha1`` get :func:`psweep.pset_hash`
    of their pset, and the index is ``_pset_id``. A ``_pset_id`` in two rows
    is a :class:`PsweepDatabaseError` naming `source`.
    """
    if len(df) == 0:
        return df
    if "_pset_id" not in df.columns:
        raise PsweepDatabaseError(
            f"cannot merge {source}: it has no _pset_id column, so it is no psweep database; "
            "nothing was merged"
        )
    no_id = df["_pset_id"].isna().to_numpy()
    if no_id.any():
        log.warning("%s: %d rows without a _pset_id (no pset's) are left out", source, no_id.sum())
        df = df[~no_id]
    dup = df["_pset_id"].duplicated().to_numpy()
    if dup.any():
        raise PsweepDatabaseError(
            f"cannot merge {source}: _pset_id {df['_pset_id'][dup].iloc[0]!r} is in more "
            "than one row; nothing was merged"
        )
    df = adopt_database(_as_index(df), None)
    sha1 = df["_pset_sha1"].astype(object) if "_pset_sha1" in df.columns else None
    todo = np.ones(len(df), dtype=bool) if sha1 is None else sha1.isna().to_numpy()
    if todo.any():
        sha1 = pd.Series(None, index=df.index, dtype=object) if sha1 is None else sha1.copy()
        sha1[todo] = row_hashes(df[todo])
        log.info("%s: _pset_sha1 of %d rows made by pset_hash()", source, todo.sum())
    df = df.assign(_pset_sha1=sha1)
    if "_pset_hash" in df.columns:
        df["_pset_hash"] = df["_pset_sha1"]  # one hash per database, ours
    return _native(df)


def _hashed_by_us(df: pd.DataFrame, db_dir: str | None, sample: int = 5) -> bool:
    """Whether ``_pset_hash`` holds :func:`psweep.pset_hash` (ps.run), not joblib's hash
    (psweep 0.16): we wrote the file (runs in `db_dir`'s runs table), or a few rows'
    hashes agree."""
    if "_pset_hash" not in df.columns:
        return False
    if db_dir is not None and len(own_run_ids(db_dir)):
        return True
    given = df["_pset_hash"]
    rows = df[given.map(lambda h: isinstance(h, str)).to_numpy()].iloc[:sample]
    if len(rows) == 0:
        return False
    mine = zip(row_hashes(rows), row_hashes(rows, empty_is_absent=False), strict=True)
    return all(h in pair for h, pair in zip(rows["_pset_hash"], mine, strict=True))


# how ps.run (psweep 0.16's entry) writes and returns a database: indexed by _pset_seq,
# its hash as _pset_hash; a database that has 0.7.0's _pset_sha1 keeps it
LAYOUT_016 = "0.16"
LAYOUT_016_SHA1 = "0.16+sha1"


def layout_016(had_sha1: bool) -> str:
    """The layout of ``ps.run`` for a database that had ``_pset_sha1`` or not."""
    return LAYOUT_016_SHA1 if had_sha1 else LAYOUT_016


def layout_of(df: pd.DataFrame) -> str | None:
    """The layout a database was read in: one of :func:`layout_016` where it is indexed
    by integers and has 0.16's ``_pset_hash``, else None (ours; psweep 0.7.0's files
    are written in it once they are extended)."""
    integer_index = df.index.dtype.kind in "iu" or isinstance(df.index, pd.RangeIndex)
    if len(df) and integer_index and {"_pset_hash", "_pset_seq"} <= set(df.columns):
        return layout_016("_pset_sha1" in df.columns)
    return None


def in_layout(df: pd.DataFrame, layout: str | None) -> pd.DataFrame:
    """`df` (in our layout) in `layout`: None for ours, else one of :func:`layout_016`."""
    if layout is None:
        return df
    return to_016_layout(df, keep_sha1=layout == LAYOUT_016_SHA1)


def to_016_layout(df: pd.DataFrame, keep_sha1: bool = False) -> pd.DataFrame:
    """`df` as psweep 0.16 returns and stores a database: indexed by ``_pset_seq``, its
    hash in ``_pset_hash`` (rows without it, e.g. of 0.7.0 or recovered, take their
    ``_pset_sha1``), and ``_pset_sha1``, 0.7.0's name of it, only with `keep_sha1`."""
    if len(df) == 0 or "_pset_seq" not in df.columns:
        return df
    if "_pset_sha1" in df.columns:
        sha1 = df["_pset_sha1"]
        if "_pset_hash" in df.columns:
            given = df["_pset_hash"]
            sha1 = given.where(given.notna(), sha1) if given.isna().any() else given
        df = df if keep_sha1 else df.drop(columns="_pset_sha1")
        df = df.assign(_pset_hash=sha1)
    else:
        df = df.copy(deep=False)
    df.index = pd.Index(df["_pset_seq"].to_numpy())
    return df
