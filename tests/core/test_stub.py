"""The hand-written stub dwc_core/_native.pyi names exactly what the built module has."""

from __future__ import annotations

import ast
from pathlib import Path

import dwc_core
from dwc_core import _native

STUB = Path(dwc_core.__file__).with_name("_native.pyi")


def stub_tree() -> ast.Module:
    return ast.parse(STUB.read_text(), filename=str(STUB))


def stub_public_names() -> set[str]:
    names: set[str] = set()
    for node in stub_tree().body:
        if isinstance(node, ast.FunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
        elif isinstance(node, ast.Assign):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
    return {n for n in names if not n.startswith("_") or n == "__version__"} - {"__all__"}


def module_public_names() -> set[str]:
    return {n for n in dir(_native) if not n.startswith("_") or n == "__version__"}


def stub_all() -> list[str]:
    for node in stub_tree().body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets
        ):
            return list(ast.literal_eval(node.value))
    raise AssertionError("the stub has no __all__")


def test_every_stub_name_exists_in_the_module() -> None:
    missing = stub_public_names() - module_public_names()
    assert not missing, f"in _native.pyi but not in the built module: {sorted(missing)}"


def test_every_module_name_is_in_the_stub() -> None:
    undocumented = module_public_names() - stub_public_names()
    assert not undocumented, f"in the built module but not in _native.pyi: {sorted(undocumented)}"


def test_stub_all_and_package_all_agree() -> None:
    assert sorted(stub_all()) == sorted(stub_public_names())
    assert sorted(dwc_core.__all__) == sorted(stub_all())
    for name in dwc_core.__all__:
        assert getattr(dwc_core, name) is getattr(_native, name)


def test_class_members_match() -> None:
    for node in stub_tree().body:
        if not isinstance(node, ast.ClassDef) or node.name.startswith("_"):
            continue  # private names are typing-only helpers (e.g. TypedDicts)
        declared = {
            item.name
            for item in node.body
            if isinstance(item, ast.FunctionDef) and not item.name.startswith("_")
        }
        cls = getattr(_native, node.name)
        actual = {n for n in vars(cls) if not n.startswith("_")}
        assert declared == actual, node.name
