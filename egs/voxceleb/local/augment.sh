#!/usr/bin/env bash
# Augmented copies of a training data dir, one per kind: data/<src>_reverb (data/rirs),
# data/<src>_noise (data/musan_noise), data/<src>_music (data/musan_music) and data/<src>_babble
# (data/musan_speech), --num-utts utterances each, in --nj jobs through --cmd (logs in
# exp/augment/<name>/log), audio in <wav-dir>/aug. A kind whose source list is absent is skipped.
# With --speed-factors "0.9 1.1": also data/<src>_sp<f>, every utterance at speed f (bccmt
# speed-perturb-data-dir; new speakers sp<f>-<spk>), audio in <wav-dir>/speed.
# Run from egs/voxceleb; each copy is skipped when its done marker (data/.done/) matches.
#
#   local/augment.sh --nj 4 --cmd "$train_cmd" --num-utts 400 --train-src voxceleb2_dev
set -euo pipefail

train_src=voxceleb2_dev       # the data dir (under data/) to augment
kinds="reverb noise music babble"  # augmentation kinds
num_utts=400                  # utterances augmented per kind
seed=777                      # same seed, same augmented audio
augment_config=conf/augment.yaml  # augmentation ranges
wav_dir=wav                   # the augmented arks go to <wav-dir>/aug
nj=1                          # parallel jobs (at most --num-utts)
cmd=utils/run.sh              # job runner ($train_cmd of cmd.sh)
speed_factors=                # speed-perturbed copies of the whole set, e.g. "0.9 1.1" (empty: none)
help_message="Usage: $0 [options]
Augmented copies of data/<train-src> (run from egs/voxceleb)."

. ./path.sh
. utils/parse_options.sh
. utils/done_markers.sh

die() { echo "$0: error: $*" >&2; exit 1; }
[ $# -eq 0 ] || die "unexpected argument '$1' (options only; see $0 --help)"
[ -f "data/$train_src/wav.scp" ] || die "data/$train_src/wav.scp is missing"
[ -f "$augment_config" ] || die "--augment-config: no such file: $augment_config"

aug_source() {  # aug_source KIND -> "DIR OPTION": the source data dir and its augment-data-dir option
  case "$1" in
    reverb) echo "data/rirs --rir-dir" ;;
    noise) echo "data/musan_noise --noise-dir" ;;
    music) echo "data/musan_music --music-dir" ;;
    babble) echo "data/musan_speech --speech-dir" ;;
    *) die "--kinds: unknown kind '$1' (have: reverb noise music babble)" ;;
  esac
}

for kind in $kinds; do
  read -r source_dir source_opt <<< "$(aug_source "$kind")"
  name=${train_src}_$kind
  if [ ! -f "$source_dir/wav.scp" ]; then
    echo "augment: $kind: no $source_dir (absent from the corpus or its list not made); skipped"
    clear_done "$name"
    continue
  fi
  settings="src=$(file_digest "data/$train_src/wav.scp") n=$num_utts seed=$seed"
  settings+=" source=$(file_digest "$source_dir/wav.scp") conf=$(file_digest "$augment_config")"
  if is_done "$name" "$settings" "data/$name/wav.scp"; then
    echo "augment: data/$name is complete; skipped"
    continue
  fi
  clear_done "$name"
  shards=exp/augment/$name/shards
  rm -rf "$shards"
  aug_nj=$(( nj < num_utts ? nj : num_utts ))
  echo "augment: $kind: data/$name ($num_utts utterances, $aug_nj jobs; logs in exp/augment/$name/log)"
  $cmd JOB=1:"$aug_nj" "exp/augment/$name/log/augment.JOB.log" \
    bccmt augment-data-dir --kind "$kind" "$source_opt" "$source_dir" --config "$augment_config" \
      --seed "$seed" --num-utts "$num_utts" --job JOB --num-jobs "$aug_nj" \
      "data/$train_src" "$shards/$name.JOB" "$wav_dir/aug" \
    || die "augmentation ($kind) failed; see the logs named above"
  rm -rf "data/.$name.tmp"
  bccmt combine-data-dirs "data/.$name.tmp" $(for ((n = 1; n <= aug_nj; n++)); do echo "$shards/$name.$n"; done)
  rm -rf "data/$name" && mv "data/.$name.tmp" "data/$name"
  bccmt validate-data-dir "data/$name"
  rm -rf "$shards"
  mark_done "$name" "$settings"
done

for factor in $speed_factors; do
  name=${train_src}_sp$factor
  settings="src=$(file_digest "data/$train_src/wav.scp") factor=$factor"
  if is_done "$name" "$settings" "data/$name/wav.scp"; then
    echo "augment: data/$name is complete; skipped"
    continue
  fi
  clear_done "$name"
  echo "augment: speed $factor: data/$name (all $(wc -l < "data/$train_src/utt2spk") utterances; log in exp/augment/$name/log)"
  $cmd "exp/augment/$name/log/speed.log" \
    bccmt speed-perturb-data-dir --factor "$factor" "data/$train_src" "data/$name" "$wav_dir/speed" \
    || die "speed perturbation ($factor) failed; see exp/augment/$name/log/speed.log"
  bccmt validate-data-dir "data/$name"
  mark_done "$name" "$settings"
done
