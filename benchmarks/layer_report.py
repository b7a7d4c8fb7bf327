"""The layer benchmark's report: the markdown tables (kept across runs) and the plot."""

import datetime
import json
import os

import keras_ssm
from benchmarks import _timing as T
from benchmarks.layer_calls import DIRECTIONS
from benchmarks.layer_calls import MIB
from benchmarks.layer_calls import MODES
from benchmarks.layer_calls import SECTIONS


class Report:
    """Everything measured, rewritten to markdown after every row."""

    ROWS = {"sweep": "sweep", "auto": "grid", "s5": "s5"}  # section -> attribute

    def __init__(self, args, path_md):
        self.args = args
        self.path_md = path_md
        self.path_json = os.path.splitext(path_md)[0] + ".json"
        self.sweep = []  # dicts
        self.grid = []
        self.s5 = []
        self.notes = {"sweep": [], "auto": [], "s5": []}
        self.loads = {}  # section -> [start, end]
        self.implementations = {}  # section -> str
        self.config = {}  # section -> sizes, repeats, date, versions

    def start(self, section, **sizes):
        """Record the settings of a section that starts now (its rows are replaced)."""
        a = self.args
        self.config[section] = dict(
            sizes,
            repeats=a.s5_repeats if section == "s5" else a.repeats,
            min_seconds=a.min_seconds,
            threads=a.threads_text,
            warmup=a.warmup,
            date=datetime.date.today().isoformat(),
            versions=T.library_versions(),
        )
        setattr(self, self.ROWS[section], [])
        self.notes[section] = []
        self.loads[section] = [T.load_average()]
        self.implementations.pop(section, None)
        self.write()

    def keep_previous(self, sections_run):
        """Keep the sections of an earlier run (the .json next to the report) that this
        run does not redo, so that sections can be rerun one at a time."""
        if not os.path.exists(self.path_json):
            return
        with open(self.path_json) as f:
            old = json.load(f)
        for section in SECTIONS:
            if section in sections_run or section not in old.get("config", {}):
                continue
            setattr(self, self.ROWS[section], old["rows"][section])
            for key in ("notes", "loads", "implementations", "config"):
                if section in old.get(key, {}):
                    getattr(self, key)[section] = old[key][section]

    def note(self, section, text):
        if text not in self.notes[section]:
            self.notes[section].append(text)
        self.write()

    def write(self):
        lines = [
            f"# Layers benchmark: {T.backend()} on {T.device_description()}",
            "",
            f"- keras-ssm {keras_ssm.__version__}; the date, library versions and number of "
            "timed calls of each section are given in the section.",
            "- Medians of calls timed in turns (candidates interleaved) after warm-up; "
            "compilation excluded. jax: jax.jit; tensorflow: "
            "tf.function(jit_compile=True) (`graph` = plain tf.function, XLA failed); torch: "
            "eager, forward under torch.no_grad().",
            "- forward+backward = gradients of sum(y·g) w.r.t. every trainable weight and the "
            "input. `ns/elem` = time / (B·L·H) in nanoseconds (flat in L is ideal).",
            "- Load average (1, 5, 15 min) is given per section: this machine was shared, "
            "so absolute times are noisy; ratios between interleaved candidates are the "
            "reliable part.",
            "",
        ]
        if self.sweep or "sweep" in self.loads:
            lines += self._sweep_lines()
        if self.grid or "auto" in self.loads:
            lines += self._grid_lines()
        if self.s5 or "s5" in self.loads:
            lines += self._s5_lines()
        with open(self.path_md, "w") as f:
            f.write("\n".join(lines) + "\n")
        with open(self.path_json, "w") as f:
            json.dump(
                {
                    "config": self.config,
                    "rows": {s: getattr(self, a) for s, a in self.ROWS.items()},
                    "notes": self.notes,
                    "loads": self.loads,
                    "implementations": self.implementations,
                },
                f,
                indent=1,
            )

    def _config_line(self, section):
        c = self.config.get(section)
        if not c:
            return []
        return [
            f"- Run {c['date']} ({c['versions']}); median of at least {c['repeats']} timed "
            f"calls of each candidate, more until they add up to {c.get('min_seconds', 0):g} s "
            f"(at most 200), after {c['warmup']} warm-up call(s); CPU threads: "
            f"{c.get('threads', 'backend default')}."
        ]

    def _load_line(self, section):
        loads = self.loads.get(section, [])
        if not loads:
            return []
        text = f"- Load average at start: {loads[0]}"
        if len(loads) > 1:
            text += f"; at end: {loads[-1]}"
        return [text + "."]

    def _section_notes(self, section):
        return [f"- {t}" for t in self.notes[section]]

    def _sweep_lines(self):
        c = self.config.get("sweep", {})
        lines = (
            [
                "## DSS and DLR: time per element and peak memory",
                "",
            ]
            + self._config_line("sweep")
            + [
                f"- B = {c.get('B')}, H = {c.get('H')}, N = {c.get('N')}, DSS variant 'exp'; "
                f"implementations: {self.implementations.get('sweep', '—')}.",
                "- `peak MiB`: peak RSS during one warm call minus the RSS before the first call "
                "(layer and inputs already in memory), in a fresh subprocess per point "
                "(/proc/self/status VmHWM after resetting it through /proc/self/clear_refs).",
                "- `conv vs rec`: max |y_conv − y_rec| / max |y_conv| of the forward outputs.",
            ]
            + self._load_line("sweep")
            + [""]
        )
        headers = [
            "layer",
            "mode",
            "L",
            "compiled",
            "fwd ms",
            "fwd ns/elem",
            "fwd+bwd ms",
            "fwd+bwd ns/elem",
            "fwd peak MiB",
            "fwd+bwd peak MiB",
            "conv vs rec",
            "load 1 min",
        ]
        rows = []
        for r in sorted(self.sweep, key=lambda r: (r["layer"], r["mode"], r["L"])):
            rows.append(
                [
                    r["layer"],
                    r["mode"],
                    r["L"],
                    r.get("compiled", "—"),
                    r.get("fwd_note") or T.fmt(_ms(r.get("fwd"))),
                    T.fmt(_per_element(r, "fwd")),
                    r.get("fwdbwd_note") or T.fmt(_ms(r.get("fwdbwd"))),
                    T.fmt(_per_element(r, "fwdbwd")),
                    T.fmt(_mib(r.get("mem_fwd"))),
                    T.fmt(_mib(r.get("mem_fwdbwd"))),
                    r.get("agree", "—"),
                    r.get("load", "—"),
                ]
            )
        lines += [T.markdown_table(headers, rows), ""] + self._section_notes("sweep") + [""]
        return lines

    def _grid_lines(self):
        lines = (
            [
                "## mode='auto' for DSS and DLR: convolution vs recurrence",
                "",
                "- `rec / conv` = time of mode='recurrence' / time of mode='convolution' "
                "(below 1: the recurrence is faster). Both timed in turns in this process.",
                f"- Implementations: {self.implementations.get('auto', '—')}.",
            ]
            + self._config_line("auto")
            + self._load_line("auto")
            + [""]
        )
        headers = [
            "layer",
            "B",
            "L",
            "H",
            "N",
            "conv fwd ms",
            "rec fwd ms",
            "rec / conv fwd",
            "conv fwd+bwd ms",
            "rec fwd+bwd ms",
            "rec / conv fwd+bwd",
            "faster (fwd+bwd)",
        ]
        rows = []
        for r in sorted(self.grid, key=lambda r: (r["layer"], r["B"], r["L"], r["H"], r["N"])):
            ratio = {
                d: _ratio(r.get(f"recurrence_{d}"), r.get(f"convolution_{d}")) for d in DIRECTIONS
            }
            faster = "—"
            if ratio["fwdbwd"] is not None:
                faster = "recurrence" if ratio["fwdbwd"] < 1 else "convolution"
            elif r.get("rec_note"):
                faster = "convolution"
            rows.append(
                [
                    r["layer"],
                    r["B"],
                    r["L"],
                    r["H"],
                    r["N"],
                    T.fmt(_ms(r.get("convolution_fwd"))),
                    r.get("rec_note") or T.fmt(_ms(r.get("recurrence_fwd"))),
                    T.fmt(ratio["fwd"]),
                    T.fmt(_ms(r.get("convolution_fwdbwd"))),
                    r.get("rec_note") or T.fmt(_ms(r.get("recurrence_fwdbwd"))),
                    T.fmt(ratio["fwdbwd"]),
                    faster,
                ]
            )
        lines += [T.markdown_table(headers, rows), ""] + self._section_notes("auto") + [""]
        return lines

    def _s5_lines(self):
        c = self.config.get("s5", {})
        lines = (
            [
                "## S5 against a peer implementation",
                "",
            ]
            + self._config_line("s5")
            + [
                f"- B = {c.get('B')}, L = {c.get('L')}, H = {c.get('H')}, P = {c.get('P')} "
                "complex states propagated, float32 inputs (complex64 inside), zero-order hold, "
                "unidirectional; both sides hold the same weights and their outputs are compared "
                "(`vs ours`).",
                "- ours: keras_ssm.layers.S5(state_size=2P, blocks=1, conj_sym=True) (P stored "
                "states, y = 2 Re(C̃x) + Du). torch peer: s5-pytorch's S5(H, state_width=P) "
                "(P states, no conjugate symmetry, C̃ scaled by 2 to give the same outputs), "
                "eager like ours. jax peer: `s5_peer.s5_peer_jax`, the paper's equations "
                "(ZOH, B̄u, jax.lax.associative_scan with (a_i, b_i)•(a_j, b_j) = "
                "(a_j a_i, a_j b_i + b_j) over complex64, y = 2 Re(C̃x) + Du, vmapped over the "
                "batch) under jax.jit, ours via layer.stateless_call under jax.jit.",
                f"- Our implementations: {self.implementations.get('s5', '—')}.",
            ]
            + self._load_line("s5")
            + [""]
        )
        headers = [
            "path",
            "compiled",
            "fwd ms",
            "fwd+bwd ms",
            "ours / peer fwd",
            "ours / peer fwd+bwd",
            "vs ours",
        ]
        rows = []
        ours = next((r for r in self.s5 if r["path"].startswith("ours")), None)
        for r in self.s5:
            is_peer = not r["path"].startswith("ours")
            rows.append(
                [
                    r["path"],
                    r.get("compiled", "—"),
                    r.get("fwd_note") or T.fmt(_ms(r.get("fwd"))),
                    r.get("fwdbwd_note") or T.fmt(_ms(r.get("fwdbwd"))),
                    T.fmt(_ratio(ours.get("fwd"), r.get("fwd"))) if (is_peer and ours) else "—",
                    T.fmt(_ratio(ours.get("fwdbwd"), r.get("fwdbwd")))
                    if (is_peer and ours)
                    else "—",
                    r.get("agree", "—"),
                ]
            )
        lines += [T.markdown_table(headers, rows), ""] + self._section_notes("s5") + [""]
        return lines


def _ms(seconds):
    return None if seconds is None else seconds * 1e3


def _mib(nbytes):
    return None if nbytes is None else nbytes / MIB


def _ratio(x, y):
    return None if (x is None or not y) else x / y


def _per_element(row, key):
    t = row.get(key)
    if t is None:
        return None
    return t * 1e9 / (row["B"] * row["L"] * row["H"])


def plot(report, path_png):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = report.sweep
    fig, axes = plt.subplots(1, 3, figsize=(17, 4.8))
    panels = (
        ("fwd", "forward, ns per element"),
        ("fwdbwd", "forward+backward, ns per element"),
        ("mem_fwdbwd", "forward+backward, peak MiB"),
    )
    for ax, (key, title) in zip(axes, panels):
        for kind in dict.fromkeys(r["layer"] for r in rows):
            for mode in MODES:
                pts = []
                for r in sorted(rows, key=lambda r: r["L"]):
                    if r["layer"] != kind or r["mode"] != mode:
                        continue
                    value = _mib(r.get(key)) if key.startswith("mem") else _per_element(r, key)
                    if value:
                        pts.append((r["L"], value))
                if pts:
                    xs, ys = zip(*pts)
                    ax.plot(
                        xs,
                        ys,
                        "-" if mode == "convolution" else "--",
                        marker="o",
                        label=f"{kind} {mode}",
                    )
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("sequence length L")
        ax.set_title(title)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    c = report.config.get("sweep", {})
    fig.suptitle(
        f"keras-ssm DSS / DLR, {T.backend()} on {T.device_description()} "
        f"(B={c.get('B')}, H={c.get('H')}, N={c.get('N')}; load {report.loads['sweep'][0]})"
    )
    fig.tight_layout()
    fig.savefig(path_png, dpi=110)
    plt.close(fig)
