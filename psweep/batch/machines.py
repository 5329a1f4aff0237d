"""Machine folders: a job script template and the settings in info.yaml."""

from __future__ import annotations

import os
import re

import yaml

from psweep.batch.templates import FileTemplate
from psweep.errors import PsweepTemplateError

__all__ = [
    "MACHINE_KEYS",
    "MACHINE_SETTINGS",
    "Machine",
    "check_machine_name",
    "gather_machines",
    "machine_info",
]

# the settings of info.yaml and what each does: the docs' reference is made from this table
MACHINE_SETTINGS = {
    "subcmd": "required: the command that runs or submits a job script, e.g. sh or sbatch; "
    "run_<machine>.sh calls it in each pset's folder",
    "array": "true: submit the new psets as SLURM job arrays (needs subcmd: sbatch)",
    "array_throttle": "a whole number N >= 1: at most N array tasks run at once (--array=...%N)",
    "max_array_size": "a whole number >= 1: the largest array to submit; the smaller of it and "
    "the cluster's MaxArraySize is used",
    "sbatch_options": "a list of strings, each an option for the array job's #SBATCH lines, "
    "e.g. ['--time=01:00:00']",
    "host": "where psweep-push and psweep-pull copy calc/ to and from ([user@]host; leave it "
    "out for a path on this machine)",
    "path": "the study's folder on that host: calc/ is copied to <path>/calc/",
}
MACHINE_KEYS = tuple(MACHINE_SETTINGS)
# Machine's own attributes, which no setting may hide
_MACHINE_ATTRIBUTES = ("info", "machine_dir", "name", "template")


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
    taken = sorted(set(info) & set(_MACHINE_ATTRIBUTES))
    if taken:
        raise PsweepTemplateError(
            f"{fn!r}: setting(s) {taken} would hide the Machine attribute of the same name "
            f"(Machine has {', '.join(_MACHINE_ATTRIBUTES)}); valid: {', '.join(MACHINE_KEYS)}"
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


class Machine:
    """A machine folder: its job script template and the settings of its info.yaml.

    Parameters
    ----------
    machine_dir
        The folder, e.g. ``templates/machines/cluster``; its name is the
        machine's name (checked by ``check_machine_name``).
    jobscript_name
        The job script template in it.

    Attributes
    ----------
    name
        The folder's name.
    template
        The job script, a :class:`FileTemplate` written to ``jobscript_<name>``
        in each pset's folder.
    info
        The settings of info.yaml (checked by :func:`machine_info`); each is
        also an attribute, e.g. ``machine.subcmd``. A setting named like one
        of the attributes above is an error.
    """

    subcmd: str  # set from info below; machine_info() makes sure it is there, a str

    def __init__(self, machine_dir: str | os.PathLike, jobscript_name: str = "jobscript") -> None:
        machine_dir = os.fspath(machine_dir)
        self.machine_dir = machine_dir
        self.name = os.path.basename(os.path.normpath(machine_dir))
        try:
            check_machine_name(self.name)
        except PsweepTemplateError as exc:
            raise PsweepTemplateError(f"{exc}; rename the folder {machine_dir!r}") from None
        self.info = machine_info(machine_dir)
        jobscript = os.path.join(machine_dir, jobscript_name)
        if not os.path.isfile(jobscript):
            raise PsweepTemplateError(
                f"machine folder {machine_dir!r} has no jobscript template {jobscript_name!r}"
            )
        self.template = FileTemplate(jobscript, target_suffix=f"_{self.name}")
        for key, val in self.info.items():
            setattr(self, key, val)

    def __repr__(self) -> str:
        return f"Machine({self.machine_dir!r}, subcmd={self.info['subcmd']!r})"


def gather_machines(machine_templ_dir: str | os.PathLike) -> list[Machine]:
    """One :class:`Machine` per folder in `machine_templ_dir`, sorted by name."""
    machine_templ_dir = os.fspath(machine_templ_dir)
    if not os.path.isdir(machine_templ_dir):
        raise PsweepTemplateError(f"machine_templ_dir {machine_templ_dir!r} is not a directory")
    machines = [
        Machine(os.path.join(machine_templ_dir, name))
        for name in sorted(os.listdir(machine_templ_dir))
        if os.path.isdir(os.path.join(machine_templ_dir, name))
    ]
    if not machines:
        raise PsweepTemplateError(f"no machine folders in {machine_templ_dir!r}")
    return machines
