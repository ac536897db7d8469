"""The optimizers source training and adaptation share, by name (``HParams`` picks one)."""

from __future__ import annotations

import torch

from core.base.hparams import OPTIMIZERS, HParams
from core.base.validation import ForgeLensError, suggest


def make_optimizer(
    name: str, params, *, lr: float, weight_decay: float, momentum: float = 0.9
) -> torch.optim.Optimizer:
    """SGD (with ``momentum``) or Adam (``name`` one of ``core.base.hparams.OPTIMIZERS``)."""
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay)
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)
    raise ForgeLensError(
        f"optimizer={name!r} is not known{suggest(name, OPTIMIZERS)}; "
        f"allowed: {', '.join(OPTIMIZERS)}"
    )


def adaptation_optimizer(hp: HParams, params) -> torch.optim.Optimizer:
    """The optimizer of the adaptation step, as ``hp`` (``core.base.hparams.HParams``) sets it:
    one place for the classification, head-only and span-QA fine-tuning."""
    return make_optimizer(
        hp.adapt_optimizer,
        params,
        lr=hp.adapt_lr,
        weight_decay=hp.adapt_weight_decay,
        momentum=hp.adapt_momentum,
    )
