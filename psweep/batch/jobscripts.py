"""The shell scripts psweep writes around a machine's jobscript.

The lines of ``run_<machine>.sh`` that submit (or run) each pset's job and
record what became of it (:func:`job_line`, :func:`record_function`), the
array driver that each task of a job array runs (:func:`array_driver`) and the
submit wrapper that a machine submitting one job per pset submits in place of
the jobscript (:func:`submit_wrapper`). Job arrays and submit wrappers record
the start and end of their jobs with the same lines (:func:`_run_and_record`);
:mod:`psweep.batch.states` reads the records.
"""

from __future__ import annotations

import os
import re
import shlex

from psweep.batch.machines import Machine
from psweep.batch.states import JOB_RECORD_PREFIX, SUBMIT_WRAPPER_PREFIX
from psweep.store.files import file_write

__all__ = [
    "RECORD_FUNCTION",
    "SHELL_COMMANDS",
    "array_driver",
    "job_line",
    "record_function",
    "run_script_header",
    "runs_here",
    "submit_wrapper",
    "submits_wrapper",
    "write_submit_wrapper",
]


def run_script_header(machine: Machine) -> list[str]:
    """The first lines of ``run_<machine>.sh``: go to its folder."""
    return [
        "#!/bin/sh",
        f"# Submits the jobs of machine {machine.name!r} (written by psweep.prep_batch).",
        "# Lines of earlier runs are commented out. Works from any folder.",
        'here=$(cd "$(dirname "$0")" && pwd)',
        'cd "$here" || exit 1',
    ]


#: Commands of a machine's ``subcmd`` that run the job right here (and return its exit
#: code); any other (sbatch, qsub, ...) is taken to submit it (and return whether it took it).
SHELL_COMMANDS = frozenset({"sh", "bash", "dash", "ksh", "zsh"})
RECORD_FUNCTION = "psweep_record"


def runs_here(machine: Machine) -> bool:
    """True if the machine's subcmd runs the job itself (``sh``), False if it submits it."""
    return os.path.basename(machine.subcmd.split()[0]) in SHELL_COMMANDS


def record_function(machine: Machine) -> list[str]:
    """The shell function of ``run_<machine>.sh`` that records each job line's outcome.

    ``psweep_record $?`` after the subcmd writes ``<_pset_id>/.psweep-job_<machine>``:
    ``state=exited`` with the job's exit code where the subcmd runs the job
    (:func:`runs_here`), else ``state=submitted`` (exit code 0) or
    ``state=rejected`` (the submit command refused the job). A submitted job
    writes its own record when it starts and ends (:func:`submit_wrapper`),
    maybe before the submit command returns: the job line removes the old
    record before it submits, and psweep_record writes none where the job
    already did (``set -C``).
    """
    record = JOB_RECORD_PREFIX + machine.name
    fields = "printf 'state=%s\\nexit_code=%s\\njob_id=\\nhost=%s\\ntime=%s\\n' \\"
    values = '"$state" "$1" "$(hostname)" "$(date +%s)"'
    if runs_here(machine):
        body = [
            "    state=exited",
            f"    {fields}",
            f"        {values} > {record}.tmp &&",
            f"        mv -f {record}.tmp {record}",
        ]
    else:
        body = [
            '    if [ "$1" = 0 ]; then state=submitted; else state=rejected; fi',
            "    # the job may have started, or ended, and written its record: that one stays",
            f"    (set -C; {fields}",
            f"        {values} > {record}) 2>/dev/null",
        ]
    return [
        f"{RECORD_FUNCTION}() {{  # what became of the job, for psweep status and resubmit",
        *body,
        "}",
    ]


def job_line(machine: Machine, pset_id: str, note: str, prefix: str = "") -> str:
    """The line of ``run_<machine>.sh`` that submits (or runs) one pset's job.

    A machine that submits a :func:`submit_wrapper` removes the pset's job
    record first: the job's own records then tell about this job alone. It
    submits the wrapper by its absolute path, which squeue shows as the job's
    command also where the jobscript moves the job elsewhere (``#SBATCH
    --chdir``): :func:`psweep.batch.states.batch_states` finds the pset's job.
    """
    if submits_wrapper(machine):
        record = JOB_RECORD_PREFIX + machine.name
        wrapper = f'"$PWD"/{SUBMIT_WRAPPER_PREFIX}{machine.name}.sh'
        run = f"rm -f {record}; {machine.subcmd} {wrapper}"
    else:
        run = f"{machine.subcmd} {machine.template.target}"
    return f'{prefix}cd {pset_id}; {run}; {RECORD_FUNCTION} $?; cd "$here"  # {note}'


def _run_and_record(record: str, run: str) -> list[str]:
    """The lines of a job's script that run the pset's jobscript and record its end.

    The job record `record` (a shell word) gets ``state=running`` when the job
    starts and ``state=exited`` with the exit code of `run` (the command that
    runs the jobscript) when it ends; on SIGTERM (time limit, scancel)
    ``state=timeout`` if slurmctld gives the job JobState TIMEOUT or Reason
    TimeLimit, else ``state=cancelled`` (read by batch_states). Every record
    says when the job started (``started``, seconds since the epoch). The
    script sets ``job_id`` before these lines. The array driver and the
    submit wrapper both end with them.

    SLURM sends the signals of ``--signal=B:<sig>`` and ``scancel -b`` to this
    shell alone: it passes USR1, USR2, HUP, INT and CONT on to the jobscript
    (whose own traps then run) and waits on until the jobscript ended. The
    jobscript gets SIGINT as it would as the job's script, not ignored as a
    background command (where ``env --default-signal`` is there, coreutils 8.31).
    """
    return [
        "record() {",
        "    printf 'state=%s\\nexit_code=%s\\njob_id=%s\\nhost=%s\\ntime=%s\\nstarted=%s\\n' \\",
        f'        "$1" "$2" "$job_id" "$(hostname)" "$(date +%s)" "$started" > {record}.tmp &&',
        f"        mv -f {record}.tmp {record}",
        "}",
        "on_term() {",
        "    # SLURM sends SIGTERM at the time limit and on scancel; the job tells which",
        "    # (while it completes, JobState is COMPLETING and Reason TimeLimit)",
        "    # bounded: an unreachable controller makes scontrol retry longer than KillWait",
        '    job=$(timeout 5 scontrol show job -o "$SLURM_JOB_ID" 2>/dev/null)',
        '    case " $job " in',
        '        *" JobState=TIMEOUT "* | *" Reason=TimeLimit "*) record timeout 143 ;;',
        "        *) record cancelled 143 ;;",
        "    esac",
        "    exit 143",
        "}",
        "forward() {",
        "    forwarded=1",
        '    kill -s "$1" "$child" 2>/dev/null',
        "}",
        "trap on_term TERM  # before the record: a SIGTERM right after it is caught",
        'for sig in USR1 USR2 HUP INT CONT; do trap "forward $sig" "$sig"; done',
        "started=$(date +%s)",
        "record running ''",
        "# a background command ignores SIGINT; the jobscript gets it as the job's script would",
        "reset='env --default-signal=INT,QUIT'",
        "$reset true 2>/dev/null || reset=  # coreutils before 8.31: as it is",
        f"$reset {run} &",
        "child=$!",
        "# a forwarded signal ends wait (status > 128), not the jobscript: wait on for it",
        "forwarded=1; rc=129",
        'while [ "$forwarded" ] && [ "$rc" -gt 128 ]; do',
        "    forwarded=",
        '    wait "$child"',
        "    rc=$?",
        "done",
        'record exited "$rc"',
        'exit "$rc"',
        "",
    ]


def array_driver(machine: Machine) -> str:
    """The script each array task runs: the pset's jobscript, with a record of its end.

    The jobscript runs with the interpreter of the ``#!`` line of the
    machine's jobscript template (``sh`` without one), as a submit wrapper runs
    it (:func:`submit_wrapper`).

    ``<_pset_id>/.psweep-job_<machine>`` gets the records of
    :func:`_run_and_record`.
    """
    opts = [f"#SBATCH {opt}" for opt in machine.info.get("sbatch_options", [])]
    record = JOB_RECORD_PREFIX + machine.name
    # every pset's jobscript is made from one template: its #! line is theirs
    try:
        with open(machine.template.filename) as fh:
            interpreter, _ = _directives(fh.readline())
    except OSError:
        interpreter = ["sh"]
    run = " ".join(shlex.quote(w) for w in interpreter) + f" {machine.template.target}"
    return "\n".join(
        [
            "#!/bin/sh",
            *opts,
            "# One task of a psweep job array: runs the pset on line",
            "# $SLURM_ARRAY_TASK_ID (counted from 0) of the list file given as $1",
            f"# and records its start and end in <_pset_id>/{record} (psweep.batch_states).",
            'pset_id=$(sed -n "$((SLURM_ARRAY_TASK_ID + 1))p" "$1")',
            'cd "$pset_id" || exit 1',
            'job_id="${SLURM_ARRAY_JOB_ID}_${SLURM_ARRAY_TASK_ID}"',
            *_run_and_record(record, run),
        ]
    )


def _directives(jobscript: str) -> tuple[list[str], list[str]]:
    """The interpreter of `jobscript` (its ``#!`` line as argv, else ``sh``) and the
    comment lines that lead it (``#SBATCH ...``: up to its first command)."""
    lines = jobscript.splitlines()
    interpreter = ["sh"]
    if lines and lines[0].startswith("#!"):
        # as the kernel reads it: the program and at most one argument, the rest
        program, _, arg = lines.pop(0)[2:].strip().partition(" ")
        interpreter = [program, arg.strip()] if arg.strip() else [program]
    lead = []
    for line in lines:
        if line.strip() and not line.lstrip().startswith("#"):
            break
        if line.strip():
            lead.append(line)
    return interpreter, lead


def submit_wrapper(machine: Machine, jobscript: str) -> str:
    """The script that `machine` submits for a pset whose jobscript is `jobscript`.

    A machine that submits one job per pset (``subcmd: sbatch``, ``qsub``,
    ... without ``array: true``) submits ``<_pset_id>/.psweep-submit_<machine>.sh``
    in place of the jobscript: it carries the jobscript's leading comment lines
    (the scheduler reads its directives, ``#SBATCH ...``, from the script it
    gets), then runs the jobscript with the interpreter of its ``#!`` line, in
    the folder the job starts in, and records the job's start and end in
    ``<_pset_id>/.psweep-job_<machine>`` (:func:`_run_and_record`). The pset's
    folder is where the job was submitted from (SLURM_SUBMIT_DIR,
    PBS_O_WORKDIR, else the job's folder).
    """
    interpreter, lead = _directives(jobscript)
    target = machine.template.target
    record = JOB_RECORD_PREFIX + machine.name
    if _slurm(machine, lead) and not any(_JOB_NAME.match(line) for line in lead):
        # SLURM names a job after the script it gets: keep the jobscript's name in squeue
        lead = [*lead, f"#SBATCH --job-name={target}"]
    run = " ".join(shlex.quote(w) for w in interpreter) + f' "$pset_dir"/{target}'
    return "\n".join(
        [
            "#!/bin/sh",
            *lead,
            f"# psweep's submit wrapper of {target} (written by psweep.prep_batch): the lines",
            f"# above are those of {target} before its first command; this job runs it",
            f"# and records its start and end in {record} (psweep.batch_states).",
            "pset_dir=${SLURM_SUBMIT_DIR:-${PBS_O_WORKDIR:-$PWD}}",
            "job_id=${SLURM_JOB_ID:-${PBS_JOBID:-}}",
            *_run_and_record(f'"$pset_dir"/{record}', run),
        ]
    )


# -J<name>, -J <name>, or --job-name or any prefix of it sbatch takes (--job, --job-n, ...)
_JOB_NAME = re.compile(r"#SBATCH\s+(-J|--job(-(n(a(me?)?)?)?)?(=|\s|$))")


def _slurm(machine: Machine, lead: list[str]) -> bool:
    """Whether `machine` submits to SLURM: its subcmd is sbatch, or the lines say #SBATCH."""
    command = os.path.basename(machine.subcmd.split()[0])
    return command == "sbatch" or any(line.startswith("#SBATCH") for line in lead)


def submits_wrapper(machine: Machine) -> bool:
    """Whether `machine` submits each pset's :func:`submit_wrapper` (not an array, not sh)."""
    return not runs_here(machine) and not machine.info.get("array")


def write_submit_wrapper(work_dir: str, pset_id: str, machine: Machine) -> None:
    """Write the :func:`submit_wrapper` of a pset from its jobscript, if `machine` submits one.

    A pset without its jobscript gets none: its submit command then refuses
    the job, which psweep_record calls ``rejected``.
    """
    if not submits_wrapper(machine):
        return
    folder = os.path.join(work_dir, str(pset_id))
    try:
        with open(os.path.join(folder, machine.template.target)) as fh:
            jobscript = fh.read()
    except FileNotFoundError:
        return
    text = submit_wrapper(machine, jobscript)
    file_write(os.path.join(folder, SUBMIT_WRAPPER_PREFIX + machine.name + ".sh"), text)
