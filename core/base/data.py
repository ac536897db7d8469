"""Scenario containers (Split, Scenario) and the builder base class every family extends.

A scenario is a labelled source domain and a shifted, labelled target domain, cut into the five
splits the engine uses. Builders only store parameters; ``build()`` loads the data, cuts the
splits with a fixed, recorded seed and fingerprints the result, so a cached model can tell when
the data under it changed.
"""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import torch
from PIL import Image

from core.base.params import ParamsMixin
from core.base.splits import SPLIT_NAMES
from core.base.validation import ForgeLensError, check_choice, check_int_range

MODALITIES = ("image", "text")
# dtype of Split.x per modality: images are float32 in [0, 1], text is int64 token ids + mask
INPUT_DTYPES = {"image": torch.float32, "text": torch.int64}
THUMBNAIL_SIZE = 56

# Fractions of each domain held out. Validation and test each get at least 15% of the target.
SOURCE_VAL_FRACTION = 0.15
TARGET_VAL_FRACTION = 0.20
TARGET_TEST_FRACTION = 0.20


@dataclass(frozen=True, eq=False)
class Split:
    """Inputs ``x`` and int64 labels ``y``.

    ``x`` is a float32 tensor for images ((N, 1, H, W) in [0, 1]) or an int64 tensor for text
    ((N, 2, L): token ids in row 0, attention mask in row 1, padded to a fixed length L).
    """

    x: torch.Tensor
    y: np.ndarray

    def __post_init__(self) -> None:
        if not isinstance(self.x, torch.Tensor) or self.x.dtype not in INPUT_DTYPES.values():
            raise ForgeLensError(
                f"Split.x must be a float32 (images) or int64 (text) torch.Tensor, got "
                f"{getattr(self.x, 'dtype', type(self.x))}"
            )
        if not isinstance(self.y, np.ndarray) or self.y.dtype != np.int64 or self.y.ndim != 1:
            raise ForgeLensError("Split.y must be a 1-D int64 numpy array")
        if len(self.x) != len(self.y):
            raise ForgeLensError(
                f"Split.x has {len(self.x)} rows but Split.y has {len(self.y)}; they must match"
            )

    def __len__(self) -> int:
        return len(self.y)

    def subset(self, indices: np.ndarray) -> Split:
        """The rows ``indices`` (in that order) as a new Split."""
        indices = np.asarray(indices, dtype=np.int64)
        return Split(self.x[torch.from_numpy(indices)], self.y[indices])


@dataclass(frozen=True, eq=False)
class Scenario:
    """A source domain and a shifted target domain, split once with ``split_seed``.

    ``indices[split]`` holds the row numbers the split took from its domain's data (source
    splits index the source domain, target splits the target domain), ``fingerprint`` a hash of
    every split's inputs and labels. Text scenarios also keep each split's raw strings in
    ``texts[split]`` (row-aligned with the split), which ``preview`` returns. Scenarios are
    shared (``load_scenario`` caches them): treat the tensors as read-only.
    """

    name: str
    class_names: tuple[str, ...]
    modality: str
    split_seed: int
    source_train: Split
    source_val: Split
    target_pool: Split
    target_val: Split
    target_test: Split
    description: str
    params: dict[str, Any] = field(default_factory=dict)
    fingerprint: str = ""
    indices: dict[str, np.ndarray] = field(default_factory=dict)
    texts: dict[str, tuple[str, ...]] = field(default_factory=dict)
    task: str = "classification"  # a core.tasks name: what samples and model are
    # folder / file scenarios: target domain names and, per target split, each row's position
    # in ``domain_names`` (empty for the built-in scenarios, whose target is one domain)
    domain_names: tuple[str, ...] = ()
    domains: dict[str, np.ndarray] = field(default_factory=dict)
    # a scenario file's own backbone (core.nn.local_backbones.local_backbone takes it): local
    # weights or a model folder; empty for a backbone that ships in a package
    backbone: dict[str, Any] = field(default_factory=dict)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def input_shape(self) -> tuple[int, ...]:
        """Shape of one input, e.g. (1, 28, 28)."""
        return tuple(self.source_train.x.shape[1:])

    def pool_domains(self) -> np.ndarray | None:
        """Each pool row's target domain (positions in ``domain_names``) when there are several
        target domains (the budget is then split across them), else None."""
        return self.domains.get("target_pool") if len(self.domain_names) > 1 else None

    def domain_column(self, split: str) -> np.ndarray | None:
        """Each row's target domain name for a target ``split`` of a folder/file scenario."""
        if not self.domain_names or split not in self.domains:
            return None
        return np.asarray(self.domain_names, dtype=object)[self.domains[split]]

    def split(self, name: str) -> Split:
        """The split called ``name`` (one of SPLIT_NAMES)."""
        check_choice("split", name, SPLIT_NAMES)
        return getattr(self, name)

    def preview(self, split: str, idx: int) -> Image.Image | str:
        """Sample ``idx`` of ``split``: a small grayscale thumbnail (nearest-neighbour zoom) for
        images, the raw text (a str) for text scenarios."""
        data = self.split(split)
        idx = check_int_range("idx", idx, 0, len(data) - 1, f" (rows of {split})")
        if self.modality == "text":
            return self.texts[split][idx]
        return to_thumbnail(data.x[idx])

    def summary(self) -> dict[str, Any]:
        """JSON-ready facts that identify the scenario: sizes, classes, seed, data fingerprint."""
        return {
            "name": self.name,
            "modality": self.modality,
            "split_seed": self.split_seed,
            "class_names": list(self.class_names),
            "num_classes": self.num_classes,
            "input_shape": list(self.input_shape),
            "sizes": {name: len(self.split(name)) for name in SPLIT_NAMES},
            "params": dict(self.params),
            "fingerprint": self.fingerprint,
        }


def to_thumbnail(image: torch.Tensor, size: int = THUMBNAIL_SIZE) -> Image.Image:
    """A (1, H, W) tensor in [0, 1] as a ``size`` x ``size`` grayscale PIL image ((3, H, W):
    an RGB one)."""
    pixels = (image.clamp(0, 1) * 255).round().to(torch.uint8).cpu().numpy()
    if pixels.shape[0] == 3:
        picture = Image.fromarray(np.ascontiguousarray(pixels.transpose(1, 2, 0)), mode="RGB")
    else:
        picture = Image.fromarray(pixels[0], mode="L")
    return picture.resize((size, size), Image.Resampling.NEAREST)


def stratified_split(
    y: np.ndarray, fractions: tuple[float, ...], rng: np.random.Generator
) -> list[np.ndarray]:
    """Cut indices of ``y`` into ``len(fractions) + 1`` disjoint parts, class by class.

    Part ``k`` receives ``round(fraction_k * n_c)`` of each class ``c`` (at least one when the
    class has enough rows); the last part takes the rest. Each part is shuffled, so no part is
    sorted by label.
    """
    parts: list[list[np.ndarray]] = [[] for _ in range(len(fractions) + 1)]
    for label in np.unique(y):
        members = rng.permutation(np.flatnonzero(y == label))
        start = 0
        for k, fraction in enumerate(fractions):
            take = max(1, round(fraction * len(members))) if len(members) > len(fractions) else 0
            parts[k].append(members[start : start + take])
            start += take
        parts[-1].append(members[start:])
    return [rng.permutation(np.concatenate(chunks)).astype(np.int64) for chunks in parts]


def stratified_subsample(labels: np.ndarray, size: int | None, seed: int) -> np.ndarray:
    """Sorted rows of a class-stratified random subsample of ``size`` rows (all when None or
    when ``size`` >= len(labels)); class shares are kept up to rounding."""
    if size is None or size >= len(labels):
        return np.arange(len(labels), dtype=np.int64)
    rng = np.random.default_rng(seed)
    classes, counts = np.unique(labels, return_counts=True)
    quota = np.floor(counts * size / len(labels)).astype(int)
    remainder = counts * size / len(labels) - quota
    quota[np.argsort(-remainder)[: size - quota.sum()]] += 1  # largest remainders first
    rows = [
        rng.choice(np.flatnonzero(labels == c), q, replace=False)
        for c, q in zip(classes, quota, strict=True)
    ]
    return np.sort(np.concatenate(rows)).astype(np.int64)


def fingerprint_arrays(*arrays: np.ndarray | torch.Tensor) -> str:
    """A short sha256 over the bytes of ``arrays`` (inputs and labels of every split)."""
    digest = hashlib.sha256()
    for array in arrays:
        data = array.numpy() if isinstance(array, torch.Tensor) else array
        digest.update(np.ascontiguousarray(data).tobytes())
    return digest.hexdigest()[:16]


class ScenarioBuilder(ParamsMixin, ABC):
    """Builds one named scenario. Constructors store parameters only; ``build()`` does the work.

    ``get_params()`` (``core.base.params.ParamsMixin``) returns the constructor arguments, recorded
    in
    ``Scenario.params``; ``unrecorded_params`` names those that do not change the data.
    Subclasses set ``name``/``description``/``class_names`` and implement ``load_source`` and
    ``load_target``, each returning inputs (float32 array (N, 1, H, W) in [0, 1]; for text, an
    int64 array (N, 2, L) of token ids and attention mask) and int64 labels. The source is cut into
    train/validation and the target into pool/validation/test,
    stratified by class, each with its own numpy Generator spawned from ``split_seed``; so two
    scenarios with the same target data and seed cut it identically.
    """

    name: ClassVar[str]
    description: ClassVar[str]
    class_names: ClassVar[tuple[str, ...]] = tuple(str(d) for d in range(10))
    modality: ClassVar[str] = "image"

    def __init__(self, split_seed: int = 0) -> None:
        self.split_seed = split_seed

    def target_strata(self, labels: np.ndarray) -> np.ndarray:
        """What the target cut is stratified by: the labels (folder scenarios with several
        target domains: domain and label)."""
        return labels

    @abstractmethod
    def load_source(self) -> tuple[np.ndarray, np.ndarray]:
        """Source-domain inputs and labels."""

    @abstractmethod
    def load_target(self) -> tuple[np.ndarray, np.ndarray]:
        """Target-domain inputs and labels."""

    def build(self) -> Scenario:
        """Load both domains and cut the five splits with ``split_seed``."""
        split_seed = check_int_range("split_seed", self.split_seed, 0, 2**31 - 1)
        check_choice("modality", self.modality, MODALITIES)
        # one stream per domain, so scenarios with the same target share its splits
        source_rng, target_rng = (
            np.random.default_rng(s) for s in np.random.SeedSequence(split_seed).spawn(2)
        )
        xs, ys = self.load_source()
        xt, yt = self.load_target()
        for domain, labels in (("source", ys), ("target", yt)):
            if labels.min() < 0 or labels.max() >= len(self.class_names):
                raise ForgeLensError(
                    f"{self.name}: {domain} labels span [{labels.min()}, {labels.max()}]; "
                    f"allowed [0, {len(self.class_names) - 1}]"
                )
        source_val, source_train = stratified_split(ys, (SOURCE_VAL_FRACTION,), source_rng)
        target_val, target_test, target_pool = stratified_split(
            self.target_strata(yt), (TARGET_VAL_FRACTION, TARGET_TEST_FRACTION), target_rng
        )
        indices = {
            "source_train": source_train,
            "source_val": source_val,
            "target_pool": target_pool,
            "target_val": target_val,
            "target_test": target_test,
        }
        domains = {"source": (xs, ys), "target": (xt, yt)}
        splits = {}
        for split_name, rows in indices.items():
            x, y = domains[split_name.split("_")[0]]
            dtype = np.int64 if self.modality == "text" else np.float32
            inputs = torch.from_numpy(np.ascontiguousarray(x[rows], dtype=dtype))
            splits[split_name] = Split(inputs, np.asarray(y[rows], dtype=np.int64))
        arrays = [a for s in splits.values() for a in (s.x, s.y)]
        return Scenario(
            name=self.name,
            class_names=tuple(self.class_names),
            modality=self.modality,
            split_seed=split_seed,
            description=self.description,
            params=self.get_params(),
            fingerprint=fingerprint_arrays(*arrays),
            indices=indices,
            **splits,
        )
