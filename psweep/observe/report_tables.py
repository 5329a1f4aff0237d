"""The report's tables: runs, parameters, results, failures and parameter coverage.

Each ``_..._section`` function returns the part of the page's context (the
names its template fills in) for one section. Long tables are cut to
``MAX_TABLE_ROWS`` rows, and a long coverage table is folded under its
summary line, so the page of a million rows stays small.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from markupsafe import Markup

from psweep.observe.report_data import (
    ReportData,
    _failed_mask,
    _fmt,
    _shown,
    _values,
    _zip_groups,
)
from psweep.observe.report_figures import _heatmaps, _report_style
from psweep.observe.runstate import df_runs

MAX_TABLE_ROWS = 200  # rows of the failures and coverage tables
MAX_COMBINATIONS = 100_000  # all combinations of the varied values, to find those without rows
OPEN_TABLE_ROWS = 12  # a longer coverage table is folded under its summary line


def _table(df: pd.DataFrame, index: bool = False) -> Markup:
    html = df.to_html(index=index, border=0, na_rep="", escape=True, float_format=_fmt)
    return Markup(html)


def _folded(content: Markup, summary: str, rows: int) -> Markup:
    """`content` under a summary line that opens it; open already when it is short."""
    opened = " open" if rows <= OPEN_TABLE_ROWS else ""
    return Markup("<details{}><summary>{}</summary>{}</details>").format(
        Markup(opened), summary, content
    )


# --- runs, parameters, results -----------------------------------------------------------


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
    main_table, env_table = (out[[c for c in cols if c in out.columns]] for cols in (main, env))
    return main_table, env_table


def _params_table(df: pd.DataFrame, keys: pd.DataFrame, params: list) -> pd.DataFrame:
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


def _columns_section(data: ReportData) -> dict[str, Any]:
    """The page's parameters, and statistics of the numeric results over the successful
    rows."""
    ctx: dict[str, Any] = {"params": _table(_params_table(data.df, data.keys, data.params))}
    if data.numeric:
        stats = data.ok[data.numeric].agg(["count", "mean", "std", "min", "max"]).T
        ctx["result_stats"] = _table(stats.rename_axis("result (successful rows)"), index=True)
    return ctx


# --- failures ----------------------------------------------------------------------------


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


def _failures_section(data: ReportData) -> dict[str, Any]:
    """The page's failures: the kinds of exception with their rows, and the failed rows
    (the first ``MAX_TABLE_ROWS``) with their parameters and exception; nothing when no
    row failed."""
    if not data.failed.any():
        return {}
    fails = data.df[data.failed]
    msg = _messages(fails["_exc"]) if "_exc" in fails.columns else pd.Series("", fails.index)
    kinds = msg.value_counts().rename_axis("message").reset_index(name="rows")
    cols = [c for c in ("_run_seq", "_pset_seq", "_pset_id", "_run_id") if c in fails]
    table = fails[[*data.params, *cols]].assign(message=msg).head(MAX_TABLE_ROWS)
    ctx: dict[str, Any] = {
        "failure_kinds": _table(kinds.head(MAX_TABLE_ROWS)),
        "failures": _table(
            table.rename(columns=lambda c: c.lstrip("_") if isinstance(c, str) else c)
        ),
    }
    if len(fails) > MAX_TABLE_ROWS:
        ctx["failures_cut"] = f"the first {MAX_TABLE_ROWS} of {len(fails)} failed rows"
    return ctx


# --- coverage ----------------------------------------------------------------------------


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


def _coverage_section(data: ReportData, dpi: int) -> dict[str, Any]:
    """The page's coverage: which combinations of the varied parameters have rows
    (:func:`_coverage`), or a note that no parameter is varied."""
    if not data.varied:
        return {"coverage_summary": "No parameter has more than one value."}
    with _report_style():
        return _coverage(data.keys, data.failed, data.order, dpi)
