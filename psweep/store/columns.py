"""Kinds of database columns, and rows of a database as dicts (the psweep 0.16 helpers).

A column (or pset key) that starts with ``_`` is a *prefix* column: psweep's
bookkeeping (``_pset_id``, ``_run_id``, ...). One that ends with ``_`` is a
*postfix* column, by convention a result that is not a parameter (``x_``).
All others are *pset* columns: the parameters. ``_x_`` is both prefix and
postfix.

A database of ``run_local`` knows more: a row is its pset, then psweep's
columns from ``_run_id`` on, then what `func` returned, and ``_pset_sha1`` is
the hash of the pset. ``param_columns`` uses that, so a result named
without a trailing ``_`` (``"result"``) is no parameter.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from psweep.errors import PsweepParamsError
from psweep.params.hashing import is_empty, pset_hash, pset_hashes

__all__ = [
    "df_ensure_dtypes",
    "df_extract_dicts",
    "df_extract_params",
    "df_extract_pset",
    "df_extract_row",
    "df_update_pset_cols",
    "df_update_pset_hash",
    "filter_cols",
    "leading_param_columns",
    "param_columns",
    "row_hashes",
    "row_psets",
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
    """The psets of the database: one dict per row with its parameters only.

    The parameters are ``param_columns``. In a row of a pset that lacked
    a key other psets had, that cell (None or nan) is left out where the
    row's stored hash says the pset did not have it, so each pset hashes as
    it did when it ran (``skip_dups`` finds it).
    """
    psets = df_extract_dicts(df[param_columns(df)], py_types=py_types)
    return _as_they_ran(psets, df)


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
    """The pset (``param_columns`` only) of the row whose ``_pset_id`` is `pset_id`."""
    row = df_extract_row(df, pset_id, py_types=py_types)
    match = df[df["_pset_id"] == pset_id]
    return _as_they_ran([{c: row[c] for c in param_columns(df)}], match)[0]


def _missing_cell(value: Any) -> bool:
    """None, nan or NaT: a cell of a key the pset may have lacked (pd.NA is left out of
    hashes anyway)."""
    return value is None or value is pd.NaT or (isinstance(value, float) and value != value)


def _hash_column(df: pd.DataFrame) -> str | None:
    return next((c for c in _HASH_COLS if c in df.columns), None)


def _as_they_ran(psets: list[dict], df: pd.DataFrame) -> list[dict]:
    """`psets` (of the rows of `df`, in order) without the empty cells of keys that each
    pset lacked, where its stored hash tells so; the others as they are."""
    hash_col = _hash_column(df)
    if hash_col is None or not psets:
        return psets
    gaps = [i for i, p in enumerate(psets) if any(_missing_cell(v) for v in p.values())]
    if not gaps:
        return psets
    stored = df[hash_col].to_numpy()
    as_is = pset_hashes([psets[i] for i in gaps])
    wrong = [i for i, h in zip(gaps, as_is, strict=True) if h != stored[i]]
    lean = {i: {k: v for k, v in psets[i].items() if not _missing_cell(v)} for i in wrong}
    out = list(psets)
    for i, h in zip(wrong, pset_hashes(list(lean.values())), strict=True):
        if isinstance(stored[i], str) and h == stored[i]:
            out[i] = lean[i]
    return out


_LAYOUT_START = "_run_id"  # psets come first, then psweep's bookkeeping, then results
_HASH_COLS = ("_pset_sha1", "_pset_hash")
_MAX_LATE_PARAMS = 10  # columns after _run_id whose combinations the hash test tries


def param_columns(df: pd.DataFrame) -> list:
    """The parameter columns of database `df`, in their order.

    The pset columns of :func:`filter_cols` (neither ``_x`` nor ``x_``), less
    the results: ``run_local`` writes a row's pset before ``_run_id`` and what
    `func` returned after it. A column after ``_run_id`` (a result, or a
    parameter that a later run added) is a result where a row's stored hash
    (``_pset_sha1``) matches its pset without it but not with it; otherwise
    (no row tells, or no hash, as in psweep 0.16's ``df_update_pset_cols``)
    it stays a parameter.
    """
    cands = filter_cols(df.columns, "pset")
    if _hash_column(df) is None or len(df) == 0:
        return cands
    early = set(leading_param_columns(df))
    if len(early) == len(cands):
        return cands
    _, results = late_column_roles(
        df, [c for c in cands if c in early], [c for c in cands if c not in early]
    )
    return [c for c in cands if c not in results]


def leading_param_columns(df: pd.DataFrame) -> list:
    """The pset columns before ``_run_id``: parameters for certain, since ``run_local``
    writes a row's pset first. All pset columns where the layout does not tell."""
    cands = filter_cols(df.columns, "pset")
    if _LAYOUT_START not in df.columns:
        return cands
    start = list(df.columns).index(_LAYOUT_START)
    return filter_cols(df.columns[:start], "pset")


def _promoted(s: pd.Series) -> bool:
    """Whether `s` looks like ints made float by gaps (rows without that parameter)."""
    if not pd.api.types.is_float_dtype(s) or not s.isna().any():
        return False
    vals = s.dropna()
    return bool(len(vals)) and bool((vals == vals.round()).all())


def _hash_matches(row: dict, cols: Sequence, want: str, ints: set) -> bool:
    pset = {c: row[c] for c in cols if not is_empty(row[c])}
    as_int = {k: int(v) if k in ints else v for k, v in pset.items()}
    kept = {c: row[c] for c in cols if row[c] is not pd.NA}  # None that a pset had
    tries = (pset, as_int, kept)
    return any(pset_hash(p, raise_error=False) == want for p in tries)


def late_column_roles(df: pd.DataFrame, early: Sequence, late: Sequence) -> tuple[set, set]:
    """Which of the columns `late` (after ``_run_id``) are parameters and which results,
    as the stored hashes tell: for the first row where each has a value, the smallest set
    of them whose values, with those of the parameters `early`, give the row's hash.
    Columns no row tells about are in neither set."""
    hash_col = _hash_column(df)
    if hash_col is None or not late or len(late) > _MAX_LATE_PARAMS:
        return set(), set()
    hashed = df[hash_col].map(lambda h: isinstance(h, str)).to_numpy(dtype=bool)
    rows = sorted(
        {int(pos[0]) for c in late if len(pos := np.flatnonzero(df[c].notna().to_numpy() & hashed))}
    )
    ints = {c for c in [*early, *late] if _promoted(df[c])}
    params: set = set()
    results: set = set()
    for row in df.iloc[rows][[*early, *late, hash_col]].to_dict("records"):
        present = [c for c in late if not is_empty(row[c])]
        for size in range(len(present) + 1):
            hit = next(
                (
                    sub
                    for sub in itertools.combinations(present, size)
                    if _hash_matches(row, [*early, *sub], row[hash_col], ints)
                ),
                None,
            )
            if hit is not None:
                params.update(hit)
                results.update(c for c in present if c not in hit)
                break
    return params, results - params


def row_hashes(df: pd.DataFrame, empty_is_absent: bool = True) -> list:
    """:func:`psweep.pset_hash` of each row's pset columns.

    With `empty_is_absent`, empty cells (``NaN``, ``None``, ``pd.NA``) count
    as keys the pset did not have, which is how a database stores them;
    otherwise only ``pd.NA`` does (as in :func:`psweep.pset_hash`).
    """
    return pset_hashes(row_psets(df, empty_is_absent))


def row_psets(df: pd.DataFrame, empty_is_absent: bool = True) -> list[dict]:
    """The pset of each row of `df`: its pset columns, without the empty cells if
    `empty_is_absent` (see :func:`row_hashes`)."""
    cols = filter_cols(list(df.columns), "pset")
    rows = df[cols].itertuples(index=False, name=None)
    if empty_is_absent:
        return [{k: v for k, v in zip(cols, r, strict=True) if not is_empty(v)} for r in rows]
    return [dict(zip(cols, r, strict=True)) for r in rows]


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
