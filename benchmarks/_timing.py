"""Timing, compilation and memory-bandwidth helpers shared by the benchmarks.

Every benchmark times a function the way its backend runs it in practice:

- jax: `jax.jit`;
- tensorflow: `tf.function(jit_compile=True)` (XLA), or plain `tf.function` (graph) when
  the path does not compile under XLA;
- torch: eager (the default way torch code runs; `--torch-compile` in a script may add
  `torch.compile`).

Compilation and warm-up calls are excluded; a time is the median of repeated calls,
each one synchronized with the device. The physical floor of a memory-bound op is the
bytes it must read and write divided by the memory bandwidth measured on this machine
(`measure_bandwidth`), and each time is reported as a multiple of that floor.

Example:

```python
from benchmarks import _timing as T

fn, mode = T.compile_and_warm(my_fn, args)          # mode: "jit", "xla", "graph", "eager"
seconds = T.interleaved_medians({"mine": (fn, args)}, repeats=5)["mine"][0]
bandwidth = T.measure_bandwidth()["best"]            # bytes / s
ratio = seconds / T.floor_seconds(bytes_moved, bandwidth)
```
"""

import os
import platform
import re
import statistics
import time

import keras
import numpy as np

# --------------------------------------------------------------------------------------
# Device


def backend():
    return keras.config.backend()


def device_description():
    """Human-readable name of the device the backend computes on."""
    name = backend()
    if name == "jax":
        import jax

        dev = jax.devices()[0]
        if dev.platform == "cpu":
            return _cpu_description()
        return getattr(dev, "device_kind", dev.platform)
    if name == "torch":
        import torch

        if torch.cuda.is_available():
            return torch.cuda.get_device_name(0)
        return _cpu_description()
    if name == "tensorflow":
        import tensorflow as tf

        gpus = tf.config.list_physical_devices("GPU")
        if gpus:
            details = tf.config.experimental.get_device_details(gpus[0])
            return details.get("device_name", "gpu")
        return _cpu_description()
    return _cpu_description()


def _cpu_description():
    model = platform.processor() or "cpu"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return f"CPU ({os.cpu_count()} cores, {model})"


def on_accelerator():
    return not device_description().startswith("CPU")


def device_slug():
    """Short file-name-safe device name: 'cpu', or e.g. 'nvidia-h100-80gb-hbm3'."""
    if not on_accelerator():
        return "cpu"
    return re.sub(r"[^a-z0-9]+", "-", device_description().lower()).strip("-")


def library_versions():
    """'keras 3.x, jax 0.y' etc. for the current backend."""
    import importlib

    parts = [f"keras {keras.__version__}"]
    module = {"jax": "jax", "tensorflow": "tensorflow", "torch": "torch"}.get(backend())
    if module:
        parts.append(f"{module} {importlib.import_module(module).__version__}")
    return ", ".join(parts)


# --------------------------------------------------------------------------------------
# Tensors and synchronization


def to_device(x):
    """numpy -> backend tensor on the backend's default device."""
    return keras.ops.convert_to_tensor(x)


def sync(result=None):
    """Block until `result` (any nest of tensors) and all queued device work are done."""
    name = backend()
    if name == "jax":
        import jax

        jax.block_until_ready(result)
    elif name == "torch":
        import torch

        if torch.cuda.is_available():
            torch.cuda.synchronize()
    elif name == "tensorflow":
        import tensorflow as tf

        if tf.config.list_physical_devices("GPU"):
            tf.test.experimental.sync_devices()
    return result


# --------------------------------------------------------------------------------------
# Compilation and differentiation


def compile_modes(torch_compile=False):
    """Compilation modes to try, best first, for the current backend."""
    name = backend()
    if name == "jax":
        return ("jit",)
    if name == "tensorflow":
        return ("xla", "graph")
    if name == "torch":
        return ("compile", "eager") if torch_compile else ("eager",)
    return ("eager",)


def compile_fn(fn, mode):
    """`fn` compiled with `mode` ("jit", "xla", "graph", "compile" or "eager")."""
    if mode == "jit":
        import jax

        return jax.jit(fn)
    if mode in ("xla", "graph"):
        import tensorflow as tf

        tf.get_logger().setLevel("ERROR")  # benchmarks build one tf.function per path
        return tf.function(fn, jit_compile=(mode == "xla"))
    if mode == "compile":
        import torch

        return torch.compile(fn)
    return fn


def compile_and_warm(fn, args, *, warmup=1, torch_compile=False, fallbacks=None):
    """Compile `fn` with the best mode that works for `args`, and warm it up.

    Modes are tried in the order of `compile_modes`; one that raises (a path that does
    not compile under XLA, say) falls back to the next.

    Args:
        fallbacks: optional list; gets "mode: error" for each mode that failed.

    Returns:
        (compiled_fn, mode). Raises the last error if no mode works.
    """
    error = None
    for mode in compile_modes(torch_compile):
        compiled = compile_fn(fn, mode)
        try:
            for _ in range(max(1, warmup)):
                sync(compiled(*args))
            return compiled, mode
        except Exception as e:  # noqa: BLE001 - try the next mode
            error = e
            if fallbacks is not None:
                fallbacks.append(f"{mode}: {short_error(e)}")
    raise error


def short_error(e):
    """'Type: first line of the message' (at most 200 characters)."""
    lines = [line.strip() for line in str(e).splitlines() if line.strip()]
    return f"{type(e).__name__}: {lines[0][:200] if lines else ''}"


def vjp_fn(fn):
    """Forward + backward: g(*inputs, cotangents) = gradients of fn w.r.t. every input.

    `fn(*inputs)` returns a tensor or a tuple of tensors; `cotangents` has the same
    structure (the upstream gradient). The backward pass is what a training step runs.
    """
    name = backend()
    if name == "jax":
        import jax

        def g(*args):
            *inputs, cotangents = args
            _, pullback = jax.vjp(fn, *inputs)
            return pullback(cotangents)

        return g
    if name == "tensorflow":
        import tensorflow as tf

        def g(*args):
            *inputs, cotangents = args
            with tf.GradientTape() as tape:
                for x in inputs:
                    tape.watch(x)
                out = fn(*inputs)
            return tape.gradient(
                keras.tree.flatten(out), inputs, output_gradients=keras.tree.flatten(cotangents)
            )

        return g
    if name == "torch":
        import torch

        def g(*args):
            *inputs, cotangents = args
            inputs = [x.detach().requires_grad_(True) for x in inputs]
            out = fn(*inputs)
            return torch.autograd.grad(
                keras.tree.flatten(out), inputs, grad_outputs=keras.tree.flatten(cotangents)
            )

        return g
    raise NotImplementedError(f"No gradient for the {name} backend.")


# --------------------------------------------------------------------------------------
# Memory bandwidth and the physical floor


def measure_bandwidth(megabytes=256, repeats=5):
    """Streaming memory bandwidth of this machine, bytes per second.

    Measured as `z = x + y` into a preallocated `z`, over arrays of `megabytes` MiB
    each (12 bytes moved per float32 element: two reads, one write), best of `repeats`:

    - "numpy_add": numpy, one CPU thread;
    - "numpy_add_threads": numpy on os.cpu_count() threads, one slice each (ufuncs
      release the GIL): the CPU's memory bandwidth;
    - "<backend>_add": on an accelerator, the backend on its device memory.

    Returns:
        dict of those entries and "best" (the largest) in bytes/s.
    """
    n = megabytes * (1 << 20) // 4
    x = np.ones(n, dtype=np.float32)
    y = np.ones(n, dtype=np.float32)
    z = np.zeros_like(x)  # touched: no page faults in the timed calls
    result = {"numpy_add": _best_rate(lambda: np.add(x, y, out=z), 12 * n, repeats)}
    threads = os.cpu_count() or 1
    if threads > 1:
        from concurrent.futures import ThreadPoolExecutor

        bounds = np.linspace(0, n, threads + 1).astype(int)
        slices = [slice(lo, hi) for lo, hi in zip(bounds[:-1], bounds[1:])]
        with ThreadPoolExecutor(threads) as pool:
            run = lambda: list(pool.map(lambda s: np.add(x[s], y[s], out=z[s]), slices))
            run()
            result["numpy_add_threads"] = _best_rate(run, 12 * n, repeats)
    if on_accelerator():
        try:
            result[f"{backend()}_add"] = _device_add_bandwidth(x, y, repeats)
        except Exception:  # noqa: BLE001 - the host numbers stand alone
            pass
    result["best"] = max(result.values())
    return result


def _best_rate(fn, nbytes, repeats):
    best = 0.0
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = max(best, nbytes / (time.perf_counter() - start))
    return best


def _device_add_bandwidth(x, y, repeats):
    """z = x + y on the accelerator, reusing the output buffer where the backend can."""
    name = backend()
    xd, yd = to_device(x), to_device(y)
    if name == "torch":
        import torch

        zd = torch.empty_like(xd)
        step = lambda: torch.add(xd, yd, out=zd)
    elif name == "jax":
        import jax

        add = jax.jit(lambda a, b: a + b, donate_argnums=0)
        state = {"z": add(xd + 0, yd)}
        step = lambda: state.__setitem__("z", add(state["z"], yd)) or state["z"]
    else:
        add = compile_fn(lambda a, b: a + b, "xla")
        step = lambda: add(xd, yd)
    for _ in range(2):
        sync(step())

    def timed():
        sync(step())

    return _best_rate(timed, 12 * x.size, repeats)


def floor_seconds(bytes_moved, bandwidth):
    """The physical lower bound of a memory-bound op: bytes / (bytes per second)."""
    return bytes_moved / bandwidth


# --------------------------------------------------------------------------------------
# Reports


def markdown_table(headers, rows):
    """A GitHub markdown table from a header list and rows of cells (str/number)."""
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    for row in rows:
        lines.append("| " + " | ".join(str(cell) for cell in row) + " |")
    return "\n".join(lines)


def fmt(x, digits=3):
    """A number with `digits` significant digits, or '—' for None."""
    if x is None:
        return "—"
    if isinstance(x, str):
        return x
    return f"{x:.{digits}g}"


# --------------------------------------------------------------------------------------
# Interleaved timing, process memory and machine load


def interleaved_medians(
    calls, *, repeats=5, budget_seconds=None, min_seconds=0.0, max_repeats=200, warm_each=False
):
    """Median wall time of several calls timed in turns (A B C A B C ...), in seconds.

    Interleaving spreads the noise of a shared machine evenly over the candidates. Each
    call is timed at least `repeats` times, and more (up to `max_repeats`) until its
    timed calls add up to `min_seconds`: short calls get many samples, so that a
    median is not decided by a few preemptions. A call whose first timed run exceeds
    `budget_seconds` is timed only once.

    Args:
        calls: dict name -> (fn, args); every fn is already compiled and warmed up.
        repeats: minimum number of timed calls of each.
        budget_seconds: optional per-call limit (see above).
        min_seconds: keep timing a call until its timed calls add up to this.
        max_repeats: at most this many timed calls of each.
        warm_each: precede every timed call by an untimed call of the same fn. The
            first call after another fn pays for the memory that fn left (a path with
            a large tape leaves the allocator and caches cold): measured up to 1.5-2x
            on an identical program.

    Returns:
        dict name -> (median_seconds, number_of_calls_timed, fastest_seconds).
    """
    times = {name: [] for name in calls}

    def done(t):
        if t and budget_seconds is not None and t[0] > budget_seconds:
            return True
        return len(t) >= max_repeats or (len(t) >= repeats and sum(t) >= min_seconds)

    while not all(done(t) for t in times.values()):
        for name, (fn, args) in calls.items():
            if done(times[name]):
                continue
            if warm_each:
                sync(fn(*args))
            start = time.perf_counter()
            sync(fn(*args))
            times[name].append(time.perf_counter() - start)
    return {name: (statistics.median(t), len(t), min(t)) for name, t in times.items()}


def _proc_status_kib(field, pid="self"):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:  # no /proc, or the process has exited
        pass
    return None


def rss_bytes(pid="self"):
    """Current resident set size (VmRSS) of a process, in bytes (Linux)."""
    kib = _proc_status_kib("VmRSS", pid)
    return None if kib is None else kib * 1024


def peak_rss_bytes():
    """Peak resident set size (VmHWM) of this process since start or the last
    `reset_peak_rss`, in bytes (Linux)."""
    kib = _proc_status_kib("VmHWM")
    return None if kib is None else kib * 1024


def reset_peak_rss():
    """Reset this process's peak RSS to its current RSS (Linux >= 4.0).

    Returns:
        True if the kernel accepted the reset.
    """
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def ru_maxrss_bytes(who="self"):
    """resource.getrusage(...).ru_maxrss in bytes: "self" or "children" (waited-for)."""
    import resource

    which = resource.RUSAGE_SELF if who == "self" else resource.RUSAGE_CHILDREN
    return resource.getrusage(which).ru_maxrss * 1024


def load_average():
    """'1.2, 0.9, 0.7': the 1, 5 and 15 minute load averages, with the core count."""
    try:
        one, five, fifteen = os.getloadavg()
    except OSError:
        return "unknown"
    return f"{one:.1f}, {five:.1f}, {fifteen:.1f} on {os.cpu_count()} cores"


def run_child(cmd, *, env=None, kill_above_bytes=None, timeout=None, poll_seconds=0.05):
    """Run `cmd` in a subprocess, watching its memory; return what it printed and used.

    The child is killed when its RSS exceeds `kill_above_bytes` (a guard for shared
    machines) or after `timeout` seconds.

    Note: on Linux a child started from a large parent inherits the parent's peak RSS
    in its ru_maxrss (vfork + exec keeps the maximum); start children from a small
    process when ru_maxrss matters, or read VmHWM (`peak_rss_bytes`) in the child.

    Returns:
        dict: returncode, stdout, stderr (str), ru_maxrss (bytes, from wait4),
        max_rss_seen (bytes, polled), killed (None, "memory" or "timeout"), seconds.
    """
    import subprocess
    import tempfile

    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=err)
        killed, seen, status, usage = None, 0, None, None
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            rss = rss_bytes(proc.pid) or 0
            seen = max(seen, rss)
            if killed is None and kill_above_bytes is not None and rss > kill_above_bytes:
                killed = "memory"
                proc.kill()
            elif killed is None and timeout is not None and time.perf_counter() - start > timeout:
                killed = "timeout"
                proc.kill()
            time.sleep(poll_seconds)
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return {
            "returncode": proc.returncode,
            "stdout": out.read(),
            "stderr": err.read(),
            "ru_maxrss": usage.ru_maxrss * 1024,
            "max_rss_seen": seen,
            "killed": killed,
            "seconds": time.perf_counter() - start,
        }


def limit_threads(count):
    """Make the current backend compute on `count` CPU threads; call before any op runs.

    On a machine shared with other jobs, torch's OpenMP thread pool waits at every
    barrier for a preempted thread (small ops measured 17x slower with 2 threads than
    with 1 under a load of 9 on 2 cores); one thread gives stable numbers there.

    Returns:
        A short description for reports, e.g. "torch.set_num_threads(1)".
    """
    name = backend()
    if name == "torch":
        import torch

        torch.set_num_threads(count)
        return f"torch.set_num_threads({count})"
    if name == "tensorflow":
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(count)
        tf.config.threading.set_inter_op_parallelism_threads(count)
        return f"tf.config.threading intra/inter-op threads {count}"
    if name == "jax":
        # Read when jax creates its CPU client (the first computation).
        flags = os.environ.get("XLA_FLAGS", "")
        os.environ["XLA_FLAGS"] = (
            flags + f" --xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads={count}"
        ).strip()
        return f"XLA_FLAGS intra_op_parallelism_threads={count}"
    return "default"
