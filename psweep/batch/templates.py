"""Template files of batch jobs: reading them and filling them with a pset."""

from __future__ import annotations

import os
import string
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ..errors import PsweepError

__all__ = ["PsweepTemplateError"]


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
