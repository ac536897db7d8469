"""Scenarios from precomputed embeddings (``kind = "embeddings"``): z (N x D) and logits (N x C)
from any framework, labelled on both sides, read with ``core.scenarios.embeddings_file``.

Source and target come as two files (``source_file``, ``target_file``) or as one ``file`` split
by its ``domain`` field (``source``, ``target``: domain names). Each row's input is its (z,
logits) pair, stored side by side as one float32 row [z | logits] (N, D + C): the model
(``core.tasks.embeddings``) reads z from the first D columns, and the pool's logits are the
given ones, unchanged, so selection runs on exactly the given z and logits. The target is cut
into pool / validation / test as every scenario's is (``ScenarioBuilder.build``, stratified by
label with ``split_seed``): a file holding a built-in scenario's whole target, rows in their
original order, is cut exactly as the built-in was. There is no network to fine-tune: only
``head`` adaptation applies. ``files_fingerprint`` (the files' sha256) changes the run ids
when the data change.
"""

from __future__ import annotations

import dataclasses
import hashlib
from typing import Any

import numpy as np

from core.base.data import Scenario, ScenarioBuilder
from core.base.validation import ForgeLensError
from core.scenarios.embeddings_file import EmbeddingsTable, read_embeddings
from core.scenarios.image_folder import _as_list

TASK = "embeddings"  # the core.tasks entry whose model reads z from the input's first D columns


class EmbeddingsScenario(ScenarioBuilder):
    """Source and target of precomputed embeddings (see the module doc)."""

    name = "embeddings"
    description = "precomputed embeddings (z and logits) from files"
    modality = "image"  # float32 inputs; no picture is ever drawn from them (no previews)

    def __init__(
        self,
        source_file: str | None = None,
        target_file: str | None = None,
        file: str | None = None,
        source: Any = (),
        target: Any = (),
        split_seed: int = 0,
        files_fingerprint: str | None = None,
    ) -> None:
        super().__init__(split_seed)
        self.source_file = source_file
        self.target_file = target_file
        self.file = file
        self.source = source
        self.target = target
        self.files_fingerprint = files_fingerprint

    def get_params(self) -> dict[str, Any]:
        return {
            "source_file": self.source_file,
            "target_file": self.target_file,
            "file": self.file,
            "source": _as_list(self.source),
            "target": _as_list(self.target),
            "split_seed": self.split_seed,
            "files_fingerprint": self.files_fingerprint,
        }

    def tables(self) -> tuple[EmbeddingsTable, EmbeddingsTable]:
        """(source, target) tables, read and checked: both labelled, same D, C and classes."""
        if (self.file is None) == (self.source_file is None or self.target_file is None):
            raise ForgeLensError(
                f"source_file={self.source_file!r}, target_file={self.target_file!r}, "
                f"file={self.file!r}: allowed: source_file and target_file, or file with "
                "source and target domain names"
            )
        if self.file is not None:
            tables = []
            for role, names in (("source", self.source), ("target", self.target)):
                if not _as_list(names):
                    raise ForgeLensError(
                        f"{role}=[] is empty; allowed: domain name(s) of {self.file}"
                    )
                parts = [read_embeddings(self.file, domain=d) for d in _as_list(names)]
                tables.append(_concat(parts))
            source, target = tables
        else:
            source = read_embeddings(self.source_file)
            target = read_embeddings(
                self.target_file,
                expect_dim=source.z.shape[1],
                expect_classes=source.logits.shape[1],
                class_names=source.class_names,
            )
        for role, table in (("source", source), ("target", target)):
            where = table.source_file or role
            if table.labels is None or (table.labels < 0).any():
                missing = "no label field" if table.labels is None else "unlabelled rows"
                raise ForgeLensError(
                    f"{where}: field 'label' ({role}): {missing}; allowed: a label on every "
                    "row of an embeddings scenario (for unlabelled rows: python -m core pick)"
                )
        return source, target

    def check(self) -> None:
        """The checks ``build`` starts with (files, fields, labels, dimensions)."""
        self.tables()

    def build(self) -> Scenario:
        source, target = self.tables()
        self._tables = (source, target)
        self.class_names = tuple(source.class_names)
        digest = hashlib.sha256()
        for table in (source, target):
            digest.update(f"{table.checksum}\n".encode())
        self.files_fingerprint = digest.hexdigest()[:16]
        try:
            scenario = super().build()
        finally:
            self._tables = None
        dim = source.z.shape[1]
        return dataclasses.replace(
            scenario,
            task=TASK,
            description=(
                f"{self.description}: D = {dim}, C = {len(self.class_names)}, "
                f"{source.n} source and {target.n} target rows"
            ),
        )

    def _inputs(self, table: EmbeddingsTable) -> tuple[np.ndarray, np.ndarray]:
        x = np.concatenate([table.z, table.logits], axis=1).astype(np.float32)
        return x, np.asarray(table.labels, dtype=np.int64)

    def load_source(self) -> tuple[np.ndarray, np.ndarray]:
        return self._inputs(self._tables[0])

    def load_target(self) -> tuple[np.ndarray, np.ndarray]:
        return self._inputs(self._tables[1])


def _concat(parts: list[EmbeddingsTable]) -> EmbeddingsTable:
    if len(parts) == 1:
        return parts[0]
    first = parts[0]
    return dataclasses.replace(
        first,
        z=np.concatenate([p.z for p in parts]),
        logits=np.concatenate([p.logits for p in parts]),
        ids=tuple(i for p in parts for i in p.ids),
        labels=None
        if any(p.labels is None for p in parts)
        else np.concatenate([p.labels for p in parts]),
        domain=None,
        path=None,
        text=None,
    )


def feature_dim(scenario: Scenario) -> int:
    """D of an embeddings scenario (its inputs are [z | logits], C logits)."""
    return int(scenario.input_shape[0]) - scenario.num_classes
