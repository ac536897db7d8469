"""The ``squad-files`` scenario: span QA on a user's SQuAD-layout files and local QA model.

See ``core.scenarios.squad_data`` for the file layout and tokenisation, ``core.tasks.qa`` for the
task.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from core.base.data import (
    SOURCE_VAL_FRACTION,
    TARGET_TEST_FRACTION,
    TARGET_VAL_FRACTION,
    Scenario,
    ScenarioBuilder,
    Split,
    fingerprint_arrays,
)
from core.base.validation import ForgeLensError, check_int_range
from core.nn.qa_model import load_tokenizer
from core.scenarios.squad_data import QA_MAX_LENGTH, QASample, encode_samples, load_squad_json


@dataclass(frozen=True, eq=False)
class QAScenario(Scenario):
    """A span-QA scenario: splits of tokenised questions plus spans, offsets and samples."""

    spans: dict[str, np.ndarray] = field(default_factory=dict)
    offsets: dict[str, np.ndarray] = field(default_factory=dict)
    samples: dict[str, tuple[QASample, ...]] = field(default_factory=dict)
    model_dir: str = ""
    dropped: dict[str, int] = field(default_factory=dict)

    @property
    def num_classes(self) -> int:
        return 0

    def preview(self, split: str, idx: int) -> QASample:
        data = self.split(split)
        idx = check_int_range("idx", idx, 0, len(data) - 1, f" (rows of {split})")
        return self.samples[split][idx]

    def summary(self) -> dict[str, Any]:
        return {**super().summary(), "task": self.task, "dropped": dict(self.dropped)}


def _cut(n: int, fractions: tuple[float, ...], rng: np.random.Generator) -> list[np.ndarray]:
    order = rng.permutation(n)
    counts = [max(1, round(f * n)) for f in fractions]
    bounds = np.cumsum(counts)
    return [np.sort(part) for part in np.split(order, bounds)]


class SquadFiles(ScenarioBuilder):
    """Span QA on local files: a source SQuAD JSON, a target SQuAD JSON, a local QA model dir.

    The source file is cut into train/val (85/15), the target into pool/val/test (60/20/20), at
    random with ``split_seed``. ``max_source``/``max_target`` keep the first n questions.
    """

    name = "squad-files"
    description = (
        "span QA on your files: source SQuAD JSON -> target SQuAD JSON, a local "
        "Hugging Face AutoModelForQuestionAnswering directory (see README)"
    )
    class_names = ()
    modality = "text"
    task = "qa"

    def __init__(
        self,
        source_file: str = "",
        target_file: str = "",
        model_dir: str = "",
        split_seed: int = 0,
        max_length: int = QA_MAX_LENGTH,
        max_source: int | None = None,
        max_target: int | None = None,
    ) -> None:
        super().__init__(split_seed)
        self.source_file = source_file
        self.target_file = target_file
        self.model_dir = model_dir
        self.max_length = max_length
        self.max_source = max_source
        self.max_target = max_target

    def load_source(self) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError("span-QA splits are built in build()")

    def load_target(self) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError("span-QA splits are built in build()")

    def build(self) -> QAScenario:
        for name in ("source_file", "target_file", "model_dir"):
            if not getattr(self, name):
                raise ForgeLensError(
                    f"scenario {self.name!r} needs {name}: a local path (see "
                    "README, span QA: what to download and where to put it)"
                )
        seed = check_int_range("split_seed", self.split_seed, 0, 2**31 - 1)
        tokenizer = load_tokenizer(self.model_dir)
        source_rng, target_rng = (
            np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(2)
        )
        splits, spans, offsets, samples, dropped = {}, {}, {}, {}, {}
        for domain, path, limit, fractions, names, rng in (
            (
                "source",
                self.source_file,
                self.max_source,
                (SOURCE_VAL_FRACTION,),
                ("source_val", "source_train"),
                source_rng,
            ),
            (
                "target",
                self.target_file,
                self.max_target,
                (TARGET_VAL_FRACTION, TARGET_TEST_FRACTION),
                ("target_val", "target_test", "target_pool"),
                target_rng,
            ),
        ):
            raw = load_squad_json(path, limit)
            x, span, offset, kept = encode_samples(raw, tokenizer, self.max_length)
            dropped[domain] = len(raw) - len(kept)
            if len(kept) < 5:
                raise ForgeLensError(
                    f"{domain}_file {str(path)!r} gives {len(kept)} usable "
                    "questions; allowed: at least 5"
                )
            for name, rows in zip(names, _cut(len(kept), fractions, rng), strict=True):
                splits[name] = Split(torch.from_numpy(x[rows]), span[rows, 0].copy())
                spans[name], offsets[name] = span[rows], offset[rows]
                samples[name] = tuple(raw[int(kept[r])] for r in rows)
        arrays = [a for name in sorted(splits) for a in (splits[name].x, spans[name])]
        return QAScenario(
            name=self.name,
            class_names=(),
            modality="text",
            split_seed=seed,
            description=self.description,
            params=self.get_params(),
            fingerprint=fingerprint_arrays(*arrays),
            indices={name: np.arange(len(s), dtype=np.int64) for name, s in splits.items()},
            task="qa",
            spans=spans,
            offsets=offsets,
            samples=samples,
            model_dir=str(self.model_dir),
            dropped=dropped,
            **splits,
        )
