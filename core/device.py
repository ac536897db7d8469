"""Pick the torch device: CUDA when present, CPU otherwise, never assumed."""

from __future__ import annotations

import torch

from core.params import DEVICE_CHOICES
from core.validation import ForgeLensError

__all__ = ["DEVICE_CHOICES", "resolve_device"]


def resolve_device(device: str | torch.device | None = None) -> torch.device:
    """Turn ``None``/"auto"/"cpu"/"cuda"/"cuda:N"/a torch.device into a usable torch.device."""
    if isinstance(device, torch.device):
        requested = device
    elif device is None or device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    elif isinstance(device, str) and (device == "cpu" or device.startswith("cuda")):
        requested = torch.device(device)
    else:
        raise ForgeLensError(
            f"device={device!r} is not known; allowed: {', '.join(DEVICE_CHOICES)} or cuda:N"
        )
    if requested.type == "cuda" and not torch.cuda.is_available():
        raise ForgeLensError(f"device={device!r} was asked for but CUDA is not available here")
    return requested
