"""Call `func` on psets: serially, in a process pool, or on a dask cluster.

The psets of a run form a :class:`Plan`. Executors yield *blocks* of results
as they finish: ``(pos, ids, sha1s, times_ns, runtimes_s, rets, excs)``,
lists aligned with each other, where `pos` is the pset's position in the
plan, `ids` the new ``_pset_id`` values, `rets` the dicts `func` returned
(empty if it failed) and `excs` the failures' type, message and traceback
(``None`` for success).

Each finished pset is also written to the run's journal (see
:mod:`psweep.lifecycle.journal`) by the process that ran it, so a crash loses none
that finished more than :data:`~psweep.lifecycle.journal.JOURNAL_FLUSH_S` seconds
before.
"""

from __future__ import annotations

import collections
import contextlib
import copy
import functools
import gc
import itertools
import logging
import math
import multiprocessing
import os
import pickle
import platform
import queue
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd
from pandas import Timestamp

from psweep.errors import (
    PsweepError,
    PsweepFuncError,
    PsweepParamsError,
    PsweepTimeout,
    PsweepWorkerError,
)
from psweep.lifecycle.capture import LOGS_COLUMN, capture
from psweep.lifecycle.journal import JournalWriter, read_journal_dir, rows_to_block
from psweep.params.hashing import pset_hashes, uuid4_strings
from psweep.store.database import df_print, unpicklable_item
from psweep.store.files import atomic_open
from psweep.store.locking import pid_alive

__all__ = [
    "Job",
    "Plan",
    "execute",
    "run_task",
]

log = logging.getLogger("psweep")

Block = tuple[list, list, list, list, list, list, list]

# the host that runs psets in this process (on dask: the worker's)
EXEC_HOST = platform.node()
_BLOCK_ROWS = 1000
_YIELD_S = 0.5  # the longest a finished pset waits in a block before the run hears of it
_STOP_CHECK_S = 0.02  # how often pool workers look whether the run is stopping


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


def _describe(pset: dict) -> str:
    public = {k: v for k, v in pset.items() if not (isinstance(k, str) and k.startswith("_"))}
    text = repr(public)
    if len(text) > 500:
        text = text[:500] + "...}"
    return f"pset {text} (_pset_seq={pset.get('_pset_seq')}, _pset_id={pset.get('_pset_id')})"


def _print_row(row: dict, verbose: bool | Sequence[str]) -> None:
    row = {k: _printable(v) for k, v in row.items()}
    df = pd.DataFrame([row], index=[row["_time_utc"]])
    if verbose is True:
        df_print(df, index=True, special_cols=True)
    else:
        df_print(df, cols=list(verbose), index=True)


# values func cannot change in place: given to it as they are, all others as a deep copy
_IMMUTABLE = frozenset({int, float, str, bool, type(None), complex, bytes, np.int64, np.float64})


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
    """Call ``job.func`` on one pset; return ``(time_ns, runtime_s, ret, exc)``.

    func gets its own copy of the pset's mutable values (:func:`_own_values`).
    """
    start_ns = time.time_ns()
    full = {
        **_own_values(pset),
        "_run_id": job.run_id,
        "_pset_id": pset_id,
        "_run_seq": job.run_seq,
        "_pset_seq": job.pset_seq0 + pos,
        "_pset_sha1": sha1,
        "_calc_dir": job.calc_dir,
        # the very value the database stores (psweep 0.7.0 and 0.16 pass a Timestamp too)
        "_time_utc": Timestamp(start_ns),
    }
    if job.extra:
        full["_pset_hash"] = sha1
        full["_exec_host"] = EXEC_HOST
        if job.api016:  # ps.run: the columns of psweep 0.16, whose name of the hash this is
            del full["_pset_sha1"]
    if job.verbose:
        _print_row(full, job.verbose)
    exc_text = None
    t0 = time.perf_counter()
    alarm = job.timeout_s is not None and "slot" in _WORKER
    logs = None
    if job.simulate:
        ret: Any = {}
    else:
        try:
            if alarm:
                signal.setitimer(signal.ITIMER_REAL, job.timeout_s)
            try:
                if job.capture_logs is None:
                    ret = job.func(full)
                else:
                    with capture(job.capture_logs, job.calc_dir, pset_id) as logs:
                        ret = job.func(full)
            finally:
                if alarm:
                    signal.setitimer(signal.ITIMER_REAL, 0)
        except Exception as exc:
            if not job.record:
                note = f"psweep: raised by func for {_describe(full)}"
                if hasattr(exc, "add_note"):  # Python >= 3.11
                    exc.add_note(note)
                else:
                    log.error(note)
                raise
            ret, exc_text = {}, traceback.format_exc()
    runtime = time.perf_counter() - t0
    if not isinstance(ret, dict):
        err = PsweepFuncError(
            f"func must return a dict (may be empty), got {type(ret).__name__} "
            f"{ret!r:.200} for {_describe(full)}"
        )
        if not job.record:
            raise err
        ret, exc_text = {}, f"{type(err).__name__}: {err}"
    if ret:
        bad = unpicklable_item(ret)
        if bad is not None:
            key, why = bad
            err = PsweepFuncError(
                f"func returned a value that cannot be stored: key {key!r} holds a "
                f"{type(ret[key]).__name__} that cannot be pickled ({why}); return plain data "
                f"(numbers, text, arrays) or write it to a file in _calc_dir, for {_describe(full)}"
            )
            if not job.record:
                raise err
            ret, exc_text = {}, f"{type(err).__name__}: {err}"
    if logs is not None or job.host != EXEC_HOST:  # rare: one check on the common path
        if logs is not None and "db" in job.capture_logs:
            ret = {**ret, LOGS_COLUMN: logs.text}  # also for a failed pset: its logs say why
        if job.host != EXEC_HOST and "_exec_host" in job.extra:
            ret = {**ret, "_exec_host": EXEC_HOST}  # a dask worker on another host
    if job.tmpsave:
        _tmpsave(job, pos, pset, pset_id, sha1, (start_ns, runtime, ret, exc_text))
    return start_ns, runtime, ret, exc_text


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


def _run_range(
    job: Job,
    part: Plan,
    offset: int,
    journal: JournalWriter | None,
    stop_flag: Any,
    task: Callable = run_task,
) -> Iterator[Block | BaseException]:
    """Run the psets of `part`, which start at position `offset` of the run.

    Yields blocks, then the exception that ended the part, if any.
    """
    ids = uuid4_strings(len(part))
    sha1s = part.sha1s if part.sha1s is not None else pset_hashes(part.psets)
    cols: tuple[list, ...] = ([], [], [], [], [], [], [])
    pos, bids, bsha1s, times, runtimes, rets, excs = cols
    clock = time.perf_counter
    track = _WORKER.get("track")
    # a stopping run starts no new pset: look at the flag before the first one, too
    next_check = clock() if stop_flag is not None else math.inf
    next_yield = clock() + _YIELD_S  # slow psets: a block now and then, for the progress
    try:
        for k, pset, pset_id, sha1 in zip(
            range(offset, offset + len(part)), part.psets, ids, sha1s, strict=True
        ):
            if clock() >= next_check:  # asking the shared flag costs a lock
                if stop_flag.is_set() or os.getppid() != _WORKER.get("parent", os.getppid()):
                    break  # the run stops, or its process is gone: stop with it
                next_check = clock() + _STOP_CHECK_S
            if track is not None:
                track[0][track[2]] = k  # the parent sees which pset this worker runs
                track[1][track[2]] = time.time()
            t, rt, ret, exc = task(job, k, pset, pset_id, sha1)
            if track is not None:
                track[0][track[2]] = -1
            if journal is not None:
                journal.add((k, pset, pset_id, sha1, t, rt, ret, exc))
            pos.append(k)
            bids.append(pset_id)
            bsha1s.append(sha1)
            times.append(t)
            runtimes.append(rt)
            rets.append(ret)
            excs.append(exc)
            if len(pos) >= _BLOCK_ROWS or clock() >= next_yield:
                next_yield = clock() + _YIELD_S
                yield cols
                cols = ([], [], [], [], [], [], [])
                pos, bids, bsha1s, times, runtimes, rets, excs = cols
    except GeneratorExit:
        raise
    except BaseException as exc:
        if journal is not None:
            journal.flush()
        if pos:
            yield cols
        yield exc
        return
    if pos:
        yield cols


def _serial(job: Job, plan: Plan) -> Iterator[Block]:
    journal = None
    if job.journal_dir is not None:
        journal = JournalWriter(os.path.join(job.journal_dir, f"{os.getpid()}.journal"), job.header)
    try:
        for item in _run_range(job, plan, 0, journal, None):
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        if journal is not None:
            journal.close()


# -- process pool -------------------------------------------------------------

# State of a pool worker process, set by _init_worker. Under the fork start
# method the plan is inherited, not pickled.
_WORKER: dict[str, Any] = {}


def _watch_parent(parent: int) -> None:
    """End this worker as soon as the run's process is gone (killed, say).

    A daemon thread looks every 50 ms; a worker would otherwise finish its
    pset at hand, holding the run's lock (inherited), and the next run would
    leave that run's journal for later. What the worker journaled is written
    out first. (The kernel's parent-death signal would be quicker, but it
    fires when the *thread* that forked the worker ends: multiprocessing forks
    replacement workers from a thread that ends with the pool.)
    """

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(_PARENT_CHECK_S)
        journal = _WORKER.get("journal")
        if journal is not None:
            with contextlib.suppress(Exception):
                journal.flush(raise_errors=False)
        _kill_descendants(os.getpid())  # the processes func started go along
        os._exit(0)

    threading.Thread(target=watch, name="psweep-parent-watch", daemon=True).start()


_PARENT_CHECK_S = 0.05


def _descendants(pid: int) -> list[int]:
    """The processes below `pid` (children first, then theirs), from /proc (Linux);
    none where there is no /proc."""
    children: dict[int, list[int]] = collections.defaultdict(list)
    try:
        names = os.listdir("/proc")
    except OSError:
        return []
    for name in names:
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as fh:
                ppid = int(fh.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue  # gone meanwhile
        children[ppid].append(int(name))
    out, todo = [], [pid]
    while todo:
        kids = children.get(todo.pop(), [])
        out.extend(kids)
        todo.extend(kids)
    return out


def _kill_descendants(pid: int) -> None:
    """SIGKILL the processes that func started in worker `pid` (its own process pool,
    say), before or as the worker is ended: they would live on, orphaned."""
    for child in _descendants(pid):
        with contextlib.suppress(OSError):
            os.kill(child, signal.SIGKILL)


def _kill_worker(pid: int) -> None:
    """SIGKILL pool worker `pid` and the processes below it."""
    with contextlib.suppress(OSError):
        os.kill(pid, signal.SIGSTOP)  # it starts no new process meanwhile
    _kill_descendants(pid)
    with contextlib.suppress(OSError):
        os.kill(pid, signal.SIGKILL)


def _init_worker(job: Job, plan: Plan, stop_flag: Any, parent: int, slots: Any) -> None:
    _watch_parent(parent)
    # a pool's workers are daemonic, and a daemonic process may not start processes:
    # func could not use a process pool of its own (it can serially). This worker
    # ends its children itself: at a normal end (multiprocessing joins them), when
    # the run's process is gone (_watch_parent), when the run kills it (_kill_worker)
    multiprocessing.current_process()._config["daemon"] = False  # type: ignore[attr-defined]
    gc.freeze()  # what the worker inherited is not the collector's business
    # Ctrl-C reaches the whole process group: the parent stops the run (it sets
    # stop_flag), the workers finish the pset at hand and take no new one
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # SIGTERM ends a worker at once, whatever handler the parent had when it forked it
    # (Pool.terminate relies on that; the parent keeps what the worker journaled)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    if job.timeout_s is not None:
        signal.signal(signal.SIGALRM, _on_alarm)
    journal = None
    if job.journal_dir is not None:
        journal = JournalWriter(os.path.join(job.journal_dir, f"{os.getpid()}.journal"), job.header)
    counter, pids, positions, starts, chunks = slots
    with counter.get_lock():
        slot = counter.value % len(pids)
        counter.value += 1
    pids[slot], positions[slot], chunks[slot] = os.getpid(), -1, -1
    _WORKER.update(
        job=job,
        plan=plan,
        stop=stop_flag,
        journal=journal,
        parent=parent,
        slot=slot,
        track=(positions, starts, slot),
        chunks=chunks,
    )


def _on_alarm(signum: int, frame: Any) -> None:
    raise PsweepTimeout(f"the pset ran longer than timeout_s={_WORKER['job'].timeout_s} s")


def _pool_chunk(
    bounds: tuple[int, int],
) -> tuple[tuple[int, int], list[Block], BaseException | None]:
    job, plan, stop_flag, journal = (_WORKER[k] for k in ("job", "plan", "stop", "journal"))
    chunks, slot = _WORKER["chunks"], _WORKER["slot"]
    chunks[slot] = bounds[0]  # the parent knows which chunk is lost if this process dies
    blocks: list[Block] = []
    try:
        for item in _run_range(job, plan.part(*bounds), bounds[0], journal, stop_flag):
            if isinstance(item, BaseException):
                return bounds, blocks, _picklable(item)
            blocks.append(item)
        if journal is not None and stop_flag.is_set():
            journal.flush()
        return bounds, blocks, None
    finally:
        chunks[slot] = -1


def _picklable(exc: BaseException) -> BaseException:
    """The exception itself if it can travel to the parent process, else a stand-in."""
    try:
        pickle.dumps(exc)
    except Exception:
        text = "".join(traceback.format_exception(exc))
        return PsweepError(f"func raised {type(exc).__name__} (not picklable):\n{text}")
    return exc


def _ranges(n: int, nworkers: int, per_worker: int) -> list[tuple[int, int]]:
    """Split range(n) into near-equal chunks, a multiple of nworkers of them.

    Equal chunks keep the workers equally busy to the end; several per worker
    even out psets of unequal cost; at most 5000 psets per chunk keep the
    result messages small.
    """
    if n == 0:
        return []
    nchunks = max(nworkers * per_worker, math.ceil(n / 5000))
    nchunks = min(n, nworkers * math.ceil(nchunks / nworkers))
    bounds = [n * i // nchunks for i in range(nchunks + 1)]
    return list(itertools.pairwise(bounds))


def _parts(plan: Plan, ranges: list[tuple[int, int]]) -> Iterator[tuple[int, Plan]]:
    for a, b in ranges:
        yield a, plan.part(a, b)


_SLOTS = 4096  # worker processes a run may start (slots are reused after that)
_WATCH_S = 0.1  # how often the parent looks for dead or overdue workers


class _Slots:
    """Shared memory in which each pool worker says which pset it runs since when."""

    def __init__(self, ctx: Any) -> None:
        self.counter = ctx.Value("q", 0)
        self.pids = ctx.RawArray("q", _SLOTS)
        self.positions = ctx.RawArray("q", [-1] * _SLOTS)
        self.starts = ctx.RawArray("d", _SLOTS)
        self.chunks = ctx.RawArray("q", [-1] * _SLOTS)

    def args(self) -> tuple:
        return self.counter, self.pids, self.positions, self.starts, self.chunks

    def busy(self) -> list[tuple[int, int, int, int, float]]:
        """(slot, pid, chunk start, position or -1, start time) of each worker on a chunk."""
        n = min(self.counter.value, _SLOTS)
        return [
            (i, self.pids[i], self.chunks[i], self.positions[i], self.starts[i])
            for i in range(n)
            if self.chunks[i] >= 0
        ]

    def clear(self, slot: int) -> None:
        self.chunks[slot] = self.positions[slot] = -1


def _failed_block(job: Job, plan: Plan, pos: int, started: float, text: str) -> Block:
    """The row of a pset whose worker died: failed, with `text` as its _exc."""
    (sha1,) = (
        plan.sha1s[pos : pos + 1] if plan.sha1s is not None else pset_hashes([plan.psets[pos]])
    )
    runtime = max(0.0, time.time() - started)
    return ([pos], uuid4_strings(1), [sha1], [int(started * 1e9)], [runtime], [{}], [text])


def _journaled(job: Job, pid: int, lo: int, hi: int, seen: set) -> Block | None:
    """Rows in the journal of worker `pid` with positions in [lo, hi) not yielded yet."""
    if job.journal_dir is None:
        return None
    name = f"{pid}.journal"
    if not os.path.exists(os.path.join(job.journal_dir, name)):
        return None
    _, rows = read_journal_dir(job.journal_dir, only=name)
    return rows_to_block([r for r in rows if lo <= r[0] < hi and r[0] not in seen])


def _has_main_guard(source: str) -> bool:
    """Whether a script has a top-level ``if __name__ == "__main__":``."""
    import ast

    for node in ast.parse(source).body:
        if not isinstance(node, ast.If) or not isinstance(node.test, ast.Compare):
            continue
        names = [node.test.left, *node.test.comparators]
        if any(isinstance(n, ast.Name) and n.id == "__name__" for n in names) and any(
            isinstance(n, ast.Constant) and n.value == "__main__" for n in names
        ):
            return True
    return False


def check_main_guard(poolsize: int) -> None:
    """Refuse (or, where workers fork, warn about) a pool run from a script without an
    ``if __name__ == "__main__":`` guard; interactive sessions and ``-c`` pass."""
    main = sys.modules.get("__main__")
    path = getattr(main, "__file__", None)
    if not isinstance(path, str) or not path.endswith(".py") or not os.path.isfile(path):
        return
    try:
        with open(path, encoding="utf-8") as fh:
            guarded = _has_main_guard(fh.read())
    except (OSError, SyntaxError, UnicodeDecodeError, ValueError):
        return
    if guarded:
        return
    method = multiprocessing.get_start_method(allow_none=True) or multiprocessing.get_context(
    ).get_start_method()  # fmt: skip
    text = (
        f"poolsize={poolsize}: the script {path!r} has no 'if __name__ == \"__main__\":' "
        "guard; put the run_local/run call (and what builds params) under one"
    )
    if method == "fork":
        log.warning(
            "%s. It runs here because worker processes fork, but not where they start anew "
            "(macOS, Windows, Python 3.14 on Linux), where each worker would run the script",
            text,
        )
        return
    raise PsweepParamsError(
        f"{text}: each worker process starts by importing it ({method!r} start method) "
        "and would run the whole study again"
    )


def _pool(job: Job, plan: Plan, poolsize: int) -> Iterator[Block]:
    """Run chunks of the plan in a process pool; survive workers that die or overrun."""
    ctx = multiprocessing.get_context()
    stop_flag = ctx.Event()
    slots = _Slots(ctx)
    results: queue.Queue = queue.Queue()
    error: BaseException | None = None
    initargs = (job, plan, stop_flag, os.getpid(), slots.args())
    pool = ctx.Pool(poolsize, initializer=_init_worker, initargs=initargs)
    pending: dict[tuple[int, int], Any] = {}
    seen: set[int] = set()  # positions yielded
    overdue: dict[int, int] = {}  # pid -> position of a worker killed for its timeout
    died: list[int] = []

    def submit(bounds: tuple[int, int]) -> None:
        pending[bounds] = pool.apply_async(
            _pool_chunk, (bounds,), callback=results.put, error_callback=results.put
        )

    def emit(block: Block) -> Iterator[Block]:
        seen.update(block[0])
        yield block

    try:
        for bounds in _ranges(len(plan), poolsize, 16):
            submit(bounds)
        while pending:
            try:
                item = results.get(timeout=_WATCH_S)
            except queue.Empty:
                item = None
            if isinstance(item, tuple):
                bounds, blocks, exc = item
                pending.pop(bounds, None)
                for block in blocks:
                    yield from emit(block)
                if exc is not None and error is None:
                    error = exc
                    stop_flag.set()  # workers stop at their next pset
                continue
            if isinstance(item, BaseException):  # the chunk could not even start
                raise item
            now = time.time()
            for slot, pid, lo, pos, started in slots.busy():
                overrun = pos >= 0 and now - started > (job.timeout_s or math.inf) + _grace(job)
                if overrun and pid not in overdue:
                    # func does not come back (C code that holds on): end its worker
                    overdue[pid] = pos
                    _kill_worker(pid)
                if pid_alive(pid):
                    continue
                slots.clear(slot)
                died.append(pid)
                bounds = next((b for b in pending if b[0] == lo), None)
                if bounds is None:
                    continue
                pending.pop(bounds)
                yield from _after_death(job, plan, pid, pos, started, bounds, overdue, seen, emit)
                if error is None and not stop_flag.is_set():
                    for gap in _gaps(bounds, seen, skip=pos):
                        submit(gap)
    except BaseException:
        stop_flag.set()
        raise
    finally:
        pool.close()
        if error is None and not stop_flag.is_set() and not overdue and not died:
            pool.join()
        else:  # a lost chunk would keep join() waiting: end the pool when work is done
            _stop_pool(pool, slots)
    if error is not None:
        raise error


def _grace(job: Job) -> float:
    return max(1.0, 0.5 * (job.timeout_s or 0.0))


def _after_death(job, plan, pid, pos, started, bounds, overdue, seen, emit) -> Iterator[Block]:
    """What a dead worker had finished (from its journal), and the row of its last pset."""
    block = _journaled(job, pid, bounds[0], bounds[1], seen)
    if block is not None:
        yield from emit(block)
    if pos < 0:  # it died between psets: the rest of its chunk just runs again
        log.warning("pool worker process %d died between psets; its chunk runs again", pid)
        return
    pset = {**plan.psets[pos], "_pset_seq": job.pset_seq0 + pos}
    if pid in overdue:
        text = (
            f"PsweepTimeout: the pset ran longer than timeout_s={job.timeout_s} s and did not "
            f"stop; its worker process {pid} was killed"
        )
    else:
        text = (
            f"PsweepWorkerError: the worker process {pid} died while it ran this pset (a crash "
            "in compiled code, os._exit or a kill); nothing of it was returned"
        )
    if not job.record:
        raise PsweepWorkerError(f"{text.split(': ', 1)[1]}: {_describe(pset)}")
    log.warning("%s: %s", _describe(pset), text)
    yield from emit(_failed_block(job, plan, pos, started, text))


def _gaps(bounds: tuple[int, int], seen: set, skip: int) -> list[tuple[int, int]]:
    """The ranges of positions in `bounds` that are neither done nor `skip`."""
    out, lo = [], None
    for k in range(*bounds):
        todo = k not in seen and k != skip
        if todo and lo is None:
            lo = k
        elif not todo and lo is not None:
            out.append((lo, k))
            lo = None
    if lo is not None:
        out.append((lo, bounds[1]))
    return out


_FINISH_WAIT_S = 30.0  # a stopping pool lets its workers finish their psets this long


def _stop_pool(pool: Any, slots: _Slots) -> None:
    """Let the workers finish the pset at hand (a while), then end the pool."""
    deadline = time.monotonic() + _FINISH_WAIT_S
    while time.monotonic() < deadline and any(
        pos >= 0 and pid_alive(pid) for _, pid, _, pos, _ in slots.busy()
    ):
        time.sleep(_STOP_CHECK_S)
    for _, pid, _, pos, _ in slots.busy():
        if pos >= 0:  # still on a pset: what its func started ends with it
            _kill_descendants(pid)
    # Pool.terminate() sends SIGTERM and waits; a worker that the pool forked just then
    # can lose that signal (it arrives while the worker still has the run's handler and
    # is gone once the worker resets it), and terminate() would wait for ever. So it
    # runs in a thread, and workers still there after a while are killed.
    ender = threading.Thread(target=pool.terminate, name="psweep-pool-end", daemon=True)
    ender.start()
    ender.join(_TERMINATE_S)
    while ender.is_alive():
        for child in multiprocessing.active_children():
            if "PoolWorker" in child.name:
                with contextlib.suppress(OSError):
                    child.kill()
        ender.join(0.5)
    pool.join()


_TERMINATE_S = 5.0


# -- dask ---------------------------------------------------------------------


def _dask_chunk(
    job: Job, part: Plan, offset: int
) -> tuple[list[Block], BaseException | None, str | None]:
    """Run a part of the plan in a dask worker; return its blocks, the exception that
    ended it (if any) and, if a pset overran ``timeout_s`` and still runs, the worker's
    address (it needs a restart)."""
    blocks: list[Block] = []
    stuck: list[int] = []
    task = run_task if job.timeout_s is None else functools.partial(_run_with_deadline, stuck)
    exc = None
    for item in _run_range(job, part, offset, None, None, task):
        if isinstance(item, BaseException):
            exc = _picklable(item)
            break
        blocks.append(item)
    address = None
    if stuck:
        from distributed import get_worker

        address = get_worker().address
    return blocks, exc, address


def _run_with_deadline(
    stuck: list, job: Job, pos: int, pset: dict, pset_id: str, sha1: Any
) -> tuple:
    """run_task in a thread of its own, given up after ``job.timeout_s`` seconds.

    A dask worker runs tasks in threads, where no signal can stop func: a pset
    that overruns is recorded as failed and left running; the caller has its
    worker restarted.
    """
    box: list = []

    def target() -> None:
        try:
            box.append((True, run_task(job, pos, pset, pset_id, sha1)))
        except BaseException as exc:
            box.append((False, exc))

    start_ns = time.time_ns()
    thread = threading.Thread(target=target, name=f"psweep-pset-{pos}", daemon=True)
    thread.start()
    thread.join(job.timeout_s)
    if box:
        done, value = box[0]
        if not done:
            raise value
        return value
    stuck.append(pos)
    from distributed import get_worker

    if getattr(get_worker(), "nanny", None):
        fate = "its dask worker restarted"
    else:  # in-process workers (processes=False): _restart_worker keeps them
        fate = "it may still run in its dask worker, which has no nanny to restart it"
    text = (
        f"PsweepTimeout: the pset ran longer than timeout_s={job.timeout_s} s; it was "
        f"given up and {fate}"
    )
    if not job.record:
        full = {**pset, "_pset_seq": job.pset_seq0 + pos, "_pset_id": pset_id}
        raise PsweepTimeout(f"{text.split(': ', 1)[1]}: {_describe(full)}")
    return start_ns, float(job.timeout_s), {}, text


def _restart_worker(client: Any, address: str) -> None:
    """Have the nanny of a dask worker kill and start again its process (where a
    pset that overran ``timeout_s`` still runs).

    The run does not wait for the new process to join: that may take long on a
    loaded machine, and the other workers go on meanwhile. (A LocalCluster closes
    a nanny whose worker stays away longer than its ``lost-worker-timeout``.)
    """
    stimulus_id = f"psweep-timeout-{time.time()}"
    try:
        workers = client.sync(client.scheduler.identity, n_workers=-1)["workers"]
        if workers.get(address, {}).get("nanny") is None:
            # the scheduler would remove it for good (in-process workers, processes=False)
            raise ValueError("it has no nanny that could start a new process for it")
        out = client.sync(
            client.scheduler.restart_workers,
            workers=[address],
            timeout=_RESTART_S,
            wait_for_workers=False,
            on_error="return",
            stimulus_id=stimulus_id,
        )
        status = out.get(address, "OK") if isinstance(out, dict) else "OK"
        if status == "timed out":
            raise TimeoutError(f"its process did not stop within {_RESTART_S:g} s")
    except Exception as exc:
        log.warning(
            "a pset that overran timeout_s may still run in dask worker %s, which could not "
            "be restarted (%s: %s); restart it to free it",
            address,
            type(exc).__name__,
            exc,
        )
    else:
        log.warning(
            "restarting dask worker %s (its nanny starts a new process): a pset there "
            "overran timeout_s",
            address,
        )


_RESTART_S = 30.0  # how long a dask worker's process may take to stop


_DASK_ATTEMPTS = 3  # a pset whose task is lost this often (alone) is at fault


def _dask(job: Job, plan: Plan, client: Any) -> Iterator[Block]:
    """Run chunks of the plan as dask tasks.

    A task that does not come back (its worker died: a crash in compiled code,
    os._exit, out of memory) is split into one task per pset, so that the pset
    which kills its worker is found and named; the others run again.
    """
    from distributed import as_completed

    nworkers = max(1, len(client.scheduler_info().get("workers", {})))
    journal = None
    if job.journal_dir is not None:
        journal = JournalWriter(os.path.join(job.journal_dir, "client.journal"), job.header)
    # each task carries the job: a job scattered once to the workers was lost with
    # them when they died ("lost scattered data, which can't be recovered"), and the
    # tasks that needed it, or had to be computed again, waited for ever
    shipped = replace(job, journal_dir=None)
    futures: dict[Any, tuple[int, Plan]] = {}

    def submit(offset: int, part: Plan) -> Any:
        future = client.submit(_dask_chunk, shipped, part, offset, pure=False)
        futures[future] = (offset, part)
        return future

    for a, part in _parts(plan, _ranges(len(plan), nworkers, 8)):
        submit(a, part)

    def emit(block: Block) -> Block:
        if journal is not None:
            for k, pset_id, sha1, t, rt, ret, ex in zip(*block, strict=True):
                journal.add((k, plan.psets[k], pset_id, sha1, t, rt, ret, ex))
        return block

    error = None
    lost: dict[int, int] = {}  # position -> times its task was lost
    # psets of lost tasks run alone, one at a time, so that a pset which kills its
    # worker takes no other suspect with it: one that dies alone again and again is it
    suspects: collections.deque[int] = collections.deque()
    suspect: list = [None]  # the future of the suspect in flight
    running = as_completed(list(futures))
    watch = _DaskWatch(client)

    def next_suspect() -> None:
        if suspect[0] is None and suspects:
            k = suspects.popleft()
            suspect[0] = submit(k, plan.part(k, k + 1))
            running.add(suspect[0])

    try:
        for future in watch.finished(running):
            if future is None:  # lost on an idle cluster: cancelled, they are sent again
                log.warning(
                    "%d dask tasks of this run were lost (the workers idled for %g s); "
                    "sending them again",
                    len(futures),
                    _STALL_S,
                )
                client.cancel(list(futures))
                continue
            offset, part = futures.pop(future)
            if future is suspect[0]:
                suspect[0] = None
            try:
                # a result lost with its worker is computed again, or never (a gather
                # that waits for ever): after a while the task counts as lost
                blocks, exc, stuck_at = future.result(timeout=_GATHER_S)
            except Exception as crash:
                if isinstance(crash, TimeoutError):
                    future.cancel()
                split = len(part) > 1 and type(crash).__name__ == "KilledWorker"
                lost[offset] = lost.get(offset, 0) + (not split)
                if split:
                    log.warning(
                        "a dask task of %d psets did not come back (%s: %s); running them "
                        "one by one to find the pset at fault",
                        len(part),
                        type(crash).__name__,
                        crash,
                    )
                    suspects.extend(range(offset, offset + len(part)))
                elif lost[offset] < _DASK_ATTEMPTS:
                    if len(part) > 1:  # cancelled, not killed: send it again as it is
                        running.add(submit(offset, part))
                    else:
                        suspects.appendleft(offset)
                else:
                    for k in range(offset, offset + len(part)):
                        yield emit(_dask_lost(job, plan, k, crash))
                next_suspect()
                continue
            next_suspect()
            if stuck_at is not None:
                _restart_worker(client, stuck_at)
            for block in blocks:
                yield emit(block)
            if exc is not None:
                error = exc
                break
    finally:
        client.cancel(list(futures))
        if journal is not None:
            journal.close()
    if error is not None:
        raise error


_DASK_WATCH_S = 1.0  # how often a waiting run looks at the dask cluster's workers
_NO_WORKER_S = 120.0  # no worker this long, and none can come: the run stops
_NO_WORKER_WARN_S = 300.0  # no worker this long (more may come): a warning, again and again
_REOPEN_AGAIN_S = 60.0  # a closed worker started again and still not there: once more
_STALL_S = 20.0  # every worker idle this long while tasks of the run wait: they are lost
_GATHER_S = 60.0  # the longest the result of a finished dask task may take to arrive


class _DaskWatch:
    """Keeps a dask run from waiting for ever on a cluster that has lost its workers.

    A LocalCluster (any dask ``SpecCluster``) closes a worker whose process died
    and did not rejoin within ``distributed.deploy.lost-worker-timeout`` (15 s):
    on a loaded machine a restart takes longer than that, and each pset that
    kills its worker may cost the cluster one worker for good. Such workers are
    started again (the cluster's own spec, as ``cluster.scale`` does). A run on a
    cluster with no worker that none can replace stops with
    :class:`PsweepWorkerError` after :data:`_NO_WORKER_S`; where workers may still
    come (queued batch jobs, adaptive scaling, a scheduler given by address) it
    warns every :data:`_NO_WORKER_WARN_S` instead.
    """

    def __init__(self, client: Any) -> None:
        self.client = client
        self.cluster: Any = getattr(client, "cluster", None)
        self.next_check = time.monotonic() + _DASK_WATCH_S
        self.none_since: float | None = None
        self.idle_since: float | None = None
        self.warned_at = 0.0
        self.reopened: dict[Any, float] = {}  # worker name -> when it was started again

    def finished(self, running: Any) -> Iterator[Any]:
        """The futures of `running` (a dask ``as_completed``) as they finish; None when
        the cluster has idled :data:`_STALL_S` while tasks of the run wait (they are
        lost: the caller cancels them, which sends them again)."""
        while not running.is_empty():
            if running.has_ready():
                yield next(running)
                continue
            if time.monotonic() >= self.next_check:
                stalled = self.check(running.count())
                self.next_check = time.monotonic() + _DASK_WATCH_S
                if stalled:
                    yield None
            time.sleep(_STOP_CHECK_S)

    def check(self, n_waiting: int) -> bool:
        """Raise if no worker can come; True if the run's tasks wait on idle workers."""
        self._reopen_lost_workers()
        try:
            n_workers = len(self.client.nthreads())
        except Exception:  # the scheduler is busy or restarting: look again later
            return False
        now = time.monotonic()
        if n_workers:
            self.none_since = None
            return self._stalled(now)
        if self.none_since is None:
            self.none_since = self.warned_at = now
            return False
        waited = now - self.none_since
        if not self._workers_may_come() and waited >= _NO_WORKER_S:
            raise PsweepWorkerError(
                f"the dask cluster has had no worker for {waited:.0f} s and cannot start "
                f"one ({self.cluster!r}), while {n_waiting} tasks of this run wait; its "
                "workers died (psets that end their process?) and were not replaced. "
                "The finished psets are saved"
            )
        if now - self.warned_at >= _NO_WORKER_WARN_S:
            self.warned_at = now
            log.warning(
                "the dask cluster has had no worker for %.0f s; %d tasks of this run wait for one",
                waited,
                n_waiting,
            )
        return False

    def _stalled(self, now: float) -> bool:
        """Whether every worker has idled for :data:`_STALL_S` (while the run waits).

        A task can get lost in a cluster whose workers die and restart (its result
        or its scattered input gone with a worker, a gather that failed): it never
        finishes, though the workers are there and idle.
        """
        try:
            busy = any(self.client.processing().values())
        except Exception:
            return False
        if busy:
            self.idle_since = None
            return False
        if self.idle_since is None:
            self.idle_since = now
            return False
        if now - self.idle_since < _STALL_S:
            return False
        self.idle_since = None
        return True

    def _spec(self) -> tuple[dict, dict] | None:
        """The (spec, started) workers of a SpecCluster that scales as its spec says."""
        cluster = self.cluster
        spec, started = (getattr(cluster, a, None) for a in ("worker_spec", "workers"))
        if not (isinstance(spec, dict) and isinstance(started, dict)):
            return None  # no cluster object here (a scheduler address), or another kind
        if getattr(cluster, "_adaptive", None) is not None:
            return None  # adaptive scaling decides how many workers there are
        return spec, started

    def _reopen_lost_workers(self) -> None:
        spec = self._spec()
        if spec is None or str(getattr(self.cluster, "status", "")).endswith(("closing", "closed")):
            return
        now = time.monotonic()
        missing = set(spec[0]) - set(spec[1])
        # a worker being started is missing until it runs: ask again only after a while
        lost = [n for n in missing if now - self.reopened.get(n, -math.inf) > _REOPEN_AGAIN_S]
        if not lost:
            return
        self.reopened.update(dict.fromkeys(lost, now))
        log.warning(
            "the dask cluster closed its worker(s) %s (a worker that died and did not rejoin "
            "within distributed.deploy.lost-worker-timeout, as on a loaded machine); "
            "starting them again",
            ", ".join(sorted(map(str, lost))),
        )
        try:
            self.cluster.scale(len(spec[0]))
        except Exception as exc:
            log.warning("could not start the dask workers again: %s: %s", type(exc).__name__, exc)

    def _workers_may_come(self) -> bool:
        spec = self._spec()
        if spec is None:
            return self.cluster is None or getattr(self.cluster, "_adaptive", None) is not None
        status = str(getattr(self.cluster, "status", ""))
        return bool(spec[1]) and not status.endswith(("closing", "closed"))


def _dask_lost(job: Job, plan: Plan, pos: int, crash: BaseException) -> Block:
    """The failed row of a pset whose dask task died with its worker (or raise)."""
    pset = {**plan.psets[pos], "_pset_seq": job.pset_seq0 + pos}
    if type(crash).__name__ == "KilledWorker":
        what = f"the dask worker died while it ran this pset, {_DASK_ATTEMPTS} times, alone"
    else:
        what = f"the dask task of this pset was lost {_DASK_ATTEMPTS} times"
    text = f"PsweepWorkerError: {what} ({type(crash).__name__}: {crash})"
    if not job.record:
        raise PsweepWorkerError(f"{text.split(': ', 1)[1]}: {_describe(pset)}") from crash
    log.warning("%s: %s", _describe(pset), text)
    return _failed_block(job, plan, pos, time.time(), text)


def execute(
    job: Job, plan: Plan, poolsize: int | None = None, dask_client: Any = None
) -> Iterator[Block]:
    """Run all psets of `plan`; yield blocks of results as they finish."""
    if dask_client is not None:
        return _dask(job, plan, dask_client)
    if poolsize is not None:
        return _pool(job, plan, poolsize)
    return _serial(job, plan)
