"""Display tables: markdown with the best entry in bold, and readable pair details."""

from __future__ import annotations

import numpy as np
import pandas as pd

from core.base.statistics import NOT_DISTINGUISHABLE, TOO_FEW
from core.base.validation import check_columns
from core.selection import SPACES
from dashboard.figures.accuracy import SPLIT_TITLES
from dashboard.text import escape_markdown


def _cell(mean: float, std: float, diff: float | None = None, record: dict | None = None) -> str:
    """'mean ± std', with '(n=…)' and the paired difference's interval and verdict when the
    row has them (``core.analysis.reports.accuracy_summary``): '≈' marks not distinguishable."""
    record = record or {}
    if record.get("n_source_models", 1) > 1:  # two levels: spread across source models and seeds
        seed_std = record.get("seed_std", np.nan)
        seed_text = f"{100 * seed_std:.2f}" if np.isfinite(seed_std) else "n/a"
        text = (
            f"{100 * mean:.2f} ± {100 * record['source_std']:.2f} src, ± {seed_text} seed "
            f"(n={record['n_source_models']} src, {record['n_seeds']} runs)"
        )
    else:
        text = f"{100 * mean:.2f} ± {100 * (0.0 if np.isnan(std) else std):.2f}"
        if "n_seeds" in record:
            text += f" (n={record['n_seeds']})"
    if diff is not None and not np.isnan(diff):
        low, high = record.get("diff_low", np.nan), record.get("diff_high", np.nan)
        if "diff_verdict" in record:
            mark = " ≈" if record["diff_verdict"] == NOT_DISTINGUISHABLE else ""
            bounds = f" [{100 * low:+.2f}, {100 * high:+.2f}]" if np.isfinite(low) else ""
            text += f" (Δ {100 * diff:+.2f}{bounds}{mark})"
        else:
            text += f" ({100 * diff:+.2f})"
    return text


def _markdown(frame: pd.DataFrame, index_name: str) -> str:
    header = "| " + " | ".join([index_name, *map(str, frame.columns)]) + " |"
    rule = "|" + "---|" * (len(frame.columns) + 1)
    body = [
        "| " + " | ".join([str(i), *map(str, row)]) + " |"
        for i, row in zip(frame.index, frame.to_numpy(), strict=True)
    ]
    return "\n".join([header, rule, *body])


def bold_best_table(
    long: pd.DataFrame, *, row: str, column: str, diff: str | None = None, column_label=str
) -> pd.DataFrame:
    """Pivot mean/std rows into 'mean ± std (diff)' cells with the best mean per column in bold.

    Best = highest mean after rounding to the two shown decimals (ties are all bold).
    """
    needed = [row, column, "mean", "std"] + ([diff] if diff else [])
    check_columns("table", long, needed)
    rows = list(dict.fromkeys(long[row]))
    columns = list(dict.fromkeys(long[column]))
    out = pd.DataFrame("–", index=rows, columns=[column_label(c) for c in columns])
    for value in columns:
        part = long[long[column] == value]
        best = np.round(100 * part["mean"].max(), 2)
        for record in part.itertuples(index=False):
            record = record._asdict()
            text = _cell(
                record["mean"],
                record["std"],
                record[diff] if diff and record.get("method", record[row]) != "random" else None,
                record,
            )
            if np.round(100 * record["mean"], 2) == best:
                text = f"**{text}**"
            out.loc[record[row], column_label(value)] = text
    return out


def accuracy_markdown(summary: pd.DataFrame) -> str:
    """Selectors x budgets, 'mean ± std (difference to Random)' in %, best per budget bold."""
    table = bold_best_table(
        summary,
        row="method_label" if "method_label" in summary.columns else "method",
        column="budget",
        diff="diff_to_random",
        column_label=lambda b: f"{100 * b:g}%",
    )
    table.index = [escape_markdown(str(label)) for label in table.index]  # a plugin's parameters
    return _markdown(table, "selector")


def decomposition_markdown(decomp: pd.DataFrame) -> str:
    """Table 1: selectors x splits, 'mean ± std' in %, best per split bold."""
    frame = decomp.assign(split=decomp["split"].astype(str))
    order = [s for s in SPLIT_TITLES if s in set(frame["split"])]
    frame = frame.set_index("split").loc[order].reset_index() if order else frame
    table = bold_best_table(
        frame, row="method", column="split", column_label=lambda s: SPLIT_TITLES.get(s, s)
    )
    return _markdown(table, "selector")


PAIR_DETAIL_COLUMNS = {
    "idx": "unselected x′",
    "nn_idx": "nearest selected x",
    "label": "label x′",
    "nn_label": "label x",
    "loss_before": "loss x′ before",
    "loss_after": "loss x′ after",
    "nn_loss_before": "loss x before",
    "nn_loss_after": "loss x after",
    "r": "r(x′)",
    "nn_r": "r(x)",
    "gap": "gap",
    "distance": "distance",
    "gamma": "γ",
}


def pair_details(pairs: pd.DataFrame, class_names: list[str] | None = None) -> pd.DataFrame:
    """Selected pair rows with readable column names (and class names when known)."""
    cols = [c for c in ("space", "seed", *PAIR_DETAIL_COLUMNS) if c in pairs.columns]
    frame = pairs[cols].copy()
    if class_names:
        for column in ("label", "nn_label"):
            frame[column] = [
                class_names[v] if 0 <= v < len(class_names) else str(v)
                for v in frame[column].astype(int)
            ]
    return frame.rename(columns=PAIR_DETAIL_COLUMNS)


def correlation_pivot(table: pd.DataFrame, stat: str = "spearman") -> pd.DataFrame:
    """``core.analysis.reports.correlation_summary`` as selector/budget rows x space columns: the
    mean over runs with its 95% t interval (over source-model means when there are several
    source models, else over seeds) and its n, or TOO_FEW."""
    if table.empty:
        return pd.DataFrame()

    def text(row: pd.Series) -> str:
        low, high = row.get(f"{stat}_low", np.nan), row.get(f"{stat}_high", np.nan)
        sources = row.get("n_source_models", 1)
        if not np.isfinite(low):
            return f"{row[stat]:+.3f} ({TOO_FEW}, n={row.get('n_seeds', '?')})"
        n = f"{sources} source models" if sources > 1 else f"{row.get('n_seeds', '?')} seeds"
        return f"{row[stat]:+.3f} [{low:+.2f}, {high:+.2f}] (t, n={n})"

    frame = table.assign(
        budget=[f"{100 * b:g}%" for b in table["budget"]], cell=table.apply(text, axis=1)
    )
    label = "method_label" if "method_label" in frame.columns else "method"
    wide = frame.pivot_table(
        index=[label, "budget"], columns="space", values="cell", aggfunc="first", sort=False
    )
    wide.index = wide.index.set_names(["method", "budget"])
    order = [s for s in SPACES if s in wide.columns]
    wide = wide[order + [c for c in wide.columns if c not in order]]
    wide.columns = [f"{stat} · {c.upper()} space" for c in wide.columns]
    return wide
