"""The import rules of the README's architecture section, checked on every import statement
(module level or inside a function) of every Python file of each layer."""

from __future__ import annotations

import ast
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


def imported_modules(path: Path) -> set[str]:
    """Absolute module names of every import in the file (``from a import b`` gives a and a.b)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


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
    import subprocess
    import sys

    modules = sorted(
        f"dashboard.{path.stem}"
        for path in (ROOT / "dashboard").glob("*.py")
        if path.stem not in ("__init__", "app")
    )
    code = (
        f"import sys; sys.path.insert(0, {str(ROOT)!r})\n"
        + "".join(f"import {name}\n" for name in modules)
        + "import core.previews, core.projection, core.reports, core.statistics\n"
        + "print(sorted(m for m in ('torch', 'scipy.stats') if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert result.stdout.strip() == "[]", result.stderr
