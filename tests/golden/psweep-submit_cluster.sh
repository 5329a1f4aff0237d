#!/bin/sh
#SBATCH --time 00:05:00
#SBATCH -o out.job
#SBATCH -J foo_0_<uuid>
# psweep's submit wrapper of jobscript_cluster (written by psweep.prep_batch): the lines
# above are those of jobscript_cluster before its first command; this job runs it
# and records its start and end in .psweep-job_cluster (psweep.batch_states).
pset_dir=${SLURM_SUBMIT_DIR:-${PBS_O_WORKDIR:-$PWD}}
job_id=${SLURM_JOB_ID:-${PBS_JOBID:-}}
record() {
    printf 'state=%s\nexit_code=%s\njob_id=%s\nhost=%s\ntime=%s\nstarted=%s\n' \
        "$1" "$2" "$job_id" "$(hostname)" "$(date +%s)" "$started" > "$pset_dir"/.psweep-job_cluster.tmp &&
        mv -f "$pset_dir"/.psweep-job_cluster.tmp "$pset_dir"/.psweep-job_cluster
}
on_term() {
    # SLURM sends SIGTERM at the time limit and on scancel; the job tells which
    # (while it completes, JobState is COMPLETING and Reason TimeLimit)
    # bounded: an unreachable controller makes scontrol retry longer than KillWait
    job=$(timeout 5 scontrol show job -o "$SLURM_JOB_ID" 2>/dev/null)
    case " $job " in
        *" JobState=TIMEOUT "* | *" Reason=TimeLimit "*) record timeout 143 ;;
        *) record cancelled 143 ;;
    esac
    exit 143
}
forward() {
    forwarded=1
    kill -s "$1" "$child" 2>/dev/null
}
trap on_term TERM  # before the record: a SIGTERM right after it is caught
for sig in USR1 USR2 HUP INT CONT; do trap "forward $sig" "$sig"; done
started=$(date +%s)
record running ''
# a background command ignores SIGINT; the jobscript gets it as the job's script would
reset='env --default-signal=INT,QUIT'
$reset true 2>/dev/null || reset=  # coreutils before 8.31: as it is
$reset /bin/sh "$pset_dir"/jobscript_cluster &
child=$!
# a forwarded signal ends wait (status > 128), not the jobscript: wait on for it
forwarded=1; rc=129
while [ "$forwarded" ] && [ "$rc" -gt 128 ]; do
    forwarded=
    wait "$child"
    rc=$?
done
record exited "$rc"
exit "$rc"
