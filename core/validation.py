"""Input checks that fail early with messages naming the parameter, the value and what is allowed."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np


class ForgeLensError(ValueError):
    """Bad user input. Its message names the parameter, the value and what is allowed."""


def check_choice(name: str, value: Any, allowed: Iterable[Any]) -> Any:
    """Return ``value`` if it is one of ``allowed``; otherwise list the allowed values."""
    allowed = list(allowed)
    if value not in allowed:
        raise ForgeLensError(
            f"{name}={value!r} is not known; allowed: {', '.join(map(str, allowed))}"
        )
    return value


def check_int_range(name: str, value: Any, low: int, high: int, what: str = "") -> int:
    """Return ``value`` as int if it is an integer in [low, high]."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise ForgeLensError(f"{name}={value!r} must be an integer in [{low}, {high}]{what}")
    if not low <= int(value) <= high:
        raise ForgeLensError(f"{name}={value!r} is out of range: allowed [{low}, {high}]{what}")
    return int(value)


def check_finite(name: str, array: np.ndarray) -> np.ndarray:
    """Raise if ``array`` holds NaN or infinity, saying how many and where the first is."""
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
