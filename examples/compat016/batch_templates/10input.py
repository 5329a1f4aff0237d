"""Write one job directory per pset from jinja templates, plus one script per machine.

Written for psweep 0.16. ``ps.prep_batch`` fills every file in
``templates/calc/`` and each machine's ``templates/machines/<m>/jobscript``
with the pset (jinja ``{{param_a}}``, book-keeping keys included) into
``calc/<_pset_id>/``, and writes ``calc/run_<m>.sh``, which runs
``<subcmd> jobscript_<m>`` (``subcmd`` from ``info.yaml``) in each of them.
The jobs are run outside of psweep: here with ``sh calc/run_local.sh``, on a
cluster by copying ``calc/`` there and running ``sh run_cluster.sh``.

Run it in this directory, then the jobs, the extension and the evaluation::

    python 10input.py
    sh calc/run_local.sh
    python 15input.py
    sh calc/run_local.sh
    python 20eval.py
"""

import psweep as ps

if __name__ == "__main__":
    params = ps.pgrid(ps.plist("param_a", [1, 2, 3]), ps.plist("param_b", [88, 99]))
    df = ps.prep_batch(
        params,
        calc_templ_dir="templates/calc",
        machine_templ_dir="templates/machines",
    )
    ps.df_print(df, cols=["param_a", "param_b", "_run_seq", "_pset_seq", "_pset_id"])
