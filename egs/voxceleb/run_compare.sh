#!/usr/bin/env bash
# The paper's comparisons, measured: one identical training recipe (conf/train/compare_*.yaml) for
#   (a) conventional BC-CMT-Tiny      tiny_conventional_s<seed>   (one run per --seeds)
#   (b) proposed BC-CMT-Tiny          tiny_s<seed>
#   (b2) (b), frequency-resolved 1D attention  tiny_freq_resolved_s<seed>  (only when named in --variants)
#   (c) (b) + SA-map KD from (d)      tiny_kd_s<seed>
#   (d) proposed BC-CMT-Base          base_s<teacher seed>        (the KD teacher of every seed of (c))
#   (e) ECAPA-TDNN C=512              ecapa_c512_s<teacher seed>  (--teacher-seed, default the first of --seeds)
# then cosine scoring of the trial lists of --test-lists (default vox1_O and vox1_E) and one
# markdown table (compare/comparison_table.py).
#
#   ./run_compare.sh --jobs 2                                 # everything (run from egs/voxceleb)
#   ./run_compare.sh --stage 3 --stop-stage 4                 # back-end and table only
#   ./run_compare.sh --stage 1 --stop-stage 3 \
#       --kd-ablations "lambda10:kd.attention.weight=10 mse:kd.attention.kind=mse"
#   ./run_compare.sh --stage 1 --stop-stage 4 --ablation-seeds "1 2 3" \
#       --model-ablations "ffn_depthwise:model_conf.ffn=depthwise"   # which change of (a) -> (b) costs EER
#   ./run_compare.sh --variants "tiny ecapa_c512" --kd-ablations \
#       "ecapa_emb:kd.teacher=exp/compare/ecapa_c512_s1,kd.attention.weight=0,kd.embedding.weight=1.0"
#       # a KD ablation with its own teacher (kd.teacher): it waits for that teacher instead of (d)
#   ./run_compare.sh --stage 2 --stop-stage 3 --config-dir conf/train/compare_so762 \
#       --exp-root exp/compare_so762_sp --train-data data/train_sp \
#       --test-lists "so762_test vox1_O" --split-by-length so762_test   # the sentence-length study
#       (its stage 4, with the study's notes and seed rule: results/compare_so762/stage4.sh)
#
# Test lists (--test-lists): data/trials/NAME, embedded from vox1_O: data/voxceleb1_test;
# vox1_E, vox1_H: data/voxceleb1_test + data/voxceleb1_dev (merged into the embeddings set
# voxceleb1); any other NAME: data/NAME. Scores: EXP/scores/NAME.cosine (+ .json). The first list
# decides which models are in the table (stage 4: those with its metrics).
# --split-by-length "NAME ...": lists of --test-lists that are also scored in two halves,
# data/trials/NAME.short and NAME.long (made once by local/split_trials_by_length.py: a trial's
# length is its shorter utterance's; at or below the median -> .short), from the same embeddings.
#
# Stages:
#   1  training, --jobs K at a time (each --threads, default 1); the teacher (d) is queued first and the
#      KD students (c) start once their teacher is trained and averaged; each model's last --num-avg
#      checkpoints are averaged into <exp>/avg_model.pt
#   2  (with --wait-trained true: beside a running stage 1, each model once trained)
#      embeddings of the data dirs of --test-lists (default data/voxceleb1_test and
#      data/voxceleb1_dev), and of --mean-utts-per-spk utterances per training speaker for the mean
#      subtracted before cosine scoring (as local/make_embeddings.sh does with the training mean)
#   3  the --split-by-length halves of their lists (once); cosine scores of every list and half,
#      metrics JSON (EER, minDCF 0.01/0.05)
#   4  parameters, MACs and interleaved single-process CPU latency of every model; distance of
#      the Tiny students' SA maps to the teacher's; the table --table (default <exp-root>/RESULTS.md;
#      a column group per list and half, the data described from the data dirs, --seed-rule under
#      the title) and the intervals drawn to --figure (default figures/compare_intervals.png)
# Paths in options are relative to egs/voxceleb (the script changes to it).
# Re-runnable: `bccmt train --resume` skips finished training; finished embeddings, scores and
# metrics are skipped (they are written under temporary names first).

set -euo pipefail

stage=1                     # first stage to run
stop_stage=4                # last stage to run
seeds="1 2 3"               # seeds of the Tiny variants (a, b, c); (d) and (e) use --teacher-seed
teacher_seed=               # the one seed of (d) and (e) (default: the first of --seeds; set it to add a KD seed later)
jobs=2                      # trainings (and extraction jobs) run at the same time, --threads each
threads=                    # torch CPU threads per job (default 1 with --preset cpu; 2 with --jobs 1 uses 2 cores)
num_avg=4                   # checkpoints averaged per model (the last ones)
train_data=data/train       # training data dir (stage 4 of run.sh)
exp_root=exp/compare        # one exp dir per model and seed below it
config_dir=conf/train       # where compare_*.yaml live
mean_utts_per_spk=4         # training utterances per speaker embedded for the cosine mean
variants="tiny_conventional tiny tiny_kd base ecapa_c512"   # which of (a)-(e) to run (also: tiny_freq_resolved, (b2))
test_lists="vox1_O vox1_E"  # trial lists scored (data/trials/NAME); the first decides which models are in the table
split_by_length=            # lists of --test-lists also scored as NAME.short / NAME.long (split at the median length)
seed_rule=                  # stage 4: the rule that fixed the seeds before any result, printed under the title
corpus="mini corpus"        # stage 4: the study's data, named in the table's and the figure's titles
map_feats=scp:data/voxceleb1_test/feats.scp  # stage 4: test features of the SA-map distance (KD students vs the teacher)
kd_ablations=""             # extra KD students: "NAME:key=value[,key=value] ..." -> tiny_kd_NAME_s<seed>
model_ablations=""          # proposed Tiny with one choice changed: "NAME:key=value[,...] ..." -> tiny_NAME_s<seed>
ablation_seeds=""           # seeds of the ablations (default: the first of --seeds)
wait_trained=false          # stages 2-3: wait for each model's training to finish (run beside stage 1)
latency_runs=30             # interleaved timed runs per model and length (stage 4)
table=                      # stage 4 output, markdown (default <exp-root>/RESULTS.md)
figure=figures/compare_intervals.png  # stage 4: EERs and comparisons with their intervals (empty: none)
notes=                      # stage 4: markdown appended to the table (default <exp-root>/notes.md)
num_bootstrap=2000          # stage 4: bootstrap replicates of the confidence intervals
preset=cpu                  # cpu: 1 thread per job on the CPU; gpu: conf/presets/compare_gpu.sh (one GPU, many jobs)
device=                     # training device (default: cpu, or cuda with --preset gpu)
extra_sets=                 # extra --set KEY=VALUE for every training, comma-separated (e.g. trainer.epochs=1)
help_message="Usage: $0 [options]
Train conventional Tiny, proposed Tiny, KD Tiny, Base and ECAPA-TDNN C=512 with one recipe
(conf/train/compare_*.yaml), score --test-lists (default vox1_O and vox1_E) with cosine, write the
comparison table.
 e.g.: $0 --jobs 2 --seeds \"1 2\""

# Sourced before the cd below: parse_options.sh reads this script's option list through $0.
. "$(cd "$(dirname "$0")" && pwd)/path.sh"
. "$(cd "$(dirname "$0")" && pwd)/utils/parse_options.sh"
cd "$(dirname "$0")"

die() { echo "$0: error: $*" >&2; exit 1; }
[ $# -eq 0 ] || die "unexpected argument '$1' (options only; see $0 --help)"
for var in stage stop_stage; do
  [[ "${!var}" =~ ^[1-4]$ ]] || die "--${var//_/-} must be a stage number 1-4, got '${!var}'"
done
[ "$stage" -le "$stop_stage" ] || die "--stage $stage comes after --stop-stage $stop_stage: nothing would run"
[[ "$jobs" =~ ^[1-9][0-9]*$ ]] || die "--jobs must be a positive number, got '$jobs'"
[[ "$num_avg" =~ ^[1-9][0-9]*$ ]] || die "--num-avg must be a positive number, got '$num_avg'"
[[ "$mean_utts_per_spk" =~ ^[0-9]+$ ]] || die "--mean-utts-per-spk must be a number, got '$mean_utts_per_spk'"
[ -n "$seeds" ] || die "--seeds is empty"
for s in $seeds $ablation_seeds; do [[ "$s" =~ ^[0-9]+$ ]] || die "seed '$s' is not a number"; done
case "$preset" in
  cpu) : "${device:=cpu}"; : "${threads:=1}" ;;
  gpu) . conf/presets/compare_gpu.sh ;;
  *) die "--preset must be cpu or gpu, got '$preset'" ;;
esac
[[ "$threads" =~ ^[1-9][0-9]*$ ]] || die "--threads must be a positive number, got '$threads'"
sets_all=()
if [ -n "$extra_sets" ]; then
  IFS=, read -r -a _extra <<< "$extra_sets"
  for item in "${_extra[@]}"; do sets_all+=(--set "$item"); done
fi
first_seed=${seeds%% *}
: "${teacher_seed:=$first_seed}"
[[ "$teacher_seed" =~ ^[0-9]+$ ]] || die "--teacher-seed must be a number, got '$teacher_seed'"
: "${notes:=$exp_root/notes.md}"
: "${table:=$exp_root/RESULTS.md}"
: "${ablation_seeds:=$first_seed}"
for v in $variants; do
  case "$v" in tiny_conventional|tiny|tiny_freq_resolved|tiny_kd|base|ecapa_c512) ;;
    *) die "--variants: unknown variant '$v' (have: tiny_conventional tiny tiny_freq_resolved tiny_kd base ecapa_c512)" ;;
  esac
done
read -r -a lists <<< "$test_lists"
[ ${#lists[@]} -gt 0 ] || die "--test-lists is empty"
for list in "${lists[@]}"; do
  [[ "$list" =~ ^[A-Za-z0-9_][A-Za-z0-9_.-]*$ ]] || die "--test-lists: '$list' is not a trial list name"
  [[ "$list" != *.short && "$list" != *.long ]] || die "--test-lists: '$list': halves come from --split-by-length"
  [ "$(printf '%s\n' "${lists[@]}" | grep -cxF -- "$list")" -eq 1 ] || die "--test-lists: '$list' is named twice"
done
for list in $split_by_length; do
  [[ " $test_lists " == *" $list "* ]] || die "--split-by-length: '$list' is not one of --test-lists ($test_lists)"
done
for option in kd_ablations model_ablations; do
  for spec in ${!option}; do
    [[ "$spec" =~ ^[A-Za-z0-9_.-]+:.+ ]] || die "--${option//_/-}: '$spec' is not NAME:key=value[,key=value]"
  done
done
teacher=$exp_root/base_s$teacher_seed
log_dir=$exp_root/log
mkdir -p "$log_dir"

stage_on() { [ "$stage" -le "$1" ] && [ "$stop_stage" -ge "$1" ]; }
has_variant() { [[ " $variants " == *" $1 "* ]]; }

. local/trial_sets.sh  # list_data_dirs, list_embeddings: the data behind each trial list

# The data dirs to embed (each once, in order) and the lists scored: each test list, then its halves.
mapfile -t data_dirs < <(for list in "${lists[@]}"; do list_data_dirs "$list"; done | tr ' ' '\n' | awk '!seen[$0]++')
scored_lists=()
for list in "${lists[@]}"; do
  scored_lists+=("$list")
  [[ " $split_by_length " != *" $list "* ]] || scored_lists+=("$list.short" "$list.long")
done

# Jobs of stage 1, one line each: "NAME CONFIG SEED TEACHER SET_OPTIONS" (TEACHER: the teacher's exp
# dir or -; SET_OPTIONS: comma list or -)
job_list() {
  # Longest first: the teacher (the KD students wait for it), then ECAPA-TDNN; the queue starts a
  # KD student as soon as the teacher is ready, before any job listed earlier still waiting.
  local s v
  has_variant base && echo "base_s$teacher_seed $config_dir/compare_base.yaml $teacher_seed - -"
  has_variant ecapa_c512 && echo "ecapa_c512_s$teacher_seed $config_dir/compare_ecapa_c512.yaml $teacher_seed - -"
  for v in tiny_conventional tiny tiny_freq_resolved; do
    has_variant "$v" || continue
    for s in $seeds; do echo "${v}_s$s $config_dir/compare_$v.yaml $s - -"; done
  done
  for s in $seeds; do
    has_variant tiny_kd && echo "tiny_kd_s$s $config_dir/compare_tiny_kd.yaml $s $teacher -"
  done
  ablation_jobs tiny_kd compare_tiny_kd.yaml "$teacher" $kd_ablations
  ablation_jobs tiny compare_tiny.yaml - $model_ablations
}

# ablation_jobs PREFIX CONFIG TEACHER SPEC...: job lines "PREFIX_NAME_s<seed> ..." of the
# (checked) specs "NAME:key=value[,key=value]", one per --ablation-seeds; a spec's kd.teacher=DIR
# replaces TEACHER (and is passed as --teacher DIR, not as a --set)
ablation_jobs() {
  local prefix=$1 config=$2 teacher_dir=$3 spec s sets item
  shift 3
  for spec in "$@"; do
    local job_teacher=$teacher_dir kept=()
    IFS=, read -r -a sets <<< "${spec#*:}"
    for item in "${sets[@]}"; do
      if [[ "$item" == kd.teacher=* ]]; then job_teacher=${item#kd.teacher=}; else kept+=("$item"); fi
    done
    item=$(IFS=,; echo "${kept[*]}")
    for s in $ablation_seeds; do
      echo "${prefix}_${spec%%:*}_s$s $config_dir/$config $s $job_teacher ${item:--}"
    done
  done
}

exp_names() { job_list | awk '{print $1}'; }

trained() { [ -f "$exp_root/$1/log/wall_seconds" ] && [ -f "$exp_root/$1/avg_model.pt" ]; }

train_one() {  # train_one NAME CONFIG SEED TEACHER SETS: train + average; log in EXP/log/run.log
  local name=$1 config=$2 seed=$3 teacher_dir=$4 sets=$5 exp=$exp_root/$1 opts=() item started
  [ -f "$config" ] || die "$config is missing"
  if trained "$name"; then  # keeps log/wall_seconds the time of the real training
    echo "$(date '+%F %T') $name is already trained and averaged; skipped"
    return 0
  fi
  [ "$teacher_dir" = - ] || opts+=(--teacher "$teacher_dir")
  if [ "$sets" != - ]; then
    IFS=, read -r -a items <<< "$sets"
    for item in "${items[@]}"; do opts+=(--set "$item"); done
  fi
  mkdir -p "$exp/log"
  started=$SECONDS
  opts+=("${sets_all[@]}")
  echo "$(date '+%F %T') start $name: bccmt train --config $config --data $train_data --exp $exp --seed $seed --num-threads $threads --device $device --resume ${opts[*]}"
  if ! bccmt train --config "$config" --data "$train_data" --exp "$exp" --seed "$seed" --num-threads "$threads" \
      --device "$device" --no-progress --resume "${opts[@]}" >> "$exp/log/run.log" 2>&1; then
    echo "$(date '+%F %T') FAILED $name (see $exp/log/run.log)"
    return 1
  fi
  bccmt average-model --exp "$exp" --num "$num_avg" >> "$exp/log/run.log" 2>&1 \
    || { echo "$(date '+%F %T') FAILED averaging $name"; return 1; }
  # Wall time of this process; a resumed run adds to the earlier ones (per-epoch times in train.log).
  echo "$((SECONDS - started))" >> "$exp/log/wall_seconds"
  echo "$(date '+%F %T') done $name in $((SECONDS - started)) s"
}

run_training() {  # a queue of job_list with --jobs slots; a KD job waits for its averaged teacher
  local -a pending=() line order later
  local running=0 failed=0 i job launched
  mapfile -t pending < <(job_list)
  declare -A pid_of=()
  for job in "${pending[@]}"; do
    read -r -a line <<< "$job"
    [ -f "${line[1]}" ] || die "${line[1]} is missing (the config of ${line[0]}; --config-dir $config_dir)"
    [ "${line[3]}" = - ] || [ "$(teacher_state "${line[3]}")" != missing ] \
      || die "${line[0]} needs the teacher ${line[3]}/avg_model.pt (add its variant to --variants, train it first, or name the trained one with --teacher-seed)"
  done
  while [ ${#pending[@]} -gt 0 ] || [ "$running" -gt 0 ]; do
    launched=0 order=() later=()
    # KD jobs whose teacher is ready go first (they are the critical path), then the others in order.
    for i in "${!pending[@]}"; do
      read -r -a line <<< "${pending[$i]}"
      if [ "${line[3]}" = - ]; then later+=("$i"); continue; fi
      case "$(teacher_state "${line[3]}")" in
        ready) order+=("$i") ;;
        missing)  # its teacher's training failed: stop instead of waiting forever
          echo "$0: ${line[0]} not trained: its teacher ${line[3]} failed" >&2
          unset "pending[$i]"; failed=$((failed + 1)) ;;
      esac
    done
    for i in "${order[@]}" "${later[@]}"; do
      [ "$running" -lt "$jobs" ] || break
      read -r -a line <<< "${pending[$i]}"
      train_one "${line[@]}" &
      pid_of[${line[0]}]=$!
      unset "pending[$i]"
      running=$((running + 1))
      launched=1
    done
    pending=("${pending[@]}")
    if [ "$running" -gt 0 ]; then
      local finished_pid status=0
      wait -n -p finished_pid || status=$?
      running=$((running - 1))
      for i in "${!pid_of[@]}"; do
        if [ "${pid_of[$i]}" = "$finished_pid" ]; then
          unset "pid_of[$i]"
          [ "$status" -eq 0 ] || { failed=$((failed + 1)); echo "$0: training $i failed" >&2; }
        fi
      done
    elif [ "$launched" -eq 0 ] && [ ${#pending[@]} -gt 0 ]; then
      die "no job can start (waiting for a teacher that nothing trains)"
    fi
  done
  [ "$failed" -eq 0 ] || die "$failed training job(s) failed"
}

# teacher_state DIR (inside run_training): waiting (its training is queued or running in this queue),
# ready (DIR/avg_model.pt exists) or missing
teacher_state() {
  local name=${1##*/} job
  [ -n "${pid_of[$name]:-}" ] && { echo waiting; return; }
  for job in "${pending[@]}"; do [[ "$job" == "$name "* ]] && { echo waiting; return; }; done
  if [ -f "$1/avg_model.pt" ]; then echo ready; else echo missing; fi
}

embed() {  # embed EXP DATA OUT: skipped when OUT/xvector.scp exists
  [ -f "$3/xvector.scp" ] && return 0
  utils/extract_embeddings.sh --nj "$jobs" --num-threads 1 "$1" "$2" "$3" > /dev/null \
    || die "embedding extraction failed: $1 on $2 (logs in $3/log)"
}

ready_models() {  # the models to evaluate, in order; with --wait-trained true each one as it finishes
  local -a waiting
  mapfile -t waiting < <(exp_names)
  while [ ${#waiting[@]} -gt 0 ]; do
    local i progressed=0
    for i in "${!waiting[@]}"; do
      if [ "$wait_trained" != true ] || trained "${waiting[$i]}"; then
        echo "${waiting[$i]}"
        unset "waiting[$i]"
        progressed=1
      fi
    done
    waiting=("${waiting[@]}")
    [ "$progressed" -eq 1 ] || sleep 20
  done
}

evaluate_model() {  # evaluate_model NAME: embeddings, cosine scores, metrics
  stage_on 2 && embed_model "$1"
  stage_on 3 && score_model "$1"
  return 0
}

make_mean_subset() {
  local mean_data=$exp_root/train_mean_subset
  if [ ! -f "$mean_data/utt2spk" ]; then
    rm -rf "$mean_data"
    if [ "$mean_utts_per_spk" -gt 0 ]; then
      bccmt subset-data-dir --per-spk "$mean_utts_per_spk" "$train_data" "$mean_data"
    else
      mkdir -p "$mean_data" && cp "$train_data"/{feats.scp,utt2spk,spk2utt} "$mean_data"/
    fi
  fi
}

embed_model() {  # embed_model NAME
  local name=$1 exp=$exp_root/$1 emb=$exp_root/$1/embeddings mean_data=$exp_root/train_mean_subset
  [ -f "$exp/avg_model.pt" ] || die "$exp/avg_model.pt is missing: run stage 1 first"
  echo "$(date '+%F %T') embeddings of $name"
  local dir
  for dir in "${data_dirs[@]}"; do embed "$exp" "$dir" "$emb/${dir##*/}"; done
  embed "$exp" "$mean_data" "$emb/train_mean_subset"
  if [[ " ${scored_lists[*]} " == *" vox1_"[EH]" "* ]] && [ ! -f "$emb/voxceleb1/xvector.scp" ]; then
    mkdir -p "$emb/voxceleb1"
    cat "$emb/voxceleb1_test/xvector.scp" "$emb/voxceleb1_dev/xvector.scp" | LC_ALL=C sort -k1,1 \
      > "$emb/voxceleb1/.xvector.scp.tmp" && mv "$emb/voxceleb1/.xvector.scp.tmp" "$emb/voxceleb1/xvector.scp"
  fi
  if [ ! -f "$emb/train_mean_subset/mean.vec" ]; then
    bccmt mean-embeddings --spk2utt "$mean_data/spk2utt" --skip-missing \
      --global-mean-out "$emb/train_mean_subset/mean.vec" \
      "scp:$emb/train_mean_subset/xvector.scp" \
      "ark,scp:$emb/train_mean_subset/spk_xvector.ark,$emb/train_mean_subset/spk_xvector.scp" > /dev/null
  fi
}

score_model() {  # score_model NAME: every list of scored_lists
  local name=$1 exp=$exp_root/$1 trials table scores=$exp_root/$1/scores
  mkdir -p "$scores"
  for trials in "${scored_lists[@]}"; do
    [ -f "data/trials/$trials" ] || die "data/trials/$trials is missing: run run.sh stage 1 first"
    table=scp:$exp/embeddings/$(list_embeddings "$trials")/xvector.scp
    [ -f "${table#scp:}" ] || die "${table#scp:} is missing (embeddings for $trials): run stage 2 first"
    [ -f "$scores/$trials.cosine.json" ] && continue
    bccmt score --method cosine --mean-vector "$exp/embeddings/train_mean_subset/mean.vec" \
      "data/trials/$trials" "$table" "$table" "$scores/$trials.cosine"
    bccmt compute-metrics --json --out "$scores/$trials.cosine.json" \
      --tag "trials=$trials" --tag "backend=cosine" --tag "model=$name" "$scores/$trials.cosine"
    echo "$name $trials: $(bccmt compute-metrics "$scores/$trials.cosine" | grep -E '^EER' | tr '\n' ' ')"
  done
}

if stage_on 1; then
  # The validation list the compare_*.yaml configs name (validation.data / validation.trials).
  read -r val_data val_trials < <(python -c 'import sys, yaml; v = yaml.safe_load(open(sys.argv[1]))["validation"]; print(v["data"], v["trials"])' "$config_dir/compare_tiny.yaml")
  if [ ! -f "$val_trials" ]; then
    [ -f "$val_data/utt2spk" ] || die "$val_data is missing: run run.sh stages 1-4 first"
    bccmt make-trials --num-target 1500 --num-nontarget 1500 --seed 7 "$val_data" "$val_trials"
  fi
  echo "== stage 1: training ($(job_list | wc -l) models, $jobs at a time, $(date '+%F %T'))"
  run_training 2>&1 | tee -a "$log_dir/train_queue.log"
  [ "${PIPESTATUS[0]}" -eq 0 ] || exit 1
fi
split_list() {  # split_list LIST: data/trials/LIST.short and .long, made once
  [ -f "data/trials/$1.short" ] && [ -f "data/trials/$1.long" ] && return 0
  [ -f "data/trials/$1" ] || die "data/trials/$1 is missing: run run.sh stage 1 first"
  # shellcheck disable=SC2046  # the list's data dirs, one word each
  python local/split_trials_by_length.py "data/trials/$1" $(list_data_dirs "$1") \
    || die "--split-by-length $1: local/split_trials_by_length.py failed"
}

durations() {  # durations DIR: one length in seconds per utterance, from utt2dur, else utt2num_frames / 100
  if [ -f "$1/utt2dur" ]; then awk '{print $2}' "$1/utt2dur"
  elif [ -f "$1/utt2num_frames" ]; then awk '{print $2 / 100}' "$1/utt2num_frames"; fi
}

trial_count() {  # trial_count LIST: lines of data/trials/LIST (? when absent)
  if [ -f "data/trials/$1" ]; then wc -l < "data/trials/$1"; else echo "?"; fi
}

data_summary() {  # data_summary DIR...: "N utterances of S speakers, median D s" of the data dirs together
  local dir utts spks median
  for dir in "$@"; do [ -f "$dir/utt2spk" ] || die "$dir/utt2spk is missing (a data dir of the table's data note)"; done
  utts=$(for dir in "$@"; do cat "$dir/utt2spk"; done | wc -l)
  spks=$(for dir in "$@"; do awk '{print $2}' "$dir/utt2spk"; done | LC_ALL=C sort -u | wc -l)
  median=$(for dir in "$@"; do durations "$dir"; done | LC_ALL=C sort -g \
    | LC_ALL=C awk '{v[NR] = $1} END {if (NR) printf "%.1f", NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}')
  echo "$utts utterances of $spks speakers${median:+, median $median s}"
}

if stage_on 2 || stage_on 3; then
  echo "== stages 2-3: embeddings, cosine scoring, metrics ($(date '+%F %T'))"
  if stage_on 2; then
    for dir in "${data_dirs[@]}"; do
      [ -f "$dir/utt2spk" ] || die "$dir is missing (a data dir of --test-lists $test_lists)"
    done
  fi
  if stage_on 3; then
    for list in $split_by_length; do split_list "$list"; done
  fi
  stage_on 2 && make_mean_subset
  # fd 3: the tools inside must not read the list of names
  while read -r name <&3; do evaluate_model "$name"; done 3< <(ready_models)
fi
if stage_on 4; then
  echo "== stage 4: cost profile and table ($(date '+%F %T'))"
  exps=() untrained=()
  for name in $(exp_names); do
    if [ -f "$exp_root/$name/scores/${lists[0]}.cosine.json" ]; then exps+=("$exp_root/$name")
    else untrained+=("$name"); fi
  done
  [ ${#exps[@]} -gt 0 ] || die "stage 4: no model is trained and scored yet (run stages 1-3)"
  [ ${#untrained[@]} -eq 0 ] || echo "stage 4: not scored yet (stages 1-3), left out of the table: ${untrained[*]}"
  # Runs kept without their model (compare/study_runs.py restore of a run kept before models were)
  # are in the table but not in the cost profile or the SA-map distance.
  with_model=() students=()
  for exp in "${exps[@]}"; do
    if [ -f "$exp/avg_model.pt" ]; then with_model+=("$exp")
    else echo "stage 4: $exp has no avg_model.pt: left out of the cost profile and the SA-map distance"; continue; fi
    case "$(basename "$exp")" in tiny_s*|tiny_kd_*) students+=("$exp") ;; esac
  done
  # --reuse: a cost profile or map distance made from these same models and settings is kept.
  if [ ${#with_model[@]} -gt 0 ]; then
    python compare/comparison_table.py profile --reuse --runs "$latency_runs" --out "$exp_root/cost.json" "${with_model[@]}"
  fi
  if [ ${#students[@]} -gt 0 ] && [ -f "$teacher/avg_model.pt" ]; then
    python compare/comparison_table.py map-distance --reuse --teacher "$teacher" --feats "$map_feats" \
      --out "$exp_root/map_distance.json" "${students[@]}"
  fi
  commands=$exp_root/commands.txt
  {
    echo "# from egs/voxceleb; the study: ./run_compare.sh --jobs $jobs --seeds \"$seeds\" --num-avg $num_avg"
    echo "# (stage 1 queue; the same script with --stage 2 --stop-stage 3 --wait-trained true evaluated beside it)"
    if [ -f "$log_dir/train_queue.log" ]; then  # (stage 1 of this script not run here: no training lines)
      sed -n 's/^[0-9-]* [0-9:]* start [^:]*: //p' "$log_dir/train_queue.log" | awk '!seen[$0]++'
    fi
    echo "bccmt average-model --exp EXP --num $num_avg"
    echo "bccmt subset-data-dir --per-spk $mean_utts_per_spk $train_data $exp_root/train_mean_subset"
    echo "utils/extract_embeddings.sh --nj $jobs --num-threads 1 EXP $(IFS='|'; echo "${data_dirs[*]}")|$exp_root/train_mean_subset EXP/embeddings/SET"
    echo "bccmt mean-embeddings --spk2utt $exp_root/train_mean_subset/spk2utt --global-mean-out EXP/embeddings/train_mean_subset/mean.vec ..."
    for list in $split_by_length; do
      echo "python local/split_trials_by_length.py data/trials/$list $(list_data_dirs "$list")"
    done
    mean=EXP/embeddings/train_mean_subset/mean.vec
    for list in "${scored_lists[@]}"; do
      echo "bccmt score --method cosine --mean-vector $mean data/trials/$list scp:EXP/embeddings/$(list_embeddings "$list")/xvector.scp (same) EXP/scores/$list.cosine"
      mean=...
    done
    echo "bccmt compute-metrics --json --out EXP/scores/TRIALS.cosine.json EXP/scores/TRIALS.cosine"
    echo "python compare/comparison_table.py profile --runs $latency_runs --out $exp_root/cost.json EXPS..."
    echo "python compare/comparison_table.py map-distance --teacher $teacher --feats $map_feats --out $exp_root/map_distance.json STUDENT_EXPS..."
  } > "$commands"
  # The halves' names in the table (and --seed-rule), one data note describing the training data and every list.
  table_opts=() data_note="$train_data: $(data_summary "$train_data")"
  for list in "${lists[@]}"; do
    read -r -a dirs <<< "$(list_data_dirs "$list")"
    on=$(printf ' + %s' "${dirs[@]}")
    data_note+="; $list: $(trial_count "$list") trials on ${on# + } ($(data_summary "${dirs[@]}"))"
    if [[ " $split_by_length " == *" $list "* ]]; then
      median=$(python local/split_trials_by_length.py --print-median "data/trials/$list" "${dirs[@]}") \
        || die "--split-by-length $list: local/split_trials_by_length.py failed"
      table_opts+=(--list-label "$list.short=$list (short, <= $median s)" --list-label "$list.long=$list (long, > $median s)")
      data_note+=" and its halves by length, the shorter utterance of a trial at most / above the median $median s: $list.short ($(trial_count "$list.short") trials) / $list.long ($(trial_count "$list.long") trials)"
    fi
  done
  data_note+="; cosine scoring after subtracting the mean of $(wc -l < "$exp_root/train_mean_subset/utt2spk") training embeddings ($mean_utts_per_spk per speaker)"
  utt2spk=$(for dir in "${data_dirs[@]}"; do echo "$dir/utt2spk"; done | paste -sd, -)
  [ -z "$seed_rule" ] || table_opts+=(--seed-rule "$seed_rule")
  figure_opts=()
  if [ -n "$figure" ] && [ "$num_bootstrap" -gt 0 ]; then
    if python -c 'import matplotlib' 2>/dev/null; then mkdir -p "$(dirname "$figure")"; figure_opts=(--figure "$figure")
    else echo "stage 4: no $figure: matplotlib is missing (pip install 'bccmt-tools[plot]')"; fi
  fi
  cost_opts=()
  [ ! -f "$exp_root/cost.json" ] || cost_opts=(--cost "$exp_root/cost.json")
  python compare/comparison_table.py table "${cost_opts[@]}" "${figure_opts[@]}" \
    --trial-lists "${scored_lists[*]}" "${table_opts[@]}" --utt2spk "$utt2spk" \
    --machine "$(nproc) CPU cores ($(uname -m), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')), shared with other jobs; 1 torch thread per training and extraction job" \
    --data-note "$data_note" --commands "$commands" --map-distance "$exp_root/map_distance.json" \
    --notes "$notes" --num-bootstrap "$num_bootstrap" --corpus "$corpus" --out "$table" "${exps[@]}"
  cat "$table"
fi
