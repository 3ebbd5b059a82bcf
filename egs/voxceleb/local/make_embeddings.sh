#!/usr/bin/env bash
# Embeddings of each model EXP (utils/extract_embeddings.sh, --nj jobs through --cmd):
# data/voxceleb1_test, data/voxceleb1_dev when vox1_E / vox1_H exist or --calibration-set names it
# (their union in EXP/embeddings/voxceleb1 for E and H), and the training set (all of it, or
# --utts-per-spk utterances per speaker) with its speaker means (the AS-norm cohort) and global
# mean (subtracted before cosine scoring); data/so762_test when data/trials/so762_test exists.
# Run from egs/voxceleb.
# Output: EXP/embeddings/<set>/xvector.scp, EXP/embeddings/train/{spk_xvector.scp,mean.vec,num_utts}.
#
#   local/make_embeddings.sh --nj 4 --cmd "$train_cmd" exp/teacher_base_mini exp/student_tiny_kd_mini
set -euo pipefail

train_data=data/train      # training data dir for the cohort, LDA and PLDA
utts_per_spk=0             # training utterances per speaker embedded (0: all)
checkpoint=                # checkpoint to extract with (default: EXP/avg_model.pt or the newest epoch)
device=cpu                 # cpu|cuda|auto
calibration_set=           # data dir (under data/) of the calibration list, also embedded ("": none)
nj=1                       # parallel jobs
cmd=utils/run.sh           # job runner ($train_cmd of cmd.sh)
help_message="Usage: $0 [options] <exp-dir> [<exp-dir> ...]
Embeddings of the test sets and the training set for each model (run from egs/voxceleb)."

. ./path.sh
. utils/parse_options.sh

die() { echo "$0: error: $*" >&2; exit 1; }
[ $# -ge 1 ] || die "expected at least one exp dir (see $0 --help)"

opts=(--nj "$nj" --cmd "$cmd" --device "$device")
[ -n "$checkpoint" ] && opts+=(--checkpoint "$checkpoint")
sets="voxceleb1_test"
if [ -f data/trials/vox1_E ] || [ -f data/trials/vox1_H ]; then sets+=" voxceleb1_dev"; fi
if [ -f data/trials/so762_test ]; then sets+=" so762_test"; fi  # speechocean762 (run.sh --speechocean762-root)
if [ -n "$calibration_set" ] && [[ " $sets " != *" $calibration_set "* ]]; then sets+=" $calibration_set"; fi

for exp_dir in "$@"; do
  exp_dir=${exp_dir%/}
  emb=$exp_dir/embeddings
  [ -f "$exp_dir/config.yaml" ] || die "$exp_dir/config.yaml is missing: train it first"
  echo "make_embeddings: $exp_dir ($(date '+%F %T'))"
  for set in $sets; do
    [ -f "data/$set/wav.scp" ] || die "data/$set is missing: make the data dirs and features first"
    utils/extract_embeddings.sh "${opts[@]}" "$exp_dir" "data/$set" "$emb/$set" \
      || die "embedding extraction failed for data/$set"
  done
  if [[ " $sets " == *" voxceleb1_dev "* ]]; then
    mkdir -p "$emb/voxceleb1"
    cat "$emb/voxceleb1_test/xvector.scp" "$emb/voxceleb1_dev/xvector.scp" | LC_ALL=C sort -k1,1 \
      > "$emb/voxceleb1/.xvector.scp.tmp" && mv "$emb/voxceleb1/.xvector.scp.tmp" "$emb/voxceleb1/xvector.scp"
  fi

  [ -f "$train_data/feats.scp" ] || [ -f "$train_data/wav.scp" ] || die "$train_data is missing: make the features first"
  train_dir=$train_data
  if [ "$utts_per_spk" -gt 0 ]; then
    train_dir=$emb/train_subset_data
    rm -rf "$train_dir"
    bccmt subset-data-dir --per-spk "$utts_per_spk" "$train_data" "$train_dir"
  fi
  utils/extract_embeddings.sh "${opts[@]}" "$exp_dir" "$train_dir" "$emb/train" \
    || die "embedding extraction failed for $train_dir"
  cp "$train_dir/utt2spk" "$train_dir/spk2utt" "$emb/train/"
  bccmt mean-embeddings --spk2utt "$emb/train/spk2utt" --skip-missing \
    --num-utts-out "$emb/train/num_utts" --global-mean-out "$emb/train/mean.vec" \
    "scp:$emb/train/xvector.scp" "ark,scp:$emb/train/spk_xvector.ark,$emb/train/spk_xvector.scp"
done
