"""Evaluate the study: python eval.py

Reads the database calc/database.pk, keeps the successful rows of the latest
run, checks each pset's time series calc/<_pset_id>/data.npy against the
amplitude in the database, and writes

    results/summary.csv    the resonance peak of each damper (also printed)
    results/overview.png   amplitude over omega, one curve per damper

The figure needs matplotlib (pip install matplotlib); without it the summary
is still written.
"""

import os
import sys

import numpy as np
import pandas as pd
import psweep as ps

CALC_DIR = "calc"
RESULTS_DIR = "results"


def read_latest_run(calc_dir=CALC_DIR):
    """The database rows of the latest run, without failed psets."""
    df = ps.df_read(os.path.join(calc_dir, "database.pk"))
    conds = [df["_run_seq"] == df["_run_seq"].max()]
    if "_pset_status" in df.columns:
        conds.append(df["_pset_status"] == "ok")
    return ps.df_filter_conds(df, conds)


def add_file_data(df, calc_dir=CALC_DIR):
    """Add x_max, the largest |x(t)| of the time series that each pset saved."""
    x_max = []
    for pset_id in df.index:
        x = np.load(os.path.join(calc_dir, str(pset_id), "data.npy"))[1]
        x_max.append(float(np.abs(x).max()))
    df = df.copy()
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
    """Save the resonance curves to `fn`; return False if matplotlib is missing."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    fig, ax = plt.subplots(figsize=(6, 4))
    for damper, grp in df.sort_values("omega").groupby("damper", sort=False):
        zeta = grp["zeta"].iloc[0]
        ax.plot(grp["omega"], grp["amplitude"], "o-", label=f"{damper} (zeta={zeta})")
    ax.set_xlabel("omega / natural frequency")
    ax.set_ylabel("amplitude")
    ax.set_yscale("log")
    ax.legend()
    fig.tight_layout()
    fig.savefig(fn, dpi=100)
    plt.close(fig)
    return True


def main():
    df = add_file_data(read_latest_run())
    bad = df[~np.isclose(df["x_max"], df["amplitude"], rtol=1e-2)]
    if len(bad):
        sys.exit(f"eval.py: data.npy disagrees with the database for psets {list(bad.index)}")
    os.makedirs(RESULTS_DIR, exist_ok=True)
    summary = summarize(df)
    summary.to_csv(os.path.join(RESULTS_DIR, "summary.csv"), index=False)
    print(summary.to_string(index=False))
    print(f"wrote {RESULTS_DIR}/summary.csv")
    fig_fn = os.path.join(RESULTS_DIR, "overview.png")
    if plot(df, fig_fn):
        print(f"wrote {fig_fn}")
    else:
        print(
            f"eval.py: matplotlib is not installed, so {fig_fn} was not made; "
            "install it with: pip install matplotlib",
            file=sys.stderr,
        )


if __name__ == "__main__":
    main()
