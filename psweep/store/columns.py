"""Kinds of database columns, and rows of a database as dicts (the psweep 0.16 helpers).

A column (or pset key) that starts with ``_`` is a *prefix* column: psweep's
bookkeeping (``_pset_id``, ``_run_id``, ...). One that ends with ``_`` is a
*postfix* column, by convention a result that is not a parameter (``x_``).
All others are *pset* columns: the parameters. ``_x_`` is both prefix and
postfix.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import pandas as pd

from psweep.errors import PsweepParamsError
from psweep.params.hashing import pset_hashes

__all__ = [
    "df_ensure_dtypes",
    "df_extract_dicts",
    "df_extract_params",
    "df_extract_pset",
    "df_extract_row",
    "df_update_pset_cols",
    "df_update_pset_hash",
    "filter_cols",
    "row_hashes",
]

_KINDS = {
    "pset": "pset",
    "pre": "prefix",
    "prefix": "prefix",
    "post": "postfix",
    "postfix": "postfix",
}


def _kind_of(col: Any) -> set[str]:
    name = str(col)
    kinds = set()
    if name.startswith("_"):
        kinds.add("prefix")
    if name.endswith("_"):
        kinds.add("postfix")
    return kinds or {"pset"}


def filter_cols(cols: Iterable, kind: str = "pset") -> list:
    """The columns of `cols` of one kind, in their order.

    `kind` is ``"pset"`` (parameters), ``"pre"``/``"prefix"`` (``_x``) or
    ``"post"``/``"postfix"`` (``x_``).
    """
    if kind not in _KINDS:
        raise PsweepParamsError(
            f"filter_cols(): kind={kind!r} is not one of {', '.join(sorted(_KINDS))}"
        )
    want = _KINDS[kind]
    return [col for col in cols if want in _kind_of(col)]


def _py(value: Any) -> Any:
    item = getattr(value, "item", None)
    if item is not None and getattr(value, "ndim", 1) == 0:
        return item()
    if value is pd.NA or value is pd.NaT:
        return None
    return value


def df_extract_dicts(df: pd.DataFrame, py_types: bool = False) -> list[dict]:
    """One dict per row with every column (the index is not included).

    With `py_types`, numpy scalars become Python ones and ``pd.NA`` becomes None.
    """
    cols = list(df.columns)
    rows = df.itertuples(index=False, name=None)
    if py_types:
        return [{c: _py(v) for c, v in zip(cols, row, strict=True)} for row in rows]
    return [dict(zip(cols, row, strict=True)) for row in rows]


def df_extract_params(df: pd.DataFrame, py_types: bool = False) -> list[dict]:
    """The psets of the database: one dict per row with the pset columns only."""
    return df_extract_dicts(df[filter_cols(df.columns, "pset")], py_types=py_types)


def df_extract_row(
    df: pd.DataFrame, pset_id: str, kind: str | None = None, py_types: bool = False
) -> dict:
    """The row whose ``_pset_id`` is `pset_id` as a dict, optionally only columns of `kind`."""
    if "_pset_id" not in df.columns:
        raise PsweepParamsError("df_extract_row(): the DataFrame has no column _pset_id")
    match = df[df["_pset_id"] == pset_id]
    if len(match) != 1:
        raise PsweepParamsError(
            f"df_extract_row(): {len(match)} rows have _pset_id {pset_id!r}; need exactly one"
        )
    cols: Sequence = df.columns if kind is None else filter_cols(df.columns, kind)
    return df_extract_dicts(match[list(cols)], py_types=py_types)[0]


def df_extract_pset(df: pd.DataFrame, pset_id: str, py_types: bool = False) -> dict:
    """The pset (parameters only) of the row whose ``_pset_id`` is `pset_id`."""
    return df_extract_row(df, pset_id, kind="pset", py_types=py_types)


def _missing(value: Any) -> bool:
    if value is None or value is pd.NA:
        return True
    return isinstance(value, float) and value != value


def row_hashes(df: pd.DataFrame, empty_is_absent: bool = True) -> list:
    """:func:`psweep.pset_hash` of each row's pset columns.

    With `empty_is_absent`, empty cells (``NaN``, ``None``, ``pd.NA``) count
    as keys the pset did not have, which is how a database stores them;
    otherwise only ``pd.NA`` does (as in :func:`psweep.pset_hash`).
    """
    cols = filter_cols(list(df.columns), "pset")
    rows = df[cols].itertuples(index=False, name=None)
    if empty_is_absent:
        psets = [{k: v for k, v in zip(cols, r, strict=True) if not _missing(v)} for r in rows]
    else:
        psets = [dict(zip(cols, r, strict=True)) for r in rows]
    return pset_hashes(psets)


def df_update_pset_hash(df: pd.DataFrame, copy: bool = False) -> pd.DataFrame:
    """Set each row's ``_pset_hash`` (and ``_pset_sha1``, if there) from its pset columns.

    Each row hashes as :func:`psweep.pset_hash` of its pset cells, which
    leaves ``pd.NA`` out (as 0.16 fills missing keys). Works on `df` itself
    unless `copy`; returns the DataFrame.
    """
    if copy:
        df = df.copy()
    hashes = pd.Series(row_hashes(df, empty_is_absent=False), index=df.index, dtype=object)
    df["_pset_hash"] = hashes
    if "_pset_sha1" in df.columns:
        df["_pset_sha1"] = hashes
    return df


def df_update_pset_cols(
    df: pd.DataFrame, pset_cols: Iterable, fill_value: Any = pd.NA, copy: bool = False
) -> pd.DataFrame:
    """Make `pset_cols` the pset columns of `df` (psweep 0.16), then rehash every row.

    Each named column that is not a pset column of `df` yet is set to
    `fill_value` in all rows. Fewer names than `df` has pset columns raise
    :class:`~psweep.errors.PsweepParamsError` (also an ``AssertionError``, as in
    0.16): a pset column cannot be dropped this way.
    """
    if copy:
        df = df.copy()
    old = set(filter_cols(df.columns, "pset"))
    new = set(pset_cols)
    if len(new) < len(old):
        raise PsweepParamsError(
            f"df_update_pset_cols(): {len(new)} pset columns given ({sorted(map(str, new))}) "
            f"but the DataFrame has {len(old)} ({sorted(map(str, old))}); name all of them"
        )
    for col in filter_cols(sorted(new - old, key=str), "pset"):
        df[col] = pd.Series([fill_value] * len(df), index=df.index, dtype=object)
    return df_update_pset_hash(df)


def df_ensure_dtypes(df: pd.DataFrame, fill_value: Any = pd.NA) -> pd.DataFrame:
    """psweep 0.16's layout: empty cells become `fill_value`, every column ``object``.

    An empty cell is a scalar for which :func:`pandas.isna` is true; cells
    holding arrays or lists are left as they are. Like 0.16, this changes the
    empty cells of `df` itself and returns a new DataFrame of dtype object.
    """
    for col in list(df.columns):
        mask = df[col].isna()
        if mask.any():
            values = df[col].astype(object)
            values[mask.to_numpy()] = fill_value
            df[col] = values
    return df.astype(object)
