#!/usr/bin/env bash
# One command for a lent GPU (about 6-9 minutes on an H100/H200): the GPU tests, then the
# scans, the Triton kernel with and without chunks of time, a training step and the layers
# against the HBM floor and the other implementations, on torch and (where jax sees the
# GPU) on jax. Tables go to benchmarks/results/*-gpu.md and ops-<backend>-<gpu>.md, and,
# when $OUT is set (the device tool), into $OUT/gpu_results.tar.gz beside the log: that
# tool brings back at most 8 files.
#
#   bash benchmarks/gpu_check.sh            # needs torch with CUDA and triton; jax[cuda] optional
#
# Each step has its own time limit, so one slow step cannot eat the others' time; a failed
# step is reported and the script goes on, and the archive is rewritten after every step.
# Nothing here runs in CI (no GPU there).
set -u
cd "$(dirname "$0")/.."
PY=${PY:-python3}
RESULTS=benchmarks/results
mkdir -p "$RESULTS"
LOG=$RESULTS/gpu_check-gpu.log
: > "$LOG"
export TRITON_INTERPRET=0 KERAS_HOME=${KERAS_HOME:-$(mktemp -d)} PYTHONUNBUFFERED=1

save() {
  if [ -n "${OUT:-}" ]; then
    tar czf "$OUT/gpu_results.tar.gz" $(ls "$RESULTS"/*-gpu.md "$RESULTS"/ops-*-nvidia*.md 2>/dev/null)
    cp "$LOG" "$OUT"/
  fi
}

step() {  # step SECONDS NAME COMMAND...
  local limit=$1 name=$2; shift 2
  echo "=== $name (limit ${limit}s)" | tee -a "$LOG"
  local start=$SECONDS
  timeout "$limit" "$@" >> "$LOG" 2>&1
  local rc=$?
  echo "=== $name: rc=$rc in $((SECONDS - start))s" | tee -a "$LOG"
  save
}

step 30 "machine" env KERAS_BACKEND=torch bash -c "nvidia-smi; $PY -c 'import torch, triton, keras; print(torch.__version__, triton.__version__, keras.__version__, torch.cuda.get_device_name())'"
step 120 "GPU tests (Triton kernel compiled for the device, CUDA paths)" \
  env KERAS_BACKEND=torch $PY -m pytest -q -p no:cacheprovider tests/test_triton_scan.py tests/test_ops_torch_paths.py -k "cuda or chunk"
step 100 "scans: torch paths against the HBM floor (B=8, L=4096-65536, P=64 complex)" \
  env KERAS_BACKEND=torch $PY -m benchmarks.ops --ops linear_recurrence --lengths 4096 16384 65536 \
  --paths triton chunked associative --budget 2 --bandwidth-mb 1024 --no-plot --output "$RESULTS"
step 60 "Triton: one walk against chunks of time" env KERAS_BACKEND=torch $PY -m benchmarks.triton_chunks
step 75 "training step: S5/DSS/DLR against Keras GRU/LSTM (torch, cpu preset shapes)" \
  env KERAS_BACKEND=torch $PY -m benchmarks.train_step --repeats 5 --warmup 2 --output "$RESULTS/train_step-torch-gpu.md"
step 60 "layers: DSS/DLR per element against L, DSS kernel against DLR (torch)" \
  env KERAS_BACKEND=torch $PY -m benchmarks.scaling --repeats 3 --min-seconds 0.2 --output "$RESULTS/scaling-torch-gpu.md"
if $PY -c "import jax; assert jax.default_backend() == 'gpu'" 2>/dev/null; then
  step 60 "scans: jax paths on the GPU (associative against the sequential walk)" \
    env KERAS_BACKEND=jax $PY -m benchmarks.ops --ops linear_recurrence --lengths 4096 16384 65536 \
    --budget 2 --bandwidth-mb 1024 --no-plot --output "$RESULTS"
  step 75 "training step on jax" \
    env KERAS_BACKEND=jax $PY -m benchmarks.train_step --repeats 5 --warmup 2 --output "$RESULTS/train_step-jax-gpu.md"
fi
save
echo "done: $RESULTS/*-gpu.md"
