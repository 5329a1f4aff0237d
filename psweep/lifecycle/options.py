"""What run_local accepts: its arguments and psets, checked before anything happens."""

from __future__ import annotations

import logging
import os
import pickle
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from psweep.errors import PsweepParamsError
from psweep.lifecycle.execute import check_main_guard
from psweep.lifecycle.rows import COLUMNS_016, RESERVED_COLUMNS, STATUS_COLUMNS
from psweep.store.paths import PSWEEP_DIRNAME, RUNS_BASENAME, RUNS_JSON_BASENAME, StudyPaths

log = logging.getLogger("psweep")

#: The values of ``on_error``: ``"raise"`` stops the run at the first failed pset (after
#: saving what finished), ``"record"`` goes on and gives failed rows ``_pset_status`` and ``_exc``.
ON_ERROR_CHOICES = ("raise", "record")


class _NoFill:
    def __repr__(self) -> str:
        return "NO_FILL"


NO_FILL = _NoFill()  # run_local's default: psets reach func as given (psweep 0.7.0)


# columns psweep writes itself; a pset may not set them, except as a whole database row
_BOOKKEEPING = (
    frozenset(RESERVED_COLUMNS)
    | frozenset(COLUMNS_016)
    | frozenset(STATUS_COLUMNS)
    | {"_batch_status"}
)
_BOOKKEEPING_SHOWN = sorted(_BOOKKEEPING)
# a row read back from a database of any release (0.7.0, 0.16, ours) has these
_FROM_DATABASE = frozenset({"_run_id", "_pset_id", "_run_seq", "_pset_seq", "_calc_dir"})


def check_params(params: Iterable) -> list[dict]:
    if isinstance(params, dict) or not isinstance(params, Iterable):
        raise PsweepParamsError(
            f"params must be a list of psets (dicts), got {type(params).__name__}; "
            "for one pset use [pset]"
        )
    params = list(params)
    for pos, pset in enumerate(params):
        if not isinstance(pset, dict):
            raise PsweepParamsError(
                f"params[{pos}] is a {type(pset).__name__} ({pset!r:.100}), not a pset "
                "(dict); build params with plist/pgrid or as a list of dicts"
            )
        if _BOOKKEEPING.isdisjoint(pset):
            continue
        own = _BOOKKEEPING.intersection(pset)
        if _FROM_DATABASE.issubset(pset):
            # a row read back from a database (df.to_dict("records")): its bookkeeping
            # belongs to the old row, the new run makes its own
            params[pos] = {k: v for k, v in pset.items() if k not in _BOOKKEEPING}
        else:
            raise PsweepParamsError(
                f"params[{pos}] has the key {sorted(own)[0]!r}, a column that psweep fills in "
                f"itself ({', '.join(_BOOKKEEPING_SHOWN)}); rename that parameter. (Whole rows "
                "of a database, with all their bookkeeping columns, are fine as psets.)"
            )
    return params


def check_options(
    func: Callable,
    poolsize: Any,
    dask_client: Any,
    on_error: Any,
    calc_dir: Any,
    database_basename: Any,
    database_dir: Any,
    lock_timeout_s: Any,
) -> None:
    """Raise :class:`PsweepParamsError` (or TypeError for `func`) for an argument of
    run_local that cannot work, naming the value and what would be valid."""
    if not callable(func):
        raise TypeError(f"func must be callable, got {type(func).__name__}: {func!r}")
    if on_error not in ON_ERROR_CHOICES:
        raise PsweepParamsError(
            f"on_error={on_error!r} is not valid; choose one of {', '.join(ON_ERROR_CHOICES)}"
        )
    _check_workers(poolsize, dask_client)
    _check_calc_dir(calc_dir)
    _check_database_basename(database_basename, calc_dir, database_dir)
    if not isinstance(lock_timeout_s, int | float) or lock_timeout_s < 0:
        raise PsweepParamsError(f"lock_timeout_s must be a number >= 0, got {lock_timeout_s!r}")
    if poolsize is not None:
        _check_sendable(func, poolsize)


def _check_workers(poolsize: Any, dask_client: Any) -> None:
    """`poolsize` a whole number >= 1 or None; `dask_client` a Client, not with `poolsize`."""
    if poolsize is not None and (
        isinstance(poolsize, bool) or not isinstance(poolsize, int) or poolsize < 1
    ):
        raise PsweepParamsError(
            f"poolsize must be None (serial) or a whole number >= 1, got {poolsize!r}"
        )
    if dask_client is None:
        return
    if poolsize is not None:
        raise PsweepParamsError(
            f"use either poolsize (got {poolsize!r}) or dask_client, not both; "
            "the dask cluster decides how many workers run"
        )
    if not all(hasattr(dask_client, a) for a in ("submit", "scatter", "scheduler_info")):
        raise PsweepParamsError(
            f"dask_client must be a dask.distributed Client, got {type(dask_client).__name__}"
        )


def _check_calc_dir(calc_dir: Any) -> None:
    """`calc_dir` a non-empty path that is a folder or not there yet."""
    if not isinstance(calc_dir, str | os.PathLike) or not os.fspath(calc_dir).strip():
        raise PsweepParamsError(f"calc_dir must be a non-empty path, got {calc_dir!r}")
    if os.path.exists(calc_dir) and not os.path.isdir(calc_dir):
        raise PsweepParamsError(
            f"calc_dir {os.fspath(calc_dir)!r} exists and is not a directory; "
            "move the file away or choose another calc_dir"
        )


def _check_database_basename(database_basename: Any, calc_dir: Any, database_dir: Any) -> None:
    """`database_basename` a plain file name, none of psweep's own, and no folder on disk."""
    if (
        not isinstance(database_basename, str)
        or not database_basename.strip()
        or os.sep in database_basename
    ):
        raise PsweepParamsError(
            f"database_basename must be a file name without folders, got {database_basename!r}"
        )
    if database_basename in (".", "..", PSWEEP_DIRNAME, RUNS_BASENAME, RUNS_JSON_BASENAME) or (
        os.altsep and os.altsep in database_basename
    ):
        raise PsweepParamsError(
            f"database_basename {database_basename!r} is taken: '.' and '..' are folders, "
            f"{PSWEEP_DIRNAME!r} holds psweep's journals and locks, {RUNS_BASENAME!r} and "
            f"{RUNS_JSON_BASENAME!r} its table of runs; choose another file name (e.g. "
            "database.pk)"
        )
    target = StudyPaths(calc_dir, database_basename, database_dir).database
    if os.path.isdir(target):
        raise PsweepParamsError(
            f"database_basename {database_basename!r}: {target!r} is a folder, not a database "
            "file; choose another file name"
        )


def _check_sendable(func: Callable, poolsize: int) -> None:
    """With a pool, `func` must pickle and the script must guard its main code."""
    try:
        pickle.dumps(func)
    except Exception as exc:
        raise PsweepParamsError(
            f"poolsize={poolsize} sends func to worker processes, but {func!r} "
            f"cannot be pickled ({exc}); define it with def at module level"
        ) from exc
    check_main_guard(poolsize)


def check_verbose(verbose: Any) -> None:
    if verbose is None or isinstance(verbose, bool):
        return
    if isinstance(verbose, str) or not isinstance(verbose, Sequence):
        raise PsweepParamsError(
            f"verbose must be True, False or a list of column names, got {verbose!r}"
        )


def fill_template(params: list[dict], fill_value: Any) -> dict | None:
    """The keys of all psets in first-seen order, each with `fill_value`; None if all
    psets have the same keys (then nothing needs filling)."""
    if not params:
        return None
    first = params[0].keys()
    if all(p.keys() == first for p in params):
        return None
    keys: dict = {}
    for pset in params:
        keys.update(dict.fromkeys(pset))
    return dict.fromkeys(keys, fill_value)


def check_timeout(timeout_s: Any, poolsize: int | None, dask_client: Any) -> None:
    if timeout_s is None:
        return
    if isinstance(timeout_s, bool) or not isinstance(timeout_s, int | float) or timeout_s <= 0:
        raise PsweepParamsError(f"timeout_s must be None or a number > 0, got {timeout_s!r}")
    if poolsize is None and dask_client is None:
        raise PsweepParamsError(
            f"timeout_s={timeout_s!r} needs poolsize or dask_client: a pset that overruns is "
            "stopped in its worker process (poolsize=1 runs one pset at a time)"
        )
