"""A run's housekeeping around the psets: backup, simulate, writable check, git and DVC commits."""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import shutil
import tempfile
from datetime import datetime, timezone
from typing import Any

import pandas as pd

from psweep.crashpoints import crash_point
from psweep.errors import PsweepDatabaseError, PsweepDiskFullError, PsweepGitError, is_disk_full
from psweep.lifecycle.recovery import remove_partial_backups
from psweep.store.dvctrack import dvc_commit, dvc_tracked, in_dvc_stage
from psweep.store.paths import StudyPaths
from psweep.store.vcs import (
    git_commit_all,
    git_repo,
    git_require_identity,
    git_require_no_conflicts,
)

log = logging.getLogger("psweep")


def backup_study(paths: StudyPaths, df: pd.DataFrame) -> str | None:
    """Copy the calc dir, with the database and runs table where they are elsewhere
    (`database_dir`), to its backup folder; a copy cut short never has the backup's name."""
    remove_partial_backups(paths)
    calc_dir = paths.calc_dir
    elsewhere = (
        [] if paths.database_in_calc_dir else [paths.database, paths.runs_table, paths.runs_json]
    )
    elsewhere = [fn for fn in elsewhere if os.path.isfile(fn)]
    if not (os.path.isdir(calc_dir) or elsewhere):
        return None
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")
    last = str(df["_run_id"].iloc[-1]) if len(df) and "_run_id" in df.columns else "none"
    dst = paths.backup_dir(stamp, last)
    own = os.path.abspath(paths.psweep_dir)

    def skip_running_state(folder: str, names: list[str]) -> list[str]:
        if os.path.abspath(folder) == own:
            return StudyPaths.running_state(names)
        return []

    partial = paths.partial_backup(dst, os.getpid())
    try:
        if os.path.isdir(calc_dir):
            shutil.copytree(calc_dir, partial, symlinks=True, ignore=skip_running_state)
        else:
            os.makedirs(partial)
        for fn in elsewhere:  # where a study without database_dir has them
            shutil.copy2(fn, _free_name(os.path.join(partial, os.path.basename(fn))))
    except BaseException as exc:
        shutil.rmtree(partial, ignore_errors=True)
        # copytree gathers the errors of its files in one shutil.Error, without errno
        if is_disk_full(exc) or (
            isinstance(exc, shutil.Error) and os.strerror(errno.ENOSPC) in str(exc)
        ):
            raise PsweepDiskFullError(
                f"backup=True: cannot copy {calc_dir!r} to {dst!r}: "
                f"{os.strerror(getattr(exc, 'errno', None) or errno.ENOSPC)}. Nothing ran, "
                "and the part copied was removed. Free space on the device, or run "
                "without backup=True",
                dst,
                getattr(exc, "errno", None),
            ) from exc
        raise
    crash_point("backup-copied")
    os.rename(partial, dst)
    log.info("backup: %s -> %s", calc_dir, dst)
    return dst


def _free_name(path: str) -> str:
    """`path`, or if the calc dir has a file of that name, ``<path>.database_dir``."""
    if not os.path.lexists(path):
        return path
    name = os.path.basename(path)
    log.warning(
        "backup: the calc dir has its own %s; the database_dir's is %s.database_dir", name, name
    )
    return f"{path}.database_dir"


def require_writable(folder: str) -> None:
    """Raise before any work if `folder` (or the nearest folder above it) cannot be written."""
    probe_dir = os.path.abspath(folder)
    while not os.path.isdir(probe_dir):
        probe_dir = os.path.dirname(probe_dir)
    try:
        with tempfile.TemporaryFile(dir=probe_dir, prefix=".psweep-write-test-") as fh:
            fh.write(b"\0")  # a full disk refuses even one byte: better now than at the end
            fh.flush()
    except OSError as exc:
        if is_disk_full(exc):
            raise PsweepDiskFullError(
                f"cannot write to {probe_dir!r} ({exc.strerror}), so the database in "
                f"{folder!r} could not be saved: nothing ran and no backup was made. Free "
                "space on the device, then run again",
                probe_dir,
                exc.errno,
            ) from exc
        raise PsweepDatabaseError(
            f"cannot write to {probe_dir!r} ({exc.strerror or exc}), so the database in "
            f"{folder!r} could not be saved: nothing ran and no backup was made. Make it "
            "writable, or choose another calc_dir"
        ) from exc


def prepare_simulate(db_src: str, sim_dir: str) -> None:
    if os.path.isdir(sim_dir):
        shutil.rmtree(sim_dir)
    os.makedirs(sim_dir)
    if os.path.exists(db_src):
        dst = os.path.join(sim_dir, os.path.basename(db_src))
        try:
            shutil.copy2(db_src, dst)
        except OSError as exc:
            with contextlib.suppress(OSError):
                os.unlink(dst)  # no part of a copy: the next dry run starts clean
            if is_disk_full(exc):
                raise PsweepDiskFullError(
                    f"simulate: cannot copy the database {db_src!r} to {dst!r}: "
                    f"{exc.strerror}. Nothing ran, and {db_src!r} is as it was. Free space "
                    "on the device, then run again",
                    dst,
                    exc.errno,
                ) from exc
            raise
    else:
        log.warning("simulate: no database %s yet, starting a new one in %s", db_src, sim_dir)


def git_preflight(git: bool, simulate: bool, folders: dict[str, Any]) -> Any:
    """The repository of a git=True run, checked before anything happens; else None.

    `folders` (``{"calc_dir": ..., "database_dir": ...}``, None for unset) must
    be inside the repository, or their results would never be committed.
    """
    if not git:
        return None
    if simulate:
        log.info("simulate: git commits skipped")
        return None
    repo = git_repo(".")
    git_require_identity(repo)
    git_require_no_conflicts(repo)
    top = os.path.realpath(os.fspath(repo.working_tree_dir or "."))
    for name, folder in folders.items():
        if folder is None:
            continue
        real = os.path.realpath(folder)
        try:
            inside = os.path.commonpath([top, real]) == top
        except ValueError:  # another drive (Windows)
            inside = False
        if not inside:
            raise PsweepGitError(
                f"git=True commits into the git repository {top!r}, but {name} "
                f"{os.fspath(folder)!r} ({real}) is outside it: its results would never be "
                f"committed. Choose a {name} inside {top!r}, run from the repository that "
                "holds it, or leave git=True out"
            )
    return repo


def commit_results(repo, calc_dir: str, run_id: str) -> None:
    """The commit that ends a git=True run; a DVC-tracked calc_dir is recorded by DVC first."""
    name = os.path.basename(os.path.abspath("."))
    if dvc_tracked(calc_dir, repo.working_tree_dir):
        if in_dvc_stage():
            log.info("run by dvc repro: it records %s in dvc.lock; no commit here", calc_dir)
            return
        dvc_commit(calc_dir, repo.working_tree_dir)
    git_commit_all(repo, f"psweep: {name}: run_id={run_id}")
