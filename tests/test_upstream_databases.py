"""Databases made by the real psweep 0.7.0 and 0.16.0 are extended and resumed by ours.

Each upstream release is installed from the package index into a venv of its own
(without system site-packages); our package is never importable there. To save the
minutes a second copy of pandas and numpy would take to install, the venv is given
the third-party libraries of the test environment through a ``.pth`` line that
names their folder: a plain path entry, so the ``.pth`` files in that folder (among
them the one that makes our editable install importable) are not run, and
``import psweep`` finds the upstream release in the venv's own site-packages.
"""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import textwrap
import venv
from pathlib import Path

import pandas as pd
import pytest

import psweep as ps

RELEASES = ("0.7.0", "0.16.0")


def _make_upstream_venv(root: Path, version: str) -> Path:
    env_dir = root / f"psweep-{version}"
    venv.create(env_dir, with_pip=True, system_site_packages=False)
    python = env_dir / "bin" / "python"
    subprocess.run(
        [str(python), "-m", "pip", "install", "-q", "--no-deps", f"psweep=={version}"],
        check=True,
        env={**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"},
    )
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    ours = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    Path(site, "zz-test-env-libraries.pth").write_text("".join(f"{p}\n" for p in sorted(ours)))
    out = subprocess.run(
        [str(python), "-c", "import psweep, sys; print(psweep.__file__)"],
        check=True,
        capture_output=True,
        text=True,
        cwd=root,
    ).stdout
    assert out.startswith(str(env_dir)), f"upstream psweep {version} not the one imported: {out}"
    return python


@pytest.fixture(scope="module")
def upstream(tmp_path_factory):
    root = tmp_path_factory.mktemp("upstream")
    return {version: _make_upstream_venv(root, version) for version in RELEASES}


def run_upstream(python: Path, cwd: Path, code: str) -> None:
    # cwd holds no psweep/ folder, so only the venv's release can be imported
    subprocess.run([str(python), "-c", textwrap.dedent(code)], check=True, cwd=cwd)


MAKE_016 = """
    import psweep as ps

    def func(pset):
        return {"y_": pset["a"] * 10}

    ps.run(func, ps.plist("a", [1, 2, 3]))
    ps.run(func, [{"a": 4, "b": "x"}])   # a new column: old rows get pd.NA there
"""

MAKE_070 = """
    import psweep as ps

    def func(pset):
        return {"y": pset["a"] * 10}

    ps.run_local(func, ps.plist("a", [1, 2, 3]))
    ps.run_local(func, [{"a": 4, "b": "x"}])
"""

# our side: count the psets that really run, with a file per call
OURS = """
    import os, sys
    import psweep as ps

    def func(pset):
        open(os.path.join("ran", str(pset["a"])), "w").close()
        return {{"y_": pset["a"] * 10}}

    os.makedirs("ran", exist_ok=True)
    params = [{{"a": 1}}, {{"a": 2}}, {{"a": 3}}, {{"a": 4, "b": "x"}}, {{"a": 5}}, {{"a": 6}}]
    ps.{entry}(func, params, skip_dups=True)
"""


def run_ours(cwd: Path, entry: str, crash_at: str | None = None) -> int:
    env = {k: v for k, v in os.environ.items() if k != "PSWEEP_CRASH_AT"}
    if crash_at:
        env["PSWEEP_CRASH_AT"] = crash_at
    code = textwrap.dedent(OURS.format(entry=entry))
    return subprocess.run([sys.executable, "-c", code], cwd=cwd, env=env).returncode


def check_extended(cwd: Path, upstream_rows: pd.DataFrame, entry: str) -> pd.DataFrame:
    """The database as the last entry left it: ps.run in psweep 0.16's layout (indexed by
    _pset_seq, its hash in _pset_hash, and _pset_sha1 kept where the database had it),
    run_local in 0.7.0's (indexed by _pset_id, the hash in _pset_sha1, and _pset_hash kept
    where the database had it)."""
    df = ps.df_read(cwd / "calc" / "database.pk")
    assert len(df) == 6
    assert sorted(os.listdir(cwd / "ran")) == ["5", "6"]  # done psets did not run again
    key = "_pset_seq" if entry == "run" else "_pset_id"
    assert list(df.index) == list(df[key])  # one kind of index
    assert df.index.is_unique
    if entry == "run":
        assert "_exec_host" in df.columns
        # a database keeps its columns: 0.7.0's _pset_sha1 stays, 0.16's gets none
        assert ("_pset_sha1" in df.columns) == ("_pset_sha1" in upstream_rows.columns)
        df = df.assign(_pset_sha1=df["_pset_hash"]) if "_pset_sha1" not in df else df
    elif "_pset_hash" not in upstream_rows.columns:
        assert "_pset_hash" not in df.columns  # a 0.7.0 database keeps its columns
        df = df.assign(_pset_hash=df["_pset_sha1"])
    assert df["_pset_seq"].tolist() == list(range(6))
    assert df["_run_seq"].tolist()[-2:] == [2, 2]
    assert sorted(df["a"].tolist()) == [1, 2, 3, 4, 5, 6]
    # the params are a and b (a 0.7.0 result column "y" looks like a param by its name)
    psets = ps.df_extract_dicts(df[["a", "b"]])
    expected = [ps.pset_hash({k: v for k, v in p.items() if not pd.isna(v)}) for p in psets]
    assert df["_pset_hash"].tolist() == expected
    assert (df["_pset_hash"] == df["_pset_sha1"]).all()
    old = df[df["_pset_id"].isin(upstream_rows["_pset_id"])]
    assert len(old) == 4  # upstream's rows, with their ids, are all there
    return df


@pytest.mark.parametrize("entry", ["run", "run_local"])
def test_016_database_extended_with_skip_dups(upstream, tmp_path, entry):
    run_upstream(upstream["0.16.0"], tmp_path, MAKE_016)
    made = pd.read_pickle(tmp_path / "calc" / "database.pk")
    assert isinstance(made.index, pd.RangeIndex) and all(dt == "object" for dt in made.dtypes)
    assert pd.isna(made["b"].iloc[0])  # pd.NA, or nan where pandas 3 makes it a str column
    assert run_ours(tmp_path, entry) == 0
    df = check_extended(tmp_path, made, entry)
    assert df.set_index("_pset_id").loc[made["_pset_id"], "y_"].tolist() == [10, 20, 30, 40]


@pytest.mark.parametrize("entry", ["run", "run_local"])
def test_070_database_extended_with_skip_dups(upstream, tmp_path, entry):
    run_upstream(upstream["0.7.0"], tmp_path, MAKE_070)
    made = pd.read_pickle(tmp_path / "calc" / "database.pk")
    assert "_pset_sha1" in made.columns and "_pset_hash" not in made.columns
    assert run_ours(tmp_path, entry) == 0
    df = check_extended(tmp_path, made, entry)
    # 0.7.0's hashes are ours: the stored ones did not change
    old = df.set_index("_pset_id").loc[made["_pset_id"]]
    assert old["_pset_sha1"].tolist() == made["_pset_sha1"].tolist()


@pytest.mark.parametrize("version", RELEASES)
def test_upstream_database_resumed_after_a_crash(upstream, tmp_path, version):
    """Our run on an upstream database is killed after its psets ran; the next run
    recovers them from the journal and runs none of them again."""
    run_upstream(upstream[version], tmp_path, MAKE_016 if version == "0.16.0" else MAKE_070)
    made = pd.read_pickle(tmp_path / "calc" / "database.pk")
    assert run_ours(tmp_path, "run", crash_at="executed") == -9
    assert sorted(os.listdir(tmp_path / "ran")) == ["5", "6"]
    assert len(pd.read_pickle(tmp_path / "calc" / "database.pk")) == 4  # not merged yet
    assert run_ours(tmp_path, "run") == 0
    check_extended(tmp_path, made, "run")


def test_upstream_reads_what_it_wrote_after_we_extended_it(upstream, tmp_path):
    """The file stays a pickled DataFrame that 0.16's df_read loads, with its columns."""
    run_upstream(upstream["0.16.0"], tmp_path, MAKE_016)
    assert run_ours(tmp_path, "run") == 0
    run_upstream(
        upstream["0.16.0"],
        tmp_path,
        """
        import psweep as ps
        df = ps.df_read("calc/database.pk")
        assert len(df) == 6, len(df)
        assert {"_pset_hash", "_pset_id", "_exec_host", "y_"} <= set(df.columns)
        assert sorted(df["a"].tolist()) == [1, 2, 3, 4, 5, 6]
        """,
    )
