"""Test order for the parallel run (``nox -s tests``: pytest-xdist, by file).

The files that take minutes (fresh venvs, copier renders, a SLURM queue) are
handed out first. xdist would otherwise order files by their number of tests,
which leaves these few-but-long files for last, with one worker busy for
minutes while the others sit idle; the noxfile passes ``--no-loadscope-reorder``
so that the order given here is the one the workers get.
"""

from __future__ import annotations

import pytest

# the longest first (seconds per file in a full run here: 440, 380, 95, 85, 65)
LONG_FILES = (
    "test_newcomer.py",
    "test_template.py",
    "test_update.py",
    "test_batch_resubmit.py",
    "test_lifecycle_faults.py",
)


def _rank(item: pytest.Item) -> int:
    name = item.path.name
    return LONG_FILES.index(name) if name in LONG_FILES else len(LONG_FILES)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    items.sort(key=_rank)  # stable: the order within and among the other files is kept
