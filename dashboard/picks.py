"""What the Picks page shows of one pick: its samples' previews and its files, read from the
store (``core.run.pick_store``) without loading torch or a scenario."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
from PIL import Image

from core.records.previews import read_previews
from core.run import pick_store
from core.storage.store import RunStore

THUMBNAIL = 84


def pick_label(root: str, pick_id: str) -> str:
    """ "<selector> · n of N · <pool> · <id>" for a pick's select box."""
    info, _ = pick_store.load_pick(root, pick_id)
    config = info["config"]
    pool = config["pool"]
    where = pool.get("scenario") or Path(str(pool.get("embeddings", "?"))).name
    return f"{config['method']} · {config['n_picks']} of {info['pool_size']} · {where} · {pick_id}"


def previews(root: str, info: dict[str, Any], frame: pd.DataFrame) -> list[Any]:
    """A thumbnail or text per pick (None where there is none): the pool's stored previews
    for a scenario, the text or the image file (opened as data, thumbnailed) for a file."""
    pool = info["config"]["pool"]
    if "pool_id" in pool:
        stored = read_previews(RunStore(root), pool["pool_id"], list(frame["row"]))
        if stored is not None:
            return stored
    out: list[Any] = []
    for text, path in zip(frame["text"], frame["path"], strict=True):
        if isinstance(text, str) and text:
            out.append(text)
        elif isinstance(path, str) and path:
            out.append(_thumbnail(path))
        else:
            out.append(None)
    return out


def _thumbnail(path: str) -> Image.Image | None:
    try:
        with Image.open(path) as image:
            image.thumbnail((THUMBNAIL, THUMBNAIL))
            return image.convert("RGB")
    except (OSError, ValueError, SyntaxError):
        return None


def file_bytes(root: str, pick_id: str, name: str) -> bytes:
    """One of the pick's manifest files, as stored."""
    return (pick_store.pick_dir(root, pick_id) / name).read_bytes()
