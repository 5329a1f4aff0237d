"""``psweep`` (and ``python -m psweep``): new, update, and the commands of other modules."""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from psweep.cli.commands import COMMANDS, DELEGATED, resolve
from psweep.errors import PsweepError, PsweepStudyError
from psweep.version import __version__

__all__ = ["main", "new_parser", "psweep_parser", "update_parser"]


def _new(args: argparse.Namespace, parser: argparse.ArgumentParser) -> None:
    if not args.defaults and not sys.stdin.isatty():
        parser.error(
            "no terminal to ask the questions on: pass --defaults (answers from --data, "
            "defaults for the rest)"
        )
    from psweep.study.new import BRANCH, new_study, parse_data
    from psweep.study.pinning import LOCK_FILE

    data = parse_data(args.data)
    answers = new_study(args.dest, data, defaults=args.defaults, lock=not args.no_lock)
    dest = Path(args.dest)
    what = (
        [f"a git repository on branch {BRANCH} with a first commit"]
        if answers.get("git_init")
        else ["no git"]
    )
    psweep = answers.get("psweep_requirement") or f"psweep {answers.get('psweep_version')}"
    if args.no_lock:
        what.append(f"no {LOCK_FILE} yet: make it with nox -s lock")
    else:
        what.append(f"{psweep} and all packages pinned in {LOCK_FILE}")
    print(f"study {answers['study_name']} ready in {dest}{os.sep} ({'; '.join(what)}). Next:")
    print(f"    cd {shlex.quote(str(dest))}")
    print("    python3 -m venv .venv && . .venv/bin/activate")
    print(f"    pip install -r {LOCK_FILE}")
    print("    python input.py     # run the study; README.md tells the rest")


def _describe_questions() -> str:
    """One paragraph per question for ``psweep new --help``: help, choices, default."""
    from psweep.study.new import running_python, template_questions

    try:
        questions = template_questions(python=running_python())
    except (PsweepStudyError, OSError) as exc:
        return f"questions: (the template is missing: {exc})"
    lines = ["questions (answer with -d KEY=VALUE; yes/no questions take true/false/yes/no/1/0):"]
    for q in questions:
        lines.append(f"  {q.key} ({q.kind}): {q.help}")
        if q.choices:
            lines.append(f"      choices: {', '.join(q.choices)}")
        lines.append(f"      default: {q.default}")
        if q.when:
            lines.append(f"      asked only: {q.when}")
    return "\n".join(lines)


def _warn_clash() -> None:
    """Say in one line (stderr) if another distribution installs a ``psweep`` package here."""
    from psweep.study.installation import clash_message

    message = clash_message()
    if message:
        print(message, file=sys.stderr)


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose epilog may be given as a function, called when the epilog is
    first read (by the help): ``psweep --help`` need not read the template's questions for
    ``psweep new --help``, and whoever reads ``parser.epilog`` (sphinx-argparse) gets text."""

    _epilog: str | Callable[[], str] | None

    @property
    def epilog(self) -> str | None:
        if callable(self._epilog):
            self._epilog = self._epilog()
        return self._epilog

    @epilog.setter
    def epilog(self, value: str | Callable[[], str] | None) -> None:
        self._epilog = value


class _VersionAction(argparse.Action):
    """``--version``: the version, then the clash with another ``psweep`` if there is one."""

    def __init__(self, option_strings, dest=argparse.SUPPRESS, **kwargs):
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, **kwargs)

    def __call__(self, parser, namespace, values, option_string=None):
        print(f"psweep {__version__}")
        _warn_clash()
        parser.exit()


def _add_new(sub: Any) -> None:
    # here, not at the top: psweep status, report and batch are dispatched without them
    from psweep.study.new import BRANCH
    from psweep.study.pinning import LOCK_FILE, VENDOR_DIR

    new = sub.add_parser(
        "new",
        help="start a study repository from psweep's study template",
        description="Start a study repository in DEST from psweep's study template: a driver "
        "script, evaluation, batch templates, nox sessions and container files. The study "
        f"installs exactly this psweep: its wheel goes into {VENDOR_DIR}/ and {LOCK_FILE} "
        "pins it and every other package (making the lock needs the package index once). "
        "Asks the template's questions unless answered with --data or --defaults. With "
        f"git_init (the default) DEST becomes a git repository on branch {BRANCH} with a first "
        "commit.",
        epilog=_describe_questions,  # a function: see _Parser
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    new.add_argument("dest", metavar="DEST", help="folder of the new study (new or empty)")
    new.add_argument(
        "-d",
        "--data",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="answer a question, e.g. --data data_tracking=dvc (repeatable)",
    )
    new.add_argument(
        "--defaults",
        action="store_true",
        help="ask nothing: take the default answer of every question not given with --data",
    )
    new.add_argument(
        "--no-lock",
        action="store_true",
        help=f"do not make {LOCK_FILE} now (offline); make it later with nox -s lock",
    )


def _add_update(sub: Any) -> None:
    from psweep.study.pinning import LOCK_FILE, VENDOR_DIR

    update = sub.add_parser(
        "update",
        help="bring this psweep's study template into a study, keeping your edits",
        description="Merge the study template of this psweep into the study in STUDY "
        "(default: the current folder) with copier's three-way merge: the template's changes "
        "since the psweep that made the study arrive, your edits stay, and where both changed "
        "the same lines the file gets conflict markers. Works offline: the older template "
        f"comes from the psweep wheel in {VENDOR_DIR}/, which then makes way for this "
        f"psweep's wheel (and {LOCK_FILE} pins it). The study must be a git repository "
        "without uncommitted changes; review the result with git diff and commit it.",
    )
    update.add_argument("study", nargs="?", default=".", metavar="STUDY", help="the study folder")
    update.add_argument(
        "--conflict",
        choices=("inline", "rej"),
        default="inline",
        help="how to show conflicts: markers in the file (inline, the default) or .rej files",
    )
    update.add_argument(
        "--requirement",
        metavar="REQ",
        help="for a study that installs psweep from its psweep_requirement: the new one, the "
        "psweep that runs psweep update (e.g. 'psweep-kit @ git+URL@COMMIT' or 'psweep-kit @ "
        f"file:///path/to/psweep_kit-VERSION-py3-none-any.whl'); its wheel replaces the old one "
        f"in {VENDOR_DIR}/ and {LOCK_FILE}. Without it, such a study keeps its requirement, "
        "and psweep update says so",
    )


def _psweep_parsers() -> tuple[argparse.ArgumentParser, Mapping[str, argparse.ArgumentParser]]:
    """The parser of ``psweep`` and those of its subcommands, by name."""
    parser = argparse.ArgumentParser(
        prog="psweep",
        description="psweep: parameter studies with a database of results.",
        epilog="The database and transfer tools are commands of their own: "
        + ", ".join(name for name in COMMANDS if name.startswith("psweep-"))
        + " (each has --help). psweep COMMAND --help tells more.",
    )
    parser.add_argument(
        "--version",
        action=_VersionAction,
        help="print the version (and whether another project installs 'psweep' here too)",
    )
    sub = parser.add_subparsers(
        dest="command", required=True, title="commands", metavar="COMMAND", parser_class=_Parser
    )
    _add_new(sub)
    _add_update(sub)
    for name, command in DELEGATED.items():
        # parsed by its own module (main hands it the words after its name): only named here
        sub.add_parser(name, help=command.help, description=command.help, add_help=False)
    return parser, sub.choices


def psweep_parser() -> argparse.ArgumentParser:
    """The parser of ``psweep``: ``--version`` and the subcommands (those of
    :data:`~psweep.cli.commands.DELEGATED` only by name: their modules parse them)."""
    return _psweep_parsers()[0]


def new_parser() -> argparse.ArgumentParser:
    """The parser of ``psweep new``, the subcommand's of :func:`psweep_parser`."""
    return _psweep_parsers()[1]["new"]


def update_parser() -> argparse.ArgumentParser:
    """The parser of ``psweep update``, the subcommand's of :func:`psweep_parser`."""
    return _psweep_parsers()[1]["update"]


def main(argv: Sequence[str] | None = None) -> None:
    """``psweep`` (or ``python -m psweep``): ``psweep new DEST`` starts a study."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in DELEGATED:
        sys.exit(resolve(DELEGATED[argv[0]].main)(argv[1:]))
    parser = psweep_parser()
    args = parser.parse_args(argv)
    from copier.errors import CopierError

    _warn_clash()
    try:
        if args.command == "update":
            from psweep.study.update import update_study

            result = update_study(args.study, conflict=args.conflict, requirement=args.requirement)
            if result["conflicts"]:
                parser.exit(1)
            return
        _new(args, parser)
    except KeyboardInterrupt:
        parser.exit(130, f"psweep {args.command}: interrupted\n")
    except (PsweepError, CopierError, ValueError, OSError) as exc:
        # copier reports invalid answers as ValueError("Validation error for question ...")
        text = str(exc).strip() or type(exc).__name__
        parser.exit(2, f"psweep {args.command}: error: {text}\n")
