"""Issue 13: the faster k-center / k-means++ pick what the former code picked, the pruned
k-center equals the full scan and a brute-force reference, and float32 stays accurate on pools
far from the origin or at tiny scales (issue 9, item 7)."""

from __future__ import annotations

import copy
import warnings

import numpy as np
import pytest
import torch

from core.selection import kcenter_greedy, kmeanspp_seeding, largest_norm_index
from core.selection.embeddings import PoolEmbedding, RescaledFeaturesWarning
from core.selection.kmeanspp import _draw_centre
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


class _Along:
    """The former code's float32 distances, the new code's and the exact (float64, explicit
    vectors) ones to the centres of a given pick sequence, with the float32 rounding bound.

    The bound is kcenter's (module notes): each computed |u_i - u_c|^2 is within
    kappa (nu_i^2 + nu_c^2) of the exact one, kappa = 2 (D + C + 20) eps, nu_i >= |u_i| for both
    codes (uncentred for the former, centred plus |m| for the new one). A minimum over centres is
    then within the largest bound among the centres that could be the nearest.
    """

    def __init__(self, z: np.ndarray, logits: np.ndarray, space: str, pool: PoolEmbedding):
        self.old = OldSpace(z, logits, space, torch.float32)
        self.new = pool.space(space)
        self.u = _explicit(pool, z, space)
        zn = np.linalg.norm(z, axis=1)
        zc = np.linalg.norm(z - z.mean(axis=0), axis=1)
        if space == "coreset":
            self.nu2 = np.maximum(zn, zc) ** 2
            n_left = 0
        else:
            left = pool.residual if space == "badge" else pool.direction
            self.nu2 = (left**2).sum(1) * np.maximum(zn, zc + np.linalg.norm(z.mean(axis=0))) ** 2
            n_left = left.shape[1]
        self.kappa = 2.0 * (z.shape[1] + n_left + 20) * float(np.finfo(np.float32).eps)
        self.centres: list[int] = []
        self.to_centres: list[np.ndarray] = []  # exact squared distances to each centre
        self.old_min = torch.full((len(z),), float("inf"))
        self.new_min = torch.full((len(z),), float("inf"))

    def add(self, centre: int) -> None:
        self.centres.append(centre)
        diff = self.u - self.u[centre]
        self.to_centres.append(np.einsum("ij,ij->i", diff, diff))
        torch.minimum(self.old_min, self.old.sq_dist_to(centre), out=self.old_min)
        torch.minimum(self.new_min, self.new.sq_dist_to(centre), out=self.new_min)

    def former_farthest(self) -> int:
        """The former code's next k-center pick (its own argmax, ties to the lowest index)."""
        masked = self.old_min.clone()
        masked[self.centres] = float("-inf")
        return int(torch.argmax(masked))

    def exact_and_tolerance(self) -> tuple[np.ndarray, np.ndarray]:
        """Exact min squared distances and how far float32 rounding may move each."""
        to = np.stack(self.to_centres, axis=1)
        exact = to.min(axis=1)
        err = self.kappa * (self.nu2[:, None] + self.nu2[self.centres][None, :])
        return exact, np.where(to - err <= exact[:, None], err, 0.0).max(axis=1)


def _assert_kcenter_as_former(along: _Along, picks: np.ndarray) -> int:
    """Replay the former k-center along ``picks``: each pick must be the former code's, or tied
    with it (exact distances equal within float32 rounding). Returns the number of ties."""
    ties = 0
    for step in range(1, len(picks)):
        along.add(int(picks[step - 1]))
        former, pick = along.former_farthest(), int(picks[step])
        if pick == former:
            continue
        exact, tol = along.exact_and_tolerance()
        assert pick not in along.centres and abs(exact[pick] - exact[former]) <= (
            tol[pick] + tol[former]
        ), (
            f"pick {step}: {pick} (min squared distance {exact[pick]:.9g}) where the former code "
            f"took {former} ({exact[former]:.9g}); float32 rounding allows "
            f"{tol[pick] + tol[former]:.3g}: not a tie"
        )
        ties += 1
    return ties


def _assert_kmeanspp_as_former(along: _Along, picks: np.ndarray, seed: int) -> int:
    """Replay the former k-means++ along ``picks`` with the same generator: each pick must be
    the former code's draw or, where not, both codes' D^2 masses must be within float32 rounding
    of the exact ones and the uniform draw must land within their rounding of the boundary
    between the two candidates. Returns the number of such ties."""
    rng = np.random.default_rng(seed)
    free = np.ones(len(along.u))
    free[picks[0]] = 0.0
    ties = 0
    for step in range(1, len(picks)):
        along.add(int(picks[step - 1]))
        uniform = copy.deepcopy(rng).random()
        old_mass = along.old_min.double().numpy() * free
        former, pick = _draw_centre(rng, [old_mass], free), int(picks[step])
        if pick != former:
            exact, tol = along.exact_and_tolerance()
            masses = {"former": old_mass, "new": along.new_min.double().numpy() * free}
            for name, mass in masses.items():
                bad = np.flatnonzero(np.abs(mass - exact * free) > tol * free)
                assert not len(bad), f"pick {step}: {name} D^2 off by more than rounding at {bad}"
            cum = np.cumsum(exact * free)
            slack = 2 * max(np.abs(np.cumsum(m) - cum).max() for m in masses.values())
            point = uniform * cum[-1]
            for i in (former, pick):
                assert free[i] and cum[i] - exact[i] - slack <= point <= cum[i] + slack, (
                    f"pick {step}: {pick} where the former code drew {former}; the draw "
                    f"{point:.9g} is not within rounding ({slack:.3g}) of {i}'s interval "
                    f"[{cum[i] - exact[i]:.9g}, {cum[i]:.9g}): not a tie"
                )
            ties += 1
        free[pick] = 0.0
    return ties


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("kind", sorted(POOLS))
@pytest.mark.parametrize("space", ["coreset", "forge", "badge"])
def test_new_kcenter_and_kmeanspp_pick_what_the_former_code_picked(space, kind, dtype) -> None:
    """In float64 the picks are equal, bit for bit. In float32 the two codes round differently
    and the mat-vec's summation order depends on the CPU (MKL's AVX-512 kernels on an Intel
    Xeon resolve the clustered coreset pool's near-tie at index 50, exact squared distances
    46.96117 and 46.96109, the other way), so a near-tie may go either way. Here the former
    code is replayed along the new picks: every pick must equal the former code's next pick, or
    be a demonstrated tie (``_assert_kcenter_as_former``, ``_assert_kmeanspp_as_former``), and
    the picks after it are checked the same way. A changed pick that is no tie still fails
    (``test_the_float32_comparison_tells_a_tie_from_a_changed_pick``)."""
    z, logits = POOLS[kind](0)
    pool = PoolEmbedding.from_arrays(z, logits, device="cpu", dtype=dtype)
    new = pool.space(space)
    n_picks = 60
    first = largest_norm_index(new) if space != "coreset" else 3
    picks = {
        "scan": kcenter_greedy(new, n_picks, first=7),
        "pruned": kcenter_greedy(new, n_picks, first=7, algorithm="pruned"),
        "kmeanspp": kmeanspp_seeding(new, n_picks, seed=5, first=first),
    }
    if dtype == torch.float64:
        old = OldSpace(z, logits, space, dtype)
        expected = old_kcenter(old, n_picks, first=7)
        np.testing.assert_array_equal(picks["scan"], expected)
        np.testing.assert_array_equal(picks["pruned"], expected)
        np.testing.assert_array_equal(
            picks["kmeanspp"], old_kmeanspp(old, n_picks, seed=5, first=first)
        )
        return
    for name in ("scan", "pruned"):
        assert picks[name][0] == 7
        _assert_kcenter_as_former(_Along(z, logits, space, pool), picks[name])
    assert picks["kmeanspp"][0] == first
    _assert_kmeanspp_as_former(_Along(z, logits, space, pool), picks["kmeanspp"], seed=5)


def _former_from(along: _Along, prefix: list[int], n_picks: int) -> np.ndarray:
    """``prefix``, continued by the former k-center up to ``n_picks``."""
    for centre in prefix[:-1]:
        along.add(centre)
    picks = list(prefix)
    while len(picks) < n_picks:
        along.add(picks[-1])
        picks.append(along.former_farthest())
    return np.array(picks, dtype=np.int64)


def test_the_float32_comparison_tells_a_tie_from_a_changed_pick() -> None:
    """The clustered coreset pool's near-tie (the pick a Xeon's AVX-512 resolves the other way)
    taken the other way is accepted; the runner-up taken at a pick that is no tie, or one
    k-means++ pick moved to another free point, fails."""
    z, logits = POOLS["clustered"](0)
    pool = PoolEmbedding.from_arrays(z, logits, device="cpu")
    expected = old_kcenter(OldSpace(z, logits, "coreset"), 60, first=7)
    along = _Along(z, logits, "coreset", pool)
    gaps = []  # (relative exact gap of the former code's top two, step, runner-up)
    for step in range(1, 60):
        along.add(int(expected[step - 1]))
        exact, _ = along.exact_and_tolerance()
        exact[along.centres] = -np.inf
        top, runner_up = np.argsort(-exact, kind="stable")[:2]
        gaps.append(((exact[top] - exact[runner_up]) / exact[top], step, int(runner_up)))
    _, tie_step, other = min(gaps)
    flipped = _former_from(_Along(z, logits, "coreset", pool), [*expected[:tie_step], other], 60)
    assert not np.array_equal(flipped, expected)
    assert _assert_kcenter_as_former(_Along(z, logits, "coreset", pool), flipped) == 1
    _, step, other = max(gaps)
    changed = _former_from(_Along(z, logits, "coreset", pool), [*expected[:step], other], 60)
    with pytest.raises(AssertionError, match="not a tie"):
        _assert_kcenter_as_former(_Along(z, logits, "coreset", pool), changed)

    seeded = kmeanspp_seeding(pool.space("coreset"), 60, seed=5, first=3)
    assert _assert_kmeanspp_as_former(_Along(z, logits, "coreset", pool), seeded, seed=5) == 0
    moved = seeded.copy()
    moved[30] = next(i for i in range(moved[30] + 1, pool.n) if i not in moved)
    with pytest.raises(AssertionError, match="not a tie"):
        _assert_kmeanspp_as_former(_Along(z, logits, "coreset", pool), moved, seed=5)


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("kind", sorted(POOLS))
@pytest.mark.parametrize("space", ["coreset", "forge", "badge"])
def test_pruned_kcenter_equals_full_scan_and_brute_force(space, kind, seed) -> None:
    z, logits = POOLS[kind](seed, n=800)
    pool = PoolEmbedding.from_arrays(z, logits, device="cpu", dtype=torch.float64)
    emb = pool.space(space)
    n_picks = 120
    stats: dict = {}
    pruned = kcenter_greedy(emb, n_picks, seed=seed, algorithm="pruned", stats=stats)
    scan = kcenter_greedy(emb, n_picks, seed=seed)
    np.testing.assert_array_equal(pruned, scan)
    np.testing.assert_array_equal(
        pruned, brute_kcenter(_explicit(pool, z, space), n_picks, first=int(scan[0]))
    )
    assert len(stats["scanned"]) == n_picks - 1 and stats["scanned"][0] == pool.n
    if kind == "clustered":  # the bounds must actually skip work on a clustered pool
        assert sum(stats["scanned"]) < 0.5 * pool.n * (n_picks - 1)
    f32 = PoolEmbedding.from_arrays(z, logits, device="cpu").space(space)
    np.testing.assert_array_equal(
        kcenter_greedy(f32, n_picks, seed=seed, algorithm="pruned"),
        kcenter_greedy(f32, n_picks, seed=seed),
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
