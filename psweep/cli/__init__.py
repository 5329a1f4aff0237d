"""Every command of psweep: the argument parsers and what they print.

``psweep`` (:func:`main`), ``psweep-db2json``, ``psweep-db2table``,
``psweep-checkdir``, ``psweep-push`` and ``psweep-pull`` are console entry
points named in pyproject.toml. Each is imported from its module when it is first
used (PEP 562), so that one command does not load what another needs: ``psweep
--help`` no pandas, ``psweep-push`` no database.
"""

from importlib import import_module as _import_module
from typing import Any as _Any

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


def __getattr__(name: str) -> _Any:
    """An entry point, imported from its module on first use."""
    if name not in _HOME:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(_import_module(_HOME[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
