"""Evaluate the whole study: python eval.py

Reads the database calc/database.pk and keeps, for every pset (every
parameter combination, told apart by its hash `_pset_sha1`), its newest
successful row, whichever run made it. So the evaluation covers the study
as a whole after extending it with more psets or resuming it. It checks each
pset's time series calc/<_pset_id>/data.npy against the amplitude in the
database, and writes

    results/summary.csv    the resonance peak of each damper (also printed)
    results/overview.png   amplitude and phase over omega, one curve per damper
                           (drawn like the report: its colours, units and labels)
    results/report.html    the whole study in one file (psweep's report): runs
                           with provenance, every result over every varied
                           parameter, failures, parameter coverage

The figure and the report need matplotlib (in requirements.lock); without it
the summary is still written.
"""

import os
import sys

import numpy as np
import pandas as pd
import psweep as ps

CALC_DIR = "calc"
RESULTS_DIR = "results"
# units of the columns (input.py computes phase in radians), for the figure and the report
UNITS = {"omega": "natural frequency", "phase": "rad"}
# columns drawn on log axes, in the figure and the report alike
LOG = ("amplitude",)
HERE = os.path.dirname(os.path.abspath(__file__))


def study_name():
    """The study's name from .copier-answers.yml, else its folder's name."""
    try:
        import yaml

        with open(os.path.join(HERE, ".copier-answers.yml")) as fh:
            return str(yaml.safe_load(fh)["study_name"])
    except (OSError, KeyError, TypeError, ImportError):
        return os.path.basename(HERE)


class EvalError(Exception):
    """Something the user can fix: reported in one line, without a traceback."""


def read_study(calc_dir=CALC_DIR):
    """The newest successful row of every pset of the study, across all runs."""
    fn = os.path.join(calc_dir, "database.pk")
    if not os.path.exists(fn):
        raise EvalError(f"no results yet: {fn} does not exist; run the study: python input.py")
    df = ps.df_read(fn)
    first_seen = {h: i for i, h in enumerate(pd.unique(df["_pset_sha1"]))}
    if "_pset_status" in df.columns:
        df = df[df["_pset_status"].fillna("ok") == "ok"]
    if len(df) == 0:
        raise EvalError(f"{fn} has no successful pset yet; run the study: python input.py")
    # rows are in the order they were written: the last one of each hash is the newest
    newest = df[~df["_pset_sha1"].duplicated(keep="last")].copy()
    # psets in the order they first appear, as the report orders values (and colours lines)
    newest = newest.sort_values("_pset_sha1", key=lambda s: s.map(first_seen), kind="stable")
    newest.attrs["runs_in_study"] = int(df["_run_id"].nunique())
    return newest


def describe(df):
    """'33 psets from 2 of 3 runs': what the evaluation covers."""
    used, total = df["_run_id"].nunique(), df.attrs.get("runs_in_study", df["_run_id"].nunique())
    return f"{len(df)} psets from {used} of {total} run{'s' if total != 1 else ''}"


def add_file_data(df, calc_dir=CALC_DIR):
    """Add x_max, the largest |x(t)| of the time series that each pset saved."""
    x_max = []
    for pset_id in df.index:
        fn = os.path.join(calc_dir, str(pset_id), "data.npy")
        if not os.path.exists(fn):
            raise EvalError(f"{fn} is missing: the database has pset {pset_id}, its file is gone")
        x_max.append(float(np.abs(np.load(fn)[1]).max()))
    df = df.copy()  # keeps df.attrs
    df["x_max"] = x_max
    return df


def summarize(df):
    """One row per damper: the peak of its resonance curve."""
    rows = []
    for damper, grp in df.groupby("damper", sort=False):
        peak = grp.loc[grp["amplitude"].idxmax()]
        rows.append(
            {
                "damper": damper,
                "zeta": peak["zeta"],
                "omega_peak": peak["omega"],
                "amplitude_peak": peak["amplitude"],
                "x_max_peak": peak["x_max"],
                "n_psets": len(grp),
            }
        )
    return pd.DataFrame(rows).sort_values("zeta", ignore_index=True)


def plot(df, fn):
    """Save amplitude and phase curves to `fn`; return the figure, None without matplotlib.

    Drawn with psweep's report style: the same colour for each damper as in the
    report (the dampers in the order they first appear in the database), the
    report's legend labels, phase in radians like the report (UNITS), and the
    report's axis scales (LOG).
    """
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    with matplotlib.rc_context(ps.plot_style()):
        fig, (ax_amp, ax_phase) = plt.subplots(2, 1, sharex=True, figsize=(6.5, 6))
        for damper in df["damper"].unique():
            grp = df[df["damper"] == damper].sort_values("omega")
            label = f"damper={damper}, zeta={grp['zeta'].iloc[0]:g}"
            ax_amp.plot(grp["omega"], grp["amplitude"], "o-", label=label)
            ax_phase.plot(grp["omega"], grp["phase"], "o-", label=label)
        ax_amp.set_title(f"{study_name()}: {describe(df)}", fontsize=11)
        # the report's scales: ps.report gets the same LOG
        ax_amp.set_yscale(ps.axis_scale("amplitude", df["amplitude"], log_axes=LOG))
        ax_phase.set_yscale(ps.axis_scale("phase", df["phase"], log_axes=LOG))
        ax_phase.set_xscale(ps.axis_scale("omega", df["omega"], log_axes=LOG))
        ax_amp.legend()
        ps.label_axes(ax_amp, y="amplitude", units=UNITS)
        ps.label_axes(ax_phase, x="omega", y="phase", units=UNITS)
        fig.tight_layout()
        fig.savefig(fn, dpi=100)
    plt.close(fig)
    return fig


def write_report(fn, calc_dir=CALC_DIR):
    """Write the study's HTML report to `fn`; return False if matplotlib is missing."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    ps.report(calc_dir, fn, title=study_name(), units=UNITS, log_axes=LOG)
    return True


def main():
    df = add_file_data(read_study())
    bad = df[~np.isclose(df["x_max"], df["amplitude"], rtol=1e-2)]
    if len(bad):
        raise EvalError(f"data.npy disagrees with the database for psets {list(bad.index)}")
    os.makedirs(RESULTS_DIR, exist_ok=True)
    summary = summarize(df)
    summary.to_csv(os.path.join(RESULTS_DIR, "summary.csv"), index=False)
    print(summary.to_string(index=False))
    print(f"{describe(df)}; wrote {RESULTS_DIR}/summary.csv")
    fig_fn = os.path.join(RESULTS_DIR, "overview.png")
    report_fn = os.path.join(RESULTS_DIR, "report.html")
    if plot(df, fig_fn) is not None and write_report(report_fn):
        print(f"wrote {fig_fn} and {report_fn}")
    else:
        print(
            f"eval.py: matplotlib is not installed, so {fig_fn} and {report_fn} were not "
            "made; install it with: pip install -r requirements.lock",
            file=sys.stderr,
        )


if __name__ == "__main__":
    try:
        main()
    except EvalError as exc:
        sys.exit(f"eval.py: {exc}")
