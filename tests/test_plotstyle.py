"""psweep.observe.plotstyle: style, units and labels shared by the report and a study's figures."""

from __future__ import annotations

import math

import pytest

import psweep as ps
from psweep.observe.plotstyle import COLORS, _pi_label, axis_label

matplotlib = pytest.importorskip("matplotlib")


def test_axis_label():
    """A quantity with a unit reads 'name / unit'; without one, its name."""
    units = {"phase": "rad", "omega": "natural frequency"}
    assert axis_label("phase", units) == "phase / rad"
    assert axis_label("amplitude", units) == "amplitude"
    assert axis_label("amplitude") == "amplitude"


@pytest.mark.parametrize(
    ("quarters", "text"),
    [
        (0, "0"),
        (1, "π/4"),
        (2, "π/2"),
        (3, "3π/4"),
        (4, "π"),
        (6, "3π/2"),
        (8, "2π"),
        (-2, "−π/2"),
        (-4, "−π"),
    ],
)
def test_pi_labels(quarters, text):
    """Multiples of pi/4 are written as fractions of π."""
    assert _pi_label(quarters * math.pi / 4) == text


def test_label_axes_and_style():
    """label_axes labels with units and ticks an axis in rad at multiples of pi/4, and of
    pi/2, pi, ... where the axis is long; plot_style sets the colour cycle."""
    from matplotlib.figure import Figure
    from matplotlib.ticker import FuncFormatter

    with matplotlib.rc_context(ps.plot_style()):
        fig = Figure()
        short, long = fig.subplots(1, 2)
        line = short.plot([0, 1], [0.0, 3.0])[0]
        long.plot([0, 1], [0.0, 20.0])
    assert matplotlib.colors.to_hex(line.get_color()) == COLORS[0]
    ps.label_axes(short, "t", "phase", units={"phase": "rad", "t": "s"})
    ps.label_axes(long, y="phase", units={"phase": "rad"})
    assert (short.get_xlabel(), short.get_ylabel()) == ("t / s", "phase / rad")
    assert long.get_xlabel() == ""
    ticks = short.yaxis.get_major_locator()()
    assert ticks[1] - ticks[0] == pytest.approx(math.pi / 4)
    ticks = long.yaxis.get_major_locator()()
    assert ticks[1] - ticks[0] == pytest.approx(math.pi)  # 20 rad: pi/4 would be 28 steps
    assert not isinstance(short.xaxis.get_major_formatter(), FuncFormatter)  # s, not rad
