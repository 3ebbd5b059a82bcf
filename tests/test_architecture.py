"""docs/architecture.md's layer line holds for every import of the package: a module imports only
from its own layer or the layers below it (lazy imports inside functions included)."""

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "bccmt_tools"


def layers():
    """``{top-level name: rank}`` from the line of docs/architecture.md that lists the layers."""
    text = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    match = re.search(r"lowest first[^:]*:\s*(.+?)\n\n", text, re.S)
    assert match, "docs/architecture.md: no 'Layers of the package, lowest first: ...' line"
    ranks = {}
    for rank, group in enumerate(match.group(1).split("<")):
        for name in re.findall(r"`(\w+)`", group):
            ranks[name] = rank
    return ranks


def top_name(module):
    """``bccmt_tools.embed.extract`` -> ``embed``; ``bccmt_tools.api`` -> ``api``; the package's own
    names (``bccmt_tools.__version__``) -> None."""
    parts = module.split(".")
    if len(parts) < 2 or not ((PACKAGE / parts[1]).is_dir() or (PACKAGE / f"{parts[1]}.py").is_file()):
        return None
    return parts[1]


def imports(path, module):
    """Absolute names of the bccmt_tools modules (or names) that ``path`` imports, with line numbers."""
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + [base]).rstrip(".")
            names = [f"{base}.{alias.name}" for alias in node.names] if base == "bccmt_tools" else [base]
        else:
            continue
        for name in names:
            if name.startswith("bccmt_tools."):
                yield name, node.lineno


def test_no_module_imports_from_a_layer_above_it():
    ranks = layers()
    upward, unknown = [], set()
    for path in sorted(PACKAGE.rglob("*.py")):
        module = ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
        own = top_name(module)
        for name, line in imports(path, module):
            target = top_name(name)
            for side in (own, target):
                if side is not None and side not in ranks:
                    unknown.add(side)
            if own in ranks and target in ranks and ranks[target] > ranks[own]:
                upward.append(f"{path.relative_to(ROOT)}:{line}: imports {name} ({target} is above {own})")
    assert not unknown, f"docs/architecture.md: the layer line does not place {sorted(unknown)}"
    assert not upward, "\n".join(upward)


def test_every_package_folder_is_described():
    text = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    folders = sorted(p.relative_to(ROOT).as_posix() for p in PACKAGE.iterdir()
                     if p.is_dir() and (p / "__init__.py").is_file())
    missing = [f for f in folders if f"[{f}/]" not in text]
    assert not missing, f"docs/architecture.md: no line for {missing}"
