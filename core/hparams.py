"""Per-scenario hyper-parameters for source training and adaptation (a name -> defaults registry).

``asdict(hp)`` goes into every run config. The fields in SOURCE_FIELDS decide the source model
and therefore its cache key; the ``adapt_*`` fields only change adaptation.

An adaptation *epoch* is one pass over the selected target samples: with batches of
``adapt_batch`` (half target, half source), one epoch is ceil(k / (adapt_batch / 2)) iterations
for k selected samples, and T = adapt_epochs * that.

Pretrained backbones (``arch`` in PRETRAINED_FEATURE_DIMS, see ``core.backbones``) fix
``feature_dim``; their "source model" is the frozen backbone plus a linear head trained on the
source features with the ``source_*`` settings. ``DEFAULT_ADAPTATION`` names each scenario's
default adaptation mode ("full" unless listed).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields, replace
from typing import Any

import numpy as np

from core.validation import ForgeLensError, check_choice, check_int_range

# z size of each pretrained backbone (core.backbones checks it matches the loaded module)
PRETRAINED_FEATURE_DIMS = {"effnet-lite0": 1280, "minilm-l6": 384}
ARCHITECTURES = ("cnn", "mlp", *PRETRAINED_FEATURE_DIMS)
OPTIMIZERS = ("sgd", "adam")
INT_FIELDS = ("width", "feature_dim", "source_epochs", "source_batch", "source_seed",
              "adapt_epochs", "adapt_batch", "eval_batch")  # fmt: skip
FLOAT_FIELDS = ("source_lr", "source_weight_decay", "adapt_lr", "adapt_momentum",
                "adapt_weight_decay")  # fmt: skip
SOURCE_FIELDS = (
    "arch", "width", "feature_dim", "source_optimizer", "source_lr", "source_weight_decay",
    "source_epochs", "source_batch", "source_seed",
)  # fmt: skip


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
    # evaluation
    eval_batch: int = 512

    def __post_init__(self) -> None:
        check_choice("arch", self.arch, ARCHITECTURES)
        check_choice("source_optimizer", self.source_optimizer, OPTIMIZERS)
        check_choice("adapt_optimizer", self.adapt_optimizer, OPTIMIZERS)
        for name in ("width", "feature_dim", "source_epochs", "source_batch", "adapt_epochs",
                     "eval_batch"):  # fmt: skip
            check_int_range(name, getattr(self, name), 1, 1_000_000)
        expected_dim = PRETRAINED_FEATURE_DIMS.get(self.arch, self.feature_dim)
        if self.feature_dim != expected_dim:
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
        """True when the backbone is a frozen pretrained one (only the head is trained on source)."""
        return self.arch in PRETRAINED_FEATURE_DIMS

    def source_params(self) -> dict[str, Any]:
        """The fields that decide the source model (its cache key)."""
        return {name: getattr(self, name) for name in SOURCE_FIELDS}

    def adapt_iterations(self, n_selected: int) -> int:
        """T: iterations of one adaptation run on ``n_selected`` target samples."""
        return self.adapt_epochs * math.ceil(n_selected / (self.adapt_batch // 2))


def _check_real(
    name: str, value: Any, *, low: float, high: float = math.inf,
    low_open: bool = False, high_open: bool = False,
) -> None:  # fmt: skip
    """Raise unless ``value`` is a finite real number in the given interval."""
    left, right = ("(" if low_open else "["), (")" if high_open else "]")
    allowed = f"a number in {left}{low}, {high}{right}"
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise ForgeLensError(f"{name}={value!r} must be {allowed}")
    inside = (value > low if low_open else value >= low) and (
        value < high if high_open else value <= high
    )
    if not math.isfinite(float(value)) or not inside:
        raise ForgeLensError(f"{name}={value!r} is out of range: allowed {allowed}")


_MNIST_SIZED = HParams()
DEFAULTS: dict[str, HParams] = {
    "debug": HParams(arch="mlp", width=64, feature_dim=32, source_lr=3e-3, source_epochs=40,
                     source_batch=32, adapt_lr=0.01, adapt_epochs=20, adapt_batch=32),  # fmt: skip
    "digits-to-mnist": _MNIST_SIZED,
    "fonts-to-mnist": _MNIST_SIZED,
    "mnist-to-digits": _MNIST_SIZED,
    # linear heads on frozen pretrained features: the source head is a logistic regression on
    # cached features (Adam, batches of 256: 0.3 s on a CPU). Adaptation keeps the SGD recipe;
    # adapt_lr was picked on target *validation* accuracy of head adaptation with random
    # selections (5% and 10%, 3 seeds) among 0.005, 0.02, 0.05, 0.1
    "digits-to-mnist-effnet": HParams(arch="effnet-lite0", feature_dim=1280, source_lr=3e-3,
                                      source_epochs=30, source_batch=256, adapt_lr=0.02,
                                      eval_batch=128),
    "tweets-airline-to-apple": HParams(arch="minilm-l6", feature_dim=384, source_lr=3e-3,
                                       source_epochs=30, source_batch=256, adapt_lr=0.05,
                                       eval_batch=128),
}
# scenarios whose default adaptation mode is not "full" (see core.adaptation.ADAPTATION_MODES)
DEFAULT_ADAPTATION: dict[str, str] = {
    "digits-to-mnist-effnet": "head",
    "tweets-airline-to-apple": "head",
}


def default_adaptation(scenario: str) -> str:
    """The adaptation mode a run of ``scenario`` uses unless told otherwise."""
    return DEFAULT_ADAPTATION.get(scenario, "full")


def hparams_for(scenario: str, **overrides: Any) -> HParams:
    """Defaults for ``scenario`` with ``overrides`` applied (unknown keys are an error)."""
    base = DEFAULTS[check_choice("scenario", scenario, DEFAULTS)]
    known = {f.name for f in fields(HParams)}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise ForgeLensError(
            f"hyper-parameter(s) {', '.join(unknown)} not known; allowed: {', '.join(sorted(known))}"
        )
    return replace(base, **overrides)


def register_architecture(name: str, feature_dim: int) -> None:
    """Allow pretrained backbone ``name`` (giving ``feature_dim``-d z) as ``arch``; used by
    scenario files that bring their own weights (``core.local_backbones``)."""
    global ARCHITECTURES
    PRETRAINED_FEATURE_DIMS[name] = int(feature_dim)
    if name not in ARCHITECTURES:
        ARCHITECTURES = (*ARCHITECTURES, name)


def register_defaults(scenario: str, hp: HParams, adaptation: str = "head") -> None:
    """Hyper-parameter defaults and default adaptation mode of a scenario registered at run
    time (a scenario file)."""
    DEFAULTS[scenario] = hp
    DEFAULT_ADAPTATION[scenario] = adaptation
