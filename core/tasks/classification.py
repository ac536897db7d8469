"""Classification's side of the engine (``core.tasks.adapter``), and the part reward pairs share.

``LinearHeadAdapter`` serves every model of ``core.nn.models``, a backbone z(x) and a linear
head trained here: the source model is trained once and cached in the store, a pretrained
backbone's (or head adaptation's) features are cached too, the pool is embedded as (z, logits),
and the metric is the fraction of correct argmax predictions. ``ClassificationAdapter`` adds
Theorem 4's record columns (``core.records.theory``), stated for a class head.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import torch

from core.base.data import Scenario
from core.base.hparams import HParams
from core.base.progress import Progress
from core.base.validation import ForgeLensError
from core.nn.adaptation import adapt, adapt_head
from core.nn.feature_cache import cached_features, feature_id
from core.nn.models import (
    build_model,
    embed,
    head_logits,
    per_sample_loss,
    per_sample_loss_from_features,
)
from core.nn.source_model import get_source_model
from core.records.tangent_norms import (
    ARCHS_WITH_FULL_TANGENT,
    read_pool_tangent_norms,
    write_pool_tangent_norms,
)
from core.records.theory import record_theory, tangent_norms_part
from core.selection.embeddings import PoolEmbedding
from core.storage.store import RunStore
from core.tasks.adapter import EVAL_SPLITS, Evaluation, PreparedPool, Source, TaskAdapter
from core.tasks.pool_jobs import PoolJob, even_parts

TANGENT_PART = 256  # samples per part of the tangent norms: a multiple of their chunk (32)


class LinearHeadAdapter(TaskAdapter):
    """Tasks whose model is a ``core.nn.models.FeatureClassifier``-like backbone and head."""

    def build_model(self, scenario: Scenario, hp: HParams, *, seed: int | None = None) -> Any:
        return build_model(scenario, hp, seed=seed)

    def pool_embedding(
        self, z: Any, logits: Any, *, device: Any = None, **kwargs: Any
    ) -> PoolEmbedding:
        return PoolEmbedding.from_arrays(z, logits, device=device, **kwargs)

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
        """Backbone features first for a pretrained backbone (the head trains on them), after
        the source model for ``head`` adaptation (they depend on its backbone)."""
        features, features_info = None, None
        if hp.pretrained:
            fresh = self.build_model(scenario, hp)
            features, features_info = self.features(
                store, scenario, hp, fresh, None, device, notify
            )
        notify({"stage": "source model", "message": "training or loading the source model"})
        model, info = get_source_model(
            scenario,
            hp,
            cache_dir=store.models_dir,
            device=device,
            features=features,
            progress=notify,
            build=self.build_model,
        )
        if features is None and adaptation == "head":
            features, features_info = self.features(
                store, scenario, hp, model, info["model_id"], device, notify
            )
        return Source(model, info, features, features_info)

    def features(
        self,
        store: RunStore,
        scenario: Scenario,
        hp: HParams,
        model: torch.nn.Module,
        model_id: str | None,
        device: torch.device,
        notify: Progress,
    ) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """Every split's backbone features z, from the store's feature cache (computed and
        cached on first use), and the cache's info."""
        key = feature_id(scenario, hp, model_id)
        notify({"stage": "features", "message": f"backbone features of every split ({key})"})
        features, info = cached_features(
            store.root,
            key,
            model,
            scenario,
            device=device,
            batch_size=min(hp.eval_batch, 128),
            progress=notify,
        )
        word = "read from the cache" if info["cached"] else "computed and cached"
        notify(
            {
                "stage": "features",
                "seconds": info["seconds"],
                "cached": info["cached"],
                "message": f"features {word} in {info['seconds']:.1f} s",
            }
        )
        return features, info

    def pool_arrays(
        self, source: Source, scenario: Scenario, hp: HParams, *, device: torch.device
    ) -> tuple[np.ndarray, np.ndarray]:
        if source.features is not None:
            z = source.features["target_pool"]
            return z, head_logits(source.model, z, device=device)
        return embed(source.model, scenario.split("target_pool").x, device=device)

    def evaluate(
        self,
        model: torch.nn.Module,
        scenario: Scenario,
        hp: HParams,
        *,
        features: dict[str, np.ndarray] | None,
        device: torch.device,
    ) -> dict[str, Evaluation]:
        """Per-sample ``hp.adapt_loss`` with the true label, argmax prediction, correctness."""
        results = {}
        for split in EVAL_SPLITS:
            data = scenario.split(split)
            if features is not None:
                loss, pred = per_sample_loss_from_features(
                    model, features[split], data.y, device=device, loss=hp.adapt_loss
                )
            else:
                loss, pred = per_sample_loss(model, data, device=device, loss=hp.adapt_loss)
            results[split] = Evaluation(loss, pred, pred == data.y)
        return results

    def pool_table(
        self,
        embedding: PoolEmbedding,
        logits: np.ndarray,
        labels: np.ndarray,
        before: dict[str, Evaluation],
    ) -> pd.DataFrame:
        p = np.asarray(embedding.probs, dtype=np.float64)
        top2 = (
            np.sort(logits.astype(np.float64), axis=1)[:, -2:]
            if logits.shape[1] > 1
            else np.zeros((len(p), 2))
        )
        pseudo = np.asarray(embedding.pseudo, dtype=np.int64)
        return pd.DataFrame(
            {
                "idx": np.arange(len(labels), dtype=np.int64),
                "label": labels.astype(np.int64),
                "pseudo": pseudo,
                "correct": pseudo == labels,
                "confidence": p.max(axis=1),
                "margin": top2[:, 1] - top2[:, 0],
                "entropy": -np.sum(p * np.log(np.clip(p, 1e-300, None)), axis=1),
                "znorm": np.asarray(embedding.znorm, dtype=np.float64),
                "anorm": np.linalg.norm(np.asarray(embedding.residual, dtype=np.float64), axis=1),
            }
        )

    def pool_accuracies(self, source: Source, before: dict[str, Evaluation]) -> dict[str, Any]:
        """Those measured when the source model was trained."""
        return {
            "source_val_accuracy": source.info.get("source_val_accuracy"),
            "target_test_accuracy": source.info.get("target_test_accuracy"),
        }

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
        """``full``: everything (``core.nn.adaptation.adapt``); ``head``: the head alone on the
        cached features (``adapt_head``)."""
        scenario, hp = prepared.scenario, prepared.hparams
        if adaptation == "full":
            return adapt(
                prepared.model, scenario, selected, hp, seed=seed, device=device, progress=notify
            )
        if prepared.features is None:
            raise ForgeLensError(
                "adaptation='head' needs a pool prepared with cached features; "
                "allowed: prepare_pool(..., adaptation='head')"
            )
        return adapt_head(
            prepared.model, prepared.features, scenario, selected, hp, seed=seed, device=device
        )


class ClassificationAdapter(LinearHeadAdapter):
    """Classes: ``LinearHeadAdapter`` plus Theorem 4's columns, stated for a class head."""

    def pool_jobs(
        self, store: RunStore, prepared: PreparedPool, *, device: torch.device
    ) -> list[PoolJob]:
        """The pool's full-network tangent norms (the Theory page's), in parts of 256
        samples (8 whole chunks of ``full_tangent_norms``); none for pretrained backbones or
        when they are stored already."""
        x = prepared.scenario.target_pool.x
        if prepared.hparams.arch not in ARCHS_WITH_FULL_TANGENT:
            return []
        if read_pool_tangent_norms(store, prepared.pool_id, len(x)) is not None:
            return []
        return [
            PoolJob(
                label="full-network tangent norms of the pool",
                stage="tangent norms",
                compute=tangent_norms_part,
                args=(prepared.model, x, str(device)),
                parts=even_parts(len(x), TANGENT_PART),
                save=write_pool_tangent_norms,
                save_args=(str(store.root), prepared.pool_id),
                anywhere=device.type == "cpu",  # a GPU's bits are not the CPU's
            )
        ]

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
        """Theorem 4's terms on every pair (the full-network tangent norms are the pool's:
        ``pool_jobs``)."""
        return record_theory(prepared, adapted, pairs, samples), samples
