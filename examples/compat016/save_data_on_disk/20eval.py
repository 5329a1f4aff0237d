"""Read the files of ``10run.py`` back and store their means in a new database.

Written for psweep 0.16: the evaluation selects rows, loads
``calc/<_pset_id>/output.txt`` for each, adds the column ``mean_`` and writes
``calc/database_eval.pk`` with ``ps.df_write(filename, df)``.

Run it after ``10run.py``, in this directory::

    python 20eval.py
"""

import numpy as np

import psweep as ps

if __name__ == "__main__":
    df = ps.df_read("calc/database.pk")
    df = df[df.a > 1].copy()
    data = [np.loadtxt(f"calc/{pset_id}/output.txt") for pset_id in df._pset_id]
    df["mean_"] = np.array(data).mean(axis=1)
    ps.df_print(df, cols=["a", "mean_", "_pset_id"])
    ps.df_write("calc/database_eval.pk", df)
