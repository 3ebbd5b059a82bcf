# Preset "tinyvox": the tiny corpus inside the repository (egs/voxceleb/tinyvox, ~15 MB: 150
# VoxCeleb2-style training speakers, 20 test and 8 dev speakers, made by make_tinyvox.py), so
# that `make demo` runs stages 1-12 on a fresh clone in a few minutes on 2 CPU cores. Sourced by
# egs/voxceleb/run.sh after option parsing: each value is a default that a command-line option
# (--nj, --min-frames, ...) overrides.
: "${nj:=2}"                    # parallel jobs (fbank, augmentation shards, m4a conversion)
: "${m4a_to_wav:=true}"         # the 777 VoxCeleb2 m4a files converted to wav once (~25 MB)
: "${aug_utts_per_kind:=250}"   # stage 3: of the 777 training utterances, per kind (reverb, noise, babble)
: "${min_frames:=50}"           # stage 4: drop utterances shorter than 0.5 s (all tinyvox ones are >= 1 s)
: "${min_utts_per_spk:=2}"      # stage 4: drop speakers left with fewer utterances
# Stages 6 and 8: average the last 2 checkpoints (run.sh defaults to 10 except for mini).
: "${teacher_num_avg:=2}"
: "${student_num_avg:=2}"
# Stage 10: the calibration list over the 8 dev speakers (6 utterances each: 120 target and 1,008
# non-target pairs exist; run.sh asks for 3,000 and 30,000 by default).
: "${calibration_num_target:=100}"
: "${calibration_num_nontarget:=900}"
