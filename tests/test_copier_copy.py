"""``copier copy --defaults <psweep> my-study``: the study template with copier alone.

README.md promises that plain copier makes the same study as ``psweep new``.
Here copier (the real CLI, no ``psweep new``) copies from a git clone of this
checkout, from that clone as a ``file://`` git URL, and from a plain folder
without git; the default ``psweep_requirement`` points at exactly that source
(and its commit); the only answer given is python_version, the Python at hand. Then the
study README's set-up runs as printed, in a fresh
virtualenv without system site-packages: ``nox -s lock`` builds psweep's
wheel from the source into vendor/ and pins it by hash, pip installs the lock,
and the study runs twice.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml
from checkout_utils import copy_checkout

import psweep

ROOT = Path(__file__).resolve().parents[1]
COPIER = Path(sys.executable).parent / "copier"
N_PSETS = 24  # psets of the template's input.py

pytestmark = pytest.mark.slow


def _run(args, cwd, env, check=True) -> subprocess.CompletedProcess:
    args = [str(a) for a in args]
    proc = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=1800)
    if check and proc.returncode != 0:
        pytest.fail(f"{args} failed ({proc.returncode}):\n{proc.stdout[-4000:]}\n{proc.stderr}")
    return proc


def _bash(script: str, cwd: Path, env) -> subprocess.CompletedProcess:
    return _run(["bash", "-euo", "pipefail", "-c", script], cwd, env)


def _env(home: Path) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("GIT_", "EMAIL", "VIRTUAL_ENV", "PSWEEP_", "NOX"))
    }
    # this checkout's environment off PATH: the study brings its own (copier is called by path)
    path = [p for p in os.environ["PATH"].split(os.pathsep) if p and p != str(COPIER.parent)]
    env.update(
        PIP_CACHE_DIR=os.environ.get("PIP_CACHE_DIR", str(Path.home() / ".cache" / "pip")),
        UV_CACHE_DIR=os.environ.get("UV_CACHE_DIR", str(Path.home() / ".cache" / "uv")),
        HOME=str(home), PATH=os.pathsep.join(path), GIT_CONFIG_NOSYSTEM="1",
        GIT_AUTHOR_NAME="Copier User", GIT_AUTHOR_EMAIL="copier@test.invalid",
        GIT_COMMITTER_NAME="Copier User", GIT_COMMITTER_EMAIL="copier@test.invalid",
        DVC_NO_ANALYTICS="1", MPLBACKEND="Agg",
    )  # fmt: skip
    return env


def _source(kind: str, top: Path, env) -> tuple[str, str]:
    """A source of the template and the psweep_requirement its copy defaults to."""
    if kind == "folder":
        folder = copy_checkout(top / "psweep src")
        return str(folder), f"psweep-kit @ file://{str(folder).replace(' ', '%20')}"
    clone = top / "psweep-clone"
    _run(["git", "clone", "-q", ROOT, clone], top, env)
    for child in clone.iterdir():  # the checkout as it is now, committed in the clone
        if child.name != ".git":
            shutil.rmtree(child) if child.is_dir() else child.unlink()
    copy_checkout(clone)
    _run(["git", "add", "-A"], clone, env)
    _run(["git", "commit", "-q", "--allow-empty", "-m", "as the checkout is now"], clone, env)
    sha = _run(["git", "rev-parse", "HEAD"], clone, env).stdout.strip()
    if kind == "clone":
        return str(clone), f"psweep-kit @ git+file://localhost{clone}@{sha}"
    bare = top / "psweep.git"
    _run(["git", "clone", "-q", "--bare", clone, bare], top, env)
    return bare.as_uri(), f"psweep-kit @ git+file://localhost{bare}@{sha}"


def _readme_blocks(readme: str, section: str) -> list[str]:
    part = readme.split(f"\n## {section}\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```sh\n(.*?)```", part, re.S)


@pytest.mark.parametrize("kind", ["clone", "url", "folder"])
def test_copier_copy_defaults_then_readme_setup(tmp_path, kind):
    """copier copy --defaults from a git clone, a file:// git URL or a folder pins psweep to
    that source; the study README's set-up (lock, install, git) works as printed, and the
    study runs twice with this psweep."""
    home = tmp_path / "home"
    home.mkdir()
    env = _env(home)
    src, requirement = _source(kind, tmp_path, env)
    study = tmp_path / "my-study"
    # the one answer given: the Python at hand (the lock is for python_version and newer;
    # psweep new offers the running one, copier's default is 3.12)
    here = f"python_version={sys.version_info.major}.{sys.version_info.minor}"
    _run([COPIER, "copy", "--defaults", "--data", here, src, study], tmp_path, env)
    answers = yaml.safe_load((study / ".copier-answers.yml").read_text())
    assert answers["psweep_requirement"] == requirement
    assert "psweep_version" not in answers
    assert not (study / "requirements.lock").exists()

    blocks = _readme_blocks((study / "README.md").read_text(), "Set up")
    venv, make_lock, install, check_version, git_init = blocks
    assert make_lock.strip() == "pip install nox && nox -s lock"
    assert git_init.startswith("git init -b main")
    act = ". .venv/bin/activate\n"
    _bash(venv + make_lock + install, study, env)
    (wheel,) = (study / "vendor").glob("psweep_kit-*.whl")
    assert wheel.name == f"psweep_kit-{psweep.__version__}-py3-none-any.whl"
    lock = (study / "requirements.lock").read_text()
    assert re.search(rf"^psweep-kit=={re.escape(psweep.__version__)} \\$", lock, re.M)
    assert "git+" not in lock and "file://" not in lock  # pinned by the wheel's hash
    assert _bash(act + check_version, study, env).stdout.strip() == psweep.__version__
    _bash(git_init, study, env)

    _bash(act + "python input.py", study, env)
    _bash(act + "python input.py", study, env)
    df = pd.read_pickle(study / "calc" / "database.pk")
    assert len(df) == 2 * N_PSETS and df["_run_id"].nunique() == 2
    log = _run(["git", "log", "--format=%s"], study, env).stdout
    assert all(f"run_id={run_id}" in log for run_id in df["_run_id"].unique())
    assert _run(["git", "status", "--porcelain"], study, env).stdout == ""
