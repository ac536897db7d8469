"""The optimizers source training and adaptation share, by name (``HParams`` picks one)."""

from __future__ import annotations

import torch

from core.hparams import OPTIMIZERS
from core.validation import ForgeLensError


def make_optimizer(
    name: str, params, *, lr: float, weight_decay: float, momentum: float = 0.9
) -> torch.optim.Optimizer:
    """SGD (with ``momentum``) or Adam (``name`` one of ``core.hparams.OPTIMIZERS``)."""
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay)
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)
    raise ForgeLensError(f"optimizer={name!r} is not known; allowed: {', '.join(OPTIMIZERS)}")
