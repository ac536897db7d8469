"""Comparing two stores' runs: the same results, whatever wrote them (executor, process)."""

from __future__ import annotations

import json

from core.storage.store import TABLES, RunStore

VOLATILE = ("created", "timings", "versions")  # wall-clock facts, not results
NESTED_VOLATILE = (
    ("adaptation_info", "estimate_seconds"),
    ("adaptation_info", "seconds"),
    ("source_model", "cached"),
    ("source_model", "created"),
    ("source_model", "train_seconds"),
    ("features", "cached"),
    ("features", "path"),
    ("features", "seconds"),
)


def assert_identical_runs(a: RunStore, b: RunStore, ids: list[str]) -> None:
    """Every run of ``ids`` is finished in ``b`` with tables byte-identical to ``a``'s, configs
    equal but for wall-clock fields, and the same pool meta."""
    for run_id in ids:
        assert b.is_finished(run_id)
        for table in TABLES:
            left = (a.run_dir(run_id) / f"{table}.parquet").read_bytes()
            right = (b.run_dir(run_id) / f"{table}.parquet").read_bytes()
            assert left == right, f"{run_id} {table}"
        configs = [json.loads((s.run_dir(run_id) / "config.json").read_text()) for s in (a, b)]
        for config in configs:
            for key in VOLATILE:
                config.pop(key)
            for outer, inner in NESTED_VOLATILE:  # a timing; trained here vs read from cache
                if isinstance(config.get(outer), dict):
                    config[outer].pop(inner, None)
        assert configs[0] == configs[1]
    assert a.load_pool_meta(a.load_config(ids[0])["pool_id"]) == b.load_pool_meta(
        b.load_config(ids[0])["pool_id"]
    )
