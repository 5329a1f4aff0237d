"""End-to-end tests of examples/compat016/: workflows written for psweep 0.16.

Each workflow is copied into ``tmp_path`` and its steps run there in order,
as a 0.16 user would run them: each script in a fresh interpreter
(``sys.executable``), each generated ``run_<machine>.sh`` with ``sh``. The
repository root comes first on PYTHONPATH, so the in-repo package is used,
and the interpreter's directory first on PATH, so the jobscripts' ``python3``
is the test's interpreter. The tests read the databases with pandas directly
and check what a 0.16 user reads from them.
"""

import ast
import os
import platform
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import psweep as ps

ROOT = Path(__file__).resolve().parents[1]
FOLDER = ROOT / "examples" / "compat016"

# The public names of psweep 0.16 that the examples may use (spec §1-§8).
API_016 = {
    "pj", "run", "pset_hash", "plist", "pgrid", "stargrid", "itr2params", "merge_dicts",
    "filter_params_unique", "filter_params_dup_hash", "filter_cols", "df_read", "df_write",
    "df_print", "df_filter_conds", "df_extract_params", "df_extract_dicts", "df_extract_row",
    "df_extract_pset", "df_update_pset_hash", "df_update_pset_cols", "df_ensure_dtypes",
    "flatten_dict", "json_read", "json_write", "file_read", "file_write", "pickle_read",
    "pickle_write", "get_uuid", "get_many_uuids", "FileTemplate", "Machine",
    "gather_calc_templates", "gather_machines", "prep_batch",
}  # fmt: skip
BOOKKEEPING_016 = [
    "_pset_hash", "_pset_id", "_run_seq", "_pset_seq", "_run_id", "_calc_dir", "_time_utc",
    "_exec_host", "_pset_runtime",
]  # fmt: skip
# prep_batch is a psweep 0.7.0 name too: its database has 0.7.0's columns (README)
BOOKKEEPING_070 = [c for c in BOOKKEEPING_016 if c not in ("_pset_hash", "_exec_host")]
SCRIPTS = sorted(
    p.relative_to(FOLDER).as_posix()
    for p in FOLDER.rglob("*.py")
    if "templates" not in p.relative_to(FOLDER).parts
)
UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"


def step(cwd: Path, *args: str) -> str:
    """Run one step of a workflow in cwd; it must exit 0. Return its stdout."""
    pythonpath = [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(pythonpath),
        "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ["PATH"]]),
    }
    proc = subprocess.run(
        list(args), cwd=cwd, capture_output=True, text=True, env=env, timeout=120, check=False
    )
    if proc.returncode != 0:
        pytest.fail(f"{args} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}")
    return proc.stdout


def python(cwd: Path, script: str) -> str:
    return step(cwd, sys.executable, script)


def copy_example(tmp_path: Path, name: str) -> Path:
    """Copy a script or a workflow folder of examples/compat016 into tmp_path."""
    src = FOLDER / name
    if src.is_dir():
        return Path(shutil.copytree(src, tmp_path / name))
    shutil.copy(src, tmp_path / name)
    return tmp_path


def read_db(path: Path, columns: list[str] = BOOKKEEPING_016) -> pd.DataFrame:
    df = pd.read_pickle(path)
    assert set(columns) <= set(df.columns), path
    assert df._pset_id.is_unique
    return df


def job_dirs(calc: Path, df: pd.DataFrame) -> list[Path]:
    return [calc / pset_id for pset_id in df._pset_id]


def rows(df: pd.DataFrame) -> list[pd.Series]:
    return [row for _, row in df.iterrows()]


def run_script_lines(path: Path) -> tuple[list[str], list[str]]:
    """Commented (earlier runs) and active job lines of a run_<machine>.sh."""
    lines = [ln for ln in path.read_text().splitlines() if "run_seq=" in ln]
    return [ln for ln in lines if ln.startswith("# ")], [ln for ln in lines if ln[0] != "#"]


@pytest.mark.parametrize("name", SCRIPTS)
def test_script_is_documented_and_uses_only_016_names(name):
    """Each script says how to run it, is in the README and calls only 0.16 names."""
    text = (FOLDER / name).read_text()
    doc = ast.get_docstring(ast.parse(text))
    assert doc
    assert "psweep 0.16" in doc
    assert f"python {Path(name).name}" in doc
    assert "import psweep as ps" in text
    assert name.split("/")[0] in (FOLDER / "README.md").read_text()
    used = {
        node.attr
        for node in ast.walk(ast.parse(text))
        if isinstance(node, ast.Attribute)
        and isinstance(node.value, ast.Name)
        and node.value.id == "ps"
    }
    assert used, f"{name} uses no psweep name"
    assert used <= API_016, f"{name} uses names that 0.16 lacks: {used - API_016}"


def test_capture_logs(tmp_path):
    """The log text goes to _logs, to calc/<_pset_id>/logs.txt, or to both."""
    cwd = copy_example(tmp_path, "capture_logs.py")
    python(cwd, "capture_logs.py")
    calc = cwd / "calc" / "capture_logs"
    df = read_db(calc / "database.pk", BOOKKEEPING_070)
    assert "_logs" in df.columns
    assert len(df) == 9
    assert df.groupby("_run_seq").a.apply(list).to_dict() == {r: [1, 2, 3] for r in range(3)}
    assert df[df.a == 2].result_.tolist() == [4, 4, 4]
    mode = dict(zip(range(3), ["db", "file", "db+file"], strict=True))
    for _, row in df.iterrows():
        logs_file = calc / row._pset_id / "logs.txt"
        texts = []
        if "db" in mode[row._run_seq]:
            texts.append(row._logs)
        else:
            assert pd.isna(row._logs)
        if "file" in mode[row._run_seq]:
            texts.append(logs_file.read_text())
        else:
            assert not logs_file.exists()
        for txt in texts:
            assert f"start a={row.a}\nhello from a child process\na warning on stderr\n" in txt
            assert (f"ValueError: odd a={row.a}" in txt) == (row.a % 2 == 1)
        assert len(set(texts)) == 1


def test_repeat_failed(tmp_path):
    """Failed psets are run again with the same _pset_hash and then end done."""
    cwd = copy_example(tmp_path, "repeat_failed.py")
    db = cwd / "calc" / "repeat_failed" / "database.pk"
    python(cwd, "repeat_failed.py")
    df = read_db(db)
    first, again = df[df._run_seq == 0], df[df._run_seq == 1]
    assert first.a.tolist() == list(range(7))
    assert first[first._failed].a.tolist() == [0, 3, 6]
    assert all("RuntimeError: cannot handle" in txt for txt in first[first._failed]._logs)
    assert first[first._failed]._exc_txt.str.contains("RuntimeError").all()
    assert again._pset_hash.tolist() == first[first._failed]._pset_hash.tolist()
    assert again.a.tolist() == [0, 3, 6]
    assert not again._failed.any()
    assert again.result_.tolist() == [0, 30, 60]
    assert df._pset_hash.tolist() == [ps.pset_hash({"a": a}) for a in [*range(7), 0, 3, 6]]

    # A second start runs the buggy func again, but repeats nothing: the
    # psets that fail now succeeded before.
    python(cwd, "repeat_failed.py")
    df = read_db(db)
    assert len(df) == 7 + 3 + 7
    assert df._run_seq.max() == 2
    assert set(df[df._failed == False]._pset_hash) == set(df._pset_hash)  # noqa: E712


def test_tree_study(tmp_path):
    """Each node's result becomes a parameter of two leaves."""
    cwd = copy_example(tmp_path, "tree_study.py")
    python(cwd, "tree_study.py")
    nodes = read_db(cwd / "calc" / "tree_study" / "nodes.pk")
    leaves = read_db(cwd / "calc" / "tree_study" / "leaves.pk")
    assert len(nodes) == 4
    assert len(leaves) == 8
    assert (leaves.leaf_result_ == leaves.node_result + leaves.c).all()
    for _, node in nodes.iterrows():
        mine = leaves[(leaves.a == node.a) & (leaves.b == node.b)]
        assert mine.c.tolist() == [100, 200]
        assert (mine.node_result == node.node_result_).all()
    # node_result is a parameter of the leaves, so it is part of their hash
    assert leaves._pset_hash.is_unique


def test_vary_2_params_repeat(tmp_path):
    """Two runs extend one database; the repeated grid with skip_dups adds no rows."""
    cwd = copy_example(tmp_path, "vary_2_params_repeat.py")
    out = python(cwd, "vary_2_params_repeat.py")
    df = read_db(cwd / "calc" / "vary_2_params_repeat" / "database.pk")
    assert len(df) == 6 + 4
    assert df._run_seq.tolist() == [0] * 6 + [1] * 4
    assert df._pset_seq.tolist() == list(range(10))
    assert df._run_id.nunique() == 2
    assert df._pset_hash.is_unique
    assert df._pset_hash.tolist() == [
        ps.pset_hash({"a": a, "b": b}) for a, b in zip(df.a, df.b, strict=True)
    ]
    assert (df.result_ == df.a * df.b).all()
    assert df._pset_hash.iloc[-1] in out


def test_benchmark_shell_command(tmp_path):
    """One timing per pset, with the constant label and the executing host."""
    cwd = copy_example(tmp_path, "benchmark_shell_command.py")
    python(cwd, "benchmark_shell_command.py")
    df = read_db(cwd / "calc" / "benchmark_shell_command" / "database.pk")
    assert list(zip(df.a, df.b, strict=True)) == [(1, 1.0), (1, 2.0), (2, 1.0), (2, 2.0)]
    assert (df.label == "sleep").all()
    assert df.cmd_.str.match(r"sleep \d\.\d{4}$").all()
    assert (df.timing_.astype(float) > 0).all()
    assert (df._exec_host == platform.node()).all()


def test_multiple_local_1d_scans(tmp_path):
    """stargrid gives labelled 1d scans; the extension keeps a backup of calc/."""
    cwd = copy_example(tmp_path, "multiple_local_1d_scans")
    out = python(cwd, "10run.py")
    df = read_db(cwd / "calc" / "database.pk")
    assert list(zip(df.a, df.b, df._vary, strict=True)) == [
        (1, 77, "a"),
        (2, 77, "a"),
        (3, 77, "a"),
        (1, 66, "b"),
    ]
    assert (df.result_ == df.a * df.b).all()
    assert "_vary" in out  # verbose= prints the chosen columns
    run_id_0 = df._run_id.iloc[-1]

    python(cwd, "20run.py")
    df = read_db(cwd / "calc" / "database.pk")
    assert len(df) == 6
    new = df[df._run_seq == 1]
    assert list(zip(new.a, new.b, new._vary, strict=True)) == [(1, 88, "b"), (1, 99, "b")]
    backups = list(cwd.glob("calc.bak_*"))
    assert len(backups) == 1
    assert re.fullmatch(
        rf"calc\.bak_\d{{4}}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z_run_id_{run_id_0}", backups[0].name
    )
    assert len(read_db(backups[0] / "database.pk")) == 4


def test_save_data_on_disk(tmp_path):
    """Each pset's file sits in calc/<_pset_id>/; the evaluation adds mean_."""
    cwd = copy_example(tmp_path, "save_data_on_disk")
    python(cwd, "10run.py")
    df = read_db(cwd / "calc" / "database.pk")
    assert df.a.tolist() == [1, 2, 3, 4]
    for path, a in zip(job_dirs(cwd / "calc", df), df.a, strict=True):
        np.testing.assert_allclose(np.loadtxt(path / "output.txt"), [a, 2 * a, 4 * a])

    python(cwd, "20eval.py")
    ev = read_db(cwd / "calc" / "database_eval.pk")
    assert ev.a.tolist() == [2, 3, 4]
    np.testing.assert_allclose(ev.mean_.astype(float), ev.a * 7 / 3)


def assert_rendered(job_dir: Path, names: list[str]) -> None:
    for name in names:
        text = (job_dir / name).read_text()
        assert "{{" not in text
        assert "}}" not in text
        assert job_dir.name in text or name == "run.py"


def test_batch_templates(tmp_path):
    """Jinja templates become job dirs; run_local.sh runs each new job once."""
    cwd = copy_example(tmp_path, "batch_templates")
    calc = cwd / "calc"
    python(cwd, "10input.py")
    df = read_db(calc / "database.pk", BOOKKEEPING_070)
    assert len(df) == 6
    for path, row in zip(job_dirs(calc, df), rows(df), strict=True):
        assert_rendered(path, ["run.py", "jobscript_local", "jobscript_cluster"])
        run_py = (path / "run.py").read_text()
        assert f"param_a = {row.param_a}\nparam_b = {row.param_b}\n" in run_py
        assert f"pset_id={row._pset_id} run_id={row._run_id}" in run_py
        cluster = (path / "jobscript_cluster").read_text()
        assert f"#SBATCH --job-name=pset_{row._pset_seq}_{row._pset_id}\n" in cluster
        wrapper = (path / ".psweep-submit_cluster.sh").read_text()  # what sbatch gets
        assert f"#SBATCH --job-name=pset_{row._pset_seq}_{row._pset_id}\n" in wrapper
    for machine, submitted in [
        ("local", "sh jobscript_local"),
        ("cluster", 'sbatch "$PWD"/.psweep-'),
    ]:
        old, active = run_script_lines(calc / f"run_{machine}.sh")
        assert old == []
        assert len(active) == 6
        assert all(submitted in ln for ln in active)

    out = step(calc, "sh", "run_local.sh")
    assert re.findall(rf"pset ({UUID}) on ", out) == df._pset_id.tolist()
    assert all((path / "out.npy").is_file() for path in job_dirs(calc, df))

    python(cwd, "15input.py")
    df = read_db(calc / "database.pk", BOOKKEEPING_070)
    assert list(zip(df.param_a, df.param_b, strict=True))[6:] == [(5, 99), (6, 99)]
    old, active = run_script_lines(calc / "run_local.sh")
    assert len(old) == 6
    assert [ln.split("# ")[-1] for ln in active] == ["run_seq=1 pset_seq=6", "run_seq=1 pset_seq=7"]
    out = step(calc, "sh", "run_local.sh")
    assert re.findall(rf"pset ({UUID}) on ", out) == df._pset_id.tolist()[6:]

    python(cwd, "20eval.py")
    ev = read_db(calc / "database_eval.pk", BOOKKEEPING_070)
    np.testing.assert_allclose(ev.mean_.astype(float), (ev.param_a + ev.param_b) / 4)


def test_batch_templates_read_from_db(tmp_path):
    """Jobs find their pset in ../database.pk by _pset_id; pset.pk has the same one."""
    cwd = copy_example(tmp_path, "batch_templates_read_from_db")
    calc = cwd / "calc"
    python(cwd, "10input.py")
    df = read_db(calc / "database.pk", BOOKKEEPING_070)
    for path, row in zip(job_dirs(calc, df), rows(df), strict=True):
        assert_rendered(path, ["run.py", "jobscript_local"])
        assert f'"{row._pset_id}"' in (path / "run.py").read_text()
        pset = pd.read_pickle(path / "pset.pk")
        assert {k: pset[k] for k in ["param_a", "param_b", "_pset_hash", "_pset_id"]} == {
            "param_a": row.param_a,
            "param_b": row.param_b,
            "_pset_hash": row._pset_sha1,
            "_pset_id": row._pset_id,
        }
        assert "_exec_host" in pset
    step(calc, "sh", "run_local.sh")
    for path, row in zip(job_dirs(calc, df), rows(df), strict=True):
        log = (path / "out.log").read_text()
        assert f"_pset_hash={row._pset_sha1}: " in log
        assert f"'param_a': {row.param_a}, 'param_b': {row.param_b}" in log

    python(cwd, "20eval.py")
    ev = read_db(calc / "database_eval.pk", BOOKKEEPING_070)
    np.testing.assert_allclose(ev.mean_.astype(float), (ev.param_a + 88) / 4)


def test_batch_templates_simulate(tmp_path):
    """prep_batch(simulate=True) writes the extension to calc.simulate/ only."""
    cwd = copy_example(tmp_path, "batch_templates_simulate")
    calc, sim = cwd / "calc", cwd / "calc.simulate"
    python(cwd, "10input.py")
    step(calc, "sh", "run_local.sh")
    python(cwd, "20eval.py")
    before = {p: p.read_bytes() for p in calc.rglob("*") if p.is_file()}

    python(cwd, "15input.py")
    assert {p: p.read_bytes() for p in calc.rglob("*") if p.is_file()} == before
    real = read_db(calc / "database.pk", BOOKKEEPING_070)
    dry = read_db(sim / "database.pk", BOOKKEEPING_070)
    assert len(real) == 6
    assert len(dry) == 8
    assert dry._pset_id.tolist()[:6] == real._pset_id.tolist()
    assert dry._pset_sha1.tolist()[:6] == real._pset_sha1.tolist()
    assert dry._run_seq.tolist()[6:] == [1, 1]
    assert dry._pset_seq.tolist()[6:] == [6, 7]
    for path in job_dirs(sim, dry.iloc[6:]):
        assert_rendered(path, ["run.py", "jobscript_local"])
        assert not (calc / path.name).exists()
    old, active = run_script_lines(sim / "run_local.sh")
    assert (len(old), len(active)) == (6, 2)
