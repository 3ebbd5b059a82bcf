"""The documentation lives in the repository and stays true to it.

* Every reference resolves: README.md, CHANGELOG.md, docs/, the Markdown beside the recipe, the
  comments of conf/, egs/ (with the recipe's own egs/voxceleb/conf/) and utils/ scripts, and the
  package's docstrings and comments are scanned for relative links, repository paths (``docs/...``,
  ``conf/...``, ``bccmt_tools/...``, ``egs/...``, ``utils/...``, ``local/...`` ...), bare ``*.md``
  names and ``../`` paths; each must name a file or folder of this repository. A fresh clone has nothing else.
* Nothing points outside the repository. The single exception is the mini corpus's location on
  this project's machines, ``../shared/data/minivox`` (with as many ``../`` as the folder needs,
  and files inside it), which appears as an *example value* of ``$BCCMT_DATA``, ``--data-root`` or
  a tool's audio argument: the corpus is data a user supplies (or downloads, recipe stage 0), not
  documentation, so no Markdown link may point at it.
* The generated pages are current: docs/tools.md (every tool's --help) and the tables of
  docs/model.md and docs/distillation.md (model_conf fields, KD options, layer mapping).
* The version in setup.cfg, bccmt_tools.__version__ and the newest CHANGELOG.md entry agree.
"""

import ast
import configparser
import glob
import io
import itertools
import re
import subprocess
import sys
import tokenize
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
RECIPE = ROOT / "egs" / "voxceleb"

# Paths that start with these folders are references into the repository.
TOP_LEVEL = ("docs", "conf", "bccmt_tools", "egs", "utils", "bench", "tests", "requirements", ".ci", "local")
# Files a user creates from a documented template (not shipped): conf/slurm.conf from
# conf/slurm.conf.example.
USER_FILES = {"conf/slurm.conf"}
# Bare names of files that tools write (exp/<model>/RESULTS.md by make-results).
GENERATED_NAMES = {"RESULTS.md"}
# The mini corpus location on this project's machines (see the module docstring).
DATA_LOCATION = re.compile(r"^(\.\./)+shared/data/minivox(/(?!\.\.(?:/|$))[^/]+)*/?$")

PATH_CHARS = r"[\w.\-/<>*{},$]"
REPO_PATH = re.compile(r"(?<![\w./<>{}$-])((?:\.\./)+" + PATH_CHARS + r"+|(?:" +
                       "|".join(re.escape(top) for top in TOP_LEVEL) + r")/" + PATH_CHARS + r"*)")
BARE_MD = re.compile(r"(?<![\w./<>{}$-])([\w.-]+\.md)\b")
MD_LINK = re.compile(r"!?\[([^\]]*)\]\(([^)\s]+)\)")
# Another project's file named as such ("Kaldi's conf/vad.conf", "in WeSpeaker (local/score.sh)"):
# the project's name within the 40 characters before the path, on the same line.
FOREIGN = re.compile(r"\b(Kaldi|WeSpeaker|ESPnet|SpeechBrain|3D-Speaker|NeMo)\b[^\n]{0,40}$")


def _ignored_prefixes():
    """Anchored folders of .gitignore (recipe outputs such as egs/voxceleb/exp/): outputs, not references."""
    prefixes = []
    for line in (ROOT / ".gitignore").read_text().splitlines():
        line = line.strip()
        if line.startswith("/") and line.endswith("/"):
            prefixes.append(line.strip("/") + "/")
    return prefixes


IGNORED = _ignored_prefixes()


def _walk(folder, patterns):
    """Files under ``folder`` matching ``patterns``; skips git-ignored outputs, symlinks and caches."""
    import os

    skip = {".venv", "__pycache__", ".git", ".pytest_cache"}
    for top, dirs, files in os.walk(folder):
        rel_top = Path(top).relative_to(ROOT).as_posix()
        dirs[:] = sorted(d for d in dirs if d not in skip and not Path(top, d).is_symlink()
                         and not any(f"{rel_top}/{d}/".lstrip("./").startswith(p) for p in IGNORED))
        for name in sorted(files):
            path = Path(top, name)
            if not path.is_symlink() and any(path.match(pattern) for pattern in patterns):
                yield path


def _shell_comments(text):
    comments = []
    for line in text.splitlines():
        match = re.search(r"(?:^|\s)#(?!!)(.*)$", line)
        if match:
            comments.append(match.group(1))
    return "\n".join(comments)


def _python_text(text):
    """Docstrings and comments of a Python source (code strings are not documentation)."""
    pieces = []
    tree = ast.parse(text)
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            doc = ast.get_docstring(node)
            if doc:
                pieces.append(doc)
    for token in tokenize.generate_tokens(io.StringIO(text).readline):
        if token.type == tokenize.COMMENT:
            pieces.append(token.string)
    return "\n".join(pieces)


def documentation_sources():
    """``(path, scanned text, is_markdown)`` of everything the reference check reads."""
    sources = []
    for path in [ROOT / "README.md", ROOT / "CHANGELOG.md"] + list(_walk(ROOT / "docs", ["*.md"])) \
            + list(_walk(ROOT / "egs", ["*.md"])):
        if path.exists():
            sources.append((path, path.read_text(encoding="utf-8"), True))
    for path in itertools.chain(_walk(ROOT / "bccmt_tools" / "conf", ["*.yaml"]),
                                _walk(ROOT / "egs", ["*.yaml", "*.example"])):
        sources.append((path, _shell_comments(path.read_text(encoding="utf-8")), False))
    for path in itertools.chain(_walk(ROOT / "egs", ["*.sh"]), _walk(ROOT / "utils", ["*.sh"])):
        sources.append((path, _shell_comments(path.read_text(encoding="utf-8")), False))
    for path in itertools.chain(_walk(ROOT / "egs", ["*.py"]), _walk(ROOT / "bccmt_tools", ["*.py"]),
                                _walk(ROOT / "docs", ["*.py"])):
        sources.append((path, _python_text(path.read_text(encoding="utf-8")), False))
    return sources


def _expand(pattern):
    """Placeholders to globs: ``<name>``, ``$var``, ``${var}`` -> ``*``, ``{a,b}`` -> alternatives."""
    pattern = re.sub(r"<[^<>/]*>|\$\{\w+\}|\$\w+", "*", pattern)
    match = re.search(r"\{([^{}]*)\}", pattern)
    if match:
        return [p for alt in match.group(1).split(",")
                for p in _expand(pattern[:match.start()] + alt + pattern[match.end():])]
    return [pattern]


def _exists(candidate):
    return any(glob.glob(str(candidate))) if any(c in str(candidate) for c in "*?[") else candidate.exists()


def _inside(path):
    try:
        path.resolve().relative_to(ROOT)
        return True
    except ValueError:
        return False


def clean(reference):
    """A path as written, without the sentence's punctuation or a trailing ``...``."""
    if reference.endswith("..."):
        return reference[:-3]
    return reference.rstrip(".,;:'\"`)")


def check_reference(reference, source, is_link=False):
    """None when ``reference`` (found in ``source``) resolves inside the repository, else why not."""
    reference = clean(reference)
    if not reference or reference in USER_FILES:
        return None
    if any(reference.startswith(prefix) for prefix in IGNORED):
        return None  # a recipe output (ignored by git), written when the recipe runs
    bases = [source.parent, ROOT] if is_link else [source.parent, ROOT, RECIPE]
    if reference.startswith("../"):
        if DATA_LOCATION.match(reference) and not is_link:
            return None
        for base in [source.parent] + ([RECIPE] if not is_link else []):
            if _inside(base / reference) and any(_exists(base / p) for p in _expand(reference)):
                return None
        return "points outside the repository" if not _inside(source.parent / reference) else "does not exist"
    for base in bases:
        if any(_exists(base / p) for p in _expand(reference)):
            return None
    return "does not exist in the repository"


def heading_anchors(path):
    """GitHub-style anchors of the Markdown headings of ``path``.

    >>> sorted(heading_anchors(ROOT / "docs" / "model.md"))[:2]
    ['baselines', 'bc-cmt-as-implemented']
    """
    anchors = set()
    in_code = False
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        if line.startswith("```"):
            in_code = not in_code
        elif not in_code and re.match(r"^#{1,6} ", line):
            text = line.lstrip("#").strip().lower()
            anchors.add(re.sub(r"[^\w\- ]", "", text).replace(" ", "-"))
    return anchors


def _check_anchor(target, anchor, source):
    page = source if not target else (source.parent / target)
    if not anchor or page.suffix != ".md" or not page.is_file():
        return None
    return None if anchor in heading_anchors(page) else f"has no heading for #{anchor}"


def find_broken_references(sources):
    problems = []
    all_names = {path.name for path in ROOT.rglob("*.md") if ".venv" not in path.parts}
    for path, text, is_markdown in sources:
        rel = path.relative_to(ROOT)
        if is_markdown:
            for match in MD_LINK.finditer(text):
                target, _, anchor = match.group(2).partition("#")
                if re.match(r"^[a-z]+:", target):
                    continue
                why = check_reference(target, path, is_link=True) if target else None
                why = why or _check_anchor(target, anchor, path)
                if why:
                    problems.append(f"{rel}: link ({match.group(2)}) {why}")

            def link_text(match):  # the text of a link to another site names that site's files
                return "" if re.match(r"^[a-z]+:", match.group(2)) else match.group(1)

            text = MD_LINK.sub(link_text, text)
        for match in REPO_PATH.finditer(text):
            line_start = text.rfind("\n", 0, match.start()) + 1
            if FOREIGN.search(text[max(line_start, match.start() - 40):match.start()]):
                continue
            why = check_reference(match.group(1), path)
            if why:
                problems.append(f"{rel}: '{clean(match.group(1))}' {why}")
        for match in BARE_MD.finditer(text):
            name = match.group(1)
            if name not in all_names and name not in GENERATED_NAMES:
                problems.append(f"{rel}: '{name}' names no file of the repository")
    return problems


def test_reference_check_catches_what_it_should(tmp_path):
    fake = ROOT / "docs" / "example.md"  # resolution is relative to a file in docs/
    assert check_reference("../shared/docs/model_spec.md", ROOT / "README.md") == "points outside the repository"
    assert check_reference("../../shared/docs/model_spec.md", fake) == "points outside the repository"
    assert check_reference("../egs/voxceleb/conf/fbank.yaml", fake) is None
    assert check_reference("../conf/fbank.yaml", fake) == "does not exist"
    assert check_reference("docs/model_spec.md", fake) == "does not exist in the repository"
    assert check_reference("conf/train/teacher_base_<preset>.yaml", fake) is None
    assert check_reference("bccmt_tools/conf/models/bccmt_{tiny,base}.yaml", fake) is None
    assert check_reference("egs/voxceleb/exp/teacher/RESULTS.md", fake) is None  # recipe output
    assert check_reference("../../../shared/data/minivox", RECIPE / "run.sh") is None
    assert check_reference("../shared/data/minivox", fake, is_link=True) is not None
    assert check_reference("../../../shared/data/minivox/voxceleb1/wav/a.wav", RECIPE / "run.sh") is None
    assert check_reference("../shared/docs", ROOT / "README.md") == "points outside the repository"
    assert check_reference("conf/train/teacher_base_${preset}.yaml", RECIPE / "run.sh") is None
    source = ROOT / "conf" / "x.yaml"
    text = "see model_spec.md and conf/nothing.yaml; RESULTS.md; Kaldi's conf/vad.conf"
    problems = find_broken_references([(source, text, False)])
    assert problems == ["conf/x.yaml: 'conf/nothing.yaml' does not exist in the repository",
                        "conf/x.yaml: 'model_spec.md' names no file of the repository"]
    page = ROOT / "docs" / "x.md"
    links = "[a](model.md#no-such-heading) [b](model.md#baselines) [c](https://example.org/docs/none.md)"
    assert find_broken_references([(page, links, True)]) == [
        "docs/x.md: link (model.md#no-such-heading) has no heading for #no-such-heading"]


def test_every_reference_outside_the_readme_resolves():
    sources = [s for s in documentation_sources() if s[0].name != "README.md"]
    assert len(sources) > 100
    problems = find_broken_references(sources)
    assert not problems, "broken references:\n" + "\n".join(problems)


def test_every_reference_in_the_readme_resolves():
    problems = find_broken_references([s for s in documentation_sources() if s[0].name == "README.md"])
    assert not problems, "broken references in README.md:\n" + "\n".join(problems)


def _run(script, *args):
    return subprocess.run([sys.executable, str(ROOT / "docs" / script), *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=600)


def test_tools_md_is_current():
    result = _run("make_tools_md.py", "--check")
    assert result.returncode == 0, result.stderr + " (docs/tools.md lags behind the tools' --help)"


def test_tools_md_lists_every_tool():
    from bccmt_tools.cli import _tool_modules

    text = (ROOT / "docs" / "tools.md").read_text()
    missing = [m.replace("_", "-") for m in _tool_modules() if f"\n## {m.replace('_', '-')}\n" not in text]
    assert not missing, f"docs/tools.md lacks {missing}: run `make docs`"


def test_generated_tables_are_current():
    # Also recounts the parameters of every bccmt_tools/conf/models/*.yaml row of the size table.
    result = _run("make_tables.py", "--check")
    assert result.returncode == 0, result.stderr


def test_versions_agree():
    import bccmt_tools

    parser = configparser.ConfigParser()
    parser.read(ROOT / "setup.cfg")
    version = parser["metadata"]["version"]
    assert bccmt_tools.__version__ == version
    changelog = (ROOT / "CHANGELOG.md").read_text()
    newest = re.search(r"^## \[(\d+\.\d+\.\d+)\]", changelog, re.M)
    assert newest and newest.group(1) == version, "CHANGELOG.md's newest entry must be the version in setup.cfg"


@pytest.mark.parametrize("page", ["model.md", "distillation.md", "recipe.md", "for_kaldi_and_wespeaker_users.md",
                                  "tools.md"])
def test_documentation_pages_exist(page):
    assert (ROOT / "docs" / page).stat().st_size > 2000
