"""Which of many texts (ids, hashes) are among many others, through arrow hash sets.

A database of a million rows has a million ``_pset_id`` and ``_pset_sha1``
values. pandas' ``isin`` on such text looks at each value it is given in a
Python loop, and a Python ``set`` of a million strings costs seconds and
hundreds of MiB. :func:`isin_text` asks pyarrow instead: one hash set of the
shorter side, the longer side run against it in C.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

__all__ = ["first_repeated", "isin_text"]


def _as_arrow(values: Any) -> Any:
    """`values` as a pyarrow large_string array (the arrays of pandas' ``str`` columns
    as they are), or None if they are not all text (NaN and None are nulls)."""
    import pyarrow as pa

    data = getattr(values, "array", values)  # a Series or an Index: its array
    try:
        arr = pa.array(data, from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError):
        return None
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks() if arr.num_chunks != 1 else arr.chunk(0)
    if pa.types.is_null(arr.type):  # only missing values
        return arr.cast(pa.large_string())
    if not (pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type)):
        return None
    return arr.cast(pa.large_string()) if pa.types.is_string(arr.type) else arr


def isin_text(values: Any, known: Any) -> np.ndarray:
    """For each of `values`, whether it is one of `known`: a bool array as long as
    `values`. Both are text (lists, arrays, Series or Indexes of str); a missing value
    (NaN, None) is never found. Other values are compared as Python objects."""
    import pyarrow.compute as pc

    have, want = _as_arrow(known), _as_arrow(values)
    if have is None or want is None:
        return _isin_objects(values, known)
    if len(have) > len(want):  # a hash set of the short side; the long one runs past it
        have = have.filter(pc.fill_null(pc.is_in(have, value_set=want, skip_nulls=True), False))
    found = pc.is_in(want, value_set=have, skip_nulls=True)
    return np.asarray(pc.fill_null(found, False), dtype=bool)


def first_repeated(values: Any) -> Any:
    """A value that `values` (text, such as the ids of new rows) holds more than once,
    or None if each is there once.

    pandas would answer by making a Python string of each value and keeping them in
    the index's cache (a million ids: 130 MiB); text of one length (ids, hashes) is
    sorted as fixed-width bytes instead, in arrow's own buffer."""
    arr = _as_arrow(values)
    if arr is not None and not arr.null_count and len(arr) > 1:
        offsets = np.frombuffer(arr.buffers()[1], dtype=np.int64)[
            arr.offset : arr.offset + len(arr) + 1
        ]
        width = int(offsets[1] - offsets[0])
        if width > 0 and (np.diff(offsets) == width).all():
            chars = np.frombuffer(
                arr.buffers()[2], dtype=f"S{width}", count=len(arr), offset=int(offsets[0])
            )
            ordered = np.sort(chars)
            same = ordered[1:] == ordered[:-1]
            return ordered[1:][same][0].decode("utf-8", "surrogateescape") if same.any() else None
    index = pd.Index(values)
    repeated = index[index.duplicated()]
    return repeated[0] if len(repeated) else None


def _isin_objects(values: Any, known: Any) -> np.ndarray:
    def present(value: Any) -> bool:
        return value is not None and value == value  # NaN is not equal to itself

    def hashable(value: Any) -> bool:
        try:
            hash(value)
        except TypeError:  # a list, a dict: no id, no hash, never found
            return False
        return present(value)

    have = {v for v in known if hashable(v)}
    return np.fromiter((hashable(v) and v in have for v in values), dtype=bool, count=len(values))
