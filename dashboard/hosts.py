"""Localhost means this machine: the Host check in front of every HTTP and websocket request.

A page the local user visits can point its own domain at 127.0.0.1 (DNS rebinding) and then
talk to the dashboard as a same-origin page: the browser sends ``Host: evil.example``. So the
server answers only requests whose Host (port aside) is

- ``localhost`` or a loopback address (127.0.0.0/8, ::1), or the address it is bound to;
- when bound to every interface (``HOST=0.0.0.0``): any IP address (a rebinding page needs a
  domain name) and this machine's own names (``socket.gethostname``, its FQDN);
- a name the operator configures: ``$FORGELENS_ALLOWED_HOSTS`` (comma-separated; ``*.lab.org``
  for a domain's subdomains, ``*`` for any host) or Streamlit's ``server.allowedHosts``.

Anything else gets 403 (HTTP) or a refused handshake (websocket), before Streamlit sees it.
``HostCheck`` is a plain ASGI middleware; ``dashboard.serve`` puts it first in Streamlit's stack.
"""

from __future__ import annotations

import ipaddress
import os
import re
import socket
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import urlparse

from core.base.validation import ForgeLensError

ALLOWED_HOSTS_ENV = "FORGELENS_ALLOWED_HOSTS"
WILDCARD_ADDRESSES = ("", "0.0.0.0", "::", "[::]")
_NAME = re.compile(r"^(\*\.)?[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*\Z")


def configured_hosts() -> list[str]:
    """``$FORGELENS_ALLOWED_HOSTS`` as a list of names (each a host name, ``*.domain`` or an
    IP address); a clear error naming the bad entry otherwise."""
    names = []
    for entry in re.split(r"[,\s]+", os.environ.get(ALLOWED_HOSTS_ENV, "").strip()):
        if not entry:
            continue
        name = entry.lower().rstrip(".")
        if not (name == "*" or _NAME.match(name) or _is_ip(name.strip("[]"))):
            raise ForgeLensError(
                f"{ALLOWED_HOSTS_ENV} lists {entry!r}, which is not allowed; allowed: host "
                "names (app.lab.org), *.domain (any subdomain), IP addresses, or * (any host: "
                "no protection against DNS rebinding), comma-separated"
            )
        names.append(name.strip("[]"))
    return names


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def host_name(header: str | None) -> str | None:
    """The host name of a Host header (lower case, no port, no brackets, no trailing dot);
    None when the header is missing or not a plain ``host[:port]``."""
    if not header:
        return None
    try:
        parsed = urlparse(f"//{header}")
        hostname = parsed.hostname
        _ = parsed.port  # a port, when given, must be a number in range
    except ValueError:
        return None
    if (
        hostname is None
        or parsed.username is not None
        or parsed.password is not None
        or parsed.path
        or parsed.query
        or parsed.fragment
    ):
        return None
    return hostname.lower().rstrip(".")


def host_rule(address: str, configured: Iterable[str]) -> Callable[[str | None], bool]:
    """Whether a Host header may reach a server bound to ``address`` (see the module doc)."""
    bound = address.strip().strip("[]").lower()
    wildcard = address.strip() in WILDCARD_ADDRESSES
    names = {"localhost", *(n.lower() for n in configured)}
    if not wildcard:
        names.add(bound)
    else:
        names |= {socket.gethostname().lower(), socket.getfqdn().lower()}

    def allowed(header: str | None) -> bool:
        name = host_name(header)
        if name is None:
            return False
        if "*" in names or name in names:
            return True
        if any(n.startswith("*.") and name.endswith(n[1:]) for n in names):
            return True
        try:
            ip = ipaddress.ip_address(name)
        except ValueError:
            return False
        return ip.is_loopback or wildcard

    return allowed


class HostCheck:
    """ASGI middleware: refuse HTTP and websocket requests whose Host is not allowed
    (``rule``, built lazily from ``make_rule`` once the server's address is known)."""

    def __init__(self, app: Any, make_rule: Callable[[], Callable[[str | None], bool]]) -> None:
        self.app = app
        self.make_rule = make_rule
        self.rule: Callable[[str | None], bool] | None = None

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        if self.rule is None:
            self.rule = self.make_rule()
        host = next(
            (v.decode("latin-1") for k, v in scope.get("headers", []) if k == b"host"), None
        )
        if self.rule(host):
            await self.app(scope, receive, send)
        elif scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})  # the server answers 403
        else:
            body = (
                b"Forbidden: this Host is not allowed. Open the dashboard as localhost, by its "
                b"address, or by a name listed in FORGELENS_ALLOWED_HOSTS.\n"
            )
            await send(
                {
                    "type": "http.response.start",
                    "status": 403,
                    "headers": [
                        (b"content-type", b"text/plain; charset=utf-8"),
                        (b"content-length", str(len(body)).encode()),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": body})
