"""psweep update: a study takes the template of a newer psweep, offline (issue 11).

Two wheels of psweep are built here: this checkout, and a copy with a higher
version whose template has a new README section and a changed line in
eval.py. The first goes into a fresh virtualenv (no system site-packages);
``psweep new`` makes studies, the user edits and commits, then the second
wheel is installed and ``psweep update`` runs without network (in a network
namespace of its own, ``unshare -n``, where that works).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml
from checkout_utils import copy_checkout
from packaging.version import Version

import psweep as ps

ROOT = Path(__file__).resolve().parents[1]
_V = Version(ps.__version__)
OLD, NEW = ps.__version__, f"{_V.major}.{_V.minor}.{_V.micro + 1}"  # a later release
EVAL_LINE = 'CALC_DIR = "calc"\n'
EVAL_NEW = 'CALC_DIR = "calc"  # the database and files of the study\n'
README_NEW = "\n## What changed in the template\n\nThis section came with a newer template.\n"

pytestmark = pytest.mark.slow


def _run(args, cwd, env, check=True, timeout=1200) -> subprocess.CompletedProcess:
    args = [str(a) for a in args]
    proc = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        pytest.fail(f"{args} failed ({proc.returncode}):\n{proc.stdout[-4000:]}\n{proc.stderr}")
    return proc


def _offline() -> list[str]:
    """A prefix that runs a command without network, if this machine allows it."""
    probe = subprocess.run(["unshare", "-n", "true"], capture_output=True, check=False)
    return ["unshare", "-n"] if probe.returncode == 0 else []


@pytest.fixture(scope="module")
def wheels(tmp_path_factory) -> SimpleNamespace:
    top = tmp_path_factory.mktemp("update")
    old_src = copy_checkout(top / "old")
    new_src = copy_checkout(top / "new")
    for rel, before, after in [
        ("pyproject.toml", f'version = "{OLD}"', f'version = "{NEW}"'),
        ("psweep/version.py", f'__version__ = "{OLD}"', f'__version__ = "{NEW}"'),
        ("template/eval.py", EVAL_LINE, EVAL_NEW),
    ]:
        text = (new_src / rel).read_text()
        assert before in text, (rel, before)
        (new_src / rel).write_text(text.replace(before, after, 1))
    readme = new_src / "template" / "README.md.jinja"
    readme.write_text(readme.read_text() + README_NEW)
    built = {}
    for name, src in (("old", old_src), ("new", new_src)):
        out = top / f"dist-{name}"
        subprocess.run(
            [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(out), str(src)],
            check=True, capture_output=True,
        )  # fmt: skip
        (built[name],) = out.glob("psweep_kit-*.whl")
    venv = top / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VIRTUAL_ENV", "PSWEEP_"))}
    env.update(
        PATH=os.pathsep.join([str(venv / "bin"), os.environ["PATH"]]),
        GIT_AUTHOR_NAME="Up Dater", GIT_AUTHOR_EMAIL="up@test.invalid",
        GIT_COMMITTER_NAME="Up Dater", GIT_COMMITTER_EMAIL="up@test.invalid",
    )  # fmt: skip
    _run([venv / "bin" / "python", "-m", "pip", "install", "-q", built["old"]], top, env)
    return SimpleNamespace(top=top, venv=venv, env=env, **built)


def _req(wheel: Path) -> str:
    """The psweep_requirement of a psweep wheel file."""
    return f"psweep-kit @ {wheel.as_uri()}"


def _git(study: Path, env, *args: str) -> str:
    return _run(["git", *args], study, env).stdout


@pytest.fixture(scope="module")
def studies(wheels) -> SimpleNamespace:
    """Two studies made by the old psweep: one edited away from the template's change,
    one edited on the very line the template changes. Then the new psweep is installed."""
    psweep = wheels.venv / "bin" / "psweep"
    made = {}
    for name in ("edited", "conflicting", "rejecting"):
        study = wheels.top / name
        _run([psweep, "new", study, "--defaults"], wheels.top, wheels.env)
        made[name] = study
    # a study that installs psweep from its psweep_requirement: the old psweep's wheel file
    made["pinned"] = wheels.top / "pinned"
    answer = f"psweep_requirement={_req(wheels.old)}"
    _run([psweep, "new", made["pinned"], "--defaults", "-d", answer], wheels.top, wheels.env)
    edited = made["edited"] / "input.py"
    edited.write_text(edited.read_text() + "# my own note about the model\n")
    _git(made["edited"], wheels.env, "commit", "-qam", "my edit")
    for name in ("conflicting", "rejecting"):
        conflicting = made[name] / "eval.py"
        text = conflicting.read_text()
        conflicting.write_text(text.replace(EVAL_LINE, 'CALC_DIR = "calc"  # mine, not yours\n'))
        _git(made[name], wheels.env, "commit", "-qam", "my edit on the template's line")
    _run([wheels.venv / "bin" / "python", "-m", "pip", "install", "-q", "--no-index",
          "--no-deps", wheels.new], wheels.top, wheels.env)  # fmt: skip
    return SimpleNamespace(**made)


def _update(wheels, study: Path, check=True, *args: str) -> subprocess.CompletedProcess:
    cmd = [*_offline(), wheels.venv / "bin" / "psweep", "update", *args]
    return _run(cmd, study, wheels.env, check=check)


def test_update_brings_the_template_and_keeps_the_edit(wheels, studies):
    study = studies.edited
    answers = yaml.safe_load((study / ".copier-answers.yml").read_text())
    assert answers["_commit"] == OLD and answers["_src_path"].startswith("https://")
    proc = _update(wheels, study)
    assert f"template of psweep {OLD} -> {NEW}" in proc.stdout
    assert (study / "README.md").read_text().endswith(README_NEW)
    assert EVAL_NEW in (study / "eval.py").read_text()
    assert (study / "input.py").read_text().endswith("# my own note about the model\n")
    # the new psweep's wheel replaces the old one, and the lock pins it by its hash
    (wheel,) = (study / "vendor").glob("psweep_kit-*.whl")
    assert wheel.name.startswith(f"psweep_kit-{NEW}-")
    digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
    lock = (study / "requirements.lock").read_text()
    assert re.search(rf"^psweep-kit=={re.escape(NEW)} \\\n\s+--hash=sha256:{digest}$", lock, re.M)
    assert f"psweep-kit=={NEW}" in (study / "requirements.in").read_text().splitlines()
    answers = yaml.safe_load((study / ".copier-answers.yml").read_text())
    assert answers["_commit"] == NEW and answers["psweep_version"] == NEW
    _git(study, wheels.env, "add", "-A")
    _git(study, wheels.env, "commit", "-qm", "psweep update")
    assert _git(study, wheels.env, "status", "--porcelain") == ""
    # a second update has nothing to do
    assert "has the template of psweep" in _update(wheels, study).stdout


def test_update_reports_a_conflict_and_loses_nothing(wheels, studies):
    study = studies.conflicting
    proc = _update(wheels, study, check=False)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "conflicts where your changes and the template's meet, in: eval.py" in proc.stdout
    text = (study / "eval.py").read_text()
    assert "<<<<<<< " in text and ">>>>>>> " in text
    assert "# mine, not yours" in text and "# the database and files of the study" in text
    assert (study / "README.md").read_text().endswith(README_NEW)  # the rest arrived
    assert "keep what is right between the markers" in proc.stdout and ".rej" not in proc.stdout


def test_update_with_rej_files_says_how_to_apply_them(wheels, studies):
    """With --conflict rej the file takes the template's version, the edit goes to a .rej
    file, and the advice is about that file, not about markers."""
    study = studies.rejecting
    proc = _update(wheels, study, False, "--conflict", "rej")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "eval.py.rej" in proc.stdout
    assert "apply it by hand, then delete the .rej file" in proc.stdout
    assert "<<<<<<<" not in proc.stdout
    assert "<<<<<<< " not in (study / "eval.py").read_text()
    assert "# mine, not yours" in (study / "eval.py.rej").read_text()


def test_update_refuses_uncommitted_changes(wheels, studies, tmp_path):
    study = tmp_path / "dirty"
    shutil.copytree(studies.edited, study, symlinks=True)
    (study / "input.py").write_text("changed\n")
    proc = _update(wheels, study, check=False)
    assert proc.returncode == 2 and "uncommitted changes (input.py)" in proc.stderr


def _requirement_files(study: Path) -> tuple[str, str, list[str]]:
    """psweep_requirement, PSWEEP_SOURCE of noxfile.py, and the wheels in vendor/."""
    answers = yaml.safe_load((study / ".copier-answers.yml").read_text())
    (source,) = re.findall(r"^PSWEEP_SOURCE = (.*)$", (study / "noxfile.py").read_text(), re.M)
    wheels = sorted(w.name for w in (study / "vendor").glob("*.whl"))
    return answers["psweep_requirement"], json.loads(source), wheels


def test_update_of_a_pinned_study_says_it_installs_the_old_psweep_and_moves_it(wheels, studies):
    """A study that installs psweep from its psweep_requirement gets the new template, keeps
    its requirement, and is told so in one line with the command that moves it; that command
    builds the new psweep's wheel into vendor/, pins it in the lock and changes the answer."""
    study = studies.pinned
    lock_before = (study / "requirements.lock").read_text()
    before = _requirement_files(study)
    assert before == (_req(wheels.old), _req(wheels.old), [wheels.old.name])
    proc = _update(wheels, study)
    assert f"template of psweep {OLD} -> {NEW}" in proc.stdout
    assert (study / "README.md").read_text().endswith(README_NEW)
    (line,) = [ln for ln in proc.stdout.splitlines() if "still installs" in ln]
    assert (
        f"the study still installs psweep {OLD} from its psweep_requirement "
        f"'{_req(wheels.old)}', not psweep {NEW}, whose template it has now" in line
    )
    assert "then run nox -s lock" in line
    # nothing moved silently: the requirement, its wheel and the lock are the old ones
    assert _requirement_files(study) == before
    assert (study / "requirements.lock").read_text() == lock_before
    _git(study, wheels.env, "add", "-A")
    _git(study, wheels.env, "commit", "-qm", "psweep update")
    # a second update has no template to bring, and says it again
    again = _update(wheels, study).stdout
    assert "has the template of psweep" in again and line in again.splitlines()
    # the command it names: the new psweep's wheel, from where pip installed it
    (command,) = re.findall(r"run: (psweep update --requirement .*?) \(it builds", line)
    args = shlex.split(command)
    assert args[2:] == ["--requirement", _req(wheels.new)]
    proc = _update(wheels, study, True, *args[2:])
    assert f"psweep_requirement is {_req(wheels.new)} now" in proc.stdout
    assert "still installs" not in proc.stdout
    assert _requirement_files(study) == (_req(wheels.new), _req(wheels.new), [wheels.new.name])
    assert f"#   {_req(wheels.new)}" in (study / "requirements.in").read_text().splitlines()
    assert (study / "vendor" / wheels.new.name).read_bytes() == wheels.new.read_bytes()
    digest = hashlib.sha256(wheels.new.read_bytes()).hexdigest()
    lock = (study / "requirements.lock").read_text()
    assert re.search(rf"^psweep-kit=={re.escape(NEW)} \\\n\s+--hash=sha256:{digest}$", lock, re.M)
    _git(study, wheels.env, "add", "-A")
    _git(study, wheels.env, "commit", "-qm", "psweep update --requirement")
    assert "still installs" not in _update(wheels, study).stdout


def test_update_refuses_a_requirement_of_another_psweep(wheels, studies, tmp_path):
    """--requirement must be the psweep that runs psweep update (whose template the study
    gets); another one is refused before the study changes."""
    study = tmp_path / "pinned"
    shutil.copytree(studies.pinned, study, symlinks=True)
    proc = _update(wheels, study, False, "--requirement", _req(wheels.old))
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert f"is psweep {OLD}, but this is psweep {NEW}" in proc.stderr
    assert "the study was left as it was" in proc.stderr
    assert _git(study, wheels.env, "status", "--porcelain", "--untracked-files=all") == ""


def test_requirement_option_needs_a_pinned_study_and_a_url(tmp_path):
    """--requirement is refused for a study that keeps its psweep wheel in vendor/, and a
    requirement without a URL is refused before pip could look the name up in an index."""
    vendored = _committed_study(
        tmp_path / "v",
        "_commit: 0.1.0\n_src_path: https://psweep.invalid/study-template.git\n"
        "psweep_version: 0.1.0\n",
    )
    with pytest.raises(ps.PsweepUpdateError, match=r"keeps the wheel of its psweep in vendor/"):
        ps.update_study(
            vendored, requirement="psweep-kit @ file:///w/psweep_kit-9-py3-none-any.whl"
        )
    pinned = _committed_study(
        tmp_path / "p",
        "_commit: 0.1.0\n_src_path: https://psweep.invalid/study-template.git\n"
        "psweep_requirement: psweep-kit @ file:///w/psweep_kit-0.1.0-py3-none-any.whl\n",
    )
    with pytest.raises(
        ps.PsweepUpdateError, match=r"'psweep-kit==9' is not a requirement of psweep with a URL"
    ):
        ps.update_study(pinned, requirement="psweep-kit==9")


def _committed_study(folder: Path, answers: str) -> Path:
    """A git repository with one commit that holds only `answers` as .copier-answers.yml."""
    folder.mkdir()
    (folder / ".copier-answers.yml").write_text(answers)
    for args in (
        ["init", "-q"],
        ["add", "-A"],
        ["-c", "user.name=a", "-c", "user.email=a@b", "commit", "-qm", "x"],
    ):
        subprocess.run(["git", *args], cwd=folder, check=True)  # fmt: skip
    return folder


def test_old_study_without_template_version_gets_told_what_to_do(tmp_path):
    study = _committed_study(
        tmp_path / "old",
        "_src_path: /usr/lib/python3/site-packages/psweep/_study_template\nstudy_name: old\n",
    )
    with pytest.raises(ps.PsweepUpdateError, match="older than psweep update"):
        ps.update_study(study)


def test_missing_vendored_wheel_is_named(tmp_path):
    """The error names the missing wheel and builds it from git, never from the index's
    "psweep" (another project)."""
    study = _committed_study(
        tmp_path / "s", "_commit: 0.1.0\n_src_path: https://psweep.invalid/study-template.git\n"
    )
    with pytest.raises(ps.PsweepUpdateError, match=r"no psweep 0.1.0 wheel") as info:
        ps.update_study(study)
    assert "pip wheel --no-deps -w vendor git+URL@v0.1.0" in str(info.value)
    assert "psweep==" not in str(info.value)
