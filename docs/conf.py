"""Sphinx configuration of psweep's documentation site (``nox -s docs``).

The site builds offline: no intersphinx inventories are fetched, no theme
assets are downloaded. Warnings are errors (``-W``), and ``-n`` reports every
reference that does not resolve.
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE / "_ext"))

import psweep  # noqa: E402

project = "psweep"
author = "psweep developers"
copyright = "psweep developers"
release = psweep.__version__
version = release

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "numpydoc",
    "sphinx_copybutton",
    "sphinxarg.ext",
    "psweep_docs",
]

source_suffix = {".md": "markdown", ".rst": "restructuredtext"}
root_doc = "index"
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store"]

# MyST: fenced directives, ::: fences, heading anchors for links such as page.md#a-section
myst_enable_extensions = ["colon_fence", "deflist", "fieldlist"]
myst_heading_anchors = 3
suppress_warnings: list[str] = []

# autodoc + numpydoc: each public name on the API page, its signature from the code
autodoc_member_order = "bysource"
# the contents of the API page say run_local(), not psweep.run_local()
toc_object_entries_show_parents = "hide"
autodoc_typehints = "none"  # numpydoc's Parameters sections say it; signatures stay readable
autodoc_default_options = {"members": False}
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_validation_checks: set[str] = set()
numpydoc_xref_param_type = False

# no network at build time: nothing to resolve against other projects' inventories
intersphinx_mapping: dict = {}

html_theme = "furo"
html_title = f"psweep {release}"
html_static_path = ["_static"]
html_theme_options = {
    "navigation_with_keys": True,
}
copybutton_prompt_text = r"\$ "
copybutton_prompt_is_regexp = True

# "--data" in help texts must stay two hyphens, not become a dash
smartquotes = False

nitpicky = True
# names the docstrings use for types of other projects (no inventories offline)
nitpick_ignore_regex = [
    (
        r"py:(class|obj|data|exc|func|meth|attr)",
        r"(pandas|pd|np|numpy|dask|distributed|argparse|os|pathlib|collections|typing|datetime"
        r"|concurrent|subprocess|pickle|shlex|hashlib|pyarrow|json|logging)\..*",
    ),
]
