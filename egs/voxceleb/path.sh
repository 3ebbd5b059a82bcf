# Environment of the recipe: the project's venv (when present) and utils/ on PATH, C locale.
# Sourced by run.sh; source it yourself to run single tools by hand from this folder.
_recipe_root=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
_repo_root=$(cd "$_recipe_root/../.." && pwd)
if [ -x "$_repo_root/.venv/bin/python" ]; then
  export PATH="$_repo_root/.venv/bin:$PATH"
fi
export PATH="$_recipe_root/utils:$PATH"
export LC_ALL=C              # Kaldi sort order for every table
export PYTHONUNBUFFERED=1    # logs show progress as it happens
unset _recipe_root _repo_root
