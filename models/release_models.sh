#!/usr/bin/env bash
# Copy trained models into the repository's models/ folder for release: config.yaml, avg_model.pt
# (model weights only are needed; the file is loaded with torch.load(weights_only=True)) and, for
# the student, an ONNX export checked against PyTorch.
#
#   (from egs/voxceleb)
#   ../../models/release_models.sh --teacher exp/compare/base_s1 --out ../../models/minivox/teacher_base
#   ../../models/release_models.sh --student exp/compare/tiny_kd_s1 --out ../../models/minivox/<student>
#
# Refuses a model larger than --max-mb (the repository keeps released models small).
set -euo pipefail

teacher=          # exp dir released as is (config.yaml + avg_model.pt)
student=          # exp dir released with model.onnx
out=              # destination folder (created; existing files replaced atomically)
max_mb=10         # largest file allowed
help_message="Usage: $0 (--teacher EXP | --student EXP) --out DIR"

. "$(cd "$(dirname "$0")/.." && pwd)/egs/voxceleb/path.sh"
. "$(cd "$(dirname "$0")/.." && pwd)/utils/parse_options.sh"

die() { echo "$0: error: $*" >&2; exit 1; }
[ $# -eq 0 ] || die "unexpected argument '$1' (options only; see $0 --help)"
[ -n "$out" ] || die "--out is required"
if [ -n "$teacher" ] && [ -n "$student" ]; then die "give --teacher or --student, not both"; fi
exp=${teacher:-$student}
[ -n "$exp" ] || die "give --teacher EXP or --student EXP"
for f in config.yaml avg_model.pt; do [ -f "$exp/$f" ] || die "$exp/$f is missing (train and average first)"; done

tmp="$out.tmp.$$"
rm -rf "$tmp" && mkdir -p "$tmp"
trap 'rm -rf "$tmp"' EXIT
cp "$exp/config.yaml" "$exp/avg_model.pt" "$tmp/"
cp "$exp/log/train.log" "$tmp/train.log" 2>/dev/null || true
if [ -n "$student" ]; then
  bccmt export --exp "$exp" --format onnx --out "$tmp/model.onnx"
fi
for f in "$tmp"/*; do
  size=$(( $(stat -c %s "$f") / 1048576 ))
  [ "$size" -lt "$max_mb" ] || die "$(basename "$f") is ${size} MB (limit --max-mb $max_mb)"
done
# The released folder must load as an experiment, with the weights-only loader.
python - "$tmp" <<'PY'
import sys
from bccmt_tools.models.experiment import load_model_from_exp
model, config = load_model_from_exp(sys.argv[1])
print(f"{sys.argv[1]}: loads ({config['model']}, {sum(p.numel() for p in model.parameters()):,} parameters)")
PY
rm -rf "$out" && mkdir -p "$(dirname "$out")" && mv "$tmp" "$out"
trap - EXIT
echo "released $exp -> $out: $(ls "$out" | tr '\n' ' ')"
