"""Whether a process still runs: the one liveness check of the run store (who staged a folder)
and the dashboard's job queue (whose runner holds a job); and workers that end with their
parent (a sweep's worker processes). Standard library only."""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import sys
import threading
import time
from pathlib import Path


def pid_alive(pid: int | None) -> bool:
    """True while ``pid`` runs. Our own finished child is reaped first and a zombie counts as
    dead (it runs nothing); a process we may not signal (another user's) counts as alive."""
    if not pid:
        return False
    try:
        reaped, _ = os.waitpid(pid, os.WNOHANG)
        if reaped == pid:
            return False
    except ChildProcessError:
        pass  # not our child (e.g. launched before a server restart)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    with contextlib.suppress(OSError):
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        return state != "Z"
    return True


PR_SET_PDEATHSIG = 1  # linux/prctl.h
PARENT_POLL_SECONDS = 1.0


def die_with_parent(parent: int) -> None:
    """Make this worker process end when ``parent`` (the sweep's driver) ends, however it ends
    (kill -9 included), so no orphaned worker goes on writing runs: on Linux the kernel sends
    SIGKILL (``prctl(PR_SET_PDEATHSIG)``); elsewhere a thread polls the parent's pid."""
    armed = False
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            libc = ctypes.CDLL(None, use_errno=True)
            armed = libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0) == 0
    if os.getppid() != parent:  # the parent died before the signal was armed
        os._exit(1)
    if not armed:

        def watch() -> None:
            while os.getppid() == parent:
                time.sleep(PARENT_POLL_SECONDS)
            os._exit(1)

        threading.Thread(target=watch, name="forgelens-parent-watch", daemon=True).start()
