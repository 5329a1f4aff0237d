"""Finished psets as database rows: the bookkeeping columns, and journal rows and
result blocks (:mod:`psweep.lifecycle.results`) made into a DataFrame."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from psweep.host import HOST
from psweep.lifecycle.results import ResultRow
from psweep.store.database import records_frame

__all__ = [
    "COLUMNS_016",
    "RESERVED_COLUMNS",
    "STATUS_COLUMNS",
    "append_rows",
    "extra_columns",
    "result_rows_frame",
    "rows_to_df",
]

# the book-keeping columns of every row, exactly psweep 0.7.0's
RESERVED_COLUMNS = (
    "_run_id",
    "_pset_id",
    "_run_seq",
    "_pset_seq",
    "_pset_sha1",
    "_pset_runtime",
    "_calc_dir",
    "_time_utc",
)
# psweep 0.16's additions: rows of ps.run have them, and so do the new rows of every
# database that has them already (a database keeps its columns)
COLUMNS_016 = ("_pset_hash", "_exec_host")
STATUS_COLUMNS = ("_pset_status", "_exc")
# _exec_host may come with a row (from a dask worker on another host); else it is this one
_OWN = frozenset(RESERVED_COLUMNS) | frozenset(COLUMNS_016) | frozenset(STATUS_COLUMNS)


def result_rows_frame(rows: Sequence[tuple], **kwds: Any) -> pd.DataFrame:
    """The database rows of journal rows (:class:`ResultRow` fields); `kwds` as for
    :func:`rows_to_df`."""
    if rows:
        return rows_to_df(*(list(col) for col in zip(*rows, strict=True)), **kwds)
    return rows_to_df(*([] for _ in ResultRow._fields), **kwds)


def extra_columns(df: pd.DataFrame, api016: bool) -> tuple[str, ...]:
    """The 0.16 columns that new rows of `df` get: all for ps.run, else those `df` has."""
    if api016:
        return COLUMNS_016
    return tuple(col for col in COLUMNS_016 if col in df.columns)


def _text_array(values: np.ndarray) -> Any:
    """`values` as pandas' ``str`` dtype, or ``object`` if some text is not valid Unicode."""
    try:
        return pd.array(values, dtype="str")
    except UnicodeEncodeError:
        return pd.Series(values, dtype=object)  # a plain array would be inferred as str again


def _keep_ints(df: pd.DataFrame, psets: Sequence[dict]) -> pd.DataFrame:
    """Undo pandas' float column for ints mixed with None: keep the values as given.

    [1, None] would become [1.0, nan], and psets read back from the database would
    then hash otherwise than the ones that ran; an object column keeps 1 and None.
    Likewise a complex column turns complex(0, nan) into nan+nanj: one with a NaN
    part stays object too.
    """
    for col in df.columns:
        if df[col].dtype.kind == "c" and np.isnan(df[col].to_numpy()).any():
            df[col] = pd.Series([p.get(col) for p in psets], index=df.index, dtype=object)
            continue
        if df[col].dtype.kind != "f" or not df[col].isna().any():
            continue
        values = [p.get(col) for p in psets]
        if any(v.__class__ is int for v in values) and not any(
            isinstance(v, float) for v in values
        ):
            df[col] = pd.Series(values, index=df.index, dtype=object)
    return df


def rows_to_df(
    pos: Sequence[int],
    psets: Sequence[dict],
    ids: Sequence[str],
    sha1s: Sequence,
    times: Sequence[int],
    runtimes: Sequence[float],
    rets: Sequence[dict],
    excs: Sequence,
    *,
    run_id: str,
    run_seq: int,
    pset_seq0: int,
    calc_dir: str,
    record: bool,
    extra: Sequence[str] = (),
) -> pd.DataFrame:
    """Build the database rows of one run from the columns of its results.

    All sequences are aligned; `pos` is each pset's position in the run and
    gives ``_pset_seq = pset_seq0 + pos``; rows are sorted by it. Values that
    `func` returned override the pset's; the reserved columns are psweep's own.
    `extra` names the columns of :data:`COLUMNS_016` that the rows get too.
    """
    n = len(pos)
    if n == 0:
        return pd.DataFrame()
    order = np.argsort(np.asarray(pos, dtype=np.int64), kind="stable")
    if not (order == np.arange(n)).all():
        pos, psets, ids, sha1s, times, runtimes, rets, excs = (
            [col[k] for k in order] for col in (pos, psets, ids, sha1s, times, runtimes, rets, excs)
        )
    df_pset = _keep_ints(records_frame(psets), psets)
    df_ret = records_frame(rets)
    data: dict = {col: df_pset[col] for col in df_pset.columns}
    returned: dict = {}  # columns that only func's return values have
    for col in df_ret.columns:
        if col in _OWN:
            continue
        given = df_ret[col]
        if col in data:  # func's value overrides the pset's, where it gave one
            has = np.fromiter((col in ret for ret in rets), bool, n)
            data[col] = given if has.all() else data[col].where(~has, given)
        else:
            returned[col] = given
    sha1 = pd.Series(sha1s, dtype=object)
    sha1 = sha1 if sha1.isna().any() else pd.array(sha1s, dtype="str")
    ids_array = pd.array(ids, dtype="str")
    data.update(
        {
            "_run_id": pd.array(np.full(n, run_id, dtype=object), dtype="str"),
            "_pset_id": ids_array,
            "_run_seq": np.full(n, run_seq, dtype=np.int64),
            "_pset_seq": pset_seq0 + np.asarray(pos, dtype=np.int64),
            "_pset_sha1": sha1,
            "_calc_dir": _text_array(np.full(n, calc_dir, dtype=object)),
            "_time_utc": pd.to_datetime(np.asarray(times, dtype=np.int64), unit="ns"),
        }
    )
    if "_pset_hash" in extra:
        # psweep 0.16's name of the same hash (one hash per database; README: _pset_hash)
        data["_pset_hash"] = sha1
    if "_exec_host" in extra:
        own = _text_array(np.full(n, HOST, dtype=object))
        host = df_ret["_exec_host"] if "_exec_host" in df_ret.columns else None
        data["_exec_host"] = own if host is None else host.fillna(HOST).astype("str").array
    data.update(returned)
    if record:
        failed = np.fromiter((exc is not None for exc in excs), bool, n)
        data["_pset_status"] = pd.array(
            np.where(failed, "failed", "ok").astype(object), dtype="str"
        )
        data["_exc"] = _text_array(np.asarray(excs, dtype=object))
    data["_pset_runtime"] = np.asarray(runtimes, dtype=np.float64)
    df = pd.DataFrame(data)
    df.index = pd.Index(ids_array)
    return df


def append_rows(df_old: pd.DataFrame, df_new: pd.DataFrame) -> pd.DataFrame:
    """Append rows, keeping the dtypes of existing columns where that loses nothing."""
    if len(df_old) == 0:
        return df_new
    if len(df_new) == 0:
        return df_old
    if "_pset_status" in df_old.columns and "_pset_status" not in df_new.columns:
        df_new = df_new.assign(_pset_status="ok")
    out = pd.concat([df_old, df_new], sort=False)
    for col in df_old.columns:
        old_dtype = df_old[col].dtype
        if out[col].dtype == old_dtype:
            continue
        try:
            cast = out[col].astype(old_dtype)
            lossless = cast.astype(out[col].dtype).equals(out[col])
        except (TypeError, ValueError, OverflowError):
            continue
        if lossless:
            out[col] = cast
    for col in out.columns.symmetric_difference(df_old.columns.intersection(df_new.columns)):
        _keep_exact_ints(out, col, next(df for df in (df_old, df_new) if col in df.columns))
    return out


def _keep_exact_ints(out: pd.DataFrame, col: Any, part: pd.DataFrame) -> None:
    """A column of ints (or bools) that only one side has: pandas fills the other side
    with NaN and turns the ints into floats, so rows read back would hash as 20.0 where
    the pset had 20. Keep the values as given instead, with None where there are none."""
    if part[col].dtype.kind not in "iub" or out[col].dtype.kind != "f":
        return
    values = pd.Series(None, index=range(len(out)), dtype=object)
    where = out.index.get_indexer(part.index) if out.index.is_unique else None
    if where is None or (where < 0).any():
        return
    values.iloc[where] = part[col].astype(object).to_numpy()
    out[col] = values.to_numpy()
