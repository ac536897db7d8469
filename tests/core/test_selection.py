"""Selectors: registry, the contract on a debug pool, k-center against brute force, degenerate
pools and bad input."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch
from scipy import special

from core import selection
from core.base.validation import ForgeLensError
from core.selection import kcenter_greedy, kmeanspp_seeding
from core.selection.embeddings import PoolEmbedding

# every registered selector (a new one joins every contract test below without an edit here)
NAMES = selection.available()
SCORE_RANKED = ("margin", "entropy", "duc")


def debug_pool(
    seed: int = 0, n: int = 120, d: int = 8, c: int = 4
) -> tuple[np.ndarray, np.ndarray]:
    """Clustered features with logits from a noisy linear head: a small pool with real structure."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((c, d)) * 3
    labels = rng.integers(c, size=n)
    z = centres[labels] + rng.standard_normal((n, d)) * rng.uniform(0.3, 2.0, size=(n, 1))
    logits = z @ centres.T / d + rng.standard_normal((n, c))
    return z.astype(np.float32), logits.astype(np.float32)


def _explicit(z: np.ndarray, logits: np.ndarray, space: str) -> np.ndarray:
    z = z.astype(np.float64)
    if space == "coreset":
        return z
    p = special.softmax(logits.astype(np.float64), axis=1)
    a = p.copy()
    a[np.arange(len(p)), p.argmax(1)] -= 1.0
    if space == "forge":
        a /= np.linalg.norm(a, axis=1, keepdims=True)
    return (a[:, :, None] * z[:, None, :]).reshape(len(z), -1)


def brute_force_kcenter(u: np.ndarray, n_picks: int, first: int) -> np.ndarray:
    """Algorithm 1, lines 2-6, with the full distance matrix."""
    dist = np.sqrt(((u[:, None, :] - u[None, :, :]) ** 2).sum(-1))
    picks = [first]
    for _ in range(1, n_picks):
        min_dist = dist[:, picks].min(axis=1)
        min_dist[picks] = -np.inf
        picks.append(int(np.argmax(min_dist)))
    return np.array(picks)


@pytest.mark.parametrize("name", NAMES)
def test_every_registered_name_builds_its_selector_and_round_trips_its_params(name) -> None:
    selector = selection.get_selector(name)
    assert isinstance(selector, selection.Selector) and selector.name == name
    params = selector.get_params()
    # scikit-learn's clone rule: the constructor stores every argument under its own name
    assert type(selector)(**params).get_params() == params
    assert repr(selector).startswith(type(selector).__name__ + "(")
    selector.validate_params()  # the defaults are allowed


def test_registry_order_and_default_sweep() -> None:
    names = selection.available()
    assert len(set(names)) == len(names) and names == tuple(selection.SELECTORS)
    assert set(selection.default_methods()) == set(names) - set(selection.NOT_IN_DEFAULT_SWEEP)
    assert selection.method_order(["zeta", *reversed(names), "alpha"]) == [*names, "alpha", "zeta"]


@pytest.mark.parametrize("name", NAMES)
def test_every_selector_returns_exact_distinct_deterministic_picks(name) -> None:
    z, logits = debug_pool()
    pool = PoolEmbedding.from_arrays(z, logits, device="cpu")
    n_picks = 13
    picks = selection.select(name, z, logits, n_picks, seed=3, device="cpu")
    assert picks.dtype == np.int64 and picks.shape == (n_picks,)
    assert len(set(picks.tolist())) == n_picks
    assert picks.min() >= 0 and picks.max() < len(z)
    np.testing.assert_array_equal(picks, selection.select(name, z, logits, n_picks, seed=3))
    np.testing.assert_array_equal(picks, selection.select_from_pool(name, pool, n_picks, seed=3))
    others = [selection.select_from_pool(name, pool, n_picks, seed=s) for s in range(4, 8)]
    if selection.SELECTORS[name].seeded:
        assert any(not np.array_equal(picks, o) for o in others)
    else:
        assert all(np.array_equal(picks, o) for o in others)
    full = selection.select_from_pool(name, pool, len(z), seed=0)  # n_picks = N: a permutation
    np.testing.assert_array_equal(np.sort(full), np.arange(len(z)))


@pytest.mark.parametrize("space", ["coreset", "forge"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_kcenter_greedy_equals_brute_force_including_the_first_centre(space, seed) -> None:
    z, logits = debug_pool(seed, n=60, d=5, c=3)
    pool = PoolEmbedding.from_arrays(z, logits, device="cpu", dtype=torch.float64)
    first = int(np.random.default_rng(seed).integers(len(z)))  # Algorithm 1, line 2
    expected = brute_force_kcenter(_explicit(z, logits, space), 20, first)
    np.testing.assert_array_equal(kcenter_greedy(pool.space(space), 20, seed=seed), expected)
    np.testing.assert_array_equal(selection.select_from_pool(space, pool, 20, seed=seed), expected)


def test_kcenter_greedy_is_prefix_consistent_and_honours_first() -> None:
    z, logits = debug_pool(4)
    pool = PoolEmbedding.from_arrays(z, logits, device="cpu")
    for space in ("coreset", "badge", "forge"):
        emb = pool.space(space)
        full = kcenter_greedy(emb, 40, seed=9)
        for k in (1, 2, 7, 39):
            np.testing.assert_array_equal(kcenter_greedy(emb, k, seed=9), full[:k])
        assert kcenter_greedy(emb, 5, first=17)[0] == 17


def _degenerate_pools() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(0)
    n = 30
    same = np.tile(rng.standard_normal((1, 6)), (n, 1))
    saturated = rng.standard_normal((n, 4))
    saturated[np.arange(n), rng.integers(4, size=n)] += 800.0  # exact one-hot softmax
    one_label = rng.standard_normal((n, 4))
    one_label[:, 2] += 50.0
    return {
        "identical points": (same, np.tile(rng.standard_normal((1, 4)), (n, 1))),
        "all-zero features": (np.zeros((n, 6)), rng.standard_normal((n, 4))),
        "one class column": (rng.standard_normal((n, 6)), rng.standard_normal((n, 1))),
        "one pseudo-label": (rng.standard_normal((n, 6)), one_label),
        "saturated softmax": (rng.standard_normal((n, 6)), saturated),
    }


@pytest.mark.parametrize("pool_name", list(_degenerate_pools()))
@pytest.mark.parametrize("name", NAMES)
def test_degenerate_pools_still_give_n_picks_distinct_indices(pool_name, name) -> None:
    z, logits = _degenerate_pools()[pool_name]
    for n_picks in (1, 7, len(z)):
        picks = selection.select(name, z, logits, n_picks, seed=1, device="cpu")
        assert picks.shape == (n_picks,) and len(set(picks.tolist())) == n_picks
        assert picks.min() >= 0 and picks.max() < len(z)


def test_documented_tie_rules_on_a_pool_of_identical_points() -> None:
    n = 12
    z = np.ones((n, 3))
    logits = np.tile([[0.5, 0.1]], (n, 1))
    pool = PoolEmbedding.from_arrays(z, logits, device="cpu")
    # k-center: selected points are masked, ties go to the lowest index
    first = int(np.random.default_rng(5).integers(n))
    expected = [first] + [i for i in range(n) if i != first][:5]
    for name in ("coreset", "forge"):
        np.testing.assert_array_equal(selection.select_from_pool(name, pool, 6, seed=5), expected)
    # score ranking: equal scores keep pool order
    for name in SCORE_RANKED:
        np.testing.assert_array_equal(selection.select_from_pool(name, pool, 6), np.arange(6))
    # k-means++: every remaining D^2 is 0, so draws are uniform among the unselected
    draws = {tuple(kmeanspp_seeding(pool.space("badge"), 4, seed=s, first=0)) for s in range(20)}
    assert len(draws) > 10 and all(d[0] == 0 and len(set(d)) == 4 for d in draws)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"n_picks": 0}, r"n_picks=0 is out of range: allowed \[1, 120\] \(the pool has 120"),
        ({"n_picks": 121}, r"n_picks=121 is out of range: allowed \[1, 120\]"),
        ({"n_picks": 2.5}, r"n_picks=2.5 must be an integer"),
        ({"n_picks": True}, r"n_picks=True must be an integer"),
        (
            {"name": "badg"},
            r"method='badg' is not known \(did you mean 'badge'\?\); allowed: "
            + re.escape(", ".join(NAMES)),
        ),
        ({"seed": -1}, r"seed=-1 is out of range"),
        ({"seed": 0.5}, r"seed=0.5 must be an integer"),
        ({"z": np.zeros((119, 8))}, "z has 119 rows but logits has 120"),
        ({"logits": np.zeros(120)}, r"logits has shape \(120,\) \(1-D\)"),
        ({"z": np.full((120, 8), np.inf)}, r"z holds 960 non-finite value\(s\)"),
        ({"logits": np.full((120, 4), np.nan)}, r"logits holds 480 non-finite value\(s\)"),
        ({"device": "gpu"}, r"device='gpu' is not known"),
    ],
)
def test_bad_input_raises_a_clear_error(kwargs, match) -> None:
    z, logits = debug_pool()
    args = {"name": "forge", "z": z, "logits": logits, "n_picks": 5, "seed": 0, "device": "cpu"}
    args.update(kwargs)
    with pytest.raises(ForgeLensError, match=match):
        selection.select(
            args.pop("name"), args.pop("z"), args.pop("logits"), args.pop("n_picks"), **args
        )


def test_lower_level_bad_input_is_rejected() -> None:
    z, logits = debug_pool()
    pool = PoolEmbedding.from_arrays(z, logits, device="cpu")
    with pytest.raises(ForgeLensError, match="method='nope' is not known"):
        selection.get_selector("nope")
    with pytest.raises(ForgeLensError, match="pool=ndarray is not allowed"):
        selection.get_selector("random").select(z, 3)
    with pytest.raises(ForgeLensError, match=r"first=120 is out of range: allowed \[0, 119\]"):
        kcenter_greedy(pool.space("forge"), 3, first=120)
    with pytest.raises(ForgeLensError, match=r"weights has shape \(3,\)"):
        kmeanspp_seeding(pool.space("badge"), 3, weights=np.ones(3))
    with pytest.raises(ForgeLensError, match="weights holds a negative value"):
        kmeanspp_seeding(pool.space("badge"), 3, weights=-np.ones(120))
    with pytest.raises(ForgeLensError, match="kappa=0.5 is not allowed"):
        selection.get_selector("duc", kappa=0.5).select(pool, 3)
    with pytest.raises(ForgeLensError, match="temperature=0 is not allowed"):
        selection.get_selector("clue", temperature=0).select(pool, 3)
    with pytest.raises(ForgeLensError, match="already registered"):
        selection.register(type(selection.get_selector("forge")))


def test_groups_take_a_fraction_and_name_it() -> None:
    """select_per_group's third argument is a fraction of each group (the sweep's budget)."""
    from core.selection.groups import group_counts, select_per_group

    groups = np.repeat([0, 1], [100, 20])
    assert group_counts(0.05, groups) == {0: 5, 1: 1}
    with pytest.raises(ForgeLensError, match=r"fraction=5 is out of range"):
        group_counts(5, groups)
    z, logits = debug_pool()
    pool = PoolEmbedding.from_arrays(z, logits, device="cpu")
    picks = select_per_group("margin", pool, 0.05, groups, seed=0)
    assert len(picks) == 6 and (picks[:5] < 100).all() and picks[5] >= 100


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_selectors_on_cuda_match_cpu_where_deterministic() -> None:
    z, logits = debug_pool(2, n=400, d=16, c=5)
    cpu = PoolEmbedding.from_arrays(z, logits, device="cpu", dtype=torch.float64)
    gpu = PoolEmbedding.from_arrays(z, logits, device="cuda", dtype=torch.float64)
    for name in NAMES:
        picks = selection.select_from_pool(name, gpu, 25, seed=1)
        assert len(set(picks.tolist())) == 25
        if not selection.SELECTORS[name].seeded or name in ("random", "coreset", "forge"):
            np.testing.assert_array_equal(picks, selection.select_from_pool(name, cpu, 25, seed=1))
