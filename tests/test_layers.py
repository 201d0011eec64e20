"""The import layers (pyproject.toml, checked by lint-imports in `make lint`) name every module:
a module no layer names would be checked by no one."""

from __future__ import annotations

import ast
import pkgutil
import tomllib
from pathlib import Path

import madoguchi

ROOT = Path(__file__).resolve().parent.parent


def _layer_entries() -> set[str]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    (contract,) = [c for c in config["tool"]["importlinter"]["contracts"] if c["type"] == "layers"]
    return {
        name.strip() for layer in contract["layers"] for name in layer.replace("|", ":").split(":")
    }


def _within(module: str, entries: set[str]) -> bool:
    return any(module == entry or module.startswith(entry + ".") for entry in entries)


def test_every_module_has_a_layer() -> None:
    entries = _layer_entries()
    found = list(pkgutil.walk_packages(madoguchi.__path__, "madoguchi."))
    unlayered = [info.name for info in found if not info.ispkg and not _within(info.name, entries)]
    assert not unlayered, f"Give these modules a layer in pyproject.toml: {unlayered}"


def test_a_package_listed_module_by_module_imports_nothing_itself() -> None:
    # Its __init__ is in no layer, so an import there would escape the contract.
    entries = _layer_entries()
    found = list(pkgutil.walk_packages(madoguchi.__path__, "madoguchi."))
    for info in found:
        if info.ispkg and not _within(info.name, entries):
            init = ROOT / "src" / Path(*info.name.split(".")) / "__init__.py"
            tree = ast.parse(init.read_text(encoding="utf-8"))
            imports = [n for n in ast.walk(tree) if isinstance(n, ast.Import | ast.ImportFrom)]
            assert not imports, info.name
