"""Input checks that fail early with messages naming the parameter, the value and what is allowed.

Standard library only (numpy is imported inside ``check_finite``), so the CLI can validate its
arguments before torch or numpy load. Declared constraints per entry point: ``core.base.params``.
"""

from __future__ import annotations

import numbers
import os
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

Number = TypeVar("Number", int, float)


class ForgeLensError(ValueError):
    """Bad user input. Its message names the parameter, the value and what is allowed."""


def positive_from_env(
    name: str, default: Number, kind: Callable[[str], Number], allowed: str
) -> Number:
    """The environment variable ``name`` read as a positive, finite ``kind`` (int or float);
    ``default`` when it is unset or blank. ``allowed`` says what it must be and means, for the
    error: "a positive integer (sweeps allowed to run at once)"."""
    text = os.environ.get(name, "").strip()
    if not text:
        return default
    try:
        value = kind(text)
    except ValueError:
        value = None
    if value is None or not 0 < value < float("inf"):  # the comparison also refuses NaN
        raise ForgeLensError(f"{name}={text!r} must be {allowed}")
    return value


def check_choice(name: str, value: Any, allowed: Iterable[Any]) -> Any:
    """Return ``value`` if it is one of ``allowed``; otherwise list the allowed values."""
    allowed = list(allowed)
    if value not in allowed:
        raise ForgeLensError(
            f"{name}={value!r} is not known{suggest(value, map(str, allowed))}; "
            f"allowed: {', '.join(map(str, allowed))}"
        )
    return value


def check_int_range(name: str, value: Any, low: int, high: int, what: str = "") -> int:
    """Return ``value`` as int if it is an integer in [low, high]."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ForgeLensError(f"{name}={value!r} must be an integer in [{low}, {high}]{what}")
    if not low <= int(value) <= high:
        raise ForgeLensError(f"{name}={value!r} is out of range: allowed [{low}, {high}]{what}")
    return int(value)


def check_finite(name: str, array: Any) -> Any:
    """Raise if ``array`` holds NaN or infinity, saying how many and where the first is."""
    import numpy as np

    bad = ~np.isfinite(array)
    if bad.any():
        first = tuple(int(i) for i in np.argwhere(bad)[0])
        raise ForgeLensError(
            f"{name} holds {int(bad.sum())} non-finite value(s) (first at index {first}); "
            "all values must be finite"
        )
    return array


def check_fraction(name: str, value: Any) -> float:
    """Return ``value`` as float if it lies in (0, 1]."""
    try:
        fraction = float(value)
    except (TypeError, ValueError):
        raise ForgeLensError(f"{name}={value!r} must be a number in (0, 1]") from None
    if not 0.0 < fraction <= 1.0:
        raise ForgeLensError(f"{name}={value!r} is out of range: allowed (0, 1]")
    return fraction


def check_columns(name: str, frame: Any, columns: Iterable[str]) -> Any:
    """Return ``frame`` (a DataFrame) if it has every one of ``columns``; else name the missing."""
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ForgeLensError(f"{name} lacks column(s) {missing}; it has {list(frame.columns)}")
    return frame


def suggest(value: Any, names: Iterable[str]) -> str:
    """ " (did you mean 'x'?)" for the registered name closest to a refused ``value``, else ""."""
    import difflib

    if not isinstance(value, str):
        return ""
    close = difflib.get_close_matches(value, [str(n) for n in names], n=1, cutoff=0.75)
    return f" (did you mean {close[0]!r}?)" if close else ""
