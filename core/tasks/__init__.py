"""Task types: what a scenario's samples and model are, and what the engine and pages ask of them.

The paper derives FORGE for several tasks (Sec. 5.2). Each task here says:

- ``adapter()``: its side of Algorithm 1 for the one engine (``core.run.engine``): model,
  pool arrays, evaluation, adaptation and record columns (the protocol:
  ``core.tasks.adapter.TaskAdapter``); loaded on first use, as it needs torch;
- ``pool_embedding(z, logits, device)``: the ``core.selection.embeddings.PoolEmbedding`` (or
  subclass) the selectors and records read, built from the arrays the engine stores per pool
  sample, so a stored pool rebuilds the same spaces (``core.analysis.projection``);
- ``metric``: the name of what the ``accuracy`` column of a run measures (pages label with it);
- ``sample_kind``: how a pool sample is shown (``dashboard.task_views`` maps it to a renderer);
- ``selectors``: the selectors that apply (None: every registered one);
- ``feature_norm``: what |z| in the records (Figure 5b's x axis, gamma) is for this task;
- ``classes``: whether labels are classes (per-class views apply);
- ``previews``: whether pool previews (images, texts: ``core.records.previews``) are stored.

Tasks: ``classification`` (the default: images and sentences, ``core.tasks.classification``),
``reward`` (preference pairs, Bradley-Terry loss, ``core.tasks.reward``) and ``qa`` (extractive
span QA with a token-level HF model, ``core.tasks.qa``).
A scenario names its task in ``Scenario.task``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any

from core.base.validation import ForgeLensError, check_choice

if TYPE_CHECKING:  # the adapters load torch; pages read the task registry without it
    from core.tasks.adapter import TaskAdapter

DEFAULT_TASK = "classification"


@dataclass(frozen=True)
class Task:
    """One task type (see the module docstring for the fields)."""

    name: str
    metric: str
    sample_kind: str
    feature_norm: str
    adapter: Callable[[], TaskAdapter]  # the engine's side, loaded (with torch) on first use
    selectors: tuple[str, ...] | None = None
    classes: bool = True  # False: labels are not classes (QA: the answer's start token)
    previews: bool = True  # False: pool samples are drawn by task views, none are stored
    plain_norm: bool = False  # True: the feature norm is the paper's |z| (no note needed)

    def applicable(self, methods: list[str] | tuple[str, ...]) -> list[str]:
        """``methods`` that apply to this task, in the given order."""
        return [m for m in methods if self.selectors is None or m in self.selectors]

    def check_methods(self, methods: Sequence[str]) -> None:
        """Refuse, naming it, a method that does not apply to this task."""
        for method in methods:
            if self.selectors is not None and method not in self.selectors:
                raise ForgeLensError(
                    f"method={method!r} does not apply to {self.name} scenarios; "
                    f"allowed: {', '.join(self.selectors)}"
                )

    def pool_embedding(self, z: Any, logits: Any, *, device: Any = None, **kwargs: Any) -> Any:
        """The pool the selectors and records read, from stored (z, logits)."""
        return self.adapter().pool_embedding(z, logits, device=device, **kwargs)

    def build_model(self, scenario: Any, hp: Any, *, seed: int | None = None) -> Any:
        """A fresh model for ``scenario`` (what source training starts from)."""
        return self.adapter().build_model(scenario, hp, seed=seed)


@cache
def _classification() -> TaskAdapter:
    from core.tasks.classification import ClassificationAdapter

    return ClassificationAdapter()


@cache
def _reward() -> TaskAdapter:
    from core.tasks.reward import RewardAdapter

    return RewardAdapter()


@cache
def _qa() -> TaskAdapter:
    from core.tasks.qa.adapter import QAAdapter

    return QAAdapter()


@cache
def _embeddings() -> TaskAdapter:
    from core.tasks.embeddings import EmbeddingsAdapter

    return EmbeddingsAdapter()


QA_SELECTORS = ("random", "coreset", "badge", "forge", "forge-kmeanspp")

TASKS: dict[str, Task] = {
    task.name: task
    for task in (
        Task(
            "classification",
            "accuracy",
            "sample",
            "|z|, the penultimate feature norm",
            _classification,
            plain_norm=True,
        ),
        Task(
            "embeddings",
            "accuracy",
            "sample",
            "|z|, the given feature norm",
            _embeddings,
            previews=False,  # the inputs are feature vectors: no picture, no text
            plain_norm=True,
        ),
        Task(
            "reward",
            "pair accuracy",
            "text-pair",
            "|z_w - z_l|, the norm of the pair's last-layer input (r_w - r_l = w . (z_w - z_l))",
            _reward,
            previews=False,
        ),
        Task(
            "qa",
            "exact match",
            "qa",
            "|Cat(phi_start, phi_end)|, the FORGE embedding norm (mean of token features)",
            _qa,
            QA_SELECTORS,
            classes=False,
            previews=False,
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
