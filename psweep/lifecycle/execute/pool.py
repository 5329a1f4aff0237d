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
from collections.abc import Generator, Iterator
from typing import Any

from psweep.errors import PsweepParamsError, PsweepWorkerError
from psweep.host import pid_alive
from psweep.lifecycle.execute.chunks import _failed_block, _ranges
from psweep.lifecycle.execute.pool_worker import (
    _init_worker,
    _kill_descendants,
    _kill_worker,
    _pool_chunk,
)
from psweep.lifecycle.execute.serial import _STOP_CHECK_S
from psweep.lifecycle.execute.task import Block, Job, Plan, _describe
from psweep.lifecycle.journal import read_journal_dir
from psweep.lifecycle.results import ResultBlock
from psweep.params.hashing import uuid4_strings

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
    return ResultBlock.of_rows([r for r in rows if lo <= r[0] < hi and r[0] not in seen])


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


def _pool(job: Job, plan: Plan, poolsize: int) -> Generator[Block, None, None]:
    """Run chunks of the plan in a process pool; survive workers that die or overrun."""
    run = _PoolRun(job, plan, poolsize)
    try:
        for bounds in _ranges(len(plan), poolsize, 16):
            run.submit(bounds)
        while run.pending:
            item = run.next_result()
            if isinstance(item, tuple):
                yield from run.take(item)
            elif isinstance(item, BaseException):  # the chunk could not even start
                raise item
            else:
                yield from run.watch()
    except BaseException:
        run.stop_flag.set()
        raise
    finally:
        run.close()
    if run.error is not None:
        raise run.error


class _PoolRun:
    """The parent's side of a pool run: the chunks sent, the positions yielded, and the
    workers that died or were killed for overrunning ``timeout_s``."""

    def __init__(self, job: Job, plan: Plan, poolsize: int) -> None:
        self.job, self.plan = job, plan
        ctx = multiprocessing.get_context()
        self.stop_flag = ctx.Event()
        self.slots = _Slots(ctx)
        self.results: queue.Queue = queue.Queue()
        self.error: BaseException | None = None  # the first exception that ended a chunk
        initargs = (job, plan, self.stop_flag, os.getpid(), self.slots.args())
        self.pool = ctx.Pool(poolsize, initializer=_init_worker, initargs=initargs)
        self.pending: dict[tuple[int, int], Any] = {}
        self.seen: set[int] = set()  # positions yielded
        self.overdue: dict[int, int] = {}  # pid -> position of a worker killed for its timeout
        self.died: list[int] = []

    def submit(self, bounds: tuple[int, int]) -> None:
        self.pending[bounds] = self.pool.apply_async(
            _pool_chunk, (bounds,), callback=self.results.put, error_callback=self.results.put
        )

    def next_result(self) -> Any:
        """What a chunk sent back (its result, or the exception that kept it from
        starting); None after :data:`_WATCH_S` without one."""
        try:
            return self.results.get(timeout=_WATCH_S)
        except queue.Empty:
            return None

    def take(self, item: tuple) -> Iterator[Block]:
        """The blocks of a finished chunk; an exception that ended it stops the run."""
        bounds, blocks, exc = item
        self.pending.pop(bounds, None)
        for block in blocks:
            yield self._emit(block)
        if exc is not None and self.error is None:
            self.error = exc
            self.stop_flag.set()  # workers stop at their next pset

    def watch(self) -> Iterator[Block]:
        """End the workers that overran ``timeout_s``; for each worker that died, yield
        what it finished and send the rest of its chunk again."""
        now = time.time()
        job = self.job
        for slot, pid, lo, pos, started in self.slots.busy():
            overrun = pos >= 0 and now - started > (job.timeout_s or math.inf) + _grace(job)
            if overrun and pid not in self.overdue:
                # func does not come back (C code that holds on): end its worker
                self.overdue[pid] = pos
                _kill_worker(pid)
            if pid_alive(pid):
                continue
            self.slots.clear(slot)
            self.died.append(pid)
            bounds = next((b for b in self.pending if b[0] == lo), None)
            if bounds is None:
                continue
            self.pending.pop(bounds)
            yield from self._after_death(pid, pos, started, bounds)
            if self.error is None and not self.stop_flag.is_set():
                for gap in _gaps(bounds, self.seen, skip=pos):
                    self.submit(gap)

    def close(self) -> None:
        self.pool.close()
        if (
            self.error is None
            and not self.stop_flag.is_set()
            and not self.overdue
            and not self.died
        ):
            self.pool.join()
        else:  # a lost chunk would keep join() waiting: end the pool when work is done
            _stop_pool(self.pool, self.slots)

    def _emit(self, block: Block) -> Block:
        self.seen.update(block[0])
        return block

    def _after_death(
        self, pid: int, pos: int, started: float, bounds: tuple[int, int]
    ) -> Iterator[Block]:
        """What a dead worker had finished (from its journal), and the row of its last pset."""
        job, plan = self.job, self.plan
        block = _journaled(job, pid, bounds[0], bounds[1], self.seen)
        if block is not None:
            yield self._emit(block)
        if pos < 0:  # it died between psets: the rest of its chunk just runs again
            log.warning("pool worker process %d died between psets; its chunk runs again", pid)
            return
        pset = {**plan.psets[pos], "_pset_seq": job.pset_seq0 + pos}
        if pid in self.overdue:
            text = (
                f"PsweepTimeout: the pset ran longer than timeout_s={job.timeout_s} s and did "
                f"not stop; its worker process {pid} was killed"
            )
        else:
            text = (
                f"PsweepWorkerError: the worker process {pid} died while it ran this pset (a "
                "crash in compiled code, os._exit or a kill); nothing of it was returned"
            )
        if not job.record:
            raise PsweepWorkerError(f"{text.split(': ', 1)[1]}: {_describe(pset)}")
        (pset_id,) = uuid4_strings(1)  # the failed row's id, named in the warning
        log.warning("%s: %s", _describe({**pset, "_pset_id": pset_id}), text)
        yield self._emit(_failed_block(job, plan, pos, started, text, pset_id))


def _grace(job: Job) -> float:
    return max(1.0, 0.5 * (job.timeout_s or 0.0))


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
