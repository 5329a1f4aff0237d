"""Run a function over params and keep the results in the database."""

from __future__ import annotations

import functools
import logging
import math
import multiprocessing
import os
import pickle
import shutil
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import pandas as pd

from .database import df_print, df_read, df_write
from .errors import PsweepError, PsweepParamsError
from .hashing import pset_hash
from .vcs import git_commit_all, git_repo, git_require_identity

__all__ = ["RESERVED_COLUMNS", "PsweepFuncError", "run", "run_local"]

log = logging.getLogger("psweep")

RESERVED_COLUMNS = (
    "_run_id",
    "_pset_id",
    "_run_seq",
    "_pset_seq",
    "_pset_sha1",
    "_pset_runtime",
    "_calc_dir",
    "_time_utc",
)


class PsweepFuncError(PsweepError, TypeError):
    """`func` returned something other than a dict."""


@dataclass(frozen=True)
class _Job:
    """What a worker needs besides the pset; pickled once per pool task chunk."""

    func: Callable
    run_id: str
    run_seq: int
    calc_dir: str
    simulate: bool
    tmpsave: bool
    verbose: bool | Sequence[str]


def _describe(pset: dict) -> str:
    public = {k: v for k, v in pset.items() if not (isinstance(k, str) and k.startswith("_"))}
    text = repr(public)
    if len(text) > 500:
        text = text[:500] + "...}"
    return f"pset {text} (_pset_seq={pset.get('_pset_seq')}, _pset_id={pset.get('_pset_id')})"


def _run_one(job: _Job, task: tuple[dict, str, int]) -> dict:
    """Call ``job.func`` on one pset and return its database row."""
    pset, pset_id, pset_seq = task
    start_ns = time.time_ns()
    specials = {
        "_run_id": job.run_id,
        "_pset_id": pset_id,
        "_run_seq": job.run_seq,
        "_pset_seq": pset_seq,
        "_pset_sha1": pset_hash(pset, raise_error=False),
        "_calc_dir": job.calc_dir,
    }
    full = {**pset, **specials, "_time_utc": pd.Timestamp(start_ns, unit="ns")}
    if job.verbose:
        _print_row(full, job.verbose)
    t0 = time.perf_counter()
    if job.simulate:
        ret: Any = {}
    else:
        try:
            ret = job.func(full)
        except Exception as exc:
            note = f"psweep: raised by func for {_describe(full)}"
            if hasattr(exc, "add_note"):  # Python >= 3.11
                exc.add_note(note)
            else:
                log.error(note)
            raise
    runtime = time.perf_counter() - t0
    if not isinstance(ret, dict):
        raise PsweepFuncError(
            f"func must return a dict (may be empty), got {type(ret).__name__} "
            f"{ret!r:.200} for {_describe(full)}"
        )
    row = {**pset, **specials, "_time_utc": start_ns}
    row.update((k, v) for k, v in ret.items() if k not in specials and k != "_time_utc")
    row["_pset_runtime"] = runtime
    if job.tmpsave:
        df_write(
            _rows_to_df([row]),
            os.path.join(job.calc_dir, "tmpsave", job.run_id, f"{pset_id}.pk"),
        )
    return row


def _print_row(row: dict, verbose: bool | Sequence[str]) -> None:
    df = pd.DataFrame([row], index=[row["_time_utc"]])
    if verbose is True:
        df_print(df, index=True, special_cols=True)
    else:
        df_print(df, cols=list(verbose), index=True)


def _rows_to_df(rows: list[dict]) -> pd.DataFrame:
    df = pd.DataFrame(rows)
    if len(df) == 0:
        return df
    df["_time_utc"] = pd.to_datetime(df["_time_utc"].to_numpy(dtype="int64"), unit="ns")
    df.index = pd.Index(df["_pset_id"].to_numpy())
    return df


def _append(df_old: pd.DataFrame, df_new: pd.DataFrame) -> pd.DataFrame:
    """Append rows, keeping the dtypes of existing columns where lossless."""
    if len(df_old) == 0:
        return df_new
    if len(df_new) == 0:
        return df_old
    out = pd.concat([df_old, df_new], sort=False)
    for col in df_old.columns:
        old_dtype = df_old[col].dtype
        if out[col].dtype == old_dtype:
            continue
        try:
            cast = out[col].astype(old_dtype)
            lossless = cast.astype(out[col].dtype).equals(out[col])
        except (TypeError, ValueError, OverflowError):
            continue
        if lossless:
            out[col] = cast
    return out


def _check_params(params: Iterable) -> list[dict]:
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
    return params


def _check_options(func: Callable, poolsize: int | None, calc_dir: Any) -> None:
    if not callable(func):
        raise TypeError(f"func must be callable, got {type(func).__name__}: {func!r}")
    if poolsize is not None and (
        isinstance(poolsize, bool) or not isinstance(poolsize, int) or poolsize < 1
    ):
        raise PsweepParamsError(
            f"poolsize must be None (serial) or a whole number >= 1, got {poolsize!r}"
        )
    if not isinstance(calc_dir, str | os.PathLike) or not os.fspath(calc_dir).strip():
        raise PsweepParamsError(f"calc_dir must be a non-empty path, got {calc_dir!r}")
    if os.path.exists(calc_dir) and not os.path.isdir(calc_dir):
        raise PsweepParamsError(
            f"calc_dir {os.fspath(calc_dir)!r} exists and is not a directory; "
            "move the file away or choose another calc_dir"
        )
    if poolsize is not None:
        try:
            pickle.dumps(func)
        except Exception as exc:
            raise PsweepParamsError(
                f"poolsize={poolsize} sends func to worker processes, but {func!r} "
                f"cannot be pickled ({exc}); define it with def at module level"
            ) from exc


def _seq_start(df: pd.DataFrame) -> tuple[int, int]:
    if len(df) == 0:
        return 0, 0
    missing = [c for c in ("_run_seq", "_pset_seq") if c not in df.columns]
    if missing:
        raise PsweepParamsError(
            f"the database to append to has no column(s) {missing}; pass a "
            "DataFrame made by run_local (or df=None)"
        )
    return int(df["_run_seq"].max()) + 1, int(df["_pset_seq"].max()) + 1


def _backup(calc_dir: str, df: pd.DataFrame) -> str | None:
    if not os.path.isdir(calc_dir):
        return None
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")
    last = str(df["_run_id"].iloc[-1]) if len(df) and "_run_id" in df.columns else "none"
    dst = f"{calc_dir}.bak_{stamp}Z_run_id_{last}"
    shutil.copytree(calc_dir, dst, symlinks=True)
    log.info("backup: %s -> %s", calc_dir, dst)
    return dst


def _prepare_simulate(calc_dir: str, db_name: str, save: bool) -> str:
    sim_dir = f"{calc_dir}.simulate"
    if not save:
        return sim_dir
    if os.path.isdir(sim_dir):
        shutil.rmtree(sim_dir)
    os.makedirs(sim_dir)
    src = os.path.join(calc_dir, db_name)
    if os.path.exists(src):
        shutil.copy2(src, os.path.join(sim_dir, db_name))
    else:
        log.warning("simulate: no database %s yet, starting a new one in %s", src, sim_dir)
    return sim_dir


def _execute(job: _Job, tasks: list, poolsize: int | None) -> Iterator[dict]:
    call = functools.partial(_run_one, job)
    if poolsize is None:
        yield from map(call, tasks)
        return
    chunksize = max(1, math.ceil(len(tasks) / (poolsize * 8)))
    with multiprocessing.Pool(poolsize) as pool:
        yield from pool.imap(call, tasks, chunksize=chunksize)


def run_local(
    func: Callable[[dict], dict],
    params: Sequence[dict],
    df: pd.DataFrame | None = None,
    poolsize: int | None = None,
    save: bool = True,
    tmpsave: bool = False,
    verbose: bool | Sequence[str] = False,
    calc_dir: str = "calc",
    simulate: bool = False,
    database_basename: str = "database.pk",
    backup: bool = False,
    git: bool = False,
    database_dir: str | None = None,
) -> pd.DataFrame:
    """Call `func` on every pset in `params` and return the database.

    One call is one *run*: it gets a new ``_run_id``; each pset gets a new
    ``_pset_id``. `func` receives the pset plus the reserved fields
    (``_run_id``, ``_pset_id``, ``_calc_dir``, ...) and returns a dict that is
    merged into the pset's row.

    Parameters
    ----------
    func
        Called as ``func(pset)``; returns a dict (may be empty).
    params
        The psets (dicts) to run.
    df
        Database to append to. ``None`` or an empty DataFrame reads
        ``<calc_dir>/<database_basename>`` if it exists.
    poolsize
        ``None`` runs serially; ``N`` runs in N worker processes (`func` must
        be defined at module level). Rows are the same either way.
    save
        Write the database to ``<calc_dir>/<database_basename>``. With
        ``False`` nothing at all is written.
    tmpsave
        Also save each pset's row as ``<calc_dir>/tmpsave/<_run_id>/<_pset_id>.pk``
        as soon as it is done.
    verbose
        ``True`` prints each row as it starts; a list of column names prints
        only those.
    calc_dir
        Folder of the database and of files that `func` writes.
    simulate
        Dry run: copy only the database to ``<calc_dir>.simulate/`` and add
        the rows there without calling `func`; `calc_dir` is not touched.
    database_basename
        File name of the database inside `calc_dir`.
    backup
        Before running, copy `calc_dir` to
        ``<calc_dir>.bak_<UTC time>Z_run_id_<last _run_id>``.
    git
        Commit local changes before the run and the results after it, with
        the ``_run_id`` in each message. Needs a git repository.
    database_dir
        Folder of the database if not `calc_dir`.

    Returns
    -------
    pandas.DataFrame
        The whole database: the old rows and one new row per pset, indexed
        by ``_pset_id``.
    """
    _check_options(func, poolsize, calc_dir)
    params = _check_params(params)
    calc_dir = os.fspath(calc_dir)
    database_dir = calc_dir if database_dir is None else os.fspath(database_dir)
    run_id = str(uuid.uuid4())
    use_git = git and not simulate
    repo = None
    if use_git:
        repo = git_repo(".")
        git_require_identity(repo)
    elif git:
        log.info("simulate: git commits skipped")

    db_src = os.path.join(database_dir, database_basename)
    if simulate:
        sim_dir = _prepare_simulate(calc_dir, database_basename, save)
        calc_dir = database_dir = sim_dir
        if save:
            db_src = os.path.join(sim_dir, database_basename)
    database_fn = os.path.join(database_dir, database_basename)

    if df is None or len(df) == 0:
        df = df_read(db_src) if os.path.exists(db_src) else pd.DataFrame()
    run_seq, pset_seq0 = _seq_start(df)

    if repo is not None:
        name = os.path.basename(os.path.abspath("."))
        git_commit_all(repo, f"psweep: {name}: run_id={run_id}: local changes")
    if backup and not simulate:
        _backup(calc_dir, df)
    elif backup:
        log.info("simulate: backup skipped")

    job = _Job(func, run_id, run_seq, calc_dir, simulate, tmpsave, verbose)
    tasks = [(pset, str(uuid.uuid4()), pset_seq0 + ii) for ii, pset in enumerate(params)]
    rows: list[dict] = []
    try:
        rows.extend(_execute(job, tasks, poolsize))
    finally:
        if save and 0 < len(rows) < len(tasks):
            # func raised: keep what finished, the exception propagates
            df_write(_append(df, _rows_to_df(rows)), database_fn)
            log.warning(
                "run %s stopped after %d of %d psets; their rows are saved in %s",
                run_id,
                len(rows),
                len(tasks),
                database_fn,
            )

    df = _append(df, _rows_to_df(rows))
    if save:
        df_write(df, database_fn)
    if repo is not None:
        name = os.path.basename(os.path.abspath("."))
        git_commit_all(repo, f"psweep: {name}: run_id={run_id}")
    return df


run = run_local
