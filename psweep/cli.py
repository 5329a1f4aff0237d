"""Console entry points: look at a database from the shell."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from tabulate import tabulate

from .database import DATABASE_FORMATS, df_read, df_to_json
from .errors import PsweepError

__all__ = ["db2json", "db2table"]


def _read(parser: argparse.ArgumentParser, fn: str, fmt: str):
    try:
        return df_read(fn, fmt=fmt)
    except (OSError, PsweepError) as exc:
        parser.exit(2, f"{parser.prog}: error: {exc}\n")


def db2json(argv: Sequence[str] | None = None) -> None:
    """``psweep-db2json``: print a database as JSON."""
    parser = argparse.ArgumentParser(
        prog="psweep-db2json", description="Print a psweep database as JSON."
    )
    parser.add_argument("database", help="database file, e.g. calc/database.pk")
    parser.add_argument(
        "-o",
        "--orient",
        default="records",
        choices=["split", "records", "index", "columns", "values", "table"],
        help="layout of the JSON, as in pandas.DataFrame.to_json (default: %(default)s)",
    )
    parser.add_argument(
        "--fmt",
        default="pickle",
        choices=DATABASE_FORMATS,
        help="format of the database file (default: %(default)s)",
    )
    args = parser.parse_args(argv)
    df = _read(parser, args.database, args.fmt)
    sys.stdout.write(df_to_json(df, orient=args.orient) + "\n")


def db2table(argv: Sequence[str] | None = None) -> None:
    """``psweep-db2table``: print a database as a table."""
    parser = argparse.ArgumentParser(
        prog="psweep-db2table",
        description="Print a psweep database as a table. Columns whose names "
        "start with '_' (bookkeeping) are hidden unless -a is given.",
    )
    parser.add_argument("database", help="database file, e.g. calc/database.pk")
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
    parser.add_argument(
        "--fmt",
        default="pickle",
        choices=DATABASE_FORMATS,
        help="format of the database file (default: %(default)s)",
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
