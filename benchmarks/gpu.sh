#!/usr/bin/env bash
# GPU benchmark on one GPU (an H200: a few minutes): the engine at R = 1000 seeds x
# 500 epochs, P = 8192, FP32 and TF32, and the naive baseline on the same GPU.
# Writes gpu.json to $OUT if set, else benchmarks/results/. MNIST is read from
# data/ (carry data/MNIST to the machine); without it, random data of the same shape.
#   benchmarks/gpu.sh [extra args for python -m benchmarks.gpu, e.g. --seeds 200]
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
[ -x "$PY" ] || PY=python3
"$PY" -c "import torch; assert torch.cuda.is_available(), 'no CUDA device visible'; print(torch.cuda.get_device_name(0))"
nvidia-smi --query-gpu=name,memory.total,clocks.max.sm --format=csv 2>/dev/null || true
exec "$PY" -m benchmarks.gpu --seeds 1000 --epochs 500 --tf32 "$@"
