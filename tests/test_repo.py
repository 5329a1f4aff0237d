"""Checks of the repository's own workflow files: README, CI, nox, devcontainer."""

from __future__ import annotations

import ast
import json
import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def quick_start() -> list[str]:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```sh\n(.*?)```", section, re.DOTALL)
    assert block, "the quick start has no sh code block"
    return [line for line in block.group(1).splitlines() if line.strip()]


def test_readme_quick_start_is_two_commands_run_by_ci():
    """The README's quick start is two commands, and .ci/run runs both verbatim."""
    commands = quick_start()
    assert len(commands) == 2
    ci = (ROOT / ".ci/run").read_text()
    for command in commands:
        assert command in ci, command


def test_nox_sessions_have_docstrings():
    """Every nox session says in one line what it does."""
    tree = ast.parse((ROOT / "noxfile.py").read_text())
    sessions = [
        node
        for node in tree.body
        if isinstance(node, ast.FunctionDef)
        and any("session" in ast.unparse(d) for d in node.decorator_list)
    ]
    names = {s.name for s in sessions}
    assert {"tests", "lint", "examples", "template", "container", "bench"} <= names
    for session in sessions:
        doc = ast.get_docstring(session)
        assert doc and "\n" not in doc.strip(), session.name


def test_devcontainer_json_is_strict_and_builds_dev_target():
    """The devcontainer definition is strict JSON and builds the Dockerfile's dev target."""
    spec = json.loads((ROOT / ".devcontainer/devcontainer.json").read_text())
    assert spec["build"]["target"] == "dev"
    assert (ROOT / ".devcontainer" / spec["build"]["dockerfile"]).resolve() == ROOT / "Dockerfile"
    assert "pytest" in spec["postCreateCommand"]


def test_dockerfile_has_base_argument_and_dev_target():
    """The Dockerfile takes its base image as an argument and has runtime and dev stages."""
    text = (ROOT / "Dockerfile").read_text()
    assert re.search(r"^ARG BASE=python:3\.\d+-slim$", text, re.MULTILINE)
    assert "FROM ${BASE} AS runtime" in text
    assert re.search(r"^FROM runtime AS dev$", text, re.MULTILINE)
    assert re.search(r"^USER 1000$", text, re.MULTILINE)  # the non-root user "study"


def test_no_file_keeps_merge_conflict_markers():
    """No tracked file has a line that git's conflict markers start (a merge left unresolved)."""
    proc = subprocess.run(
        ["git", "grep", "-n", "-I", "-E", "^(<<<<<<<|>>>>>>>) "],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode == 128:
        pytest.skip(f"not a git checkout: {proc.stderr.strip()}")
    assert proc.stdout == ""
