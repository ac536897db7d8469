"""What to notice at each stage of the teaching view (pure: picks so far and the walks in)."""

from __future__ import annotations

import pandas as pd


def what_to_notice(k: int, walks: dict[str, pd.DataFrame]) -> str:
    """A short note for k picks: the stage's lesson, with the counts of the walks shown."""
    highs = {space: int(walk["high"].iloc[:k].sum()) for space, walk in walks.items()}
    badge, forge = highs.get("badge", 0), highs.get("forge", 0)
    count = f"So far BADGE has picked {badge} high-variability sample(s), FORGE {forge}."
    if k <= 4:
        lesson = (
            "The first picks go to the farthest corners of each space: k-center greedy "
            "always takes the sample farthest from every pick so far. Watch where the "
            "diamonds (large ‖z‖) sit in each panel."
        )
    elif k <= 12:
        lesson = (
            "In BADGE space the diamonds are squeezed near the origin (their residual "
            "‖p − onehot(ŷ)‖ is tiny), so once one of them is covered the rest look "
            "'represented'. In FORGE space they keep their length ‖z‖ and stay far out, "
            "so k-center keeps visiting them."
        )
    elif k <= 25:
        lesson = (
            "The coverage radius (circles) shrinks in both spaces, but it shrinks over "
            "different samples: compare how many circles sit on the diamond cluster in "
            "each panel."
        )
    else:
        lesson = (
            "With many picks both spaces end up covering everything; the difference is "
            "in the order. In single-round selection the budget stops the walk early, "
            "so what was picked first is what gets labelled (the curve below)."
        )
    return f"**What to notice (k = {k}).** {lesson} {count}"
