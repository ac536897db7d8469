"""Pool-level results that no run needs but a page does (the Theory page's full-network tangent
norms, the UMAP views): described here as data, computed beside the runs (``core.run.follow_up``).

A ``PoolJob`` names a module-level function and its arguments, so that a helper process can
run it as well as the sweep's own process. A job with ``parts`` is computed part by part
(``compute(*args, start, stop)`` returns the array of samples ``start:stop``); the sweep's
process joins the parts in order and hands the whole array to ``save``. A job without parts
stores its own result (``compute(*args)``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class PoolJob:
    """One pool-level result. ``anywhere``: any process gives the same bits (a CPU
    computation); False keeps every part in the sweep's own process (e.g. on its GPU)."""

    label: str  # the progress message, e.g. "full-network tangent norms of the pool"
    stage: str  # the progress stage, e.g. "tangent norms" or "umap"
    compute: Callable[..., Any]
    args: tuple[Any, ...]
    parts: tuple[tuple[int, int], ...] = ()
    save: Callable[..., None] | None = None  # save(*save_args, joined parts)
    save_args: tuple[Any, ...] = ()
    anywhere: bool = True

    def units(self) -> list[int | None]:
        """The job's units of work: part indices, or [None] for a whole job."""
        return list(range(len(self.parts))) if self.parts else [None]

    def run(self, part: int | None) -> Any:
        """Compute one unit (``part`` None: the whole job, which stores its own result)."""
        if part is None:
            return self.compute(*self.args)
        start, stop = self.parts[part]
        return self.compute(*self.args, start, stop)


def even_parts(n: int, size: int) -> tuple[tuple[int, int], ...]:
    """[0, n) cut into consecutive parts of ``size`` (the last one shorter)."""
    if size < 1:
        raise ValueError(f"size={size!r}; allowed: a positive integer")
    return tuple((start, min(start + size, n)) for start in range(0, n, size))
