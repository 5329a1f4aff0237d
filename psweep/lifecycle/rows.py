"""Finished psets as database rows: the bookkeeping columns, and journal rows and
result blocks (:mod:`psweep.lifecycle.results`) made into a DataFrame."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from psweep.host import HOST
from psweep.lifecycle.results import ResultBlock
from psweep.store.database import columns_frame, records_frame

__all__ = [
    "COLUMNS_016",
    "COLUMN_MEANINGS",
    "RESERVED_COLUMNS",
    "STATUS_COLUMNS",
    "ResultColumns",
    "append_rows",
    "extra_columns",
    "result_rows_frame",
    "results_frame",
    "rows_to_df",
]

#: The book-keeping columns of every row, exactly psweep 0.7.0's.
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
# what each column psweep writes means: the reference of the docs is made from this table
COLUMN_MEANINGS = {
    "_run_id": "UUID of the run (one run_local or run call); shared by all its rows",
    "_pset_id": "UUID of the row, also the DataFrame's index (0.7.0 layout); the folder "
    "<_calc_dir>/<_pset_id>/ is the pset's own",
    "_run_seq": "integer counting runs of the database, continued by every later run",
    "_pset_seq": "integer counting rows of the database, continued by every later run; the "
    "index of ps.run's frames (0.16 layout)",
    "_pset_sha1": "hash of the pset's parameters (ps.pset_hash): equal parameters, equal hash",
    "_pset_runtime": "seconds spent in func, a float",
    "_calc_dir": "the study's folder as given to the run (calc by default)",
    "_time_utc": "when the pset started, a pd.Timestamp in UTC (nanoseconds)",
    "_pset_hash": "psweep 0.16's name of the hash: the value of _pset_sha1; rows of ps.run "
    "have it, and new rows of every database that has the column",
    "_exec_host": "the host the pset ran on (a dask worker's on dask); psweep 0.16's column",
    "_pset_status": "ok or failed: written once a run records a failure (on_error='record')",
    "_exc": "of a failed pset: the exception's type, message and traceback, as text",
    "_batch_status": "done, missing, failed (a result.json whose job then failed: left out) or "
    "invalid: set by collect_batch for each batch job's row",
    "_logs": "what the pset printed (stdout and stderr), with capture_logs='db' or 'db+file'",
    "_vary": "stargrid's label of the scan a pset belongs to (vary_label_col)",
}
# _exec_host may come with a row (from a dask worker on another host); else it is this one
_OWN = frozenset(RESERVED_COLUMNS) | frozenset(COLUMNS_016) | frozenset(STATUS_COLUMNS)


_MISSING = np.nan  # what a row has for a key that func did not return (as pandas fills it)


class ResultColumns:
    """The finished psets of a run in compact columns, filled block by block as the
    executors hand them on (in any order: a pool's blocks come as they finish).

    Ids and hashes are kept as arrow text, times as arrays, and what func returned
    as one list per key, not as a dict per pset: a million finished psets take some
    100 bytes each. :func:`rows_to_df` makes the database rows of them.
    """

    def __init__(self) -> None:
        self.n = 0
        self._pos: list[np.ndarray] = []
        self._ids: list = []  # per block: an arrow array, or a list (text arrow refuses)
        self._sha1s: list = []
        self._times: list[np.ndarray] = []
        self._runtimes: list[np.ndarray] = []
        self._excs: list = []  # per block: None if no pset failed, else the list
        self.rets: dict[Any, list] = {}  # key -> one value per row (NaN where absent)
        self.absent: dict[Any, list[int]] = {}  # key -> the rows (in arrival order) without it
        # key -> where it first shows in run order: (position, place in that pset's dict),
        # which orders the columns as pandas orders those of records in run order
        self.first: dict[Any, tuple[int, int]] = {}

    def __len__(self) -> int:
        return self.n

    def add(self, block: ResultBlock) -> None:
        """Take the rows of `block` (which the caller may then drop)."""
        pos, ids, sha1s, times, runtimes, rets, excs = block
        if not pos:
            return
        self._pos.append(np.asarray(pos, dtype=np.int64))
        self._ids.append(_text_chunk(ids))
        self._sha1s.append(_text_chunk(sha1s))
        self._times.append(np.asarray(times, dtype=np.int64))
        self._runtimes.append(np.asarray(runtimes, dtype=np.float64))
        self._excs.append(None if all(exc is None for exc in excs) else list(excs))
        self._add_rets(pos, rets)
        self.n += len(pos)

    def _add_rets(self, pos: Sequence[int], rets: Sequence[dict]) -> None:
        cols, first = self.rets, rets[0].keys()
        if cols.keys() == first and all(ret.keys() == first for ret in rets):
            for key, values in cols.items():  # the rule: every pset returns the same keys
                values.extend([ret[key] for ret in rets])
            earliest = min(range(len(pos)), key=pos.__getitem__)
            self._seen(pos[earliest], rets[earliest])
            return
        for at, row, ret in zip(pos, range(self.n, self.n + len(pos)), rets, strict=True):
            self._seen(at, ret)
            for key in [key for key in ret if key not in cols]:  # new: the rows before lack it
                cols[key] = [_MISSING] * row
                self.absent[key] = list(range(row))
            for key, values in cols.items():
                if key in ret:
                    values.append(ret[key])
                else:
                    values.append(_MISSING)
                    self.absent.setdefault(key, []).append(row)

    def _seen(self, at: int, ret: dict) -> None:
        for place, key in enumerate(ret):
            if (at, place) < self.first.get(key, (at + 1, 0)):
                self.first[key] = (at, place)

    def pset_ids(self) -> list[str]:
        """The ``_pset_id`` of every row, in arrival order."""
        return [pset_id for chunk in self._ids for pset_id in _as_list(chunk)]

    def in_order(self) -> tuple[np.ndarray, np.ndarray | None]:
        """The positions in the run of the rows, sorted, and the order that sorts the
        rows (None if they came in order)."""
        pos = np.concatenate(self._pos) if self._pos else np.zeros(0, dtype=np.int64)
        order = np.argsort(pos, kind="stable")
        if (order == np.arange(len(pos))).all():
            return pos, None
        return pos[order], order


def _text_chunk(values: Sequence) -> Any:
    """Text (NaN for none) as an arrow array, or the list itself where arrow refuses it
    (not valid Unicode, not text)."""
    import pyarrow as pa

    try:
        return pa.array(values, type=pa.large_string(), from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError, UnicodeEncodeError, TypeError, ValueError):
        return list(values)


def _as_list(chunk: Any) -> list:
    return chunk if isinstance(chunk, list) else chunk.to_pylist()


def _text_column(chunks: list, order: np.ndarray | None, nan_stays: bool = False) -> Any:
    """The text of `chunks` in `order` as pandas' ``str`` array (sharing arrow's
    buffers); as ``object`` where arrow refused a chunk, and with `nan_stays` where some
    value is missing (NaN in an object Series, as the database keeps a missing hash)."""
    import pyarrow as pa

    if chunks and all(isinstance(c, pa.Array) for c in chunks):
        arr = pa.chunked_array(chunks)  # the blocks' arrays as they are: no copy
        if order is not None:
            arr = arr.take(pa.array(order))
        if not (nan_stays and arr.null_count):
            return pd.array(arr, dtype="str")
    values = np.array([v for c in chunks for v in _as_list(c)], dtype=object)
    values = values if order is None else values[order]
    if nan_stays:
        values[pd.isna(values)] = np.nan
        series = pd.Series(values, dtype=object)
        return series if series.isna().any() else _text_array(values)
    return _text_array(values)


def result_rows_frame(rows: Sequence[tuple], **kwds: Any) -> pd.DataFrame:
    """The database rows of journal rows (:class:`ResultRow` fields); `kwds` as for
    :func:`rows_to_df`."""
    if rows:
        return rows_to_df(*(list(col) for col in zip(*rows, strict=True)), **kwds)
    return pd.DataFrame()


def extra_columns(df: pd.DataFrame, api016: bool) -> tuple[str, ...]:
    """The 0.16 columns that new rows of `df` get: all for ps.run, else those `df` has."""
    if api016:
        return COLUMNS_016
    return tuple(col for col in COLUMNS_016 if col in df.columns)


def _repeated_text(text: str, n: int) -> Any:
    """`text` `n` times, as pandas' ``str`` array made by arrow (as :func:`_text_array`)."""
    import pyarrow as pa

    try:
        return pd.array(pa.repeat(pa.scalar(text, pa.large_string()), n), dtype="str")
    except (pa.ArrowInvalid, UnicodeEncodeError):  # not valid Unicode
        return _text_array(np.full(n, text, dtype=object))


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
    **kwds: Any,
) -> pd.DataFrame:
    """Build the database rows of one run from the columns of its results (lists
    aligned with each other; `psets` are the rows' psets); `kwds` as for
    :func:`results_frame`, which this asks."""
    results = ResultColumns()
    results.add(ResultBlock(list(pos), list(ids), list(sha1s), list(times),
                            list(runtimes), list(rets), list(excs)))  # fmt: skip
    return results_frame(results, dict(zip(pos, psets, strict=True)), **kwds)


def results_frame(
    results: ResultColumns,
    psets: Sequence[dict] | dict[int, dict],
    *,
    run_id: str,
    run_seq: int,
    pset_seq0: int,
    calc_dir: str,
    record: bool,
    extra: Sequence[str] = (),
) -> pd.DataFrame:
    """The database rows of a run's finished psets, sorted by their position in the run.

    ``psets[pos]`` is the pset at position `pos` of the run (the run's list, or a
    dict), which also gives ``_pset_seq = pset_seq0 + pos``. Values that `func`
    returned override the pset's; the reserved columns are psweep's own. `extra`
    names the columns of :data:`COLUMNS_016` that the rows get too.
    """
    n = len(results)
    if n == 0:
        return pd.DataFrame()
    pos, order = results.in_order()
    if isinstance(psets, list) and order is None and int(pos[-1] - pos[0]) == n - 1:
        rows = psets[int(pos[0]) : int(pos[0]) + n]  # a run's psets in order, as a rule
    else:
        rows = [psets[k] for k in pos.tolist()]
    df_pset = _keep_ints(records_frame(rows), rows)
    data: dict = {col: df_pset[col] for col in df_pset.columns}
    returned, host = _returned_columns(results, order, data)
    sha1 = _text_column(results._sha1s, order, nan_stays=True)
    ids_array = _text_column(results._ids, order)
    times = np.concatenate(results._times)
    data.update(
        {
            "_run_id": _repeated_text(run_id, n),
            "_pset_id": ids_array,
            "_run_seq": np.full(n, run_seq, dtype=np.int64),
            "_pset_seq": pset_seq0 + pos,
            "_pset_sha1": sha1,
            "_calc_dir": _repeated_text(calc_dir, n),
            "_time_utc": pd.to_datetime(times if order is None else times[order], unit="ns"),
        }
    )
    if "_pset_hash" in extra:
        # psweep 0.16's name of the same hash (one hash per database; README: _pset_hash)
        data["_pset_hash"] = sha1
    if "_exec_host" in extra:
        own = _repeated_text(HOST, n)
        data["_exec_host"] = own if host is None else host.fillna(HOST).astype("str").array
    data.update(returned)
    runtimes = np.concatenate(results._runtimes)
    if record:
        excs = np.array(_excs(results), dtype=object)
        excs = excs if order is None else excs[order]
        failed = np.fromiter((exc is not None for exc in excs), bool, n)
        data["_pset_status"] = pd.array(
            np.where(failed, "failed", "ok").astype(object), dtype="str"
        )
        data["_exc"] = _text_array(excs)
    data["_pset_runtime"] = runtimes if order is None else runtimes[order]
    df = pd.DataFrame(data, copy=False)
    df.index = pd.Index(ids_array, copy=False)
    return df


def _excs(results: ResultColumns) -> list:
    out: list = []
    for chunk, pos in zip(results._excs, results._pos, strict=True):
        out.extend([None] * len(pos) if chunk is None else chunk)
    return out


def _returned_columns(
    results: ResultColumns, order: np.ndarray | None, data: dict
) -> tuple[dict, Any]:
    """The columns of what func returned, in row order: those that only func gave (as
    a dict), and ``_exec_host`` where rows came from elsewhere. A value that func gave
    for a pset key overrides the pset's in `data` (in place), where it gave one."""
    df_ret = columns_frame(
        {key: results.rets[key] for key in sorted(results.rets, key=results.first.__getitem__)}
    )
    if order is not None and len(df_ret.columns):
        df_ret = df_ret.take(order).reset_index(drop=True)
    returned: dict = {}
    for col in df_ret.columns:
        if col in _OWN:
            continue
        given = df_ret[col]
        if col not in data:
            returned[col] = given
            continue
        has = np.ones(len(results), dtype=bool)
        has[results.absent.get(col, [])] = False
        has = has if order is None else has[order]
        data[col] = given if has.all() else data[col].where(~has, given)
    host = df_ret["_exec_host"] if "_exec_host" in df_ret.columns else None
    return returned, host


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
