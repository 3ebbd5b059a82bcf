#!/usr/bin/env bash
# Large-margin fine-tuning (LMFT) of a trained and averaged model EXP into EXP_lmft:
# `bccmt train --init-from EXP --config LMFT_CONFIG` (local/train_model.sh) continues EXP from its
# avg_model.pt with EXP's config changed as the LMFT config says (conf/train/lmft_<preset>.yaml:
# longer crops, AAM margin 0.5 from the first step, a few epochs at a low learning rate, no
# distillation), then `bccmt average-model`. Like the other trainings it runs with --resume: a
# killed run continues. Run from egs/voxceleb.
# Output: EXP_lmft/ (config.yaml with trainer.init_from, checkpoints/, avg_model.pt, log/lmft.log).
#
#   local/lmft_stage.sh --lmft-config conf/train/lmft_mini.yaml exp/student_tiny_kd_mini
set -euo pipefail

lmft_config=           # the LMFT config (changes laid over EXP/config.yaml)
num_avg=2              # checkpoints averaged
data=data/train        # training data dir (feats.scp)
device=                # cpu|cuda (default: cuda when torch sees a GPU)
ngpu=1                 # >1: torchrun --standalone --nproc-per-node N
num_threads=           # torch CPU threads per process (default: torch's choice)
train_opts=            # extra `bccmt train` options
cmd=utils/run.sh       # job runner ($cuda_cmd of cmd.sh)
help_message="Usage: $0 [options] --lmft-config YAML <exp-dir>
Large-margin fine-tuning of <exp-dir> into <exp-dir>_lmft (run from egs/voxceleb)."

. ./path.sh
. utils/parse_options.sh

die() { echo "$0: error: $*" >&2; exit 1; }
[ $# -eq 1 ] || die "expected one exp dir (see $0 --help)"
source_exp=${1%/}
exp=${source_exp}_lmft
[ -f "$source_exp/avg_model.pt" ] || die "$source_exp/avg_model.pt is missing: train and average it first"
[ -f "$lmft_config" ] || die "LMFT config $lmft_config not found"

echo "lmft_stage: large-margin fine-tuning: $source_exp -> $exp ($lmft_config, $(date '+%F %T'))"
local/train_model.sh --init-from "$source_exp" --train-config "$lmft_config" --data "$data" --exp "$exp" \
  --device "$device" --ngpu "$ngpu" --num-threads "$num_threads" --train-opts "$train_opts" \
  --cmd "$cmd" --log "$exp/log/lmft.log"
bccmt average-model --exp "$exp" --num "$num_avg" || die "averaging $exp failed"
