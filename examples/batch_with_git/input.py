"""Prepare batch jobs from templates, with git: python input.py

Writes calc/<_pset_id>/ (run.py, jobscript_local, jobscript_cluster,
.psweep-submit_cluster.sh for sbatch, pset.json) for each pset and the
submit scripts calc/run_local.sh and calc/run_cluster.sh, then commits
everything (git=True). Run it again after editing params: old psets keep
their folders and their submit lines are commented out.
"""

import psweep as ps

if __name__ == "__main__":
    params = ps.pgrid(ps.plist("amplitude", [1.0, 2.0]), ps.plist("damping", [0.1, 0.5]))
    df = ps.prep_batch(params, git=True)
    ps.df_print(df, cols=["amplitude", "damping", "_pset_seq"])
