#!/usr/bin/env bash
# Run a command as N parallel local jobs, one log per job (the style of Kaldi's run.pl).
#
# Usage:
#   utils/run.sh [options] JOB=1:N LOGDIR/log.JOB.log command args...
#   utils/run.sh [options] LOGFILE command args...          (a single job)
#
# JOB (any upper/lower-case name given before '=') is replaced by the job number in the log name
# and in every argument. Arguments without white space are passed to bash as they are and others
# are quoted, so an escaped pipe works (a lone command argument is taken as a whole command line):  utils/run.sh JOB=1:4 log/x.JOB.log bccmt compute-fbank scp:JOB.scp ark:- \| gzip -c \> x.JOB.gz
# Each log starts with the command line and ends with the exit status and the time taken.
# The exit status is 0 when every job succeeded; otherwise run.sh names each failing log.
#
# Options:
#   --max-jobs-run K   run at most K jobs at the same time (default: all N)
#   --mem M, --time T, --gpu G, --num-threads T, --partition P
#                      accepted for compatibility with utils/slurm.sh and ignored locally
#
# Example:
#   utils/run.sh --max-jobs-run 2 JOB=1:4 exp/make_fbank/log/make_fbank.JOB.log \
#     bccmt compute-fbank scp:data/test/split4/JOB/wav.scp ark,scp:fbank/raw.JOB.ark,fbank/raw.JOB.scp

set -u

usage() {  # usage STATUS: the header comment, on stdout for --help and on stderr for misuse
  if [ "$1" -eq 0 ]; then help_text; else help_text >&2; fi
  exit "$1"
}
help_text() { awk 'NR > 1 && !/^#/ { exit } NR > 1' "$0" | sed 's/^# \{0,1\}//'; }

max_jobs_run=0
while [ $# -gt 0 ]; do
  case "$1" in
    -h|--help) usage 0 ;;
    --*=*) ;;
    --*) [ $# -ge 2 ] || { echo "run.sh: option $1 needs a value" >&2; exit 1; } ;;
  esac
  case "$1" in
    --max-jobs-run) max_jobs_run=$2; shift 2 ;;
    --mem|--time|--gpu|--num-threads|--partition) shift 2 ;;
    --*=*) case "${1%%=*}" in
             --max-jobs-run) max_jobs_run=${1#*=}; shift ;;
             --mem|--time|--gpu|--num-threads|--partition) shift ;;
             *) echo "run.sh: unknown option $1" >&2; exit 1 ;;
           esac ;;
    --*) echo "run.sh: unknown option $1" >&2; exit 1 ;;
    *) break ;;
  esac
done
[ $# -ge 2 ] || usage 1

jobname=""
first=1
last=1
if [[ "$1" =~ ^([A-Za-z_][A-Za-z0-9_]*)=([0-9]+):([0-9]+)$ ]]; then
  jobname=${BASH_REMATCH[1]}; first=${BASH_REMATCH[2]}; last=${BASH_REMATCH[3]}; shift
elif [[ "$1" =~ ^([A-Za-z_][A-Za-z0-9_]*)=([0-9]+)$ ]]; then
  jobname=${BASH_REMATCH[1]}; first=${BASH_REMATCH[2]}; last=$first; shift
fi
[ $# -ge 2 ] || usage 1
first=$((10#$first)); last=$((10#$last))
if [ "$first" -gt "$last" ]; then
  echo "run.sh: empty job range $first:$last" >&2; exit 1
fi
if ! [[ "$max_jobs_run" =~ ^[0-9]+$ ]]; then
  echo "run.sh: --max-jobs-run needs a number, got '$max_jobs_run'" >&2; exit 1
fi
logtemplate=$1; shift
if [ -n "$jobname" ] && [ "$last" -gt "$first" ] && [[ "$logtemplate" != *"$jobname"* ]]; then
  echo "run.sh: the log name '$logtemplate' must contain $jobname, or all jobs write one log" >&2; exit 1
fi

# Join the arguments into one bash command: words without white space or quotes as they are (so
# '|' and '>' keep their meaning), others single-quoted. A lone argument is a whole command line.
if [ $# -eq 1 ]; then
  command=$1
else
  command=""
  for arg in "$@"; do
    if [[ -n "$arg" && "$arg" =~ ^[^[:space:]\'\"]+$ ]]; then
      command+="$arg "
    else
      command+="'${arg//\'/\'\\\'\'}' "
    fi
  done
  command=${command% }
fi

substitute() {  # substitute TEXT JOBNUMBER
  if [ -n "$jobname" ]; then printf '%s' "${1//$jobname/$2}"; else printf '%s' "$1"; fi
}

run_one() {  # run_one JOBNUMBER: run the command with its log; exit status = the command's
  local job=$1 log cmd start status
  log=$(substitute "$logtemplate" "$job")
  cmd=$(substitute "$command" "$job")
  mkdir -p "$(dirname "$log")" || return 1
  start=$(date +%s)
  {
    echo "# $cmd"
    echo "# Started at $(date)"
    echo "#"
  } > "$log" || return 1
  bash -c "$cmd" >> "$log" 2>&1 < /dev/null
  status=$?
  {
    echo "# Accounting: time=$(( $(date +%s) - start )) threads=1"
    echo "# Ended (code $status) at $(date), elapsed time $(( $(date +%s) - start )) seconds"
  } >> "$log"
  return $status
}

# Stop the jobs we started when we are interrupted.
pids=()
stop_jobs() {
  local pid
  for pid in "${pids[@]}"; do
    pkill -TERM -P "$pid" 2>/dev/null
    kill -TERM "$pid" 2>/dev/null
  done
  exit 130
}
trap stop_jobs INT TERM

for ((job = first; job <= last; job++)); do
  if [ "$max_jobs_run" -gt 0 ]; then
    while [ "$(jobs -rp | wc -l)" -ge "$max_jobs_run" ]; do
      wait -n 2>/dev/null || sleep 0.1
    done
  fi
  run_one "$job" &
  pids+=($!)
done
wait

# Judge each job by the status line its log ends with (a killed job has none).
failed=()
for ((job = first; job <= last; job++)); do
  log=$(substitute "$logtemplate" "$job")
  if ! tail -n 1 "$log" 2>/dev/null | grep -q '^# Ended (code 0)'; then
    failed+=("$log")
  fi
done
total=$((last - first + 1))
if [ ${#failed[@]} -gt 0 ]; then
  echo "run.sh: ${#failed[@]}/$total jobs failed; see ${failed[*]}" >&2
  exit 1
fi
exit 0
