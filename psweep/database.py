"""The database: a pandas DataFrame on disk, and helpers to look at it.

Formats, chosen by ``fmt`` or else by the file name: ``pickle`` (the default,
any other name), ``json`` (``*.json``) and ``parquet`` (``*.parquet``, through
pyarrow). A pickle can hold any Python value but runs code when it is read:
read pickles only from sources you trust. JSON and Parquet hold data only;
Parquet keeps the dtypes and is fast, but cannot hold a column of mixed types
or of Python objects (it says which column). JSON is text that reads back
exactly, dtypes included (see :mod:`psweep.jsondb`).

Text that is not valid Unicode (lone surrogates: a file name of non-UTF-8
bytes as ``os.listdir`` gives it, ``"caf\\udce9"``) is kept exactly by pickle
and JSON (as ``\\uXXXX`` escapes). Parquet holds only UTF-8: a run refuses a
pset with such text before `func` runs (naming the parameter and the value);
in psweep's own text columns (``_exc``, ``_logs``: a traceback that quotes
such a name) it is written escaped, ``"caf\\\\udce9"`` (``backslashreplace``).
"""

from __future__ import annotations

import io
import json
import os
import pickle
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from .errors import PsweepDatabaseError, PsweepFormatError
from .files import atomic_open
from .jsondb import (
    JSON_DEFAULTS,
    encode_json_database,
    read_json_database,
    write_json_database,
)

__all__ = [
    "DATABASE_FORMATS",
    "check_storable",
    "database_format",
    "df_filter_conds",
    "df_print",
    "df_read",
    "df_to_json",
    "df_write",
]

DATABASE_FORMATS = ("pickle", "json", "parquet")
# what psweep 0.16's df_to_json passes to pandas
JSON_DEFAULTS_016 = {
    "orient": "records",
    "date_unit": "s",
    "date_format": "iso",
    "double_precision": 15,
}
_BY_SUFFIX = {".json": "json", ".parquet": "parquet", ".pq": "parquet"}


def database_format(fn: Any, fmt: str | None = None) -> str:
    """The format of database file `fn`: `fmt` if given, else from the file name."""
    if fmt is None:
        return _BY_SUFFIX.get(os.path.splitext(os.fspath(fn))[1].lower(), "pickle")
    if fmt not in DATABASE_FORMATS:
        raise PsweepDatabaseError(
            f"unknown database format fmt={fmt!r}; valid: {', '.join(DATABASE_FORMATS)}"
        )
    return fmt


# values that always pickle; others are tried
_PLAIN = frozenset({int, float, str, bool, type(None), complex, bytes, np.float64, np.int64})


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


def check_picklable_psets(psets: Sequence[dict]) -> None:
    """Raise :class:`~psweep.errors.PsweepFormatError` naming the first pset with a value
    that a pickle database cannot store (a lambda, a local function, an open file)."""
    plain = _PLAIN
    for pos, pset in enumerate(psets):
        for value in pset.values():  # the common case, inline: only plain values
            if type(value) not in plain:
                break
        else:
            continue
        bad = unpicklable_item(pset)
        if bad is not None:
            key, why = bad
            raise PsweepFormatError(
                f"pset {pos} ({pset!r:.200}): the value of {key!r} cannot be pickled ({why}), "
                "so the database could not store its row; nothing ran. Use a value that "
                "pickles (a module-level function, a class, data) or its name as text"
            )


def check_storable(df: pd.DataFrame, fn: Any, fmt: str | None = None) -> None:
    """Raise :class:`~psweep.errors.PsweepFormatError` if the format of database `fn`
    cannot hold `df` (JSON and Parquet hold data only; a pickle holds anything)."""
    fmt = database_format(fn, fmt)
    if fmt == "json":
        encode_json_database(df, fn)
    elif fmt == "parquet":
        _parquet_bytes(_parquet_table(df, fn), io.BytesIO(), fn)


def _write_parquet(df: pd.DataFrame, fn: Any, **kwds: Any) -> None:
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


def _read_parquet(fn: Any, kwds: dict) -> pd.DataFrame:
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
        _write_parquet(df, fn, **kwds)
    elif fmt == "pickle":
        kwds.setdefault("protocol", pickle.HIGHEST_PROTOCOL)
        with atomic_open(fn, "wb") as fh:
            pickle.dump(df, fh, **kwds)
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
                df = _read_parquet(fn, kwds)
            else:
                with open(fn, "rb") as fh:
                    df = pickle.load(fh, **kwds)
        except (FileNotFoundError, IsADirectoryError, PermissionError):
            raise
        except Exception as exc:
            what = "Parquet" if fmt == "parquet" else "a pickled DataFrame"
            raise PsweepDatabaseError(
                f"cannot read database {os.fspath(fn)!r} as {what}: "
                f"{type(exc).__name__}: {exc}. The file was left as it is; restore it "
                "from a backup (calc.bak_*) or git, or move it away to start anew"
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
