#!/usr/bin/env bash
# Scores of each model EXP (embeddings from local/make_embeddings.sh): LDA + PLDA trained on the
# training-set embeddings, then every trial list of --trials present in data/trials scored with
# each back-end that `bccmt score --list-methods` names (cosine with the training mean subtracted,
# AS-norm with the training speaker means as cohort, LDA+PLDA; backend_inputs below gives each one
# its inputs).
# With --calibration-set: a labelled list over data/<calibration-set> (speakers disjoint from
# vox1_O; drawn once with bccmt make-trials) is scored alike, one calibration per back-end is
# trained on it (bccmt train-calibration -> EXP/calibration/<backend>.json) and applied to the
# lists of --calibration-lists (-> scores/<trials>.<backend>_cal, LLRs). Run from egs/voxceleb.
# Output: EXP/backend/{lda,plda}.npz, EXP/scores/<trials>.<backend>{,_cal}, EXP/calibration/.
#
#   local/score_models.sh --calibration-set voxceleb1_dev exp/teacher_base_mini exp/student_tiny_kd_mini
set -euo pipefail

trials="vox1_O vox1_E vox1_H"  # trial lists (under data/trials) scored, those present
lda_dim=128                # LDA dimension before PLDA (capped at speakers - 1)
asnorm_top_n=300           # AS-norm top-N cohort scores (capped at the cohort size)
calibration_set=           # data dir (under data/) of the calibration list ("": no calibration)
calibration_trials=        # its labelled trial list (default data/trials/<calibration-set>_cal)
calibration_num_target=3000     # target trials drawn for that list (seed 11)
calibration_num_nontarget=30000 # non-target trials drawn for it
calibration_prior=0.01     # target prior the calibration is fitted for
calibration_quality=       # quality measures: "", norm, duration, "duration norm"
calibration_lists=vox1_O   # trial lists given calibrated scores (vox1_E / vox1_H share speakers with voxceleb1_dev)
help_message="Usage: $0 [options] <exp-dir> [<exp-dir> ...]
The scores of every back-end (and calibrated ones) for each model (run from egs/voxceleb)."

. ./path.sh
. utils/parse_options.sh

die() { echo "$0: error: $*" >&2; exit 1; }
[ $# -ge 1 ] || die "expected at least one exp dir (see $0 --help)"
for measure in $calibration_quality; do
  case "$measure" in
    norm|duration) ;;
    *) die "--calibration-quality: unknown measure '$measure' (use norm and/or duration)" ;;
  esac
done
: "${calibration_trials:=data/trials/${calibration_set}_cal}"
methods=$(bccmt score --list-methods)  # the registered back-ends, in order

. local/trial_sets.sh  # list_embeddings: the embeddings set of a trial list

eval_embeddings() {  # eval_embeddings EMB TRIALS -> the embedding scp of the utterances of TRIALS
  echo "$1/$(list_embeddings "$2")/xvector.scp"
}

backend_inputs() {  # backend_inputs EXP_DIR METHOD: sets inputs=(the bccmt score options METHOD uses)
  local emb=$1/embeddings
  case "$2" in
    cosine) inputs=(--mean-vector "$emb/train/mean.vec") ;;
    asnorm) inputs=(--mean-vector "$emb/train/mean.vec" --cohort "scp:$emb/train/spk_xvector.scp"
                    --top-n "$asnorm_top_n") ;;
    plda) inputs=(--plda "$1/backend/plda.npz") ;;
    *) inputs=() ;;  # a back-end that needs nothing more (bccmt score names what is missing)
  esac
}

score_all() {  # score_all EXP_DIR TRIALS_FILE TABLE OUT_PREFIX: OUT_PREFIX.<method> of every back-end
  local method inputs
  for method in $methods; do
    backend_inputs "$1" "$method"
    bccmt score --method "$method" "${inputs[@]}" "$2" "$3" "$3" "$4.$method"
  done
}

quality_options() {  # quality_options TABLE DATA_DIR...: train/calibrate-scores quality options
  local table=$1 dir measure
  shift
  for measure in $calibration_quality; do
    case "$measure" in
      norm) echo "--embeddings $table" ;;
      duration) for dir in "$@"; do echo "--durations $dir/utt2dur"; done ;;
    esac
  done
}

calibrate() {  # calibrate EXP_DIR: train calibrations on the held-out list, apply them
  local exp_dir=$1 emb=$1/embeddings scores=$1/scores set=$calibration_set table name method list opts
  [ -f "$emb/$set/xvector.scp" ] || die "$emb/$set/xvector.scp is missing: make its embeddings first"
  if [ ! -f "$calibration_trials" ]; then
    bccmt make-trials --num-target "$calibration_num_target" --num-nontarget "$calibration_num_nontarget" \
      --seed 11 "data/$set" "$calibration_trials"
  fi
  name=$(basename "$calibration_trials")
  table=scp:$emb/$set/xvector.scp
  mkdir -p "$exp_dir/calibration"
  score_all "$exp_dir" "$calibration_trials" "$table" "$scores/$name"
  for method in $methods; do
    # shellcheck disable=SC2046  # one option and its value per line
    bccmt train-calibration --prior "$calibration_prior" $(quality_options "$table" "data/$set") \
      "$scores/$name.$method" "$exp_dir/calibration/$method.json"
  done
  for list in $calibration_lists; do
    [ -f "data/trials/$list" ] || continue
    table=scp:$(eval_embeddings "$emb" "$list")
    opts=$(quality_options "$table" data/voxceleb1_test data/voxceleb1_dev)
    for method in $methods; do
      # shellcheck disable=SC2086
      bccmt calibrate-scores --calibration "$exp_dir/calibration/$method.json" $opts \
        "$scores/$list.$method" "$scores/$list.${method}_cal"
    done
  done
}

for exp_dir in "$@"; do
  exp_dir=${exp_dir%/}
  emb=$exp_dir/embeddings
  echo "score_models: $exp_dir ($(date '+%F %T'))"
  [ -f "$emb/train/xvector.scp" ] || die "$emb/train/xvector.scp is missing: make the embeddings first"
  mkdir -p "$exp_dir/backend" "$exp_dir/scores"
  num_spk=$(wc -l < "$emb/train/spk_xvector.scp")
  dim=$lda_dim
  [ "$dim" -lt "$num_spk" ] || dim=$((num_spk - 1))
  bccmt train-lda --utt2spk "$emb/train/utt2spk" --dim "$dim" "scp:$emb/train/xvector.scp" "$exp_dir/backend/lda.npz"
  bccmt train-plda --utt2spk "$emb/train/utt2spk" --lda "$exp_dir/backend/lda.npz" \
    "scp:$emb/train/xvector.scp" "$exp_dir/backend/plda.npz" 2> "$exp_dir/backend/train_plda.log" \
    || { cat "$exp_dir/backend/train_plda.log" >&2; die "train-plda failed"; }
  for list in $trials; do
    [ -f "data/trials/$list" ] || continue
    score_all "$exp_dir" "data/trials/$list" "scp:$(eval_embeddings "$emb" "$list")" "$exp_dir/scores/$list"
  done
  if [ -n "$calibration_set" ]; then calibrate "$exp_dir"; fi
done
