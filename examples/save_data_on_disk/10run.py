"""Save each pset's output in its own directory named by ``_pset_id``.

Workflow: ``func`` stands in for a program that writes results to disk
instead of returning them. Every pset gets the directory
``<_calc_dir>/<_pset_id>/``; the UUID ``_pset_id`` never changes and links the
database row to its files, so no parameter values have to be encoded in path
names. The returned dict only records where the output went.
``20eval.py`` reads the files back.

Run it in this directory, then evaluate::

    python 10run.py
    python 20eval.py
"""

import os

import psweep as ps


def func(pset: dict) -> dict:
    out_dir = os.path.join(pset["_calc_dir"], pset["_pset_id"])
    os.makedirs(out_dir, exist_ok=True)
    out_file = os.path.join(out_dir, "output.txt")
    a = pset["a"]
    with open(out_file, "w") as fd:
        fd.write(f"{a} {2 * a} {4 * a}\n")
    return {"out_file": out_file}


if __name__ == "__main__":
    params = ps.plist("a", [1, 2, 3, 4])
    df = ps.run_local(func, params)
    ps.df_print(df, cols=["a", "_pset_id", "out_file"])
