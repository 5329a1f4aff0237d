"""What psweep-push and psweep-pull run: rsync commands of both forms and the database merge.

Two forms, as :mod:`psweep.cli` tells them apart:

- the machine form (``psweep-push MACHINE``): host and path come from
  ``templates/machines/<MACHINE>/info.yaml``;
- the host form of psweep 0.16 (``psweep-push HOST [RSYNC_OPTS...]``): the
  study's folder relative to ``$HOME`` here is the folder relative to the
  login folder on HOST.

A pull never copies a database (of any format) or the runs table over the local
one: it fetches them into ``calc/.psweep/pull/`` and merges them under the lock
(:func:`pull_database`). Which files these are, :class:`psweep.store.paths.StudyPaths`
says (:meth:`~psweep.store.paths.StudyPaths.kept_on_pull`).
"""

from __future__ import annotations

import contextlib
import os
import shlex
import subprocess
import sys
from collections.abc import Sequence

from psweep.batch.layout import SUBMIT_FILES
from psweep.store.paths import PSWEEP_DIRNAME, RUNS_BASENAME, StudyPaths

__all__ = [
    "EXCLUDE_FILES",
    "FILTER_FILES",
    "RSYNC_HOST_OPTIONS",
    "home_relative_basedir",
    "host_commands",
    "is_dry_run",
    "not_pulled",
    "pull_database",
]

# the options, exclude files and filter files of psweep 0.16's push and pull
RSYNC_HOST_OPTIONS = ("-rptgoD", "-vP")
EXCLUDE_FILES = {"push": ("excl_push", "rsync.exclude"), "pull": ("excl_pull", "rsync.exclude")}
FILTER_FILES = ("rsync.rules", "rsync.filter")


def home_relative_basedir(cwd: str | None = None, home: str | None = None) -> str:
    """The current folder relative to ``$HOME``, or as it is if it is not inside it.

    The folder is the shell's ``$PWD`` where that names the current folder
    (so a path through a symlink stays as the user sees it), as in psweep
    0.16's ``${PWD#$HOME/}``.
    """
    if cwd is None:
        cwd = os.getcwd()
        pwd = os.environ.get("PWD")
        with contextlib.suppress(OSError):
            if pwd and os.path.samefile(pwd, cwd):
                cwd = pwd
    home = os.environ.get("HOME", "") if home is None else home
    home = home.rstrip("/")
    if home and cwd.startswith(home + "/"):
        return cwd[len(home) + 1 :]
    return cwd


def _rsync_options(direction: str, extra: Sequence[str]) -> list[str]:
    opts = [*RSYNC_HOST_OPTIONS, *extra]
    opts += [f"--exclude-from={fn}" for fn in EXCLUDE_FILES[direction] if os.path.isfile(fn)]
    opts += [f"--filter=merge {fn}" for fn in FILTER_FILES if os.path.isfile(fn)]
    return opts


def not_pulled(database_basename: str) -> list[str]:
    """What a pull leaves alone, relative to the calc dir (rsync patterns): psweep's
    running state, the databases and runs table (merged instead, :func:`pull_database`)
    and the submit files prepared here (:data:`~psweep.batch.layout.SUBMIT_FILES`)."""
    return [*StudyPaths("calc", database_basename).kept_on_pull(), *SUBMIT_FILES]


def host_commands(
    direction: str, host: str, extra: Sequence[str], basedir: str, database_basename: str
) -> list[list[str]]:
    """The commands of ``psweep-<direction> HOST EXTRA...``, as argument lists.

    Push: ``ssh HOST mkdir -pv <basedir>/calc``, then ``rsync ... calc/
    HOST:<basedir>/calc/``. Pull: ``rsync ... HOST:<basedir>/calc ./``. The
    options are psweep 0.16's (``-rptgoD -vP``, `extra`, then
    ``--exclude-from`` for each of ``excl_push`` or ``excl_pull`` and
    ``rsync.exclude`` here, ``--filter=merge`` for ``rsync.rules`` and
    ``rsync.filter``), plus excludes of the locks and journals in
    ``calc/.psweep/`` and, for a pull, of the database files of every format
    and the runs table, which :func:`pull_database` merges instead, and of
    the submit files prepared here (:data:`~psweep.batch.layout.SUBMIT_FILES`).
    """
    remote = f"{host}:{basedir}/calc"
    opts = _rsync_options(direction, extra)
    if direction == "push":
        return [
            ["ssh", host, "mkdir", "-pv", shlex.quote(f"{basedir}/calc")],
            ["rsync", *opts, f"--exclude=/{PSWEEP_DIRNAME}/", "calc/", remote + "/"],
        ]
    kept = not_pulled(database_basename)
    return [["rsync", *opts, *[f"--exclude=/calc/{name}" for name in kept], remote, "./"]]


def is_dry_run(rsync_opts: Sequence[str]) -> bool:
    """Whether extra rsync options ask for a dry run (``-n``, ``--dry-run``, ``-avn``)."""
    for opt in rsync_opts:
        if opt == "--dry-run":
            return True
        if (
            opt.startswith("-")
            and not opt.startswith("--")
            and "n" in opt[1:]
            and opt[1:].isalpha()
        ):
            return True
    return False


def run_command(cmd: list[str], prefix: str = "") -> int:
    """Echo `cmd` (shell-quoted, after `prefix`) to stdout and run it; return its status."""
    sys.stdout.write(prefix + shlex.join(cmd) + "\n")
    sys.stdout.flush()
    return subprocess.run(cmd, check=False).returncode


def pull_database(
    prog: str, remote: str, local: str, basename: str, *, required: bool = True
) -> int:
    """Fetch the database files and the runs table of `remote` (a calc dir, ending in
    ``/``) into ``.psweep/pull/`` and merge each into the local one.

    The files are those a pull does not copy (:meth:`StudyPaths.kept_on_pull`): the
    database `basename` and that of every format, and the runs table. Rows on either
    side are kept; a row on both takes the remote values where it has them
    (:func:`psweep.lifecycle.merge.merge_databases`); so do runs
    (:func:`psweep.store.runs_table.merge_runs`).
    Without a remote database the status is 1 if `required`, else 0 (the files were
    pulled all the same).
    """
    from psweep.errors import PsweepDatabaseError
    from psweep.lifecycle.merge import merge_databases

    paths = StudyPaths(local, basename)
    names = paths.kept_on_pull()[1:]
    staging = paths.pull_staging
    paths.make_psweep_dir()
    os.makedirs(staging, exist_ok=True)
    for name in names:  # left by a pull that was cut short
        with contextlib.suppress(FileNotFoundError):
            os.unlink(os.path.join(staging, name))
    filters = [f"--include=/{name}" for name in names]
    rc = run_command(["rsync", "-a", "-s", *filters, "--exclude=*", "--", remote, staging + "/"])
    staged = [name for name in names if os.path.isfile(os.path.join(staging, name))]
    rc_runs = _pull_runs(prog, remote, paths, staged) if rc == 0 else 0
    databases = [name for name in staged if name != RUNS_BASENAME]
    if rc != 0 or not databases:
        sys.stderr.write(f"{prog}: no database {remote + basename} to merge (files were pulled)\n")
        return (rc or 1) if required else rc_runs
    status = rc_runs
    for name in databases:
        fn = os.path.join(staging, name)
        try:
            _, nnew, nshared = merge_databases(
                StudyPaths(local, name).database, fn, source=remote + name
            )
        except PsweepDatabaseError as exc:
            sys.stderr.write(f"{prog}: {exc}; {local + name} is left as it was\n")
            status = 1
            continue
        finally:
            os.unlink(fn)
        sys.stdout.write(
            f"{prog}: merged {remote + name} into {local + name}: {nnew} new rows, "
            f"{nshared} rows updated; rows that are only here are kept\n"
        )
    return status


def _pull_runs(prog: str, remote: str, paths: StudyPaths, staged: Sequence[str]) -> int:
    """Merge the staged remote runs table into the local one (under the lock of every
    database pulled); its status: 1 if the remote one could not be read."""
    from psweep.store.database import df_read
    from psweep.store.locking import database_lock
    from psweep.store.runs_table import merge_runs

    if RUNS_BASENAME not in staged:
        return 0
    fn = os.path.join(paths.pull_staging, RUNS_BASENAME)
    databases = [name for name in staged if name != RUNS_BASENAME] or [paths.database_basename]
    try:
        with contextlib.ExitStack() as stack:
            for name in sorted(databases):  # every writer of the runs table holds one
                stack.enter_context(database_lock(StudyPaths(paths.database_dir, name).lock))
            nnew = merge_runs(paths.database_dir, df_read(fn))
    except Exception as exc:  # a damaged remote table: the local one stays as it was
        sys.stderr.write(f"{prog}: could not merge the runs of {remote + RUNS_BASENAME}: {exc}\n")
        return 1
    finally:
        os.unlink(fn)
    sys.stdout.write(f"{prog}: merged {remote + RUNS_BASENAME}: {nnew} runs added\n")
    return 0
