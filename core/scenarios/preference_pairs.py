"""Preference-pair scenarios for the reward-model task (``core.tasks.reward``), built on a
classification scenario whose classes are ordered (digits 0 < ... < 9; tweet sentiment
negative < neutral < positive).

Within each split of the base scenario (so pool pairs only hold pool samples, test pairs only
test samples, and the domains stay apart) pairs of two samples with *different* labels are
drawn with a seeded generator, each unordered pair at most once; the preferred response
(winner) is the one of higher class (the more positive tweet, the larger digit). Its position in
the pair is random, and the pair's label y is that position (0 or 1), so a model that always
prefers one position scores 50%. Split.x holds both inputs, (N, 2, ...); ``pairs[split]`` the
two base rows of each pair.

- ``tweets-pairs-airline-to-apple``: on ``tweets-airline-to-apple``: airline tweets (source) ->
  Apple tweets (target), the packaged all-MiniLM-L6-v2 as the shared encoder; frozen features
  are read from the base scenario's feature cache (``core.tasks.reward.pair_features``), never
  recomputed per pair.
- ``debug-pairs``: on the tiny ``debug`` scenario (an MLP), for tests.

``pairs_per_sample``: pairs drawn per sample of each base split (default 1, so a pool of 1,883
tweets gives 1,883 pairs). ``base_params``: builder parameters of the base (a slice).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import torch
from PIL import Image

from core.base.data import (
    SPLIT_NAMES,
    Scenario,
    ScenarioBuilder,
    Split,
    fingerprint_arrays,
    to_thumbnail,
)
from core.base.validation import ForgeLensError, check_int_range
from core.scenarios import build_scenario, load_scenario

PAIR_CLASSES = ("first preferred", "second preferred")


@dataclass(frozen=True)
class TextPair:
    """Two responses of a pair and the position (0 or 1) of the preferred one."""

    first: str
    second: str
    preferred: int


@dataclass(frozen=True, eq=False)
class PairScenario(Scenario):
    """A scenario of preference pairs; ``base`` names the classification scenario under it."""

    base: str = ""
    base_params: dict[str, Any] = field(default_factory=dict)
    pairs: dict[str, np.ndarray] = field(default_factory=dict)
    encoder_dir: str = ""  # a local HF model folder (arch "hf-local"), e.g. hh-rlhf files
    pooling: str = "mean"
    encoder_id: str = ""  # hash of that folder's files

    def base_scenario(self) -> Scenario:
        """The base scenario, built with the recorded parameters (cached when default)."""
        return (
            build_scenario(self.base, **self.base_params)
            if self.base_params
            else load_scenario(self.base)
        )

    def preview(self, split: str, idx: int) -> Image.Image | TextPair:
        """Text scenarios: a ``TextPair``; images: both thumbnails side by side."""
        data = self.split(split)
        idx = check_int_range("idx", idx, 0, len(data) - 1, f" (rows of {split})")
        a, b = (int(i) for i in self.pairs[split][idx])
        if self.modality == "text":
            texts = self.texts[split]
            return TextPair(texts[a], texts[b], int(data.y[idx]))
        left, right = to_thumbnail(data.x[idx, 0]), to_thumbnail(data.x[idx, 1])
        both = Image.new("L", (left.width * 2 + 4, left.height), 255)
        both.paste(left, (0, 0))
        both.paste(right, (left.width + 4, 0))
        return both

    def summary(self) -> dict[str, Any]:
        extra = {"encoder_id": self.encoder_id, "pooling": self.pooling} if self.encoder_dir else {}
        return {**super().summary(), "task": self.task, "base": self.base, **extra}


def draw_pairs(labels: np.ndarray, n_pairs: int, rng: np.random.Generator) -> np.ndarray:
    """``n_pairs`` distinct unordered pairs (rows (N, 2)) of rows with different labels."""
    labels = np.asarray(labels)
    n = len(labels)
    possible = (n * n - int(np.sum(np.unique(labels, return_counts=True)[1] ** 2))) // 2
    if possible == 0:
        raise ForgeLensError("a split has a single label; preference pairs need two classes")
    n_pairs = min(n_pairs, possible)
    seen: set[tuple[int, int]] = set()
    out = np.empty((n_pairs, 2), dtype=np.int64)
    count = 0
    while count < n_pairs:
        a, b = rng.integers(n, size=2)
        key = (int(min(a, b)), int(max(a, b)))
        if labels[a] == labels[b] or key in seen:
            continue
        seen.add(key)
        out[count] = (a, b)
        count += 1
    return out


class PreferencePairs(ScenarioBuilder):
    """Pairs of samples of a base scenario with different labels; higher class preferred."""

    base: ClassVar[str]
    class_names = PAIR_CLASSES
    task: ClassVar[str] = "reward"

    def __init__(
        self,
        split_seed: int = 0,
        pairs_per_sample: float = 1.0,
        base_params: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(split_seed)
        self.pairs_per_sample = pairs_per_sample
        self.base_params = base_params

    def load_source(self) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError("pairs are drawn from the base scenario's splits in build()")

    def load_target(self) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError("pairs are drawn from the base scenario's splits in build()")

    def build(self) -> PairScenario:
        seed = check_int_range("split_seed", self.split_seed, 0, 2**31 - 1)
        rate = self.pairs_per_sample
        if isinstance(rate, bool) or not isinstance(rate, int | float) or not 0 < rate <= 20:
            raise ForgeLensError(
                f"pairs_per_sample={rate!r} is not allowed; allowed: a number in (0, 20]"
            )
        params = dict(self.base_params or {})
        base = build_scenario(self.base, **params) if params else load_scenario(self.base)
        rngs = [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(5)]
        splits, pairs = {}, {}
        for rng, name in zip(rngs, SPLIT_NAMES, strict=True):
            part = base.split(name)
            rows = draw_pairs(part.y, max(1, round(rate * len(part))), rng)
            flip = rng.random(len(rows)) < 0.5
            rows[flip] = rows[flip][:, ::-1]
            winner_second = part.y[rows[:, 1]] > part.y[rows[:, 0]]
            pairs[name] = rows
            x = torch.stack(
                [part.x[torch.from_numpy(rows[:, 0])], part.x[torch.from_numpy(rows[:, 1])]], dim=1
            )
            splits[name] = Split(x, winner_second.astype(np.int64))
        arrays = [a for s in splits.values() for a in (s.x, s.y)]
        return PairScenario(
            name=self.name,
            class_names=PAIR_CLASSES,
            modality=base.modality,
            split_seed=seed,
            description=self.description,
            params=self.get_params(),
            fingerprint=fingerprint_arrays(*arrays),
            indices={name: np.arange(len(s), dtype=np.int64) for name, s in splits.items()},
            texts=dict(base.texts),
            task="reward",
            base=self.base,
            base_params=params,
            pairs=pairs,
            **splits,
        )


class TweetPairsAirlineToApple(PreferencePairs):
    """Preference pairs of tweets (the more positive preferred): airline -> Apple, MiniLM."""

    name = "tweets-pairs-airline-to-apple"
    base = "tweets-airline-to-apple"
    description = (
        "reward model on tweet pairs (the more positive tweet preferred): airline "
        "tweets -> Apple tweets, all-MiniLM-L6-v2 + a scalar reward head, "
        "Bradley-Terry loss; default adaptation: head"
    )
    modality = "text"


class DebugPairs(PreferencePairs):
    """Pairs of 8x8 digits of the debug scenario (the larger digit preferred), for tests."""

    name = "debug-pairs"
    base = "debug"
    description = "tiny reward-model test scenario: pairs of debug digits, the larger preferred"
