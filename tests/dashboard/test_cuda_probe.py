"""The Run page's CUDA hint: read from torch's build file and the driver, without torch."""

from __future__ import annotations

from pathlib import Path

import pytest

from dashboard.loaders import cuda_probe

CUDA_BUILD = "from typing import Optional\ncuda: Optional[str] = '13.0'\nhip = None\n"
CPU_BUILD = "from typing import Optional\ncuda: Optional[str] = None\nhip = None\n"


@pytest.mark.parametrize(
    ("build", "gpu", "expected"),
    [(CUDA_BUILD, True, True), (CUDA_BUILD, False, False), (CPU_BUILD, True, False)],
)
def test_needs_a_cuda_build_and_a_listed_gpu(
    tmp_path: Path, build: str, gpu: bool, expected: bool
) -> None:
    version = tmp_path / "version.py"
    version.write_text(build)
    gpus = tmp_path / "gpus"
    gpus.mkdir()
    if gpu:
        (gpus / "0000:01:00.0").mkdir()
    assert cuda_probe(version, gpus) is expected
    assert cuda_probe(tmp_path / "absent.py", gpus) is False


def test_agrees_with_torch_on_this_machine() -> None:
    torch = pytest.importorskip("torch")
    assert cuda_probe() == torch.cuda.is_available()
