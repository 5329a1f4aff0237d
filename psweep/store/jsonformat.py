"""The JSON database: a DataFrame as JSON text that reads back exactly.

:func:`df_write` without extra keywords writes a JSON file that
:func:`df_read` turns back into an equal DataFrame: the same columns in the
same order, the same dtypes, the same index, the same values (floats to the
last bit, ``inf`` and ``nan`` included). It is one JSON object; version 2 of
the layout (psweep writes it since the JSON database was made to stream) holds
the head, then the values of each column as one array on one line::

    {"format": "psweep-database", "version": 2,
     "rows": 2,
     "columns": [["a", "int64"], ["_pset_id", "str[pyarrow]"], ...],
     "columns_index": {"name": null, "dtype": "str[pyarrow]"},
     "index": {"name": null, "dtype": "str[pyarrow]", "column": "_pset_id"},
     "data": [
    [1, 2],
    ["1f0c...", "9a3b..."],
    ...
    ]}

It is written and read a column at a time, so neither keeps the whole text
(nor a Python object for every value of the frame) in memory; the file is
written to a temporary file and moved into place, so an interrupted write
leaves the old file as it was. :func:`df_read` reads the lines as written, and
a file laid out otherwise (say, reformatted by a tool) as a whole.

``rows`` is the number of rows; ``columns`` lists ``[name, dtype]`` in column
order, and ``data`` holds one array of ``rows`` values for each, in the same
order. ``index`` holds the row labels: ``"column"`` names the text column that
holds the same labels (``_pset_id`` in a psweep database), else ``"values"``
holds them, or ``"range": [start, stop, step]`` stands for a
:class:`pandas.RangeIndex`; ``columns_index`` is the name and dtype of the
column labels. Version 1 (psweep before the streaming layout) held the same
head without ``rows`` and with the index values, then ``"records"``: one object
per row, ``{"a": 1, "_pset_id": "1f0c...", ...}``, one a line; :func:`df_read`
still reads it. The dtypes and how a value is written:

``columns`` lists ``[name, dtype]`` in column order; every record holds every
column. ``index`` holds the row labels (``_pset_id`` in a psweep database), or
``"range": [start, stop, step]`` for a :class:`pandas.RangeIndex`;
``columns_index`` is the name and dtype of the column labels. The dtypes and
how a value is written:

* ``bool``, ``int8`` ... ``int64``, ``uint8`` ... ``uint64``, ``float16``,
  ``float32``, ``float64``: JSON numbers and ``true``/``false``; floats in
  the fewest digits that read back to the same bits (as float64; version 1
  used Python's ``repr``, version 2 pyarrow's formatting, which may write
  ``0.00001`` for ``1e-05``; whole floats as ``1.0``), ``NaN``, ``Infinity`` and
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
:class:`~psweep.errors.PsweepDatabaseError`, and the file is left as it was: other
dtypes (``category``, ``period``, ``complex``, ...), and in an object column a
tuple, set, date or time, Decimal, bytes, numpy array, dict with a key that is
not text, or any other object (subclasses of int, str, list or dict too: they
would come back as the base type). The error names the column, the row and
the type; use a pickle (``database.pk``) or Parquet file for such values.
Column and index names must be text (or ``None`` for the index); others are
refused too, as are duplicate column names and a MultiIndex. The file is
UTF-8; if some text of a column (or of the head) holds a lone surrogate, which
UTF-8 cannot encode, all of that column (or head line) is written with ASCII
``\\uXXXX`` escapes (in version 1: all of the file).

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
from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd

from psweep.errors import PsweepDatabaseError, PsweepFormatError
from psweep.store.files import atomic_open
from psweep.store.jsoncolumns import (
    column_json,
    decode_values,
    dtype_from_spec,
    dtype_spec,
    json_bytes,
    values_from_json,
)
from psweep.store.jsonvalues import Unstorable, type_name

__all__ = [
    "JSON_DEFAULTS",
    "check_json_database",
    "encode_json_database",
    "read_json_database",
    "write_json_database",
]

# pandas' to_json options of psweep 0.7.0 (df_to_json, psweep-db2json)
JSON_DEFAULTS = {
    "orient": "records",
    "date_format": "iso",
    "date_unit": "ns",
    "double_precision": 15,
}

# --- --------------------------------------------------------

_JSON_FORMAT = "psweep-database"
_JSON_VERSION = 2
_READS = (1, 2)  # the versions this psweep reads
_FIRST_LINE = b'{"format": "psweep-database", "version": 2,\n'
_DATA_LINE = b' "data": [\n'
_END_LINE = b"]}\n"
_JSON_MAGIC = '{"format": "psweep-database"'
_USE_INSTEAD = "use a pickle (e.g. database.pk) or Parquet file (database.parquet) for such data"

_SPACE_RE = re.compile(r"\s*")
_PANDAS_VERSION = tuple(int(part) for part in re.findall(r"\d+", pd.__version__)[:2])


def _axis_name(name: Any, what: str) -> Any:
    if name is None or type(name) is str:
        return name
    raise Unstorable(f"the {what} has a name of type {type_name(name)}, not text")


def _encode_axis(index: pd.Index, what: str) -> dict:
    """The name and the range or dtype of the row index or the column labels."""
    if isinstance(index, pd.MultiIndex):
        raise Unstorable(f"the {what} is a MultiIndex, which it cannot keep")
    out = {"name": _axis_name(index.name, what)}
    if type(index) is pd.RangeIndex:
        out["range"] = [index.start, index.stop, index.step]
        return out
    spec = dtype_spec(index.dtype)
    if spec is None:
        raise Unstorable(f"the {what} has dtype {index.dtype}, which it cannot keep")
    out["dtype"] = spec
    return out


def _column_specs(df: pd.DataFrame) -> list[list[str]]:
    """``[name, dtype]`` of each column, or raise Unstorable."""
    names = list(df.columns)
    for name in names:
        if type(name) is not str:
            raise Unstorable(f"column {name!r} has a name of type {type_name(name)}, not text")
    if len(set(names)) != len(names):
        dup = next(name for name in names if names.count(name) > 1)
        raise Unstorable(f"there is more than one column {dup!r}")
    specs = []
    for pos, name in enumerate(names):
        dtype = df.dtypes.iloc[pos]
        spec = dtype_spec(dtype)
        if spec is None:
            raise Unstorable(f"column {name!r} has dtype {dtype}, which it cannot keep")
        specs.append([name, spec])
    return specs


def _index_line(df: pd.DataFrame, specs: list[list[str]]) -> bytes:
    """The line of the head that holds the index: its values, or the name of the text
    column that holds the same (``_pset_id`` in a psweep database), or its range."""
    labels = df.index
    head = _encode_axis(labels, "index")
    if "range" not in head and dtype_from_spec(head["dtype"])[0] == "string":
        for pos, (name, spec) in enumerate(specs):
            col = df.iloc[:, pos]
            if (
                spec == head["dtype"]
                and col.dtype == labels.dtype
                and col.array.equals(labels.array)
            ):
                head["column"] = name
                break
    text = json_bytes(head)
    if "range" not in head and "column" not in head:
        where = lambda pos: f"the index at position {pos}"  # noqa: E731
        values = column_json(labels, head["dtype"], where)
        text = b"".join([text[:-1], b', "values": ', *values, b"}"])
    return b' "index": ' + text + b",\n"


def _head(df: pd.DataFrame) -> tuple[list[list[str]], bytes]:
    """The column specs and the head of the file up to its data, or raise Unstorable."""
    specs = _column_specs(df)
    lines = [
        _FIRST_LINE,
        b' "rows": %d,\n' % len(df),
        b' "columns": ' + json_bytes(specs) + b",\n",
        b' "columns_index": ' + json_bytes(_encode_axis(df.columns, "column index")) + b",\n",
        _index_line(df, specs),
        _DATA_LINE,
    ]
    return specs, b"".join(lines)


def _write_document(df: pd.DataFrame, head: bytes, specs: list, fh: Any) -> None:
    """Write the file: the head, then one column a line (Unstorable for a bad value)."""
    fh.write(head)
    labels = df.index
    for pos, (name, spec) in enumerate(specs):
        where = lambda p, name=name: f"column {name!r} at row {labels[p]!r}"  # noqa: E731
        for piece in column_json(df.iloc[:, pos], spec, where):
            fh.write(piece)
        fh.write(b",\n" if pos < len(specs) - 1 else b"\n")
    fh.write(_END_LINE)


class _Discard:
    def write(self, data: Any) -> None:
        pass


def _refused(fn: Any, exc: Unstorable) -> PsweepFormatError:
    return PsweepFormatError(
        f"cannot write {os.fspath(fn)!r} as a JSON database: {exc}. The file was not "
        f"touched; {_USE_INSTEAD}"
    )


def check_json_database(df: pd.DataFrame, fn: Any) -> None:
    """Raise PsweepFormatError if JSON database `fn` cannot keep `df` (writes nothing)."""
    try:
        specs, head = _head(df)
        _write_document(df, head, specs, _Discard())
    except Unstorable as exc:
        raise _refused(fn, exc) from None


def encode_json_database(df: pd.DataFrame, fn: Any) -> bytes:
    """`df` as the text of JSON database `fn`; PsweepFormatError for what it cannot keep."""
    out = io.BytesIO()
    try:
        specs, head = _head(df)
        _write_document(df, head, specs, out)
    except Unstorable as exc:
        raise _refused(fn, exc) from None
    return out.getvalue()


def write_json_database(df: pd.DataFrame, fn: Any) -> None:
    """Write `df` to `fn` as a JSON database, a column at a time, atomically; refuse what
    it cannot keep (the names, dtypes and index before a temporary file is opened)."""
    try:
        specs, head = _head(df)
        with atomic_open(fn, "wb") as fh:
            _write_document(df, head, specs, fh)
    except Unstorable as exc:
        raise _refused(fn, exc) from None


# --- reading ---------------------------------------------------------------------------------


def _decode_index(head: Any, names: list, arrays: list | None) -> pd.Index:
    """The row index or the column labels (`arrays` None) from the head."""
    if not isinstance(head, dict):
        raise ValueError(f"an index must be an object, not {type_name(head)}")
    name = head.get("name")
    if "range" in head:
        return pd.RangeIndex(*head["range"], name=name)
    dtype = dtype_from_spec(head["dtype"])[1]
    if arrays is None:
        arr = decode_values(names, head["dtype"])
    elif "column" in head:
        arr = arrays[names.index(head["column"])]
    else:
        arr = decode_values(head["values"], head["dtype"])
    return pd.Index(arr, dtype=dtype, name=name, copy=False)


def _frame(head: dict, arrays: list, rows: int) -> pd.DataFrame:
    """The DataFrame of the arrays of the columns and the head that describes them."""
    columns = head["columns"]
    if not isinstance(columns, list) or len(columns) != len(arrays):
        raise ValueError(f"it has {len(arrays)} columns of data for the columns {columns!r}")
    names = [name for name, _ in columns]
    index = _decode_index(head["index"], names, arrays)
    if len(index) != rows:
        raise ValueError(f"it has {len(index)} index values for {rows} rows")
    # Series first: a DataFrame made from arrays would guess dtypes (text in object arrays)
    series = {
        pos: pd.Series(arr, dtype=dtype_from_spec(spec)[1], copy=False)
        for pos, ((_, spec), arr) in enumerate(zip(columns, arrays, strict=True))
    }
    df = pd.DataFrame(series, copy=False) if series else pd.DataFrame(index=index)
    df.index = index
    df.columns = _decode_index(head["columns_index"], names, None)
    return df


def _columns_of_records(columns: Any, records: Any) -> list:
    """The values of each column from the records of version 1."""
    if not isinstance(columns, list) or not isinstance(records, list):
        raise ValueError('"columns" and "records" must be lists')
    names = [name for name, _ in columns]
    if any(type(rec) is not dict or len(rec) != len(names) for rec in records):
        raise ValueError(f"each record must hold exactly the {len(names)} columns")
    if len(names) == 1:
        return [[rec[names[0]] for rec in records]]
    if names and records:
        return [list(col) for col in zip(*map(operator.itemgetter(*names), records), strict=True)]
    return [[] for _ in names]


def _frame_from_document(doc: dict) -> pd.DataFrame:
    """The DataFrame of a whole document of any version this psweep reads."""
    version = doc.get("version")
    if version not in _READS:
        raise ValueError(
            f"it is version {version!r} of the format, this psweep reads versions "
            f"{', '.join(map(str, _READS))} (a newer psweep may read it)"
        )
    if version == 1:
        data = _columns_of_records(doc["columns"], doc["records"])
        rows = len(doc["records"])
    else:
        data, rows = doc["data"], _rows(doc)
        if not isinstance(data, list):
            raise ValueError('"data" must be a list')
    pairs = zip(doc["columns"], data, strict=True)
    arrays = [decode_values(values, spec) for (_, spec), values in pairs]
    if any(len(arr) != rows for arr in arrays):
        raise ValueError(f"each column must hold {rows} values")
    return _frame(doc, arrays, rows)


def _rows(head: dict) -> int:
    rows = head["rows"]
    if type(rows) is not int or rows < 0:
        raise ValueError(f'"rows" must be a count, not {rows!r}')
    return rows


def _lines(fh: Any, size: int = 1 << 24) -> Iterator[Any]:
    """The lines of binary file `fh`, read in chunks of `size` bytes (faster than a
    buffered file's readline for lines of many megabytes); a line within one chunk is
    a memoryview of it, not a copy."""
    parts: list[Any] = []
    while chunk := fh.read(size):
        view, start = memoryview(chunk), 0
        while (end := chunk.find(b"\n", start)) >= 0:
            line = view[start : end + 1]
            yield b"".join([*parts, line]) if parts else line
            parts, start = [], end + 1
        if start < len(chunk):
            parts.append(view[start:])
    if parts:
        yield b"".join(parts)


def _read_lines(fh: Any) -> pd.DataFrame | None:
    """Read the file as :func:`write_json_database` lays it out, after its first line:
    the head, then a column a line. None if it is laid out otherwise (reformatted)."""
    lines = _lines(fh)
    head_lines = [_FIRST_LINE]
    for line in lines:
        if line == _DATA_LINE:
            break
        head_lines.append(line)
    else:
        return None
    head = json.loads(b"".join(head_lines) + b' "data": []}')
    rows, columns = _rows(head), head["columns"]
    if not isinstance(columns, list):
        raise ValueError(f'"columns" must be a list, not {type_name(columns)}')
    arrays = []
    for pos, (_, spec) in enumerate(columns):
        line = next(lines, b"")
        end = b",\n" if pos < len(columns) - 1 else b"\n"
        if line[-len(end) :] != end:
            return None
        arrays.append(values_from_json(memoryview(line)[: -len(end)], spec, rows))
        del line
    if next(lines, b"") != _END_LINE or next(lines, b""):
        return None
    return _frame(head, arrays, rows)


def read_json_database(fn: str | os.PathLike, kwds: dict) -> pd.DataFrame:
    """Read JSON database `fn`; with pandas options `kwds`, pandas reads it."""
    try:
        with open(fn, "rb") as fh:
            first = fh.read(len(_FIRST_LINE))
            if first == _FIRST_LINE and not kwds:
                df = _malformed_is_value_error(_read_lines, fh)
                if df is not None:
                    return df
                fh.seek(0)
                first = b""
            raw = first + fh.read()
        return _read_document(raw, kwds)
    except ValueError as exc:  # also UnicodeDecodeError and json.JSONDecodeError
        raise PsweepDatabaseError(f"cannot read database {os.fspath(fn)!r} as JSON: {exc}") from exc


def _malformed_is_value_error(read: Any, arg: Any) -> Any:
    try:
        return read(arg)
    except (TypeError, KeyError, IndexError, AttributeError) as exc:
        raise ValueError(f"a malformed psweep JSON database ({type(exc).__name__}: {exc})") from exc


def _read_document(raw: bytes, kwds: dict) -> pd.DataFrame:
    """A whole file: psweep's JSON database of any version, a list of records, or, with
    pandas options `kwds`, what pandas reads."""
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
    return _malformed_is_value_error(_frame_from_document, doc)


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
