"""The teaching view's toy pool: exact 2-D images of the embedding spaces, k-center walks."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from core.analysis.toy import (
    TOY_SPACES,
    coverage_radii,
    kcenter_walk,
    make_toy_pool,
    plane_coordinates,
)
from core.base.validation import ForgeLensError
from core.selection.embeddings import PoolEmbedding


def _engine_sq_distances(z: np.ndarray, logits: np.ndarray, space: str) -> np.ndarray:
    """Pairwise squared distances from the engine's factored inner products (small pools)."""
    pool = PoolEmbedding.from_arrays(z, logits, device="cpu", dtype=torch.float64)
    embedding = pool.space(space)
    sq = embedding.sq_norms().numpy()
    inner = embedding.inner(np.arange(pool.n)).numpy()
    return np.clip(sq[:, None] + sq[None, :] - 2 * inner, 0, None)


def _plane_sq_distances(coords: np.ndarray) -> np.ndarray:
    return ((coords[:, None, :] - coords[None, :, :]) ** 2).sum(axis=-1)


@pytest.mark.parametrize("space", TOY_SPACES)
def test_plane_coordinates_are_isometric_to_the_engine_spaces(space: str) -> None:
    pool = make_toy_pool(n_per_cluster=6, n_high=8, seed=3)
    z, logits = pool.z, pool.logits.copy()
    logits[0] = [60.0, -60.0]  # a saturated softmax: BADGE residual 0, FORGE still |z|
    logits[1] = [0.3, 0.3]  # a tie: pseudo-label 0
    coords = plane_coordinates(z, logits, space)
    np.testing.assert_allclose(
        _plane_sq_distances(coords), _engine_sq_distances(z, logits, space), atol=1e-9
    )
    if space == "forge":
        np.testing.assert_allclose(np.linalg.norm(coords, axis=1), np.linalg.norm(z, axis=1))
    if space == "badge":
        assert np.linalg.norm(coords[0]) < 1e-20


def test_plane_coordinates_reject_non_binary_heads_and_bad_values() -> None:
    z = np.ones((4, 2))
    with pytest.raises(ForgeLensError, match="binary"):
        plane_coordinates(z, np.ones((4, 3)), "badge")
    with pytest.raises(ForgeLensError, match="space"):
        plane_coordinates(z, np.ones((4, 2)), "umap")
    bad = np.ones((4, 2))
    bad[2, 1] = np.nan
    with pytest.raises(ForgeLensError, match="non-finite"):
        plane_coordinates(z, bad, "forge")


def test_toy_pool_has_low_and_high_variability_groups() -> None:
    pool = make_toy_pool(n_per_cluster=10, n_high=12, seed=0)
    assert pool.n == 4 * 10 + 12 and pool.high.sum() == 12
    assert pool.znorm[pool.high].min() > pool.znorm[~pool.high].max()
    frame = pool.frame()
    assert list(frame.columns) == ["idx", "z1", "z2", "znorm", "cluster", "group", "pseudo"]
    np.testing.assert_array_equal(make_toy_pool(seed=5).z, make_toy_pool(seed=5).z)
    assert not np.array_equal(make_toy_pool(seed=5).z, make_toy_pool(seed=6).z)
    with pytest.raises(ForgeLensError, match="n_high"):
        make_toy_pool(n_high=0)


def test_coverage_radii_equal_brute_force() -> None:
    rng = np.random.default_rng(0)
    coords = rng.normal(size=(25, 2))
    picks = np.array([3, 17, 8, 0])
    radii = coverage_radii(coords, picks)
    for k in range(1, len(picks) + 1):
        d = np.linalg.norm(coords[:, None] - coords[picks[:k]][None], axis=-1).min(axis=1)
        assert radii[k - 1] == pytest.approx(d.max())


@pytest.mark.parametrize("space", ["badge", "forge"])
def test_kcenter_walk_is_prefix_consistent_deterministic_and_shrinking(space: str) -> None:
    pool = make_toy_pool(n_per_cluster=15, n_high=15, seed=1)
    long = kcenter_walk(pool, space, 12, seed=4)
    short = kcenter_walk(pool, space, 5, seed=4)
    assert long["idx"].iloc[:5].tolist() == short["idx"].tolist()
    assert long.equals(kcenter_walk(pool, space, 12, seed=4))
    assert long["idx"].is_unique and long["step"].tolist() == list(range(1, 13))
    assert np.all(np.diff(long["radius"]) <= 1e-12)
    coords = plane_coordinates(pool.z, pool.logits, space)
    np.testing.assert_allclose(long["radius"], coverage_radii(coords, long["idx"].to_numpy()))
    # greedy rule: each pick after the first is a farthest sample from the earlier picks
    for k in range(1, 12):
        d = np.linalg.norm(coords[:, None] - coords[long["idx"].iloc[:k]][None], axis=-1)
        nearest = d.min(axis=1)
        assert nearest[long["idx"].iloc[k]] == pytest.approx(nearest.max())
    with pytest.raises(ForgeLensError, match="n_picks"):
        kcenter_walk(pool, space, pool.n + 1)


def test_forge_picks_more_high_variability_samples_than_badge() -> None:
    """The teaching claim (paper Fig. 3b/4), checked over several pools and first picks."""
    for seed in range(4):
        pool = make_toy_pool(seed=seed)
        badge = kcenter_walk(pool, "badge", 15, seed=seed)["high"].sum()
        forge = kcenter_walk(pool, "forge", 15, seed=seed)["high"].sum()
        assert forge >= badge + 5, (seed, badge, forge)
