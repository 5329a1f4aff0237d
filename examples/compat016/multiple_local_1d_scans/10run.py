"""1d scans of ``a`` and of ``b`` around one reference pset, in one database.

Written for psweep 0.16. ``ps.stargrid`` merges each scanned value into the
constant reference pset and labels the scan in the ``_vary`` column. The
reference pset ``{a: 1, b: 77}`` lies on both scans; ``stargrid`` keeps it
once (``skip_dups=True`` is its default), so 3 + 2 values give 4 psets.
``verbose=`` prints the chosen columns of each pset as it runs.

Run it in this directory, then extend the study::

    python 10run.py
    python 20run.py
"""

import psweep as ps


def func(pset):
    return {"result_": pset["a"] * pset["b"]}


if __name__ == "__main__":
    const = {"a": 1, "b": 77}
    params = ps.stargrid(
        const,
        vary=[ps.plist("a", [1, 2, 3]), ps.plist("b", [66, 77])],
        vary_labels=["a", "b"],
    )
    df = ps.run(func, params, verbose=["a", "b", "_vary"])
    ps.df_print(df, cols=["a", "b", "_vary", "result_", "_run_seq"])
