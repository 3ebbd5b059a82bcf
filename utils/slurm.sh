#!/usr/bin/env bash
# Run a command as N jobs on a Slurm cluster; same interface as utils/run.sh (Kaldi's slurm.pl).
#
# Usage:
#   utils/slurm.sh [options] JOB=1:N LOGDIR/log.JOB.log command args...
#   utils/slurm.sh [options] LOGFILE command args...        (a single job)
#
# By default the N jobs are one sbatch array job (sbatch --wait: returns when all are done);
# with --use-srun each job is started with srun from here instead. Every job runs through
# utils/run.sh on its node, so logs look the same as local ones (command line first, exit status
# and time last), and the exit status is non-zero naming each failing log.
#
# Options (override the environment, which overrides the config file):
#   --config FILE        resource settings (default: $BCCMT_SLURM_CONF, else conf/slurm.conf if present)
#   --partition P        env BCCMT_SLURM_PARTITION
#   --mem M              memory per job, e.g. 4G          env BCCMT_SLURM_MEM
#   --time T             time limit, e.g. 4:00:00          env BCCMT_SLURM_TIME
#   --gpu G              GPUs per job (--gres=gpu:G)       env BCCMT_SLURM_GPU
#   --num-threads T      CPUs per job (--cpus-per-task)    env BCCMT_SLURM_NUM_THREADS
#   --account A          env BCCMT_SLURM_ACCOUNT
#   --max-jobs-run K     at most K jobs at a time (array throttle %K)
#   --use-srun           one srun per job instead of an sbatch array   env BCCMT_SLURM_USE_SRUN=true
#
# Config file: one "key value" per line, '#' comments; keys partition, mem, time, gpu,
# num_threads, account, and extra (more sbatch/srun options, used as they are), e.g.
#   partition cpu
#   mem 4G
#   time 4:00:00
#   extra --qos=normal
#
# Example (egs/voxceleb/cmd.sh: train_cmd="utils/slurm.sh --mem 4G"):
#   utils/slurm.sh --partition cpu JOB=1:8 exp/make_fbank/log/make_fbank.JOB.log \
#     bccmt compute-fbank scp:data/x/split8/JOB/wav.scp ark,scp:fbank/raw.JOB.ark,fbank/raw.JOB.scp

set -u

help_text() { awk 'NR > 1 && !/^#/ { exit } NR > 1' "$0" | sed 's/^# \{0,1\}//'; }
usage() { if [ "$1" -eq 0 ]; then help_text; else help_text >&2; fi; exit "$1"; }
die() { echo "slurm.sh: $*" >&2; exit 1; }

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
run_sh=$here/run.sh

config=${BCCMT_SLURM_CONF:-}
[ -z "$config" ] && [ -f conf/slurm.conf ] && config=conf/slurm.conf
declare -A setting=()
declare -A option=()
use_srun=${BCCMT_SLURM_USE_SRUN:-false}
max_jobs_run=0

while [ $# -gt 0 ]; do
  if [[ "$1" == --*=* ]]; then  # --mem=4G is --mem 4G
    first_arg=$1; shift
    set -- "${first_arg%%=*}" "${first_arg#*=}" "$@"
  fi
  case "$1" in
    -h|--help) usage 0 ;;
    --use-srun) use_srun=true; shift ;;
    --config) config=$2; shift 2 ;;
    --max-jobs-run) max_jobs_run=$2; shift 2 ;;
    --partition|--mem|--time|--gpu|--num-threads|--account)
      [ $# -ge 2 ] || die "$1 needs a value"
      key=${1#--}; option[${key//-/_}]=$2; shift 2 ;;
    --*) die "unknown option $1 (see --help)" ;;
    *) break ;;
  esac
done
[ $# -ge 2 ] || usage 1
[[ "$max_jobs_run" =~ ^[0-9]+$ ]] || die "--max-jobs-run needs a number, got '$max_jobs_run'"

# Settings: config file, then environment, then command-line options.
if [ -n "$config" ]; then
  [ -f "$config" ] || die "config file $config not found"
  while read -r key value; do
    case "$key" in
      ''|'#'*) continue ;;
      partition|mem|time|gpu|num_threads|account|extra) setting[$key]=$value ;;
      *) die "$config: unknown key '$key' (valid: partition mem time gpu num_threads account extra)" ;;
    esac
  done < "$config"
fi
for key in partition mem time gpu num_threads account extra; do
  env_name=BCCMT_SLURM_${key^^}
  [ -n "${!env_name:-}" ] && setting[$key]=${!env_name}
done
for key in "${!option[@]}"; do setting[$key]=${option[$key]}; done

jobname=""
first=1
last=1
if [[ "$1" =~ ^([A-Za-z_][A-Za-z0-9_]*)=([0-9]+):([0-9]+)$ ]]; then
  jobname=${BASH_REMATCH[1]}; first=$((10#${BASH_REMATCH[2]})); last=$((10#${BASH_REMATCH[3]})); shift
elif [[ "$1" =~ ^([A-Za-z_][A-Za-z0-9_]*)=([0-9]+)$ ]]; then
  jobname=${BASH_REMATCH[1]}; first=$((10#${BASH_REMATCH[2]})); last=$first; shift
fi
[ $# -ge 2 ] || usage 1
[ "$first" -le "$last" ] || die "empty job range $first:$last"
logtemplate=$1; shift
if [ -n "$jobname" ] && [ "$last" -gt "$first" ] && [[ "$logtemplate" != *"$jobname"* ]]; then
  die "the log name '$logtemplate' must contain $jobname, or all jobs write one log"
fi

# The job script: runs one task through run.sh (task id from $1, or the array index).
logdir=$(dirname "$logtemplate")
qdir=$logdir/q
mkdir -p "$qdir" || die "cannot create $qdir"
name=$(basename "$logtemplate")
name=${name%.log}
name=${name//[^A-Za-z0-9_.-]/_}
script=$qdir/$name.sh
{
  echo '#!/usr/bin/env bash'
  echo "cd $(printf '%q' "$PWD") || exit 1"
  echo 'task=${1:-${SLURM_ARRAY_TASK_ID:?no task id}}'
  if [ -n "$jobname" ]; then
    printf 'exec %q "%s=$task:$task" %q' "$run_sh" "$jobname" "$logtemplate"
  else
    printf 'exec %q %q' "$run_sh" "$logtemplate"
  fi
  printf ' %q' "$@"
  echo
} > "$script" || die "cannot write $script"
chmod +x "$script"

resources=()
[ -n "${setting[partition]:-}" ] && resources+=("--partition=${setting[partition]}")
[ -n "${setting[mem]:-}" ] && resources+=("--mem=${setting[mem]}")
[ -n "${setting[time]:-}" ] && resources+=("--time=${setting[time]}")
[ -n "${setting[gpu]:-}" ] && [ "${setting[gpu]}" != 0 ] && resources+=("--gres=gpu:${setting[gpu]}")
[ -n "${setting[num_threads]:-}" ] && resources+=("--cpus-per-task=${setting[num_threads]}")
[ -n "${setting[account]:-}" ] && resources+=("--account=${setting[account]}")
# shellcheck disable=SC2206  # 'extra' holds several options on purpose
[ -n "${setting[extra]:-}" ] && resources+=(${setting[extra]})

if [ "$use_srun" = true ]; then
  command -v srun > /dev/null || die "srun not found (not on a Slurm cluster? use utils/run.sh)"
  pids=()
  trap 'kill "${pids[@]}" 2>/dev/null; exit 130' INT TERM
  for ((job = first; job <= last; job++)); do
    if [ "$max_jobs_run" -gt 0 ]; then
      while [ "$(jobs -rp | wc -l)" -ge "$max_jobs_run" ]; do wait -n 2>/dev/null || sleep 1; done
    fi
    srun --job-name="$name" --ntasks=1 --output="$qdir/$name.$job.out" "${resources[@]}" \
      bash "$script" "$job" < /dev/null &
    pids+=($!)
  done
  wait
else
  command -v sbatch > /dev/null || die "sbatch not found (not on a Slurm cluster? use utils/run.sh)"
  array="$first-$last"
  [ "$max_jobs_run" -gt 0 ] && array+="%$max_jobs_run"
  sbatch --parsable --wait --job-name="$name" --array="$array" --output="$qdir/$name.%a.out" \
    "${resources[@]}" "$script" > "$qdir/$name.jobid" 2> "$qdir/$name.sbatch.err"
  status=$?
  if [ ! -s "$qdir/$name.jobid" ]; then
    die "sbatch failed (exit $status): $(tail -n 1 "$qdir/$name.sbatch.err")"
  fi
fi

failed=()
for ((job = first; job <= last; job++)); do
  if [ -n "$jobname" ]; then log=${logtemplate//$jobname/$job}; else log=$logtemplate; fi
  if ! tail -n 1 "$log" 2>/dev/null | grep -q '^# Ended (code 0)'; then
    failed+=("$log")
  fi
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "slurm.sh: ${#failed[@]}/$((last - first + 1)) jobs failed; see ${failed[*]} (Slurm output in $qdir)" >&2
  exit 1
fi
exit 0
