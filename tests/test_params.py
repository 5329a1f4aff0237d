"""Tests of psweep.params.builders: building params (lists of psets) from plists."""

# Plain zip() is the API under test (the README's pgrid(zip(a, b), c)), and zip of
# unequal lengths is what the library must catch, so B905 does not apply here.
# ruff: noqa: B905

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import psweep as ps

VALUES = st.one_of(st.integers(), st.text(max_size=5), st.none(), st.booleans())


@pytest.fixture
def ab():
    return ps.plist("a", [1, 2]), ps.plist("b", ["xx", "yy"])


# plist, pgrid, itr2params -------------------------------------------------


def test_plist():
    """It turns a name and values into one-key dicts, and rejects a single value with a hint."""
    assert ps.plist("a", [1, 2, 3]) == [{"a": 1}, {"a": 2}, {"a": 3}]
    assert ps.plist("a", []) == []
    with pytest.raises(ps.PsweepParamsError, match="wrap a single value in a list"):
        ps.plist("a", 5)


def test_pgrid_several_args_and_one_list(ab):
    """It loops over all combinations, the last plist fastest, for pgrid(a, b) and pgrid([a, b])."""
    a, b = ab
    expect = [{"a": 1, "b": "xx"}, {"a": 1, "b": "yy"}, {"a": 2, "b": "xx"}, {"a": 2, "b": "yy"}]
    assert ps.pgrid(a, b) == expect
    assert ps.pgrid([a, b]) == expect
    assert ps.pgrid((a, b)) == expect
    assert ps.itr2params(itertools.product(a, b)) == expect


def test_pgrid_one_list(ab):
    """It loops over the entries of one list: pgrid([a]) gives a, pgrid([zip(a, b)]) pairs them."""
    a, b = ab
    assert ps.pgrid([a]) == [{"a": 1}, {"a": 2}]
    assert ps.pgrid([zip(a, b)]) == [{"a": 1, "b": "xx"}, {"a": 2, "b": "yy"}]


def test_pgrid_zip_and_constant_as_in_spec(ab):
    """It gives the README's psets for pgrid(zip(a, b), c) == pgrid([zip(a, b), c]) and a const.

    zip nesting is flattened, and a plist of length one adds a constant parameter.
    """
    a, b = ab
    c = ps.plist("c", [88, None, "Z"])
    expect = [
        {"a": 1, "b": "xx", "c": 88},
        {"a": 1, "b": "xx", "c": None},
        {"a": 1, "b": "xx", "c": "Z"},
        {"a": 2, "b": "yy", "c": 88},
        {"a": 2, "b": "yy", "c": None},
        {"a": 2, "b": "yy", "c": "Z"},
    ]
    assert ps.pgrid(zip(a, b), c) == expect
    assert ps.pgrid([zip(a, b), c]) == expect
    assert ps.itr2params(itertools.product(zip(a, b), c)) == expect
    assert ps.pgrid(zip(a, b), c, ps.plist("const", [1.23])) == [
        {"a": 1, "b": "xx", "c": 88, "const": 1.23},
        {"a": 1, "b": "xx", "c": None, "const": 1.23},
        {"a": 1, "b": "xx", "c": "Z", "const": 1.23},
        {"a": 2, "b": "yy", "c": 88, "const": 1.23},
        {"a": 2, "b": "yy", "c": None, "const": 1.23},
        {"a": 2, "b": "yy", "c": "Z", "const": 1.23},
    ]


@pytest.mark.parametrize("builtin", [AssertionError, ValueError, ps.PgridError])
@pytest.mark.parametrize(("gotcha", "hint"), [("plist", "pgrid([a])"), ("zip", "pgrid([zip(")])
def test_pgrid_gotchas(ab, builtin, gotcha, hint):
    """It rejects pgrid(a) and pgrid(zip(a, b)) with an error that shows the call with [...].

    The error is a PgridError, caught by `except AssertionError` (as in 0.7.0) and by
    `except ValueError`.
    """
    a, b = ab
    arg = a if gotcha == "plist" else zip(a, b)
    with pytest.raises(builtin) as info:
        ps.pgrid(arg)
    assert hint in str(info.value)


@pytest.mark.parametrize("args", [(), ({"a": 1},), (5,)], ids=["none", "dict", "int"])
def test_pgrid_rejects_no_plists(args):
    """It rejects calls without any plist, showing how to call it."""
    with pytest.raises(ps.PgridError, match=r"pgrid\(a, b\)"):
        ps.pgrid(*args)


def test_pgrid_rejects_duplicate_names():
    """It rejects two plists that set the same parameter, naming it."""
    with pytest.raises(ps.PsweepParamsError, match="'a'"):
        ps.pgrid(ps.plist("a", [1]), ps.plist("a", [2]))


def test_rejects_zip_of_unequal_lengths():
    """It rejects zip() of plists with different lengths in pgrid and itr2params, naming them."""
    a, b = ps.plist("a", [1, 2]), ps.plist("b", [1, 2, 3])
    with pytest.raises(ps.PsweepParamsError, match=r"lengths \[2, 3\]"):
        ps.pgrid([zip(a, b)])
    with pytest.raises(ps.PsweepParamsError, match=r"lengths \[2, 3\]"):
        ps.pgrid(zip(a, b), ps.plist("c", [0]))
    with pytest.raises(ps.PsweepParamsError, match=r"lengths \[3, 2\]"):
        ps.itr2params(zip(b, a))


def test_itr2params_product_and_zip(ab):
    """It merges the items of itertools.product and zip over plists into psets."""
    a, b = ab
    assert ps.itr2params(itertools.product(a, b)) == ps.pgrid(a, b)
    assert ps.itr2params(zip(a, b)) == [{"a": 1, "b": "xx"}, {"a": 2, "b": "yy"}]
    assert ps.itr2params(a) == a
    assert ps.itr2params([]) == []


def test_zip_strict_is_left_to_python():
    """It lets zip(..., strict=True) raise Python's own ValueError."""
    a, b = ps.plist("a", [1, 2]), ps.plist("b", [1, 2, 3])
    with pytest.raises(ValueError, match=r"zip\(\)") as info:
        ps.itr2params(zip(a, b, strict=True))
    assert not isinstance(info.value, ps.PsweepError)
    with pytest.raises(ValueError, match=r"zip\(\)") as info:
        ps.pgrid([zip(a, b, strict=True)])
    assert not isinstance(info.value, ps.PsweepError)
    assert ps.itr2params(zip(a, b[:2], strict=True)) == [{"a": 1, "b": 1}, {"a": 2, "b": 2}]


def test_pgrid_accepts_iterator_of_plists(ab):
    """It takes a generator or iterator of plists like a list of them, as psweep 0.7.0 did."""
    a, b = ab
    assert ps.pgrid(p for p in [a, b]) == ps.pgrid(a, b)
    assert ps.pgrid(iter([a, b])) == ps.pgrid(a, b)


@pytest.mark.parametrize(
    "make", [lambda a, b: iter(a), lambda a, b: itertools.product(a, b)], ids=["plist", "product"]
)
def test_pgrid_rejects_single_iterator_of_loop_items(ab, make):
    """It rejects one iterator over psets or loop items instead of plists."""
    a, b = ab
    with pytest.raises(ps.PgridError, match=r"pgrid\(\["):
        ps.pgrid(make(a, b))


def test_itr2params_rejects_psets_with_different_parameters():
    """It rejects loops whose psets set different parameters."""
    with pytest.raises(ps.PsweepParamsError, match="different parameters"):
        ps.itr2params([{"a": 1}, {"b": 2}])


# merge_dicts, itr, is_seq -------------------------------------------------


def test_merge_dicts_several_and_one_list():
    """It merges several dicts or one list of them left to right, later keys win."""
    d1, d2, d3 = {"a": 1, "b": 2}, {"b": 3}, {"c": 4, "a": 5}
    expect = {"a": 5, "b": 3, "c": 4}
    assert ps.merge_dicts(d1, d2, d3) == expect
    assert ps.merge_dicts([d1, d2, d3]) == expect
    assert ps.merge_dicts(d1) == d1
    assert d1 == {"a": 1, "b": 2}


def test_merge_dicts_rejects_non_dict():
    """It rejects a non-dict, naming its type and position."""
    with pytest.raises(ps.PsweepParamsError, match="int 5 at position 1"):
        ps.merge_dicts({"a": 1}, 5)
    with pytest.raises(ps.PsweepParamsError, match="position 2"):
        ps.merge_dicts([{"a": 1}, {}, "x"])


def test_itr_decorator():
    """It lets f(a, b) mean f([a, b]) and wraps a single non-sequence: f(a) == f([a])."""

    @ps.itr
    def func(args):
        """Return args as a list."""
        return list(args)

    assert func(1, 2) == func([1, 2]) == func((1, 2)) == [1, 2]
    assert func(1) == [1]
    assert func("ab") == ["ab"]
    assert func({"a": 1}) == [{"a": 1}]
    assert func.__doc__ == "Return args as a list."


def test_is_seq(tmp_path):
    """It treats lists, tuples, sets, arrays and generators as sequences.

    Strings, bytes, dicts, open files and scalars are not, although Python can iterate some.
    """
    seqs = [[1], (), {1}, np.arange(3), (x for x in [1])]
    assert [ps.is_seq(obj) for obj in seqs] == [True] * len(seqs)
    path = tmp_path / "f.txt"
    path.write_text("x\n")
    with open(path) as text_fd, open(path, "rb") as bin_fd:
        others = ["ab", b"ab", {"a": 1}, 1, None, np.float64(1.0), text_fd, bin_fd]
        assert [ps.is_seq(obj) for obj in others] == [False] * len(others)


# stargrid, filter_same_hash -----------------------------------------------


@pytest.fixture
def star():
    const = dict(a=1, b=77, c=11)
    a = ps.plist("a", [1, 2, 3, 4])
    b = ps.plist("b", [77, 88, 99])
    return const, a, b


def test_stargrid(star):
    """It varies one plist at a time around const and keeps the centre once."""
    const, a, b = star
    assert ps.stargrid(const, vary=[a, b]) == [
        {"a": 1, "b": 77, "c": 11},
        {"a": 2, "b": 77, "c": 11},
        {"a": 3, "b": 77, "c": 11},
        {"a": 4, "b": 77, "c": 11},
        {"a": 1, "b": 88, "c": 11},
        {"a": 1, "b": 99, "c": 11},
    ]
    assert const == dict(a=1, b=77, c=11)


def test_stargrid_keeps_duplicates(star):
    """It keeps the centre twice with filter_dups=False."""
    const, a, b = star
    params = ps.stargrid(const, vary=[a, b], filter_dups=False)
    assert len(params) == 7
    assert params[0] == params[4] == const
    assert [p["b"] for p in params] == [77] * 5 + [88, 99]


def test_stargrid_labels(star):
    """It writes vary_labels into the column "_vary", or into vary_label_col."""
    const, a, b = star
    params = ps.stargrid(const, vary=[a, b], vary_labels=["a", "b"])
    assert [p["_vary"] for p in params] == ["a"] * 4 + ["b"] * 2
    assert [p["b"] for p in params] == [77] * 4 + [88, 99]
    params = ps.stargrid(const, vary=[a, b], vary_labels=["a", "b"], vary_label_col="_scan")
    assert [p["_scan"] for p in params] == ["a"] * 4 + ["b"] * 2
    assert all("_vary" not in p for p in params)


def test_stargrid_zip(star):
    """It varies zipped parameters together as one arm of the star."""
    const, a, b = star
    c4 = ps.plist("c", [11, 22, 33, 44])
    params = ps.stargrid(const, vary=[ps.itr2params(zip(a, c4)), b], vary_labels=["a+c", "b"])
    assert params == [
        {"a": 1, "b": 77, "c": 11, "_vary": "a+c"},
        {"a": 2, "b": 77, "c": 22, "_vary": "a+c"},
        {"a": 3, "b": 77, "c": 33, "_vary": "a+c"},
        {"a": 4, "b": 77, "c": 44, "_vary": "a+c"},
        {"a": 1, "b": 88, "c": 11, "_vary": "b"},
        {"a": 1, "b": 99, "c": 11, "_vary": "b"},
    ]


def test_stargrid_rejects_wrong_label_count(star):
    """It rejects a number of vary_labels that differs from the number of plists in vary."""
    const, a, b = star
    with pytest.raises(ps.PsweepParamsError, match="1 labels"):
        ps.stargrid(const, vary=[a, b], vary_labels=["a"])


OPAQUE = object()  # a value without a stable text: no hash


def test_stargrid_unhashable_keeps_all(star):
    """It returns all psets, duplicates included, when a value cannot be hashed."""
    _, a, b = star
    params = ps.stargrid(dict(a=1, b=77, s=OPAQUE), vary=[a, b])
    assert len(params) == 7


def test_filter_same_hash():
    """It drops repeated psets, keeping the first occurrence and the order.

    Unhashable psets raise, or with raise_error=False are all kept.
    """
    params = [{"a": 2}, {"a": 1}, {"a": 2, "_x": 0}, {"a": 3}, {"a": 1}]
    out = ps.filter_same_hash(params)
    assert out == [{"a": 2}, {"a": 1}, {"a": 3}]
    assert out[0] is params[0]
    assert len(ps.filter_same_hash(params, skip_special_cols=False)) == 4
    unhashable = [{"a": OPAQUE}, {"a": OPAQUE}]
    with pytest.raises(ps.PsweepHashError):
        ps.filter_same_hash(unhashable)
    assert ps.filter_same_hash(unhashable, raise_error=False) == unhashable


# intspace, logspace -------------------------------------------------------


def test_intspace():
    """It rounds linspace to integers and collapses duplicates; dtype given twice is a TypeError."""
    assert ps.intspace(0, 4, 3).tolist() == [0, 2, 4]
    assert ps.intspace(0, 4, 3).dtype == np.int64
    assert ps.intspace(0, 1, 10).tolist() == [0, 1]
    assert ps.intspace(0, 10, 4).tolist() == [0, 3, 7, 10]
    assert ps.intspace(0, 4, 3, dtype=np.int32).dtype == np.int32
    with pytest.raises(TypeError, match="dtype"):
        ps.intspace(0, 4, 3, dtype=int, **{"dtype": int})


def test_logspace_bounds():
    """It takes the bounds as start and stop, not their exponents."""
    np.testing.assert_allclose(ps.logspace(1, 100, 3), [1, 10, 100])
    np.testing.assert_allclose(ps.logspace(1, 100, 5, offset=10)[[0, -1]], [1, 100])


def test_logspace_offset_evens_spacing():
    """It spaces points more evenly with a larger offset (ratio of last to first gap shrinks)."""

    def gap_ratio(offset):
        gaps = np.diff(ps.logspace(1, 100, 10, offset=offset))
        return gaps[-1] / gaps[0]

    assert gap_ratio(0) > gap_ratio(10) > gap_ratio(1e6) > 1
    np.testing.assert_allclose(gap_ratio(1e6), 1, rtol=1e-3)


def test_logspace_base():
    """It takes base=2 with log_func=np.log2 and rejects base=2 with the default np.log10."""
    np.testing.assert_allclose(ps.logspace(1, 8, 4, base=2, log_func=np.log2), [1, 2, 4, 8])
    with pytest.raises(ps.PsweepParamsError, match="base=2"):
        ps.logspace(1, 8, 4, base=2)


# properties ---------------------------------------------------------------


@settings(max_examples=50, deadline=None)
@given(st.lists(VALUES, max_size=6), st.lists(VALUES, max_size=6))
def test_pgrid_len_is_product(avals, bvals):
    """Its length is the product of the plist lengths: len(pgrid(a, b)) == len(a) * len(b)."""
    a, b = ps.plist("a", avals), ps.plist("b", bvals)
    assert len(ps.pgrid(a, b)) == len(a) * len(b)


@settings(max_examples=50, deadline=None)
@given(
    st.lists(st.text(max_size=4), min_size=3, max_size=3, unique=True),
    st.lists(st.lists(VALUES, min_size=1, max_size=4), min_size=3, max_size=3),
)
def test_pgrid_three_plists(names, values):
    """It returns len(a) * len(b) * len(c) psets, each setting all three parameters."""
    plists = [ps.plist(name, vals) for name, vals in zip(names, values, strict=True)]
    params = ps.pgrid(*plists)
    assert len(params) == np.prod([len(v) for v in values])
    assert all(set(pset) == set(names) for pset in params)


@settings(max_examples=50, deadline=None)
@given(st.lists(st.dictionaries(st.sampled_from("abc"), st.integers(0, 2), max_size=3)))
def test_filter_same_hash_idempotent(params):
    """It is idempotent and never returns more psets than it gets."""
    once = ps.filter_same_hash(params)
    assert len(once) <= len(params)
    assert ps.filter_same_hash(once) == once
    assert {ps.pset_hash(p) for p in once} == {ps.pset_hash(p) for p in params}


@pytest.mark.parametrize(("start", "stop", "offset"), [(0, 10, 0), (-1, 10, 0), (1, 10, -2)])
def test_logspace_refuses_bounds_without_a_log(start, stop, offset):
    """A bound whose log is not finite is an error that names the fix, not a row of nan."""
    with pytest.raises(ps.PsweepParamsError, match=r"must be > 0 .*offset > 0"):
        ps.logspace(start, stop, 5, offset=offset)


def test_logspace_from_zero_with_offset():
    """offset > 0 makes 0 a valid start; the bounds are kept."""
    vals = ps.logspace(0, 10, 5, offset=1)
    assert vals[0] == pytest.approx(0) and vals[-1] == pytest.approx(10)
    assert np.isfinite(vals).all() and (np.diff(vals) > 0).all()
