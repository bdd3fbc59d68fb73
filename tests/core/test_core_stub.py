"""The stub ``_core.pyi`` carries the Rust docs: every public class, method,
property and function it declares has a docstring, and that docstring is the
extension's own ``__doc__`` (the Rust ``///`` comment), so the two never
drift apart. (``mypy.stubtest``, run by CI, checks the signatures.)
"""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import pytest

import imagemapper
from imagemapper import _core

STUB = Path(imagemapper.__file__).with_name("_core.pyi")


def stubDefinitions() -> list[tuple[str, ast.AST]]:
    """``(qualified name, node)`` of every public class, method, property and
    function in the stub (no dunder, no ``_private`` name)."""
    found: list[tuple[str, ast.AST]] = []

    def visit(body: list[ast.stmt], prefix: str) -> None:
        for node in body:
            if not isinstance(node, ast.ClassDef | ast.FunctionDef):
                continue
            if node.name.startswith("_"):
                continue
            found.append((prefix + node.name, node))
            if isinstance(node, ast.ClassDef):
                visit(node.body, f"{prefix}{node.name}.")

    visit(ast.parse(STUB.read_text()).body, "")
    return found


def runtimeDoc(qualname: str) -> str | None:
    obj = _core
    for part in qualname.split("."):
        owner, obj = obj, getattr(obj, part)
    if isinstance(owner, type):
        # A method or a property: its own doc, not the doc of what it returns.
        obj = inspect.getattr_static(owner, part)
    return obj.__doc__


DEFINITIONS = stubDefinitions()


def test_the_stub_declares_the_extension():
    names = {q for q, _ in stubDefinitions()}
    # Spot check against the extension itself (stubtest checks all of it in CI).
    assert {"Box2I", "Box2I.getMin", "Box2I.width", "generate_grid"} <= names
    public = {n for n in dir(_core) if not n.startswith("_")}
    assert public <= {q for q in names if "." not in q}


@pytest.mark.parametrize(("qualname", "node"), DEFINITIONS, ids=[q for q, _ in DEFINITIONS])
def test_stub_docstring_is_the_rust_doc(qualname, node):
    doc = ast.get_docstring(node)
    assert doc, f"{qualname} has no docstring in _core.pyi"
    rust = runtimeDoc(qualname)
    assert rust, f"{qualname} has no /// doc in rust/imagemapper-py"
    assert doc == inspect.cleandoc(rust), (
        f"the docstring of {qualname} in _core.pyi differs from its Rust /// doc"
    )
