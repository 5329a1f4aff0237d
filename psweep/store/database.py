"""The database: a pandas DataFrame on disk, and helpers to look at it.

Formats, chosen by ``fmt`` or else by the file name: ``pickle`` (the default,
any other name), ``json`` (``*.json``) and ``parquet`` (``*.parquet``, through
pyarrow). A pickle can hold any Python value but runs code when it is read:
read pickles only from sources you trust. JSON and Parquet hold data only;
Parquet keeps the dtypes and is fast, but cannot hold a column of mixed types
or of Python objects (it says which column). JSON is text that reads back
exactly, dtypes included (see :mod:`psweep.store.jsonformat`).

Text that is not valid Unicode (lone surrogates: a file name of non-UTF-8
bytes as ``os.listdir`` gives it, ``"caf\\udce9"``) is kept exactly by pickle
and JSON (as ``\\uXXXX`` escapes). Parquet holds only UTF-8: a run refuses a
pset with such text before `func` runs (naming the parameter and the value);
in psweep's own text columns (``_exc``, ``_logs``: a traceback that quotes
such a name) it is written escaped, ``"caf\\\\udce9"`` (``backslashreplace``).
"""

from __future__ import annotations

import contextlib
import os
import pickle
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from psweep.errors import PsweepDatabaseError, PsweepFormatError
from psweep.store import picklefmt
from psweep.store.files import atomic_open
from psweep.store.jsonformat import (
    JSON_DEFAULTS,
    check_json_database,
    read_json_database,
    write_json_database,
)
from psweep.store.parquetformat import check_parquet, read_parquet, write_parquet
from psweep.store.paths import database_format

__all__ = [
    "PLAIN_TYPES",
    "check_storable",
    "columns_frame",
    "df_filter_conds",
    "df_print",
    "df_read",
    "df_to_json",
    "df_write",
    "records_frame",
]

# what psweep 0.16's df_to_json passes to pandas
JSON_DEFAULTS_016 = {
    "orient": "records",
    "date_unit": "s",
    "date_format": "iso",
    "double_precision": 15,
}


# plain values: immutable scalars that always pickle (others are tried; a run gives
# func a copy of the others, see psweep.lifecycle.execute.task)
PLAIN_TYPES = frozenset({int, float, str, bool, type(None), complex, bytes, np.float64, np.int64})
_PLAIN = PLAIN_TYPES


def unpicklable_item(dct: dict) -> tuple[Any, str] | None:
    """The first key of `dct` whose value cannot be pickled, and why; None if all can."""
    for key, value in dct.items():
        if type(value) in _PLAIN:
            continue
        if type(value) is np.ndarray and not value.dtype.hasobject:
            continue
        try:
            pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
        except Exception as exc:
            return key, f"{type(exc).__name__}: {exc}"
    return None


def check_picklable_psets(psets: Sequence[dict]) -> bool:
    """Raise :class:`~psweep.errors.PsweepFormatError` naming the first pset with a value
    that a pickle database cannot store (a lambda, a local function, an open file).

    Returns whether all values are plain (:data:`PLAIN_TYPES`), which it learns on the
    way (a run then gives func the psets as they are)."""
    plain = _PLAIN
    all_plain = True
    for pos, pset in enumerate(psets):
        for value in pset.values():  # the common case, inline: only plain values
            if type(value) not in plain:
                break
        else:
            continue
        all_plain = False
        bad = unpicklable_item(pset)
        if bad is not None:
            key, why = bad
            raise PsweepFormatError(
                f"pset {pos} ({pset!r:.200}): the value of {key!r} cannot be pickled ({why}), "
                "so the database could not store its row; nothing ran. Use a value that "
                "pickles (a module-level function, a class, data) or its name as text"
            )
    return all_plain


def check_storable(df: pd.DataFrame, fn: Any, fmt: str | None = None) -> None:
    """Raise :class:`~psweep.errors.PsweepFormatError` if the format of database `fn`
    cannot hold `df` (JSON and Parquet hold data only; a pickle holds anything)."""
    fmt = database_format(fn, fmt)
    if fmt == "json":
        check_json_database(df, fn)
    elif fmt == "parquet":
        check_parquet(df, fn)


def df_to_json(df: pd.DataFrame, **kwds: Any) -> str:
    """Return `df` as JSON text.

    Defaults: ``orient="records"``, ISO dates in nanoseconds, 15 digits for
    floats; `kwds` go to :meth:`pandas.DataFrame.to_json` and override them.
    """
    return df.to_json(**{**JSON_DEFAULTS, **kwds})


def df_write(
    df: pd.DataFrame | str | os.PathLike, fn: Any, fmt: str | None = None, **kwds: Any
) -> None:
    """Write DataFrame `df` to file `fn`, atomically.

    The file is written beside `fn` and moved into place, so an interrupted
    write leaves the old file intact. Also accepts the argument order
    ``df_write(fn, df)`` of psweep 0.16; JSON is then written as 0.16 writes
    it (pandas' records, dates in seconds, 15 digits), which holds tuples and
    arrays as lists and rounds floats, where psweep's own JSON is exact.

    Parameters
    ----------
    df, fn
        The DataFrame and the file name, in either order.
    fmt
        ``"pickle"``, ``"json"`` or ``"parquet"``; default: from the file name
        (``*.json``, ``*.parquet``), else pickle.
    kwds
        Go to :func:`pickle.dump`, :func:`df_to_json` (``orient`` etc.) or
        :func:`pyarrow.parquet.write_table`. Without them, JSON is written in
        psweep's lossless layout (see the module docstring); a value it cannot
        keep exactly raises :class:`~psweep.errors.PsweepDatabaseError` naming
        its column and row, before the file is touched.
    """
    order_016 = isinstance(fn, pd.DataFrame) and not isinstance(df, pd.DataFrame)
    if order_016:
        df, fn = fn, df
    if not isinstance(df, pd.DataFrame):
        raise TypeError(f"df_write() needs a pandas DataFrame, got {type(df).__name__}")
    fmt = database_format(fn, fmt)
    if fmt == "parquet":
        write_parquet(df, fn, **kwds)
    elif fmt == "pickle":
        with atomic_open(fn, "wb") as fh:
            picklefmt.dump(df, fh, **kwds)
    elif kwds or order_016:
        # pandas' JSON, as psweep 0.7.0 writes it with options and 0.16 always
        # (the 0.16 argument order, df_write(fn, df), gets 0.16's records)
        text = df_to_json(df, **({**JSON_DEFAULTS_016, **kwds} if order_016 else kwds))
        with atomic_open(fn, "w") as fh:
            fh.write(text)
    else:
        write_json_database(df, fn)


def df_read(fn: str | os.PathLike, fmt: str | None = None, **kwds: Any) -> pd.DataFrame:
    """Read a DataFrame written by :func:`df_write`.

    A file that does not hold a DataFrame raises
    :class:`~psweep.errors.PsweepDatabaseError` naming it; the file is never
    changed. Reading a pickle runs code that the file names: read pickles only
    from sources you trust, and share databases as JSON or Parquet.

    Parameters
    ----------
    fn
        File name.
    fmt
        ``"pickle"``, ``"json"`` or ``"parquet"``; default: from the file name
        (``*.json``, ``*.parquet``), else pickle.
    kwds
        Go to :func:`pickle.load`, :func:`pandas.read_json` (``orient`` etc.) or
        :func:`pandas.read_parquet`. Without them, JSON written by
        :func:`df_write` is rebuilt exactly, and a list of records (psweep
        0.7.0) is read without guessing dates or numbers.
    """
    fmt = database_format(fn, fmt)
    if fmt in ("parquet", "pickle"):
        try:
            if fmt == "parquet":
                df = read_parquet(fn, kwds)
            else:
                with open(fn, "rb") as fh:
                    df = pickle.load(fh, **kwds)
        except (FileNotFoundError, IsADirectoryError, PermissionError):
            raise
        except Exception as exc:
            what = "Parquet" if fmt == "parquet" else "a pickled DataFrame"
            raise PsweepDatabaseError(
                f"cannot read database {os.fspath(fn)!r} as {what}: "
                f"{type(exc).__name__}: {str(exc).rstrip('.')}. The file was left as it is; "
                "restore it from a backup (calc.bak_*) or git, or move it away to start anew"
            ) from exc
    else:
        df = read_json_database(fn, kwds)
    if not isinstance(df, pd.DataFrame):
        raise PsweepDatabaseError(
            f"database {os.fspath(fn)!r} holds a {type(df).__name__}, not a pandas DataFrame"
        )
    return df


def _select_cols(
    df: pd.DataFrame,
    cols: Sequence[str] | None,
    special_cols: bool,
    skip_cols: Sequence[str] | None,
) -> list:
    special = [c for c in df.columns if isinstance(c, str) and c.startswith("_")]
    if cols:
        if skip_cols:
            raise ValueError("df_print(): use either cols or skip_cols, not both")
        missing = [c for c in cols if c not in df.columns]
        if missing:
            raise KeyError(
                f"df_print(): no columns {missing} in the DataFrame; it has {list(df.columns)}"
            )
        chosen = list(cols)
        if special_cols:
            chosen += [c for c in special if c not in chosen]
        return chosen
    skip = set(skip_cols or ())
    return [c for c in df.columns if c not in skip and (special_cols or c not in special)]


def df_print(
    df: pd.DataFrame,
    cols: Sequence[str] | None = None,
    index: bool = False,
    special_cols: bool = False,
    skip_cols: Sequence[str] | None = None,
    prefix_cols: bool | None = None,
    **kwds: Any,
) -> None:
    """Print `df` as a plain table, without bookkeeping columns by default.

    Parameters
    ----------
    df
        The DataFrame.
    cols
        Show only these columns, in this order.
    index
        Show the index too.
    special_cols
        Also show the columns whose names start with ``_`` (``_pset_id``,
        ...); hidden by default. ``prefix_cols`` is a synonym (newer psweep).
    skip_cols
        Hide these columns (instead of naming `cols`).
    kwds
        Go to :meth:`pandas.DataFrame.to_string`.
    """
    if isinstance(cols, bool):  # psweep 0.7.0 order: df_print(df, index)
        index, cols = cols, None
    if prefix_cols is not None:
        special_cols = special_cols or prefix_cols
    chosen = _select_cols(df, cols, special_cols, skip_cols)
    print(df[chosen].to_string(index=index, **kwds))


def df_filter_conds(df: pd.DataFrame, conds: Iterable[Any], op: str = "and") -> pd.DataFrame:
    """Return the rows of `df` where all masks in `conds` are true (``op="and"``), any
    (``"or"``) or an odd number of them (``"xor"``).

    Same as ``df[c0 & c1 & ...]`` for ``conds = [c0, c1, ...]``, for when the
    conditions are built in a loop. Each mask is a boolean Series, numpy array
    or list as long as `df`; `conds` may be any iterable (also a ``map``).
    No conditions return `df` unchanged.

    Examples
    --------
    >>> df = pd.DataFrame({"a": range(5), "b": range(5, 10)})
    >>> df_filter_conds(df, [df.a > 1, df.b < 9])
       a  b
    2  2  7
    3  3  8
    """
    combine = _CONDS_OPS.get(op)
    if combine is None:
        raise ValueError(f"df_filter_conds(): op={op!r} is not one of and, or, xor")
    masks = []
    for pos, cond in enumerate(conds):
        if isinstance(cond, pd.Series) and not cond.index.equals(df.index):
            cond = _aligned(cond, df, pos)  # by label, as df[mask] does, not by position
        arr = np.asarray(cond)
        if arr.ndim != 1 or len(arr) != len(df):
            raise ValueError(
                f"condition at position {pos} has shape {arr.shape}; each needs "
                f"{len(df)} values, one per row"
            )
        if arr.dtype != bool:
            if not np.isin(arr, (True, False)).all():
                raise TypeError(f"condition at position {pos} is not boolean (dtype {arr.dtype})")
            arr = arr.astype(bool)
        masks.append(arr)
    if not masks:
        return df
    return df[combine.reduce(masks)]


_CONDS_OPS = {"and": np.logical_and, "or": np.logical_or, "xor": np.logical_xor}


def _aligned(cond: pd.Series, df: pd.DataFrame, pos: int) -> pd.Series:
    """Mask `cond` in the row order of `df`; its labels must be exactly those of `df`."""
    if (
        len(cond) != len(df)
        or not (cond.index.is_unique and df.index.is_unique)
        or not cond.index.isin(df.index).all()
    ):
        raise ValueError(
            f"condition at position {pos} is a Series whose index is not the rows of df "
            f"({len(cond)} labels for {len(df)} rows); build it from df (e.g. df.a > 1) or "
            "pass a plain array in df's row order"
        )
    return cond.reindex(df.index)


def _shared_keys(records: list) -> list | None:
    """The keys of the first record if every record is a dict with just these keys (the
    columns pandas would find, in its order, but found in half the time); else None."""
    if not records or records[0].__class__ is not dict or not records[0]:
        return None
    first = records[0].keys()
    for record in records:
        if record.__class__ is not dict or record.keys() != first:
            return None
    return list(first)


def columns_frame(columns: dict) -> pd.DataFrame:
    """``pd.DataFrame(columns)`` for a dict of equally long lists of Python values, also
    for text that is not valid Unicode (such a column stays ``object``, as in
    :func:`records_frame`). Missing values are NaN, as pandas fills them in records;
    the columns then have the dtypes that :func:`records_frame` gives the records."""
    try:
        return pd.DataFrame(columns)
    except UnicodeEncodeError:
        pass
    out = {}
    for col, values in columns.items():
        try:
            out[col] = pd.Series(values)
        except UnicodeEncodeError:
            out[col] = pd.Series(values, dtype=object)
    return pd.DataFrame(out)


def records_frame(records: Sequence[dict]) -> pd.DataFrame:
    """``pd.DataFrame(records)``, also for text that is not valid Unicode.

    A file name of non-UTF-8 bytes, as ``os.listdir`` gives it on a UTF-8
    system, is text with lone surrogates (``"caf\\udce9"``). pandas' ``str``
    dtype (pyarrow) cannot hold it and raises UnicodeEncodeError; columns with
    such text stay ``object`` instead, so a pickle database keeps them exactly.
    """
    records = list(records)
    try:
        return pd.DataFrame(records, columns=_shared_keys(records))
    except UnicodeEncodeError:
        pass
    df = pd.DataFrame(records, dtype=object)
    for col in df.columns:
        with contextlib.suppress(UnicodeEncodeError):  # such a column stays object
            df[col] = pd.Series(df[col].tolist(), index=df.index)  # the dtype pandas infers
    return df
