"""The parameter-constraint mechanism, checked once where input comes in.

In the manner of scikit-learn's ``_parameter_constraints``: an entry point (a selector's or a
scenario builder's constructor, the sweep in ``core.run.constraints``, the tables in
``core.analysis.constraints``) declares, per parameter, a list of allowed forms;
``validate_params`` raises a ``ForgeLensError`` naming the parameter, the value and what is
allowed. Functions behind an entry point trust what it validated. The constraints themselves
live with the entry points; this module only knows how to check them.

Standard library only, so ``python -m core run --methods nope`` answers in a fraction of a second.
"""

from __future__ import annotations

import inspect
import numbers
import os
import re
import tempfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from core.base.validation import ForgeLensError, suggest

MAX_SEED = 2**63 - 1


class Constraint:
    """One allowed form of a value; ``str(constraint)`` says what is allowed, in words."""

    def is_satisfied_by(self, value: Any) -> bool:
        raise NotImplementedError


@dataclass(frozen=True)
class Options(Constraint):
    """One of a fixed or registry-given set of values (``options`` may be a callable, so a
    selector registered later is allowed too)."""

    options: Iterable[Any] | Callable[[], Iterable[Any]]

    def values(self) -> tuple[Any, ...]:
        return tuple(self.options() if callable(self.options) else self.options)

    def is_satisfied_by(self, value: Any) -> bool:
        return isinstance(value, str | int | float) and value in self.values()

    def __str__(self) -> str:
        return "one of " + ", ".join(map(str, self.values()))


@dataclass(frozen=True)
class Interval(Constraint):
    """A real (``kind=numbers.Real``) or integer (``numbers.Integral``) number in an interval;
    ``closed`` is "both", "left", "right" or "neither"; None is an open end."""

    kind: type
    left: float | None
    right: float | None
    closed: str = "both"

    def is_satisfied_by(self, value: Any) -> bool:
        if isinstance(value, bool) or not isinstance(value, self.kind):
            return False
        if value != value or value in (float("inf"), float("-inf")):  # NaN, infinity
            return False
        low_ok = self.left is None or (
            value >= self.left if self.closed in ("both", "left") else value > self.left
        )
        high_ok = self.right is None or (
            value <= self.right if self.closed in ("both", "right") else value < self.right
        )
        return low_ok and high_ok

    def __str__(self) -> str:
        what = "an integer" if self.kind is numbers.Integral else "a finite number"
        if self.left is not None and self.right is not None:
            left = "[" if self.closed in ("both", "left") else "("
            right = "]" if self.closed in ("both", "right") else ")"
            return f"{what} in {left}{self.left}, {self.right}{right}"
        if self.left is not None:
            return f"{what} {'>=' if self.closed in ('both', 'left') else '>'} {self.left}"
        if self.right is not None:
            return f"{what} {'<=' if self.closed in ('both', 'right') else '<'} {self.right}"
        return what


@dataclass(frozen=True)
class Pattern(Constraint):
    """A string matching the regular expression ``regex`` in full (shown as ``shown``)."""

    regex: str
    shown: str

    def is_satisfied_by(self, value: Any) -> bool:
        return isinstance(value, str) and re.fullmatch(self.regex, value) is not None

    def __str__(self) -> str:
        return self.shown


@dataclass(frozen=True)
class ListOf(Constraint):
    """A non-empty list or tuple whose every item satisfies ``item``."""

    item: Constraint

    def is_satisfied_by(self, value: Any) -> bool:
        return (
            isinstance(value, list | tuple)
            and len(value) > 0
            and all(self.item.is_satisfied_by(v) for v in value)
        )

    def __str__(self) -> str:
        return f"a non-empty list, each item {self.item}"


@dataclass(frozen=True)
class WritableDir(Constraint):
    """A folder that exists and is writable, or can be created (its nearest existing parent is
    a writable folder)."""

    def is_satisfied_by(self, value: Any) -> bool:
        if not isinstance(value, str | os.PathLike):
            return False
        path = Path(value).expanduser().absolute()
        while not path.exists():
            if path.parent == path:
                return False
            path = path.parent
        return path.is_dir() and _can_create_in(path)

    def __str__(self) -> str:
        return "a writable folder (or one that can be created)"


@dataclass(frozen=True)
class WritableFile(Constraint):
    """A file path that is writable or can be created (not a folder)."""

    def is_satisfied_by(self, value: Any) -> bool:
        if not isinstance(value, str | os.PathLike) or not str(value):
            return False
        path = Path(value).expanduser().absolute()
        if path.exists():
            return path.is_file() and os.access(path, os.W_OK) and _can_create_in(path.parent)
        return WritableDir().is_satisfied_by(path.parent)

    def __str__(self) -> str:
        return "a writable file path (its folder existing or creatable)"


def _can_create_in(folder: Path) -> bool:
    """True when a file can be created in ``folder`` (tried, not guessed: os.access says yes to
    root everywhere, even in /proc); the probe file is gone on return."""
    try:
        with tempfile.TemporaryFile(dir=folder):
            return True
    except OSError:
        return False


def _describe(allowed: Sequence[Constraint | None]) -> str:
    return " or ".join("None" if c is None else str(c) for c in allowed)


def validate_params(
    constraints: Mapping[str, Sequence[Constraint | None]], params: Mapping[str, Any]
) -> None:
    """Raise a ForgeLensError for the first parameter whose value fits none of its constraints.

    ``None`` in a parameter's list allows the value None. A list value that fails ``ListOf``
    names its first bad item, and a name refused by ``Options`` gets the close one suggested.
    Every constraint must name a parameter given (as scikit-learn checks): a key matching none
    is a programming error, never a silently unchecked value.
    """
    unknown = sorted(set(constraints) - set(params))
    if unknown:
        raise TypeError(f"constraints name {unknown}, which are not parameters {sorted(params)}")
    for name, allowed in constraints.items():
        value = params[name]
        if value is None and None in allowed:
            continue
        if any(c is not None and c.is_satisfied_by(value) for c in allowed):
            continue
        lists = [c for c in allowed if isinstance(c, ListOf)]
        if lists and isinstance(value, list | tuple) and value:
            bad = next(v for v in value if not lists[0].item.is_satisfied_by(v))
            raise ForgeLensError(
                f"{name.removesuffix('s')}={bad!r} (in {name}={list(value)!r}) "
                f"is not allowed{_close(bad, [lists[0].item])}; allowed: {lists[0].item}"
            )
        raise ForgeLensError(
            f"{name}={_show(value)} is not allowed{_close(value, allowed)}; "
            f"allowed: {_describe(allowed)}"
        )


def _close(value: Any, allowed: Sequence[Constraint | None]) -> str:
    """ " (did you mean ...?)" when a refused string is close to a name an ``Options`` allows."""
    names = [str(v) for c in allowed if isinstance(c, Options) for v in c.values()]
    return suggest(value, names) if names else ""


def _show(value: Any) -> str:
    return repr(list(value)) if isinstance(value, list | tuple) else repr(value)


class ParamsMixin:
    """scikit-learn's constructor convention: every ``__init__`` argument is stored under its own
    name, so ``get_params()`` reads them back; ``_parameter_constraints`` declares their allowed
    forms and ``validate_params()`` checks them (once, where the object is used)."""

    _parameter_constraints: ClassVar[dict[str, list[Constraint | None]]] = {}
    # constructor arguments that do not change results (e.g. where a cache lives): not recorded
    unrecorded_params: ClassVar[tuple[str, ...]] = ()

    def get_params(self) -> dict[str, Any]:
        """Constructor parameters by name (recorded in run configs and scenario summaries)."""
        names = [
            p
            for p in inspect.signature(type(self).__init__).parameters
            if p not in ("self", "args", "kwargs") and p not in self.unrecorded_params
        ]
        return {name: getattr(self, name) for name in names}

    def validate_params(self) -> None:
        """Check the parameters against ``_parameter_constraints`` (a ForgeLensError if not)."""
        validate_params(self._parameter_constraints, self.get_params())

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({params})"
