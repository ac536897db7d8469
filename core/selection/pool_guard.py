"""A selector sees the shared pool read-only: what it changes would change the other runs.

A sweep hands one prepared ``PoolEmbedding`` to every selector in turn. ``read_only(pool, who)``
wraps one selection: the pool's numpy views are made non-writable for its duration (an in-place
edit fails at once, the pool intact), and every array and tensor of the pool (the cached spaces
included) is fingerprinted before and checked after, so a change made another way (a torch
tensor edited in place) fails the selector by name too, before its run is stored.
"""

from __future__ import annotations

import contextlib
import zlib
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch

from core.base.validation import ForgeLensError

# numpy views a selector reads (made non-writable while it selects)
PUBLIC_ARRAYS = ("logits", "probs", "pseudo", "residual", "direction", "znorm", "mean")
PRIVATE_ARRAYS = ("_sq_z", "_sq_zc", "_shift")
SPACE_TENSORS = ("z_t", "left_t", "_sq", "shift")


class ContractViolation(ForgeLensError):
    """A selector broke the selector contract at run time (the message names the rule)."""


def _digest(value: Any) -> tuple[Any, ...] | None:
    """Shape, dtype and CRC-32 of the bytes: catches any accidental edit (not a forgery: a
    selector is code the user chose to run) at ~1.5 GB/s, a few ms per pool array."""
    if value is None:
        return None
    if isinstance(value, torch.Tensor):
        value = value.detach().to("cpu").contiguous().numpy()
    array = np.ascontiguousarray(value)
    return array.shape, str(array.dtype), zlib.crc32(array.view(np.uint8).reshape(-1).data)


def fingerprint(pool: Any) -> dict[str, tuple[Any, ...] | None]:
    """A digest of every array and tensor of ``pool`` and of its cached spaces."""
    prints = {name: _digest(getattr(pool, name, None)) for name in PUBLIC_ARRAYS + PRIVATE_ARRAYS}
    prints["z_t"] = _digest(pool.z_t)
    for space_name, space in dict(getattr(pool, "_spaces", {})).items():
        for name in SPACE_TENSORS:
            tensor = getattr(space, name, None)
            if tensor is not pool.z_t:  # shared by every space: digested once above
                prints[f"{space_name} space {name}"] = _digest(tensor)
    return prints


def _changed_new_spaces(pool: Any, before: set[str]) -> list[str]:
    """The spaces the selector built (and the pool cached) that differ from a fresh build:
    each is rebuilt and compared, and the fresh one stays in the cache."""
    spaces = getattr(pool, "_spaces", None)
    if not isinstance(spaces, dict):
        return []
    changed = []
    for name in [n for n in spaces if n not in before]:
        used = spaces.pop(name)
        fresh = pool.space(name)
        for part in SPACE_TENSORS:
            a, b = getattr(used, part, None), getattr(fresh, part, None)
            if (a is None) != (b is None) or (a is not None and not torch.equal(a, b)):
                changed.append(f"{name} space {part}")
    return changed


def _numpy_owned(array: np.ndarray) -> bool:
    """Whether numpy owns the array's memory (through its chain of views): numpy cannot make an
    array over foreign memory (a torch tensor's, say) writeable again once frozen, so such
    arrays are checked by their fingerprint only."""
    while isinstance(array.base, np.ndarray):
        array = array.base
    return array.base is None


def _thaw(frozen: list[np.ndarray]) -> None:
    """Make ``frozen`` writeable again. A view can be made writeable only once its base is, so
    arrays that share memory are retried until every one is (or none moves)."""
    waiting = list(frozen)
    while waiting:
        still = []
        for array in waiting:
            try:
                array.setflags(write=True)
            except ValueError:
                still.append(array)
        if len(still) == len(waiting):
            raise ValueError(f"{len(still)} pool array(s) cannot be made writeable again")
        waiting = still


@contextlib.contextmanager
def read_only(pool: Any, who: str) -> Iterator[None]:
    """Run a selection on ``pool`` read-only; ``ContractViolation`` naming ``who`` and what
    changed when the pool differs afterwards (or an in-place write was refused)."""
    before = fingerprint(pool)
    spaces_before = set(getattr(pool, "_spaces", {}))
    frozen = []
    for name in PUBLIC_ARRAYS:
        array = getattr(pool, name, None)
        if isinstance(array, np.ndarray) and array.flags.writeable and _numpy_owned(array):
            array.setflags(write=False)
            frozen.append(array)
    try:
        yield
    except ValueError as error:
        if "read-only" not in str(error):
            raise
        raise ContractViolation(
            f"selector {who!r} wrote into the shared pool ({error}); the contract (rule 4): "
            "inputs are left unchanged, since every selector of the sweep sees the same pool. "
            "Check it with core.selection.check_selector"
        ) from None
    finally:
        _thaw(frozen)
    after = fingerprint(pool)
    changed = [name for name, value in before.items() if after.get(name) != value]
    changed += _changed_new_spaces(pool, spaces_before)
    if changed:
        raise ContractViolation(
            f"selector {who!r} changed the shared pool's {', '.join(changed)}; the contract "
            "(rule 4): inputs are left unchanged, since every selector of the sweep sees the "
            "same pool. Nothing of this run was stored; check it with "
            "core.selection.check_selector"
        )
