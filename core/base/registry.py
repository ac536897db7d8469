"""A name -> class registry whose entries may be import paths, resolved on first use.

Listing names, checking membership and validating input need no import of the classes (and so
no torch): the CLI checks ``--methods`` and ``--scenario`` in milliseconds. Insertion order is
the display order. Built-in entries never change after import: ``add`` only takes new names
(a selector plugin the process asked for), and a ``frozen`` registry (the built-in scenarios)
takes none.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Mapping
from typing import Any, Generic, TypeVar

from core.base.validation import ForgeLensError, check_choice

T = TypeVar("T")


class Registry(Mapping[str, T], Generic[T]):
    """``kind`` names -> classes; ``entries`` maps each name to a class or "module:Class"."""

    def __init__(self, kind: str, entries: Mapping[str, type | str], *, frozen: bool = False):
        self.kind = kind
        self.frozen = frozen
        self._entries: dict[str, type | str] = dict(entries)

    def __getitem__(self, name: str) -> T:
        entry = self._entries[name]
        if isinstance(entry, str):
            module, _, attr = entry.partition(":")
            entry = getattr(importlib.import_module(module), attr)
            self._entries[name] = entry
        return entry  # type: ignore[return-value]

    def __iter__(self) -> Iterator[str]:
        return iter(tuple(self._entries))

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def names(self) -> tuple[str, ...]:
        """Registered names in display order."""
        return tuple(self._entries)

    def get_class(self, name: Any) -> T:
        """The class registered as ``name``; a ForgeLensError lists the names otherwise."""
        return self[check_choice(self.kind, name, self.names())]

    def __setitem__(self, name: str, entry: type | str) -> None:
        self.add(name, entry)

    def add(self, name: str, entry: type | str) -> None:
        """Register ``entry`` (a class or "module:Class") under a new ``name``."""
        if self.frozen:
            raise ForgeLensError(f"the {self.kind} registry holds the built-ins only")
        if not isinstance(name, str) or not name:
            raise ForgeLensError(
                f"{self.kind} name={name!r} is not allowed; allowed: a non-empty string"
            )
        if name in self._entries:
            raise ForgeLensError(
                f"{self.kind} name {name!r} is already registered; allowed: a new "
                f"name, not one of {', '.join(self._entries)}"
            )
        self._entries[name] = entry

    def snapshot(self) -> dict[str, type | str]:
        """The entries as they are now (``restore`` puts them back; tests that register)."""
        return dict(self._entries)

    def restore(self, entries: Mapping[str, type | str]) -> None:
        """Make ``entries`` (from ``snapshot``) the registry's content again."""
        self._entries = dict(entries)
