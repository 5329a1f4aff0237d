"""Compare two databases row by row: did two runs of a study give the same results?

Two runs of the same psets (on the host and in a container, today and in five
years) differ in ids, times and host names, and may hold the rows in another
order. :func:`df_compare` pairs the rows by pset hash (``_pset_sha1``), then
compares the parameter and result columns: floats exactly by default, or
within a tolerance.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from psweep.errors import PsweepParamsError

__all__ = ["DfComparison", "df_compare"]

# bookkeeping columns compared by default; the others differ from run to run
_COMPARED_BOOKKEEPING = ("_pset_status",)
_KEY = "_pset_sha1"


@dataclass
class DfComparison:
    """What :func:`df_compare` found. ``bool(result)`` is ``result.same``."""

    same: bool
    rows: int  # rows paired and compared
    columns: list  # columns compared
    only_a: list = field(default_factory=list)  # keys of rows found only in a
    only_b: list = field(default_factory=list)
    columns_only_a: list = field(default_factory=list)
    columns_only_b: list = field(default_factory=list)
    differences: pd.DataFrame = field(default_factory=pd.DataFrame)  # key, column, a, b
    tolerance: str = "exact"

    def __bool__(self) -> bool:
        return self.same

    @property
    def verdict(self) -> str:
        """One line: ``same: ...`` or ``different: ...``."""
        what = f"{self.rows} rows, {len(self.columns)} columns compared ({self.tolerance})"
        if self.same:
            return f"same: {what}"
        parts = []
        if len(self.differences):
            cols = sorted(set(self.differences["column"]), key=str)
            parts.append(
                f"{len(self.differences)} values differ in column(s) {', '.join(map(repr, cols))}"
            )
        if self.only_a or self.only_b:
            parts.append(f"{len(self.only_a)} rows only in a, {len(self.only_b)} only in b")
        if self.columns_only_a or self.columns_only_b:
            parts.append(
                f"columns only in a: {self.columns_only_a}, only in b: {self.columns_only_b}"
            )
        return f"different: {'; '.join(parts)}; {what}"

    def report(self, first: int = 5) -> str:
        """The verdict and the first `first` differences, as text to print."""
        lines = [self.verdict]
        if len(self.differences):
            lines.append(f"first differences (of {len(self.differences)}):")
            for row in self.differences.head(first).itertuples(index=False):
                lines.append(f"  row {row.key}: {row.column!r}: a={row.a!r} b={row.b!r}")
        for side, keys in (("a", self.only_a), ("b", self.only_b)):
            if keys:
                shown = ", ".join(map(str, keys[:first]))
                lines.append(f"rows only in {side}: {shown}{' ...' if len(keys) > first else ''}")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.report()


def _values_equal(a: Any, b: Any, rtol: float, atol: float) -> bool:
    """Whether cells `a` and `b` are equal: NaN equals NaN, also inside lists, tuples,
    dicts, arrays and complex numbers (a database equals its own copy)."""
    if a is b:
        return True
    fa, fb = _as_float(a), _as_float(b)
    if fa is not None and fb is not None:
        if math.isnan(fa) or math.isnan(fb):
            return math.isnan(fa) and math.isnan(fb)
        if fa == fb:
            return True
        if (rtol or atol) and math.isfinite(fa) and math.isfinite(fb):
            return abs(fa - fb) <= atol + rtol * abs(fb)
        return False
    if _missing(a) and _missing(b):
        return type(a) is type(b) or (a is None) == (b is None)
    if isinstance(a, complex | np.complexfloating) and isinstance(b, complex | np.complexfloating):
        return _values_equal(a.real, b.real, rtol, atol) and _values_equal(
            a.imag, b.imag, rtol, atol
        )
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return (
            type(a) is type(b)
            and len(a) == len(b)
            and all(_values_equal(x, y, rtol, atol) for x, y in zip(a, b, strict=True))
        )
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_values_equal(a[k], b[k], rtol, atol) for k in a)
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return _arrays_equal(np.asarray(a), np.asarray(b), rtol, atol)
    try:
        return bool(a == b)
    except (TypeError, ValueError):
        return False


def _arrays_equal(a: np.ndarray, b: np.ndarray, rtol: float, atol: float) -> bool:
    if a.shape != b.shape:
        return False
    if a.dtype.hasobject or b.dtype.hasobject:  # NaN may sit among other objects
        return all(
            _values_equal(x, y, rtol, atol) for x, y in zip(a.ravel(), b.ravel(), strict=True)
        )
    if (rtol or atol) and a.dtype.kind in "fc" and b.dtype.kind in "fc":
        return bool(np.allclose(a, b, rtol=rtol, atol=atol, equal_nan=True))
    return bool(np.array_equal(a, b, equal_nan=a.dtype.kind in "fc"))


def _differing(x: pd.Series, y: pd.Series, rtol: float, atol: float) -> np.ndarray:
    """Positions where columns `x` and `y` differ (vectorized for plain numeric columns)."""
    if x.dtype.kind in "iuf" and y.dtype.kind in "iuf":
        xa, ya = x.to_numpy(dtype=float), y.to_numpy(dtype=float)
        with np.errstate(invalid="ignore"):
            same = (xa == ya) | (np.isnan(xa) & np.isnan(ya))
            if rtol or atol:
                finite = np.isfinite(xa) & np.isfinite(ya)
                same |= finite & (np.abs(xa - ya) <= atol + rtol * np.abs(ya))
        if x.dtype.kind in "iu" and y.dtype.kind in "iu":  # exact for big ints, too
            same = x.to_numpy() == y.to_numpy() if not (rtol or atol) else same
        return np.flatnonzero(~same)
    xa, ya = x.to_numpy(dtype=object), y.to_numpy(dtype=object)
    return np.array(
        [i for i in range(len(xa)) if not _values_equal(xa[i], ya[i], rtol, atol)], dtype=int
    )


def _as_float(x: Any) -> float | None:
    """A real number as float (bools and ints too); None for anything else."""
    if isinstance(x, bool | np.bool_):
        return None
    if isinstance(x, int | float | np.integer | np.floating):
        return float(x)
    return None


def _missing(x: Any) -> bool:
    return x is None or x is pd.NA or x is pd.NaT


def _with_sha1(df: pd.DataFrame) -> pd.DataFrame:
    """`df` with ``_pset_sha1`` taken from ``_pset_hash`` (the same hash), if it has that."""
    return df.assign(_pset_sha1=df["_pset_hash"]) if "_pset_hash" in df.columns else df


def _paired(df: pd.DataFrame, on: str | None) -> pd.DataFrame:
    """`df` indexed by its pairing key: (hash, n-th occurrence), or the row's position."""
    if on is None:
        return df.reset_index(drop=True).rename_axis("row")
    if on not in df.columns:
        raise PsweepParamsError(
            f"df_compare(): column {on!r} to pair rows by is missing in one of the databases; "
            "pass on=None to pair rows by position"
        )
    occurrence = df.groupby(on, sort=False, dropna=False).cumcount()
    key = [f"{h}" if n == 0 else f"{h}#{n}" for h, n in zip(df[on], occurrence, strict=True)]
    return df.set_axis(pd.Index(key, name=on), axis=0)


def df_compare(
    a: pd.DataFrame,
    b: pd.DataFrame,
    *,
    columns: Sequence[str] | None = None,
    ignore: Sequence[str] = (),
    on: str | None = _KEY,
    rtol: float = 0.0,
    atol: float = 0.0,
) -> DfComparison:
    """Compare databases `a` and `b` row by row; return a :class:`DfComparison`.

    Rows are paired by ``on`` (default ``_pset_sha1``, the pset's hash, so the
    order of the rows does not matter; a pset that ran twice pairs its n-th row
    in `a` with its n-th row in `b`; a database of ``ps.run`` pairs by the
    same hash under its name ``_pset_hash``), or by position with ``on=None``.

    Compared are `columns`, by default every column that does not start with
    ``_`` (the parameters and the results) plus ``_pset_status``, minus
    `ignore`. Ids, times, run and host columns are left out by default: they
    differ from run to run. A column in only one database counts as a difference.

    Floats are compared exactly by default (NaN equals NaN); with `rtol` or
    `atol` two finite numbers are equal when ``|a - b| <= atol + rtol * |b|``,
    as in :func:`numpy.isclose`, also inside numpy arrays.

    Examples
    --------
    Two runs of the same psets, their rows in another order (in a study:
    ``df_compare(ps.df_read("calc/database.pk"), ps.df_read("old/database.pk"))``):

    >>> a = pd.DataFrame({"_pset_sha1": ["h1", "h2"], "x": [1, 2], "r": [0.5, float("nan")]})
    >>> b = a.iloc[::-1].copy()
    >>> print(df_compare(a, b).report())
    same: 2 rows, 2 columns compared (exact)
    >>> b.loc[0, "r"] = 0.5000001
    >>> print(df_compare(a, b).report())
    different: 1 values differ in column(s) 'r'; 2 rows, 2 columns compared (exact)
    first differences (of 1):
      row h1: 'r': a=0.5 b=0.5000001
    >>> df_compare(a, b, rtol=1e-6).same
    True
    """
    for name, df in (("a", a), ("b", b)):
        if not isinstance(df, pd.DataFrame):
            raise PsweepParamsError(f"df_compare(): {name} must be a DataFrame, got {type(df)}")
    if rtol < 0 or atol < 0:
        raise PsweepParamsError(f"df_compare(): rtol and atol must be >= 0, got {rtol}, {atol}")
    missing = [c for c in ignore if c not in a.columns and c not in b.columns]
    if missing:
        raise PsweepParamsError(f"df_compare(): ignore names no column of either: {missing}")

    def default_cols(df: pd.DataFrame) -> list:
        return [
            c
            for c in df.columns
            if not (isinstance(c, str) and c.startswith("_")) or c in _COMPARED_BOOKKEEPING
        ]

    if columns is None:
        cols_a = [c for c in default_cols(a) if c not in ignore]
        cols_b = [c for c in default_cols(b) if c not in ignore]
    else:
        absent = [c for c in columns if c not in a.columns and c not in b.columns]
        if absent:
            raise PsweepParamsError(f"df_compare(): no column(s) {absent} in either database")
        cols_a = [c for c in columns if c in a.columns and c not in ignore]
        cols_b = [c for c in columns if c in b.columns and c not in ignore]
    common = [c for c in cols_a if c in cols_b]
    only_cols_a = [c for c in cols_a if c not in cols_b]
    only_cols_b = [c for c in cols_b if c not in cols_a]

    if on == _KEY and not (_KEY in a.columns and _KEY in b.columns):
        # databases of ps.run (psweep 0.16's layout) hold the same hash as _pset_hash
        a, b = (x if _KEY in x.columns else _with_sha1(x) for x in (a, b))
    pa, pb = _paired(a, on), _paired(b, on)
    shared = pa.index.intersection(pb.index, sort=False)
    only_a = [k for k in pa.index if k not in shared]
    only_b = [k for k in pb.index if k not in shared]
    pa, pb = pa.loc[shared], pb.loc[shared]
    diffs: list[tuple[int, int, Any, Any, Any, Any]] = []  # row, column, key, col, a, b
    for ci, col in enumerate(common):
        bad = _differing(pa[col], pb[col], rtol, atol)
        va, vb = pa[col].to_numpy(dtype=object), pb[col].to_numpy(dtype=object)
        diffs.extend((int(i), ci, shared[i], col, va[i], vb[i]) for i in bad)
    diffs.sort(key=lambda d: (d[0], d[1]))  # in row order, then column order
    differences = pd.DataFrame([d[2:] for d in diffs], columns=["key", "column", "a", "b"])
    tolerance = "exact" if not (rtol or atol) else f"rtol={rtol:g}, atol={atol:g}"
    same = not (diffs or only_a or only_b or only_cols_a or only_cols_b)
    return DfComparison(
        same, len(shared), common, only_a, only_b, only_cols_a, only_cols_b, differences,
        tolerance,
    )  # fmt: skip
