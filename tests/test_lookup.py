"""Tests of psweep.store.lookup: membership of many texts in many others."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from hypothesis import given
from hypothesis import strategies as st

from psweep.store.lookup import isin_text

TEXTS = st.one_of(st.text(max_size=3), st.none(), st.just(math.nan))


def _expected(values, known):
    have = {k for k in known if isinstance(k, str)}
    return [isinstance(v, str) and v in have for v in values]


@given(st.lists(TEXTS, max_size=30), st.lists(TEXTS, max_size=30))
def test_isin_text_is_membership_and_missing_is_never_found(values, known):
    """Whatever the lengths and containers (lists, str Series, Indexes), each value
    is found if it is one of `known`; NaN and None are never found."""
    want = _expected(values, known)
    assert isin_text(values, known).tolist() == want
    as_str = pd.Series(known, dtype="str") if known else pd.Series([], dtype="str")
    assert isin_text(pd.Index(pd.Series(values, dtype=object)), as_str).tolist() == want


def test_isin_text_other_values_compare_as_objects():
    """Values that are not text (an int, a list) are compared as Python objects."""
    got = isin_text([1, "a", [2], None], [1, "b", None])
    assert got.tolist() == [True, False, False, False]


def test_isin_text_long_sides():
    """A million ids against a million: answered through arrow, as a bool array."""
    known = pd.Series(pd.array([f"{i:036d}" for i in range(1_000_000)], dtype="str"))
    values = [f"{i:036d}" for i in range(999_000, 1_001_000)]
    got = isin_text(values, known)
    assert got.dtype == np.bool_ and got.sum() == 1000 and got[:1000].all()


@given(st.lists(st.one_of(st.text(max_size=3), st.text(min_size=3, max_size=3)), max_size=40))
def test_first_repeated_is_a_value_held_twice(values):
    """It names a value that is there more than once, or None if none is (text of one
    length takes the fixed-width way, mixed lengths pandas')."""
    from psweep.store.lookup import first_repeated

    got = first_repeated(values)
    if len(set(values)) == len(values):
        assert got is None
    else:
        assert values.count(got) > 1


def test_first_repeated_in_a_million_ids():
    from psweep.store.lookup import first_repeated

    ids = pd.Series(pd.array([f"{i:036d}" for i in range(1_000_000)], dtype="str"))
    assert first_repeated(ids) is None
    ids.iloc[-1] = f"{77:036d}"
    assert first_repeated(pd.Index(ids.array)) == f"{77:036d}"


HEXES = st.text(alphabet="0123456789abcdef", min_size=16, max_size=16)


@given(
    st.lists(st.one_of(HEXES, st.just(math.nan)), max_size=30),
    st.lists(st.one_of(HEXES, st.just(math.nan), st.just("0" * 16)), max_size=30),
)
def test_text_set_finds_exactly_the_known(known, values):
    """Hashes of one width take the way of sorted keys (repeated hashes too, values
    that share a key but not all characters); others arrow's. Either: membership."""
    from psweep.store.lookup import TextSet

    known_set = TextSet(pd.Series(known, dtype=object))
    assert known_set.contains(values).tolist() == _expected(values, known)


def test_text_set_keys_that_collide_are_told_apart():
    """Texts whose first 16 characters are equal share a key; the rest tells them apart."""
    from psweep.store.lookup import TextSet

    known = ["a" * 16 + "x" * 24, "a" * 16 + "y" * 24, "b" * 40]
    got = TextSet(known).contains(["a" * 16 + "y" * 24, "a" * 16 + "z" * 24, "b" * 40, "c" * 8])
    assert got.tolist() == [True, False, True, False]


def test_text_set_of_a_million_with_repeats_and_shared_prefixes():
    """Known texts that share their first characters and repeat (psets that ran twice)
    are looked up at once, exactly."""
    from psweep.store.lookup import TextSet

    known = [f"{i:040d}" for i in range(500_000)] * 2
    values = [f"{i:040d}" for i in range(499_000, 501_000)]
    got = TextSet(pd.Series(pd.array(known, dtype="str"))).contains(values)
    assert got.sum() == 1000 and got[:1000].all()
