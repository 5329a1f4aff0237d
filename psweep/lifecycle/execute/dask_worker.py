"""What runs in a dask worker: a chunk of the plan, each pset given up after
``timeout_s`` (a thread cannot be stopped by a signal)."""

from __future__ import annotations

import functools
import threading
import time
from typing import Any

from psweep.errors import PsweepTimeout
from psweep.lifecycle.execute.chunks import _picklable
from psweep.lifecycle.execute.serial import _run_range
from psweep.lifecycle.execute.task import Block, Job, Plan, _describe, run_task


def _dask_chunk(
    job: Job, part: Plan, offset: int
) -> tuple[list[Block], BaseException | None, str | None]:
    """Run a part of the plan in a dask worker; return its blocks, the exception that
    ended it (if any) and, if a pset overran ``timeout_s`` and still runs, the worker's
    address (it needs a restart)."""
    blocks: list[Block] = []
    stuck: list[int] = []
    task = (
        run_task
        if job.timeout_s is None
        else functools.partial(_run_with_deadline, stuck, job.timeout_s)
    )
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
    stuck: list, timeout_s: float, job: Job, pos: int, pset: dict, pset_id: str, sha1: Any
) -> tuple:
    """run_task in a thread of its own, given up after `timeout_s` (``job.timeout_s``) seconds.

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
    thread.join(timeout_s)
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
        f"PsweepTimeout: the pset ran longer than timeout_s={timeout_s} s; it was "
        f"given up and {fate}"
    )
    if not job.record:
        full = {**pset, "_pset_seq": job.pset_seq0 + pos, "_pset_id": pset_id}
        raise PsweepTimeout(f"{text.split(': ', 1)[1]}: {_describe(full)}")
    return pos, pset, pset_id, sha1, start_ns, float(timeout_s), {}, text
