"""Reward modelling on your own preference data: JSONL files in the Anthropic hh-rlhf layout and
a local Hugging Face model folder (the ``hh-rlhf-files`` scenario; nothing is downloaded).

Each line of a file is ``{"chosen": str, "rejected": str}`` (hh-rlhf's ``train.jsonl`` /
``test.jsonl`` after gunzip): two full dialogues that share the prompt and differ in the last
assistant turn. Both are tokenised with the folder's tokenizer to ``max_length`` tokens,
truncated *from the left* so that the final, differing turn is kept; models without a padding
token (GPT-2) pad with their end-of-text token. The source file is cut into train/val (85/15),
the target file into pool/val/test (60/20/20) with ``split_seed``; the chosen response's position
in each pair is random and is the pair's label (``core.scenarios.preference_pairs``).

The encoder is the folder's ``AutoModel`` (arch ``hf-local``): z = mean of the last hidden
states over real tokens (``pooling="mean"``) or the last real token's state (``"last"``, as a
GPT-2 reward model reads it). Its files are hashed into the scenario summary, so cached features
and source heads follow the model. ``max_source``/``max_target`` keep the first n lines.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import torch

from core.base.data import (
    SOURCE_VAL_FRACTION,
    TARGET_TEST_FRACTION,
    TARGET_VAL_FRACTION,
    ScenarioBuilder,
    Split,
    fingerprint_arrays,
)
from core.base.validation import ForgeLensError, check_choice, check_int_range
from core.scenarios.preference_pairs import PAIR_CLASSES, PairScenario, PreferencePairs

HH_MAX_LENGTH = 256


def load_preference_jsonl(path: str | Path, limit: int | None = None) -> list[tuple[str, str]]:
    """(chosen, rejected) of each line of an hh-rlhf-layout JSONL file (first ``limit``)."""
    path = Path(path)
    if not path.is_file():
        raise ForgeLensError(
            f"preference file {str(path)!r} does not exist; allowed: a local "
            'JSONL file with "chosen" and "rejected" on every line'
        )
    pairs = []
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                chosen, rejected = row["chosen"], row["rejected"]
            except (ValueError, KeyError, TypeError):
                raise ForgeLensError(
                    f"{str(path)!r} line {number} is not a JSON object with "
                    '"chosen" and "rejected" strings'
                ) from None
            if not isinstance(chosen, str) or not isinstance(rejected, str):
                raise ForgeLensError(f"{str(path)!r} line {number}: chosen/rejected must be text")
            pairs.append((chosen, rejected))
            if limit is not None and len(pairs) >= limit:
                break
    if not pairs:
        raise ForgeLensError(f"{str(path)!r} holds no preference pair")
    return pairs


def folder_identity(folder: str | Path) -> str:
    """A hash of a model folder's files (names and bytes)."""
    digest = hashlib.sha256()
    for path in sorted(Path(folder).iterdir()):
        if path.is_file():
            digest.update(path.name.encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def tokenize_texts(texts: list[str], model_dir: str, max_length: int) -> np.ndarray:
    """int64 (N, 2, max_length) token ids + attention mask, right-padded, left-truncated."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(model_dir), local_files_only=True)
    tokenizer.truncation_side = "left"
    tokenizer.padding_side = "right"
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    encoded = tokenizer(
        texts, padding="max_length", truncation=True, max_length=max_length, return_tensors="np"
    )
    return np.stack([encoded["input_ids"], encoded["attention_mask"]], axis=1).astype(np.int64)


class HhRlhfFiles(PreferencePairs):
    """Preference pairs from hh-rlhf-layout JSONL files, encoded by a local HF model folder."""

    name = "hh-rlhf-files"
    base = ""
    description = (
        "reward model on your files: hh-rlhf-layout JSONL (chosen, rejected), source "
        "file -> target file, a local Hugging Face model folder (see README)"
    )
    modality = "text"

    def __init__(
        self,
        source_file: str = "",
        target_file: str = "",
        model_dir: str = "",
        split_seed: int = 0,
        max_length: int = HH_MAX_LENGTH,
        pooling: str = "mean",
        max_source: int | None = None,
        max_target: int | None = None,
    ) -> None:
        ScenarioBuilder.__init__(self, split_seed)  # pairs are given, not drawn
        self.source_file = source_file
        self.target_file = target_file
        self.model_dir = model_dir
        self.max_length = max_length
        self.pooling = pooling
        self.max_source = max_source
        self.max_target = max_target

    def build(self) -> PairScenario:
        for name in ("source_file", "target_file", "model_dir"):
            if not getattr(self, name):
                raise ForgeLensError(
                    f"scenario {self.name!r} needs {name}: a local path (see "
                    "README, reward models on your data)"
                )
        seed = check_int_range("split_seed", self.split_seed, 0, 2**31 - 1)
        max_length = check_int_range("max_length", self.max_length, 8, 8192)
        check_choice("pooling", self.pooling, ("mean", "last"))
        if not (Path(self.model_dir) / "config.json").is_file():
            raise ForgeLensError(
                f"model_dir={self.model_dir!r} has no config.json; allowed: a "
                "local Hugging Face model folder (save_pretrained layout)"
            )
        rngs = [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(2)]
        splits: dict[str, Split] = {}
        pairs: dict[str, np.ndarray] = {}
        texts: dict[str, tuple[str, ...]] = {}
        for rng, path, limit, fractions, names in (
            (
                rngs[0],
                self.source_file,
                self.max_source,
                (SOURCE_VAL_FRACTION,),
                ("source_val", "source_train"),
            ),
            (
                rngs[1],
                self.target_file,
                self.max_target,
                (TARGET_VAL_FRACTION, TARGET_TEST_FRACTION),
                ("target_val", "target_test", "target_pool"),
            ),
        ):
            raw = load_preference_jsonl(path, limit)
            if len(raw) < 5:
                raise ForgeLensError(f"{str(path)!r} has {len(raw)} pairs; allowed: at least 5")
            order = rng.permutation(len(raw))
            bounds = np.cumsum([max(1, round(f * len(raw))) for f in fractions])
            for name, rows in zip(names, np.split(order, bounds), strict=True):
                flat = [t for r in rows for t in raw[int(r)]]  # chosen, rejected, chosen, ...
                tokens = torch.from_numpy(tokenize_texts(flat, self.model_dir, max_length))
                index = np.arange(2 * len(rows), dtype=np.int64).reshape(-1, 2)
                flip = rng.random(len(rows)) < 0.5
                index[flip] = index[flip][:, ::-1]
                splits[name] = Split(
                    torch.stack(
                        [
                            tokens[torch.from_numpy(index[:, 0])],
                            tokens[torch.from_numpy(index[:, 1])],
                        ],
                        dim=1,
                    ),
                    flip.astype(np.int64),
                )  # chosen second when flipped
                pairs[name], texts[name] = index, tuple(flat)
        arrays = [a for name in sorted(splits) for a in (splits[name].x, splits[name].y)]
        params: dict[str, Any] = self.get_params()
        return PairScenario(
            name=self.name,
            class_names=PAIR_CLASSES,
            modality="text",
            split_seed=seed,
            description=self.description,
            params=params,
            fingerprint=fingerprint_arrays(*arrays),
            indices={name: np.arange(len(s), dtype=np.int64) for name, s in splits.items()},
            texts=texts,
            task="reward",
            pairs=pairs,
            encoder_dir=str(self.model_dir),
            pooling=self.pooling,
            encoder_id=folder_identity(self.model_dir),
            **splits,
        )
