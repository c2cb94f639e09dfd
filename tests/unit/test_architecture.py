"""The import contract (ARCHITECTURE.md, [tool.importlinter] in pyproject.toml), checked with import-linter.

One `lint-imports` run for the module; each contract is its own test, and a broken one fails with the exact
imports that break it (importer -> imported, line)."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "voxanne_admin"
CONFIG = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
CONTRACTS = {c["id"]: c for c in CONFIG["contracts"]}


@pytest.fixture(scope="module")
def lint_output() -> tuple[int, str]:
    executable = Path(sys.executable).with_name("lint-imports")
    proc = subprocess.run([str(executable), "--no-cache", "--no-logo"], cwd=ROOT, capture_output=True, text=True,
                          timeout=300)
    assert "Could not" not in proc.stderr, proc.stderr
    return proc.returncode, proc.stdout + proc.stderr


def _broken_section(output: str, name: str) -> str | None:
    """The text import-linter prints under a broken contract's heading, or None when it is kept."""
    if "Broken contracts" not in output:
        return None
    broken = output.split("Broken contracts", 1)[1]
    match = re.search(rf"^{re.escape(name)}\n-+\n(.*?)(?=^\S[^\n]*\n-+\n|\Z)", broken, flags=re.M | re.S)
    return match.group(1).strip() if match else None


def _imports_behind(section: str) -> str:
    """The module-level imports behind each package dependency import-linter would remove ("- .a -> .b")."""
    import grimp

    graph = grimp.build_graph("voxanne_admin")
    lines = []
    for importer, imported in re.findall(r"^- \.(\w+) -> \.(\w+)", section, flags=re.M):
        for a in (f"voxanne_admin.{importer}", f"voxanne_admin.{importer}.**"):
            for b in (f"voxanne_admin.{imported}", f"voxanne_admin.{imported}.**"):
                for item in graph.find_matching_direct_imports(import_expression=f"{a} -> {b}"):
                    lines.append(f"    {item['importer']} -> {item['imported']}")
    return "\n".join(sorted(set(lines)))


@pytest.mark.parametrize("contract_id", sorted(CONTRACTS))
def test_import_contract_is_kept(lint_output, contract_id):
    returncode, output = lint_output
    assert "Contracts:" in output, output  # the run itself worked
    section = _broken_section(output, CONTRACTS[contract_id]["name"])
    if section is not None and CONTRACTS[contract_id]["type"] == "acyclic_siblings":
        section += "\n" + _imports_behind(section)
    assert section is None, f"contract {contract_id!r} is broken by:\n{section}"
    if returncode != 0:
        assert "BROKEN" in output and section is None  # another contract failed, not this one


def test_every_top_level_module_is_covered_by_the_httpx_contract():
    """A new top-level package must be listed (or be providers/ or sandbox/, which may use httpx)."""
    tops = _top_level_modules()
    listed = {m.split(".", 1)[1] for m in CONTRACTS["httpx-only-in-providers"]["source_modules"]}
    assert tops - listed == {"providers", "sandbox"}


# Top-level modules that sit at the edge (they wire the app, load data or serve): they may import anything.
EDGE_LEVEL = {"api", "ui", "cli", "serve", "migrate", "models", "voxanne_admin", "demo", "demo_history", "sandbox"}
# Leaf utilities any layer may import; they import nothing of voxanne_admin themselves.
LEAF_UTILITIES = {"privacy", "formatting", "metrics"}


def _top_level_modules() -> set[str]:
    return {p.stem for p in PACKAGE.iterdir() if (p.suffix == ".py" and p.stem != "__init__") or
            (p.is_dir() and (p / "__init__.py").exists())}


def test_every_top_level_module_has_a_layer():
    """A top-level module is either edge-level (ARCHITECTURE.md) or covered by the no-edge-imports contract."""
    domain = {m.split(".", 1)[1] for m in CONTRACTS["domain-not-importing-edges"]["source_modules"]}
    assert _top_level_modules() - domain == EDGE_LEVEL
    assert domain >= LEAF_UTILITIES


def test_leaf_utilities_are_held_to_importing_nothing_of_the_app():
    """privacy/ and formatting may be imported by every layer, so they may import no other top-level module."""
    contract = CONTRACTS["utilities-are-leaves"]
    assert {m.split(".", 1)[1] for m in contract["source_modules"]} == LEAF_UTILITIES
    forbidden = {m.split(".", 1)[1] for m in contract["forbidden_modules"] if m.startswith("voxanne_admin.")}
    assert forbidden == _top_level_modules() - LEAF_UTILITIES


def test_no_test_seams_in_production_code():
    """Production code reads no test-only knobs: no `_poison` payload checks, no VOXANNE_TEST_* variables."""
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and (
                    node.value == "_poison" or node.value.startswith("VOXANNE_TEST_")):
                offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}: {node.value}")
    assert offenders == []


# Modules that are data rather than code may be longer (term lists, country tables); none is, today.
LONG_DATA_MODULES: set[str] = set()
MAX_MODULE_LINES = 500


def test_no_module_is_over_500_lines():
    """A module over ~500 lines does several jobs: split it by responsibility (ARCHITECTURE.md)."""
    long = {str(path.relative_to(ROOT)): n for path in PACKAGE.rglob("*.py")
            if (n := len(path.read_text().splitlines())) > MAX_MODULE_LINES}
    assert {name: n for name, n in long.items() if name not in LONG_DATA_MODULES} == {}
