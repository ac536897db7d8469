"""dashboard.warmup: the modules it imports in the background exist, and it starts once."""

from __future__ import annotations

import importlib
import threading

import pytest

from dashboard import warmup


@pytest.mark.parametrize("name", warmup.MODULES)
def test_every_warmed_module_imports(name: str) -> None:
    assert importlib.import_module(name).__name__ == name  # a typo would warm nothing


def test_starts_once_per_process(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(warmup, "_started", type(warmup._started)())
    imported: list[str] = []
    monkeypatch.setattr(warmup.importlib, "import_module", imported.append)
    assert warmup.start() is True
    assert warmup.start() is False
    for thread in [t for t in threading.enumerate() if t.name == "forgelens-warmup"]:
        thread.join(timeout=30)
    assert imported == list(warmup.MODULES)
