"""The report's figures: each result over each varied parameter, and coverage heat maps.

Figures are drawn with matplotlib's object API (no pyplot, no global state)
in the style of :func:`psweep.plot_style` and embedded in the page as PNG
``data:`` URIs (``_png``). Over one parameter, a result is one line per
combination of the other varied parameters when there are at most
``max_lines`` of them, and a scatter of their means otherwise
(``_result_figure``). A heat map shows the rows per pair of values of two
varied parameters, coloured by the share that failed (``_heatmaps``).

matplotlib is imported only when a figure is drawn.
"""

from __future__ import annotations

import base64
import contextlib
import io
import itertools
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import numpy as np
import pandas as pd

from psweep.observe.plotstyle import axis_label, axis_scale, label_axes, plot_style
from psweep.observe.report_data import (
    ReportData,
    _combo_label,
    _fmt,
    _follows,
    _is_num,
    _tex_safe,
    _zip_groups,
)

MAX_POINTS = 20_000  # scatter points per axes; more are sampled (fixed seed)
MAX_HEATMAP_VALUES = 40  # values per heat map axis
MAX_FIGURES = 30  # result columns drawn


@contextlib.contextmanager
def _report_style() -> Iterator[None]:
    """matplotlib's settings of :func:`psweep.plot_style` for the time of the block."""
    import matplotlib

    # the stubs take only their Literal keys, plot_style's are str (and valid keys)
    with matplotlib.rc_context(plot_style()):  # type: ignore[arg-type]
        yield


def _figure(nplots: int, ncols: int = 2, size: tuple[float, float] = (6.0, 3.4)) -> Any:
    from matplotlib.figure import Figure  # no pyplot: no global state, Agg when saved

    ncols = min(ncols, nplots)
    nrows = -(-nplots // ncols)
    fig = Figure(figsize=(size[0] * ncols, size[1] * nrows), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    for ax in axes[nplots:]:
        ax.set_visible(False)
    return fig, axes[:nplots]


def _png(fig: Any, dpi: int) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, metadata={"Software": None})
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _positions(values: pd.Series, cats: list) -> tuple[pd.Series, list[str] | None]:
    """x positions of parameter values: the numbers, or the index of a category."""
    if _is_num(values):
        x = values.astype(float)
        return x.where(np.isfinite(x)), None  # inf has no place on an axis
    pos = {v: i for i, v in enumerate(cats)}
    return values.map(pos).astype(float), [_tex_safe(_fmt(v)) for v in cats]


def _decorate(
    ax: Any,
    xname: str,
    yname: str,
    x: pd.Series,
    labels: list[str] | None,
    units: Mapping[str, str],
    y: pd.DataFrame,
    log_axes: Iterable[str] | None,
) -> None:
    if labels is not None:
        ax.set_xticks(range(len(labels)), labels, rotation=30 if len(labels) > 6 else 0)
    else:
        ax.set_xscale(axis_scale(xname, x, log_axes))
    ax.set_yscale(axis_scale(yname, y, log_axes))
    safe = {_tex_safe(k): v for k, v in units.items()}
    x_safe, y_safe = _tex_safe(xname), _tex_safe(yname)
    label_axes(ax, None if labels is not None else x_safe, y_safe, units=safe)
    if labels is not None:
        ax.set_xlabel(axis_label(x_safe, safe))


def _in_order(groups: Any, names: list[str], order: dict[str, list]) -> list:
    """The (key, frame) pairs of a groupby over `names`, in the order of their values
    (numbers ascending, other values as first seen): line i gets colour i of the cycle."""

    def rank(item: tuple) -> tuple:
        key = item[0] if isinstance(item[0], tuple) else (item[0],)
        pos = [
            order[n].index(v) if v in order[n] else len(order[n])
            for n, v in zip(names, key, strict=True)
        ]
        return tuple(pos)

    return sorted(groups, key=rank)


def _result_figure(
    agg: pd.DataFrame,
    result: str,
    order: dict[str, list],
    max_lines: int,
    units: Mapping[str, str],
    log_axes: Iterable[str] | None = None,
) -> tuple[Any, list[str]]:
    """Figure of `result` over each varied parameter; return it and notes per axes.

    Parameters zipped with each other (``_zip_groups``) share one axes, over the
    first numeric one of them: the others' axes would show the same lines.
    """
    varied = list(order)
    data = agg[result].reset_index()
    combos_all = data[varied].drop_duplicates()
    panels = []
    for group in _zip_groups(combos_all, varied):
        xname = next((p for p in group if _is_num(data[p])), group[0])
        panels.append((xname, [p for p in group if p != xname]))
    fig, axes = _figure(len(panels))
    notes = [
        f"{', '.join(map(str, zipped))} zipped with {xname} (one value for each of its "
        f"values): {result} drawn over {xname} only"
        for xname, zipped in panels
        if zipped
    ]
    rng = np.random.default_rng(0)
    for ax, (xname, _) in zip(axes, panels, strict=True):
        # a parameter zipped with xname (one value per value of xname) makes no more lines
        others = [p for p in varied if p != xname and not _follows(combos_all, xname, p)]
        x, labels = _positions(data[xname], order[xname])
        finite = {c: data[c].where(np.isfinite(data[c])) for c in ("mean", "min", "max")}
        frame = data.assign(_x=x, **finite).dropna(subset=["_x", "mean"]).sort_values("_x")
        combos = frame.groupby(others, dropna=False, sort=True) if others else None
        if combos is None or combos.ngroups <= max_lines:
            groups = _in_order(combos, others, order) if combos is not None else [((), frame)]
            for key, grp in groups:
                label = _tex_safe(_combo_label(others, key)) if others else None
                style = "o-" if labels is None else "o--"  # categories: no real order
                line = ax.plot(grp["_x"], grp["mean"], style, label=label)[0]
                if (grp["max"] > grp["min"]).any():
                    ax.fill_between(
                        grp["_x"], grp["min"], grp["max"], color=line.get_color(), alpha=0.2
                    )
            if others:
                ax.legend(fontsize="x-small", loc="upper left", bbox_to_anchor=(1.01, 1.0))
        else:
            pts = frame
            if len(frame) > MAX_POINTS:
                pts = frame.iloc[np.sort(rng.choice(len(frame), MAX_POINTS, replace=False))]
            size, alpha = (4, 0.15) if len(pts) > 2000 else (16, 0.6)
            ax.scatter(pts["_x"], pts["mean"], s=size, alpha=alpha, lw=0, label="combinations")
            overall = frame.groupby("_x")["mean"].mean()
            ax.plot(overall.index, overall.values, "k-", lw=1.5, label="mean over the others")
            ax.legend(fontsize="x-small", loc="upper left", bbox_to_anchor=(1.01, 1.0))
            shown = f"{len(pts)} of {len(frame)}" if len(pts) < len(frame) else f"{len(frame)}"
            notes.append(
                f"{result} over {xname}: {combos.ngroups} combinations of "
                f"{', '.join(map(str, others))}, too many for lines; {shown} points (means) shown"
            )
        _decorate(ax, xname, result, x, labels, units, frame[["mean", "min", "max"]], log_axes)
    return fig, notes


def _figures_section(
    data: ReportData,
    max_lines: int,
    units: Mapping[str, str],
    dpi: int,
    log_axes: Iterable[str] | None = None,
) -> dict[str, Any]:
    """The page's results: a figure of each numeric result (up to ``MAX_FIGURES``) over
    the varied parameters, from one groupby of the successful rows for all of them."""
    drawn = data.numeric[:MAX_FIGURES]
    figures = []
    if drawn and data.varied:
        ok = data.ok
        grouped = (
            data.keys.loc[ok.index].join(ok[drawn]).groupby(data.varied, dropna=False, sort=True)
        )
        agg = grouped[drawn].agg(["mean", "min", "max"])
        for res in drawn:
            with _report_style():
                fig, notes = _result_figure(agg, res, data.order, max_lines, units, log_axes)
                src = _png(fig, dpi)
            figures.append({"result": axis_label(res, units), "src": src, "notes": notes})
    undrawn = len(data.numeric) - len(drawn)
    return {
        "figures": figures,
        "figure_notes": [f"{undrawn} more result columns not drawn"] if undrawn else [],
        "no_figures": "No numeric result columns."
        if not data.numeric
        else "No parameter has more than one value.",
    }


# --- heat maps of the coverage -----------------------------------------------------------


def _heatmap(counts: pd.DataFrame, failed: pd.DataFrame, a: str, b: str, dpi: int) -> str:
    """Rows per pair of values, coloured by the share of them that failed; grey: none."""
    from matplotlib import colormaps

    n = counts.to_numpy(dtype=float)
    share = failed.to_numpy(dtype=float) / np.where(n > 0, n, np.nan)
    fig, (ax,) = _figure(1, size=(max(5.0, 0.6 * n.shape[1] + 2.8), 0.4 * n.shape[0] + 2))
    cmap = colormaps["Reds"].with_extremes(bad="#d9d9d9")
    img = ax.imshow(share, aspect="auto", cmap=cmap, origin="lower", vmin=0, vmax=1)
    fig.colorbar(img, ax=ax, label="share of the rows that failed")
    ax.set_xticks(range(n.shape[1]), [_tex_safe(_fmt(v)) for v in counts.columns], rotation=45)
    ax.set_yticks(range(n.shape[0]), [_tex_safe(_fmt(v)) for v in counts.index])
    ax.set_xlabel(_tex_safe(b))
    ax.set_ylabel(_tex_safe(a))
    if n.size <= 400:
        for (i, j), rows in np.ndenumerate(n):
            if rows > 0:
                nf = failed.iat[i, j]
                text = f"{rows:.0f}" + (f"\n{nf:.0f} failed" if nf else "")
                color = "white" if share[i, j] > 0.6 else "black"
                ax.text(j, i, text, ha="center", va="center", fontsize=7, color=color)
    ax.set_title(_tex_safe(f"rows per ({a}, {b}); grey: no rows"))
    return _png(fig, dpi)


def _heatmaps(
    cov: pd.DataFrame, combos: pd.DataFrame, failed: pd.Series, order: dict[str, list], dpi: int
) -> tuple[list[dict], list[str]]:
    """Heat maps of up to 3 pairs of varied parameters, where something failed or a pair
    of values has no rows; and notes on those not drawn."""
    heatmaps, notes = [], []

    def zipped_pair(ab: tuple[str, str]) -> bool:
        return _follows(combos, *ab) and _follows(combos, *ab[::-1])

    pairs = sorted(itertools.combinations(order, 2), key=zipped_pair)  # diagonals last
    levels = list(cov.index.names)
    for a, b in pairs[:3]:
        # levels by position: a parameter named by an int would be taken for a position
        by = [levels.index(a), levels.index(b)]
        pair = cov.groupby(level=by, dropna=False)[["rows", "failed"]].sum()
        rows = pair["rows"].unstack(1).reindex(index=order[a], columns=order[b])
        # without failures a heat map shows only gaps, and a zipped pair has them by design
        if not failed.any() and (zipped_pair((a, b)) or rows.notna().all(axis=None)):
            continue
        if max(len(order[a]), len(order[b])) > MAX_HEATMAP_VALUES:
            notes.append(f"({a}, {b}): too many values for a heat map")
            continue
        fails = pair["failed"].unstack(1).reindex_like(rows).fillna(0)
        src = _heatmap(rows, fails, a, b, dpi)
        heatmaps.append({"src": src, "alt": f"coverage heat map of ({a}, {b})"})
    if not heatmaps and not notes and not failed.any():
        notes.append(
            "No heat maps: no row failed, and no pair of values is without rows "
            "(zipped parameters count once)."
        )
    return heatmaps, notes
