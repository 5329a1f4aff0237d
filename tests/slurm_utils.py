"""Helpers for tests that submit jobs to a real SLURM cluster. No tests here.

Start the one-node cluster with ``bash scripts/slurm-local.sh start``; it writes
``/etc/slurm/slurm.conf``, so plain ``sbatch``/``squeue``/``scontrol`` work in the
tests and in the jobs. The cluster keeps no accounting, so there is no ``sacct``:
:func:`job_state` asks ``scontrol show job``, which knows a job until 300 s
(``MinJobAge``) after it ended.

Use in a test module (pytest puts ``tests/`` on ``sys.path``)::

    from slurm_utils import job_state, requires_slurm, wait_for_jobs

    @requires_slurm
    def test_job_runs(tmp_path): ...
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from collections.abc import Iterable

import pytest

__all__ = [
    "job_state",
    "job_states",
    "requires_slurm",
    "slurm_available",
    "wait_for_jobs",
]

# Node states (``sinfo -o %T``) in which the node takes jobs. A trailing "*"
# (not responding), "~" (powered down) or "#" (powering up) makes a state unusable.
READY_NODE_STATES = frozenset({"idle", "mixed", "allocated", "completing"})
QUERY_TIMEOUT_S = 5.0
DEFAULT_SLURM_CONF = "/etc/slurm/slurm.conf"
_FIELD_RE = re.compile(r"(?:^|\s)(JobId|ArrayJobId|ArrayTaskId|JobState)=(\S+)")
START_HINT = "start one with `bash scripts/slurm-local.sh install` and `... start`"


def _run(args: list[str], timeout_s: float = QUERY_TIMEOUT_S) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, timeout=timeout_s, check=False)


def slurm_available() -> tuple[bool, str]:
    """Tell whether jobs can be submitted and will run, and if not, why.

    True when ``sbatch`` is on PATH and ``sinfo -h -o %T`` answers within 5 s with
    at least one node that takes jobs (idle, mixed, allocated or completing).
    """
    for cmd in ("sbatch", "sinfo", "squeue", "scontrol"):
        if shutil.which(cmd) is None:
            return False, f"{cmd} not on PATH; {START_HINT}"
    # Without a config file sinfo retries for 60 s; the configless mode (DNS SRV
    # records) has no place on a test machine.
    conf = os.environ.get("SLURM_CONF", DEFAULT_SLURM_CONF)
    if not os.path.isfile(conf):
        return False, f"no SLURM config at {conf}; {START_HINT}"
    try:
        proc = _run(["sinfo", "-h", "-o", "%T"])
    except subprocess.TimeoutExpired:
        return False, f"sinfo did not answer within {QUERY_TIMEOUT_S:g} s; {START_HINT}"
    if proc.returncode != 0:
        err = proc.stderr.strip().splitlines()
        last = err[-1] if err else "no message"
        return False, f"sinfo failed with exit code {proc.returncode} ({last}); {START_HINT}"
    states = sorted({line.strip() for line in proc.stdout.splitlines() if line.strip()})
    if not READY_NODE_STATES.intersection(states):
        return False, f"no node takes jobs, node states: {states or 'none'}; {START_HINT}"
    return True, f"SLURM nodes: {', '.join(states)}"


_AVAILABLE, _REASON = slurm_available()

#: Skip the test unless a SLURM cluster takes jobs (checked once, at import).
requires_slurm = pytest.mark.skipif(not _AVAILABLE, reason=_REASON)


def _normalize_id(job_id: str | int) -> str:
    """``sbatch --parsable`` prints ``123`` or ``123;cluster``: keep ``123``."""
    return str(job_id).strip().split(";", 1)[0]


def _squeue(job_ids: set[str] | None) -> list[str]:
    """Jobs still known to squeue (pending, running, completing ...) as "id state"."""
    args = ["squeue", "-h", "-o", "%A|%F|%i|%T"]
    if job_ids is None:
        args.append("--me")
    proc = _run(args)
    if proc.returncode != 0:
        raise RuntimeError(f"squeue failed with exit code {proc.returncode}: {proc.stderr.strip()}")
    left = []
    for line in proc.stdout.splitlines():
        fields = line.strip().split("|")
        if len(fields) != 4:
            continue
        job_id, array_job_id, display_id, state = fields
        if job_ids is None or job_ids.intersection((job_id, array_job_id, display_id)):
            left.append(f"{display_id} {state}")
    return left


def wait_for_jobs(
    job_ids: Iterable[str | int] | None = None,
    timeout_s: float = 120,
    poll_s: float = 0.5,
) -> None:
    """Wait until squeue no longer lists the jobs.

    Parameters
    ----------
    job_ids
        Job ids as sbatch prints them (``"123"``, ``"123;cluster"``, an array job's id
        stands for all its tasks, ``"123_4"`` for one task). None: all jobs of the
        current user.
    timeout_s
        Raise :class:`TimeoutError` if jobs are still listed after this long.
    poll_s
        Seconds between two squeue calls.
    """
    wanted = None if job_ids is None else {_normalize_id(j) for j in job_ids}
    if wanted is not None and not wanted:
        return
    deadline = time.monotonic() + timeout_s
    while True:
        left = _squeue(wanted)
        if not left:
            return
        if time.monotonic() >= deadline:
            which = "of the current user" if wanted is None else sorted(wanted)
            raise TimeoutError(f"jobs {which} still queued after {timeout_s:g} s: {left}")
        time.sleep(poll_s)


def job_states(job_id: str | int) -> dict[str, str]:
    """Map each record of a job to its JobState, as ``scontrol show job`` tells.

    The keys are ``"123"`` for a plain job and ``"123_4"`` for array tasks
    (``"123_5-8%2"`` for tasks still pending together). Empty once slurmctld has
    forgotten the job (``MinJobAge`` after it ended) or for an unknown id.
    """
    proc = _run(["scontrol", "show", "job", "-o", _normalize_id(job_id)])
    if proc.returncode != 0:
        if "Invalid job id" in proc.stderr:
            return {}
        raise RuntimeError(
            f"scontrol show job {job_id} failed with exit code {proc.returncode}: "
            f"{proc.stderr.strip()}"
        )
    states = {}
    for line in proc.stdout.splitlines():
        fields: dict[str, str] = {}
        # The first occurrence counts: Command= and WorkDir= come later and may hold anything.
        for key, value in _FIELD_RE.findall(line):
            fields.setdefault(key, value)
        if "JobState" not in fields:
            continue
        key = fields["JobId"]
        if "ArrayTaskId" in fields:
            key = f"{fields['ArrayJobId']}_{fields['ArrayTaskId']}"
        states[key] = fields["JobState"]
    return states


def job_state(job_id: str | int) -> str | None:
    """The JobState of a job (``"PENDING"``, ``"RUNNING"``, ``"COMPLETED"``, ``"FAILED"`` ...).

    For an array job, the state its tasks share, or their different states sorted
    and joined by ``","`` (``"COMPLETED,FAILED"``). None once slurmctld has forgotten
    the job or for an unknown id.
    """
    states = set(job_states(job_id).values())
    if not states:
        return None
    return ",".join(sorted(states))
