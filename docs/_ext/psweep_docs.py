"""Reference pages made from the code: each directive asks the home of a concept.

- ``psweep-api``: every name of ``psweep.__all__``, grouped by the layer it
  lives in (``psweep._HOME`` says where), rendered by autodoc.
- ``psweep-columns``: the database columns (``psweep.lifecycle.rows.COLUMN_MEANINGS``).
- ``psweep-machine-settings``: the keys of a machine's ``info.yaml``
  (``psweep.batch.machines.MACHINE_SETTINGS``).
- ``psweep-environment``: environment variables (``psweep.environment.ENVIRONMENT``).
- ``psweep-questions``: the study template's questions (``copier.yml``, read
  by ``psweep.study.new.template_questions``).
- ``psweep-nox-sessions``: the sessions of ``noxfile.py`` and their docstrings.
- ``psweep-commands``: every command, by sphinx-argparse, from the table
  ``psweep.cli.commands.COMMANDS``.

Each renders reStructuredText and parses it in place, so a missing or renamed
name is a build error, never a stale page.
"""

from __future__ import annotations

import inspect

from docutils import nodes
from docutils.statemachine import StringList
from sphinx.application import Sphinx
from sphinx.util.docutils import SphinxDirective

# the sections of the API page: a public name goes to the first whose module prefix
# matches the module it is imported from (psweep._HOME)
API_SECTIONS = (
    ("Building params", ("psweep.params",)),
    ("Running", ("psweep.lifecycle",)),
    ("The database and files", ("psweep.store",)),
    ("Batch jobs", ("psweep.batch",)),
    ("Looking at results", ("psweep.observe",)),
    ("Study repositories", ("psweep.study",)),
    ("Errors and warnings", ("psweep.errors",)),
    ("Constants", ("psweep.constants", "psweep.version")),
)


def api_sections() -> list[tuple[str, list[str]]]:
    """(title, names) per section; a name whose module fits no section is an error."""
    import psweep

    homes = psweep._HOME  # the one table of where a public name lives
    grouped: dict[str, list[str]] = {title: [] for title, _ in API_SECTIONS}
    for name in psweep.__all__:
        module = homes[name]
        for title, prefixes in API_SECTIONS:
            if module.startswith(prefixes):
                grouped[title].append(name)
                break
        else:
            raise ValueError(f"public name psweep.{name} (from {module}) fits no API section")
    return [(title, sorted(names, key=str.lower)) for title, names in grouped.items() if names]


def _attribute_docs() -> dict[str, tuple[str, list[str]]]:
    """name -> (module, lines) of every ``#:`` comment on a module-level name in psweep."""
    import importlib
    import pkgutil

    from sphinx.pycode import ModuleAnalyzer

    import psweep

    docs: dict[str, tuple[str, list[str]]] = {}
    for info in pkgutil.walk_packages(psweep.__path__, prefix="psweep."):
        if "_study_template" in info.name:
            continue
        importlib.import_module(info.name)
        found = ModuleAnalyzer.for_module(info.name).find_attr_docs()
        for (scope, name), lines in found.items():
            if scope == "":
                docs.setdefault(name, (info.name, list(lines)))
    return docs


_ATTRIBUTE_DOCS: dict[str, tuple[str, list[str]]] = {}


def _autodoc_lines(name: str) -> list[str]:
    """The reStructuredText of one public name: autodoc for functions and classes; for
    values, a ``py:data`` entry with the ``#:`` comment of the module that defines it."""
    import psweep

    if not _ATTRIBUTE_DOCS:
        _ATTRIBUTE_DOCS.update(_attribute_docs())
    obj = getattr(psweep, name)
    if name in _ATTRIBUTE_DOCS:
        module, lines = _ATTRIBUTE_DOCS[name]
        value = "os.path.join" if name == "pj" else repr(obj)
        body = [f"   {line}" if line.strip() else "" for line in lines]
        return [
            f".. py:data:: psweep.{name}",
            f"   :value: {value}",
            "",
            *body,
            "",
            f"   Defined in ``{module}``.",
            "",
        ]
    if inspect.isclass(obj) and issubclass(obj, BaseException):
        return [f".. autoexception:: psweep.{name}", ""]
    if inspect.isclass(obj):
        return [f".. autoclass:: psweep.{name}", ""]
    if callable(obj):
        return [f".. autofunction:: psweep.{name}", ""]
    raise ValueError(
        f"psweep.{name} is a value without a '#:' comment where it is defined: write one"
    )


class _RstDirective(SphinxDirective):
    """A directive whose content is reStructuredText made by :meth:`rst`."""

    has_content = False

    def rst(self) -> list[str]:  # pragma: no cover - each subclass has its own
        raise NotImplementedError

    def run(self) -> list[nodes.Node]:
        # the pages are MyST Markdown: its parser takes reStructuredText in eval-rst
        container = nodes.container()
        text = ["```{eval-rst}", *self.rst(), "```"]
        lines = StringList(text, source=self.get_source_info()[0])
        self.state.nested_parse(lines, self.content_offset, container)
        return container.children


def _table(header: tuple[str, ...], rows: list[tuple[str, ...]], widths: str = "auto") -> list[str]:
    """A list-table: each cell is one line of reStructuredText."""
    out = [".. list-table::", "   :header-rows: 1", f"   :widths: {widths}", ""]
    for row in (header, *rows):
        out.append(f"   * - {row[0]}")
        out.extend(f"     - {cell}" for cell in row[1:])
    return [*out, ""]


def _literal(text: str) -> str:
    return f"``{text}``"


class ApiDirective(SphinxDirective):
    """Sections as Markdown headings (they go in the page's table of contents), the
    names of each in a line of links, then autodoc's entry of each name."""

    has_content = False

    def run(self) -> list[nodes.Node]:
        out: list[str] = []
        for title, names in api_sections():
            out += [f"## {title}", ""]
            out += [", ".join(f"{{py:obj}}`~psweep.{n}`" for n in names), ""]
            out += ["```{eval-rst}"]
            for name in names:
                out += _autodoc_lines(name)
            out += ["```", ""]
        container = nodes.container()
        lines = StringList(out, source=self.get_source_info()[0])
        self.state.nested_parse(lines, self.content_offset, container, match_titles=True)
        return container.children


class ColumnsDirective(_RstDirective):
    def rst(self) -> list[str]:
        from psweep.lifecycle.rows import COLUMN_MEANINGS

        rows = [(_literal(col), text) for col, text in COLUMN_MEANINGS.items()]
        return _table(("column", "meaning"), rows, "20 80")


class MachineSettingsDirective(_RstDirective):
    def rst(self) -> list[str]:
        from psweep.batch.machines import MACHINE_SETTINGS

        rows = [(_literal(key), text) for key, text in MACHINE_SETTINGS.items()]
        return _table(("key", "meaning"), rows, "20 80")


class EnvironmentDirective(_RstDirective):
    def rst(self) -> list[str]:
        from psweep.environment import ENVIRONMENT

        rows = [(_literal(name), var.reader, var.meaning) for name, var in ENVIRONMENT.items()]
        return _table(("variable", "read by", "meaning"), rows, "25 10 65")


class QuestionsDirective(_RstDirective):
    def rst(self) -> list[str]:
        from psweep.study.new import template_questions

        rows = []
        for q in template_questions():
            what = q.help
            if q.choices:
                what += " Choices: " + ", ".join(_literal(c) for c in q.choices) + "."
            if q.when:
                what += f" Asked only {q.when}."
            rows.append((_literal(q.key), q.kind, what, q.default))
        return _table(("question", "kind", "what it asks", "default"), rows, "18 8 52 22")


class NoxSessionsDirective(_RstDirective):
    """The sessions of noxfile.py with the first line of each docstring."""

    def rst(self) -> list[str]:
        import ast
        from pathlib import Path

        noxfile = Path(self.env.srcdir).parent / "noxfile.py"
        tree = ast.parse(noxfile.read_text())
        plain: list[str] = []  # nox.options.sessions: what `nox` alone runs
        for node in tree.body:
            if (
                isinstance(node, ast.Assign)
                and ast.unparse(node.targets[0]) == "nox.options.sessions"
            ):
                plain = ast.literal_eval(node.value)
        rows = []
        for node in tree.body:
            if isinstance(node, ast.FunctionDef) and any(
                "session" in ast.unparse(d) for d in node.decorator_list
            ):
                doc = (ast.get_docstring(node) or "").strip().splitlines()
                if not doc:
                    raise ValueError(f"nox session {node.name} has no docstring")
                mark = "yes" if node.name in plain else ""
                rows.append((_literal(f"nox -s {node.name}"), doc[0], mark))
        return _table(("session", "what it does", "in plain nox"), rows, "25 65 10")


# how the commands' pages leave out what is said elsewhere: the subcommands of psweep have
# their own entries; the questions of psweep new are on the study template page
_ARGPARSE_OPTIONS = {
    "psweep": [":nosubcommands:"],
    "psweep new": [":noepilog:"],
}


class CommandsDirective(SphinxDirective):
    """A section per command of ``psweep.cli.commands.COMMANDS``, by sphinx-argparse."""

    has_content = False

    def run(self) -> list[nodes.Node]:
        from psweep.cli.commands import COMMANDS

        out: list[str] = []
        for name, ref in COMMANDS.items():
            module, _, func = ref.partition(":")
            out += [f"## `{name}`", "", "```{eval-rst}", ".. argparse::"]
            out += [f"   :module: {module}", f"   :func: {func}", f"   :prog: {name}"]
            out += ["   :nodefault:"]
            out += [f"   {opt}" for opt in _ARGPARSE_OPTIONS.get(name, [])]
            out += ["```", ""]
            if name == "psweep new":
                out += [
                    "The questions and their defaults: "
                    "[Study template questions](study-template.md).",
                    "",
                ]
        container = nodes.container()
        lines = StringList(out, source=self.get_source_info()[0])
        self.state.nested_parse(lines, self.content_offset, container, match_titles=True)
        return container.children


def setup(app: Sphinx) -> dict:
    app.add_directive("psweep-api", ApiDirective)
    app.add_directive("psweep-columns", ColumnsDirective)
    app.add_directive("psweep-machine-settings", MachineSettingsDirective)
    app.add_directive("psweep-environment", EnvironmentDirective)
    app.add_directive("psweep-questions", QuestionsDirective)
    app.add_directive("psweep-nox-sessions", NoxSessionsDirective)
    app.add_directive("psweep-commands", CommandsDirective)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
