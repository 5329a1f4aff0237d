"""The options of ``psweep batch``: its argument parser, made without pandas.

:func:`psweep.batch.resubmit.main` parses with :func:`batch_parser`, and a reference
of the commands reads it (:mod:`psweep.cli.commands`) without loading the database
code that resubmitting needs.
"""

from __future__ import annotations

import argparse

from psweep.batch.layout import BATCH_DIR_CANDIDATES

__all__ = ["RESUBMIT_REASONS", "batch_parser"]

#: The states resubmit_batch selects, with what they mean in the script's comment.
RESUBMIT_REASONS = {
    "missing": "went out, no result, not queued",
    "failed": "exit code != 0, cancelled or refused by the submit command",
    "timeout": "hit the time limit",
}


def batch_parser() -> argparse.ArgumentParser:
    """The parser of ``psweep batch`` and its subcommand ``resubmit``."""
    parser = argparse.ArgumentParser(
        prog="psweep batch", description="Work with the batch jobs of prep_batch."
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    res = sub.add_parser(
        "resubmit",
        help="rewrite run_MACHINE.sh to submit only the jobs that did not deliver",
        description=(
            "Rewrite CALC_DIR/run_MACHINE.sh so that it submits only the psets whose jobs "
            "are missing, failed or hit their time limit (no flag: all three), in their "
            "folders, with their _pset_ids. Then submit with: sh CALC_DIR/run_MACHINE.sh. "
            "Exit status: 0 script written, 1 nothing to resubmit (script left as it "
            "was), 2 error."
        ),
    )
    res.add_argument("machine", metavar="MACHINE")
    for state, what in RESUBMIT_REASONS.items():
        res.add_argument(f"--{state}", action="store_true", help=f"resubmit {state} jobs ({what})")
    res.add_argument(
        "--calc-dir",
        default=None,
        help="the folder of the jobs (default: the one of "
        f"{', '.join(f'{d}/' for d in BATCH_DIR_CANDIDATES)} that has run_MACHINE.sh)",
    )
    res.add_argument(
        "--machine-templ-dir", default="templates/machines", help="default: %(default)s"
    )
    res.add_argument("--dry-run", action="store_true", help="only list what would be resubmitted")
    return parser
