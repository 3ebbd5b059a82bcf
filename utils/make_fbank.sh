#!/usr/bin/env bash
# Compute fbank features for a Kaldi data dir in parallel jobs: writes DATA/feats.scp and
# DATA/utt2num_frames (merged from the jobs, written atomically), features in FBANKDIR (absolute
# ark paths in feats.scp), one log per job in LOGDIR, then validates the data dir. The fbank options
# used go to DATA/conf/fbank.yaml (bccmt train takes a model's features from there).
#
# Does nothing when DATA/feats.scp is newer than DATA/wav.scp and covers every utterance.
# Any run that recomputes first removes the old feats.scp/utt2num_frames, so a failed run never
# leaves a feats.scp that looks complete.
#
# Example:
#   utils/make_fbank.sh --nj 4 --cmd "$train_cmd" --fbank-config conf/fbank.yaml \
#     data/voxceleb1_test exp/make_fbank/voxceleb1_test fbank

set -u -o pipefail

nj=4                # number of parallel jobs (at most the number of utterances)
cmd=""              # job runner, e.g. "utils/slurm.sh --mem 4G" (default: utils/run.sh beside this script)
fbank_config=""     # YAML fbank options (default: built-in, the same as conf/fbank.yaml)
compress=true       # write Kaldi-compressed features (compression method 2)
skip_bad=false      # skip unreadable/empty/wrong-rate audio (named in the logs) instead of failing
help_message="Usage: $0 [options] <data-dir> <log-dir> <fbank-dir>
Compute fbank features of <data-dir>/wav.scp into <data-dir>/feats.scp and utt2num_frames.
 e.g.: $0 --nj 4 --cmd \"\$train_cmd\" data/voxceleb1_test exp/make_fbank/voxceleb1_test fbank"

. "$(dirname "${BASH_SOURCE[0]}")/parse_options.sh" || exit 1

die() { echo "$0: $*" >&2; exit 1; }

if [ $# -ne 3 ]; then
  echo "$help_message" >&2
  exit 1
fi
data=${1%/}
logdir=${2%/}
fbankdir=${3%/}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
[ -n "$cmd" ] || cmd="$here/run.sh"

[ -f "$data/wav.scp" ] || die "no such file $data/wav.scp"
[ -f "$data/segments" ] && die "$data/segments: segmented data dirs are not supported; extract the segments as audio first"
[ -z "$fbank_config" ] || [ -f "$fbank_config" ] || die "no such fbank config $fbank_config"
[[ "$nj" =~ ^[1-9][0-9]*$ ]] || die "--nj must be a positive number, got '$nj'"
command -v bccmt > /dev/null || die "bccmt not found on PATH (activate the project's .venv)"

keys() { awk 'NF { print $1 }' "$1" | LC_ALL=C sort -u; }

if [ -s "$data/feats.scp" ] && [ -s "$data/utt2num_frames" ] && [ "$data/feats.scp" -nt "$data/wav.scp" ]; then
  missing=$(LC_ALL=C comm -23 <(keys "$data/wav.scp") <(keys "$data/feats.scp") | wc -l)
  if [ "$missing" -eq 0 ]; then
    echo "$0: $data/feats.scp is complete and newer than wav.scp; nothing to do"
    exit 0
  fi
  echo "$0: $data/feats.scp lacks $missing utterances of wav.scp; recomputing"
fi
rm -f "$data/feats.scp" "$data/utt2num_frames" "$data/conf/fbank.yaml"

num_utts=$(keys "$data/wav.scp" | wc -l)
[ "$num_utts" -gt 0 ] || die "$data/wav.scp is empty"
if [ "$nj" -gt "$num_utts" ]; then
  echo "$0: only $num_utts utterances; using --nj $num_utts"
  nj=$num_utts
fi

bccmt split-data-dir --nj "$nj" "$data" || die "bccmt split-data-dir --nj $nj $data failed"
for ((n = 1; n <= nj; n++)); do
  [ -f "$data/split$nj/$n/wav.scp" ] || die "split-data-dir did not write $data/split$nj/$n/wav.scp"
done

mkdir -p "$logdir" "$fbankdir" || die "cannot create $logdir or $fbankdir"
fbankdir=$(cd "$fbankdir" && pwd)
name=$(basename "$data")

opts=()
[ -n "$fbank_config" ] && opts+=(--config "$fbank_config")
[ "$compress" = true ] && opts+=(--compress)
[ "$skip_bad" = true ] && opts+=(--skip-bad)

echo "$0: computing fbank for $data ($num_utts utterances, $nj jobs; logs in $logdir)"
# $cmd is word-split on purpose: it may carry options ("utils/slurm.sh --mem 4G").
# shellcheck disable=SC2086
$cmd JOB=1:"$nj" "$logdir/make_fbank.JOB.log" \
  bccmt compute-fbank "${opts[@]}" --write-num-frames "ark,t:$logdir/utt2num_frames.JOB" \
    --write-config "$logdir/fbank.JOB.yaml" \
    "scp:$data/split$nj/JOB/wav.scp" \
    "ark,scp:$fbankdir/raw_fbank_$name.JOB.ark,$fbankdir/raw_fbank_$name.JOB.scp" \
  || die "fbank extraction failed for $data (see the logs named above)"

# Merge the per-job tables; write to temporary names, then rename.
merge() {  # merge OUTPUT FILE...
  local out=$1 tmp
  shift
  tmp=$(mktemp "$(dirname "$out")/.$(basename "$out").XXXXXX") || return 1
  if cat "$@" | LC_ALL=C sort -k1,1 > "$tmp" && mv "$tmp" "$out"; then return 0; fi
  rm -f "$tmp"
  return 1
}
scps=()
frames=()
for ((n = 1; n <= nj; n++)); do
  scps+=("$fbankdir/raw_fbank_$name.$n.scp")
  frames+=("$logdir/utt2num_frames.$n")
done
merge "$data/utt2num_frames" "${frames[@]}" || die "cannot merge the utt2num_frames of the jobs"
merge "$data/feats.scp" "${scps[@]}" || die "cannot merge the feats.scp of the jobs"
rm -f "${frames[@]}"
# The fbank options of feats.scp (every job wrote the same), renamed into place like the tables.
mkdir -p "$data/conf" && cp "$logdir/fbank.1.yaml" "$data/conf/.fbank.yaml.tmp" \
  && mv "$data/conf/.fbank.yaml.tmp" "$data/conf/fbank.yaml" || die "cannot write $data/conf/fbank.yaml"
rm -f "$logdir"/fbank.*.yaml

num_feats=$(keys "$data/feats.scp" | wc -l)
if [ "$num_feats" -lt "$num_utts" ]; then
  if [ "$skip_bad" != true ]; then
    rm -f "$data/feats.scp" "$data/utt2num_frames" "$data/conf/fbank.yaml"
    die "only $num_feats of $num_utts utterances got features"
  fi
  echo "$0: WARNING: $((num_utts - num_feats)) of $num_utts utterances had bad audio and were skipped" \
    "(keys in $logdir/make_fbank.*.log); run 'bccmt fix-data-dir $data' to drop them" >&2
  echo "$0: wrote $data/feats.scp ($num_feats utterances); not validated while keys differ"
  exit 0
fi

if bccmt validate-data-dir --help > /dev/null 2>&1; then
  bccmt validate-data-dir "$data" || die "$data does not validate (see above)"
else
  echo "$0: WARNING: bccmt validate-data-dir is not available; $data not validated" >&2
fi
echo "$0: wrote $data/feats.scp and utt2num_frames ($num_feats utterances; features in $fbankdir)"
