"""One self-contained HTML report of a study: runs, results, failures, coverage.

:func:`report` reads a study's database and runs table and writes a single
HTML file that needs nothing else to be viewed: figures (matplotlib, Agg) are
embedded as ``data:`` URIs and the styles are inline, so it can be mailed,
committed or opened offline. ``psweep report [CALC_DIR] -o report.html`` does
the same from the shell (:func:`main`).

Which columns are parameters and which are results is not stored in the
database; :func:`split_columns` decides it by the layout psweep writes (see
there). Large databases are reduced with pandas ``groupby`` (mean, min and
max per combination of the varied parameters) before anything is drawn, and
long tables are cut, so the report of a million rows stays small.
"""

from __future__ import annotations

import argparse
import base64
import datetime
import io
import itertools
import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import jinja2
import numpy as np
import pandas as pd
from markupsafe import Markup

from psweep.constants import DATABASE_BASENAME
from psweep.errors import PsweepDatabaseError
from psweep.observe.plotstyle import axis_label, label_axes, plot_style
from psweep.observe.runstate import df_runs
from psweep.store.columns import late_column_roles
from psweep.store.database import df_read
from psweep.store.files import atomic_open
from psweep.store.paths import StudyPaths

__all__ = ["main", "report", "split_columns"]

log = logging.getLogger(__name__)

MAX_LINES = 8  # lines per axes; more combinations of the other parameters: scatter
MAX_POINTS = 20_000  # scatter points per axes; more are sampled (fixed seed)
MAX_TABLE_ROWS = 200  # rows of the failures and coverage tables
MAX_HEATMAP_VALUES = 40  # values per heat map axis
MAX_COMBINATIONS = 100_000  # all combinations of the varied values, to find those without rows
OPEN_TABLE_ROWS = 12  # a longer coverage table is folded under its summary line
MAX_FIGURES = 30  # result columns drawn
_LAYOUT_START = "_run_id"  # psets come first, then psweep's bookkeeping, then results


def _missing(val: Any) -> bool:
    try:
        return bool(pd.isna(val))
    except (TypeError, ValueError):  # lists, arrays
        return False


def split_columns(df: pd.DataFrame) -> tuple[list, list]:
    """Return ``(params, results)``: the parameter and the result columns of `df`.

    The rule: columns that start with ``_`` are bookkeeping and neither.
    ``run_local`` writes a pset's parameters first, then its bookkeeping from
    ``_run_id`` on, then what `func` returned; so the columns before
    ``_run_id`` are parameters and those after it are results. Columns ending
    in ``_`` (psweep 0.16's results) are results wherever they are. A later
    run that brings new parameters appends them at the end, after the
    results; such a column is a parameter if the hash of the pset
    (``_pset_sha1``) needs it (:func:`psweep.store.columns.late_column_roles`).
    Without ``_run_id`` every other column is a parameter. Names are the
    columns themselves (an int stays an int).
    """
    cols = list(df.columns)

    def own(c: Any) -> bool:
        return isinstance(c, str) and c.startswith("_")

    def post(c: Any) -> bool:
        return isinstance(c, str) and c.endswith("_")

    if _LAYOUT_START not in cols:
        params = [c for c in cols if not own(c) and not post(c)]
        return params, [c for c in cols if not own(c) and c not in params]
    start = cols.index(_LAYOUT_START)
    params = [c for c in cols[:start] if not own(c) and not post(c)]
    after = [c for c in cols[start:] if not own(c)]
    late = [c for c in after if not post(c)]
    found, _ = late_column_roles(df, params, late)
    params += [c for c in late if c in found]
    return params, [c for c in after if c not in params]


# --- data --------------------------------------------------------------------------------


def _failed_mask(df: pd.DataFrame) -> pd.Series:
    if "_pset_status" not in df.columns:
        return pd.Series(False, index=df.index)
    return df["_pset_status"].eq("failed").fillna(False).astype(bool)


def _groupable(df: pd.DataFrame, cols: Sequence[str]) -> pd.DataFrame:
    """`df[cols]` with unhashable cells (lists, arrays) and complex numbers as their text;
    missing stays NaN."""
    out = df[list(cols)].copy()
    for col in cols:
        try:
            out[col].nunique()
        except TypeError:
            out[col] = out[col].map(lambda v: np.nan if _missing(v) else _shown(str(v)))
            continue
        if pd.api.types.is_complex_dtype(out[col]) or (
            out[col].dtype == object and any(isinstance(v, complex) for v in out[col])
        ):  # complex numbers have no order, and groups are sorted: as their text
            out[col] = out[col].map(lambda v: np.nan if _missing(v) else str(v)).astype(object)
            continue
        if out[col].dtype == object and any(
            isinstance(v, str) and _shown(v) is not v for v in out[col]
        ):  # text pandas' str dtype cannot hold (surrogate escapes): as shown
            shown = [_shown(v) if isinstance(v, str) else v for v in out[col]]
            out[col] = pd.Series(shown, index=out.index, dtype=object)
    return out


def _is_num(s: pd.Series) -> bool:
    """Real numbers (complex ones have no order: a complex parameter is a category)."""
    api = pd.api.types
    return api.is_numeric_dtype(s) and not (api.is_bool_dtype(s) or api.is_complex_dtype(s))


def _as_numbers(df: pd.DataFrame, cols: list) -> pd.DataFrame:
    """Object columns of real numbers and gaps (ints of psets that lack the key are kept
    as ints and None) as floats, so they are drawn and ordered as numbers."""
    conv = {}
    for col in cols:
        s = df[col]
        if s.dtype != object:
            continue
        vals = s[s.notna()]
        if len(vals) and all(
            isinstance(v, int | float | np.integer | np.floating) and not isinstance(v, bool)
            for v in vals
        ):
            conv[col] = pd.to_numeric(s.where(s.notna(), np.nan), errors="coerce")
    if not conv:
        return df
    df = df.copy(deep=False)
    for col, values in conv.items():  # not assign(**conv): a name may be an int
        df[col] = values
    return df


def _complex_parts(df: pd.DataFrame, results: list) -> tuple[pd.DataFrame, list]:
    """A complex result as two real ones, ``<name>.real`` and ``<name>.imag``."""
    cplx = [r for r in results if pd.api.types.is_complex_dtype(df[r])]
    if not cplx:
        return df, results
    parts: dict = {}
    out: list = []
    for r in results:
        if r in cplx:
            parts[f"{r}.real"], parts[f"{r}.imag"] = np.real(df[r]), np.imag(df[r])
            out += [f"{r}.real", f"{r}.imag"]
        else:
            out.append(r)
    return df.assign(**parts), out


def _tex_safe(text: Any) -> str:
    """`text` for matplotlib, which takes what is between two ``$`` for math."""
    return _shown(str(text)).replace("$", r"\$")


def _shown(text: str) -> str:
    """`text` as shown: bytes that are not UTF-8 (a file name's, as surrogate escapes)
    as ``\\udcXX``, so the page can be written and read."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text


def _fmt(val: Any) -> str:
    if isinstance(val, float | np.floating):
        return f"{val:.6g}"
    return _shown(str(val))


def _combo_label(names: Sequence[str], vals: Any) -> str:
    vals = vals if isinstance(vals, tuple) else (vals,)
    return ", ".join(f"{n}={_fmt(v)}" for n, v in zip(names, vals, strict=True))


def _exc_message(text: Any) -> str:
    """The exception line of a traceback: after the last indented (frame) line."""
    lines = str(text).rstrip().splitlines() if isinstance(text, str) else []
    frames = [i for i, line in enumerate(lines) if line[:1].isspace()]
    tail = lines[frames[-1] + 1 :] if frames and frames[-1] + 1 < len(lines) else lines[-1:]
    return _shown(" / ".join(line.strip() for line in tail))


def _messages(exc: pd.Series) -> pd.Series:
    """The exception of each failed row, `_exc` cut to its last line(s)."""
    uniq = exc.dropna().unique()  # few distinct tracebacks, even for many rows
    return exc.map(dict(zip(uniq, map(_exc_message, uniq), strict=True))).fillna("")


def _params_table(df: pd.DataFrame, keys: pd.DataFrame, params: Sequence[str]) -> pd.DataFrame:
    """One row per parameter: its values (without the gaps of psets that lack it), whether
    it is varied or constant, and how many rows lack it."""
    nvals, lacking = keys.nunique(), keys.isna().sum()
    kinds = {0: "never set", 1: "constant"}
    return pd.DataFrame(
        {
            "parameter": params,
            "dtype": [str(df[p].dtype) for p in params],
            "values": [int(nvals[p]) for p in params],
            "varied": [kinds.get(int(nvals[p]), "varied") for p in params],
            "rows without it": [f"{lacking[p]} of {len(df)}" if lacking[p] else "" for p in params],
            "some values": [", ".join(_fmt(v) for v in _values(keys[p])[:12]) for p in params],
        }
    )


def _runs_tables(calc_dir: str, df: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The runs with their provenance: what ran when and where, and with what."""
    runs = df_runs(calc_dir)
    if "_run_id" in runs.columns:
        runs = runs.reset_index(drop=True)
    else:  # indexed by run id only
        runs = runs.rename_axis("_run_id").reset_index()
    failed = _failed_mask(df)
    counts = pd.DataFrame(
        {
            "run_seq": df.groupby("_run_id", sort=False)["_run_seq"].first()
            if "_run_seq" in df.columns
            else None,
            "rows": df.groupby("_run_id", sort=False).size(),
            "rows_failed": failed.groupby(df["_run_id"], sort=False).sum(),
        }
    ).reset_index()
    if len(runs) == 0:  # an old database without runs.pk: what the rows tell
        grp = df.groupby("_run_id", sort=False)
        runs = grp.size().reset_index()[["_run_id"]]
        have = {"start_utc": ("_time_utc", "min"), "end_utc": ("_time_utc", "max")}
        for name, (col, how) in {**have, "host": ("_exec_host", "first")}.items():
            if col in df.columns:
                runs[name] = grp[col].agg(how).to_numpy()
    out = runs.merge(counts, on="_run_id", how="outer")
    by = [c for c in ("run_seq", "start_utc") if c in out.columns]
    out = out.sort_values(by, na_position="last", kind="stable") if by else out
    if "git_commit" in out.columns:
        dirty = out.get("git_dirty", pd.Series(False, index=out.index)).fillna(False)
        commit = out["git_commit"].fillna("").astype(str).str[:10]
        out["git"] = commit.where(~dirty.astype(bool), commit + " (dirty)")
    if {"start_utc", "end_utc"} <= set(out.columns):
        start, end = pd.to_datetime(out["start_utc"]), pd.to_datetime(out["end_utc"])
        out["seconds"] = (end - start).dt.total_seconds().round(2)
        out["start_utc"] = start.dt.strftime("%Y-%m-%d %H:%M:%S")
        out["end_utc"] = end.dt.strftime("%Y-%m-%d %H:%M:%S")
    out = out.rename(columns={"_run_id": "run_id"})
    main = ["run_seq", "run_id", "start_utc", "end_utc", "seconds", "status", "n_psets"]
    main += ["n_failed", "rows", "rows_failed", "host", "user", "git"]
    env = ["run_seq", "python", "psweep", "pandas", "cwd", "command"]
    return tuple(out[[c for c in cols if c in out.columns]] for cols in (main, env))


# --- figures -----------------------------------------------------------------------------


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


def _values(s: pd.Series) -> list:
    """The distinct values of `s`: sorted numbers, else in the order they first appear."""
    vals = pd.unique(s.dropna())
    return sorted(vals) if _is_num(s) else list(vals)


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
) -> None:
    if labels is not None:
        ax.set_xticks(range(len(labels)), labels, rotation=30 if len(labels) > 6 else 0)
    elif (
        len(xf := x.dropna())
        and 1e-98 <= xf.min() <= xf.max() <= 1e100  # beyond, matplotlib's log ticks overflow
        and xf.max() >= 100 * xf.min()
    ):
        ax.set_xscale("log")
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


def _follows(combos: pd.DataFrame, a: str, b: str) -> bool:
    """Whether each value of `a` comes with one value of `b` only (as in a zip)."""
    pairs = combos[[a, b]].drop_duplicates()
    return len(pairs) == pairs[a].nunique(dropna=False)


def _zip_groups(combos: pd.DataFrame, varied: list[str]) -> list[list[str]]:
    """The varied parameters in groups of those zipped with each other (each value
    of one comes with one value of the other, both ways), in the order of `varied`."""
    groups: list[list[str]] = []
    for name in varied:
        for group in groups:
            if _follows(combos, group[0], name) and _follows(combos, name, group[0]):
                group.append(name)
                break
        else:
            groups.append([name])
    return groups


def _result_figure(
    agg: pd.DataFrame,
    result: str,
    order: dict[str, list],
    max_lines: int,
    units: Mapping[str, str],
) -> tuple[Any, list[str]]:
    """Figure of `result` over each varied parameter; return it and notes per axes."""
    varied = list(order)
    fig, axes = _figure(len(varied))
    notes = []
    data = agg[result].reset_index()
    rng = np.random.default_rng(0)
    combos_all = data[varied].drop_duplicates()
    for ax, xname in zip(axes, varied, strict=True):
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
        _decorate(ax, xname, result, x, labels, units)
    return fig, notes


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


def _missing_combinations(combos: pd.DataFrame, groups: list[list[str]]) -> pd.DataFrame:
    """The combinations of the values in `combos` (zipped groups as one) without a row."""
    parts = [combos[g].drop_duplicates() for g in groups]
    every = parts[0]
    for part in parts[1:]:
        every = every.merge(part, how="cross")
    have = combos.assign(_have=True)
    every = every[list(combos.columns)].merge(have, on=list(combos.columns), how="left")
    return every[every["_have"].isna()].drop(columns="_have").reset_index(drop=True)


def _coverage(keys: pd.DataFrame, failed: pd.Series, order: dict[str, list], dpi: int) -> dict:
    """The coverage section: a summary, the combinations without rows, the rows and failed
    rows per combination (folded when long), and heat maps where they show something."""
    varied = list(order)
    cov = keys[varied].assign(_failed=failed.to_numpy(), _one=1)
    by = cov.groupby(varied, dropna=False, sort=True)
    cov = pd.DataFrame({"rows": by["_one"].sum(), "failed": by["_failed"].sum()})
    cov["ok"] = cov["rows"] - cov["failed"]
    combos = cov.index.to_frame(index=False)
    groups = _zip_groups(combos, varied)
    full = int(np.prod([len(combos[g].drop_duplicates()) for g in groups], dtype=float))
    zipped = "; ".join(" with ".join(map(str, g)) for g in groups if len(g) > 1)
    ctx: dict[str, Any] = {
        "coverage_summary": (
            f"{len(cov)} combinations of {', '.join(map(str, varied))} have rows "
            f"({int((cov['ok'] > 0).sum())} with a successful one, "
            f"{int((cov['failed'] > 0).sum())} with a failed one); "
            f"all combinations of their values would be {full}"
            + (f", counting zipped parameters once ({zipped})." if zipped else ".")
        ),
        "coverage": _folded(
            _table(cov.head(MAX_TABLE_ROWS).reset_index()),
            f"Rows per combination: {len(cov)} combinations"
            + (f", the first {MAX_TABLE_ROWS} shown" if len(cov) > MAX_TABLE_ROWS else ""),
            len(cov),
        ),
    }
    if full > MAX_COMBINATIONS:
        ctx["missing"] = Markup('<p class="note">{}</p>').format(
            f"More than {MAX_COMBINATIONS} combinations: those without rows are not listed."
        )
    elif full > len(cov):
        missing = _missing_combinations(combos, groups)
        ctx["missing"] = _folded(
            _table(missing.head(MAX_TABLE_ROWS)),
            f"{len(missing)} of the {full} combinations have no rows"
            + (f", the first {MAX_TABLE_ROWS} shown" if len(missing) > MAX_TABLE_ROWS else ""),
            len(missing),
        )
    ctx["heatmaps"], ctx["heatmap_notes"] = _heatmaps(cov, combos, failed, order, dpi)
    return ctx


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


# --- the page ----------------------------------------------------------------------------

_PAGE = jinja2.Template(
    """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>{{ title }}</title>
<style>
body { font: 14px/1.45 system-ui, sans-serif; margin: 1.5em auto; max-width: 1240px;
       padding: 0 1em; color: #222; }
h1 { font-size: 1.6em; margin-bottom: .2em; } h2 { border-bottom: 1px solid #ccc; margin-top: 2em; }
nav a { margin-right: 1em; } .meta { color: #555; }
table { border-collapse: collapse; font-size: 12px; margin: .5em 0; }
th, td { border: 1px solid #ddd; padding: 2px 6px; text-align: left; vertical-align: top; }
th { background: #f3f3f3; } tr:nth-child(even) td { background: #fafafa; }
.wide { overflow-x: auto; } .note { color: #666; font-size: 12px; }
img { max-width: 100%; display: block; margin: .5em 0; } .failed { color: #b00020; }
td { white-space: nowrap; } td:last-child { white-space: normal; }
summary { cursor: pointer; margin: .5em 0; }
.heatmaps img { display: inline-block; vertical-align: top; max-width: 49%; margin-right: 1%; }
</style></head><body>
<h1>{{ title }}</h1>
<p class="meta">{{ summary }}</p>
<p class="meta">database {{ database }}; made {{ made }} by psweep {{ version }}</p>
<nav><a href="#runs">runs</a><a href="#params">parameters</a><a href="#results">results</a>
<a href="#failures">failures</a><a href="#coverage">coverage</a></nav>
<h2 id="runs">Runs</h2>
<div class="wide">{{ runs }}</div>
<div class="wide">{{ runs_env }}</div>
<h2 id="params">Parameters and results</h2>
<p class="note">{{ rule }}</p>
<div class="wide">{{ params }}</div>
{% if result_stats %}<div class="wide">{{ result_stats }}</div>{% endif %}
<h2 id="results">Results over the varied parameters</h2>
<p class="note">Lines: the mean of the successful rows per combination of the other varied
parameters (a parameter zipped with the one on the x axis adds none); band: min to max over
repeated psets. Where there are more than {{ max_lines }} combinations: their means as points,
and the mean over all of them as a black line.</p>
{% for fig in figures %}<h3>{{ fig.result }}</h3>
<img src="{{ fig.src }}" alt="{{ fig.result }} over {{ varied | join(', ') }}">
{% for note in fig.notes %}<p class="note">{{ note }}</p>{% endfor %}
{% else %}<p>{{ no_figures }}</p>{% endfor %}
{% for note in figure_notes %}<p class="note">{{ note }}</p>{% endfor %}
<h2 id="failures">Failures</h2>
{% if n_failed %}<p class="failed">{{ n_failed }} of {{ n_rows }} rows failed.</p>
<div class="wide">{{ failure_kinds }}</div>
<div class="wide">{{ failures }}</div>
{% if failures_cut %}<p class="note">{{ failures_cut }}</p>{% endif %}
{% else %}<p>No failed rows.</p>{% endif %}
<h2 id="coverage">Parameter coverage</h2>
<p>{{ coverage_summary }}</p>
{% if missing %}<div class="wide">{{ missing }}</div>{% endif %}
<div class="heatmaps">{% for map in heatmaps %}<img src="{{ map.src }}" alt="{{ map.alt }}">
{% endfor %}</div>
{% for note in heatmap_notes %}<p class="note">{{ note }}</p>{% endfor %}
{% if coverage %}<div class="wide">{{ coverage }}</div>{% endif %}
</body></html>
""",
    autoescape=True,
)


def _table(df: pd.DataFrame, index: bool = False) -> Markup:
    html = df.to_html(index=index, border=0, na_rep="", escape=True, float_format=_fmt)
    return Markup(html)


def _folded(content: Markup, summary: str, rows: int) -> Markup:
    """`content` under a summary line that opens it; open already when it is short."""
    opened = " open" if rows <= OPEN_TABLE_ROWS else ""
    return Markup("<details{}><summary>{}</summary>{}</details>").format(
        Markup(opened), summary, content
    )


def _write_atomic(text: str, out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_open(out, "w") as fh:  # a reader sees the old report or the new one
        fh.write(_shown(text))


def report(
    calc_dir: str | os.PathLike = "calc",
    out: str | os.PathLike = "report.html",
    *,
    database_basename: str = DATABASE_BASENAME,
    title: str | None = None,
    params: Sequence[str] | None = None,
    max_lines: int = MAX_LINES,
    dpi: int = 90,
    units: Mapping[str, str] | None = None,
) -> Path:
    """Write one self-contained HTML report of the study in `calc_dir`; return its path.

    The report shows the runs with their provenance (:func:`psweep.df_runs`),
    the parameters and results (:func:`split_columns`), each numeric result
    over each varied parameter (a parameter with more than one value; rows
    of psets that lack a parameter do not count as a value, one value is
    constant), the failed rows with the last line of their exception, and
    which combinations of the varied parameters have rows: those without
    rows listed, the rows per combination in a table folded when long, heat
    maps only where rows failed or a pair of values has none. Over one
    parameter, a result is drawn as one line per combination of the other
    varied parameters (the mean of the successful rows, and a band from min
    to max where psets were run more than once) when there are at most
    `max_lines` of them, and as a scatter of those means otherwise.

    Parameters
    ----------
    calc_dir
        The study's folder, holding the database and ``runs.pk``.
    out
        The HTML file to write (replaced whole, never half-written).
    database_basename
        The database's file name in `calc_dir`.
    title
        The page's title; default: the name of the folder holding `calc_dir`.
    params
        The parameter columns, where the rule of :func:`split_columns` does
        not fit; the other columns not starting with ``_`` are results.
    max_lines
        The most lines per axes before a scatter is drawn instead.
    dpi
        Resolution of the figures.
    units
        The unit of each parameter or result that has one, e.g.
        ``{"phase": "rad", "omega": "natural frequency"}``: axes and headings
        read ``phase / rad``, and an axis in ``rad`` is ticked at multiples
        of pi/4. The figures are drawn with :func:`psweep.plot_style`, in
        the order of the values (numbers ascending, other values as first
        seen): a study's own figure drawn with the same style, units
        (:func:`psweep.label_axes`) and order looks the same.
    """
    try:
        import matplotlib
    except ImportError as exc:
        raise ImportError(
            "psweep report needs matplotlib: pip install matplotlib (or 'psweep-kit[report]')"
        ) from exc
    calc_dir = os.fspath(calc_dir)
    fn = StudyPaths(calc_dir, database_basename).database
    if not os.path.exists(fn):
        raise PsweepDatabaseError(f"no database to report on: {fn!r} does not exist")
    df = df_read(fn)
    if params is None:
        params, results = split_columns(df)
    else:
        missing = [p for p in params if p not in df.columns]
        if missing:
            raise PsweepDatabaseError(f"params {missing} are not columns of {fn!r}")
        params = list(params)
        results = [
            c
            for c in df.columns
            if not (isinstance(c, str) and c.startswith("_")) and c not in params
        ]
    units = dict(units or {})
    unknown = [name for name in units if name not in (*params, *results)]
    if unknown:
        raise PsweepDatabaseError(
            f"units for {unknown}: not parameters or results of {fn!r}; "
            f"they are {[*params, *results]}"
        )
    df, results = _complex_parts(_as_numbers(df, [*params, *results]), results)
    failed = _failed_mask(df)
    ok = df[~failed]
    keys = _groupable(df, params)
    nvals = keys.nunique()  # a missing value (a pset without it) is not a value
    varied = [p for p in params if nvals[p] > 1]
    order = {p: _values(keys[p]) for p in varied}
    numeric = [r for r in results if _is_num(df[r]) and ok[r].notna().any()]
    drawn = numeric[:MAX_FIGURES]
    from psweep.version import __version__

    runs, runs_env = _runs_tables(calc_dir, df)

    ctx: dict[str, Any] = {
        # the study's folder: the one that holds calc_dir
        "title": title or os.path.basename(os.path.dirname(os.path.abspath(calc_dir))) or fn,
        "database": os.path.abspath(fn),
        "made": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "version": __version__,
        "n_rows": len(df),
        "n_failed": int(failed.sum()),
        "varied": varied,
        "max_lines": max_lines,
        "runs": _table(runs),
        "runs_env": _table(runs_env),
        "rule": "Parameters: the columns before _run_id (the psets as run), and columns of "
        "later runs that the pset hash _pset_sha1 needs; results: the other columns not "
        "starting with _ (bookkeeping). Values: the distinct values a parameter has, not "
        "counting rows without it (psets that lack it). Varied: more than one value; "
        "constant: one.",
    }
    n_psets = df["_pset_sha1"].nunique() if "_pset_sha1" in df.columns else len(df)
    n_runs = df["_run_id"].nunique() if "_run_id" in df.columns else 1
    ctx["summary"] = (
        f"{len(df)} rows ({n_psets} distinct psets) from {n_runs} run{'s' * (n_runs != 1)}, "
        f"{int(failed.sum())} failed; {len(varied)} of {len(params)} parameters varied, "
        f"{len(numeric)} numeric result{'s' * (len(numeric) != 1)}"
    )
    ctx["params"] = _table(_params_table(df, keys, params))
    if numeric:
        stats = ok[numeric].agg(["count", "mean", "std", "min", "max"]).T
        ctx["result_stats"] = _table(stats.rename_axis("result (successful rows)"), index=True)

    # results: one groupby for all figures
    figures, figure_notes = [], []
    if drawn and varied:
        grouped = keys.loc[ok.index].join(ok[drawn]).groupby(varied, dropna=False, sort=True)
        agg = grouped[drawn].agg(["mean", "min", "max"])
        for res in drawn:
            with matplotlib.rc_context(plot_style()):
                fig, notes = _result_figure(agg, res, order, max_lines, units)
                src = _png(fig, dpi)
            figures.append({"result": axis_label(res, units), "src": src, "notes": notes})
    ctx["no_figures"] = (
        "No numeric result columns." if not numeric else "No parameter has more than one value."
    )
    if len(numeric) > len(drawn):
        figure_notes.append(f"{len(numeric) - len(drawn)} more result columns not drawn")
    ctx["figures"], ctx["figure_notes"] = figures, figure_notes

    # failures
    if failed.any():
        fails = df[failed]
        msg = _messages(fails["_exc"]) if "_exc" in fails.columns else pd.Series("", fails.index)
        kinds = msg.value_counts().rename_axis("message").reset_index(name="rows")
        ctx["failure_kinds"] = _table(kinds.head(MAX_TABLE_ROWS))
        cols = [c for c in ("_run_seq", "_pset_seq", "_pset_id", "_run_id") if c in fails]
        table = fails[[*params, *cols]].assign(message=msg).head(MAX_TABLE_ROWS)
        ctx["failures"] = _table(
            table.rename(columns=lambda c: c.lstrip("_") if isinstance(c, str) else c)
        )
        if len(fails) > MAX_TABLE_ROWS:
            ctx["failures_cut"] = f"the first {MAX_TABLE_ROWS} of {len(fails)} failed rows"

    if varied:
        with matplotlib.rc_context(plot_style()):
            ctx.update(_coverage(keys, failed, order, dpi))
    else:
        ctx["coverage_summary"] = "No parameter has more than one value."

    out = Path(out)
    _write_atomic(_PAGE.render(**ctx), out)
    log.info("wrote %s", out)
    return out


def main(argv: Sequence[str] | None = None) -> int:
    """``psweep report [CALC_DIR] -o report.html``; return the exit status."""
    parser = argparse.ArgumentParser(
        prog="psweep report",
        description="Write one self-contained HTML file about a study: its runs, results "
        "over the varied parameters, failures and parameter coverage.",
    )
    parser.add_argument("calc_dir", nargs="?", default="calc", help="default: calc")
    parser.add_argument("-o", "--out", default="report.html", help="default: report.html")
    parser.add_argument("--database-basename", default=DATABASE_BASENAME, metavar="NAME")
    parser.add_argument("--title", help="default: the name of the study's folder")
    parser.add_argument(
        "--params", help="comma-separated parameter columns, where the automatic rule does not fit"
    )
    parser.add_argument(
        "--max-lines",
        type=int,
        default=MAX_LINES,
        metavar="N",
        help=f"most lines per axes, else a scatter (default: {MAX_LINES})",
    )
    parser.add_argument(
        "--units",
        metavar="NAME=UNIT,...",
        help="units of parameters and results for axes and headings, e.g. phase=rad,omega=s",
    )
    args = parser.parse_args(argv)
    units = dict(item.partition("=")[::2] for item in args.units.split(",")) if args.units else {}
    if any(not name or not unit for name, unit in units.items()):
        parser.error(f"--units needs NAME=UNIT pairs separated by commas, got {args.units!r}")
    if args.max_lines < 1:
        parser.error(f"--max-lines needs a number >= 1, got {args.max_lines}")
    try:
        out = report(
            args.calc_dir,
            args.out,
            database_basename=args.database_basename,
            title=args.title,
            params=args.params.split(",") if args.params else None,
            max_lines=args.max_lines,
            units=units,
        )
    except (PsweepDatabaseError, ImportError, OSError) as exc:
        parser.exit(1, f"psweep report: {exc}\n")
    print(f"wrote {out} ({out.stat().st_size / 1e6:.2f} MB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
