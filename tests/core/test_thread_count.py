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

hp = hparams_for("debug", source_epochs=2, adapt_epochs=2)
ids = run_sweep("debug", ("badge", "forge"), (0.1,), (0,), root=sys.argv[2],
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


def _start(threads: int, root: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": str(threads)}
    return subprocess.Popen(
        [sys.executable, "-c", SWEEP, str(threads), str(root)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=ROOT,
    )


def _result(process: subprocess.Popen) -> dict:
    out, err = process.communicate(timeout=600)
    assert process.returncode == 0, err[-3000:]
    return json.loads(out.strip().splitlines()[-1])


def test_source_model_and_records_are_bit_identical_at_1_and_2_threads(tmp_path):
    started = [_start(1, tmp_path / "one"), _start(2, tmp_path / "two")]  # side by side
    one, two = (_result(process) for process in started)
    assert (one.pop("threads"), two.pop("threads")) == (1, 2)
    assert len(one["models"]) == 1 and len(one["runs"]) == 2
    assert one["models"] == two["models"]
    differ = {
        (run_id, key)
        for run_id, values in one["runs"].items()
        for key, value in values.items()
        if two["runs"].get(run_id, {}).get(key) != value
    }
    assert not differ
