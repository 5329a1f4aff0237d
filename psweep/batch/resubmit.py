"""resubmit_batch and ``psweep batch resubmit``: submit again only the jobs that failed."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Sequence
from datetime import datetime

import pandas as pd

from psweep.batch.jobscripts import (
    RECORD_FUNCTION,
    array_driver,
    job_line,
    record_function,
    run_script_header,
    write_submit_wrapper,
)
from psweep.batch.layout import find_batch_dir
from psweep.batch.machines import Machine, check_machine_name
from psweep.batch.preparation import array_job_lines
from psweep.batch.resubmit_options import RESUBMIT_REASONS, batch_parser
from psweep.batch.states import batch_states, is_job_line
from psweep.errors import PsweepError, PsweepTemplateError
from psweep.store.files import file_write

__all__ = ["main", "resubmit_batch"]

log = logging.getLogger("psweep")

_RESUBMIT_MARK = "# resubmit "


def _machine(machine: str, machine_templ_dir: str) -> Machine:
    check_machine_name(machine)
    folder = os.path.join(machine_templ_dir, machine)
    if not os.path.isdir(folder):
        known = (
            sorted(
                n
                for n in os.listdir(machine_templ_dir)
                if os.path.isdir(os.path.join(machine_templ_dir, n))
            )
            if os.path.isdir(machine_templ_dir)
            else []
        )
        raise PsweepTemplateError(
            f"machine {machine!r} is not known: no folder {folder!r}; "
            f"machines: {', '.join(known) or f'none in {machine_templ_dir!r}'}"
        )
    return Machine(folder)


def _commented(lines: list[str]) -> list[str]:
    """The script's lines with every active job line commented out."""
    out = []
    for line in lines:
        if not line.startswith("#") and is_job_line(line):
            line = "# " + line
        out.append(line)
    return out


def _with_record_function(lines: list[str], machine: Machine) -> list[str]:
    """The script's `lines` with the current ``psweep_record`` function, after its header.

    A script of an earlier psweep has none, or one that overwrites the record
    of a job that started before its submit command returned; the new lines
    call this one. Job lines commented out never call it again.
    """
    start = next((i for i, ln in enumerate(lines) if ln.startswith(f"{RECORD_FUNCTION}()")), None)
    if start is not None:
        end = next((i for i in range(start, len(lines)) if lines[i] == "}"), start)
        lines = lines[:start] + lines[end + 1 :]
    head = len(run_script_header(machine))
    return lines[:head] + record_function(machine) + lines[head:]


def _new_lines(machine: Machine, ids: list[str], calc_dir: str, nr: int) -> list[str]:
    """The job lines that submit `ids` again (writing their submit wrappers or list files)."""
    if not machine.info.get("array"):
        for pset_id in ids:
            write_submit_wrapper(calc_dir, pset_id, machine)  # from the current psweep
        return [job_line(machine, pid, f"resubmit={nr}") for pid in ids]
    file_write(os.path.join(calc_dir, f"array_{machine.name}.sh"), array_driver(machine))

    def note(_start: int, chunk: list[str]) -> str:
        return f"resubmit={nr} psets={len(chunk)}"

    return array_job_lines(machine, ids, f"resubmit{nr}", calc_dir, note)


def resubmit_batch(
    machine: str,
    *,
    missing: bool = True,
    failed: bool = True,
    timeout: bool = True,
    calc_dir: str = "calc",
    machine_templ_dir: str = "templates/machines",
    squeue: bool = True,
    dry_run: bool = False,
) -> pd.DataFrame:
    """Rewrite ``run_<machine>.sh`` to submit only the psets whose jobs did not deliver.

    The psets stay what they are: same folders, same ``_pset_id``, same
    files (the jobscripts are not rendered again) and no change to the
    database; :func:`collect_batch` marks them done once their results are
    there. The script keeps its history: every active line is commented out,
    then a comment names the psets resubmitted and why, then come the new
    lines -- job arrays (``array_<machine>_resubmit<N>_<part>.txt``, split
    and throttled as by prep_batch, with the array driver written again from
    the current ``info.yaml``, so a raised ``--time`` in ``sbatch_options``
    applies) if the machine has ``array: true``, else one line per pset.

    Parameters
    ----------
    machine
        The machine, a folder in `machine_templ_dir` with a
        ``<calc_dir>/run_<machine>.sh``.
    missing, failed, timeout
        Which states of :func:`batch_states` to resubmit: ``missing`` (went
        out on this machine, no result and not queued), ``failed`` (non-zero
        exit code, cancelled) and ``timeout`` (hit the time limit). Pending,
        running, done and prepared psets (never submitted on this machine,
        also those whose lines a later run commented out) are never
        resubmitted.
    calc_dir, machine_templ_dir
        As for prep_batch.
    squeue
        Ask squeue which jobs are still queued (see :func:`batch_states`).
    dry_run
        Write nothing, only return the selection.

    Returns
    -------
    The :func:`batch_states` rows of the selected psets. When none is
    selected, the script is left as it was and the frame is empty.
    """
    calc_dir = os.fspath(calc_dir)
    mach = _machine(machine, os.fspath(machine_templ_dir))
    wanted = [s for s, on in (("missing", missing), ("failed", failed), ("timeout", timeout)) if on]
    if not wanted:
        raise PsweepTemplateError(
            "resubmit_batch() needs at least one of missing, failed, timeout, got all False"
        )
    states = batch_states(calc_dir, machine, squeue=squeue)
    chosen = states[states["state"].isin(wanted)].reset_index(drop=True)
    if chosen.empty or dry_run:
        return chosen
    fn = os.path.join(calc_dir, f"run_{machine}.sh")
    with open(fn) as fh:
        lines = fh.read().splitlines()
    nr = 1 + sum(ln.startswith(_RESUBMIT_MARK) for ln in lines)
    ids = chosen["_pset_id"].tolist()
    counts = chosen["state"].value_counts()
    stamp = datetime.now().astimezone().isoformat(timespec="seconds")
    why = ", ".join(f"{counts[s]} {s}" for s in wanted if s in counts)
    comment = [f"{_RESUBMIT_MARK}{nr} ({stamp}, psweep.resubmit_batch): {len(ids)} psets, {why}"]
    for state in wanted:
        sel = chosen.loc[chosen["state"] == state, "_pset_id"]
        if len(sel):
            comment.append(f"#   {state} ({RESUBMIT_REASONS[state]}): {' '.join(sel)}")
    if lines[:1] != ["#!/bin/sh"]:
        lines = run_script_header(mach) + lines
    if not mach.info.get("array"):
        lines = _with_record_function(lines, mach)
    new = _commented(lines) + comment + _new_lines(mach, ids, calc_dir, nr)
    file_write(fn, "\n".join(new) + "\n")
    log.info("resubmit_batch: %s now submits %d psets (%s)", fn, len(ids), why)
    return chosen


def main(argv: Sequence[str] | None = None) -> int:
    """``psweep batch resubmit MACHINE [--missing] [--failed] [--timeout]``.

    `argv` are the words after ``batch``. Returns the exit status: 0 when
    the script was written (or, with ``--dry-run``, there is something to
    resubmit), 1 when there is nothing to resubmit, 2 for an error.
    """
    try:
        args = batch_parser().parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    flags = {s: getattr(args, s) for s in RESUBMIT_REASONS}
    if not any(flags.values()):
        flags = dict.fromkeys(flags, True)
    try:
        calc_dir = args.calc_dir
        if calc_dir is None:
            _machine(args.machine, args.machine_templ_dir)  # an unknown machine is named first
            calc_dir = find_batch_dir(args.machine)
        chosen = resubmit_batch(
            args.machine,
            calc_dir=calc_dir,
            machine_templ_dir=args.machine_templ_dir,
            dry_run=args.dry_run,
            **flags,
        )
    except (PsweepError, OSError) as exc:
        print(f"psweep batch resubmit: error: {exc}", file=sys.stderr)
        return 2
    script = os.path.join(calc_dir, f"run_{args.machine}.sh")
    which = "/".join(s for s, on in flags.items() if on)
    if chosen.empty:
        print(
            f"nothing to resubmit: no {which} psets of machine {args.machine!r}; "
            f"{script} left as it was"
        )
        return 1
    for state, pset_id in zip(chosen["state"], chosen["_pset_id"], strict=True):
        print(f"{state:8} {pset_id}")
    if args.dry_run:
        print(f"{len(chosen)} psets would be resubmitted (dry run, nothing written)")
    else:
        print(f"{len(chosen)} psets to resubmit; submit them with: sh {script}")
    return 0
