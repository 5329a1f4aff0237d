"""git support for runs: commit the code before a run and the results after it."""

from __future__ import annotations

import logging
import os

import git as gitpython

from .errors import PsweepGitError

__all__ = ["git_commit_all", "git_repo", "git_require_identity"]

log = logging.getLogger("psweep")

_IDENTITY_HELP = (
    "git needs an identity to commit. Set one once with\n"
    '    git config --global user.name "Your Name"\n'
    '    git config --global user.email "you@example.org"\n'
    "(or without --global inside the study repository only)"
)


def git_repo(path: str | os.PathLike = ".") -> gitpython.Repo:
    """Return the git repository that holds `path`, or raise PsweepGitError."""
    try:
        return gitpython.Repo(path, search_parent_directories=True)
    except (gitpython.InvalidGitRepositoryError, gitpython.NoSuchPathError) as exc:
        raise PsweepGitError(
            f"git=True, but {os.path.abspath(path)!r} is not inside a git repository; "
            "create one first (git init, then commit a .gitignore) or run with git=False"
        ) from exc


def git_require_identity(repo: gitpython.Repo) -> None:
    """Raise PsweepGitError with setup instructions if git cannot commit."""
    try:
        repo.git.var("GIT_COMMITTER_IDENT")
        repo.git.var("GIT_AUTHOR_IDENT")
    except gitpython.GitCommandError as exc:
        raise PsweepGitError(f"{_IDENTITY_HELP}\n(git said: {exc.stderr.strip()})") from exc


def git_commit_all(repo: gitpython.Repo, message: str) -> bool:
    """Stage all changes (honouring .gitignore) and commit them.

    Returns whether a commit was made; a clean tree makes none.
    """
    if not repo.is_dirty(untracked_files=True):
        return False
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
