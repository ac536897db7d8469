"""What the engine (``core.run.engine``) asks a task: the protocol every task implements.

Algorithm 1 is the same for every task: get the source model, store the pool's embeddings
once, select, adapt, record. What differs is a task's ``TaskAdapter`` (one per task, found
through ``core.tasks.Task.adapter``):

- ``build_model`` / ``pool_embedding``: a fresh model, and the selectors' view of stored
  pool arrays;
- ``source``: the source model (trained or loaded) and any cached backbone features;
- ``pool_arrays``: the (z, logits) arrays the store keeps per pool sample;
- ``evaluate``: per-sample loss, prediction and metric on the target splits (``Evaluation``);
- ``pool_table`` / ``pool_accuracies``: the pool's per-sample facts and its meta's accuracies;
- ``adapt``: a copy of the source model adapted on the selection;
- ``pool_jobs``, ``record_columns``, ``config_fields``: optional extras (pool-level results
  the pages read, computed beside the runs; task-only record columns; task-only run-config
  keys).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import pandas as pd

from core.base.progress import Progress

if TYPE_CHECKING:  # the adapters' modules load torch; this one's readers may not
    import torch

    from core.base.data import Scenario
    from core.base.hparams import HParams
    from core.scenarios import ScenarioEntry
    from core.selection.embeddings import PoolEmbedding
    from core.storage.store import RunStore
    from core.tasks.pool_jobs import PoolJob

# the splits a run is evaluated on before and after adaptation (Table 1's rows come from them)
EVAL_SPLITS = ("target_pool", "target_val", "target_test")


@dataclass(frozen=True)
class Source:
    """A scenario's source model and what it was prepared with.

    ``info`` holds ``model_id`` (part of the pool id) and what run configs record;
    ``features`` every split's backbone features z when cached (pretrained backbones, head mode).
    """

    model: torch.nn.Module
    info: dict[str, Any]
    features: dict[str, np.ndarray] | None = None
    features_info: dict[str, Any] | None = None


@dataclass(frozen=True)
class Evaluation:
    """One split's per-sample results under a model.

    ``loss``: the loss with the true label; ``pred``: the prediction (a class, QA's start
    token); ``score``: the task's metric (``Task.metric``), whose mean is the ``accuracy`` column;
    ``metrics``: more per-sample metrics, each a column of the accuracy table (QA's ``f1``).
    """

    loss: np.ndarray
    pred: np.ndarray
    score: np.ndarray
    metrics: dict[str, np.ndarray] = field(default_factory=dict)


@dataclass(frozen=True)
class PreparedPool:
    """Everything about one scenario's target pool under its source model, computed once.

    Read-only once made: runs share it. ``features`` is set when the pool was prepared for
    ``head`` adaptation or has a pretrained backbone; ``before`` is the source model's
    ``Evaluation`` per split of ``EVAL_SPLITS``.
    """

    entry: ScenarioEntry
    scenario: Scenario
    hparams: HParams
    model: torch.nn.Module
    model_info: dict[str, Any]
    pool_id: str
    embedding: PoolEmbedding
    before: dict[str, Evaluation]
    seconds: float
    features: dict[str, np.ndarray] | None = None
    features_info: dict[str, Any] | None = None


class TaskAdapter(ABC):
    """A task's side of Algorithm 1 (module doc). Subclasses implement the abstract methods;
    the others have the defaults most tasks want."""

    # run-config keys this task adds (hashed into the run id)
    config_fields: ClassVar[dict[str, Any]] = {}

    @abstractmethod
    def build_model(self, scenario: Scenario, hp: HParams, *, seed: int | None = None) -> Any:
        """A fresh model for ``scenario`` (what source training starts from)."""

    @abstractmethod
    def pool_embedding(
        self, z: Any, logits: Any, *, device: Any = None, **kwargs: Any
    ) -> PoolEmbedding:
        """The ``PoolEmbedding`` selectors and records read, from the stored (z, logits)."""

    @abstractmethod
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
        """The source model for ``scenario`` (trained and cached in ``store``, or loaded) and the
        backbone features ``adaptation`` needs."""

    @abstractmethod
    def pool_arrays(
        self, source: Source, scenario: Scenario, hp: HParams, *, device: torch.device
    ) -> tuple[np.ndarray, np.ndarray]:
        """(z, logits) of every target-pool sample under the source model: what the store
        keeps and ``pool_embedding`` reads."""

    @abstractmethod
    def evaluate(
        self,
        model: torch.nn.Module,
        scenario: Scenario,
        hp: HParams,
        *,
        features: dict[str, np.ndarray] | None,
        device: torch.device,
    ) -> dict[str, Evaluation]:
        """``model``'s ``Evaluation`` of each split of ``EVAL_SPLITS`` (from ``features``, the
        head alone, when given)."""

    @abstractmethod
    def pool_table(
        self,
        embedding: PoolEmbedding,
        logits: np.ndarray,
        labels: np.ndarray,
        before: dict[str, Evaluation],
    ) -> pd.DataFrame:
        """Per-sample facts of the pool under the source model (views colour and filter by)."""

    @abstractmethod
    def pool_accuracies(self, source: Source, before: dict[str, Evaluation]) -> dict[str, Any]:
        """The source model's accuracies the pool's meta records."""

    @abstractmethod
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
        """A copy of the source model adapted on ``selected`` in ``adaptation`` mode, and the
        adaptation's info (``iterations`` and ``param_distance`` among it)."""

    def pool_jobs(
        self, store: RunStore, prepared: PreparedPool, *, device: torch.device
    ) -> list[PoolJob]:
        """Pool-level results no run needs but a page reads (``core.tasks.pool_jobs``), still
        missing from the store; computed beside the runs (``core.run.follow_up``). None by
        default."""
        return []

    def record_columns(
        self,
        store: RunStore,
        prepared: PreparedPool,
        adapted: torch.nn.Module,
        after: dict[str, Evaluation],
        pairs: pd.DataFrame,
        samples: pd.DataFrame,
        *,
        device: torch.device,
    ) -> tuple[pd.DataFrame, pd.DataFrame]:
        """The run's ``pairs`` and ``samples`` tables with this task's own columns added.
        Unchanged by default."""
        return pairs, samples
