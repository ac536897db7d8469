"""What the Picks page shows of one pick: its samples' previews and its files, read from the
store (``core.run.pick_store``) without loading torch or a scenario; and the form that makes a
pick (the Picks page and the Run page share it)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import streamlit as st
from PIL import Image

from core import scenarios
from core import selection as selectors
from core.base.validation import ForgeLensError
from core.records.previews import read_previews
from core.run import pick_store
from core.storage.store import RunStore
from dashboard import access
from dashboard.text import escape_markdown

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


def pick_form(root: str, *, key: str = "picks") -> str | None:
    """The "Make a pick" form (``python -m core pick``): pool, selector, count and seed; the
    new pick's id once made, else None. ``key`` prefixes the widget keys (one form per page)."""
    st.caption(
        "The same as `python -m core pick`. A scenario whose source model is not trained yet "
        "trains it first (minutes for the larger ones)."
    )
    if not access.operator_gate(key=f"{key}_make_operator"):
        return None
    origin = st.radio(
        "Pool", ["a scenario", "an embeddings file"], horizontal=True, key=f"{key}_origin"
    )
    if origin == "a scenario":
        scenario = st.selectbox("Scenario", scenarios.available(root), key=f"{key}_scenario")
        embeddings = None
    else:
        scenario = None
        embeddings = st.text_input(
            "Embeddings file (.npz, .parquet or .safetensors)", key=f"{key}_file"
        )
    left, middle, right = st.columns(3)
    names = list(selectors.available())
    method = left.selectbox("Selector", names, index=names.index("forge"), key=f"{key}_method")
    count = middle.number_input("How many", min_value=1, value=100, key=f"{key}_count")
    seed = right.number_input("Seed", min_value=0, value=0, key=f"{key}_seed")
    if not st.button("Pick", type="primary", key=f"{key}_go"):
        return None
    try:
        from core.run.pick import pick  # torch: only once asked

        with st.spinner("Picking…"):
            made, _ = pick(
                root,
                method=method,
                n_picks=int(count),
                seed=int(seed),
                scenario=scenario,
                embeddings=embeddings or None,
            )
    except ForgeLensError as error:
        st.error(escape_markdown(f"Nothing was picked: {error}"))
        return None
    return made


def show_grid(samples: list[Any], head: pd.DataFrame) -> None:
    """The picks ``head`` (rows of a pick's table) with their thumbnails or texts ``samples``,
    in rank order; texts shown as typed (``st.text``), captions escaped."""
    per_row = 3 if any(isinstance(s, str) for s in samples) else 6
    for start in range(0, len(head), per_row):
        cells = st.columns(per_row)
        rows = head.iloc[start : start + per_row].itertuples()
        for cell, sample, row in zip(cells, samples[start : start + per_row], rows, strict=False):
            with cell, st.container(border=isinstance(sample, str)):
                caption = f"#{row.rank} {row.id} → {row.predicted} ({row.confidence:.2f})"
                if isinstance(sample, str):
                    st.text(sample[:300])
                elif sample is not None:
                    st.image(sample, width=THUMBNAIL)
                st.caption(escape_markdown(caption))
