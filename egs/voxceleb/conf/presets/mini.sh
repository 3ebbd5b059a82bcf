# Preset "mini": the mini corpus (../shared/data/minivox, ~5,400 utterances of 1-3 s) on a
# 2-core CPU. Sourced by egs/voxceleb/run.sh after option parsing: each value is a default that a
# command-line option (--nj, --min-frames, ...) overrides.
: "${nj:=2}"                    # parallel jobs (fbank, augmentation shards, m4a conversion)
# VoxCeleb2 m4a converted to wav once (176 MB): 11 s for the 3,124 files (64 per ffmpeg process),
# while decoding them through per-file ffmpeg pipes costs ~65 ms each, in stage 3 and again in
# stage 4 (~200 s of CPU). --m4a-to-wav false gives pipes.
: "${m4a_to_wav:=true}"
: "${aug_utts_per_kind:=400}"   # stage 3: utterances augmented per kind (reverb, noise, music, babble)
: "${min_frames:=50}"           # stage 4: drop utterances shorter than 0.5 s (all mini ones are >= 1 s)
: "${min_utts_per_spk:=2}"      # stage 4: drop speakers left with fewer utterances
