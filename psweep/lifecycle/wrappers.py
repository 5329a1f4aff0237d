"""psweep 0.16's per-pset wrappers, for scripts that call them directly.

:func:`psweep.run` does not use them (its executors do the same work in bulk);
they give a script the row of one pset as 0.16 builds it.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence

import pandas as pd

from psweep.lifecycle.capture import capture, check_capture_logs
from psweep.lifecycle.execute import EXEC_HOST
from psweep.store.database import df_print

__all__ = ["capture_logs_wrapper", "func_wrapper"]

_NEEDED = ("_pset_id", "_run_id", "_calc_dir")


def func_wrapper(
    pset: dict,
    func: Callable[[dict], dict],
    *,
    tmpsave: bool = False,
    verbose: bool | Sequence[str] = False,
    simulate: bool = False,
) -> dict:
    """Run `func` on one pset that has its ids already; return the pset with the results.

    Adds ``_time_utc``, ``_exec_host`` and ``_pset_runtime``; `tmpsave` pickles
    the row dict to ``<_calc_dir>/tmpsave/<_run_id>/<_pset_id>.pk``.
    """
    missing = [key for key in _NEEDED if key not in pset]
    if missing:
        raise KeyError(f"func_wrapper(): the pset lacks {missing}; it needs {list(_NEEDED)}")
    pset = dict(pset)
    pset["_time_utc"] = pd.Timestamp(time.time(), unit="s")
    pset["_exec_host"] = EXEC_HOST
    if verbose is True:
        shown = {k: v for k, v in pset.items() if not str(k).startswith("_")}
        df_print(pd.DataFrame([shown], index=[pset["_time_utc"]]), index=True)
    elif verbose:
        if isinstance(verbose, str) or not isinstance(verbose, Sequence):
            raise ValueError(f"verbose must be a bool or a list of columns, got {verbose!r}")
        df_print(pd.DataFrame([pset], index=[pset["_time_utc"]]), cols=list(verbose), index=True)
    t0 = time.perf_counter()
    if not simulate:
        ret = func(pset)
        if not isinstance(ret, dict):
            raise TypeError(f"func must return a dict, got {type(ret).__name__}: {ret!r:.200}")
        pset.update(ret)
    pset["_pset_runtime"] = time.perf_counter() - t0
    if tmpsave:
        from psweep.store.files import pickle_write

        fn = os.path.join(pset["_calc_dir"], "tmpsave", pset["_run_id"], f"{pset['_pset_id']}.pk")
        pickle_write(fn, pset)
    return pset


def capture_logs_wrapper(
    pset: dict, func: Callable[[dict], dict], capture_logs: str, db_field: str = "_logs"
) -> dict:
    """Call ``func(pset)`` capturing what it prints (``"db"``, ``"file"``, ``"db+file"``).

    Returns func's dict, with the text under `db_field` for ``"db"`` modes;
    ``"file"`` modes write ``<_calc_dir>/<_pset_id>/logs.txt``. Output of
    subprocesses is caught too.
    """
    mode = check_capture_logs(capture_logs)
    if mode is None:
        raise ValueError("capture_logs_wrapper(): capture_logs must be 'db', 'file' or 'db+file'")
    with capture(mode, pset["_calc_dir"], pset["_pset_id"]) as logs:
        ret = func(pset)
    if "db" in mode:
        ret = {**ret, db_field: logs.text}
    return ret
