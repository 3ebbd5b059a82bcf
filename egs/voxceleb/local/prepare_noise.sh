#!/usr/bin/env bash
# Lists of the augmentation sources: data/musan_{noise,music,speech} (the MUSAN categories
# present) and data/rirs (RIRS_NOISES). A source that is not given or absent is skipped with a
# message (and the lists of an earlier run are removed), so its augmentation kinds are skipped.
# Run from egs/voxceleb; each list is skipped when its done marker (data/.done/) matches.
#
#   local/prepare_noise.sh --musan-root /corpora/musan --rir-root /corpora/RIRS_NOISES
set -euo pipefail

musan_root=        # MUSAN folder (noise/, music/, speech/)
rir_root=          # RIRS_NOISES folder (simulated_rirs/*/rir_list)
help_message="Usage: $0 [options]
MUSAN and RIR lists under data/ (run from egs/voxceleb)."

. ./path.sh
. utils/parse_options.sh
. utils/done_markers.sh

[ $# -eq 0 ] || { echo "$0: error: unexpected argument '$1' (options only; see $0 --help)" >&2; exit 1; }

if [ -n "$musan_root" ] && [ -d "$musan_root" ]; then
  settings="root=$(cd "$musan_root" && pwd)"
  if is_done musan "$settings"; then
    echo "prepare_noise: data/musan_* are complete; skipped"
  else
    clear_done musan
    python local/make_musan.py "$musan_root" data
    for dir in data/musan_noise data/musan_music data/musan_speech; do
      [ ! -d "$dir" ] || bccmt validate-data-dir "$dir"
    done
    mark_done musan "$settings"
  fi
else
  echo "prepare_noise: no MUSAN folder (${musan_root:-unset}): noise, music and babble augmentation will be skipped"
  rm -rf data/musan_noise data/musan_music data/musan_speech && clear_done musan  # lists of an earlier run
fi

if [ -n "$rir_root" ] && [ -d "$rir_root" ]; then
  settings="root=$(cd "$rir_root" && pwd)"
  if is_done rirs "$settings"; then
    echo "prepare_noise: data/rirs is complete; skipped"
  else
    clear_done rirs
    python local/make_rirs.py "$rir_root" data/rirs
    [ ! -d data/rirs ] || bccmt validate-data-dir data/rirs
    mark_done rirs "$settings"
  fi
else
  echo "prepare_noise: no RIRS_NOISES folder (${rir_root:-unset}): reverberation will be skipped"
  rm -rf data/rirs && clear_done rirs
fi
