"""Cached reads of the run store, scenarios and the toy pool, for the pages.

Finished runs never change (a run folder appears atomically with its marker), so tables are
cached by ``(root, run_ids)``; the list of runs is keyed by a cheap stamp of the store folder so
new runs show up without a restart. Scenarios are cached as resources (built once per process).
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import streamlit as st

from core.base.validation import ForgeLensError
from core.records.tangent_norms import FULL_TANGENT, tangent_path, with_tangent_norms
from core.storage.integrity import DamagedError
from core.storage.store import RunStore, default_root
from core.tasks import task_of

RUN_COLUMNS = ("method", "budget", "seed")


def store_root() -> str:
    """Absolute path of the run store: ``$FORGELENS_RUNS`` or ``runs/``
    (core.storage.store.default_root)."""
    return str(Path(default_root()).resolve())


def store_stamp(root: str) -> tuple[int, int]:
    """Changes whenever a run folder appears or disappears (mtime and entry count of the root)."""
    try:
        return os.stat(root).st_mtime_ns, len(os.listdir(root))
    except FileNotFoundError:
        return 0, 0


def tangent_stamp(root: str, run_ids: tuple[str, ...]) -> tuple[tuple[str, int], ...]:
    """Changes when the full-network tangent norms of these runs' pools are stored (they
    follow a sweep's first runs: ``core.run.follow_up``)."""
    store = get_store(root)
    pools = sorted({str(info.get("pool_id")) for info in run_configs(root, run_ids).values()})
    stamps = []
    for pool_id in pools:
        try:
            stamps.append((pool_id, tangent_path(store, pool_id).stat().st_mtime_ns))
        except (OSError, ForgeLensError):  # not computed yet, or no valid pool id
            stamps.append((pool_id, 0))
    return tuple(stamps)


@st.cache_data(show_spinner="Checking Theorem 4 and Proposition 2…", max_entries=32)
def theory_table(
    root: str, run_ids: tuple[str, ...], tangent: tuple[tuple[str, int], ...] = ()
) -> pd.DataFrame:
    """``core.analysis.reports.theory_table`` of these runs (``tangent``: their
    ``tangent_stamp``, so the proxy's correlation appears once the norms are stored)."""
    from core.analysis.reports import theory_table as build

    return build(get_store(root), list(run_ids))


@st.cache_data(show_spinner=False, max_entries=16)
def samples_table(
    root: str, run_ids: tuple[str, ...], tangent: tuple[tuple[str, int], ...] = ()
) -> pd.DataFrame:
    """``run_table(..., "samples")`` with every run's ``tangent_norm_full``: its own column
    (runs recorded before the norms moved beside the pool), else its pool's stored norms,
    else NaN (pretrained backbones, or not computed yet). ``tangent``: ``tangent_stamp``."""
    table = run_table(root, run_ids, "samples")
    if table.empty or "idx" not in table.columns:
        return table
    store, configs = get_store(root), run_configs(root, run_ids)
    own = table[FULL_TANGENT] if FULL_TANGENT in table.columns else None
    column = np.full(len(table), np.nan) if own is None else own.to_numpy(np.float64, copy=True)
    for run_id, rows in table.groupby("run_id", sort=False).indices.items():
        if own is not None and own.iloc[rows].notna().any():
            continue
        part = table[["idx"]].iloc[rows].reset_index(drop=True)
        joined = with_tangent_norms(store, str(configs[run_id].get("pool_id")), part)
        column[rows] = joined[FULL_TANGENT].to_numpy(np.float64)
    return table.assign(**{FULL_TANGENT: column})


@st.cache_resource(show_spinner=False)
def cuda_available() -> bool:
    """Whether CUDA looks usable here, for the Run page's device hint (``cuda_probe``)."""
    return cuda_probe()


def cuda_probe(
    torch_version: Path | None = None, gpus: Path = Path("/proc/driver/nvidia/gpus")
) -> bool:
    """Whether the installed torch is a CUDA build (its ``version.py`` names a CUDA version)
    and the NVIDIA driver lists a GPU; without importing torch, which takes seconds on a small
    machine and would hold up the page. The sweep itself decides with
    ``torch.cuda.is_available()`` (``core.base.device``)."""
    if torch_version is None:
        spec = importlib.util.find_spec("torch")
        if spec is None or spec.origin is None:
            return False
        torch_version = Path(spec.origin).with_name("version.py")
    try:
        text = torch_version.read_text(encoding="utf-8")
    except OSError:
        return False
    built_for_cuda = re.search(r"^cuda\b[^=\n]*=\s*['\"][^'\"]+['\"]", text, re.MULTILINE)
    return bool(built_for_cuda) and gpus.is_dir() and any(gpus.iterdir())


@st.cache_resource(show_spinner=False)
def get_store(root: str) -> RunStore:
    return RunStore(root)


@st.cache_data(show_spinner=False, max_entries=16)
def finished_runs(root: str, stamp: tuple[int, int]) -> pd.DataFrame:
    """Every finished run of the store with its setting and experiment
    (``core.analysis.reports.with_settings``; ``stamp`` only invalidates the cache)."""
    from core.analysis.reports import with_settings

    del stamp
    store = get_store(root)
    return with_settings(store, store.finished_runs())


@st.cache_data(show_spinner=False, max_entries=16)
def refused_runs(root: str, stamp: tuple[int, int]) -> dict[str, str]:
    """Finished runs of a newer run format than this code reads: run id -> why."""
    del stamp
    return get_store(root).refused_runs()


@st.cache_data(show_spinner=False, max_entries=16)
def run_configs(root: str, run_ids: tuple[str, ...]) -> dict[str, dict[str, Any]]:
    """Configs of the runs; a run found damaged on the way is quarantined and left out."""
    store = get_store(root)
    configs = {}
    for run_id in run_ids:
        with contextlib.suppress(DamagedError):
            configs[run_id] = store.load_config(run_id)
    return configs


@st.cache_data(show_spinner="Loading run tables…", max_entries=64)
def run_table(root: str, run_ids: tuple[str, ...], name: str) -> pd.DataFrame:
    """One table (selection, accuracy, samples, pairs or summary) of several runs, stacked.

    Adds run_id, method, budget, seed and source_seed columns; the index is a plain 0..n-1 row
    number, which figures use as the key of each point.
    """
    store = get_store(root)
    frames = []
    configs = run_configs(root, run_ids)
    for run_id in _display_order(configs):
        try:
            table = store.load_table(run_id, name)
        except DamagedError:  # quarantined now; the sidebar names it, the rest is shown
            continue
        config = configs[run_id]["config"]
        table.insert(0, "run_id", run_id)
        for column in RUN_COLUMNS:
            table.insert(len(table.columns), column, config[column])
        # the source model's seed: runs of two source models share selection seeds
        source_seed = int(config.get("hparams", {}).get("source_seed", 0))
        table.insert(len(table.columns), "source_seed", source_seed)
        frames.append(table)
    if not frames:
        return pd.DataFrame(columns=["run_id", *RUN_COLUMNS, "source_seed"])
    stacked = pd.concat(frames, ignore_index=True)
    if "space" in stacked.columns:
        stacked["space"] = stacked["space"].astype(str)
    return stacked


def _display_order(runs: dict[str, dict[str, Any]]) -> list[str]:
    """Run ids by selector (registry order, ``core.selection.method_order``), budget, seed."""
    from core.selection import method_order

    configs = {run_id: info["config"] for run_id, info in runs.items()}
    rank = {m: i for i, m in enumerate(method_order(c["method"] for c in configs.values()))}
    return sorted(
        configs,
        key=lambda r: (
            rank[configs[r]["method"]],
            float(configs[r]["budget"]),
            int(configs[r].get("hparams", {}).get("source_seed", 0)),
            int(configs[r]["seed"]),
        ),
    )


@st.cache_data(show_spinner=False, max_entries=16)
def pool_table(root: str, pool_id: str) -> pd.DataFrame:
    return get_store(root).load_pool(pool_id)


@st.cache_data(show_spinner=False, max_entries=16)
def pool_meta(root: str, pool_id: str) -> dict[str, Any]:
    """The pool's meta; {} when the pool is missing or damaged (class names then fall back to
    the labels, and the sidebar names the damaged pool)."""
    try:
        return get_store(root).load_pool_meta(pool_id)
    except ForgeLensError:
        return {}


def umap_is_cached(root: str, pool_id: str, space: str) -> bool:
    return (get_store(root).pool_dir(pool_id) / f"umap_{space}.parquet").is_file()


@st.cache_data(
    show_spinner="Computing the UMAP of the pool once (then cached on disk)…", max_entries=16
)
def umap_points(root: str, pool_id: str, space: str) -> pd.DataFrame:
    """The pool's UMAP in ``space`` joined with its per-sample facts (label, correct, znorm…)."""
    from core.analysis.projection import umap_2d

    layout = umap_2d(get_store(root), pool_id, space)
    return layout.merge(pool_table(root, pool_id), on="idx", how="left")


def params_key(params: dict[str, Any] | None) -> str | None:
    """Builder parameters as a canonical JSON string (hashable cache key); None for defaults."""
    return None if params is None else json.dumps(params, sort_keys=True)


@st.cache_resource(show_spinner="Loading the scenario…")
def scenario(root: str, name: str, params: str | None = None):
    """Scenario ``name`` as the store ``root`` knows it (a built-in or a scenario file saved
    there), with its defaults or built with the JSON ``params`` a run recorded
    (``config["scenario_params"]``, a slice) so pool indices mean the same samples."""
    from core.scenarios import scenario_entry

    entry = scenario_entry(name, root)
    return entry.load() if params is None else entry.build(**json.loads(params))


@st.cache_data(show_spinner=False, max_entries=64)
def default_adaptation(root: str, name: str) -> str:
    """The adaptation mode scenario ``name`` of the store ``root`` uses by default ("full" when
    the scenario is no longer known there: its runs are still shown)."""
    from core.base.validation import ForgeLensError
    from core.scenarios import scenario_entry

    try:
        return scenario_entry(name, root).adaptation
    except ForgeLensError:
        return "full"


def run_scenario_params(root: str, run_id: str) -> str | None:
    """The scenario parameters a run was made with (``params_key`` form), None for defaults."""
    return params_key(run_configs(root, (run_id,))[run_id]["config"].get("scenario_params"))


@st.cache_data(show_spinner=False, max_entries=256)
def thumbnails(
    root: str, scenario_name: str, indices: tuple[int, ...], params: str | None = None
) -> list[Any]:
    """Target-pool previews (PIL images, or text for text scenarios) for ``indices``."""
    data = scenario(root, scenario_name, params)
    return [data.preview("target_pool", int(i)) for i in indices]


@st.cache_data(show_spinner=False, max_entries=256)
def pool_previews(root: str, pool_id: str, indices: tuple[int, ...]) -> list[Any] | None:
    """Previews stored with the pool (``core.records.previews``): no scenario load; None if
    absent."""
    from core.records.previews import read_previews

    return read_previews(get_store(root), pool_id, indices)


def store_previews(root: str, pool_id: str, scenario_name: str, params: str | None) -> None:
    """Write the pool's previews once (stores made before previews were stored with pools), for
    a task that stores them (``core.tasks.Task.previews``)."""
    from core.records.previews import write_previews

    data = scenario(root, scenario_name, params)
    if task_of(data).previews:
        write_previews(get_store(root), pool_id, data)
    pool_previews.clear()


@st.cache_data(show_spinner="Reading accuracy…", max_entries=32)
def accuracy_long_table(root: str, run_ids: tuple[str, ...]) -> pd.DataFrame:
    """Every run's accuracy rows (``core.analysis.reports.accuracy_long``), read once for the
    summary
    and the decomposition alike."""
    from core.analysis.reports import accuracy_long

    return accuracy_long(get_store(root), list(run_ids))


@st.cache_data(show_spinner="Summarising accuracy…", max_entries=32)
def accuracy_tables(
    root: str, run_ids: tuple[str, ...], split: str = "test"
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(long table, per method x budget summary) from ``core.analysis.reports``."""
    from core.analysis.reports import accuracy_summary

    long = accuracy_long_table(root, run_ids)
    return long, accuracy_summary(long, split=split)


@st.cache_data(show_spinner=False, max_entries=32)
def decomposition_table(root: str, run_ids: tuple[str, ...], budget: float) -> pd.DataFrame:
    from core.analysis.reports import decomposition

    return decomposition(accuracy_long_table(root, run_ids), budget)


@st.cache_data(show_spinner=False, max_entries=32)
def correlation_table(root: str, run_ids: tuple[str, ...]) -> pd.DataFrame:
    from core.analysis.reports import correlation_summary

    # runs recorded before within-run intervals were stored: not recomputed at page time
    return correlation_summary(get_store(root), list(run_ids), legacy_intervals=False)


@st.cache_data(show_spinner="Running k-center greedy on the toy pool…", max_entries=32)
def toy_walks(
    seed: int,
    n_per_cluster: int,
    n_high: int,
    n_picks: int,
    spaces: tuple[str, ...] = ("badge", "forge"),
) -> tuple[dict[str, pd.DataFrame], dict[str, pd.DataFrame]]:
    """(planes, walks) per space for the teaching view; one full run, shown by prefixes."""
    from core.analysis.toy import kcenter_walk, make_toy_pool, plane_coordinates

    pool = make_toy_pool(n_per_cluster=n_per_cluster, n_high=n_high, seed=seed)
    planes, walks = {}, {}
    for space in spaces:
        coords = plane_coordinates(pool.z, pool.logits, space)
        planes[space] = pd.DataFrame(
            {
                "idx": np.arange(pool.n),
                "u": coords[:, 0],
                "v": coords[:, 1],
                "znorm": pool.znorm,
                "high": pool.high,
            }
        )
        walks[space] = kcenter_walk(pool, space, n_picks, seed=seed)
    return planes, walks
