"""Pretrained backbones from the user's own files: torchvision ResNets and Hugging Face encoders.

Scenario files (``core.scenarios.scenario_file``) name a backbone and where its weights lie;
``register_*`` turns that into a registered architecture (``core.nn.backbones`` and
``core.base.hparams``) whose name carries a short hash of the files (path, size, modification time),
so a replaced weights file never reuses stale features or source models:

- ``resnet18`` / ``resnet50``: torchvision's architecture, weights from a local ``.pth`` or
  ``.safetensors`` state dict (the ImageNet ``fc`` layer is dropped), or the file torchvision
  keeps in its cache (``$TORCH_HOME/hub/checkpoints/``) when no path is given. Never downloaded.
  Inputs: (N, 1 or 3, H, W) in [0, 1]; gray is repeated to RGB, ImageNet mean/std applied; z =
  the global average pool (512-d / 2048-d).
- a Hugging Face ``AutoModel`` directory (``local_files_only``; never a hub call), pooling
  ``cls`` (the first token's last hidden state) or ``mean`` (attention-mask-weighted mean of
  the last hidden states). Inputs: int64 (N, 2, L) token ids + mask, as ``core.nn.backbones``.
"""

from __future__ import annotations

import hashlib
import json
import os
from functools import cache
from pathlib import Path
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from core.base.validation import ForgeLensError, check_choice, suggest
from core.nn.backbones import (
    PRETRAINED_BACKBONES,
    PretrainedBackbone,
    TokenEncoder,
    encode_texts,
    fresh_backbone,
    package_version,
)

RESNETS = {"resnet18": 512, "resnet50": 2048}
# the ImageNet files torchvision's own `weights=` would download into its cache
TORCHVISION_FILES = {
    "resnet18": ("resnet18-f37072fd.pth",),
    "resnet50": ("resnet50-11ad3fa6.pth", "resnet50-0676ba61.pth"),
}
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
POOLINGS = ("cls", "mean")
WEIGHT_FILES = (
    "model.safetensors",
    "pytorch_model.bin",
    "model.safetensors.index.json",
    "pytorch_model.bin.index.json",
)
TOKENIZER_FILES = (
    "tokenizer.json",
    "vocab.txt",
    "spiece.model",
    "sentencepiece.bpe.model",
    "vocab.json",
)


def torchvision_cache_dir() -> Path:
    return Path(torch.hub.get_dir()) / "checkpoints"


def resolve_resnet_weights(kind: str, weights: str | None) -> Path:
    """The weights file of ``kind``: ``weights`` when given, else torchvision's cached file."""
    check_choice("backbone", kind, RESNETS)
    if weights:
        path = Path(weights).expanduser()
        if not path.is_file():
            raise ForgeLensError(
                f"weights={str(path)!r}: no such file for backbone {kind!r}; allowed: a local "
                f".pth or .safetensors state dict of torchvision's {kind} (copy it from a machine "
                f"with internet, e.g. torchvision's cache {torchvision_cache_dir()})"
            )
        return path.resolve()
    folder = torchvision_cache_dir()
    for name in TORCHVISION_FILES[kind]:
        if (folder / name).is_file():
            return (folder / name).resolve()
    raise ForgeLensError(
        f"backbone {kind!r} has no weights: looked in {folder} for "
        f'{" or ".join(TORCHVISION_FILES[kind])}; give `weights = "/path/to/{kind}.pth"` in the '
        "scenario file (a torchvision state dict, .pth or .safetensors) or copy torchvision's "
        "ImageNet file into that folder"
    )


def files_signature(paths: list[Path]) -> list[tuple[str, int, int]]:
    """(path, size, mtime_ns) of each file: what decides whether cached results still hold."""
    out = []
    for path in sorted(paths):
        stat = path.stat()
        out.append((str(path), stat.st_size, stat.st_mtime_ns))
    return out


def short_hash(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()[:8]


def load_state_dict(path: Path) -> dict[str, Tensor]:
    """A state dict from ``.safetensors`` or a torch pickle (``weights_only``: tensors only); a
    file that is neither (garbage, truncated) is a ForgeLensError naming it."""
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            return load_file(str(path), device="cpu")
        state = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as error:  # noqa: BLE001 - pickle, zip, safetensors: any failure to parse
        message = (str(error).strip().splitlines() or [""])[0][:200]
        raise ForgeLensError(
            f"weights={str(path)!r} cannot be read ({type(error).__name__}: {message}); "
            "allowed: a .pth (torch.save) or .safetensors state dict"
        ) from None
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise ForgeLensError(
            f"weights={str(path)!r} holds {type(state).__name__}; allowed: a "
            "state dict (parameter name -> tensor)"
        )
    return state


class LocalResNet(PretrainedBackbone):
    """torchvision ResNet-18/50 with local weights; z = global average pool."""

    modality = "image"
    kind: ClassVar[str] = "resnet50"
    weights_path: ClassVar[Path]
    packages = ("torchvision",)

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1))

    @classmethod
    def identity(cls) -> dict[str, Any]:
        return {
            **super().identity(),
            "kind": cls.kind,
            "weights": files_signature([cls.weights_path]),
            "normalisation": "imagenet mean/std",
            "pooling": "global mean",
        }

    @classmethod
    def load(cls) -> LocalResNet:
        import torchvision

        with torch.random.fork_rng(devices=[]):
            net = getattr(torchvision.models, cls.kind)(weights=None)
        state = {k.removeprefix("module."): v for k, v in load_state_dict(cls.weights_path).items()}
        state = {k: v for k, v in state.items() if not k.startswith("fc.")}
        net.fc = nn.Identity()
        try:
            net.load_state_dict(state, strict=True)
        except RuntimeError as error:
            raise ForgeLensError(
                f"weights={str(cls.weights_path)!r} does not fit torchvision's "
                f"{cls.kind}: {str(error).splitlines()[0]} ..."
            ) from None
        return cls(net).eval()

    def forward(self, x: Tensor) -> Tensor:
        if x.ndim != 4 or x.shape[1] not in (1, 3):
            raise ForgeLensError(
                f"{self.name} takes images (N, 1 or 3, H, W) in [0, 1], got {tuple(x.shape)}"
            )
        x = (x.expand(-1, 3, -1, -1) - self.mean) / self.std
        return self.net(x)


def _resnet(kind: str, weights: str | None) -> type[LocalResNet]:
    path = resolve_resnet_weights(kind, weights)
    return _resnet_class(kind, path, short_hash(files_signature([path])))


@cache
def _resnet_class(kind: str, path: Path, digest: str) -> type[LocalResNet]:
    name = f"{kind}-{digest}"
    return type(
        f"LocalResNet_{name}",
        (LocalResNet,),
        {"name": name, "kind": kind, "weights_path": path, "feature_dim": RESNETS[kind]},
    )


def check_model_dir(model_dir: str | os.PathLike[str]) -> Path:
    """A Hugging Face model directory with a config, weights and a tokenizer, or an error
    naming what is missing."""
    path = Path(model_dir).expanduser()
    if not path.is_dir():
        raise ForgeLensError(
            f"model={str(path)!r}: no such directory; allowed: a local Hugging "
            "Face model directory (config.json, weights, tokenizer files)"
        )
    missing = []
    if not (path / "config.json").is_file():
        missing.append("config.json")
    if not any((path / name).is_file() for name in WEIGHT_FILES):
        missing.append("weights (" + " or ".join(WEIGHT_FILES[:2]) + ")")
    if not any((path / name).is_file() for name in TOKENIZER_FILES):
        missing.append("a tokenizer (" + " or ".join(TOKENIZER_FILES[:2]) + ")")
    if missing:
        raise ForgeLensError(
            f"model={str(path)!r} lacks {', '.join(missing)}; allowed: a "
            "directory written by save_pretrained() of a model and its tokenizer"
        )
    return path.resolve()


@cache
def hf_tokenizer(model_dir: str):
    """The tokenizer of a local model directory, loaded once per process, offline."""
    from transformers import AutoTokenizer

    try:
        return AutoTokenizer.from_pretrained(model_dir, local_files_only=True)
    except (OSError, ValueError) as error:
        raise ForgeLensError(
            f"model={model_dir!r}: its tokenizer cannot be loaded ({error})"
        ) from None


def hf_tokenize(model_dir: str, texts: list[str], max_length: int):
    """int64 (N, 2, max_length): token ids and attention mask, right-padded and truncated."""
    tokenizer = hf_tokenizer(model_dir)
    if tokenizer.pad_token is None:
        raise ForgeLensError(
            f"model={model_dir!r}: its tokenizer has no padding token; allowed: "
            "a tokenizer with pad_token set"
        )
    return encode_texts(tokenizer, texts, max_length)


class LocalTextEncoder(TokenEncoder):
    """A local ``AutoModel`` directory; z = the ``cls`` token or the masked ``mean``."""

    packages = ("transformers",)
    model_dir: ClassVar[Path]
    pooling: ClassVar[str] = "mean"

    @classmethod
    def identity(cls) -> dict[str, Any]:
        files = [p for p in cls.model_dir.iterdir() if p.is_file()]
        return {**super().identity(), "model_dir": files_signature(files), "pooling": cls.pooling}

    @classmethod
    def load(cls) -> LocalTextEncoder:
        from transformers import AutoModel

        try:
            with torch.random.fork_rng(devices=[]):
                encoder = AutoModel.from_pretrained(str(cls.model_dir), local_files_only=True)
        except (OSError, ValueError) as error:
            raise ForgeLensError(
                f"model={str(cls.model_dir)!r} cannot be loaded offline: {error}"
            ) from None
        return cls(encoder).eval()


def _text_encoder(model_dir: str | os.PathLike[str], pooling: str) -> type[LocalTextEncoder]:
    check_choice("pooling", pooling, POOLINGS)
    path = check_model_dir(model_dir)
    files = [p for p in path.iterdir() if p.is_file()]
    return _text_encoder_class(path, pooling, short_hash(files_signature(files)))


@cache
def _text_encoder_class(path: Path, pooling: str, digest: str) -> type[LocalTextEncoder]:
    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(str(path), local_files_only=True)
    dim = int(getattr(config, "hidden_size", 0) or getattr(config, "d_model", 0))
    if dim < 1:
        raise ForgeLensError(f"model={str(path)!r}: its config.json names no hidden_size")
    name = f"hf-{pooling}-{digest}"
    return type(
        f"LocalTextEncoder_{name}",
        (LocalTextEncoder,),
        {"name": name, "model_dir": path, "pooling": pooling, "feature_dim": dim},
    )


def local_backbone(spec: dict[str, Any]) -> type[PretrainedBackbone]:
    """The backbone class of a scenario file's spec: {"kind": "resnet18" | "resnet50",
    "weights": path or None} or {"kind": "hf", "model": folder, "pooling": "cls" | "mean"}.
    Made once per process and file state (a memo keyed by the files' signature)."""
    kind = spec.get("kind")
    if kind in RESNETS:
        return _resnet(kind, spec.get("weights"))
    if kind == "hf":
        return _text_encoder(spec["model"], spec.get("pooling", "mean"))
    raise ForgeLensError(
        f"backbone kind={kind!r} is not known{suggest(kind, [*RESNETS, 'hf'])}; "
        f"allowed: {', '.join(RESNETS)} or hf"
    )


def backbone_class(arch: str, scenario: Any) -> type[PretrainedBackbone]:
    """The pretrained backbone of ``arch`` for ``scenario``: its own (``Scenario.backbone``, a
    scenario file's weights or model folder) when it has one, else a packaged one."""
    spec = getattr(scenario, "backbone", None)
    if spec:
        backbone = local_backbone(spec)
        if backbone.name != arch:
            raise ForgeLensError(
                f"arch={arch!r} does not match the scenario's backbone {backbone.name!r} "
                "(its weights or model files changed since the hyper-parameters were made); "
                "allowed: the scenario's own"
            )
        return backbone
    return PRETRAINED_BACKBONES[check_choice("backbone", arch, PRETRAINED_BACKBONES)]


def load_scenario_backbone(arch: str, scenario: Any) -> PretrainedBackbone:
    """A fresh copy of ``backbone_class(arch, scenario)`` on the CPU in eval mode."""
    return fresh_backbone(backbone_class(arch, scenario))


__all__ = [
    "LocalResNet",
    "LocalTextEncoder",
    "check_model_dir",
    "hf_tokenize",
    "package_version",
    "backbone_class",
    "load_scenario_backbone",
    "local_backbone",
    "resolve_resnet_weights",
]
