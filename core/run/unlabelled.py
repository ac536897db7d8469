"""Unlabelled targets: embed an image folder (any nesting, no class folders) or a text file (no
label column) with a scenario's source model, into an embeddings file that ``pick`` reads.

The source stays labelled: it is the scenario's (a built-in, or a scenario file saved in the
store), whose source model is trained or loaded as for a sweep. Images are read as the
scenario's own inputs are (gray or RGB as its input shape says, resized bilinearly to its size,
values in [0, 1]); texts are tokenized with its model's tokenizer and length. Inputs are embedded
in chunks, so a large folder never sits in memory as one tensor. Each row keeps its ``path``
(images: Label Studio serves them by path, the Picks page thumbnails them) or ``text``; ids
are the paths relative to the folder, or the file's ``id`` column, else ``row-<n>``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from core.base.data import Scenario
from core.base.device import resolve_device
from core.base.validation import ForgeLensError
from core.nn.backbones import tokenize
from core.nn.local_backbones import check_model_dir, hf_tokenize
from core.nn.models import embed
from core.run.engine import prepare_pool
from core.scenarios.embeddings_file import SUFFIXES, EmbeddingsTable, write_embeddings
from core.scenarios.image_folder import IMAGE_SUFFIXES
from core.scenarios.text_files import read_table
from core.storage.store import RunStore

CHUNK = 256


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
    zs, logits = [], []
    if inputs is not None:
        shape = tuple(built.input_shape)
        for start in range(0, len(inputs), CHUNK):
            x = np.stack([read_input_image(p, shape) for p in inputs[start : start + CHUNK]])
            z, lg = embed(model, torch.from_numpy(x), device=device)
            zs.append(z)
            logits.append(lg)
        folder = Path(images).expanduser().resolve()
        ids = tuple(str(p.resolve().relative_to(folder)) for p in inputs)
        fields: dict[str, Any] = {"path": tuple(str(p.resolve()) for p in inputs)}
    else:
        strings = list(table[text_column])
        length = int(built.input_shape[-1])
        model_dir = built.params.get("model") if isinstance(built.params, dict) else None
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
        given = read_table(Path(texts).expanduser(), ["id"]) if _has_id(texts) else None
        ids = (
            tuple(given["id"])
            if given is not None
            else tuple(f"row-{i}" for i in range(len(strings)))
        )
        fields = {"text": tuple(strings)}
    result = EmbeddingsTable(
        z=np.concatenate(zs).astype(np.float32),
        logits=np.concatenate(logits).astype(np.float32),
        ids=ids,
        class_names=tuple(built.class_names),
        **fields,
    )
    if len(set(result.ids)) != len(result.ids):
        raise ForgeLensError(f"{texts}: field 'id' holds duplicates; allowed: unique ids")
    return write_embeddings(out, result)


def _has_id(path: str | Path) -> bool:
    try:
        read_table(Path(path).expanduser(), ["id"])
    except ForgeLensError:
        return False
    return True
