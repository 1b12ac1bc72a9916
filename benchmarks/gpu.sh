#!/usr/bin/env bash
# The GPU benchmark as one command (an H200: about 2-3 minutes, at most ~7 by its
# own timeouts): the engine at R = 1000 seeds x 500 epochs, P = 8192 MNIST, in fp32,
# tf32 and bf16, the naive baseline on the same GPU, and the fidelity check of tf32
# and bf16 against fp32 (20 seeds x 300 epochs). Installs nothing. Writes gpu.json
# and gpu.txt to $OUT if set, else benchmarks/results/. MNIST is read from data/
# (carry data/MNIST); without it the speed cases time random data of the same shape.
#   benchmarks/gpu.sh [extra args for python -m benchmarks.gpu, e.g. --seeds 200]
# Smoke test without a GPU:
#   benchmarks/gpu.sh --device cpu --seeds 4 --epochs 3 --precisions fp32,bf16 \
#       --naive-epochs 4 --fidelity-seeds 3 --fidelity-epochs 40
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${PY:-}" ]; then  # a python with torch already there: the machine's own, else the repository's venv
  if python3 -c "import torch, numpy" 2>/dev/null; then PY=python3; else PY=.venv/bin/python; fi
fi
case " $* " in
  *" --device cpu "*) ;;
  *) "$PY" -c "import torch; assert torch.cuda.is_available(), 'no CUDA device visible'" ;;
esac
"$PY" -c "import sys, torch; print(sys.executable, 'torch', torch.__version__, torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'no GPU')"
nvidia-smi --query-gpu=name,memory.total,clocks.max.sm --format=csv,noheader 2>/dev/null || true
# the cases have their own timeouts (benchmarks/gpu.py); this one is the backstop
exec timeout 420 "$PY" -m benchmarks.gpu "$@"
