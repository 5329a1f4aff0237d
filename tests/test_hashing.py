"""Tests of psweep.params.hashing: reproducible hashes of psets."""

from __future__ import annotations

import datetime
import decimal
import fractions
import math
import os
import pathlib
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import psweep as ps
from psweep.params.hashing import pset_hashes

NESTED = {"a": 1, "b": {"c": 2, "d": [1, 2, "a"]}}
NESTED_HASH = "c97e3156eaa0d0820cbc0ce114b3e45bef8e8536"

SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**63), 2**63 - 1),
    st.floats(allow_nan=False),
    st.text(max_size=5),
)
PSETS = st.dictionaries(
    st.text(max_size=4),
    st.recursive(
        SCALARS,
        lambda inner: (
            st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3)
        ),
        max_leaves=10,
    ),
    max_size=5,
)


def test_known_hash():
    """It gives the documented sha1 of a nested pset."""
    assert ps.pset_hash(dict(a=1, b=dict(c=2, d=[1, 2, "a"]))) == NESTED_HASH


def test_known_hash_reversed_key_order():
    """It gives the same hash when the keys, nested ones too, are inserted in reverse order."""
    assert ps.pset_hash(dict(b=dict(d=[1, 2, "a"], c=2), a=1)) == NESTED_HASH


@pytest.mark.parametrize(
    ("pset", "expect"),
    [
        ({"a": 1, "b": 88}, "088056f830758f949823ddc52bf8527f3e727b45"),
        ({"a": 1, "b": 99}, "365687b444190b7b4596c70cafab721d2c58e892"),
        ({"a": 2, "b": 88}, "52434b66dd37763d09280480ff449d66ffcdcd4f"),
        ({"a": 2, "b": 99}, "354460f2b5c2ad565155513f95c6dbc1181f0239"),
        ({"a": 3, "b": 88}, "35af18a51c425b09097af78d55ebdd91588c6f3c"),
        ({"a": 3, "b": 99}, "2e6c6c9a2b05115fced36edab5cafb038c926176"),
    ],
)
def test_hashes_of_spec_run(pset, expect):
    """It gives the _pset_sha1 values of the README's example database."""
    assert ps.pset_hash(pset) == expect


def test_hashes_of_spec_pgrid():
    """It gives the README's _pset_sha1 column, in order, for pgrid(a, b)."""
    params = ps.pgrid(ps.plist("a", [1, 2, 3]), ps.plist("b", [88, 99]))
    hashes = [ps.pset_hash(pset) for pset in params]
    assert hashes[0] == "088056f830758f949823ddc52bf8527f3e727b45"
    assert hashes[-1] == "2e6c6c9a2b05115fced36edab5cafb038c926176"
    assert len(set(hashes)) == 6


def test_special_cols_skipped_by_default():
    """It ignores keys starting with "_" unless skip_special_cols=False."""
    pset = {**NESTED, "_pset_id": "x", "_run_seq": 3}
    assert ps.pset_hash(pset) == NESTED_HASH
    assert ps.pset_hash(pset, skip_special_cols=False) != NESTED_HASH
    assert ps.pset_hash(NESTED, skip_special_cols=False) == NESTED_HASH
    assert pset["_pset_id"] == "x"


def test_different_values_different_hashes():
    """It gives different hashes to psets that differ in a value or its type."""
    hashes = {ps.pset_hash({"a": val}) for val in [1, "1", 1.5, None, True, [1], {"x": 1}]}
    assert len(hashes) == 7


@pytest.mark.parametrize(("method", "size"), [("sha1", 40), ("md5", 32), ("sha256", 64)])
def test_method(method, size):
    """It returns the hex digest of the given hashlib method."""
    digest = ps.pset_hash(NESTED, method=method)
    assert len(digest) == size
    int(digest, 16)


class Opaque:
    """A value with no stable text (its repr has its address)."""


@pytest.mark.parametrize("value", [object(), Opaque()], ids=["object", "custom"])
def test_unhashable_raises(value):
    """It raises PsweepHashError, a TypeError, for a value JSON cannot represent."""
    with pytest.raises(ps.PsweepHashError, match="cannot hash"):
        ps.pset_hash({"a": value})
    with pytest.raises(TypeError):
        ps.pset_hash({"a": value})


@pytest.mark.parametrize("value", [object(), Opaque()], ids=["object", "custom"])
def test_unhashable_nan(value):
    """It returns nan for an unhashable value with raise_error=False."""
    result = ps.pset_hash({"a": value}, raise_error=False)
    assert isinstance(result, float)
    assert math.isnan(result)


def test_unhashable_special_col_skipped():
    """It hashes a pset whose only unhashable value sits in a skipped "_" column."""
    assert ps.pset_hash({**NESTED, "_obj": object()}) == NESTED_HASH


def test_rejects_non_dict():
    """It rejects a pset that is no dict, naming its type."""
    with pytest.raises(ps.PsweepHashError, match="needs a dict, got list"):
        ps.pset_hash([("a", 1)])


@pytest.mark.parametrize(
    ("numpy_value", "python_value"),
    [
        (np.int64(1), 1),
        (np.int32(-7), -7),
        (np.float32(0.5), 0.5),
        (np.float64(0.1), 0.1),
        (np.bool_(True), True),
        (np.arange(3), [0, 1, 2]),
        (np.array([[1.5, 2.0], [3.0, 4.0]]), [[1.5, 2.0], [3.0, 4.0]]),
        ([np.arange(2), {"x": np.int64(3)}], [[0, 1], {"x": 3}]),
    ],
    ids=["int64", "int32", "float32", "float64", "bool", "arange", "2d", "nested"],
)
def test_numpy_hashes_like_python(numpy_value, python_value):
    """It hashes numpy scalars and arrays like the equal Python values."""
    assert ps.pset_hash({"a": numpy_value}) == ps.pset_hash({"a": python_value})


def test_numpy_known_hash():
    """It gives the documented hash when the values are numpy types."""
    pset = dict(a=np.int64(1), b=dict(c=np.int32(2), d=[np.int8(1), np.uint16(2), np.str_("a")]))
    assert ps.pset_hash(pset) == NESTED_HASH


# properties ---------------------------------------------------------------


def _permuted(obj, data):
    """Return obj with the insertion order of every dict drawn at random."""
    if isinstance(obj, dict):
        keys = data.draw(st.permutations(list(obj)))
        return {key: _permuted(obj[key], data) for key in keys}
    if isinstance(obj, list):
        return [_permuted(item, data) for item in obj]
    return obj


def _to_numpy(obj):
    """Return obj with Python scalars replaced by numpy scalars, int lists by arrays."""
    if isinstance(obj, dict):
        return {key: _to_numpy(val) for key, val in obj.items()}
    if isinstance(obj, list):
        if obj and all(type(item) is int for item in obj):
            return np.array(obj, dtype=np.int64)
        return [_to_numpy(item) for item in obj]
    if isinstance(obj, bool):
        return np.bool_(obj)
    if isinstance(obj, int):
        return np.int64(obj)
    if isinstance(obj, float):
        return np.float64(obj)
    if isinstance(obj, str):
        return np.str_(obj)
    return obj


@settings(max_examples=100, deadline=None)
@given(PSETS, st.data())
def test_hash_independent_of_key_order(pset, data):
    """Its hash does not depend on the insertion order of keys, in nested dicts too."""
    permuted = _permuted(pset, data)
    assert ps.pset_hash(permuted) == ps.pset_hash(pset)
    assert ps.pset_hash(permuted, skip_special_cols=False) == ps.pset_hash(
        pset, skip_special_cols=False
    )


@settings(max_examples=100, deadline=None)
@given(PSETS)
def test_hash_same_for_numpy_values(pset):
    """Its hash is the same when the values are numpy scalars and arrays (e.g. int -> np.int64)."""
    assert ps.pset_hash(_to_numpy(pset)) == ps.pset_hash(pset)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=3), children, max_size=3)
    ),
    max_leaves=8,
)


@given(st.lists(st.dictionaries(st.text(max_size=4), json_values, max_size=4), max_size=8))
def test_pset_hashes_equals_pset_hash(params):
    """It hashes many psets at once exactly like pset_hash one by one."""
    from psweep.params.hashing import pset_hashes

    expect = [ps.pset_hash(p, raise_error=False) for p in params]
    got = pset_hashes(params)
    assert len(got) == len(expect)
    for g, e in zip(got, expect, strict=True):
        assert g == e or (g != g and e != e)


# -- issue 10, case 14: hashes that tell psets apart -----------------------------------


@pytest.mark.parametrize(
    ("one", "other"),
    [
        ({1: "x"}, {"1": "x"}),
        ({True: 1}, {"true": 1}),
        ({None: 1}, {"null": 1}),
        ({"a": {1: 2}}, {"a": {"1": 2}}),
        ({"a": {1, 2}}, {"a": [1, 2]}),
        ({"a": decimal.Decimal("1.10")}, {"a": decimal.Decimal("1.1")}),
        ({"a": datetime.date(2024, 1, 2)}, {"a": "2024-01-02"}),
        ({"a": 1}, {"a": True}),
    ],
)
def test_different_psets_hash_differently(one, other):
    assert ps.pset_hash(one) != ps.pset_hash(other)
    assert pset_hashes([one, other]) == [ps.pset_hash(one), ps.pset_hash(other)]


@pytest.mark.parametrize(
    "pset",
    [
        {"s": {3, 1, 2}, "f": frozenset("ab")},
        {"t": datetime.datetime(2024, 5, 6, 7, 8, 9, 10), "d": datetime.timedelta(hours=2)},
        {"x": decimal.Decimal("0.1"), "q": fractions.Fraction(1, 3), "c": 1 + 2j},
        {"p": pathlib.PurePosixPath("/data/run 1"), 2: [1, (2, 3)]},
    ],
)
def test_rich_values_hash_the_same_in_every_process(pset):
    """Sets, dates, decimals and non-string keys get one hash, also in a new interpreter."""
    here = ps.pset_hash(pset)
    assert isinstance(here, str) and pset_hashes([pset]) == [here]
    code = (
        "import datetime, psweep as ps; from decimal import Decimal; "
        "from fractions import Fraction; from pathlib import PurePosixPath; "
        f"print(ps.pset_hash({pset!r}))"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345"}  # another set order
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.stdout.strip() == here, out.stderr


def test_plain_psets_keep_their_0_7_0_hashes():
    """The fact of the 0.7.0 README, and tuples hash like lists as JSON made them."""
    assert ps.pset_hash(NESTED) == "c97e3156eaa0d0820cbc0ce114b3e45bef8e8536"
    assert ps.pset_hash({"a": (1, 2)}) == ps.pset_hash({"a": [1, 2]})


def test_timestamp_hashes_like_the_datetime_it_equals():
    """A datetime parameter comes back from a database as a pd.Timestamp; it hashes like
    the datetime that ran (issue 20), a date or time like itself."""
    import pandas as pd

    when = datetime.datetime(2000, 1, 2, 3, 4, 5, 6)
    assert ps.pset_hash({"t": pd.Timestamp(when)}) == ps.pset_hash({"t": when})
    assert ps.pset_hash({"t": when}) != ps.pset_hash({"t": when.date()})
    assert ps.pset_hash({"t": when.time()}) != ps.pset_hash({"t": when.isoformat()})


@pytest.mark.parametrize("n", [0, 1, 7, 1000])
def test_uuid4_strings_are_random_version4_uuids(n):
    """Each is the text ``str(uuid.UUID(...))`` gives for a version 4 UUID of the
    RFC 4122 variant; none repeats."""
    import uuid

    from psweep.params.hashing import uuid4_strings

    ids = uuid4_strings(n)
    assert len(ids) == n == len(set(ids))
    for text in ids:
        parsed = uuid.UUID(text)
        assert str(parsed) == text
        assert (parsed.version, parsed.variant) == (4, uuid.RFC_4122)


FLAT_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),  # also beyond 64 bits
    st.floats(),  # also NaN and the infinities
    st.text(),  # also "%", quotes, escapes and lone surrogates
)


@given(st.lists(st.dictionaries(st.text(max_size=4), FLAT_VALUES, max_size=4), max_size=8))
def test_flat_psets_hash_as_pset_hash(params):
    """The fast way for psets of scalars (texts put together from the layout of the
    keys) gives exactly pset_hash's hash, for every scalar and key."""
    expect = [ps.pset_hash(p, raise_error=False) for p in params]
    got = pset_hashes(params)
    assert [g if g == g else "nan" for g in got] == [e if e == e else "nan" for e in expect]


def test_hashes_by_name_tell_functions_classes_and_objects_apart():
    """pset_hashes_by_name (skip_dups' identity for psets without a hash) knows functions,
    ufuncs and classes by importable name and objects by their pickle; lambdas and local
    functions get none, empty values count as absent, numpy scalars as Python ones."""
    from psweep.params.hashing import pset_hashes_by_name

    def local(x):
        return x

    psets = [
        {"f": np.sin},
        {"f": np.cos},
        {"f": ps.pset_hash},
        {"f": ps.DfComparison},
        {"f": fractions.Fraction(1, 3), "g": [np.sin, {"k": ps.pset_hash}]},
        {"f": lambda x: x},
        {"f": local},
    ]
    hashes = pset_hashes_by_name(psets)
    assert all(isinstance(h, str) for h in hashes[:5])
    assert len(set(hashes[:5])) == 5
    assert hashes[5] is np.nan and hashes[6] is np.nan
    same = pset_hashes_by_name(
        [{"a": np.int64(1), "f": np.sin, "n": None}, {"f": np.sin, "a": 1, "m": pd.NA, "x": np.nan}]
    )
    assert same[0] == same[1] == pset_hashes_by_name([{"a": 1, "f": np.sin}])[0]
