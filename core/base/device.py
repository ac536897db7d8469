"""Pick the torch device: CUDA when present, CPU otherwise, never assumed.

torch loads only when a device is resolved, so the CLI validates ``--device`` without it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from core.base.validation import ForgeLensError

if TYPE_CHECKING:
    import torch

DEVICE_CHOICES = ("auto", "cpu", "cuda")


def resolve_device(device: str | torch.device | None = None) -> torch.device:
    """Turn ``None``/"auto"/"cpu"/"cuda"/"cuda:N"/a torch.device into a usable torch.device."""
    import torch

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
