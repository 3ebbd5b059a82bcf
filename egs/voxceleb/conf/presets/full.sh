# Preset "full": VoxCeleb2-dev (1,092,009 utterances, 5,994 speakers) with MUSAN and RIRS_NOISES.
# Sourced by egs/voxceleb/run.sh after option parsing: each value is a default that a
# command-line option (--nj, --min-frames, ...) overrides.
: "${nj:=16}"                     # parallel jobs (fbank, augmentation shards, m4a conversion)
# wav.scp lists the m4a files, decoded in-process (PyAV): as wav, VoxCeleb2-dev would take ~280 GB.
: "${m4a_to_wav:=false}"
# Stage 3: as Kaldi voxceleb/v2, which adds an augmented subset of 1M utterances to the clean set:
# 250k per kind, 4 kinds (fewer when a MUSAN category is absent).
: "${aug_utts_per_kind:=250000}"
# Stage 4: training crops are 2 s (200 frames), so shorter utterances are dropped (VoxCeleb ones
# are >= 4 s, so this only guards against bad files); speakers need 8 utterances, as in Kaldi
# voxceleb/v2.
: "${min_frames:=200}"
: "${min_utts_per_spk:=8}"
