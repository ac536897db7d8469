"""Issue 13: the faster k-center / k-means++ pick what the former code picked, the pruned
k-center equals the full scan and a brute-force reference, and float32 stays accurate on pools
far from the origin or at tiny scales (issue 9, item 7)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

from core.selection import kcenter_greedy, kmeanspp_seeding, largest_norm_index
from core.selection.embeddings import PoolEmbedding, RescaledFeaturesWarning
from tests.helpers.reference_selection import OldSpace, brute_kcenter, old_kcenter, old_kmeanspp


def _random_pool(seed: int, n: int = 1500, d: int = 24, c: int = 10):
    rng = np.random.default_rng(seed)
    z = np.abs(rng.standard_normal((n, d)))  # ReLU-like features
    return z, rng.standard_normal((n, c)) * 3


def _clustered_pool(seed: int, n: int = 1500, d: int = 24, c: int = 10, k: int = 12):
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((k, d)) * 6
    label = rng.integers(k, size=n)
    z = centres[label] + rng.standard_normal((n, d)) * rng.uniform(0.1, 1.0, size=(n, 1))
    logits = rng.standard_normal((k, c))[label] * 4 + rng.standard_normal((n, c))
    return z, logits


POOLS = {"random": _random_pool, "clustered": _clustered_pool}


def _explicit(pool: PoolEmbedding, z: np.ndarray, space: str) -> np.ndarray:
    if space == "coreset":
        return z
    left = pool.residual if space == "badge" else pool.direction
    return (left[:, :, None] * z[:, None, :]).reshape(len(z), -1)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("kind", sorted(POOLS))
@pytest.mark.parametrize("space", ["coreset", "forge", "badge"])
def test_new_kcenter_and_kmeanspp_pick_what_the_former_code_picked(space, kind, dtype) -> None:
    z, logits = POOLS[kind](0)
    pool = PoolEmbedding.from_arrays(z, logits, device="cpu", dtype=dtype)
    old = OldSpace(z, logits, space, dtype)
    new = pool.space(space)
    budget = 60
    expected = old_kcenter(old, budget, first=7)
    np.testing.assert_array_equal(kcenter_greedy(new, budget, first=7), expected)
    np.testing.assert_array_equal(
        kcenter_greedy(new, budget, first=7, algorithm="pruned"), expected
    )
    first = largest_norm_index(new) if space != "coreset" else 3
    np.testing.assert_array_equal(
        kmeanspp_seeding(new, budget, seed=5, first=first),
        old_kmeanspp(old, budget, seed=5, first=first),
    )


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("kind", sorted(POOLS))
@pytest.mark.parametrize("space", ["coreset", "forge", "badge"])
def test_pruned_kcenter_equals_full_scan_and_brute_force(space, kind, seed) -> None:
    z, logits = POOLS[kind](seed, n=800)
    pool = PoolEmbedding.from_arrays(z, logits, device="cpu", dtype=torch.float64)
    emb = pool.space(space)
    budget = 120
    stats: dict = {}
    pruned = kcenter_greedy(emb, budget, seed=seed, algorithm="pruned", stats=stats)
    scan = kcenter_greedy(emb, budget, seed=seed)
    np.testing.assert_array_equal(pruned, scan)
    np.testing.assert_array_equal(
        pruned, brute_kcenter(_explicit(pool, z, space), budget, first=int(scan[0]))
    )
    assert len(stats["scanned"]) == budget - 1 and stats["scanned"][0] == pool.n
    if kind == "clustered":  # the bounds must actually skip work on a clustered pool
        assert sum(stats["scanned"]) < 0.5 * pool.n * (budget - 1)
    f32 = PoolEmbedding.from_arrays(z, logits, device="cpu").space(space)
    np.testing.assert_array_equal(
        kcenter_greedy(f32, budget, seed=seed, algorithm="pruned"),
        kcenter_greedy(f32, budget, seed=seed),
    )


def test_pruned_kcenter_on_identical_points_takes_the_lowest_indices() -> None:
    z = np.ones((50, 4))
    logits = np.zeros((50, 3))
    for space in ("coreset", "forge"):
        emb = PoolEmbedding.from_arrays(z, logits, device="cpu").space(space)
        picks = kcenter_greedy(emb, 10, first=4, algorithm="pruned")
        np.testing.assert_array_equal(picks, kcenter_greedy(emb, 10, first=4))
        np.testing.assert_array_equal(picks, [4, 0, 1, 2, 3, 5, 6, 7, 8, 9])


@pytest.mark.parametrize("algorithm", ["scan", "pruned"])
@pytest.mark.parametrize("kind", sorted(POOLS))
def test_float32_picks_match_float64_on_shifted_and_scaled_pools(kind, algorithm) -> None:
    z, logits = POOLS[kind](3, n=1000)
    for transformed in (z + 1000.0, z * 1e-30, z * 1e30, (z - 5.0) * 1e-3):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RescaledFeaturesWarning)
            p32 = PoolEmbedding.from_arrays(transformed, logits, device="cpu")
            p64 = PoolEmbedding.from_arrays(transformed, logits, device="cpu", dtype=torch.float64)
        picks32 = kcenter_greedy(p32.space("coreset"), 100, first=0, algorithm=algorithm)
        picks64 = kcenter_greedy(p64.space("coreset"), 100, first=0, algorithm=algorithm)
        np.testing.assert_array_equal(picks32, picks64)
        # and both equal the untransformed float64 picks (translation and scale invariance)
        np.testing.assert_array_equal(picks64, brute_kcenter(z, 100, first=0))
        rng_picks = kmeanspp_seeding(p32.space("coreset"), 50, seed=1, first=0)
        np.testing.assert_array_equal(
            rng_picks, kmeanspp_seeding(p64.space("coreset"), 50, seed=1, first=0)
        )
        _, d32 = p32.space("coreset").nearest(picks32)
        _, d64 = p64.space("coreset").nearest(picks64)
        # squared: a centre's distance to itself is float32 rounding of |u|^2, not 0
        np.testing.assert_allclose(d32**2, d64**2, rtol=1e-4, atol=1e-4 * (d64**2).max())


def test_tiny_features_are_rescaled_with_a_message_and_distances_keep_their_units() -> None:
    z, logits = _random_pool(4, n=200)
    with pytest.warns(RescaledFeaturesWarning, match=r"spread of 5.96e-31.*rescaled by 2\^100"):
        tiny = PoolEmbedding.from_arrays(z * 1e-30, logits, device="cpu")
    plain = PoolEmbedding.from_arrays(z, logits, device="cpu", dtype=torch.float64)
    centres = np.arange(0, 200, 9)
    for space in ("coreset", "forge", "badge"):
        pos, dist = tiny.space(space).nearest(centres)
        pos64, dist64 = plain.space(space).nearest(centres)
        np.testing.assert_array_equal(pos, pos64)
        np.testing.assert_allclose(
            dist, dist64 * 1e-30, rtol=1e-4, atol=1e-2 * 1e-30
        )  # self: rounding
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # ordinary features: no rescaling, no message
        assert PoolEmbedding.from_arrays(z, logits, device="cpu").scale == 1.0


def _device_path_picks(pool: PoolEmbedding, space: str) -> dict[str, np.ndarray]:
    emb = pool.space(space)
    first = largest_norm_index(emb)
    weights = np.random.default_rng(2).uniform(0.0, 2.0, size=pool.n)
    return {
        "scan": kcenter_greedy(emb, 80, first=first),
        "pruned": kcenter_greedy(emb, 80, first=first, algorithm="pruned"),
        "kmeanspp": kmeanspp_seeding(emb, 60, seed=3, first=first),
        "weighted": kmeanspp_seeding(emb, 60, seed=3, weights=weights),
    }


@pytest.mark.parametrize("space", ["coreset", "forge", "badge"])
def test_device_code_path_picks_what_the_host_path_picks(space) -> None:
    """The torch (GPU) branch of every step, run on CPU tensors, against the numpy branch."""
    z, logits = _clustered_pool(5, n=700)
    host = PoolEmbedding.from_arrays(z, logits, device="cpu", dtype=torch.float64)
    device = PoolEmbedding.from_arrays(z, logits, device="cpu", dtype=torch.float64)
    device.space(space).host_steps = False
    expected = _device_path_picks(host, space)
    for name, picks in _device_path_picks(device, space).items():
        np.testing.assert_array_equal(picks, expected[name], err_msg=name)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("space", ["coreset", "forge", "badge"])
def test_cuda_selection_picks_what_the_cpu_picks(space) -> None:
    z, logits = _clustered_pool(6, n=3000)
    cpu = PoolEmbedding.from_arrays(z, logits, device="cpu", dtype=torch.float64)
    gpu = PoolEmbedding.from_arrays(z, logits, device="cuda", dtype=torch.float64)
    expected = _device_path_picks(cpu, space)
    for name, picks in _device_path_picks(gpu, space).items():
        np.testing.assert_array_equal(picks, expected[name], err_msg=name)


def test_clue_kmeans_implementations_agree_on_a_clustered_pool() -> None:
    """scikit-learn (CPU) and the torch loop (CUDA) reach the same clusters from the same seeds."""
    from core.selection.clue import sklearn_weighted_kmeans, torch_weighted_kmeans
    from core.selection.uncertainty import predictive_entropy

    z, logits = _clustered_pool(7, n=900, k=12)
    pool = PoolEmbedding.from_arrays(z, logits, device="cpu", dtype=torch.float64)
    w = predictive_entropy(logits)
    c_sk, l_sk, _ = sklearn_weighted_kmeans(pool, 12, w, seed=0)
    c_t, l_t, _ = torch_weighted_kmeans(pool, 12, w, seed=0)
    np.testing.assert_array_equal(l_sk.numpy(), l_t.numpy())
    np.testing.assert_allclose(c_sk.numpy(), c_t.numpy(), rtol=1e-9, atol=1e-9)
