"""Seals on job requests that name code: only this machine's ForgeLens may ask for them.

A job file is data (anyone who can write the run store can write one), but two of its fields
make the sweep run code that the file chooses: a selector given by import path
(``module:Class``, which the CLI imports) and a Ray address (the sweep becomes a client of
whatever answers there). A request naming either runs only when it carries a seal: an
HMAC-SHA256 of its command fields under a key kept outside the run store, in the user's
configuration folder (``$FORGELENS_JOB_KEY_FILE``, else ``~/.config/forgelens/job.key``, mode
0600), created on first use. Writing the store does not give the key, so a planted request
for code is set aside, never run. Requests of plain selector names need no seal.

Standard library and core's light validation only (the queue imports it before anything heavy).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
from pathlib import Path
from typing import Any

from core.base.validation import ForgeLensError

KEY_ENV = "FORGELENS_JOB_KEY_FILE"
# the fields the queue turns into the command's arguments
SEALED_FIELDS = ("scenario", "methods", "budgets", "seeds", "device", "umap", "adaptation")
SEALED_FIELDS += ("ray_address",)


def key_path() -> Path:
    """Where the key lives: ``$FORGELENS_JOB_KEY_FILE``, else the user's config folder."""
    if os.environ.get(KEY_ENV):
        return Path(os.environ[KEY_ENV])
    config = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(config) / "forgelens" / "job.key"


def _key(create: bool) -> bytes | None:
    path = key_path()
    try:
        key = path.read_bytes()
    except OSError:
        key = b""
    if len(key) >= 32 or not create:
        return key if len(key) >= 32 else None
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(secrets.token_bytes(32))
    return path.read_bytes()


def names_code(request: dict[str, Any]) -> bool:
    """Whether the request makes the sweep run code it chooses: an import-path selector or a
    Ray address."""
    methods = request.get("methods")
    paths = isinstance(methods, list) and any(":" in str(m) for m in methods)
    return paths or bool(request.get("ray_address"))


def _digest(request: dict[str, Any], key: bytes) -> str:
    fields = {name: request.get(name) for name in SEALED_FIELDS}
    message = json.dumps(fields, sort_keys=True, separators=(",", ":")).encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def seal(request: dict[str, Any]) -> str:
    """The seal of a request this ForgeLens writes (creates the key on first use)."""
    try:
        key = _key(create=True)
    except OSError as error:
        raise ForgeLensError(
            f"the job key {str(key_path())!r} cannot be written ({error.strerror}); allowed: a "
            f"writable path in ${KEY_ENV} (a job naming a module:Class selector or a Ray "
            "address needs it)"
        ) from None
    assert key is not None
    return _digest(request, key)


def sealed(request: dict[str, Any]) -> bool:
    """Whether the request carries the seal this machine's key gives its command fields."""
    key = _key(create=False)
    given = request.get("seal")
    if key is None or not isinstance(given, str):
        return False
    return hmac.compare_digest(given, _digest(request, key))
