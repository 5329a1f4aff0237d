"""Console entry points: look at a database from the shell."""

from __future__ import annotations

import argparse
import contextlib
import os
import shlex
import shutil
import subprocess
import sys
from collections.abc import Sequence

from tabulate import tabulate

from .database import DATABASE_FORMATS, df_read, df_to_json
from .errors import PsweepError

__all__ = ["check_calc_dir", "db2json", "db2table", "pull", "push"]


def _read(parser: argparse.ArgumentParser, fn: str, fmt: str | None):
    try:
        return df_read(fn, fmt=fmt)
    except (OSError, PsweepError) as exc:
        parser.exit(2, f"{parser.prog}: error: {exc}\n")


def _add_database_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("database", help="database file, e.g. calc/database.pk")
    parser.add_argument(
        "--fmt",
        default=None,
        choices=DATABASE_FORMATS,
        help="format of the database file (default: from its name: *.json, *.parquet, "
        "else pickle; a pickle runs code when read: open only pickles you trust)",
    )


def db2json(argv: Sequence[str] | None = None) -> None:
    """``psweep-db2json``: print a database as JSON."""
    parser = argparse.ArgumentParser(
        prog="psweep-db2json", description="Print a psweep database as JSON."
    )
    _add_database_args(parser)
    parser.add_argument(
        "-o",
        "--orient",
        default="records",
        choices=["split", "records", "index", "columns", "values", "table"],
        help="layout of the JSON, as in pandas.DataFrame.to_json (default: %(default)s)",
    )
    args = parser.parse_args(argv)
    df = _read(parser, args.database, args.fmt)
    sys.stdout.write(df_to_json(df, orient=args.orient) + "\n")


def check_calc_dir(argv: Sequence[str] | None = None) -> None:
    """``psweep-checkdir CALC_DIR``: which psets have no folder, which folders no row."""
    import json

    from .files import check_calc_dir as compare

    parser = argparse.ArgumentParser(
        prog="psweep-checkdir",
        description="Compare the <_pset_id> folders in CALC_DIR with CALC_DIR/database.pk "
        'and print {"db_not_disk": [...], "disk_not_db": [...]} as JSON.',
    )
    parser.add_argument("calc_dir", metavar="CALC_DIR", help="the study's calc folder")
    args = parser.parse_args(argv)
    df = _read(parser, os.path.join(args.calc_dir, "database.pk"), None)
    found = compare(args.calc_dir, df)
    print(json.dumps({key: sorted(found[key]) for key in ("db_not_disk", "disk_not_db")}))


def db2table(argv: Sequence[str] | None = None) -> None:
    """``psweep-db2table``: print a database as a table."""
    parser = argparse.ArgumentParser(
        prog="psweep-db2table",
        description="Print a psweep database as a table. Columns whose names "
        "start with '_' (bookkeeping) are hidden unless -a is given.",
    )
    _add_database_args(parser)
    parser.add_argument(
        "-f",
        "--format",
        default="simple",
        help="table format of the tabulate package: simple, plain, github, "
        "grid, latex, ... (default: %(default)s)",
    )
    parser.add_argument("-a", "--all", action="store_true", help="show all columns")
    parser.add_argument("-i", "--index", action="store_true", help="show the index")
    parser.add_argument(
        "columns", nargs="*", metavar="COL", help="show only these columns, in this order"
    )
    parser.add_argument(
        "-c",
        "--column",
        action="append",
        default=[],
        dest="more_columns",
        metavar="COL",
        help="show this column (repeatable; same as naming it after the file)",
    )
    args = parser.parse_args(argv)
    df = _read(parser, args.database, args.fmt)
    columns = [*args.columns, *args.more_columns]
    if columns:
        missing = [c for c in columns if c not in df.columns]
        if missing:
            parser.error(f"no columns {missing} in {args.database}; it has {list(df.columns)}")
        df = df[columns]
    elif not args.all:
        df = df[[c for c in df.columns if not str(c).startswith("_")]]
    text = tabulate(df, headers="keys", tablefmt=args.format, showindex=args.index)
    sys.stdout.write(text + "\n")


def _sync(direction: str, argv: Sequence[str] | None) -> None:
    prog = f"psweep-{direction}"
    parser = argparse.ArgumentParser(
        prog=prog,
        description=(
            "Copy calc/ to a machine's study folder with rsync"
            if direction == "push"
            else "Copy calc/ back from a machine's study folder with rsync; its database is "
            "merged into the local one under the lock (rows on either side are kept, a row on "
            "both takes the machine's values where it has them)"
        )
        + ". The destination is 'host' and 'path' in templates/machines/<machine>/info.yaml "
        "(no host: a local path). Locks and journals of running studies are not copied.",
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
        default="database.pk",
        help="the database in the calc dir, which pull merges (default: %(default)s)",
    )
    args = parser.parse_args(argv)
    from .batch import check_machine_name, machine_info

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
    if shutil.which("rsync") is None:
        parser.exit(2, f"{prog}: error: rsync is not installed\n")
    name = os.path.basename(os.path.normpath(args.calc_dir))
    remote = f"{str(info['path']).rstrip('/')}/{name}/"
    if info.get("host"):
        remote = f"{info['host']}:{remote}"
    local = args.calc_dir.rstrip("/") + "/"
    src, dst = (local, remote) if direction == "push" else (remote, local)
    if direction == "push" and not os.path.isdir(local):
        parser.exit(2, f"{prog}: error: {local!r} is not a directory\n")
    if not info.get("host") and direction == "push" and not args.dry_run:
        os.makedirs(remote, exist_ok=True)
    cmd = ["rsync", "-a", "-s", "-i", "--exclude", "/.psweep/"]
    if args.dry_run:
        cmd.append("--dry-run")
    if direction == "pull":
        # the database is merged, not copied over: rows added here since the push stay
        cmd += ["--exclude", f"/{args.database_basename}"]
    cmd += ["--", src, dst]
    rc = _rsync(cmd)
    if rc != 0 or direction == "push" or args.dry_run:
        sys.exit(rc)
    sys.exit(_pull_database(prog, remote, local, args.database_basename))


def _rsync(cmd: list[str]) -> int:
    sys.stdout.write(" ".join(shlex.quote(c) for c in cmd) + "\n")
    sys.stdout.flush()
    return subprocess.run(cmd, check=False).returncode


def _pull_database(prog: str, remote: str, local: str, basename: str) -> int:
    """Fetch the remote database into .psweep/pull/ and merge it into the local one."""
    from .database import df_read
    from .merge import merge_databases, psweep_dir

    staging = os.path.join(psweep_dir(local.rstrip("/")), "pull")
    os.makedirs(staging, exist_ok=True)
    staged = os.path.join(staging, basename)
    with contextlib.suppress(FileNotFoundError):
        os.unlink(staged)
    rc = _rsync(["rsync", "-a", "-s", "--", remote + basename, staging + "/"])
    if rc != 0 or not os.path.exists(staged):
        sys.stderr.write(f"{prog}: no database {remote + basename} to merge (files were pulled)\n")
        return rc or 1
    _, nnew, nshared = merge_databases(os.path.join(local, basename), df_read(staged))
    os.unlink(staged)
    sys.stdout.write(
        f"{prog}: merged {remote + basename} into {local + basename}: {nnew} new rows, "
        f"{nshared} rows updated; rows that are only here are kept\n"
    )
    return 0


def push(argv: Sequence[str] | None = None) -> None:
    """``psweep-push MACHINE``: copy calc/ to the machine."""
    _sync("push", argv)


def pull(argv: Sequence[str] | None = None) -> None:
    """``psweep-pull MACHINE``: copy calc/ back from the machine."""
    _sync("pull", argv)
