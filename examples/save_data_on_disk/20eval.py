"""Post-process the files written by ``10run.py``.

Workflow: read the database, load ``<_calc_dir>/<_pset_id>/output.txt`` of
every row with numpy, add the mean of each file as a new column ``mean`` and
write the extended database to ``calc/database_eval.pk``. The original
``calc/database.pk`` is left as it is.

Run it in this directory after ``python 10run.py``::

    python 20eval.py
"""

import os

import numpy as np

import psweep as ps

if __name__ == "__main__":
    df = ps.df_read(os.path.join("calc", "database.pk"))
    data = [
        np.loadtxt(os.path.join(calc_dir, pset_id, "output.txt"))
        for calc_dir, pset_id in zip(df._calc_dir, df._pset_id, strict=True)
    ]
    df["mean"] = [arr.mean() for arr in data]
    ps.df_print(df, cols=["a", "mean", "_pset_id"])
    ps.df_write(df, os.path.join("calc", "database_eval.pk"))
