#!/usr/bin/env bash
# Results of each model EXP (scores from local/score_models.sh): metrics of every score file
# (EER, minDCF and actDCF 0.01/0.05, Cllr; JSON, DET plot, score histogram), one DET figure per
# trial list with the curves of --det-backends (bccmt plot-det), learning curves (bccmt
# plot-training) and, for a distilled student, its self-attention maps beside the teacher's
# (bccmt plot-attention); then EXP/RESULTS.md (bccmt make-results) with the pictures linked.
# Run from egs/voxceleb.
#
#   local/make_results.sh exp/teacher_base_mini exp/student_tiny_kd_mini
set -euo pipefail

trials="vox1_O vox1_E vox1_H"  # trial lists (under data/trials) reported, those present
backends=                  # score files <trials>.<backend> expected, and <backend>_cal when present (default: bccmt score --list-methods)
det_backends=              # back-ends drawn in the per-list DET figure, when present (default: as --backends; e.g. add plda_cal)
train_data=data/train      # training data dir named in RESULTS.md
checkpoint=                # checkpoint named in RESULTS.md (default EXP/avg_model.pt)
help_message="Usage: $0 [options] <exp-dir> [<exp-dir> ...]
Metrics, figures and RESULTS.md for each model (run from egs/voxceleb)."

. ./path.sh
. utils/parse_options.sh

die() { echo "$0: error: $*" >&2; exit 1; }
[ $# -ge 1 ] || die "expected at least one exp dir (see $0 --help)"
: "${backends:=$(bccmt score --list-methods | tr '\n' ' ')}"
: "${det_backends:=$backends}"

figures_of() {  # figures_of EXP_DIR: learning curves and attention maps; prints --figure options
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

for exp_dir in "$@"; do
  exp_dir=${exp_dir%/}
  scores=$exp_dir/scores
  jsons=()
  figures=()
  first=true
  [ -f "$exp_dir/config.yaml" ] || die "$exp_dir/config.yaml is missing: train it first"
  for list in $trials; do
    [ -f "data/trials/$list" ] || continue
    for method in $backends $(for b in $backends; do echo "${b}_cal"; done); do
      if [[ "$method" == *_cal ]]; then [ -f "$scores/$list.$method" ] || continue; fi
      [ -f "$scores/$list.$method" ] || die "$scores/$list.$method is missing: score the model first"
      bccmt compute-metrics --json --out "$scores/$list.$method.json" \
        --tag "trials=$list" --tag "backend=$method" --det-plot "$scores/$list.$method.png" \
        --plot "$scores/$list.$method.scores.png" "$scores/$list.$method"
      bccmt compute-metrics "$scores/$list.$method" | grep -E '^(EER|minDCF|actDCF|Cllr)' \
        | sed "s/^/$list $method: /"
      jsons+=("$scores/$list.$method.json")
      if [ "$first" = true ]; then figures+=(--figure "$list $method scores=$scores/$list.$method.scores.png"); fi
    done
    first=false
    curves=()
    for method in $det_backends; do
      [ ! -f "$scores/$list.$method" ] || curves+=("$scores/$list.$method")
    done
    bccmt plot-det --trials "data/trials/$list" --title "$(basename "$exp_dir"): $list" \
      --out "$scores/$list.det.png" "${curves[@]}"
    figures+=(--figure "$list DET=$scores/$list.det.png")
  done
  while IFS= read -r line; do figures+=("$line"); done < <(figures_of "$exp_dir")
  bccmt make-results --model "$(basename "$exp_dir")" --checkpoint "${checkpoint:-$exp_dir/avg_model.pt}" \
    --config "$exp_dir/config.yaml" --data "$train_data" \
    --title "Results: $(basename "$exp_dir")" "${figures[@]}" "$exp_dir/RESULTS.md" "${jsons[@]}"
  cat "$exp_dir/RESULTS.md"
done
