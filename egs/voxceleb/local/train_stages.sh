# Recipe stages 5-8 (training) of egs/voxceleb/run.sh, as a sourced fragment:
#
#   . local/train_stages.sh
#   train_stages                     # runs the stages of 5..8 that lie in [$stage, $stop_stage]
#
#  5  train the teacher (default BC-CMT-Base) on $train_data          -> $teacher_exp/checkpoints/
#  6  average its last $teacher_num_avg checkpoints                   -> $teacher_exp/avg_model.pt
#  7  train the student (default BC-CMT-Tiny) with self-attention-map KD from the averaged teacher
#                                                                     -> $student_exp/checkpoints/
#  8  average the student's last $student_num_avg checkpoints         -> $student_exp/avg_model.pt
#
# Stages 5 and 7 run `bccmt train --resume`: a killed run continues from its newest checkpoint
# and a finished one is not retrained; a changed config is refused (use a new exp dir).
#
# Settings (shell variables; set them before calling, e.g. as run.sh options):
#   stage, stop_stage, preset, cuda_cmd    as in run.sh (cuda_cmd from cmd.sh)
#   train_data        training data dir with feats.scp (default data/train, from stage 4)
#   teacher_config    default conf/train/teacher_base_$preset.yaml
#   student_config    default conf/train/student_tiny_kd_$preset.yaml
#   teacher_exp       default exp/teacher_base_$preset
#   student_exp       default exp/student_tiny_kd_$preset
#   teacher_num_avg, student_num_avg   checkpoints averaged (default: 2 for mini, 10 otherwise)
#   train_device      cpu|cuda (default: cuda when torch sees a GPU, else cpu)
#   train_ngpu        processes per node under torchrun (default 1: no torchrun)
#   train_threads     torch CPU threads per process (default: torch's choice)
#   train_opts        extra `bccmt train` options, e.g. "--set data.num_workers=4"
# Logs: $exp/log/train.log (per-epoch lines) and $exp/log/stage<N>.log (the command's output).

train_die() { echo "train_stages: error: $*" >&2; exit 1; }

train_defaults() {
  : "${train_data:=data/train}"
  : "${teacher_config:=conf/train/teacher_base_${preset}.yaml}"
  : "${student_config:=conf/train/student_tiny_kd_${preset}.yaml}"
  : "${teacher_exp:=exp/teacher_base_${preset}}"
  : "${student_exp:=exp/student_tiny_kd_${preset}}"
  local default_avg=10
  [ "$preset" = mini ] && default_avg=2
  : "${teacher_num_avg:=$default_avg}"
  : "${student_num_avg:=$default_avg}"
  : "${train_ngpu:=1}"
  : "${train_threads:=}"
  : "${train_opts:=}"
  [[ "$train_ngpu" =~ ^[0-9]+$ ]] && [ "$train_ngpu" -ge 1 ] || train_die "train_ngpu must be >= 1, got '$train_ngpu'"
}

train_launch() {  # train_launch LOG bccmt-train-args...: one process, or torchrun with $train_ngpu
  local log=$1
  shift
  local launcher=(bccmt train)
  if [ "$train_ngpu" -gt 1 ]; then
    launcher=(torchrun --standalone --nproc-per-node "$train_ngpu" "$(command -v bccmt)" train)
  fi
  local opts=(--device "$train_device" --resume)
  [ -n "$train_threads" ] && opts+=(--num-threads "$train_threads")
  # shellcheck disable=SC2206  # train_opts is a list of options on purpose
  local extra=($train_opts)
  echo "train_stages: ${launcher[*]} $* ${opts[*]} ${extra[*]}  (log: $log; per-epoch lines also in its train.log)"
  ${cuda_cmd:-utils/run.sh} "$log" "${launcher[@]}" "$@" "${opts[@]}" "${extra[@]}" \
    || train_die "training failed; see $log"
}

train_average() {  # train_average EXP NUM
  bccmt average-model --exp "$1" --num "$2" || train_die "averaging $1 failed"
}

train_stage_enabled() { [ "$stage" -le "$1" ] && [ "$stop_stage" -ge "$1" ]; }

train_stages() {
  train_defaults
  if [ -z "${train_device:-}" ]; then
    train_device=$(python -c 'import torch; print("cuda" if torch.cuda.is_available() else "cpu")')
  fi
  if train_stage_enabled 5; then
    echo "== stage 5: train the teacher ($teacher_config -> $teacher_exp, $(date '+%F %T'))"
    [ -f "$train_data/feats.scp" ] || train_die "$train_data/feats.scp is missing: run stage 4 first"
    train_launch "$teacher_exp/log/stage5.log" --config "$teacher_config" --data "$train_data" --exp "$teacher_exp"
    tail -n 1 "$teacher_exp/log/train.log"
  fi
  if train_stage_enabled 6; then
    echo "== stage 6: average the teacher's last $teacher_num_avg checkpoints"
    train_average "$teacher_exp" "$teacher_num_avg"
  fi
  if train_stage_enabled 7; then
    echo "== stage 7: train the student with KD ($student_config -> $student_exp, teacher $teacher_exp)"
    [ -f "$train_data/feats.scp" ] || train_die "$train_data/feats.scp is missing: run stage 4 first"
    [ -f "$teacher_exp/avg_model.pt" ] || train_die "$teacher_exp/avg_model.pt is missing: run stages 5-6 first"
    train_launch "$student_exp/log/stage7.log" --config "$student_config" --data "$train_data" \
      --exp "$student_exp" --teacher "$teacher_exp"
    tail -n 1 "$student_exp/log/train.log"
  fi
  if train_stage_enabled 8; then
    echo "== stage 8: average the student's last $student_num_avg checkpoints"
    train_average "$student_exp" "$student_num_avg"
  fi
}
