"""`selective_scan` (Mamba's S6) forward+backward: ours against transformers' PyTorch path
and against the memory floor, with the peak memory of each.

transformers' `MambaMixer` runs its scan, on machines without the CUDA kernels, through
`modeling_mamba.mamba_selective_scan` (what `slow_forward` calls): the discretized
(batch, H, L, N) tensors in full, then a Python loop over time. That is the CPU path of
Mamba users today, and the peer here. Its backward pass, by torch autograd through the
loop, is quadratic in L (every step's `select` backward writes a full-size gradient), so
its forward+backward is timed only up to `--peer-backward-max-length`; beyond, its forward
alone is timed, a lower bound of its forward+backward (our ratio is then an upper bound).

Each point (batch x length) is one child process: the paths are timed in turns (A B A
B ...), medians. Then each path's peak memory is one more child per path: the growth of
the resident set (VmHWM after resetting it; on a GPU, torch's peak of allocated device
memory) during one warm forward+backward call,
also given in units of one (batch, L, H) float32 tensor, so that O(B·L·H) reads as a
constant column. The floor is the bytes a fused kernel must move (forward: u, Δ, z, B, C
in, y out; backward: those, dy in, du, dΔ, dz, dB, dC out; 4 (11 B L H + 6 B L N) bytes
in all) over the memory bandwidth measured in the same run.

```bash
KERAS_BACKEND=torch python -m benchmarks.selective_scan \
    --output benchmarks/results/selective-scan-torch-cpu.md
KERAS_BACKEND=jax python -m benchmarks.selective_scan --points 4x128 --repeats 2
bash benchmarks/gpu_check.sh      # on a GPU: the Triton kernels (its "selective_scan" step)
```
"""

import argparse
import datetime
import importlib
import json
import os
import pathlib
import subprocess
import sys

CHILD_ENV = dict(os.environ, MALLOC_MMAP_THRESHOLD_="65536")  # freed buffers leave the RSS


def _inputs(batch, length, channels, state, seed=0):
    import numpy as np

    rng = np.random.default_rng(seed)
    x = lambda *shape: rng.standard_normal(shape).astype("float32")
    A = -np.tile(np.arange(1, state + 1, dtype="float32"), (channels, 1))
    return dict(
        u=x(batch, length, channels),
        delta=x(batch, length, channels) - 2.0,
        A=A,
        B=x(batch, length, state),
        C=x(batch, length, state),
        D=x(channels),
        z=x(batch, length, channels),
        delta_bias=x(channels) * 0.1,
    )


def _ours(spec, x):
    """(forward, forward+backward) as (fn, args) pairs for our path `spec["path"]`."""
    from benchmarks import _timing as T
    from keras_ssm import config
    from keras_ssm.ops import selective_scan

    config.set_implementation("selective_scan", spec["path"])
    names = ("u", "delta", "A", "B", "C", "D", "z", "delta_bias")
    args = [T.to_device(x[n]) for n in names]
    fn = lambda *a: selective_scan(*a)
    mode = T.compile_modes()[0]
    forward = T.compile_fn(fn, mode)
    backward = T.compile_fn(T.vjp_fn(fn), mode)
    return (forward, args), (backward, args + [T.to_device(x["u"])])


def _peer(spec, x):
    """transformers' scan, in its own (batch, H, L) layout (no transposes timed)."""
    import torch
    from transformers.models.mamba import modeling_mamba

    device = "cuda" if torch.cuda.is_available() else "cpu"
    torch_x = {k: torch.from_numpy(v).to(device) for k, v in x.items()}
    for k in ("u", "delta", "B", "C", "z"):
        torch_x[k] = torch_x[k].transpose(1, 2).contiguous()
    names = ("u", "delta", "A", "B", "C", "D", "z", "delta_bias")

    def fn(*a):
        return modeling_mamba.mamba_selective_scan(*a, delta_softplus=True)

    def forward(*a):
        with torch.no_grad():
            return fn(*a)

    def backward(*a):
        inputs = [t.detach().requires_grad_(True) for t in a[:-1]]
        return torch.autograd.grad(fn(*inputs), inputs, grad_outputs=a[-1])

    args = [torch_x[n] for n in names]
    return (forward, args), (backward, args + [torch_x["u"]])


def _functions(spec):
    x = _inputs(spec["batch"], spec["length"], spec["channels"], spec["state"])
    return _peer(spec, x) if spec["path"] == "transformers" else _ours(spec, x)


def _sync_any(result):
    from benchmarks import _timing as T

    T.sync(result)
    return result


def time_child(spec):
    """Time every path of one point in turns; print one JSON line."""
    from benchmarks import _timing as T

    calls = {}
    for path in spec["paths"]:
        (fwd, fwd_args), (bwd, bwd_args) = _functions(dict(spec, path=path))
        for _ in range(spec["warmup"]):
            _sync_any(fwd(*fwd_args))
        calls[f"{path} forward"] = (fwd, fwd_args)
        if path != "transformers" or spec["length"] <= spec["peer_backward_max_length"]:
            for _ in range(spec["warmup"]):
                _sync_any(bwd(*bwd_args))
            calls[f"{path} forward+backward"] = (bwd, bwd_args)
    medians = T.interleaved_medians(
        calls, repeats=spec["repeats"], budget_seconds=spec["budget"], min_seconds=0.0
    )
    print(json.dumps({name: m[0] for name, m in medians.items()}))


def memory_child(spec):
    """Peak RSS growth of one warm forward+backward call of one path; one JSON line."""
    from benchmarks import _timing as T

    _, (bwd, args) = _functions(spec)
    _sync_any(bwd(*args))
    if T.on_accelerator() and T.backend() == "torch":  # device memory on a GPU
        import torch

        torch.cuda.reset_peak_memory_stats()
        before = torch.cuda.memory_allocated()
        _sync_any(bwd(*args))
        peak = torch.cuda.max_memory_allocated() - before
    else:
        T.reset_peak_rss()
        before = T.rss_bytes()
        _sync_any(bwd(*args))
        peak = T.peak_rss_bytes() - before
    print(json.dumps({"peak_mib": peak / 2**20}))


def _run(kind, spec, alone=False):
    """One child; `alone`: transformers' paths only, under KERAS_BACKEND=torch (torch and
    TensorFlow in one process abort: their LLVM command-line options collide)."""
    env = dict(CHILD_ENV, KERAS_BACKEND="torch") if alone else CHILD_ENV
    out = subprocess.run(
        [sys.executable, "-m", "benchmarks.selective_scan", f"--{kind}-child", json.dumps(spec)],
        capture_output=True,
        text=True,
        env=env,
    )
    lines = [line for line in out.stdout.splitlines() if line.startswith("{")]
    if out.returncode or not lines:
        tail = out.stderr.strip().splitlines()[-1:] or ["no output"]
        return {"error": tail[0][:160]}
    return json.loads(lines[-1])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--points",
        nargs="+",
        default=["4x128", "4x2048", "1x16384", "1x65536"],
        help="batch x length",
    )
    parser.add_argument("--channels", type=int, default=512, help="H")
    parser.add_argument("--state", type=int, default=16, help="N")
    parser.add_argument(
        "--paths", nargs="+", default=None, help="ours (default: all but reference)"
    )
    parser.add_argument("--peer-backward-max-length", type=int, default=128)
    parser.add_argument("--peer-max-length", type=int, default=16384, help="no peer above")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--budget", type=float, default=60.0, help="time a slower call once")
    parser.add_argument("--no-memory", action="store_true")
    parser.add_argument("--output", default=None)
    parser.add_argument("--time-child", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--memory-child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.time_child:
        return time_child(json.loads(args.time_child))
    if args.memory_child:
        return memory_child(json.loads(args.memory_child))
    from benchmarks import _timing as T
    from keras_ssm.ops import implementations
    from keras_ssm.ops import registry
    from keras_ssm.ops import resolve

    x = _inputs(1, 16, args.channels, args.state)
    tensors = [T.to_device(x[n]) for n in ("u", "delta", "A", "B", "C")]
    canonical = importlib.import_module("keras_ssm.ops.selective_scan").canonical_arguments
    call_args, call_kwargs = canonical(*tensors)
    ours = args.paths or [  # every fast path that applies to tensors on this device
        p
        for p in implementations("selective_scan")
        if p != "reference"
        and registry.get("selective_scan", p).reason_not_applicable(*call_args, **call_kwargs)
        is None
    ]
    automatic = resolve("selective_scan", *tensors)
    if automatic not in ours:
        ours.insert(0, automatic)
    bandwidth = T.measure_bandwidth()["best"]
    rows, memory_rows = [], []
    H, N = args.channels, args.state
    for point in args.points:
        batch, length = (int(v) for v in point.split("x"))
        peer = length <= args.peer_max_length
        spec = dict(
            batch=batch,
            length=length,
            channels=H,
            state=N,
            repeats=args.repeats,
            warmup=args.warmup,
            budget=args.budget,
            peer_backward_max_length=args.peer_backward_max_length,
            paths=ours + (["transformers"] if peer else []),
        )
        if T.backend() == "tensorflow" and peer:  # the peer in a process of its own
            times = _run("time", dict(spec, paths=ours))
            times.update(_run("time", dict(spec, paths=["transformers"]), alone=True))
        else:
            times = _run("time", spec)
        print(f"  {point}: {times}", flush=True)
        floor = T.floor_seconds(4 * (11 * batch * length * H + 6 * batch * length * N), bandwidth)
        peer_fb = times.get("transformers forward+backward")
        peer_f = times.get("transformers forward")
        for path in ours:
            fb, f = times.get(f"{path} forward+backward"), times.get(f"{path} forward")
            if fb is None:
                rows.append([point, path, "failed", times.get("error", ""), "", "", "", ""])
                continue
            ratio = "—"
            if peer_fb:
                ratio = f"{fb / peer_fb:.3g}"
            elif peer_f:
                ratio = f"< {fb / peer_f:.3g} (peer forward only)"
            rows.append(
                [
                    point,
                    path,
                    T.fmt(f * 1e3),
                    T.fmt(fb * 1e3),
                    T.fmt(fb / floor),
                    ratio,
                    T.fmt(None if peer_f is None else peer_f * 1e3),
                    T.fmt(None if peer_fb is None else peer_fb * 1e3),
                ]
            )
        if args.no_memory:
            continue
        unit = batch * length * H * 4 / 2**20  # one (B, L, H) float32 tensor, MiB
        for path in spec["paths"]:
            if path == "transformers" and length > args.peer_backward_max_length:
                continue
            alone = path == "transformers" and T.backend() == "tensorflow"
            mem = _run("memory", dict(spec, path=path), alone=alone)
            peak = mem.get("peak_mib")
            memory_rows.append(
                [
                    point,
                    path,
                    T.fmt(peak) if peak else mem.get("error"),
                    T.fmt(peak / unit) if peak else "",
                    T.fmt(unit),
                ]
            )
            print(f"  {point} {path}: {mem}", flush=True)
    command = " ".join(argv if argv is not None else sys.argv[1:])
    report = [
        f"# selective_scan forward+backward: {T.backend()} on {T.device_description()}\n",
        f"- Run {datetime.date.today()} ({T.library_versions()}); load average "
        f"{T.load_average()} (a shared machine: compare figures within a row or a point).",
        f"- H = {H}, N = {N}; u, Δ, z, B, C random, Δ bias, D and the z gate given, "
        "softplus on: Mamba's training call. Times are medians of calls timed in turns, "
        "warm (compilation excluded; jax `jit`, tensorflow XLA, torch eager).",
        f"- Floor: 4 (11 B L H + 6 B L N) bytes over {bandwidth / 1e9:.1f} GB/s measured "
        "(numpy add); peer: transformers' `mamba_selective_scan` (the CPU path of "
        "`MambaMixer.slow_forward`), its forward+backward timed up to L = "
        f"{args.peer_backward_max_length} (quadratic in L beyond).",
        f"- Command: `KERAS_BACKEND={T.backend()} python -m benchmarks.selective_scan {command}`"
        + (" (transformers in a torch process of its own)" if T.backend() == "tensorflow" else "")
        + "\n",
        T.markdown_table(
            [
                "B x L",
                "path",
                "forward ms",
                "fwd+bwd ms",
                "x floor",
                "fwd+bwd / peer's",
                "peer forward ms",
                "peer fwd+bwd ms",
            ],
            rows,
        ),
    ]
    if memory_rows:
        report += [
            "\nPeak memory of one warm forward+backward call (resident set growth):\n",
            *(
                []
                if T.backend() == "torch"
                else [
                    f"({T.backend()}'s allocator keeps buffers of the warm-up call, so the "
                    "growth under-counts the peak; compare it across lengths.)\n"
                ]
            ),
            T.markdown_table(
                ["B x L", "path", "peak MiB", "in (B, L, H) tensors", "one (B, L, H) MiB"],
                memory_rows,
            ),
        ]
    text = "\n".join(report)
    print(text)
    if args.output:
        pathlib.Path(args.output).write_text(text + "\n")


if __name__ == "__main__":
    main()
