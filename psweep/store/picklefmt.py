"""How psweep pickles a DataFrame: a plain pandas pickle, written without copies.

pandas pickles each text column (``str``, backed by pyarrow) by first copying it
into one contiguous array, and the pickler keeps every such copy until the end:
a database of a million rows took 1.5 s and 166 MiB more to write. And a column
that holds one value in every row (``_run_id``, ``_calc_dir``) was stored as a
million strings.

:func:`dump` pickles the same DataFrame with :class:`pickle.Pickler`'s
``reducer_override``: a text column is stored as its arrow data as it is, and
one with few distinct values as arrow's dictionary encoding of it (the distinct
values once, plus a small integer per row). Both are rebuilt on load by pandas
and pyarrow functions (``pandas.array(..., "str")``, ``pyarrow.compute.cast``),
so ``pd.read_pickle`` reads the file without psweep, into the same frame: the
same values, dtypes, index and names. The index of a database, which holds the
same ids as its ``_pset_id`` column, is stored once.
"""

from __future__ import annotations

import pickle
from typing import IO, Any

import numpy as np
import pandas as pd

__all__ = ["dump"]

_SAMPLE = 1000  # values looked at to guess whether a column has few distinct values
_FEW = 100  # distinct values in the sample that make dictionary encoding worth a try


def dump(df: pd.DataFrame, fh: IO[bytes], **kwds: Any) -> None:
    """Pickle `df` into the open binary file `fh`; `kwds` as for :func:`pickle.dump`."""
    kwds.setdefault("protocol", pickle.HIGHEST_PROTOCOL)
    _Pickler(fh, **kwds).dump(_index_shares_ids(df))


class _Call:
    """Pickles as the call ``func(*args)``, made when the pickle is loaded."""

    def __init__(self, func: Any, *args: Any) -> None:
        self.func, self.args = func, args

    def __reduce__(self) -> tuple:
        return self.func, self.args


class _Pickler(pickle.Pickler):
    def reducer_override(self, obj: Any) -> Any:
        if type(obj) is not pd.arrays.ArrowStringArray or obj.dtype != _STR:
            return NotImplemented
        try:
            return pd.array, (_text_data(obj), "str")
        except Exception:  # an array this cannot take apart: pandas' own way
            return NotImplemented


_STR = pd.StringDtype("pyarrow", na_value=np.nan)  # pandas' default "str"


def _text_data(values: Any) -> Any:
    """The arrow data of a ``str`` array, as it is, or dictionary encoded if its
    values repeat much (then rebuilt by a cast to text on load)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    data = pa.array(values)  # the array's own arrow data, no copy
    if len(data) < 4 * _FEW:
        return data
    first = data.chunk(0) if isinstance(data, pa.ChunkedArray) else data
    if pc.count_distinct(first.slice(0, _SAMPLE)).as_py() > _FEW:
        return data
    whole = data.combine_chunks() if isinstance(data, pa.ChunkedArray) else data
    encoded = pc.dictionary_encode(whole)
    if 4 * len(encoded.dictionary) > len(encoded):
        return data
    return _Call(pc.cast, encoded, whole.type)


def _index_shares_ids(df: pd.DataFrame) -> pd.DataFrame:
    """`df`, or a shallow copy whose index holds the very array of its ``_pset_id`` column
    where both hold the same ids (a database's index is its ``_pset_id``): a pickle
    then stores the ids once, not twice. The values, dtypes and names stay as they are."""
    if "_pset_id" not in df.columns or not df.columns.is_unique:
        return df
    ids = df["_pset_id"]
    if ids.dtype != df.index.dtype or not df.index.equals(pd.Index(ids.array)):
        return df
    out = df.copy(deep=False)
    out.index = pd.Index(out["_pset_id"].array, name=df.index.name, copy=False)
    return out
