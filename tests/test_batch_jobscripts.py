"""Tests of the scripts psweep writes around a machine's jobscript (psweep.batch.jobscripts).

A machine that submits one job per pset (``subcmd: sbatch`` without ``array: true``)
submits a wrapper of the jobscript that records how the job ended. These tests run
the submit scripts and wrappers for real with ``sh``; the ``sbatch`` they call is a
stand-in on PATH (:func:`stand_in_sbatch`), so that the logic is covered where SLURM
is absent (tests/test_slurm.py runs the same on the real single-node cluster).
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import time
from pathlib import Path

import pytest

import psweep as ps
from psweep.batch.jobscripts import submit_wrapper
from psweep.batch.machines import Machine
from psweep.batch.resubmit import main
from psweep.batch.states import read_job_record

# the job of a=1 writes its result and then exits 1, unless the file `flag` exists
RESULT_THEN_EXIT_PY = """\
import json, os, sys
with open("result.json", "w") as fh:
    json.dump({{"out": $a * 10}}, fh)
if $a == 1 and not os.path.exists({flag!r}):
    sys.exit(1)
"""

JOBSCRIPT = "#!/bin/sh\n#SBATCH -o out.job\n#SBATCH --time=00:05:00\npython3 run.py\n"


def stand_in_sbatch(root: Path, monkeypatch, *, wait: bool = False) -> None:
    """Put stand-ins for ``sbatch`` and ``squeue`` first on PATH (SLURM may be absent).

    The ``sbatch`` runs the script it gets as SLURM would, with SLURM_SUBMIT_DIR
    and SLURM_JOB_ID set, in the background (``wait``: to its end, so that the job
    ends before sbatch returns), and prints ``Submitted batch job <id>``. The
    ``squeue`` prints an empty queue: the tests ask only once the jobs ended.
    """
    folder = root / "bin"
    folder.mkdir(exist_ok=True)
    run = 'sh "$1" > /dev/null 2>&1' + ("" if wait else " &")
    (folder / "sbatch").write_text(
        "#!/bin/sh\n"
        'SLURM_SUBMIT_DIR=$PWD SLURM_JOB_ID="$$"; export SLURM_SUBMIT_DIR SLURM_JOB_ID\n'
        f"{run}\n"
        'echo "Submitted batch job $$"\n'
    )
    (folder / "squeue").write_text("#!/bin/sh\nexit 0\n")
    for name in ("sbatch", "squeue"):
        (folder / name).chmod(0o755)
    monkeypatch.setenv("PATH", f"{folder}{os.pathsep}{os.environ['PATH']}")


def make_study(root: Path, run_py: str, jobscript: str = JOBSCRIPT) -> None:
    (root / "templates/calc").mkdir(parents=True)
    (root / "templates/calc/run.py").write_text(run_py)
    mdir = root / "templates/machines/cluster"
    mdir.mkdir(parents=True)
    (mdir / "info.yaml").write_text("subcmd: sbatch\n")
    (mdir / "jobscript").write_text(jobscript)


def record_of(pset_id: str) -> dict:
    return read_job_record(f"calc/{pset_id}/.psweep-job_cluster") or {}


def wait_for_ends(ids: list[str], timeout_s: float = 30) -> None:
    """Wait until the job record of each pset says its job exited."""
    deadline = time.monotonic() + timeout_s
    while any(record_of(i).get("state") != "exited" for i in ids):
        assert time.monotonic() < deadline, [record_of(i) for i in ids]
        time.sleep(0.05)


def states_of(ids: list[str]) -> list[str]:
    got = ps.batch_states("calc", machine="cluster").set_index("_pset_id")
    return got.loc[ids, "state"].tolist()


@pytest.fixture
def study(tmp_path, monkeypatch):
    """Two psets of a machine submitting with sbatch: a=0 succeeds, a=1 writes its
    result and exits 1 (until the file ``fixed`` exists)."""
    path = tmp_path / "a study"  # a space in every path
    path.mkdir()
    monkeypatch.chdir(path)
    make_study(path, RESULT_THEN_EXIT_PY.format(flag=str(path / "fixed")))
    return path


def test_a_submitted_job_records_its_exit_code(study, monkeypatch, capsys):
    """A job submitted on its own records how it ended: the one that exits 1 after
    writing its result is failed, not done; resubmit's failed selection takes only it;
    collect_batch leaves its result out; once it succeeds, it is done."""
    stand_in_sbatch(study, monkeypatch)
    ids = ps.prep_batch(ps.plist("a", [0, 1])).index.tolist()
    subprocess.run(["sh", "calc/run_cluster.sh"], check=True, capture_output=True)
    wait_for_ends(ids)
    assert all(Path("calc", i, "result.json").exists() for i in ids)
    assert [record_of(i)["exit_code"] for i in ids] == ["0", "1"]
    assert all(record_of(i)["job_id"].isdigit() for i in ids)  # the stand-in's job id
    assert states_of(ids) == ["done", "failed"]
    assert Path("calc", ids[0], "out.job").exists() is False  # the stand-in reads no #SBATCH

    df = ps.collect_batch()
    assert df.loc[ids, "_batch_status"].tolist() == ["done", "failed"]
    assert df.loc[ids[0], "out"] == 0 and df["out"].isna().loc[ids[1]]

    assert main(["resubmit", "cluster", "--failed"]) == 0
    assert capsys.readouterr().out.splitlines()[0] == f"failed   {ids[1]}"
    lines = Path("calc/run_cluster.sh").read_text().splitlines()
    active = [ln.split(";")[0] for ln in lines if ln.startswith("cd ") and "; " in ln]
    assert active == [f"cd {ids[1]}"]

    (study / "fixed").write_text("")
    subprocess.run(["sh", "calc/run_cluster.sh"], check=True, capture_output=True)
    wait_for_ends(ids)
    assert record_of(ids[1])["exit_code"] == "0"  # the record of the new job, not the old
    assert states_of(ids) == ["done", "done"]
    df = ps.collect_batch()
    assert df.loc[ids, "_batch_status"].tolist() == ["done", "done"]
    assert df.loc[ids, "out"].tolist() == [0, 10]
    assert main(["resubmit", "cluster"]) == 1


def test_a_job_that_ends_before_sbatch_returns_keeps_its_record(study, monkeypatch):
    """A job may start and end before the submit command returns: the record it wrote
    stays, psweep_record does not overwrite it with ``submitted``. The stand-in sbatch
    runs each job to its end before it returns."""
    stand_in_sbatch(study, monkeypatch, wait=True)
    ids = ps.prep_batch(ps.plist("a", [0, 1])).index.tolist()
    subprocess.run(["sh", "calc/run_cluster.sh"], check=True, capture_output=True)
    assert [(record_of(i)["state"], record_of(i)["exit_code"]) for i in ids] == [
        ("exited", "0"),
        ("exited", "1"),
    ]
    assert states_of(ids) == ["done", "failed"]


def test_a_refused_job_is_rejected(study, monkeypatch):
    """A job the submit command refuses leaves the record ``rejected`` (failed), also
    where an earlier job of the pset left one."""
    ids = ps.prep_batch(ps.plist("a", [0])).index.tolist()
    Path("calc", ids[0], ".psweep-job_cluster").write_text("state=exited\nexit_code=0\n")
    folder = study / "bin"
    folder.mkdir()
    refuse = "#!/bin/sh\necho 'sbatch: error: invalid partition' >&2\nexit 1\n"
    (folder / "sbatch").write_text(refuse)
    (folder / "sbatch").chmod(0o755)
    monkeypatch.setenv("PATH", f"{folder}{os.pathsep}{os.environ['PATH']}")
    subprocess.run(["sh", "calc/run_cluster.sh"], check=True, capture_output=True)
    assert (record_of(ids[0])["state"], record_of(ids[0])["exit_code"]) == ("rejected", "1")
    assert ps.batch_states("calc", squeue=False)["state"].tolist() == ["failed"]


def test_the_wrapper_runs_the_jobscript_with_its_interpreter(tmp_path, monkeypatch):
    """The wrapper carries the jobscript's leading comment lines (the directives) but
    not its commands, and runs it with the program of its ``#!`` line, as the
    scheduler would: a bash script keeps bash."""
    monkeypatch.chdir(tmp_path)
    jobscript = (
        "#!/bin/bash\n#SBATCH --time=1\n\n  #SBATCH -o out.job\n"
        'if [[ "$$BASH_VERSION" ]]; then echo bash > shell.txt; fi\n'
        "#SBATCH --not-a-directive\n"
    )
    make_study(tmp_path, "print($a)\n", jobscript)
    (pset_id,) = ps.prep_batch(ps.plist("a", [0])).index
    wrapper = Path("calc", pset_id, ".psweep-submit_cluster.sh").read_text()
    lines = wrapper.splitlines()
    assert lines[:3] == ["#!/bin/sh", "#SBATCH --time=1", "  #SBATCH -o out.job"]
    assert "--not-a-directive" not in wrapper and "BASH_VERSION" not in wrapper
    assert '$reset /bin/bash "$pset_dir"/jobscript_cluster &' in lines
    folder = tmp_path / "calc" / pset_id
    env = dict(os.environ, SLURM_SUBMIT_DIR=str(folder), SLURM_JOB_ID="5")
    subprocess.run(["sh", ".psweep-submit_cluster.sh"], cwd=folder, env=env, check=True)
    assert Path("calc", pset_id, "shell.txt").read_text() == "bash\n"
    assert (record_of(pset_id)["state"], record_of(pset_id)["job_id"]) == ("exited", "5")


@pytest.mark.parametrize(
    ("first", "run"),
    [
        ("#!/usr/bin/env python3", 'python3 "$pset_dir"/jobscript_m &'),
        ("#! /bin/sh -e", '/bin/sh -e "$pset_dir"/jobscript_m &'),
        ("echo no interpreter line", 'sh "$pset_dir"/jobscript_m &'),
    ],
)
def test_the_wrapper_reads_the_interpreter_line_as_the_kernel_does(tmp_path, first, run):
    """The program of the ``#!`` line and at most one argument; no such line: sh."""
    mdir = tmp_path / "m"
    mdir.mkdir()
    (mdir / "info.yaml").write_text("subcmd: sbatch\n")
    (mdir / "jobscript").write_text("\n")
    lines = submit_wrapper(Machine(mdir), f"{first}\necho hi\n").splitlines()
    if run.startswith("python3"):
        run = '/usr/bin/env python3 "$pset_dir"/jobscript_m &'
    assert f"$reset {run}" in lines


def test_resubmit_updates_a_script_of_an_earlier_psweep(study, monkeypatch):
    """A resubmit of psets prepared by an earlier psweep (their jobs submitted as the
    jobscript, a psweep_record that overwrites the job's record) writes their wrappers
    and the current psweep_record, once."""
    ids = ps.prep_batch(ps.plist("a", [0, 1])).index.tolist()
    script = Path("calc/run_cluster.sh")
    old = script.read_text().replace(
        'rm -f .psweep-job_cluster; sbatch "$PWD"/.psweep-submit_cluster.sh',
        "sbatch jobscript_cluster",
    )
    old = old.replace("(set -C; printf", "printf").replace(") 2>/dev/null", "")
    script.write_text(old)
    for i in ids:
        Path("calc", i, ".psweep-submit_cluster.sh").unlink()
        Path("calc", i, ".psweep-job_cluster").write_text("state=exited\nexit_code=2\n")
    assert ps.resubmit_batch("cluster", squeue=False)["_pset_id"].tolist() == ids
    text = script.read_text()
    assert text.count("psweep_record() {") == 1 and "(set -C; printf" in text
    assert all(Path("calc", i, ".psweep-submit_cluster.sh").exists() for i in ids)
    stand_in_sbatch(study, monkeypatch, wait=True)
    subprocess.run(["sh", str(script)], check=True, capture_output=True)
    assert [record_of(i)["exit_code"] for i in ids] == ["0", "1"]


def test_sh_and_array_machines_get_no_wrapper(tmp_path, monkeypatch):
    """Only a machine that submits one job per pset gets wrappers: ``sh`` runs the
    jobscript itself and an array's tasks run it through the array driver."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "templates/calc").mkdir(parents=True)
    (tmp_path / "templates/calc/run.py").write_text("print($a)\n")
    for name, info in (("local", "subcmd: sh\n"), ("arrays", "subcmd: sbatch\narray: true\n")):
        mdir = tmp_path / "templates/machines" / name
        mdir.mkdir(parents=True)
        (mdir / "info.yaml").write_text(info)
        (mdir / "jobscript").write_text(JOBSCRIPT)
    (pset_id,) = ps.prep_batch(ps.plist("a", [0])).index
    assert not list(Path("calc", pset_id).glob(".psweep-submit_*"))
    assert json.loads(Path("calc", pset_id, "pset.json").read_text())["a"] == 0


@pytest.mark.parametrize(
    ("subcmd", "lines", "names"),
    [
        ("sbatch", ["#SBATCH --time 00:05:00"], ["#SBATCH --job-name=jobscript_m"]),
        ("sbatch", [], ["#SBATCH --job-name=jobscript_m"]),
        ("sbatch", ["#SBATCH -J mine"], ["#SBATCH -J mine"]),
        ("sbatch", ["#SBATCH -Jmine"], ["#SBATCH -Jmine"]),
        ("sbatch", ["#SBATCH --job-name=mine"], ["#SBATCH --job-name=mine"]),
        ("sbatch", ["#SBATCH --job-name mine"], ["#SBATCH --job-name mine"]),
        ("sbatch", ["#SBATCH --job=mine"], ["#SBATCH --job=mine"]),
        ("sbatch", ["#SBATCH --job-n mine"], ["#SBATCH --job-n mine"]),
        ("sbatch", ["#SBATCH --job-nam=mine"], ["#SBATCH --job-nam=mine"]),
        ("sbatch", ["#SBATCH --comment=--job=x"], ["#SBATCH --job-name=jobscript_m"]),
        ("qsub", ["#PBS -l walltime=1:00:00"], []),
    ],
)
def test_the_wrapper_keeps_the_jobscripts_name_in_squeue(tmp_path, subcmd, lines, names):
    """SLURM names a job after the script it gets: the wrapper of a jobscript without a job
    name names the job after the jobscript (as before the wrapper); a jobscript's own name
    (-J, -Jx, --job-name or a prefix of it that sbatch takes, --job, --job-n, ...) stays the
    only one, and other schedulers get no #SBATCH line."""
    mdir = tmp_path / "m"
    mdir.mkdir()
    (mdir / "info.yaml").write_text(f"subcmd: {subcmd}\n")
    (mdir / "jobscript").write_text("\n")
    text = submit_wrapper(Machine(mdir), "\n".join(["#!/bin/sh", *lines, "echo hi", ""]))
    named = [ln for ln in text.splitlines() if ln.startswith(("#SBATCH -J", "#SBATCH --job"))]
    assert named == names


@pytest.mark.parametrize(
    ("first", "run"),
    [("#!/bin/bash", "/bin/bash jobscript_m &"), ("#SBATCH -J x", "sh jobscript_m &")],
)
def test_array_tasks_run_the_jobscript_with_its_interpreter(tmp_path, first, run):
    """An array task runs each pset's jobscript with the interpreter of the #! line of
    the machine's jobscript template (bash-only syntax works where sh is dash)."""
    from psweep.batch.jobscripts import array_driver

    mdir = tmp_path / "m"
    mdir.mkdir()
    (mdir / "info.yaml").write_text("subcmd: sbatch\narray: true\n")
    (mdir / "jobscript").write_text(f"{first}\necho hi\n")
    assert f"$reset {run}" in array_driver(Machine(mdir)).splitlines()


def wrapped_pset(root: Path, jobscript: str) -> tuple[Path, dict]:
    """The folder of one pset of a machine that submits with sbatch, and the environment
    its submit wrapper gets from SLURM (the submit dir, a job id)."""
    make_study(root, "print($a)\n", jobscript)
    (pset_id,) = ps.prep_batch(ps.plist("a", [0])).index
    folder = root / "calc" / pset_id
    return folder, dict(os.environ, SLURM_SUBMIT_DIR=str(folder), SLURM_JOB_ID="7")


def wait_for(path: Path, timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while not path.exists():
        assert time.monotonic() < deadline, f"no {path}"
        time.sleep(0.05)


@pytest.mark.parametrize("signal", ["USR1", "USR2", "HUP", "INT"])
def test_the_wrapper_passes_signals_on_to_the_jobscript(tmp_path, monkeypatch, signal):
    """SLURM sends the signal of ``#SBATCH --signal=B:<sig>@<t>`` (and ``scancel -b``) to
    the batch shell alone, the wrapper: it passes it on to the jobscript, whose own trap
    runs, and records the jobscript's own exit code when it ends, not the signal's."""
    monkeypatch.chdir(tmp_path)
    jobscript = (
        "#!/bin/sh\n"
        f"trap 'echo caught > trapped.txt; exit 0' {signal}\n"
        "touch started.txt\n"
        "i=0; while [ $$i -lt 300 ]; do sleep 0.1; i=$$((i + 1)); done\n"
        "exit 3\n"
    )
    folder, env = wrapped_pset(tmp_path, jobscript)
    wrapper = subprocess.Popen(["sh", ".psweep-submit_cluster.sh"], cwd=folder, env=env)
    try:
        wait_for(folder / "started.txt")
        subprocess.run(["kill", "-s", signal, str(wrapper.pid)], check=True)
        assert wrapper.wait(timeout=30) == 0
    finally:
        wrapper.kill()
    assert (folder / "trapped.txt").read_text() == "caught\n"
    record = read_job_record(str(folder / ".psweep-job_cluster")) or {}
    assert (record["state"], record["exit_code"], record["job_id"]) == ("exited", "0", "7")


def test_every_record_says_when_the_job_started(tmp_path, monkeypatch):
    """Each record the job writes (running, exited; cancelled on SIGTERM) carries the same
    ``started``: the epoch second the job started, before its first record."""
    monkeypatch.chdir(tmp_path)
    jobscript = "#!/bin/sh\ntouch started.txt\nwhile [ ! -e go ]; do sleep 0.05; done\n"
    folder, env = wrapped_pset(tmp_path, jobscript)
    path = str(folder / ".psweep-job_cluster")
    for end, state in (("go", "exited"), ("TERM", "cancelled")):
        (folder / "go").unlink(missing_ok=True)
        (folder / "started.txt").unlink(missing_ok=True)
        before = int(time.time())
        wrapper = subprocess.Popen(["sh", ".psweep-submit_cluster.sh"], cwd=folder, env=env)
        try:
            wait_for(folder / "started.txt")
            running = read_job_record(path) or {}
            if end == "go":
                (folder / "go").write_text("")
            else:
                wrapper.terminate()
            wrapper.wait(timeout=30)
        finally:
            wrapper.kill()
            (folder / "go").write_text("")  # the jobscript ends where TERM left it running
        ended = read_job_record(path) or {}
        assert (running["state"], ended["state"]) == ("running", state)
        assert before <= int(running["started"]) <= int(ended["time"])
        assert ended["started"] == running["started"]


def test_squeue_finds_a_job_that_runs_elsewhere(study, monkeypatch):
    """A jobscript with ``#SBATCH --chdir=<elsewhere>`` makes squeue report that folder as
    the job's working directory: the submit script gives sbatch the wrapper's absolute path,
    so that batch_states still knows the queued job as the pset's (not missing). The
    stand-in sbatch queues the job (runs nothing), the stand-in squeue lists it as SLURM
    does: the command as sbatch got it, the working directory of --chdir."""
    ids = ps.prep_batch(ps.plist("a", [0, 1])).index.tolist()
    folder = study / "bin"
    folder.mkdir()
    queue = study / "queue"
    (folder / "sbatch").write_text(
        f"#!/bin/sh\nn=$(($(wc -l < {shlex.quote(str(queue))}) + 1))\n"
        f'echo "$n|N/A|PENDING|/elsewhere|$1" >> {shlex.quote(str(queue))}\n'
        'echo "Submitted batch job $n"\n'
    )
    (folder / "squeue").write_text(f"#!/bin/sh\ncat {shlex.quote(str(queue))}\n")
    for name in ("sbatch", "squeue"):
        (folder / name).chmod(0o755)
    monkeypatch.setenv("PATH", f"{folder}{os.pathsep}{os.environ['PATH']}")
    queue.write_text("")
    subprocess.run(["sh", "calc/run_cluster.sh"], check=True, capture_output=True)
    assert queue.read_text().splitlines()[0].endswith(f"/calc/{ids[0]}/.psweep-submit_cluster.sh")
    got = ps.batch_states("calc", machine="cluster").set_index("_pset_id")
    assert got.loc[ids, "state"].tolist() == ["pending", "pending"]
    assert got.loc[ids, "job_id"].tolist() == ["1", "2"]
