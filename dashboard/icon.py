"""The app's page icon, drawn here so the browser never fetches one from a font host.

``st.set_page_config(page_icon=":material/...:")`` makes the browser download the icon from
fonts.gstatic.com; an image is served by the app itself (Streamlit's media endpoint).
"""

from __future__ import annotations

from functools import lru_cache

from PIL import Image, ImageDraw

ACCENT = (214, 39, 40, 255)  # the picks' red in the figures
INK = (40, 40, 40, 255)


@lru_cache(maxsize=1)
def page_icon(size: int = 64) -> Image.Image:
    """A lens (ring with a handle) around a highlighted point: ForgeLens in 64 x 64 pixels."""
    image = Image.new("RGBA", (size, size), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    unit = size / 64
    draw.ellipse((6 * unit, 6 * unit, 44 * unit, 44 * unit), outline=INK, width=round(6 * unit))
    draw.line((40 * unit, 40 * unit, 58 * unit, 58 * unit), fill=INK, width=round(8 * unit))
    draw.ellipse((18 * unit, 18 * unit, 32 * unit, 32 * unit), fill=ACCENT)
    return image
