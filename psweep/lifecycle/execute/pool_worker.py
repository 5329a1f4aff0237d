"""A process pool's worker process: how it starts, runs a chunk, watches the run's
process, and is ended with what its func started."""

from __future__ import annotations

import collections
import contextlib
import gc
import multiprocessing
import os
import signal
import threading
import time
from typing import Any

from psweep.errors import PsweepTimeout
from psweep.lifecycle.execute.chunks import _picklable
from psweep.lifecycle.execute.serial import _run_range
from psweep.lifecycle.execute.task import _WORKER, Block, Job, Plan
from psweep.lifecycle.journal import JournalWriter


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
        if journal is not None:
            # what the run gets back is on disk first: the pool's end terminates this
            # process (no time to write), and a run killed before its merge recovers
            # every row it was handed from the journals. A write that fails (a full
            # disk) is logged; the rows still go back to the run, which keeps them
            journal.flush(raise_errors=False)
        return bounds, blocks, None
    finally:
        chunks[slot] = -1
