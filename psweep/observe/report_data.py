"""The report's reading of a database: parameters and results, values as shown and ordered.

:func:`split_columns` decides which columns are parameters and which are
results (the database does not store it); :func:`read_report_data` turns a
database into a :class:`ReportData`, what every section of the report draws
from. The helpers below them show values as text (``_shown``, ``_fmt``,
``_tex_safe``), order them (``_values``) and find zipped parameters
(``_zip_groups``); :mod:`psweep.observe.report_tables` and
:mod:`psweep.observe.report_figures` share them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from psweep.store.columns import late_column_roles

__all__ = ["ReportData", "read_report_data", "split_columns"]

_LAYOUT_START = "_run_id"  # psets come first, then psweep's bookkeeping, then results


def _missing(val: Any) -> bool:
    try:
        return bool(pd.isna(val))
    except (TypeError, ValueError):  # lists, arrays
        return False


def split_columns(df: pd.DataFrame) -> tuple[list, list]:
    """Return ``(params, results)``: the parameter and the result columns of `df`.

    The rule: columns that start with ``_`` are bookkeeping and neither.
    ``run_local`` writes a pset's parameters first, then its bookkeeping from
    ``_run_id`` on, then what `func` returned; so the columns before
    ``_run_id`` are parameters and those after it are results. Columns ending
    in ``_`` (psweep 0.16's results) are results wherever they are. A later
    run that brings new parameters appends them at the end, after the
    results; such a column is a parameter if the hash of the pset
    (``_pset_sha1``) needs it (:func:`psweep.store.columns.late_column_roles`).
    Without ``_run_id`` every other column is a parameter. Names are the
    columns themselves (an int stays an int).
    """
    cols = list(df.columns)

    def own(c: Any) -> bool:
        return isinstance(c, str) and c.startswith("_")

    def post(c: Any) -> bool:
        return isinstance(c, str) and c.endswith("_")

    if _LAYOUT_START not in cols:
        params = [c for c in cols if not own(c) and not post(c)]
        return params, [c for c in cols if not own(c) and c not in params]
    start = cols.index(_LAYOUT_START)
    params = [c for c in cols[:start] if not own(c) and not post(c)]
    after = [c for c in cols[start:] if not own(c)]
    late = [c for c in after if not post(c)]
    found, _ = late_column_roles(df, params, late)
    params += [c for c in late if c in found]
    return params, [c for c in after if c not in params]


@dataclasses.dataclass(frozen=True)
class ReportData:
    """A database as the report reads it; made by :func:`read_report_data`.

    Attributes
    ----------
    df
        The rows: object columns of real numbers as floats, a complex result
        as two real ones (``<name>.real``, ``<name>.imag``).
    params, results
        The parameter and the result columns of `df`.
    failed
        Per row of `df`, whether its pset failed.
    ok
        The rows of `df` that did not fail.
    keys
        The parameter columns, grouped and counted as their values are shown
        (lists and complex numbers as text; missing stays NaN).
    varied
        The parameters with more than one value (a row without it is no value).
    order
        The values of each varied parameter in the order they are drawn in.
    numeric
        The results of real numbers with a value in a successful row.
    """

    df: pd.DataFrame
    params: list
    results: list
    failed: pd.Series
    ok: pd.DataFrame
    keys: pd.DataFrame
    varied: list
    order: dict[Any, list]
    numeric: list


def read_report_data(df: pd.DataFrame, params: Sequence, results: Sequence) -> ReportData:
    """`df`, with the parameter and result columns `params` and `results`, as the report
    reads it."""
    df, results = _complex_parts(_as_numbers(df, [*params, *results]), list(results))
    failed = _failed_mask(df)
    ok = df[~failed]
    keys = _groupable(df, params)
    nvals = keys.nunique()  # a missing value (a pset without it) is not a value
    varied = [p for p in params if nvals[p] > 1]
    return ReportData(
        df=df,
        params=list(params),
        results=results,
        failed=failed,
        ok=ok,
        keys=keys,
        varied=varied,
        order={p: _values(keys[p]) for p in varied},
        numeric=[r for r in results if _is_num(df[r]) and ok[r].notna().any()],
    )


def _failed_mask(df: pd.DataFrame) -> pd.Series:
    if "_pset_status" not in df.columns:
        return pd.Series(False, index=df.index)
    return df["_pset_status"].eq("failed").fillna(False).astype(bool)


def _groupable(df: pd.DataFrame, cols: Sequence[str]) -> pd.DataFrame:
    """`df[cols]` with unhashable cells (lists, arrays) and complex numbers as their text;
    missing stays NaN."""
    out = df[list(cols)].copy()
    for col in cols:
        try:
            out[col].nunique()
        except TypeError:
            out[col] = out[col].map(lambda v: np.nan if _missing(v) else _shown(str(v)))
            continue
        if pd.api.types.is_complex_dtype(out[col]) or (
            out[col].dtype == object and any(isinstance(v, complex) for v in out[col])
        ):  # complex numbers have no order, and groups are sorted: as their text
            out[col] = out[col].map(lambda v: np.nan if _missing(v) else str(v)).astype(object)
            continue
        if out[col].dtype == object and any(
            isinstance(v, str) and _shown(v) is not v for v in out[col]
        ):  # text pandas' str dtype cannot hold (surrogate escapes): as shown
            shown = [_shown(v) if isinstance(v, str) else v for v in out[col]]
            out[col] = pd.Series(shown, index=out.index, dtype=object)
    return out


def _is_num(s: pd.Series) -> bool:
    """Real numbers (complex ones have no order: a complex parameter is a category)."""
    api = pd.api.types
    return api.is_numeric_dtype(s) and not (api.is_bool_dtype(s) or api.is_complex_dtype(s))


def _as_numbers(df: pd.DataFrame, cols: list) -> pd.DataFrame:
    """Object columns of real numbers and gaps (ints of psets that lack the key are kept
    as ints and None) as floats, so they are drawn and ordered as numbers."""
    conv = {}
    for col in cols:
        s = df[col]
        if s.dtype != object:
            continue
        vals = s[s.notna()]
        if len(vals) and all(
            isinstance(v, int | float | np.integer | np.floating) and not isinstance(v, bool)
            for v in vals
        ):
            conv[col] = pd.to_numeric(s.where(s.notna(), np.nan), errors="coerce")
    if not conv:
        return df
    df = df.copy(deep=False)
    for col, values in conv.items():  # not assign(**conv): a name may be an int
        df[col] = values
    return df


def _complex_parts(df: pd.DataFrame, results: list) -> tuple[pd.DataFrame, list]:
    """A complex result as two real ones, ``<name>.real`` and ``<name>.imag``."""
    cplx = [r for r in results if pd.api.types.is_complex_dtype(df[r])]
    if not cplx:
        return df, results
    parts: dict = {}
    out: list = []
    for r in results:
        if r in cplx:
            parts[f"{r}.real"], parts[f"{r}.imag"] = np.real(df[r]), np.imag(df[r])
            out += [f"{r}.real", f"{r}.imag"]
        else:
            out.append(r)
    return df.assign(**parts), out


# --- values as shown ---------------------------------------------------------------------


def _tex_safe(text: Any) -> str:
    """`text` for matplotlib, which takes what is between two ``$`` for math."""
    return _shown(str(text)).replace("$", r"\$")


def _shown(text: str) -> str:
    """`text` as shown: bytes that are not UTF-8 (a file name's, as surrogate escapes)
    as ``\\udcXX``, so the page can be written and read."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text


def _fmt(val: Any) -> str:
    if isinstance(val, float | np.floating):
        return f"{val:.6g}"
    return _shown(str(val))


def _combo_label(names: Sequence[str], vals: Any) -> str:
    vals = vals if isinstance(vals, tuple) else (vals,)
    return ", ".join(f"{n}={_fmt(v)}" for n, v in zip(names, vals, strict=True))


def _values(s: pd.Series) -> list:
    """The distinct values of `s`: sorted numbers, else in the order they first appear."""
    vals = pd.unique(s.dropna())
    return sorted(vals) if _is_num(s) else list(vals)


# --- zipped parameters -------------------------------------------------------------------


def _follows(combos: pd.DataFrame, a: str, b: str) -> bool:
    """Whether each value of `a` comes with one value of `b` only (as in a zip)."""
    pairs = combos[[a, b]].drop_duplicates()
    return len(pairs) == pairs[a].nunique(dropna=False)


def _zip_groups(combos: pd.DataFrame, varied: list[str]) -> list[list[str]]:
    """The varied parameters in groups of those zipped with each other (each value
    of one comes with one value of the other, both ways), in the order of `varied`."""
    groups: list[list[str]] = []
    for name in varied:
        for group in groups:
            if _follows(combos, group[0], name) and _follows(combos, name, group[0]):
                group.append(name)
                break
        else:
            groups.append([name])
    return groups
