#!/usr/bin/env bash
# Fbank features (utils/make_fbank.sh: fbank/*.ark, feats.scp and utt2num_frames in each data dir,
# logs in exp/make_fbank/<set>) of the training parts, their augmented copies (those made) and
# the test sets (data/voxceleb1_test, data/voxceleb1_dev when vox1_E or vox1_H exist, and
# data/so762_test and data/so762_val when speechocean762's trial lists exist); then
# data/train = clean + augmented, without utterances shorter than --min-frames and then without
# speakers left with fewer than --min-utts-per-spk utterances.
# Run from egs/voxceleb; each set is skipped when its done marker (data/.done/) matches.
#
#   local/make_features.sh --nj 4 --cmd "$train_cmd" --train-parts voxceleb2_dev --train-src voxceleb2_dev
set -euo pipefail

train_parts=voxceleb2_dev     # the clean data dirs of the training set
train_src=voxceleb2_dev       # the data dir whose augmented copies (data/<train-src>_<kind>) join them
kinds="reverb noise music babble"  # augmentation kinds looked for (sp0.9, sp1.1: speed-perturbed copies)
fbank_config=conf/fbank.yaml  # fbank options
min_frames=200                # drop shorter utterances from data/train
min_utts_per_spk=8            # then drop speakers with fewer utterances
skip_bad=false                # skip unreadable audio (named here and in the logs) instead of stopping
nj=1                          # parallel jobs
cmd=utils/run.sh              # job runner ($train_cmd of cmd.sh)
help_message="Usage: $0 [options]
Fbank features and data/train (run from egs/voxceleb)."

. ./path.sh
. utils/parse_options.sh
. utils/done_markers.sh

die() { echo "$0: error: $*" >&2; exit 1; }
[ $# -eq 0 ] || die "unexpected argument '$1' (options only; see $0 --help)"
[ -f "$fbank_config" ] || die "--fbank-config: no such file: $fbank_config"

aug_dirs=""
for kind in $kinds; do
  if has_done "${train_src}_$kind"; then aug_dirs+=" ${train_src}_$kind"; fi
done
test_sets="voxceleb1_test"
if [ -f data/trials/vox1_E ] || [ -f data/trials/vox1_H ]; then
  test_sets+=" voxceleb1_dev"  # VoxCeleb1-E/H draw on the dev speakers too
fi
for name in so762_test so762_val; do  # speechocean762: test speakers, held-out training speakers
  if [ -f "data/trials/$name" ]; then test_sets+=" $name"; fi
done
fbank_sets=$(echo $train_parts $aug_dirs $test_sets | tr ' ' '\n' | awk '!seen[$0]++' | tr '\n' ' ')
fbank_opts=(--nj "$nj" --cmd "$cmd" --fbank-config "$fbank_config" --skip-bad "$skip_bad")
for name in $fbank_sets; do
  [ -f "data/$name/wav.scp" ] || die "data/$name/wav.scp is missing: make the data dirs first"
  settings="wav=$(file_digest "data/$name/wav.scp") conf=$(file_digest "$fbank_config")"
  if is_done "fbank_$name" "$settings" "data/$name/feats.scp"; then
    echo "make_features: data/$name/feats.scp is complete; skipped"
    continue
  fi
  clear_done "fbank_$name"
  if ! utils/make_fbank.sh "${fbank_opts[@]}" "data/$name" "exp/make_fbank/$name" fbank; then
    # Name the bad entries here, not only in the job logs (the tools' errors name file and key).
    grep -h "^Error: " "exp/make_fbank/$name"/*.log 2>/dev/null | head -5 | sed 's/^/  /' >&2 || true
    die "fbank failed for data/$name (fix or remove the entries above, or use --skip-bad true)"
  fi
  if [ "$skip_bad" = true ]; then
    # Report the skipped entries here too, not only in the job logs.
    skipped=$(cat "exp/make_fbank/$name"/make_fbank.*.log 2>/dev/null | grep -c "^compute-fbank: skipped " || true)
    if [ "$skipped" -gt 0 ]; then
      echo "make_features: data/$name: skipped $skipped utterances with bad audio (--skip-bad true):" >&2
      grep -h "^compute-fbank: skipped " "exp/make_fbank/$name"/make_fbank.*.log | head -10 \
        | sed 's/^compute-fbank: skipped /  /' >&2 || true
    fi
    bccmt fix-data-dir "data/$name"  # drops the utterances whose audio could not be read
    settings="wav=$(file_digest "data/$name/wav.scp") conf=$(file_digest "$fbank_config")"
  fi
  mark_done "fbank_$name" "$settings"
done

settings="parts=$train_parts aug=$(echo $aug_dirs) min_frames=$min_frames min_utts=$min_utts_per_spk"
for name in $train_parts $aug_dirs; do settings+=" $(done_settings "fbank_$name")"; done
if is_done train "$settings" data/train/feats.scp; then
  echo "make_features: data/train is complete; skipped"
else
  clear_done train
  rm -rf data/.train_combined.tmp data/.train.tmp
  # Clean + augmented sets: combine-data-dirs keeps the files every input has (feats.scp,
  # utt2num_frames, utt2spk, ...), then short utterances and small speakers go.
  bccmt combine-data-dirs data/.train_combined.tmp $(for name in $train_parts $aug_dirs; do echo "data/$name"; done)
  bccmt filter-data-dir --min-frames "$min_frames" --min-utts-per-spk "$min_utts_per_spk" \
    data/.train_combined.tmp data/.train.tmp
  rm -rf data/.train_combined.tmp
  bccmt validate-data-dir data/.train.tmp
  for file in feats.scp utt2spk spk2utt utt2num_frames; do
    [ -s "data/.train.tmp/$file" ] || die "data/train would have no $file"
  done
  rm -rf data/train && mv data/.train.tmp data/train
  mark_done train "$settings"
fi
echo "make_features: data/train: $(wc -l < data/train/utt2spk) utterances" \
  "($(wc -l < data/train/spk2utt) speakers; clean: $train_parts; augmented:${aug_dirs:- none})"
