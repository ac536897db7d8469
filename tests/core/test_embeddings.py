"""Embedding spaces: factored forms against explicit vectors and autograd, saturation, bad input."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import special

from core.base.validation import ForgeLensError
from core.selection.embeddings import SPACES, PoolEmbedding, residual_factors


def _random_pool(seed: int, n: int = 37, d: int = 6, c: int = 4) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((n, d)) * rng.uniform(0.2, 3.0, size=(n, 1))
    logits = rng.standard_normal((n, c)) * 2.5
    return z, logits


def _explicit(z: np.ndarray, logits: np.ndarray, space: str) -> np.ndarray:
    """The C*D-dimensional embeddings built explicitly from a naive float64 softmax (coreset: z
    centred at its mean, the stored form; its distances are those of z)."""
    if space == "coreset":
        return z - z.mean(axis=0)
    p = special.softmax(logits, axis=1)
    a = p.copy()
    a[np.arange(len(p)), p.argmax(axis=1)] -= 1.0
    if space == "forge":
        a = a / np.linalg.norm(a, axis=1, keepdims=True)
    return (a[:, :, None] * z[:, None, :]).reshape(len(z), -1)


@pytest.mark.parametrize("space", SPACES)
@pytest.mark.parametrize("seed", [0, 1])
def test_factored_inner_products_and_distances_equal_explicit_embeddings(space, seed) -> None:
    z, logits = _random_pool(seed)
    pool = PoolEmbedding.from_arrays(z, logits, device="cpu", dtype=torch.float64)
    emb = pool.space(space)
    u = _explicit(z, logits, space)
    centres = np.array([5, 0, 36, 17, 5])
    np.testing.assert_allclose(emb.sq_norms().numpy(), (u * u).sum(1), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(emb.inner(centres).numpy(), u @ u[centres].T, rtol=1e-11, atol=1e-12)
    d2 = ((u[:, None, :] - u[None, centres, :]) ** 2).sum(-1)
    np.testing.assert_allclose(emb.sq_dist_to(17).numpy(), d2[:, 3], rtol=1e-9, atol=1e-10)
    # nearest, with chunks that do not divide N or the number of centres
    many = np.random.default_rng(seed).choice(len(z), size=11, replace=False)
    d2_many = ((u[:, None, :] - u[None, many, :]) ** 2).sum(-1)
    for chunk in (3, 1000):
        pos, dist = emb.nearest(many, chunk_size=chunk)
        assert pos.dtype == np.int64 and dist.dtype == np.float64
        np.testing.assert_array_equal(pos, d2_many.argmin(1))
        # squared: the distance of a point to itself is sqrt(rounding) ~ 1e-7 in float64
        np.testing.assert_allclose(dist**2, d2_many.min(1), rtol=1e-9, atol=1e-12)
    # a centre is its own nearest centre
    np.testing.assert_array_equal(many[pos[many]], many)


def test_float32_storage_matches_float64_and_is_the_default() -> None:
    z, logits = _random_pool(3)
    p32 = PoolEmbedding.from_arrays(z, logits, device="cpu")
    p64 = PoolEmbedding.from_arrays(z, logits, device="cpu", dtype=torch.float64)
    assert p32.dtype == torch.float32 and p64.dtype == torch.float64
    assert p32.z_t.shape == (z.shape[1], z.shape[0])
    for space in SPACES:
        a = p32.space(space).inner(np.arange(5)).double().numpy()
        np.testing.assert_allclose(
            a, p64.space(space).inner(np.arange(5)).numpy(), rtol=1e-5, atol=1e-5
        )
    np.testing.assert_allclose(p32.znorm, np.linalg.norm(z, axis=1), rtol=1e-12)
    np.testing.assert_array_equal(p32.pseudo, logits.argmax(1))


class _TinyNet(torch.nn.Module):
    def __init__(self, d_in: int, d: int, c: int) -> None:
        super().__init__()
        self.body = torch.nn.Sequential(torch.nn.Linear(d_in, d), torch.nn.Tanh())
        self.head = torch.nn.Linear(d, c, bias=False)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        z = self.body(x)
        return z, self.head(z)


def test_badge_and_forge_embeddings_equal_autograd_gradients_of_a_tiny_network() -> None:
    torch.manual_seed(0)
    n, d_in, d, c = 9, 5, 7, 4
    net = _TinyNet(d_in, d, c).double()
    x = torch.randn(n, d_in, dtype=torch.float64) * 2
    with torch.no_grad():
        z, logits = net(x)
    pool = PoolEmbedding.from_arrays(z.numpy(), logits.numpy(), device="cpu", dtype=torch.float64)
    weight = net.head.weight
    grads, tangent_norms = [], []
    for i in range(n):
        _, out = net(x[i : i + 1])
        yhat = out.argmax(dim=1)
        loss = torch.nn.functional.cross_entropy(out, yhat)
        (g,) = torch.autograd.grad(loss, weight, retain_graph=True)
        grads.append(g.reshape(-1))
        # tangent feature of the last layer: d f_c / dW for every output c
        jac = torch.stack(
            [torch.autograd.grad(out[0, k], weight, retain_graph=True)[0] for k in range(c)]
        )
        tangent_norms.append(float(jac.norm()))
    g = torch.stack(grads).numpy()
    tangent = np.array(tangent_norms)
    # the badge embedding is the CE gradient w.r.t. W (row-major c, d) with the pseudo-label
    explicit = (pool.residual[:, :, None] * z.numpy()[:, None, :]).reshape(n, -1)
    np.testing.assert_allclose(explicit, g, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(
        pool.space("badge").inner(np.arange(n)).numpy(), g @ g.T, rtol=1e-9, atol=1e-12
    )
    # |z| is the tangent-feature norm divided by sqrt(C)
    np.testing.assert_allclose(pool.znorm, tangent / np.sqrt(c), rtol=1e-12)
    # FORGE (Def. 5) from autograd: (|grad f| / |grad l|) grad l, with the sqrt(C) dropped
    phi = (tangent / np.sqrt(c) / np.linalg.norm(g, axis=1))[:, None] * g
    np.testing.assert_allclose(
        pool.space("forge").inner(np.arange(n)).numpy(), phi @ phi.T, rtol=1e-9, atol=1e-12
    )
    np.testing.assert_allclose(pool.space("forge").sq_norms().numpy(), pool.znorm**2, rtol=1e-12)


def test_residual_is_p_minus_onehot_and_direction_is_its_unit_vector() -> None:
    _, logits = _random_pool(5, n=50, c=6)
    f = residual_factors(logits)
    p = special.softmax(logits, axis=1)
    onehot = np.eye(6)[logits.argmax(1)]
    np.testing.assert_allclose(f.probs, p, rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(f.residual, p - onehot, rtol=1e-12, atol=1e-15)
    a = p - onehot
    np.testing.assert_allclose(
        f.direction, a / np.linalg.norm(a, axis=1, keepdims=True), rtol=1e-12, atol=1e-15
    )


def test_saturated_softmax_keeps_forge_direction_and_norm() -> None:
    """A float32 softmax that is an exact one-hot: a/|a| would be 0/0; ahat is its limit."""
    rng = np.random.default_rng(7)
    base = np.array([[3.0, 1.0, -0.5], [0.2, 2.0, 1.5], [-1.0, 0.0, 4.0]])
    shift = np.zeros_like(base)
    shift[np.arange(3), base.argmax(1)] = 120.0  # raise the top logit: only |a| changes
    saturated = base + shift
    assert (
        torch.softmax(torch.tensor(saturated, dtype=torch.float32), 1)
        == torch.eye(3)[base.argmax(1)]
    ).all()  # the premise: exact one-hot in float32
    z = rng.standard_normal((3, 4)) * np.array([[1.0], [2.0], [5.0]])
    for logits in (saturated, base + 10 * shift):  # the second: a = 0 even in float64
        pool = PoolEmbedding.from_arrays(z, logits, device="cpu")
        assert np.isfinite(pool.direction).all()
        np.testing.assert_allclose(np.linalg.norm(pool.direction, axis=1), 1.0, rtol=1e-12)
        # the direction does not depend on the top logit: it equals the unsaturated a/|a|
        a = special.softmax(base, axis=1) - np.eye(3)[base.argmax(1)]
        np.testing.assert_allclose(
            pool.direction, a / np.linalg.norm(a, axis=1, keepdims=True), rtol=1e-12, atol=1e-15
        )
        forge = pool.space("forge")
        np.testing.assert_allclose(forge.sq_norms().numpy(), (z**2).sum(1), rtol=1e-6)
        _, dist = forge.nearest(np.array([0]))
        assert np.isfinite(dist).all() and dist[1] > 0 and dist[2] > 0
        assert (pool.space("badge").sq_norms().numpy() <= 1e-20).all()  # the true gradient
    huge = PoolEmbedding.from_arrays(z, base + 10 * shift, device="cpu")
    assert (huge.residual == 0).all()  # a = 0 exactly, yet FORGE is unchanged


def test_one_class_pool_puts_badge_and_forge_at_the_origin() -> None:
    rng = np.random.default_rng(1)
    z = rng.standard_normal((8, 3))
    pool = PoolEmbedding.from_arrays(z, rng.standard_normal((8, 1)), device="cpu")
    assert (pool.residual == 0).all() and (pool.direction == 0).all()
    assert (pool.pseudo == 0).all()
    for space in ("badge", "forge"):
        emb = pool.space(space)
        assert (emb.sq_norms() == 0).all()
        pos, dist = emb.nearest(np.array([3, 5]))
        assert (dist == 0).all() and (pos == 0).all()  # all tie: lowest position
    zc = z - z.mean(axis=0)
    np.testing.assert_allclose(pool.space("coreset").sq_norms().numpy(), (zc**2).sum(1), rtol=1e-6)


def test_nearest_streams_with_many_centres() -> None:
    z, logits = _random_pool(11, n=300, d=5, c=3)
    pool = PoolEmbedding.from_arrays(z, logits, device="cpu", dtype=torch.float64)
    centres = np.arange(0, 300, 4)
    u = _explicit(z, logits, "forge")
    d2 = ((u[:, None, :] - u[None, centres, :]) ** 2).sum(-1)
    pos, dist = pool.space("forge").nearest(centres, chunk_size=16)
    np.testing.assert_array_equal(pos, d2.argmin(1))
    np.testing.assert_allclose(dist**2, d2.min(1), rtol=1e-9, atol=1e-12)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_pool_matches_cpu_pool() -> None:
    z, logits = _random_pool(2, n=500, d=32, c=10)
    cpu = PoolEmbedding.from_arrays(z, logits, device="cpu", dtype=torch.float64)
    gpu = PoolEmbedding.from_arrays(z, logits, device="cuda", dtype=torch.float64)
    assert gpu.z_t.is_cuda
    for space in SPACES:
        centres = np.arange(0, 500, 7)
        p_cpu, d_cpu = cpu.space(space).nearest(centres, chunk_size=64)
        p_gpu, d_gpu = gpu.space(space).nearest(centres, chunk_size=64)
        np.testing.assert_array_equal(p_cpu, p_gpu)
        np.testing.assert_allclose(d_cpu, d_gpu, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize(
    ("z", "logits", "match"),
    [
        (np.zeros(5), np.zeros((5, 2)), r"z has shape \(5,\) \(1-D\)"),
        (np.zeros((5, 3)), np.zeros((5, 2, 1)), r"logits has shape \(5, 2, 1\) \(3-D\)"),
        (np.zeros((5, 3)), np.zeros((4, 2)), "z has 5 rows but logits has 4"),
        (np.zeros((0, 3)), np.zeros((0, 2)), "0 rows"),
        (np.zeros((5, 0)), np.zeros((5, 2)), "at least one feature column"),
        (np.zeros((5, 3)), np.zeros((5, 0)), "one class column"),
        (np.array([[1.0, np.nan]]), np.zeros((1, 2)), r"z holds 1 non-finite value\(s\)"),
        (np.zeros((2, 2)), np.array([[0.0, np.inf], [1, 1]]), r"logits holds 1 non-finite"),
        (np.array([["a", "b"]]), np.zeros((1, 2)), "z has dtype <U1"),
        (np.ones((2, 2), dtype=bool), np.zeros((2, 2)), "z has dtype bool"),
    ],
)
def test_bad_pool_input_names_the_parameter(z, logits, match) -> None:
    with pytest.raises(ForgeLensError, match=match):
        PoolEmbedding.from_arrays(z, logits, device="cpu")


def test_bad_space_dtype_device_and_centres_are_rejected() -> None:
    z, logits = _random_pool(0, n=10)
    with pytest.raises(ForgeLensError, match="dtype=torch.float16 is not known"):
        PoolEmbedding.from_arrays(z, logits, dtype=torch.float16)
    with pytest.raises(ForgeLensError, match="device='tpu' is not known"):
        PoolEmbedding.from_arrays(z, logits, device="tpu")
    pool = PoolEmbedding.from_arrays(z, logits, device="cpu")
    with pytest.raises(ForgeLensError, match="space='gradient' is not known; allowed: coreset"):
        pool.space("gradient")
    emb = pool.space("forge")
    with pytest.raises(
        ForgeLensError, match=r"centres holds index 10, out of range: allowed \[0, 9\]"
    ):
        emb.nearest(np.array([1, 10]))
    with pytest.raises(ForgeLensError, match="centres must be a non-empty 1-D array"):
        emb.inner(np.array([], dtype=np.int64))
    with pytest.raises(ForgeLensError, match="centres must be a non-empty 1-D array"):
        emb.nearest(np.array([0.5]))
    with pytest.raises(ForgeLensError, match="chunk_size=0 is out of range"):
        emb.nearest(np.array([1]), chunk_size=0)
    # float64 storage takes what float32 cannot
    big = PoolEmbedding.from_arrays(
        np.full((2, 2), 1e30), np.zeros((2, 2)), device="cpu", dtype=torch.float64
    )
    assert np.isfinite(big.space("coreset").sq_norms().numpy()).all()


def test_spaces_is_the_one_list_of_embedding_spaces_in_core_selection() -> None:
    """No module of core.selection spells out the spaces again (a new space is one edit)."""
    import ast
    from pathlib import Path

    import core.selection

    found = []
    for path in sorted(Path(core.selection.__file__).parent.glob("*.py")):
        tree = ast.parse(path.read_text())
        definition = [
            node.value
            for node in ast.walk(tree)
            if isinstance(node, ast.Assign)
            and [getattr(t, "id", None) for t in node.targets] == ["SPACES"]
        ]
        for node in ast.walk(tree):
            if isinstance(node, ast.Tuple | ast.List | ast.Set) and node not in definition:
                names = {e.value for e in node.elts if isinstance(e, ast.Constant)}
                if len(names & set(SPACES)) >= 2:
                    found.append(f"{path.name}:{node.lineno}")
    assert found == []
