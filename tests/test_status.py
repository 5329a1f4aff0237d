"""psweep status and df_runs, seen from another process while a study runs, crashes, ends."""

from __future__ import annotations

import json
import logging
import os
import re
import shlex
import signal
import subprocess
import sys
import textwrap
import time

import pytest

import psweep as ps
from psweep.lifecycle.journal import journal_root, read_journal_dir

DRIVER = textwrap.dedent(
    """
    import sys, time
    import psweep as ps

    def func(pset):
        time.sleep(float(sys.argv[2]))
        if pset["a"] % 10 == 3:
            raise ValueError(f"bad a={pset['a']}")
        return {"r": pset["a"]}

    if __name__ == "__main__":
        pool = None if sys.argv[1] == "serial" else 2
        n = int(sys.argv[3])
        ps.run_local(func, ps.plist("a", range(n)), poolsize=pool, on_error="record",
                     progress=False)
    """
)


@pytest.fixture
def study(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "driver.py").write_text(DRIVER)
    return tmp_path


def start(mode: str, sleep: float, n: int) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "driver.py", mode, str(sleep), str(n)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def running_run(deadline_s: float = 60.0, at_least: int = 1) -> dict:
    """Poll status until a running run has done `at_least` psets."""
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        runs = [r for r in ps.status("calc")["runs"] if r["state"] == "running"]
        if runs and (runs[0]["n_done"] or 0) >= at_least:
            return runs[0]
        time.sleep(0.05)
    raise AssertionError(f"no running run with {at_least} psets done: {ps.status('calc')}")


@pytest.mark.parametrize("mode", ["serial", "pool"])
def test_status_follows_a_running_study(study, mode):
    """From another process: counts move, rate and ETA are there, the end is 'finished'."""
    proc = start(mode, 0.05, 40)
    try:
        first = running_run(at_least=2)
        later = running_run(at_least=first["n_done"] + 4)
        assert later["n_done"] > first["n_done"]
        assert later["n_planned"] == 40
        assert later["n_left"] == 40 - later["n_done"]
        assert later["rate_per_s"] > 0 and later["eta_s"] > 0
        assert later["pid"] == proc.pid
        # the psets with a = 3, 13, 23, 33 fail; which of them is the last one so far
        # depends on how long a status read takes on a busy machine
        assert later["n_failed"] >= 1
        assert re.fullmatch(r"ValueError: bad a=[0-3]?3", later["last_error"])
    finally:
        _out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    (run,) = ps.status("calc")["runs"]
    assert run["state"] == "finished"
    assert (run["n_done"], run["n_failed"], run["n_left"]) == (40, 4, 0)
    assert run["eta_s"] is None and run["last_error"].startswith("ValueError: bad a=")
    # the failure summary, off a terminal and without progress bar: one warning on stderr
    assert err.count("4 of 40 psets failed") == 1, err
    assert "skip_dups=True" in err and "ValueError: bad a=3" in err


@pytest.mark.parametrize("mode", ["serial", "pool"])
def test_a_killed_run_shows_as_crashed_before_recovery(study, mode):
    proc = start(mode, 0.05, 1000)
    running_run(at_least=5)
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=60)
    time.sleep(0.3)  # pool workers notice their parent is gone and write what they hold
    (run,) = ps.status("calc")["runs"]
    assert run["state"] == "crashed"
    (run_dir,) = [os.path.join(journal_root("calc"), d) for d in os.listdir(journal_root("calc"))]
    _, rows = read_journal_dir(run_dir)
    journaled = len({row[0] for row in rows})
    assert run["n_done"] == journaled >= 5
    assert run["eta_s"] is None
    runs = ps.df_runs("calc")
    assert runs.loc[run["run_id"], "status"] == "crashed"
    assert runs.loc[run["run_id"], "n_psets"] == journaled
    assert not os.path.exists("calc/database.pk") or len(ps.df_read("calc/database.pk")) == 0
    ps.recover("calc")
    (after,) = ps.status("calc")["runs"]
    assert (after["state"], after["n_done"]) == ("interrupted", journaled)
    assert ps.df_runs("calc").loc[run["run_id"], "status"] == "interrupted"


def test_status_command_text_json_and_errors(study):
    proc = start("serial", 0.0, 12)
    proc.communicate(timeout=120)
    text = subprocess.run(
        [sys.executable, "-m", "psweep", "status"], capture_output=True, text=True, check=True
    ).stdout
    assert "finished" in text and "ValueError: bad a=3" in text
    data = json.loads(
        subprocess.run(
            [sys.executable, "-m", "psweep", "status", "calc", "--json"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    )
    assert data["runs"][0]["n_done"] == 12 and data["runs"][0]["n_failed"] == 1
    bad = subprocess.run(
        [sys.executable, "-m", "psweep", "status", "nowhere"], capture_output=True, text=True
    )
    assert bad.returncode == 2 and "'nowhere' is not a directory" in bad.stderr


def test_watch_refreshes_until_interrupted(study):
    """--watch may start before the run has made calc/; it waits, refreshes, ends on Ctrl-C."""
    watch = subprocess.Popen(
        [sys.executable, "-m", "psweep", "status", "--watch", "0.2"],
        stdout=subprocess.PIPE,
        text=True,
    )
    first = watch.stdout.readline()
    assert "no such directory yet" in first, first
    proc = start("serial", 0.02, 100)
    seen = 0
    while seen < 3:  # three refreshes, then Ctrl-C
        line = watch.stdout.readline()
        assert line, "psweep status --watch ended by itself"
        seen += line.startswith("psweep status of calc at ")
    watch.send_signal(signal.SIGINT)
    watch.communicate(timeout=30)
    proc.communicate(timeout=120)
    assert watch.returncode == 0


def test_a_run_stopped_by_an_exception_is_failed_with_its_error(study):
    def boom(pset):
        if pset["a"] == 2:
            raise KeyError("missing input")
        return {}

    with pytest.raises(KeyError):
        ps.run_local(boom, ps.plist("a", [1, 2, 3]))
    (run,) = ps.status("calc")["runs"]
    assert run["state"] == "failed" and run["n_done"] == 1
    assert run["last_error"] == "KeyError: 'missing input'"


def test_failure_summary_is_one_warning(study, caplog):
    def half(pset):
        if pset["a"] % 2:
            raise RuntimeError(f"odd {pset['a']}")
        return {}

    with caplog.at_level(logging.WARNING, logger="psweep"):
        ps.run_local(half, ps.plist("a", range(6)), on_error="record", progress=False)
    summary = [r for r in caplog.records if "psets failed" in r.getMessage()]
    assert len(summary) == 1
    text = summary[0].getMessage()
    assert "3 of 6 psets failed" in text and "RuntimeError: odd 1" in text
    assert "{'a': 1}" in text and "skip_dups=True" in text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="psweep"):
        ps.run_local(half, ps.plist("a", [0, 2]), on_error="record", progress=False)
    assert not [r for r in caplog.records if "psets failed" in r.getMessage()]


def test_status_of_an_empty_or_new_study(study):
    os.makedirs("calc")
    data = ps.status("calc")
    assert data["runs"] == [] and data["batch"] == {}
    assert (
        "no runs yet"
        in subprocess.run(
            [sys.executable, "-m", "psweep", "status"], capture_output=True, text=True, check=True
        ).stdout
    )


def test_status_of_a_database_without_runs_table_says_so(study):
    """A calc dir of psweep 0.7.0 or 0.16 (a database, no runs.pk) is not 'no runs yet'."""
    ps.run_local(lambda p: {}, ps.plist("a", [1, 2]))
    os.remove("calc/runs.pk")
    data = ps.status("calc")
    assert data["runs"] == [] and data["databases"] == ["database.pk"]
    out = subprocess.run(
        [sys.executable, "-m", "psweep", "status"], capture_output=True, text=True, check=True
    ).stdout
    assert "no runs recorded, but database.pk has rows" in out and "no runs yet" not in out


BATCH_RUN_PY = """\
import json
with open("result.json", "w") as fh:
    json.dump({"out": $a * 10}, fh)
"""

BATCH_JOBSCRIPT = """\
#!/bin/sh
#SBATCH -o out.job
#SBATCH --time 00:05:00
python3 run.py
"""


def test_status_of_a_batch_study_before_and_after_its_jobs_ran(study):
    """On the real SLURM: jobs prepared, then done once they ran, per machine."""
    from slurm_utils import slurm_available, wait_for_jobs

    ok, why = slurm_available()
    if not ok:
        pytest.skip(why)
    (study / "templates/calc").mkdir(parents=True)
    (study / "templates/calc/run.py").write_text(BATCH_RUN_PY)
    mdir = study / "templates/machines/cluster"
    mdir.mkdir(parents=True)
    (mdir / "info.yaml").write_text("subcmd: sbatch\narray: true\n")
    (mdir / "jobscript").write_text(BATCH_JOBSCRIPT)
    ps.prep_batch(ps.plist("a", [1, 2, 3]))
    before = ps.status("calc")["batch"]["cluster"]
    assert before["prepared"] == 3 and before["done"] == 0
    proc = subprocess.run(["sh", "calc/run_cluster.sh"], capture_output=True, text=True, check=True)
    jobs = [ln.split()[-1] for ln in proc.stdout.splitlines() if "Submitted batch job" in ln]
    wait_for_jobs(jobs)
    after = ps.status("calc")["batch"]["cluster"]
    assert after["done"] == 3 and after["prepared"] == after["missing"] == after["failed"] == 0
    text = subprocess.run(
        [sys.executable, "-m", "psweep", "status"], capture_output=True, text=True, check=True
    ).stdout
    assert "batch jobs on cluster:" in text and "done 3" in text


def test_status_of_calc_points_to_the_batch_jobs_in_batch(study):
    """Where the batch jobs are in batch/ (a study of psweep new), status of calc/ says so.

    Whether calc/ is missing (only batch jobs yet) or holds runs without
    batch jobs, the text names ``psweep status batch``, which shows them.
    """
    (study / "templates/calc").mkdir(parents=True)
    (study / "templates/calc/run.py").write_text(BATCH_RUN_PY)
    mdir = study / "templates/machines/local"
    mdir.mkdir(parents=True)
    (mdir / "info.yaml").write_text("subcmd: sh\n")
    (mdir / "jobscript").write_text("#!/bin/sh\npython3 run.py\n")
    ps.prep_batch(ps.plist("a", [1, 2]), calc_dir=ps.batch.STUDY_BATCH_DIR)

    def status_cmd(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "psweep", "status", *args], capture_output=True, text=True
        )

    proc = status_cmd()
    assert proc.returncode == 2 and "'calc' is not a directory" in proc.stderr
    assert "batch/ has the batch jobs: psweep status batch" in proc.stderr
    ps.run_local(lambda pset: {"r": pset["a"]}, ps.plist("a", [1]), progress=False)
    proc = status_cmd()
    assert proc.returncode == 0 and "finished" in proc.stdout
    assert "batch/ has the batch jobs: psweep status batch" in proc.stdout
    proc = status_cmd("batch")
    assert "batch jobs on local: prepared 2" in proc.stdout and "psweep status batch" not in (
        proc.stdout
    )


def test_a_machine_whose_jobs_sbatch_refused_shows_them_failed_not_done(study):
    """On the real SLURM: sbatch refuses every job of `slurm` (no such partition).

    The jobs then run on `local` and deliver; status counts them done on
    local only, and failed (refused) on slurm, whose jobs never ran.
    """
    from slurm_utils import slurm_available

    ok, why = slurm_available()
    if not ok:
        pytest.skip(why)
    (study / "templates/calc").mkdir(parents=True)
    (study / "templates/calc/run.py").write_text(BATCH_RUN_PY)
    jobscripts = {
        "local": ("subcmd: sh\n", "#!/bin/sh\npython3 run.py\n"),
        "slurm": ("subcmd: sbatch\n", BATCH_JOBSCRIPT.replace("-o out.job", "-p no-such-part")),
    }
    for name, (info, jobscript) in jobscripts.items():
        mdir = study / "templates/machines" / name
        mdir.mkdir(parents=True)
        (mdir / "info.yaml").write_text(info)
        (mdir / "jobscript").write_text(jobscript)
    ps.prep_batch(ps.plist("a", [1, 2, 3]))
    proc = subprocess.run(["sh", "calc/run_slurm.sh"], capture_output=True, text=True)
    assert proc.stderr.count("invalid partition") == 3 and "Submitted" not in proc.stdout
    subprocess.run(["sh", "calc/run_local.sh"], capture_output=True, check=True)
    batch = ps.status("calc")["batch"]
    assert batch["local"]["done"] == 3
    assert batch["slurm"]["done"] == 0 and batch["slurm"]["failed"] == 3
    text = subprocess.run(
        [sys.executable, "-m", "psweep", "status"], capture_output=True, text=True, check=True
    ).stdout
    assert "batch jobs on slurm: prepared 0, pending 0, running 0, done 0, missing 0, failed 3" in (
        text
    )


def test_status_of_a_damaged_runs_table_says_so_and_shows_the_database(study):
    """A damaged runs.pk: one clear line instead of a traceback, the database still named."""
    ps.run_local(lambda p: {}, ps.plist("a", [1, 2]))
    with open("calc/runs.pk", "wb") as fh:
        fh.write(b"\x80\x05garbage")
    data = ps.status("calc")
    assert "runs table 'calc/runs.pk' is damaged" in data["runs_table_error"]
    assert data["databases"] == ["database.pk"]
    proc = subprocess.run(
        [sys.executable, "-m", "psweep", "status"], capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout
    assert "runs table 'calc/runs.pk' is damaged" in proc.stdout
    assert "database: database.pk" in proc.stdout and "no runs yet" not in proc.stdout
    assert os.path.exists("calc/runs.pk")  # status never moves a file


CRASHING = textwrap.dedent(
    """
    import sys
    import psweep as ps

    if __name__ == "__main__":
        ps.run_local(lambda p: {"r": p["a"]}, ps.plist("a", range(4)),
                     database_basename=sys.argv[1])
    """
)


@pytest.mark.parametrize("basename", ["database.pk", "database.parquet", "database.json"])
def test_the_recovery_hint_of_status_recovers_every_format(study, basename):
    """Following the hint that status prints for a crashed run merges its psets, in a
    Parquet or JSON study too."""
    (study / "crashing.py").write_text(CRASHING)
    env = {**os.environ, "PSWEEP_CRASH_AT": "executed"}
    proc = subprocess.run(
        [sys.executable, "crashing.py", basename], env=env, capture_output=True, text=True
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    out = subprocess.run(
        [sys.executable, "-m", "psweep", "status"], capture_output=True, text=True, check=True
    ).stdout
    assert "crashed" in out
    hint = out.split("or now by: ", 1)[1].splitlines()[0]
    prog, *args = shlex.split(hint)
    assert prog == "python"
    subprocess.run([sys.executable, *args], check=True)
    (run,) = ps.status("calc")["runs"]
    assert (run["state"], run["n_done"]) == ("interrupted", 4)
    assert sorted(ps.df_read(f"calc/{basename}")["r"]) == [0, 1, 2, 3]
