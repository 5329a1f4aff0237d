"""Every command of psweep, in one table: where its argument parser is made.

:data:`COMMANDS` maps each command, as it is typed (``"psweep"``, ``"psweep new"``,
``"psweep-db2json"``, ...), to the parser factory the command parses with: a function
without arguments, named ``"module:function"``, that returns the complete
:class:`argparse.ArgumentParser` and runs nothing. :func:`command_parser` calls it; a
reference of the commands (sphinx-argparse's ``.. argparse::`` with ``:module:``,
``:func:`` and ``:prog:``) reads the same factories. No factory imports pandas,
matplotlib or dask.

:data:`DELEGATED` is the table of the subcommands of ``psweep`` that a module of their
own parses and runs; ``psweep`` lists them in its help and hands them the words after
their name. A new one is added there (and appears in :data:`COMMANDS` by itself); a
subcommand that ``psweep`` parses itself (new, update) is built in
:mod:`psweep.cli.study` and named in :data:`COMMANDS`; a console script is named in
pyproject.toml, in :mod:`psweep.cli` and in :data:`COMMANDS`.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from importlib import import_module
from typing import Any, NamedTuple

from psweep.errors import PsweepUnknownCommandError

__all__ = ["COMMANDS", "DELEGATED", "Delegated", "command_parser", "resolve"]


class Delegated(NamedTuple):
    """A subcommand of ``psweep`` that a module of its own parses and runs."""

    main: str  # "module:function": runs it with the words after its name, returns the exit status
    parser: str  # "module:function": its parser factory
    help: str  # its line in psweep --help


DELEGATED: dict[str, Delegated] = {
    "status": Delegated(
        "psweep.observe.runstate:main",
        "psweep.observe.runstate:status_parser",
        "show the runs of a study and its batch jobs, also while it runs",
    ),
    "report": Delegated(
        "psweep.observe.reporting:main",
        "psweep.observe.report_options:report_parser",
        "write one self-contained HTML report of a study",
    ),
    "batch": Delegated(
        "psweep.batch.resubmit:main",
        "psweep.batch.resubmit_options:batch_parser",
        "batch jobs: 'psweep batch resubmit MACHINE' submits again only the failed ones",
    ),
}

COMMANDS: dict[str, str] = {
    "psweep": "psweep.cli.study:psweep_parser",
    "psweep new": "psweep.cli.study:new_parser",
    "psweep update": "psweep.cli.study:update_parser",
    **{f"psweep {name}": command.parser for name, command in DELEGATED.items()},
    "psweep-checkdir": "psweep.cli.database:checkdir_parser",
    "psweep-db2json": "psweep.cli.database:db2json_parser",
    "psweep-db2table": "psweep.cli.database:db2table_parser",
    "psweep-push": "psweep.cli.transfers:push_parser",
    "psweep-pull": "psweep.cli.transfers:pull_parser",
}


def resolve(ref: str) -> Callable[..., Any]:
    """The function that `ref` (``"module:function"``) names, its module imported."""
    module, _, name = ref.partition(":")
    return getattr(import_module(module), name)


def command_parser(name: str) -> argparse.ArgumentParser:
    """The argument parser of command `name` as it is typed, e.g. ``"psweep report"``.

    Raises
    ------
    PsweepUnknownCommandError
        `name` is not a key of :data:`COMMANDS`; the message lists them.
    """
    if name not in COMMANDS:
        raise PsweepUnknownCommandError(
            f"no command {name!r}; the commands are: {', '.join(COMMANDS)}"
        )
    return resolve(COMMANDS[name])()
