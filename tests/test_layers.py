"""socketsvc's layers, as README.md's "Import graph" draws them: the test reads the drawing and
the code, and fails on an import the drawing does not show or one that points upwards."""

from __future__ import annotations

import ast
import re
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "socketsvc"
TEMPLATES = PACKAGE / "templates"


def drawn() -> list[tuple[str, set[str]]]:
    """The README's lines ``folder -> a, b``, top layer first."""
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("### Import graph") :]
    block = re.search(r"```text\n(.*?)```", section, re.DOTALL)
    assert block, "README.md: the Import graph section has no ```text block"
    lines = []
    for line in block.group(1).splitlines():
        folder, _, targets = line.partition("->")
        lines.append((folder.strip(), {t.strip() for t in targets.split(",") if t.strip()}))
    return lines


def layer_of(path: Path) -> str:
    """``sio`` for socketsvc/sio/x.py, ``cli`` for socketsvc/cli.py."""
    relative = path.relative_to(PACKAGE)
    return relative.parts[0] if len(relative.parts) > 1 else relative.stem


def imported(path: Path, node: ast.AST) -> list[str]:
    """The socketsvc modules one import statement names (relative ones resolved; a name that
    is no module, such as ``from socketsvc import __version__``, is its package's
    ``__init__``)."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if not isinstance(node, ast.ImportFrom):
        return []
    if node.level:
        package = list(path.relative_to(ROOT).with_suffix("").parts[: -node.level])
        module = ".".join([*package, node.module] if node.module else package)
    else:
        module = node.module or ""
    if module != "socketsvc":
        return [module]
    return [
        f"socketsvc.{alias.name}"
        if (PACKAGE / alias.name).is_dir() or (PACKAGE / f"{alias.name}.py").exists()
        else "socketsvc.__init__"
        for alias in node.names
    ]


def actual() -> dict[str, dict[str, list[str]]]:
    """layer -> the layers it imports -> where (every import, in functions and
    ``TYPE_CHECKING`` blocks too)."""
    edges: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.is_relative_to(TEMPLATES):
            continue  # files `socketsvc new` copies into a user's app: the app's code, not ours
        source = layer_of(path)
        edges[source]  # a layer that imports nothing is a layer too
        for node in ast.walk(ast.parse(path.read_text())):
            for module in imported(path, node):
                parts = module.split(".")
                if parts[0] == "socketsvc" and len(parts) > 1 and parts[1] != source:
                    edges[source][parts[1]].append(f"{path.relative_to(ROOT)}:{node.lineno}")
    return edges


def test_the_readme_draws_every_layer_once() -> None:
    folders = [folder for folder, _ in drawn()]
    assert len(folders) == len(set(folders)), folders
    assert set(folders) == set(actual()), "README's Import graph and socketsvc/ name other layers"


def test_no_import_points_upwards_or_is_missing_from_the_drawing() -> None:
    lines = drawn()
    rank = {folder: len(lines) - i for i, (folder, _) in enumerate(lines)}
    code = actual()
    wrong = []
    for folder, targets in lines:
        for target in sorted(set(code[folder]) | targets):
            where = code[folder].get(target, [])
            if target in targets and not where:
                wrong.append(f"{folder} -> {target}: drawn, but nothing imports it")
            elif target not in targets:
                wrong.append(f"{folder} -> {target}: not drawn ({', '.join(where)})")
            elif rank[target] >= rank[folder]:
                wrong.append(f"{folder} -> {target}: points upwards ({', '.join(where)})")
    assert not wrong, "\n".join(wrong)


def test_the_drawing_catches_an_upward_import(tmp_path: Path) -> None:
    """The check itself: an import of handlers from sio is found, with its place."""
    path = PACKAGE / "sio" / "server.py"
    node = ast.parse("from socketsvc.handlers.base import BaseNamespace").body[0]
    assert imported(path, node) == ["socketsvc.handlers.base"]
    relative = ast.parse("from ..handlers import base").body[0]
    assert imported(path, relative) == ["socketsvc.handlers"]
    sibling = ast.parse("from .tasks import TaskSet").body[0]
    assert imported(path, sibling) == ["socketsvc.sio.tasks"]
    version = ast.parse("from socketsvc import __version__, config").body[0]
    assert imported(path, version) == ["socketsvc.__init__", "socketsvc.config"]


MAX_LINES = 400  # a module that grows past it holds more than one job: split it


def test_no_module_is_over_400_lines() -> None:
    """Small modules with one job each: every ``.py`` file under socketsvc/ (the templates
    `socketsvc new` copies too), counted in lines."""
    sizes = {path: len(path.read_text().splitlines()) for path in PACKAGE.rglob("*.py")}
    assert sizes, "no modules found under socketsvc/"
    over = [f"{p.relative_to(ROOT)}: {n}" for p, n in sorted(sizes.items()) if n > MAX_LINES]
    assert not over, f"over {MAX_LINES} lines:\n" + "\n".join(over)
