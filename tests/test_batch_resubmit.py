"""Tests of batch_states, resubmit_batch and ``psweep batch resubmit``.

The fast tests write the job records and result files by hand where a job
would, and pass ``squeue=False`` unless they say otherwise; the array driver
runs for real with ``sh`` and SLURM's variables set. The last test runs the
whole cycle on the real single-node SLURM cluster (skipped without it).
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from slurm_utils import requires_slurm, wait_for_jobs

import psweep as ps
from psweep.batch import states
from psweep.batch.resubmit import main

ARRAY_INFO = "subcmd: sbatch\narray: true\n"


def make_study(root: Path, info: str = ARRAY_INFO, run_py: str = "print($a)\n") -> None:
    (root / "templates/calc").mkdir(parents=True)
    (root / "templates/calc/run.py").write_text(run_py)
    for name, text in (("cluster", info), ("local", "subcmd: sh\n")):
        mdir = root / "templates/machines" / name
        mdir.mkdir(parents=True)
        (mdir / "info.yaml").write_text(text)
        (mdir / "jobscript").write_text("#!/bin/sh\npython3 run.py\n")


def record(pset_id: str, state: str, exit_code: str = "", machine: str = "cluster") -> None:
    """Write the job record as the array driver does."""
    Path("calc", pset_id, f".psweep-job_{machine}").write_text(
        f"state={state}\nexit_code={exit_code}\njob_id=7_0\nhost=h\ntime=0\n"
    )


def result(pset_id: str) -> None:
    Path("calc", pset_id, "result.json").write_text(json.dumps({"out": 1}))


@pytest.fixture
def six(tmp_path, monkeypatch):
    """Six prepared psets; ids[0..5]."""
    monkeypatch.chdir(tmp_path)
    make_study(tmp_path)
    df = ps.prep_batch(ps.plist("a", range(6)))
    return df.index.tolist()


def fill_states(ids: list[str]) -> None:
    """ids 0-2 done, 3 failed (exit 3), 4 timeout, 5 exited 0 without result."""
    for i in ids[:3]:
        record(i, "exited", "0")
        result(i)
    record(ids[3], "exited", "3")
    record(ids[4], "timeout", "143")
    record(ids[5], "exited", "0")


def state_of(df) -> dict[str, str]:
    return dict(zip(df["_pset_id"], df["state"], strict=True))


def test_states_after_prep(six):
    """It calls freshly prepared psets prepared, for every machine with a submit script."""
    df = ps.batch.batch_states(squeue=False)
    assert sorted(set(df["machine"])) == ["cluster", "local"]
    assert df[df["machine"] == "cluster"]["_pset_id"].tolist() == six
    summary = ps.batch.batch_state_summary(df)
    assert summary["cluster"] == dict.fromkeys(ps.batch.BATCH_STATES, 0) | {"prepared": 6}
    assert summary["local"]["prepared"] == 6


def test_states_from_records_and_results(six):
    """It tells done, failed, timeout and missing apart from results and job records."""
    fill_states(six)
    record(six[2], "running")  # a record left running by a job that still delivered
    df = ps.batch.batch_states(machine="cluster", squeue=False)
    got = state_of(df)
    assert [got[i] for i in six] == ["done"] * 3 + ["failed", "timeout", "missing"]
    assert df.set_index("_pset_id").loc[six[3], "exit_code"] == 3
    assert df["active"].all()
    assert set(df["machine"]) == {"cluster"}


def test_a_result_of_a_job_that_failed_does_not_make_it_done(six):
    """A result.json counts only if its job did not fail: with a result, a record of a
    non-zero exit is failed, of a cancelled job failed, of a time limit timeout; a record
    of exit 0, of a job still running (squeue silent) or submitted is done."""
    ends = [("exited", "2"), ("cancelled", "143"), ("timeout", "143"), ("exited", "0")]
    ends += [("running", ""), ("submitted", "0")]
    for pset_id, (state, code) in zip(six, ends, strict=True):
        record(pset_id, state, code)
        result(pset_id)
    got = state_of(ps.batch.batch_states(machine="cluster", squeue=False))
    assert [got[i] for i in six] == ["failed", "failed", "timeout", "done", "done", "done"]
    chosen = ps.batch.resubmit_batch("cluster", missing=False, squeue=False, dry_run=True)
    assert chosen["_pset_id"].tolist() == six[:3]


def test_running_record(six, monkeypatch):
    """It calls a started job running while squeue is silent, missing once squeue drops it.

    squeue is replaced by a function giving an empty queue: the real one
    would list other engineers' jobs or be absent.
    """
    record(six[0], "running")
    assert state_of(ps.batch.batch_states(squeue=False, machine="cluster"))[six[0]] == "running"
    monkeypatch.setattr(states, "_squeue", lambda calc_dir: {})
    assert state_of(ps.batch.batch_states(machine="cluster"))[six[0]] == "missing"
    monkeypatch.setattr(
        states, "_squeue", lambda calc_dir: {("cluster", six[1]): ("pending", "9_1")}
    )
    df = ps.batch.batch_states(machine="cluster").set_index("_pset_id")
    assert df.loc[six[1], "state"] == "pending"
    assert df.loc[six[1], "job_id"] == "9_1"


def test_commented_line_of_a_job_that_ran_without_result_is_missing(six):
    """It calls a pset missing when its job ran (exit code 0), left no result, and a later
    run commented out its line."""
    subprocess.run(["sh", "calc/run_local.sh"], check=True, capture_output=True)
    ps.prep_batch(ps.plist("a", [10]))
    got = state_of(ps.batch.batch_states(machine="local", squeue=False))
    assert [got[i] for i in six] == ["missing"] * 6
    assert list(got.values()).count("prepared") == 1


def test_unknown_machine_in_states(six):
    """It names the machines that have a submit script when asked about another."""
    with pytest.raises(ValueError, match=r"'nope'.*machines with one: cluster, local"):
        ps.batch.batch_states(machine="nope")


def test_resubmit_script(six):
    """It writes an array of the failed and timed-out psets, keeping the history commented."""
    fill_states(six)
    chosen = ps.batch.resubmit_batch("cluster", missing=False, squeue=False)
    assert chosen["_pset_id"].tolist() == [six[3], six[4]]
    lines = Path("calc/run_cluster.sh").read_text().splitlines()
    assert lines[0] == "#!/bin/sh"
    assert "# sbatch --array=0-5 array_cluster.sh array_cluster_run0_0.txt" in lines[5]
    active = [ln for ln in lines if not ln.startswith("#") and "--array" in ln]
    assert active == [
        "sbatch --array=0-1 array_cluster.sh array_cluster_resubmit1_0.txt  # resubmit=1 psets=2"
    ]
    assert Path("calc/array_cluster_resubmit1_0.txt").read_text().split() == six[3:5]
    comments = "\n".join(ln for ln in lines if ln.startswith("# resubmit") or ln.startswith("#   "))
    assert re.search(r"# resubmit 1 \(.*\): 2 psets, 1 failed, 1 timeout", comments)
    assert f"#   failed (exit code != 0, cancelled or refused by the submit command): {six[3]}" in (
        comments
    )
    assert f"#   timeout (hit the time limit): {six[4]}" in comments
    # the resubmitted psets are no longer "commented out", the others are
    df = ps.batch.batch_states(machine="cluster", squeue=False).set_index("_pset_id")
    assert df.loc[six[3:5], "active"].all() and not df.loc[six[:3], "active"].any()


def test_resubmit_twice_numbers_lists(six):
    """It numbers a second resubmit and comments out the first one's line."""
    fill_states(six)
    ps.batch.resubmit_batch("cluster", squeue=False)
    ps.batch.resubmit_batch("cluster", failed=False, timeout=False, squeue=False)
    text = Path("calc/run_cluster.sh").read_text()
    assert "\n# sbatch --array=0-2 array_cluster.sh array_cluster_resubmit1_0.txt" in text
    assert "\nsbatch --array=0-0 array_cluster.sh array_cluster_resubmit2_0.txt" in text
    assert Path("calc/array_cluster_resubmit2_0.txt").read_text().split() == [six[5]]


def test_prep_batch_keeps_resubmit_history(six):
    """It keeps the resubmit lines, commented out, when prep_batch extends the study."""
    fill_states(six)
    ps.batch.resubmit_batch("cluster", squeue=False)
    new = ps.prep_batch(ps.plist("a", [10])).index[-1]
    lines = Path("calc/run_cluster.sh").read_text().splitlines()
    resub = [i for i, ln in enumerate(lines) if "array_cluster_resubmit1_0.txt" in ln]
    assert len(resub) == 1 and lines[resub[0]].startswith("# sbatch --array=0-2 ")
    assert any(ln.startswith("# resubmit 1 (") for ln in lines)
    assert lines[-1].startswith("sbatch --array=0-0 array_cluster.sh array_cluster_run1_0.txt")
    got = state_of(ps.batch.batch_states(machine="cluster", squeue=False))
    assert [got[i] for i in six] == ["done"] * 3 + ["failed", "timeout", "missing"]
    assert got[new] == "prepared"


@pytest.mark.parametrize(
    ("flags", "picked"),
    [
        ({"missing": True, "failed": False, "timeout": False}, [5]),
        ({"missing": False, "failed": True, "timeout": False}, [3]),
        ({"missing": False, "failed": False, "timeout": True}, [4]),
        ({}, [3, 4, 5]),
    ],
)
def test_selection(six, flags, picked):
    """It resubmits only the states asked for; all three by default."""
    fill_states(six)
    chosen = ps.batch.resubmit_batch("cluster", squeue=False, dry_run=True, **flags)
    assert chosen["_pset_id"].tolist() == [six[i] for i in picked]
    assert "resubmit" not in Path("calc/run_cluster.sh").read_text()  # dry run


def test_resubmit_without_array(six):
    """It writes one line per pset for a machine without arrays."""
    subprocess.run(["sh", "calc/run_local.sh"], check=True, capture_output=True)
    result(six[0])  # the jobs ran, with exit code 0; five left no result
    ps.prep_batch(ps.plist("a", [10]))  # comments out the six lines: five now missing
    chosen = ps.batch.resubmit_batch("local", squeue=False)
    assert chosen["_pset_id"].tolist() == six[1:]
    active = [
        ln
        for ln in Path("calc/run_local.sh").read_text().splitlines()
        if "jobscript" in ln and ln.startswith("cd")
    ]
    assert active == [
        f'cd {i}; sh jobscript_local; psweep_record $?; cd "$here"  # resubmit=1' for i in six[1:]
    ]
    subprocess.run(["sh", "calc/run_local.sh"], check=True, capture_output=True)


def test_cli(six, capsys):
    """`psweep batch resubmit` selects by flags and exits 0, 1 when there is nothing to do."""
    fill_states(six)
    assert main(["resubmit", "cluster", "--timeout", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert f"timeout  {six[4]}" in out and "dry run" in out
    assert main(["resubmit", "cluster", "--failed", "--timeout"]) == 0
    out = capsys.readouterr().out
    assert "2 psets to resubmit; submit them with: sh calc/run_cluster.sh" in out
    for i in six[3:5]:  # the resubmitted jobs deliver
        record(i, "exited", "0")
        result(i)
    before = Path("calc/run_cluster.sh").read_text()
    assert main(["resubmit", "cluster", "--failed", "--timeout"]) == 1
    assert "nothing to resubmit: no failed/timeout psets of machine 'cluster'" in (
        capsys.readouterr().out
    )
    assert Path("calc/run_cluster.sh").read_text() == before


def test_cli_errors(six, capsys):
    """It names an unknown machine and the known ones, and rejects a bad machine name."""
    assert main(["resubmit", "gpu"]) == 2
    err = capsys.readouterr().err
    assert "machine 'gpu' is not known" in err and "machines: cluster, local" in err
    assert main(["resubmit", "../x"]) == 2
    assert "not allowed" in capsys.readouterr().err
    assert main(["resubmit"]) == 2  # argparse: MACHINE is required
    assert main(["--help"]) == 0


def machines_study(root: Path, machines: dict[str, str], run_py: str) -> None:
    """templates/ with run.py and one machine per name (its info.yaml text)."""
    (root / "templates/calc").mkdir(parents=True)
    (root / "templates/calc/run.py").write_text(run_py)
    for name, info in machines.items():
        mdir = root / "templates/machines" / name
        mdir.mkdir(parents=True)
        (mdir / "info.yaml").write_text(info)
        (mdir / "jobscript").write_text("#!/bin/sh\npython3 run.py\n")


RESULT_OR_EXIT_PY = """\
import json, sys
if $a == 3:
    sys.exit(3)
with open("result.json", "w") as fh:
    json.dump({"out": $a}, fh)
"""


def test_a_result_counts_only_for_the_machine_whose_job_made_it(tmp_path, monkeypatch):
    """Each machine's jobs are counted by what they did, not by results of another machine.

    The jobs run on `local`; `cluster` (sbatch, one job per pset) never
    submitted its jobs, so its psets stay prepared although results are
    there. `refused` has a submit command that refuses every job (the real
    program ``false``, as sbatch refuses a job for a partition that does not
    exist): its psets are failed, with the command's exit code.
    """
    monkeypatch.chdir(tmp_path)
    machines = {
        "local": "subcmd: sh\n",
        "cluster": "subcmd: sbatch\n",
        "refused": "subcmd: 'false'\n",
    }
    machines_study(tmp_path, machines, RESULT_OR_EXIT_PY)
    ids = ps.prep_batch(ps.plist("a", range(5))).index.tolist()
    for machine in ("refused", "local"):
        subprocess.run(["sh", f"calc/run_{machine}.sh"], capture_output=True, check=False)
    df = ps.batch.batch_states(squeue=False)
    summary = ps.batch.batch_state_summary(df)
    assert summary["local"]["done"] == 4 and summary["local"]["failed"] == 1
    assert summary["cluster"]["prepared"] == 5 and summary["cluster"]["done"] == 0
    assert summary["refused"]["failed"] == 5 and summary["refused"]["done"] == 0
    local = df[df["machine"] == "local"].set_index("_pset_id")
    assert local.loc[ids[3], "state"] == "failed" and local.loc[ids[3], "exit_code"] == 3
    assert (df[df["machine"] == "refused"]["exit_code"] == 1).all()
    assert (
        ps.batch.resubmit_batch("refused", squeue=False, dry_run=True)["_pset_id"].tolist() == ids
    )


RESULT_THEN_EXIT_PY = """\
import json, os, sys
with open("result.json", "w") as fh:
    json.dump({{"out": $a}}, fh)
if $a == 1 and not os.path.exists({flag!r}):
    sys.exit(1)  # after writing its result
"""


def test_a_job_that_exits_non_zero_after_writing_its_result_is_failed(tmp_path, monkeypatch):
    """A job that writes result.json and then exits non-zero is failed, not done: its
    result may be partial. The `sh` machine runs real job scripts; the job of a=1 exits 1
    after writing its result, the job of a=0 exits 0. resubmit's failed selection takes
    the failed job, and once it succeeds it is done.
    """
    monkeypatch.chdir(tmp_path)
    flag = tmp_path / "fixed"
    machines_study(tmp_path, {"local": "subcmd: sh\n"}, RESULT_THEN_EXIT_PY.format(flag=str(flag)))
    ids = ps.prep_batch(ps.plist("a", [0, 1])).index.tolist()
    subprocess.run(["sh", "calc/run_local.sh"], capture_output=True, check=True)
    assert all(Path("calc", i, "result.json").exists() for i in ids)
    df = ps.batch.batch_states(squeue=False).set_index("_pset_id")
    assert df.loc[ids, "state"].tolist() == ["done", "failed"]
    assert df.loc[ids, "exit_code"].tolist() == [0, 1]
    chosen = ps.batch.resubmit_batch("local", missing=False, timeout=False, squeue=False)
    assert chosen["_pset_id"].tolist() == [ids[1]]
    assert chosen["state"].tolist() == ["failed"]
    flag.write_text("")
    subprocess.run(["sh", "calc/run_local.sh"], capture_output=True, check=True)
    got = state_of(ps.batch.batch_states(squeue=False))
    assert [got[i] for i in ids] == ["done", "done"]
    assert ps.batch.resubmit_batch("local", squeue=False, dry_run=True).empty


def test_jobs_never_submitted_on_a_machine_stay_prepared_after_an_extension(
    tmp_path, monkeypatch, capsys
):
    """A machine that never ran its script keeps its psets prepared when an extension
    comments out their lines: they were never submitted there, so they are not missing,
    psweep status counts them prepared and resubmit leaves them alone. Machine `a` ran its
    jobs; `b` (sh) and `c` (job arrays) never did."""
    monkeypatch.chdir(tmp_path)
    info = {"a": "subcmd: sh\n", "b": "subcmd: sh\n", "c": ARRAY_INFO}
    machines_study(tmp_path, info, RESULT_OR_EXIT_PY)
    first = ps.prep_batch(ps.plist("a", [1, 2])).index.tolist()
    subprocess.run(["sh", "calc/run_a.sh"], check=True, capture_output=True)
    new = ps.prep_batch(ps.plist("a", [1, 2, 5]), skip_dups=True).index[-1]
    none = dict.fromkeys(ps.batch.BATCH_STATES, 0)
    summary = ps.batch.batch_state_summary(ps.batch.batch_states(squeue=False))
    assert summary == {
        "a": none | {"done": 2, "prepared": 1},
        "b": none | {"prepared": 3},
        "c": none | {"prepared": 3},
    }
    monkeypatch.setenv("PATH", str(tmp_path / "nobin"))  # no squeue: see test_status
    assert ps.status("calc")["batch"] == summary
    for machine in ("b", "c"):
        got = ps.batch.batch_states(machine=machine, squeue=False).set_index("_pset_id")
        assert got.loc[first, "active"].tolist() == [False, False]
        assert got.loc[new, "active"]
        script = Path(f"calc/run_{machine}.sh").read_text()
        assert main(["resubmit", machine]) == 1
        assert "nothing to resubmit" in capsys.readouterr().out
        assert Path(f"calc/run_{machine}.sh").read_text() == script


def fake_sbatch(root: Path, monkeypatch) -> None:
    """An ``sbatch`` first on PATH that takes every job and runs none (exit 0)."""
    folder = root / "bin"
    folder.mkdir()
    (folder / "sbatch").write_text("#!/bin/sh\nexit 0\n")
    (folder / "sbatch").chmod(0o755)
    monkeypatch.setenv("PATH", f"{folder}{os.pathsep}{os.environ['PATH']}")


def test_switch_to_arrays_keeps_the_earlier_jobs_as_submitted(tmp_path, monkeypatch):
    """A machine switched to ``array: true`` partway keeps its earlier jobs as they went out.

    The first two psets go out one sbatch per pset; after the switch, their lines stay
    per-pset lines, commented out, and only the new pset goes out as an array (and back
    again: the array line stays an array line). batch_states and resubmit see every
    pset: the jobs went out and left no result. ``sbatch`` is a stand-in that takes
    each job (the scripts run here, also without SLURM) and squeue one with an empty
    queue: the real one would list other engineers' jobs or be absent.
    """
    monkeypatch.chdir(tmp_path)
    machines_study(tmp_path, {"a": "subcmd: sbatch\n"}, "print($x)\n")
    fake_sbatch(tmp_path, monkeypatch)
    monkeypatch.setattr(states, "_squeue", lambda calc_dir: {})
    script, info = Path("calc/run_a.sh"), tmp_path / "templates/machines/a/info.yaml"
    first = ps.prep_batch(ps.plist("x", [1, 2])).index.tolist()
    subprocess.run(["sh", str(script)], check=True, capture_output=True)
    job_lines = [ln for ln in script.read_text().splitlines() if ".psweep-submit_a.sh" in ln]
    submitted = [ln for ln in job_lines if ln.startswith("cd ")]
    assert len(submitted) == 2
    info.write_text("subcmd: sbatch\narray: true\n")
    df = ps.prep_batch(ps.plist("x", [1, 2, 3]), skip_dups=True)
    (new,) = df.index.difference(first)
    lines = script.read_text().splitlines()
    assert [ln for ln in lines if ln.startswith("# cd ")] == [f"# {ln}" for ln in submitted]
    assert [ln for ln in lines if "--array" in ln] == [
        "sbatch --array=0-0 array_a.sh array_a_run1_0.txt  # run_seq=1 pset_seq=2-2"
    ]
    assert Path("calc/array_a_run1_0.txt").read_text().split() == [new]
    got = state_of(ps.batch.batch_states(machine="a"))
    assert got == {first[0]: "missing", first[1]: "missing", new: "prepared"}
    subprocess.run(["sh", str(script)], check=True, capture_output=True)
    assert run_driver("array_a_run1_0.txt", 0, machine="a").wait() == 0  # its task, no result
    # and back: the array line stays, commented out, with its list
    info.write_text("subcmd: sbatch\n")
    newest = ps.prep_batch(ps.plist("x", [1, 2, 3, 4]), skip_dups=True).index[-1]
    lines = script.read_text().splitlines()
    assert "# sbatch --array=0-0 array_a.sh array_a_run1_0.txt  # run_seq=1 pset_seq=2-2" in lines
    assert [ln for ln in lines if ln.startswith("cd ") and "; " in ln] == [
        f'cd {newest}; rm -f .psweep-job_a; sbatch "$PWD"/.psweep-submit_a.sh; psweep_record $?; '
        'cd "$here"  # run_seq=2 pset_seq=3'
    ]
    got = state_of(ps.batch.batch_states(machine="a"))
    assert list(got) == [*first, new, newest]
    chosen = ps.batch.resubmit_batch("a")
    assert chosen["_pset_id"].tolist() == [*first, new]


def test_a_script_of_an_earlier_psweep_still_counts_results_as_done(six):
    """Lines without a job record (run scripts of earlier psweep versions) keep the old rule.

    Such a line cannot tell which machine made a result, so a result counts
    as done for every machine whose line is of that kind. A resubmit adds
    the record function that its new lines call.
    """
    script = Path("calc/run_local.sh")
    lines = script.read_text().splitlines()
    func = next(i for i, ln in enumerate(lines) if ln.startswith("psweep_record() {"))
    old = lines[:func] + lines[func + 6 :]
    old = [ln.replace("psweep_record $?; ", "") for ln in old]
    old = [f"# {ln}" if ln.startswith(f"cd {six[1]}") else ln for ln in old]
    script.write_text("\n".join(old) + "\n")
    assert "psweep_record" not in script.read_text()
    result(six[0])
    got = state_of(ps.batch.batch_states(machine="local", squeue=False))
    assert [got[i] for i in six[:3]] == ["done", "missing", "prepared"]
    assert ps.batch.resubmit_batch("local", squeue=False)["_pset_id"].tolist() == [six[1]]
    proc = subprocess.run(["sh", str(script)], capture_output=True, text=True)
    assert "not found" not in proc.stderr
    rec = states.read_job_record(f"calc/{six[1]}/.psweep-job_local")
    assert (rec["state"], rec["exit_code"]) == ("exited", "0")


def test_prep_batch_keeps_the_lines_of_an_earlier_psweep_as_they_are(six):
    """An extension comments out the lines of a script of an earlier psweep as they are
    (not rewritten as lines that record), so their results still count as done."""
    script = Path("calc/run_local.sh")
    lines = script.read_text().splitlines()
    func = next(i for i, ln in enumerate(lines) if ln.startswith("psweep_record() {"))
    old = [ln.replace("psweep_record $?; ", "") for ln in lines[:func] + lines[func + 6 :]]
    script.write_text("\n".join(old) + "\n")
    result(six[0])
    ps.prep_batch(ps.plist("a", [10]))
    text = script.read_text()
    for line in old:
        if line.startswith("cd ") and "; " in line:
            assert f"\n# {line}\n" in text
    got = state_of(ps.batch.batch_states(machine="local", squeue=False))
    assert got[six[0]] == "done"


ROOT = Path(__file__).resolve().parents[1]


def render_study(dest: Path) -> Path:
    """copier copy of this checkout's study template, as psweep new renders it (no git)."""
    import warnings

    import copier
    from copier.errors import DirtyLocalWarning

    answers = {"psweep_requirement": f"psweep-kit @ {ROOT.as_uri()}", "git_init": False}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DirtyLocalWarning)
        copier.run_copy(
            str(ROOT), dest, data=answers, defaults=True, unsafe=False, vcs_ref="HEAD", quiet=True
        )
    return dest


def test_cli_finds_the_batch_folder_of_a_study(tmp_path, monkeypatch, capsys):
    """In a study made by psweep new, `psweep batch resubmit local` works on batch/.

    The study's batch.py prepares the jobs in batch/, not calc/; without
    --calc-dir the command looks in calc/ and batch/ and takes the one with
    run_local.sh.
    """
    study = render_study(tmp_path / "study")
    monkeypatch.chdir(study)
    subprocess.run([sys.executable, "batch.py"], check=True, capture_output=True)
    subprocess.run(["sh", "batch/run_local.sh"], check=True, capture_output=True)
    assert main(["resubmit", "local"]) == 1
    out = capsys.readouterr().out
    assert "nothing to resubmit" in out and "batch/run_local.sh left as it was" in out
    first = next(p for p in Path("batch").iterdir() if (p / "result.json").exists())
    (first / "result.json").unlink()
    assert main(["resubmit", "local"]) == 0
    out = capsys.readouterr().out
    assert f"missing  {first.name}" in out
    assert "1 psets to resubmit; submit them with: sh batch/run_local.sh" in out


def test_cli_without_submit_script_names_the_folders_and_calc_dir(tmp_path, monkeypatch, capsys):
    """Without run_MACHINE.sh in calc/ or batch/ it names both and how to give the folder."""
    monkeypatch.chdir(tmp_path)
    make_study(tmp_path)
    assert main(["resubmit", "local"]) == 2
    err = capsys.readouterr().err
    assert "no submit script run_local.sh in calc/, batch/" in err
    assert "--calc-dir batch" in err
    ps.prep_batch(ps.plist("a", [1]), calc_dir="jobs")
    assert main(["resubmit", "local", "--calc-dir", "jobs", "--dry-run"]) == 1


def test_cli_asks_which_folder_when_both_have_the_script(tmp_path, monkeypatch, capsys):
    """With run_local.sh in calc/ and batch/ it does not guess but names both folders."""
    monkeypatch.chdir(tmp_path)
    make_study(tmp_path)
    for calc_dir in ("calc", "batch"):
        ps.prep_batch(ps.plist("a", [1]), calc_dir=calc_dir)
    assert main(["resubmit", "local"]) == 2
    assert "--calc-dir calc or --calc-dir batch" in capsys.readouterr().err


def test_states_error_points_to_the_other_folder(tmp_path, monkeypatch):
    """batch_states on calc/ says that batch/ has the machine's submit script."""
    monkeypatch.chdir(tmp_path)
    make_study(tmp_path)
    ps.prep_batch(ps.plist("a", [1]), calc_dir="batch")
    with pytest.raises(ValueError, match=r"batch/run_local.sh exists.*--calc-dir batch"):
        ps.batch.batch_states("calc", machine="local")


def run_driver(pset_list: str, task: int, machine: str = "cluster", **popen) -> subprocess.Popen:
    """Task `task` of an array of `pset_list`, run by the machine's array driver with sh."""
    env = dict(os.environ, SLURM_ARRAY_TASK_ID=str(task), SLURM_ARRAY_JOB_ID="77")
    env["SLURM_JOB_ID"] = "999999999"  # no such job: scontrol cannot say TIMEOUT
    driver = f"array_{machine}.sh"
    return subprocess.Popen(["sh", driver, pset_list], cwd="calc", env=env, **popen)


def test_array_driver_records_exit_code(tmp_path, monkeypatch):
    """The array driver records the jobscript's exit code in the pset's folder."""
    monkeypatch.chdir(tmp_path)
    make_study(tmp_path, run_py="raise SystemExit($a)\n")
    ids = ps.prep_batch(ps.plist("a", [0, 4])).index.tolist()
    for task in (0, 1):
        assert run_driver("array_cluster_run0_0.txt", task).wait() == [0, 4][task]
    rec = [states.read_job_record(f"calc/{i}/.psweep-job_cluster") for i in ids]
    assert [(r["state"], r["exit_code"], r["job_id"]) for r in rec] == [
        ("exited", "0", "77_0"),
        ("exited", "4", "77_1"),
    ]
    assert state_of(ps.batch.batch_states(machine="cluster", squeue=False))[ids[1]] == "failed"


def test_array_driver_records_sigterm(tmp_path, monkeypatch):
    """The array driver records a SIGTERM that is no time limit as cancelled (failed)."""
    monkeypatch.chdir(tmp_path)
    make_study(tmp_path, run_py="import time; time.sleep(60 + $a)\n")
    pset_id = ps.prep_batch(ps.plist("a", [0])).index[0]
    rec = Path("calc", pset_id, ".psweep-job_cluster")
    proc = run_driver("array_cluster_run0_0.txt", 0, start_new_session=True)
    deadline = time.monotonic() + 10
    while not rec.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert states.read_job_record(str(rec))["state"] == "running"
    os.killpg(proc.pid, signal.SIGTERM)  # as SLURM signals every process of the job
    assert proc.wait(timeout=10) == 143
    assert states.read_job_record(str(rec))["state"] == "cancelled"
    assert state_of(ps.batch.batch_states(machine="cluster", squeue=False))[pset_id] == "failed"


# ---------------------------------------------------------------- real SLURM

SLURM_RUN_PY = """\
import json, os, sys, time
fixed = os.path.exists({flag!r})
if $a == 3 and not fixed:
    sys.exit(3)
if $a == 4 and not fixed:
    time.sleep(600)
with open("result.json", "w") as fh:
    json.dump({{"out": $a * 10}}, fh)
"""


def submit(script: str) -> list[str]:
    proc = subprocess.run(["sh", script], capture_output=True, text=True, check=True)
    return re.findall(r"Submitted batch job (\d+)", proc.stdout)


@requires_slurm
def test_resubmit_failed_and_timeout_on_slurm(tmp_path, monkeypatch):
    """It resubmits, as an array of 2, the one job that failed and the one that timed out.

    One minute is SLURM's shortest time limit; slurmctld enforces it within
    its 30 s check, so the first round takes 60-90 s.
    """
    study = tmp_path / "slurm study"
    study.mkdir()
    monkeypatch.chdir(study)
    flag = study / "fixed"
    info = ARRAY_INFO + 'sbatch_options: ["--time=1", "-o %A_%a.out"]\n'
    make_study(study, info=info, run_py=SLURM_RUN_PY.format(flag=str(flag)))
    df = ps.prep_batch(ps.plist("a", range(6)))
    ids = df.index.tolist()
    jobs = submit("calc/run_cluster.sh")
    assert len(jobs) == 1
    wait_for_jobs(jobs, timeout_s=240)
    df = ps.collect_batch()
    assert df["_batch_status"].tolist() == ["done"] * 3 + ["missing"] * 2 + ["done"]
    sts = state_of(ps.batch.batch_states(machine="cluster"))
    assert [sts[i] for i in ids] == ["done"] * 3 + ["failed", "timeout", "done"]

    flag.write_text("")
    assert main(["resubmit", "cluster"]) == 0
    assert Path("calc/array_cluster_resubmit1_0.txt").read_text().split() == ids[3:5]
    assert "sbatch --array=0-1 " in Path("calc/run_cluster.sh").read_text()
    jobs = submit("calc/run_cluster.sh")
    wait_for_jobs(jobs, timeout_s=120)
    df = ps.collect_batch()
    assert df.index.tolist() == ids  # same psets, no new rows
    assert (df["_batch_status"] == "done").all()
    assert df["out"].tolist() == [0, 10, 20, 30, 40, 50]
    assert sorted(os.listdir("calc")).count(ids[0]) == 1
    assert len([p for p in Path("calc").iterdir() if (p / "pset.json").exists()]) == 6
    assert main(["resubmit", "cluster"]) == 1


def test_squeue_is_asked_only_where_a_script_calls_sbatch(tmp_path, monkeypatch):
    """Machines that run jobs with sh never ask squeue (which waits seconds where SLURM's
    controller is down); a study with an sbatch machine asks it once. The squeue here is
    a stand-in that logs its calls: a real one cannot be told to hang on demand."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "squeue.log"
    fake = bin_dir / "squeue"
    fake.write_text(f"#!/bin/sh\necho called >> {log}\nexit 0\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    only_sh = tmp_path / "only_sh"
    only_sh.mkdir()
    monkeypatch.chdir(only_sh)
    make_study(only_sh, info="subcmd: sh\n")
    ps.prep_batch(ps.plist("a", range(2)))
    assert set(ps.batch.batch_states()["state"]) == {"prepared"}
    assert not log.exists()
    with_slurm = tmp_path / "with_slurm"
    with_slurm.mkdir()
    monkeypatch.chdir(with_slurm)
    make_study(with_slurm)  # "cluster" submits with sbatch
    ps.prep_batch(ps.plist("a", range(2)))
    ps.batch.batch_states()
    assert log.read_text().splitlines() == ["called"]


def test_squeue_knows_a_job_by_its_submit_wrapper(tmp_path, monkeypatch):
    """A job submitted on its own runs the pset's submit wrapper, and squeue lists it by
    that command: the pset is pending (not missing, so resubmit leaves it alone), with
    squeue's job id. A job an earlier psweep submitted runs the jobscript itself: squeue
    lists it by that. SLURM gives a command as sbatch got it: relative to the job's
    working directory (the folder it was submitted from), or absolute. The squeue here
    is a stand-in that lists those jobs: a real one cannot be told which jobs to list."""
    study = tmp_path / "a study"  # SLURM gives the command with the space as it is
    study.mkdir()
    monkeypatch.chdir(study)
    make_study(study, info="subcmd: sbatch\n")
    ids = ps.prep_batch(ps.plist("a", range(3))).index.tolist()
    for i in ids:
        record(i, "submitted", "0")
    calc = os.path.realpath("calc")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "squeue").write_text(
        "#!/bin/sh\n"
        f"echo '4242|N/A|PENDING|{calc}/{ids[0]}|.psweep-submit_cluster.sh'\n"
        f"echo '4243|N/A|RUNNING|/elsewhere|{calc}/{ids[1]}/jobscript_cluster'\n"
        f"echo '4244|N/A|RUNNING|{calc}/{ids[1]}/sub|.psweep-submit_cluster.sh'\n"
    )
    (bin_dir / "squeue").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    got = ps.batch.batch_states(machine="cluster").set_index("_pset_id")
    assert got.loc[ids, "state"].tolist() == ["pending", "running", "missing"]
    assert got.loc[ids[:2], "job_id"].tolist() == ["4242", "4243"]
    assert ps.batch.resubmit_batch("cluster", dry_run=True)["_pset_id"].tolist() == [ids[2]]


def test_a_result_older_than_its_job_does_not_count(six, monkeypatch):
    """A result.json left by an earlier job of the pset (say, one that failed after
    writing it, before the pset was submitted again) counts for no later job: not while
    the new job waits or runs, nor when it ends without a result of its own; nor does a
    result of a job that is still running (it may yet fail). collect_batch takes only
    the result of a job that ended well."""
    now = int(time.time())

    def job(pset_id, state, code="", started=None, when=now):
        line = f"state={state}\nexit_code={code}\njob_id=7\nhost=h\ntime={when}\n"
        line += f"started={started}\n" if started is not None else ""
        Path("calc", pset_id, ".psweep-job_cluster").write_text(line)

    for pset_id in six[:5]:
        result(pset_id)
        old = now - 100
        os.utime(Path("calc", pset_id, "result.json"), (old, old))
    job(six[0], "submitted", "0")  # psweep_record after sbatch: the job waits
    job(six[1], "running", started=now)
    job(six[2], "exited", "0", started=now)  # ended well, wrote no result of its own
    job(six[3], "exited", "0", started=now)
    os.utime(Path("calc", six[3], "result.json"), (now + 1, now + 1))  # its own result
    job(six[4], "running", started=now)
    os.utime(Path("calc", six[4], "result.json"), (now + 1, now + 1))  # not ended yet
    got = state_of(ps.batch.batch_states(machine="cluster", squeue=False))
    assert [got[i] for i in six[:5]] == ["prepared", "running", "missing", "done", "running"]
    # collect_batch asks squeue (the scripts call sbatch); here the queue is empty, so
    # the submitted job is gone without a result (squeue is replaced: the real one would
    # list other jobs, or be absent)
    monkeypatch.setattr(states, "_squeue", lambda calc_dir: {})
    df = ps.collect_batch()
    assert df.loc[six[:5], "_batch_status"].tolist() == ["missing"] * 3 + ["done", "missing"]
    assert df.loc[six[3], "out"] == 1 and df.loc[[*six[:3], six[4]], "out"].isna().all()
