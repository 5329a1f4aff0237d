"""Collect the jobs' output files into ``calc/database_eval.pk``.

Written for psweep 0.16: each job saved ``calc/<_pset_id>/out.npy``; their
means become the column ``mean_``.

Run it after the jobs, in this directory::

    python 20eval.py
"""

import numpy as np

import psweep as ps

if __name__ == "__main__":
    df = ps.df_read("calc/database.pk")
    df["mean_"] = [np.load(f"calc/{pset_id}/out.npy").mean() for pset_id in df._pset_id]
    ps.df_print(df, cols=["param_a", "param_b", "mean_", "_run_seq", "_pset_seq"])
    ps.df_write("calc/database_eval.pk", df)
