"""``psweep new DEST``: start a study repository from the study template.

The template is the copier template of this repository (``copier.yml`` and
``template/``), shipped inside the wheel as ``psweep/_study_template/``. copier
renders it (no tasks, nothing unsafe); the steps that a template could only do
with copier tasks are done here: the wheel of the running psweep goes into the
study's ``vendor/`` and every package is pinned in ``requirements.lock``
(:mod:`psweep.study.pinning`), then ``git init`` on branch ``main``, ``git lfs
install --local`` and the first commit, as argument lists.
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from psweep.errors import PsweepError, PsweepStudyError
from psweep.study.pinning import LOCK_FILE, VENDOR_DIR, lock_study, psweep_wheel, requirement_wheel
from psweep.study.template_repo import (
    make_template_repo,
    serve_template_repo,
    template_files,
    template_source,
)

__all__ = ["main", "new_study", "questions"]

BRANCH = "main"
_BOOLS = {"true": True, "yes": True, "1": True, "false": False, "no": False, "0": False}


def _git(args: Sequence[str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=False)


def _git_check(args: Sequence[str], cwd: Path) -> str:
    proc = _git(args, cwd)
    if proc.returncode != 0:
        cmd = " ".join(["git", *args])
        raise PsweepStudyError(f"{cmd!r} failed in {cwd}: {(proc.stderr or proc.stdout).strip()}")
    return proc.stdout.strip()


def _git_config(key: str) -> str | None:
    try:
        proc = _git(["config", "--get", key], Path.cwd())
    except OSError:  # no git
        return None
    if proc.returncode != 0:
        return None
    return proc.stdout.strip() or None


def _has_identity(repo: Path) -> bool:
    return all(
        _git(["var", var], repo).returncode == 0
        for var in ("GIT_COMMITTER_IDENT", "GIT_AUTHOR_IDENT")
    )


def _template_conf() -> dict[str, Any]:
    with open(template_source() / "copier.yml") as fh:
        return yaml.safe_load(fh)


def questions() -> list[str]:
    """Names of the template's questions, in the order they are asked."""
    return [key for key in _template_conf() if not key.startswith("_")]


def _running_python() -> str:
    return f"{sys.version_info.major}.{sys.version_info.minor}"


def _parse_data(items: Sequence[str]) -> dict[str, Any]:
    data: dict[str, Any] = {}
    conf = _template_conf()
    known = [key for key in conf if not key.startswith("_")]
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise PsweepStudyError(f"--data needs KEY=VALUE, got {item!r}")
        if key not in known:
            raise PsweepStudyError(
                f"--data {item!r}: no question {key!r}; the questions are {', '.join(known)}"
            )
        spec = conf[key]
        if spec.get("type") == "bool":
            if value.strip().lower() not in _BOOLS:
                raise PsweepStudyError(
                    f"--data {item!r}: {key} is a yes/no question; give one of "
                    "true, false, yes, no, 1, 0"
                )
            value = "true" if _BOOLS[value.strip().lower()] else "false"
        elif "choices" in spec and value not in spec["choices"]:
            raise PsweepStudyError(
                f"--data {item!r}: {key} must be one of {', '.join(map(str, spec['choices']))}"
            )
        data[key] = value  # a string, as with copier's --data: copier casts it to the type
    return data


def _render(dest: Path, data: dict[str, Any], defaults: bool) -> dict[str, Any]:
    import copier
    import copier.errors

    src = template_source()
    user_defaults = {
        key: val
        for key, val in (
            ("author_name", _git_config("user.name")),
            ("author_email", _git_config("user.email")),
            ("python_version", _running_python()),
        )
        if val
    }
    # the template's default is the source it is copied from (for plain copier copy); psweep
    # new's default is its own wheel in vendor/
    user_defaults["psweep_requirement"] = ""
    version = _version()
    # copier copies from a git repository of this psweep's template, tagged with its
    # version: the answers file then records where (TEMPLATE_URL) and which version
    # (_commit), so that `psweep update` can take newer templates into the study
    with tempfile.TemporaryDirectory(prefix="psweep-template-") as tmp:
        repo = make_template_repo(Path(tmp) / "template", [(version, template_files(src))])
        with serve_template_repo(repo) as url, warnings.catch_warnings():
            warnings.simplefilter("ignore", copier.errors.ShallowCloneWarning)
            copier.run_copy(
                url,
                dest,
                data=data,
                defaults=defaults,
                user_defaults=user_defaults,
                unsafe=False,
                quiet=True,
                vcs_ref=version,
            )
    with open(dest / ".copier-answers.yml") as fh:
        return yaml.safe_load(fh)


def _init_git(dest: Path, answers: dict[str, Any], out) -> None:
    lfs = answers.get("data_tracking") == "git-lfs"
    if shutil.which("git") is None:
        raise PsweepStudyError("git is not installed; install it, or answer git_init=false")
    if lfs and _git(["lfs", "version"], dest).returncode != 0:
        raise PsweepStudyError(
            "git-lfs is not installed (git lfs version failed); install it "
            "(e.g. apt-get install git-lfs) or choose data_tracking none or dvc"
        )
    _git_check(["init", "-q"], dest)
    # branch main whatever init.defaultBranch says (git init -b needs git 2.28)
    _git_check(["symbolic-ref", "HEAD", f"refs/heads/{BRANCH}"], dest)
    if lfs:
        _git_check(["lfs", "install", "--local"], dest)
    if not _has_identity(dest):
        name, email = answers["author_name"], answers["author_email"]
        _git_check(["config", "user.name", name], dest)
        _git_check(["config", "user.email", email], dest)
        print(
            f"git has no identity (user.name, user.email) here: set {name} <{email}> "
            f"for this study only, in {dest / '.git' / 'config'}",
            file=out,
        )
    _git_check(["add", "-A"], dest)
    _git_check(
        ["commit", "-q", "--no-verify", "-m", f"Start study {answers['study_name']} (psweep new)"],
        dest,
    )


def _pin(dest: Path, answers: dict[str, Any], lock: bool) -> None:
    """Put this psweep's wheel into vendor/, or with the lock the wheel of the psweep asked
    for (psweep_requirement), then lock."""
    requirement = answers.get("psweep_requirement")
    if not requirement:
        psweep_wheel(dest / VENDOR_DIR)
    elif lock:
        requirement_wheel(requirement, dest / VENDOR_DIR)
    if lock:
        lock_study(dest, answers["python_version"])


def new_study(
    dest: str | os.PathLike,
    data: dict[str, Any] | None = None,
    defaults: bool = False,
    out=sys.stdout,
    lock: bool = True,
) -> dict[str, Any]:
    """Render the study template into `dest`, pin its packages and make it a git repository.

    `data` answers questions (the others are asked, or take their defaults
    with `defaults=True`). Unless ``psweep_requirement`` names another
    psweep, the wheel of the running psweep goes into ``<dest>/vendor/``;
    with `lock` (the default, needs the package index) every package is
    pinned in ``requirements.lock``. With ``git_init`` the study becomes a git
    repository on branch ``main`` with a first commit. `dest` must not exist
    or be empty. When anything fails, `dest` is left as it was (removed if it
    did not exist). Returns the answers.
    """
    dest = Path(dest).absolute()
    existed = dest.exists()
    if existed and not dest.is_dir():
        raise PsweepStudyError(f"{str(dest)!r} exists and is not a directory")
    if existed and any(dest.iterdir()):
        raise PsweepStudyError(
            f"{str(dest)!r} exists and is not empty; give a new folder for the study"
        )
    try:
        data = dict(data or {})
        if not data.get("psweep_requirement"):
            from psweep.version import __version__

            data.setdefault("psweep_version", __version__)
        answers = _render(dest, data, defaults)
        _pin(dest, answers, lock)
        if answers.get("git_init"):
            _init_git(dest, answers, out)
    except BaseException:
        if existed:
            for child in dest.iterdir() if dest.is_dir() else []:
                if child.is_dir() and not child.is_symlink():
                    shutil.rmtree(child)
                else:
                    child.unlink()
        else:
            shutil.rmtree(dest, ignore_errors=True)
        raise
    return answers


def _new(args: argparse.Namespace, parser: argparse.ArgumentParser) -> None:
    if not args.defaults and not sys.stdin.isatty():
        parser.error(
            "no terminal to ask the questions on: pass --defaults (answers from --data, "
            "defaults for the rest)"
        )
    data = _parse_data(args.data)
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
    try:
        conf = _template_conf()
    except (PsweepStudyError, OSError) as exc:
        return f"questions: (the template is missing: {exc})"
    lines = ["questions (answer with -d KEY=VALUE; yes/no questions take true/false/yes/no/1/0):"]
    special = {
        "study_name": "the name of DEST",
        "python_version": f"{_running_python()}, the Python running psweep new",
        "psweep_requirement": "empty: this psweep, its wheel kept in vendor/",
        "psweep_version": "this psweep's version",
        "author_name": "git's user.name, else Study Author",
        "author_email": "git's user.email, else author@example.org",
    }
    for key, spec in conf.items():
        if key.startswith("_") or not isinstance(spec, dict):
            continue
        kind = "yes/no" if spec.get("type") == "bool" else spec.get("type", "str")
        helptext = " ".join(str(spec.get("help", "")).split())
        lines.append(f"  {key} ({kind}): {helptext}")
        if "choices" in spec:
            lines.append(f"      choices: {', '.join(map(str, spec['choices']))}")
        default = special.get(key, spec.get("default"))
        if isinstance(default, bool):
            default = "true" if default else "false"
        lines.append(f"      default: {default if default != '' else '(empty)'}")
        if "when" in spec:
            lines.append("      asked only: " + _when_text(key))
    return "\n".join(lines)


def _when_text(key: str) -> str:
    if key.startswith("slurm_"):
        return "with use_slurm=true"
    if key == "psweep_version":
        return "when psweep_requirement is empty"
    return "in some cases"


def _version() -> str:
    from psweep.version import __version__

    return __version__


# commands with a module (and an argument parser) of their own: name -> (module, help)
_DELEGATED = {
    "status": (
        "psweep.observe.runstate",
        "show the runs of a study and its batch jobs, also while it runs",
    ),
    "report": ("psweep.observe.reporting", "write one self-contained HTML report of a study"),
    "batch": (
        "psweep.batch.resubmit",
        "batch jobs: 'psweep batch resubmit MACHINE' submits again only the failed ones",
    ),
}


def _warn_clash() -> None:
    """Say in one line (stderr) if another distribution installs a ``psweep`` package here."""
    from psweep.study.installation import clash_message

    message = clash_message()
    if message:
        print(message, file=sys.stderr)


class _VersionAction(argparse.Action):
    """``--version``: the version, then the clash with another ``psweep`` if there is one."""

    def __init__(self, option_strings, dest=argparse.SUPPRESS, **kwargs):
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, **kwargs)

    def __call__(self, parser, namespace, values, option_string=None):
        print(f"psweep {_version()}")
        _warn_clash()
        parser.exit()


def main(argv: Sequence[str] | None = None) -> None:
    """``psweep`` (or ``python -m psweep``): ``psweep new DEST`` starts a study."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in _DELEGATED:
        import importlib

        module = importlib.import_module(_DELEGATED[argv[0]][0])
        sys.exit(module.main(argv[1:]))
    parser = argparse.ArgumentParser(
        prog="psweep",
        description="psweep: parameter studies with a database of results.",
        epilog="The database tools are commands of their own: psweep-db2table, psweep-db2json, "
        "psweep-push, psweep-pull (each has --help). psweep COMMAND --help tells more.",
    )
    parser.add_argument(
        "--version",
        action=_VersionAction,
        help="print the version (and whether another project installs 'psweep' here too)",
    )
    sub = parser.add_subparsers(dest="command", required=True, title="commands", metavar="COMMAND")
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
        epilog=_describe_questions(),
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
    for name, (_module, text) in _DELEGATED.items():
        sub.add_parser(name, help=text, add_help=False)  # parsed by its own module
    args = parser.parse_args(argv)
    from copier.errors import CopierError

    _warn_clash()
    try:
        if args.command == "update":
            from psweep.study.update import update_study

            result = update_study(args.study, conflict=args.conflict)
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
