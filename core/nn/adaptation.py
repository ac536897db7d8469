"""Adaptation (Algorithm 1 line 7): fine-tune a copy of the source model on the selected target
samples with their true labels, every batch split evenly between target and source data
(Section 6.3: "each batch is split evenly for source and target data").

An epoch is one pass over the selected target samples, in a fresh random order, in chunks of
``adapt_batch / 2``; each chunk is paired with as many source samples, drawn without replacement
from a stream of random permutations of the source train split. So every batch holds exactly as
many source as target rows (the last one of an epoch may be smaller), the loss is the mean
cross-entropy over the batch (both halves weigh the same) and T = epochs * ceil(k / (batch/2)).
All randomness comes from ``seed`` (a numpy Generator made inside the call); on CPU two runs with
the same seed give bit-identical weights. Layers that draw from torch's global RNG while training
(dropout in MiniLM, drop-connect in EfficientNet) draw from it inside ``torch.random.fork_rng``
seeded with ``seed``: deterministic per seed, and the caller's RNG state is left as it was.

Two modes (ADAPTATION_MODES), recorded in every run's config:
- ``full`` (``adapt``): fine-tune every parameter, the paper's setting. Given a progress
  callback, it first times one forward/backward pass on a batch (leaving weights, BatchNorm
  statistics and RNG streams exactly as they were) and reports the expected duration. On a
  pretrained backbone (``hp.pretrained``) the backbone learns at PRETRAINED_BACKBONE_LR_SCALE
  times adapt_lr and its BatchNorm statistics stay frozen, the usual fine-tuning practice.
- ``head`` (``adapt_head``): train only the last linear layer on cached backbone features. The
  logits are then exactly linear in the trained parameters; with ``hp.adapt_loss == "mse"``
  this is the regime in which every assumption of the paper's Theorem 4 holds (with
  cross-entropy, the default, the loss is not the theorem's). |theta_T - theta_0| covers the
  head's parameters only.

Both minimise ``hp.adapt_loss`` (``core.nn.models.loss_tensor``): cross-entropy or the MSE of the
logits to one-hot labels. An MSE run's source model is trained with MSE too
(``HParams.source_loss``): from a cross-entropy one (logits ~25 in norm against one-hot targets)
SGD on the squared error spends its epochs shrinking the logits, and full fine-tuning does it by
killing the backbone's ReLU features, a near-constant output (README "What the theorem needs").

Step (``curvature_step``). Cross-entropy, and any Adam run, steps by ``adapt_lr``. SGD on the
squared error steps by min(adapt_lr, 1/lambda_max): the logits are affine in the head's
parameters, so the Hessian of the loss w.r.t. the head is 2 M (x) I_C + weight_decay I, with M
the second moment of the head's inputs [z, 1] over every row the run's batches hold (a D x D
matrix; eigvalsh, never N x N). Gradient descent on a quadratic is stable for steps below
2/lambda_max, heavy-ball momentum beta widens that to 2(1+beta)/lambda_max; 1/lambda_max leaves a
factor 2 for the spread between one batch's M and their mean. In ``head`` mode this is the whole
Hessian; in ``full`` mode the head's block is a principal sub-matrix of the network's Hessian,
so the bound is necessary, not sufficient, and the divergence guard watches the rest.

Divergence guard (``DivergenceGuard``, every task's adaptation): a batch loss that is not finite
or exceeds DIVERGENCE_FACTOR times the first batch's (at least DIVERGENCE_FLOOR) stops the run
with ``AdaptationDiverged``, naming the iteration and adapt_lr; nothing of the run is stored.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Iterator, Mapping
from dataclasses import replace
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from core.base.data import Scenario
from core.base.device import resolve_device
from core.base.hparams import ADAPTATION_MODES, HParams
from core.base.progress import Progress, format_seconds
from core.base.validation import ForgeLensError, check_int_range
from core.nn.models import FeatureClassifier, loss_tensor
from core.nn.optimizers import adaptation_optimizer
from core.nn.threads import single_cpu_thread

__all__ = [
    "ADAPTATION_MODES",
    "AdaptationDiverged",
    "DivergenceGuard",
    "adapt",
    "adapt_head",
    "curvature_step",
    "format_seconds",
]
# full fine-tuning of a pretrained backbone: its layers learn at this fraction of adapt_lr (the
# head at adapt_lr), and its BatchNorm statistics stay frozen (see ``freeze_batchnorm``)
PRETRAINED_BACKBONE_LR_SCALE = 0.1
# divergence guard: a batch loss above this factor times the first batch's loss (or the floor,
# if larger) means the step is too large; cross-entropy and squared-error runs that train
# normally stay far below it (their batch losses fall), diverging ones pass it in a few steps
DIVERGENCE_FACTOR = 100.0
DIVERGENCE_FLOOR = 0.01


class AdaptationDiverged(ForgeLensError):
    """An adaptation run whose loss became non-finite or grew past the guard's factor."""


class DivergenceGuard:
    """Watches an adaptation's batch losses; ``check`` raises ``AdaptationDiverged`` when one is
    not finite or exceeds DIVERGENCE_FACTOR x max(first batch loss, DIVERGENCE_FLOOR)."""

    def __init__(self, lr: float, iterations: int) -> None:
        self.lr = lr
        self.iterations = iterations
        self.first: float | None = None

    def check(self, loss: float, iteration: int) -> None:
        """``loss``: the batch loss of 1-based ``iteration``."""
        if self.first is None and math.isfinite(loss):
            self.first = loss
        limit = DIVERGENCE_FACTOR * max(self.first or 0.0, DIVERGENCE_FLOOR)
        if math.isfinite(loss) and loss <= limit:
            return
        why = "is not finite" if not math.isfinite(loss) else f"exceeds {limit:.3g}"
        raise AdaptationDiverged(
            f"adaptation diverged at iteration {iteration} of {self.iterations}: the batch loss "
            f"{loss:.3g} {why} ({DIVERGENCE_FACTOR:g} x the first batch's "
            f"{self.first if self.first is not None else float('nan'):.3g}); the step is too "
            f"large: lower adapt_lr (step now {self.lr:.3g}), e.g. --set "
            f"adapt_lr={self.lr / 10:.3g}"
        )


class MixedBatchSampler:
    """Yields (target_rows, source_rows) index pairs of equal length, one pair per iteration.

    ``target_rows`` index the selected set (0..n_target-1), ``source_rows`` the source split.
    """

    def __init__(self, n_target: int, n_source: int, batch_size: int, epochs: int, seed: int):
        self.n_target = n_target
        self.n_source = n_source
        self.batch_size = batch_size
        self.epochs = epochs
        self.seed = seed

    @property
    def half(self) -> int:
        return self.batch_size // 2

    @property
    def iterations_per_epoch(self) -> int:
        return math.ceil(self.n_target / self.half)

    def __len__(self) -> int:
        return self.epochs * self.iterations_per_epoch

    def __iter__(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        check_int_range("n_target", self.n_target, 1, 10**9)
        check_int_range("n_source", self.n_source, 1, 10**9)
        check_int_range("batch_size", self.batch_size, 2, 10**9)
        check_int_range("epochs", self.epochs, 1, 10**6)
        rng = np.random.default_rng(self.seed)
        source_stream = _permutation_stream(self.n_source, rng)
        for _ in range(self.epochs):
            order = rng.permutation(self.n_target)
            for start in range(0, self.n_target, self.half):
                target_rows = order[start : start + self.half]
                source_rows = np.fromiter(
                    (next(source_stream) for _ in range(len(target_rows))), dtype=np.int64
                )
                yield target_rows, source_rows


def _permutation_stream(n: int, rng: np.random.Generator) -> Iterator[int]:
    """0..n-1 in random order, then again in a new random order, forever."""
    while True:
        yield from rng.permutation(n).tolist()


def check_selection(selected: np.ndarray, pool_size: int) -> np.ndarray:
    """``selected`` as a 1-D int64 array of distinct pool rows, or a ForgeLensError."""
    array = np.asarray(selected)
    if array.ndim != 1 or array.size == 0 or not np.issubdtype(array.dtype, np.integer):
        raise ForgeLensError(
            f"selected must be a non-empty 1-D integer array of pool rows, got dtype "
            f"{array.dtype} and shape {array.shape}"
        )
    if array.min() < 0 or array.max() >= pool_size:
        raise ForgeLensError(
            f"selected holds rows in [{array.min()}, {array.max()}]; allowed [0, {pool_size - 1}]"
        )
    if len(np.unique(array)) != len(array):
        raise ForgeLensError(
            f"selected holds {len(array) - len(np.unique(array))} duplicate row(s)"
        )
    return array.astype(np.int64)


def parameter_distance(model: torch.nn.Module, reference: list[torch.Tensor]) -> float:
    """L2 norm of (theta - theta_ref) over all trainable parameters, accumulated in float64."""
    squared = sum(
        float(((p.detach().double() - r.double()) ** 2).sum())
        for p, r in zip((p for p in model.parameters() if p.requires_grad), reference, strict=True)
    )
    return math.sqrt(squared)


def row_counts(sampler: MixedBatchSampler) -> tuple[np.ndarray, np.ndarray]:
    """How many times each selected row and each source row appears in the run's batches."""
    target = np.zeros(sampler.n_target, dtype=np.int64)
    source = np.zeros(sampler.n_source, dtype=np.int64)
    for target_rows, source_rows in sampler:
        np.add.at(target, target_rows, 1)
        np.add.at(source, source_rows, 1)
    return target, source


def _only_linear(head: nn.Module) -> nn.Linear:
    linears = [m for m in head.modules() if isinstance(m, nn.Linear)]
    if len(linears) != 1:
        raise ForgeLensError(
            f"the curvature step needs a head with exactly one nn.Linear, got {len(linears)} "
            f"in {type(head).__name__}; allowed: a linear head (set adapt_optimizer=adam)"
        )
    return linears[0]


def head_second_moment(
    head: nn.Module, z: torch.Tensor, weights: np.ndarray, chunk: int = 4096
) -> torch.Tensor:
    """M = sum_i w_i sum_r u_ir u_ir^T / sum_i w_i (float64, (D+1) x (D+1) with a bias), u_ir
    the rows [x, 1] that sample i feeds the head's one nn.Linear (one per sample for a class
    head, two for a pair reward head). Streamed over ``chunk`` samples; rows of weight 0 skipped."""
    linear = _only_linear(head)
    keep = np.flatnonzero(weights)
    w = torch.as_tensor(weights[keep], dtype=torch.float64)
    size = linear.in_features + (linear.bias is not None)
    moment = torch.zeros(size, size, dtype=torch.float64)
    captured: list[torch.Tensor] = []
    hook = linear.register_forward_pre_hook(lambda _module, args: captured.append(args[0]))
    try:
        with torch.no_grad():
            for begin in range(0, len(keep), chunk):
                rows = torch.from_numpy(keep[begin : begin + chunk]).to(z.device)
                captured.clear()
                head(z[rows])
                u = captured[0].detach().double().cpu().reshape(len(rows), -1, linear.in_features)
                if linear.bias is not None:
                    u = torch.cat([u, torch.ones(*u.shape[:2], 1, dtype=u.dtype)], dim=2)
                moment += torch.einsum("n,nrd,nre->de", w[begin : begin + chunk], u, u)
    finally:
        hook.remove()
    return moment / w.sum()


def curvature_step(
    head: nn.Module,
    target_z: torch.Tensor,
    source_z: torch.Tensor,
    counts: tuple[np.ndarray, np.ndarray],
    hp: HParams,
) -> dict[str, Any]:
    """The step of SGD on the squared error (module doc): min(adapt_lr, 1/lambda_max) with
    lambda_max that of the Hessian w.r.t. ``head``'s parameters of the mean loss over every row
    of the run's batches (``counts``: ``row_counts``; ``target_z``, ``source_z``: the head's
    inputs of the selected and the source rows). Returns lr, lr_rule, hessian_lambda_max."""
    target_count, source_count = counts
    n_target, n_source = int(target_count.sum()), int(source_count.sum())
    moment = (
        head_second_moment(head, target_z, target_count) * n_target
        + head_second_moment(head, source_z, source_count) * n_source
    ) / (n_target + n_source)
    lambda_max = 2.0 * float(torch.linalg.eigvalsh(moment)[-1]) + hp.adapt_weight_decay
    return {
        "lr": min(hp.adapt_lr, 1.0 / lambda_max),
        "lr_rule": hp.adapt_step_rule(),
        "hessian_lambda_max": lambda_max,
    }


def _full_curvature_step(
    model: FeatureClassifier,
    target_x: torch.Tensor,
    source_x: torch.Tensor,
    sampler: MixedBatchSampler,
    hp: HParams,
    chunk: int = 512,
) -> dict[str, Any]:
    """``curvature_step`` for full fine-tuning: the head's inputs z at theta_0 (eval mode, no
    gradients, the source rows the batches draw only; ``model`` is left in train mode); the
    head block's lambda_max bounds the network's from below (module doc)."""
    target_count, source_count = row_counts(sampler)
    drawn = np.flatnonzero(source_count)

    def features(x: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return torch.cat([model.features(x[i : i + chunk]) for i in range(0, len(x), chunk)])

    model.eval()
    try:
        source_z = features(source_x[torch.from_numpy(drawn).to(source_x.device)])
        target_z = features(target_x)
    finally:
        model.train()
    counts = (target_count, source_count[drawn])
    return curvature_step(model.head, target_z, source_z, counts, hp)


def _rng_devices(device: torch.device) -> list[int]:
    """The CUDA devices whose RNG ``fork_rng`` must save and restore (none on CPU)."""
    if device.type != "cuda":
        return []
    return [device.index if device.index is not None else torch.cuda.current_device()]


def freeze_batchnorm(model: torch.nn.Module) -> int:
    """Put every BatchNorm layer of ``model`` in eval mode: normalise with the pretrained running
    statistics and leave them unchanged (their affine weights still train). A few dozen
    iterations on small mixed batches would otherwise swap ImageNet statistics for noisy batch
    ones, and the model collapses (measured: EfficientNet-Lite0 to 10% accuracy). Returns the
    number of layers frozen."""
    layers = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    for layer in layers:
        layer.eval()
    return len(layers)


def time_one_batch(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """Seconds of one training forward/backward pass of ``model`` on (x, y), with no trace left:
    gradients are cleared and buffers (BatchNorm running statistics) restored afterwards."""
    buffers = [b.detach().clone() for b in model.buffers()]
    if x.is_cuda:
        torch.cuda.synchronize(x.device)
    start = time.perf_counter()
    F.cross_entropy(model(x), y).backward()
    if x.is_cuda:
        torch.cuda.synchronize(x.device)
    seconds = time.perf_counter() - start
    with torch.no_grad():
        for buffer, saved in zip(model.buffers(), buffers, strict=True):
            buffer.copy_(saved)
    model.zero_grad(set_to_none=True)
    return seconds


def _train_mixed(
    module: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    sampler: MixedBatchSampler,
    target: tuple[torch.Tensor, torch.Tensor],
    source: tuple[torch.Tensor, torch.Tensor],
    loss_name: str = "ce",
    lr: float | None = None,
) -> dict[str, Any]:
    """The adaptation loop shared by both modes: each batch is the sampler's target rows followed
    by as many source rows; the mean of ``loss_name`` ("ce" or "mse",
    ``core.nn.models.loss_tensor``)
    on true labels, watched by a ``DivergenceGuard`` (``lr``: the step it names).
    Returns iterations, seconds, final_train_loss."""
    (target_x, target_y), (source_x, source_y) = target, source
    device = target_x.device
    step = lr if lr is not None else optimizer.param_groups[0]["lr"]
    guard = DivergenceGuard(step, len(sampler))
    start, losses = time.perf_counter(), []
    for target_rows, source_rows in sampler:
        t_idx = torch.from_numpy(target_rows).to(device)
        s_idx = torch.from_numpy(source_rows).to(device)
        x = torch.cat([target_x[t_idx], source_x[s_idx]])
        y = torch.cat([target_y[t_idx], source_y[s_idx]])
        loss = loss_tensor(module(x), y, loss_name).mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
        guard.check(losses[-1], len(losses))
    seconds = time.perf_counter() - start
    return {
        "iterations": len(losses),
        "iterations_per_epoch": sampler.iterations_per_epoch,
        "seconds": seconds,
        "final_train_loss": float(np.mean(losses[-sampler.iterations_per_epoch :])),
        "epoch_losses": [
            float(np.mean(losses[i : i + sampler.iterations_per_epoch]))
            for i in range(0, len(losses), sampler.iterations_per_epoch)
        ],
    }


def adapt(
    model: FeatureClassifier,
    scenario: Scenario,
    selected: np.ndarray,
    hp: HParams,
    *,
    seed: int,
    device,
    progress: Progress | None = None,
) -> tuple[FeatureClassifier, dict[str, Any]]:
    """Fine-tune a copy of ``model`` on target_pool[selected] (true labels) mixed with source data.

    Returns the copy in eval mode on ``device`` (``model`` itself is untouched) and info:
    mode ("full"), iterations (T), epochs, iterations_per_epoch, n_selected, seconds,
    final_train_loss (mean batch loss of the last epoch) and param_distance = |theta_T -
    theta_0| over all trained parameters. With ``progress``, one timed batch first gives
    ``estimate_seconds`` (T times its duration; reported, and kept in info).
    """
    device = resolve_device(device)
    seed = check_int_range("seed", seed, 0, 2**63 - 1)
    pool, source = scenario.target_pool, scenario.source_train
    rows = check_selection(selected, len(pool))
    tuned = copy.deepcopy(model).to(device).train()
    params = [p for p in tuned.parameters() if p.requires_grad]
    theta_0 = [p.detach().clone() for p in params]
    target_x = pool.x[torch.from_numpy(rows)].to(device)
    target_y = torch.from_numpy(pool.y[rows]).to(device)
    source_x, source_y = source.x.to(device), torch.from_numpy(source.y).to(device)
    sampler = MixedBatchSampler(len(rows), len(source), hp.adapt_batch, hp.adapt_epochs, seed)
    step = {"lr": hp.adapt_lr, "lr_rule": "adapt_lr"}
    if hp.adapt_step_rule() is not None:
        step = _full_curvature_step(tuned, target_x, source_x, sampler, hp)
    lr = step["lr"]
    groups: list[Any] = params
    if hp.pretrained:
        freeze_batchnorm(tuned)
        head_ids = {id(p) for p in tuned.head.parameters()}
        groups = [
            {"params": [p for p in params if id(p) in head_ids]},
            {
                "params": [p for p in params if id(p) not in head_ids],
                "lr": lr * PRETRAINED_BACKBONE_LR_SCALE,
            },
        ]
        groups = [group for group in groups if group["params"]]
    optimizer = adaptation_optimizer(replace(hp, adapt_lr=lr), groups)
    estimate = None
    with torch.random.fork_rng(devices=_rng_devices(device)):
        if progress is not None:
            half = min(len(rows), sampler.half)
            one = time_one_batch(
                tuned,
                torch.cat([target_x[:half], source_x[:half]]),
                torch.cat([target_y[:half], source_y[:half]]),
            )
            estimate = one * len(sampler)
            progress(
                {
                    "stage": "adapt",
                    "estimate_seconds": estimate,
                    "iterations": len(sampler),
                    "message": f"full fine-tuning: {len(sampler)} iterations of {2 * half} "
                    f"samples on {device}, about {format_seconds(estimate)} (one "
                    f"batch took {one:.2f} s)",
                }
            )
        torch.manual_seed(seed)  # dropout / drop-connect streams, scoped by fork_rng
        with single_cpu_thread(device):  # the same weights at any thread count (core.nn.threads)
            info = _train_mixed(
                tuned, optimizer, sampler, (target_x, target_y), (source_x, source_y), hp.adapt_loss
            )
    tuned.eval()
    return tuned, {
        "mode": "full",
        "loss": hp.adapt_loss,
        **step,
        "estimate_seconds": estimate,
        "backbone_lr": lr * (PRETRAINED_BACKBONE_LR_SCALE if hp.pretrained else 1.0),
        **info,
        "epochs": hp.adapt_epochs,
        "batch_size": hp.adapt_batch,
        "n_selected": len(rows),
        "seed": seed,
        "param_distance": parameter_distance(tuned, theta_0),
    }


def adapt_head(
    model: FeatureClassifier,
    features: Mapping[str, np.ndarray | torch.Tensor],
    scenario: Scenario,
    selected: np.ndarray,
    hp: HParams,
    *,
    seed: int,
    device,
) -> tuple[FeatureClassifier, dict[str, Any]]:
    """Train only the head of a copy of ``model`` on cached features, as ``adapt`` trains all.

    ``features`` maps split names to z (at least target_pool and source_train, row-aligned with
    the scenario's splits). Batches, optimizer, epochs and seed use are those of ``adapt``, with
    z in place of x. The copy shares ``model``'s backbone (frozen, never run here) and gets a
    new head; ``model`` is untouched. Info as ``adapt`` (mode "head"); param_distance is
    |theta_T - theta_0| over the head's weight and bias.
    """
    device = resolve_device(device)
    seed = check_int_range("seed", seed, 0, 2**63 - 1)
    pool, source = scenario.target_pool, scenario.source_train
    rows = check_selection(selected, len(pool))
    pool_z, source_z = (
        torch.as_tensor(features[name], dtype=torch.float32)
        for name in ("target_pool", "source_train")
    )
    for name, z, split in (("target_pool", pool_z, pool), ("source_train", source_z, source)):
        if z.shape != (len(split), model.feature_dim):
            raise ForgeLensError(
                f"features[{name!r}] has shape {tuple(z.shape)}; allowed: "
                f"({len(split)}, {model.feature_dim}), one row per sample of the split"
            )
    tuned = copy.deepcopy(model, {id(model.backbone): model.backbone})  # new head, same backbone
    head = tuned.head.to(device).train()
    params = list(head.parameters())
    theta_0 = [p.detach().clone() for p in params]
    target_z = pool_z[torch.from_numpy(rows)].to(device)
    target_y = torch.from_numpy(pool.y[rows]).to(device)
    source_z, source_y = source_z.to(device), torch.from_numpy(source.y).to(device)
    sampler = MixedBatchSampler(len(rows), len(source), hp.adapt_batch, hp.adapt_epochs, seed)

    with single_cpu_thread(device):
        step = {"lr": hp.adapt_lr, "lr_rule": "adapt_lr"}
        if hp.adapt_step_rule() is not None:
            step = curvature_step(head, target_z, source_z, row_counts(sampler), hp)
        optimizer = adaptation_optimizer(replace(hp, adapt_lr=step["lr"]), params)
        info = _train_mixed(
            head, optimizer, sampler, (target_z, target_y), (source_z, source_y), hp.adapt_loss
        )
    head.eval()
    return tuned, {
        "mode": "head",
        "loss": hp.adapt_loss,
        **step,
        **info,
        "epochs": hp.adapt_epochs,
        "batch_size": hp.adapt_batch,
        "n_selected": len(rows),
        "seed": seed,
        "param_distance": parameter_distance(head, theta_0),
    }
