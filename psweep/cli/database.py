"""``psweep-db2json``, ``psweep-db2table``, ``psweep-checkdir``: a database, from the shell.

Their parsers (:func:`db2json_parser`, ...) are made without pandas, which the commands
import when they read the database.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from psweep.errors import PsweepError
from psweep.store.paths import (
    DATABASE_BASENAMES,
    DATABASE_FORMATS,
    SUFFIX_FORMATS,
    StudyPaths,
)

__all__ = [
    "check_calc_dir",
    "checkdir_parser",
    "db2json",
    "db2json_parser",
    "db2table",
    "db2table_parser",
]


def _read(parser: argparse.ArgumentParser, fn: str, fmt: str | None):
    from psweep.store.database import df_read

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
        help="format of the database file (default: from its name: "
        + ", ".join(f"{suffix} {fmt}" for suffix, fmt in SUFFIX_FORMATS.items())
        + ", else pickle; a pickle runs code when read: open only pickles you trust)",
    )


def db2json_parser() -> argparse.ArgumentParser:
    """The parser of ``psweep-db2json`` (:func:`db2json`)."""
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
    return parser


def db2json(argv: Sequence[str] | None = None) -> None:
    """``psweep-db2json``: print a database as JSON."""
    parser = db2json_parser()
    args = parser.parse_args(argv)
    from psweep.store.database import df_to_json  # here: --help and usage errors need no pandas

    df = _read(parser, args.database, args.fmt)
    if args.orient in ("index", "columns") and not df.index.is_unique:
        # a JSON object per row needs one key per row (a 0.16 database after a merge, ...)
        parser.error(
            f"--orient {args.orient} needs a unique index, and {args.database!r} repeats "
            f"{int(df.index.duplicated().sum())} index values; use --orient records or split"
        )
    sys.stdout.write(df_to_json(df, orient=args.orient) + "\n")


def checkdir_parser() -> argparse.ArgumentParser:
    """The parser of ``psweep-checkdir`` (:func:`check_calc_dir`)."""
    parser = argparse.ArgumentParser(
        prog="psweep-checkdir",
        description="Compare the <_pset_id> folders in CALC_DIR with the database in it "
        'and print {"db_not_disk": [...], "disk_not_db": [...]} as JSON.',
    )
    parser.add_argument("calc_dir", metavar="CALC_DIR", help="the study's calc folder")
    parser.add_argument(
        "--database-basename",
        default=None,
        metavar="NAME",
        help=f"the database file in CALC_DIR (default: the one of {', '.join(DATABASE_BASENAMES)}"
        " that is there)",
    )
    return parser


def check_calc_dir(argv: Sequence[str] | None = None) -> None:
    """``psweep-checkdir CALC_DIR``: which psets have no folder, which folders no row."""
    import json

    from psweep.store.files import check_calc_dir as compare

    parser = checkdir_parser()
    args = parser.parse_args(argv)
    df = _read(parser, _database_in(parser, args.calc_dir, args.database_basename), None)
    found = compare(args.calc_dir, df)
    print(json.dumps({key: sorted(found[key]) for key in ("db_not_disk", "disk_not_db")}))


def _database_in(parser: argparse.ArgumentParser, calc_dir: str, basename: str | None) -> str:
    """The database file of the study in `calc_dir`: `basename`, else the one there is."""
    if basename is not None:
        return StudyPaths(calc_dir, basename).database
    found = StudyPaths(calc_dir).database_files()
    if len(found) == 1:
        return found[0]
    if not found:
        parser.exit(
            2,
            f"{parser.prog}: error: no database in {calc_dir!r} (looked for "
            f"{', '.join(DATABASE_BASENAMES)}); name it with --database-basename\n",
        )
    names = ", ".join(os.path.basename(fn) for fn in found)
    parser.exit(
        2,
        f"{parser.prog}: error: {calc_dir!r} has {len(found)} databases ({names}); "
        "choose one with --database-basename\n",
    )


def db2table_parser() -> argparse.ArgumentParser:
    """The parser of ``psweep-db2table`` (:func:`db2table`)."""
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
    return parser


def db2table(argv: Sequence[str] | None = None) -> None:
    """``psweep-db2table``: print a database as a table."""
    parser = db2table_parser()
    args = parser.parse_args(argv)
    from tabulate import tabulate

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
