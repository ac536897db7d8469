"""Span QA's side of the engine (``core.tasks.adapter``): the paper's Algorithm 1 for a local QA
model on SQuAD-layout files, through the same sweep, executors and run store as every task.

The source model is the given ``AutoModelForQuestionAnswering`` as it is (the paper starts from
a DistilBERT already fine-tuned on SQuAD); its id hashes the model folder's files. One pass over
the target pool gives the embeddings of ``core.tasks.qa.embeddings`` (stored once per pool,
N x 5D; the before-evaluation is a second pass, so that evaluation is the same before and
after). Adaptation is ``core.tasks.qa.adaptation``. Records are those of every task: loss = the
mean of the start and end cross-entropies with the true span, r, gaps of nearest selected
neighbours per space; the ``accuracy`` column is exact match, and the accuracy table adds an
``f1`` column, the samples table ``em_before`` and ``em_after``. Run configs name the task.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import pandas as pd
import torch

from core.base.data import Scenario
from core.base.hparams import HParams
from core.base.progress import Progress
from core.base.validation import ForgeLensError
from core.nn.qa_model import load_qa_model
from core.storage.store import RunStore
from core.tasks.adapter import EVAL_SPLITS, Evaluation, PreparedPool, Source, TaskAdapter
from core.tasks.qa.adaptation import adapt_qa
from core.tasks.qa.embeddings import EMBEDDING_VERSION, QAPoolEmbedding, pool_arrays
from core.tasks.qa.evaluation import evaluate, model_identity


class QAAdapter(TaskAdapter):
    """Extractive span QA with a user's local Hugging Face model (module doc)."""

    # embedding 2: BADGE is the true gradient of span_loss (was 2/L times it); in run and pool ids
    config_fields: ClassVar[dict[str, Any]] = {"task": "qa", "embedding": EMBEDDING_VERSION}

    def build_model(self, scenario: Scenario, hp: HParams, *, seed: int | None = None) -> Any:
        raise ForgeLensError(
            f"scenario {scenario.name!r}: a span-QA model is the user's model folder, "
            "loaded as it is"
        )

    def pool_embedding(
        self, z: Any, logits: Any, *, device: Any = None, **kwargs: Any
    ) -> QAPoolEmbedding:
        return QAPoolEmbedding.from_arrays(z, logits, device=device, **kwargs)

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
        """The scenario's model folder, loaded offline; nothing is trained or cached."""
        model_dir = scenario.model_dir
        notify({"stage": "source model", "message": f"loading the QA model {model_dir}"})
        info = {"model_id": model_identity(model_dir), "model_dir": str(model_dir)}
        return Source(load_qa_model(model_dir), info)

    def pool_arrays(
        self, source: Source, scenario: Scenario, hp: HParams, *, device: torch.device
    ) -> tuple[np.ndarray, np.ndarray]:
        parts = evaluate(
            source.model,
            scenario,
            "target_pool",
            device=device,
            batch_size=hp.eval_batch,
            embed=True,
        )
        return pool_arrays(parts)

    def evaluate(
        self,
        model: torch.nn.Module,
        scenario: Scenario,
        hp: HParams,
        *,
        features: dict[str, np.ndarray] | None,
        device: torch.device,
    ) -> dict[str, Evaluation]:
        """Per question: span loss, predicted start token, exact match (the score) and F1."""
        results = {}
        for split in EVAL_SPLITS:
            result = evaluate(model, scenario, split, device=device, batch_size=hp.eval_batch)
            results[split] = Evaluation(
                result["loss"],
                result["pred"][:, 0].astype(np.int64),
                result["em"],
                {"f1": result["f1"]},
            )
        return results

    def pool_table(
        self,
        embedding: QAPoolEmbedding,
        logits: np.ndarray,
        labels: np.ndarray,
        before: dict[str, Evaluation],
    ) -> pd.DataFrame:
        """The two logits are (log p, log(1 - p)) of the model's own span: confidence is p."""
        p = np.asarray(embedding.probs, dtype=np.float64)
        return pd.DataFrame(
            {
                "idx": np.arange(embedding.n, dtype=np.int64),
                "label": labels.astype(np.int64),
                "pseudo": np.asarray(embedding.pseudo, dtype=np.int64),
                "correct": before["target_pool"].score > 0.5,
                "confidence": p[:, 0],
                "margin": np.abs(embedding.logits[:, 0] - embedding.logits[:, 1]),
                "entropy": -np.sum(p * np.log(np.clip(p, 1e-300, None)), axis=1),
                "znorm": np.asarray(embedding.znorm, dtype=np.float64),
                "anorm": np.linalg.norm(np.asarray(embedding.residual, dtype=np.float64), axis=1),
            }
        )

    def pool_accuracies(self, source: Source, before: dict[str, Evaluation]) -> dict[str, Any]:
        """Target test exact match of the given model (no source training here)."""
        return {"target_test_accuracy": float(before["target_test"].score.mean())}

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
        return adapt_qa(
            prepared.model,
            prepared.scenario,
            selected,
            prepared.hparams,
            seed=seed,
            device=device,
            mode=adaptation,
        )

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
        """Each pool question's exact match before and after adaptation."""
        samples = samples.assign(
            em_before=prepared.before["target_pool"].score, em_after=after["target_pool"].score
        )
        return pairs, samples
