"""The code blocks of the how-to guides and explanations run (tests/docs_examples.py).

The other pages run in tests/test_docs_examples.py; the two files share the
pages between two test processes.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from docs_examples import ROOT, is_guide, pages, run_page

GUIDES = [p for p in pages() if is_guide(p)]


def test_there_are_guides() -> None:
    """Both sections have pages."""
    sections = {p.relative_to(ROOT).parts[1] for p in GUIDES}
    assert sections == {"how-to", "explanation"}


@pytest.mark.parametrize("page", GUIDES, ids=[str(p.relative_to(ROOT)) for p in GUIDES])
def test_page_runs(page: Path, tmp_path: Path) -> None:
    """The page's code blocks run in order, each as written."""
    state = run_page(page, tmp_path)
    for reason in state.skipped:
        print(f"{page.name}: skipped {reason}")
