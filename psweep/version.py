"""The version of psweep (distribution ``psweep-kit``); pyproject.toml names the same."""

from __future__ import annotations

__all__ = ["__version__"]

__version__ = "0.8.0.dev0"
