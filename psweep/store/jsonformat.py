"""The JSON database: a DataFrame as JSON text that reads back exactly.

:func:`df_write` without extra keywords writes a JSON file that
:func:`df_read` turns back into an equal DataFrame: the same columns in the
same order, the same dtypes, the same index, the same values (floats to the
last bit, ``inf`` and ``nan`` included). It is one JSON object, with one record
per line::

    {"format": "psweep-database", "version": 1,
     "columns": [["a", "int64"], ["_pset_id", "str[pyarrow]"], ...],
     "columns_index": {"name": null, "dtype": "str[pyarrow]"},
     "index": {"name": null, "dtype": "str[pyarrow]", "values": ["1f0c...", ...]},
     "records": [
    {"a": 1, "_pset_id": "1f0c...", ...},
    ...
    ]}

``columns`` lists ``[name, dtype]`` in column order; every record holds every
column. ``index`` holds the row labels (``_pset_id`` in a psweep database), or
``"range": [start, stop, step]`` for a :class:`pandas.RangeIndex`;
``columns_index`` is the name and dtype of the column labels. The dtypes and
how a value is written:

* ``bool``, ``int8`` ... ``int64``, ``uint8`` ... ``uint64``, ``float16``,
  ``float32``, ``float64``: JSON numbers and ``true``/``false``; floats in
  their shortest exact form (Python's ``repr``), ``NaN``, ``Infinity`` and
  ``-Infinity`` as Python's :mod:`json` writes them (strict JSON parsers
  refuse these three; Python's and pandas' read them).
* ``datetime64[U]`` (``U`` one of ``s``, ``ms``, ``us``, ``ns``): ISO 8601 text
  to the unit, e.g. ``"2024-01-01T12:00:00.123456789"``; ``NaT`` is ``null``.
  ``datetime64[U, TZ]``: the same in UTC with a ``"Z"``, and the time zone in
  the dtype. ``timedelta64[U]``: an integer count of the unit, or ``null``.
* ``str[S]`` and ``string[S]`` (pandas' ``str`` and ``string`` dtypes, storage
  ``S`` ``python`` or ``pyarrow``): text, missing values ``null``. Without
  pyarrow installed, ``[pyarrow]`` columns are read with ``python`` storage.
* ``Int8`` ... ``UInt64``, ``Float32``, ``Float64``, ``boolean`` (pandas'
  nullable dtypes): numbers or ``true``/``false``, ``<NA>`` is ``null``.
* ``object``: ``null`` (None), ``true``/``false``, integers, floats (also
  ``NaN``, which stays apart from ``null``), text, and lists and objects (dicts
  with text keys) of these. numpy scalars are written as the Python value they
  equal, and so read back.

Anything else cannot be kept exactly and is refused with a
:class:`~psweep.errors.PsweepDatabaseError` before the file is touched: other
dtypes (``category``, ``period``, ``complex``, ...), and in an object column a
tuple, set, date or time, Decimal, bytes, numpy array, dict with a key that is
not text, or any other object (subclasses of int, str, list or dict too: they
would come back as the base type). The error names the column, the row and
the type; use a pickle (``database.pk``) or Parquet file for such values.
Column and index names must be text (or ``None`` for the index); others are
refused too, as are duplicate column names and a MultiIndex. The file is
UTF-8; if some text holds a lone surrogate, which UTF-8 cannot encode, all of
it is written with ASCII ``\\uXXXX`` escapes.

:func:`df_read` also reads JSON that is a list of records, as written by
psweep 0.7.0 and by ``DataFrame.to_json(orient="records")``. Without dtypes in
the file it takes what pandas' JSON reader gives, without guessing dates or
numbers in text: only ``_time_utc`` becomes datetimes, and ``_pset_id`` the
index. With extra keywords (``orient=...``), :func:`df_write` and
:func:`df_read` leave JSON to pandas, as in psweep 0.7.0.
"""

from __future__ import annotations

import io
import json
import operator
import os
import re
from typing import Any, cast

import numpy as np
import numpy.typing as npt
import pandas as pd

from psweep.errors import PsweepDatabaseError, PsweepFormatError
from psweep.store.files import atomic_open
from psweep.store.jsonvalues import Unstorable, plain_objects, type_name

__all__ = ["JSON_DEFAULTS", "encode_json_database", "read_json_database", "write_json_database"]

# pandas' to_json options of psweep 0.7.0 (df_to_json, psweep-db2json)
JSON_DEFAULTS = {
    "orient": "records",
    "date_format": "iso",
    "date_unit": "ns",
    "double_precision": 15,
}

# --- --------------------------------------------------------

_JSON_FORMAT = "psweep-database"
_JSON_VERSION = 1
_JSON_MAGIC = '{"format": "psweep-database"'
_USE_INSTEAD = "use a pickle (e.g. database.pk) or Parquet file (database.parquet) for such data"

_NUMPY_SPECS = frozenset(
    ["bool", "float16", "float32", "float64"]
    + [f"{sign}int{bits}" for sign in ("", "u") for bits in (8, 16, 32, 64)]
)
_MASKED_SPECS = frozenset(
    ["boolean", "Float32", "Float64"]
    + [f"{sign}Int{bits}" for sign in ("", "U") for bits in (8, 16, 32, 64)]
)
_TIME_SPEC_RE = re.compile(r"(datetime64|timedelta64)\[(s|ms|us|ns)(?:, (.+))?\]\Z")
_STRING_SPEC_RE = re.compile(r"(str|string)\[(python|pyarrow)\]\Z")
_NAT_INT = np.iinfo(np.int64).min
_SPACE_RE = re.compile(r"\s*")
_PANDAS_VERSION = tuple(int(part) for part in re.findall(r"\d+", pd.__version__)[:2])


def _dtype_spec(dtype: Any) -> str | None:
    """The dtype as written in the file, or None if the JSON database cannot keep it."""
    if isinstance(dtype, np.dtype):
        if dtype.name in _NUMPY_SPECS or dtype.kind == "O":
            spec = "object" if dtype.kind == "O" else dtype.name
            return spec if dtype == np.dtype(spec) else None  # also refuses byte-swapped
        if dtype.kind in "mM":
            unit, count = np.datetime_data(dtype)
            ok = count == 1 and unit in ("s", "ms", "us", "ns") and dtype.isnative
            return f"{dtype.name.split('[')[0]}[{unit}]" if ok else None
        return None
    if isinstance(dtype, pd.DatetimeTZDtype):
        spec = f"datetime64[{dtype.unit}, {dtype.tz}]"
        try:
            same = _dtype_from_spec(spec)[1] == dtype
        except (ValueError, TypeError, KeyError):  # a time zone known by no name
            same = False
        return spec if same else None
    if isinstance(dtype, pd.StringDtype) and dtype.storage in ("python", "pyarrow"):
        return f"{'string' if dtype.na_value is pd.NA else 'str'}[{dtype.storage}]"
    if isinstance(dtype, pd.api.extensions.ExtensionDtype) and dtype.name in _MASKED_SPECS:
        return dtype.name if pd.api.types.pandas_dtype(dtype.name) == dtype else None
    return None


def _string_dtype(spec: str, storage: str) -> Any:
    if storage == "pyarrow":
        try:
            import pyarrow  # noqa: F401
        except ImportError:  # read it anyway, as pandas keeps text without pyarrow
            storage = "python"
    if spec == "string":
        return pd.StringDtype(storage)
    try:
        return pd.StringDtype(storage, na_value=np.nan)
    except TypeError:  # pandas < 2.3 keeps such text in object columns
        return np.dtype(object)


def _dtype_from_spec(spec: Any) -> tuple[str, Any]:
    """The kind of codec and the dtype for a dtype as written in the file."""
    if not isinstance(spec, str):
        raise ValueError(f"a dtype must be text, not {spec!r}")
    if spec in _NUMPY_SPECS:
        return "number", np.dtype(spec)
    if spec == "object":
        return "object", np.dtype(object)
    if spec in _MASKED_SPECS:
        return "masked", pd.api.types.pandas_dtype(spec)
    match = _TIME_SPEC_RE.match(spec)
    if match:
        kind, unit, tz = match.groups()
        if kind == "timedelta64":
            if tz is None:
                return "timedelta", np.dtype(f"timedelta64[{unit}]")
        elif tz is None:
            return "datetime", np.dtype(f"datetime64[{unit}]")
        else:
            return "datetimetz", pd.DatetimeTZDtype(unit, tz=tz)
    match = _STRING_SPEC_RE.match(spec)
    if match:
        return "string", _string_dtype(*match.groups())
    raise ValueError(f"unknown dtype {spec!r}")


def _encode(values: pd.Series | pd.Index, spec: str, where: Any) -> list:
    """The values of a column or index as a list of plain JSON data."""
    kind, _ = _dtype_from_spec(spec)
    if kind == "number":
        return values.to_numpy().tolist()
    if kind == "object":
        return plain_objects(values.to_numpy().tolist(), where)
    if kind in ("string", "masked"):
        return values.array.to_numpy(dtype=object, na_value=None).tolist()
    arr = values.array
    if kind == "datetimetz":
        arr = arr.tz_convert(None)
    arr = np.asarray(arr.to_numpy())
    if kind == "timedelta":
        out = arr.view(np.int64).tolist()
    else:
        unit: Any = np.datetime_data(arr.dtype)[0]  # one of the units numpy's stubs list
        times = cast("npt.NDArray[np.datetime64]", arr)
        text = np.datetime_as_string(
            times, unit=unit, timezone="UTC" if kind == "datetimetz" else "naive"
        )
        out = text.tolist()
    for pos in np.flatnonzero(np.isnat(arr)).tolist():
        out[pos] = None
    return out


_JSON_TYPES = {"b": (bool,), "i": (int,), "u": (int,), "f": (float, int)}


def _typed(values: list, dtype: np.dtype) -> np.ndarray:
    """`values` as an array of numpy `dtype`; values of another JSON type are an error."""
    types = _JSON_TYPES[dtype.kind]
    if not all(type(v) in types for v in values):
        bad = next(v for v in values if type(v) not in types)
        raise ValueError(f"a {dtype} column holds {bad!r}")
    try:
        return np.array(values, dtype=dtype)
    except OverflowError as exc:
        raise ValueError(f"a {dtype} column holds a value out of range ({exc})") from None


def _decode(values: list, spec: str) -> Any:
    """An array of dtype `spec` from the JSON data written by :func:`_encode`."""
    kind, dtype = _dtype_from_spec(spec)
    if not isinstance(values, list):
        raise ValueError(f"values must be a list, not {type_name(values)}")
    if kind == "number":
        return _typed(values, dtype)
    if kind == "object":
        return np.fromiter(values, dtype=object, count=len(values))
    if kind == "string":
        if not all(type(v) is str or v is None for v in values):
            raise ValueError("a text column holds values that are not text")
        return pd.array(values, dtype=dtype)
    if kind == "masked":
        mask = np.fromiter((v is None for v in values), dtype=bool, count=len(values))
        fill = False if dtype.kind == "b" else 0
        data = _typed([fill if v is None else v for v in values], dtype.numpy_dtype)
        return dtype.construct_array_type()(data, mask)
    if kind == "timedelta":
        ints = _typed([_NAT_INT if v is None else v for v in values], np.dtype(np.int64))
        return ints.view(dtype)
    if not all(type(v) is str or v is None for v in values):
        raise ValueError("a time column holds values that are not text")
    if kind == "datetime":
        return np.array(values, dtype=dtype)
    naive = np.array(
        [v[:-1] if v is not None and v.endswith("Z") else v for v in values],
        dtype=f"datetime64[{dtype.unit}]",
    )
    return pd.DatetimeIndex(naive).tz_localize("UTC").tz_convert(dtype.tz).array


def _axis_name(name: Any, what: str) -> Any:
    if name is None or type(name) is str:
        return name
    raise Unstorable(f"the {what} has a name of type {type_name(name)}, not text")


def _encode_axis(index: pd.Index, what: str, values: bool = True) -> dict:
    """The row index (or, without its values, the column labels) for the file."""
    if isinstance(index, pd.MultiIndex):
        raise Unstorable(f"the {what} is a MultiIndex, which it cannot keep")
    out = {"name": _axis_name(index.name, what)}
    if type(index) is pd.RangeIndex:
        out["range"] = [index.start, index.stop, index.step]
        return out
    spec = _dtype_spec(index.dtype)
    if spec is None:
        raise Unstorable(f"the {what} has dtype {index.dtype}, which it cannot keep")
    out["dtype"] = spec
    if values:
        out["values"] = _encode(index, spec, lambda pos: f"the {what} at position {pos}")
    return out


def _decode_index(spec: Any, values: list | None = None) -> pd.Index:
    if not isinstance(spec, dict):
        raise ValueError(f"an index must be an object, not {type_name(spec)}")
    name = spec.get("name")
    if "range" in spec:
        return pd.RangeIndex(*spec["range"], name=name)
    dtype = _dtype_from_spec(spec["dtype"])[1]
    arr = _decode(spec["values"] if values is None else values, spec["dtype"])
    return pd.Index(arr, dtype=dtype, name=name, copy=False)


def _json_document(df: pd.DataFrame) -> bytes:
    """`df` as the lossless JSON document (UTF-8), or raise Unstorable."""
    names = list(df.columns)
    for name in names:
        if type(name) is not str:
            raise Unstorable(f"column {name!r} has a name of type {type_name(name)}, not text")
    if len(set(names)) != len(names):
        dup = next(name for name in names if names.count(name) > 1)
        raise Unstorable(f"there is more than one column {dup!r}")
    labels = df.index
    columns, data = [], []
    for pos, name in enumerate(names):
        col = df.iloc[:, pos]
        spec = _dtype_spec(col.dtype)
        if spec is None:
            raise Unstorable(f"column {name!r} has dtype {col.dtype}, which it cannot keep")
        columns.append([name, spec])
        data.append(
            _encode(col, spec, lambda p, name=name: f"column {name!r} at row {labels[p]!r}")
        )
    head = {
        "columns": columns,
        "columns_index": _encode_axis(df.columns, "column index", values=False),
        "index": _encode_axis(labels, "index"),
    }
    if names:
        rows = [dict(zip(names, row, strict=True)) for row in zip(*data, strict=True)]
    else:
        rows = [{} for _ in labels]
    for ascii_only in (False, True):
        encode = json.JSONEncoder(ensure_ascii=ascii_only, check_circular=False).encode
        try:
            parts = [f'{{"format": "{_JSON_FORMAT}", "version": {_JSON_VERSION}']
            parts += [f',\n "{key}": {encode(value)}' for key, value in head.items()]
            parts += [',\n "records": [\n', ",\n".join(map(encode, rows)), "\n]}\n"]
            return "".join(parts).encode("utf-8")
        except UnicodeEncodeError:  # lone surrogates in some text: write all as \uXXXX
            continue
        except ValueError as exc:  # an int of more digits than Python converts
            raise Unstorable(f"a value cannot be written as JSON ({exc})") from None
    raise AssertionError("ASCII-only JSON always encodes")


def encode_json_database(df: pd.DataFrame, fn: Any) -> bytes:
    """`df` as the text of JSON database `fn`; PsweepFormatError for what it cannot keep."""
    try:
        return _json_document(df)
    except Unstorable as exc:
        raise PsweepFormatError(
            f"cannot write {os.fspath(fn)!r} as a JSON database: {exc}. The file was not "
            f"touched; {_USE_INSTEAD}"
        ) from None


def write_json_database(df: pd.DataFrame, fn: Any) -> None:
    """Write `df` to `fn` as a JSON database, atomically; refuse what it cannot keep."""
    data = encode_json_database(df, fn)
    with atomic_open(fn, "wb") as fh:
        fh.write(data)


def _frame_from_document(doc: dict) -> pd.DataFrame:
    """The DataFrame of a document written by :func:`_json_document`."""
    version = doc.get("version")
    if version != _JSON_VERSION:
        raise ValueError(
            f"it is version {version!r} of the format, this psweep reads version "
            f"{_JSON_VERSION} (a newer psweep may read it)"
        )
    columns, records = doc["columns"], doc["records"]
    if not isinstance(columns, list) or not isinstance(records, list):
        raise ValueError('"columns" and "records" must be lists')
    names = [name for name, _ in columns]
    if any(type(rec) is not dict or len(rec) != len(names) for rec in records):
        raise ValueError(f"each record must hold exactly the {len(names)} columns")
    if len(names) == 1:
        data = [[rec[names[0]] for rec in records]]
    elif names and records:
        data = [list(col) for col in zip(*map(operator.itemgetter(*names), records), strict=True)]
    else:
        data = [[] for _ in names]
    index = _decode_index(doc["index"])
    if len(index) != len(records):
        raise ValueError(f"it has {len(index)} index values for {len(records)} records")
    # Series first: a DataFrame made from arrays would guess dtypes (text in object arrays)
    series = {
        pos: pd.Series(_decode(values, spec), dtype=_dtype_from_spec(spec)[1], copy=False)
        for pos, ((_, spec), values) in enumerate(zip(columns, data, strict=True))
    }
    df = pd.DataFrame(series, copy=False) if series else pd.DataFrame(index=index)
    df.index = index
    df.columns = _decode_index(doc["columns_index"], names)
    return df


def _read_legacy_records(text: str) -> pd.DataFrame:
    """A list of records (psweep 0.7.0, pandas' orient="records"), without guessing types."""
    # dtype=False: no dtype guessing of the values (and, from pandas 3.1, no dates);
    # convert_axes=False: column names such as "1" or "2024-01-01" stay text
    kwds: dict[str, Any] = {"orient": "records", "precise_float": True, "dtype": False}
    kwds["convert_axes"] = False
    if _PANDAS_VERSION < (3, 1):  # 3.1 deprecated these (dtype=False implies them)
        kwds.update(convert_dates=False, keep_default_dates=False)
    df = pd.read_json(io.StringIO(text), **kwds)
    for col in df.columns:
        # null in every row: records cannot tell None from nan; pandas and 0.7.0 say nan
        if df[col].dtype == object and len(df) and df[col].isna().all():
            df[col] = df[col].astype(np.float64)
    if "_time_utc" in df.columns and not pd.api.types.is_datetime64_any_dtype(df["_time_utc"]):
        col = df["_time_utc"]
        numeric = pd.api.types.is_numeric_dtype(col)
        df["_time_utc"] = pd.to_datetime(col) if numeric else pd.to_datetime(col, format="ISO8601")
    if "_pset_id" in df.columns:
        df.index = pd.Index(df["_pset_id"].to_numpy())
    return df


def read_json_database(fn: str | os.PathLike, kwds: dict) -> pd.DataFrame:
    """Read JSON database `fn`; with pandas options `kwds`, pandas reads it."""
    with open(fn, "rb") as fh:
        raw = fh.read()
    try:
        text = raw.decode("utf-8-sig")
        start = _SPACE_RE.match(text).end()  # type: ignore[union-attr]
        first = text[start : start + 1]
        if kwds:  # pandas reads it, as in psweep 0.7.0
            if text.startswith(_JSON_MAGIC, start):
                raise ValueError(
                    "it is a psweep JSON database, which pandas cannot read; read it "
                    f"without the pandas options {', '.join(sorted(kwds))}"
                )
            return _read_pandas_json(text, kwds)
        if first == "[":
            return _read_legacy_records(text)
        doc = json.loads(text) if first == "{" else None
        if not isinstance(doc, dict) or doc.get("format") != _JSON_FORMAT:
            raise ValueError(
                "it is neither a psweep JSON database nor a list of records; pass "
                "pandas' options (orient=...) to read other JSON"
            )
        try:
            return _frame_from_document(doc)
        except (TypeError, KeyError, IndexError, AttributeError) as exc:
            raise ValueError(
                f"a malformed psweep JSON database ({type(exc).__name__}: {exc})"
            ) from exc
    except ValueError as exc:  # also UnicodeDecodeError and json.JSONDecodeError
        raise PsweepDatabaseError(f"cannot read database {os.fspath(fn)!r} as JSON: {exc}") from exc


def _read_pandas_json(text: str, kwds: dict) -> pd.DataFrame:
    kwds = {"orient": JSON_DEFAULTS["orient"], "precise_float": True, **kwds}
    df = pd.read_json(io.StringIO(text), **kwds)
    for col in df.columns:
        # null in every row: records cannot tell None from nan; pandas and 0.7.0 say nan
        if df[col].dtype == object and len(df) and df[col].isna().all():
            df[col] = df[col].astype(np.float64)
    if "_time_utc" in df.columns and not pd.api.types.is_datetime64_any_dtype(df["_time_utc"]):
        df["_time_utc"] = pd.to_datetime(df["_time_utc"])
    if "_pset_id" in df.columns and kwds["orient"] in ("records", "values"):
        df.index = pd.Index(df["_pset_id"].to_numpy())
    return df
