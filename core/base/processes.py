"""Whether a process still runs: the one liveness check of the run store (who staged a folder)
and the dashboard's job queue (whose runner holds a job). Standard library only."""

from __future__ import annotations

import contextlib
import os
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
