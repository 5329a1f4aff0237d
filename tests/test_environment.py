"""psweep.environment is the one list of the environment variables the repository reads."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from psweep.environment import ENVIRONMENT

ROOT = Path(__file__).resolve().parents[1]
# PSWEEP_* names that are not environment variables: Python constants
NOT_VARIABLES = {"PSWEEP_DIRNAME", "PSWEEP_SOURCE"}


def test_every_variable_read_is_listed() -> None:
    """Each PSWEEP_* name in the tracked files is an entry of ENVIRONMENT (or a constant)."""
    files = subprocess.run(
        ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    seen: set[str] = set()
    for name in files:
        path = ROOT / name
        if path.suffix in {".png", ".pk", ".whl"} or not path.is_file():
            continue
        seen |= set(re.findall(r"\bPSWEEP_[A-Z0-9_]+\b", path.read_text(errors="replace")))
    assert sorted(seen - NOT_VARIABLES - set(ENVIRONMENT)) == []
    assert sorted(set(ENVIRONMENT) - seen) == [], "listed but read nowhere"


def test_entries_say_who_reads_them() -> None:
    """Each entry names its reader and says in a sentence what it does."""
    for name, var in ENVIRONMENT.items():
        assert var.reader in ("library", "study", "tests"), name
        assert len(var.meaning) > 20, name
