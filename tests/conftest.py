"""Suite-wide settings: one intra-op thread for the tiny test models.

The test models are a few thousand parameters; thread start-up and, on a shared 2-core machine,
oversubscription cost more than they save (measured: a debug sweep 8 s with one thread vs 24 s
with two under load). Set before torch is imported so CLI subprocesses inherit it too.
"""

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")
# Pages let errors through to Streamlit (AppTest's at.exception, the browser's stException);
# the viewer-facing error boundary is tested with this unset (tests/test_bad_inputs.py).
os.environ.setdefault("FORGELENS_DEV", "1")
# the key that seals job requests naming code (dashboard/job_seal.py): never the user's own
if "FORGELENS_JOB_KEY_FILE" not in os.environ:
    import tempfile

    os.environ["FORGELENS_JOB_KEY_FILE"] = os.path.join(tempfile.mkdtemp(), "job.key")


def pytest_configure(config) -> None:
    import torch

    torch.set_num_threads(1)  # in case torch was imported before the variables above were read
