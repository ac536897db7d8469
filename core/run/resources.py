"""How much memory a sweep needs, checked before it starts.

A sweep is one ``python -m core run`` process; its peak resident memory is dominated by the
libraries (torch, and transformers for text backbones), the scenario's arrays and, for
pretrained backbones, the backbone and its cached features. The figures below are peaks of one
process, measured with ``/usr/bin/time -v`` on CPU (Python 3.11, torch 2.14):

- ``debug`` (MLP), one run, no UMAP: 0.95 GiB (996 MB);
- ``digits-to-mnist`` (CNN), one run with the UMAP views: 1.13 GiB (1,185 MB).

The pretrained scenarios were not measured here; their figures add the backbone library, the
96-px RGB images (EfficientNet) or tokenised texts and the features of every split, with a
margin, and full fine-tuning of a backbone adds gradients and optimizer state. The number of
runs does not matter: runs of a sweep are done one after the other.
"""

from __future__ import annotations

from core.base.hparams import default_adaptation, hparams_for
from core.base.validation import ForgeLensError

GIB = 1 << 30
PEAK_BYTES = {  # per model family, see the module doc
    "mlp": int(1.0 * GIB),
    "cnn": int(1.25 * GIB),
    "effnet-lite0": int(3.0 * GIB),
    "minilm-l6": int(2.5 * GIB),
}
FULL_PRETRAINED_EXTRA = int(1.0 * GIB)
UNKNOWN_BYTES = int(1.5 * GIB)


def sweep_memory_estimate(scenario: str, adaptation: str | None = None) -> int:
    """Expected peak resident bytes of one sweep of ``scenario`` (any number of runs)."""
    try:
        hp = hparams_for(scenario)
    except ForgeLensError:  # a scenario without registered defaults (e.g. from a file)
        return UNKNOWN_BYTES
    peak = PEAK_BYTES.get(hp.arch, UNKNOWN_BYTES)
    if hp.pretrained and (adaptation or default_adaptation(scenario)) == "full":
        peak += FULL_PRETRAINED_EXTRA
    return peak


def available_memory() -> int | None:
    """Bytes the system can give a new process now (``MemAvailable``), None when unknown."""
    try:
        with open("/proc/meminfo") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def gib(value: int) -> str:
    return f"{value / GIB:.1f} GiB"


def check_sweep_memory(
    scenario: str, adaptation: str | None, device: str = "auto", *, freed_later: int = 0
) -> int:
    """The sweep's estimate; ForgeLensError when it exceeds the memory available now plus
    ``freed_later`` (the estimates of sweeps running ahead of it, given back when they end)."""
    del device  # host memory is needed on every device (the data live there)
    estimate = sweep_memory_estimate(scenario, adaptation)
    available = available_memory()
    if available is not None and estimate > available + freed_later:
        raise ForgeLensError(
            f"memory: a sweep of scenario={scenario!r} needs about {gib(estimate)}, but only "
            f"{gib(available + freed_later)} is available"
            + (" (counting what running sweeps give back)" if freed_later else "")
            + "; allowed: sweeps that fit. Wait for running sweeps to end, free memory, or "
            "run it on a larger machine with `python -m core run`"
        )
    return estimate
