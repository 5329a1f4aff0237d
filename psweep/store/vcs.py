"""git support for runs: commit the code before a run and the results after it."""

from __future__ import annotations

import logging
import os
from typing import TYPE_CHECKING

from psweep.errors import PsweepGitError
from psweep.gitcmd import git

__all__ = [
    "GIT_MAX_ADD_BYTES",
    "git_check_add",
    "git_clean",
    "git_commit_all",
    "git_enter",
    "git_exit",
    "git_repo",
    "git_require_identity",
    "git_require_no_conflicts",
    "git_work_tree",
    "in_git_repo",
]

if TYPE_CHECKING:
    import git as gitpython
    import pandas as pd

log = logging.getLogger("psweep")

#: The most that one commit of git=True may add to git, in bytes (files that
#: git-lfs keeps count as their pointers). Raise it for a study that means to.
GIT_MAX_ADD_BYTES = 50 * 2**20
_SHOW_LARGEST = 5

_IDENTITY_HELP = (
    "git needs an identity to commit. Set one once with\n"
    '    git config --global user.name "Your Name"\n'
    '    git config --global user.email "you@example.org"\n'
    "(or without --global inside the study repository only)"
)


def git_repo(path: str | os.PathLike = ".") -> gitpython.Repo:
    """Return the git repository that holds `path`, or raise PsweepGitError."""
    import git as gitpython  # here, not at the top: ~40 ms that a run without git spares

    try:
        return gitpython.Repo(path, search_parent_directories=True)
    except (gitpython.InvalidGitRepositoryError, gitpython.NoSuchPathError) as exc:
        raise PsweepGitError(
            f"git=True, but {os.path.abspath(path)!r} is not inside a git repository; "
            "create one first (git init, then commit a .gitignore) or run with git=False"
        ) from exc


def git_require_no_conflicts(repo: gitpython.Repo) -> None:
    """Raise PsweepGitError if the repository has unresolved merge conflicts."""
    unmerged = sorted({line.split("\t", 1)[1] for line in repo.git.ls_files("-u").splitlines()})
    if unmerged:
        shown = ", ".join(unmerged[:5]) + (
            f" and {len(unmerged) - 5} more" if len(unmerged) > 5 else ""
        )
        raise PsweepGitError(
            f"git=True: the repository has unresolved merge conflicts in {shown}; nothing ran. "
            "Resolve them (edit, then git add), commit, and run again"
        )


def git_require_identity(repo: gitpython.Repo) -> None:
    """Raise PsweepGitError with setup instructions if git cannot commit."""
    import git as gitpython  # only with git=True (see git_repo)

    try:
        repo.git.var("GIT_COMMITTER_IDENT")
        repo.git.var("GIT_AUTHOR_IDENT")
    except gitpython.GitCommandError as exc:
        raise PsweepGitError(f"{_IDENTITY_HELP}\n(git said: {exc.stderr.strip()})") from exc


def _mb(nbytes: int) -> str:
    return f"{nbytes / 2**20:.1f} MB"


def _changed_paths(repo: gitpython.Repo) -> tuple[list[str], list[str]]:
    """Paths that ``git add -A`` would add: (untracked, modified), relative to the top."""
    out = repo.git.status("--porcelain=v1", "-z", "--untracked-files=all", "--no-renames")
    untracked, modified = [], []
    for entry in out.split("\0"):
        if len(entry) < 4:
            continue
        code, path = entry[:2], entry[3:]
        if code == "??":
            untracked.append(path)
        elif "D" not in code:
            modified.append(path)
    return untracked, modified


def _lfs_paths(repo: gitpython.Repo, paths: list[str]) -> set[str]:
    if not paths:
        return set()
    proc = git(
        ["check-attr", "-z", "filter", "--stdin"], repo.working_tree_dir, input="\0".join(paths)
    )
    fields = proc.stdout.split("\0")
    # -z output: path NUL attribute NUL value NUL ...
    return {fields[i] for i in range(0, len(fields) - 2, 3) if fields[i + 2] == "lfs"}


def git_check_add(repo: gitpython.Repo, max_bytes: int | None = None) -> None:
    """Raise PsweepGitError if ``git add -A`` would add a virtualenv or too much data.

    A virtualenv is a folder with a ``pyvenv.cfg``; too much is more than
    `max_bytes` (default :data:`GIT_MAX_ADD_BYTES`) in files that git itself
    would store (git-lfs files are left out). Nothing is staged or committed.
    """
    limit = GIT_MAX_ADD_BYTES if max_bytes is None else max_bytes
    top = repo.working_tree_dir
    if top is None:
        raise PsweepGitError(
            f"git: {repo.git_dir!r} is a bare repository: it has no working tree to add from"
        )
    untracked, modified = _changed_paths(repo)
    venvs = sorted(
        {os.path.dirname(p) or "." for p in untracked if os.path.basename(p) == "pyvenv.cfg"}
    )
    if venvs:
        counts = {v: sum(p.startswith(v + "/") for p in untracked) for v in venvs}
        listed = ", ".join(f"{v}/ ({counts[v]} files)" for v in venvs)
        ignore = " ".join(f"'{v}/'" for v in venvs)
        raise PsweepGitError(
            f"git=True: the commit of local changes would add the Python virtualenv {listed} "
            "to git. Nothing was committed. Keep environments out of git: add them to "
            f".gitignore (printf '%s\\n' {ignore} >> .gitignore) or make them outside "
            "the study"
        )
    paths = untracked + modified
    lfs = _lfs_paths(repo, paths)
    sizes = []
    for path in paths:
        full = os.path.join(top, path)
        if path not in lfs and os.path.isfile(full) and not os.path.islink(full):
            sizes.append((os.path.getsize(full), path))
    total = sum(size for size, _ in sizes)
    if total <= limit:
        return
    sizes.sort(reverse=True)
    largest = ", ".join(f"{path} ({_mb(size)})" for size, path in sizes[:_SHOW_LARGEST])
    raise PsweepGitError(
        f"git=True: the commit would add {_mb(total)} in {len(sizes)} files to git, more "
        f"than the limit of {_mb(limit)} (psweep.store.vcs.GIT_MAX_ADD_BYTES). Nothing was "
        f"committed. The largest: {largest}. Keep large files out of git: ignore them in "
        ".gitignore, track them with git-lfs (git lfs track 'calc/**/*.npy') or DVC "
        "(dvc add PATH), or raise psweep.store.vcs.GIT_MAX_ADD_BYTES"
    )


def git_commit_all(repo: gitpython.Repo, message: str) -> bool:
    """Stage all changes (honouring .gitignore) and commit them.

    Refuses (PsweepGitError, nothing staged) when that would add a virtualenv
    or more than :data:`GIT_MAX_ADD_BYTES`; see :func:`git_check_add`.
    Returns whether a commit was made; a clean tree makes none.
    """
    import git as gitpython  # only with git=True (see git_repo)

    if not repo.is_dirty(untracked_files=True):
        return False
    git_check_add(repo)
    try:
        repo.git.add(A=True)
        repo.git.commit(m=message, no_verify=True)
    except gitpython.GitCommandError as exc:
        stderr = (exc.stderr or "").strip()
        if "tell me who you are" in stderr or "auto-detect" in stderr:
            raise PsweepGitError(f"{_IDENTITY_HELP}\n(git said: {stderr})") from exc
        raise PsweepGitError(f"git commit {message!r} failed: {stderr or exc}") from exc
    log.info("git commit: %s", message)
    return True


# -- the git helpers of psweep 0.7.0 and 0.16 (they work in the current folder) ---------


def git_work_tree(path: str | os.PathLike = ".") -> str | None:
    """The nearest folder at or above `path` with a ``.git`` (a folder, or the file of a
    worktree or submodule), or None: found without running git or importing gitpython,
    so that a run outside a repository pays nothing to learn that it is outside. With
    ``GIT_DIR`` set, `path` itself (git then asks no folder)."""
    here = os.path.abspath(path)
    if os.environ.get("GIT_DIR"):
        return here
    while True:
        if os.path.lexists(os.path.join(here, ".git")):
            return here
        parent = os.path.dirname(here)
        if parent == here:
            return None
        here = parent


def in_git_repo() -> bool:
    """Whether the current folder is inside a git repository (``git status`` succeeds)."""
    proc = git(["status"])
    return proc.returncode == 0


def git_clean() -> bool:
    """Whether the repository of the current folder has no changes (``git status --porcelain``
    prints nothing)."""
    proc = git(["status", "--porcelain"])
    return proc.returncode == 0 and not proc.stdout.strip()


def _here() -> str:
    return os.path.basename(os.path.abspath(os.curdir))


def git_enter(use_git: bool, always_commit: bool = False) -> None:
    """Before a run with git: the current folder must be a clean git repository.

    With `always_commit`, a missing repository is created and local changes are
    committed (message ``psweep: <folder>: local changes``) instead of raising
    :class:`~psweep.errors.PsweepGitError`.
    """
    if not use_git:
        return
    if not in_git_repo():
        if not always_commit:
            raise PsweepGitError(
                f"git: {os.path.abspath(os.curdir)!r} is not in a git repository; create one "
                "first (git init) or pass always_commit=True"
            )
        git(["init", "-q"], check=True)
    if not git_clean():
        if not always_commit:
            raise PsweepGitError(
                "git: the repository has uncommitted changes; commit them first or pass "
                "always_commit=True"
            )
        git_commit_all(git_repo("."), f"psweep: {_here()}: local changes")


def git_exit(use_git: bool, df: pd.DataFrame) -> None:
    """After a run with git: commit everything with the message
    ``psweep: <folder>: run_id=<last _run_id>``."""
    if use_git and len(df) and "_run_id" in df.columns:
        git_commit_all(git_repo("."), f"psweep: {_here()}: run_id={df['_run_id'].iloc[-1]}")
