"""Layering rules import-linter cannot express (it cannot name a stdlib submodule or a function):
only ``controller.helm`` starts processes through asyncio, and only the catalog (chart indexes) and
``controller.github`` (pull-request comments) open HTTP connections with ``urllib.request``/``http.client``
(``urllib.parse`` is string handling and allowed everywhere)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

CONTROLLER = Path(__file__).resolve().parents[2] / "controller"
PROCESS_CALLS = {"create_subprocess_exec", "create_subprocess_shell", "system", "popen", "execv", "execvp",
                 "spawnv", "spawnl", "posix_spawn"}
NETWORK_MODULES = {"urllib.request", "urllib.error", "http.client", "socket"}


def _modules() -> list[Path]:
    return sorted(CONTROLLER.rglob("*.py"))


def _package(path: Path) -> str:
    return path.relative_to(CONTROLLER).parts[0]


def _process_calls(tree: ast.AST) -> set[str]:
    return {node.func.attr for node in ast.walk(tree)
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in PROCESS_CALLS}


def _network_imports(tree: ast.AST) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name in NETWORK_MODULES}
        elif isinstance(node, ast.ImportFrom) and node.module is not None:
            if node.module in NETWORK_MODULES:
                found.add(node.module)
            found |= {f"{node.module}.{alias.name}" for alias in node.names} & NETWORK_MODULES
    return found


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(CONTROLLER)))
def test_only_the_helm_edge_starts_processes(path: Path) -> None:
    calls = _process_calls(ast.parse(path.read_text(encoding="utf-8")))
    assert _package(path) == "helm" or not calls, f"{path.name} starts processes: {sorted(calls)}"


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(CONTROLLER)))
def test_only_the_catalog_and_github_edges_open_http_connections(path: Path) -> None:
    imports = _network_imports(ast.parse(path.read_text(encoding="utf-8")))
    assert _package(path) in {"catalog", "github"} or not imports, f"{path.name} imports {sorted(imports)}"
