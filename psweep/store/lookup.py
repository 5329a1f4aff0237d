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

__all__ = ["TextSet", "first_repeated", "isin_text"]


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


class TextSet:
    """The texts `known` (a database's hashes), to ask of many values in turn which are
    among them: skip_dups asks so of a million psets' hashes, a chunk at a time.

    Text of one width (hashes) is kept as a sorted array of 64-bit keys of its
    characters, in arrow's buffer as it is: a few MiB for a million hashes, where a
    hash set takes a hundred. A key found is checked character by character, so a
    value is found exactly when it is one of `known`. Other text takes arrow's hash
    sets (:func:`isin_text`).
    """

    def __init__(self, known: Any) -> None:
        self._known = known
        arr = _as_arrow(known)
        rows = _fixed_rows(arr) if arr is not None else None
        self._chars = None
        if rows is not None and len(rows[0]):
            self._chars = rows[0]
            keys = _keys(self._chars)
            order = np.argsort(keys, kind="stable")
            keys = keys[order]
            # a text known twice (a pset that ran twice) once: equal keys are then
            # (almost) only texts that are the same
            again = np.flatnonzero(keys[1:] == keys[:-1]) + 1
            same = (self._chars[order[again]] == self._chars[order[again - 1]]).all(axis=1)
            keep = np.ones(len(keys), dtype=bool)
            keep[again[same]] = False
            self._order, self._keys = order[keep], keys[keep]

    def contains(self, values: Any) -> np.ndarray:
        """For each of `values`, whether it is one of the known texts (missing: never)."""
        if self._chars is None:
            return isin_text(values, self._known)
        arr = _as_arrow(values)
        rows = _fixed_rows(arr) if arr is not None else None
        if rows is None or (len(rows[0]) and rows[0].shape[1] != self._chars.shape[1]):
            return isin_text(values, self._known)
        chars, where = rows
        found = np.zeros(len(arr), dtype=bool)
        if len(chars) == 0:  # all missing
            return found
        keys = _keys(chars)
        lo = np.searchsorted(self._keys, keys, "left")
        hi = np.searchsorted(self._keys, keys, "right")
        one = np.flatnonzero(hi - lo == 1)
        same = (self._chars[self._order[lo[one]]] == chars[one]).all(axis=1)
        found[where[one[same]]] = True
        for k in np.flatnonzero(hi - lo > 1):  # keys shared by several known texts: rare
            candidates = self._chars[self._order[lo[k] : hi[k]]]
            found[where[k]] = bool((candidates == chars[k]).all(axis=1).any())
        return found


def _fixed_rows(arr: Any) -> tuple[np.ndarray, np.ndarray] | None:
    """The characters (bytes) of the texts in `arr` that are there, as an (n, width)
    array, and where each is in `arr`; None unless all have one width of 16 or more."""
    import pyarrow.compute as pc

    where = np.flatnonzero(~np.asarray(arr.is_null().to_numpy(zero_copy_only=False)))
    if len(where) < len(arr):
        arr = arr.filter(pc.is_valid(arr))
    if len(arr) == 0:
        return np.zeros((0, 16), dtype=np.uint8), where
    offsets = np.frombuffer(arr.buffers()[1], dtype=np.int64)[
        arr.offset : arr.offset + len(arr) + 1
    ]
    width = int(offsets[1] - offsets[0])
    if width < 16 or not (np.diff(offsets) == width).all():
        return None
    data = np.frombuffer(
        arr.buffers()[2], dtype=np.uint8, count=width * len(arr), offset=int(offsets[0])
    )
    return data.reshape(len(arr), width), where


def _keys(chars: np.ndarray) -> np.ndarray:
    """A 64-bit key of all the characters of each row (equal rows: equal keys)."""
    n, width = chars.shape
    if width % 8:
        chars = np.concatenate([chars, np.zeros((n, 8 - width % 8), dtype=np.uint8)], axis=1)
    words = np.ascontiguousarray(chars).view("<u8")
    key = np.zeros(n, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for j in range(words.shape[1]):
            key = (key ^ words[:, j]) * np.uint64(0x9E3779B97F4A7C15)
        return key ^ (key >> np.uint64(29))


def first_repeated(values: Any) -> Any:
    """A value that `values` (text, such as the ids of new rows) holds more than once,
    or None if each is there once.

    pandas would answer by making a Python string of each value and keeping them in
    the index's cache (a million ids: 130 MiB). Text of one width (ids, hashes) is
    looked at in arrow's buffer instead: its 64-bit keys sorted, and the characters
    of neighbours with equal keys compared."""
    arr = _as_arrow(values)
    rows = _fixed_rows(arr) if arr is not None and not arr.null_count else None
    if rows is not None and len(rows[0]) > 1:
        chars = rows[0]
        keys = _keys(chars)
        order = np.argsort(keys, kind="stable")
        keys = keys[order]
        again = np.flatnonzero(keys[1:] == keys[:-1]) + 1
        same = (chars[order[again]] == chars[order[again - 1]]).all(axis=1)
        if same.any():
            return bytes(chars[order[again[same][0]]]).decode("utf-8", "surrogateescape")
        if not len(again):
            return None
        # keys equal, texts not (a 64-bit collision, all but never): ask pandas
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
