"""What psweep-push and psweep-pull run: rsync commands of both forms and the database merge.

Two forms, as :mod:`psweep.cli` tells them apart:

- the machine form (``psweep-push MACHINE``): host and path come from
  ``templates/machines/<MACHINE>/info.yaml``;
- the host form of psweep 0.16 (``psweep-push HOST [RSYNC_OPTS...]``): the
  study's folder relative to ``$HOME`` here is the folder relative to the
  login folder on HOST.

A pull never copies the database over the local one: it fetches it into
``calc/.psweep/pull/`` and merges it under the lock (:func:`pull_database`).
"""

from __future__ import annotations

import contextlib
import os
import shlex
import subprocess
import sys
from collections.abc import Sequence

__all__ = [
    "EXCLUDE_FILES",
    "FILTER_FILES",
    "RSYNC_HOST_OPTIONS",
    "home_relative_basedir",
    "host_commands",
    "is_dry_run",
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
    ``calc/.psweep/`` and, for a pull, of the database, which
    :func:`pull_database` merges instead.
    """
    remote = f"{host}:{basedir}/calc"
    opts = _rsync_options(direction, extra)
    if direction == "push":
        return [
            ["ssh", host, "mkdir", "-pv", shlex.quote(f"{basedir}/calc")],
            ["rsync", *opts, "--exclude=/.psweep/", "calc/", remote + "/"],
        ]
    return [
        [
            "rsync",
            *opts,
            "--exclude=/calc/.psweep/",
            f"--exclude=/calc/{database_basename}",
            remote,
            "./",
        ]
    ]


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
    """Fetch ``<remote><basename>`` into ``.psweep/pull/`` and merge it into the local one.

    Rows on either side are kept; a row on both takes the remote values
    where it has them (:func:`psweep.merge.merge_databases`). Without a
    remote database the status is 1 if `required`, else 0 (the files were
    pulled all the same).
    """
    from ..errors import PsweepDatabaseError
    from ..merge import merge_databases, psweep_dir

    staging = os.path.join(psweep_dir(local.rstrip("/")), "pull")
    os.makedirs(staging, exist_ok=True)
    staged = os.path.join(staging, basename)
    with contextlib.suppress(FileNotFoundError):
        os.unlink(staged)
    rc = run_command(["rsync", "-a", "-s", "--", remote + basename, staging + "/"])
    if rc != 0 or not os.path.exists(staged):
        sys.stderr.write(f"{prog}: no database {remote + basename} to merge (files were pulled)\n")
        return (rc or 1) if required else 0
    try:
        _, nnew, nshared = merge_databases(
            os.path.join(local, basename), staged, source=remote + basename
        )
    except PsweepDatabaseError as exc:
        sys.stderr.write(f"{prog}: {exc}; {local + basename} is left as it was\n")
        return 1
    finally:
        os.unlink(staged)
    sys.stdout.write(
        f"{prog}: merged {remote + basename} into {local + basename}: {nnew} new rows, "
        f"{nshared} rows updated; rows that are only here are kept\n"
    )
    return 0
