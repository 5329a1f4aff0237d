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

from .errors import PsweepParamsError

__all__ = [
    "df_extract_dicts",
    "df_extract_params",
    "df_extract_pset",
    "df_extract_row",
    "filter_cols",
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
