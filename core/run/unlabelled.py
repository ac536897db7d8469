"""Unlabelled targets: embed an image folder (any nesting, no class folders) or a text file (no
label column) with a scenario's source model, into an embeddings file that ``pick`` reads.

The source stays labelled: it is the scenario's (a built-in, or a scenario file saved in the
store), whose source model is trained or loaded as for a sweep. Images are read as the
scenario's own inputs are (gray or RGB as its input shape says, resized bilinearly to its size,
values in [0, 1]); texts are tokenized with its model's tokenizer and length. Inputs are embedded
in chunks, so a large folder never sits in memory as one tensor. Each row keeps its ``path``
(images: Label Studio serves them by path, the Picks page thumbnails them) or ``text``; ids
are the paths relative to the folder, or the file's ``id`` column, else ``row-<n>``.

A scenario file with ``unlabelled_target = true`` (``target_pool``) needs no folder or file
named: its builder lists the target's images or texts, and they are embedded the same way.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from core.base.data import Scenario
from core.base.device import resolve_device
from core.base.progress import ignore
from core.base.validation import ForgeLensError
from core.nn.backbones import tokenize
from core.nn.local_backbones import check_model_dir, hf_tokenize
from core.nn.models import embed
from core.run.engine import prepare_pool
from core.scenarios.catalog import ScenarioEntry
from core.scenarios.embeddings_file import (
    SUFFIXES,
    EmbeddingsTable,
    read_embeddings,
    write_embeddings,
)
from core.scenarios.image_folder import IMAGE_SUFFIXES
from core.scenarios.text_files import read_table
from core.storage.atomic import config_id
from core.storage.store import RunStore
from core.tasks import task_of

CHUNK = 256
UNLABELLED = "_unlabelled"  # <store>/_unlabelled/<pool key>.npz: embedded unlabelled targets


def image_files(folder: str | Path) -> list[Path]:
    """Every image file under ``folder`` (any nesting, hidden files and folders left out)."""
    root = Path(folder).expanduser()
    if not root.is_dir():
        raise ForgeLensError(
            f"images={str(root)!r} is not an existing folder; allowed: a folder of images "
            f"({', '.join(IMAGE_SUFFIXES)}), in sub-folders or not"
        )
    found = sorted(
        p
        for p in root.rglob("*")
        if p.is_file()
        and p.suffix.lower() in IMAGE_SUFFIXES
        and not any(part.startswith(".") for part in p.relative_to(root).parts)
    )
    if not found:
        raise ForgeLensError(
            f"images={str(root)!r} holds no image files; allowed: {', '.join(IMAGE_SUFFIXES)}"
        )
    return found


def read_input_image(path: Path, shape: tuple[int, ...]) -> np.ndarray:
    """One image as the scenario's input: (C, H, W) float32 in [0, 1]."""
    channels, height, width = shape
    try:
        with Image.open(path) as image:
            image = image.convert("L" if channels == 1 else "RGB")
            if image.size != (width, height):
                image = image.resize((width, height), Image.Resampling.BILINEAR)
            pixels = np.asarray(image, dtype=np.float32) / 255.0
    except (OSError, ValueError, SyntaxError) as error:
        raise ForgeLensError(
            f"image {path} cannot be read ({type(error).__name__}: {error}); fix or remove it"
        ) from None
    return pixels[None] if channels == 1 else np.ascontiguousarray(pixels.transpose(2, 0, 1))


def embed_unlabelled(
    root: str | Path | None,
    scenario: str,
    out: str | Path,
    *,
    images: str | Path | None = None,
    texts: str | Path | None = None,
    text_column: str = "text",
    device: Any = None,
    built: Scenario | None = None,
) -> Path:
    """Embed an unlabelled image folder or text file with ``scenario``'s source model and write
    the embeddings file ``out`` (.npz, .parquet or .safetensors). ``built``: a build of the
    scenario made under its name (a slice), as ``prepare_pool`` takes it."""
    if (images is None) == (texts is None):
        raise ForgeLensError(
            f"images={images!r} and texts={texts!r}: allowed: exactly one (a folder of images "
            "or a CSV / JSONL / Parquet file with a text column)"
        )
    device = resolve_device(device)
    if Path(out).suffix.lower() not in SUFFIXES:
        raise ForgeLensError(
            f"out={str(out)!r} has suffix {Path(out).suffix!r}; allowed: {', '.join(SUFFIXES)}"
        )
    inputs = image_files(images) if images is not None else None
    table = None
    if texts is not None:
        table = read_table(Path(texts).expanduser(), [text_column])
        empty = table[table[text_column].str.strip() == ""]
        if len(empty):
            raise ForgeLensError(
                f"{texts}: field {text_column!r} is empty in row {int(empty['_row'].iloc[0])}; "
                "allowed: a non-empty text in every row"
            )
    prepared = prepare_pool(RunStore(root), scenario, device=device, built=built)
    built, model = prepared.scenario, prepared.model
    wanted = "image" if images is not None else "text"
    if built.modality != wanted:
        raise ForgeLensError(
            f"scenario {scenario!r} holds {built.modality}s; allowed: "
            f"{'--images' if built.modality == 'image' else '--texts'} for it"
        )
    if inputs is not None:
        z, lg = embed_images(model, built, inputs, device)
        folder = Path(images).expanduser().resolve()
        ids = tuple(str(p.resolve().relative_to(folder)) for p in inputs)
        fields: dict[str, Any] = {"path": tuple(str(p.resolve()) for p in inputs)}
    else:
        strings = list(table[text_column])
        z, lg = embed_texts(model, built, strings, device)
        given = read_table(Path(texts).expanduser(), ["id"]) if _has_id(texts) else None
        ids = (
            tuple(given["id"])
            if given is not None
            else tuple(f"row-{i}" for i in range(len(strings)))
        )
        fields = {"text": tuple(strings)}
    result = EmbeddingsTable(
        z=z,
        logits=lg,
        ids=ids,
        class_names=tuple(built.class_names),
        **fields,
    )
    if len(set(result.ids)) != len(result.ids):
        raise ForgeLensError(f"{texts}: field 'id' holds duplicates; allowed: unique ids")
    return write_embeddings(out, result)


def embed_images(
    model: torch.nn.Module, built: Scenario, paths: list[Path], device: torch.device
) -> tuple[np.ndarray, np.ndarray]:
    """(z, logits) of the images ``paths``, read as ``built``'s inputs, in chunks."""
    shape = tuple(built.input_shape)
    zs, logits = [], []
    for start in range(0, len(paths), CHUNK):
        x = np.stack([read_input_image(p, shape) for p in paths[start : start + CHUNK]])
        z, lg = embed(model, torch.from_numpy(x), device=device)
        zs.append(z)
        logits.append(lg)
    return np.concatenate(zs).astype(np.float32), np.concatenate(logits).astype(np.float32)


def embed_texts(
    model: torch.nn.Module, built: Scenario, strings: list[str], device: torch.device
) -> tuple[np.ndarray, np.ndarray]:
    """(z, logits) of ``strings``, tokenized with ``built``'s model and length, in chunks."""
    length = int(built.input_shape[-1])
    model_dir = built.params.get("model") if isinstance(built.params, dict) else None
    zs, logits = [], []
    for start in range(0, len(strings), CHUNK):
        part = strings[start : start + CHUNK]
        tokens = (
            hf_tokenize(str(check_model_dir(model_dir)), part, length)
            if model_dir
            else tokenize(part, length)
        )
        z, lg = embed(model, torch.from_numpy(np.asarray(tokens)), device=device)
        zs.append(z)
        logits.append(lg)
    return np.concatenate(zs).astype(np.float32), np.concatenate(logits).astype(np.float32)


def target_pool(
    store: RunStore, entry: ScenarioEntry, *, device: torch.device
) -> tuple[EmbeddingsTable, dict[str, Any], str]:
    """The unlabelled target of a scenario file with ``unlabelled_target = true``, embedded by
    its source model (trained on its labelled source, or loaded from the store's model cache):
    (table, what identifies the pool in a pick's config, modality). Ids: an image's path
    relative to the folder root, a text's ``id`` column or ``<file name>:<row>``."""
    builder = entry.builder()
    built = builder.build()  # the labelled source (its target splits are a stand-in)
    hp = entry.hparams()
    adapter = task_of(built).adapter()
    source = adapter.source(store, built, hp, adaptation="full", device=device, notify=ignore)
    config = {
        "scenario": entry.name,
        "model_id": source.info["model_id"],
        "files_fingerprint": built.params.get("files_fingerprint"),
        "unlabelled_target": True,
    }
    stored = unlabelled_pool_file(store.root, config)
    if stored.is_file():  # embedded once: the same model on the same files
        return read_embeddings(stored), config, built.modality
    rows = builder.unlabelled_inputs()
    domains = tuple(str(row[0]) for row in rows)
    if built.modality == "image":
        paths = [row[1] for row in rows]
        z, logits = embed_images(source.model, built, paths, device)
        root = Path(builder.root).expanduser().resolve()
        ids = tuple(str(p.resolve().relative_to(root)) for p in paths)
        fields: dict[str, Any] = {"path": tuple(str(p.resolve()) for p in paths)}
    else:
        z, logits = embed_texts(source.model, built, [row[2] for row in rows], device)
        ids = tuple(str(row[1]) for row in rows)
        fields = {"text": tuple(row[2] for row in rows)}
    twice = sorted(i for i, k in Counter(ids).items() if k > 1)
    if twice:
        raise ForgeLensError(
            f"scenario {entry.name!r}: field 'id' holds duplicates ({', '.join(twice[:3])}); "
            "allowed: unique ids"
        )
    table = EmbeddingsTable(
        z=z, logits=logits, ids=ids, class_names=tuple(built.class_names), domain=domains, **fields
    )
    write_embeddings(stored, table)  # atomic; labels back re-reads it (``pool_of``)
    return read_embeddings(stored), config, built.modality


def unlabelled_pool_file(root: str | Path, config: dict[str, Any]) -> Path:
    """Where the embedded unlabelled target of a pick's pool ``config`` is kept in the store."""
    return Path(root) / UNLABELLED / f"{config_id(config)}.npz"


def _has_id(path: str | Path) -> bool:
    try:
        read_table(Path(path).expanduser(), ["id"])
    except ForgeLensError:
        return False
    return True
