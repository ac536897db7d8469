"""Adaptation (Algorithm 1 line 7): fine-tune a copy of the source model on the selected target
samples with their true labels, every batch split evenly between target and source data
(Section 6.3: "each batch is split evenly for source and target data").

An epoch is one pass over the selected target samples, in a fresh random order, in chunks of
``adapt_batch / 2``; each chunk is paired with as many source samples, drawn without replacement
from a stream of random permutations of the source train split. So every batch holds exactly as
many source as target rows (the last one of an epoch may be smaller), the loss is the mean
cross-entropy over the batch (both halves weigh the same) and T = epochs * ceil(k / (batch/2)).
All randomness comes from ``seed`` (a numpy Generator made inside the call); on CPU two runs with
the same seed give bit-identical weights.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from core.device import resolve_device
from core.hparams import HParams
from core.models import FeatureClassifier
from core.scenarios import Scenario
from core.source_model import make_optimizer
from core.validation import ForgeLensError, check_finite, check_int_range


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
        raise ForgeLensError(f"selected holds {len(array) - len(np.unique(array))} duplicate row(s)")
    return array.astype(np.int64)


def parameter_distance(model: torch.nn.Module, reference: list[torch.Tensor]) -> float:
    """L2 norm of (theta - theta_ref) over all trainable parameters, accumulated in float64."""
    squared = sum(
        float(((p.detach().double() - r.double()) ** 2).sum())
        for p, r in zip((p for p in model.parameters() if p.requires_grad), reference, strict=True)
    )
    return math.sqrt(squared)


def adapt(
    model: FeatureClassifier,
    scenario: Scenario,
    selected: np.ndarray,
    hp: HParams,
    *,
    seed: int,
    device,
) -> tuple[FeatureClassifier, dict[str, Any]]:
    """Fine-tune a copy of ``model`` on target_pool[selected] (true labels) mixed with source data.

    Returns the copy in eval mode on ``device`` (``model`` itself is untouched) and info:
    iterations (T), epochs, iterations_per_epoch, n_selected, seconds, final_train_loss (mean
    batch loss of the last epoch) and param_distance = |theta_T - theta_0| over all trained
    parameters.
    """
    device = resolve_device(device)
    seed = check_int_range("seed", seed, 0, 2**63 - 1)
    pool, source = scenario.target_pool, scenario.source_train
    rows = check_selection(selected, len(pool))
    tuned = copy.deepcopy(model).to(device).train()
    params = [p for p in tuned.parameters() if p.requires_grad]
    theta_0 = [p.detach().clone() for p in params]
    optimizer = make_optimizer(hp.adapt_optimizer, params, lr=hp.adapt_lr,
                               weight_decay=hp.adapt_weight_decay, momentum=hp.adapt_momentum)  # fmt: skip
    target_x = pool.x[torch.from_numpy(rows)].to(device)
    target_y = torch.from_numpy(np.roll(pool.y[rows], 1)).to(device)
    source_x, source_y = source.x.to(device), torch.from_numpy(source.y).to(device)
    sampler = MixedBatchSampler(len(rows), len(source), hp.adapt_batch, hp.adapt_epochs, seed)

    start, losses = time.perf_counter(), []
    for target_rows, source_rows in sampler:
        t_idx = torch.from_numpy(target_rows).to(device)
        s_idx = torch.from_numpy(source_rows).to(device)
        x = torch.cat([target_x[t_idx], source_x[s_idx]])
        y = torch.cat([target_y[t_idx], source_y[s_idx]])
        loss = F.cross_entropy(tuned(x), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
    seconds = time.perf_counter() - start
    check_finite("adaptation loss", np.asarray(losses))
    tuned.eval()
    last_epoch = losses[-sampler.iterations_per_epoch :]
    return tuned, {
        "iterations": len(losses),
        "epochs": hp.adapt_epochs,
        "iterations_per_epoch": sampler.iterations_per_epoch,
        "batch_size": hp.adapt_batch,
        "n_selected": len(rows),
        "seed": seed,
        "seconds": seconds,
        "final_train_loss": float(np.mean(last_epoch)),
        "param_distance": parameter_distance(tuned, theta_0),
    }
