"""Tests of psweep-push/pull in the host form of psweep 0.16 and the rule between the forms.

The host form runs for real: rsync copies the files and its remote shell is ``ssh``. No
sshd runs here, so ``ssh`` is stubbed by a script first on PATH that runs the remote
command locally in a shell, in a folder that stands for the login folder on the host.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

import psweep as ps
from psweep.batch.transfers import home_relative_basedir, host_commands, is_dry_run

pytestmark = pytest.mark.needs_tool("rsync")

# Stand-in for ssh, because no sshd runs here: "ssh [opts] HOST CMD..." logs HOST and runs
# CMD in a shell (as sshd would, with the words joined by spaces) in $FAKE_REMOTE_HOME.
FAKE_SSH = """\
#!/bin/sh
while [ $# -gt 0 ]; do
    case $1 in
        -[lpoiFJ]) shift 2 ;;
        -*) shift ;;
        *) break ;;
    esac
done
echo "$1" >> "$FAKE_SSH_LOG"
shift
cd "$FAKE_REMOTE_HOME" || exit 255
HOME=$FAKE_REMOTE_HOME exec sh -c "$*"
"""


@pytest.fixture
def host_study(tmp_path, monkeypatch):
    """A study in $HOME/proj here, a host whose login folder is remote/, ssh stubbed."""
    home, remote, bin_dir = tmp_path / "home", tmp_path / "remote", tmp_path / "bin"
    study = home / "proj"
    for path in (study, remote, bin_dir):
        path.mkdir(parents=True)
    ssh = bin_dir / "ssh"
    ssh.write_text(FAKE_SSH)
    ssh.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("FAKE_REMOTE_HOME", str(remote))
    monkeypatch.setenv("FAKE_SSH_LOG", str(tmp_path / "ssh.log"))
    monkeypatch.delenv("RSYNC_RSH", raising=False)
    monkeypatch.chdir(study)
    monkeypatch.setenv("PWD", str(study))
    (study / "templates/calc").mkdir(parents=True)
    (study / "templates/calc/run.py").write_text(
        "import json\njson.dump({'out': {{ a }} * 10}, open('result.json', 'w'))\n"
    )
    (study / "templates/machines/local").mkdir(parents=True)
    (study / "templates/machines/local/info.yaml").write_text("subcmd: sh\n")
    (study / "templates/machines/local/jobscript").write_text("python3 run.py\n")
    return study, remote, tmp_path / "ssh.log"


def cli(name: str, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    code = f"from psweep.cli import {name}; {name}()"
    return subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, cwd=cwd, check=False
    )


def ssh_hosts(log: Path) -> list[str]:
    return log.read_text().split() if log.exists() else []


def test_host_form_push_run_pull(host_study):
    """Push copies calc/ to HOST:<dir relative to $HOME>/calc after ssh mkdir; pull brings
    the results back and merges the database, keeping a row added here after the push."""
    study, remote, log = host_study
    df = ps.prep_batch(ps.plist("a", [1, 2]))
    proc = cli("push", "myhost")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "executing: ssh myhost mkdir -pv proj/calc" in proc.stdout
    assert "executing: rsync -rptgoD -vP --exclude=/.psweep/ calc/ myhost:proj/calc/" in (
        proc.stdout
    )
    assert ssh_hosts(log)[:2] == ["myhost", "myhost"]  # mkdir, then rsync's remote shell
    there = remote / "proj/calc"
    assert (there / df.index[0] / "run.py").read_text().startswith("import json")
    assert not (there / ".psweep").exists()
    # on the host: run the jobs and collect there
    subprocess.run(["sh", str(there / "run_local.sh")], check=True, capture_output=True)
    ps.collect_batch(str(there))
    # here: one more pset after the push
    ps.prep_batch(ps.plist("a", [3]))
    proc = cli("pull", "myhost")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "executing: rsync -rptgoD -vP " in proc.stdout and "myhost:proj/calc ./" in proc.stdout
    assert "0 new rows, 2 rows updated" in proc.stdout
    assert (study / "calc" / df.index[1] / "result.json").exists()
    merged = ps.df_read("calc/database.pk")
    assert merged["a"].tolist() == [1, 2, 3]
    assert merged["out"].tolist()[:2] == [10, 20]
    assert pd.isna(merged["out"].iloc[2])


def test_host_form_options_and_exclude_files(host_study):
    """Extra rsync options and the exclude and filter files that exist go to rsync."""
    study, remote, _ = host_study
    df = ps.prep_batch(ps.plist("a", [1]))
    (study / "calc" / df.index[0] / "big.dat").write_text("x")
    (study / "calc" / df.index[0] / "note.tmp").write_text("x")
    (study / "excl_push").write_text("*.dat\n")
    (study / "rsync.filter").write_text("- *.tmp\n")
    proc = cli("push", "myhost", "--exclude=run_local.sh")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (
        "rsync -rptgoD -vP --exclude=run_local.sh --exclude-from=excl_push "
        "'--filter=merge rsync.filter'" in proc.stdout
    )
    there = remote / "proj/calc"
    assert (there / df.index[0] / "run.py").exists()
    assert not (there / df.index[0] / "big.dat").exists()
    assert not (there / df.index[0] / "note.tmp").exists()
    assert not (there / "run_local.sh").exists()


def test_host_form_pull_dry_run_and_no_remote_database(host_study):
    """A pull with -n changes nothing here; a host calc/ without database pulls its files."""
    study, remote, _ = host_study
    (remote / "proj/calc/x").mkdir(parents=True)
    (remote / "proj/calc/x/out.txt").write_text("1")
    proc = cli("pull", "myhost", "-n")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert not (study / "calc").exists()
    proc = cli("pull", "myhost")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (study / "calc/x/out.txt").read_text() == "1"
    assert "no database" in proc.stderr


def test_pull_help_names_both_forms(host_study):
    """pull -h prints the usage of both forms and the rule between them."""
    proc = cli("pull", "-h")
    assert proc.returncode == 0
    assert "[--host] HOST [RSYNC_OPTS...]" in proc.stdout
    assert "[--machine] MACHINE" in proc.stdout
    assert "which form:" in proc.stdout


def test_rule_machine_folder_wins(host_study):
    """A name with a folder in templates/machines is a machine: no ssh, its info.yaml counts."""
    _, _, log = host_study
    ps.prep_batch(ps.plist("a", [1]))
    proc = cli("push", "local")
    assert proc.returncode == 2
    assert "templates/machines/local/info.yaml has no 'path'" in proc.stderr
    assert ssh_hosts(log) == []


def test_rule_host_forced_over_machine_folder(host_study):
    """--host takes the name as a host even if a machine folder has that name."""
    _, remote, log = host_study
    ps.prep_batch(ps.plist("a", [1]))
    proc = cli("push", "--host", "local")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert ssh_hosts(log)[0] == "local"
    assert (remote / "proj/calc/run_local.sh").exists()


def test_rule_machine_forced(host_study):
    """--machine takes the name as a machine folder, and says what is missing there."""
    _, _, log = host_study
    proc = cli("pull", "--machine", "myhost")
    assert proc.returncode == 2
    assert "templates/machines/myhost' has no info.yaml" in proc.stderr
    assert ssh_hosts(log) == []


def test_rule_other_machine_templ_dir(host_study):
    """A folder in --machine-templ-dir counts as a machine too."""
    study, _, log = host_study
    shutil.move(study / "templates/machines", study / "machines")
    proc = cli("push", "local", "--machine-templ-dir", "machines")
    assert proc.returncode == 2
    assert "machines/local/info.yaml has no 'path'" in proc.stderr
    assert ssh_hosts(log) == []


def test_rule_unknown_name_is_a_host_and_failure_says_so(host_study, tmp_path):
    """A name without machine folder is a host; when ssh fails, the message says how it was
    read and how to ask for a machine."""
    ps.prep_batch(ps.plist("a", [1]))
    bad_ssh = tmp_path / "bin/ssh"
    bad_ssh.write_text("#!/bin/sh\necho 'ssh: Could not resolve hostname' >&2\nexit 255\n")
    proc = cli("push", "lcoal")
    assert proc.returncode == 255
    assert "'lcoal' is no folder in templates/machines" in proc.stderr
    assert "--machine NAME" in proc.stderr


@pytest.mark.parametrize("host", ["-oProxyCommand=touch PWNED", "a b", ""])
def test_forced_host_refuses_option_like_names(host_study, host):
    """A host that ssh or rsync could read as an option never reaches them."""
    study, _, log = host_study
    proc = cli("push", "--host", host)
    assert proc.returncode == 2
    assert "is not allowed" in proc.stderr
    assert ssh_hosts(log) == [] and not (study / "PWNED").exists()


def test_home_relative_basedir():
    """The folder is relative to $HOME inside it and stays absolute outside."""
    assert home_relative_basedir("/home/u/work/proj", "/home/u") == "work/proj"
    assert home_relative_basedir("/home/u/work/proj", "/home/u/") == "work/proj"
    assert home_relative_basedir("/scratch/proj", "/home/u") == "/scratch/proj"
    assert home_relative_basedir("/home/user2/p", "/home/u") == "/home/user2/p"


def test_host_commands_quote_the_remote_mkdir(tmp_path, monkeypatch):
    """The remote mkdir is quoted for the remote shell; the rest are plain argument lists."""
    monkeypatch.chdir(tmp_path)
    push = host_commands("push", "h", [], "my study; x", "database.pk")
    assert push[0] == ["ssh", "h", "mkdir", "-pv", "'my study; x/calc'"]
    assert push[1][-2:] == ["calc/", "h:my study; x/calc/"]
    (pull,) = host_commands("pull", "h", ["-z"], "d", "database.pk")
    assert pull[:4] == ["rsync", "-rptgoD", "-vP", "-z"]
    assert "--exclude=/calc/database.pk" in pull and pull[-2:] == ["h:d/calc", "./"]


@pytest.mark.parametrize(
    ("opts", "dry"),
    [(["-n"], True), (["-avn"], True), (["--dry-run"], True), (["-z", "--exclude=n"], False)],
)
def test_is_dry_run(opts, dry):
    """-n alone, in a cluster of short options, or --dry-run is a dry run; nothing else."""
    assert is_dry_run(opts) is dry


def _one_more_run(calc: Path, basename: str, a: int) -> str:
    """A run of one pset in `calc`; returns its _run_id."""
    df = ps.run_local(
        lambda p: {"out": p["a"] * 10}, [{"a": a}], calc_dir=str(calc), database_basename=basename
    )
    return df["_run_id"].iloc[-1]


@pytest.mark.parametrize("basename", ["database.pk", "database.parquet", "database.json"])
def test_machine_form_pull_keeps_local_rows_and_runs_of_every_format(host_study, basename):
    """Issue 20: a pull in a study of any database format merges the remote database into
    the local one instead of copying it over (rows made here after the push stay), and it
    keeps the local runs table, adding the runs made on the machine."""
    study, remote, _ = host_study
    dest = remote / "machine"
    (study / "templates/machines/local/info.yaml").write_text(f"subcmd: sh\npath: {dest}\n")
    first = _one_more_run(study / "calc", basename, 1)
    assert cli("push", "local").returncode == 0
    there = _one_more_run(dest / "calc", basename, 2)  # on the machine
    here = _one_more_run(study / "calc", basename, 3)  # here, after the push
    proc = cli("pull", "local")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    df = ps.df_read(study / "calc" / basename)
    assert sorted(df["a"]) == [1, 2, 3]
    assert set(ps.df_runs("calc").index) == {first, there, here}
    assert os.listdir(study / "calc/.psweep/pull") == []


@pytest.mark.parametrize("basename", ["database.pk", "database.parquet"])
def test_host_form_pull_keeps_local_rows_and_runs_of_every_format(host_study, basename):
    """Issue 20: the host form of a pull keeps local rows and runs in a study of any
    database format too (it knew only database.pk)."""
    study, remote, _ = host_study
    first = _one_more_run(study / "calc", basename, 1)
    assert cli("push", "myhost").returncode == 0
    there = _one_more_run(remote / "proj/calc", basename, 2)
    here = _one_more_run(study / "calc", basename, 3)
    proc = cli("pull", "myhost")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert sorted(ps.df_read(study / "calc" / basename)["a"]) == [1, 2, 3]
    assert set(ps.df_runs("calc").index) == {first, there, here}


def test_pull_without_local_database_takes_the_remote_one(host_study):
    """A first pull into a study without calc/ brings the machine's database and runs."""
    study, remote, _ = host_study
    dest = remote / "machine"
    (study / "templates/machines/local/info.yaml").write_text(f"subcmd: sh\npath: {dest}\n")
    there = _one_more_run(dest / "calc", "database.parquet", 2)
    proc = cli("pull", "local")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert ps.df_read(study / "calc/database.parquet")["a"].tolist() == [2]
    assert list(ps.df_runs("calc").index) == [there]


def test_merge_runs_keeps_both_sides(tmp_path):
    """merge_runs keeps the local runs in their order and adds the remote ones; a run on
    both sides takes the remote values where it has them."""
    from psweep.store.runs_table import merge_runs, recorded_runs, write_run

    def info(run_id, **kwds):
        return {"_run_id": run_id, "status": "running", "n_psets": 0, "host": "here", **kwds}

    write_run(str(tmp_path), info("a", status="ok", n_psets=2))
    write_run(str(tmp_path), info("b", status="interrupted", n_psets=1))
    remote = pd.DataFrame(
        [info("b", status="ok", n_psets=3, host=None), info("c", status="ok", n_psets=5)]
    ).set_index(pd.Index(["b", "c"]))
    assert merge_runs(str(tmp_path), remote) == 1
    runs = recorded_runs(str(tmp_path))
    assert list(runs.index) == ["a", "b", "c"]
    assert runs["status"].tolist() == ["ok", "ok", "ok"]
    assert runs["n_psets"].tolist() == [2, 3, 5]
    assert runs["host"].tolist() == ["here", "here", "here"]
    with pytest.raises(ps.PsweepDatabaseError, match="must be a DataFrame, got list"):
        merge_runs(str(tmp_path), [])  # type: ignore[arg-type]


def test_pull_with_a_damaged_remote_runs_table_keeps_the_local_one(host_study):
    """A remote runs table that cannot be read is named; the local runs table and the
    merged database stay."""
    study, remote, _ = host_study
    dest = remote / "machine"
    (study / "templates/machines/local/info.yaml").write_text(f"subcmd: sh\npath: {dest}\n")
    first = _one_more_run(study / "calc", "database.pk", 1)
    assert cli("push", "local").returncode == 0
    (dest / "calc/runs.pk").write_bytes(b"not a pickle")
    proc = cli("pull", "local")
    assert proc.returncode == 1
    assert "could not merge the runs of" in proc.stderr and "runs.pk" in proc.stderr
    assert list(ps.df_runs("calc").index) == [first]
    assert len(ps.df_read("calc/database.pk")) == 1
