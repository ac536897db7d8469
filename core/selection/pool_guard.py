"""A selector sees the shared pool read-only: what it changes would change the other runs.

A sweep hands one prepared ``PoolEmbedding`` to every selector in turn. ``read_only(pool, who)``
wraps one selection: the pool's numpy views are made non-writable for its duration (an in-place
edit fails at once, the pool intact), and every array and tensor of the pool (the cached spaces
included) is fingerprinted before and checked after, so a change made another way (a torch
tensor edited in place) fails the selector by name too, before its run is stored.
"""

from __future__ import annotations

import contextlib
import hashlib
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


def _digest(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, torch.Tensor):
        value = value.detach().to("cpu").contiguous().numpy()
    array = np.ascontiguousarray(value)
    return hashlib.blake2b(array.view(np.uint8).reshape(-1).data, digest_size=16).hexdigest()


def fingerprint(pool: Any) -> dict[str, str | None]:
    """A digest of every array and tensor of ``pool`` and of its cached spaces."""
    prints = {name: _digest(getattr(pool, name, None)) for name in PUBLIC_ARRAYS + PRIVATE_ARRAYS}
    prints["z_t"] = _digest(pool.z_t)
    for space_name, space in dict(getattr(pool, "_spaces", {})).items():
        for name in SPACE_TENSORS:
            prints[f"{space_name} space {name}"] = _digest(getattr(space, name, None))
    return prints


@contextlib.contextmanager
def read_only(pool: Any, who: str) -> Iterator[None]:
    """Run a selection on ``pool`` read-only; ``ContractViolation`` naming ``who`` and what
    changed when the pool differs afterwards (or an in-place write was refused)."""
    before = fingerprint(pool)
    frozen = []
    for name in PUBLIC_ARRAYS:
        array = getattr(pool, name, None)
        if isinstance(array, np.ndarray) and array.flags.writeable:
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
        for array in frozen:
            array.setflags(write=True)
    after = fingerprint(pool)
    changed = [name for name, value in before.items() if after.get(name) != value]
    if changed:
        raise ContractViolation(
            f"selector {who!r} changed the shared pool's {', '.join(changed)}; the contract "
            "(rule 4): inputs are left unchanged, since every selector of the sweep sees the "
            "same pool. Nothing of this run was stored; check it with "
            "core.selection.check_selector"
        )
