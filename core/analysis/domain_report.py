"""Results by target domain, for scenarios with several target domains (image folders, text
files): how many labels each domain got and how the unselected pool of each domain fared.

Read from the ``domain`` column of each run's samples table (so nothing new is stored); runs
without that column (the built-in scenarios) give an empty table. Per (method, budget, domain),
mean over seeds: pool size, labels picked, accuracy on the domain's unselected pool samples
before and after adaptation (in %), and the mean loss reduction r over them.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from core.selection import available
from core.storage.store import RunStore

COLUMNS = [
    "method",
    "budget",
    "domain",
    "seeds",
    "pool",
    "selected",
    "unselected_before",
    "unselected_after",
    "mean_r",
]


def domain_table(store: RunStore, run_ids: Sequence[str]) -> pd.DataFrame:
    """The per-domain summary of ``run_ids`` (see the module doc); empty without domains."""
    runs = store.finished_runs()
    runs = runs[runs["run_id"].isin(list(run_ids))]
    rows = []
    for run in runs.itertuples(index=False):
        samples = store.load_table(run.run_id, "samples")
        if "domain" not in samples:
            continue
        for domain, part in samples.groupby("domain", sort=True):
            rest = part[~part["selected"]]
            rows.append(
                {
                    "method": run.method,
                    "budget": run.budget,
                    "domain": domain,
                    "pool": len(part),
                    "selected": int(part["selected"].sum()),
                    "unselected_before": 100 * float((rest["pseudo"] == rest["label"]).mean()),
                    "unselected_after": 100 * float((rest["pred_after"] == rest["label"]).mean()),
                    "mean_r": float(rest["r"].mean()),
                    "seed": run.seed,
                }
            )
    if not rows:
        return pd.DataFrame(columns=COLUMNS)
    table = pd.DataFrame(rows)
    grouped = table.groupby(["method", "budget", "domain"], sort=False)
    out = grouped[["pool", "selected", "unselected_before", "unselected_after", "mean_r"]].mean()
    out.insert(0, "seeds", grouped["seed"].nunique())
    out = out.reset_index()[COLUMNS]
    order = {m: i for i, m in enumerate(available())}
    rank = out["method"].map(lambda m: order.get(m, len(order)))
    return (
        out.assign(_rank=rank)
        .sort_values(["budget", "_rank", "method", "domain"])
        .drop(columns="_rank")
        .reset_index(drop=True)
    )
