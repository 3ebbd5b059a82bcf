# The data behind each trial list of this recipe, in one place (sourced by local/score_models.sh
# and ./run_compare.sh; run from egs/voxceleb).
#   vox1_O          data/voxceleb1_test                        embeddings set voxceleb1_test
#   vox1_E, vox1_H  data/voxceleb1_test + data/voxceleb1_dev   embeddings set voxceleb1 (their union)
#   any other NAME  data/NAME (e.g. so762_test)                embeddings set NAME
#   NAME.short, NAME.long (halves by length) are scored from NAME's embeddings.

list_data_dirs() {  # list_data_dirs LIST: the data dir(s) of a trial list's utterances
  case "$1" in
    vox1_O) echo data/voxceleb1_test ;;
    vox1_E|vox1_H) echo data/voxceleb1_test data/voxceleb1_dev ;;
    *) echo "data/$1" ;;
  esac
}

list_embeddings() {  # list_embeddings LIST: the set EXP/embeddings/SET it is scored with
  case "$1" in
    *.short|*.long) list_embeddings "${1%.*}" ;;
    vox1_O) echo voxceleb1_test ;;
    vox1_E|vox1_H) echo voxceleb1 ;;
    *) echo "$1" ;;
  esac
}
