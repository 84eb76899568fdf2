#!/bin/bash
# jffs_driver job script, rendered by `jffs submit` from slurm/jffs_run.sbatch with Python's
# string.Template (in the template, placeholders are filled in and doubled dollar signs become
# single ones). Edit the template, or pass --template, to adapt it (keep ${select_campaign}:
# for a job array it picks each task's campaign).
#SBATCH --job-name=membrane
#SBATCH --nodes=2
#SBATCH --ntasks=33
#SBATCH --time=2-00:00:00
#SBATCH --signal=B:USR1@300
#SBATCH --requeue
#SBATCH --open-mode=append
#SBATCH --output=membrane-%j.out
#
# campaign:      /home/alice/runs/membrane.toml
# engine groups: 16 x 2 rank(s) per trial, plus 1 coordinating rank
#                = 33 MPI ranks on 2 node(s)
# launcher:      /usr/bin/mpiexec (auto: Open MPI mpiexec, srun offers no pmix (none, pmi2))
# stop/resume:   USR1 300 s before the time limit (or TERM) is passed to the MPI
#                launcher, which forwards it to every rank; the coordinator stops dispatching,
#                commits and exits with 75 ("incomplete, resubmit"); this script then requeues
#                the job (at most 20 times) and the next run resumes the store.
#                A launcher ended by a signal after a stop request (a rank killed by the
#                launcher once another had exited) is requeued too: the store keeps every
#                committed trial through a kill.

cd /home/alice/runs || exit 1
echo "jffs: job ${SLURM_JOB_ID} restart ${SLURM_RESTART_COUNT:-0} started $(date -Is) on $(hostname -s)"

stop_requested=0
forward() { stop_requested=1; kill -USR1 "$launcher" 2>/dev/null; }
trap forward USR1 TERM

/usr/bin/mpiexec -n 33 /opt/jffs/bin/python -m jffs_driver run /home/alice/runs/membrane.toml &
launcher=$!
# A trapped signal ends `wait` early: wait again until the launcher itself has exited.
while true; do
    wait "$launcher"
    rc=$?
    kill -0 "$launcher" 2>/dev/null || break
done
echo "jffs: job ${SLURM_JOB_ID} launcher exited with code $rc at $(date -Is)"
# After a stop request, srun --kill-on-bad-exit (or mpiexec) may kill the ranks still exiting
# once one has exited with 75, and then reports the signal (128 + N) instead of 75.
if [ "$stop_requested" = 1 ] && [ "$rc" -gt 128 ]; then
    echo "jffs: launcher ended by signal $((rc - 128)) after a stop request; the campaign is incomplete"
    rc=75
fi
if [ "$rc" -eq 75 ]; then
    if [ "${SLURM_RESTART_COUNT:-0}" -lt 20 ]; then
        # An array task is named ARRAYID_TASK: the last task's SLURM_JOB_ID is the array's own
        # id, and requeueing that id would requeue every task of the array.
        job_ref=${SLURM_ARRAY_TASK_ID:+${SLURM_ARRAY_JOB_ID}_${SLURM_ARRAY_TASK_ID}}
        job_ref=${job_ref:-${SLURM_JOB_ID}}
        echo "jffs: campaign incomplete; requeueing job ${job_ref}"
        scontrol requeue "${job_ref}"
    else
        echo "jffs: campaign incomplete after 20 requeues; run jffs submit again"
    fi
fi
exit "$rc"
