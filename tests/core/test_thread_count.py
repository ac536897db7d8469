"""Results do not depend on torch's thread count: a source model and a small sweep of full
adaptation runs, made in two processes with 1 and 2 intra-op threads, are bit-identical (the
source weights, the pool embeddings and every table of every run, under the same run ids)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

SWEEP = """
import hashlib, json, sys
import torch
torch.set_num_threads(int(sys.argv[1]))
import pandas as pd
from core.base.hparams import hparams_for
from core.run.sweep import run_sweep
from core.storage.store import RunStore

hp = hparams_for("debug", source_epochs=4, adapt_epochs=3)
ids = run_sweep("debug", ("random", "badge", "forge"), (0.1,), (0,), root=sys.argv[2],
                device="cpu", adaptation="full", hparams=hp)
store = RunStore(sys.argv[2])

def digest(frame):
    values = pd.util.hash_pandas_object(frame, index=True).to_numpy().tobytes()
    return hashlib.sha256(values + repr(list(frame.columns)).encode()).hexdigest()

out = {"threads": torch.get_num_threads(), "runs": {}}
out["models"] = {p.name: hashlib.sha256(p.read_bytes()).hexdigest()
                 for p in sorted(store.models_dir.glob("*.safetensors"))}
for run_id in ids:
    info = store.load_config(run_id)
    z, logits = store.load_embeddings(info["pool_id"])
    tables = {name: digest(store.load_table(run_id, name))
              for name in ("selection", "accuracy", "samples", "pairs", "summary")}
    out["runs"][run_id] = {"pool": hashlib.sha256(z.tobytes() + logits.tobytes()).hexdigest(),
                           "param_distance": info["param_distance"], **tables}
print(json.dumps(out))
"""


def _sweep(threads: int, root: Path) -> dict:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": str(threads)}
    done = subprocess.run(
        [sys.executable, "-c", SWEEP, str(threads), str(root)],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_source_model_and_records_are_bit_identical_at_1_and_2_threads(tmp_path):
    one = _sweep(1, tmp_path / "one")
    two = _sweep(2, tmp_path / "two")
    assert (one.pop("threads"), two.pop("threads")) == (1, 2)
    assert len(one["models"]) == 1 and len(one["runs"]) == 3
    assert one["models"] == two["models"]
    differ = {
        (run_id, key)
        for run_id, values in one["runs"].items()
        for key, value in values.items()
        if two["runs"].get(run_id, {}).get(key) != value
    }
    assert not differ
