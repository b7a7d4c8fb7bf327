#!/usr/bin/env bash
# One command for a lent GPU: sections of GPU tests and measurements, each step with its own
# time limit. Tables go to benchmarks/results/*-gpu.md and ops-<backend>-<gpu>.md, and, when
# $OUT is set (the device tool), into $OUT/gpu_results.tar.gz beside the log: that tool
# brings back at most 8 files.
#
#   bash benchmarks/gpu_check.sh              # every section, about 10 minutes
#   bash benchmarks/gpu_check.sh train        # training steps only: at most 7.8 minutes
#                                             # (step limits 20 + 200 + 120 + 70 + 60 s)
#   bash benchmarks/gpu_check.sh tests ops    # the GPU tests and the op measurements
#   DRY_RUN=1 PY=.venv/bin/python bash benchmarks/gpu_check.sh train
#       # on a CPU: the train section's commands at tiny shapes, results in a temp dir, limits
#       # x5 (16 minutes on the loaded 2-core machine, 2026-12-06, every step rc=0)
#
# Sections:
#   tests  the Triton kernels compiled for the device (values, gradients, chunks), the
#          kernel as a torch.library triton_op (opcheck, torch.compile fullgraph), the
#          inductor-compiled S5 model (tests/test_torch_compile.py), selective_scan's CUDA cases
#   ops    scans against the HBM floor, Triton chunks of time, DSS/DLR scaling, selective_scan
#   train  the sfashion training step (B = 32, L = 784, H = 64, depth 4, bidirectional SSMs)
#          against the cuDNN GRU/LSTM: torch eager, jit_compile=True (torch.compile) and CUDA
#          graphs (torch.compile mode="reduce-overhead"); jax and TensorFlow where they see
#          the GPU (the device image has no TensorFlow, and its 1.9 GB install cannot be carried)
#   paper  (not in the default run; about 4 minutes) S5's paper presets of every LRA task and
#          SC35: s/step and the time to the papers' epochs (benchmarks/paper_cost.py)
#
# Each step has its own time limit, so one slow step cannot eat the others' time; a failed
# step is reported and the script goes on, and the archive is rewritten after every step.
# Nothing here runs in CI (no GPU there).
set -u
cd "$(dirname "$0")/.."
PY=${PY:-python3}
SECTIONS=" ${*:-tests ops train} "
want() { [[ "$SECTIONS" == *" $1 "* ]]; }
DRY=()
RESULTS=benchmarks/results
if [ -n "${DRY_RUN:-}" ]; then  # the same commands on a CPU, tiny, nothing overwritten
  DRY=(--dry-run)
  RESULTS=$(mktemp -d)
  export TRITON_INTERPRET=1
else
  export TRITON_INTERPRET=0
fi
mkdir -p "$RESULTS"
LOG=$RESULTS/gpu_check-gpu.log
: > "$LOG"
export KERAS_HOME=${KERAS_HOME:-$(mktemp -d)} PYTHONUNBUFFERED=1

save() {
  if [ -n "${OUT:-}" ]; then
    tar czf "$OUT/gpu_results.tar.gz" $(ls "$RESULTS"/*-gpu.md "$RESULTS"/ops-*-nvidia*.md 2>/dev/null)
    cp "$LOG" "$OUT"/
  fi
}

step() {  # step SECONDS NAME COMMAND...
  local limit=$1 name=$2; shift 2
  if [ -n "${DRY_RUN:-}" ]; then limit=$((limit * 5)); fi  # a shared CPU compiles slowly
  echo "=== $name (limit ${limit}s)" | tee -a "$LOG"
  local start=$SECONDS
  timeout "$limit" "$@" >> "$LOG" 2>&1
  local rc=$?
  echo "=== $name: rc=$rc in $((SECONDS - start))s" | tee -a "$LOG"
  save
}

if [ -z "${DRY_RUN:-}" ]; then
  step 20 "machine" env KERAS_BACKEND=torch bash -c "nvidia-smi; $PY -c 'import torch, triton, keras; print(torch.__version__, triton.__version__, keras.__version__, torch.cuda.get_device_name())'"
fi
if want tests && [ -z "${DRY_RUN:-}" ]; then
  step 150 "GPU tests (Triton kernels compiled for the device, the triton_op under torch.compile, CUDA paths)" \
    env KERAS_BACKEND=torch $PY -m pytest -q -p no:cacheprovider tests/test_triton_scan.py tests/test_ops_torch_paths.py tests/test_selective_scan.py tests/test_torch_compile.py \
    -k "cuda or chunk or opcheck or compiles_whole or inductor"
fi
if want ops && [ -z "${DRY_RUN:-}" ]; then
  step 100 "scans: torch paths against the HBM floor (B=8, L=4096-65536, P=64 complex)" \
    env KERAS_BACKEND=torch $PY -m benchmarks.ops --ops linear_recurrence --lengths 4096 16384 65536 \
    --paths triton chunked associative --budget 2 --bandwidth-mb 1024 --no-plot --output "$RESULTS"
  step 60 "Triton: one walk against chunks of time" env KERAS_BACKEND=torch $PY -m benchmarks.triton_chunks
  step 60 "layers: DSS/DLR per element against L, DSS kernel against DLR (torch)" \
    env KERAS_BACKEND=torch $PY -m benchmarks.scaling --repeats 3 --min-seconds 0.2 --output "$RESULTS/scaling-torch-gpu.md"
  step 90 "selective_scan: Triton kernels against the HBM floor, transformers' forward (B=4, L=2048; B=1, L=65536; H=512, N=16)" \
    env KERAS_BACKEND=torch $PY -m benchmarks.selective_scan --points 4x2048 1x65536 --paths triton \
    --peer-max-length 2048 --peer-backward-max-length 0 --repeats 5 --output "$RESULTS/selective-scan-torch-gpu.md"
  if $PY -c "import jax; assert jax.default_backend() == 'gpu'" 2>/dev/null; then
    step 60 "scans: jax paths on the GPU (associative against the sequential walk)" \
      env KERAS_BACKEND=jax $PY -m benchmarks.ops --ops linear_recurrence --lengths 4096 16384 65536 \
      --budget 2 --bandwidth-mb 1024 --no-plot --output "$RESULTS"
  fi
fi
if want train; then
  # torch: eager (auto) and torch.compile (jit) in one run, CUDA graphs in a second, each
  # with the cuDNN GRU for its ratios; about 20-40 s of inductor compilation per model.
  step 200 "training step on torch: S5/DSS/DLR eager and jit_compile=True against the cuDNN GRU/LSTM" \
    env KERAS_BACKEND=torch $PY -m benchmarks.train_step --variants auto jit --models s5 dss dlr gru lstm \
    --repeats 5 --warmup 3 "${DRY[@]}" --output "$RESULTS/train_step-torch-gpu.md"
  step 120 "training step on torch: S5/DSS/DLR with CUDA graphs (torch.compile reduce-overhead)" \
    env KERAS_BACKEND=torch $PY -m benchmarks.train_step --variants cudagraphs --models s5 dss dlr gru \
    --repeats 5 --warmup 3 "${DRY[@]}" --output "$RESULTS/train_step-torch-cudagraphs-gpu.md"
  if [ -n "${DRY_RUN:-}" ] || $PY -c "import jax; assert jax.default_backend() == 'gpu'" 2>/dev/null; then
    step 70 "training step on jax" \
      env KERAS_BACKEND=jax $PY -m benchmarks.train_step --models s5 dss dlr gru lstm \
      --repeats 5 --warmup 2 "${DRY[@]}" --output "$RESULTS/train_step-jax-gpu.md"
  fi
  if [ -n "${DRY_RUN:-}" ] || $PY -c "import tensorflow as tf; assert tf.config.list_physical_devices('GPU')" 2>/dev/null; then
    step 60 "training step on TensorFlow (jit_compile auto = XLA on a GPU)" \
      env KERAS_BACKEND=tensorflow $PY -m benchmarks.train_step --models s5 dss dlr gru lstm \
      --repeats 5 --warmup 2 "${DRY[@]}" --output "$RESULTS/train_step-tensorflow-gpu.md"
  else
    echo "=== TensorFlow: not installed or sees no GPU here; no TensorFlow row" | tee -a "$LOG"
  fi
fi
if want paper && [ -z "${DRY_RUN:-}" ]; then
  step 240 "paper presets: s/step and time to the papers' epochs (S5, every LRA task and SC35, torch)" \
    env KERAS_BACKEND=torch $PY -m benchmarks.paper_cost --models s5 --repeats 3 --output "$RESULTS/paper_cost-torch-gpu.md"
fi
save
echo "done: $RESULTS/*-gpu.md"
