#!/usr/bin/env bash
# VoxCeleb recipe of bccmt-tools: data preparation, augmentation, features, then (stages 5-12)
# training, extraction, scoring and export.
#
#   ./run.sh --data-root /corpora --preset full             # the real corpora
#   ./run.sh --data-root ../../../shared/data/minivox --preset mini --stage 1 --stop-stage 4
#   ./run.sh --stage 0 --download-url URL --download-sha256 HEX --preset mini --stop-stage 12
#
# Stages:
#   0  (only with --stage 0 and --download-url) download the corpus archive, check its SHA-256,
#      extract it into --download-dir and use it as --data-root
#   1  data/voxceleb1_test, data/voxceleb1_dev, data/voxceleb2_dev; data/trials/vox1_{O,E,H}
#   2  data/musan_{noise,music,speech} (those present) and data/rirs
#   3  augmented copies of the training set: data/<train>_{reverb,noise,music,babble}
#   4  fbank (fbank/, logs in exp/make_fbank/) for training and test sets; data/train =
#      clean + augmented, filtered by length and utterances per speaker
#   5  train the teacher (BC-CMT-Base)                      -> exp/teacher_base_<preset>/
#   6  average the teacher's last checkpoints               -> exp/teacher_base_<preset>/avg_model.pt
#   7  train the student (BC-CMT-Tiny) with self-attention-map KD from the averaged teacher
#                                                           -> exp/student_tiny_kd_<preset>/
#   8  average the student's last checkpoints               -> exp/student_tiny_kd_<preset>/avg_model.pt
#   9  embeddings of the test sets and of the training set (cohort, LDA/PLDA) for each model
#  10  scores: cosine, AS-norm and LDA+PLDA on vox1_O (and vox1_E / vox1_H when present)
#  11  EER, minDCF(0.01, 0.05), DET plots -> exp/<model>/RESULTS.md
#  12  export the student to ONNX and TorchScript (parity-checked) and profile it
#
# Every stage re-runs safely: finished work is recorded in data/.done/<name> (with the settings
# that produced it) and skipped; changed settings redo it. Outputs are written under temporary
# names and renamed, so a killed run never leaves a complete-looking partial result.

set -euo pipefail
readonly caller_dir="$PWD"  # relative corpus paths on the command line are relative to it
cd "$(dirname "$0")"

stage=1                    # first stage to run (0: download the corpus first, see --download-url)
stop_stage=4               # last stage to run
data_root=                 # folder with voxceleb1/ voxceleb2/ musan/ RIRS_NOISES/
download_url=              # stage 0: .tar.gz/.zip of such a folder (used instead of --data-root)
download_sha256=           # stage 0: its SHA-256 (required with --download-url)
download_dir=              # stage 0: cache folder for the download (default: downloads)
voxceleb1_root=            # default: <data-root>/voxceleb1
voxceleb2_root=            # default: <data-root>/voxceleb2
musan_root=                # default: <data-root>/musan
rir_root=                  # default: <data-root>/RIRS_NOISES
preset=full                # full|mini: defaults from conf/presets/<preset>.sh
train_set=vox2             # vox2|vox1|vox1+vox2 (vox1 in training leaves only vox1_O fair)
m4a_to_wav=                # true: convert VoxCeleb2 m4a to wav once; false: wav.scp lists the m4a files (preset default)
ffmpeg_pipes=false         # with --m4a-to-wav false: ffmpeg pipes in wav.scp (Kaldi style; needs ffmpeg) instead of m4a paths
nj=                        # parallel jobs (preset default)
aug_utts_per_kind=         # utterances augmented per kind in stage 3 (preset default)
min_frames=                # stage 4: drop shorter utterances (preset default)
min_utts_per_spk=          # stage 4: then drop speakers with fewer utterances (preset default)
seed=777                   # augmentation seed (same seed, same augmented audio)
skip_bad=false             # stage 4: skip unreadable audio (named in the logs) instead of stopping
wav_dir=wav                # augmented arks and converted VoxCeleb2 wavs go below this folder
fbank_config=conf/fbank.yaml      # fbank options
augment_config=conf/augment.yaml  # augmentation ranges (also used by online augmentation)
# Stages 5-8 (empty: defaults of local/train_stages.sh, which name the preset)
teacher_config=            # default conf/train/teacher_base_<preset>.yaml
student_config=            # default conf/train/student_tiny_kd_<preset>.yaml
teacher_exp=               # default exp/teacher_base_<preset>
student_exp=               # default exp/student_tiny_kd_<preset>
teacher_num_avg=           # checkpoints averaged (default 2 for mini, 10 for full)
student_num_avg=
train_device=              # cpu|cuda (default: cuda when torch sees a GPU)
train_ngpu=1               # >1: torchrun --nproc-per-node N (DistributedDataParallel)
train_threads=             # torch CPU threads per training process (default: torch's choice)
train_opts=                # extra `bccmt train` options, e.g. "--set trainer.epochs=20"
# Stages 9-12
eval_exps=                 # models to evaluate (default: the teacher and the student)
backend_device=cpu         # extraction device: cpu|cuda|auto
backend_utts_per_spk=0     # training utterances per speaker embedded for cohort/PLDA (0: all)
lda_dim=128                # LDA dimension before PLDA (capped at speakers - 1)
asnorm_top_n=300           # AS-norm cohort size (capped at the number of cohort speakers)
profile_seconds=1,2,5,10   # stage 12: signal lengths profiled
calibration=true           # stage 10: calibrate every back-end on a held-out voxceleb1_dev list
calibration_prior=0.01     # target prior the calibration is fitted for
calibration_quality=       # quality measures: "", norm, duration, "duration norm"
lmft=false                 # true: large-margin fine-tuning of the student after stage 8 -> <student_exp>_lmft
lmft_config=               # default conf/train/lmft_<preset>.yaml
help_message="Usage: $0 [options]
VoxCeleb speaker-verification recipe. Stages: 0 (only with --stage 0 and --download-url) download,
checksum and extract the corpus, 1 VoxCeleb data dirs + trial lists, 2 MUSAN/RIR lists,
3 augmented copies (reverb, noise, music, babble), 4 fbank + data/train, 5-6 teacher
(BC-CMT-Base) training + averaging, 7-8 KD student (BC-CMT-Tiny) training + averaging,
9 embeddings, 10 cosine / AS-norm / LDA+PLDA scoring, 11 metrics + RESULTS.md, 12 ONNX and
TorchScript export + profile.
 e.g.: $0 --data-root /corpora --preset mini --stage 1 --stop-stage 12"

. ./path.sh
. ./cmd.sh
. utils/parse_options.sh

die() { echo "$0: error: $*" >&2; exit 1; }
[ $# -eq 0 ] || die "unexpected argument '$1' (options only; see $0 --help)"
readonly last_stage=12
for var in stage stop_stage; do
  [[ "${!var}" =~ ^[0-9]+$ ]] || die "--${var//_/-} must be a stage number (0-$last_stage), got '${!var}'"
  [ "${!var}" -le "$last_stage" ] || die "--${var//_/-} ${!var}: there is no such stage (stages are 0-$last_stage)"
done
[ "$stage" -le "$stop_stage" ] \
  || die "--stage $stage comes after --stop-stage $stop_stage: nothing would run (give --stop-stage $stage or more)"
[ -f "conf/presets/$preset.sh" ] || die "unknown preset '$preset' (have: $(cd conf/presets && ls *.sh | sed 's/\.sh$//' | tr '\n' ' '))"
. "conf/presets/$preset.sh"
for var in nj aug_utts_per_kind min_frames min_utts_per_spk m4a_to_wav; do
  [ -n "${!var}" ] || die "conf/presets/$preset.sh sets no default for --${var//_/-}"
done
for var in nj aug_utts_per_kind min_frames min_utts_per_spk; do
  [[ "${!var}" =~ ^[0-9]+$ ]] || die "--${var//_/-} must be a number, got '${!var}'"
done
[ "$nj" -ge 1 ] && [ "$aug_utts_per_kind" -ge 1 ] || die "--nj and --aug-utts-per-kind must be at least 1"
[ "$m4a_to_wav" = true ] || [ "$m4a_to_wav" = false ] || die "--m4a-to-wav must be true or false"
[ "$ffmpeg_pipes" = true ] || [ "$ffmpeg_pipes" = false ] || die "--ffmpeg-pipes must be true or false"

absolute() { case "$1" in ""|/*) echo "$1" ;; *) echo "$caller_dir/$1" ;; esac; }
data_root=$(absolute "$data_root")
download_dir=$(absolute "$download_dir")
: "${download_dir:=$PWD/downloads}"  # default: beside run.sh
if [ -n "$download_url" ]; then
  [ -n "$download_sha256" ] || die "--download-url needs --download-sha256 (the archive's SHA-256)"
  [ -z "$data_root" ] || die "give --data-root or --download-url, not both"
fi

case "$train_set" in
  vox2) train_parts="voxceleb2_dev"; train_src=voxceleb2_dev ;;
  vox1) train_parts="voxceleb1_dev"; train_src=voxceleb1_dev ;;
  vox1+vox2) train_parts="voxceleb1_dev voxceleb2_dev"; train_src=voxceleb12_dev ;;
  *) die "--train-set must be vox2, vox1 or vox1+vox2, got '$train_set'" ;;
esac
aug_kinds="reverb noise music babble"

banner() {  # banner N TEXT
  stage_started=$SECONDS
  echo "==================================================================="
  echo "== stage $1: $2  ($(date '+%F %T'))"
  echo "==================================================================="
}
stage_done() { echo "== stage $1 done in $((SECONDS - stage_started)) s"; }
# Done markers: data/.done/NAME holds the settings that produced NAME; a match means "skip".
is_done() {  # is_done NAME SETTINGS [PATH...]: the marker matches and every PATH exists
  local name=$1 settings=$2 path
  shift 2
  [ -f "data/.done/$name" ] && [ "$(cat "data/.done/$name")" = "$settings" ] || return 1
  for path in "$@"; do [ -e "$path" ] || return 1; done
}
mark_done() {  # mark_done NAME SETTINGS
  mkdir -p data/.done
  printf '%s\n' "$2" > "data/.done/.$1.tmp" && mv "data/.done/.$1.tmp" "data/.done/$1"
}
clear_done() { rm -f "data/.done/$1"; }
need_dir() {  # need_dir DIR OPTION
  [ -n "$1" ] || die "$2 (or --data-root) is not set"
  [ -d "$1" ] || die "$2: no such folder: $1"
}
fair_test_note() {
  if [ "$train_set" != vox2 ]; then
    echo "$0: NOTE: the training set includes VoxCeleb1-dev, so only vox1_O is a fair test" \
      "(vox1_E and vox1_H draw on VoxCeleb1-dev speakers)."
  fi
}

if [ "$stage" -le 0 ] && [ "$stop_stage" -ge 0 ]; then
  if [ -z "$download_url" ]; then
    echo "stage 0: no --download-url given; skipped (the corpus comes from --data-root)"
  else
    banner 0 "download the corpus ($download_url) into $download_dir"
    # Skips the download when $download_dir holds this checksum's corpus already.
    data_root=$(python local/download_corpus.py --url "$download_url" --sha256 "$download_sha256" \
      --dest "$download_dir" --expect voxceleb1) || die "stage 0: the download failed (see above)"
    echo "stage 0: data root $data_root"
    stage_done 0
  fi
elif [ -n "$download_url" ]; then
  echo "$0: NOTE: --download-url is used by stage 0 only (--stage 0); ignored" >&2
fi
voxceleb1_root=$(absolute "${voxceleb1_root:-${data_root:+$data_root/voxceleb1}}")
voxceleb2_root=$(absolute "${voxceleb2_root:-${data_root:+$data_root/voxceleb2}}")
musan_root=$(absolute "${musan_root:-${data_root:+$data_root/musan}}")
rir_root=$(absolute "${rir_root:-${data_root:+$data_root/RIRS_NOISES}}")

if [ "$stage" -le 1 ] && [ "$stop_stage" -ge 1 ]; then
  banner 1 "data dirs (VoxCeleb1 test/dev, VoxCeleb2 dev) and trial lists"
  need_dir "$voxceleb1_root" --voxceleb1-root
  settings="root=$(cd "$voxceleb1_root" && pwd)"
  if is_done voxceleb1 "$settings" data/voxceleb1_test/wav.scp data/trials/vox1_O; then
    echo "stage 1: data/voxceleb1_* and data/trials are complete; skipped"
  else
    clear_done voxceleb1
    python local/make_voxceleb1.py "$voxceleb1_root" data
    for dir in data/voxceleb1_test data/voxceleb1_dev; do
      [ ! -d "$dir" ] || bccmt validate-data-dir "$dir"
    done
    mark_done voxceleb1 "$settings"
  fi
  if [[ " $train_parts " == *" voxceleb2_dev "* ]]; then
    need_dir "$voxceleb2_root" --voxceleb2-root
    settings="root=$(cd "$voxceleb2_root" && pwd) m4a_to_wav=$m4a_to_wav ffmpeg_pipes=$ffmpeg_pipes"
    if is_done voxceleb2_dev "$settings" data/voxceleb2_dev/wav.scp; then
      echo "stage 1: data/voxceleb2_dev is complete; skipped"
    else
      clear_done voxceleb2_dev
      opts=()
      if [ "$m4a_to_wav" = true ]; then opts=(--m4a-to-wav --wav-dir "$wav_dir/voxceleb2_dev" --nj "$nj")
      elif [ "$ffmpeg_pipes" = true ]; then opts=(--ffmpeg-pipes); fi
      python local/make_voxceleb2.py "${opts[@]}" "$voxceleb2_root" data/voxceleb2_dev
      bccmt validate-data-dir data/voxceleb2_dev
      mark_done voxceleb2_dev "$settings"
    fi
  fi
  if [ "$train_set" = vox1+vox2 ]; then
    settings="parts=$train_parts m4a_to_wav=$m4a_to_wav ffmpeg_pipes=$ffmpeg_pipes"
    if ! is_done "$train_src" "$settings" "data/$train_src/wav.scp"; then
      clear_done "$train_src"
      rm -rf "data/.$train_src.tmp"
      bccmt combine-data-dirs "data/.$train_src.tmp" data/voxceleb1_dev data/voxceleb2_dev
      rm -rf "data/$train_src" && mv "data/.$train_src.tmp" "data/$train_src"
      mark_done "$train_src" "$settings"
    fi
  fi
  [ -f "data/$train_src/wav.scp" ] || die "no training data: data/$train_src/wav.scp is missing"
  fair_test_note
  stage_done 1
fi

if [ "$stage" -le 2 ] && [ "$stop_stage" -ge 2 ]; then
  banner 2 "MUSAN (noise, music, speech) and RIR lists"
  if [ -n "$musan_root" ] && [ -d "$musan_root" ]; then
    settings="root=$(cd "$musan_root" && pwd)"
    if is_done musan "$settings"; then
      echo "stage 2: data/musan_* are complete; skipped"
    else
      clear_done musan
      python local/make_musan.py "$musan_root" data
      for dir in data/musan_noise data/musan_music data/musan_speech; do
        [ ! -d "$dir" ] || bccmt validate-data-dir "$dir"
      done
      mark_done musan "$settings"
    fi
  else
    echo "stage 2: no MUSAN folder (${musan_root:-unset}): noise, music and babble augmentation will be skipped"
    rm -rf data/musan_noise data/musan_music data/musan_speech && clear_done musan  # lists of an earlier run
  fi
  if [ -n "$rir_root" ] && [ -d "$rir_root" ]; then
    settings="root=$(cd "$rir_root" && pwd)"
    if is_done rirs "$settings"; then
      echo "stage 2: data/rirs is complete; skipped"
    else
      clear_done rirs
      python local/make_rirs.py "$rir_root" data/rirs
      [ ! -d data/rirs ] || bccmt validate-data-dir data/rirs
      mark_done rirs "$settings"
    fi
  else
    echo "stage 2: no RIRS_NOISES folder (${rir_root:-unset}): reverberation will be skipped"
    rm -rf data/rirs && clear_done rirs
  fi
  stage_done 2
fi

# The source data dir and its option for each augmentation kind.
aug_source() {  # aug_source KIND -> "DIR OPTION"
  case "$1" in
    reverb) echo "data/rirs --rir-dir" ;;
    noise) echo "data/musan_noise --noise-dir" ;;
    music) echo "data/musan_music --music-dir" ;;
    babble) echo "data/musan_speech --speech-dir" ;;
  esac
}

if [ "$stage" -le 3 ] && [ "$stop_stage" -ge 3 ]; then
  banner 3 "augmented copies of data/$train_src (${aug_utts_per_kind} utterances per kind)"
  [ -f "data/$train_src/wav.scp" ] || die "data/$train_src/wav.scp is missing: run stage 1 first"
  for kind in $aug_kinds; do
    read -r source_dir source_opt <<< "$(aug_source "$kind")"
    name=${train_src}_$kind
    if [ ! -f "$source_dir/wav.scp" ]; then
      echo "stage 3: $kind: no $source_dir (absent from the corpus or stage 2 not run); skipped"
      clear_done "$name"
      continue
    fi
    settings="src=$(md5sum < "data/$train_src/wav.scp" | cut -c1-12) n=$aug_utts_per_kind seed=$seed"
    settings+=" source=$(md5sum < "$source_dir/wav.scp" | cut -c1-12) conf=$(md5sum < "$augment_config" | cut -c1-12)"
    if is_done "$name" "$settings" "data/$name/wav.scp"; then
      echo "stage 3: data/$name is complete; skipped"
      continue
    fi
    clear_done "$name"
    shards=exp/augment/$name/shards
    rm -rf "$shards"
    aug_nj=$(( nj < aug_utts_per_kind ? nj : aug_utts_per_kind ))
    echo "stage 3: $kind: data/$name ($aug_nj jobs; logs in exp/augment/$name/log)"
    $train_cmd JOB=1:"$aug_nj" "exp/augment/$name/log/augment.JOB.log" \
      bccmt augment-data-dir --kind "$kind" "$source_opt" "$source_dir" --config "$augment_config" \
        --seed "$seed" --num-utts "$aug_utts_per_kind" --job JOB --num-jobs "$aug_nj" \
        "data/$train_src" "$shards/$name.JOB" "$wav_dir/aug" \
      || die "augmentation ($kind) failed; see the logs named above"
    rm -rf "data/.$name.tmp"
    bccmt combine-data-dirs "data/.$name.tmp" $(for ((n = 1; n <= aug_nj; n++)); do echo "$shards/$name.$n"; done)
    rm -rf "data/$name" && mv "data/.$name.tmp" "data/$name"
    bccmt validate-data-dir "data/$name"
    rm -rf "$shards"
    mark_done "$name" "$settings"
  done
  stage_done 3
fi

if [ "$stage" -le 4 ] && [ "$stop_stage" -ge 4 ]; then
  banner 4 "fbank features; data/train = clean + augmented, filtered"
  aug_dirs=""
  for kind in $aug_kinds; do
    if [ -f "data/.done/${train_src}_$kind" ]; then aug_dirs+=" ${train_src}_$kind"; fi
  done
  test_sets="voxceleb1_test"
  if [ -f data/trials/vox1_E ] || [ -f data/trials/vox1_H ]; then
    test_sets+=" voxceleb1_dev"  # VoxCeleb1-E/H draw on the dev speakers too
  fi
  fbank_sets=$(echo $train_parts $aug_dirs $test_sets | tr ' ' '\n' | awk '!seen[$0]++' | tr '\n' ' ')
  fbank_opts=(--nj "$nj" --cmd "$train_cmd" --fbank-config "$fbank_config" --skip-bad "$skip_bad")
  for name in $fbank_sets; do
    [ -f "data/$name/wav.scp" ] || die "data/$name/wav.scp is missing: run the earlier stages first"
    settings="wav=$(md5sum < "data/$name/wav.scp" | cut -c1-12) conf=$(md5sum < "$fbank_config" | cut -c1-12)"
    if is_done "fbank_$name" "$settings" "data/$name/feats.scp"; then
      echo "stage 4: data/$name/feats.scp is complete; skipped"
      continue
    fi
    clear_done "fbank_$name"
    if ! utils/make_fbank.sh "${fbank_opts[@]}" "data/$name" "exp/make_fbank/$name" fbank; then
      # Name the bad entries here, not only in the job logs (the tools' errors name file and key).
      grep -h "^Error: " "exp/make_fbank/$name"/*.log 2>/dev/null | head -5 | sed 's/^/  /' >&2 || true
      die "stage 4: fbank failed for data/$name (fix or remove the entries above, or use --skip-bad true)"
    fi
    if [ "$skip_bad" = true ]; then
      # Report the skipped entries here too, not only in the job logs.
      skipped=$(cat "exp/make_fbank/$name"/make_fbank.*.log 2>/dev/null | grep -c "^compute-fbank: skipped " || true)
      if [ "$skipped" -gt 0 ]; then
        echo "stage 4: data/$name: skipped $skipped utterances with bad audio (--skip-bad true):" >&2
        grep -h "^compute-fbank: skipped " "exp/make_fbank/$name"/make_fbank.*.log | head -10 \
          | sed 's/^compute-fbank: skipped /  /' >&2 || true
      fi
      bccmt fix-data-dir "data/$name"  # drops the utterances whose audio could not be read
      settings="wav=$(md5sum < "data/$name/wav.scp" | cut -c1-12) conf=$(md5sum < "$fbank_config" | cut -c1-12)"
    fi
    mark_done "fbank_$name" "$settings"
  done

  settings="parts=$train_parts aug=$(echo $aug_dirs) min_frames=$min_frames min_utts=$min_utts_per_spk"
  for name in $train_parts $aug_dirs; do settings+=" $(cat "data/.done/fbank_$name")"; done
  if is_done train "$settings" data/train/feats.scp; then
    echo "stage 4: data/train is complete; skipped"
  else
    clear_done train
    rm -rf data/.train_combined.tmp data/.train.tmp
    # Clean + augmented sets: combine-data-dirs keeps the files every input has (feats.scp,
    # utt2num_frames, utt2spk, ...), then short utterances and small speakers go.
    bccmt combine-data-dirs data/.train_combined.tmp $(for name in $train_parts $aug_dirs; do echo "data/$name"; done)
    bccmt filter-data-dir --min-frames "$min_frames" --min-utts-per-spk "$min_utts_per_spk" \
      data/.train_combined.tmp data/.train.tmp
    rm -rf data/.train_combined.tmp
    bccmt validate-data-dir data/.train.tmp
    for file in feats.scp utt2spk spk2utt utt2num_frames; do
      [ -s "data/.train.tmp/$file" ] || die "data/train would have no $file"
    done
    rm -rf data/train && mv data/.train.tmp data/train
    mark_done train "$settings"
  fi
  echo "stage 4: data/train: $(wc -l < data/train/utt2spk) utterances" \
    "($(wc -l < data/train/spk2utt) speakers; clean: $train_parts; augmented:${aug_dirs:- none})"
  fair_test_note
  stage_done 4
fi

. local/train_stages.sh
train_defaults              # fills teacher_exp, student_exp, ... for the preset
if [ "$stage" -le 8 ] && [ "$stop_stage" -ge 5 ]; then
  train_stages              # stages 5-8 within [stage, stop_stage]
fi

if [ "$lmft" = true ]; then
  . local/lmft_stage.sh
  if [ "$stage" -le 8 ] && [ "$stop_stage" -ge 8 ]; then lmft_stage "$student_exp"; fi
fi
: "${eval_exps:=$teacher_exp $student_exp}"
if [ "$lmft" = true ]; then eval_exps="$eval_exps ${student_exp%/}_lmft"; fi
if [ "$stage" -le 11 ] && [ "$stop_stage" -ge 9 ]; then
  . local/backend_stages.sh
  for exp_dir in $eval_exps; do
    backend_stages "$exp_dir"   # stages 9-11 within [stage, stop_stage]
  done
fi

if [ "$stage" -le 12 ] && [ "$stop_stage" -ge 12 ]; then
  banner 12 "export the student ($student_exp) to ONNX and TorchScript; profile"
  [ -f "$student_exp/config.yaml" ] || die "$student_exp/config.yaml is missing: run stages 7-8 first"
  # Each export is checked against PyTorch on padded batches of several lengths and fails
  # (leaving no file) beyond 1e-4.
  bccmt export --exp "$student_exp" --format onnx --out "$student_exp/model.onnx"
  bccmt export --exp "$student_exp" --format torchscript --out "$student_exp/model.torchscript.pt"
  bccmt profile --exp "$student_exp" --onnx "$student_exp/model.onnx" --seconds "$profile_seconds" \
    --threads 1 | tee "$student_exp/profile.txt"
  stage_done 12
fi

if [ "$stop_stage" -ge 11 ]; then
  for exp_dir in $eval_exps; do
    if [ -f "$exp_dir/RESULTS.md" ]; then echo; cat "$exp_dir/RESULTS.md"; fi
  done
fi
exit 0
