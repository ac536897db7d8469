"""Per-scenario hyper-parameters for source training and adaptation (a name -> defaults registry).

``asdict(hp)`` goes into every run config. The fields in SOURCE_FIELDS decide the source model
and therefore its cache key; the ``adapt_*`` fields only change adaptation, except
``adapt_loss``: the source model minimises the same loss (``HParams.source_loss``).

An adaptation *epoch* is one pass over the selected target samples: with batches of
``adapt_batch`` (half target, half source), one epoch is ceil(k / (adapt_batch / 2)) iterations
for k selected samples, and T = adapt_epochs * that.

Pretrained backbones (``arch`` in PRETRAINED_FEATURE_DIMS, see ``core.nn.backbones``) fix
``feature_dim`` (a scenario file's own backbone, ``LOCAL_ARCH``, gives its size in its
defaults); their "source model" is the frozen backbone plus a linear head trained on the
source features with the ``source_*`` settings. ``ADAPTATION_MODES`` lists the adaptation modes
and ``DEFAULT_ADAPTATION`` names each scenario's default one ("full" unless listed). Standard
library only, so the CLI and the dashboard read these without loading torch or numpy.
"""

from __future__ import annotations

import math
import numbers
import re
from dataclasses import dataclass, fields, replace
from typing import Any

from core.base.validation import ForgeLensError, check_choice, check_int_range, suggest

# z size of each pretrained backbone (core.nn.backbones checks it matches the loaded module)
# 0: the size is read from the model ("hf-local": a user's Hugging Face folder)
PRETRAINED_FEATURE_DIMS = {"effnet-lite0": 1280, "minilm-l6": 384, "hf-local": 0}
# the given z of an embeddings scenario (core.scenarios.embeddings_scenario): a frozen feature
# map of any size, read from its files
GIVEN_FEATURES = "embeddings"
ARCHITECTURES = ("cnn", "mlp", *PRETRAINED_FEATURE_DIMS, GIVEN_FEATURES)
# a scenario file's own backbone (core.nn.local_backbones): its kind and a hash of its files
LOCAL_ARCH = re.compile(r"(resnet18|resnet50|hf-cls|hf-mean)-[0-9a-f]{8}")
OPTIMIZERS = ("sgd", "adam")
# adaptation losses: cross-entropy, or the squared error ||f(x) - onehot(y)||^2 on the logits
# that the paper's Theorem 4 assumes (see core.nn.models.loss_from_logits)
LOSSES = ("ce", "mse")
# how SGD on the squared error picks its step (core.nn.adaptation.curvature_step): the loss is
# quadratic in the head's parameters, its Hessian follows from the features, and a step below
# 2/lambda_max is stable; recorded in the run config (part of the run id) of every such run
MSE_STEP_RULE = "min(adapt_lr, 1/lambda_max(head Hessian))"
# named recipes (``preset`` field): the project's defaults, or the paper's section 6 recipe
PRESETS = ("default", "paper")
INT_FIELDS = (
    "width",
    "feature_dim",
    "source_epochs",
    "source_batch",
    "source_seed",
    "adapt_epochs",
    "adapt_batch",
    "eval_batch",
)
FLOAT_FIELDS = (
    "source_lr",
    "source_weight_decay",
    "adapt_lr",
    "adapt_momentum",
    "adapt_weight_decay",
)
SOURCE_FIELDS = (
    "arch",
    "width",
    "feature_dim",
    "source_optimizer",
    "source_lr",
    "source_weight_decay",
    "source_epochs",
    "source_batch",
    "source_seed",
)


@dataclass(frozen=True)
class HParams:
    """Model, source-training and adaptation settings. Validated on construction."""

    # model: backbone -> z (feature_dim) -> linear head
    arch: str = "cnn"
    width: int = 16  # channels of the first conv layer (cnn) or hidden units (mlp)
    feature_dim: int = 64
    # source training (once per scenario, cached)
    source_optimizer: str = "adam"
    source_lr: float = 1e-3
    source_weight_decay: float = 0.0
    source_epochs: int = 12
    source_batch: int = 64
    source_seed: int = 0
    # adaptation (Algorithm 1 line 7): every batch is half selected target, half source
    adapt_optimizer: str = "sgd"
    adapt_lr: float = 0.005
    adapt_momentum: float = 0.9
    adapt_weight_decay: float = 0.0
    adapt_epochs: int = 10
    adapt_batch: int = 64
    adapt_loss: str = "ce"  # loss of adaptation and of the recorded losses r (LOSSES)
    preset: str = "default"  # which recipe these values came from (PRESETS), recorded in configs
    # evaluation
    eval_batch: int = 512

    def __post_init__(self) -> None:
        if not LOCAL_ARCH.fullmatch(str(self.arch)):
            check_choice("arch", self.arch, ARCHITECTURES)
        check_choice("source_optimizer", self.source_optimizer, OPTIMIZERS)
        check_choice("adapt_optimizer", self.adapt_optimizer, OPTIMIZERS)
        check_choice("adapt_loss", self.adapt_loss, LOSSES)
        check_choice("preset", self.preset, PRESETS)
        for name in (
            "width",
            "feature_dim",
            "source_epochs",
            "source_batch",
            "adapt_epochs",
            "eval_batch",
        ):
            check_int_range(name, getattr(self, name), 1, 1_000_000)
        expected_dim = PRETRAINED_FEATURE_DIMS.get(self.arch, self.feature_dim)
        if self.feature_dim != expected_dim and expected_dim != 0:
            raise ForgeLensError(
                f"feature_dim={self.feature_dim} does not fit arch={self.arch!r}, whose pretrained "
                f"backbone gives {expected_dim}-d features; allowed: {expected_dim}"
            )
        check_int_range("source_seed", self.source_seed, 0, 2**31 - 1)
        batch = check_int_range("adapt_batch", self.adapt_batch, 2, 1_000_000)
        if batch % 2:
            raise ForgeLensError(
                f"adapt_batch={batch} must be even: each batch is half source, half target"
            )
        for name in ("source_lr", "adapt_lr"):
            _check_real(name, getattr(self, name), low=0.0, low_open=True)
        for name in ("source_weight_decay", "adapt_weight_decay"):
            _check_real(name, getattr(self, name), low=0.0)
        _check_real("adapt_momentum", self.adapt_momentum, low=0.0, high=1.0, high_open=True)
        # plain Python numbers, so asdict() is JSON-ready even when numpy scalars came in
        for name in INT_FIELDS:
            object.__setattr__(self, name, int(getattr(self, name)))
        for name in FLOAT_FIELDS:
            object.__setattr__(self, name, float(getattr(self, name)))

    @property
    def pretrained(self) -> bool:
        """True when the backbone is a frozen pretrained one (only the head is trained on
        source)."""
        return (
            self.arch in PRETRAINED_FEATURE_DIMS
            or self.arch == GIVEN_FEATURES
            or LOCAL_ARCH.fullmatch(self.arch) is not None
        )

    def source_params(self) -> dict[str, Any]:
        """The fields that decide the source model (its cache key), plus ``source_loss`` when it
        is not cross-entropy (so cross-entropy source models keep their cache ids)."""
        params = {name: getattr(self, name) for name in SOURCE_FIELDS}
        if self.source_loss() != "ce":
            params["source_loss"] = self.source_loss()
        return params

    def source_loss(self) -> str:
        """The loss the source model minimises: adaptation's (LOSSES). An MSE adaptation starts
        from a source model trained with MSE: from a cross-entropy one, whose logits are ~25 in
        norm against one-hot targets of norm 1, SGD on the squared error first spends its
        iterations shrinking the logits, and full fine-tuning collapses to a constant output
        (README "What the theorem needs")."""
        return self.adapt_loss

    def adapt_step_rule(self) -> str | None:
        """The rule that picks adaptation's step when it is not simply adapt_lr: SGD on the
        squared error steps by MSE_STEP_RULE (its fixed adapt_lr diverged); None otherwise."""
        if self.adapt_loss == "mse" and self.adapt_optimizer == "sgd":
            return MSE_STEP_RULE
        return None

    def adapt_iterations(self, n_selected: int) -> int:
        """T: iterations of one adaptation run on ``n_selected`` target samples."""
        return self.adapt_epochs * math.ceil(n_selected / (self.adapt_batch // 2))


def _check_real(
    name: str,
    value: Any,
    *,
    low: float,
    high: float = math.inf,
    low_open: bool = False,
    high_open: bool = False,
) -> None:
    """Raise unless ``value`` is a finite real number in the given interval."""
    left, right = ("(" if low_open else "["), (")" if high_open else "]")
    allowed = f"a number in {left}{low}, {high}{right}"
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ForgeLensError(f"{name}={value!r} must be {allowed}")
    inside = (value > low if low_open else value >= low) and (
        value < high if high_open else value <= high
    )
    if not math.isfinite(float(value)) or not inside:
        raise ForgeLensError(f"{name}={value!r} is out of range: allowed {allowed}")


_MNIST_SIZED = HParams()
DEFAULTS: dict[str, HParams] = {
    "debug": HParams(
        arch="mlp",
        width=64,
        feature_dim=32,
        source_lr=3e-3,
        source_epochs=40,
        source_batch=32,
        adapt_lr=0.01,
        adapt_epochs=20,
        adapt_batch=32,
    ),
    "digits-to-mnist": _MNIST_SIZED,
    "fonts-to-mnist": _MNIST_SIZED,
    "mnist-to-digits": _MNIST_SIZED,
    # linear heads on frozen pretrained features: the source head is a logistic regression on
    # cached features (Adam, batches of 256: 0.3 s on a CPU). Adaptation keeps the SGD recipe;
    # adapt_lr was picked on target *validation* accuracy of head adaptation with random
    # selections (5% and 10%, 3 seeds) among 0.005, 0.02, 0.05, 0.1
    "digits-to-mnist-effnet": HParams(
        arch="effnet-lite0",
        feature_dim=1280,
        source_lr=3e-3,
        source_epochs=30,
        source_batch=256,
        adapt_lr=0.02,
        eval_batch=128,
    ),
    "tweets-airline-to-apple": HParams(
        arch="minilm-l6",
        feature_dim=384,
        source_lr=3e-3,
        source_epochs=30,
        source_batch=256,
        adapt_lr=0.05,
        eval_batch=128,
    ),
}
# reward-model pairs (core.tasks.reward): the base scenario's settings (same encoder and head size)
DEFAULTS["debug-pairs"] = DEFAULTS["debug"]
DEFAULTS["tweets-pairs-airline-to-apple"] = DEFAULTS["tweets-airline-to-apple"]
# reward model on the user's hh-rlhf-style JSONL files and local HF model (head on its features)
DEFAULTS["hh-rlhf-files"] = HParams(
    arch="hf-local",
    feature_dim=1,
    source_lr=3e-3,
    source_epochs=30,
    source_batch=256,
    adapt_lr=0.05,
    eval_batch=32,
)
# span QA (core.tasks.qa): the source model is the user's QA model, so only adapt_* and
# eval_batch are used; the paper's recipe: Adam, lr 1e-4, 4 epochs, batches of 16
DEFAULTS["squad-files"] = HParams(
    arch="mlp", adapt_optimizer="adam", adapt_lr=1e-4, adapt_epochs=4, adapt_batch=16, eval_batch=32
)
# how a run adapts (core.nn.adaptation): fine-tune everything, or only the last linear layer
ADAPTATION_MODES = ("full", "head")
# scenarios whose default adaptation mode is not "full"
DEFAULT_ADAPTATION: dict[str, str] = {
    "digits-to-mnist-effnet": "head",
    "tweets-airline-to-apple": "head",
    "tweets-pairs-airline-to-apple": "head",
    "hh-rlhf-files": "head",
}


def default_adaptation(scenario: str) -> str:
    """The adaptation mode a run of ``scenario`` uses unless told otherwise."""
    return DEFAULT_ADAPTATION.get(scenario, "full")


# The paper's section 6 adaptation recipe: SGD at 1e-4 with batches of 64 for the image models
# (ResNet-50 there), Adam at 1e-4 with batches of 16 for the text models (DistilBERT there), 4
# epochs. Momentum and weight decay are not stated; the defaults' are kept. Source training is
# not part of the recipe (the paper starts from given source models), so source models are shared.
TEXT_ARCHS = ("minilm-l6",)


def paper_recipe(base: HParams) -> dict[str, Any]:
    """The adaptation fields the ``paper`` preset sets on top of ``base`` (a scenario default)."""
    if base.arch in TEXT_ARCHS:
        return {"adapt_optimizer": "adam", "adapt_lr": 1e-4, "adapt_batch": 16, "adapt_epochs": 4}
    return {"adapt_optimizer": "sgd", "adapt_lr": 1e-4, "adapt_batch": 64, "adapt_epochs": 4}


def hparams_for(scenario: str, preset: str = "default", **overrides: Any) -> HParams:
    """Defaults for ``scenario`` (``preset`` "default", or "paper": the paper's section 6
    adaptation recipe, see ``paper_recipe``) with ``overrides`` applied (unknown keys are an
    error). The preset's name is recorded in the ``preset`` field."""
    return with_preset(DEFAULTS[check_choice("scenario", scenario, DEFAULTS)], preset, **overrides)


def with_preset(base: HParams, preset: str = "default", **overrides: Any) -> HParams:
    """``base`` (a scenario's defaults) under ``preset`` with ``overrides`` (``hparams_for``)."""
    check_choice("preset", preset, PRESETS)
    known = {f.name for f in fields(HParams)}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise ForgeLensError(
            f"hyper-parameter(s) {', '.join(unknown)} not known{suggest(unknown[0], known)}; "
            f"allowed: {', '.join(sorted(known))}"
        )
    recipe = paper_recipe(base) if preset == "paper" else {}
    return replace(base, **{**recipe, "preset": preset, **overrides})
