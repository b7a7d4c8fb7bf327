#!/usr/bin/env bash
# One command for a lent GPU (about 5-8 minutes on an H100/H200): the GPU tests, then the
# scans, the Triton kernel with and without chunks of time, the layers and a training
# step against the HBM floor and the other implementations. Tables go to
# benchmarks/results/*-gpu.md (and to $OUT when set, for the device tool).
#
#   bash benchmarks/gpu_check.sh            # needs torch with CUDA and triton; jax[cuda] optional
#
# Each step has its own time limit, so one slow step cannot eat the others' time; a failed
# step is reported and the script goes on. Nothing here runs in CI (no GPU there).
set -u
cd "$(dirname "$0")/.."
PY=${PY:-python3}
RESULTS=benchmarks/results
mkdir -p "$RESULTS"
LOG=$RESULTS/gpu_check-gpu.log
: > "$LOG"
export TRITON_INTERPRET=0 KERAS_HOME=${KERAS_HOME:-$(mktemp -d)}

step() {  # step SECONDS NAME COMMAND...
  local limit=$1 name=$2; shift 2
  echo "=== $name (limit ${limit}s)" | tee -a "$LOG"
  local start=$SECONDS
  timeout "$limit" "$@" >> "$LOG" 2>&1
  local rc=$?
  echo "=== $name: rc=$rc in $((SECONDS - start))s" | tee -a "$LOG"
}

step 30 "machine" bash -c "nvidia-smi; $PY -c 'import torch, triton; print(torch.__version__, triton.__version__, torch.cuda.get_device_name())'"
step 120 "GPU tests (Triton kernel compiled for the device, CUDA paths)" \
  env KERAS_BACKEND=torch $PY -m pytest -q -p no:cacheprovider tests/test_triton_scan.py tests/test_ops_torch_paths.py -k "cuda or chunk"
step 150 "scans: torch paths against the HBM floor (B=8, L=16384, P=64 complex; and B=1)" \
  env KERAS_BACKEND=torch $PY benchmarks/ops.py --ops linear_recurrence --lengths 4096 16384 65536 --output "$RESULTS"
step 90 "Triton: one walk against chunks of time" env KERAS_BACKEND=torch $PY - <<'EOF'
import time, torch
from keras_ssm.ops import triton_scan
def timed(fn):
    fn(); torch.cuda.synchronize(); ts = []
    for _ in range(20):
        t = time.perf_counter(); fn(); torch.cuda.synchronize(); ts.append(time.perf_counter() - t)
    return sorted(ts)[10]
rows = ["| B | L | P | chunks | ms one walk | ms chunked | speed-up | GB/s chunked |", "|---|---|---|---|---|---|---|---|"]
for batch, length, p in [(1, 65536, 64), (8, 16384, 64), (1, 262144, 256), (32, 4096, 1024)]:
    a = (torch.full((p,), 0.99, device="cuda"), torch.full((p,), 0.01, device="cuda"))
    b = (torch.randn(batch, length, p, device="cuda"), torch.randn(batch, length, p, device="cuda"))
    count = triton_scan.chunk_count(batch, length, p)
    one = timed(lambda: triton_scan.linear_recurrence_triton(a, b, chunks=1))
    many = timed(lambda: triton_scan.linear_recurrence_triton(a, b))
    gbs = 16 * batch * length * p / many / 1e9
    rows.append(f"| {batch} | {length} | {p} | {count} | {one*1e3:.3f} | {many*1e3:.3f} | {one/many:.2f}x | {gbs:.0f} |")
text = "# Triton scan on the GPU: one walk against chunks of time\n\n" + "\n".join(rows) + "\n"
print(text); open("benchmarks/results/triton_chunks-gpu.md", "w").write(text)
EOF
step 120 "layers: DSS/DLR per element against L, DSS kernel against DLR (torch)" \
  env KERAS_BACKEND=torch $PY benchmarks/scaling.py --output "$RESULTS/scaling-torch-gpu.md"
step 120 "training step: S5/DSS/DLR against Keras GRU/LSTM (torch, cpu preset shapes)" \
  env KERAS_BACKEND=torch $PY benchmarks/train_step.py --repeats 5 --output "$RESULTS/train_step-torch-gpu.md"
if $PY -c "import jax; assert jax.default_backend() == 'gpu'" 2>/dev/null; then
  step 120 "scans: jax paths on the GPU" \
    env KERAS_BACKEND=jax $PY benchmarks/ops.py --ops linear_recurrence --lengths 4096 16384 65536 --output "$RESULTS"
fi
if [ -n "${OUT:-}" ]; then cp "$RESULTS"/*-gpu.md "$LOG" "$OUT"/ 2>/dev/null; fi
echo "done: $RESULTS/*-gpu.md"
