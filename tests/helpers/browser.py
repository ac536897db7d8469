"""What the browser tests share: Debian's Chromium, its flags for a closed network, free ports."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from benchmarks.bench_browser import (  # noqa: F401 - one set of browser flags, one port finder
    CHROMIUM,
    CHROMIUM_ARGS,
    free_port,
)
from core.store import RUNS_ENV

REPO = Path(__file__).resolve().parents[2]


@contextlib.contextmanager
def served(store: Path, log_path: Path, env: dict[str, str] | None = None) -> Iterator[str]:
    """``make run`` (the README's command) on ``store``: yields the app's URL once its health
    endpoint answers, and stops the server (its whole process group) afterwards."""
    port = free_port()
    environment = {**(os.environ if env is None else env), RUNS_ENV: str(store)}
    with log_path.open("w") as log:
        server = subprocess.Popen(
            ["make", "run", f"PORT={port}"],
            cwd=REPO,
            env=environment,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.time() + 180
            while True:
                try:
                    urllib.request.urlopen(f"{url}/_stcore/health", timeout=2)
                    break
                except OSError:
                    if server.poll() is not None or time.time() > deadline:
                        pytest.fail("the app did not start:\n" + log_path.read_text()[-3000:])
                    time.sleep(0.5)  # polling the health endpoint until it answers
            yield url
        finally:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=30)
