"""Labels back: the predicted class mix of the pool before and after adapting the head."""

from __future__ import annotations

from collections.abc import Sequence

import plotly.graph_objects as go

from dashboard.figures.style import base_layout, plain


def class_mix_figure(
    class_names: Sequence[str], before: Sequence[int], after: Sequence[int]
) -> go.Figure:
    """Grouped bars: how many pool samples the model predicts per class, before and after."""
    names = [plain(name) for name in class_names]
    fig = go.Figure(
        [
            go.Bar(name="before (source model)", x=names, y=list(before), marker_color="#9e9e9e"),
            go.Bar(name="after (head adapted on the labels)", x=names, y=list(after)),
        ]
    )
    fig.update_layout(barmode="group", xaxis_title="predicted class", yaxis_title="pool samples")
    fig.update_xaxes(type="category")
    return base_layout(fig, height=340)
