"""Widget choices mirrored in the URL's query parameters, so a view can be shared as a link.

A widget with a session key starts from the query parameter when the session has no value
yet (the link was just opened) and the parameter names allowed options; after the widget,
``remember`` writes its value back. Values are matched by their text (``fmt``), so budgets
(floats) and seeds (ints) round-trip exactly; an unknown value in a link is ignored.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import streamlit as st


def text(value: Any) -> str:
    """The URL text of one value: floats as %g (0.05), everything else with str."""
    return f"{value:g}" if isinstance(value, float) else str(value)


def _lookup(options: Sequence[Any], fmt: Callable[[Any], str]) -> dict[str, Any]:
    return {fmt(option): option for option in options}


def from_url(
    name: str, options: Sequence[Any], *, many: bool = False, fmt: Callable[[Any], str] = text
) -> Any:
    """The option(s) the query parameter ``name`` names, or None when absent or unknown."""
    raw = st.query_params.get(name)
    if raw is None:
        return None
    lookup = _lookup(options, fmt)
    if many:
        chosen = [lookup[part] for part in raw.split(",") if part in lookup]
        return chosen if chosen or raw == "" else None
    return lookup.get(raw)


def preset(
    key: str,
    name: str,
    options: Sequence[Any],
    *,
    many: bool = False,
    fmt: Callable[[Any], str] = text,
) -> None:
    """Start the widget with session key ``key`` from the URL when the session has no value."""
    if key in st.session_state:
        value = st.session_state[key]
        valid = (
            all(v in options for v in value)
            if many and isinstance(value, list)
            else value in options
        )
        if valid:
            return
        del st.session_state[key]  # e.g. a budget of another selector: fall back to the URL
    value = from_url(name, options, many=many, fmt=fmt)
    if value is not None:
        st.session_state[key] = value


def remember(
    name: str, value: Any, *, default: Any = None, fmt: Callable[[Any], str] = text
) -> None:
    """Write ``value`` to the query parameter ``name`` (a list joined by commas); a value equal
    to ``default`` removes the parameter, keeping links short."""
    if value is None or value == default:
        if name in st.query_params:
            del st.query_params[name]
        return
    encoded = ",".join(fmt(v) for v in value) if isinstance(value, list | tuple) else fmt(value)
    if st.query_params.get(name) != encoded:
        st.query_params[name] = encoded


def choice(
    widget: Callable[..., Any],
    label: str,
    options: Sequence[Any],
    *,
    key: str,
    name: str,
    default: Any = None,
    fmt: Callable[[Any], str] = text,
    **kwargs: Any,
) -> Any:
    """A single-choice widget (selectbox, radio) whose value lives in the URL as ``name``.

    ``default`` (an option) is the start when neither session nor URL says otherwise."""
    options = list(options)
    preset(key, name, options, fmt=fmt)
    if key not in st.session_state and default in options:
        st.session_state[key] = default
    value = widget(label, options, key=key, **kwargs)
    remember(name, value, default=default, fmt=fmt)
    return value


def flag_text(value: Any) -> str:
    """A toggle's URL text: 1 or 0."""
    return "1" if value else "0"


def value(
    widget: Callable[..., Any],
    label: str,
    *,
    key: str,
    name: str,
    default: Any,
    parse: Callable[[str], Any],
    fmt: Callable[[Any], str] = text,
    **kwargs: Any,
) -> Any:
    """A toggle, checkbox or slider whose value lives in the URL as ``name`` (read back with
    ``parse``; a value it refuses is ignored), ``default`` when neither session nor URL say
    otherwise."""
    if key not in st.session_state:
        raw = st.query_params.get(name)
        try:
            st.session_state[key] = parse(raw) if raw is not None else default
        except (TypeError, ValueError):
            st.session_state[key] = default
    chosen = widget(label, key=key, **kwargs)
    remember(name, chosen, default=default, fmt=fmt)
    return chosen


def parse_flag(raw: str) -> bool:
    if raw not in ("0", "1"):
        raise ValueError(raw)
    return raw == "1"
