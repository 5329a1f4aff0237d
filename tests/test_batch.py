"""Tests of prep_batch, collect_batch and psweep-push/pull without a batch system."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

import psweep as ps
from psweep.batch.states import is_job_line, run_script_psets

GOLDEN = Path(__file__).parent / "golden"
UUID_RE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")

RUN_PY = """\
import json
a, b = $a, "$b"
with open("result.json", "w") as fh:
    json.dump({"out": a * 2, "b_len": len(b), "seq": $_pset_seq}, fh)
print("price: $$5")
"""

JOBSCRIPT_CLUSTER = """\
#!/bin/sh
#SBATCH --time 00:05:00
#SBATCH -o out.job
#SBATCH -J foo_${_pset_seq}_${_pset_id}
echo "hostname=$$(hostname)"
python3 run.py
"""


def write_templates(root: Path, cluster_info: str = "subcmd: sbatch\n") -> None:
    (root / "templates/calc/sub").mkdir(parents=True)
    (root / "templates/calc/run.py").write_text(RUN_PY)
    (root / "templates/calc/sub/params.txt").write_text("a=$a b=${b} id=$_pset_id\n")
    for name, info, jobscript in (
        ("local", "subcmd: sh\n", "#!/bin/sh\npython3 run.py > out.log\n"),
        ("cluster", cluster_info, JOBSCRIPT_CLUSTER),
    ):
        mdir = root / "templates/machines" / name
        mdir.mkdir(parents=True)
        (mdir / "info.yaml").write_text(info)
        (mdir / "jobscript").write_text(jobscript)


@pytest.fixture
def study(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write_templates(tmp_path)
    return tmp_path


def params(n=3, b="x y"):
    return ps.pgrid(ps.plist("a", range(n)), ps.plist("b", [b]))


def mask(text: str) -> str:
    return UUID_RE.sub("<uuid>", text)


def test_files_per_pset(study):
    """It renders every calc template (with subfolders), each jobscript and pset.json."""
    df = ps.prep_batch(params())
    assert len(df) == 3
    for pset_id, row in df.iterrows():
        folder = study / "calc" / pset_id
        assert sorted(p.name for p in folder.iterdir()) == [
            ".psweep-submit_cluster.sh",  # cluster submits with sbatch: what it submits
            "jobscript_cluster",
            "jobscript_local",
            "pset.json",
            "run.py",
            "sub",
        ]
        assert (folder / "sub/params.txt").read_text() == f"a={row.a} b=x y id={pset_id}\n"
        assert 'print("price: $5")' in (folder / "run.py").read_text()
        pset = json.loads((folder / "pset.json").read_text())
        assert pset["a"] == row.a
        assert pset["_pset_id"] == pset_id
        assert pset["_run_id"] == row._run_id


def test_golden_jobscript_and_submit_script(study):
    """It writes the jobscript, its submit wrapper and the submit script byte for byte as in
    the golden files."""
    ps.prep_batch(params(2))
    df = ps.prep_batch(params(1))
    first = df.index[0]
    assert (
        mask((study / "calc" / first / "jobscript_cluster").read_text())
        == (GOLDEN / "jobscript_cluster").read_text()
    )
    assert (
        mask((study / "calc" / first / ".psweep-submit_cluster.sh").read_text())
        == (GOLDEN / "psweep-submit_cluster.sh").read_text()
    )
    assert (
        mask((study / "calc/run_cluster.sh").read_text()) == (GOLDEN / "run_cluster.sh").read_text()
    )


def test_extension_comments_old_lines(study):
    """It keeps the lines of earlier runs, commented out, and makes only new psets active."""
    df1 = ps.prep_batch(params(2))
    df2 = ps.prep_batch(params(3))
    lines = (study / "calc/run_local.sh").read_text().splitlines()
    job_lines = [ln for ln in lines if "jobscript_local" in ln]
    assert len(job_lines) == 5
    for pid in df1.index:
        assert any(ln.startswith(f"# cd {pid}; sh jobscript_local") for ln in job_lines)
    new = df2.index[~df2.index.isin(df1.index)]
    for pid in new:
        assert any(ln.startswith(f"cd {pid}; sh jobscript_local") for ln in job_lines)


def test_local_submit_script_runs_and_collects(study):
    """It runs the local jobs with the submit script, from any folder, and collects results."""
    df = ps.prep_batch(params(3))
    subprocess.run(["sh", str(study / "calc/run_local.sh")], check=True, cwd="/")
    df = ps.collect_batch()
    assert df["_batch_status"].tolist() == ["done"] * 3
    assert df["out"].tolist() == [0, 2, 4]
    assert df["b_len"].tolist() == [3] * 3
    assert ps.df_read("calc/database.pk").equals(df)


def test_collect_reports_missing_and_invalid(study, caplog):
    """It marks jobs without result as missing and broken results as invalid, and warns."""
    df = ps.prep_batch(params(3))
    ids = list(df.index)
    Path(f"calc/{ids[0]}/result.json").write_text('{"out": 1}')
    Path(f"calc/{ids[1]}/result.json").write_text("{not json")
    with caplog.at_level("WARNING", logger="psweep"):
        df = ps.collect_batch()
    assert df["_batch_status"].tolist() == ["done", "invalid", "missing"]
    assert "2 of 3 jobs" in caplog.text
    assert df.loc[ids[0], "out"] == 1
    assert pd.isna(df.loc[ids[2], "out"])


def test_collect_leaves_out_the_result_of_a_job_that_failed(study, caplog):
    """A result.json left by a job that then exited non-zero is no result: collect_batch
    marks its row failed (as batch_states calls the job) and takes none of its values, and
    warns. The jobs run for real with the `sh` machine: a=1 exits 1 after writing its
    result, a=0 exits 0."""
    Path("templates/calc/run.py").write_text(
        'import json, sys\nwith open("result.json", "w") as fh:\n'
        '    json.dump({"out": $a * 2}, fh)\nsys.exit(1 if $a == 1 else 0)\n'
    )
    ids = ps.prep_batch(params(2)).index.tolist()
    subprocess.run(["sh", "calc/run_local.sh"], check=True, capture_output=True)
    assert all(Path("calc", i, "result.json").exists() for i in ids)
    with caplog.at_level("WARNING", logger="psweep"):
        df = ps.collect_batch()
    assert df["_batch_status"].tolist() == ["done", "failed"]
    assert df.loc[ids[0], "out"] == 0 and pd.isna(df.loc[ids[1], "out"])
    assert "1 of 2 jobs have no usable result.json (1 failed)" in caplog.text
    states = ps.batch_states(machine="local", squeue=False)
    assert states["state"].tolist() == ["done", "failed"]
    assert ps.df_read("calc/database.pk")["_batch_status"].tolist() == ["done", "failed"]


def test_awkward_calc_dir(study):
    """It works with spaces and quotes in calc_dir and substitutes values exactly."""
    calc = "calc dir 'quoted' \"x\"; y"
    df = ps.prep_batch(params(2, b="it's $HOME; `x`"), calc_dir=calc)
    subprocess.run(["sh", f"{calc}/run_local.sh"], check=True)
    pid = df.index[0]
    text = (study / calc / pid / "sub/params.txt").read_text()
    assert text == f"a=0 b=it's $HOME; `x` id={pid}\n"
    df = ps.collect_batch(calc)
    assert df["_batch_status"].tolist() == ["done", "done"]


def test_missing_placeholder_writes_nothing(study):
    """It names template, placeholder and available keys, and writes nothing."""
    with pytest.raises(ps.PsweepTemplateError) as info:
        ps.prep_batch(ps.plist("a", [1, 2]))
    msg = str(info.value)
    assert "run.py" in msg or "params.txt" in msg
    assert "${b}" in msg
    assert "_pset_id" in msg and "a" in msg
    assert not (study / "calc").exists()


def test_placeholder_missing_in_some_psets(study):
    """It refuses params where only some psets have a placeholder's value."""
    with pytest.raises(ps.PsweepTemplateError, match=r"\$\{b\}"):
        ps.prep_batch([{"a": 1, "b": "x"}, {"a": 2}])
    assert not (study / "calc").exists()


def test_bad_dollar(study):
    """It explains a lone dollar sign in a template."""
    (study / "templates/calc/run.py").write_text("cost $ 5\n")
    with pytest.raises(ps.PsweepTemplateError, match=r"line 1.*\$\$"):
        ps.prep_batch(params())


@pytest.mark.parametrize(
    ("remove", "match"), [("info.yaml", "no info.yaml"), ("jobscript", "no jobscript")]
)
def test_incomplete_machine(study, remove, match):
    """It rejects a machine folder without info.yaml or jobscript."""
    (study / "templates/machines/cluster" / remove).unlink()
    with pytest.raises(ps.PsweepTemplateError, match=match):
        ps.prep_batch(params())
    assert not (study / "calc").exists()


@pytest.mark.parametrize(
    ("info", "match"),
    [
        ("subcomd: sh\n", "subcmd"),
        ("subcmd: sh\nhots: x\n", "unknown setting"),
        ("subcmd: sh\narray: true\n", "needs 'subcmd: sbatch'"),
        ("subcmd: sbatch\narray: true\narray_throttle: 0\n", "array_throttle"),
        ("[1, 2]\n", "mapping"),
        ("subcmd: [\n", "not valid YAML"),
    ],
)
def test_bad_info_yaml(study, info, match):
    """It explains what is wrong with a machine's info.yaml."""
    (study / "templates/machines/cluster/info.yaml").write_text(info)
    with pytest.raises(ps.PsweepTemplateError, match=match):
        ps.prep_batch(params())


def test_array_lines_split_and_throttle(tmp_path, monkeypatch):
    """It submits new psets as job arrays of at most max_array_size, throttled."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PATH", "/nonexistent")  # no scontrol: info.yaml decides
    info = "subcmd: sbatch\narray: true\narray_throttle: 2\nmax_array_size: 3\n"
    write_templates(tmp_path, cluster_info=info)
    df = ps.prep_batch(params(7))
    lines = [ln for ln in Path("calc/run_cluster.sh").read_text().splitlines() if "--array" in ln]
    assert lines == [
        "sbatch --array=0-2%2 array_cluster.sh array_cluster_run0_0.txt  # run_seq=0 pset_seq=0-2",
        "sbatch --array=0-2%2 array_cluster.sh array_cluster_run0_1.txt  # run_seq=0 pset_seq=3-5",
        "sbatch --array=0-0%2 array_cluster.sh array_cluster_run0_2.txt  # run_seq=0 pset_seq=6-6",
    ]
    listed = [
        line
        for part in range(3)
        for line in Path(f"calc/array_cluster_run0_{part}.txt").read_text().split()
    ]
    assert listed == list(df.index)


@pytest.mark.parametrize("info", ["subcmd: sh\n", "subcmd: sbatch\narray: true\n"])
def test_a_machine_added_later_lists_only_the_psets_prepared_for_it(study, info):
    """A machine added when the study is extended gets lines only for the psets that have
    its jobscript: no commented-out line (or array line without its list file) for the
    psets prepared before it existed."""
    first = ps.prep_batch(params(2)).index
    mdir = study / "templates/machines/late"
    mdir.mkdir()
    (mdir / "info.yaml").write_text(info)
    (mdir / "jobscript").write_text("#!/bin/sh\npython3 run.py\n")
    df = ps.prep_batch(params(3), skip_dups=True)
    (new,) = df.index.difference(first)
    assert list(run_script_psets("calc", "late")) == [(new, True)]
    jobs = [ln for ln in (study / "calc/run_late.sh").read_text().splitlines() if is_job_line(ln)]
    assert len(jobs) == 1 and not jobs[0].startswith("#")
    assert ps.batch_states("calc", machine="late", squeue=False)["_pset_id"].tolist() == [new]
    assert len(list(run_script_psets("calc", "local"))) == 3


def test_simulate_writes_to_simulate_dir(study):
    """It prepares a dry run in calc.simulate/, leaving calc/ untouched."""
    ps.prep_batch(params(2))
    before = sorted(os.listdir("calc"))
    df = ps.prep_batch(params(3), simulate=True)
    assert sorted(os.listdir("calc")) == before
    assert len(df) == 5
    assert (study / "calc.simulate" / df.index[-1] / "run.py").exists()
    assert "# cd" in (study / "calc.simulate/run_local.sh").read_text()


def cli(name: str, *args: str) -> subprocess.CompletedProcess:
    code = f"from psweep.cli import {name}; {name}()"
    return subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, check=False
    )


@pytest.mark.needs_tool("rsync")
def test_push_pull_local_destination(study):
    """It copies calc/ to the machine's path and back with rsync; --dry-run copies nothing."""
    dest = study / "remote side"
    info = study / "templates/machines/local/info.yaml"
    info.write_text(f"subcmd: sh\npath: {dest}\n")
    df = ps.prep_batch(params(2))
    proc = cli("push", "local", "--dry-run")
    assert proc.returncode == 0, proc.stderr
    assert "run_local.sh" in proc.stdout
    assert not dest.exists()
    proc = cli("push", "local")
    assert proc.returncode == 0, proc.stderr
    assert (dest / "calc" / df.index[0] / "run.py").exists()
    assert not (dest / "calc/.psweep").exists()
    subprocess.run(["sh", str(dest / "calc/run_local.sh")], check=True)
    proc = cli("pull", "local")
    assert proc.returncode == 0, proc.stderr
    assert ps.collect_batch()["_batch_status"].tolist() == ["done", "done"]


def test_push_needs_path(study):
    """It says which setting is missing when info.yaml has no path."""
    proc = cli("push", "local")
    assert proc.returncode == 2
    assert "no 'path'" in proc.stderr


def test_example_batch_with_git(tmp_path):
    """The batch_with_git example prepares, runs, collects and commits, then cleans up."""
    root = Path(__file__).resolve().parents[1]
    example = tmp_path / "batch example"
    shutil.copytree(root / "examples/batch_with_git", example)
    before = sorted(p.relative_to(example) for p in example.rglob("*"))
    home = tmp_path / "home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GIT_", "EMAIL"))}
    env.update(HOME=str(home), GIT_CONFIG_NOSYSTEM="1", PYTHONPATH=str(root))
    proc = subprocess.run(
        ["sh", str(example / "run_example.sh")], env=env, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    df = ps.df_read(example / "calc/database.pk")
    assert len(df) == 4
    assert (df["_batch_status"] == "done").all()
    assert (df["energy"] > 0).all()
    log = subprocess.run(
        ["git", "log", "--format=%s"], cwd=example, env=env, capture_output=True, text=True
    ).stdout
    assert f"run_id={df['_run_id'].iloc[0]}" in log
    cluster = (example / "calc/run_cluster.sh").read_text()
    assert cluster.count('sbatch "$PWD"/.psweep-submit_cluster.sh') == 4
    jobscript = (example / "calc" / df.index[0] / "jobscript_cluster").read_text()
    assert 'echo "running on $(hostname)"' in jobscript
    assert "#SBATCH -J batch_0" in jobscript
    wrapper = (example / "calc" / df.index[0] / ".psweep-submit_cluster.sh").read_text()
    assert "#SBATCH -J batch_0" in wrapper  # sbatch reads the directives from what it gets
    subprocess.run(["sh", str(example / "clean.sh")], check=True, env=env)
    assert sorted(p.relative_to(example) for p in example.rglob("*")) == before


@pytest.mark.parametrize("name", ["my machine", "x$(touch PWNED)", "-rf", "a;b"])
def test_machine_folder_names_checked(study, name):
    """Issue 10 case 18: a machine folder whose name a shell would misread is refused first."""
    mdir = study / "templates/machines" / name
    mdir.mkdir()
    (mdir / "info.yaml").write_text("subcmd: sh\n")
    (mdir / "jobscript").write_text("#!/bin/sh\necho hi\n")
    with pytest.raises(ps.PsweepTemplateError, match="is not allowed") as exc:
        ps.prep_batch(params(2))
    assert "rename the folder" in str(exc.value)
    assert not (study / "calc").exists()
    assert not (study / "PWNED").exists()


@pytest.mark.parametrize(
    ("args", "info", "message"),
    [
        (["../../elsewhere"], None, "machine name '../../elsewhere' is not allowed"),
        (["local"], "subcmd: sh\nhost: -oProxyCommand=touch PWNED\npath: /x\n", "host"),
        (["local"], "subcmd: sh\npath: --delete\n", "path '--delete' is not allowed"),
    ],
)
def test_push_pull_refuse_option_like_names(study, args, info, message):
    """Machine names with path parts and option-like hosts or paths never reach rsync."""
    if info is not None:
        (study / "templates/machines/local/info.yaml").write_text(info)
    ps.prep_batch(params(1))
    for direction in ("push", "pull"):
        proc = cli(direction, *args)
        assert proc.returncode == 2, proc.stdout + proc.stderr
        assert message in proc.stderr
        assert "rsync" not in proc.stdout
    assert not (study / "PWNED").exists()


@pytest.mark.needs_tool("rsync")
def test_pull_merges_instead_of_overwriting(study):
    """Issue 10 case 7: rows added here after the push survive the pull; results collected
    on the machine arrive."""
    dest = study / "remote"
    (study / "templates/machines/local/info.yaml").write_text(f"subcmd: sh\npath: {dest}\n")
    ps.prep_batch(params(2))
    assert cli("push", "local").returncode == 0
    # on the machine: the jobs run and are collected there
    subprocess.run(["sh", str(dest / "calc/run_local.sh")], check=True, capture_output=True)
    ps.collect_batch(str(dest / "calc"))
    # here, in another process: one more pset is prepared after the push
    code = "import psweep as ps; ps.prep_batch([{'a': 9, 'b': 'z'}])"
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)
    proc = cli("pull", "local")
    assert proc.returncode == 0, proc.stderr
    assert "0 new rows, 2 rows updated" in proc.stdout
    df = ps.df_read("calc/database.pk")
    assert df["a"].tolist() == [0, 1, 9]
    assert df["_batch_status"].tolist()[:2] == ["done", "done"]
    assert df["out"].tolist()[:2] == [0, 2]
    assert pd.isna(df["out"].iloc[2])


def test_simulate_with_database_dir_leaves_the_database_alone(study):
    """Issue 20: prep_batch(simulate=True) in a study with database_dir writes its files
    and the copy of the database in calc.simulate/, never the study's database."""
    ps.prep_batch(params(2), database_dir="db")
    before = (study / "db/database.pk").read_bytes()
    df = ps.prep_batch(params(3), simulate=True, database_dir="db")
    assert (study / "db/database.pk").read_bytes() == before
    assert len(ps.df_read("calc.simulate/database.pk")) == len(df) == 5
    assert (study / "calc.simulate" / df.index[-1] / "run.py").exists()


def _pull_setup(study: Path) -> Path:
    dest = study / "remote"
    (study / "templates/machines/local/info.yaml").write_text(f"subcmd: sh\npath: {dest}\n")
    ps.run_local(lambda pset: {"y": pset["a"]}, ps.plist("a", [1, 2]))
    assert cli("push", "local").returncode == 0
    return dest / "calc"


def _check_ids_and_seqs(df: pd.DataFrame) -> None:
    assert list(df.index) == list(df["_pset_id"])
    assert df.index.is_unique
    assert sorted(df["_pset_seq"]) == list(range(len(df)))
    # a run is one _run_seq, and each run its own
    per_run = df.groupby("_run_id")["_run_seq"].agg(["nunique", "first"])
    assert (per_run["nunique"] == 1).all() and per_run["first"].is_unique


@pytest.mark.needs_tool("rsync")
def test_pull_renumbers_runs_made_on_both_sides(study):
    """Issue 20: after a pull that merges runs made here and there since the push, every
    _run_seq is one run's and every _pset_seq is one row's (the remote's runs follow ours)."""
    remote = _pull_setup(study)
    ps.run_local(lambda pset: {"y": pset["a"]}, ps.plist("a", [3, 4]), calc_dir=str(remote))
    ps.run_local(lambda pset: {"y": pset["a"]}, ps.plist("a", [5]))
    proc = cli("pull", "local")
    assert proc.returncode == 0, proc.stderr
    assert "2 new rows" in proc.stdout
    df = ps.df_read("calc/database.pk")
    assert df["a"].tolist() == [1, 2, 5, 3, 4]
    _check_ids_and_seqs(df)
    assert df["_run_seq"].tolist() == [0, 0, 1, 2, 2]
    assert df["_pset_seq"].tolist() == [0, 1, 2, 3, 4]


def _as_written_by_psweep_016(rows: pd.DataFrame, new: list[dict]) -> pd.DataFrame:
    """A database as the real psweep 0.16 leaves one it extended: a RangeIndex, object
    columns, its own (joblib) hash in _pset_hash, no _pset_sha1 in its new rows."""
    old = rows.reset_index(drop=True)
    base = {"_run_id": "run-016", "_run_seq": 1, "_calc_dir": "calc", "_exec_host": "there"}
    added = pd.DataFrame(
        [
            {
                **pset,
                **base,
                "y_": pset["a"],  # 0.16's name of a result
                "_pset_id": f"id-016-{k}",
                "_pset_seq": 2 + k,
                "_pset_hash": f"{k:040x}",  # not psweep.pset_hash
                "_time_utc": pd.Timestamp("2024-01-01"),
                "_pset_runtime": 0.5,
            }
            for k, pset in enumerate(new)
        ]
    )
    # and, as 0.16 does when it extends a database indexed by _pset_id, rows that hold
    # nothing but a hash (it sets _pset_hash by the old rows' ids, which it no longer has)
    junk = pd.DataFrame({"_pset_hash": [f"{k:040x}" for k in range(10, 10 + len(old))]})
    parts = [part.astype(object) for part in (old, junk, added)]  # 0.16 keeps ints as ints
    return pd.concat(parts, ignore_index=True)


@pytest.mark.needs_tool("rsync")
def test_pull_of_a_016_database_keeps_the_070_layout(study):
    """Issue 20: a remote database in psweep 0.16's layout leaves the local 0.7.0 database
    indexed by _pset_id only, with our _pset_sha1 in every row (none of 0.16's hashes)."""
    remote = _pull_setup(study)
    df016 = _as_written_by_psweep_016(ps.df_read(remote / "database.pk"), [{"a": 7}, {"a": 8}])
    assert isinstance(df016.index, pd.RangeIndex)
    df016.to_pickle(remote / "database.pk")
    proc = cli("pull", "local")
    assert proc.returncode == 0, proc.stderr
    df = ps.df_read("calc/database.pk")
    assert df["a"].tolist() == [1, 2, 7, 8]
    _check_ids_and_seqs(df)
    assert df["_pset_sha1"].tolist() == [ps.pset_hash({"a": a}) for a in [1, 2, 7, 8]]
    assert "_pset_hash" not in df.columns  # a 0.7.0 database keeps its columns
    # the next run extends it as its own
    df = ps.run_local(lambda pset: {"y": pset["a"]}, ps.plist("a", [1, 7, 9]), skip_dups=True)
    assert df["a"].tolist() == [1, 2, 7, 8, 9]
    _check_ids_and_seqs(df)


@pytest.mark.needs_tool("rsync")
@pytest.mark.parametrize("content", [[1, 2, 3], b"not a pickle at all"])
def test_pull_of_a_remote_file_that_is_no_database(study, content):
    """Issue 20: a remote database file that holds no DataFrame is one line of error that
    names the remote file (not the staging copy); the local database is left as it was."""
    remote = _pull_setup(study)
    fn = remote / "database.pk"
    if isinstance(content, bytes):
        fn.write_bytes(content)
    else:
        pd.to_pickle(content, fn)
    before = (study / "calc/database.pk").read_bytes()
    proc = cli("pull", "local")
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    (line,) = proc.stderr.strip().splitlines()
    assert str(fn) in line
    assert ".psweep" not in line
    assert (study / "calc/database.pk").read_bytes() == before


@pytest.mark.parametrize("crash_at", ["journal-removed", "executed"])
def test_prep_batch_killed_then_rerun_with_skip_dups_writes_the_submit_scripts(study, crash_at):
    """Issue 20: prep_batch killed after it wrote the pset folders (before the submit
    scripts) and run again with skip_dups=True writes run_<machine>.sh with a line for
    each of those psets, so their jobs can be submitted."""
    params2 = "ps.pgrid(ps.plist('a', range(2)), ps.plist('b', ['x y']))"
    code = f"import psweep as ps; ps.prep_batch({params2}, skip_dups=True)"
    env = {**os.environ, "PSWEEP_CRASH_AT": crash_at}
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True)
    assert proc.returncode != 0
    assert not (study / "calc/run_local.sh").exists()
    df = ps.prep_batch(params(2), skip_dups=True)
    assert sorted(df["a"]) == [0, 1]
    for machine in ("local", "cluster"):
        listed = dict(run_script_psets("calc", machine))
        assert listed == dict.fromkeys(df.index, True), machine
    subprocess.run(["sh", "calc/run_local.sh"], check=True, capture_output=True)
    assert (ps.collect_batch()["_batch_status"] == "done").all()
    # a third run plans nothing and has nothing left to add: the lines stay
    before = (study / "calc/run_local.sh").read_text()
    ps.prep_batch(params(2), skip_dups=True)
    assert (study / "calc/run_local.sh").read_text() == before


@pytest.mark.parametrize("crash_at", ["run-recorded", "journal-removed"])
def test_prep_batch_killed_recovered_then_extended_submits_each_pset_once(study, crash_at):
    """A prep_batch killed after its merge, its run recovered twice by ps.recover, then an
    extension with skip_dups=True: the submit script has one active line for the killed
    run's pset (prepared, never submitted) and one for the new pset, no other, and
    running it gives both results (the study model's replay; the pset is not prepared
    twice and no line of the crashed run existed before)."""
    code = "import psweep as ps; ps.prep_batch([{'a': 0, 'b': 'x y'}], skip_dups=True)"
    env = {**os.environ, "PSWEEP_CRASH_AT": crash_at}
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True)
    assert proc.returncode == -9, proc.stderr
    killed = ps.df_read("calc/database.pk").index.tolist()
    assert len(killed) == 1
    ps.recover()
    ps.recover()
    df = ps.prep_batch(params(2), skip_dups=True)
    assert len(df) == 2
    (new,) = df.index.difference(killed)
    for machine in ("local", "cluster"):
        listed = list(run_script_psets("calc", machine))
        assert sorted(listed) == sorted([(killed[0], True), (new, True)]), machine
    assert sorted(p.name for p in (study / "calc").iterdir() if UUID_RE.match(p.name)) == sorted(
        df.index
    )
    subprocess.run(["sh", "calc/run_local.sh"], check=True, capture_output=True)
    assert ps.collect_batch()["_batch_status"].tolist() == ["done", "done"]


def test_collect_batch_keeps_a_016_database_in_its_layout(study):
    """collect_batch on a database of ps.run (indexed by _pset_seq) finds each pset's
    result by its _pset_id and writes the database back in 0.16's layout."""
    df = ps.run(lambda pset: {}, ps.plist("a", [1, 2]))
    for pset_id, a in zip(df["_pset_id"], df["a"], strict=True):
        (study / "calc" / pset_id).mkdir()
        (study / "calc" / pset_id / "result.json").write_text(json.dumps({"out": a * 10}))
    out = ps.collect_batch()
    on_disk = ps.df_read("calc/database.pk")
    for frame in (out, on_disk):
        assert list(frame.index) == list(frame["_pset_seq"]) == [0, 1]
        assert frame["_batch_status"].tolist() == ["done", "done"]
        assert frame["out"].tolist() == [10, 20]
    assert "_pset_sha1" not in on_disk.columns


def test_prep_batch_in_a_process_pool(study):
    """prep_batch(..., poolsize=2) writes the pset folders in a pool, as its docstring says
    (its own func was a closure, which a pool cannot pickle; found by the study model)."""
    df = ps.prep_batch(params(4), poolsize=2)
    assert len(df) == 4
    for pset_id in df.index:
        assert (study / "calc" / pset_id / "run.py").is_file()
    assert dict(run_script_psets("calc", "local")) == dict.fromkeys(df.index, True)


@pytest.mark.needs_tool("rsync")
def test_pull_keeps_the_submit_scripts_prepared_here(study):
    """A pull does not copy the remote's run_<machine>.sh over the local one: psets
    prepared here after the push keep their job lines (found by the study model)."""
    info = study / "templates/machines/local/info.yaml"
    info.write_text(f"subcmd: sh\npath: {study / 'remote'}\n")
    ps.prep_batch(params(2))
    assert cli("push", "local").returncode == 0
    df = ps.prep_batch(params(4), skip_dups=True)
    before = (study / "calc/run_local.sh").read_text()
    proc = cli("pull", "local")
    assert proc.returncode == 0, proc.stderr
    assert (study / "calc/run_local.sh").read_text() == before
    listed = dict(run_script_psets("calc", "local"))
    assert set(listed) == set(df.index)
    assert all(listed[i] for i in df.index[2:])  # the two prepared after the push
