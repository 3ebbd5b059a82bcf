# Recipe stages 9-11 (back-end) of egs/voxceleb/run.sh, as a sourced fragment:
#
#   . local/backend_stages.sh
#   backend_stages "$exp_dir"        # runs the stages of 9..11 that lie in [$stage, $stop_stage]
#
#  9  embeddings (utils/extract_embeddings.sh, $nj jobs through $train_cmd) of data/voxceleb1_test,
#     of data/voxceleb1_dev when vox1_E/vox1_H exist, and of the training set (cohort, PLDA);
#     training-set speaker means (AS-norm cohort) and global mean (cosine mean subtraction)
# 10  LDA + PLDA trained on the training-set embeddings; every trial list in data/trials
#     (vox1_O, vox1_E, vox1_H, when present) scored with cosine, AS-norm and LDA+PLDA
# 11  metrics (EER, minDCF 0.01/0.05, JSON, DET plots) and $exp_dir/RESULTS.md rows
#
# Settings (shell variables; set them before calling, e.g. as run.sh options):
#   stage, stop_stage, nj, train_cmd       as in run.sh
#   backend_train_data   training data dir for cohort / LDA / PLDA (default data/train)
#   backend_utts_per_spk utterances per training speaker embedded (default 0: all)
#   backend_checkpoint   checkpoint to extract with (default: $exp_dir/avg_model.pt or newest epoch)
#   backend_device       cpu|cuda|auto for extraction (default cpu)
#   lda_dim              LDA dimension before PLDA (default 128, capped at speakers - 1)
#   asnorm_top_n         AS-norm top-N cohort scores (default 300, capped at the cohort size)
# Outputs: $exp_dir/embeddings/<set>/xvector.scp, $exp_dir/backend/{lda,plda}.npz,
#          $exp_dir/scores/<trials>.<backend>{,.json,.png}, $exp_dir/RESULTS.md.

backend_die() { echo "backend_stages: error: $*" >&2; exit 1; }

backend_trial_lists() {  # the trial lists present in data/trials, in order
  local name
  for name in vox1_O vox1_E vox1_H; do
    if [ -f "data/trials/$name" ]; then echo "$name"; fi
  done
}

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
  local exp_dir=$1 emb=$1/embeddings backend=$1/backend scores=$1/scores trials table
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
    table=scp:$(backend_eval_embeddings "$emb" "$trials")
    bccmt score --method cosine --mean-vector "$emb/train/mean.vec" \
      "data/trials/$trials" "$table" "$table" "$scores/$trials.cosine"
    bccmt score --method asnorm --mean-vector "$emb/train/mean.vec" \
      --cohort "scp:$emb/train/spk_xvector.scp" --top-n "${asnorm_top_n:-300}" \
      "data/trials/$trials" "$table" "$table" "$scores/$trials.asnorm"
    bccmt score --method plda --plda "$backend/plda.npz" \
      "data/trials/$trials" "$table" "$table" "$scores/$trials.plda"
  done
}

backend_stage11() {  # backend_stage11 EXP_DIR
  local exp_dir=$1 scores=$1/scores trials method jsons=() checkpoint
  for trials in $(backend_trial_lists); do
    for method in cosine asnorm plda; do
      [ -f "$scores/$trials.$method" ] || backend_die "$scores/$trials.$method is missing: run stage 10 first"
      bccmt compute-metrics --json --out "$scores/$trials.$method.json" \
        --tag "trials=$trials" --tag "backend=$method" --det-plot "$scores/$trials.$method.png" \
        "$scores/$trials.$method"
      bccmt compute-metrics "$scores/$trials.$method" | grep -E '^(EER|minDCF)' | sed "s/^/$trials $method: /"
      jsons+=("$scores/$trials.$method.json")
    done
  done
  checkpoint=${backend_checkpoint:-$exp_dir/avg_model.pt}
  bccmt make-results --model "$(basename "$exp_dir")" --checkpoint "$checkpoint" \
    --config "$exp_dir/config.yaml" --data "${backend_train_data:-data/train}" \
    --title "Results: $(basename "$exp_dir")" "$exp_dir/RESULTS.md" "${jsons[@]}"
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
