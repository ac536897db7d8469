"""The classifier every scenario uses: a backbone giving penultimate features z, one linear head.

FORGE's analytic embeddings need exactly this split: ``features(x)`` is z (the input of the last
linear layer) and ``head`` is that layer, so ``forward(x) == head(features(x))``. Parameters are
initialised from a torch.Generator (PyTorch's default init scheme), never from global seeding.
The backbone is a small CNN/MLP trained from scratch or, for ``hp.pretrained`` architectures, a
pretrained network from ``core.nn.backbones`` (images or text alike: z is always (N, D)).
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from core.base.data import Scenario, Split
from core.base.device import resolve_device
from core.base.hparams import HParams
from core.base.validation import ForgeLensError, check_choice
from core.nn.backbones import PRETRAINED_BACKBONES, fresh_backbone
from core.nn.local_backbones import backbone_class


class ConvBackbone(nn.Module):
    """Three 3x3 conv blocks (width, 2 width, 4 width; ReLU, 2x2 max-pool) -> linear -> ReLU."""

    def __init__(self, input_shape: tuple[int, ...], width: int, feature_dim: int) -> None:
        super().__init__()
        channels, height, breadth = input_shape
        self.conv = nn.Sequential(
            nn.Conv2d(channels, width, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(width, 2 * width, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(2 * width, 4 * width, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
        )
        flat = 4 * width * (height // 8) * (breadth // 8)
        self.project = nn.Sequential(nn.Flatten(), nn.Linear(flat, feature_dim), nn.ReLU())

    def forward(self, x: Tensor) -> Tensor:
        return self.project(self.conv(x))


class MLPBackbone(nn.Module):
    """Flatten -> linear(width) -> ReLU -> linear(feature_dim) -> ReLU (for the debug scenario)."""

    def __init__(self, input_shape: tuple[int, ...], width: int, feature_dim: int) -> None:
        super().__init__()
        self.layers = nn.Sequential(
            nn.Flatten(),
            nn.Linear(math.prod(input_shape), width),
            nn.ReLU(),
            nn.Linear(width, feature_dim),
            nn.ReLU(),
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.layers(x)


BACKBONES: dict[str, type[nn.Module]] = {"cnn": ConvBackbone, "mlp": MLPBackbone}


class FeatureClassifier(nn.Module):
    """``backbone`` maps x to z (N, D); ``head = nn.Linear(D, C)`` maps z to logits."""

    def __init__(self, backbone: nn.Module, feature_dim: int, num_classes: int) -> None:
        super().__init__()
        self.backbone = backbone
        self.head = nn.Linear(feature_dim, num_classes)
        self.feature_dim = feature_dim
        self.num_classes = num_classes

    def features(self, x: Tensor) -> Tensor:
        """Penultimate features z (N, D), the input of the linear head."""
        return self.backbone(x)

    def forward(self, x: Tensor) -> Tensor:
        """Logits (N, C) = head(features(x))."""
        return self.head(self.features(x))


def init_parameters(model: nn.Module, generator: torch.Generator) -> nn.Module:
    """Re-draw every Linear/Conv weight and bias with PyTorch's default scheme from ``generator``.

    Weights: kaiming_uniform(a=sqrt(5)); biases: U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
    """
    for module in model.modules():
        if isinstance(module, nn.Linear | nn.Conv2d):
            nn.init.kaiming_uniform_(module.weight, a=math.sqrt(5), generator=generator)
            if module.bias is not None:
                fan_in = module.weight[0].numel()
                bound = 1.0 / math.sqrt(fan_in)
                nn.init.uniform_(module.bias, -bound, bound, generator=generator)
    return model


def build_model(scenario: Scenario, hp: HParams, *, seed: int | None = None) -> FeatureClassifier:
    """A freshly initialised classifier for ``scenario`` on the CPU (init seed: ``seed`` or
    hp.source_seed). Layers are created on the meta device and initialised from a
    torch.Generator, so the global RNG is neither used nor advanced. For a pretrained ``arch``
    the backbone carries its pretrained weights and only the head is freshly initialised.
    A reward-model task builds its pair model with ``core.nn.reward_model.build_reward_model``
    (the task registry, ``core.tasks``, says which builder a scenario's task uses)."""
    if hp.pretrained:
        return _pretrained_model(scenario, hp, seed)
    backbone_cls = BACKBONES[check_choice("arch", hp.arch, BACKBONES)]
    with torch.device("meta"):  # layers' own init would draw from the global RNG
        backbone = backbone_cls(scenario.input_shape, hp.width, hp.feature_dim)
        model = FeatureClassifier(backbone, hp.feature_dim, scenario.num_classes)
    model.to_empty(device="cpu")
    generator = torch.Generator().manual_seed(hp.source_seed if seed is None else seed)
    return init_parameters(model, generator)


def _pretrained_model(scenario: Scenario, hp: HParams, seed: int | None) -> FeatureClassifier:
    backbone_cls = backbone_class(hp.arch, scenario)
    if backbone_cls.modality != scenario.modality:
        raise ForgeLensError(
            f"arch={hp.arch!r} takes {backbone_cls.modality} inputs but scenario "
            f"{scenario.name!r} holds {scenario.modality}; allowed archs for it: "
            + ", ".join(
                n for n, c in PRETRAINED_BACKBONES.items() if c.modality == scenario.modality
            )
        )
    backbone = fresh_backbone(backbone_cls)
    with torch.device("meta"):  # only the head is new; its init must not touch the global RNG
        model = FeatureClassifier(backbone, backbone_cls.feature_dim, scenario.num_classes)
    model.head.to_empty(device="cpu")
    generator = torch.Generator().manual_seed(hp.source_seed if seed is None else seed)
    init_parameters(model.head, generator)
    return model


def _batches(x: Tensor, batch_size: int, device: torch.device):
    for start in range(0, len(x), batch_size):
        yield x[start : start + batch_size].to(device, non_blocking=True)


@torch.no_grad()
def embed(
    model: FeatureClassifier, x: Tensor, *, device, batch_size: int = 512
) -> tuple[np.ndarray, np.ndarray]:
    """One forward pass over ``x`` in batches: z (N, D) and logits (N, C), float32 numpy.

    The model is moved to ``device`` (in place) and evaluated in eval mode; its train/eval
    mode is restored afterwards.
    """
    device = resolve_device(device)
    was_training = model.training
    model.to(device).eval()
    zs, logits = [], []
    try:
        for batch in _batches(x, batch_size, device):
            z = model.features(batch)
            zs.append(z.float().cpu())
            logits.append(model.head(z).float().cpu())
    finally:
        model.train(was_training)
    if not zs:
        return (
            np.zeros((0, model.feature_dim), np.float32),
            np.zeros((0, model.num_classes), np.float32),
        )
    return torch.cat(zs).numpy(), torch.cat(logits).numpy()


@torch.no_grad()
def per_sample_loss(
    model: FeatureClassifier, split: Split, *, device, batch_size: int = 512, loss: str = "ce"
) -> tuple[np.ndarray, np.ndarray]:
    """Loss (``loss_from_logits``) with the true label per sample (float64) and predictions."""
    _, logits = embed(model, split.x, device=device, batch_size=batch_size)
    return loss_from_logits(logits, split.y, loss)


@torch.no_grad()
def head_logits(
    model: FeatureClassifier, z: np.ndarray | Tensor, *, device, batch_size: int = 4096
) -> np.ndarray:
    """Logits (N, C) float32 of the head alone on precomputed features ``z`` (N, D)."""
    device = resolve_device(device)
    z = torch.as_tensor(z, dtype=torch.float32)
    head = model.head.to(device)
    chunks = [head(chunk.to(device)).float().cpu() for chunk in z.split(batch_size)]
    if not chunks:
        return np.zeros((0, model.num_classes), np.float32)
    return torch.cat(chunks).numpy()


def loss_tensor(logits: Tensor, labels: Tensor, loss: str = "ce") -> Tensor:
    """Per-sample loss with the true labels: cross-entropy ("ce"), or "mse", the squared error
    ||f(x) - onehot(y)||^2 of the logits f(x) summed over classes (Theorem 4's loss)."""
    if loss == "mse":
        target = F.one_hot(labels, logits.shape[1]).to(logits.dtype)
        return ((logits - target) ** 2).sum(dim=1)
    check_choice("loss", loss, ("ce", "mse"))
    return F.cross_entropy(logits, labels, reduction="none")


def loss_from_logits(
    logits: np.ndarray, labels: np.ndarray, loss: str = "ce"
) -> tuple[np.ndarray, np.ndarray]:
    """Loss (``loss_tensor``) with the true labels per sample (float64) and argmax predictions."""
    logits64 = torch.from_numpy(np.asarray(logits)).double()
    losses = loss_tensor(logits64, torch.from_numpy(np.asarray(labels, dtype=np.int64)), loss)
    return losses.numpy(), np.asarray(logits).argmax(axis=1).astype(np.int64)


def per_sample_loss_from_features(
    model: FeatureClassifier,
    z: np.ndarray | Tensor,
    labels: np.ndarray,
    *,
    device,
    loss: str = "ce",
) -> tuple[np.ndarray, np.ndarray]:
    """``per_sample_loss`` computed from cached features: the head alone on ``z``."""
    return loss_from_logits(head_logits(model, z, device=device), labels, loss)


def accuracy(model: FeatureClassifier, split: Split, *, device, batch_size: int = 512) -> float:
    """Fraction of ``split`` classified correctly."""
    _, predictions = per_sample_loss(model, split, device=device, batch_size=batch_size)
    return float(np.mean(predictions == split.y)) if len(split) else float("nan")
