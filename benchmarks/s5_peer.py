"""Section 3 of the layer benchmark: S5 against a peer implementation, same weights
(s5-pytorch on torch; a jax.lax.associative_scan S5 written from the paper on jax)."""

import numpy as np
from keras import ops

import keras_ssm
from benchmarks import _timing as T
from benchmarks.layer_calls import DIRECTION_NAMES
from benchmarks.layer_calls import DIRECTIONS
from benchmarks.layer_calls import fmt_rel
from benchmarks.layer_calls import layer_functions
from benchmarks.layer_calls import prepare
from benchmarks.layer_calls import random_inputs
from benchmarks.layer_calls import recurrence_implementation
from benchmarks.layer_calls import rel_diff


def s5_weights_numpy(layer):
    """Our S5's weights as numpy: lambda_re, lambda_im (P,), b (P, H, 2), c (H, P, 2), d (H,),
    log_step (P,)."""
    names = ("lambda_re", "lambda_im", "b", "c", "d", "log_step")
    return {k: np.asarray(ops.convert_to_numpy(getattr(layer, k).value)) for k in names}


def s5_peer_jax():
    """The jax peer: S5 from the paper's equations, batch by vmap. Returns apply(params, u)."""
    import jax
    import jax.numpy as jnp

    def binary_operator(earlier, later):
        a_i, b_i = earlier
        a_j, b_j = later
        return a_j * a_i, a_j * b_i + b_j

    def apply_one(params, u):  # u: (L, H) real
        lam = params["lambda_re"] + 1j * params["lambda_im"]  # (P,)
        b_tilde = params["b"][..., 0] + 1j * params["b"][..., 1]  # (P, H)
        c_tilde = params["c"][..., 0] + 1j * params["c"][..., 1]  # (H, P)
        delta = jnp.exp(params["log_step"])  # (P,)
        lam_bar = jnp.exp(lam * delta)  # ZOH
        b_bar = ((lam_bar - 1.0) / lam)[:, None] * b_tilde
        bu = jax.vmap(lambda u_k: b_bar @ u_k.astype(jnp.complex64))(u)  # (L, P)
        elements = (jnp.broadcast_to(lam_bar, bu.shape), bu)
        _, xs = jax.lax.associative_scan(binary_operator, elements)
        y = jax.vmap(lambda x_k: 2.0 * (c_tilde @ x_k).real)(xs)
        return y + params["d"] * u

    def apply(params, u):
        return jax.vmap(lambda seq: apply_one(params, seq))(u)

    return apply


def s5_peer_functions(weights, x, g):
    """(peer name, (fwd, args), (fwdbwd, args)) for the current backend, or None."""
    name = T.backend()
    if name == "jax":
        import jax
        import jax.numpy as jnp

        apply = s5_peer_jax()
        params = {k: jnp.asarray(v) for k, v in weights.items()}

        def loss(params, x, g):
            return jnp.sum(apply(params, x) * g)

        return (
            "jax.lax.associative_scan S5 (this file)",
            (apply, (params, x)),
            (jax.grad(loss, argnums=(0, 1)), (params, x, g)),
        )
    if name == "torch":
        import torch

        try:
            from s5 import S5 as PeerS5
        except ImportError:
            return None
        h, p = weights["c"].shape[:2]
        peer = PeerS5(h, state_width=p)
        seq = peer.seq
        with torch.no_grad():
            seq.Lambda.copy_(
                torch.complex(
                    torch.from_numpy(weights["lambda_re"]), torch.from_numpy(weights["lambda_im"])
                )
            )
            seq.B.copy_(torch.from_numpy(weights["b"]))
            # Ours keeps one state per conjugate pair and reads out 2 Re(C̃x); the peer
            # reads out Re(C̃x): the same outputs with C̃ doubled.
            seq.C.copy_(
                2.0
                * torch.complex(
                    torch.from_numpy(weights["c"][..., 0]), torch.from_numpy(weights["c"][..., 1])
                )
            )
            seq.D.copy_(torch.from_numpy(weights["d"]))
            seq.log_step.copy_(torch.from_numpy(weights["log_step"]).reshape(seq.log_step.shape))
        params = list(peer.parameters())

        def fwd(x):
            with torch.no_grad():
                return peer(x)

        def fwdbwd(x, g):
            x = x.detach().requires_grad_(True)
            return torch.autograd.grad((peer(x) * g).sum(), params + [x])

        import importlib.metadata

        version = importlib.metadata.version("s5-pytorch")
        return (f"s5-pytorch {version} S5", (fwd, (x,)), (fwdbwd, (x, g)))
    return None


def run_s5(args, report, rng):
    b, length, h, p = args.s5_batch, args.s5_length, args.s5_features, args.s5_states
    report.start("s5", B=b, L=length, H=h, P=p)
    print(f"[s5] B={b} L={length} H={h} P={p} (load {T.load_average()})", flush=True)
    x, g = random_inputs(rng, (b, length, h))
    layer = keras_ssm.layers.S5(state_size=2 * p, blocks=1, conj_sym=True, seed=args.seed)
    layer.build((b, length, h))
    impl = recurrence_implementation(b, length, (p,))
    report.implementations["s5"] = f"linear_recurrence `{impl}`"
    ours_name = f"ours: keras_ssm S5 (`{impl}` scan)"
    calls = {}
    (f, fa), (fb, fba) = layer_functions(layer, x, g)
    calls[(ours_name, "fwd")] = (f, fa)
    calls[(ours_name, "fwdbwd")] = (fb, fba)
    peer = s5_peer_functions(s5_weights_numpy(layer), x, g)
    if peer is None:
        why = (
            "`pip install --no-deps s5-pytorch==0.2.1 einops` (needs scipy) for the torch peer"
            if T.backend() == "torch"
            else f"no peer on the {T.backend()} backend"
        )
        report.note("s5", f"No peer measured: {why}.")
    else:
        peer_name, (pf, pfa), (pb, pba) = peer
        calls[(peer_name, "fwd")] = (pf, pfa)
        calls[(peer_name, "fwdbwd")] = (pb, pba)
    ready, modes = prepare(calls, args, report, "s5", "S5")
    medians = T.interleaved_medians(
        ready, repeats=args.s5_repeats, budget_seconds=None, min_seconds=args.min_seconds
    )
    names = list(dict.fromkeys(k[0] for k in calls))
    reference_out = None
    for name in names:
        row = {"path": name}
        for d in DIRECTIONS:
            if (name, d) in medians:
                row[d], row[d + "_calls"], row[d + "_best"] = medians[(name, d)]
                row["compiled"] = modes[(name, d)]
            else:
                row[d + "_note"] = "failed"
        if (name, "fwd") in ready:
            fn, fargs = ready[(name, "fwd")]
            out = T.sync(fn(*fargs))
            if reference_out is None:
                reference_out = out
                row["agree"] = "—"
            else:
                row["agree"] = fmt_rel(rel_diff(out, reference_out))
        report.s5.append(row)
    for name in names:
        print(
            f"  {name}: "
            + ", ".join(
                f"{DIRECTION_NAMES[d]} {medians[(name, d)][0] * 1e3:.1f} ms"
                for d in DIRECTIONS
                if (name, d) in medians
            ),
            flush=True,
        )
    report.loads["s5"].append(T.load_average())
    report.write()
