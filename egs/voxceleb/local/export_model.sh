#!/usr/bin/env bash
# Export a trained model to ONNX (EXP/model.onnx) and TorchScript (EXP/model.torchscript.pt) and
# profile it (EXP/profile.txt). Each export is checked against PyTorch on padded batches of
# several lengths and fails (leaving no file) beyond 1e-4. Run from egs/voxceleb.
#
#   local/export_model.sh --profile-seconds 1,10 exp/student_tiny_kd_mini
set -euo pipefail

profile_seconds=1,2,5,10   # signal lengths profiled (seconds, comma-separated)
help_message="Usage: $0 [options] <exp-dir>
ONNX and TorchScript export of <exp-dir>, then its profile (run from egs/voxceleb)."

. ./path.sh
. utils/parse_options.sh

die() { echo "$0: error: $*" >&2; exit 1; }
[ $# -eq 1 ] || die "expected one exp dir (see $0 --help)"
exp=${1%/}
[ -f "$exp/config.yaml" ] || die "$exp/config.yaml is missing: train it first"

bccmt export --exp "$exp" --format onnx --out "$exp/model.onnx"
bccmt export --exp "$exp" --format torchscript --out "$exp/model.torchscript.pt"
bccmt profile --exp "$exp" --onnx "$exp/model.onnx" --seconds "$profile_seconds" --threads 1 | tee "$exp/profile.txt"
