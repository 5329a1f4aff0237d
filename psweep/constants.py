"""Module constants of psweep 0.7.0 and 0.16, for scripts that use them.

psweep's own defaults are the arguments' defaults (``calc_dir="calc"``, ...);
these names give the same values to scripts written for earlier releases.
"""

from __future__ import annotations

import os

import pandas as pd

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
FILL_VALUE = pd.NA
