"""Each pset writes its output to ``calc/<_pset_id>/``, not into the database.

Written for psweep 0.16. ``func`` stands in for a program that writes a data
file. The directory is named by the pset's UUID ``_pset_id``, which links the
database row to its files; the row only records the file's name.
``20eval.py`` reads the files back.

Run it in this directory, then evaluate::

    python 10run.py
    python 20eval.py
"""

import os

import numpy as np

import psweep as ps


def func(pset):
    out_dir = os.path.join(pset["_calc_dir"], pset["_pset_id"])
    os.makedirs(out_dir, exist_ok=True)
    fn = os.path.join(out_dir, "output.txt")
    np.savetxt(fn, pset["a"] * np.array([1.0, 2.0, 4.0]))
    return {"output_file_": fn}


if __name__ == "__main__":
    df = ps.run(func, ps.plist("a", [1, 2, 3, 4]))
    ps.df_print(df, cols=["a", "_pset_id", "output_file_"])
