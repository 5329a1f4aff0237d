"""The distribution psweep-kit beside the package index's unrelated project ``psweep``.

Real pip, a real virtualenv without system site-packages, the index's real
``psweep==0.16.0`` and this checkout's wheel: psweep says in one line that the
two overwrite each other and how to fix it, and the study README's upgrade
recipe keeps this psweep.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import psweep
from psweep.study.installation import DIST_NAME, clash_message, other_psweep_distributions

ROOT = Path(__file__).resolve().parents[1]
OTHER = "0.16.0"  # the package index's psweep: another project, another API


def _run(args, cwd, env, check=True) -> subprocess.CompletedProcess:
    args = [str(a) for a in args]
    proc = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    if check and proc.returncode != 0:
        pytest.fail(f"{args} failed ({proc.returncode}):\n{proc.stdout[-4000:]}\n{proc.stderr}")
    return proc


def _wheel_and_venv(tmp_path: Path, wheels: Path) -> tuple[Path, Path, dict[str, str]]:
    """This checkout's wheel (built into `wheels`), a fresh virtualenv without system
    site-packages, and an environment whose PATH starts with it and whose HOME is
    `tmp_path` (pip's cache stays shared)."""
    _run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", wheels, ROOT],
         tmp_path, os.environ)  # fmt: skip
    (wheel,) = wheels.glob("psweep_kit-*.whl")
    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", venv], tmp_path, os.environ)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VIRTUAL_ENV", "PSWEEP_"))}
    env.update(
        PATH=os.pathsep.join([str(venv / "bin"), os.environ["PATH"]]),
        HOME=str(tmp_path),
        PIP_CACHE_DIR=os.environ.get("PIP_CACHE_DIR", str(Path.home() / ".cache" / "pip")),
    )
    return wheel, venv, env


def _clash_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if "installed here too" in line]


def test_no_clash_here():
    """In the test environment psweep-kit alone installs psweep: nothing to say."""
    assert other_psweep_distributions() == []
    assert clash_message() is None


def test_version_is_one_line_without_a_clash():
    """psweep --version prints the version only, nothing on stderr, where psweep is alone."""
    proc = subprocess.run(
        [sys.executable, "-m", "psweep", "--version"], capture_output=True, text=True, check=True
    )
    assert proc.stdout == f"psweep {psweep.__version__}\n"
    assert proc.stderr == ""


@pytest.mark.slow
def test_clash_with_the_index_psweep_is_named_and_fixed(tmp_path):
    """With the index's psweep 0.16.0 in the same virtualenv, psweep --version and psweep new
    name it in one line with the fix; the study README's upgrade recipe, run as printed,
    keeps this psweep importable (psweep.run_local), and the printed fix removes the clash.

    psweep 0.16.0 is installed with --no-deps: only its files matter here (they share the
    folder site-packages/psweep/ with ours). The last line of the recipe (nox -s test and
    the commit) is left out: it installs the study's lock, which other tests cover.
    """
    wheel, venv, env = _wheel_and_venv(tmp_path, tmp_path / "dist")
    env.update(
        GIT_CONFIG_NOSYSTEM="1",
        GIT_AUTHOR_NAME="A", GIT_AUTHOR_EMAIL="a@test.invalid",
        GIT_COMMITTER_NAME="A", GIT_COMMITTER_EMAIL="a@test.invalid",
    )  # fmt: skip
    pip = [venv / "bin" / "python", "-m", "pip", "install", "-q"]
    _run([*pip, "--no-deps", f"psweep=={OTHER}"], tmp_path, env)
    _run([*pip, wheel], tmp_path, env)
    has_run_local = [venv / "bin" / "python", "-c", "import psweep; psweep.run_local"]

    proc = _run(["psweep", "--version"], tmp_path, env)
    assert proc.stdout == f"psweep {psweep.__version__}\n"
    (line,) = proc.stderr.splitlines()
    assert f"psweep {OTHER} is installed here too" in line and DIST_NAME in line
    fix = line.split("fix: ", 1)[1]
    assert fix == f"pip uninstall -y psweep && pip install --force-reinstall --no-deps {wheel}"

    study = tmp_path / "study"
    proc = _run(["psweep", "new", study, "--defaults", "--no-lock"], tmp_path, env)
    assert len(_clash_lines(proc.stderr)) == 1

    # the study README's upgrade recipe, line by line as printed, with PSWEEP_NEW set
    readme = (study / "README.md").read_text()
    section = readme.split("\n## Update the study files\n", 1)[1]
    (block,) = re.findall(r"```sh\n(.*?)```", section, re.S)[:1]
    lines = [ln.split("  #")[0].strip() for ln in block.splitlines()]
    assert 'pip install "$PSWEEP_NEW"' in lines and not any("psweep==" in ln for ln in lines)
    for line in lines:
        if line.startswith("nox -s test"):
            continue
        _run(["bash", "-euo", "pipefail", "-c", line], study, {**env, "PSWEEP_NEW": str(wheel)})
        _run(has_run_local, study, env)

    # the fix, as printed: afterwards no clash, and still this psweep
    _run(["bash", "-euo", "pipefail", "-c", fix], tmp_path, env)
    proc = _run(["psweep", "--version"], tmp_path, env)
    assert (proc.stdout, proc.stderr) == (f"psweep {psweep.__version__}\n", "")
    _run(has_run_local, tmp_path, env)


def test_the_fix_names_the_study_wheel_where_pip_recorded_no_source(tmp_path):
    """A study's venv installs psweep from its lock, by name from vendor/, so pip records
    no source: the fix of the clash line names the study's own wheel (found from any folder
    of the study), not a placeholder."""
    from psweep.study.installation import _vendored_wheel

    study = tmp_path / "study"
    (study / "vendor").mkdir(parents=True)
    (study / "sub" / "deeper").mkdir(parents=True)
    wheel = study / "vendor" / "psweep_kit-1.2.3-py3-none-any.whl"
    wheel.write_bytes(b"")
    (study / "vendor" / "psweep_kit-1.2.2-py3-none-any.whl").write_bytes(b"")
    assert _vendored_wheel("1.2.3", study / "sub" / "deeper") == str(wheel)
    assert _vendored_wheel("1.2.3", study) == str(wheel)
    assert _vendored_wheel("9.9", study) is None


@pytest.mark.slow
def test_clash_in_a_study_venv_names_the_vendored_wheel(tmp_path):
    """Installed as a study's lock installs it (by name, from vendor/) beside the index's
    psweep: psweep --version run in the study names vendor/'s wheel in its fix, and that
    fix, run as printed, removes the clash."""
    wheels = tmp_path / "study" / "vendor"
    wheel, venv, env = _wheel_and_venv(tmp_path, wheels)
    pip = [venv / "bin" / "python", "-m", "pip", "install", "-q", "--no-deps"]
    _run([*pip, f"psweep=={OTHER}"], tmp_path, env)
    _run([*pip, "--no-index", "--find-links", wheels, DIST_NAME], tmp_path, env)
    proc = _run(["psweep", "--version"], wheels.parent, env)
    (line,) = _clash_lines(proc.stderr)
    fix = line.split("fix: ", 1)[1]
    assert fix == f"pip uninstall -y psweep && pip install --force-reinstall --no-deps {wheel}"
    _run(["bash", "-euo", "pipefail", "-c", fix], wheels.parent, env)
    proc = _run(["psweep", "--version"], wheels.parent, env)
    assert proc.stderr == ""
