"""batch_states: where each pset's batch job is, from the files in calc/ and squeue."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Iterator

import pandas as pd

from psweep.batch.layout import RESULT_BASENAME, other_dirs_hint
from psweep.batch.machines import check_machine_name
from psweep.errors import PsweepTemplateError

__all__ = [
    "BATCH_STATES",
    "JOB_RECORD_PREFIX",
    "RESULT_CLOCK_SLACK_S",
    "SUBMIT_WRAPPER_PREFIX",
    "batch_state_summary",
    "batch_states",
    "fresh_result",
    "is_job_line",
    "read_job_record",
    "run_script_psets",
]

#: The states of :func:`batch_states`, in the order of :func:`batch_state_summary`.
BATCH_STATES = ("prepared", "pending", "running", "done", "missing", "failed", "timeout")

#: ``<calc_dir>/<_pset_id>/.psweep-job_<machine>``: written when the job starts and
#: again when it ends, by the array driver ``array_<machine>.sh`` or the submit wrapper
#: (below); ``psweep_record`` in ``run_<machine>.sh`` writes it for the other jobs.
JOB_RECORD_PREFIX = ".psweep-job_"

#: ``<calc_dir>/<_pset_id>/.psweep-submit_<machine>.sh``: the script a machine that
#: submits one job per pset (sbatch without ``array: true``) submits, which runs the
#: pset's jobscript and writes its job record.
SUBMIT_WRAPPER_PREFIX = ".psweep-submit_"

SQUEUE_TIMEOUT_S = 10.0

_RUN_SCRIPT = re.compile(r"run_(.+)\.sh\Z")
# a line of run_<m>.sh: "[# ]cd <id>; ..." or "[# ]<subcmd> --array=<spec> array_<m>.sh <list>"
_JOB_LINE = re.compile(r"(?P<old># )?cd (?P<pset_id>\S+); ")
# a job line that records its outcome (preparation.RECORD_FUNCTION)
_RECORD_CALL = "; psweep_record $?; "
_ARRAY_LINE = re.compile(r"(?P<old># )?\S.* --array=\S+ array_(?P<m>\S+)\.sh (?P<list>\S+)")


def _machines_in(calc_dir: str) -> list[str]:
    try:
        names = os.listdir(calc_dir)
    except FileNotFoundError:
        return []
    return sorted(m.group(1) for m in map(_RUN_SCRIPT.match, names) if m)


def is_job_line(line: str) -> bool:
    """True for a line of ``run_<machine>.sh`` that submits jobs, or did (commented out).

    A pset's line (``cd <_pset_id>; ...``) or a job array's
    (``<subcmd> --array=<spec> array_<machine>.sh <list>``).
    """
    return bool(_JOB_LINE.match(line) or _ARRAY_LINE.match(line))


def run_script_psets(calc_dir: str, machine: str) -> Iterator[tuple[str, bool]]:
    """Yield ``(_pset_id, active)`` for each pset line of ``run_<machine>.sh``, in order.

    `active` is False for a line commented out (an earlier run or resubmit),
    True for one the script submits. Array lines give the psets of their
    list file (``array_<machine>_*.txt``).
    """
    for pset_id, active, _recorded in _script_psets(calc_dir, machine):
        yield pset_id, active


def _script_psets(calc_dir: str, machine: str) -> Iterator[tuple[str, bool, bool]]:
    """As run_script_psets, with whether the line's job leaves a job record.

    Array jobs do (the array driver writes it), and so do the job lines of
    psweep since they call ``psweep_record``; those of earlier versions do not.
    """
    fn = os.path.join(calc_dir, f"run_{machine}.sh")
    with open(fn) as fh:
        lines = fh.read().splitlines()
    for line in lines:
        if m := _ARRAY_LINE.match(line):
            if m.group("m") != machine:
                continue
            try:
                with open(os.path.join(calc_dir, m.group("list"))) as fh:
                    ids = fh.read().split()
            except FileNotFoundError:
                continue
            for pset_id in ids:
                yield pset_id, m.group("old") is None, True
        elif m := _JOB_LINE.match(line):
            yield m.group("pset_id"), m.group("old") is None, _RECORD_CALL in line


def read_job_record(fn: str) -> dict[str, str] | None:
    """The ``key=value`` lines of a job record, or None if there is none."""
    try:
        with open(fn) as fh:
            text = fh.read()
    except (FileNotFoundError, NotADirectoryError):
        return None
    return dict(ln.split("=", 1) for ln in text.splitlines() if "=" in ln)


def _squeue_lines() -> list[str] | None:
    """The lines of one ``squeue --me -r`` call, ``job_id|task|state|work_dir|command``;
    None: no answer."""
    if shutil.which("squeue") is None:
        return None
    try:
        proc = subprocess.run(
            ["squeue", "--me", "-h", "-r", "-o", "%i|%K|%T|%Z|%o"],
            capture_output=True,
            text=True,
            timeout=SQUEUE_TIMEOUT_S,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return proc.stdout.splitlines() if proc.returncode == 0 else None


def _array_list(calc_abs: str, name: str, cache: dict[str, list[str]]) -> list[str]:
    """The pset ids of the array list file `name` in `calc_abs` (read once)."""
    if name not in cache:
        try:
            with open(os.path.join(calc_abs, name)) as fh:
                cache[name] = fh.read().split()
        except OSError:
            cache[name] = []
    return cache[name]


def _pset_job(command: str) -> tuple[str, str] | None:
    """``(machine, pset_dir)`` of a pset's job, which runs its submit wrapper or (submitted
    by an earlier psweep) its jobscript, without arguments; None for another command."""
    pset_dir, name = os.path.split(command)
    if name.startswith(SUBMIT_WRAPPER_PREFIX) and name.endswith(".sh"):
        return name[len(SUBMIT_WRAPPER_PREFIX) : -len(".sh")], pset_dir
    if name.startswith("jobscript_"):
        return name[len("jobscript_") :], pset_dir
    return None


def _queued_pset(
    command: str, task: str, calc_abs: str, lists: dict[str, list[str]]
) -> tuple[str, str] | None:
    """``(machine, pset_id)`` of the job running `command` of this calc dir, else None.

    The paths may hold spaces; an array's list file (its one argument) does not.
    """
    if (job := _pset_job(command)) is not None:
        machine, pset_dir = job
        calc, pset_id = os.path.split(pset_dir)
        return (machine, pset_id) if os.path.realpath(calc) == calc_abs else None
    script, _, arg = command.rpartition(" ")
    folder, name = os.path.split(script)
    if name.startswith("array_") and name.endswith(".sh") and task.isdigit():
        if os.path.realpath(folder) != calc_abs:
            return None
        ids = _array_list(calc_abs, arg, lists)
        if int(task) < len(ids):
            return name[len("array_") : -len(".sh")], ids[int(task)]
    return None


def _submits_to_slurm(calc_dir: str, machines: list[str]) -> bool:
    """Whether a submit script of `machines` calls sbatch: only then can squeue know a job
    (and only then is it asked, which may take seconds where no controller answers)."""
    for mach in machines:
        try:
            with open(os.path.join(calc_dir, f"run_{mach}.sh")) as fh:
                if re.search(r"\bsbatch\b", fh.read()):
                    return True
        except OSError:
            continue
    return False


def _squeue(calc_dir: str) -> dict[tuple[str, str], tuple[str, str]] | None:
    """Queued jobs of this calc_dir as {(machine, pset_id): (state, job_id)}; None: no answer.

    One ``squeue --me -r`` call; jobs are told apart by their command:
    ``<calc_dir>/array_<m>.sh <list>`` (task k runs line k+1 of the list),
    ``<calc_dir>/<pset_id>/.psweep-submit_<m>.sh`` or, submitted by an earlier
    psweep, ``<calc_dir>/<pset_id>/jobscript_<m>``. SLURM gives the command as
    sbatch got it, for a script without arguments relative to the folder it was
    submitted from (the job's working directory): such a command is taken
    from there.
    """
    lines = _squeue_lines()
    if lines is None:
        return None
    calc_abs = os.path.realpath(calc_dir)
    queued: dict[tuple[str, str], tuple[str, str]] = {}
    lists: dict[str, list[str]] = {}
    for line in lines:
        fields = line.split("|", 4)
        if len(fields) != 5:
            continue
        job_id, task, state, work_dir, command = fields
        command = os.path.join(work_dir, command)  # an absolute command stays as it is
        key = _queued_pset(command, task, calc_abs, lists)
        if key is not None:
            queued[key] = ("pending" if state == "PENDING" else "running", job_id)
    return queued


#: Seconds a result file may seem older than the start of the job that wrote it: the
#: clocks of a compute node and of the file server that stamps the file differ a little.
RESULT_CLOCK_SLACK_S = 2


def fresh_result(fn: str, record: dict | None) -> bool:
    """Whether the result file `fn` is there and was written by the job `record` tells of.

    A result older than that job's start (``started``, which submit wrappers and
    array tasks record) or, while the job is only submitted or running, older
    than the record itself, is a leftover of an earlier job of the pset (say,
    one that failed after writing it, before the pset was submitted again): it
    does not count. Records without a time (earlier psweep) take any result.
    """
    try:
        mtime = os.stat(fn).st_mtime
    except OSError:
        return False
    record = record or {}
    since = record.get("started")
    if not since and record.get("state") in ("submitted", "running"):
        since = record.get("time")
    if not since or not since.isdigit():
        return True
    return mtime >= int(since) - RESULT_CLOCK_SLACK_S


# the record states of a job that did not succeed (or never went out); so does
# "exited" with any exit code but 0
_FAILED_ENDS = ("rejected", "cancelled", "timeout")


def _failed(record: dict) -> bool:
    """Whether a job record says the job failed: the jobscript exited non-zero, the job
    was cancelled or stopped at its time limit, or the submit command refused it."""
    state = record.get("state")
    return state in _FAILED_ENDS or (state == "exited" and record.get("exit_code") != "0")


def _state(
    result: bool,
    queued: tuple[str, str] | None,
    record: dict | None,
    line: tuple[bool, bool],
    squeue_ok: bool,
) -> str:
    """The state of one pset's job on one machine; `line` is (active, recorded)."""
    active, recorded = line
    if queued is not None:
        return queued[0]
    record = record or {}  # no record: no state, no exit code
    state = record.get("state")
    # a result counts for this machine only if its job ran (or went to the queue) and did
    # not fail: a job that exits non-zero after writing it is failed, its result partial;
    # a line of an earlier psweep leaves no record, so there any result counts
    # a job that records its start (submit wrapper, array task) and is still running
    # has not ended: its result may be partial until it exits 0
    ended = not (state == "running" and record.get("started"))
    if result and ended and not _failed(record) and (state is not None or not recorded):
        return "done"
    if state is None:
        # no record: a line that leaves one never ran, its job never went out (or, an
        # array, no task started); a line of an earlier psweep leaves none: commented
        # out, its job is taken to have gone out with an earlier run of the script
        return "prepared" if active or recorded else "missing"
    if state in ("running", "submitted"):
        # the job started or was queued; if squeue answers and no longer lists it, it
        # ended without a result; a submitted job squeue cannot tell about is prepared
        if squeue_ok:
            return "missing"
        return "running" if state == "running" else "prepared"
    if state == "timeout":
        return "timeout"
    if state == "exited" and record.get("exit_code") == "0":
        return "missing"
    return "failed"  # a non-zero exit code, cancelled, killed, or refused by the submit command


def batch_states(
    calc_dir: str = "calc",
    machine: str | None = None,
    *,
    squeue: bool = True,
    result_basename: str = RESULT_BASENAME,
) -> pd.DataFrame:
    """The state of every pset's batch job, per machine.

    Fast and side-effect free: it takes no lock, writes nothing and reads
    neither the database nor result files (only whether they exist). It
    reads the submit scripts ``<calc_dir>/run_<machine>.sh`` (which psets
    each machine has, and which lines are active), their array list files,
    the tiny job records ``<_pset_id>/.psweep-job_<machine>`` and asks
    ``squeue --me`` once (10 s at most; skipped with ``squeue=False``, when
    there is no squeue, or when no submit script calls sbatch).

    The states (:data:`BATCH_STATES`), first match wins:

    ``pending``, ``running``
        squeue lists the job (by its command: the pset's submit wrapper, the
        array driver with its list file and task id, or the pset's jobscript
        that an earlier psweep submitted).
    ``done``
        ``result.json`` is there and this machine's job record says its job
        ran or was submitted, and did not fail (a result made by another
        machine's job does not count, nor one left by a job that then exited
        non-zero, was cancelled or timed out: that job is ``failed`` or
        ``timeout``). A line of a script from an earlier psweep leaves no
        record: there the result alone counts.
    ``running``
        The job record says the job started, and squeue did not answer.
    ``missing``
        The job went out and ended without a result: the job record says it
        started, was submitted or exited 0, but there is no result and
        squeue (answering) no longer lists it. A line of a script from an
        earlier psweep leaves no record: there a commented-out line without
        a result counts as missing (taken to be submitted by an earlier run
        of the script).
    ``timeout``
        The job was stopped at its time limit (SLURM's JobState TIMEOUT when
        the job got SIGTERM).
    ``failed``
        The pset's jobscript exited non-zero (also after writing
        ``result.json``), the job was cancelled or
        killed by a signal, or the submit command refused it (sbatch for a
        partition that does not exist, say; a refused job array leaves no
        record, its psets stay ``prepared``).
    ``prepared``
        None of the above: the job never went out on this machine, its line
        active or commented out by a later run (no job record: the line never
        ran; for an array, no task started), or it was submitted but squeue
        does not answer.

    The job records: a job that went to the queue writes its own when it
    starts and when it ends, with its exit code (for a job array, ``array:
    true``, the array driver; for a job submitted on its own, the pset's
    submit wrapper ``.psweep-submit_<machine>.sh``). ``psweep_record``,
    called by each line of ``run_<machine>.sh`` after the subcmd, records the
    exit code of a job that ran right there (``subcmd: sh``), or whether the
    submit command took the job (``state=submitted``, unless the job wrote
    its record already) or refused it (``state=rejected``).

    Parameters
    ----------
    calc_dir
        The folder prep_batch wrote.
    machine
        Only this machine; None: every machine with a ``run_<machine>.sh``.
    squeue
        Ask squeue for pending and running jobs.
    result_basename
        The result file a job writes.

    Returns
    -------
    One row per pset and machine, in the order of the submit scripts, with
    columns ``_pset_id``, ``machine``, ``state``, ``active`` (the pset's
    latest line in the script is not commented out), ``job_id`` (from squeue
    or the record, else None) and ``exit_code`` (from the record, else None).
    Raises :class:`PsweepTemplateError` (a ValueError) for a machine without
    ``run_<machine>.sh``.
    """
    calc_dir = os.fspath(calc_dir)
    known = _machines_in(calc_dir)
    if machine is not None:
        check_machine_name(machine)
        if machine not in known:
            raise PsweepTemplateError(
                f"machine {machine!r} has no submit script {calc_dir}/run_{machine}.sh; "
                f"machines with one: {', '.join(known) or 'none (run prep_batch first)'}"
                f"{other_dirs_hint(machine, calc_dir)}"
            )
        known = [machine]
    queued = _squeue(calc_dir) if squeue and _submits_to_slurm(calc_dir, known) else None
    rows = []
    for mach in known:
        lines: dict[str, tuple[bool, bool]] = {}
        for pset_id, is_active, recorded in _script_psets(calc_dir, mach):
            lines[pset_id] = (is_active, recorded)  # the latest line counts
        for pset_id, line in lines.items():
            folder = os.path.join(calc_dir, pset_id)
            record = read_job_record(os.path.join(folder, JOB_RECORD_PREFIX + mach))
            in_queue = None if queued is None else queued.get((mach, pset_id))
            result = fresh_result(os.path.join(folder, result_basename), record)
            job_id = in_queue[1] if in_queue else (record or {}).get("job_id")
            exit_code = (record or {}).get("exit_code", "")
            rows.append(
                {
                    "_pset_id": pset_id,
                    "machine": mach,
                    "state": _state(result, in_queue, record, line, queued is not None),
                    "active": line[0],
                    "job_id": job_id or None,
                    "exit_code": int(exit_code) if exit_code.isdigit() else None,
                }
            )
    columns = ["_pset_id", "machine", "state", "active", "job_id", "exit_code"]
    df = pd.DataFrame(rows, columns=columns)
    df["exit_code"] = df["exit_code"].astype("Int64")
    return df


def batch_state_summary(states: pd.DataFrame) -> dict[str, dict[str, int]]:
    """Count the states of :func:`batch_states` per machine.

    Returns ``{machine: {state: n}}`` with every state of
    :data:`BATCH_STATES` (0 where none), e.g.
    ``{"cluster": {"prepared": 0, "pending": 0, "running": 1, "done": 4, ...}}``.
    """
    summary = {}
    for mach, group in states.groupby("machine", sort=True):
        counts = group["state"].value_counts()
        summary[str(mach)] = {s: int(counts.get(s, 0)) for s in BATCH_STATES}
    return summary
