"""End-to-end batch runs on a real single-node SLURM cluster.

CI starts the cluster with ``scripts/slurm-local.sh``; elsewhere these tests
are skipped with the reason (no sbatch, or no answering cluster).
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from slurm_utils import requires_slurm, wait_for_jobs

import psweep as ps

pytestmark = requires_slurm

RUN_PY = """\
import json, os
with open("result.json", "w") as fh:
    json.dump({"out": $a * 10, "host": os.uname().nodename,
               "task": os.environ.get("SLURM_ARRAY_TASK_ID")}, fh)
"""

JOBSCRIPT = """\
#!/bin/sh
#SBATCH -o out.job
#SBATCH -J psweep_test_${_pset_seq}
#SBATCH --time 00:05:00
echo "job $$SLURM_JOB_ID for pset ${_pset_id}"
python3 run.py
"""


def make_templates(root: Path, info: str) -> None:
    (root / "templates/calc").mkdir(parents=True)
    (root / "templates/calc/run.py").write_text(RUN_PY)
    mdir = root / "templates/machines/cluster"
    mdir.mkdir(parents=True)
    (mdir / "info.yaml").write_text(info)
    (mdir / "jobscript").write_text(JOBSCRIPT)


def submit(script: Path) -> list[str]:
    """Run a submit script and return the ids of the jobs it submitted."""
    proc = subprocess.run(["sh", str(script)], capture_output=True, text=True, check=True)
    ids = re.findall(r"Submitted batch job (\d+)", proc.stdout)
    assert ids, proc.stdout + proc.stderr
    return ids


@pytest.fixture
def study(tmp_path, monkeypatch):
    path = tmp_path / "slurm study"  # a space in every path
    path.mkdir()
    monkeypatch.chdir(path)
    return path


def test_one_job_per_pset(study):
    """It submits one sbatch job per pset and collects every result."""
    make_templates(study, "subcmd: sbatch\n")
    df = ps.prep_batch(ps.plist("a", [1, 2, 3]))
    jobs = submit(study / "calc/run_cluster.sh")
    assert len(jobs) == 3
    wait_for_jobs(jobs)
    for pset_id in df.index:
        out = (study / "calc" / pset_id / "out.job").read_text()
        assert f"for pset {pset_id}" in out
    df = ps.collect_batch()
    assert df["_batch_status"].tolist() == ["done"] * 3
    assert df["out"].tolist() == [10, 20, 30]


def test_extension_submits_only_new_psets(study):
    """It runs only the new psets' jobs when the study is extended."""
    make_templates(study, "subcmd: sbatch\n")
    df1 = ps.prep_batch(ps.plist("a", [1, 2]))
    wait_for_jobs(submit(study / "calc/run_cluster.sh"))
    first_out = {p: (study / "calc" / p / "out.job").stat().st_mtime_ns for p in df1.index}
    df2 = ps.prep_batch(ps.plist("a", [3, 4]))
    jobs = submit(study / "calc/run_cluster.sh")
    assert len(jobs) == 2
    wait_for_jobs(jobs)
    for pset_id, mtime in first_out.items():
        assert (study / "calc" / pset_id / "out.job").stat().st_mtime_ns == mtime
    df = ps.collect_batch()
    assert (df["_batch_status"] == "done").all()
    assert sorted(df["out"]) == [10, 20, 30, 40]
    assert len(df2) == 4


def test_job_arrays_split_by_max_array_size(study):
    """It submits new psets as throttled job arrays split at the site's MaxArraySize."""
    site = ps.batch._site_max_array_size()
    assert site is not None, "scontrol show config gave no MaxArraySize"
    make_templates(study, "subcmd: sbatch\narray: true\narray_throttle: 2\n")
    n = 2 * site + 1
    df = ps.prep_batch(ps.plist("a", range(n)))
    script = (study / "calc/run_cluster.sh").read_text()
    array_lines = [ln for ln in script.splitlines() if ln.startswith("sbatch --array")]
    assert len(array_lines) == 3
    assert f"--array=0-{site - 1}%2 " in array_lines[0]
    assert "--array=0-0%2 " in array_lines[2]
    jobs = submit(study / "calc/run_cluster.sh")
    assert len(jobs) == 3  # a handful of sbatch calls, not n
    wait_for_jobs(jobs)
    df = ps.collect_batch()
    assert (df["_batch_status"] == "done").all(), df["_batch_status"].value_counts()
    assert sorted(df["out"]) == [10 * a for a in range(n)]
    assert set(df["task"].astype(int)) == set(range(site))


def test_job_arrays_smaller_than_site_limit(study):
    """It splits at max_array_size from info.yaml when that is below the site's limit."""
    make_templates(study, "subcmd: sbatch\narray: true\nmax_array_size: 2\n")
    ps.prep_batch(ps.plist("a", range(5)))
    jobs = submit(study / "calc/run_cluster.sh")
    assert len(jobs) == 3
    wait_for_jobs(jobs)
    assert (ps.collect_batch()["_batch_status"] == "done").all()


RESULT_THEN_EXIT_PY = """\
import json, os, sys, time
with open("result.json", "w") as fh:
    json.dump({{"out": $a * 10}}, fh)
if $a == 1 and not os.path.exists({flag!r}):
    sys.exit(1)  # after writing its result
if $a == 2 and not os.path.exists({flag!r}):
    time.sleep(600)  # until scancel
"""


def test_one_job_per_pset_records_how_it_ended(study):
    """A job submitted on its own (sbatch, no array) records its exit code: the one that
    writes its result and then exits 1 is failed, the one cancelled while it runs (which
    squeue lists as running until then) is failed (cancelled), the one that exits 0 done.
    resubmit's failed selection takes just the two, collect_batch does not take their
    results, and once they succeed they are done."""
    flag = study / "fixed"
    make_templates(study, "subcmd: sbatch\n")
    (study / "templates/calc/run.py").write_text(RESULT_THEN_EXIT_PY.format(flag=str(flag)))
    ids = ps.prep_batch(ps.plist("a", [0, 1, 2])).index.tolist()
    jobs = submit(study / "calc/run_cluster.sh")
    record = study / "calc" / ids[2] / ".psweep-job_cluster"
    try:
        deadline = time.monotonic() + 120
        while not (study / "calc" / ids[2] / "result.json").exists():  # it sleeps now
            assert time.monotonic() < deadline, "the job of a=2 did not start"
            time.sleep(0.2)
        assert "state=running" in record.read_text()
        running = ps.batch.batch_states(machine="cluster").set_index("_pset_id").loc[ids[2]]
        assert (running["state"], running["job_id"]) == ("running", jobs[2])  # squeue knows it
    finally:
        subprocess.run(["scancel", jobs[2]], check=True)
    wait_for_jobs(jobs)
    got = ps.batch.batch_states(machine="cluster").set_index("_pset_id")
    assert got.loc[ids, "state"].tolist() == ["done", "failed", "failed"]
    assert got.loc[ids, "exit_code"].tolist() == [0, 1, 143]
    assert got.loc[ids, "job_id"].tolist() == jobs
    assert "state=cancelled" in record.read_text()
    for pset_id in ids:  # the #SBATCH lines of the jobscript count
        assert f"for pset {pset_id}" in (study / "calc" / pset_id / "out.job").read_text()
    df = ps.collect_batch()
    assert df.loc[ids, "_batch_status"].tolist() == ["done", "failed", "failed"]
    assert df.loc[ids[0], "out"] == 0 and df.loc[ids[1:], "out"].isna().all()

    flag.write_text("")
    proc = subprocess.run(
        [sys.executable, "-m", "psweep", "batch", "resubmit", "cluster", "--failed"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert proc.stdout.splitlines()[:2] == [f"failed   {ids[1]}", f"failed   {ids[2]}"]
    wait_for_jobs(submit(study / "calc/run_cluster.sh"))
    got = ps.batch.batch_states(machine="cluster").set_index("_pset_id")
    assert got.loc[ids, "state"].tolist() == ["done"] * 3
    df = ps.collect_batch()
    assert df.loc[ids, "out"].tolist() == [0, 10, 20]


def test_dask_slurmcluster(study, tmp_path):
    """It runs psets on dask workers that start as SLURM jobs (dask_jobqueue)."""
    jobqueue = pytest.importorskip("dask_jobqueue")
    distributed = pytest.importorskip("distributed")
    logs = tmp_path / "dask_logs"  # dask-jobqueue writes it unquoted into #SBATCH lines
    cluster = jobqueue.SLURMCluster(
        cores=1,
        processes=1,
        memory="1GB",
        walltime="00:10:00",
        python=sys.executable,
        scheduler_options={"host": "127.0.0.1"},
        interface="lo",
        log_directory=str(logs),
        local_directory=str(tmp_path),
    )
    try:
        assert "#SBATCH" in cluster.job_script()
        cluster.scale(jobs=2)
        with distributed.Client(cluster) as client:
            client.wait_for_workers(2, timeout=120)
            # a lambda travels by value; a function of this test module would not
            # be importable on the workers
            square = lambda pset: {"sq": pset["a"] ** 2}  # noqa: E731
            df = ps.run_local(square, ps.plist("a", range(40)), dask_client=client)
            workers = client.scheduler_info()["workers"]
        assert df["sq"].tolist() == [a**2 for a in range(40)]
        assert len(workers) == 2
        assert any(logs.iterdir())  # the SLURM jobs wrote their worker logs
    finally:
        cluster.close()


def test_a_job_that_runs_elsewhere_is_queued_not_missing(study, tmp_path):
    """A jobscript with ``#SBATCH --chdir=<elsewhere>`` runs its job in that folder, which
    squeue reports as the job's working directory: batch_states still finds the pending or
    running job of each pset (it is not missing, a resubmit would not submit it twice)."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    flag = tmp_path / "go"
    make_templates(study, "subcmd: sbatch\n")
    (study / "templates/machines/cluster/jobscript").write_text(
        f"#!/bin/sh\n#SBATCH --chdir={elsewhere}\n#SBATCH --time 00:05:00\n"
        f"touch started_${{_pset_seq}}\nwhile [ ! -e {flag} ]; do sleep 0.2; done\n"
    )
    ids = ps.prep_batch(ps.plist("a", [0])).index.tolist()
    jobs = submit(study / "calc/run_cluster.sh")
    try:
        deadline = time.monotonic() + 120
        while not (elsewhere / "started_0").exists():
            assert time.monotonic() < deadline, "the job did not start"
            time.sleep(0.2)
        got = ps.batch.batch_states(machine="cluster").set_index("_pset_id").loc[ids[0]]
        assert (got["state"], got["job_id"]) == ("running", jobs[0])
    finally:
        flag.write_text("")
        wait_for_jobs(jobs)
    record = ps.batch.batch_states(machine="cluster").set_index("_pset_id").loc[ids[0]]
    assert (record["state"], record["exit_code"]) == ("missing", 0)  # it wrote no result


def test_a_signal_to_the_batch_shell_reaches_the_jobscript(study):
    """``#SBATCH --signal=B:USR1@<t>`` and ``scancel -b -s USR1`` signal the job's batch
    shell alone, the submit wrapper: the jobscript's own trap runs, and the job records
    the jobscript's exit code (0), not a death by USR1."""
    make_templates(study, "subcmd: sbatch\n")
    (study / "templates/machines/cluster/jobscript").write_text(
        "#!/bin/sh\n#SBATCH --time 00:05:00\n#SBATCH --signal=B:USR1@60\n"
        "trap 'echo caught > trapped.txt; exit 0' USR1\n"
        "touch started.txt\ni=0; while [ $$i -lt 600 ]; do sleep 0.2; i=$$((i + 1)); done\n"
    )
    ids = ps.prep_batch(ps.plist("a", [0])).index.tolist()
    folder = study / "calc" / ids[0]
    jobs = submit(study / "calc/run_cluster.sh")
    try:
        deadline = time.monotonic() + 120
        while not (folder / "started.txt").exists():
            assert time.monotonic() < deadline, "the job did not start"
            time.sleep(0.2)
        subprocess.run(["scancel", "-b", "-s", "USR1", jobs[0]], check=True)
        wait_for_jobs(jobs)
    finally:
        subprocess.run(["scancel", jobs[0]], check=False)
    assert (folder / "trapped.txt").read_text() == "caught\n"
    text = (folder / ".psweep-job_cluster").read_text()
    assert "state=exited\nexit_code=0\n" in text
