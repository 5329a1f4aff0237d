"""The dask backend (``dask_client``): chunks as dask tasks, a pset that kills its
worker found and named, a cluster that lost its workers noticed."""

from __future__ import annotations

import collections
import logging
import math
import os
import time
from collections.abc import Generator, Iterator
from dataclasses import replace
from typing import Any

from psweep.errors import PsweepWorkerError
from psweep.lifecycle.execute.chunks import _failed_block, _parts, _ranges
from psweep.lifecycle.execute.dask_worker import _dask_chunk
from psweep.lifecycle.execute.serial import _STOP_CHECK_S
from psweep.lifecycle.execute.task import Block, Job, Plan, _describe
from psweep.lifecycle.journal import JournalWriter
from psweep.params.hashing import uuid4_strings

log = logging.getLogger("psweep")


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


def _dask(job: Job, plan: Plan, client: Any) -> Generator[Block, None, None]:
    """Run chunks of the plan as dask tasks.

    A task that does not come back (its worker died: a crash in compiled code,
    os._exit, out of memory) is split into one task per pset, so that the pset
    which kills its worker is found and named; the others run again.
    """
    run = _DaskRun(job, plan, client)
    error = None
    try:
        for future in run.watch.finished(run.running):
            if future is None:  # lost on an idle cluster: cancelled, they are sent again
                run.send_again()
                continue
            offset, part = run.futures.pop(future)
            if future is run.suspect:
                run.suspect = None
            try:
                blocks, exc, stuck_at = run.result_of(future)
            except Exception as crash:
                yield from run.lost_task(future, offset, part, crash)
                continue
            run.next_suspect()
            if stuck_at is not None:
                _restart_worker(client, stuck_at)
            for block in blocks:
                yield run.emit(block)
            if exc is not None:
                error = exc
                break
    finally:
        client.cancel(list(run.futures))
        if run.journal is not None:
            run.journal.close()
    if error is not None:
        raise error


class _DaskRun:
    """The client's side of a dask run: the tasks in flight, and the psets of lost
    tasks run again, alone, to find the one that kills its worker."""

    def __init__(self, job: Job, plan: Plan, client: Any) -> None:
        from distributed import as_completed

        self.job, self.plan, self.client = job, plan, client
        nworkers = max(1, len(client.scheduler_info().get("workers", {})))
        self.journal = None
        if job.journal_dir is not None:
            self.journal = JournalWriter(
                os.path.join(job.journal_dir, "client.journal"), job.header
            )
        # each task carries the job: a job scattered once to the workers was lost with
        # them when they died ("lost scattered data, which can't be recovered"), and the
        # tasks that needed it, or had to be computed again, waited for ever
        self.shipped = replace(job, journal_dir=None)
        self.futures: dict[Any, tuple[int, Plan]] = {}
        for a, part in _parts(plan, _ranges(len(plan), nworkers, 8)):
            self.submit(a, part)
        self.lost: dict[int, int] = {}  # position -> times its task was lost
        # psets of lost tasks run alone, one at a time, so that a pset which kills its
        # worker takes no other suspect with it: one that dies alone again and again is it
        self.suspects: collections.deque[int] = collections.deque()
        self.suspect: Any = None  # the future of the suspect in flight
        self.running = as_completed(list(self.futures))
        self.watch = _DaskWatch(client)

    def submit(self, offset: int, part: Plan) -> Any:
        future = self.client.submit(_dask_chunk, self.shipped, part, offset, pure=False)
        self.futures[future] = (offset, part)
        return future

    def emit(self, block: Block) -> Block:
        """`block`, written to the run's journal first."""
        if self.journal is not None:
            psets = self.plan.psets
            for k, pset_id, sha1, t, rt, ret, ex in zip(*block, strict=True):
                self.journal.add((k, psets[k], pset_id, sha1, t, rt, ret, ex))
        return block

    def next_suspect(self) -> None:
        if self.suspect is None and self.suspects:
            k = self.suspects.popleft()
            self.suspect = self.submit(k, self.plan.part(k, k + 1))
            self.running.add(self.suspect)

    def send_again(self) -> None:
        """Cancel the tasks in flight, which sends them again."""
        log.warning(
            "%d dask tasks of this run were lost (the workers idled for %g s); sending them again",
            len(self.futures),
            _STALL_S,
        )
        self.client.cancel(list(self.futures))

    def lost_task(
        self, future: Any, offset: int, part: Plan, crash: BaseException
    ) -> Iterator[Block]:
        """A task that did not come back: its psets run again one by one (its worker
        died), or it is sent again, or, lost too often, its psets fail (or raise)."""
        if isinstance(crash, TimeoutError):
            future.cancel()
        split = len(part) > 1 and type(crash).__name__ == "KilledWorker"
        self.lost[offset] = self.lost.get(offset, 0) + (not split)
        if split:
            log.warning(
                "a dask task of %d psets did not come back (%s: %s); running them "
                "one by one to find the pset at fault",
                len(part),
                type(crash).__name__,
                crash,
            )
            self.suspects.extend(range(offset, offset + len(part)))
        elif self.lost[offset] < _DASK_ATTEMPTS:
            if len(part) > 1:  # cancelled, not killed: send it again as it is
                self.running.add(self.submit(offset, part))
            else:
                self.suspects.appendleft(offset)
        else:
            for k in range(offset, offset + len(part)):
                yield self.emit(_dask_lost(self.job, self.plan, k, crash))
        self.next_suspect()

    def result_of(self, future: Any) -> Any:
        """The result of a finished task. One lost with its worker is computed again,
        or never (a gather that waits for ever): after :data:`_GATHER_S` the task counts
        as lost. Meanwhile closed workers are started again, as while tasks wait."""
        deadline = time.monotonic() + _GATHER_S
        while True:
            try:
                return future.result(timeout=_DASK_WATCH_S)
            except TimeoutError:
                if time.monotonic() >= deadline:
                    raise
                self.watch.check(len(self.futures))


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
    (pset_id,) = uuid4_strings(1)  # the failed row's id, named in the warning
    log.warning("%s: %s", _describe({**pset, "_pset_id": pset_id}), text)
    return _failed_block(job, plan, pos, time.time(), text, pset_id)
