"""``psweep-push`` and ``psweep-pull``: copy a study's calc folder to and from a machine."""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from collections.abc import Sequence

from psweep.errors import PsweepError
from psweep.store.paths import DATABASE_BASENAME, DATABASE_BASENAMES, PSWEEP_DIRNAME

__all__ = ["pull", "pull_parser", "push", "push_parser"]


_SYNC_USAGE = """\
%(prog)s [--machine] MACHINE [--calc-dir DIR] [--machine-templ-dir DIR] [-n]
       %(prog)s [--host] HOST [RSYNC_OPTS...]"""


def _sync_description(direction: str) -> tuple[str, str]:
    prog = f"psweep-{direction}"
    if direction == "push":
        what = "Copy calc/ to a machine or host with rsync."
        host = "ssh HOST mkdir -pv DIR/calc;\n           rsync calc/ HOST:DIR/calc/"
    else:
        what = """\
Copy calc/ back from a machine or host with rsync. The database (of any
format) and the runs table are not copied over the local ones but merged into
them under the lock: rows and runs on either side are kept, one on both takes
the remote values where it has them."""
        host = "rsync\n           HOST:DIR/calc ./"
    what += f"""

two forms ('forms' below tells which one is taken):

- {prog} MACHINE [options]: a folder of templates/machines; the
  arguments below are this form's
- {prog} HOST [RSYNC_OPTS...]: the form of psweep 0.16; the words
  after HOST go to rsync as they are"""
    epilog = f"""\
forms:
  MACHINE  'host' and 'path' in templates/machines/MACHINE/info.yaml (no host:
           a local path); rsync -a
  HOST     the form of psweep 0.16: DIR is this folder relative to $HOME, on
           HOST relative to the login folder; {host}
           with -rptgoD -vP RSYNC_OPTS, --exclude-from for excl_{direction} and
           rsync.exclude, --filter='merge F' for rsync.rules and rsync.filter
           where these files exist here

which form: --machine or --host as first argument decides. Otherwise the first
argument is a MACHINE if it starts with '-', contains a '/' or names a folder
in templates/machines (or in --machine-templ-dir), else a HOST.

Locks and journals of running studies (calc/.psweep/) are not copied."""
    return what, epilog


def _sync(direction: str, argv: Sequence[str] | None) -> None:
    prog = f"psweep-{direction}"
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["--host"]:
        if len(argv) < 2:
            _fail(prog, "--host needs a HOST")
        _sync_host(prog, direction, argv[1], argv[2:], forced=True)
    if argv[:1] == ["--machine"]:
        _sync_machine(prog, direction, argv[1:])
    if not argv or argv[0].startswith("-") or _names_machine(argv[0], argv):
        _sync_machine(prog, direction, argv)
    _sync_host(prog, direction, argv[0], argv[1:], forced=False)


def _fail(prog: str, message: str) -> None:
    sys.stderr.write(f"{prog}: error: {message}\n")
    sys.exit(2)


def _machine_templ_dir(argv: Sequence[str]) -> str:
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--machine-templ-dir", default="templates/machines")
    return parser.parse_known_args(argv)[0].machine_templ_dir


def _names_machine(name: str, argv: Sequence[str]) -> bool:
    """The ambiguity rule: a '/' (no host has one) or a folder of machine templates."""
    return "/" in name or os.path.isdir(os.path.join(_machine_templ_dir(argv), name))


def _sync_host(prog: str, direction: str, host: str, rsync_opts: list[str], forced: bool) -> None:
    """``psweep-push HOST [RSYNC_OPTS...]``, the form of psweep 0.16."""
    from psweep.batch.transfers import (
        home_relative_basedir,
        host_commands,
        is_dry_run,
        pull_database,
        run_command,
    )

    if not host or host.startswith("-") or any(c.isspace() or c == "/" for c in host):
        _fail(
            prog,
            f"host {host!r} is not allowed (no spaces or '/', and no '-' first, so that ssh and "
            "rsync cannot take it for an option)",
        )
    for tool in ("rsync", "ssh") if direction == "push" else ("rsync",):
        if shutil.which(tool) is None:
            _fail(prog, f"{tool} is not installed")
    basedir = home_relative_basedir()
    database_basename = DATABASE_BASENAME  # the host form of 0.16 has no option for it
    for cmd in host_commands(direction, host, rsync_opts, basedir, database_basename):
        rc = run_command(cmd, prefix="executing: ")
        if rc != 0:
            if not forced and os.path.isdir("templates/machines"):
                sys.stderr.write(
                    f"{prog}: {host!r} is no folder in templates/machines, so it was taken as an "
                    f"ssh host (the psweep 0.16 form); for a machine give --machine NAME\n"
                )
            sys.exit(rc)
    if direction == "pull" and not is_dry_run(rsync_opts):
        remote = f"{host}:{basedir}/calc/"
        sys.exit(pull_database(prog, remote, "calc/", database_basename, required=False))
    sys.exit(0)


def _sync_parser(direction: str) -> argparse.ArgumentParser:
    """The parser of ``psweep-push`` or ``psweep-pull``: it parses the MACHINE form, and its
    usage, description and epilog tell both forms (the HOST form's words go to rsync)."""
    description, epilog = _sync_description(direction)
    parser = argparse.ArgumentParser(
        prog=f"psweep-{direction}",
        usage=_SYNC_USAGE,
        description=description,
        epilog=epilog,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("machine", help="name of a folder in templates/machines")
    parser.add_argument("--calc-dir", default="calc", help="default: %(default)s")
    parser.add_argument(
        "--machine-templ-dir", default="templates/machines", help="default: %(default)s"
    )
    parser.add_argument(
        "-n", "--dry-run", action="store_true", help="show what would be copied, copy nothing"
    )
    parser.add_argument(
        "--database-basename",
        default=DATABASE_BASENAME,
        help="the database in the calc dir, which pull merges; so it does with "
        f"{', '.join(DATABASE_BASENAMES)} (default: %(default)s)",
    )
    return parser


def _machine_remote(
    parser: argparse.ArgumentParser, prog: str, args: argparse.Namespace
) -> tuple[str, bool]:
    """The remote calc dir (``[host:]path/<calc>/``) of the machine's info.yaml, checked,
    and whether it is on another host."""
    from psweep.batch import check_machine_name, machine_info

    mdir = os.path.join(args.machine_templ_dir, args.machine)
    try:
        check_machine_name(args.machine)
        info = machine_info(mdir)
    except PsweepError as exc:
        parser.exit(2, f"{prog}: error: {exc}\n")
    for key in ("host", "path"):
        val = info.get(key)
        spaces = key == "host" and isinstance(val, str) and any(c.isspace() for c in val)
        if val is not None and (not isinstance(val, str) or val.startswith("-") or spaces):
            parser.exit(
                2,
                f"{prog}: error: {mdir}/info.yaml: {key} {val!r} is not allowed (it must be "
                "text that does not start with '-', and a host has no spaces, so that rsync "
                "cannot take it for an option)\n",
            )
    if not info.get("path"):
        parser.exit(
            2, f"{prog}: error: {mdir}/info.yaml has no 'path' (and maybe 'host') to copy to\n"
        )
    name = os.path.basename(os.path.normpath(args.calc_dir))
    remote = f"{str(info['path']).rstrip('/')}/{name}/"
    if info.get("host"):
        return f"{info['host']}:{remote}", True
    return remote, False


def _sync_machine(prog: str, direction: str, argv: Sequence[str]) -> None:
    """``psweep-push MACHINE``: host and path from the machine's info.yaml."""
    from psweep.batch.transfers import not_pulled, pull_database, run_command

    parser = _sync_parser(direction)
    args = parser.parse_args(argv)
    remote, on_host = _machine_remote(parser, prog, args)
    if shutil.which("rsync") is None:
        parser.exit(2, f"{prog}: error: rsync is not installed\n")
    local = args.calc_dir.rstrip("/") + "/"
    src, dst = (local, remote) if direction == "push" else (remote, local)
    if direction == "push" and not os.path.isdir(local):
        parser.exit(2, f"{prog}: error: {local!r} is not a directory\n")
    if not on_host and direction == "push" and not args.dry_run:
        os.makedirs(remote, exist_ok=True)
    # a pull merges the databases and the runs table, not copies them over: rows and runs
    # added here since the push stay
    kept = not_pulled(args.database_basename) if direction == "pull" else [PSWEEP_DIRNAME + "/"]
    cmd = ["rsync", "-a", "-s", "-i"]
    for name in kept:
        cmd += ["--exclude", f"/{name}"]
    if args.dry_run:
        cmd.append("--dry-run")
    cmd += ["--", src, dst]
    rc = run_command(cmd)
    if rc != 0 or direction == "push" or args.dry_run:
        sys.exit(rc)
    sys.exit(pull_database(prog, remote, local, args.database_basename))


def push_parser() -> argparse.ArgumentParser:
    """The parser of ``psweep-push``: the MACHINE form's arguments; the HOST form in its
    usage, description and epilog."""
    return _sync_parser("push")


def pull_parser() -> argparse.ArgumentParser:
    """The parser of ``psweep-pull``: the MACHINE form's arguments; the HOST form in its
    usage, description and epilog."""
    return _sync_parser("pull")


def push(argv: Sequence[str] | None = None) -> None:
    """``psweep-push MACHINE`` or ``psweep-push HOST [RSYNC_OPTS...]``: copy calc/ there."""
    _sync("push", argv)


def pull(argv: Sequence[str] | None = None) -> None:
    """``psweep-pull MACHINE`` or ``psweep-pull HOST [RSYNC_OPTS...]``: copy calc/ back."""
    _sync("pull", argv)
