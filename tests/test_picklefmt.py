"""Tests of psweep.store.picklefmt: a database pickled without copies, read by pandas."""

from __future__ import annotations

import math
import os
import pickle
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import psweep as ps

TEXT = st.one_of(st.text(max_size=4), st.just(math.nan), st.sampled_from(["run-a", "run-b"]))


@settings(max_examples=60, deadline=None)
@given(st.lists(TEXT, min_size=0, max_size=600), st.integers(1, 3))
def test_written_frame_reads_back_the_same(texts, chunks):
    """Text columns of any kind (few or many distinct values, missing ones, arrays in
    pieces) read back as the same frame, with plain pickle."""
    import pyarrow as pa

    repeated = (["same value"] * 500) + texts
    col = pd.array(repeated, dtype="str")
    arrow = pa.array(col)
    cut = [arrow.slice(k * len(arrow) // chunks, len(arrow) // chunks) for k in range(chunks)]
    cut[-1] = arrow.slice((chunks - 1) * (len(arrow) // chunks))
    pieces = pd.array(pa.chunked_array(cut, type=arrow.type), dtype="str")
    df = pd.DataFrame({"few": col, "pieces": pieces, "n": np.arange(len(col))})
    df.index = pd.Index(pd.array([f"id{k}" for k in range(len(col))], dtype="str"), name="i")
    df.columns.name = "cols"
    import io

    from psweep.store import picklefmt

    buf = io.BytesIO()
    picklefmt.dump(df, buf)
    back = pickle.loads(buf.getvalue())
    pd.testing.assert_frame_equal(back, df, check_exact=True)
    assert back.columns.name == "cols" and back.index.name == "i"


def test_database_file_is_small_and_needs_no_psweep(tmp_path):
    """A run's database stores its one _run_id and _calc_dir once (not once per row) and
    its ids once; pandas reads it in a process that never imports psweep."""
    func = lambda pset: {"r": pset["a"]}  # noqa: E731
    n = 20_000
    df = ps.run_local(func, ps.plist("a", range(n)), calc_dir=str(tmp_path / "calc"))
    fn = tmp_path / "calc" / "database.pk"
    naive = len(pickle.dumps(df, protocol=pickle.HIGHEST_PROTOCOL))
    # what is left: the ids (36 characters), the hashes (40) and 6 numbers of 8 bytes
    assert os.path.getsize(fn) < n * (36 + 8 + 40 + 8 + 6 * 8 + 10) < naive - n * 36 * 2
    code = (
        "import sys, pandas as pd; df = pd.read_pickle(sys.argv[1]); "
        "print(len(df), 'psweep' in sys.modules, df['_run_id'].nunique())"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(fn)], capture_output=True, text=True, check=True
    )
    assert out.stdout.split() == [str(n), "False", "1"]
    back = pd.read_pickle(fn)
    pd.testing.assert_frame_equal(back, df, check_exact=True)


@pytest.mark.parametrize("fmt_kwds", [{}, {"protocol": 4}])
def test_df_write_pickle_passes_protocol(tmp_path, fmt_kwds):
    df = pd.DataFrame({"a": pd.array(["x"] * 1000, dtype="str")})
    ps.df_write(df, tmp_path / "x.pk", **fmt_kwds)
    pd.testing.assert_frame_equal(pd.read_pickle(tmp_path / "x.pk"), df)
