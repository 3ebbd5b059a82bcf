#!/usr/bin/env bash
# Extract speaker embeddings of a Kaldi data dir in parallel jobs: writes OUT/xvector.scp (merged
# from the jobs, sorted, written atomically), arks OUT/xvector.JOB.ark, one log per job in OUT/log.
# Reads DATA/feats.scp (--input-type feats, the default when it exists) or DATA/wav.scp (wav).
#
# Any run first removes an old OUT/xvector.scp, so a failed run never leaves one that looks
# complete; the merged scp must cover every input utterance (unless --skip-bad true).
#
# Example:
#   utils/extract_embeddings.sh --nj 4 --cmd "$train_cmd" exp/bccmt_tiny data/voxceleb1_test \
#     exp/bccmt_tiny/embeddings/voxceleb1_test

set -u -o pipefail

nj=4                # number of parallel jobs (at most the number of utterances)
cmd=""              # job runner, e.g. "utils/slurm.sh --gpu 1" (default: utils/run.sh beside this script)
input_type=""       # feats|wav (default: feats when DATA/feats.scp exists, else wav)
checkpoint=""       # checkpoint to load (default: EXP/avg_model.pt, else the newest epoch)
device=cpu          # cpu, cuda, auto
batch_size=16       # utterances (or chunks) per batch
max_chunk_frames=3000  # longer utterances are embedded in chunks and averaged (0: never)
num_threads=1       # torch CPU threads per job
skip_bad=false      # skip unreadable/empty utterances (named in the logs) instead of failing
onnx=""             # exported model (bccmt export) run by onnxruntime with the numpy fbank, no torch;
                    # <exp-dir> then only needs config.yaml if the model has no features metadata
help_message="Usage: $0 [options] <exp-dir> <data-dir> <out-dir>
Extract embeddings of <data-dir> with the model of <exp-dir> into <out-dir>/xvector.scp.
 e.g.: $0 --nj 4 --cmd \"\$train_cmd\" exp/bccmt_tiny data/voxceleb1_test exp/bccmt_tiny/embeddings/voxceleb1_test
       $0 --nj 2 --onnx exp/bccmt_tiny/model.int8.onnx exp/bccmt_tiny data/test exp/bccmt_tiny/emb_int8/test"

. "$(dirname "${BASH_SOURCE[0]}")/parse_options.sh" || exit 1

die() { echo "$0: $*" >&2; exit 1; }

if [ $# -ne 3 ]; then
  echo "$help_message" >&2
  exit 1
fi
exp=${1%/}
data=${2%/}
out=${3%/}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
[ -n "$cmd" ] || cmd="$here/run.sh"

if [ -n "$onnx" ]; then
  [ -f "$onnx" ] || die "no such file $onnx (--onnx)"
else
  [ -f "$exp/config.yaml" ] || die "no such file $exp/config.yaml (is $exp an experiment directory?)"
fi
[ -z "$checkpoint" ] || [ -f "$checkpoint" ] || die "no such checkpoint $checkpoint"
[[ "$nj" =~ ^[1-9][0-9]*$ ]] || die "--nj must be a positive number, got '$nj'"
if [ -z "$input_type" ]; then
  if [ -f "$data/feats.scp" ]; then input_type=feats; else input_type=wav; fi
fi
case "$input_type" in
  feats) input="$data/feats.scp" ;;
  wav) input="$data/wav.scp" ;;
  *) die "--input-type must be feats or wav, got '$input_type'" ;;
esac
[ -s "$input" ] || die "no such file (or empty) $input"
command -v bccmt > /dev/null || die "bccmt not found on PATH (activate the project's .venv)"

mkdir -p "$out/log" "$out/split$nj" || die "cannot create $out"
out=$(cd "$out" && pwd)
# Also the temporaries of a killed run (tools write .xvector.N.{ark,scp}.*.tmp, the merge .xvector.scp.*).
rm -f "$out/xvector.scp" "$out"/.xvector.*

num_utts=$(awk 'NF' "$input" | wc -l)
if [ "$nj" -gt "$num_utts" ]; then
  echo "$0: only $num_utts utterances; using --nj $num_utts"
  nj=$num_utts
  mkdir -p "$out/split$nj"
fi
# Contiguous blocks of near-equal size (sorted input stays sorted within each job).
awk -v nj="$nj" -v n="$num_utts" -v dir="$out/split$nj" \
  'NF { job = int(i * nj / n) + 1; print > (dir "/" job ".scp"); i++ }' "$input" \
  || die "cannot split $input"

opts=(--input-type "$input_type" --device "$device" --batch-size "$batch_size"
      --max-chunk-frames "$max_chunk_frames" --num-threads "$num_threads")
if [ -z "$onnx" ] || [ -f "$exp/config.yaml" ]; then opts+=(--exp "$exp"); fi
[ -n "$onnx" ] && opts+=(--onnx "$onnx")
[ -n "$checkpoint" ] && opts+=(--checkpoint "$checkpoint")
[ "$skip_bad" = true ] && opts+=(--skip-bad)

echo "$0: extracting embeddings of $data ($num_utts utterances, $input_type input, $nj jobs; logs in $out/log)"
# $cmd is word-split on purpose: it may carry options ("utils/slurm.sh --gpu 1").
# shellcheck disable=SC2086
$cmd JOB=1:"$nj" "$out/log/extract.JOB.log" \
  bccmt extract-embeddings "${opts[@]}" "scp:$out/split$nj/JOB.scp" \
    "ark,scp:$out/xvector.JOB.ark,$out/xvector.JOB.scp" \
  || die "embedding extraction failed for $data (see the logs named above)"

tmp=$(mktemp "$out/.xvector.scp.XXXXXX") || die "cannot create a temporary file in $out"
for ((n = 1; n <= nj; n++)); do cat "$out/xvector.$n.scp"; done | LC_ALL=C sort -k1,1 > "$tmp" \
  || { rm -f "$tmp"; die "cannot merge the xvector scps of the jobs"; }
num_done=$(wc -l < "$tmp")
if [ "$num_done" -lt "$num_utts" ] && [ "$skip_bad" != true ]; then
  rm -f "$tmp"
  die "only $num_done of $num_utts utterances got embeddings"
fi
mv "$tmp" "$out/xvector.scp"
rm -rf "$out/split$nj"
for ((n = 1; n <= nj; n++)); do rm -f "$out/xvector.$n.scp"; done
echo "$0: wrote $out/xvector.scp ($num_done of $num_utts utterances)"
