"""``psweep new DEST``: start a study repository from the study template.

The template is the copier template of this repository (``copier.yml`` and
``template/``), shipped inside the wheel as ``psweep/_study_template/``. copier
renders it (no tasks, nothing unsafe); the git steps that a template could only
do with copier tasks (``git init``, ``git lfs install --local``, the first
commit) are done here, as argument lists.
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import subprocess
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from .errors import PsweepError

__all__ = ["PsweepStudyError", "main", "new_study", "questions", "template_source"]


class PsweepStudyError(PsweepError, RuntimeError):
    """A study repository could not be created."""


def template_source() -> Path:
    """Return the folder holding the study template's ``copier.yml``.

    The template shipped in the installed package, else the repository root
    of an editable install (a git checkout of psweep).
    """
    pkg = Path(__file__).resolve().parent
    for src in (pkg / "_study_template", pkg.parent):
        if (src / "copier.yml").is_file() and (src / "template").is_dir():
            return src
    raise PsweepStudyError(
        f"the study template is missing: neither {pkg / '_study_template'} nor {pkg.parent} "
        "holds copier.yml and template/; reinstall psweep"
    )


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


def questions() -> list[str]:
    """Names of the template's questions, in the order they are asked."""
    with open(template_source() / "copier.yml") as fh:
        conf = yaml.safe_load(fh)
    return [key for key in conf if not key.startswith("_")]


def _parse_data(items: Sequence[str]) -> dict[str, Any]:
    data: dict[str, Any] = {}
    known = questions()
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise PsweepStudyError(f"--data needs KEY=VALUE, got {item!r}")
        if key not in known:
            raise PsweepStudyError(
                f"--data {item!r}: no question {key!r}; the questions are {', '.join(known)}"
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
        )
        if val
    }
    kwds: dict[str, Any] = {}
    if (src / ".git").exists():
        kwds["vcs_ref"] = "HEAD"  # the template as it is in this checkout, not its last tag
    with warnings.catch_warnings():
        # an editable install renders its checkout as it is, uncommitted changes included,
        # and a shallow clone of psweep (as CI makes) is fine for that
        warnings.simplefilter("ignore", copier.errors.DirtyLocalWarning)
        warnings.simplefilter("ignore", copier.errors.ShallowCloneWarning)
        copier.run_copy(
            str(src),
            dest,
            data=data,
            defaults=defaults,
            user_defaults=user_defaults,
            unsafe=False,
            quiet=True,
            **kwds,
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


def new_study(
    dest: str | os.PathLike,
    data: dict[str, Any] | None = None,
    defaults: bool = False,
    out=sys.stdout,
) -> dict[str, Any]:
    """Render the study template into `dest` and, if wanted, make it a git repository.

    `data` answers questions (the others are asked, or take their defaults
    with `defaults=True`). `dest` must not exist or be empty. When anything
    fails, `dest` is left as it was (removed if it did not exist). Returns
    the answers.
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
        answers = _render(dest, dict(data or {}), defaults)
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
    answers = new_study(args.dest, data, defaults=args.defaults)
    dest = Path(args.dest)
    what = "a git repository with a first commit" if answers.get("git_init") else "no git"
    print(f"study {answers['study_name']} ready in {dest}{os.sep} ({what}). Next:")
    print(f"    cd {shlex.quote(str(dest))}")
    print("    python input.py     # run the study; README.md tells the rest")


def _questions_or_none() -> list[str]:
    try:
        return questions()
    except (PsweepStudyError, OSError):
        return ["(template missing)"]


def main(argv: Sequence[str] | None = None) -> None:
    """``psweep``: the psweep command; ``psweep new DEST`` starts a study."""
    parser = argparse.ArgumentParser(prog="psweep", description="psweep: parameter studies.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    new = sub.add_parser(
        "new",
        help="start a study repository",
        description="Start a study repository in DEST from psweep's study template: a driver "
        "script, evaluation, batch templates, nox sessions and container files. Asks the "
        "template's questions unless answered with --data or --defaults. With git_init (the "
        "default) DEST becomes a git repository with a first commit.",
        epilog="questions: " + ", ".join(_questions_or_none()),
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
    args = parser.parse_args(argv)
    from copier.errors import CopierError

    try:
        _new(args, parser)
    except KeyboardInterrupt:
        parser.exit(130, "psweep new: interrupted; nothing was written\n")
    except (PsweepError, CopierError, ValueError, OSError) as exc:
        # copier reports invalid answers as ValueError("Validation error for question ...")
        text = str(exc).strip() or type(exc).__name__
        parser.exit(2, f"psweep {args.command}: error: {text}\n")
