"""UTC times as psweep keeps them, without pandas: the clock, and times read back from text.

The database's ``_time_utc`` and the runs table's ``start_utc`` and ``end_utc`` are
naive UTC times. :func:`utc_now` reads the clock for both (the runs table makes a pandas
Timestamp of it); :func:`parse_time` reads a time back from the ISO text that
``Timestamp.isoformat()`` wrote (``runs.json``), so that ``psweep status`` can compute
with it without importing pandas.
"""

from __future__ import annotations

import re
from datetime import datetime, timezone
from typing import Any

__all__ = ["is_missing", "parse_time", "utc_now"]

_BEYOND_MICROSECONDS = re.compile(r"(\.\d{6})\d+")


def utc_now() -> datetime:
    """The current UTC time, naive (no tzinfo), to the microsecond."""
    return datetime.now(timezone.utc).replace(tzinfo=None)


def is_missing(value: Any) -> bool:
    """Whether `value` is no value: None, NaN, or pandas' NaT (each unequal to itself)."""
    if value is None:
        return True
    try:
        return bool(value != value)
    except (TypeError, ValueError):  # pandas' NA has no truth value: it is not NaN
        return False


def parse_time(value: Any) -> datetime | None:
    """`value` as a datetime: a datetime (a pandas Timestamp stays one) as it is, ISO text
    (``2026-12-05T08:20:35.123456``, as ``isoformat()`` writes it) read; None for a
    missing value (:func:`is_missing`) or empty text.

    Raises ValueError for text that is no ISO time and TypeError for other values.
    Digits beyond the microsecond are dropped (a datetime has none).

    Examples
    --------
    >>> parse_time("2026-12-05T08:20:35.123456")
    datetime.datetime(2026, 12, 5, 8, 20, 35, 123456)
    >>> parse_time(None) is None
    True
    """
    if is_missing(value):
        return None
    if isinstance(value, datetime):
        return value
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return None
        text = _BEYOND_MICROSECONDS.sub(r"\1", text)
        return datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith("Z") else text)
    raise TypeError(f"a time must be a datetime or ISO text, got {type(value).__name__}")
