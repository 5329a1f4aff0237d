"""Every command of psweep: the argument parsers and what they print.

``psweep`` (:func:`main`), ``psweep-db2json``, ``psweep-db2table``,
``psweep-checkdir``, ``psweep-push`` and ``psweep-pull`` are console entry
points named in pyproject.toml.
"""

from __future__ import annotations

from psweep.cli.database import check_calc_dir, db2json, db2table
from psweep.cli.study import main
from psweep.cli.transfers import pull, push

__all__ = ["check_calc_dir", "db2json", "db2table", "main", "pull", "push"]
