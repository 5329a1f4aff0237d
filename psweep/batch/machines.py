"""Machine folders: a job script template and the settings in info.yaml."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

import yaml

from .templates import PsweepTemplateError, Template, _read_template

__all__ = ["MACHINE_KEYS", "Machine", "check_machine_name", "machine_info"]

MACHINE_KEYS = (
    "subcmd",
    "array",
    "array_throttle",
    "max_array_size",
    "sbatch_options",
    "host",
    "path",
)


@dataclass(frozen=True)
class Machine:
    """A machine folder: its job script template and its settings."""

    name: str
    jobscript: Template
    info: dict

    @property
    def subcmd(self) -> str:
        return self.info["subcmd"]


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
