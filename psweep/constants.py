"""Module constants of psweep 0.7.0 and 0.16, for scripts that use them.

psweep's own defaults are the arguments' defaults (``calc_dir="calc"``, ...);
these names give the same values to scripts written for earlier releases.
"""

from __future__ import annotations

import os
from typing import Any

from psweep.store.paths import DATABASE_BASENAME

__all__ = [
    "CALC_DIR",
    "DATABASE_BASENAME",
    "FILL_VALUE",
    "GIT_ADD_ALL",
    "PANDAS_DEFAULT_ORIENT",
    "PANDAS_TIME_UNIT",
    "PSET_HASH_ALG",
    "pj",
]

pj = os.path.join
PANDAS_DEFAULT_ORIENT = "records"
PANDAS_TIME_UNIT = "s"
PSET_HASH_ALG = "sha1"
GIT_ADD_ALL = "git add -A -v"
CALC_DIR = "calc"
FILL_VALUE: Any  # pandas' NA, given by __getattr__


def __getattr__(name: str) -> Any:
    """``FILL_VALUE`` (pandas' NA), which alone needs pandas: imported when it is used, not
    with CALC_DIR (psweep status, batch layout)."""
    if name == "FILL_VALUE":
        import pandas as pd

        return pd.NA
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
