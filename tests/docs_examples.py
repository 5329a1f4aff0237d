"""Run the code blocks of a Markdown page in order, as a reader would (with sybil).

A page's blocks share one scratch folder (the working directory) and one Python
namespace, so a later block sees what an earlier one made:

- ``python`` blocks run in the test process; a block that starts with ``>>>``
  is a doctest, its output checked.
- ``sh`` blocks run in ``bash -euo pipefail``, with this interpreter's
  ``bin/`` first on ``PATH`` (``psweep``, ``nox``, ``python``), a git identity,
  and the working directory the previous block ended in (a ``cd`` carries
  over; variables do not).
- Blocks in other languages (``text``, ``yaml``, ``toml``, ...) show output or a
  file's content; they are not run. A fence without a language is an error.

A block that cannot run here is marked just before it with
``<!-- skip: next "why" -->`` (or, for one that needs a tool that may be
missing, ``<!-- skip: start if(not slurm_running(), reason="needs a running SLURM cluster") -->``
... ``<!-- skip: end -->``; ``slurm_running()`` asks tests/slurm_utils.py);
the marker without a reason is an error.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import unittest
from dataclasses import dataclass, field
from pathlib import Path

from sybil import Document, Example
from sybil.parsers.myst import CodeBlockParser, PythonCodeBlockParser, SkipParser

ROOT = Path(__file__).resolve().parent.parent
RUN_LANGUAGES = ("python", "sh")
SHOW_LANGUAGES = ("text", "yaml", "toml", "json", "ini", "jinja", "dockerfile", "diff", "console")
SHELL_TIMEOUT_S = 900

FENCE = re.compile(r"^(?P<indent> {0,3})(?P<fence>`{3,}|~{3,})(?P<info>[^\n`]*)$", re.MULTILINE)
SKIP = re.compile(r"<!--\s*skip:\s*(?P<args>.*?)\s*-->|^%\s*skip:\s*(?P<args2>.*)$", re.MULTILINE)
SKIP_WITH_REASON = re.compile(r'(next|start)\s+(".+"|if\(.+,\s*reason=".+"\))\Z|end\Z')


GUIDES = ("how-to", "explanation")  # the pages of tests/test_docs_guides.py; the rest:
# tests/test_docs_examples.py (two files, so that two test processes share the work)


def pages() -> list[Path]:
    """Every page whose blocks run: the docs site, the README and the changelog."""
    found = sorted((ROOT / "docs").rglob("*.md"))
    found = [p for p in found if "_build" not in p.parts]
    return [*found, ROOT / "README.md", ROOT / "CHANGELOG.md"]


def is_guide(page: Path) -> bool:
    """Whether `page` is a how-to guide or an explanation (else tutorial, reference, ...)."""
    parts = page.relative_to(ROOT).parts
    return len(parts) > 2 and parts[0] == "docs" and parts[1] in GUIDES


def fences(text: str) -> list[tuple[int, str]]:
    """(line, info string) of each opening fence at the top level of a Markdown text."""
    out = []
    open_fence = None
    for match in FENCE.finditer(text):
        fence, info = match["fence"], match["info"].strip()
        line = text.count("\n", 0, match.start()) + 1
        if open_fence is None:
            out.append((line, info))
            open_fence = fence
        elif fence.startswith(open_fence) and not info:
            open_fence = None
    return out


def problems(path: Path) -> list[str]:
    """What is wrong with a page's blocks and skip markers, one line each."""
    text = path.read_text()
    bad = []
    for line, info in fences(text):
        lang = info.split()[0] if info else ""
        if lang.startswith("{"):
            continue  # a MyST directive (toctree, eval-rst, ...)
        if lang not in RUN_LANGUAGES + SHOW_LANGUAGES:
            bad.append(
                f"{path.name}:{line}: fence language {lang!r} is neither run "
                f"({', '.join(RUN_LANGUAGES)}) nor shown ({', '.join(SHOW_LANGUAGES)})"
            )
    for match in SKIP.finditer(text):
        args = (match["args"] or match["args2"] or "").strip()
        if not SKIP_WITH_REASON.match(args):
            line = text.count("\n", 0, match.start()) + 1
            bad.append(f'{path.name}:{line}: skip marker {args!r} gives no reason ("why")')
    return bad


@dataclass
class PageRun:
    """The state a page's blocks share: its scratch folder and the shell's directory."""

    folder: Path
    cwd: Path = field(init=False)
    skipped: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.cwd = self.folder

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
        env.setdefault("GIT_AUTHOR_NAME", "Docs Reader")
        env.setdefault("GIT_AUTHOR_EMAIL", "reader@example.org")
        env.setdefault("GIT_COMMITTER_NAME", "Docs Reader")
        env.setdefault("GIT_COMMITTER_EMAIL", "reader@example.org")
        env.pop("VIRTUAL_ENV", None)
        return env

    def shell(self, example: Example) -> None:
        marker = self.folder / ".cwd-after-block"
        script = f"{example.parsed}\npwd > {marker}\n"
        proc = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", script],
            cwd=self.cwd,
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=SHELL_TIMEOUT_S,
            check=False,
        )
        if proc.returncode != 0:
            raise AssertionError(
                f"sh block at {example.path}:{example.line} exited {proc.returncode}:\n"
                f"{example.parsed}\n--- stdout\n{proc.stdout[-4000:]}\n--- stderr\n"
                f"{proc.stderr[-4000:]}"
            )
        self.cwd = Path(marker.read_text().strip())


def _slurm_running() -> bool:
    """True where a SLURM cluster takes jobs (not only where sbatch is installed)."""
    from slurm_utils import slurm_available

    return slurm_available()[0]


def run_page(path: Path, folder: Path) -> PageRun:
    """Run every block of `path` in `folder`; return what was skipped and why."""
    state = PageRun(folder)
    python = PythonCodeBlockParser()
    shell = CodeBlockParser("sh", evaluator=state.shell)
    document = Document.parse(str(path), python, shell, SkipParser())
    document.namespace.update(
        {"__name__": "__main__", "shutil": shutil, "slurm_running": _slurm_running}
    )
    here = os.getcwd()
    try:
        for example in document.examples():
            before = state.cwd
            os.chdir(before)
            try:
                example.evaluate()
            except unittest.SkipTest as exc:
                state.skipped.append(f"line {example.line}: {exc}")
            if Path(os.getcwd()) != before:  # a python block changed directory
                state.cwd = Path(os.getcwd())
    finally:
        os.chdir(here)
    return state
