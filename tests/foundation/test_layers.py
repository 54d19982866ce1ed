"""Dependencies point one way: the conversation log at the bottom, the CRM and identity on it,
then everything else (connectors, actions, handoff, console, workers). A module that imports
from a layer above its own fails here, naming the file and the import."""
from __future__ import annotations

import ast
from pathlib import Path
from typing import Iterator, List, Tuple

import pytest

PROJECT = Path(__file__).resolve().parents[2]

# package -> the project packages it may import (besides itself and the leaves below)
ALLOWED = {
    "threadline/conversation": set(),
    "threadline/language": set(),
    "threadline/privacy": set(),
    "threadline/crm": {"threadline.conversation"},
    "threadline/identity": {"threadline.conversation", "threadline.crm"},
}
PROJECT_TOPS = ("threadline", "connectors", "actions", "tests", "bench")
# Modules every layer may use: they import nothing of the project but each other.
LEAVES = {"threadline.settings", "threadline.quiet", "threadline.privacy"}


def project_imports(package: str) -> Iterator[Tuple[Path, int, str]]:
    for path in sorted((PROJECT / package).rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names: List[str] = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            for name in names:
                if name.split(".")[0] in PROJECT_TOPS:
                    yield path, node.lineno, name


def layer_of(module: str) -> str:
    parts = module.split(".")
    return ".".join(parts[:2]) if parts[0] == "threadline" and len(parts) > 1 else parts[0]


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_package_imports_only_layers_below(package):
    own = package.replace("/", ".")
    allowed = ALLOWED[package] | {own} | LEAVES
    upward = [f"{path.relative_to(PROJECT)}:{line} imports {module}"
              for path, line, module in project_imports(package) if layer_of(module) not in allowed]
    assert upward == [], "imports from a layer above:\n" + "\n".join(upward)


def test_the_check_sees_imports_inside_functions():
    # identity builds the tracker store lazily (inside a method): the walk must reach it.
    found = {module for _, _, module in project_imports("threadline/identity")}
    assert "threadline.conversation.tracker_store" in found
