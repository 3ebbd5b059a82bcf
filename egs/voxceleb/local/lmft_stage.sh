# Optional large-margin fine-tuning (LMFT) of a trained model, as a sourced fragment of run.sh
# (after local/train_stages.sh, whose train_launch and train_average it uses):
#
#   . local/lmft_stage.sh
#   lmft_stage "$student_exp"        # -> ${student_exp}_lmft, then evaluate it like the others
#
# `bccmt train --init-from EXP --config $lmft_config` continues EXP from its avg_model.pt with
# EXP's config changed as the LMFT config says (conf/train/lmft_<preset>.yaml: longer crops, AAM
# margin 0.5 from the first step, a few epochs at a low learning rate, no distillation), then
# `bccmt average-model`. Like stages 5 and 7 it runs with --resume: a killed run continues.
#
# Settings (shell variables, e.g. run.sh options):
#   lmft_config    default conf/train/lmft_${preset}.yaml
#   lmft_num_avg   checkpoints averaged (default 2)
#   train_data, train_device, train_threads, train_opts, cuda_cmd   as in local/train_stages.sh
# Output: EXP_lmft/ (config.yaml with trainer.init_from, checkpoints/, avg_model.pt, log/).

lmft_stage() {  # lmft_stage EXP_DIR
  local source_exp=${1%/} exp=${1%/}_lmft config=${lmft_config:-conf/train/lmft_${preset}.yaml}
  [ -f "$source_exp/avg_model.pt" ] || train_die "$source_exp/avg_model.pt is missing: train and average it first"
  [ -f "$config" ] || train_die "LMFT config $config not found"
  if [ -z "${train_device:-}" ]; then
    train_device=$(python -c 'import torch; print("cuda" if torch.cuda.is_available() else "cpu")')
  fi
  echo "== large-margin fine-tuning: $source_exp -> $exp ($config, $(date '+%F %T'))"
  train_launch "$exp/log/lmft.log" --init-from "$source_exp" --config "$config" --data "${train_data:-data/train}" \
    --exp "$exp"
  tail -n 1 "$exp/log/train.log"
  train_average "$exp" "${lmft_num_avg:-2}"
}
