# Recipe stages 9-11 (back-end) of egs/voxceleb/run.sh, as a sourced fragment:
#
#   . local/backend_stages.sh
#   backend_stages "$exp_dir"        # runs the stages of 9..11 that lie in [$stage, $stop_stage]
#
#  9  embeddings (utils/extract_embeddings.sh, $nj jobs through $train_cmd) of data/voxceleb1_test,
#     of data/voxceleb1_dev when vox1_E/vox1_H exist or calibration is on, and of the training set
#     (cohort, PLDA); training-set speaker means (AS-norm cohort) and global mean (cosine mean subtraction)
# 10  LDA + PLDA trained on the training-set embeddings; every trial list in data/trials
#     (vox1_O, vox1_E, vox1_H, when present) scored with cosine, AS-norm and LDA+PLDA.
#     Calibration (calibration=true): a labelled list over data/$calibration_set (speakers disjoint
#     from vox1_O; made once with bccmt make-trials) is scored alike, one calibration per back-end
#     is trained on it (bccmt train-calibration -> $exp_dir/calibration/<backend>.json) and applied
#     to the lists of $calibration_lists (-> scores/<trials>.<backend>_cal, LLRs)
# 11  metrics (EER, minDCF and actDCF 0.01/0.05, Cllr, JSON, DET plots, score histograms) and
#     $exp_dir/RESULTS.md rows (results and calibration tables); one DET figure per trial list with
#     every back-end's curve (bccmt plot-det); learning curves (bccmt plot-training) and, for a
#     distilled student, its attention maps beside the teacher's (bccmt plot-attention); the
#     pictures are written into $exp_dir and linked from RESULTS.md
#
# Settings (shell variables; set them before calling, e.g. as run.sh options):
#   stage, stop_stage, nj, train_cmd       as in run.sh
#   backend_train_data   training data dir for cohort / LDA / PLDA (default data/train)
#   backend_utts_per_spk utterances per training speaker embedded (default 0: all)
#   backend_checkpoint   checkpoint to extract with (default: $exp_dir/avg_model.pt or newest epoch)
#   backend_device       cpu|cuda|auto for extraction (default cpu)
#   lda_dim              LDA dimension before PLDA (default 128, capped at speakers - 1)
#   asnorm_top_n         AS-norm top-N cohort scores (default 300, capped at the cohort size)
#   det_backends         score-file suffixes drawn in the per-list DET figure, when present
#                        (default "cosine asnorm plda"; add e.g. plda_cal for calibration with quality measures)
#   calibration          true|false: train and apply score calibration in stage 10 (default true)
#   calibration_set      data dir (under data/) of the calibration list (default voxceleb1_dev: not
#                        trained on with --train-set vox2; its speakers are not those of vox1_O)
#   calibration_trials   its labelled trial list (default data/trials/<calibration_set>_cal, drawn
#                        once with calibration_num_target / calibration_num_nontarget, default
#                        3000 / 30000, seed 11)
#   calibration_prior    target prior the calibration is fitted for (default 0.01)
#   calibration_quality  quality measures of the calibration: "", "norm", "duration", "duration norm"
#                        (default "": score only)
#   calibration_lists    trial lists given calibrated scores (default vox1_O; vox1_E / vox1_H share
#                        speakers with a voxceleb1_dev calibration list)
# Outputs: $exp_dir/embeddings/<set>/xvector.scp, $exp_dir/backend/{lda,plda}.npz,
#          $exp_dir/scores/<trials>.<backend>{,.json,.png,.scores.png}, $exp_dir/scores/<trials>.det.png,
#          $exp_dir/calibration/<backend>.json, $exp_dir/training.png, $exp_dir/attention.png
#          (distilled students), $exp_dir/RESULTS.md.

backend_die() { echo "backend_stages: error: $*" >&2; exit 1; }

backend_trial_lists() {  # the trial lists present in data/trials, in order
  local name
  for name in vox1_O vox1_E vox1_H; do
    if [ -f "data/trials/$name" ]; then echo "$name"; fi
  done
}

backend_calibration_on() { [ "${calibration:-true}" = true ]; }

backend_eval_embeddings() {  # backend_eval_embeddings EMB TRIALS -> the embedding scp for TRIALS
  case "$2" in
    vox1_O) echo "$1/voxceleb1_test/xvector.scp" ;;
    *) echo "$1/voxceleb1/xvector.scp" ;;  # E and H draw on VoxCeleb1 dev + test
  esac
}

backend_stage9() {  # backend_stage9 EXP_DIR
  local exp_dir=$1 emb=$1/embeddings train_data=${backend_train_data:-data/train} set sets
  local opts=(--nj "$nj" --cmd "$train_cmd" --device "${backend_device:-cpu}")
  [ -n "${backend_checkpoint:-}" ] && opts+=(--checkpoint "$backend_checkpoint")
  sets="voxceleb1_test"
  if [ -f data/trials/vox1_E ] || [ -f data/trials/vox1_H ]; then sets+=" voxceleb1_dev"; fi
  if backend_calibration_on && [[ " $sets " != *" ${calibration_set:-voxceleb1_dev} "* ]]; then
    sets+=" ${calibration_set:-voxceleb1_dev}"
  fi
  for set in $sets; do
    [ -f "data/$set/wav.scp" ] || backend_die "data/$set is missing: run stages 1-4 first"
    utils/extract_embeddings.sh "${opts[@]}" "$exp_dir" "data/$set" "$emb/$set" \
      || backend_die "embedding extraction failed for data/$set"
  done
  if [[ " $sets " == *" voxceleb1_dev "* ]]; then
    mkdir -p "$emb/voxceleb1"
    cat "$emb/voxceleb1_test/xvector.scp" "$emb/voxceleb1_dev/xvector.scp" | LC_ALL=C sort -k1,1 \
      > "$emb/voxceleb1/.xvector.scp.tmp" && mv "$emb/voxceleb1/.xvector.scp.tmp" "$emb/voxceleb1/xvector.scp"
  fi

  [ -f "$train_data/feats.scp" ] || [ -f "$train_data/wav.scp" ] || backend_die "$train_data is missing: run stage 4 first"
  local train_dir=$train_data
  if [ "${backend_utts_per_spk:-0}" -gt 0 ]; then
    train_dir=$emb/train_subset_data
    rm -rf "$train_dir"
    bccmt subset-data-dir --per-spk "$backend_utts_per_spk" "$train_data" "$train_dir"
  fi
  utils/extract_embeddings.sh "${opts[@]}" "$exp_dir" "$train_dir" "$emb/train" \
    || backend_die "embedding extraction failed for $train_dir"
  cp "$train_dir/utt2spk" "$train_dir/spk2utt" "$emb/train/"
  bccmt mean-embeddings --spk2utt "$emb/train/spk2utt" --skip-missing \
    --num-utts-out "$emb/train/num_utts" --global-mean-out "$emb/train/mean.vec" \
    "scp:$emb/train/xvector.scp" "ark,scp:$emb/train/spk_xvector.ark,$emb/train/spk_xvector.scp"
}

backend_stage10() {  # backend_stage10 EXP_DIR
  local exp_dir=$1 emb=$1/embeddings backend=$1/backend scores=$1/scores trials
  local num_spk dim
  [ -f "$emb/train/xvector.scp" ] || backend_die "$emb/train/xvector.scp is missing: run stage 9 first"
  mkdir -p "$backend" "$scores"
  num_spk=$(wc -l < "$emb/train/spk_xvector.scp")
  dim=${lda_dim:-128}
  [ "$dim" -lt "$num_spk" ] || dim=$((num_spk - 1))
  bccmt train-lda --utt2spk "$emb/train/utt2spk" --dim "$dim" \
    "scp:$emb/train/xvector.scp" "$backend/lda.npz"
  bccmt train-plda --utt2spk "$emb/train/utt2spk" --lda "$backend/lda.npz" \
    "scp:$emb/train/xvector.scp" "$backend/plda.npz" 2> "$backend/train_plda.log" \
    || { cat "$backend/train_plda.log" >&2; backend_die "train-plda failed"; }
  for trials in $(backend_trial_lists); do
    backend_score_all "$exp_dir" "data/trials/$trials" "scp:$(backend_eval_embeddings "$emb" "$trials")" \
      "$scores/$trials"
  done
  if backend_calibration_on; then backend_calibrate "$exp_dir"; fi
}

backend_score_all() {  # backend_score_all EXP_DIR TRIALS_FILE TABLE OUT_PREFIX: cosine, AS-norm, PLDA scores
  local emb=$1/embeddings
  bccmt score --method cosine --mean-vector "$emb/train/mean.vec" "$2" "$3" "$3" "$4.cosine"
  bccmt score --method asnorm --mean-vector "$emb/train/mean.vec" --cohort "scp:$emb/train/spk_xvector.scp" \
    --top-n "${asnorm_top_n:-300}" "$2" "$3" "$3" "$4.asnorm"
  bccmt score --method plda --plda "$1/backend/plda.npz" "$2" "$3" "$3" "$4.plda"
}

backend_quality_options() {  # backend_quality_options TABLE DATA_DIR...: train/calibrate-scores quality options
  local table=$1 dir measure
  shift
  for measure in ${calibration_quality:-}; do
    case "$measure" in
      norm) echo "--embeddings $table" ;;
      duration) for dir in "$@"; do echo "--durations $dir/utt2dur"; done ;;
    esac
  done
}

backend_calibrate() {  # backend_calibrate EXP_DIR: train calibrations on a held-out list, apply them
  local exp_dir=$1 emb=$1/embeddings scores=$1/scores set=${calibration_set:-voxceleb1_dev}
  local cal_trials=${calibration_trials:-data/trials/${calibration_set:-voxceleb1_dev}_cal}
  local table name method trials opts measure
  [ -f "$emb/$set/xvector.scp" ] || backend_die "$emb/$set/xvector.scp is missing: run stage 9 first"
  for measure in ${calibration_quality:-}; do
    case "$measure" in
      norm|duration) ;;
      *) backend_die "calibration_quality: unknown measure '$measure' (use norm and/or duration)" ;;
    esac
  done
  if [ ! -f "$cal_trials" ]; then
    bccmt make-trials --num-target "${calibration_num_target:-3000}" \
      --num-nontarget "${calibration_num_nontarget:-30000}" --seed 11 "data/$set" "$cal_trials"
  fi
  name=$(basename "$cal_trials")
  table=scp:$emb/$set/xvector.scp
  mkdir -p "$exp_dir/calibration"
  backend_score_all "$exp_dir" "$cal_trials" "$table" "$scores/$name"
  for method in cosine asnorm plda; do
    # shellcheck disable=SC2046  # one option and its value per line
    bccmt train-calibration --prior "${calibration_prior:-0.01}" $(backend_quality_options "$table" "data/$set") \
      "$scores/$name.$method" "$exp_dir/calibration/$method.json"
  done
  for trials in ${calibration_lists:-vox1_O}; do
    [ -f "data/trials/$trials" ] || continue
    table=scp:$(backend_eval_embeddings "$emb" "$trials")
    opts=$(backend_quality_options "$table" data/voxceleb1_test data/voxceleb1_dev)
    for method in cosine asnorm plda; do
      # shellcheck disable=SC2086
      bccmt calibrate-scores --calibration "$exp_dir/calibration/$method.json" $opts \
        "$scores/$trials.$method" "$scores/$trials.${method}_cal"
    done
  done
}

backend_figures() {  # backend_figures EXP_DIR: learning curves and attention maps; prints --figure options
  local exp_dir=$1 teacher wav
  if [ -f "$exp_dir/log/train.log" ] && grep -q ' epoch [0-9]*/[0-9]* ' "$exp_dir/log/train.log"; then
    bccmt plot-training --out "$exp_dir/training.png" "$exp_dir" >&2
    printf '%s\n' --figure "learning curves=$exp_dir/training.png"
  fi
  teacher=$(python -c 'import sys, yaml; print((yaml.safe_load(open(sys.argv[1])).get("kd") or {}).get("teacher") or "")' \
    "$exp_dir/config.yaml")
  if [ -n "$teacher" ] && [ -f "$teacher/config.yaml" ] && [ -f data/voxceleb1_test/wav.scp ]; then
    wav=$(head -n 1 data/voxceleb1_test/wav.scp | cut -d' ' -f2-)
    bccmt plot-attention --student "$exp_dir" --wav "$wav" --out "$exp_dir/attention.png" \
      > "$exp_dir/attention.txt"
    printf '%s\n' --figure "self-attention maps, teacher vs student=$exp_dir/attention.png"
  fi
}

backend_stage11() {  # backend_stage11 EXP_DIR
  local exp_dir=$1 scores=$1/scores trials method jsons=() checkpoint figures=() curves first=true line
  for trials in $(backend_trial_lists); do
    for method in cosine asnorm plda cosine_cal asnorm_cal plda_cal; do
      if [[ "$method" == *_cal ]]; then [ -f "$scores/$trials.$method" ] || continue; fi
      [ -f "$scores/$trials.$method" ] || backend_die "$scores/$trials.$method is missing: run stage 10 first"
      bccmt compute-metrics --json --out "$scores/$trials.$method.json" \
        --tag "trials=$trials" --tag "backend=$method" --det-plot "$scores/$trials.$method.png" \
        --plot "$scores/$trials.$method.scores.png" "$scores/$trials.$method"
      bccmt compute-metrics "$scores/$trials.$method" | grep -E '^(EER|minDCF|actDCF|Cllr)' \
        | sed "s/^/$trials $method: /"
      jsons+=("$scores/$trials.$method.json")
      if [ "$first" = true ]; then figures+=(--figure "$trials $method scores=$scores/$trials.$method.scores.png"); fi
    done
    first=false
    curves=()
    for method in ${det_backends:-cosine asnorm plda}; do
      [ ! -f "$scores/$trials.$method" ] || curves+=("$scores/$trials.$method")
    done
    bccmt plot-det --trials "data/trials/$trials" --title "$(basename "$exp_dir"): $trials" \
      --out "$scores/$trials.det.png" "${curves[@]}"
    figures+=(--figure "$trials DET=$scores/$trials.det.png")
  done
  while IFS= read -r line; do figures+=("$line"); done < <(backend_figures "$exp_dir")
  checkpoint=${backend_checkpoint:-$exp_dir/avg_model.pt}
  bccmt make-results --model "$(basename "$exp_dir")" --checkpoint "$checkpoint" \
    --config "$exp_dir/config.yaml" --data "${backend_train_data:-data/train}" \
    --title "Results: $(basename "$exp_dir")" "${figures[@]}" "$exp_dir/RESULTS.md" "${jsons[@]}"
  cat "$exp_dir/RESULTS.md"
}

backend_stages() {  # backend_stages EXP_DIR: stages 9..11 within [$stage, $stop_stage]
  local exp_dir=${1%/} n
  [ -f "$exp_dir/config.yaml" ] || backend_die "$exp_dir/config.yaml is missing: train (stages 5-8) first"
  for n in 9 10 11; do
    if [ "$stage" -le "$n" ] && [ "$stop_stage" -ge "$n" ]; then
      echo "==================================================================="
      echo "== stage $n: back-end for $exp_dir  ($(date '+%F %T'))"
      echo "==================================================================="
      "backend_stage$n" "$exp_dir"
    fi
  done
}
