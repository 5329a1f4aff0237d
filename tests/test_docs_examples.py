"""Every code block of the docs site, the README and the changelog runs (tests/docs_examples.py).

One test per page runs its blocks in order in a scratch folder, as a reader
would type them; blocks that cannot run here are marked with the reason. This
file runs the tutorials, the reference, the README and the changelog;
tests/test_docs_guides.py the how-to guides and explanations.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from docs_examples import ROOT, fences, is_guide, pages, problems, run_page

PAGES = pages()
RUN_HERE = [p for p in PAGES if not is_guide(p)]


def test_pages_are_found() -> None:
    """The docs have tutorials, how-to guides, reference and explanation pages."""
    names = {p.relative_to(ROOT).parts[:2] for p in PAGES}
    for section in ("tutorials", "how-to", "reference", "explanation"):
        assert any(parts[:2] == ("docs", section) for parts in names), section


@pytest.mark.parametrize("page", PAGES, ids=[str(p.relative_to(ROOT)) for p in PAGES])
def test_blocks_are_marked(page: Path) -> None:
    """Each fence names its language, and each skip marker says why."""
    assert problems(page) == []


@pytest.mark.parametrize("page", RUN_HERE, ids=[str(p.relative_to(ROOT)) for p in RUN_HERE])
def test_page_runs(page: Path, tmp_path: Path) -> None:
    """The page's code blocks run in order, each as written."""
    state = run_page(page, tmp_path)
    for reason in state.skipped:
        print(f"{page.name}: skipped {reason}")


def test_fences_found_in_nested_text() -> None:
    """The fence scanner sees a block's opening line, not the fences shown inside it."""
    text = "````markdown\n```python\nx = 1\n```\n````\n\n```sh\necho hi\n```\n"
    assert fences(text) == [(1, "markdown"), (7, "sh")]
