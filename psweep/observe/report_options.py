"""The options of ``psweep report``: its argument parser, made without pandas or matplotlib.

:func:`psweep.observe.reporting.main` parses with :func:`report_parser`, and a reference
of the commands reads it (:mod:`psweep.cli.commands`) without loading what a report
needs.
"""

from __future__ import annotations

import argparse

from psweep.constants import DATABASE_BASENAME

__all__ = ["MAX_LINES", "report_parser"]

MAX_LINES = 8  # lines per axes; more combinations of the other parameters: scatter


def report_parser() -> argparse.ArgumentParser:
    """The parser of ``psweep report``."""
    parser = argparse.ArgumentParser(
        prog="psweep report",
        description="Write one self-contained HTML file about a study: its runs, results "
        "over the varied parameters, failures and parameter coverage.",
    )
    parser.add_argument("calc_dir", nargs="?", default="calc", help="default: calc")
    parser.add_argument("-o", "--out", default="report.html", help="default: report.html")
    parser.add_argument("--database-basename", default=DATABASE_BASENAME, metavar="NAME")
    parser.add_argument("--title", help="default: the name of the study's folder")
    parser.add_argument(
        "--params", help="comma-separated parameter columns, where the automatic rule does not fit"
    )
    parser.add_argument(
        "--max-lines",
        type=int,
        default=MAX_LINES,
        metavar="N",
        help=f"most lines per axes, else a scatter (default: {MAX_LINES})",
    )
    parser.add_argument(
        "--units",
        metavar="NAME=UNIT,...",
        help="units of parameters and results for axes and headings, e.g. phase=rad,omega=s",
    )
    parser.add_argument(
        "--log-axes",
        metavar="NAME,...",
        help="parameters and results drawn on log axes, e.g. amplitude,omega; '' for none "
        "(default: each whose values span two decades or more)",
    )
    return parser
