#!/usr/bin/env bash
# Kaldi data dirs of VoxCeleb: data/voxceleb1_test, data/voxceleb1_dev (VoxCeleb1 minus the test
# speakers) and the trial lists data/trials/vox1_{O,E,H} (those whose lists the corpus has), then
# data/voxceleb2_dev when --train-parts names it, data/so762_{train,val,test} and the trial lists
# data/trials/so762_{test,val} with --speechocean762-root, and data/<train-src> combining several
# parts.
# Run from egs/voxceleb; each data dir is skipped when its done marker (data/.done/) matches.
#
#   local/prepare_data.sh --voxceleb1-root /corpora/voxceleb1 --voxceleb2-root /corpora/voxceleb2 \
#     --train-parts voxceleb2_dev --train-src voxceleb2_dev
set -euo pipefail

voxceleb1_root=           # VoxCeleb1 folder (wav/, veri_test2.txt, list_test_{all,hard}2.txt)
voxceleb2_root=           # VoxCeleb2 folder (needed when --train-parts has voxceleb2_dev)
train_parts=voxceleb2_dev # the data dirs the training set is made of
train_src=voxceleb2_dev   # their combination (the name of the single part when there is one)
m4a_to_wav=false          # true: convert VoxCeleb2 m4a to wav once (below --wav-dir)
ffmpeg_pipes=false        # with --m4a-to-wav false: ffmpeg pipes in wav.scp instead of m4a paths
wav_dir=wav               # converted VoxCeleb2 wavs go to <wav-dir>/voxceleb2_dev
nj=1                      # parallel m4a conversion jobs
speechocean762_root=      # speechocean762 folder (WAVE/, train/, test/): sentence-level data dirs
so762_val_speakers=12     # its training speakers held out for validation (data/so762_val)
so762_test_trials=10000   # target trials of data/trials/so762_test (as many non-target; seed 762)
so762_val_trials=1500     # target trials of data/trials/so762_val (as many non-target; seed 7)
help_message="Usage: $0 [options]
VoxCeleb data dirs and trial lists under data/ (run from egs/voxceleb)."

. ./path.sh
. utils/parse_options.sh
. utils/done_markers.sh

die() { echo "$0: error: $*" >&2; exit 1; }
[ $# -eq 0 ] || die "unexpected argument '$1' (options only; see $0 --help)"
[ -d "$voxceleb1_root" ] || die "--voxceleb1-root: no such folder: $voxceleb1_root"

settings="root=$(cd "$voxceleb1_root" && pwd)"
if is_done voxceleb1 "$settings" data/voxceleb1_test/wav.scp data/trials/vox1_O; then
  echo "prepare_data: data/voxceleb1_* and data/trials are complete; skipped"
else
  clear_done voxceleb1
  python local/make_voxceleb1.py "$voxceleb1_root" data
  for dir in data/voxceleb1_test data/voxceleb1_dev; do
    [ ! -d "$dir" ] || bccmt validate-data-dir "$dir"
  done
  mark_done voxceleb1 "$settings"
fi

if [[ " $train_parts " == *" voxceleb2_dev "* ]]; then
  [ -d "$voxceleb2_root" ] || die "--voxceleb2-root: no such folder: $voxceleb2_root"
  settings="root=$(cd "$voxceleb2_root" && pwd) m4a_to_wav=$m4a_to_wav ffmpeg_pipes=$ffmpeg_pipes"
  if is_done voxceleb2_dev "$settings" data/voxceleb2_dev/wav.scp; then
    echo "prepare_data: data/voxceleb2_dev is complete; skipped"
  else
    clear_done voxceleb2_dev
    opts=()
    if [ "$m4a_to_wav" = true ]; then opts=(--m4a-to-wav --wav-dir "$wav_dir/voxceleb2_dev" --nj "$nj")
    elif [ "$ffmpeg_pipes" = true ]; then opts=(--ffmpeg-pipes); fi
    python local/make_voxceleb2.py "${opts[@]}" "$voxceleb2_root" data/voxceleb2_dev
    bccmt validate-data-dir data/voxceleb2_dev
    mark_done voxceleb2_dev "$settings"
  fi
fi

if [ -n "$speechocean762_root" ]; then
  [ -d "$speechocean762_root" ] || die "--speechocean762-root: no such folder: $speechocean762_root"
  settings="root=$(cd "$speechocean762_root" && pwd) val=$so762_val_speakers trials=$so762_test_trials"
  [ "$so762_val_trials" = 1500 ] || settings+=" val_trials=$so762_val_trials"  # (markers of older runs stay valid)
  if is_done so762 "$settings" data/so762_test/wav.scp data/trials/so762_test; then
    echo "prepare_data: data/so762_* and their trial lists are complete; skipped"
  else
    clear_done so762
    python local/make_speechocean762.py --num-val-speakers "$so762_val_speakers" "$speechocean762_root" data
    mkdir -p data/trials
    # Test: the 125 test speakers, half target; no target pair reads one text twice.
    bccmt make-trials --num-target "$so762_test_trials" --num-nontarget "$so762_test_trials" --seed 762 \
      --text data/so762_test/text data/so762_test data/trials/so762_test
    # Validation: training speakers held out of training (never test speakers).
    if [ -f data/so762_val/utt2spk ]; then
      bccmt make-trials --num-target "$so762_val_trials" --num-nontarget "$so762_val_trials" --seed 7 \
        --text data/so762_val/text data/so762_val data/trials/so762_val
    else  # --so762-val-speakers 0: no held-out speakers, so no list from an earlier run either
      rm -f data/trials/so762_val
    fi
    for dir in data/so762_train data/so762_val data/so762_test; do
      [ ! -d "$dir" ] || bccmt validate-data-dir "$dir"
    done
    mark_done so762 "$settings"
  fi
fi

if [ "$train_src" != "$train_parts" ]; then  # several parts: one combined training source
  settings="parts=$train_parts m4a_to_wav=$m4a_to_wav ffmpeg_pipes=$ffmpeg_pipes"
  if ! is_done "$train_src" "$settings" "data/$train_src/wav.scp"; then
    clear_done "$train_src"
    rm -rf "data/.$train_src.tmp"
    bccmt combine-data-dirs "data/.$train_src.tmp" $(for part in $train_parts; do echo "data/$part"; done)
    rm -rf "data/$train_src" && mv "data/.$train_src.tmp" "data/$train_src"
    mark_done "$train_src" "$settings"
  fi
fi
[ -f "data/$train_src/wav.scp" ] || die "no training data: data/$train_src/wav.scp is missing"
