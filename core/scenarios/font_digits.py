"""Synthetic digits rendered with Pillow from the TrueType fonts bundled with matplotlib.

Each sample draws a font, a stroke width, a rotation, a size and a small translation from a
numpy Generator seeded once, renders the digit and lays it out like MNIST
(``to_mnist_layout``). The same seed gives the same images (for a given Pillow/FreeType build).
"""

from __future__ import annotations

import hashlib
import json
import os
import zipfile
from functools import lru_cache
from pathlib import Path

import numpy as np
import PIL
from PIL import Image, ImageDraw, ImageFont, features

from core.base.validation import ForgeLensError, check_int_range
from core.scenarios.digit_images import BOX, to_mnist_layout
from core.storage.atomic import write_atomic
from core.storage.integrity import check_file, quarantine, seal

# Text fonts with real digit glyphs (symbol fonts, "Display" subsets and LastResort are left out).
FONT_FILES = (
    "DejaVuSans.ttf",
    "DejaVuSans-Bold.ttf",
    "DejaVuSans-Oblique.ttf",
    "DejaVuSans-BoldOblique.ttf",
    "DejaVuSansMono.ttf",
    "DejaVuSansMono-Bold.ttf",
    "DejaVuSansMono-Oblique.ttf",
    "DejaVuSansMono-BoldOblique.ttf",
    "DejaVuSerif.ttf",
    "DejaVuSerif-Bold.ttf",
    "DejaVuSerif-Italic.ttf",
    "DejaVuSerif-BoldItalic.ttf",
    "STIXGeneral.ttf",
    "STIXGeneralBol.ttf",
    "STIXGeneralItalic.ttf",
    "STIXGeneralBolIta.ttf",
    "cmr10.ttf",
    "cmb10.ttf",
    "cmss10.ttf",
    "cmti10.ttf",
    "cmtt10.ttf",
)
GLYPH_SIZE = 48
CANVAS = 80
MAX_ROTATION_DEG = 15.0
MAX_STROKE = 2  # extra stroke width in pixels at GLYPH_SIZE
BOX_RANGE = (BOX - 4.0, BOX + 2.0)
MAX_SHIFT = 1.5
RENDER_VERSION = 1  # bump when the recipe above changes, so cached renders are redone
CACHE_ENV = "FORGELENS_CACHE_DIR"


def font_dir() -> Path:
    import matplotlib

    return Path(matplotlib.get_data_path()) / "fonts" / "ttf"


@lru_cache(maxsize=1)
def available_fonts() -> tuple[str, ...]:
    """Paths of the FONT_FILES present in this matplotlib install."""
    fonts = tuple(str(font_dir() / name) for name in FONT_FILES if (font_dir() / name).is_file())
    if not fonts:
        raise ForgeLensError(f"no digit fonts found under {font_dir()}; expected {FONT_FILES[0]}")
    return fonts


@lru_cache(maxsize=64)
def _font(path: str) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(path, GLYPH_SIZE)


def render_digit(
    digit: int, font_path: str, *, stroke: int, angle: float, box: float, shift: tuple[float, float]
) -> np.ndarray:
    """One rendered digit as a 28 x 28 float32 frame in [0, 1]."""
    canvas = Image.new("L", (CANVAS, CANVAS), 0)
    ImageDraw.Draw(canvas).text(
        (CANVAS / 2, CANVAS / 2),
        str(digit),
        font=_font(font_path),
        fill=255,
        anchor="mm",
        stroke_width=stroke,
        stroke_fill=255,
    )
    rotated = canvas.rotate(angle, resample=Image.Resampling.BILINEAR)
    return to_mnist_layout(np.asarray(rotated, dtype=np.float32) / 255.0, box=box, shift=shift)


def render_font_digits(n_per_class: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``n_per_class`` rendered samples of each digit: (10 n, 1, 28, 28) float32, int64 labels."""
    n_per_class = check_int_range("n_per_class", n_per_class, 1, 100_000)
    seed = check_int_range("render_seed", seed, 0, 2**31 - 1)
    fonts = available_fonts()
    rng = np.random.default_rng(seed)
    n = 10 * n_per_class
    labels = np.repeat(np.arange(10, dtype=np.int64), n_per_class)
    font_ids = rng.integers(0, len(fonts), n)
    strokes = rng.integers(0, MAX_STROKE + 1, n)
    angles = rng.uniform(-MAX_ROTATION_DEG, MAX_ROTATION_DEG, n)
    boxes = rng.uniform(*BOX_RANGE, n)
    shifts = rng.uniform(-MAX_SHIFT, MAX_SHIFT, (n, 2))
    images = np.stack(
        [
            render_digit(
                int(labels[i]),
                fonts[font_ids[i]],
                stroke=int(strokes[i]),
                angle=float(angles[i]),
                box=float(boxes[i]),
                shift=(float(shifts[i, 0]), float(shifts[i, 1])),
            )
            for i in range(n)
        ]
    )
    return images[:, None], labels


def default_cache_dir() -> Path:
    """Where rendered data sets are cached: $FORGELENS_CACHE_DIR or ~/.cache/forgelens."""
    root = os.environ.get(CACHE_ENV)
    return Path(root) if root else Path.home() / ".cache" / "forgelens"


def render_key(n_per_class: int, seed: int) -> str:
    """Cache key over everything that decides the pixels: recipe, fonts, Pillow and FreeType."""
    recipe = {
        "version": RENDER_VERSION,
        "n_per_class": n_per_class,
        "seed": seed,
        "fonts": [Path(p).name for p in available_fonts()],
        "pillow": PIL.__version__,
        "freetype": features.version("freetype2"),
    }
    return hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()[:16]


def cached_font_digits(
    n_per_class: int, seed: int, cache_dir: Path | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """``render_font_digits`` through an on-disk cache (rendering 4,000 digits takes seconds).

    The file is written to a temporary name and moved into place, so a crashed or concurrent
    writer never leaves a half-written cache behind; a checksum sidecar follows it, and a
    damaged cache is quarantined (``font_digits/_quarantine/``) and rendered again.
    """
    folder = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    path = folder / "font_digits" / f"{render_key(n_per_class, seed)}.npz"
    if path.is_file():
        cached = _read_cache(path, n_per_class)
        if cached is not None:
            return cached
        quarantine(path, path.parent, kind="fonts", reason=f"{path.name} damaged")
    images, labels = render_font_digits(n_per_class, seed)
    write_atomic(path, lambda tmp: np.savez_compressed(tmp, images=images, labels=labels))
    seal(path)
    return images, labels


def _read_cache(path: Path, n_per_class: int) -> tuple[np.ndarray, np.ndarray] | None:
    """The cached renders if the file verifies and holds ``10 * n_per_class`` digits."""
    if check_file(path) is not None:
        return None
    try:
        with np.load(path, allow_pickle=False) as data:
            images, labels = data["images"], data["labels"]
    except (OSError, KeyError, ValueError, EOFError, zipfile.BadZipFile):
        return None
    if len(images) != len(labels) or len(labels) != 10 * n_per_class:
        return None
    return images, labels
