"""Tiny DomainBed-layout image folders for the folder-scenario tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

CLASSES = ("cat", "dog", "fox")


def make_folder(root: Path, domains=("a", "b", "c"), per_class: int = 8) -> Path:
    """Tiny learnable PNGs: the class sets the dominant channel, the domain a brightness shift."""
    rng = np.random.default_rng(0)
    for shift, domain in enumerate(domains):
        for ci, klass in enumerate(CLASSES):
            (root / domain / klass).mkdir(parents=True, exist_ok=True)
            for i in range(per_class):
                base = np.zeros((12, 12, 3))
                base[..., ci] = 150
                pixels = base + 40 * shift + rng.normal(0, 30, base.shape)
                Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)).save(
                    root / domain / klass / f"{i:03d}.png"
                )
    return root
