"""A study made by ``psweep new`` reruns in its own container (about 80 s).

Real podman with runc, private storage in tmp_path, a Debian base image made
with debootstrap (no container registry is reachable here) and an offline
build from a wheelhouse, as the study's README and wheels/README.md describe.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]
TOOLS = ("podman", "runc", "debootstrap")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        any(shutil.which(t) is None for t in TOOLS) or os.geteuid() != 0,
        reason=f"needs root and {', '.join(TOOLS)}",
    ),
    pytest.mark.skipif(
        sys.version_info[:2] != (3, 11),
        reason="the wheelhouse is built here for the base image's Python, Debian 12's 3.11",
    ),
]


def run(args, cwd, env) -> subprocess.CompletedProcess:
    args = [str(a) for a in args]
    proc = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        pytest.fail(f"{args} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc


@pytest.fixture
def podman_env(tmp_path):
    """podman with runc and storage of its own in tmp_path, reset afterwards."""
    conf = tmp_path / "podman"
    conf.mkdir()
    (conf / "containers.conf").write_text(
        '[engine]\nruntime = "runc"\n[containers]\n'
        'default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]\n'
    )
    graph = conf / "graph"
    (conf / "storage.conf").write_text(
        f'[storage]\ndriver = "overlay"\ngraphroot = "{graph}"\nrunroot = "{conf / "run"}"\n'
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(
        CONTAINERS_CONF=str(conf / "containers.conf"),
        CONTAINERS_STORAGE_CONF=str(conf / "storage.conf"),
        GIT_AUTHOR_NAME="Test Author",
        GIT_AUTHOR_EMAIL="author@test.invalid",
        GIT_COMMITTER_NAME="Test Author",
        GIT_COMMITTER_EMAIL="author@test.invalid",
    )
    yield env
    subprocess.run(["podman", "system", "reset", "-f"], env=env, capture_output=True, check=False)
    subprocess.run(["umount", str(graph / "overlay")], capture_output=True, check=False)


def test_study_reruns_in_its_container(tmp_path, podman_env):
    """The study's Dockerfile builds offline from wheels/; input.py and eval.py run on /study."""
    env = podman_env
    study = tmp_path / "study"
    run(
        [
            sys.executable,
            "-c",
            "from psweep.study import main; main()",
            "new",
            study,
            "--defaults",
            "--data",
            f"psweep_requirement=psweep @ {ROOT.as_uri()}",
        ],
        tmp_path,
        env,
    )
    pip_wheel = [sys.executable, "-m", "pip", "wheel", "-q", "-w", "wheels"]
    run([*pip_wheel, "-r", "requirements.txt"], study, env)

    rootfs = tmp_path / "rootfs"
    run(
        [
            "debootstrap",
            "--variant=minbase",
            "--include=python3,python3-venv,git,ca-certificates",
            "bookworm",
            rootfs,
        ],
        tmp_path,
        env,
    )
    tar = subprocess.Popen(["tar", "-C", str(rootfs), "-c", "."], stdout=subprocess.PIPE)
    imported = subprocess.run(
        ["podman", "import", "-", "localhost/psweep-study-base"],
        stdin=tar.stdout,
        env=env,
        capture_output=True,
        check=False,
    )
    tar.wait()
    assert imported.returncode == 0, imported.stderr
    shutil.rmtree(rootfs)

    image = "localhost/psweep-study"
    run(
        [
            "podman",
            "build",
            "--network=none",
            "--build-arg",
            "BASE=localhost/psweep-study-base",
            "-t",
            image,
            ".",
        ],
        study,
        env,
    )
    # the commits made in the container use the study's own identity
    run(["git", "config", "user.name", "In Container"], study, env)
    run(["git", "config", "user.email", "container@test.invalid"], study, env)
    podman_run = ["podman", "run", "--rm", "--user", "0:0", "-v", f"{study}:/study", image]
    run(podman_run, study, env)
    run([*podman_run, "python", "eval.py"], study, env)

    df = pd.read_pickle(study / "calc" / "database.pk")
    assert len(df) == 24
    assert (study / "results" / "overview.png").read_bytes()[:4] == b"\x89PNG"
    log = run(["git", "log", "--format=%an %s"], study, env).stdout.splitlines()
    assert log[0] == f"In Container psweep: study: run_id={df['_run_id'].iloc[0]}"
    version = run(["podman", "run", "--rm", image, "python", "--version"], study, env).stdout
    assert version.startswith("Python 3.11")
