#!/bin/sh
# Submits the jobs of machine 'cluster' (written by psweep.prep_batch).
# Lines of earlier runs are commented out. Works from any folder.
here=$(cd "$(dirname "$0")" && pwd)
cd "$here" || exit 1
# cd <uuid>; sbatch jobscript_cluster; cd "$here"  # run_seq=0 pset_seq=0
# cd <uuid>; sbatch jobscript_cluster; cd "$here"  # run_seq=0 pset_seq=1
cd <uuid>; sbatch jobscript_cluster; cd "$here"  # run_seq=1 pset_seq=2
