"""Keep what each pset prints, in the database, in a file per pset, or both.

Written for psweep 0.16: ``ps.run(..., capture_logs=...)`` with ``"db"`` (the
text goes to the ``_logs`` column), ``"file"`` (``calc/<_pset_id>/logs.txt``)
and ``"db+file"``. Only Python-level writes to ``sys.stdout`` and
``sys.stderr`` are captured, so a subprocess's output is read and printed
here. Psets with odd ``a`` fail; ``safe_func`` prints the traceback, which
ends up in the log as well.

Run it in this directory::

    python capture_logs.py
"""

import subprocess
import sys
import traceback

import psweep as ps

# Each script of this folder keeps its own database.
CALC_DIR = "calc/capture_logs"


def func(pset):
    print(f"start a={pset['a']}")
    proc = subprocess.run(
        [sys.executable, "-c", "print('hello from a child process')"],
        capture_output=True,
        text=True,
        check=True,
    )
    print(proc.stdout, end="")
    print("a warning on stderr", file=sys.stderr)
    if pset["a"] % 2 == 1:
        raise ValueError(f"odd a={pset['a']} is not allowed")
    return {"result_": pset["a"] ** 2}


def safe_func(pset):
    try:
        return func(pset)
    except Exception:
        print(traceback.format_exc())
        return {}


if __name__ == "__main__":
    params = ps.plist("a", [1, 2, 3])
    for mode in ["db", "file", "db+file"]:
        df = ps.run(safe_func, params, calc_dir=CALC_DIR, capture_logs=mode)
        last = df.iloc[-1]
        print(f"--- capture_logs={mode!r}, last pset ---")
        if "db" in mode:
            print(last["_logs"])
        if "file" in mode:
            print(ps.file_read(f"{last['_calc_dir']}/{last['_pset_id']}/logs.txt"))
