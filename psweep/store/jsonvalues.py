"""What a cell of an object column may be in the JSON database: plain JSON data that
reads back equal (see :mod:`psweep.store.jsonformat`), and the error for anything else."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

__all__ = ["Unstorable", "plain_objects", "type_name"]


class Unstorable(Exception):
    """Data the JSON database cannot keep; the message says what and where.

    From :func:`_plain`, ``args`` are the description and the offending value.
    """


def type_name(obj: Any) -> str:
    return type(obj).__name__


def _plain(value: Any) -> Any:
    """`value` as plain JSON data that reads back equal, or raise Unstorable."""
    cls = type(value)
    if cls is str or cls is float or cls is int or cls is bool or value is None:
        return value
    if cls is list:
        return [_plain(item) for item in value]
    if cls is dict:
        out = {}
        for key, item in value.items():
            if type(key) is not str:
                if type(key) is not np.str_:
                    raise Unstorable(f"a dict with a key of type {type_name(key)}", value)
                key = str(key)
            out[key] = _plain(item)
        return out
    if isinstance(value, np.generic):
        return _plain_numpy(value)
    raise Unstorable(f"a value of type {type_name(value)}", value)


def _plain_numpy(value: np.generic) -> Any:
    """A numpy scalar as the Python value it equals."""
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.str_):
        return str(value)
    if isinstance(value, np.floating):
        num = float(value)
        if type(value)(num) == value or (math.isnan(num) and np.isnan(value)):
            return num
        raise Unstorable(f"a {type_name(value)} that no float equals", value)
    raise Unstorable(f"a value of type {type_name(value)}", value)


def plain_objects(values: list, where: Any) -> list:
    """`values` of an object column or index as plain JSON data.

    `where(pos)` names the row of the value at position pos for the error.
    """
    out = list(values)
    for pos, value in enumerate(out):
        cls = type(value)
        if cls is str or cls is float or cls is int or cls is bool or value is None:
            continue
        try:
            out[pos] = _plain(value)
        except RecursionError:
            raise Unstorable(
                f"{where(pos)} holds a {type_name(value)} nested too deeply (or holding "
                "itself), which JSON cannot hold"
            ) from None
        except Unstorable as exc:
            what, bad = exc.args
            if bad is not value:
                what = f"a {type_name(value)} with {what} in it"
            raise Unstorable(
                f"{where(pos)} holds {what}, which JSON cannot hold faithfully"
            ) from None
    return out
