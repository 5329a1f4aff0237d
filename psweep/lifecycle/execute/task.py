"""What running one pset is: the :class:`Job` and :class:`Plan` of a run, and
:func:`run_task`, which calls `func` on one pset and returns its row's parts.

A :data:`Block` is what executors yield: lists aligned with each other, one
entry per finished pset (see :mod:`psweep.lifecycle.execute`).
"""

from __future__ import annotations

import copy
import logging
import os
import pickle
import signal
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
from pandas import Timestamp

from psweep.errors import PsweepFuncError
from psweep.host import HOST
from psweep.lifecycle.capture import LOGS_COLUMN, Captured, capture
from psweep.lifecycle.results import ResultBlock
from psweep.store.database import PLAIN_TYPES, df_print, unpicklable_item
from psweep.store.files import atomic_open

__all__ = ["EXEC_HOST", "Block", "Job", "Plan", "all_plain", "run_task"]

log = logging.getLogger("psweep")

Block = ResultBlock  # the finished psets an executor yields, in columns

# the host that runs psets in this process (on dask: the worker's)
EXEC_HOST = HOST

# State of a pool worker process, set by pool_worker._init_worker (run_task and
# serial._run_range read it). Under the fork start method the plan is inherited, not pickled.
_WORKER: dict[str, Any] = {}


@dataclass(frozen=True)
class Plan:
    """The psets of a run in order, and their hashes if already known.

    Ids and missing hashes are made where the psets run (in bulk per chunk),
    so that a pool of workers shares that work too.
    """

    psets: list
    sha1s: list | None = None

    def __len__(self) -> int:
        return len(self.psets)

    def part(self, start: int, stop: int) -> Plan:
        sha1s = None if self.sha1s is None else self.sha1s[start:stop]
        return Plan(self.psets[start:stop], sha1s)


@dataclass(frozen=True)
class Job:
    """Everything a worker needs besides the psets."""

    func: Callable
    run_id: str
    run_seq: int
    pset_seq0: int
    calc_dir: str
    simulate: bool
    tmpsave: bool
    verbose: bool | Sequence[str]
    record: bool
    journal_dir: str | None
    header: dict
    timeout_s: float | None = None
    capture_logs: str | None = None  # "db", "file", "db+file" (psweep.lifecycle.capture)
    host: str = EXEC_HOST  # the run's host: rows of psets that ran elsewhere say where
    extra: tuple[str, ...] = ()  # the 0.16 columns the rows get (assemble.extra_columns)
    api016: bool = False  # run by ps.run: tmpsave writes a row dict, as psweep 0.16
    copy_values: bool = True  # False if all values of the psets are plain (all_plain)
    # run_task's common case: func called as it is, nothing else to do (set from the above;
    # the host is not part of it: a dask worker on another host knows that only there)
    simple: bool = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        simple = not (self.extra or self.verbose or self.simulate or self.tmpsave) and (
            self.timeout_s is None and self.capture_logs is None
        )
        object.__setattr__(self, "simple", simple)


def _describe(pset: dict) -> str:
    public = {k: v for k, v in pset.items() if not (isinstance(k, str) and k.startswith("_"))}
    text = repr(public)
    if len(text) > 500:
        text = text[:500] + "...}"
    ident = f"_pset_seq={pset.get('_pset_seq')}"
    if pset.get("_pset_id") is not None:  # a pset whose worker died before it returned has none
        ident += f", _pset_id={pset['_pset_id']}"
    return f"pset {text} ({ident})"


def _print_row(row: dict, verbose: bool | Sequence[str]) -> None:
    row = {k: _printable(v) for k, v in row.items()}
    df = pd.DataFrame([row], index=[row["_time_utc"]])
    if isinstance(verbose, bool):  # True: run_task prints only if verbose
        df_print(df, index=True, special_cols=True)
    else:
        df_print(df, cols=list(verbose), index=True)


def _timestamp_maker() -> Callable[[int], Timestamp]:
    """``Timestamp(ns)`` for an int of ns since the epoch, made the cheap way if pandas has it.

    The constructor inspects its argument first (about 1 µs, a tenth of a trivial
    pset's cost); pandas' own maker of a Timestamp from an int takes half that. It is
    internal to pandas, so it is used only if it exists and makes exactly what the
    constructor makes (checked once here); else the constructor.
    """
    try:
        from pandas._libs.tslibs.dtypes import NpyDatetimeUnit

        make = Timestamp._from_value_and_reso  # type: ignore[attr-defined, unused-ignore]
        reso = NpyDatetimeUnit.NPY_FR_ns.value
        probe = time.time_ns()
        made, want = make(probe, reso, None), Timestamp(probe)
        if (
            made.__class__ is Timestamp
            and (made.value, made.unit, made.tz) == (want.value, want.unit, want.tz)
            and pickle.loads(pickle.dumps(made)) == want
        ):
            return lambda ns: make(ns, reso, None)
    except Exception:  # another pandas: the public way
        pass
    return Timestamp


_timestamp = _timestamp_maker()

# values func cannot change in place: given to it as they are, all others as a deep copy
_IMMUTABLE = PLAIN_TYPES


def all_plain(psets: Sequence[dict]) -> bool:
    """Whether every value of every pset is plain (immutable): then func can get the
    psets as they are, and a run need not look at each again (:attr:`Job.copy_values`)."""
    immutable = _IMMUTABLE
    return all(value.__class__ in immutable for pset in psets for value in pset.values())


def _own_values(pset: dict) -> dict:
    """`pset`, or a copy whose mutable values (lists, dicts, arrays) are deep copies.

    func may change what it gets (``pset["x"].append(...)``); in a pool it gets a
    copy anyway, serially it would change the pset that the run records, and its row
    would then no longer match its hash. Plain values are not copied (no cost)."""
    immutable = _IMMUTABLE
    for value in pset.values():
        if value.__class__ not in immutable:
            break
    else:
        return pset
    return {k: v if v.__class__ in immutable else _deepcopy(v) for k, v in pset.items()}


def _deepcopy(value: Any) -> Any:
    try:
        return copy.deepcopy(value)
    except Exception:  # a value that cannot be copied (a lock, a module): given as it is
        return value


def _printable(value: Any) -> Any:
    """Text with non-UTF-8 bytes (surrogate escapes) as ``\\udcXX``, to be printed."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return value.encode("utf-8", "backslashreplace").decode("utf-8")
    return value


def run_task(job: Job, pos: int, pset: dict, pset_id: str, sha1: Any) -> tuple:
    """Call ``job.func`` on one pset; return its row: the :class:`ResultRow` fields
    ``(pos, pset, pset_id, sha1, time_ns, runtime_s, ret, exc)`` as a plain tuple.

    func gets its own copy of the pset's mutable values (:func:`_own_values`).
    This is the hot path of a serial run (a few µs per pset): the common case
    (:attr:`Job.simple`) runs inline, all others in :func:`_run_task_fully`.
    """
    start_ns = time.time_ns()
    full = {
        **(_own_values(pset) if job.copy_values else pset),
        "_run_id": job.run_id,
        "_pset_id": pset_id,
        "_run_seq": job.run_seq,
        "_pset_seq": job.pset_seq0 + pos,
        "_pset_sha1": sha1,
        "_calc_dir": job.calc_dir,
        # the very value the database stores (psweep 0.7.0 and 0.16 pass a Timestamp too)
        "_time_utc": _timestamp(start_ns),
    }
    if not job.simple:
        return _run_task_fully(job, pos, pset, pset_id, sha1, start_ns, full)
    t0 = time.perf_counter()
    try:
        ret = job.func(full)
    except Exception as exc:
        if not job.record:
            _note_pset(exc, full)
            raise
        runtime = time.perf_counter() - t0
        return pos, pset, pset_id, sha1, start_ns, runtime, {}, traceback.format_exc()
    runtime = time.perf_counter() - t0
    ret, exc_text = _checked(job, full, ret)
    if job.host != EXEC_HOST:  # a dask worker on another host (known only where it runs)
        ret = _add_logs_and_host(job, ret, None)
    return pos, pset, pset_id, sha1, start_ns, runtime, ret, exc_text


def _checked(job: Job, full: dict, ret: Any) -> tuple[dict, str | None]:
    """``(ret, None)`` for a dict whose values all pickle (the rule); else ``({}, why)``
    (:func:`_refuse_ret`: an error unless ``job.record``)."""
    if ret.__class__ is not dict and not isinstance(ret, dict):
        return {}, _refuse_ret(job, full, ret, None)
    if ret and (bad := unpicklable_item(ret)) is not None:
        return {}, _refuse_ret(job, full, ret, bad)
    return ret, None


def _run_task_fully(
    job: Job, pos: int, pset: dict, pset_id: str, sha1: Any, start_ns: int, full: dict
) -> tuple:
    """:func:`run_task` for a job that is not simple: the 0.16 columns, printing,
    timeouts, log capture, a dry run, rows of another host, tmpsave."""
    if job.extra:
        full["_pset_hash"] = sha1
        full["_exec_host"] = EXEC_HOST
        if job.api016:  # ps.run: the columns of psweep 0.16, whose name of the hash this is
            del full["_pset_sha1"]
    if job.verbose:
        _print_row(full, job.verbose)
    t0 = time.perf_counter()
    ret, exc_text, logs = _call_guarded(job, full, pset_id)
    runtime = time.perf_counter() - t0
    if exc_text is None:
        ret, exc_text = _checked(job, full, ret)
    if logs is not None or job.host != EXEC_HOST:
        ret = _add_logs_and_host(job, ret, logs)
    if job.tmpsave:
        _tmpsave(job, pos, pset, pset_id, sha1, (start_ns, runtime, ret, exc_text))
    return pos, pset, pset_id, sha1, start_ns, runtime, ret, exc_text


def _call_guarded(job: Job, full: dict, pset_id: str) -> tuple[Any, str | None, Captured | None]:
    """``job.func(full)`` the rarer ways: not at all (``simulate``), under the alarm of
    ``timeout_s`` (in a pool worker), with the log capture that `job` asks for; return
    ``(ret, exc_text, logs)``.

    A failure is handled as in :func:`run_task`: raised unless ``job.record``. The logs
    are returned for a failed pset too: they say why.
    """
    if job.simulate:
        return {}, None, None
    alarm_s = job.timeout_s if "slot" in _WORKER else None  # SIGALRM: in a pool worker
    logs = None
    try:
        if alarm_s is not None:
            signal.setitimer(signal.ITIMER_REAL, alarm_s)
        try:
            if job.capture_logs is None:
                ret = job.func(full)
            else:
                with capture(job.capture_logs, job.calc_dir, pset_id) as logs:
                    ret = job.func(full)
        finally:
            if alarm_s is not None:
                signal.setitimer(signal.ITIMER_REAL, 0)
    except Exception as exc:
        if not job.record:
            _note_pset(exc, full)
            raise
        return {}, traceback.format_exc(), logs
    return ret, None, logs


def _note_pset(exc: Exception, full: dict) -> None:
    """Name the pset in the exception func raised, which the run then raises."""
    note = f"psweep: raised by func for {_describe(full)}"
    if hasattr(exc, "add_note"):  # Python >= 3.11
        exc.add_note(note)
    else:
        log.error(note)


def _refuse_ret(job: Job, full: dict, ret: Any, bad: tuple[Any, str] | None) -> str:
    """The failure text of a return value that is no dict, or whose item `bad` (key, why)
    cannot be stored (pickled); raise it as :class:`PsweepFuncError` unless ``job.record``."""
    if bad is None:
        err = PsweepFuncError(
            f"func must return a dict (may be empty), got {type(ret).__name__} "
            f"{ret!r:.200} for {_describe(full)}"
        )
    else:
        key, why = bad
        err = PsweepFuncError(
            f"func returned a value that cannot be stored: key {key!r} holds a "
            f"{type(ret[key]).__name__} that cannot be pickled ({why}); return plain data "
            f"(numbers, text, arrays) or write it to a file in _calc_dir, for {_describe(full)}"
        )
    if not job.record:
        raise err
    return f"{type(err).__name__}: {err}"


def _add_logs_and_host(job: Job, ret: dict, logs: Captured | None) -> dict:
    """`ret` with the captured logs (if kept in the database) and the host that ran it
    (a dask worker on another host than the run's)."""
    if logs is not None and "db" in (job.capture_logs or ""):
        ret = {**ret, LOGS_COLUMN: logs.text}  # also for a failed pset: its logs say why
    if job.host != EXEC_HOST and "_exec_host" in job.extra:
        ret = {**ret, "_exec_host": EXEC_HOST}  # a dask worker on another host
    return ret


def _tmpsave(job: Job, pos: int, pset: dict, pset_id: str, sha1: Any, res: tuple) -> None:
    from psweep.lifecycle.rows import rows_to_df
    from psweep.store.database import df_write
    from psweep.store.legacy import to_016_layout

    df = rows_to_df(
        [pos], [pset], [pset_id], [sha1], *([x] for x in res),
        run_id=job.run_id, run_seq=job.run_seq, pset_seq0=job.pset_seq0,
        calc_dir=job.calc_dir, record=job.record, extra=job.extra,
    )  # fmt: skip
    fn = os.path.join(job.calc_dir, "tmpsave", job.run_id, f"{pset_id}.pk")
    if job.api016:  # psweep 0.16 keeps the row as a dict
        os.makedirs(os.path.dirname(fn), exist_ok=True)
        with atomic_open(fn, "wb") as fh:
            pickle.dump(to_016_layout(df).iloc[0].to_dict(), fh)
        return
    df_write(df, fn)
