# Done markers for recipe steps (a library: source it, do not run it). A marker file
# $done_dir/NAME (default data/.done/NAME) holds the settings that produced NAME; a re-run whose
# settings match skips the work, changed settings redo it.
#
#   . utils/done_markers.sh
#   settings="root=$(cd "$root" && pwd) digest=$(file_digest list.txt)"
#   if is_done voxceleb1 "$settings" data/voxceleb1_test/wav.scp; then
#     echo "data/voxceleb1_test is complete; skipped"
#   else
#     clear_done voxceleb1            # a failure below leaves no stale marker
#     ...make data/voxceleb1_test...
#     mark_done voxceleb1 "$settings"
#   fi

: "${done_dir:=data/.done}"

is_done() {  # is_done NAME SETTINGS [PATH...]: the marker matches SETTINGS and every PATH exists
  local name=$1 settings=$2 path
  shift 2
  [ -f "$done_dir/$name" ] && [ "$(cat "$done_dir/$name")" = "$settings" ] || return 1
  for path in "$@"; do [ -e "$path" ] || return 1; done
}

mark_done() {  # mark_done NAME SETTINGS (written under a temporary name, then renamed)
  mkdir -p "$done_dir"
  printf '%s\n' "$2" > "$done_dir/.$1.tmp" && mv "$done_dir/.$1.tmp" "$done_dir/$1"
}

clear_done() { rm -f "$done_dir/$1"; }  # clear_done NAME

has_done() { [ -f "$done_dir/$1" ]; }  # has_done NAME: NAME was finished (with any settings)

done_settings() { cat "$done_dir/$1"; }  # done_settings NAME: the settings NAME was made with

file_digest() { md5sum < "$1" | cut -c1-12; }  # file_digest FILE: 12 hex digits of its content
