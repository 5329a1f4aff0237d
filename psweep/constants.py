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

#: ``os.path.join``, as psweep 0.7.0 names it.
pj = os.path.join
#: The ``orient`` of ``df_to_json`` and JSON databases: one object per row.
PANDAS_DEFAULT_ORIENT = "records"
#: The unit of times in JSON databases of psweep 0.7.0 (seconds).
PANDAS_TIME_UNIT = "s"
#: The hash algorithm of :func:`psweep.pset_hash` (the ``_pset_sha1`` column).
PSET_HASH_ALG = "sha1"
#: The command of psweep 0.7.0 that adds a study's files to git before a commit.
GIT_ADD_ALL = "git add -A -v"
#: The study folder of a run by default.
CALC_DIR = "calc"
#: What ``ps.run`` (psweep 0.16) gives a pset for a parameter other psets have and it
#: lacks: pandas' ``pd.NA`` (imported only when used).
FILL_VALUE: Any  # pandas' NA, given by __getattr__


def __getattr__(name: str) -> Any:
    """``FILL_VALUE`` (pandas' NA), which alone needs pandas: imported when it is used, not
    with CALC_DIR (psweep status, batch layout)."""
    if name == "FILL_VALUE":
        import pandas as pd

        return pd.NA
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
