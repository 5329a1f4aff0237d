"""Template files of batch jobs: reading them and filling them with a pset.

Two syntaxes, told apart per file unless a mode is given:

- ``"dollar"``: :class:`string.Template`, the syntax of psweep 0.7.0:
  ``$name`` or ``${name}``, ``$$`` for a literal dollar sign.
- ``"jinja"``: jinja2 with undefined names as errors, the default of
  psweep 0.16: ``{{ name }}``, ``{% if ... %}``; one trailing newline of the
  file is dropped, as jinja2 does.

With ``mode=None`` (the default) a file is filled as jinja if its text has a
``{{ ... }}`` or ``{% ... %}`` on one line, else with dollars, so 0.7.0
templates keep working and 0.16 templates that use placeholders render as
jinja.
"""

from __future__ import annotations

import os
import re
import string
import sys
from datetime import datetime
from typing import Any

import jinja2
import jinja2.meta

from psweep.errors import PsweepTemplateError

__all__ = [
    "TEMPLATE_MODES",
    "FileTemplate",
    "gather_calc_templates",
    "template_mode_of",
]

TEMPLATE_MODES = ("jinja", "dollar")

# a jinja expression or statement, opened and closed on one line; a lone "{%" as in
# printf's "{%d}" or bash's "${#a[@]}" is no jinja
_JINJA_MARK = re.compile(r"\{\{.*?\}\}|\{%.*?%\}")

_JINJA = jinja2.Environment(undefined=jinja2.StrictUndefined)


def template_mode_of(text: str) -> str:
    """Return ``"jinja"`` if `text` has a ``{{ ... }}`` or ``{% ... %}``, else ``"dollar"``."""
    return "jinja" if _JINJA_MARK.search(text) else "dollar"


def _check_mode(mode: str | None) -> None:
    if mode is not None and mode not in TEMPLATE_MODES:
        raise PsweepTemplateError(
            f"template mode {mode!r} is not known; use 'jinja', 'dollar' or None "
            "(jinja if the file has {{ ... }} or {% ... %}, else dollar)"
        )


def _text(value: Any) -> Any:
    """A value as templates see it: datetimes as ISO 8601 text, everything else as it is."""
    if isinstance(value, datetime):
        return value.isoformat()
    return value


class FileTemplate:
    """One template file and the name it gets in a pset's folder.

    Parameters
    ----------
    filename
        The template file.
    target_suffix
        Appended to the file's name to make ``targetname`` (a machine's
        jobscript gets ``"_<machine>"``).
    subdir
        The folder of ``target`` inside a pset's folder (for templates in
        subfolders of ``templates/calc``).

    Attributes
    ----------
    filename, basename, dirname
        The template file, its name and its folder.
    targetname
        ``basename + target_suffix``.
    target
        The path of the filled file relative to a pset's folder:
        ``subdir/targetname``.
    """

    def __init__(
        self, filename: str | os.PathLike, target_suffix: str = "", *, subdir: str = ""
    ) -> None:
        self.filename = os.fspath(filename)
        self.basename = os.path.basename(self.filename)
        self.dirname = os.path.dirname(self.filename)
        self.targetname = self.basename + target_suffix
        self.target = os.path.join(subdir, self.targetname) if subdir else self.targetname
        self._text: str | None = None
        self._jinja: jinja2.Template | None = None

    def __repr__(self) -> str:
        return f"FileTemplate({self.filename!r}, target={self.target!r})"

    @property
    def text(self) -> str:
        """The template's text, read on first use."""
        if self._text is None:
            try:
                with open(self.filename, encoding="utf-8") as fh:
                    self._text = fh.read()
            except UnicodeDecodeError as exc:
                raise PsweepTemplateError(
                    f"template {self.filename!r} is not text (UTF-8): {exc}"
                ) from exc
        return self._text

    def mode(self, mode: str | None = None) -> str:
        """The mode :meth:`fill` uses: `mode` if given, else the one the text calls for."""
        _check_mode(mode)
        return mode or template_mode_of(self.text)

    def identifiers(self, mode: str | None = None) -> set[str]:
        """The names of the values the template uses.

        Raises :class:`PsweepTemplateError` for a ``$`` that starts no
        placeholder (dollar mode) or a jinja syntax error, with the line.
        """
        if self.mode(mode) == "jinja":
            try:
                ast = _JINJA.parse(self.text)
            except jinja2.TemplateSyntaxError as exc:
                raise PsweepTemplateError(
                    f"template {self.filename!r}, line {exc.lineno}: jinja syntax error: "
                    f"{exc.message}"
                ) from exc
            return jinja2.meta.find_undeclared_variables(ast) - set(_JINJA.globals)
        tmpl = string.Template(self.text)
        found = set()
        for match in tmpl.pattern.finditer(tmpl.template):
            if match.group("invalid") is not None:
                line = tmpl.template[: match.start()].count("\n") + 1
                raise PsweepTemplateError(
                    f"template {self.filename!r}, line {line}: a '$' that starts no placeholder; "
                    "write $$ for a literal dollar sign, $name or ${name} for a value"
                )
            name = match.group("named") or match.group("braced")
            if name is not None:
                found.add(name)
        return found

    def fill(self, pset: dict, mode: str | None = None) -> str:
        """Return the template's text filled with the values of `pset`.

        Parameters
        ----------
        pset
            The values; datetimes are filled in as ISO 8601 text, everything
            else as ``str()`` makes it (jinja expressions see the values
            themselves).
        mode
            ``"jinja"`` (jinja2 with :class:`jinja2.StrictUndefined`: a
            missing name raises :class:`jinja2.UndefinedError`; one trailing
            newline is dropped), ``"dollar"`` (:meth:`string.Template.substitute`:
            ``$$`` gives ``$``, a missing name raises :class:`KeyError`) or
            None: jinja if the text has ``{{ ... }}`` or ``{% ... %}``, else
            dollar. Another mode raises :class:`PsweepTemplateError`, a
            :class:`ValueError`.

        On any error it writes ``Failed to fill template: <filename>`` to
        stderr, as psweep 0.16 does, and raises the error.
        """
        try:
            values = {key: _text(val) for key, val in pset.items()}
            if self.mode(mode) == "jinja":
                if self._jinja is None:
                    self._jinja = _JINJA.from_string(self.text)
                return self._jinja.render(values)
            return string.Template(self.text).substitute(
                {key: str(val) for key, val in values.items()}
            )
        except Exception:
            sys.stderr.write(f"Failed to fill template: {self.filename}\n")
            raise


def gather_calc_templates(calc_templ_dir: str | os.PathLike) -> list[FileTemplate]:
    """One :class:`FileTemplate` per file in `calc_templ_dir` and its subfolders, sorted.

    A file in a subfolder keeps its folder in the pset's folder
    (``FileTemplate.target``).
    """
    calc_templ_dir = os.fspath(calc_templ_dir)
    if not os.path.isdir(calc_templ_dir):
        raise PsweepTemplateError(f"calc_templ_dir {calc_templ_dir!r} is not a directory")
    templates = []
    for root, dirs, files in os.walk(calc_templ_dir):
        dirs.sort()
        subdir = os.path.relpath(root, calc_templ_dir)
        for name in sorted(files):
            templates.append(
                FileTemplate(os.path.join(root, name), subdir="" if subdir == "." else subdir)
            )
    return templates
