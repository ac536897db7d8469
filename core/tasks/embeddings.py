"""The engine's side of embeddings scenarios (``core.scenarios.embeddings_scenario``): the
source "model" is a linear head on the given z, and nothing else.

Each input row is [z | logits]. The model reads z from the first D columns (``LeadingColumns``,
no parameters) and its head is the least-squares fit of the given logits on z over every row of
the scenario (as ``core.run.labels_back`` recovers a head; its relative error is recorded in the
model info, ~0 when the logits came from a linear last layer). The pool's arrays are the given
z and logits themselves, so selection sees exactly what the files hold. Only ``head``
adaptation applies (there is no network to fine-tune): the head trains on the given z as
every head-mode run does (``core.nn.adaptation.adapt_head``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from core.base.data import Scenario
from core.base.hparams import HParams
from core.base.progress import Progress
from core.base.splits import SPLIT_NAMES
from core.base.validation import ForgeLensError
from core.nn.models import FeatureClassifier
from core.scenarios.embeddings_scenario import feature_dim
from core.storage.atomic import config_id
from core.storage.store import RunStore
from core.tasks.adapter import PreparedPool, Source
from core.tasks.classification import ClassificationAdapter


class LeadingColumns(nn.Module):
    """z = the first ``dim`` columns of the input [z | logits]."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.dim = dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x[:, : self.dim]


def fit_head(z: np.ndarray, logits: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """(weight C x D, bias C, relative error) of the least-squares fit logits ~ z W^T + b."""
    design = np.concatenate([z.astype(np.float64), np.ones((len(z), 1))], axis=1)
    target = logits.astype(np.float64)
    solution, *_ = np.linalg.lstsq(design, target, rcond=None)
    error = np.linalg.norm(design @ solution - target) / max(np.linalg.norm(target), 1e-300)
    return solution[:-1].T, solution[-1], float(error)


class EmbeddingsAdapter(ClassificationAdapter):
    """Classification on given (z, logits): the head is the model."""

    def build_model(self, scenario: Scenario, hp: HParams, *, seed: int | None = None) -> Any:
        dim = feature_dim(scenario)
        return FeatureClassifier(LeadingColumns(dim), dim, scenario.num_classes)

    def source(
        self,
        store: RunStore,
        scenario: Scenario,
        hp: HParams,
        *,
        adaptation: str,
        device: torch.device,
        notify: Progress,
    ) -> Source:
        """The least-squares head on every split's rows; every split's z as its features."""
        notify({"stage": "source model", "message": "fitting the head to the given logits"})
        dim = feature_dim(scenario)
        rows = np.concatenate([scenario.split(s).x.numpy() for s in SPLIT_NAMES])
        weight, bias, error = fit_head(rows[:, :dim], rows[:, dim:])
        model = self.build_model(scenario, hp)
        with torch.no_grad():
            model.head.weight.copy_(torch.from_numpy(weight).float())
            model.head.bias.copy_(torch.from_numpy(bias).float())
        model = model.to(device).eval()
        features = {s: scenario.split(s).x.numpy()[:, :dim].copy() for s in SPLIT_NAMES}
        info: dict[str, Any] = {
            "model_id": config_id({"scenario": scenario.summary(), "head": "least-squares"}),
            "head_fit_relative_error": error,
            "cached": False,
        }
        for split in ("source_val", "target_test"):
            logits = scenario.split(split).x.numpy()[:, dim:]
            info[f"{split}_accuracy"] = float(
                np.mean(logits.argmax(axis=1) == scenario.split(split).y)
            )
        return Source(model, info, features, {"cached": False, "seconds": 0.0})

    def pool_arrays(
        self, source: Source, scenario: Scenario, hp: HParams, *, device: torch.device
    ) -> tuple[np.ndarray, np.ndarray]:
        """The given z and logits of the pool, unchanged."""
        x = scenario.split("target_pool").x.numpy()
        dim = feature_dim(scenario)
        return x[:, :dim].copy(), x[:, dim:].copy()

    def adapt(
        self,
        prepared: PreparedPool,
        selected: np.ndarray,
        adaptation: str,
        *,
        seed: int,
        device: torch.device,
        notify: Progress,
    ) -> tuple[torch.nn.Module, dict[str, Any]]:
        if adaptation != "head":
            raise ForgeLensError(
                f"adaptation={adaptation!r} is not allowed for the embeddings scenario "
                f"{prepared.scenario.name!r} (no network to fine-tune); allowed: head"
            )
        return super().adapt(
            prepared, selected, adaptation, seed=seed, device=device, notify=notify
        )
