"""Every ``if __name__ == "__main__":`` block of the package imports names that exist.

Such a block runs only as ``python -m MODULE`` (or as a script), never under an import, so a
name it imports that has moved is found by no other test; here each one is resolved.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
SCRIPTS = [*SRC.rglob("*.py"), *Path(SRC.parent).glob("*.py")]


def _main_block_imports(path: Path) -> list[tuple[str, str]]:
    """The ``(module, name)`` pairs imported inside the file's ``__main__`` block."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    imports = []
    for node in tree.body:
        test = getattr(node, "test", None)
        if not (
            isinstance(node, ast.If)
            and isinstance(test, ast.Compare)
            and isinstance(test.left, ast.Name)
            and test.left.id == "__name__"
        ):
            continue
        for inner in ast.walk(node):
            if isinstance(inner, ast.ImportFrom) and inner.module:
                imports += [(inner.module, alias.name) for alias in inner.names]
    return imports


CASES = [
    pytest.param(module, name, id=f"{path.relative_to(SRC.parent)}:{module}.{name}")
    for path in SCRIPTS
    for module, name in _main_block_imports(path)
]


def test_the_package_has_main_blocks() -> None:
    assert len(CASES) >= 10


def _top_level_names(path: Path) -> set[str]:
    """Names a module defines or imports at its top level (read, not imported: no torch)."""
    names: set[str] = set()
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Import | ast.ImportFrom):
            names.update((alias.asname or alias.name).split(".")[0] for alias in node.names)
        elif isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names.update(t.id for t in targets if isinstance(t, ast.Name))
    return names


@pytest.mark.parametrize(("module", "name"), CASES)
def test_a_main_block_imports_an_existing_name(module: str, name: str) -> None:
    spec = importlib.util.find_spec(module)
    assert spec is not None and spec.origin is not None, f"no module {module}"
    if importlib.util.find_spec(f"{module}.{name}") if spec.submodule_search_locations else None:
        return  # a submodule imported by name
    assert name in _top_level_names(Path(spec.origin)), f"{module} has no {name}"
