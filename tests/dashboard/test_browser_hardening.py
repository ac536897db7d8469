"""The served app as an operator meets it: bound to localhost, one sweep however often Launch
is clicked."""

from __future__ import annotations

import base64
import contextlib
import json
import os
import shutil
import signal
import socket
import time
from pathlib import Path

import pytest

from core.base.processes import pid_alive
from core.storage.store import JOBS
from dashboard import jobs
from tests.helpers.browser import CHROMIUM, CHROMIUM_ARGS, served

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not Path(CHROMIUM).exists(), reason=f"{CHROMIUM} is absent (CI installs Debian's chromium)"
    ),
]


@pytest.fixture
def served_copy(debug_store: Path, tmp_path: Path):
    """``make run`` exactly as the README says (no HOST), on a copy of the debug store."""
    root = tmp_path / "store"
    shutil.copytree(debug_store, root, ignore=shutil.ignore_patterns(JOBS))
    env = {k: v for k, v in os.environ.items() if k not in ("HOST", "FORGELENS_TOKEN")}
    try:
        with served(root, tmp_path / "server.log", env) as url:
            yield root, int(url.rsplit(":", 1)[1])
    finally:
        _stop_every_job(root)


def _stop_every_job(root: Path) -> None:
    for status in jobs.list_jobs(root):
        pid = status.request.get("pid")
        if pid and pid_alive(pid):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)


def _listening_addresses(port: int) -> set[str]:
    """Local addresses of the sockets listening on ``port`` (from /proc/net/tcp and tcp6)."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        lines = Path(table).read_text().splitlines()[1:] if Path(table).exists() else []
        for line in lines:
            local, state = line.split()[1], line.split()[3]
            address, hex_port = local.rsplit(":", 1)
            if state == "0A" and int(hex_port, 16) == port:  # 0A = LISTEN
                found.add(address)
    return found


def _sweeps_of(root: Path) -> list[str]:
    """Command lines of running ``python -m core run`` processes writing into ``root``."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            argv = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        words = [a.decode(errors="replace") for a in argv]
        if "core" in words and "run" in words and str(root.resolve()) in words:
            found.append(" ".join(words))
    return found


def test_the_server_binds_localhost_by_default(served_copy) -> None:
    _, port = served_copy
    addresses = _listening_addresses(port)
    assert addresses, "no listening socket found"
    loopback = {"0100007F", "00000000000000000000000001000000"}  # 127.0.0.1, ::1
    assert addresses <= loopback, addresses


def _raw_request(port: int, path: str, host: str, *, websocket: bool) -> str:
    """The status line the server answers to one raw HTTP request (a websocket handshake when
    ``websocket``), with the given Host and a matching Origin, as a rebinding page sends."""
    lines = [f"GET {path} HTTP/1.1", f"Host: {host}", f"Origin: http://{host}"]
    if websocket:
        lines += [
            "Upgrade: websocket",
            "Connection: Upgrade",
            "Sec-WebSocket-Key: " + base64.b64encode(os.urandom(16)).decode(),
            "Sec-WebSocket-Version: 13",
            "Sec-WebSocket-Protocol: streamlit",
        ]
    with socket.create_connection(("127.0.0.1", port), timeout=20) as connection:
        connection.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        answer = b""
        while b"\r\n" not in answer:
            chunk = connection.recv(4096)
            if not chunk:
                break
            answer += chunk
    return answer.split(b"\r\n", 1)[0].decode(errors="replace")


def test_requests_naming_another_host_are_refused(served_copy) -> None:
    """DNS rebinding: a page on evil.example that resolves to 127.0.0.1 is not this server."""
    _, port = served_copy
    for host in ("evil.example", f"evil.example:{port}", "localhost.evil.example"):
        ws = _raw_request(port, "/_stcore/stream", host, websocket=True)
        assert " 101 " not in ws and " 403 " in ws, (host, ws)
        for path in ("/", "/_stcore/health", "/_stcore/host-config"):
            assert " 403 " in _raw_request(port, path, host, websocket=False), (host, path)
    for host in (f"127.0.0.1:{port}", f"localhost:{port}"):
        assert " 101 " in _raw_request(port, "/_stcore/stream", host, websocket=True), host
        assert " 200 " in _raw_request(port, "/_stcore/health", host, websocket=False), host


def test_clicking_launch_repeatedly_starts_one_sweep(served_copy) -> None:
    from playwright.sync_api import sync_playwright

    root, port = served_copy
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(f"http://127.0.0.1:{port}/run")
            page.get_by_role("heading", name="Run a sweep").first.wait_for(timeout=60_000)
            launch = page.get_by_role("button", name="Launch")
            for _ in range(6):
                launch.click(timeout=60_000)
                page.wait_for_timeout(400)
            page.get_by_text("It was not started again").first.wait_for(timeout=60_000)
            assert page.locator('[data-testid="stException"]').count() == 0
        finally:
            browser.close()
    files = sorted((root / JOBS).glob("*.json"))
    assert len(files) == 1, [f.name for f in files]
    request = json.loads(files[0].read_text())
    assert request["phase"] in ("starting", "started")
    deadline = time.time() + 30
    while not _sweeps_of(root) and time.time() < deadline:
        time.sleep(0.5)
    assert len(_sweeps_of(root)) == 1, _sweeps_of(root)
