# How run.sh starts parallel jobs (Kaldi style: $cmd JOB=1:N log.JOB.log command ...).
# Local processes on this machine:
export train_cmd="utils/run.sh"
export cuda_cmd="utils/run.sh"

# On a Slurm cluster instead (resources per job; see utils/slurm.sh --help for conf/slurm.conf):
# export train_cmd="utils/slurm.sh --mem 4G --time 4:00:00"
# export cuda_cmd="utils/slurm.sh --gpu 1 --num-threads 8 --mem 32G --time 48:00:00"
