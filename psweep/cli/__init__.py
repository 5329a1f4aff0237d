"""Every command of psweep: the argument parsers and what they print.

``psweep`` (:func:`main`), ``psweep-db2json``, ``psweep-db2table``,
``psweep-checkdir``, ``psweep-push`` and ``psweep-pull`` are console entry
points named in pyproject.toml. Each is imported from its module when it is first
used (PEP 562), so that one command does not load what another needs: ``psweep
--help`` no pandas, ``psweep-push`` no database. :mod:`psweep.cli.commands` lists every
command with the function that makes its argument parser.
"""

from psweep.lazynames import lazy_names as _lazy_names

# entry point -> the module it is imported from
_HOME = {
    "check_calc_dir": "psweep.cli.database",
    "db2json": "psweep.cli.database",
    "db2table": "psweep.cli.database",
    "main": "psweep.cli.study",
    "pull": "psweep.cli.transfers",
    "push": "psweep.cli.transfers",
}

__all__ = list(_HOME)  # the table's names, in its order


__getattr__, __dir__ = _lazy_names(__name__, _HOME)
