"""A tiny in-memory scenario for tests: 8 x 8 scikit-learn digits -> other digits, shifted.

The target images are moved one pixel to the right (the 8 x 8 frame clips them) and overlaid
with Gaussian noise, so a model trained on the clean source loses about half its accuracy and
regains it when fine-tuned on labelled target samples. Builds in milliseconds.

Sizes (defaults): source train 340 / val 60; target pool 198 / val 66 / test 66; inputs
(1, 8, 8).
"""

from __future__ import annotations

import numpy as np

from core.base.data import ScenarioBuilder
from core.base.validation import ForgeLensError, check_int_range
from core.scenarios.digit_images import sklearn_digits_8x8

DATA_SEED = 12345  # which digits go to which domain; fixed so the scenario never changes


def shift_digits(images: np.ndarray, noise: float, rng: np.random.Generator) -> np.ndarray:
    """Move (N, H, W) images one pixel right and add Gaussian noise of std ``noise``."""
    moved = np.zeros_like(images)
    moved[:, :, 1:] = images[:, :, :-1]
    noisy = moved + rng.normal(0.0, noise, moved.shape)
    return np.clip(noisy, 0.0, 1.0).astype(np.float32)


class DebugScenario(ScenarioBuilder):
    """``n_source`` clean 8 x 8 digits -> ``n_target`` other digits, shifted and noisy."""

    name = "debug"
    description = "tiny test scenario: 8x8 digits -> other 8x8 digits moved one pixel right, noisy"

    def __init__(
        self, split_seed: int = 0, n_source: int = 400, n_target: int = 330, noise: float = 0.1
    ) -> None:
        super().__init__(split_seed)
        self.n_source = n_source
        self.n_target = n_target
        self.noise = noise

    def _domains(self) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
        images, labels = sklearn_digits_8x8()
        n_source = check_int_range("n_source", self.n_source, 20, len(labels) // 2)
        n_target = check_int_range("n_target", self.n_target, 20, len(labels) // 2)
        if (
            isinstance(self.noise, bool)
            or not isinstance(self.noise, int | float)
            or not (0.0 <= self.noise <= 1.0)
        ):
            raise ForgeLensError(f"noise={self.noise!r} must be a number in [0, 1]")
        order = np.random.default_rng(DATA_SEED).permutation(len(labels))
        return images, labels, np.split(order[: n_source + n_target], [n_source])

    def load_source(self) -> tuple[np.ndarray, np.ndarray]:
        images, labels, (source, _) = self._domains()
        return images[source, None], labels[source]

    def load_target(self) -> tuple[np.ndarray, np.ndarray]:
        images, labels, (_, target) = self._domains()
        rng = np.random.default_rng(DATA_SEED + 1)
        return shift_digits(images[target], float(self.noise), rng)[:, None], labels[target]
