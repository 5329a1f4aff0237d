"""Value fuzzing (issue 20): awkward values through every database format, the report,
df_compare, the df_extract_* helpers and hashing.

Awkward: text with non-UTF-8 bytes (surrogate escapes, as os.listdir gives them), text
with ``$``, ints with gaps (psets that lack the key), NaN inside lists, complex numbers,
ints beyond int64, dates, int keys. Each format either keeps a value (it reads back equal,
and the psets read back hash as they ran) or refuses it clearly (a PsweepError, before
func runs, the file untouched); nothing in between. Bounded: about 30 s in all.
"""

from __future__ import annotations

import copy
import datetime
import math
import os
import pickle

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import psweep as ps
from psweep.params.hashing import pset_hashes
from psweep.store.paths import DATABASE_FORMATS

SETTINGS = dict(
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
SUFFIX = {"pickle": "pk", "json": "json", "parquet": "parquet"}

# -- strategies ----------------------------------------------------------------------------

surrogate_text = st.binary(min_size=1, max_size=6).map(
    lambda raw: raw.decode("utf-8", "surrogateescape")
)
dollar_text = st.sampled_from(["$HOME/run_$USER", "$x$", "a$b", "$", "$$", r"\$"])
text = st.one_of(st.text(max_size=6), surrogate_text, dollar_text)
small_int = st.integers(-(2**62), 2**62)
big_int = st.integers(2**64, 2**80) | st.integers(-(2**80), -(2**64))
floats = st.floats(allow_nan=True, allow_infinity=True)
nan_lists = st.lists(st.one_of(floats, small_int, st.none()), max_size=3)
part = st.floats(-1e6, 1e6) | st.just(float("nan"))
complexes = st.builds(complex, part, part)
dates = st.datetimes(
    min_value=datetime.datetime(1700, 1, 1), max_value=datetime.datetime(2200, 1, 1)
)

# one kind of value per column, as a sweep has: a parameter is a list of one kind of thing
KINDS = {
    "text": text,
    "int": small_int,
    "big_int": big_int,
    "float": floats,
    "nan_list": nan_lists,
    "complex": complexes,
    "date": dates,
    "dict": st.dictionaries(st.sampled_from(["k", "l"]), floats | small_int, max_size=2),
}
KEYS = ["a", "b", "$p", 1, 2]


@st.composite
def params(draw, max_psets=4):
    """Psets over a few keys (text and int), one kind of value per key; a pset may lack
    keys (gaps: ints with None in the database). No two psets alike (a study's grid)."""
    keys = draw(st.lists(st.sampled_from(KEYS), min_size=1, max_size=3, unique=True))
    kinds = {k: draw(st.sampled_from(sorted(KINDS))) for k in keys}
    n = draw(st.integers(1, max_psets))
    out, seen = [], set()
    for _ in range(n):
        pset = {k: draw(KINDS[kinds[k]]) for k in keys if draw(st.integers(0, 4))}
        if not pset:
            pset = {keys[0]: draw(KINDS[kinds[keys[0]]])}
        h = ps.pset_hash(pset, raise_error=False)
        if h not in seen:
            seen.add(h)
            out.append(pset)
    return out


def func(pset):
    """Results of awkward kinds too: a list with NaN, a complex number, text with $."""
    first = next(iter(pset.values()))
    return {"r": [1.0, float("nan")], "z": complex(1, len(pset)), "echo": repr(first)[:20]}


def plain(pset):
    """Results every format holds: the awkward values are the parameters."""
    return {"n": len(pset), "x": 0.5}


# -- properties ----------------------------------------------------------------------------


def _hashes_as_run(df: pd.DataFrame) -> None:
    """The psets read back from `df` hash as they ran (_pset_sha1), also one by one."""
    extracted = ps.df_extract_params(df)
    assert [ps.pset_hash(p, raise_error=False) for p in extracted] == df["_pset_sha1"].tolist()
    for pset_id, want in zip(df["_pset_id"], df["_pset_sha1"], strict=True):
        assert ps.pset_hash(ps.df_extract_pset(df, pset_id), raise_error=False) == want
    assert len(ps.df_extract_dicts(df)) == len(df)


@settings(max_examples=40, **SETTINGS)
@given(psets=params())
def test_hash_is_stable_and_order_free(psets):
    """pset_hash ignores key order, equals pset_hashes, and survives a pickle copy."""
    for pset in psets:
        h = ps.pset_hash(pset, raise_error=False)
        assert ps.pset_hash(dict(reversed(list(pset.items()))), raise_error=False) == h
        assert ps.pset_hash(pickle.loads(pickle.dumps(pset)), raise_error=False) == h
    assert pset_hashes(psets) == [ps.pset_hash(p, raise_error=False) for p in psets]


@settings(max_examples=60, **SETTINGS)
@given(psets=params())
def test_formats_keep_or_refuse(psets, tmp_path_factory):
    """Each format reads back what it wrote (df_compare: same; psets hash as they ran)
    or refuses it with a PsweepError and writes nothing."""
    tmp = tmp_path_factory.mktemp("fmt")
    for results in (plain, func):
        df = ps.run_local(results, psets, save=False)
        _hashes_as_run(df)
        assert ps.df_compare(df, copy.deepcopy(df)).same
        assert ps.df_compare(df, pickle.loads(pickle.dumps(df))).same
        for fmt in DATABASE_FORMATS:
            fn = tmp / f"{results.__name__}.{SUFFIX[fmt]}"
            try:
                ps.df_write(df, fn)
            except ps.PsweepError:
                assert not fn.exists()
                assert fmt != "pickle"
                continue
            back = ps.df_read(fn)
            result = ps.df_compare(df, back)
            assert result.same, (fmt, result.report())
            _hashes_as_run(back)


@settings(max_examples=25, **SETTINGS)
@given(psets=params(max_psets=3), fmt=st.sampled_from(DATABASE_FORMATS))
def test_runs_keep_or_refuse_before_func(psets, fmt, tmp_path_factory):
    """A study run keeps the psets (a second run with skip_dups runs none of them) or
    refuses them before func runs; either way the next run works (never bricked)."""
    calc = tmp_path_factory.mktemp("run") / "calc"
    kw = dict(calc_dir=calc, database_basename=f"database.{SUFFIX[fmt]}")
    calls = []

    def counting(pset):
        calls.append(1)
        return plain(pset)

    try:
        df = ps.run_local(counting, psets, **kw)
    except ps.PsweepFormatError:
        assert calls == []
    else:
        assert len(calls) == len(psets)
        _hashes_as_run(ps.df_read(calc / kw["database_basename"]))
        ps.run_local(counting, ps.df_extract_params(df), skip_dups=True, **kw)
        assert len(calls) == len(psets)
    df = ps.run_local(lambda p: {"ok": 1}, [{"plain": 1}], **kw)
    assert df["ok"].iloc[-1] == 1
    assert not os.listdir(calc / ".psweep" / "journal")


@settings(max_examples=10, **SETTINGS)
@given(psets=params(max_psets=4))
def test_report_renders(psets, tmp_path_factory):
    """The report of a study with such values is written (values are shown, not parsed)."""
    pytest.importorskip("matplotlib")
    calc = tmp_path_factory.mktemp("report") / "calc"
    ps.run_local(func, psets, calc_dir=calc)
    out = ps.report(calc, calc.parent / "report.html")
    assert out.read_text().startswith("<!DOCTYPE html>")


def test_strategies_reach_the_awkward_values():
    """The strategies above do produce each awkward kind (a check of the test itself)."""
    assert "\udce9" in b"\xe9".decode("utf-8", "surrogateescape")
    assert any(math.isnan(x) for x in [float("nan")])
    assert set(KINDS) >= {"text", "int", "big_int", "nan_list", "complex", "date"}
