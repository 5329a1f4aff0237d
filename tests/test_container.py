"""The image built from the repository's Dockerfile runs the tests and a study
with the same results as the host.

Slow (a base image, an offline build): run with ``nox -s container``, which
sets PSWEEP_CONTAINER_TESTS=1; skipped otherwise, and where podman, runc or
debootstrap are missing. Everything runs in a private podman storage that is
removed afterwards, also when a test fails.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from container_utils import (
    BASE_IMAGE,
    daemonless_docker,
    podman_available,
    private_podman,
    wheelhouse,
)

import psweep as ps

ROOT = Path(__file__).resolve().parents[1]
IMAGE = "localhost/psweep:test"
DEV_IMAGE = "localhost/psweep:dev"

_ok, _reason = podman_available()
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not os.environ.get("PSWEEP_CONTAINER_TESTS"),
        reason="container tests run with `nox -s container` (PSWEEP_CONTAINER_TESTS=1)",
    ),
    pytest.mark.skipif(not _ok, reason=_reason),
]


def _repo_files() -> list[str]:
    out = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT, capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    return [f for f in out.split("\0") if f and (ROOT / f).is_file()]


@pytest.fixture(scope="module")
def podman(tmp_path_factory):
    """Private podman with the runtime and dev images built offline."""
    context = tmp_path_factory.mktemp("context")
    for rel in _repo_files():
        (context / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / rel, context / rel)
    wheelhouse(context / "wheelhouse", [f"{ROOT}[test]", "ruff"])
    with private_podman(tmp_path_factory.mktemp("podman")) as podman:
        podman.import_base()
        podman.build(context, IMAGE, target="runtime")
        podman.build(context, DEV_IMAGE, target="dev")
        yield podman


def test_image_basics(podman):
    """It runs as a non-root user in /study with psweep, git and git-lfs installed."""
    args = ["run", "--rm", "--network=none", IMAGE, "sh", "-c"]
    script = "id -u; pwd; git --version; git lfs version; python -c 'import psweep; print(1)'"
    out = podman(*args, script, capture=True).stdout.split("\n")
    assert out[0] == "1000"
    assert out[1] == "/study"
    assert out[2].startswith("git version")
    assert out[3].startswith("git-lfs/")
    assert out[4] == "1"


def test_fast_tests_in_dev_image(podman):
    """It passes the fast part of the test suite inside the dev image."""
    fast = ["test_params.py", "test_hashing.py", "test_database.py", "test_runner.py",
            "test_journal.py", "test_batch.py"]  # fmt: skip
    proc = podman.run(
        DEV_IMAGE,
        "python", "-m", "pytest", "-q", "-p", "no:cacheprovider", *fast,
        mounts=[(ROOT, "/src:ro")],
        workdir="/src/tests",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert " passed" in proc.stdout


STUDY = """\
import psweep as ps


def func(pset):
    return {"energy": 0.5 * pset["k"] * pset["x"] ** 2, "label": f"{pset['k']}-{pset['x']}"}


if __name__ == "__main__":
    x, y = ps.plist("x", [0, 1, 2]), ps.plist("y", ["a", "b", "c"])
    params = ps.pgrid(ps.plist("k", [1.0, 2.5]), zip(x, y))
    ps.run_local(func, params)
    ps.run_local(func, params[:2])
"""


def _run_study_on_host(study: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    subprocess.run([sys.executable, "input.py"], cwd=study, env=env, check=True)


def _comparable(df: pd.DataFrame) -> pd.DataFrame:
    keep = [c for c in df.columns if not c.startswith("_")] + [
        "_run_seq",
        "_pset_seq",
        "_pset_sha1",
    ]
    return df[keep].reset_index(drop=True)


def test_same_results_host_and_container(podman, tmp_path):
    """It gives the same parameters and results, row for row, on the host and in the image."""
    host, box = tmp_path / "host", tmp_path / "box"
    for study in (host, box):
        study.mkdir()
        (study / "input.py").write_text(STUDY)
    _run_study_on_host(host)
    proc = podman.run(IMAGE, "python", "input.py", mounts=[(box, "/study")])
    assert proc.returncode == 0, proc.stderr[-3000:]
    df_host = pd.read_pickle(host / "calc/database.pk")
    df_box = pd.read_pickle(box / "calc/database.pk")
    assert len(df_host) == 8
    pd.testing.assert_frame_equal(_comparable(df_host), _comparable(df_box))


@pytest.fixture(scope="module")
def rendered_study(tmp_path_factory):
    """A study made by psweep new (no git, no data tracking): this psweep vendored and locked."""
    pytest.importorskip("copier")
    dest = tmp_path_factory.mktemp("rendered") / "oscillator"
    ps.new_study(
        dest,
        {
            "study_name": "oscillator",
            "python_version": "3.11",
            "git_init": False,
            "data_tracking": "none",
        },
        defaults=True,
    )
    return dest


def _run_host(study: Path) -> pd.DataFrame:
    _run_study_on_host(study)
    return pd.read_pickle(study / "calc/database.pk")


def test_template_study_same_on_host_and_in_image(podman, rendered_study, tmp_path):
    """It runs the template's demo study in the image with the host's results, row for row."""
    host, box = tmp_path / "host", tmp_path / "box"
    shutil.copytree(rendered_study, host)
    shutil.copytree(rendered_study, box)
    df_host = _run_host(host)
    proc = podman.run(IMAGE, "python", "input.py", mounts=[(box, "/study")])
    assert proc.returncode == 0, proc.stderr[-3000:]
    df_box = pd.read_pickle(box / "calc/database.pk")
    assert len(df_host) == 24
    pd.testing.assert_frame_equal(_comparable(df_host), _comparable(df_box))


def test_generated_study_dockerfile(podman, rendered_study, tmp_path):
    """It builds the generated study's own Dockerfile offline and runs the study with it."""
    study = tmp_path / "study"
    shutil.copytree(rendered_study, study)
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "-w", str(study / "wheels"),
         "-r", str(study / "requirements.lock")],
        check=True, timeout=900,
    )  # fmt: skip
    podman.build(study, "localhost/oscillator:test")
    proc = podman.run("localhost/oscillator:test", mounts=[(study, "/study")])
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    df_box = pd.read_pickle(study / "calc/database.pk")
    host = tmp_path / "host"
    shutil.copytree(rendered_study, host)
    pd.testing.assert_frame_equal(_comparable(_run_host(host)), _comparable(df_box))


def _readme_block(readme: str, heading: str) -> list[str]:
    """The commands of the first ```sh block after `heading`, without comments."""
    part = readme.split(f"\n{heading}\n", 1)[1]
    block = part.split("```sh\n", 1)[1].split("```", 1)[0]
    return [line.split("  #")[0].strip() for line in block.splitlines() if line.strip()]


def test_study_base_image_without_registry(rendered_study, tmp_path):
    """The study README's way without a container registry, as written (as root, so without
    sudo): in-image.sh takes podman, because the docker client first on PATH has no daemon;
    a base it cannot pull is one line that names `in-image.sh base`; then `base` makes
    the base with debootstrap, the build runs offline on it, and nox -s reproduce agrees.

    docker is a stand-in (tests/container_utils.py) for a client without a daemon, so that
    the test means the same where a real docker daemon runs; podman and debootstrap are real.
    """
    study = tmp_path / "study"
    shutil.copytree(rendered_study, study)
    with private_podman(tmp_path / "podman") as podman:
        stubs = daemonless_docker(tmp_path / "stubs").parent
        path = os.pathsep.join([str(stubs), str(Path(sys.executable).parent), os.environ["PATH"]])
        env = {**podman.env, "PATH": path, "RUN_ARGS": "--network=none"}
        env.pop("ENGINE", None)

        def sh(cmd: str, **extra: str) -> subprocess.CompletedProcess:
            return subprocess.run(
                ["bash", "-euo", "pipefail", "-c", cmd],
                cwd=study, env={**env, **extra}, capture_output=True, text=True, timeout=1800,
            )  # fmt: skip

        assert sh("sh scripts/in-image.sh engine").stdout == "podman\n"
        proc = sh("sh scripts/in-image.sh build", BASE_IMAGE="localhost/absent-base")
        assert proc.returncode == 3
        (line,) = proc.stderr.splitlines()
        assert line.startswith("in-image.sh: the base image localhost/absent-base is not here")
        assert "`sh scripts/in-image.sh base`" in line
        # nox -s reproduce says the same before it installs or runs anything on the host
        proc = sh("nox --no-venv -s reproduce -- --first 4", BASE_IMAGE="localhost/absent-base")
        assert proc.returncode != 0
        assert line in proc.stderr
        assert "reproduce.py" not in proc.stderr and not (study / "calc.reproduce").exists()

        readme = (study / "README.md").read_text()
        commands = _readme_block(readme, "### Without a container registry")
        assert [c.split()[:4] for c in commands] == [
            ["sudo", "sh", "scripts/in-image.sh", "base"],
            ["pip", "wheel", "-w", "wheels"],
            ["BUILD_ARGS=--network=none", "sh", "scripts/in-image.sh", "build"],
        ]
        done = []
        for cmd in commands:
            cmd = cmd.removeprefix("sudo ")  # root already
            cmd = f"{sys.executable} -m {cmd}" if cmd.startswith("pip ") else cmd
            proc = sh(cmd)
            assert proc.returncode == 0, f"{cmd}:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
            done.append(proc.stdout)
        assert "base image localhost/oscillator-base: Debian bookworm with Python 3" in done[0]
        assert "FROM localhost/oscillator-base" in done[2]  # the build took the new base
        proc = sh("nox --no-venv -s reproduce -- --no-build --first 4")
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
        assert "same: 4 rows, 5 columns compared (exact)" in proc.stdout


GITLAB_CI_LOCAL_NPM = "gitlab-ci-local@4.60.0"  # the newest that runs on Debian's Node 20


@pytest.fixture(scope="module", autouse=True)
def gitlab_ci_local(tmp_path_factory):
    """gitlab-ci-local, installed from npm in the background from the module's start.

    The download takes minutes and hardly any CPU, so it overlaps the image builds;
    the GitLab test waits for it. Yields the install's process and its folder (the
    process is None where npm is missing).
    """
    prefix = tmp_path_factory.mktemp("npm")
    if shutil.which("npm") is None:
        yield None, prefix
        return
    with open(prefix / "npm.log", "wb") as log:
        proc = subprocess.Popen(
            ["npm", "install", "--silent", "--no-audit", "--no-fund", "--prefix", str(prefix),
             GITLAB_CI_LOCAL_NPM],
            stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        try:
            yield proc, prefix
        finally:
            if proc.poll() is None:  # the GitLab test did not run: no need to finish
                proc.terminate()
                proc.wait(timeout=60)


@pytest.fixture(scope="module")
def ci_study(tmp_path_factory):
    """A study made by psweep new with git and both CI files, and wheels for an offline build."""
    dest = tmp_path_factory.mktemp("ci") / "cistudy"
    ps.new_study(
        dest,
        {"study_name": "cistudy", "python_version": "3.11", "ci": "both", "data_tracking": "none"},
        defaults=True,
    )
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "-w", str(dest / "wheels"),
         "-r", str(dest / "requirements.lock")],
        check=True, timeout=900,
    )  # fmt: skip
    return dest


def _ci_env(podman, image: str) -> dict:
    """What the CI steps need here: podman for docker, an offline build from the base image."""
    return {
        **podman.env,
        "ENGINE": "podman",
        "IMAGE": image,
        "BUILD_ARGS": f"--network=none --build-arg BASE={BASE_IMAGE}",
        "RUN_ARGS": "--network=none",
    }


def _ran_ok(study: Path, before: int) -> None:
    df = pd.read_pickle(study / "calc/database.pk")
    assert len(df) == before + 4  # the short run: --first 4
    log = subprocess.run(
        ["git", "log", "--format=%s%n%an"], cwd=study, capture_output=True, text=True, check=True
    ).stdout
    assert "cistudy CI" in log  # the run committed its results with the CI identity


def test_github_workflow_steps_run_in_the_study_image(podman, ci_study, tmp_path):
    """Each `run` step of .github/workflows/ci.yml, in order, with podman for docker.

    The one `uses` step is actions/checkout: here the study folder is the checkout.
    """
    import yaml

    study = tmp_path / "cistudy"
    shutil.copytree(ci_study, study, symlinks=True)
    steps = yaml.safe_load((study / ".github/workflows/ci.yml").read_text())["jobs"]["study"]
    env = _ci_env(podman, "localhost/cistudy-gh:test")
    ran = []
    for step in steps["steps"]:
        if "uses" in step:
            assert step["uses"].startswith("actions/checkout@")
            continue
        proc = subprocess.run(
            ["bash", "-e", "-o", "pipefail", "-c", step["run"]],
            cwd=study, env=env, capture_output=True, text=True, timeout=1800,
        )  # fmt: skip
        out = f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
        assert proc.returncode == 0, f"{step['name']}:\n{out}"
        ran.append(step["name"])
    assert len(ran) == 5
    _ran_ok(study, 0)


def test_gitlab_ci_runs_with_gitlab_ci_local(podman, ci_study, gitlab_ci_local, tmp_path):
    """.gitlab-ci.yml run by gitlab-ci-local (npm).

    It checks the file as written against GitLab's schema, then runs the job's script
    lines in order with its shell executor, with podman standing in for docker. The job's
    docker image and its Docker-in-Docker service cannot be pulled here (no container
    registry), so for that run the `services` entry is taken out of a copy of the file.
    """
    import yaml

    install, prefix = gitlab_ci_local
    if install is None:
        pytest.fail("npm is needed for gitlab-ci-local (.ci/run installs it)")
    rc = install.wait(timeout=600)
    assert rc == 0, (prefix / "npm.log").read_text(errors="replace")[-3000:]
    study = tmp_path / "cistudy"
    shutil.copytree(ci_study, study, symlinks=True)
    env = _ci_env(podman, "localhost/cistudy-gl:test")
    tool = str(prefix / "node_modules/.bin/gitlab-ci-local")
    listed = subprocess.run(
        [tool, "--list"], cwd=study, env=env, capture_output=True, text=True, timeout=300
    )
    assert listed.returncode == 0, listed.stdout + listed.stderr
    assert "json schema validated" in listed.stderr + listed.stdout and "study" in listed.stdout
    config = yaml.safe_load((study / ".gitlab-ci.yml").read_text())
    assert config["study"].pop("services") == ["docker:28.5.1-dind"]
    (study / ".gitlab-ci.yml").write_text(yaml.safe_dump(config, sort_keys=False))
    variables = [arg for key in ("ENGINE", "IMAGE", "BUILD_ARGS", "RUN_ARGS",
                                 "CONTAINERS_CONF", "CONTAINERS_STORAGE_CONF")
                 for arg in ("--variable", f"{key}={env[key]}")]  # fmt: skip
    proc = subprocess.run(
        [tool, "--force-shell-executor", *variables, "study"],
        cwd=study, env=env, capture_output=True, text=True, timeout=1800,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert "PASS" in proc.stdout and "study" in proc.stdout
    _ran_ok(study, 0)


def _reproduce(study: Path, env: dict) -> subprocess.CompletedProcess:
    """nox -s reproduce, in this environment (it has the study's packages already)."""
    return subprocess.run(
        [sys.executable, "-m", "nox", "--no-venv", "-s", "reproduce", "--", "--first", "6"],
        cwd=study, env=env, capture_output=True, text=True, timeout=1800,
    )  # fmt: skip


def test_reproduce_says_same_then_names_a_difference(podman, ci_study, tmp_path):
    """nox -s reproduce: host and image agree; a func that reads a variable set only on the
    host makes it name the column and the first row that differ."""
    study = tmp_path / "cistudy"
    shutil.copytree(ci_study, study, symlinks=True)
    env = _ci_env(podman, "localhost/cistudy-rep:test")
    proc = _reproduce(study, env)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "same: 6 rows, 5 columns compared (exact)" in proc.stdout
    assert not (study / "calc").exists()  # neither run touched calc/
    assert (study / "calc.reproduce/host/database.pk").exists()
    source = (study / "input.py").read_text()
    ret = 'return {"amplitude": float(amplitude), "phase": float(phase)}'
    assert ret in source
    drifted = 'return {"amplitude": float(amplitude) * float(os.environ.get("GAIN", 1)), '
    drifted += '"phase": float(phase)}'
    (study / "input.py").write_text(source.replace(ret, drifted))
    proc = _reproduce(study, {**env, "GAIN": "1.5"})
    assert proc.returncode == 1, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "different: 6 values differ in column(s) 'amplitude'" in proc.stdout
    df = pd.read_pickle(study / "calc.reproduce/host/database.pk")
    assert f"row {df['_pset_sha1'].iloc[0]}: 'amplitude'" in proc.stdout
