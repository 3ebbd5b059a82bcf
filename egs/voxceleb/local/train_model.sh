#!/usr/bin/env bash
# Train one model: `bccmt train --resume` (a killed run continues from its newest checkpoint, a
# finished one is not retrained, a changed config is refused: use a new exp dir), one process or
# --ngpu processes under torchrun (DistributedDataParallel), through --cmd; the command's output
# goes to --log, per-epoch lines to <exp>/log/train.log. With --teacher: attention-map distillation
# from that averaged teacher; with --init-from: continue from that exp dir's averaged model with
# its config changed as --train-config says (large-margin fine-tuning, local/lmft_stage.sh).
# Run from egs/voxceleb.
#
#   local/train_model.sh --train-config conf/train/teacher_base_mini.yaml --exp exp/teacher_base_mini
#   local/train_model.sh --train-config conf/train/student_tiny_kd_mini.yaml --exp exp/student_tiny_kd_mini \
#     --teacher exp/teacher_base_mini --device cpu --num-threads 1 --train-opts "--set trainer.epochs=1"
set -euo pipefail

train_config=          # training YAML
data=data/train        # training data dir (feats.scp)
exp=                   # experiment dir
teacher=               # averaged teacher exp dir: self-attention-map distillation from it
init_from=             # exp dir whose avg_model.pt and config.yaml the training starts from
device=                # cpu|cuda (default: cuda when torch sees a GPU)
ngpu=1                 # >1: torchrun --standalone --nproc-per-node N
num_threads=           # torch CPU threads per process (default: torch's choice)
train_opts=            # extra `bccmt train` options, e.g. "--set trainer.epochs=20"
log=                   # the command's output (default <exp>/log/train_model.log)
cmd=utils/run.sh       # job runner ($cuda_cmd of cmd.sh)
help_message="Usage: $0 [options] --train-config YAML --exp DIR
Train one model with bccmt train --resume (run from egs/voxceleb)."

. ./path.sh
. utils/parse_options.sh

die() { echo "$0: error: $*" >&2; exit 1; }
[ $# -eq 0 ] || die "unexpected argument '$1' (options only; see $0 --help)"
[ -n "$train_config" ] && [ -n "$exp" ] || die "--train-config and --exp are required"
[[ "$ngpu" =~ ^[0-9]+$ ]] && [ "$ngpu" -ge 1 ] || die "--ngpu must be >= 1, got '$ngpu'"
: "${log:=$exp/log/train_model.log}"
if [ -z "$device" ]; then
  device=$(python -c 'import torch; print("cuda" if torch.cuda.is_available() else "cpu")')
fi

launcher=(bccmt train)
if [ "$ngpu" -gt 1 ]; then
  launcher=(torchrun --standalone --nproc-per-node "$ngpu" "$(command -v bccmt)" train)
fi
args=()
[ -n "$init_from" ] && args+=(--init-from "$init_from")
args+=(--config "$train_config" --data "$data" --exp "$exp")
[ -n "$teacher" ] && args+=(--teacher "$teacher")
opts=(--device "$device" --resume)
[ -n "$num_threads" ] && opts+=(--num-threads "$num_threads")
# shellcheck disable=SC2206  # train_opts is a list of options on purpose
extra=($train_opts)
echo "train_model: ${launcher[*]} ${args[*]} ${opts[*]} ${extra[*]}  (log: $log; per-epoch lines also in its train.log)"
$cmd "$log" "${launcher[@]}" "${args[@]}" "${opts[@]}" "${extra[@]}" || die "training failed; see $log"
tail -n 1 "$exp/log/train.log"
