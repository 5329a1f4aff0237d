"""Batch jobs of the study: python batch.py [--collect]

The same psets as input.py, run as one job each instead of by run_local:

    python batch.py              # write batch/<_pset_id>/ and batch/run_<machine>.sh
    sh batch/run_local.sh        # run the jobs here (or: sh batch/run_slurm.sh on a cluster)
    python batch.py --collect    # merge each job's result.json into batch/database.pk

Every file in templates/calc/ and each templates/machines/<machine>/jobscript is
filled in per pset ($name is the pset's value of name, $$ a literal dollar).
Batch jobs live in batch/, apart from calc/, so that each database holds one
kind of run. Run it again after adding psets: only psets that have no job
folder yet are prepared (skip_dups), and the submit scripts then start only
those new jobs.
"""

import argparse
import os
import sys

import psweep as ps

from input import GIT, make_params

BATCH_DIR = ps.batch.STUDY_BATCH_DIR  # "batch": psweep batch and psweep status look there too
MACHINES_DIR = os.path.join("templates", "machines")


def prepare():
    db = os.path.join(BATCH_DIR, "database.pk")
    before = len(ps.df_read(db)) if os.path.exists(db) else 0
    df = ps.prep_batch(make_params(), calc_dir=BATCH_DIR, git=GIT, backup=True, skip_dups=True)
    if len(df) == before:
        print(f"no new psets: all {len(df)} have a job folder in {BATCH_DIR}/ already.")
        print("Add psets in input.py (make_params) to prepare more.")
        return
    new = df.iloc[before:]
    ps.df_print(new, cols=["damper", "zeta", "omega", "_pset_id"])
    machines = sorted(os.listdir(MACHINES_DIR))
    how = "with one of" if len(machines) > 1 else "with"
    print(f"{len(new)} new jobs in {BATCH_DIR}/ ({len(df)} in all). Submit the new ones {how}")
    for machine in machines:
        print(f"    sh {BATCH_DIR}/run_{machine}.sh")
    print("then, when the jobs are done: python batch.py --collect")


def collect():
    if not os.path.exists(os.path.join(BATCH_DIR, "database.pk")):
        sys.exit(
            f"batch.py: no batch jobs yet in {BATCH_DIR}/; prepare them first: python batch.py"
        )
    df = ps.collect_batch(BATCH_DIR)
    counts = df["_batch_status"].value_counts().to_dict()
    # before the jobs have run there is no amplitude column yet
    cols = ["damper", "zeta", "omega", "amplitude", "_batch_status"]
    ps.df_print(df, cols=[c for c in cols if c in df.columns])
    print(f"collected {BATCH_DIR}/database.pk: {counts}")
    print("commit the results if you like: git add -A && git commit -m 'Collect batch jobs'")


def main(argv=None):
    parser = argparse.ArgumentParser(description="Prepare or collect the batch jobs.")
    parser.add_argument(
        "--collect", action="store_true", help="merge the jobs' result.json files into batch/"
    )
    args = parser.parse_args(argv)
    if args.collect:
        collect()
    else:
        prepare()


if __name__ == "__main__":
    main()
