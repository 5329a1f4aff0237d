"""The version of psweep (distribution ``psweep-kit``); pyproject.toml names the same."""

from __future__ import annotations

__all__ = ["__version__"]

#: The version of psweep, as ``psweep --version`` prints it.
__version__ = "0.8.0.dev0"
