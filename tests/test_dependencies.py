"""The package declares exactly what it imports (pyproject.toml), and needs no lifelines."""

from __future__ import annotations

import ast
import sys
import tomllib

from conftest import ROOT

# distribution name -> import name, where they differ
IMPORT_NAMES = {"pyyaml": "yaml", "pypandoc_binary": "pypandoc"}  # great_tables imports as itself
RUNTIME_ONLY = {"ipykernel"}  # declared, started as the reports' Jupyter kernel, never imported


def _declared() -> set[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    names = set()
    for requirement in project["dependencies"]:
        name = requirement.split(">")[0].split("<")[0].split("=")[0].split("[")[0].strip().lower()
        names.add(IMPORT_NAMES.get(name, name))
    return names


def _imported() -> set[str]:
    found = set()
    for file in (ROOT / "itoutcomes").rglob("*.py"):
        for node in ast.walk(ast.parse(file.read_text())):
            if isinstance(node, ast.Import):
                found |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                found.add(node.module.split(".")[0])
    return {name for name in found if name not in sys.stdlib_module_names and name != "itoutcomes"}


def test_declared_dependencies_are_the_imported_ones():
    declared, imported = _declared(), _imported()
    assert imported - declared == set(), "imported but not declared"
    assert declared - imported - RUNTIME_ONLY == set(), "declared but never imported"
    assert "lifelines" not in declared | imported and "seaborn" not in declared | imported
