"""Tests of the executors' building blocks: chunking and plans."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from psweep.lifecycle.execute import Plan, _ranges


@given(n=st.integers(0, 20_000), nworkers=st.integers(1, 8), per_worker=st.integers(1, 32))
def test_ranges_cover_everything_in_near_equal_chunks(n, nworkers, per_worker):
    """It splits range(n) into contiguous chunks of near-equal size, a multiple of the workers."""
    ranges = _ranges(n, nworkers, per_worker)
    assert [i for a, b in ranges for i in range(a, b)] == list(range(n))
    sizes = [b - a for a, b in ranges]
    if n:
        assert max(sizes) - min(sizes) <= 1
        assert min(sizes) >= 1
        assert max(sizes) <= 5000
        assert len(ranges) % nworkers == 0 or len(ranges) == n


def test_plan_part():
    """It slices psets and known hashes together."""
    plan = Plan([{"a": i} for i in range(5)], [str(i) for i in range(5)])
    part = plan.part(1, 3)
    assert part.psets == [{"a": 1}, {"a": 2}]
    assert part.sha1s == ["1", "2"]
    assert Plan([{"a": 1}]).part(0, 1).sha1s is None
