"""Public names of a package that are imported from their modules on first use (PEP 562).

A package gives :func:`lazy_names` a table, public name -> the module it is imported
from, and takes the module-level ``__getattr__`` and ``__dir__`` it returns; its
``__all__`` is the table's names. Importing the package then loads none of those
modules: each is loaded when one of its names is first used, and the name is kept in the
package, so that the next use costs nothing. A subpackage is an attribute too, loaded or
not (``psweep.batch`` after ``import psweep``), as with a package that imports it.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from importlib import import_module
from importlib.util import find_spec
from typing import Any

__all__ = ["lazy_names"]


def lazy_names(
    package: str, home: Mapping[str, str]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``__getattr__`` and ``__dir__`` for `package`, whose public names `home` maps to
    the modules they are imported from."""

    def __getattr__(name: str) -> Any:
        module = home.get(name)
        if module is not None:
            value = getattr(import_module(module), name)
            setattr(sys.modules[package], name, value)  # found without this next time
            return value
        if not name.startswith("__") and find_spec(f"{package}.{name}") is not None:
            return import_module(f"{package}.{name}")
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    def __dir__() -> list[str]:
        import pkgutil

        found = pkgutil.iter_modules(sys.modules[package].__path__)
        subpackages = (m.name for m in found if not m.name.startswith("_"))
        return sorted({*vars(sys.modules[package]), *home, *subpackages})

    return __getattr__, __dir__
