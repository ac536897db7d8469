#!/bin/sh
# One device session (issue 13, item 4): HBM bandwidth + selection at N=1M, D=2048, C=345 on the
# device, CLUE's k-means on the GPU vs scikit-learn on the host, then the CUDA tests.
#   OUT=results/ sh benchmarks/gpu_check.sh
OUT=${OUT:-gpu-results}
mkdir -p "$OUT"
nvidia-smi > "$OUT/nvidia-smi.txt" 2>&1
python3 -c "import torch, sys; print(sys.version.split()[0], torch.__version__, torch.cuda.get_device_name())"
timeout 170 python3 benchmarks/bench_gpu.py --check --json "$OUT/bench_gpu.json" 2>&1 | tee "$OUT/bench_gpu.txt"
timeout 80 python3 benchmarks/bench_clue.py --n 100000 --d 512 --k 500 --device cuda 2>&1 | tee "$OUT/bench_clue.txt"
if ! timeout 80 python3 -m pytest -q -rs -p no:cacheprovider -k cuda tests/core > "$OUT/pytest_cuda.txt" 2>&1; then
  echo "--- retry without conftest (scenario imports may be missing here)" >> "$OUT/pytest_cuda.txt"
  timeout 50 python3 -m pytest -q -rs -p no:cacheprovider --noconftest -k cuda tests/core/test_embeddings.py \
    tests/core/test_selection.py tests/core/test_scale_selection.py >> "$OUT/pytest_cuda.txt" 2>&1
fi
tail -25 "$OUT/pytest_cuda.txt"
