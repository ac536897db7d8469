"""Read numbers back from what figures show."""

from __future__ import annotations

import re


def shown_coefficients(title: str) -> tuple[float, float]:
    """The Pearson and Spearman values printed in a panel title (two decimals)."""
    found = re.search(r"Pearson r = (-?[0-9.]+) · Spearman ρ = (-?[0-9.]+)", title)
    assert found, title
    return float(found.group(1)), float(found.group(2))
