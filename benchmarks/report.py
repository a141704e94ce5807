"""The benchmark's output: Markdown tables, the environment header, and the PNG plot.

Ratios use the minimum over repeats (the least disturbed sample); the
median and the spread ((max - min) / median) say how steady the machine was.
"""

from __future__ import annotations

import datetime
import os
import platform
import subprocess
from importlib import metadata

from systems import LABELS

LIBRARIES = ["numpy", "jax", "jaxlib", "torch", "autograd", "tangent-ad", "sympy", "matplotlib"]


def fmt_time(seconds) -> str:
    if seconds is None:
        return "—"
    if seconds < 0:
        return "-" + fmt_time(-seconds)
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("us", 1e-6)):
        if seconds >= scale:
            return f"{seconds / scale:.3g} {unit}"
    return f"{seconds * 1e9:.3g} ns"


def _ratio(a, b) -> str:
    return f"{a / b:.2f}" if a is not None and b else "—"


def environment(root: str, mode: str, note: str, loads: list) -> list:
    versions = []
    for name in LIBRARIES:
        try:
            versions.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            versions.append(f"{name} not installed")
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True,
                                text=True).stdout.strip()
    except OSError:
        commit = "?"
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), cpu)
    except OSError:
        pass
    lines = [
        f"- date: {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC; mode: {mode}",
        f"- machine: {os.cpu_count()} cores ({cpu}), Python {platform.python_version()}, diffc at {commit}",
        f"- load average (1 min) at start and end: {', '.join(f'{x:.1f}' for x in loads)}",
        "- libraries: " + ", ".join(versions),
    ]
    blas = {k: os.environ[k] for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE") if k in os.environ}
    if blas:
        lines.append("- set in the environment: " + ", ".join(f"{k}={v}" for k, v in blas.items()))
    if note:
        lines.append(f"- note: {note}")
    return lines


def case_table(results: list) -> list:
    out = ["| case | system | min | median | spread | x hand | grad/fwd | first call | peak MB | note |",
           "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |"]
    for result in results:
        rows = result["rows"]
        hand = rows.get("hand", {}).get("min_s")
        forward = rows.get("forward", {}).get("min_s")
        first = True
        for name, row in rows.items():
            label = result["label"] if first else ""
            first = False
            if "min_s" not in row:
                out.append(f"| {label} | {LABELS.get(name, name)} | — | — | — | — | — | — | — | {row['status']} |")
                continue
            spread = (row["max_s"] - row["min_s"]) / row["median_s"] if row["median_s"] else 0.0
            peak = row.get("peak_bytes")
            peak = "—" if result["scalar"] else ("n/a" if peak is None else f"{peak / 2**20:.1f}")
            notes = []
            if row.get("build_s") is not None:
                notes.append(f"build {fmt_time(row['build_s'])}")
            notes.append(f"{row['samples']} x {row['calls_per_sample']} calls")
            out.append(f"| {label} | {LABELS.get(name, name)} | {fmt_time(row['min_s'])} | {fmt_time(row['median_s'])}"
                       f" | {spread:.0%} | {_ratio(row['min_s'], hand)} | {_ratio(row['min_s'], forward)}"
                       f" | {fmt_time(row.get('first_call_s'))} | {peak} | {'; '.join(notes)} |")
    return out


def sizes_table(sizes: dict) -> list:
    tools = sorted({tool for tool, _ in sizes})
    counts = sorted({n for _, n in sizes})
    head = "| operations | " + " | ".join(f"{t} compile | {t} lines | {t} KB" for t in tools) + " |"
    out = [head, "| ---: |" + " ---: | ---: | ---: |" * len(tools)]
    for n in counts:
        cells = []
        for tool in tools:
            r = sizes.get((tool, n))
            if r is None:
                cells += ["—", "—", "—"]
            elif "error" in r:
                cells += [r["error"], "—", "—"]
            else:
                cells += [fmt_time(r["compile_s"]), str(r["lines"]), f"{r['bytes'] / 1024:.1f}"]
        out.append(f"| {n} | " + " | ".join(cells) + " |")
    return out


def plot(results: list, path: str) -> str:
    """A bar chart of each system's time relative to hand-written, per case (log scale)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return "no plot: matplotlib not installed"
    systems = [s for s in LABELS if s != "forward" and any("min_s" in r["rows"].get(s, {}) for r in results)]
    cases = [r for r in results if r["rows"].get("hand", {}).get("min_s")]
    if not cases or not systems:
        return "no plot: nothing timed against hand-written"
    fig, ax = plt.subplots(figsize=(11, 0.9 + 0.55 * len(cases) * max(1, len(systems)) / 3))
    height = 0.8 / len(systems)
    for i, system in enumerate(systems):
        ys, xs = [], []
        for j, r in enumerate(cases):
            row = r["rows"].get(system, {})
            if row.get("min_s"):
                ys.append(j + i * height)
                xs.append(row["min_s"] / r["rows"]["hand"]["min_s"])
        ax.barh(ys, xs, height=height, label=LABELS[system])
    ax.set_yticks([j + 0.4 - height / 2 for j in range(len(cases))], [r["label"] for r in cases])
    ax.invert_yaxis()
    ax.set_xscale("log")
    ax.axvline(1.0, color="black", linewidth=0.8)
    ax.set_xlabel("time per gradient / hand-written NumPy (min of repeats; log scale; lower is faster)")
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return f"plot: {path}"


LEGEND = ("min, median: time per gradient call (each sample a loop of calls, the empty loop subtracted; the clock "
          "is the one named under mode above); spread: "
          "(max - min) / median over the samples; x hand: min / hand-written's min; grad/fwd: min / the plain "
          "NumPy forward's min; first call: wall time from building to the first result (source-to-source compilation, "
          "tracing or jit compilation included; library import excluded); peak MB: tracemalloc's peak during "
          "one call, seen only for NumPy-based systems (n/a for JAX and PyTorch, whose memory it does not see). "
          "Every timed system's gradient matched the hand-written one to 1e-8 relative (norm of each component).")


def _min(results, case, system):
    for r in results:
        if r["case"] == case:
            return r["rows"].get(system, {}).get("min_s")
    return None


def _worst(results, system, cases=None):
    ratios = [(_min(results, r["case"], system) / _min(results, r["case"], "hand"), r["label"]) for r in results
              if (cases is None or cases(r)) and _min(results, r["case"], system) and _min(results, r["case"], "hand")]
    return max(ratios) if ratios else None


def targets(results: list, sizes: dict) -> list:
    out = []
    for system, bound, which, cases in (("diffc-gen", 1.05, "every case", None),
                                        ("diffc", 1.10, "every array case", lambda r: not r["scalar"])):
        worst = _worst(results, system, cases)
        if worst:
            out.append(f"- {report_label(system)} / hand-written, worst over {which}: {worst[0]:.2f} "
                       f"({worst[1]}; target <= {bound:.2f})")
    for r in results:
        gen, deco = _min(results, r["case"], "diffc-gen"), _min(results, r["case"], "diffc")
        if gen and deco and r["case"] in ("lecture", "neuron", "chain100", "net_small"):
            out.append(f"- decorator's added cost per call, {r['label']}: {fmt_time(deco - gen)} "
                       f"(target <= {'1 us' if r['case'] == 'net_small' else '0.3 us'})")
    for peer in ("jax-jit", "tangent"):
        pairs = [(r["label"], _min(results, r["case"], "diffc-gen"), _min(results, r["case"], peer)) for r in results]
        pairs = [(label, a, b) for label, a, b in pairs if a and b]
        if pairs:
            slower = [f"{label} ({a / b:.2f}x)" for label, a, b in pairs if a >= b]
            out.append(f"- diffc generated faster than {report_label(peer)}: {len(pairs) - len(slower)} of "
                       f"{len(pairs)} cases" + (f"; not on {', '.join(slower)}" if slower else ""))
    ratios = {}
    for case in ("softmax_loop_500", "softmax_loop_8000"):
        gen, fwd = _min(results, case, "diffc-gen"), _min(results, case, "forward")
        if gen and fwd:
            ratios[case] = gen / fwd
    if ratios:
        out.append("- naive softmax, diffc generated gradient/forward: "
                   + ", ".join(f"{k.split('_')[-1]}: {v:.2f}" for k, v in ratios.items()) + " (target: the same)")
    for r in results:
        if r["case"] == "net_large":
            hand = r["rows"].get("hand", {}).get("peak_bytes")
            for system in ("diffc-gen", "diffc"):
                mine = r["rows"].get(system, {}).get("peak_bytes")
                if hand and mine:
                    out.append(f"- peak memory of the large net's gradient, {report_label(system)} / hand-written: "
                               f"{mine / hand:.2f} ({mine / 2**20:.0f} MB / {hand / 2**20:.0f} MB; target <= 1.10)")
    timed = sorted(n for (tool, n), r in sizes.items() if tool == "diffc" and "compile_s" in r)
    timed = [n for n in timed if n >= 100] if len([n for n in timed if n >= 100]) >= 2 else timed  # past fixed costs
    if len(timed) >= 2:
        first, last = sizes[("diffc", timed[0])], sizes[("diffc", timed[-1])]
        growth = (last["compile_s"] / timed[-1]) / (first["compile_s"] / timed[0])
        out.append(f"- diffc compile time per operation, {timed[-1]} ops / {timed[0]} ops: {growth:.2f} "
                   "(target: linear, about 1)")
    return out or ["- (no figure: run with diffc-gen, diffc and hand)"]


def report_label(system: str) -> str:
    return LABELS.get(system, system)
