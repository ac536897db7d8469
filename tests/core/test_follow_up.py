"""Pool jobs beside the runs (core.run.follow_up): the helper process and the sweep's process
share the units, and the joined result is bit for bit the whole job's, whoever computed which
part, also when the helper fails or dies."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pytest
import torch

from core.records.tangent_norms import (
    FULL_TANGENT,
    read_pool_tangent_norms,
    with_tangent_norms,
)
from core.records.theory import full_tangent_norms, tangent_norms_part
from core.run.follow_up import FollowUp, cores
from core.run.sweep import run_sweep
from core.storage.store import RunStore
from core.tasks.pool_jobs import PoolJob, even_parts

CPU = torch.device("cpu")
needs_two_cores = pytest.mark.skipif(cores() < 2, reason="the helper needs a second core")


def _model_and_pool(n: int = 200) -> tuple[torch.nn.Module, torch.Tensor]:
    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Flatten(), torch.nn.Linear(16, 12), torch.nn.ReLU(), torch.nn.Linear(12, 4)
    )
    return model, torch.randn(n, 1, 4, 4)


SAVED: dict[str, np.ndarray] = {}


def _keep(key: str, values: np.ndarray) -> None:
    SAVED[key] = values


def _fails_in_the_helper(sweep_pid: int, start: int, stop: int) -> np.ndarray:
    if os.getpid() != sweep_pid:
        raise RuntimeError("only the helper fails")
    return np.arange(start, stop, dtype=np.float64)


def _tangent_job(model, x, key: str) -> PoolJob:
    return PoolJob(
        label="tangent norms",
        stage="tangent norms",
        compute=tangent_norms_part,
        args=(model, x, "cpu"),
        parts=even_parts(len(x), 32),  # whole chunks of full_tangent_norms
        save=_keep,
        save_args=(key,),
    )


def test_even_parts_cover_the_pool_once():
    assert even_parts(70, 32) == ((0, 32), (32, 64), (64, 70))
    assert even_parts(0, 32) == ()
    with pytest.raises(ValueError, match="size=0"):
        even_parts(10, 0)


def test_parts_computed_here_join_into_the_whole_pools_bits():
    model, x = _model_and_pool(150)
    later = FollowUp(helper=False)
    later.submit([_tangent_job(model, x, "here")])
    later.finish()
    assert np.array_equal(SAVED.pop("here"), full_tangent_norms(model, x, device=CPU))


@needs_two_cores
def test_the_helper_and_the_sweep_share_the_parts_and_get_the_same_bits():
    model, x = _model_and_pool(200)
    events: list[dict] = []
    with FollowUp() as later:
        later.submit([_tangent_job(model, x, "shared")])
        assert later._process is not None  # 7 parts: worth a helper
        later._compute(later._shared[later._claim()], events.append)  # the sweep takes one
        later._wait_for_helper(events.append)  # and the helper the others
        later.finish(events.append)
    assert np.array_equal(SAVED.pop("shared"), full_tangent_norms(model, x, device=CPU))
    finished = [e for e in events if "seconds" in e]
    assert len(finished) == 7  # every part once
    assert sorted(e["by"] for e in finished) == ["helper"] * 6 + ["sweep"]


@needs_two_cores
def test_a_job_bound_to_this_process_is_never_given_to_the_helper():
    """A GPU's bits are not the CPU's: such a job's parts are all computed by the sweep."""
    events: list[dict] = []
    job = PoolJob(
        label="arange",
        stage="test",
        compute=_fails_in_the_helper,  # would fail, and say so, in the helper
        args=(os.getpid(),),
        parts=even_parts(100, 10),
        save=_keep,
        save_args=("bound",),
        anywhere=False,
    )
    spread = _tangent_job(*_model_and_pool(200), "spread")  # gives the helper work to do
    with FollowUp() as later:
        later.submit([spread, job])
        later.finish(events.append)
    assert np.array_equal(SAVED.pop("bound"), np.arange(100, dtype=np.float64))
    SAVED.pop("spread")
    bound = [e for e in events if e["stage"] == "test" and "seconds" in e]
    assert len(bound) == 10 and {e["by"] for e in bound} == {"sweep"}
    assert not any("helper failed" in e["message"] for e in events)


@needs_two_cores
def test_a_unit_the_helper_fails_on_is_redone_here():
    events: list[dict] = []
    job = PoolJob(
        label="arange",
        stage="test",
        compute=_fails_in_the_helper,
        args=(os.getpid(),),
        parts=even_parts(100, 10),
        save=_keep,
        save_args=("redone",),
    )
    with FollowUp() as later:
        later.submit([job])
        later._wait_for_helper(events.append)  # let the helper fail every part it takes
        later.finish(events.append)
    assert np.array_equal(SAVED.pop("redone"), np.arange(100, dtype=np.float64))
    assert any("helper failed, redone here" in e["message"] for e in events)


@needs_two_cores
def test_a_job_that_cannot_travel_is_computed_here():
    """A job the helper could not receive (a lambda does not pickle) never waits for it."""
    job = PoolJob(
        label="lambda",
        stage="test",
        compute=lambda start, stop: np.arange(start, stop, dtype=np.float64),
        args=(),
        parts=even_parts(50, 10),
        save=_keep,
        save_args=("local",),
    )
    with FollowUp() as later:
        later.submit([job])
        assert later._process is None and not later.helper
        later.finish()
    assert np.array_equal(SAVED.pop("local"), np.arange(50, dtype=np.float64))


@needs_two_cores
def test_a_helper_that_dies_leaves_its_parts_to_the_sweep():
    model, x = _model_and_pool(200)
    with FollowUp() as later:
        later.submit([_tangent_job(model, x, "died")])
        later._process.kill()
        later._process.join()
        later.finish()
    assert np.array_equal(SAVED.pop("died"), full_tangent_norms(model, x, device=CPU))


def test_runs_no_longer_carry_the_norms_but_read_back_as_before(tmp_path):
    """The pool's norms are stored once beside it; a run's samples table joined with them has
    the columns (and order) runs recorded before the norms moved."""
    ids = run_sweep("debug", ["random"], [0.1], [0], root=str(tmp_path), device="cpu")
    store = RunStore(tmp_path)
    info = store.load_config(ids[0])
    samples = store.load_table(ids[0], "samples")
    assert FULL_TANGENT not in samples.columns
    joined = with_tangent_norms(store, info["pool_id"], samples)
    assert list(joined.columns) == [*samples.columns, FULL_TANGENT]
    norms = read_pool_tangent_norms(
        store, info["pool_id"], store.load_pool_meta(info["pool_id"])["n"]
    )
    assert norms is not None and (norms > 0).all()
    np.testing.assert_array_equal(joined[FULL_TANGENT], norms[samples["idx"]])
    # a run recorded with its own column keeps it as it is
    own = samples.assign(**{FULL_TANGENT: 1.0})
    pd.testing.assert_frame_equal(with_tangent_norms(store, info["pool_id"], own), own)
