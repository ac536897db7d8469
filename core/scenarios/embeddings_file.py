"""Precomputed embeddings from any framework: z (N x D) and logits (N x C) in one file.

Formats (by suffix):

- ``.npz``: arrays ``z``, ``logits``; optional ``label``, ``id``, ``domain``, ``path``, ``text``
  (1-D, one entry per row; strings as numpy unicode arrays, never pickled objects) and
  ``class_names``.
- ``.parquet``: list columns ``z`` and ``logits`` (one list per row), optional scalar columns
  ``label``, ``id``, ``domain``, ``path``, ``text``; class names in the schema metadata key
  ``forgelens.class_names`` (a JSON list).
- ``.safetensors``: tensors ``z``, ``logits`` and optionally ``label`` (int64); the text fields
  (``id``, ``domain``, ``path``, ``text``, ``class_names``) as JSON lists in the header's
  ``__metadata__``.

A label is a class name or a class index; an unlabelled row has none (missing, empty text or
-1), and a file without a ``label`` field is an unlabelled pool. ``id`` defaults to the row
number. Source and target can be separate files, or one file split by its ``domain`` field
(``read_embeddings(path, domain="target")``).

Every problem is a ForgeLensError naming the file and the field: a missing file, an unknown
suffix, a missing ``z`` or ``logits``, fields whose row counts differ, NaN or infinity, a wrong
dimension (``expect_dim`` / ``expect_classes``), duplicate ids, labels outside the classes.
Reading writes nothing. ``write_embeddings`` writes any of the three formats atomically.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from core.base.validation import ForgeLensError
from core.scenarios.embeddings_paths import SUFFIXES, check_embeddings_path
from core.storage.atomic import write_atomic

TEXT_FIELDS = ("id", "domain", "path", "text")
CLASS_NAMES_KEY = "forgelens.class_names"


@dataclass(frozen=True, eq=False)
class EmbeddingsTable:
    """One pool of precomputed embeddings. ``labels`` holds class indices (-1: unlabelled) or is
    None for a file with no labels at all; ``ids`` are unique strings."""

    z: np.ndarray  # (N, D) float32
    logits: np.ndarray  # (N, C) float32
    ids: tuple[str, ...]
    class_names: tuple[str, ...]
    labels: np.ndarray | None = None
    domain: tuple[str, ...] | None = None
    path: tuple[str, ...] | None = None
    text: tuple[str, ...] | None = None
    source_file: str = ""
    checksum: str = ""

    @property
    def n(self) -> int:
        return len(self.z)

    @property
    def labelled(self) -> bool:
        return self.labels is not None and bool((self.labels >= 0).any())

    def rows(self, keep: np.ndarray) -> EmbeddingsTable:
        """The rows ``keep`` (a boolean mask or indices), in that order."""
        keep = np.flatnonzero(keep) if np.asarray(keep).dtype == bool else np.asarray(keep)

        def pick(values: tuple[str, ...] | None) -> tuple[str, ...] | None:
            return None if values is None else tuple(values[i] for i in keep)

        return replace(
            self,
            z=self.z[keep],
            logits=self.logits[keep],
            ids=pick(self.ids),
            labels=None if self.labels is None else self.labels[keep],
            domain=pick(self.domain),
            path=pick(self.path),
            text=pick(self.text),
        )


def file_checksum(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _raw_npz(path: Path) -> tuple[dict[str, Any], list[str] | None]:
    try:
        with np.load(path, allow_pickle=False) as data:
            fields = {key: data[key] for key in data.files}
    except ValueError as error:  # object arrays need pickle: refused, never executed
        raise ForgeLensError(
            f"{path}: cannot be read without unpickling ({error}); allowed: numeric and "
            "unicode arrays (np.savez with str arrays, not object arrays)"
        ) from None
    names = fields.pop("class_names", None)
    return fields, None if names is None else [str(n) for n in names]


def _raw_parquet(path: Path) -> tuple[dict[str, Any], list[str] | None]:
    import pyarrow.parquet as pq

    table = pq.read_table(path)
    fields: dict[str, Any] = {}
    for name in table.column_names:
        column = table.column(name)
        if name in ("z", "logits"):
            fields[name] = _list_matrix(path, name, column)
        else:
            fields[name] = np.asarray(column.to_pylist(), dtype=object)
    meta = table.schema.metadata or {}
    names = meta.get(CLASS_NAMES_KEY.encode())
    return fields, None if names is None else [str(n) for n in json.loads(names)]


def _list_matrix(path: Path, name: str, column: Any) -> np.ndarray:
    """A list column as an (N, K) array without going through Python floats."""
    import pyarrow as pa

    column = column.combine_chunks() if hasattr(column, "combine_chunks") else column
    if not (pa.types.is_list(column.type) or pa.types.is_large_list(column.type)) and not (
        pa.types.is_fixed_size_list(column.type)
    ):
        raise ForgeLensError(
            f"{path}: field {name!r} has type {column.type}; allowed: a list of numbers per row"
        )
    if column.null_count:
        raise ForgeLensError(f"{path}: field {name!r} has empty rows; allowed: a list per row")
    if pa.types.is_fixed_size_list(column.type):
        width = column.type.list_size
    else:
        lengths = np.diff(column.offsets.to_numpy())
        if len(lengths) and (lengths != lengths[0]).any():
            row = int(np.flatnonzero(lengths != lengths[0])[0])
            raise ForgeLensError(
                f"{path}: field {name!r} row {row} has {int(lengths[row])} values but row 0 "
                f"has {int(lengths[0])}; allowed: every row the same length"
            )
        width = int(lengths[0]) if len(lengths) else 0
    values = column.flatten().to_numpy(zero_copy_only=False)
    if values.dtype == object:
        raise ForgeLensError(f"{path}: field {name!r} holds non-numbers; allowed: real numbers")
    return values.reshape(len(column), width)


def _raw_safetensors(path: Path) -> tuple[dict[str, Any], list[str] | None]:
    from safetensors.numpy import load_file

    try:
        fields: dict[str, Any] = dict(load_file(str(path)))
        with path.open("rb") as handle:
            size = int.from_bytes(handle.read(8), "little")
            header = json.loads(handle.read(size))
    except Exception as error:  # noqa: BLE001 - any parse failure is a bad file
        raise ForgeLensError(f"{path}: not a readable safetensors file ({error})") from None
    meta = header.get("__metadata__") or {}
    for key in TEXT_FIELDS:
        if key in meta:
            try:
                fields[key] = np.asarray(json.loads(meta[key]), dtype=object)
            except json.JSONDecodeError:
                raise ForgeLensError(
                    f"{path}: metadata field {key!r} is not a JSON list; allowed: a JSON list "
                    "of one text per row"
                ) from None
    names = meta.get("class_names")
    return fields, None if names is None else [str(n) for n in json.loads(names)]


READERS = {".npz": _raw_npz, ".parquet": _raw_parquet, ".safetensors": _raw_safetensors}


def _matrix(path: Path, name: str, value: Any, expect: int | None) -> np.ndarray:
    array = np.asarray(value)
    if array.dtype == bool or not (
        np.issubdtype(array.dtype, np.integer) or np.issubdtype(array.dtype, np.floating)
    ):
        raise ForgeLensError(
            f"{path}: field {name!r} has dtype {array.dtype}; allowed: real numbers"
        )
    if array.ndim != 2 or array.shape[1] < 1:
        raise ForgeLensError(
            f"{path}: field {name!r} has shape {array.shape}; allowed: a 2-D (N, "
            f"{'D' if name == 'z' else 'C'}) array"
        )
    if expect is not None and array.shape[1] != expect:
        raise ForgeLensError(
            f"{path}: field {name!r} has {array.shape[1]} columns; allowed: {expect} "
            "(the dimension of the other side / the model's classes)"
        )
    bad = ~np.isfinite(array)
    if bad.any():
        row, col = (int(i) for i in np.argwhere(bad)[0])
        raise ForgeLensError(
            f"{path}: field {name!r} holds {int(bad.sum())} NaN or infinite value(s), first at "
            f"row {row}, column {col}; allowed: finite numbers"
        )
    return np.ascontiguousarray(array, dtype=np.float32)


def _texts(path: Path, name: str, value: Any, n: int) -> tuple[str, ...]:
    array = np.asarray(value)
    if array.ndim != 1 or len(array) != n:
        raise ForgeLensError(
            f"{path}: field {name!r} has shape {array.shape} but z has {n} rows; "
            "allowed: one entry per row"
        )
    return tuple("" if v is None else str(v) for v in array.tolist())


def _labels(path: Path, value: Any, n: int, class_names: list[str]) -> np.ndarray:
    raw = _texts(path, "label", value, n)
    index = {name: i for i, name in enumerate(class_names)}
    labels = np.full(n, -1, dtype=np.int64)
    for row, text in enumerate(raw):
        text = text.strip()
        if text in ("", "-1", "nan", "None"):
            continue
        if text in index:
            labels[row] = index[text]
        elif text.lstrip("-").isdigit() and 0 <= int(text) < len(class_names):
            labels[row] = int(text)
        elif text.endswith(".0") and text[:-2].isdigit() and int(text[:-2]) < len(class_names):
            labels[row] = int(text[:-2])
        else:
            raise ForgeLensError(
                f"{path}: field 'label' row {row} is {text!r}, a class the model lacks; "
                f"allowed: one of {', '.join(class_names)} (or an index below "
                f"{len(class_names)}), or empty for an unlabelled row"
            )
    return labels


def read_embeddings(
    path: str | Path,
    *,
    domain: str | None = None,
    expect_dim: int | None = None,
    expect_classes: int | None = None,
    class_names: tuple[str, ...] | None = None,
) -> EmbeddingsTable:
    """Read and check one embeddings file (module doc); ``domain`` keeps only its rows."""
    path = check_embeddings_path(path)
    fields, names_in_file = READERS[path.suffix.lower()](path)
    for name in ("z", "logits"):
        if name not in fields:
            raise ForgeLensError(
                f"{path}: field {name!r} is missing; it has {', '.join(sorted(fields)) or '-'}; "
                f"allowed: z (N x D features) and logits (N x C)"
            )
    z = _matrix(path, "z", fields["z"], expect_dim)
    logits = _matrix(path, "logits", fields["logits"], expect_classes)
    if len(z) != len(logits):
        raise ForgeLensError(
            f"{path}: field 'z' has {len(z)} rows but field 'logits' has {len(logits)}; "
            "allowed: one row per sample in both"
        )
    if len(z) == 0:
        raise ForgeLensError(f"{path}: field 'z' has 0 rows; allowed: at least one sample")
    n, c = len(z), logits.shape[1]
    names = list(class_names or names_in_file or [str(k) for k in range(c)])
    if len(names) != c:
        raise ForgeLensError(
            f"{path}: field 'class_names' has {len(names)} names but 'logits' has {c} "
            "columns; allowed: one name per logit column"
        )
    texts = {key: _texts(path, key, fields[key], n) for key in TEXT_FIELDS if key in fields}
    ids = texts.get("id") or tuple(str(i) for i in range(n))
    if len(set(ids)) != n:
        seen: set[str] = set()
        twice = next(i for i in ids if i in seen or seen.add(i))
        raise ForgeLensError(
            f"{path}: field 'id' holds duplicates (first: {twice!r}); allowed: unique ids"
        )
    labels = _labels(path, fields["label"], n, names) if "label" in fields else None
    table = EmbeddingsTable(
        z=z,
        logits=logits,
        ids=ids,
        class_names=tuple(names),
        labels=labels,
        domain=texts.get("domain"),
        path=texts.get("path"),
        text=texts.get("text"),
        source_file=str(path.resolve()),
        checksum=file_checksum(path),
    )
    if domain is None:
        return table
    if table.domain is None:
        raise ForgeLensError(
            f"{path}: domain={domain!r} was asked for but the file has no 'domain' field; "
            "allowed: no domain (the whole file), or a file with a domain field"
        )
    keep = np.asarray([d == domain for d in table.domain])
    if not keep.any():
        raise ForgeLensError(
            f"{path}: domain={domain!r} has no rows; allowed: "
            + ", ".join(sorted(set(table.domain)))
        )
    return table.rows(keep)


def _label_texts(table: EmbeddingsTable) -> list[str] | None:
    if table.labels is None:
        return None
    return [table.class_names[k] if k >= 0 else "" for k in table.labels]


def write_embeddings(path: str | Path, table: EmbeddingsTable) -> Path:
    """Write ``table`` as ``.npz``, ``.parquet`` or ``.safetensors`` (by suffix), atomically."""
    path = Path(path).expanduser()
    suffix = path.suffix.lower()
    if suffix not in READERS:
        raise ForgeLensError(
            f"out={str(path)!r} has suffix {suffix!r}; allowed: {', '.join(SUFFIXES)}"
        )
    texts = {
        "id": list(table.ids),
        "domain": table.domain,
        "path": table.path,
        "text": table.text,
        "label": _label_texts(table),
    }
    texts = {k: list(v) for k, v in texts.items() if v is not None}
    names = list(table.class_names)

    def npz(tmp: Path) -> None:
        arrays = {k: np.asarray(v, dtype=str) for k, v in texts.items()}
        with tmp.open("wb") as handle:
            np.savez(
                handle, z=table.z, logits=table.logits, class_names=np.asarray(names), **arrays
            )

    def parquet(tmp: Path) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        columns = {
            name: pa.FixedSizeListArray.from_arrays(pa.array(m.ravel()), m.shape[1])
            for name, m in (("z", table.z), ("logits", table.logits))
        }
        columns.update({k: pa.array(v, type=pa.string()) for k, v in texts.items()})
        frame = pa.table(columns).replace_schema_metadata({CLASS_NAMES_KEY: json.dumps(names)})
        pq.write_table(frame, tmp)

    def safetensors(tmp: Path) -> None:
        from safetensors.numpy import save_file

        tensors = {"z": table.z, "logits": table.logits}
        if table.labels is not None:
            tensors["label"] = np.ascontiguousarray(table.labels, dtype=np.int64)
        meta = {k: json.dumps(v) for k, v in texts.items() if k != "label"}
        meta["class_names"] = json.dumps(names)
        save_file(tensors, str(tmp), metadata=meta)

    write_atomic(path, {".npz": npz, ".parquet": parquet, ".safetensors": safetensors}[suffix])
    return path
