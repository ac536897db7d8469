#!/bin/sh
# Session check on the device: CUDA tests, then a debug sweep on cuda (the pool's full-network
# tangent norms are computed on the device, by the sweep's own process after its runs:
# core.run.follow_up) compared with the same sweep on cpu.
OUT=${OUT:-gpu-results}; mkdir -p "$OUT"
python3 -c "import torch, sys; print(sys.version.split()[0], torch.__version__, torch.cuda.get_device_name())" 2>&1 | tee "$OUT/env.txt"
timeout 200 python3 -m pytest -q -rs -p no:cacheprovider -k "cuda or gpu or device" tests/core/test_embeddings.py tests/core/test_selection.py tests/core/test_scale_selection.py tests/core/test_adaptation.py tests/core/test_models.py > "$OUT/pytest_cuda.txt" 2>&1; tail -4 "$OUT/pytest_cuda.txt"
timeout 200 python3 - <<'PY' 2>&1 | tail -15 | tee "$OUT/sweep_cuda.txt"
import time, tempfile, numpy as np
from core.records.tangent_norms import with_tangent_norms
from core.run.sweep import run_sweep
from core.storage.store import RunStore
out = {}
for dev in ("cuda", "cpu"):
    root = tempfile.mkdtemp()
    t = time.perf_counter()
    ids = run_sweep("debug", ["random", "badge", "forge"], [0.1], [0], root=root, device=dev)
    store = RunStore(root)
    s = with_tangent_norms(store, store.load_config(ids[-1])["pool_id"], store.load_table(ids[-1], "samples"))
    out[dev] = s["tangent_norm_full"].to_numpy()
    print(dev, f"{time.perf_counter() - t:.1f} s", len(ids), "runs; tangent norms finite:", np.isfinite(out[dev]).all())
print("max rel diff cuda vs cpu tangent norms:", float(np.max(np.abs(out["cuda"] - out["cpu"]) / np.maximum(out["cpu"], 1e-12))))
PY
