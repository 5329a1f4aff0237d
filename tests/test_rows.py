"""Tests of psweep.lifecycle.rows: the finished psets of a run become database rows."""

from __future__ import annotations

import math
import random

import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from psweep.lifecycle.results import ResultBlock
from psweep.lifecycle.rows import ResultColumns, results_frame, rows_to_df

VALUES = st.one_of(st.none(), st.integers(-5, 5), st.floats(allow_nan=True), st.text(max_size=2))
RETS = st.dictionaries(st.sampled_from(["a", "r", "s"]), VALUES, max_size=3)
KWDS = dict(run_id="run", run_seq=0, pset_seq0=10, calc_dir="calc", record=True)


@settings(max_examples=80, deadline=None)
@given(st.lists(RETS, min_size=1, max_size=12), st.integers(1, 5), st.randoms())
def test_blocks_in_any_order_give_the_rows_of_one_block(rets, size, rnd):
    """However the finished psets come in blocks (a pool hands them on as they finish,
    func returns other keys now and then, some fail), the rows are those of all of them
    in one block, in run order."""
    n = len(rets)
    psets = [{"a": k, "b": "x"} for k in range(n)]
    ids = [f"id{k:04d}" for k in range(n)]
    sha1s = [f"{k:040x}" if k % 3 else math.nan for k in range(n)]
    excs = [None if k % 4 else f"Traceback {k}" for k in range(n)]
    rows = list(zip(range(n), ids, sha1s, range(n), [0.5] * n, rets, excs, strict=True))
    whole = rows_to_df(range(n), psets, ids, sha1s, range(n), [0.5] * n, rets, excs, **KWDS)
    random.Random(rnd.random()).shuffle(rows)
    results = ResultColumns()
    for start in range(0, n, size):
        results.add(
            ResultBlock(*(list(col) for col in zip(*rows[start : start + size], strict=True)))
        )
    got = results_frame(results, psets, **KWDS)
    pd.testing.assert_frame_equal(got, whole, check_exact=True)
    assert got["_pset_seq"].tolist() == list(range(10, 10 + n))


def test_func_values_override_the_psets_where_given():
    """A key that func returns for some psets only takes func's value there."""
    df = rows_to_df(
        [0, 1], [{"a": 1}, {"a": 2}], ["i0", "i1"], ["h0", "h1"], [0, 0], [0.0, 0.0],
        [{"a": 10}, {}], [None, None], **KWDS,
    )  # fmt: skip
    assert df["a"].tolist() == [10, 2]


def test_every_column_psweep_writes_has_its_meaning() -> None:
    """COLUMN_MEANINGS (the docs' table of columns) covers each column a run or batch writes."""
    from psweep.lifecycle.capture import LOGS_COLUMN
    from psweep.lifecycle.rows import (
        COLUMN_MEANINGS,
        COLUMNS_016,
        RESERVED_COLUMNS,
        STATUS_COLUMNS,
    )

    written = {*RESERVED_COLUMNS, *COLUMNS_016, *STATUS_COLUMNS, LOGS_COLUMN, "_batch_status"}
    assert written <= set(COLUMN_MEANINGS)
    assert all(len(text) > 10 for text in COLUMN_MEANINGS.values())
