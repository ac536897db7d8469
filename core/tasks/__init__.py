"""Task types: what a scenario's samples and model are, and what the engine and pages ask of them.

The paper derives FORGE for several tasks (Sec. 5.2). Each task here says:

- ``pool_embedding(z, logits, device)``: the ``core.selection.embeddings.PoolEmbedding`` (or
subclass)
  the selectors and records read, built from the arrays the engine stores per pool sample, so a
  stored pool rebuilds the same spaces (``core.analysis.projection``);
- ``metric``: the name of what the ``accuracy`` column of a run measures (pages label with it);
- ``sample_kind``: how a pool sample is shown (``dashboard.task_views`` maps it to a renderer);
- ``selectors``: the selectors that apply (None: every registered one);
- ``feature_norm``: what |z| in the records (Figure 5b's x axis, gamma) is for this task;
- ``classes``: whether labels are classes (per-class views apply).

Tasks: ``classification`` (the default: images and sentences), ``reward`` (preference pairs,
Bradley-Terry loss, ``core.tasks.reward``) and ``qa`` (extractive span QA, ``core.tasks.qa``,
with its own engine because its model is a token-level HF model).
A scenario names its task in ``Scenario.task``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from core.base.validation import ForgeLensError, check_choice

DEFAULT_TASK = "classification"


@dataclass(frozen=True)
class Task:
    """One task type (see the module docstring for the fields)."""

    name: str
    metric: str
    sample_kind: str
    feature_norm: str
    pool_embedding: Callable[..., Any]
    build_model: Callable[..., Any]
    selectors: tuple[str, ...] | None = None
    classes: bool = True  # False: labels are not classes (QA: the answer's start token)

    def applicable(self, methods: list[str] | tuple[str, ...]) -> list[str]:
        """``methods`` that apply to this task, in the given order."""
        return [m for m in methods if self.selectors is None or m in self.selectors]


def _classification_pool(z: Any, logits: Any, *, device: Any = None, **kwargs: Any) -> Any:
    from core.selection.embeddings import PoolEmbedding

    return PoolEmbedding.from_arrays(z, logits, device=device, **kwargs)


def _reward_pool(z: Any, logits: Any, *, device: Any = None, **kwargs: Any) -> Any:
    from core.tasks.reward import RewardPoolEmbedding

    return RewardPoolEmbedding.from_arrays(z, logits, device=device, **kwargs)


def _qa_pool(z: Any, logits: Any, *, device: Any = None, **kwargs: Any) -> Any:
    from core.tasks.qa.embeddings import QAPoolEmbedding

    return QAPoolEmbedding.from_arrays(z, logits, device=device, **kwargs)


def _classifier(scenario: Any, hp: Any, *, seed: int | None = None) -> Any:
    from core.nn.models import build_model

    return build_model(scenario, hp, seed=seed)


def _reward_model(scenario: Any, hp: Any, *, seed: int | None = None) -> Any:
    from core.nn.reward_model import build_reward_model

    return build_reward_model(scenario, hp, seed=seed)


def _no_model(scenario: Any, hp: Any, *, seed: int | None = None) -> Any:
    raise ForgeLensError(
        f"scenario {scenario.name!r}: a span-QA model is the user's model folder, loaded as it is"
    )


QA_SELECTORS = ("random", "coreset", "badge", "forge", "forge-kmeanspp")

TASKS: dict[str, Task] = {
    task.name: task
    for task in (
        Task(
            "classification",
            "accuracy",
            "sample",
            "|z|, the penultimate feature norm",
            _classification_pool,
            _classifier,
        ),
        Task(
            "reward",
            "pair accuracy",
            "text-pair",
            "|z_w - z_l|, the norm of the pair's last-layer input (r_w - r_l = w . (z_w - z_l))",
            _reward_pool,
            _reward_model,
        ),
        Task(
            "qa",
            "exact match",
            "qa",
            "|Cat(phi_start, phi_end)|, the FORGE embedding norm (mean of token features)",
            _qa_pool,
            _no_model,
            QA_SELECTORS,
            classes=False,
        ),
    )
}


def get_task(name: str) -> Task:
    """The task called ``name`` (one of TASKS)."""
    return TASKS[check_choice("task", name, TASKS)]


def task_of(obj: Any) -> Task:
    """The task of a scenario, a pool meta dict or a run config (classification when unnamed)."""
    if isinstance(obj, dict):
        return get_task(obj.get("task") or DEFAULT_TASK)
    return get_task(getattr(obj, "task", None) or DEFAULT_TASK)
