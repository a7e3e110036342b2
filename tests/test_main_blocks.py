"""Every ``if __name__ == "__main__":`` block of the package imports names that exist.

Such a block runs only as ``python -m MODULE`` (or as a script), never under an import, so a
name it imports that has moved is found by no other test; here each one is resolved.
"""

from __future__ import annotations

import ast
import importlib
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


@pytest.mark.parametrize(("module", "name"), CASES)
def test_a_main_block_imports_an_existing_name(module: str, name: str) -> None:
    imported = importlib.import_module(module)
    if not hasattr(imported, name):  # a submodule imported by name
        importlib.import_module(f"{module}.{name}")
