"""The Triton scan on a GPU: one walk over time against chunks of time, and the torch scan.

`keras_ssm.ops.torch.triton_scan.linear_recurrence_triton` runs B·N/BLOCK_N programs that each
walk the whole sequence (``chunks=1``), or cuts time into `chunk_count(...)` chunks scanned
in parallel and joined by a scan over the chunks' carries. This times both, and the torch
``chunked`` path (the automatic choice on CUDA), forward and forward+backward, at shapes
from few programs (B = 1, long L) to many, as multiples of the HBM floor: a complex64
recurrence with time-invariant a reads b and writes h, 16 bytes per element forward; the
backward reads the cotangent and h and writes db, 24 more.

```bash
KERAS_BACKEND=torch python -m benchmarks.triton_chunks     # needs CUDA and triton
```
Writes ``benchmarks/results/triton_chunks-gpu.md``. Part of ``benchmarks/gpu_check.sh``.
"""

import os
import pathlib
import time

os.environ.setdefault("KERAS_BACKEND", "torch")

import torch  # noqa: E402

from keras_ssm.ops import registry  # noqa: E402
from keras_ssm.ops.torch import triton_scan  # noqa: E402

SHAPES = [(1, 65536, 64), (8, 16384, 64), (1, 262144, 256), (32, 4096, 1024), (32, 784, 128)]
OUTPUT = pathlib.Path(__file__).resolve().parent / "results" / "triton_chunks-gpu.md"


def median_seconds(fn, repeats=15):
    """Median wall time of `fn()` on the GPU, after one untimed call."""
    fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return sorted(times)[len(times) // 2]


def hbm_bandwidth():
    """Device-to-device copy, bytes read + written per second."""
    x = torch.empty(2**28, dtype=torch.float32, device="cuda")
    y = torch.empty_like(x)
    seconds = median_seconds(lambda: y.copy_(x), repeats=10)
    return 2 * x.numel() * 4 / seconds


def candidates(a, b):
    torch_chunked = registry.get("linear_recurrence", "chunked").fn
    return {
        "triton, one walk": lambda a, b: triton_scan.linear_recurrence_triton(a, b, chunks=1),
        "triton, chunks of time": lambda a, b: triton_scan.linear_recurrence_triton(a, b),
        "torch chunked": lambda a, b: torch_chunked(a, b),
    }


def main():
    bandwidth = hbm_bandwidth()
    rows = []
    for batch, length, p in SHAPES:
        a = (torch.full((p,), 0.99, device="cuda"), torch.full((p,), 0.01, device="cuda"))
        b = tuple(
            torch.randn(batch, length, p, device="cuda", requires_grad=True) for _ in range(2)
        )
        g = tuple(torch.randn(batch, length, p, device="cuda") for _ in range(2))
        elements = batch * length * p
        floor_fwd = 16 * elements / bandwidth
        floor_bwd = (16 + 24) * elements / bandwidth
        count = triton_scan.chunk_count(batch, length, p)
        for name, fn in candidates(a, b).items():

            def forward():
                with torch.no_grad():
                    return fn(a, b)

            def forward_backward():
                h = fn(a, b)
                return torch.autograd.grad(h, b, g)

            fwd = median_seconds(forward)
            both = median_seconds(forward_backward)
            rows.append(
                f"| {batch} | {length} | {p} | {count} | {name} | {fwd * 1e3:.3f} | "
                f"{fwd / floor_fwd:.1f}x | {both * 1e3:.3f} | {both / floor_bwd:.1f}x |"
            )
            print(rows[-1], flush=True)
    text = "\n".join(
        [
            "# Triton scan on the GPU: one walk against chunks of time, and the torch scan",
            "",
            f"{torch.cuda.get_device_name()}, torch {torch.__version__}; HBM copy bandwidth "
            f"measured in the same run: {bandwidth / 1e9:.0f} GB/s (read + write).",
            "Complex64, time-invariant a; `chunks` = `chunk_count(B, L, P)`; floor = 16 bytes per "
            "element forward, 40 forward+backward, over that bandwidth; medians of 15 calls.",
            "Command: `KERAS_BACKEND=torch python -m benchmarks.triton_chunks`.",
            "",
            "| B | L | P | chunks | path | fwd ms | fwd × floor | fwd+bwd ms | fwd+bwd × floor |",
            "|---|---|---|---|---|---|---|---|---|",
            *rows,
            "",
        ]
    )
    OUTPUT.parent.mkdir(parents=True, exist_ok=True)
    OUTPUT.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
