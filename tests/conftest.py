"""Test order for the parallel run (``nox -s tests``: pytest-xdist, by file).

The files that take minutes (fresh venvs, copier renders, a SLURM queue) are
handed out first. xdist would otherwise order files by their number of tests,
which leaves these few-but-long files for last, with one worker busy for
minutes while the others sit idle; the noxfile passes ``--no-loadscope-reorder``
so that the order given here is the one the workers get.
"""

from __future__ import annotations

import shutil

import pytest

# the longest first (seconds per file in a full run here: 440, 380, 95, 160, 110, 85, 65)
LONG_FILES = (
    "test_newcomer.py",
    "test_template.py",
    "test_update.py",
    "test_docs_guides.py",
    "test_docs_examples.py",
    "test_batch_resubmit.py",
    "test_lifecycle_faults.py",
)


def _rank(item: pytest.Item) -> int:
    name = item.path.name
    return LONG_FILES.index(name) if name in LONG_FILES else len(LONG_FILES)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    items.sort(key=_rank)  # stable: the order within and among the other files is kept


# Programs from the system, not from pip. A test that needs one says so with
# @pytest.mark.needs_tool("git-lfs"), one case of a parametrized test with
# pytest.param("git-lfs", marks=pytest.mark.needs_tool("git-lfs")); where the program is
# not on PATH the test is skipped with a reason that names it and how to get it, instead of
# failing somewhere inside. This is the one place for that check. How to get each here:
TOOL_HINTS = {
    "git-lfs": "apt-get install git-lfs",
    "rsync": "apt-get install rsync",
    "chromium": "apt-get install chromium",
}


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "needs_tool(*names): skip, naming what is missing, unless each program is on PATH"
        " ('a|b': either will do); .ci/run installs them all",
    )


def missing_tools(*names: str) -> list[str]:
    """Those of `names` that are not on PATH now ('a|b' is missing when neither is there)."""
    return [name for name in names if not any(shutil.which(alt) for alt in name.split("|"))]


@pytest.hookimpl(tryfirst=True)  # before the test's fixtures are made
def pytest_runtest_setup(item: pytest.Item) -> None:
    """Skip a test marked ``needs_tool("git-lfs")`` where git-lfs is not on PATH."""
    for mark in item.iter_markers("needs_tool"):
        for name in missing_tools(*mark.args):
            hint = TOOL_HINTS.get(name.split("|")[0], "install it")
            pytest.skip(f"needs {name.replace('|', ' or ')}, not on PATH ({hint})")


def _utf8(text: str) -> str:
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    """Captured output with non-UTF-8 text (tests of surrogate-escaped file names log it)
    is escaped in the report: pytest-xdist cannot send lone surrogates to the controller
    and would count the test as a crashed worker."""
    outcome = yield
    report = outcome.get_result()
    report.sections = [(name, _utf8(text)) for name, text in report.sections]
