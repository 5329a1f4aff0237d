"""prep_batch: one folder of filled templates per pset and a submit script per machine."""

from __future__ import annotations

import glob
import json
import os
import re
import shutil
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from psweep.batch.jobscripts import (
    array_driver,
    job_line,
    record_function,
    run_script_header,
    write_submit_wrapper,
)
from psweep.batch.layout import RESULT_BASENAME, SUBMIT_FILES
from psweep.batch.machines import Machine, gather_machines
from psweep.batch.states import JOB_RECORD_PREFIX, is_job_line, run_script_psets
from psweep.batch.templates import (
    FileTemplate,
    PsweepTemplateError,
    _check_mode,
    gather_calc_templates,
)
from psweep.host import HOST
from psweep.lifecycle.rows import RESERVED_COLUMNS
from psweep.lifecycle.runner import run_local
from psweep.store.files import file_write, pickle_write
from psweep.store.paths import StudyPaths

__all__ = ["prep_batch"]

SLURM_DEFAULT_MAX_ARRAY_SIZE = 1001
PSET_BASENAME = "pset.json"
PSET_PICKLE_BASENAME = "pset.pk"

# the fields a pset has when its files are written: the reserved ones (not the
# runtime) and the two of psweep 0.16 that prep_batch fills in if they are missing
_RESERVED_FIELDS = (
    *(c for c in RESERVED_COLUMNS if c != "_pset_runtime"),
    "_pset_hash",
    "_exec_host",
)


def _template_values(pset: dict) -> dict:
    """The pset with the 0.16 names ``_pset_hash`` and ``_exec_host`` filled in."""
    values = dict(pset)
    values.setdefault("_pset_hash", pset.get("_pset_sha1"))
    values.setdefault("_exec_host", HOST)
    return values


def _check_placeholders(
    templates: list[FileTemplate], params: Sequence[dict], mode: str | None
) -> None:
    """Fail before anything is written if a template names a value no pset has."""
    common = set(_RESERVED_FIELDS)
    if params:
        common |= set.intersection(*(set(p) for p in params))
    for tmpl in templates:
        jinja = tmpl.mode(mode) == "jinja"
        missing = sorted(tmpl.identifiers(mode) - common)
        if missing:
            available = ", ".join(sorted(common))
            used = f"{{{{ {missing[0]} }}}}" if jinja else f"${{{missing[0]}}}"
            raise PsweepTemplateError(
                f"template {tmpl.filename!r} uses {used}, which not every pset has; "
                f"available: {available}"
            )


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, datetime):
        return obj.isoformat()
    return repr(obj)


def _site_max_array_size() -> int | None:
    """MaxArraySize of the SLURM cluster at hand, if scontrol answers."""
    if shutil.which("scontrol") is None:
        return None
    try:
        out = subprocess.run(
            ["scontrol", "show", "config"], capture_output=True, text=True, timeout=10, check=True
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    match = re.search(r"^MaxArraySize\s*=\s*(\d+)", out, re.MULTILINE)
    return int(match.group(1)) if match else None


def _array_size(info: dict) -> int:
    sizes = [s for s in (_site_max_array_size(), info.get("max_array_size")) if s]
    return min(sizes) if sizes else SLURM_DEFAULT_MAX_ARRAY_SIZE


def _pset_json(pset: dict) -> str:
    return json.dumps(pset, default=_json_default, indent=2, sort_keys=True) + "\n"


def _job_lines(machine: Machine, rows: pd.DataFrame, prefix: str) -> list[str]:
    return [
        job_line(machine, pid, f"run_seq={rs} pset_seq={seq}", prefix)
        for pid, rs, seq in zip(rows["_pset_id"], rows["_run_seq"], rows["_pset_seq"], strict=True)
    ]


def array_job_lines(
    machine: Machine,
    ids: list[str],
    stem: str,
    work_dir: str,
    note: Callable[[int, list[str]], str],
) -> list[str]:
    """One ``sbatch --array`` line per part of `ids` (split at the array size limit).

    Part k's ids go to the list file ``array_<machine>_<stem>_<k>.txt`` in
    `work_dir`, written here; ``note(start, part)`` is the line's comment.
    """
    size = _array_size(machine.info)
    throttle = machine.info.get("array_throttle")
    lines = []
    for part, start in enumerate(range(0, len(ids), size)):
        chunk = ids[start : start + size]
        list_name = f"array_{machine.name}_{stem}_{part}.txt"
        file_write(os.path.join(work_dir, list_name), "".join(f"{i}\n" for i in chunk))
        spec = f"0-{len(chunk) - 1}" + (f"%{throttle}" if throttle else "")
        lines.append(
            f"{machine.subcmd} --array={spec} array_{machine.name}.sh {list_name}"
            f"  # {note(start, chunk)}"
        )
    return lines


def _array_lines(machine: Machine, rows: pd.DataFrame, work_dir: str) -> list[str]:
    """One sbatch --array line per run and part; writes their list files."""
    lines = []
    for run_seq, run_rows in rows.groupby("_run_seq", sort=True):
        seqs = run_rows["_pset_seq"].tolist()

        def note(start: int, chunk: list[str], run_seq=run_seq, seqs=seqs) -> str:
            return f"run_seq={run_seq} pset_seq={seqs[start]}-{seqs[start + len(chunk) - 1]}"

        ids = run_rows["_pset_id"].tolist()
        lines += array_job_lines(machine, ids, f"run{run_seq}", work_dir, note)
    return lines


def _script_history(fn: str) -> list[str]:
    """The job lines of ``run_<m>.sh`` as it is, commented out, with the resubmit notes.

    Each line stays as it was written, in its order: it describes the jobs
    as they went out (one per pset or as an array, with the subcmd of that
    time), also after the machine's ``info.yaml`` changed.
    """
    try:
        with open(fn) as fh:
            old = fh.read().splitlines()
    except FileNotFoundError:
        return []
    keep = [ln for ln in old if is_job_line(ln) or ln.startswith(("# resubmit ", "#   "))]
    return [ln if ln.startswith("#") else f"# {ln}" for ln in keep]


def _listed(work_dir: str, machine: Machine) -> set[str]:
    """The psets of the lines of ``run_<machine>.sh``, also commented out ones."""
    try:
        return {pset_id for pset_id, _active in run_script_psets(work_dir, machine.name)}
    except FileNotFoundError:
        return set()


def _has_jobscript(work_dir: str, pset_id: str, machine: Machine) -> bool:
    return os.path.exists(os.path.join(work_dir, str(pset_id), machine.template.target))


def unsubmitted(work_dir: str, ids: pd.Index, machine: Machine) -> np.ndarray:
    """Which psets of `ids` have their job prepared for `machine` but never put out.

    Such a pset's folder holds the machine's jobscript, and no job record or
    result says its job ran, and ``run_<machine>.sh`` has no line of it yet
    (the new psets of this run, or those of a run killed before it wrote the
    script). Psets of lines there, also commented out ones, were put out.
    """
    listed = _listed(work_dir, machine)
    outputs = (machine.template.target, f"{JOB_RECORD_PREFIX}{machine.name}", RESULT_BASENAME)

    def prepared(pset_id: str) -> bool:
        folder = os.path.join(work_dir, str(pset_id))
        have = [os.path.exists(os.path.join(folder, name)) for name in outputs]
        return have == [True, False, False]

    return np.fromiter(
        (pid not in listed and prepared(pid) for pid in ids), dtype=bool, count=len(ids)
    )


def _write_run_scripts(work_dir: str, df: pd.DataFrame, machines: list[Machine]) -> None:
    """Rewrite each ``run_<machine>.sh``: its earlier lines commented out, then the new.

    The earlier lines are kept as they are (:func:`_script_history`); a pset
    prepared for the machine that has no line but ran (a job record or a
    result, its script lost) gets one, commented out. The new psets
    (:func:`unsubmitted`) get lines in the machine's current mode.
    """
    rows = df.sort_values("_pset_seq", kind="stable")
    for machine in machines:
        fn = os.path.join(work_dir, f"run_{machine.name}.sh")
        new = unsubmitted(work_dir, rows.index, machine)
        listed = _listed(work_dir, machine)
        unlisted = np.fromiter(
            (pid not in listed and _has_jobscript(work_dir, pid, machine) for pid in rows.index),
            dtype=bool,
            count=len(rows),
        )
        for pset_id in rows.index[new]:
            write_submit_wrapper(work_dir, pset_id, machine)
        lines = run_script_header(machine)
        if machine.info.get("array"):
            file_write(os.path.join(work_dir, f"array_{machine.name}.sh"), array_driver(machine))
        else:
            lines += record_function(machine)
        lines += _job_lines(machine, rows[unlisted & ~new], "# ")
        lines += _script_history(fn)
        if machine.info.get("array"):
            lines += _array_lines(machine, rows[new], work_dir)
        else:
            lines += _job_lines(machine, rows[new], "")
        file_write(fn, "\n".join(lines) + "\n")


def _copy_submit_files(src: str, dst: str) -> None:
    """Copy the submit files of `src` (:data:`SUBMIT_FILES`) to `dst`, for a dry run.

    A dry run starts from the scripts as they are, so that its scripts show
    what a real run would write.
    """
    for pattern in SUBMIT_FILES:
        for fn in glob.glob(os.path.join(glob.escape(src), pattern)):
            if os.path.isfile(fn):
                shutil.copy2(fn, dst)


@dataclass(frozen=True)
class _InputWriter:
    """prep_batch's func: write a pset's folder (its filled templates and pset.json).

    A class at module level, not a closure, so that a process pool can pickle it
    (``prep_batch(..., poolsize=N)``).
    """

    templates: list[FileTemplate]
    template_mode: str | None
    write_pset: bool

    def __call__(self, pset: dict) -> dict:
        folder = os.path.join(pset["_calc_dir"], pset["_pset_id"])
        values = _template_values(pset)
        for tmpl in self.templates:
            text = tmpl.fill(values, mode=self.template_mode)
            file_write(os.path.join(folder, tmpl.target), text)
        file_write(os.path.join(folder, PSET_BASENAME), _pset_json(pset))
        if self.write_pset:
            pickle_write(os.path.join(folder, PSET_PICKLE_BASENAME), values)
        return {}


def prep_batch(
    params: Sequence[dict],
    calc_dir: str = "calc",
    calc_templ_dir: str = "templates/calc",
    machine_templ_dir: str = "templates/machines",
    git: bool = False,
    backup: bool = False,
    simulate: bool = False,
    *,
    database_basename: str = "database.pk",
    write_pset: bool = False,
    template_mode: str | None = None,
    **kwds: Any,
) -> pd.DataFrame:
    """Write a folder of input files per pset and a submit script per machine.

    Every file in `calc_templ_dir` (with subfolders) and each machine's
    ``jobscript`` are filled with the pset's values and written to
    ``<calc_dir>/<_pset_id>/`` (a jobscript as ``jobscript_<machine>``), with
    the pset itself in ``pset.json``. ``<calc_dir>/run_<machine>.sh`` submits
    the new psets' jobs with the machine's ``subcmd``; lines of earlier runs
    stay as they were written, commented out. A machine that submits each
    job (``subcmd: sbatch``, not ``sh``) submits the pset's
    ``.psweep-submit_<machine>.sh``: the jobscript's leading ``#SBATCH``
    lines, then lines that run the jobscript and record how the job ended
    (for :func:`batch_states`). With ``array: true`` in a SLURM
    machine's info.yaml, new psets go out as job arrays instead (split to
    respect MaxArraySize, throttled by ``array_throttle``).

    Templates see the pset's keys and the reserved fields (``_pset_id``,
    ``_run_id``, ``_pset_seq``, ``_calc_dir``, ...; also psweep 0.16's
    ``_pset_hash`` and ``_exec_host``), whichever syntax they use.

    Parameters
    ----------
    params
        The psets.
    calc_dir, calc_templ_dir, machine_templ_dir
        Where the pset folders go and where the templates are. These and
        `git`, `backup` and `simulate` may be given by position, as in
        psweep 0.7.0, or by name, as in psweep 0.16.
    git, backup, simulate
        As in :func:`run_local`; with `simulate` the files go to
        ``<calc_dir>.simulate/``.
    database_basename
        The database in `calc_dir`.
    write_pset
        Also write ``pset.pk`` to each pset's folder: the pset as a pickled
        dict with the reserved fields, as psweep 0.16 does.
    template_mode
        ``"dollar"`` (``$name``, ``${name}``, ``$$``: psweep 0.7.0),
        ``"jinja"`` (``{{ name }}``: psweep 0.16) for all templates, or None
        (the default): each file is jinja if it has a ``{{ ... }}`` or
        ``{% ... %}``, else dollar (``FileTemplate.fill``).
    **kwds
        Passed to :func:`run_local`: ``df``, ``skip_dups``, ``poolsize``, ...
        (not ``func``: prep_batch's function writes the files).

    Returns
    -------
    The database, as :func:`run_local` returns it.

    Templates are checked before anything is written: a placeholder that
    some pset lacks raises :class:`PsweepTemplateError` naming the file,
    the placeholder and the values available.
    """
    if "func" in kwds:
        raise TypeError(
            "prep_batch() got a func: it runs its own function, which writes the template "
            "files; call run_local(func, params, ...) to run a function"
        )
    _check_mode(template_mode)
    calc_templates = gather_calc_templates(calc_templ_dir)
    machines = gather_machines(machine_templ_dir)
    params = list(params)
    templates = calc_templates + [m.template for m in machines]
    _check_placeholders(templates, [p for p in params if isinstance(p, dict)], template_mode)
    study = StudyPaths(calc_dir, database_basename, kwds.get("database_dir"))
    work = study.simulated() if simulate else study
    if simulate:
        if os.path.isdir(work.calc_dir):
            shutil.rmtree(work.calc_dir)
        os.makedirs(work.calc_dir)
        if os.path.exists(study.database):
            shutil.copy2(study.database, work.database)
        _copy_submit_files(study.calc_dir, work.calc_dir)
        kwds["database_dir"] = None  # the copy in <calc_dir>.simulate, not the study's

    write_inputs = _InputWriter(templates, template_mode, write_pset)
    wrote: list[bool] = []

    def write_scripts(df: pd.DataFrame) -> None:
        _write_run_scripts(work.calc_dir, df, machines)
        wrote.append(True)

    df = run_local(
        write_inputs,
        params,
        calc_dir=work.calc_dir,
        database_basename=database_basename,
        backup=backup and not simulate,
        git=git and not simulate,
        _after_save=write_scripts,
        **kwds,
    )
    if (
        not wrote
        and len(df)
        and any(unsubmitted(work.calc_dir, df.index, m).any() for m in machines)
    ):
        # nothing new to run, but psets of a run killed before it wrote the submit
        # scripts (or recovered from its journal just now) still need their lines
        write_scripts(df)
    return df
