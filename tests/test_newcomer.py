"""A new user's path on a fresh machine, as the READMEs tell it, with the real tools.

psweep is built into a wheel and installed (not editable) into a fresh
virtualenv made without system site-packages, so nothing of the machine's
Python leaks in. ``psweep new`` then runs from that install: it packs the
installed psweep into a wheel for the study's ``vendor/`` and pins it. In the
study, the set-up commands of its README run verbatim in bash (its own
virtualenv, ``pip install -r requirements.lock``), then the study is run,
extended, evaluated and batched as the README says. Needs the package index
(pip and uv download the dependencies once; their caches are reused).
"""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest

import psweep

ROOT = Path(__file__).resolve().parents[1]
N_PSETS = 24
OMEGAS = "[0.5, 0.8, 0.9, 1.0, 1.1, 1.2, 1.5, 2.0]"
MORE_OMEGAS = "[0.5, 0.8, 0.9, 1.0, 1.1, 1.2, 1.5, 2.0, 0.95, 1.05, 3.0]"
# the data tracking choices; git-lfs is a program of the system and may be missing
TRACKINGS = ["none", pytest.param("git-lfs", marks=pytest.mark.needs_tool("git-lfs")), "dvc"]

pytestmark = pytest.mark.slow


def _in_venv(folder: str) -> bool:
    return (Path(folder).parent / "pyvenv.cfg").is_file()


def _run(args, cwd, env, check=True, timeout=1200) -> subprocess.CompletedProcess:
    args = [str(a) for a in args]
    proc = subprocess.run(
        args, cwd=cwd, env=env, capture_output=True, text=True, check=False, timeout=timeout
    )
    if check and proc.returncode != 0:
        pytest.fail(f"{args} failed ({proc.returncode}):\n{proc.stdout[-4000:]}\n{proc.stderr}")
    return proc


def _bash(script: str, cwd: Path, env, check=True) -> subprocess.CompletedProcess:
    return _run(["bash", "-euo", "pipefail", "-c", script], cwd, env, check)


@pytest.fixture(scope="module")
def newcomer(tmp_path_factory) -> SimpleNamespace:
    """psweep installed from its wheel into a fresh venv; a clean HOME with a git identity."""
    top = tmp_path_factory.mktemp("newcomer")
    home = top / "home"
    home.mkdir()
    wheels = top / "dist"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(wheels), str(ROOT)],
        check=True,
        capture_output=True,
    )
    (wheel,) = wheels.glob("psweep_kit-*.whl")
    venv = top / "venv"
    # a fresh machine's Python: nothing but the standard library
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("GIT_", "EMAIL", "VIRTUAL_ENV", "PYTHON", "PSWEEP_", "NOX"))
    }
    path = [str(venv / "bin")] + [
        p for p in os.environ["PATH"].split(os.pathsep) if p and not _in_venv(p)
    ]
    env.update(
        PIP_CACHE_DIR=os.environ.get("PIP_CACHE_DIR", str(Path.home() / ".cache" / "pip")),
        UV_CACHE_DIR=os.environ.get("UV_CACHE_DIR", str(Path.home() / ".cache" / "uv")),
        HOME=str(home),
        PATH=os.pathsep.join(path),
        GIT_CONFIG_NOSYSTEM="1",
        GIT_AUTHOR_NAME="New User",
        GIT_AUTHOR_EMAIL="new@test.invalid",
        GIT_COMMITTER_NAME="New User",
        GIT_COMMITTER_EMAIL="new@test.invalid",
        DVC_NO_ANALYTICS="1",
        MPLBACKEND="Agg",
    )
    _run([venv / "bin" / "python", "-m", "pip", "install", "-q", wheel], top, env)
    return SimpleNamespace(top=top, venv=venv, wheel=wheel, env=env)


def test_wheel_ships_the_template(newcomer):
    """The wheel holds the template, and the installed psweep finds it in site-packages."""
    names = set(zipfile.ZipFile(newcomer.wheel).namelist())
    tmpl = "psweep/_study_template/"
    for name in ["copier.yml", "template/input.py.jinja", "template/eval.py", "template/ruff.toml"]:
        assert tmpl + name in names, name
    assert tmpl + "template/templates/calc/run.py" in names
    assert tmpl + "template/vendor/README.md" in names
    assert any(n.startswith(tmpl + "template/{% if data_tracking == 'dvc' %}.dvc") for n in names)
    vpy = newcomer.venv / "bin" / "python"
    code = "import psweep.study.template_repo as s, sysconfig; print(s.template_source()); "
    code += "print(sysconfig.get_paths()['purelib'])"
    where, site = _run([vpy, "-c", code], newcomer.top, newcomer.env).stdout.split()
    assert where == str(Path(site) / "psweep" / "_study_template")


def test_psweep_command(newcomer):
    """psweep --version, python -m psweep, and help texts that list commands and choices."""
    env, top = newcomer.env, newcomer.top
    assert _run(["psweep", "--version"], top, env).stdout.strip() == f"psweep {psweep.__version__}"
    out = _run(["python", "-m", "psweep", "--help"], top, env).stdout
    assert re.search(r"^\s+new\s+start a study repository", out, re.M)
    out = _run(["psweep", "new", "--help"], top, env).stdout
    assert "choices: none, git-lfs, dvc" in out
    assert f"default: {sys.version_info.major}.{sys.version_info.minor}" in out
    proc = _run(["psweep", "new", "x", "--defaults", "-d", "use_slurm=maybe"], top, env, False)
    assert proc.returncode == 2
    assert "use_slurm is a yes/no question" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (top / "x").exists()


def _readme_blocks(readme: str, section: str) -> list[str]:
    """The ```sh blocks of one ## section of a README."""
    part = readme.split(f"\n## {section}\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```sh\n(.*?)```", part, re.S)


def _file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("tracking", TRACKINGS)
def test_newcomer_study(newcomer, tracking):
    """psweep new, then the study README's set-up verbatim: the study runs this very psweep."""
    env = newcomer.env
    name = f"study-{tracking}"
    study = newcomer.top / name
    args = ["psweep", "new", name, "--defaults"]
    if tracking != "none":
        args += ["-d", f"data_tracking={tracking}"]
    out = _run(args, newcomer.top, env).stdout
    assert "pip install -r requirements.lock" in out

    # pinned: this psweep's wheel in vendor/, its hash the only one the lock accepts
    (wheel,) = (study / "vendor").glob("psweep_kit-*.whl")
    assert wheel.name == f"psweep_kit-{psweep.__version__}-py3-none-any.whl"
    lock = (study / "requirements.lock").read_text()
    assert "--find-links vendor" in lock.splitlines()
    entry = re.search(r"^psweep-kit==(\S+)((?: \\\n\s+--hash=sha256:\w+)+)", lock, re.M)
    assert entry and entry.group(1) == psweep.__version__
    assert re.findall(r"sha256:(\w+)", entry.group(2)) == [_file_sha256(wheel)]
    for line in lock.splitlines():  # every requirement is pinned to one version
        if re.match(r"^[A-Za-z0-9]", line):
            assert re.match(r"^[A-Za-z0-9_.\-\[\],]+==[^ ]+( ;.*)? \\$", line), line

    # the README's set-up, verbatim
    readme = (study / "README.md").read_text()
    venv, make_lock, install, check_version, *_ = _readme_blocks(readme, "Set up")
    assert make_lock.strip() == "pip install nox && nox -s lock"  # psweep new locked already
    _bash(venv + install, study, env)
    shown = _bash(". .venv/bin/activate\n" + check_version, study, env).stdout.strip()
    assert shown == psweep.__version__
    code = "import psweep, sys; print(psweep.__file__); print(hasattr(psweep, 'run_local'))"
    where, has_run_local = _bash(f".venv/bin/python -c {code!r}", study, env).stdout.split()
    assert where.startswith(str(study / ".venv")) and has_run_local == "True"
    installed = Path(where).parent / "lifecycle" / "runner.py"
    assert installed.read_bytes() == (ROOT / "psweep" / "lifecycle" / "runner.py").read_bytes()

    # run twice, extend, evaluate, batch twice: the README's commands in the study's venv
    act = ". .venv/bin/activate\n"
    _bash(act + "python input.py\npython input.py", study, env)
    assert len(pd.read_pickle(study / "calc/database.pk")) == 2 * N_PSETS
    text = (study / "input.py").read_text()
    (study / "input.py").write_text(text.replace(OMEGAS, MORE_OMEGAS))
    (extend,) = _readme_blocks(readme, "Extend the study")
    out = _bash(act + extend, study, env).stdout
    assert "9 psets in run 2" in out
    assert "33 psets from 2 of 3 runs" in out
    out = _bash(act + "python batch.py && python batch.py", study, env).stdout
    assert "33 new jobs" in out and "no new psets" in out
    _bash(act + "sh batch/run_local.sh && python batch.py --collect", study, env)
    jobs = pd.read_pickle(study / "batch/database.pk")
    assert len(jobs) == 33 and set(jobs["_batch_status"]) == {"done"}
    db = pd.read_pickle(study / "calc/database.pk")
    assert len(db) == 2 * N_PSETS + 9 and db["_run_id"].nunique() == 3

    # nothing of the environment is in git, and git is clean after the runs
    tracked = _run(["git", "ls-files"], study, env).stdout.splitlines()
    assert not [p for p in tracked if p.startswith((".venv/", ".nox/")) or "pyvenv.cfg" in p]
    assert f"vendor/{wheel.name}" in tracked
    status = _run(["git", "status", "--porcelain"], study, env).stdout
    assert not [line for line in status.splitlines() if re.search(r"\.venv|\.nox|calc/", line)]
    log = _run(["git", "log", "--format=%s"], study, env).stdout
    for run_id in db["_run_id"].unique():
        assert f"run_id={run_id}" in log

    if tracking == "none":
        # a nox session in its own venv of the study's Python, installed from the lock
        out = _bash(act + "nox -s test", study, env)
        assert "3 passed" in out.stdout + out.stderr
        # the README's push, with a local bare repository for <url>
        remote = newcomer.top / "remote.git"
        _run(["git", "init", "-q", "--bare", remote], newcomer.top, env)
        share = readme.split("\n## Back up and share\n", 1)[1].split("\n## ", 1)[0]
        for cmd in re.findall(r"`(git (?:remote add|push)[^`]*)`", share):
            _bash(cmd.replace("<url>", str(remote)), study, env)
        heads = _run(["git", "ls-remote", "--heads", remote], study, env).stdout
        assert "refs/heads/main" in heads
