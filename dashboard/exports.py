"""Downloads in the units the screen shows: per-seed accuracy rows and the pairs behind a figure.

Pure pandas (no Streamlit): the pages hand these frames to ``widgets.download_buttons``.
Accuracies and budgets are in percent, as every table and figure shows them.
"""

from __future__ import annotations

import io

import pandas as pd

from core.base.validation import ForgeLensError

PAIR_COLUMNS = (
    "method",
    "budget",
    "source_seed",
    "seed",
    "space",
    "idx",
    "label",
    "pseudo",
    "nn_idx",
    "nn_label",
    "nn_pseudo",
    "distance",
    "gamma",
    "znorm",
    "nn_znorm",
    "loss_before",
    "loss_after",
    "r",
    "nn_loss_before",
    "nn_loss_after",
    "nn_r",
    "gap",
    "run_id",
)


def _require(frame: pd.DataFrame, name: str, columns: tuple[str, ...]) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ForgeLensError(f"{name} lacks column(s) {missing}; it has {list(frame.columns)}")


def accuracy_rows_percent(long: pd.DataFrame) -> pd.DataFrame:
    """One row per run, split and stage (before / after adaptation), accuracy in percent."""
    _require(long, "accuracy table", ("method", "budget", "seed", "split", "stage", "accuracy"))
    out = long.copy()
    out["budget_pct"] = 100 * out.pop("budget").astype(float)
    out["accuracy_pct"] = 100 * out.pop("accuracy").astype(float)
    first = [
        c
        for c in (
            "method",
            "budget_pct",
            "seed",
            "split",
            "stage",
            "accuracy_pct",
            "n",
            "loss",
            "run_id",
        )
        if c in out.columns
    ]
    return out[first + [c for c in out.columns if c not in first]].reset_index(drop=True)


def summary_percent(summary: pd.DataFrame) -> pd.DataFrame:
    """A method x budget summary with every fraction column (mean, std, diffs) in percent."""
    _require(summary, "summary", ("method", "budget"))
    out = summary.copy()
    out["budget"] = 100 * out["budget"].astype(float)
    fractions = [
        c
        for c in out.columns
        if c not in ("method", "budget", "n", "n_seeds") and pd.api.types.is_float_dtype(out[c])
    ]
    out[fractions] = 100 * out[fractions]
    return out.rename(columns={c: f"{c}_pct" for c in [*fractions, "budget"]})


def pairs_export(pairs: pd.DataFrame, class_names: list[str] | None = None) -> pd.DataFrame:
    """The pairs behind a gap figure: sample ids, classes (names when known), seed, numbers."""
    _require(pairs, "pairs", ("space", "idx", "nn_idx", "gap"))
    out = pairs[[c for c in PAIR_COLUMNS if c in pairs.columns]].copy()
    if "budget" in out.columns:
        out["budget"] = 100 * out["budget"].astype(float)
        out = out.rename(columns={"budget": "budget_pct"})
    _with_names(out, ("label", "pseudo", "nn_label", "nn_pseudo"), class_names)
    return out.reset_index(drop=True)


def _with_names(out: pd.DataFrame, columns: tuple[str, ...], names: list[str] | None) -> None:
    """Add ``<column>_name`` next to each class-code column (in place) when names are known."""
    if not names:
        return
    for column in columns:
        if column in out.columns:
            out[f"{column}_name"] = [
                names[int(v)] if 0 <= int(v) < len(names) else str(v) for v in out[column]
            ]


def umap_export(
    points: pd.DataFrame,
    picks_by_method: dict[str, pd.DataFrame],
    *,
    space: str,
    budget: float,
    seed: int,
    class_names: list[str] | None = None,
) -> pd.DataFrame:
    """The UMAP figure's data: one row per pool sample (map position, class, correctness,
    gamma) and, per selector shown, its pick order (NA when that selector did not pick it)."""
    _require(points, "UMAP points", ("idx", "x", "y"))
    first = ("idx", "x", "y", "label", "correct", "znorm", "domain")
    out = points[[c for c in first if c in points.columns]].copy()
    out.insert(0, "space", space)
    out.insert(1, "budget_pct", 100 * float(budget))
    out.insert(2, "seed", int(seed))
    for method, picks in picks_by_method.items():
        _require(picks, f"{method} picks", ("idx", "order"))
        order = picks.drop_duplicates("idx").set_index("idx")["order"]
        out[f"order_{method}"] = out["idx"].map(order).astype("Int64")
    _with_names(out, ("label",), class_names)
    return out.reset_index(drop=True)


def picks_export(picks: pd.DataFrame, class_names: list[str] | None = None) -> pd.DataFrame:
    """Every pick behind the overlap and class-mix figures: one row per (run, picked sample)."""
    _require(picks, "picks", ("method", "seed", "idx"))
    first = ("method", "budget", "seed", "order", "idx", "label", "domain", "run_id")
    out = picks[[c for c in first if c in picks.columns]].copy()
    if "budget" in out.columns:
        out["budget"] = 100 * out["budget"].astype(float)
        out = out.rename(columns={"budget": "budget_pct"})
    _with_names(out, ("label",), class_names)
    return out.reset_index(drop=True)


def fractions_percent(
    frame: pd.DataFrame, columns: tuple[str, ...], class_names: list[str] | None = None
) -> pd.DataFrame:
    """A figure's long table with its fraction ``columns`` in percent (as the axes show them),
    renamed ``<column>_pct``, and class names next to the label codes."""
    _require(frame, "figure table", columns)
    out = frame.copy()
    for column in columns:
        out[column] = 100 * out[column].astype(float)
    out = out.rename(columns={c: f"{c}_pct" for c in columns})
    _with_names(out, ("label",), class_names)
    return out.reset_index(drop=True)


def to_csv(frame: pd.DataFrame) -> bytes:
    return frame.to_csv(index=False).encode()


def to_parquet(frame: pd.DataFrame) -> bytes:
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    return buffer.getvalue()
