"""The reward model's network: one encoder on both responses of a pair and a shared scalar head.

Its two "logits" are (r(x_a), r(x_b)), so the cross-entropy with the preferred position is the
Bradley-Terry loss and every classification code path trains and evaluates it unchanged (the
task, ``core.tasks.reward``, says how its pool is embedded).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from core.base.validation import ForgeLensError, check_choice
from core.nn.backbones import LocalHFEncoder, fresh_backbone
from core.nn.local_backbones import backbone_class
from core.nn.models import BACKBONES, FeatureClassifier, init_parameters


class PairBackbone(nn.Module):
    """Runs one encoder on both responses: x (N, 2, ...) -> Cat(z_a, z_b) (N, 2D)."""

    def __init__(self, encoder: nn.Module, feature_dim: int) -> None:
        super().__init__()
        self.encoder = encoder
        self.feature_dim = feature_dim

    def input_lengths(self, x: Tensor) -> Tensor | None:
        lengths_of = getattr(self.encoder, "input_lengths", None)
        if lengths_of is None:
            return None
        return torch.maximum(lengths_of(x[:, 0]), lengths_of(x[:, 1]))

    def forward(self, x: Tensor) -> Tensor:
        if x.ndim < 2 or x.shape[1] != 2:
            raise ForgeLensError(f"a pair model takes inputs (N, 2, ...), got {tuple(x.shape)}")
        z = self.encoder(x.reshape(len(x) * 2, *x.shape[2:]))
        return z.reshape(len(x), 2 * z.shape[-1])


class PairwiseRewardHead(nn.Module):
    """r(x) = w . z + b on both halves of Cat(z_a, z_b): logits (r_a, r_b), shape (N, 2)."""

    def __init__(self, feature_dim: int) -> None:
        super().__init__()
        self.reward = nn.Linear(feature_dim, 1)
        self.feature_dim = feature_dim

    def forward(self, z: Tensor) -> Tensor:
        return self.reward(z.reshape(len(z), 2, self.feature_dim)).squeeze(-1)


def build_reward_model(scenario: Any, hp: Any, *, seed: int | None = None) -> nn.Module:
    """A pair reward model for ``scenario`` (inputs (N, 2, ...)): encoder + shared scalar head.

    Same initialisation rules as ``core.nn.models.build_model``: a pretrained encoder keeps its
    weights; everything new is drawn from a torch.Generator seeded with ``seed`` or
    hp.source_seed, never from the global RNG.
    """
    generator = torch.Generator().manual_seed(hp.source_seed if seed is None else seed)
    single = tuple(scenario.input_shape[1:])
    if hp.arch == "hf-local":
        encoder = LocalHFEncoder.from_dir(scenario.encoder_dir, scenario.pooling)
        dim = encoder.dim
        with torch.device("meta"):
            model = FeatureClassifier(PairBackbone(encoder, dim), 2 * dim, 2)
            model.head = PairwiseRewardHead(dim)
        model.head.to_empty(device="cpu")
        init_parameters(model.head, generator)
        return model
    if hp.pretrained:
        backbone_cls = backbone_class(hp.arch, scenario)
        dim = backbone_cls.feature_dim
        if backbone_cls.modality != scenario.modality:
            raise ForgeLensError(
                f"arch={hp.arch!r} does not take {scenario.modality} inputs "
                f"(scenario {scenario.name!r})"
            )
        encoder = fresh_backbone(backbone_cls)
        with torch.device("meta"):
            model = FeatureClassifier(PairBackbone(encoder, dim), 2 * dim, 2)
            model.head = PairwiseRewardHead(dim)
        model.head.to_empty(device="cpu")
        init_parameters(model.head, generator)
        return model
    backbone_cls = BACKBONES[check_choice("arch", hp.arch, BACKBONES)]
    dim = hp.feature_dim
    with torch.device("meta"):
        model = FeatureClassifier(
            PairBackbone(backbone_cls(single, hp.width, dim), dim), 2 * dim, 2
        )
        model.head = PairwiseRewardHead(dim)
    model.to_empty(device="cpu")
    return init_parameters(model, generator)
