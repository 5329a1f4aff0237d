"""The process pool backend (``poolsize``): chunks sent to worker processes, and
workers that die or overrun ``timeout_s`` replaced; a pool run's script guard."""

from __future__ import annotations

import contextlib
import logging
import math
import multiprocessing
import os
import queue
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

from psweep.errors import PsweepParamsError, PsweepWorkerError
from psweep.lifecycle.execute.chunks import _failed_block, _ranges
from psweep.lifecycle.execute.pool_worker import (
    _init_worker,
    _kill_descendants,
    _kill_worker,
    _pool_chunk,
)
from psweep.lifecycle.execute.serial import _STOP_CHECK_S
from psweep.lifecycle.execute.task import Block, Job, Plan, _describe
from psweep.lifecycle.journal import read_journal_dir, rows_to_block
from psweep.store.locking import pid_alive

__all__ = ["check_main_guard"]

log = logging.getLogger("psweep")


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
