"""Target-pool previews (thumbnails or texts) stored with the pool, so browsing a run never
has to load its scenario (seconds: reading and decoding the raw data) just to show samples.

``<root>/_pools/<pool_id>/previews.npz`` holds ``images`` (uint8, N x 56 x 56, what
``Scenario.preview`` draws) or ``texts`` (str, N), written atomically when the pool is stored
and, for stores made before this file existed, on first use. A checksum sidecar follows it;
a damaged file is quarantined and written again (``read_previews`` returns None).
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

from core.storage.atomic import write_bytes_atomic
from core.storage.integrity import check_file, quarantine, seal
from core.storage.store import RunStore

if TYPE_CHECKING:  # reading previews must not load torch (the scenarios need it)
    from core.base.data import Scenario

PREVIEWS = "previews.npz"


def write_previews(store: RunStore, pool_id: str, scenario: Scenario) -> None:
    """Every target-pool preview of ``scenario`` into the pool's folder: an image or a text per
    sample. Only for tasks that store previews (``core.tasks.Task.previews``: the callers ask);
    other tasks' samples are rendered by their task views."""
    n = len(scenario.split("target_pool"))
    if scenario.modality == "text":
        arrays = {
            "texts": np.array([scenario.preview("target_pool", i) for i in range(n)], dtype=str)
        }
    else:
        arrays = {
            "images": np.stack(
                [np.asarray(scenario.preview("target_pool", i), np.uint8) for i in range(n)]
            )
        }
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    path = store.pool_dir(pool_id) / PREVIEWS
    write_bytes_atomic(path, buffer.getvalue())
    seal(path)


def read_previews(
    store: RunStore, pool_id: str, indices: Sequence[int]
) -> list[Image.Image | str] | None:
    """The previews of ``indices`` from the pool's folder; None when none are stored, or when
    the file is damaged: it is then quarantined, and the caller writes it again."""
    path = store.pool_dir(pool_id) / PREVIEWS
    if not path.is_file():
        return None
    reason = check_file(path)
    if reason is None:
        try:
            with np.load(path, allow_pickle=False) as data:
                if "texts" in data:
                    texts = data["texts"]
                    return [str(texts[int(i)]) for i in indices]
                images = data["images"]
                return [Image.fromarray(images[int(i)]) for i in indices]  # grey (N,H,W) or RGB
        except Exception as error:  # noqa: BLE001 - zip, zlib, numpy: any failure is damage
            reason = f"{PREVIEWS} unreadable ({type(error).__name__})"
    quarantine(path, store.root, kind="previews", reason=f"pool {pool_id}: {reason}")
    return None
