"""Per-pair loss-reduction gap records (Definition 1, Proposition 2, Figure 5 of the paper).

For every unselected pool sample x' and every embedding space, x is its nearest selected
sample in that space (computed on the source model theta_0, with pseudo-labels, exactly as the
selectors see the pool). The loss reduction r = l(theta_0) - l(theta_T) uses the TRUE label and
the loss that adaptation minimises (hp.adapt_loss: cross-entropy or MSE); the gap is
|r(x) - r(x')| and gamma = max(|z|, |z'|), FORGE's last-layer proxy of the tangent-feature norm.
``core.records.theory`` adds Theorem 4's exact terms (true-label gradients, the tangent-feature
norm with
the bias, the signed gap) next to these columns.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from core.base.statistics import correlation, correlation_intervals_shared
from core.records.theory import theory_summary
from core.selection.spaces import SPACES

PAIR_COLUMNS = (
    "space",
    "idx",
    "nn_idx",
    "distance",
    "label",
    "nn_label",
    "pseudo",
    "nn_pseudo",
    "loss_before",
    "loss_after",
    "nn_loss_before",
    "nn_loss_after",
    "r",
    "nn_r",
    "gap",
    "znorm",
    "nn_znorm",
    "gamma",
)


def pair_table(
    pool,
    selected: np.ndarray,
    labels: np.ndarray,
    loss_before: np.ndarray,
    loss_after: np.ndarray,
    spaces: tuple[str, ...] = SPACES,
) -> pd.DataFrame:
    """One row per (space, unselected sample) with its nearest selected neighbour and the gap.

    ``pool`` is a ``core.selection.embeddings.PoolEmbedding``; ``selected`` holds pool indices; the
    loss
    arrays are per pool sample with the true labels, before and after adaptation.
    """
    selected = np.asarray(selected, dtype=np.int64)
    unselected = np.setdiff1d(np.arange(pool.n), selected)
    r = loss_before - loss_after
    znorm = np.asarray(pool.znorm, dtype=np.float64)
    pseudo = np.asarray(pool.pseudo, dtype=np.int64)
    frames = []
    for space in spaces:
        position, distance = pool.space(space).nearest(selected)
        nn = selected[position[unselected]]
        frames.append(
            pd.DataFrame(
                {
                    "space": space,
                    "idx": unselected,
                    "nn_idx": nn,
                    "distance": distance[unselected],
                    "label": labels[unselected],
                    "nn_label": labels[nn],
                    "pseudo": pseudo[unselected],
                    "nn_pseudo": pseudo[nn],
                    "loss_before": loss_before[unselected],
                    "loss_after": loss_after[unselected],
                    "nn_loss_before": loss_before[nn],
                    "nn_loss_after": loss_after[nn],
                    "r": r[unselected],
                    "nn_r": r[nn],
                    "gap": np.abs(r[unselected] - r[nn]),
                    "znorm": znorm[unselected],
                    "nn_znorm": znorm[nn],
                    "gamma": np.maximum(znorm[unselected], znorm[nn]),
                }
            )
        )
    table = pd.concat(frames, ignore_index=True)
    table["space"] = table["space"].astype("string")
    return table[list(PAIR_COLUMNS)]


def correlation_intervals(distance: np.ndarray, gap: np.ndarray) -> dict[str, float]:
    """95% bootstrap intervals (over the run's pairs, seed 0) of both correlations."""
    return spaces_correlation_intervals([(distance, gap)])[0]


def spaces_correlation_intervals(
    columns: list[tuple[np.ndarray, np.ndarray]],
) -> list[dict[str, float]]:
    """``correlation_intervals`` of each (distance, gap) of ``columns`` (one per space), its
    resamples drawn and counted once for all (``correlation_intervals_shared``)."""
    out = []
    for intervals in correlation_intervals_shared(columns, ("pearson", "spearman"), seed=0):
        row = {}
        for kind, interval in intervals.items():
            row[f"{kind}_low"], row[f"{kind}_high"] = interval.low, interval.high
        out.append(row)
    return out


def weighted_train_loss_reduction(selected: np.ndarray, nn_idx: np.ndarray, r: np.ndarray) -> float:
    """Proposition 2's first term: (1/n) sum_j w_j r(x_j), w_j = c_j + 1, n = pool size.

    c_j counts how often selected sample j is the nearest selected neighbour of an unselected one.
    """
    selected = np.asarray(selected, dtype=np.int64)
    counts = pd.Series(nn_idx).value_counts().reindex(selected, fill_value=0).to_numpy()
    return float(np.sum((counts + 1) * r[selected]) / len(r))


def summary_table(pairs: pd.DataFrame, selected: np.ndarray, r: np.ndarray) -> pd.DataFrame:
    """Per space: correlation of distance with gap, max and mean gap, Prop. 2 training term."""
    rows = []
    groups = list(pairs.groupby("space", sort=False))
    intervals = spaces_correlation_intervals(
        [(group["distance"].to_numpy(), group["gap"].to_numpy()) for _, group in groups]
    )
    for (space, group), interval in zip(groups, intervals, strict=True):
        distance, gap = group["distance"].to_numpy(), group["gap"].to_numpy()
        rows.append(
            {
                "space": str(space),
                "pearson": correlation("pearson", distance, gap),
                "spearman": correlation("spearman", distance, gap),
                **interval,
                "gamma_pearson": correlation("pearson", group["gamma"].to_numpy(), gap),
                "gamma_spearman": correlation("spearman", group["gamma"].to_numpy(), gap),
                "max_gap": float(gap.max()) if len(gap) else float("nan"),
                "mean_gap": float(gap.mean()) if len(gap) else float("nan"),
                "weighted_train_loss_reduction": weighted_train_loss_reduction(
                    selected, group["nn_idx"].to_numpy(), r
                ),
                "n_pairs": len(group),
                **theory_summary(group, len(r), len(selected)),
            }
        )
    return pd.DataFrame(rows)
