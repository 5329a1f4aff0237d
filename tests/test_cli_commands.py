"""Tests of psweep.cli.commands: every command in one table, each with the factory of the
argument parser it parses with (which a reference of the commands, sphinx-argparse, reads).

The commands run in a subprocess, as from the shell, and their ``--help`` is compared with
the factory's parser's help, with the same terminal width (COLUMNS).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import pytest

from psweep.cli.commands import COMMANDS, DELEGATED, command_parser, resolve
from psweep.errors import PsweepUnknownCommandError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pytest depends on tomli where Python has no tomllib
    import tomli as tomllib

PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"
HEAVY = ("pandas", "numpy", "matplotlib", "dask", "distributed", "psweep.store.database")


def _scripts() -> dict[str, str]:
    """[project.scripts] of pyproject.toml: console script -> "module:function"."""
    with open(PYPROJECT, "rb") as fh:
        return tomllib.load(fh)["project"]["scripts"]


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    """The subcommands of `parser` (none if it has none), by name."""
    actions = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return {name: sub for action in actions for name, sub in action.choices.items()}


def _with_subparsers(parser: argparse.ArgumentParser) -> list[argparse.ArgumentParser]:
    """`parser` and the parsers of its subcommands, theirs, and so on."""
    out = [parser]
    for sub in _subparsers(parser).values():
        out += _with_subparsers(sub)
    return out


def test_every_console_script_is_a_command() -> None:
    """Each console script of pyproject.toml has an entry, and each entry without a space
    is a console script."""
    assert set(_scripts()) == {name for name in COMMANDS if " " not in name}


def test_every_subcommand_of_psweep_is_a_command() -> None:
    """Each subcommand that ``psweep`` lists has an entry ``psweep NAME``, and each such
    entry is a subcommand; the delegated ones are among them."""
    subcommands = set(_subparsers(command_parser("psweep")))
    assert {f"psweep {name}" for name in subcommands} == {
        name for name in COMMANDS if name.startswith("psweep ")
    }
    assert {"new", "update", "status", "report", "batch"} <= subcommands
    assert set(DELEGATED) <= subcommands


@pytest.mark.parametrize("name", COMMANDS)
def test_factory_makes_the_parser_of_the_command(name: str) -> None:
    """The factory takes no arguments and returns an ArgumentParser named as the command is
    typed, whose help can be shown, and whose description and epilog (of it and of its
    subcommands) are text: sphinx-argparse reads them as text and leaves out anything else."""
    parser = resolve(COMMANDS[name])()
    assert isinstance(parser, argparse.ArgumentParser)
    assert parser.prog == name
    assert parser.format_help().startswith(f"usage: {name}")
    for each in _with_subparsers(parser):
        assert each.description is None or isinstance(each.description, str), each.prog
        assert each.epilog is None or isinstance(each.epilog, str), each.prog


def _command_line(name: str) -> list[str]:
    """The argument list that runs command `name` through its console script's function."""
    script, *words = name.split()
    module, func = _scripts()[script].split(":")
    code = f"import sys; from {module} import {func}; sys.exit({func}())"
    return [sys.executable, "-c", code, *words]


@pytest.mark.parametrize("name", COMMANDS)
def test_help_of_the_command_is_the_factorys(name, tmp_path, monkeypatch) -> None:
    """``COMMAND --help`` prints exactly the help of the factory's parser: the command
    parses with it."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("COLUMNS", "97")
    monkeypatch.setenv("NO_COLOR", "1")
    proc = subprocess.run(
        [*_command_line(name), "--help"], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == command_parser(name).format_help()


@pytest.mark.parametrize("name", COMMANDS)
def test_factory_loads_no_pandas(name: str) -> None:
    """Importing the factory, calling it and formatting its help loads neither pandas nor
    numpy, matplotlib, dask or psweep's database code."""
    code = (
        "import json, sys\n"
        "from psweep.cli.commands import command_parser\n"
        f"command_parser({name!r}).format_help()\n"
        f"print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == []


def test_psweep_help_leaves_the_questions_of_new_unread() -> None:
    """The help of ``psweep`` does not read the study template (yaml stays unloaded); the
    parser of ``psweep new`` has the template's questions as its epilog, as text."""
    code = (
        "import sys\n"
        "from psweep.cli.commands import command_parser\n"
        "command_parser('psweep').format_help()\n"
        "print('yaml' in sys.modules)\n"
        "epilog = command_parser('psweep new').epilog\n"
        "print(type(epilog).__name__, epilog.splitlines()[0])"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    before, after = proc.stdout.splitlines()
    assert before == "False"
    assert after.startswith("str questions (answer with -d KEY=VALUE")


def test_delegated_subcommands_have_a_main() -> None:
    """Each delegated subcommand names a main that psweep hands the words after it."""
    for name, command in DELEGATED.items():
        assert callable(resolve(command.main)), name
        assert command.help, name


def test_unknown_command_names_itself_and_the_commands() -> None:
    """A name that is no command is a KeyError that names it and lists the commands."""
    with pytest.raises(PsweepUnknownCommandError, match=r"no command 'psweep nope'; ") as info:
        command_parser("psweep nope")
    assert isinstance(info.value, KeyError)
    assert "psweep report" in str(info.value) and "psweep-push" in str(info.value)
    assert str(info.value).startswith("no command")  # the message, not KeyError's repr of it
