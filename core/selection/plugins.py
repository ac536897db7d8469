"""Selectors from outside ForgeLens: ``package.module:ClassName`` specs and installed plugins.

Two routes put a researcher's selector next to the built-ins without editing ForgeLens:

- a spec ``package.module:ClassName`` wherever a method name is accepted (``--methods``,
  ``run_sweep``): the module is imported, the class checked and registered. Its registry name is
  the class's own ``name`` attribute when it sets one that is free, else the spec itself;
- an installed package declaring an entry point in the group ``forgelens.selectors``
  (``name = "package.module:ClassName"`` in its ``pyproject.toml``); every such entry point is
  registered under its entry-point name the first time the registry is listed.

A plugin class must subclass ``core.selection.Selector`` (implement ``_select(pool, budget,
seed)``), so it gets the same inputs as the built-ins and the same output checks. Its
constructor parameters (``get_params()`` when it has one, else its instance attributes) and
its import path go into the run config through ``plugin_config``, and so into the run id.
"""

from __future__ import annotations

import importlib
import importlib.metadata
from typing import TYPE_CHECKING, Any

from core.validation import ForgeLensError

if TYPE_CHECKING:  # the base class loads torch: imported where a plugin is checked
    from core.selection.base import Selector

ENTRY_POINT_GROUP = "forgelens.selectors"
# registry name -> "package.module:ClassName" of every selector registered through this module
PLUGIN_SOURCES: dict[str, str] = {}
_discovered = False


def is_spec(method: str) -> bool:
    """True when ``method`` names a class by import path (``package.module:ClassName``)."""
    return isinstance(method, str) and ":" in method


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
    except ImportError as error:
        raise ForgeLensError(
            f"method={spec!r}: module {module_name!r} cannot be imported "
            f"({error}); allowed: a module on the Python path"
        ) from None
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
            "core.selection.Selector implementing _select(pool, budget, seed)"
        )
    return cls


def _register(name: str, cls: type[Selector], spec: str) -> str:
    from core.selection.registry import SELECTORS

    existing = SELECTORS.get(name)
    if existing is not None and existing is not cls:
        raise ForgeLensError(
            f"selector {spec!r} wants the name {name!r}, already taken by "
            f"{existing.__module__}.{existing.__qualname__}; allowed: a free "
            f"name (set the class's `name`), not one of {', '.join(SELECTORS)}"
        )
    SELECTORS[name] = cls
    PLUGIN_SOURCES[name] = spec
    return name


def register_spec(spec: str) -> str:
    """Import and register the selector ``spec``; returns its registry name."""
    from core.selection.registry import SELECTORS

    for name, source in PLUGIN_SOURCES.items():
        if source == spec and name in SELECTORS:
            return name
    cls = import_selector(spec)
    own_name = cls.__dict__.get("name")
    taken = own_name in SELECTORS and SELECTORS[own_name] is not cls
    name = own_name if isinstance(own_name, str) and own_name and not taken else spec
    return _register(name, cls, spec)


def discover_entry_points(*, force: bool = False) -> list[str]:
    """Register every installed ``forgelens.selectors`` entry point (once per process unless
    ``force``); returns the names registered by this call. A broken plugin is an error naming
    it, so a typo never silently drops a selector from a sweep."""
    global _discovered
    if _discovered and not force:
        return []
    _discovered = True
    names = []
    entries = importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)
    if entries:
        from core.selection.base import Selector
    for entry in entries:
        if PLUGIN_SOURCES.get(entry.name) == entry.value:
            continue
        try:
            cls = entry.load()
        except Exception as error:  # a plugin's import may fail in any way
            raise ForgeLensError(
                f"selector plugin {entry.name!r} = {entry.value!r} (entry point "
                f"group {ENTRY_POINT_GROUP}) cannot be loaded: {error}"
            ) from None
        if not (isinstance(cls, type) and issubclass(cls, Selector)):
            raise ForgeLensError(
                f"selector plugin {entry.name!r} = {entry.value!r} is {cls!r}; "
                "allowed: a subclass of core.selection.Selector"
            )
        names.append(_register(entry.name, cls, entry.value))
    return names


def resolve_methods(methods: list[str] | tuple[str, ...]) -> list[str]:
    """Method names with every ``package.module:ClassName`` spec imported and replaced by its
    registry name; installed plugins are discovered first."""
    discover_entry_points()
    return [register_spec(m) if is_spec(m) else m for m in methods]


def selector_params(selector: Selector) -> dict[str, Any]:
    """A selector's constructor parameters: ``get_params()`` when defined, else its attributes."""
    getter = getattr(selector, "get_params", None)
    params = getter() if callable(getter) else dict(vars(selector))
    return {key: value for key, value in params.items() if not key.startswith("_")}


def plugin_config(method: str) -> dict[str, Any]:
    """What a run config records about a plugin selector (empty for built-ins): its import
    path and parameters, so a changed plugin default gives new run ids."""
    if method not in PLUGIN_SOURCES:
        return {}
    from core.selection.registry import get_selector

    return {
        "selector": {
            "source": PLUGIN_SOURCES[method],
            "params": selector_params(get_selector(method)),
        }
    }
