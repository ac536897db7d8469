"""``digits-to-mnist`` seen through a pretrained ImageNet backbone (EfficientNet-Lite0).

The data and the split cut are exactly those of ``digits-to-mnist`` (this builder extends it);
only the model differs: the scenario's hyper-parameters name the ``effnet-lite0`` backbone
(``core.nn.backbones``), which resizes the 28 x 28 digits to 96 x 96 RGB on the fly, so the
splits keep the small 28 x 28 tensors and the same thumbnails. ``per_class`` keeps only the
first n digits of each class in each domain, a slice for fast tests.

Sizes (split_seed 0, all data): source train 1,528 / val 269; target pool 3,000 / val 1,000 /
test 1,000, as ``digits-to-mnist``.
"""

from __future__ import annotations

import numpy as np

from core.base.validation import check_int_range
from core.scenarios.handwritten import DigitsToMnist

MIN_PER_CLASS = 3  # the target is cut into pool / validation / test, one row each at least


def first_per_class(labels: np.ndarray, per_class: int | None) -> np.ndarray:
    """Row numbers of the first ``per_class`` rows of each class, in data order (all if None)."""
    if per_class is None:
        return np.arange(len(labels), dtype=np.int64)
    per_class = check_int_range("per_class", per_class, MIN_PER_CLASS, 1_000_000)
    rows = [np.flatnonzero(labels == label)[:per_class] for label in np.unique(labels)]
    return np.sort(np.concatenate(rows)).astype(np.int64)


class DigitsToMnistEffnet(DigitsToMnist):
    """``digits-to-mnist`` with an ImageNet EfficientNet-Lite0 backbone and a linear head."""

    name = "digits-to-mnist-effnet"
    description = (
        "digits-to-mnist through a frozen ImageNet EfficientNet-Lite0 (96 px, "
        "1280-d features) + a linear head; default adaptation: head only"
    )

    def __init__(self, split_seed: int = 0, per_class: int | None = None) -> None:
        super().__init__(split_seed)
        self.per_class = per_class

    def _slice(self, images: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if self.per_class is None:
            return images, labels
        rows = first_per_class(labels, self.per_class)
        return images[rows], labels[rows]

    def load_source(self) -> tuple[np.ndarray, np.ndarray]:
        return self._slice(*super().load_source())

    def load_target(self) -> tuple[np.ndarray, np.ndarray]:
        return self._slice(*super().load_target())
