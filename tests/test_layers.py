"""The import rules of the README's architecture section, checked on every import statement
(module level or inside a function) of every Python file of each layer: the layers of the
repository, the order of the packages inside core, and no import cycle anywhere."""

from __future__ import annotations

import ast
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# layer folder -> modules it must never import (a name and everything under it)
FORBIDDEN = {
    "core": ("streamlit", "plotly", "dashboard", "pages", "benchmarks", "tests"),
    "dashboard": ("pages", "core.cli", "benchmarks", "tests"),
    "pages": ("torch", "core.cli", "benchmarks", "tests"),
    "benchmarks": ("tests",),
}
# core's packages, lowest first; a package imports only packages of a lower rank (packages of
# one rank never import each other). The README's architecture section draws this order.
CORE_ORDER = (
    ("base",),
    ("storage",),
    ("nn",),
    ("scenarios", "selection"),
    ("records",),
    ("tasks",),
    ("run",),
    ("analysis",),
    ("cli",),
)
RANK = {package: rank for rank, packages in enumerate(CORE_ORDER) for package in packages}


def imports_of(path: Path) -> list[tuple[str, int]]:
    """(absolute module name, line) of every import in the file (``from a import b`` gives a and
    a.b: b may be a module)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.module, node.lineno))
            found += [(f"{node.module}.{alias.name}", node.lineno) for alias in node.names]
    return found


def imported_modules(path: Path) -> set[str]:
    return {name for name, _ in imports_of(path)}


def _violations(folder: str, forbidden: tuple[str, ...]) -> list[str]:
    found = []
    for path in sorted((ROOT / folder).rglob("*.py")):
        for name in sorted(imported_modules(path)):
            if any(name == bad or name.startswith(bad + ".") for bad in forbidden):
                found.append(f"{path.relative_to(ROOT)} imports {name}")
    return found


@pytest.mark.parametrize("folder", list(FORBIDDEN))
def test_layers_import_only_downwards(folder: str) -> None:
    assert _violations(folder, FORBIDDEN[folder]) == []


def _core_package(module: str) -> str | None:
    """The core package of ``core.<package>...`` (None for core itself and core.__main__)."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[0] == "core" and parts[1] in RANK else None


def core_order_violations(root: Path = ROOT) -> list[str]:
    """Every import inside core that does not point down the package order."""
    found = []
    for path in sorted((root / "core").rglob("*.py")):
        module = ".".join(path.relative_to(root).with_suffix("").parts)
        own = _core_package(module)
        if own is None:
            continue
        for name, line in imports_of(path):
            target = _core_package(name)
            if target is None or target == own:
                continue
            if RANK[target] >= RANK[own]:
                found.append(f"{path.relative_to(root)}:{line} ({own}) imports {name} ({target})")
    return sorted(set(found))


def test_core_packages_import_only_down_their_order() -> None:
    assert core_order_violations() == []


def test_every_core_module_lives_in_a_package_of_the_order() -> None:
    loose = sorted(
        path.name
        for path in (ROOT / "core").glob("*.py")
        if path.name not in ("__init__.py", "__main__.py")
    )
    packages = sorted(p.name for p in (ROOT / "core").iterdir() if (p / "__init__.py").is_file())
    assert loose == []
    assert packages == sorted(RANK)


def _modules(root: Path, folders: tuple[str, ...]) -> dict[str, Path]:
    modules = {}
    for folder in folders:
        for path in sorted((root / folder).rglob("*.py")):
            parts = list(path.relative_to(root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            modules[".".join(parts)] = path
    return modules


def import_cycles(root: Path = ROOT, folders: tuple[str, ...] = ("core", "dashboard", "pages")):
    """Strongly connected sets (more than one module) of the import graph between our modules,
    imports inside functions included; a package's ``__init__`` counts as a module, so a
    submodule importing its own package's face closes a cycle when the face imports it."""
    modules = _modules(root, folders)

    def owner(name: str) -> str | None:
        while name:
            if name in modules:
                return name
            name = name.rpartition(".")[0]
        return None

    edges: dict[str, set[str]] = defaultdict(set)
    for module, path in modules.items():
        for name, _ in imports_of(path):
            target = owner(name)
            if target and target != module:
                edges[module].add(target)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:  # Tarjan
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))
    for module in sorted(modules):
        if module not in index:
            visit(module)
    return found


def test_no_import_cycles_in_core_dashboard_or_pages() -> None:
    assert import_cycles() == []


def test_the_checks_catch_a_cycle_and_an_upward_import(tmp_path: Path) -> None:
    for package in ("base", "run"):
        (tmp_path / "core" / package).mkdir(parents=True)
        (tmp_path / "core" / package / "__init__.py").write_text("")
    (tmp_path / "core" / "__init__.py").write_text("")
    (tmp_path / "core" / "base" / "low.py").write_text("def f():\n    from core.run import high\n")
    (tmp_path / "core" / "run" / "high.py").write_text("from core.base import low\n")
    assert import_cycles(tmp_path, ("core",)) == [["core.base.low", "core.run.high"]]
    assert {v.split(" ")[0] for v in core_order_violations(tmp_path)} == {"core/base/low.py:2"}
    (tmp_path / "core" / "base" / "light.py").write_text("X = 1\n")
    (tmp_path / "core" / "base" / "heavy.py").write_text("import torch\n")
    (tmp_path / "core" / "base" / "user.py").write_text(
        "def f():\n    from core.base import light\n\n\ndef g():\n    from core.base import heavy\n"
    )
    hidden = [v for v in deferred_light_imports(tmp_path) if v.startswith("core/base/user.py")]
    assert hidden == ["core/base/user.py:2 imports core.base.light inside a function"]


# third-party packages whose import costs a visible fraction of a second (or a GPU context)
HEAVY = ("torch", "transformers", "scipy", "pandas", "pyarrow", "umap", "ray", "sklearn", "PIL")
HEAVY += ("safetensors", "matplotlib", "mlxtend")


def _module_level_imports(path: Path) -> set[str]:
    """Imports that run when the module loads (not those under ``if TYPE_CHECKING``)."""
    found: set[str] = set()
    for node in ast.parse(path.read_text(), filename=str(path)).body:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            continue
        for inner in ast.walk(node):
            if isinstance(inner, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                break
            if isinstance(inner, ast.Import):
                found.update(alias.name for alias in inner.names)
            elif isinstance(inner, ast.ImportFrom) and inner.module and inner.level == 0:
                found.add(inner.module)
                found.update(f"{inner.module}.{alias.name}" for alias in inner.names)
    return found


def deferred_light_imports(root: Path = ROOT) -> list[str]:
    """Imports of our own modules made inside a function although the module imported loads
    nothing heavy: such an import defers nothing and only hides a dependency from a reader."""
    modules = _modules(root, ("core",))

    def owner(name: str) -> str | None:
        while name:
            if name in modules:
                return name
            name = name.rpartition(".")[0]
        return None

    top = {m: _module_level_imports(path) for m, path in modules.items()}
    heavy: dict[str, bool] = {}

    def is_heavy(module: str, seen: frozenset[str] = frozenset()) -> bool:
        if module not in heavy:
            direct = any(name.split(".")[0] in HEAVY for name in top[module])
            below = (owner(name) for name in top[module])
            heavy[module] = direct or any(
                is_heavy(o, seen | {module}) for o in below if o and o != module and o not in seen
            )
        return heavy[module]

    found = []
    for module, path in modules.items():
        for name, line in _function_level_imports(path):
            target = owner(name)
            if target and target != module and not is_heavy(target):
                found.append(f"{path.relative_to(root)}:{line} imports {name} inside a function")
    return sorted(set(found))


def _function_level_imports(path: Path) -> list[tuple[str, int]]:
    found = []
    for function in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
            for node in ast.walk(function):
                if isinstance(node, ast.Import):
                    found += [(alias.name, node.lineno) for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                    found += [(f"{node.module}.{a.name}", node.lineno) for a in node.names]
    return found


def test_an_import_inside_a_function_defers_a_heavy_module() -> None:
    assert deferred_light_imports() == []


def test_test_modules_share_code_only_through_tests_helpers() -> None:
    found = []
    for path in sorted((ROOT / "tests").rglob("*.py")):
        for name in imported_modules(path):
            if name.startswith("tests.") and not name.startswith("tests.helpers"):
                found.append(f"{path.relative_to(ROOT)} imports {name}")
    assert found == []


def test_the_rule_finder_sees_imports_inside_functions(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text("def f():\n    from core.cli import parser\n    import torch.nn\n")
    assert {"core.cli", "core.cli.parser", "torch.nn"} <= imported_modules(sample)


def test_the_dashboard_modules_load_without_torch_or_scipy_stats() -> None:
    """A page's first visit waits for its imports: torch (about 2 s) and scipy.stats (about 1 s)
    load only where a page needs them (thumbnails from raw data, correlation tests), never for
    reading the store, its tables and its stored previews."""
    modules = sorted(
        f"dashboard.{path.stem}"
        for path in (ROOT / "dashboard").glob("*.py")
        if path.stem not in ("__init__", "app")
    )
    modules += [
        "core.records.previews",
        "core.analysis.projection",
        "core.analysis.reports",
        "core.base.statistics",
    ]
    code = (
        f"import sys; sys.path.insert(0, {str(ROOT)!r})\n"
        + "".join(f"import {name}\n" for name in modules)
        + "print(sorted(m for m in ('torch', 'scipy.stats') if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert result.stdout.strip() == "[]", result.stderr
