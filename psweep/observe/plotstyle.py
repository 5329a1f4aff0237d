"""One look for psweep's report and a study's own figures: colours, units, axis labels.

:func:`psweep.report` draws with :func:`plot_style` and labels its axes with
:func:`label_axes`. A study's ``eval.py`` that does the same draws figures that
read like the report: the same colours in the same order, axes labelled
``name / unit``, and angles in radians ticked at multiples of pi/4 in both.
The report draws the lines of one axes in the order of the values of the other
parameters: numbers ascending, other values in the order they first appear in
the database. A figure that draws its lines in that order gives each line the
colour the report gives it.

matplotlib is imported only when a function is called.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from fractions import Fraction
from typing import Any

__all__ = ["COLORS", "axis_label", "axis_scale", "label_axes", "plot_style"]

# matplotlib's "tab10", named here so that a changed matplotlibrc changes neither side
COLORS = (
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#d62728",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#7f7f7f",
    "#bcbd22",
    "#17becf",
)
_MAX_PI_TICKS = 9  # ticks on an axis in rad before the step doubles
_WIDE = 100.0  # values spanning this factor (two decades) or more get a log axis by default
_LOG_RANGE = (1e-98, 1e100)  # beyond, matplotlib's log ticks overflow


def plot_style() -> dict[str, Any]:
    """Return the matplotlib settings (rcParams) that psweep's report draws with.

    Use them for a study's own figures, so that they look like the report's:
    ``with matplotlib.rc_context(ps.plot_style()): ...``.

    Returns
    -------
    dict
        The colour cycle (``COLORS``), grid, line width and marker size,
        and the colormap of images.
    """
    from cycler import cycler  # a dependency of matplotlib

    return {
        "axes.prop_cycle": cycler(color=list(COLORS)),
        "axes.grid": True,
        "grid.alpha": 0.3,
        "lines.linewidth": 1.2,
        "lines.markersize": 4.0,
        "image.cmap": "viridis",
    }


def axis_label(name: str, units: Mapping[str, str] | None = None) -> str:
    """Return the label of the quantity `name`: ``"phase / rad"``, or `name` without a unit.

    Parameters
    ----------
    name
        A column of the database (a parameter or a result).
    units
        The unit of each column that has one, e.g. ``{"phase": "rad"}``.
    """
    unit = (units or {}).get(name)
    return f"{name} / {unit}" if unit else name


def axis_scale(name: str, values: Any, log_axes: Iterable[str] | None = None) -> str:
    """Return the scale of the axis of `name` in psweep's report: ``"log"`` or ``"linear"``.

    Give a study's own figure the report's scales with it:
    ``ax.set_yscale(ps.axis_scale("amplitude", df["amplitude"], log_axes=LOG))``,
    and the same `log_axes` to :func:`psweep.report`.

    Parameters
    ----------
    name
        The quantity on the axis (a parameter or result column).
    values
        Its values (numbers; nan and inf are left out).
    log_axes
        The names drawn on log axes. None (the default) chooses by the data:
        a log axis where the values span two decades or more.

    An axis is logarithmic only where all its values are positive.

    Examples
    --------
    >>> axis_scale("amplitude", [0.3, 10.0])
    'linear'
    >>> axis_scale("amplitude", [0.3, 10.0], log_axes=["amplitude"])
    'log'
    >>> axis_scale("omega", [0.01, 0.1, 1.0])
    'log'
    >>> axis_scale("phase", [-1.0, 3.0], log_axes=["phase"])
    'linear'
    """
    import numpy as np

    vals = np.asarray(values, dtype=float).ravel()
    vals = vals[np.isfinite(vals)]
    if not len(vals) or not _LOG_RANGE[0] <= vals.min() <= vals.max() <= _LOG_RANGE[1]:
        return "linear"
    if log_axes is not None:
        return "log" if name in set(log_axes) else "linear"
    return "log" if vals.max() >= _WIDE * vals.min() else "linear"


def _pi_label(value: float, _pos: Any = None) -> str:
    """``0``, ``π/4``, ``3π/2``, ``−π``, ``2π``: `value` (a multiple of pi/4) as text."""
    frac = Fraction(round(value / (math.pi / 4)), 4)
    if frac == 0:
        return "0"
    sign = "−" if frac < 0 else ""
    num, den = abs(frac.numerator), frac.denominator
    text = ("π" if num == 1 else f"{num}π") + (f"/{den}" if den != 1 else "")
    return sign + text


def _ticks_in_pi(axis: Any) -> None:
    """Ticks at multiples of pi/4 (pi/2, pi, ... for a long axis), labelled with π."""
    from matplotlib.ticker import FuncFormatter, MultipleLocator

    lo, hi = sorted(axis.get_view_interval())
    step = math.pi / 4
    while (hi - lo) / step > _MAX_PI_TICKS:
        step *= 2
    axis.set_major_locator(MultipleLocator(step))
    axis.set_major_formatter(FuncFormatter(_pi_label))


def label_axes(
    ax: Any,
    x: str | None = None,
    y: str | None = None,
    *,
    units: Mapping[str, str] | None = None,
) -> None:
    """Label the axes of `ax` as psweep's report does: ``name / unit``.

    An axis whose unit is ``"rad"`` gets ticks at multiples of pi/4, labelled
    ``π/4``, ``π/2``, ...; call this after drawing, when the axis knows its range.

    Parameters
    ----------
    ax
        A matplotlib Axes.
    x, y
        The quantities on the x and y axis (columns of the database); None
        leaves that axis as it is.
    units
        The unit of each quantity that has one, e.g. ``{"phase": "rad",
        "omega": "natural frequency"}``; the same mapping as
        ``ps.report(..., units=...)``.
    """
    units = units or {}
    for name, axis, set_label in ((x, ax.xaxis, ax.set_xlabel), (y, ax.yaxis, ax.set_ylabel)):
        if name is None:
            continue
        set_label(axis_label(name, units))
        if units.get(name) == "rad" and axis.get_scale() == "linear":
            _ticks_in_pi(axis)
