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

import os
import shutil
import subprocess
import sys
import tempfile
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

from psweep.errors import PsweepStudyError
from psweep.gitcmd import git
from psweep.study.pinning import VENDOR_DIR, lock_study, psweep_wheel, requirement_wheel
from psweep.study.template_repo import (
    make_template_repo,
    serve_template_repo,
    template_files,
    template_source,
)
from psweep.version import __version__

__all__ = ["Question", "new_study", "questions", "template_questions"]

BRANCH = "main"
_BOOLS = {"true": True, "yes": True, "1": True, "false": False, "no": False, "0": False}


def _git(args: Sequence[str], cwd: Path) -> subprocess.CompletedProcess:
    return git(args, cwd)


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


def template_conf() -> dict[str, Any]:
    import yaml  # here, not at the top: psweep --help builds the parser of psweep new

    with open(template_source() / "copier.yml") as fh:
        return yaml.safe_load(fh)


def questions() -> list[str]:
    """Names of the template's questions, in the order they are asked."""
    return [key for key in template_conf() if not key.startswith("_")]


def running_python() -> str:
    return f"{sys.version_info.major}.{sys.version_info.minor}"


class Question(NamedTuple):
    """One question of the study template, as ``psweep new --help`` and the docs show it."""

    key: str
    kind: str  # str, yes/no, int, ...
    help: str
    choices: tuple[str, ...]
    default: str  # in words where copier computes it (e.g. from the destination)
    when: str  # "" if always asked, else when


# defaults that copier computes, in words; psweep new answers some of them itself
_DEFAULT_WORDS = {
    "study_name": "the name of DEST",
    "psweep_requirement": "empty with psweep new: this psweep, its wheel kept in vendor/ "
    "(copier copy: the git URL and commit, or the folder, it copies from)",
    "psweep_version": "this psweep's version",
    "author_name": "git's user.name, else Study Author",
    "author_email": "git's user.email, else author@example.org",
}


def _when_words(key: str) -> str:
    if key.startswith("slurm_"):
        return "with use_slurm=true"
    if key == "psweep_version":
        return "when psweep_requirement is empty"
    return "in some cases"


def template_questions(python: str | None = None) -> list[Question]:
    """The template's questions (copier.yml), in the order they are asked.

    `python` is the default of ``python_version`` as ``psweep new`` answers it
    (the Python running it); ``None`` for copier's own default.
    """
    out = []
    for key, spec in template_conf().items():
        if key.startswith("_") or not isinstance(spec, dict):
            continue
        default = _DEFAULT_WORDS.get(key, spec.get("default"))
        if key == "python_version" and python:
            default = f"{python}, the Python running psweep new (copier copy: {default})"
        if isinstance(default, bool):
            default = "true" if default else "false"
        out.append(
            Question(
                key=key,
                kind="yes/no" if spec.get("type") == "bool" else str(spec.get("type", "str")),
                help=" ".join(str(spec.get("help", "")).split()),
                choices=tuple(str(c) for c in spec.get("choices", ())),
                default="(empty)" if default in ("", None) else str(default),
                when=_when_words(key) if "when" in spec else "",
            )
        )
    return out


def parse_data(items: Sequence[str]) -> dict[str, Any]:
    data: dict[str, Any] = {}
    conf = template_conf()
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
            ("python_version", running_python()),
        )
        if val
    }
    # the template's default is the source it is copied from (for plain copier copy); psweep
    # new's default is its own wheel in vendor/
    user_defaults["psweep_requirement"] = ""
    version = __version__
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
    import yaml

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
        lock_study(dest)


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
