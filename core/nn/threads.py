"""Training on the CPU runs on one intra-op thread, so its result does not depend on the thread
count of the process (``torch.set_num_threads``, a worker's share of the cores).

Why: forward passes gave bit-identical outputs at 1 and 2 threads, but backward passes did not
(weight gradients of a linear or conv layer differ by ~1e-9, the reduction over the batch is split
by thread), and training amplifies that: digits-to-mnist's source model trained at 1 and at 2
threads differed by up to 0.03 per weight and BADGE/FORGE picked different samples, under the
same run ids. Every training loop (source model, adaptation in both modes, every task) runs in
``single_cpu_thread``; the cost is measured in the README ("Run store", reproducibility).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch


@contextlib.contextmanager
def single_cpu_thread(device: torch.device) -> Iterator[None]:
    """Run torch's CPU ops on one intra-op thread inside the block (restored afterwards).

    Deterministic across thread counts (module doc), and no slower for small models: a linear
    head on a batch of 64 rows is far too small to gain from intra-op threads; on a busy 2-core
    machine the thread hand-offs of every tiny op made head adaptation ~30x slower (measured
    1.9 s against 0.05 s per run). No effect on CUDA work.
    """
    previous = torch.get_num_threads()
    if device.type == "cpu" and previous != 1:
        torch.set_num_threads(1)
    try:
        yield
    finally:
        if torch.get_num_threads() != previous:
            torch.set_num_threads(previous)
