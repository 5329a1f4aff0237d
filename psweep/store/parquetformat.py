"""Parquet databases that give back what they were given, or refuse it.

One change is kept, as the docs' database-format guide shows: a tuple or a
numpy array in an object column comes back as the list of its items (Parquet
has one list type).

Parquet (through pyarrow) keeps dtypes and is fast, but holds less than a
pickle: text only as UTF-8, column names only as text, lists of one type,
dicts of one set of keys, one kind of null. :func:`write_parquet` refuses
what it would change with a :class:`~psweep.errors.PsweepFormatError` naming
the column (and the row, and the value), before the file is touched; what it
can restore it records in psweep's own schema metadata and
:func:`read_parquet` restores: int column names, object columns of ints and
None (not float64 with nan), lists and dicts as Python objects, nan in their
empty cells. psweep's own text columns (``_exc``, ``_logs``) are written with
non-UTF-8 bytes escaped (``backslashreplace``).
"""

from __future__ import annotations

import io
import json
import os
from typing import Any

import numpy as np
import pandas as pd

from psweep.errors import PsweepFormatError
from psweep.store.files import atomic_open

__all__ = ["check_parquet", "read_parquet", "write_parquet"]


def check_parquet(df: pd.DataFrame, fn: Any) -> None:
    """Raise :class:`~psweep.errors.PsweepFormatError` if Parquet file `fn` cannot hold `df`."""
    _parquet_bytes(_parquet_table(df, fn), io.BytesIO(), fn)


def write_parquet(df: pd.DataFrame, fn: Any, **kwds: Any) -> None:
    """Write `df` to Parquet file `fn` atomically, or raise PsweepFormatError before the
    file is touched; `kwds` go to :func:`pyarrow.parquet.write_table`."""
    table = _parquet_table(df, fn)
    with atomic_open(fn, "wb") as fh:
        _parquet_bytes(table, fh, fn, **kwds)


def _parquet_bytes(table: Any, fh: Any, fn: Any, **kwds: Any) -> None:
    """Write `table` to `fh`; what Arrow holds but Parquet cannot (a dict column of
    empty dicts: a struct without fields) is a PsweepFormatError."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        pq.write_table(table, fh, **kwds)
    except pa.ArrowNotImplementedError as exc:
        raise PsweepFormatError(
            f"cannot write {os.fspath(fn)!r} as Parquet: {exc}; use a pickle database "
            "(e.g. database.pk) for such values"
        ) from exc


# psweep's own text columns that may quote a file name: an error's traceback, captured logs
_ESCAPED_TEXT = ("_exc", "_logs")


def _parquet_table(df: pd.DataFrame, fn: Any) -> Any:
    import pyarrow as pa

    df = _escape_surrogates(df)
    int_names = _int_column_names(df, fn)
    if int_names:
        df = df.set_axis([str(c) for c in df.columns], axis=1)
    try:
        table = pa.Table.from_pandas(df, preserve_index=True)
    except (pa.ArrowException, TypeError, ValueError, OverflowError) as exc:
        bad = next((c for c in df.columns if _arrow_fails(df[c])), None)
        text = None if bad is None else _not_utf8(df[bad])
        if text is not None:
            raise PsweepFormatError(
                f"cannot write {os.fspath(fn)!r} as Parquet: column {bad!r} holds the text "
                f"{text!r}, which is not valid UTF-8 (bytes of another encoding, as os.listdir "
                "gives a file name with them), and Parquet holds only UTF-8 text. Use a JSON or "
                "pickle database (database.json, database.pk), which keep it, or pass the "
                "name decoded (e.g. os.fsencode(name).decode('latin-1'))"
            ) from exc
        where = f"column {bad!r}" if bad is not None else "the DataFrame"
        raise PsweepFormatError(
            f"cannot write {os.fspath(fn)!r} as Parquet: {where} holds values Parquet "
            f"cannot store ({exc}); use a pickle database (e.g. database.pk) for such values"
        ) from exc
    nan_gaps = _check_nested(df, table, fn)
    ours = {}
    if int_names:  # Parquet names columns with text: say which were ints
        ours[_PARQUET_META] = json.dumps(int_names).encode()
    if nan_gaps:  # and which nested columns had nan, not None, in their empty cells
        ours[_NAN_GAPS_META] = json.dumps(nan_gaps).encode()
    if ours:
        table = table.replace_schema_metadata({**(table.schema.metadata or {}), **ours})
    return table


def _check_nested(df: pd.DataFrame, table: Any, fn: Any) -> list[str]:
    """Refuse lists and dicts that Parquet would give back otherwise: a list of one type
    (``[0.0, 0]`` becomes ``[0.0, 0.0]``), dicts of one set of keys (``{"k": 1}`` and
    ``{"l": 2}`` become ``{"k": 1, "l": None}``, ...); their psets would hash otherwise.
    Returns the (text) names of such columns whose empty cells are nan (Parquet has one
    null: read back, they are nan again); one with both nan and None is refused."""
    import pyarrow as pa

    nan_gaps = []
    for pos, col in enumerate(df.columns):
        kind = table.schema.field(pos).type
        if df[col].dtype != object or not (pa.types.is_nested(kind)):
            continue
        back = table.column(pos).to_pylist()
        gaps = set()
        for label, given, got in zip(df.index, df[col], back, strict=True):
            if got is None and (given is None or (isinstance(given, float) and given != given)):
                gaps.add("None" if given is None else "nan")
                if len(gaps) < 2:
                    continue
                given, got = "None and nan", "None"
            if not _same_value(given, got):
                raise PsweepFormatError(
                    f"cannot write {os.fspath(fn)!r} as Parquet: column {col!r} at row "
                    f"{label!r} holds {given!r:.200}, which Parquet would give back as "
                    f"{got!r:.200} (its lists hold one type, its dicts one set of keys); use "
                    "a JSON or pickle database (database.json, database.pk) for such values"
                )
        if gaps == {"nan"}:
            nan_gaps.append(str(col))
    return nan_gaps


def _same_value(given: Any, got: Any) -> bool:
    """Whether Parquet's `got` is `given`: the same types (a tuple or an array may come
    back as a list), NaN equal to NaN."""
    if isinstance(given, np.ndarray):
        given = given.tolist()
    elif isinstance(given, np.generic):
        given = given.item()
    if isinstance(given, list | tuple):
        return (
            isinstance(got, list)
            and len(given) == len(got)
            and all(_same_value(a, b) for a, b in zip(given, got, strict=True))
        )
    if isinstance(given, dict):
        return (
            isinstance(got, dict)
            and list(given) == list(got)
            and all(_same_value(given[k], got[k]) for k in given)
        )
    if type(given) is not type(got):
        return given is None and got is None
    if isinstance(given, float) and given != given:
        return got != got
    return bool(given == got)


# the keys of psweep's own metadata in a Parquet file: the names of columns that were ints,
# and of nested columns whose empty cells were nan
_PARQUET_META = b"psweep.int_column_names"
_NAN_GAPS_META = b"psweep.nan_gaps"


def _int_column_names(df: pd.DataFrame, fn: Any) -> list[str]:
    """The text of the int column names of `df`; other names that are not text, and an
    int whose text is a name too, are refused (Parquet could not give them back)."""
    ints = []
    for col in df.columns:
        if isinstance(col, str):
            continue
        if isinstance(col, int | np.integer) and not isinstance(col, bool | np.bool_):
            ints.append(str(int(col)))
            continue
        raise PsweepFormatError(
            f"cannot write {os.fspath(fn)!r} as Parquet: the column name {col!r} is a "
            f"{type(col).__name__}; Parquet keeps column names that are text or ints. "
            "Rename the parameter, or use a pickle database (database.pk)"
        )
    clash = sorted(set(ints) & {c for c in df.columns if isinstance(c, str)})
    if clash:
        raise PsweepFormatError(
            f"cannot write {os.fspath(fn)!r} as Parquet: the column names {int(clash[0])} and "
            f"{clash[0]!r} would be one in the file (it names columns with text); rename one"
        )
    return ints


def read_parquet(fn: Any, kwds: dict) -> pd.DataFrame:
    """A Parquet file as written by :func:`df_write`: int column names are ints again,
    an object column of ints and None (a parameter some psets lack) comes back as
    that, not as float64 with nan (exact, also beyond 2**53), and lists and dicts as
    lists and dicts (pandas would give numpy arrays, None inside them as nan)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    df = pd.read_parquet(fn, **kwds)
    schema = pq.read_schema(fn)
    meta = schema.metadata or {}
    pandas_meta = json.loads(meta.get(b"pandas", b"{}"))
    was_object = {
        c["field_name"] for c in pandas_meta.get("columns", []) if c.get("numpy_type") == "object"
    }
    gaps = [
        name
        for name in schema.names
        if name in was_object
        and name in df.columns
        and (
            (pa.types.is_integer(schema.field(name).type) and df[name].dtype.kind == "f")
            or pa.types.is_nested(schema.field(name).type)  # lists as lists, not arrays
        )
    ]
    if gaps:
        exact = pq.read_table(fn, columns=gaps)
        nan_gaps = set(json.loads(meta.get(_NAN_GAPS_META, b"[]")))
        for name in gaps:
            values = exact.column(name).to_pylist()
            if name in nan_gaps:
                values = [np.nan if v is None else v for v in values]
            df[name] = pd.Series(values, index=df.index, dtype=object)
    if _PARQUET_META in meta:
        ints = {name: int(name) for name in json.loads(meta[_PARQUET_META])}
        df = df.set_axis([ints.get(c, c) for c in df.columns], axis=1)
    return df


def _not_utf8(col: pd.Series) -> str | None:
    """The first text in `col` that UTF-8 cannot encode (lone surrogates), if any."""
    for value in col:
        if isinstance(value, str):
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                return value
    return None


def _escape_surrogates(df: pd.DataFrame) -> pd.DataFrame:
    """psweep's own text (:data:`_ESCAPED_TEXT`) with lone surrogates written as
    ``\\udcXX`` (backslashreplace): an error that quotes a non-UTF-8 file name is kept,
    readable, instead of failing the save of every row of the run."""
    for col in _ESCAPED_TEXT:
        if col in df.columns and df[col].dtype == object and _not_utf8(df[col]) is not None:
            fixed = df[col].map(_backslashreplace)
            df = df.assign(**{col: fixed})
    return df


def _backslashreplace(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    return value.encode("utf-8", "backslashreplace").decode("utf-8")


def _arrow_fails(col: pd.Series) -> bool:
    import pyarrow as pa

    try:
        pa.Array.from_pandas(col)
    except (pa.ArrowException, TypeError, ValueError, OverflowError):
        return True
    return False
