#!/bin/sh
# Submits the jobs of machine 'cluster' (written by psweep.prep_batch).
# Lines of earlier runs are commented out. Works from any folder.
here=$(cd "$(dirname "$0")" && pwd)
cd "$here" || exit 1
psweep_record() {  # what became of the job, for psweep status and resubmit
    if [ "$1" = 0 ]; then state=submitted; else state=rejected; fi
    # the job may have started, or ended, and written its record: that one stays
    (set -C; printf 'state=%s\nexit_code=%s\njob_id=\nhost=%s\ntime=%s\n' \
        "$state" "$1" "$(hostname)" "$(date +%s)" > .psweep-job_cluster) 2>/dev/null
}
# cd <uuid>; rm -f .psweep-job_cluster; sbatch "$PWD"/.psweep-submit_cluster.sh; psweep_record $?; cd "$here"  # run_seq=0 pset_seq=0
# cd <uuid>; rm -f .psweep-job_cluster; sbatch "$PWD"/.psweep-submit_cluster.sh; psweep_record $?; cd "$here"  # run_seq=0 pset_seq=1
cd <uuid>; rm -f .psweep-job_cluster; sbatch "$PWD"/.psweep-submit_cluster.sh; psweep_record $?; cd "$here"  # run_seq=1 pset_seq=2
