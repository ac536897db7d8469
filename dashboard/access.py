"""Who may start and stop work: anyone on localhost; on a network, only an operator.

``make run`` binds 127.0.0.1, so only people on this machine reach the dashboard and every one
of them may launch sweeps. When it is bound beyond localhost (``HOST=0.0.0.0 make run``, the
Docker image), reading stays open to every viewer, but launching, stopping and cancelling
sweeps needs the token the operator set in ``$FORGELENS_TOKEN``; without a token they are
disabled. The token is compared in constant time and kept only in the viewer's session.
"""

from __future__ import annotations

import hmac
import os

import streamlit as st

TOKEN_ENV = "FORGELENS_TOKEN"
LOCAL_ADDRESSES = frozenset({"127.0.0.1", "localhost", "::1"})
_AUTHORISED = "fl_operator_authorised"


def bound_address() -> str:
    """The address the server listens on ("" means every interface)."""
    return str(st.get_option("server.address") or "")


def network_exposed(address: str | None = None) -> bool:
    """True unless the server listens on a loopback address only."""
    address = bound_address() if address is None else address
    return not (address in LOCAL_ADDRESSES or address.startswith("127."))


def operator_token() -> str:
    return os.environ.get(TOKEN_ENV, "")


def token_matches(given: str, expected: str | None = None) -> bool:
    expected = operator_token() if expected is None else expected
    return bool(expected) and hmac.compare_digest(given.encode(), expected.encode())


def is_operator() -> bool:
    """May this viewer start, stop or cancel sweeps? (No widgets drawn.)"""
    if not network_exposed():
        return True
    return bool(operator_token()) and st.session_state.get(_AUTHORISED) is True


def operator_gate(key: str = "operator_token") -> bool:
    """``is_operator``, and when not, say why and (with a token set) ask for it."""
    if is_operator():
        return True
    if not operator_token():
        st.info(
            f"Launching sweeps is disabled: this dashboard serves a network "
            f"({bound_address() or 'every interface'}) and the operator set no "
            f"`{TOKEN_ENV}`. Browsing runs works; sweeps run with `python -m core run`.",
            icon=":material/lock:",
        )
        return False
    given = st.text_input(
        "Operator token",
        type="password",
        key=key,
        help=f"This dashboard serves a network: starting or stopping sweeps "
        f"needs the token in the server's ${TOKEN_ENV}.",
    )
    if given and token_matches(given):
        st.session_state[_AUTHORISED] = True
        st.rerun()
    if given:
        st.error("That token is not the operator's.")
    return False
