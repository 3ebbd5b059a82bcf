#!/usr/bin/env bash
# VoxCeleb recipe of bccmt-tools: data preparation, augmentation and features, then training,
# scoring and export. Each stage is one block below that calls a script of local/ (or a bccmt
# tool) with explicit options; `local/<script>.sh --help` lists a script's own options.
#
#   ./run.sh --data-root /corpora --preset full             # the real corpora
#   ./run.sh --data-root ../../../shared/data/minivox --preset mini --stage 1 --stop-stage 4
#   ./run.sh --stage 0 --download-url URL --download-sha256 HEX --preset mini --stop-stage 12
#
# Stages (this list is also --help and each stage's banner):
#   0  download the corpus archive (--download-url), check its SHA-256, extract it, use it as --data-root
#   1  VoxCeleb data dirs (voxceleb1_test, voxceleb1_dev, voxceleb2_dev) and trial lists vox1_{O,E,H} (+ speechocean762)
#   2  MUSAN (noise, music, speech) and RIR lists
#   3  augmented copies of the training set: reverberation, noise, music, babble (+ speed 0.9/1.1)
#   4  fbank features; data/train = clean + augmented, filtered by length and utterances per speaker
#   5  train the teacher (BC-CMT-Base)
#   6  average the teacher's last checkpoints
#   7  train the student (BC-CMT-Tiny) with self-attention-map KD from the averaged teacher
#   8  average the student's last checkpoints (then large-margin fine-tuning with --lmft true)
#   9  embeddings of the test sets and of the training set (cohort, LDA/PLDA) for each model
#  10  scores: cosine, AS-norm and LDA+PLDA (and calibrated ones) on vox1_O, vox1_E, vox1_H
#  11  EER, minDCF(0.01, 0.05), DET plots -> exp/<model>/RESULTS.md
#  12  export the student to ONNX and TorchScript (parity-checked) and profile it
#
# Every stage re-runs safely: finished work is recorded in data/.done/<name> (with the settings
# that produced it; utils/done_markers.sh) and skipped; changed settings redo it. Outputs are
# written under temporary names and renamed, so a killed run never leaves a complete-looking
# partial result.

set -euo pipefail
readonly caller_dir="$PWD"  # relative corpus paths on the command line are relative to it
cd "$(dirname "$0")"
readonly self=$(basename "$0")  # this file, seen from its folder

stage=1                    # first stage to run (0: download the corpus first, see --download-url)
stop_stage=4               # last stage to run
data_root=                 # folder with voxceleb1/ voxceleb2/ musan/ RIRS_NOISES/
download_url=              # stage 0: .tar.gz/.zip of such a folder (used instead of --data-root)
download_sha256=           # stage 0: its SHA-256 (required with --download-url)
download_dir=              # stage 0: cache folder for the download (default: downloads)
voxceleb1_root=            # default: <data-root>/voxceleb1
voxceleb2_root=            # default: <data-root>/voxceleb2
musan_root=                # default: <data-root>/musan
rir_root=                  # default: <data-root>/RIRS_NOISES
speechocean762_root=       # speechocean762 folder: its training speakers join the training set, its test speakers give trials so762_test
speed_perturb=false        # true: speed-perturbed copies (0.9, 1.1; new speakers) of the clean training set join data/train
preset=full                # full|mini: defaults from conf/presets/<preset>.sh
train_set=vox2             # vox2|vox1|vox1+vox2 (vox1 in training leaves only vox1_O fair)
m4a_to_wav=                # true: convert VoxCeleb2 m4a to wav once; false: wav.scp lists the m4a files (preset default)
ffmpeg_pipes=false         # with --m4a-to-wav false: ffmpeg pipes in wav.scp (Kaldi style; needs ffmpeg) instead of m4a paths
nj=                        # parallel jobs (preset default)
aug_utts_per_kind=         # utterances augmented per kind in stage 3 (preset default)
min_frames=                # stage 4: drop shorter utterances (preset default)
min_utts_per_spk=          # stage 4: then drop speakers with fewer utterances (preset default)
seed=777                   # augmentation seed (same seed, same augmented audio)
skip_bad=false             # stage 4: skip unreadable audio (named in the logs) instead of stopping
wav_dir=wav                # augmented arks and converted VoxCeleb2 wavs go below this folder
fbank_config=conf/fbank.yaml      # fbank options
augment_config=conf/augment.yaml  # augmentation ranges (also used by online augmentation)
# Stages 5-8 (empty: defaults named after the preset, set below)
teacher_config=            # default conf/train/teacher_base_<preset>.yaml
student_config=            # default conf/train/student_tiny_kd_<preset>.yaml
teacher_exp=               # default exp/teacher_base_<preset>
student_exp=               # default exp/student_tiny_kd_<preset>
teacher_num_avg=           # checkpoints averaged (default 2 for mini, 10 for full)
student_num_avg=
train_device=              # cpu|cuda (default: cuda when torch sees a GPU)
train_ngpu=1               # >1: torchrun --nproc-per-node N (DistributedDataParallel)
train_threads=             # torch CPU threads per training process (default: torch's choice)
train_opts=                # extra `bccmt train` options, e.g. "--set trainer.epochs=20"
# Stages 9-12
eval_exps=                 # models to evaluate (default: the teacher and the student)
backend_device=cpu         # extraction device: cpu|cuda|auto
backend_utts_per_spk=0     # training utterances per speaker embedded for cohort/PLDA (0: all)
lda_dim=128                # LDA dimension before PLDA (capped at speakers - 1)
asnorm_top_n=300           # AS-norm cohort size (capped at the number of cohort speakers)
profile_seconds=1,2,5,10   # stage 12: signal lengths profiled
calibration=true           # stage 10: calibrate every back-end on a held-out voxceleb1_dev list
calibration_prior=0.01     # target prior the calibration is fitted for
calibration_quality=       # quality measures: "", norm, duration, "duration norm"
lmft=false                 # true: large-margin fine-tuning of the student after stage 8 -> <student_exp>_lmft
lmft_config=               # default conf/train/lmft_<preset>.yaml
help_message="Usage: $0 [options]
VoxCeleb speaker-verification recipe; it runs the stages from --stage to --stop-stage:
$(sed -n 's/^#\( \{1,3\}[0-9]\{1,2\}  \)/\1/p' "$self")
 e.g.: $0 --data-root /corpora --preset mini --stage 1 --stop-stage 12"

. ./path.sh
. ./cmd.sh
. utils/parse_options.sh

die() { echo "$0: error: $*" >&2; exit 1; }
[ $# -eq 0 ] || die "unexpected argument '$1' (options only; see $0 --help)"
readonly last_stage=$(sed -n 's/^# \{1,3\}\([0-9]\{1,2\}\)  .*/\1/p' "$self" | tail -n 1)
for var in stage stop_stage; do
  [[ "${!var}" =~ ^[0-9]+$ ]] || die "--${var//_/-} must be a stage number (0-$last_stage), got '${!var}'"
  [ "${!var}" -le "$last_stage" ] || die "--${var//_/-} ${!var}: there is no such stage (stages are 0-$last_stage)"
done
[ "$stage" -le "$stop_stage" ] \
  || die "--stage $stage comes after --stop-stage $stop_stage: nothing would run (give --stop-stage $stage or more)"
# One run.sh at a time in this folder: two would write the same data/, exp/ and fbank/ files.
# The lock is flock(1)'s, held by this shell (and its jobs) until it exits, even when killed.
mkdir -p exp
exec {run_lock}>>exp/.run.sh.lock
# (-w 5: a run killed a moment ago may still be exiting)
if command -v flock > /dev/null && ! flock -w 5 "$run_lock"; then
  die "another run.sh is running in $PWD ($(cat exp/.run.sh.lock 2>/dev/null || echo 'pid unknown')); wait for it to finish"
fi
: > exp/.run.sh.lock && echo "pid $$ since $(date '+%F %T')" >> exp/.run.sh.lock
[ -f "conf/presets/$preset.sh" ] || die "unknown preset '$preset' (have: $(cd conf/presets && ls *.sh | sed 's/\.sh$//' | tr '\n' ' '))"
. "conf/presets/$preset.sh"
for var in nj aug_utts_per_kind min_frames min_utts_per_spk m4a_to_wav; do
  [ -n "${!var}" ] || die "conf/presets/$preset.sh sets no default for --${var//_/-}"
done
for var in nj aug_utts_per_kind min_frames min_utts_per_spk; do
  [[ "${!var}" =~ ^[0-9]+$ ]] || die "--${var//_/-} must be a number, got '${!var}'"
done
[ "$nj" -ge 1 ] && [ "$aug_utts_per_kind" -ge 1 ] || die "--nj and --aug-utts-per-kind must be at least 1"
[ "$m4a_to_wav" = true ] || [ "$m4a_to_wav" = false ] || die "--m4a-to-wav must be true or false"
[ "$ffmpeg_pipes" = true ] || [ "$ffmpeg_pipes" = false ] || die "--ffmpeg-pipes must be true or false"
[ "$speed_perturb" = true ] || [ "$speed_perturb" = false ] || die "--speed-perturb must be true or false"
[[ "$train_ngpu" =~ ^[0-9]+$ ]] && [ "$train_ngpu" -ge 1 ] || die "--train-ngpu must be >= 1, got '$train_ngpu'"

# Defaults named after the preset, and settings a preset may change that are not options.
: "${teacher_config:=conf/train/teacher_base_$preset.yaml}"
: "${student_config:=conf/train/student_tiny_kd_$preset.yaml}"
: "${lmft_config:=conf/train/lmft_$preset.yaml}"
: "${teacher_exp:=exp/teacher_base_$preset}"
: "${student_exp:=exp/student_tiny_kd_$preset}"
if [ "$preset" = mini ]; then default_num_avg=2; else default_num_avg=10; fi
: "${teacher_num_avg:=$default_num_avg}"
: "${student_num_avg:=$default_num_avg}"
: "${lmft_num_avg:=2}"                      # checkpoints averaged after large-margin fine-tuning
: "${calibration_num_target:=3000}"         # trials drawn for the calibration list (seed 11)
: "${calibration_num_nontarget:=30000}"
: "${eval_exps:=$teacher_exp $student_exp}"
if [ "$lmft" = true ]; then eval_exps="$eval_exps ${student_exp%/}_lmft"; fi
calibration_set=voxceleb1_dev               # not trained on with --train-set vox2; not vox1_O's speakers
[ "$calibration" = true ] || calibration_set=""

absolute() { case "$1" in ""|/*) echo "$1" ;; *) echo "$caller_dir/$1" ;; esac; }
data_root=$(absolute "$data_root")
download_dir=$(absolute "$download_dir")
: "${download_dir:=$PWD/downloads}"  # default: beside run.sh
if [ -n "$download_url" ]; then
  [ -n "$download_sha256" ] || die "--download-url needs --download-sha256 (the archive's SHA-256)"
  [ -z "$data_root" ] || die "give --data-root or --download-url, not both"
fi
case "$train_set" in
  vox2) train_parts="voxceleb2_dev"; train_src=voxceleb2_dev ;;
  vox1) train_parts="voxceleb1_dev"; train_src=voxceleb1_dev ;;
  vox1+vox2) train_parts="voxceleb1_dev voxceleb2_dev"; train_src=voxceleb12_dev ;;
  *) die "--train-set must be vox2, vox1 or vox1+vox2, got '$train_set'" ;;
esac
speechocean762_root=$(absolute "$speechocean762_root")
if [ -n "$speechocean762_root" ]; then  # its training speakers join the training set
  train_parts="$train_parts so762_train"; train_src=${train_src}_so762
fi
aug_kinds="reverb noise music babble"
speed_factors=""
[ "$speed_perturb" = false ] || speed_factors="0.9 1.1"
trial_lists="vox1_O vox1_E vox1_H so762_test"   # scored and reported when stage 1 made them
train_opts_all=(--device "$train_device" --ngpu "$train_ngpu" --num-threads "$train_threads"
                --train-opts "$train_opts" --cmd "$cuda_cmd")

stage_on() {  # stage_on N: N lies in [stage, stop_stage]; prints its banner (its line of the header)
  [ "$stage" -le "$1" ] && [ "$stop_stage" -ge "$1" ] || return 1
  current_stage=$1 stage_started=$SECONDS
  echo "==================================================================="
  echo "== stage $1: $(sed -n "s/^# \{1,3\}$1  //p" "$self")  ($(date '+%F %T'))"
  echo "==================================================================="
}
stage_done() { echo "== stage $current_stage done in $((SECONDS - stage_started)) s"; }
stage_failed() { die "stage $current_stage failed (see above)"; }
need() {  # need FILE HINT: stop unless FILE exists
  [ -e "$1" ] || die "$1 is missing: $2"
}
need_dir() {  # need_dir DIR OPTION
  [ -n "$1" ] || die "$2 (or --data-root) is not set"
  [ -d "$1" ] || die "$2: no such folder: $1"
}
fair_test_note() {
  if [ "$train_set" != vox2 ]; then
    echo "$0: NOTE: the training set includes VoxCeleb1-dev, so only vox1_O is a fair test" \
      "(vox1_E and vox1_H draw on VoxCeleb1-dev speakers)."
  fi
}

if stage_on 0; then
  if [ -z "$download_url" ]; then
    echo "stage 0: no --download-url given; skipped (the corpus comes from --data-root)"
  else
    echo "stage 0: $download_url -> $download_dir"
    # Skips the download when $download_dir holds this checksum's corpus already.
    data_root=$(python local/download_corpus.py --url "$download_url" --sha256 "$download_sha256" \
      --dest "$download_dir" --expect voxceleb1) || die "stage 0: the download failed (see above)"
    echo "stage 0: data root $data_root"
    stage_done
  fi
elif [ -n "$download_url" ]; then
  echo "$0: NOTE: --download-url is used by stage 0 only (--stage 0); ignored" >&2
fi
voxceleb1_root=$(absolute "${voxceleb1_root:-${data_root:+$data_root/voxceleb1}}")
voxceleb2_root=$(absolute "${voxceleb2_root:-${data_root:+$data_root/voxceleb2}}")
musan_root=$(absolute "${musan_root:-${data_root:+$data_root/musan}}")
rir_root=$(absolute "${rir_root:-${data_root:+$data_root/RIRS_NOISES}}")

if stage_on 1; then
  need_dir "$voxceleb1_root" --voxceleb1-root
  if [[ " $train_parts " == *" voxceleb2_dev "* ]]; then need_dir "$voxceleb2_root" --voxceleb2-root; fi
  local/prepare_data.sh --voxceleb1-root "$voxceleb1_root" --voxceleb2-root "$voxceleb2_root" \
    --train-parts "$train_parts" --train-src "$train_src" --m4a-to-wav "$m4a_to_wav" \
    --ffmpeg-pipes "$ffmpeg_pipes" --wav-dir "$wav_dir" --nj "$nj" \
    --speechocean762-root "$speechocean762_root" || stage_failed
  fair_test_note
  stage_done
fi

if stage_on 2; then
  local/prepare_noise.sh --musan-root "$musan_root" --rir-root "$rir_root" || stage_failed
  stage_done
fi

if stage_on 3; then
  need "data/$train_src/wav.scp" "run stage 1 first"
  local/augment.sh --train-src "$train_src" --kinds "$aug_kinds" --num-utts "$aug_utts_per_kind" \
    --seed "$seed" --augment-config "$augment_config" --wav-dir "$wav_dir" --nj "$nj" --cmd "$train_cmd" \
    --speed-factors "$speed_factors" || stage_failed
  stage_done
fi

if stage_on 4; then
  local/make_features.sh --train-parts "$train_parts" --train-src "$train_src" \
    --kinds "$aug_kinds $(for f in $speed_factors; do echo "sp$f"; done)" \
    --fbank-config "$fbank_config" --min-frames "$min_frames" --min-utts-per-spk "$min_utts_per_spk" \
    --skip-bad "$skip_bad" --nj "$nj" --cmd "$train_cmd" || stage_failed
  fair_test_note
  stage_done
fi

if stage_on 5; then
  need data/train/feats.scp "run stage 4 first"
  local/train_model.sh --train-config "$teacher_config" --exp "$teacher_exp" "${train_opts_all[@]}" \
    --log "$teacher_exp/log/stage$current_stage.log" || stage_failed
  stage_done
fi

if stage_on 6; then
  bccmt average-model --exp "$teacher_exp" --num "$teacher_num_avg" || stage_failed
  stage_done
fi

if stage_on 7; then
  need data/train/feats.scp "run stage 4 first"
  need "$teacher_exp/avg_model.pt" "run stages 5-6 first"
  local/train_model.sh --train-config "$student_config" --exp "$student_exp" --teacher "$teacher_exp" \
    "${train_opts_all[@]}" --log "$student_exp/log/stage$current_stage.log" || stage_failed
  stage_done
fi

if stage_on 8; then
  bccmt average-model --exp "$student_exp" --num "$student_num_avg" || stage_failed
  if [ "$lmft" = true ]; then
    local/lmft_stage.sh --lmft-config "$lmft_config" --num-avg "$lmft_num_avg" "${train_opts_all[@]}" \
      "$student_exp" || stage_failed
  fi
  stage_done
fi

if stage_on 9; then
  local/make_embeddings.sh --device "$backend_device" --utts-per-spk "$backend_utts_per_spk" \
    --calibration-set "$calibration_set" --nj "$nj" --cmd "$train_cmd" $eval_exps || stage_failed
  stage_done
fi

if stage_on 10; then
  local/score_models.sh --trials "$trial_lists" --lda-dim "$lda_dim" --asnorm-top-n "$asnorm_top_n" \
    --calibration-set "$calibration_set" --calibration-prior "$calibration_prior" \
    --calibration-quality "$calibration_quality" --calibration-num-target "$calibration_num_target" \
    --calibration-num-nontarget "$calibration_num_nontarget" $eval_exps || stage_failed
  stage_done
fi

if stage_on 11; then
  local/make_results.sh --trials "$trial_lists" $eval_exps || stage_failed
  stage_done
fi

if stage_on 12; then
  need "$student_exp/config.yaml" "run stages 7-8 first"
  local/export_model.sh --profile-seconds "$profile_seconds" "$student_exp" || stage_failed
  stage_done
fi

if [ "$stop_stage" -ge 11 ]; then
  for exp_dir in $eval_exps; do
    if [ -f "$exp_dir/RESULTS.md" ]; then echo; cat "$exp_dir/RESULTS.md"; fi
  done
fi
exit 0
