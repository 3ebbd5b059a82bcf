#!/usr/bin/env bash
# Kaldi-style command-line options for recipe scripts. Source it after defining the defaults:
#
#   stage=1          # first stage to run
#   nj=4             # parallel jobs
#   help_message="Usage: $0 [options] <data-dir>"
#   . utils/parse_options.sh || exit 1
#
# Then `--stage 3`, `--stage=3` and `--data-root /x` (dashes map to underscores) set the variables.
# Only options defined as top-level `name=value` lines above the sourcing line (or, when the caller
# cannot be read, any variable already defined) are accepted; anything else stops with exit 1.
# `--help` prints $help_message and the options with their current values and trailing comments.
# `--config FILE` sources FILE at that point (later options still override it). `--` ends options.
# A variable whose default is true/false only accepts true or false.
# Remaining arguments stay in "$@".

# The caller's option list: `name=value` lines at column 0 before the line that sources us.
_po_caller="${BASH_SOURCE[1]:-$0}"
# A caller started by a relative path that then cd'd to its own folder (as recipes do) is found
# by its base name.
[ -f "$_po_caller" ] || [ ! -f "$(basename "$_po_caller")" ] || _po_caller=$(basename "$_po_caller")
_po_names=""
if [ -f "$_po_caller" ]; then
  _po_names=$(awk '/^[[:space:]]*(\.|source)[[:space:]].*parse_options\.sh/ { exit } /^[A-Za-z_][A-Za-z0-9_]*=/ { sub(/=.*/, ""); print }' \
    "$_po_caller" | awk '!seen[$0]++')
fi

_po_is_option() {
  local _po_n=$1
  [[ "$_po_n" =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]] || return 1
  [[ "$_po_n" == _po_* || "$_po_n" == help_message ]] && return 1
  [ -n "${!_po_n+x}" ] || return 1
  if [ -n "$_po_names" ]; then
    # A pattern match, not `printf | grep -q`: under the caller's `set -o pipefail`, grep quitting
    # at the first match could kill printf with SIGPIPE and reject a valid option at random.
    [[ $'\n'"$_po_names"$'\n' == *$'\n'"$_po_n"$'\n'* ]] || return 1
  fi
  return 0
}

_po_print_help() {
  [ -n "${help_message:-}" ] && printf '%s\n\n' "$help_message"
  echo "Options (current values):"
  local _po_n _po_comment
  for _po_n in $_po_names; do
    [ "$_po_n" = help_message ] && continue
    [ -n "${!_po_n+x}" ] || continue
    # The trailing comment of the definition line, if any, explains the option.
    _po_comment=$(awk -v n="$_po_n" 'index($0, n "=") == 1 && match($0, /[[:space:]]#[[:space:]]*/) {
      print substr($0, RSTART + RLENGTH); exit }' "$_po_caller")
    printf '  --%-22s %-14s %s\n' "${_po_n//_/-}" "${!_po_n:-\"\"}" "$_po_comment"
  done
  echo "  --config FILE            source FILE (shell assignments) at this point"
  echo "  --help                   print this message"
}

while [ $# -gt 0 ]; do
  case "$1" in
    --help|-h)
      _po_print_help
      exit 0 ;;
    --)
      shift
      break ;;
    --config|--config=*)
      if [ "$1" = --config ]; then
        [ $# -ge 2 ] || { echo "$0: option --config needs a file" >&2; exit 1; }
        _po_file=$2; shift 2
      else
        _po_file=${1#--config=}; shift
      fi
      [ -f "$_po_file" ] || { echo "$0: config file '$_po_file' not found" >&2; exit 1; }
      . "$_po_file" || { echo "$0: error in config file '$_po_file'" >&2; exit 1; } ;;
    --?*)
      _po_arg=${1#--}
      _po_name=${_po_arg%%=*}
      _po_name=${_po_name//-/_}
      if ! _po_is_option "$_po_name"; then
        echo "$0: unknown option --${_po_arg%%=*} (see $0 --help)" >&2
        exit 1
      fi
      if [[ "$_po_arg" == *=* ]]; then
        _po_value=${_po_arg#*=}; _po_arg=${_po_arg%%=*}; shift
      else
        [ $# -ge 2 ] || { echo "$0: option --$_po_arg needs a value" >&2; exit 1; }
        _po_value=$2; shift 2
      fi
      if [[ "${!_po_name}" == true || "${!_po_name}" == false ]] \
          && [[ "$_po_value" != true && "$_po_value" != false ]]; then
        echo "$0: option --$_po_arg expects true or false, got '$_po_value'" >&2
        exit 1
      fi
      printf -v "$_po_name" '%s' "$_po_value" ;;
    *)
      break ;;
  esac
done

unset -f _po_is_option _po_print_help
unset _po_caller _po_names _po_arg _po_value _po_name _po_file
true
