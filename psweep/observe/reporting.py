"""One self-contained HTML report of a study: runs, results, failures, coverage.

:func:`report` reads a study's database and runs table and writes a single
HTML file that needs nothing else to be viewed: figures (matplotlib, Agg) are
embedded as ``data:`` URIs and the styles are inline, so it can be mailed,
committed or opened offline. ``psweep report [CALC_DIR] -o report.html`` does
the same from the shell (:func:`main`).

Which columns are parameters and which are results is not stored in the
database; ``split_columns`` decides it by the layout psweep writes (see
there). Large databases are reduced with pandas ``groupby`` (mean, min and
max per combination of the varied parameters) before anything is drawn, and
long tables are cut, so the report of a million rows stays small.

:func:`report` is a sequence of named steps, each filling in its sections of
the page: the database as the report reads it
(:mod:`psweep.observe.report_data`), the tables of runs, parameters, failures
and coverage (:mod:`psweep.observe.report_tables`), and the figures and heat
maps (:mod:`psweep.observe.report_figures`).
"""

from __future__ import annotations

import datetime
import logging
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import jinja2
import pandas as pd

from psweep.constants import DATABASE_BASENAME
from psweep.errors import PsweepDatabaseError
from psweep.observe.report_data import ReportData, _shown, read_report_data, split_columns
from psweep.observe.report_figures import _figures_section
from psweep.observe.report_options import MAX_LINES, report_parser
from psweep.observe.report_tables import (
    _columns_section,
    _coverage_section,
    _failures_section,
    _runs_tables,
    _table,
)
from psweep.store.database import df_read
from psweep.store.files import atomic_open
from psweep.store.paths import StudyPaths

__all__ = ["main", "report", "split_columns"]

log = logging.getLogger(__name__)

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


_RULE = (
    "Parameters: the columns before _run_id (the psets as run), and columns of "
    "later runs that the pset hash _pset_sha1 needs; results: the other columns not "
    "starting with _ (bookkeeping). Values: the distinct values a parameter has, not "
    "counting rows without it (psets that lack it). Varied: more than one value; "
    "constant: one."
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
    log_axes: Iterable[str] | None = None,
) -> Path:
    """Write one self-contained HTML report of the study in `calc_dir`; return its path.

    The report shows the runs with their provenance (:func:`psweep.df_runs`),
    the parameters and results (``split_columns``), each numeric result
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
    Parameters zipped with each other share one axes (over the numeric one),
    as their axes would show the same lines.

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
        The parameter columns, where the rule of ``split_columns`` does
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
    log_axes
        The parameters and results drawn on logarithmic axes (where their
        values are positive); default: each whose values span two decades or
        more. :func:`psweep.axis_scale` gives a study's own figure the same
        scales.
    """
    _need_matplotlib()
    calc_dir = os.fspath(calc_dir)
    fn = StudyPaths(calc_dir, database_basename).database
    df = _read_database(fn)
    params, results = _columns(df, params, fn)
    units = _checked_units(units, [*params, *results], fn)
    if log_axes is not None:
        log_axes = list(
            _checked_units(dict.fromkeys(log_axes, "log"), [*params, *results], fn, "log axes")
        )
    data = read_report_data(df, params, results)
    ctx = _overview(data, calc_dir, fn, title, max_lines)
    ctx.update(_columns_section(data))
    ctx.update(_figures_section(data, max_lines, units, dpi, log_axes))
    ctx.update(_failures_section(data))
    ctx.update(_coverage_section(data, dpi))
    out = Path(out)
    _write_atomic(_PAGE.render(**ctx), out)
    log.info("wrote %s", out)
    return out


def _need_matplotlib() -> None:
    try:
        import matplotlib  # noqa: F401
    except ImportError as exc:
        raise ImportError(
            "psweep report needs matplotlib: pip install matplotlib (or 'psweep-kit[report]')"
        ) from exc


def _read_database(fn: str) -> pd.DataFrame:
    if not os.path.exists(fn):
        raise PsweepDatabaseError(f"no database to report on: {fn!r} does not exist")
    return df_read(fn)


def _columns(df: pd.DataFrame, params: Sequence[str] | None, fn: str) -> tuple[list, list]:
    """The parameter and result columns: by ``split_columns``, or `params` (which
    must be columns of `df`) and the other columns not starting with ``_``."""
    if params is None:
        return split_columns(df)
    missing = [p for p in params if p not in df.columns]
    if missing:
        raise PsweepDatabaseError(f"params {missing} are not columns of {fn!r}")
    params = list(params)
    results = [
        c for c in df.columns if not (isinstance(c, str) and c.startswith("_")) and c not in params
    ]
    return params, results


def _checked_units(
    units: Mapping[str, str] | None, columns: list, fn: str, what: str = "units"
) -> dict[str, str]:
    """`units` as a dict, each naming a parameter or result of `columns`."""
    units = dict(units or {})
    unknown = [name for name in units if name not in columns]
    if unknown:
        raise PsweepDatabaseError(
            f"{what} for {unknown}: not parameters or results of {fn!r}; they are {columns}"
        )
    return units


def _overview(
    data: ReportData, calc_dir: str, fn: str, title: str | None, max_lines: int
) -> dict[str, Any]:
    """The page's head: title, a summary line, where the database is; and the runs."""
    from psweep.version import __version__

    df, failed = data.df, data.failed
    runs, runs_env = _runs_tables(calc_dir, df)
    n_psets = df["_pset_sha1"].nunique() if "_pset_sha1" in df.columns else len(df)
    n_runs = df["_run_id"].nunique() if "_run_id" in df.columns else 1
    n_numeric = len(data.numeric)
    return {
        # the study's folder: the one that holds calc_dir
        "title": title or os.path.basename(os.path.dirname(os.path.abspath(calc_dir))) or fn,
        "database": os.path.abspath(fn),
        "made": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "version": __version__,
        "n_rows": len(df),
        "n_failed": int(failed.sum()),
        "varied": data.varied,
        "max_lines": max_lines,
        "runs": _table(runs),
        "runs_env": _table(runs_env),
        "rule": _RULE,
        "summary": (
            f"{len(df)} rows ({n_psets} distinct psets) from {n_runs} run{'s' * (n_runs != 1)}, "
            f"{int(failed.sum())} failed; {len(data.varied)} of {len(data.params)} parameters "
            f"varied, {n_numeric} numeric result{'s' * (n_numeric != 1)}"
        ),
    }


def main(argv: Sequence[str] | None = None) -> int:
    """``psweep report [CALC_DIR] -o report.html``; return the exit status."""
    parser = report_parser()
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
            log_axes=None if args.log_axes is None else [n for n in args.log_axes.split(",") if n],
        )
    except (PsweepDatabaseError, ImportError, OSError) as exc:
        parser.exit(1, f"psweep report: {exc}\n")
    print(f"wrote {out} ({out.stat().st_size / 1e6:.2f} MB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
