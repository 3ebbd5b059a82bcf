#!/usr/bin/env bash
# Stage 4 of the sentence-level study, once every planned run has finished: the table
# (egs/voxceleb/RESULTS_comparison.md, with table_notes.md appended) and the interval
# figure, from the runs in exp/compare_so762_sp/ and those kept here (restored first, missing
# files only). The seed rule printed under the table's title is README.md's "## Seed rule"
# section, read from there so it is written once. Run it on an idle machine: it times the models.
#   egs/voxceleb/results/compare_so762/stage4.sh            # extra options go to run_compare.sh
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cd "$here/../.."   # egs/voxceleb
exp_root=exp/compare_so762_sp
seed_rule=$(awk '/^## Seed rule/ {on = 1; next} /^## / {on = 0} on' "$here/README.md" |
  sed 's/^ *- *//; s/^ *//' | tr '\n' ' ' | sed 's/  */ /g; s/^ //; s/ $//')
[ -n "$seed_rule" ] || { echo "$0: error: no '## Seed rule' section in $here/README.md" >&2; exit 1; }
for run in "$here"/*_s[0-9]*; do
  python compare/study_runs.py restore "$run" "$exp_root/$(basename "$run")"
done
./run_compare.sh --stage 4 --stop-stage 4 \
  --variants "tiny_conventional tiny tiny_freq_resolved tiny_kd base" --seeds "1 2 3" \
  --train-data data/train_sp --exp-root "$exp_root" --config-dir conf/train/compare_so762 \
  --test-lists "so762_test vox1_O" --split-by-length so762_test \
  --corpus "mini corpus + speechocean762 sentences" --map-feats scp:data/so762_test/feats.scp \
  --table RESULTS_comparison.md --figure figures/compare_so762_intervals.png \
  --notes "$here/table_notes.md" --seed-rule "$seed_rule" "$@"
