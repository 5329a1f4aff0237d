"""One column of the JSON database: its dtype as written in the file, and its values
as the text of one JSON array, and back (see :mod:`psweep.store.jsonformat`).

Columns of plain dtypes are done in bulk with pyarrow, without a Python object
per value: ints, bools and floats are formatted, text is quoted and escaped,
and times are formatted as whole arrays; reading, ints and floats are parsed
by pyarrow, and text without escapes or nulls is split at the ``", "`` between
its strings. Floats are formatted in the fewest digits that read back to the
same bits (not always as Python's ``repr``: ``1e-7`` for ``1e-07``). Everything
else (object columns, nullable dtypes, time zones, time deltas, times outside
the years 1 to 9999, text with control characters or lone surrogates, and
whatever pyarrow will not parse) goes through Python's :mod:`json`, one value
at a time, which also names a value of the wrong type.
"""

from __future__ import annotations

import json
import re
from typing import Any, cast

import numpy as np
import numpy.typing as npt
import pandas as pd

from psweep.store.jsonvalues import Unstorable, plain_objects, type_name

try:
    import pyarrow as pa
    import pyarrow.compute as pc
except ImportError:  # pragma: no cover - pyarrow is a dependency; without it, all in Python
    pa = pc = None

__all__ = [
    "column_json",
    "decode_values",
    "dtype_from_spec",
    "dtype_spec",
    "json_bytes",
    "values_from_json",
]

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
_ENCODE = json.JSONEncoder(ensure_ascii=False, check_circular=False).encode
_ENCODE_ASCII = json.JSONEncoder(ensure_ascii=True, check_circular=False).encode


def dtype_spec(dtype: Any) -> str | None:
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
            same = dtype_from_spec(spec)[1] == dtype
        except (ValueError, TypeError, KeyError):  # a time zone known by no name
            same = False
        return spec if same else None
    if isinstance(dtype, pd.StringDtype) and dtype.storage in ("python", "pyarrow"):
        return f"{'string' if dtype.na_value is pd.NA else 'str'}[{dtype.storage}]"
    if isinstance(dtype, pd.api.extensions.ExtensionDtype) and dtype.name in _MASKED_SPECS:
        return dtype.name if pd.api.types.pandas_dtype(dtype.name) == dtype else None
    return None


def _string_dtype(spec: str, storage: str) -> Any:
    if storage == "pyarrow" and pa is None:  # read it anyway, as pandas keeps text without pyarrow
        storage = "python"
    if spec == "string":
        return pd.StringDtype(storage)
    try:
        return pd.StringDtype(storage, na_value=np.nan)
    except TypeError:  # pandas < 2.3 keeps such text in object columns
        return np.dtype(object)


def dtype_from_spec(spec: Any) -> tuple[str, Any]:
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


# --- writing ---------------------------------------------------------------------------------


def encode_values(values: pd.Series | pd.Index, spec: str, where: Any) -> list:
    """The values of a column or index as a list of plain JSON data."""
    kind, _ = dtype_from_spec(spec)
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


def json_bytes(values: Any) -> bytes:
    """Plain JSON data as UTF-8 JSON text; with a lone surrogate in some text
    (which UTF-8 cannot encode), all of it as ASCII with ``\\uXXXX`` escapes."""
    try:
        text = _ENCODE(values)
    except ValueError as exc:  # an int of more digits than Python converts
        raise Unstorable(f"a value cannot be written as JSON ({exc})") from None
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        return _ENCODE_ASCII(values).encode("ascii")


def column_json(values: pd.Series | pd.Index, spec: str, where: Any) -> list:
    """The values of a column or index as the UTF-8 text of a JSON array, in pieces
    (bytes-like); `where(pos)` names the row of a value that cannot be written."""
    if pa is not None and len(values):
        kind = dtype_from_spec(spec)[0]
        texts, quote = None, False
        if kind == "number":
            texts = _number_texts(values.to_numpy())
        elif kind == "string":
            texts, quote = _string_texts(values), True
        elif kind == "datetime":
            texts, quote = _time_texts(np.asarray(values.to_numpy())), True
        if texts is not None:
            return _joined(texts, quote)
    return [json_bytes(encode_values(values, spec, where))]


def _lit(text: str) -> Any:
    return pa.scalar(text, pa.large_string())


def _joined(texts: Any, quote: bool) -> list:
    """The JSON array of pyarrow texts (quoted as JSON strings if `quote`), in pieces."""
    if quote and not texts.null_count:  # all of it at once: '", "' between the texts
        start, sep, end = b'["', '", "', b'"]'
    else:
        if quote:
            texts = pc.binary_join_element_wise(_lit('"'), texts, _lit('"'), _lit(""))
            texts = texts.fill_null(_lit("null"))
        start, sep, end = b"[", ", ", b"]"
    lists = pa.LargeListArray.from_arrays(pa.array([0, len(texts)], pa.int64()), texts)
    return [start, pc.binary_join(lists, _lit(sep))[0].as_buffer(), end]


def _number_texts(arr: np.ndarray) -> Any:
    """Ints, bools and floats as JSON numbers and true/false, in a pyarrow array."""
    if arr.dtype.kind != "f":
        return pc.cast(pa.array(arr), pa.large_string())
    arr = arr.astype(np.float64, copy=False)  # float16/32: the value as a float64, as before
    texts = pc.cast(pa.array(arr), pa.large_string())
    finite = np.isfinite(arr)
    if (finite & (arr == np.trunc(arr))).any():
        # "1" and "-0" would read back as ints (-0 as 0): floats get their ".0"
        whole = pc.match_substring_regex(texts, r"^-?[0-9]+$")
        texts = pc.if_else(whole, pc.binary_join_element_wise(texts, _lit(".0"), _lit("")), texts)
    if not finite.all():  # spelled as Python's json spells them
        words = {"NaN": np.isnan(arr), "Infinity": arr == np.inf, "-Infinity": arr == -np.inf}
        for word, mask in words.items():
            texts = pc.if_else(pa.array(mask), _lit(word), texts)
    return texts


def _utf8(texts: Any) -> np.ndarray:
    """The bytes of all values of a pyarrow large_string array, as one numpy array."""
    offsets = np.frombuffer(texts.buffers()[1], np.int64)
    first, last = offsets[texts.offset], offsets[texts.offset + len(texts)]
    return np.frombuffer(texts.buffers()[2], np.uint8)[first:last]


def _string_texts(values: pd.Series | pd.Index) -> Any:
    """Text in a pyarrow array, escaped for JSON strings, or None if it holds control
    characters (or lone surrogates, which pyarrow cannot hold)."""
    try:
        texts = pa.array(values.array, from_pandas=True)
    except (UnicodeEncodeError, pa.ArrowException):
        return None
    if isinstance(texts, pa.ChunkedArray):
        texts = texts.combine_chunks()
    texts = pc.cast(texts, pa.large_string())
    utf8 = _utf8(texts)
    if len(utf8) and utf8.min() < 0x20:
        return None
    raw = utf8.tobytes()
    if b"\\" in raw or b'"' in raw:
        texts = pc.replace_substring(texts, "\\", "\\\\")
        texts = pc.replace_substring(texts, '"', '\\"')
    return texts


def _time_texts(arr: np.ndarray) -> Any:
    """Times as ISO 8601 text in a pyarrow array, as numpy writes them, or None for
    times outside the years 1 to 9999 (which pyarrow writes otherwise)."""
    valid = arr[~np.isnat(arr)]
    if len(valid):
        first, last = np.array([valid.min(), valid.max()]).astype("M8[Y]").astype(np.int64)
        if first + 1970 < 1 or last + 1970 > 9999:
            return None
    texts = pc.cast(pa.array(arr, from_pandas=True), pa.large_string())  # NaT: null
    # "YYYY-MM-DD hh:mm:ss...": the space between date and time (byte 10) becomes a T
    offsets = np.frombuffer(texts.buffers()[1], np.int64)[: len(texts) + 1]
    utf8 = np.frombuffer(texts.buffers()[2], np.uint8)[: offsets[-1]].copy()
    starts = offsets[:-1][np.diff(offsets) > 10]
    if texts.offset or not (utf8[starts + 10] == ord(" ")).all():  # another layout
        return pc.replace_substring(texts, " ", "T", max_replacements=1)
    utf8[starts + 10] = ord("T")
    nulls = texts.buffers()[0]
    return pa.LargeStringArray.from_buffers(
        len(texts), pa.py_buffer(offsets), pa.py_buffer(utf8), nulls
    )


# --- reading ---------------------------------------------------------------------------------

_TEXT_TYPES = {str, type(None)}
_JSON_TYPES: dict[str, set[type]] = {"b": {bool}, "i": {int}, "u": {int}, "f": {float, int}}


def _typed(values: list, dtype: np.dtype) -> np.ndarray:
    """`values` as an array of numpy `dtype`; values of another JSON type are an error."""
    types = _JSON_TYPES[dtype.kind]
    if not set(map(type, values)) <= types:
        bad = next(v for v in values if type(v) not in types)
        raise ValueError(f"a {dtype} column holds {bad!r}")
    try:
        return np.array(values, dtype=dtype)
    except OverflowError as exc:
        raise ValueError(f"a {dtype} column holds a value out of range ({exc})") from None


def decode_values(values: list, spec: str) -> Any:
    """An array of dtype `spec` from the JSON data written by :func:`encode_values`."""
    kind, dtype = dtype_from_spec(spec)
    if not isinstance(values, list):
        raise ValueError(f"values must be a list, not {type_name(values)}")
    if kind == "number":
        return _typed(values, dtype)
    if kind == "object":
        return np.fromiter(values, dtype=object, count=len(values))
    if kind == "string":
        if not set(map(type, values)) <= _TEXT_TYPES:
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
    if not set(map(type, values)) <= _TEXT_TYPES:
        raise ValueError("a time column holds values that are not text")
    if kind == "datetime":
        return np.array(values, dtype=dtype)
    naive = np.array(
        [v[:-1] if v is not None and v.endswith("Z") else v for v in values],
        dtype=f"datetime64[{dtype.unit}]",
    )
    return pd.DatetimeIndex(naive).tz_localize("UTC").tz_convert(dtype.tz).array


def values_from_json(text: Any, spec: str, rows: int) -> Any:
    """An array of dtype `spec` and length `rows` from the JSON array `text` (bytes or a
    memoryview of them)."""
    kind, dtype = dtype_from_spec(spec)
    out = None
    if pa is not None and rows and len(text) > 1 and text[0] == ord("[") and text[-1] == ord("]"):
        if kind == "string" and isinstance(dtype, pd.StringDtype):
            texts = _split_strings(text, rows)
            out = None if texts is None else dtype.__from_arrow__(texts)
        elif kind == "number" and dtype.kind in "iuf":
            out = _parsed_numbers(text, rows, dtype)
    if out is None:
        try:
            values = json.loads(bytes(text))
        except UnicodeDecodeError as exc:
            raise ValueError(f"the file is not UTF-8 ({exc})") from None
        out = decode_values(values, spec)
    if len(out) != rows:
        raise ValueError(f"a column holds {len(out)} values, not {rows}")
    return out


def _split(text: Any, sep: str) -> Any:
    """The parts of `text` (bytes-like, not copied) between the `sep`, in pyarrow."""
    offsets = pa.py_buffer(np.array([0, len(text)], np.int64))
    whole = pa.Array.from_buffers(pa.large_binary(), 1, [None, offsets, pa.py_buffer(text)])
    return pc.split_pattern(whole, sep).flatten()


def _parsed_numbers(text: Any, rows: int, dtype: np.dtype) -> Any:
    """The ints or floats of a JSON array of numbers parsed by pyarrow, or None for any
    other array (left to :mod:`json`, which names the value that is no number)."""
    parts = _split(text[1:-1], ", ")
    if len(parts) != rows:
        return None
    try:
        if dtype.kind == "f":  # NaN, Infinity, -Infinity too; as float64, as json reads them
            floats = pc.cast(parts, pa.float64()).to_numpy(zero_copy_only=False, writable=True)
            return floats.astype(dtype, copy=False)
        ints = pc.cast(parts, pa.from_numpy_dtype(dtype))
        return ints.to_numpy(zero_copy_only=False, writable=True)
    except pa.ArrowException:  # pyarrow.ArrowInvalid, or ArrowNotImplementedError
        return None


def _split_strings(text: Any, rows: int) -> Any:
    """The strings of a JSON array of `rows` strings without escapes (and without null)
    as a pyarrow array, or None for any other array (left to :mod:`json`)."""
    utf8 = np.frombuffer(text, np.uint8)
    if utf8[1] != ord('"') or utf8[-2] != ord('"') or utf8.min() < 0x20:
        return None  # JSON has no raw control characters
    if np.count_nonzero(utf8 == ord('"')) != 2 * rows or (utf8 == ord("\\")).any():
        return None
    # no quote within a string: each '", "' ends one and starts the next
    parts = _split(text[2:-2], '", "')
    if len(parts) != rows:
        return None
    try:
        return pc.cast(parts, pa.large_string())
    except pa.ArrowInvalid:  # not UTF-8
        return None
