"""Record failing psets instead of stopping, then resume with only those.

Run it with ``python resume_after_failure.py``. The first run uses
``on_error="record"``: psets whose ``func`` raises get ``_pset_status ==
"failed"`` and the traceback in ``_exc``, the others are computed. The second
run, with the bug fixed, uses ``skip_dups=True``: it runs exactly the failed
psets and leaves the finished ones alone.
"""

import math

import psweep as ps


def fragile(pset):
    """sqrt of x; raises for negative x (the 'bug')."""
    return {"root": math.sqrt(pset["x"])}


def fixed(pset):
    """The fixed workload: the real root, NaN for negative x."""
    x = pset["x"]
    return {"root": math.sqrt(x) if x >= 0 else math.nan}


if __name__ == "__main__":
    params = ps.plist("x", [4.0, -1.0, 9.0, -4.0, 16.0])
    df = ps.run_local(fragile, params, on_error="record")
    failed = df[df._pset_status == "failed"]
    print(f"first run: {len(failed)} of {len(df)} psets failed")
    print(failed._exc.iloc[0].strip().splitlines()[-1])

    df = ps.run_local(fixed, params, skip_dups=True, on_error="record")
    print(f"resumed: {len(df)} rows, the failed psets were run again")
    ps.df_print(df, cols=["x", "root", "_pset_status", "_run_seq"])
