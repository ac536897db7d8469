"""Selectors from outside ForgeLens: ``package.module:ClassName`` specs and installed plugins.

This module finds and checks such classes; the registry (``core.selection.registry``) registers
them and records where each came from. Two routes put a researcher's selector next to the built-ins
without editing ForgeLens:

- a spec ``package.module:ClassName`` wherever a method name is accepted (``--methods``,
  ``run_sweep``): the module is imported, the class checked and registered. Its registry name is
  the class's own ``name`` attribute when it sets a plain one that is free, else a plain name
  made from the spec (``stored_name``: runs are stored under plain names only);
- an installed package declaring an entry point in the group ``forgelens.selectors``
  (``name = "package.module:ClassName"`` in its ``pyproject.toml``); every such entry point is
  registered under its entry-point name the first time the registry is listed.

A plugin class must subclass ``core.selection.Selector`` (implement ``_select(pool, n_picks,
seed)``, called positionally, so any parameter names do), so it gets the same inputs as the
built-ins and the same output checks. Its
constructor parameters (``get_params()`` when it has one, else its instance attributes) and
its import path go into the run config through ``plugin_config``, and so into the run id.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.metadata
import re
from typing import TYPE_CHECKING, Any

from core.base.validation import ForgeLensError

if TYPE_CHECKING:  # the base class loads torch: imported where a plugin is checked
    from core.selection.base import Selector

ENTRY_POINT_GROUP = "forgelens.selectors"


def is_spec(method: str) -> bool:
    """True when ``method`` names a class by import path (``package.module:ClassName``)."""
    return isinstance(method, str) and ":" in method


def stored_name(spec: str) -> str:
    """The plain name a selector registered by ``spec`` is stored under when its class names
    none: the spec with ':' as '.' (``pkg.mod:Cls`` -> ``pkg.mod.Cls``); a spec too long or
    with other characters gets a readable prefix and a hash of the whole spec."""
    name = spec.replace(":", ".")
    if re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}", name):
        return name
    digest = hashlib.sha256(spec.encode()).hexdigest()[:12]
    readable = re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-._")[:100]
    return f"{readable or 'plugin'}-{digest}"


def import_selector(spec: str) -> type[Selector]:
    """The Selector subclass named by ``spec`` = ``package.module:ClassName``."""
    from core.selection.base import Selector

    module_name, _, class_name = spec.partition(":")
    if not module_name or not class_name:
        raise ForgeLensError(
            f"method={spec!r} is not allowed; allowed: a registered name or "
            "'package.module:ClassName'"
        )
    try:
        module = importlib.import_module(module_name)
    except Exception as error:  # a plugin's import may fail in any way
        raise ForgeLensError(
            f"method={spec!r}: module {module_name!r} cannot be imported "
            f"({type(error).__name__}: {error}); allowed: a module on the Python path that "
            "imports cleanly"
        ) from error  # the cause keeps the traceback into the plugin's own failing import
    cls = module
    for part in class_name.split("."):
        cls = getattr(cls, part, None)
        if cls is None:
            raise ForgeLensError(
                f"method={spec!r}: module {module_name!r} has no "
                f"{class_name!r}; allowed: a class defined in that module"
            )
    if not (isinstance(cls, type) and issubclass(cls, Selector)):
        raise ForgeLensError(
            f"method={spec!r} is {cls!r}; allowed: a subclass of "
            "core.selection.Selector implementing _select(pool, n_picks, seed)"
        )
    return cls


def selector_params(selector: Selector) -> dict[str, Any]:
    """A selector's constructor parameters: ``get_params()`` when defined, else its attributes."""
    getter = getattr(selector, "get_params", None)
    params = getter() if callable(getter) else dict(vars(selector))
    return {key: value for key, value in params.items() if not key.startswith("_")}


def entry_point_selectors() -> list[tuple[str, str, type[Selector]]]:
    """(name, "package.module:ClassName", class) of every installed ``forgelens.selectors`` entry
    point. A broken plugin is an error naming it, so a typo never silently drops a selector.
    Without any installed, nothing heavy loads (the CLI lists selectors without torch)."""
    entries = importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)
    if not entries:
        return []
    from core.selection.base import Selector  # loads torch

    found = []
    for entry in entries:
        try:
            cls = entry.load()
        except Exception as error:  # a plugin's import may fail in any way
            raise ForgeLensError(
                f"selector plugin {entry.name!r} = {entry.value!r} (entry point "
                f"group {ENTRY_POINT_GROUP}) cannot be loaded: {error}"
            ) from error  # the cause keeps the traceback into the plugin's own code
        if not (isinstance(cls, type) and issubclass(cls, Selector)):
            raise ForgeLensError(
                f"selector plugin {entry.name!r} = {entry.value!r} is {cls!r}; "
                "allowed: a subclass of core.selection.Selector"
            )
        found.append((entry.name, entry.value, cls))
    return found
