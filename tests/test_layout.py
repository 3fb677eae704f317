"""The layout holds: layers import only downwards, no import cycle, no file over 400 lines,
no provider branch outside infra/, and one descriptor per provider."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
from scalecloud.infra.registry import PROVIDERS, descriptor

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = {"cli": "scalecloud.cli", "infra": "scalecloud.infra",
            "workloads": "scalecloud.workloads", "scalecloud": "scalecloud"}  # fmt: skip
# Which layers a layer may import (data flows down): cli > API > workloads > infra.
ALLOWED = {
    "infra": {"infra"},
    "workloads": {"workloads", "infra"},
    "api": {"api", "workloads", "infra"},
    "cli": {"cli", "api", "workloads", "infra"},
}
MAX_LINES = 400


def modules() -> dict[str, Path]:
    found = {}
    for folder, package in PACKAGES.items():
        for path in (ROOT / folder).rglob("*.py"):
            parts = [p for p in path.relative_to(ROOT / folder).with_suffix("").parts
                     if p != "__init__"]  # fmt: skip
            found[".".join([package, *parts])] = path
    return found


def layer(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in ("cli", "infra", "workloads") else "api"


def imports(path: Path, known: dict[str, Path]) -> set[str]:
    """Every scalecloud module ``path`` imports, at its top or inside a function."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
        found.update(n for n in names if n in known)
    return found


def graph() -> dict[str, set[str]]:
    known = modules()
    return {name: imports(path, known) - {name} for name, path in known.items()}


def test_layers_import_only_downwards():
    wrong = [
        f"{a} imports {b}"
        for a, targets in graph().items()
        for b in targets
        if layer(b) not in ALLOWED[layer(a)]
    ]
    assert wrong == []


def test_no_import_cycle():
    edges = graph()
    cycles = []

    def visit(node: str, path: list[str], done: set[str]) -> None:
        for nxt in edges[node]:
            if nxt in path:
                cycles.append([*path[path.index(nxt) :], nxt])
            elif nxt not in done:
                visit(nxt, [*path, nxt], done)
        done.add(node)

    done: set[str] = set()
    for start in edges:
        if start not in done:
            visit(start, [start], done)
    assert cycles == []


def test_no_file_over_400_lines():
    long = {str(p.relative_to(ROOT)): n for p in modules().values()
            if (n := len(p.read_text().splitlines())) > MAX_LINES}  # fmt: skip
    assert long == {}


BRANCH = re.compile(
    r"""provider\w*\s*(==|!=)\s*["']|provider\w*\s+(not\s+)?in\s+\(\s*["']|"""
    r"""["'](local|minikube|gcp|aws|azure)["']\s*(==|!=)"""
)


@pytest.mark.parametrize("folder", ["cli", "workloads", "scalecloud"])
def test_no_provider_branch_outside_infra(folder):
    found = [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
        for path in (ROOT / folder).rglob("*.py")
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if BRANCH.search(line)
    ]
    assert found == []


def test_the_branch_pattern_finds_a_branch():
    assert BRANCH.search('if provider == "local":')
    assert BRANCH.search("if spec.provider != 'gcp' and x:")
    assert BRANCH.search('if provider_name in ("gcp", "aws"):')
    assert not BRANCH.search('provider: str = "local",')


@pytest.mark.parametrize("name", list(PROVIDERS))
def test_each_provider_module_exports_its_descriptor(name):
    found = descriptor(name)
    assert found.name == name and found.driver.name == name  # type: ignore[attr-defined]
    assert found.down_summary
    if found.kubernetes:
        assert callable(found.program) and found.extra and found.modules
    else:
        assert found.program is None and not found.options
