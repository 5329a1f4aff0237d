"""Extend the ``b`` scan of ``10run.py``, keeping a backup of ``calc/`` first.

Written for psweep 0.16. ``backup=True`` copies ``calc/`` to
``calc.bak_<time of the last pset>_run_id_<last run id>`` before the new
psets run. ``skip_dups=True`` leaves out ``b=77``, which is already in the
database.

Run it after ``10run.py``, in this directory::

    python 20run.py
"""

import psweep as ps


def func(pset):
    return {"result_": pset["a"] * pset["b"]}


if __name__ == "__main__":
    const = {"a": 1, "b": 77}
    params = ps.stargrid(const, vary=[ps.plist("b", [77, 88, 99])], vary_labels=["b"])
    df = ps.run(func, params, backup=True, skip_dups=True, verbose=["a", "b", "_vary"])
    ps.df_print(df, cols=["a", "b", "_vary", "result_", "_run_seq"])
