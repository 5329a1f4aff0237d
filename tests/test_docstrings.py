"""Every ``Examples`` section in psweep's docstrings runs, and shows what it prints."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import psweep

FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE


def _docstring_examples() -> list[doctest.DocTest]:
    finder = doctest.DocTestFinder(exclude_empty=True)
    tests = []
    for info in pkgutil.walk_packages(psweep.__path__, prefix="psweep."):
        if "_study_template" in info.name:
            continue
        module = importlib.import_module(info.name)
        tests += [t for t in finder.find(module) if t.examples and t.name.startswith(info.name)]
    return sorted(tests, key=lambda t: t.name)


EXAMPLES = _docstring_examples()


def test_there_are_examples() -> None:
    """The public helpers show their use (at least the params builders and hashing)."""
    names = {t.name for t in EXAMPLES}
    assert any(n.startswith("psweep.params.builders") for n in names)
    assert any(n.startswith("psweep.params.hashing") for n in names)


@pytest.mark.parametrize("test", EXAMPLES, ids=[t.name for t in EXAMPLES])
def test_example(test: doctest.DocTest, tmp_path, monkeypatch) -> None:
    """The example runs in an empty folder and prints what its docstring shows."""
    monkeypatch.chdir(tmp_path)
    runner = doctest.DocTestRunner(optionflags=FLAGS)
    out: list[str] = []
    result = runner.run(test, out=out.append, clear_globs=True)
    assert result.failed == 0, "".join(out)
