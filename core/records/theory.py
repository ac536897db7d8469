"""The paper's Theorem 4 and Proposition 2, computed exactly per pair and per run.

Theorem 4 (MSE loss l = ||f(x) - y||^2, one-hot y, model linear in the trained parameters):

    r(x) - r(x') <= |grad l(x) - grad l(x')| |dtheta| + 2 max(|J(x)|, |J(x')|)^2 |dtheta|^2

with r = l(theta_0) - l(theta_T) on the TRUE labels, x the selected neighbour of the unselected
x', grad l the true-label loss gradient and J = grad_theta f the tangent feature (a C x P
Jacobian, Frobenius norm), all at theta_0. Here theta is the last linear layer (weight W and
bias b): f = W z + b, so J(x) = I_C (x) [z; 1] and |J(x)| = sqrt(C) sqrt(|z|^2 + 1) exactly, and
grad l = e (x) [z; 1] with e = dl/df: p - onehot(y) for cross-entropy, 2 (f - onehot(y)) for MSE.

Which assumptions a run meets (see README, "What the theorem needs"): ``head`` + ``mse``: all
of them (f is exactly linear in (W, b), the loss is the MSE), so the bound must hold on every
pair. ``head`` + ``ce``: linear model, wrong loss. ``full``: the body moves too, so f is not
linear in the trained parameters; the terms here are the last layer's with the last layer's
|dtheta|, a diagnostic of the last-layer linearisation, not the theorem.

Also the full-network tangent-feature norm |grad_theta f(x)| over every parameter (torch.func,
batched and chunked), to test FORGE's cheap proxy |z| against it, and Proposition 2's terms. The
norms are per pool, not per run: they are kept beside the pool (``core.records.tangent_norms``)
and computed after the first runs (``core.run.follow_up``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import torch

from core.nn.threads import single_cpu_thread

# per-pair columns added to the pairs table; x' = the unselected sample, x = its selected neighbour
THEORY_COLUMNS = (
    "grad_distance",  # |grad l(x) - grad l(x')|, true labels, last layer with bias, at theta_0
    "tangent_norm",  # |J(x')| = sqrt(C (|z'|^2 + 1)), exact last-layer tangent-feature norm
    "nn_tangent_norm",  # |J(x)|
    "gamma_tangent",  # max of the two: the theorem's gamma (``gamma`` keeps the |z| proxy)
    "dtheta",  # |theta_T - theta_0| of the last layer (W and b)
    "first_order",  # grad_distance * dtheta
    "second_order",  # 2 gamma_tangent^2 dtheta^2
    "bound",  # first_order + second_order
    "signed_gap",  # r(x) - r(x'), as the theorem states it (selected minus unselected)
    "bound_holds",  # signed_gap <= bound
    "first_order_holds",  # signed_gap <= first_order (the bound without its second-order term)
)


def output_residual(logits: np.ndarray, labels: np.ndarray, loss: str) -> np.ndarray:
    """e = dl/df per sample (N, C), float64, with the true labels: the gradient of the loss with
    respect to the logits. CE: softmax(f) - onehot(y); MSE (||f - onehot(y)||^2): 2 (f - onehot)."""
    f = np.asarray(logits, dtype=np.float64)
    onehot = np.eye(f.shape[1])[np.asarray(labels, dtype=np.int64)]
    if loss == "mse":
        return 2.0 * (f - onehot)
    shifted = np.exp(f - f.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True) - onehot


def last_layer_tangent_norm(z: np.ndarray, n_classes: int) -> np.ndarray:
    """|grad_(W,b) f(x)|_F = sqrt(C (|z|^2 + 1)) per sample: f_c = W_c z + b_c, so the Jacobian
    is I_C (x) [z; 1]. FORGE's |z| drops the sqrt(C) and the bias's 1."""
    z = np.asarray(z, dtype=np.float64)
    return np.sqrt(n_classes * (np.einsum("nd,nd->n", z, z) + 1.0))


def gradient_distance(
    z: np.ndarray, residual: np.ndarray, idx: np.ndarray, nn_idx: np.ndarray, chunk: int = 512
) -> np.ndarray:
    """|e_i (x) [z_i; 1] - e_j (x) [z_j; 1]| for each pair (i, j) = (idx, nn_idx).

    Computed directly on chunks of pairs (chunk x C x (D + 1) floats at a time), not through the
    factored inner products, so no cancellation when the two gradients are close.
    """
    z = np.asarray(z, dtype=np.float64)
    zt = np.hstack([z, np.ones((len(z), 1))])
    out = np.empty(len(idx), dtype=np.float64)
    for start in range(0, len(idx), chunk):
        i, j = idx[start : start + chunk], nn_idx[start : start + chunk]
        diff = (
            residual[i][:, :, None] * zt[i][:, None, :]
            - residual[j][:, :, None] * zt[j][:, None, :]
        )
        out[start : start + chunk] = np.sqrt(np.einsum("pcd,pcd->p", diff, diff))
    return out


def head_distance(before: torch.nn.Module, after: torch.nn.Module) -> float:
    """|theta_T - theta_0| over the last layer's weight and bias (``.head`` of both models)."""
    squared = sum(
        float(((a.detach().double().cpu() - b.detach().double().cpu()) ** 2).sum())
        for a, b in zip(after.head.parameters(), before.head.parameters(), strict=True)
    )
    return float(np.sqrt(squared))


def theorem_terms(
    pairs: pd.DataFrame,
    z: np.ndarray,
    logits: np.ndarray,
    labels: np.ndarray,
    loss: str,
    dtheta: float,
) -> pd.DataFrame:
    """``pairs`` (with idx, nn_idx, r, nn_r) plus THEORY_COLUMNS.

    ``z``, ``logits``: the pool under theta_0; ``labels``: true labels; ``loss``: "ce" or "mse"
    (the run's); ``dtheta``: |theta_T - theta_0| of the last layer.
    """
    idx = pairs["idx"].to_numpy(np.int64)
    nn_idx = pairs["nn_idx"].to_numpy(np.int64)
    residual = output_residual(logits, labels, loss)
    tangent = last_layer_tangent_norm(z, np.asarray(logits).shape[1])
    out = pairs.copy()
    out["grad_distance"] = gradient_distance(z, residual, idx, nn_idx)
    out["tangent_norm"] = tangent[idx]
    out["nn_tangent_norm"] = tangent[nn_idx]
    out["gamma_tangent"] = np.maximum(tangent[idx], tangent[nn_idx])
    out["dtheta"] = float(dtheta)
    out["first_order"] = out["grad_distance"] * dtheta
    out["second_order"] = 2.0 * out["gamma_tangent"] ** 2 * dtheta**2
    out["bound"] = out["first_order"] + out["second_order"]
    out["signed_gap"] = out["nn_r"].to_numpy(np.float64) - out["r"].to_numpy(np.float64)
    out["bound_holds"] = out["signed_gap"] <= out["bound"]
    out["first_order_holds"] = out["signed_gap"] <= out["first_order"]
    return out


def theory_summary(group: pd.DataFrame, n_pool: int, n_selected: int) -> dict[str, Any]:
    """Per-space facts of Theorem 4 and Proposition 2 for one run's pairs of one space.

    Proposition 2, from its proof: mean r over the pool = (1/N) sum_j w_j r_j
    + (1/N) sum_(unselected i) (r_i - r_j(i)) exactly, and the second sum is at least
    -(N - |s|) max gap, so the max-gap term carries (N - |s|)/N, not the printed 1/n.
    """
    if "bound" not in group.columns or group.empty:
        return {}
    unselected_minus_selected = -group["signed_gap"].to_numpy(np.float64)
    max_gap = float(np.max(np.abs(unselected_minus_selected)))
    return {
        "bound_holds_fraction": float(group["bound_holds"].mean()),
        "first_order_holds_fraction": float(group["first_order_holds"].mean()),
        "max_signed_gap": float(group["signed_gap"].max()),
        "median_bound_over_gap": float(
            np.median(group["bound"] / group["signed_gap"].abs().clip(lower=1e-12))
        ),
        "mean_first_order": float(group["first_order"].mean()),
        "mean_second_order": float(group["second_order"].mean()),
        "dtheta": float(group["dtheta"].iloc[0]),
        "pair_difference_term": float(unselected_minus_selected.sum() / n_pool),
        "max_gap_term": float((n_pool - n_selected) / n_pool * max_gap),
        "max_gap_term_printed": float(max_gap / n_pool),
    }


def full_tangent_norms(
    model: torch.nn.Module, x: torch.Tensor, *, device: torch.device, chunk: int = 32
) -> np.ndarray:
    """|grad_theta f(x)|_F over every parameter of ``model`` (all layers), per sample.

    torch.func: a per-sample Jacobian of the C logits (vmap of jacrev of a functional call),
    ``chunk`` samples at a time, so memory is chunk x C x P floats, never N x C x P. Each
    parameter's block is squared in float64 in place and freed before the next: the bits of
    squaring afresh, with one float64 copy less. The kernels torch picks depend on the chunk's
    size (a chunk of 1-7 samples can differ in the last bit), so ``chunk`` stays 32: the pool's
    stored norms, and so the records, do not change.
    """
    from torch.func import functional_call, jacrev, vmap

    was_training = model.training
    model = model.to(device).eval()
    params = {name: p.detach() for name, p in model.named_parameters()}

    def logits(p: dict[str, torch.Tensor], one: torch.Tensor) -> torch.Tensor:
        return functional_call(model, p, (one.unsqueeze(0),)).squeeze(0)

    per_sample = vmap(jacrev(logits), in_dims=(None, 0))
    out = []
    try:
        # backward passes: the thread count would change the last bits (core.nn.threads)
        with single_cpu_thread(device):
            for start in range(0, len(x), chunk):
                batch = x[start : start + chunk].to(device)
                jac = per_sample(params, batch)  # name -> (chunk, C, *param shape)
                squared = None  # summed over the parameters in their order, as sum() would
                for name in list(jac):
                    block = jac.pop(name).double()
                    block.mul_(block)  # = pow(2), bit for bit, without a second copy
                    part = block.flatten(1).sum(1)
                    squared = part if squared is None else squared + part
                    del block
                if squared is not None:
                    out.append(squared.sqrt().cpu())
    finally:
        model.train(was_training)
    return torch.cat(out).numpy() if out else np.zeros(0)


def tangent_norms_part(
    model: torch.nn.Module, x: torch.Tensor, device: str, start: int, stop: int
) -> np.ndarray:
    """``full_tangent_norms`` of samples ``start:stop`` (one part of a ``PoolJob``). With
    ``start`` a multiple of the chunk (32), the parts hold the same chunks as the whole pool,
    so they join into the same bits."""
    return full_tangent_norms(model, x[start:stop], device=torch.device(device))


def record_theory(
    prepared: Any, adapted: torch.nn.Module, pairs: pd.DataFrame, samples: pd.DataFrame
) -> pd.DataFrame:
    """The record step's theory columns: Theorem 4's terms on every pair (``prepared``:
    ``core.run.engine.PreparedPool``)."""
    hp, pool = prepared.hparams, prepared.embedding
    z = pool.features()
    labels = samples["label"].to_numpy(np.int64)
    return theorem_terms(
        pairs, z, pool.logits, labels, hp.adapt_loss, head_distance(prepared.model, adapted)
    )
