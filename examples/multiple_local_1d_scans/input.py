"""Several 1d scans around one reference pset, collected in one database.

Workflow: start from a constant reference pset and vary one parameter at a
time while the others keep their reference values (a "star" around the
reference point, built with ``ps.stargrid``). Each scan is one
``ps.run_local`` call appended to ``calc/database.pk``; its ``study`` column
holds the name of the varied parameter, which ``eval.py`` uses to select the
scan. With ``backup=True`` every call first copies the existing ``calc/`` to
``calc.bak_<time>Z_run_id_<last run id>``, so earlier states of the study can
be restored.

Run it in this directory, then evaluate::

    python input.py
    python eval.py
"""

import math

import psweep as ps


def func(pset: dict) -> dict:
    """Period of a pendulum with length, gravity and a small-angle correction."""
    length, gravity, amplitude = pset["length"], pset["gravity"], pset["amplitude"]
    period0 = 2 * math.pi * math.sqrt(length / gravity)
    return {"period": period0 * (1 + amplitude**2 / 16)}


if __name__ == "__main__":
    reference = {"length": 1.0, "gravity": 9.81, "amplitude": 0.1}
    scans = [
        ps.plist("length", [0.5, 1.0, 1.5, 2.0]),
        ps.plist("gravity", [1.62, 3.71, 9.81]),
        ps.plist("amplitude", [0.1, 0.5]),
    ]
    for scan in scans:
        name = next(iter(scan[0]))
        params = ps.stargrid(reference, [scan], vary_labels=[name], vary_label_col="study")
        df = ps.run_local(func, params, backup=True)
        print(f"scan of {name!r}: {len(params)} psets, database now {len(df)} rows")
