"""Batch jobs from templates: one folder per pset, a submit script per machine.

Layout (psweep 0.7.0)::

    templates/calc/...                  files copied into every pset folder
    templates/machines/<m>/jobscript    job script of machine <m>
    templates/machines/<m>/info.yaml    settings of machine <m> (subcmd, ...)

:func:`prep_batch` renders them into ``<calc_dir>/<_pset_id>/`` and writes
``<calc_dir>/run_<m>.sh``; :func:`collect_batch` reads the ``result.json``
files the jobs write back into the database.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shlex
import shutil
import string
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
import yaml

from .assemble import RESERVED_COLUMNS
from .database import df_read, df_write
from .errors import PsweepError
from .files import file_write
from .locking import DEFAULT_LOCK_TIMEOUT_S, database_lock
from .merge import lock_path
from .runner import run_local

__all__ = [
    "MACHINE_KEYS",
    "Machine",
    "PsweepTemplateError",
    "check_machine_name",
    "collect_batch",
    "machine_info",
    "prep_batch",
]

log = logging.getLogger("psweep")

MACHINE_KEYS = (
    "subcmd",
    "array",
    "array_throttle",
    "max_array_size",
    "sbatch_options",
    "host",
    "path",
)
SLURM_DEFAULT_MAX_ARRAY_SIZE = 1001
RESULT_BASENAME = "result.json"
PSET_BASENAME = "pset.json"


class PsweepTemplateError(PsweepError, ValueError):
    """A template or a machine folder is not usable."""


@dataclass(frozen=True)
class Template:
    """One template file: where it comes from and where it goes in a pset folder."""

    path: str
    target: str
    template: string.Template = field(repr=False)

    def identifiers(self) -> set[str]:
        found = set()
        for match in self.template.pattern.finditer(self.template.template):
            if match.group("invalid") is not None:
                line = self.template.template[: match.start()].count("\n") + 1
                raise PsweepTemplateError(
                    f"template {self.path!r}, line {line}: a '$' that starts no placeholder; "
                    "write $$ for a literal dollar sign, $name or ${name} for a value"
                )
            name = match.group("named") or match.group("braced")
            if name is not None:
                found.add(name)
        return found

    def fill(self, values: dict) -> str:
        return self.template.substitute({k: _text(v) for k, v in values.items()})


@dataclass(frozen=True)
class Machine:
    """A machine folder: its job script template and its settings."""

    name: str
    jobscript: Template
    info: dict

    @property
    def subcmd(self) -> str:
        return self.info["subcmd"]


def _text(value: Any) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def _read_template(path: str, target: str) -> Template:
    try:
        with open(path) as fh:
            text = fh.read()
    except UnicodeDecodeError as exc:
        raise PsweepTemplateError(f"template {path!r} is not text (UTF-8): {exc}") from exc
    return Template(path, target, string.Template(text))


def _calc_templates(calc_templ_dir: str) -> list[Template]:
    if not os.path.isdir(calc_templ_dir):
        raise PsweepTemplateError(f"calc_templ_dir {calc_templ_dir!r} is not a directory")
    templates = []
    for root, dirs, files in os.walk(calc_templ_dir):
        dirs.sort()
        for name in sorted(files):
            path = os.path.join(root, name)
            templates.append(_read_template(path, os.path.relpath(path, calc_templ_dir)))
    return templates


def machine_info(machine_dir: str) -> dict:
    """Read and check ``<machine_dir>/info.yaml``."""
    fn = os.path.join(machine_dir, "info.yaml")
    if not os.path.isfile(fn):
        raise PsweepTemplateError(
            f"machine folder {machine_dir!r} has no info.yaml; it needs at least 'subcmd: sh'"
        )
    with open(fn) as fh:
        try:
            info = yaml.safe_load(fh)
        except yaml.YAMLError as exc:
            raise PsweepTemplateError(f"{fn!r} is not valid YAML: {exc}") from exc
    if not isinstance(info, dict) or not isinstance(info.get("subcmd"), str):
        raise PsweepTemplateError(
            f"{fn!r} must be a mapping with a 'subcmd' string (e.g. 'subcmd: sbatch'), got {info!r}"
        )
    unknown = sorted(set(info) - set(MACHINE_KEYS))
    if unknown:
        raise PsweepTemplateError(
            f"{fn!r}: unknown setting(s) {unknown}; valid: {', '.join(MACHINE_KEYS)}"
        )
    if info.get("array"):
        if os.path.basename(info["subcmd"].split()[0]) != "sbatch":
            raise PsweepTemplateError(
                f"{fn!r}: 'array: true' is for SLURM and needs 'subcmd: sbatch', "
                f"got {info['subcmd']!r}"
            )
        for key in ("array_throttle", "max_array_size"):
            val = info.get(key)
            if val is not None and (isinstance(val, bool) or not isinstance(val, int) or val < 1):
                raise PsweepTemplateError(f"{fn!r}: {key} must be a whole number >= 1, got {val!r}")
    opts = info.get("sbatch_options", [])
    if not isinstance(opts, list) or not all(isinstance(o, str) for o in opts):
        raise PsweepTemplateError(f"{fn!r}: sbatch_options must be a list of strings, got {opts!r}")
    return info


_MACHINE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*\Z")


def check_machine_name(name: str) -> str:
    """Return `name` if it can name a machine (a folder, run_<name>.sh), else raise.

    Letters, digits, ``_``, ``.`` and ``-``, starting with a letter or digit: no
    path parts, no spaces, nothing a shell would read as code.
    """
    if not isinstance(name, str) or not _MACHINE_NAME.match(name):
        raise PsweepTemplateError(
            f"machine name {name!r} is not allowed: use letters, digits, _ . and -, starting "
            "with a letter or digit (no spaces, path parts or shell characters)"
        )
    return name


def _machines(machine_templ_dir: str) -> list[Machine]:
    if not os.path.isdir(machine_templ_dir):
        raise PsweepTemplateError(f"machine_templ_dir {machine_templ_dir!r} is not a directory")
    machines = []
    for name in sorted(os.listdir(machine_templ_dir)):
        mdir = os.path.join(machine_templ_dir, name)
        if not os.path.isdir(mdir):
            continue
        try:
            check_machine_name(name)
        except PsweepTemplateError as exc:
            raise PsweepTemplateError(f"{exc}; rename the folder {mdir!r}") from None
        info = machine_info(mdir)
        jobscript = os.path.join(mdir, "jobscript")
        if not os.path.isfile(jobscript):
            raise PsweepTemplateError(f"machine folder {mdir!r} has no jobscript template")
        machines.append(Machine(name, _read_template(jobscript, f"jobscript_{name}"), info))
    if not machines:
        raise PsweepTemplateError(f"no machine folders in {machine_templ_dir!r}")
    return machines


# the reserved fields a pset has when its files are written (not the runtime)
_RESERVED_FIELDS = tuple(c for c in RESERVED_COLUMNS if c != "_pset_runtime")


def _check_placeholders(templates: list[Template], params: Sequence[dict]) -> None:
    """Fail before anything is written if a template names a value no pset has."""
    common = set(_RESERVED_FIELDS)
    if params:
        common |= set.intersection(*(set(p) for p in params))
    for tmpl in templates:
        missing = sorted(tmpl.identifiers() - common)
        if missing:
            available = ", ".join(sorted(common))
            raise PsweepTemplateError(
                f"template {tmpl.path!r} uses ${{{missing[0]}}}, which not every pset has; "
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


def _header(machine: Machine) -> list[str]:
    return [
        "#!/bin/sh",
        f"# Submits the jobs of machine {machine.name!r} (written by psweep.prep_batch).",
        "# Lines of earlier runs are commented out. Works from any folder.",
        'here=$(cd "$(dirname "$0")" && pwd)',
        'cd "$here" || exit 1',
    ]


def _job_lines(machine: Machine, rows: pd.DataFrame, prefix: str) -> list[str]:
    subcmd = machine.subcmd
    target = machine.jobscript.target
    return [
        f'{prefix}cd {pid}; {subcmd} {target}; cd "$here"  # run_seq={rs} pset_seq={seq}'
        for pid, rs, seq in zip(rows["_pset_id"], rows["_run_seq"], rows["_pset_seq"], strict=True)
    ]


def _array_driver(machine: Machine) -> str:
    opts = [f"#SBATCH {opt}" for opt in machine.info.get("sbatch_options", [])]
    return "\n".join(
        [
            "#!/bin/sh",
            *opts,
            "# One task of a psweep job array: runs the pset on line",
            "# $SLURM_ARRAY_TASK_ID (counted from 0) of the list file given as $1.",
            'pset_id=$(sed -n "$((SLURM_ARRAY_TASK_ID + 1))p" "$1")',
            'cd "$pset_id" || exit 1',
            f"exec sh {machine.jobscript.target}",
            "",
        ]
    )


def _array_lines(
    machine: Machine, rows: pd.DataFrame, prefix: str, work_dir: str, write: bool
) -> list[str]:
    """One sbatch --array line per run and part; writes the list files if `write`."""
    size = _array_size(machine.info)
    throttle = machine.info.get("array_throttle")
    lines = []
    for run_seq, run_rows in rows.groupby("_run_seq", sort=True):
        ids = run_rows["_pset_id"].tolist()
        seqs = run_rows["_pset_seq"].tolist()
        for part, start in enumerate(range(0, len(ids), size)):
            chunk = ids[start : start + size]
            list_name = f"array_{machine.name}_run{run_seq}_{part}.txt"
            if write:
                file_write(os.path.join(work_dir, list_name), "".join(f"{i}\n" for i in chunk))
            spec = f"0-{len(chunk) - 1}" + (f"%{throttle}" if throttle else "")
            lines.append(
                f"{prefix}{machine.subcmd} --array={spec} array_{machine.name}.sh {list_name}"
                f"  # run_seq={run_seq} pset_seq={seqs[start]}-{seqs[start + len(chunk) - 1]}"
            )
    return lines


def _write_run_scripts(
    work_dir: str, df: pd.DataFrame, new: np.ndarray, machines: list[Machine]
) -> None:
    rows = df.sort_values("_pset_seq", kind="stable")
    new = pd.Series(new, index=df.index).loc[rows.index].to_numpy()
    for machine in machines:
        lines = _header(machine)
        if machine.info.get("array"):
            file_write(os.path.join(work_dir, f"array_{machine.name}.sh"), _array_driver(machine))
            lines += _array_lines(machine, rows[~new], "# ", work_dir, write=False)
            lines += _array_lines(machine, rows[new], "", work_dir, write=True)
        else:
            lines += _job_lines(machine, rows[~new], "# ")
            lines += _job_lines(machine, rows[new], "")
        file_write(os.path.join(work_dir, f"run_{machine.name}.sh"), "\n".join(lines) + "\n")


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
    **kwds: Any,
) -> pd.DataFrame:
    """Write a folder of input files per pset and a submit script per machine.

    Every file in `calc_templ_dir` (with subfolders) and each machine's
    ``jobscript`` are filled with the pset's values (``$name`` or ``${name}``,
    also the reserved fields such as ``$_pset_id``; ``$$`` is a literal
    dollar) and written to ``<calc_dir>/<_pset_id>/``, with the pset itself in
    ``pset.json``. ``<calc_dir>/run_<machine>.sh`` submits the new psets' jobs
    with the machine's ``subcmd``; lines of earlier runs stay, commented out.
    With ``array: true`` in a SLURM machine's info.yaml, new psets go out as
    job arrays instead (split to respect MaxArraySize, throttled by
    ``array_throttle``).

    Returns the database, as :func:`run_local` does (which it uses; `kwds`
    go there too). Templates are checked before anything is written: a
    placeholder that some pset lacks raises :class:`PsweepTemplateError`
    naming the file, the placeholder and the values available.
    """
    calc_templates = _calc_templates(calc_templ_dir)
    machines = _machines(machine_templ_dir)
    params = list(params)
    _check_placeholders(
        calc_templates + [m.jobscript for m in machines], [p for p in params if isinstance(p, dict)]
    )
    calc_dir = os.fspath(calc_dir)
    work_dir = calc_dir
    if simulate:
        work_dir = f"{calc_dir}.simulate"
        if os.path.isdir(work_dir):
            shutil.rmtree(work_dir)
        os.makedirs(work_dir)
        src = os.path.join(calc_dir, database_basename)
        if os.path.exists(src):
            shutil.copy2(src, os.path.join(work_dir, database_basename))

    def write_inputs(pset: dict) -> dict:
        folder = os.path.join(pset["_calc_dir"], pset["_pset_id"])
        for tmpl in calc_templates:
            file_write(os.path.join(folder, tmpl.target), tmpl.fill(pset))
        for machine in machines:
            tmpl = machine.jobscript
            file_write(os.path.join(folder, tmpl.target), tmpl.fill(pset))
        file_write(os.path.join(folder, PSET_BASENAME), _pset_json(pset))
        return {}

    db_fn = os.path.join(work_dir, database_basename)
    old_ids = set(df_read(db_fn).index) if os.path.exists(db_fn) else set()

    def write_scripts(df: pd.DataFrame) -> None:
        _write_run_scripts(work_dir, df, ~df.index.isin(old_ids), machines)

    return run_local(
        write_inputs,
        params,
        calc_dir=work_dir,
        database_basename=database_basename,
        backup=backup and not simulate,
        git=git and not simulate,
        _after_save=write_scripts,
        **kwds,
    )


def collect_batch(
    calc_dir: str = "calc",
    database_basename: str = "database.pk",
    result_basename: str = RESULT_BASENAME,
    lock_timeout_s: float = DEFAULT_LOCK_TIMEOUT_S,
) -> pd.DataFrame:
    """Merge the ``result.json`` files written by batch jobs into the database.

    Each job may write ``<calc_dir>/<_pset_id>/result.json``, a JSON object
    whose keys become columns of the pset's row. Every row gets
    ``_batch_status``: ``"done"``, ``"missing"`` (no result file: the job has
    not run, or failed before writing it) or ``"invalid"`` (not a JSON
    object). Missing and invalid jobs are logged as a warning. Collecting
    again re-reads all files. Returns the updated database, also written back.
    """
    calc_dir = os.fspath(calc_dir)
    db_fn = os.path.join(calc_dir, database_basename)
    with database_lock(lock_path(calc_dir, database_basename), lock_timeout_s):
        df = df_read(db_fn)
        status = []
        results: dict[str, dict] = {}
        for pset_id in df.index:
            fn = os.path.join(calc_dir, str(pset_id), result_basename)
            try:
                with open(fn) as fh:
                    data = json.load(fh)
            except FileNotFoundError:
                status.append("missing")
                continue
            except (ValueError, OSError):
                status.append("invalid")
                continue
            if not isinstance(data, dict):
                status.append("invalid")
                continue
            results[pset_id] = data
            status.append("done")
        if results:
            res = pd.DataFrame.from_dict(results, orient="index")
            for col in res.columns:
                if col.startswith("_") and col in df.columns:
                    continue  # never overwrite bookkeeping
                new = res[col].reindex(df.index)
                df[col] = (
                    new if col not in df.columns else new.where(new.index.isin(res.index), df[col])
                )
        df["_batch_status"] = pd.array(status, dtype="str")
        df_write(df, db_fn)
    bad = df[df["_batch_status"] != "done"]
    if len(bad):
        counts = bad["_batch_status"].value_counts().to_dict()
        log.warning(
            "collect_batch: %d of %d jobs have no usable %s (%s), e.g. %s",
            len(bad),
            len(df),
            result_basename,
            ", ".join(f"{v} {k}" for k, v in counts.items()),
            ", ".join(shlex.quote(str(i)) for i in bad.index[:3]),
        )
    return df
