"""The house rules of docs/architecture.md, checked on the source: layers and cycles (import-linter), one import path
per name, small folders, unique module names, contracts rather than essays in module docstrings."""

from __future__ import annotations

import ast
import importlib
import json
import os
import re
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "helpers"
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")
MAX_MODULES_PER_FOLDER = 15
MAX_DOCSTRING_LINES = 20


def _modules() -> dict[str, Path]:
    """Dotted name → file of every module of the package."""
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(REPO).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = path
    return out


MODULES = _modules()


def _tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def _top_level_names(tree: ast.Module) -> set[str]:
    """Names a module defines itself (functions, classes, assignments), not the ones it imports."""
    names = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names |= {n.id for target in node.targets for n in ast.walk(target) if isinstance(n, ast.Name)}
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
    return names


def _dunder_all(tree: ast.Module) -> list[str] | None:
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets):
            return [element.value for element in node.value.elts]
    return None


DEFINED = {name: _top_level_names(_tree(path)) for name, path in MODULES.items()}
EXPORTED = {name: _dunder_all(_tree(path)) or [] for name, path in MODULES.items() if path.name == "__init__.py"}


def _lint_imports(cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(LINT_IMPORTS), "--no-cache"], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=300)


# ------------------------------------------------------------------------------------------------ layers, cycles
def test_layer_and_cycle_contracts_hold() -> None:
    result = _lint_imports(REPO)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 kept, 0 broken" in result.stdout


@pytest.mark.parametrize(("module", "line", "contract"), [
    ("base/atomic.py", "import helpers.eg3d.generator\n", "Layers"),  # a base utility importing a layer above
    ("dataset_folder/layout.py", "import helpers.generation.viewpoints\n", "Layers"),
    ("mesh/mesh.py", "from helpers import viewer\n", "No import cycles"),  # same layer, but viewer imports mesh
    ("eg3d/ops.py", "import helpers.eg3d.generator\n", "No import cycles"),  # generator → … → ops → generator
])
def test_contracts_catch_a_wrong_way_import(tmp_path: Path, module: str, line: str, contract: str) -> None:
    """The same contracts on a copy of the package with one bad import added: lint-imports must refuse it."""
    shutil.copytree(PACKAGE, tmp_path / "helpers", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / "pyproject.toml", tmp_path / "pyproject.toml")
    target = tmp_path / "helpers" / module
    text = target.read_text(encoding="utf-8")
    head, sep, rest = text.partition("from __future__ import annotations\n")
    target.write_text(head + sep + line + rest if sep else line + text, encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    result = _lint_imports(tmp_path, env)
    assert result.returncode == 1, result.stdout + result.stderr
    broken = [row for row in result.stdout.splitlines() if row.strip().endswith("BROKEN")]
    assert any(row.startswith(contract) for row in broken), result.stdout


# ------------------------------------------------------------------------------------------------ one import path
def test_modules_export_only_what_they_define() -> None:
    """A module's ``__all__`` lists its own names: re-exports live only in a package's ``__init__``."""
    reexports = {name: sorted(set(_dunder_all(_tree(path)) or []) - DEFINED[name])
                 for name, path in MODULES.items() if path.name != "__init__.py"}
    assert {name: names for name, names in reexports.items() if names} == {}


def test_package_exports_are_defined_below_it_and_do_not_shadow_submodules() -> None:
    for package, names in EXPORTED.items():
        for name in names:
            assert f"{package}.{name}" not in MODULES, f"{package} exports {name}, which is also its submodule"
            definers = [m for m in MODULES if m.startswith(package + ".") and name in DEFINED[m]]
            assert definers, f"{package}.__all__ names {name}, which no module under it defines"


def _imports_of(source: str, where: str) -> list[tuple[str, str, str]]:
    """(module, name, where) of every ``from helpers… import name`` in a piece of source."""
    found = []
    for node in ast.walk(ast.parse(source, filename=where)):
        if isinstance(node, ast.ImportFrom) and not node.level and (node.module or "").startswith("helpers"):
            found += [(node.module, alias.name, f"{where}:{node.lineno}") for alias in node.names]
    return found


def _all_imports() -> list[tuple[str, str, str]]:
    found = []
    for folder in ("helpers", "tests", "benchmarks"):
        for path in sorted((REPO / folder).rglob("*.py")):
            found += _imports_of(path.read_text(encoding="utf-8"), str(path.relative_to(REPO)))
    for path in sorted((REPO / "notebooks").glob("*.ipynb")):
        cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
        for index, cell in enumerate(cells):
            if cell["cell_type"] == "code":
                found += _imports_of("".join(cell["source"]), f"{path.relative_to(REPO)}[{index}]")
    return found


def test_every_name_is_imported_from_where_it_lives() -> None:
    """Across the package, tests, benchmarks and notebooks, a name comes from the module that defines it, from a
    package ``__init__`` that exports it, or is a module itself: never through another module's imports."""
    wrong = []
    for module, name, where in _all_imports():
        if f"{module}.{name}" in MODULES or name in DEFINED.get(module, set()) and MODULES[module].name != "__init__.py":
            continue
        if name in EXPORTED.get(module, []) or (module == "helpers" and name == "__version__"):
            continue
        wrong.append(f"{where}: from {module} import {name}")
    assert wrong == []


def test_project_imports_are_at_module_level() -> None:
    """Imports of the package's own modules are never deferred into functions (that hid cycles); only optional
    heavy third-party packages (transformers, dlib, kaggle, …) are imported where they are used."""
    inner = []
    for name, path in MODULES.items():
        for func in ast.walk(_tree(path)):
            if isinstance(func, (ast.FunctionDef, ast.AsyncFunctionDef)):
                for node in ast.walk(func):
                    targets = ([node.module] if isinstance(node, ast.ImportFrom) and not node.level else
                               [alias.name for alias in node.names] if isinstance(node, ast.Import) else [])
                    if any((t or "").split(".")[0] == "helpers" for t in targets):
                        inner.append(f"{path.relative_to(REPO)}:{node.lineno}")
    assert inner == []


# ------------------------------------------------------------------------------------------------ layout
def test_folders_stay_small_and_module_names_unique() -> None:
    per_folder = Counter(path.parent for path in MODULES.values() if path.name != "__init__.py")
    assert {str(folder.relative_to(REPO)): n for folder, n in per_folder.items() if n > MAX_MODULES_PER_FOLDER} == {}
    names = Counter(path.stem for path in MODULES.values() if path.name not in ("__init__.py", "__main__.py"))
    assert {stem: n for stem, n in names.items() if n > 1} == {}


def test_only_the_command_line_imports_the_demo() -> None:
    importers = [name for name, path in MODULES.items()
                 if any(module.startswith("helpers.demo") or (module == "helpers" and alias == "demo")
                        for module, alias, _ in _imports_of(path.read_text(encoding="utf-8"), name))]
    assert importers == []  # helpers.cli reaches it by name (importlib), only when the demo command runs
    assert '"helpers.demo"' in MODULES["helpers.cli"].read_text(encoding="utf-8")


def test_module_docstrings_state_a_contract_not_an_essay() -> None:
    long = {}
    for name, path in MODULES.items():
        doc = ast.get_docstring(_tree(path))
        assert doc, f"{name} has no docstring"
        if len(doc.splitlines()) > MAX_DOCSTRING_LINES:
            long[name] = len(doc.splitlines())
    assert long == {}, f"module docstrings over {MAX_DOCSTRING_LINES} lines (move the essay to docs/): {long}"


def _resolves(reference: str) -> bool:
    """Whether ``helpers.a.b.Name`` names a module (longest importable prefix) and attributes that exist."""
    parts = reference.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            target = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for attribute in parts[cut:]:
            if not hasattr(target, attribute):
                return False
            target = getattr(target, attribute)
        return True
    return False


def test_dotted_references_in_docs_and_docstrings_resolve() -> None:
    """Every ``helpers.…`` path named in the package, the docs, the README, the notebooks and the benchmarks exists
    (moves leave no stale pointers behind)."""
    pattern = re.compile(r"(?<![\w/.-])helpers(?:\.[A-Za-z_]\w*)+")
    files = [REPO / "README.md", *sorted((REPO / "docs").rglob("*.md")), *sorted((REPO / "notebooks").glob("*.ipynb"))]
    for folder in ("helpers", "benchmarks"):
        files += sorted(path for path in (REPO / folder).rglob("*") if path.suffix in (".py", ".md", ".sh"))
    stale = set()
    for path in files:
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            for match in pattern.finditer(line):
                reference = match.group(0).rstrip(".")
                if not reference.endswith((".py", ".md", ".json")) and not _resolves(reference):
                    stale.add(f"{path.relative_to(REPO)}:{number}: {reference}")
    assert sorted(stale) == []
