"""The study template as a git repository that copier can copy from and update with.

copier updates a study with a three-way merge: it renders the template as it was
when the study was made (``_commit`` in ``.copier-answers.yml``), as it is now,
and merges the difference into the study. That needs both versions in one git
repository, with a tag per version, under the URL recorded in ``_src_path``.

psweep makes that repository when it is needed, offline: the template of the
running psweep, and the template of the psweep that made the study, taken from
that psweep's wheel in the study's ``vendor/`` (which the study keeps anyway, to
install the same psweep years later). Studies record the fixed URL
:data:`TEMPLATE_URL`; while copier runs, git is told (through the
``GIT_CONFIG_*`` variables of its environment, no config file is touched) to
fetch that URL from the local repository instead.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import zipfile
from collections.abc import Iterator, Sequence
from pathlib import Path, PurePosixPath

from psweep.errors import PsweepStudyError, PsweepTemplateRepoError
from psweep.gitcmd import git
from psweep.study.installation import PACKAGE_DIR

__all__ = [
    "TEMPLATE_URL",
    "make_template_repo",
    "serve_template_repo",
    "template_files",
    "template_files_of_wheel",
    "template_source",
]

# never fetched: git is pointed at a local repository for it (.invalid is a reserved name)
TEMPLATE_URL = "https://psweep.invalid/study-template.git"
_WHEEL_PREFIX = "psweep/_study_template/"
_SKIP_PARTS = {"__pycache__", ".ruff_cache", ".pytest_cache", ".mypy_cache"}


def _keep(rel: str) -> bool:
    parts = rel.split("/")
    return not (_SKIP_PARTS.intersection(parts) or rel.endswith((".pyc", ".pyo")))


def template_files(src: Path) -> dict[str, bytes]:
    """The files of the template whose ``copier.yml`` is in folder `src`."""
    files = {"copier.yml": (src / "copier.yml").read_bytes()}
    for path in sorted((src / "template").rglob("*")):
        rel = path.relative_to(src).as_posix()
        if path.is_file() and _keep(rel):
            files[rel] = path.read_bytes()
    return files


def template_files_of_wheel(wheel: Path) -> dict[str, bytes]:
    """The study template inside a psweep wheel."""
    with zipfile.ZipFile(wheel) as zf:
        files = {
            name[len(_WHEEL_PREFIX) :]: zf.read(name)
            for name in zf.namelist()
            if name.startswith(_WHEEL_PREFIX) and not name.endswith("/")
        }
    for rel in files:
        parts = PurePosixPath(rel).parts
        if not parts or rel.startswith("/") or ".." in parts or "\\" in rel or ":" in parts[0]:
            # written to dest / rel later: a tampered wheel could write anywhere
            raise PsweepTemplateRepoError(
                f"{str(wheel)!r} holds the template file {rel!r}, a path outside the template "
                "folder; this wheel is damaged or tampered with: use a psweep wheel you built "
                "or downloaded yourself"
            )
    files = {rel: data for rel, data in files.items() if _keep(rel)}
    if "copier.yml" not in files:
        raise PsweepTemplateRepoError(f"{str(wheel)!r} holds no study template")
    return files


def _git(repo: Path, *args: str) -> None:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "psweep",
        "GIT_AUTHOR_EMAIL": "psweep@localhost",
        "GIT_COMMITTER_NAME": "psweep",
        "GIT_COMMITTER_EMAIL": "psweep@localhost",
        "GIT_AUTHOR_DATE": "2000-01-01T00:00:00Z",
        "GIT_COMMITTER_DATE": "2000-01-01T00:00:00Z",
    }
    proc = git(args, repo, config=("commit.gpgsign=false", "tag.gpgsign=false"), env=env)
    if proc.returncode != 0:
        raise PsweepTemplateRepoError(
            f"git {' '.join(args)} failed in {repo}: {(proc.stderr or proc.stdout).strip()}"
        )


def make_template_repo(dest: Path, versions: Sequence[tuple[str, dict[str, bytes]]]) -> Path:
    """A git repository in `dest` with one commit per (version, files), tagged `version`."""
    dest.mkdir(parents=True)
    _git(dest, "init", "-q")
    for version, files in versions:
        for old in dest.rglob("*"):
            if old.is_file() and ".git" not in old.relative_to(dest).parts:
                old.unlink()
        for rel, data in files.items():
            path = dest / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        _git(dest, "add", "-A")
        _git(dest, "commit", "-q", "--allow-empty", "-m", f"study template of psweep {version}")
        _git(dest, "tag", version)
    return dest


@contextlib.contextmanager
def serve_template_repo(repo: Path) -> Iterator[str]:
    """While inside, git fetches :data:`TEMPLATE_URL` from `repo`; yields the URL.

    copier keeps a mirror of each remote template, by URL, in a cache shared by
    every process of the user. Every psweep serves its template at the one
    :data:`TEMPLATE_URL`, so two ``psweep new`` of different versions at once
    would fetch into one mirror and take each other's tags: inside, copier's
    cache is a folder of this call's own (``COPIER_CACHE_DIR``), removed after.
    """
    count = int(os.environ.get("GIT_CONFIG_COUNT", "0") or 0)
    cache = tempfile.mkdtemp(prefix="psweep-copier-cache-")
    keys = {
        "GIT_CONFIG_COUNT": str(count + 1),
        f"GIT_CONFIG_KEY_{count}": f"url.{repo.absolute().as_uri()}.insteadOf",
        f"GIT_CONFIG_VALUE_{count}": TEMPLATE_URL,
        "COPIER_CACHE_DIR": cache,
    }
    saved = {key: os.environ.get(key) for key in keys}
    os.environ.update(keys)
    try:
        # copier runs git through plumbum, whose environment is a copy taken at import
        try:
            from plumbum import local
        except ImportError:  # pragma: no cover - copier depends on plumbum
            yield TEMPLATE_URL
        else:
            with local.env(**keys):
                yield TEMPLATE_URL
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        shutil.rmtree(cache, ignore_errors=True)


def template_source() -> Path:
    """Return the folder holding the study template's ``copier.yml``.

    The template shipped in the installed package, else the repository root
    of an editable install (a git checkout of psweep).
    """
    pkg = PACKAGE_DIR
    for src in (pkg / "_study_template", pkg.parent):
        if (src / "copier.yml").is_file() and (src / "template").is_dir():
            return src
    raise PsweepStudyError(
        f"the study template is missing: neither {pkg / '_study_template'} nor {pkg.parent} "
        "holds copier.yml and template/; reinstall psweep"
    )
