"""Database formats (issue 10, case 21): a Parquet database with the whole API, chosen by
file name or fmt, next to the default pickle; what Parquet cannot hold is a clear error."""

from __future__ import annotations

import subprocess
import sys

import pandas as pd
import pytest

import psweep as ps


def func(pset):
    if pset["a"] == 3:
        raise ValueError("three")
    return {"r": pset["a"] * 0.1, "label": f"x{pset['a']}"}


@pytest.fixture
def study(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.mark.parametrize("poolsize", [None, 2])
def test_parquet_database_end_to_end(study, poolsize):
    """Runs append, resume, record failures and recover with database.parquet."""
    kw = dict(database_basename="database.parquet", on_error="record", poolsize=poolsize)
    ps.run_local(func, ps.plist("a", [1, 2, 3]), **kw)
    df = ps.run_local(func, ps.plist("a", [1, 2, 3, 4]), skip_dups=True, **kw)
    assert df["a"].tolist() == [1, 2, 3, 3, 4]
    assert df["_pset_status"].tolist() == ["ok", "ok", "failed", "failed", "ok"]
    back = ps.df_read("calc/database.parquet")
    assert back.index.tolist() == df.index.tolist()
    pd.testing.assert_frame_equal(back, df, check_dtype=False)
    assert back["_time_utc"].dtype.kind == "M" and back["_pset_seq"].dtype.kind == "i"
    assert back.loc[back["a"] == 1, "r"].iloc[0] == 0.1
    with open("calc/database.parquet", "rb") as fh:
        assert fh.read(4) == b"PAR1"
    # the command line tools read it by its name
    out = subprocess.run(
        [sys.executable, "-c", "from psweep.cli import db2table; db2table()",
         "calc/database.parquet", "a", "label"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    assert "x4" in out


def test_format_by_name_or_fmt(study):
    """*.parquet and *.json pick their format, other names pickle; fmt overrides the name."""
    df = pd.DataFrame({"a": [1, 2], "s": ["007", "01234"]})
    cases = [("x.parquet", None, b"PAR1"), ("x.pk", None, b"\x80"), ("x.json", None, b"["),
             ("y.bin", "parquet", b"PAR1")]  # fmt: skip
    for name, fmt, magic in cases:
        ps.df_write(df, name, fmt=fmt)
        with open(name, "rb") as fh:
            assert fh.read(len(magic)) == magic, name
        back = ps.df_read(name, fmt=fmt)
        assert back["a"].tolist() == [1, 2]
        if not name.endswith(".json"):
            assert back["s"].tolist() == ["007", "01234"]


def test_parquet_refuses_what_it_cannot_hold(study):
    """A column of mixed types or Python objects: a clear error naming it; nothing written."""
    df = pd.DataFrame({"ok": [1, 2], "mixed": [1, "two"]})
    with pytest.raises(ps.PsweepDatabaseError, match=r"column 'mixed'.*pickle database"):
        ps.df_write(df, "db.parquet")
    assert not (study / "db.parquet").exists()
