"""The bnnc benchmark: compile time and peak memory, simulator throughput against onnxruntime,
and how both grow with model size. Writes its section of ``bench/RESULTS.md``.

    python bench/run.py                 # everything, medians of 3 runs
    python bench/run.py --quick         # 1 run each, batches 1, 16, 64 (a smoke test)
    python bench/run.py --models bireal18_w0.25_128,bireal18 --runs 2   # some models only
    python bench/run.py --profile bireal18   # where one model's compile time goes (no RESULTS.md)

Each compile runs in a fresh process (``bnnc MODEL --no-check --json``: load → passes →
report with the schedule, no golden check) with one BLAS/OpenMP thread, whose peak RSS is its
memory figure; the process's CPU time over the same span as "process s" (after bnnc's imports)
is reported beside the wall times (on a shared machine it is the steadier figure). A model that bnnc refuses gets its one-line error in the
table instead of figures. The throughput run pins one thread for every side
(``OPENBLAS_NUM_THREADS=1`` for numpy, ``intra_op_num_threads=1`` for onnxruntime), compares
with onnxruntime's default session and its unoptimized one, and checks that the simulator's
outputs equal onnxruntime's bit for bit. Every child runs as ``python -P`` in a scratch
directory (the installed or editable bnnc, never the checkout's ``bnnc/`` folder). The load
average before and after the run is recorded, since other work on the machine slows the
wall-clock figures.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from models import binary_weights, write_all  # noqa: E402
from sections import write_section  # noqa: E402

BEGIN, END = "<!-- run: begin -->", "<!-- run: end -->"
"""This benchmark's section of RESULTS.md (the other benchmarks write their own sections)."""

COMPILE_CHILD = r"""
import json, resource, sys, time
from bnnc.cli import main
start, cpu_start = time.perf_counter(), time.process_time()
import io, contextlib
buffer, errors = io.StringIO(), io.StringIO()
with contextlib.redirect_stdout(buffer), contextlib.redirect_stderr(errors):
    code = main([sys.argv[1], "--no-check", "--json", "-o", sys.argv[2]])
wall, cpu = time.perf_counter() - start, time.process_time() - cpu_start
# VmHWM, the high-water mark of this process's own memory: getrusage's ru_maxrss survives
# fork + exec on Linux (exec records the forked copy's high-water mark), so it would report at
# least the parent's RSS, which holds the generated models
with open("/proc/self/status") as status:
    hwm = next((int(line.split()[1]) for line in status if line.startswith("VmHWM:")), None)
peak = hwm if hwm is not None else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
result = {"code": code, "wall_s": wall, "cpu_s": cpu, "peak_rss_mb": peak / 1024}
if code == 0:
    summary = json.loads(buffer.getvalue())
    result.update(timings=summary["timings"], totals=summary["totals"])
else:
    lines = [line for line in errors.getvalue().splitlines() if line.strip()]
    error = lines[-1] if lines else f"exit {code}"
    for prefix in ("bnnc: error: ", sys.argv[1] + ": "):
        error = error[len(prefix):] if error.startswith(prefix) else error
    result["error"] = error
print(json.dumps(result))
"""

# Where one compile's time goes: wall time per pass (the pass manager's own timing, which
# ``bnnc MODEL.onnx --time-passes`` collects but does not print for .onnx inputs) and the
# functions with the most cumulative and own time under cProfile.
PROFILE_CHILD = r"""
import cProfile, io, json, pstats, sys, time
import bnnc, bnnc.api
from bnnc.passes import PassManager
managers = []
original = PassManager.from_pipeline.__func__
def capture(cls, pipeline, **options):
    manager = original(cls, pipeline, **options)
    managers.append(manager)
    return manager
PassManager.from_pipeline = classmethod(capture)
count = int(sys.argv[2])  # 0: pass timings only, no cProfile (whose overhead inflates them)
profile = cProfile.Profile()
if count:
    profile.enable()
compilation = bnnc.compile(sys.argv[1], manager={"time_passes": True})
report = compilation.report
profile.disable()
passes = [(t.name, t.seconds) for t in managers[0].timings]
def top(key):
    if not count:
        return ""
    out = io.StringIO()
    pstats.Stats(profile, stream=out).sort_stats(key).print_stats(count)
    return out.getvalue()
print(json.dumps({"timings": compilation.timings, "passes": passes, "cumulative": top("cumulative"), "tottime": top("tottime")}))
"""

THROUGHPUT_CHILD = r"""
import json, sys, time
import numpy as np
import onnxruntime as ort
import bnnc
from bnnc.api import default_pipeline
from bnnc.backends.simulator import simulate
from bnnc.frontend.reference import reference_session
path, batches, repeats = sys.argv[1], [int(b) for b in sys.argv[2].split(",")], int(sys.argv[3])
compilation = bnnc.compile(path, pipeline=default_pipeline())
function = compilation.module.function("main")
options = ort.SessionOptions()  # what a user runs: every graph optimization, one thread
options.intra_op_num_threads = options.inter_op_num_threads = 1
default = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
import onnx
unoptimized = reference_session(onnx.load(path))  # bnnc's golden reference: no graph optimizations
def per_call(fn):
    # seconds per call: enough calls to fill 0.1 s (the process CPU clock here ticks in ms)
    start, calls = time.perf_counter(), 0
    while calls < 3 or time.perf_counter() - start < 0.1:
        fn(); calls += 1
    return (time.perf_counter() - start) / calls
# steady state: the largest batch once first, which loads the compiled kernels (a run that small
# would not repay loading them does not), so that every batch is timed as a long-running user sees it
warm = compilation.random_inputs(max(batches), seed=1)
simulate(compilation.module, [np.asarray(warm[name]).reshape((max(batches),) + arg.type.shape)
                              for name, arg in zip(compilation.inputs, function.args)])
rows = []
for batch in batches:
    inputs = compilation.random_inputs(batch, seed=0)
    args = [np.asarray(inputs[name]).reshape((batch,) + arg.type.shape) for name, arg in zip(compilation.inputs, function.args)]
    ours, theirs = simulate(compilation.module, args), default.run(None, inputs)
    exact = all(np.array_equal(a.reshape(b.shape), b) for a, b in zip(ours, theirs))
    unoptimized.run(None, inputs)
    runs = {"simulator": lambda: simulate(compilation.module, args), "default": lambda: default.run(None, inputs),
            "unoptimized": lambda: unoptimized.run(None, inputs)}
    best = {k: float("inf") for k in runs}
    for _ in range(repeats):  # interleaved, so that the three share the machine's load
        for k, fn in runs.items():
            best[k] = min(best[k], per_call(fn))
    rows.append({"batch": batch, "simulator_ips": batch / best["simulator"], "onnxruntime_ips": batch / best["default"],
                 "unoptimized_ips": batch / best["unoptimized"], "exact": bool(exact)})
print(json.dumps(rows))
"""

BASE_CHILD = r"""
import json
import bnnc.cli, bnnc.api, onnxruntime  # what a compile imports before it reads the model
with open("/proc/self/status") as status:
    hwm = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
print(json.dumps({"peak_rss_mb": hwm / 1024}))
"""


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import numpy
    import onnxruntime

    return (f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, numpy {numpy.__version__}, "
            f"onnxruntime {onnxruntime.__version__}, {platform.system()} {platform.release()}")


def _child_env(threads: int | None) -> dict[str, str]:
    env = dict(os.environ)
    if threads is not None:
        env.update({"OPENBLAS_NUM_THREADS": str(threads), "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)})
    return env


def _child(argv: list[str], threads: int | None) -> subprocess.CompletedProcess:
    """Run ``python -P argv`` in a scratch directory: neither the script's directory nor the
    working directory goes on ``sys.path``, so the installed (or editable) bnnc is imported
    even from the checkout's root, whose ``bnnc/`` would otherwise shadow it."""
    with tempfile.TemporaryDirectory() as scratch:
        return subprocess.run([sys.executable, "-P", *argv], capture_output=True, text=True, env=_child_env(threads),
                              cwd=scratch, check=False)


def run_child(code: str, *args: str, threads: int | None = None) -> dict | list:
    out = _child(["-c", code, *args], threads)
    if out.returncode != 0:
        raise RuntimeError(f"benchmark child failed: {out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def cli_run(path: Path, runs: int, *options: str) -> dict:
    """A whole ``bnnc MODEL [options]`` run (compile, the 16-input golden check, report, output
    directory), one thread, in a fresh process: its CPU seconds (user + system, from the
    child's rusage: interpreter start and imports included), the least of ``runs``."""
    import resource

    cpu = []
    with tempfile.TemporaryDirectory() as out:
        for _ in range(runs):
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            done = _child(["-m", "bnnc", str(path), *options, "-o", str(Path(out) / "run")], threads=1)
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            if done.returncode != 0:
                raise RuntimeError(f"bnnc {path} failed: {done.stderr[-2000:]}")
            cpu.append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
    return {"cpu_s": min(cpu), "all_cpu_s": cpu}


def compile_row(name: str, path: Path, out_dir: Path, runs: int) -> dict:
    """Median figures of ``runs`` compiles of ``path``, each in a fresh one-thread process (or
    the error, when bnnc refuses the model)."""
    import onnx

    weights = binary_weights(onnx.load(path))
    results = [run_child(COMPILE_CHILD, str(path), str(out_dir), threads=1) for _ in range(runs)]
    failed = [r for r in results if r["code"] != 0]
    if failed:
        return {"model": name, "binary_weights": weights, "runs": len(results), "error": failed[0]["error"]}
    phases = ("load", "passes", "report")  # bnnc's phases (the schedule is built inside report)
    return {
        "model": name, "binary_weights": weights, "runs": len(results),
        "compile_s": statistics.median(sum(r["timings"].get(k, 0.0) for k in phases) for r in results),
        "compile_all_s": [round(sum(r["timings"].get(k, 0.0) for k in phases), 3) for r in results],
        "process_s": statistics.median(r["wall_s"] for r in results),
        "cpu_s": statistics.median(r["cpu_s"] for r in results),
        "peak_rss_mb": max(r["peak_rss_mb"] for r in results),
        "arrays": results[0]["totals"]["arrays"], "output_mb": _size_mb(out_dir),
        "phases": {k: statistics.median(r["timings"].get(k, 0.0) for r in results) for k in phases},
    }


def profile(name: str, top: int = 25) -> dict:
    path = write_all(HERE / "models", [name])[name]
    return run_child(PROFILE_CHILD, str(path), str(top), threads=1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--models", help="comma-separated model names (default: all of models.MODELS and models.VARIANTS)")
    parser.add_argument("--no-throughput", action="store_true", help="skip the simulator throughput runs")
    parser.add_argument("--profile", metavar="MODEL", help="print where MODEL's compile time goes and exit")
    parser.add_argument("--out", type=Path, default=HERE / "RESULTS.md")
    args = parser.parse_args()
    if args.profile:
        result = profile(args.profile)
        print(json.dumps(result["timings"]))
        for name, seconds in result["passes"]:
            print(f"  {seconds:8.3f} s  {name}")
        print(result["cumulative"], result["tottime"], sep="\n")
        return
    runs = 1 if args.quick else args.runs
    batches = (1, 16, 64) if args.quick else (1, 16, 256, 1024)
    names = args.models.split(",") if args.models else None
    load_before = os.getloadavg()
    paths = write_all(HERE / "models", names)

    compile_rows, throughput_rows, pass_rows = [], [], {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, path in paths.items():
            compile_rows.append(compile_row(name, path, Path(tmp) / name, runs))
            print(json.dumps(compile_rows[-1]), flush=True)
        for name in ("resnet18", "bireal18"):
            row = next((r for r in compile_rows if r["model"] == name), None)
            if row is not None and "error" not in row:
                pass_rows[name] = profile(name, 0)["passes"]
        if not args.no_throughput:
            for name in THROUGHPUT_MODELS:
                if name not in paths:
                    continue
                for row in run_child(THROUGHPUT_CHILD, str(paths[name]), ",".join(map(str, batches)), str(max(runs, 5)), threads=1):
                    row["model"] = name
                    throughput_rows.append(row)
                    print(json.dumps(row), flush=True)
    fixed = {}
    if "cnv" in paths:
        fixed["cli"] = cli_run(paths["cnv"], max(runs, 3), "--no-figures")
        fixed["cli_figures"] = cli_run(paths["cnv"], max(runs, 3))
        print(json.dumps(fixed), flush=True)
    fixed["base_mb"] = min(run_child(BASE_CHILD, threads=1)["peak_rss_mb"] for _ in range(2))
    load = (load_before, os.getloadavg())
    write_results(args.out, compile_rows, throughput_rows, pass_rows, load,
                  " ".join([Path(sys.executable).name, "bench/run.py", *sys.argv[1:]]), fixed)


THROUGHPUT_MODELS = ("tfc", "cnv", "cnv_padded")


def _size_mb(directory: Path) -> float:
    return sum(f.stat().st_size for f in directory.iterdir()) / 1e6 if directory.exists() else 0.0


def _fit(rows: list[dict], key: str) -> tuple[float, float, float]:
    """Least-squares ``key ≈ a + b · (binary weights in M)``: (a, b, largest relative residual)."""
    import numpy as np

    x = np.array([r["binary_weights"] / 1e6 for r in rows])
    y = np.array([r[key] for r in rows])
    b, a = np.polyfit(x, y, 1)
    return float(a), float(b), float(np.max(np.abs(y - (a + b * x)) / y))


def write_results(path: Path, compile_rows: list[dict], throughput_rows: list[dict], pass_rows: dict[str, list],
                  load: tuple[tuple[float, ...], tuple[float, ...]], command: str, fixed: dict) -> None:
    ok = [r for r in compile_rows if "error" not in r]
    runs = sorted({r["runs"] for r in compile_rows})
    lines = [
        "# bnnc benchmark results", "",
        f"Command: `{command}` (generated {time.strftime('%Y-%m-%d %H:%M %Z')}).", "",
        f"Machine: {machine()}. Load average (1, 5, 15 min) {', '.join(f'{v:.1f}' for v in load[0])} before the run, "
        f"{', '.join(f'{v:.1f}' for v in load[1])} after it.", "",
        f"## Compile (load → passes → report with schedule, no golden check), median of {'/'.join(map(str, runs))} runs, one thread", "",
        "| model | binary weights | compile s | load s | passes s | report s | process s | CPU s | peak RSS MB | arrays | output MB |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    errors = list(dict.fromkeys(r["error"] for r in compile_rows if "error" in r))
    for r in compile_rows:
        if "error" in r:
            lines.append(f"| {r['model']} | {r['binary_weights'] / 1e6:.2f} M | not compiled (error {errors.index(r['error']) + 1} below) |||||||||")
            continue
        p = r["phases"]
        lines.append(f"| {r['model']} | {r['binary_weights'] / 1e6:.2f} M | {r['compile_s']:.2f} | {p['load']:.2f} | {p['passes']:.2f} | "
                     f"{p['report']:.2f} | {r['process_s']:.2f} | {r['cpu_s']:.2f} | {r['peak_rss_mb']:.0f} | "
                     f"{r['arrays']} | {r['output_mb']:.1f} |")
    lines += [""] + [f"Error {i + 1} (bnnc exits 2): `{e}`" for i, e in enumerate(errors)]
    lines += ["", "Every run's compile s: " + "; ".join(f"{r['model']} {', '.join(f'{v:.2f}' for v in r['compile_all_s'])}" for r in ok), ""]
    lines += ["Cost per million binary weights (growth): " + ", ".join(
        f"{r['model']} {r['compile_s'] / max(r['binary_weights'] / 1e6, 1e-9):.2f} s/M" for r in ok), ""]
    family = sorted((r for r in ok if r["model"] in ("bireal18_w0.25", "bireal18_w0.5", "bireal18_w0.75", "bireal18", "bireal18_w1.5", "bireal18_w2")),
                    key=lambda r: r["binary_weights"])
    lines += ["## Growth with the number of weights: Bi-Real Net 18 at widths 0.25–2 on 224×224", ""]
    if len(family) >= 3:
        baseline = min(r["peak_rss_mb"] for r in ok)
        lines += ["| model | binary weights | compile s | s per M weights | load s per M | passes s per M | peak RSS MB | RSS above the smallest process, MB per M weights | output MB per M weights |",
                  "|---|---|---|---|---|---|---|---|---|"]
        for r in family:
            m = r["binary_weights"] / 1e6
            lines.append(f"| {r['model']} | {m:.2f} M | {r['compile_s']:.2f} | {r['compile_s'] / m:.3f} | {r['phases']['load'] / m:.3f} | "
                         f"{r['phases']['passes'] / m:.3f} | {r['peak_rss_mb']:.0f} | "
                         f"{(r['peak_rss_mb'] - baseline) / m:.1f} | {r['output_mb'] / m:.2f} |")
        steps = [f"{b['model']} {(b['compile_s'] - a['compile_s']) / ((b['binary_weights'] - a['binary_weights']) / 1e6):.3f} s/M, "
                 f"{(b['peak_rss_mb'] - a['peak_rss_mb']) / ((b['binary_weights'] - a['binary_weights']) / 1e6):.1f} MB/M"
                 for a, b in zip(family, family[1:])]
        fits = {key: _fit(family, key) for key in ("compile_s", "peak_rss_mb", "output_mb")}
        lines += ["", "Marginal cost of each size over the next smaller one (constant if compile cost is linear): " + "; ".join(steps) + ".", "",
                  "Least-squares lines over these sizes (a + b per million binary weights): " + "; ".join(
                      f"{label} {a:.2f} + {b:.3f}·M" for label, (a, b, _) in
                      zip(("compile s", "peak RSS MB", "output MB"), fits.values())), ""]
        by = {r["model"]: r for r in ok}
        if "resnet18" in by and "bireal18" in by:
            lines += [f"Bi-Real-18 against the ResNet-18-shaped plain chain (the same sixteen binary convs): compile "
                      f"{by['bireal18']['compile_s'] / by['resnet18']['compile_s']:.2f}×, peak RSS "
                      f"{by['bireal18']['peak_rss_mb'] / by['resnet18']['peak_rss_mb']:.2f}×, output "
                      f"{by['bireal18']['output_mb'] / by['resnet18']['output_mb']:.2f}×.", ""]
    else:
        failed = [r for r in compile_rows if r["model"].startswith("bireal18") and "error" in r]
        lines += [("Not measured yet: " + (f"bnnc refuses the Bi-Real Nets (error {errors.index(failed[0]['error']) + 1}): it maps real-valued "
                   "work only before the first or after "
                   "the last binary layer, apart from what it can run as digital periphery; the identity shortcuts' Add "
                   "already compiles that way, the downsample shortcut (AveragePool 2×2 → real 1×1 conv → BN) does not yet "
                   "(issue 11)." if failed else "fewer than three Bi-Real sizes in this run.")), ""]
    if throughput_rows:
        lines += ["## Simulator throughput against onnxruntime (one thread each, same inputs, same process)", "",
                  "Each figure is the best of several interleaved repeats of a timed loop (at least 0.1 s of calls), in a "
                  "process that has run the largest batch once (steady state: the simulator's compiled kernels loaded) — the "
                  "machine is shared, so the ratios, measured side by side, are the steadier figures. onnxruntime's default "
                  "session (every graph optimization) is what a user runs; the unoptimized one is bnnc's golden reference.", "",
                  "| model | batch | simulator inferences/s | onnxruntime (default) inferences/s | ratio | "
                  "onnxruntime (unoptimized) inferences/s | ratio | outputs equal |", "|---|---|---|---|---|---|---|---|"]
        for r in throughput_rows:
            lines.append(f"| {r['model']} | {r['batch']} | {r['simulator_ips']:.1f} | {r['onnxruntime_ips']:.1f} | "
                         f"{r['simulator_ips'] / r['onnxruntime_ips']:.2f}× | {r['unoptimized_ips']:.1f} | "
                         f"{r['simulator_ips'] / r['unoptimized_ips']:.2f}× | {'yes' if r['exact'] else 'NO'} |")
        lines.append("")
    lines += ["## Targets", "", "| target | measured | met |", "|---|---|---|"]
    by = {r["model"]: r for r in compile_rows}
    checks = []
    if "cnv" in by and "error" not in by["cnv"]:
        checks.append(("CNV compile < 2 s", f"{by['cnv']['compile_s']:.2f} s", by["cnv"]["compile_s"] < 2))
    for name, label in (("resnet18", "ResNet-18-sized"), ("bireal18", "Bi-Real-18 (full width, 224×224)")):
        r = by.get(name)
        if r is None:
            continue
        if "error" in r:
            checks.append((f"{label} compiles", f"no (error {errors.index(r['error']) + 1})", False))
            continue
        checks += [
            (f"{label} compile < 20 s", f"{r['compile_s']:.2f} s", r["compile_s"] < 20),
            (f"{label} peak memory < 2 GiB", f"{r['peak_rss_mb']:.0f} MB", r["peak_rss_mb"] < 2048),
            (f"{label} schedule + report < 50 MB", f"{r['output_mb']:.1f} MB (whole output dir)", r["output_mb"] < 50),
        ]
    speed = {(r["model"], r["batch"]): r for r in throughput_rows}
    for model, batch, least, label in (("cnv", 256, 3.0, "CNV"), ("cnv", 1, 1.0, "CNV (steady state, Python API)"),
                                       ("cnv_padded", 256, 2.0, "padded CNV"), ("tfc", 256, 1.0, "TFC")):
        r = speed.get((model, batch))
        if r is not None:
            ratio = r["simulator_ips"] / r["onnxruntime_ips"]
            checks.append((f"{label} at batch {batch} ≥ {least:g}× onnxruntime's default session, one thread, bit-exact",
                           f"{ratio:.2f}×, exact: {r['exact']}", ratio >= least and r["exact"]))
    if "cli" in fixed:
        drawn = fixed["cli_figures"]
        checks.append(("whole `bnnc cnv.onnx` run (compile, 16-input golden check, report) ≤ 0.6 CPU-s — the report "
                       "without issue 14's figures (`--no-figures`), as when the target was set",
                       f"{fixed['cli']['cpu_s']:.2f} CPU-s (runs: {', '.join(f'{v:.2f}' for v in fixed['cli']['all_cpu_s'])}); "
                       f"with the figures drawn (SVG + PDF + CSV, the default) {drawn['cpu_s']:.2f} CPU-s",
                       fixed["cli"]["cpu_s"] <= 0.6))
    largest = by.get("bireal18_w2")
    if largest is not None and "error" not in largest:
        per_weight = (largest["peak_rss_mb"] - fixed["base_mb"]) * 2**20 / largest["binary_weights"]
        checks.append((f"compile peak memory ≤ 12 bytes per binary weight above the interpreter's base, 4× ResNet-18's weights "
                       f"(bireal18_w2, {largest['binary_weights'] / 1e6:.1f} M)",
                       f"{per_weight:.1f} B ({largest['peak_rss_mb']:.0f} MB peak, base {fixed['base_mb']:.0f} MB: "
                       "a process that imported bnnc and onnxruntime)", per_weight <= 12))
    lines += [f"| {t} | {m} | {'yes' if ok_ else 'no'} |" for t, m, ok_ in checks]
    lines += ["", "## Where the time goes", ""]
    if pass_rows:
        names = list(pass_rows)
        lines += ["Wall time per pass (one compile each, `python bench/run.py --profile MODEL` prints this and a cProfile):", "",
                  "| pass | " + " | ".join(f"{n} s" for n in names) + " |", "|---|" + "---|" * len(names)]
        for i, (label, _) in enumerate(pass_rows[names[0]]):  # the same default pipeline for every model
            cells = [f"{pass_rows[n][i][1]:.3f}" if i < len(pass_rows[n]) and pass_rows[n][i][0] == label else "–" for n in names]
            lines.append(f"| {label} | " + " | ".join(cells) + " |")
        lines.append("| total | " + " | ".join(f"{sum(t for _, t in pass_rows[n]):.3f}" for n in names) + " |")
        lines.append("")
    shares = "; ".join(f"{r['model']} load {r['phases']['load']:.2f} s ({100 * r['phases']['load'] / r['compile_s']:.0f}%), "
                       f"passes {r['phases']['passes']:.2f} s, report {r['phases']['report']:.2f} s"
                       for r in ok if r["model"] in ("resnet18", "bireal18"))
    lines += ["- Compile: loading is protobuf parsing, ONNX checks and shape inference and one onnxruntime "
              "run of the model that gives every tensor's shape and folds constants; the passes derive "
              "thresholds, cell patterns and tiles. " + (f"Measured: {shares}. " if shares else "") +
              "Bi-Real's passes are cheaper than the plain chain's: its BNs feed residual Adds, so they stay "
              "digital (`bnn.batchnorm` after an ADC readout, the Add and the next Sign's comparator in the "
              "digital block) and fuse-bn-binarize derives no thresholds for them; the three downsample "
              "shortcuts are periphery partitions (`host.onnx {periphery}`).",
              "- Load, under cProfile at 25 M and 44 M binary weights (Bi-Real widths 1.5 and 2): flat at about "
              "0.05 s per million binary weights up to 25 M, 0.06–0.085 s/M at 44 M (it varies from run to run), where system time (page faults on "
              "fresh memory) exceeds user time (2.1 s against 0.9 s of a 2.9 s load). bnnc/frontend/loader.py "
              "handles the whole model's bytes about eight times: `_check` copies the ModelProto (`CopyFrom`) and "
              "`onnx.checker.check_model` serializes the copy, `onnx.shape_inference.infer_shapes` serializes it, "
              "`_evaluate_everything` copies it again and serializes it for an onnxruntime session (which parses "
              "and copies the initializers once more), and `numpy_helper.to_array` decodes every initializer "
              "twice (`_read_initializers` and the end of `_evaluate_everything`). Linear in the bytes, but at "
              "176 MB of float32 weights about 1.4 GB of fresh allocations; it is also why peak memory is about "
              "33 MB per million binary weights (33 bytes, eight float32 copies, per weight).",
              "- Passes, under cProfile (`python bench/run.py --profile resnet18`): the verifier that runs after "
              "every pass (`Module.verify`, ir/core.py) takes half to two thirds of the passes' time (passes with and "
              "without `verify_each`: ResNet-18 0.79 s and 0.40 s, Bi-Real-18 0.43 s and 0.15 s), three quarters of it `np.isin` checking "
              "each constant's domain (`Domain.contains`, ir/types.py) — linear in the weights, but paid 8 times; `tile` inserts each tile's ops with "
              "`Function.insert_before`, whose `Function._position` (ir/core.py) scans the op list from the start, "
              "so tiling costs O(tiles × ops), quadratic in the model size: on the Bi-Real Nets, under cProfile, "
              "`_position` takes 0.018 s at 2.75 M binary weights (855 ops after the passes), 0.135 s at 11 M "
              "(2247 ops) and 1.34 s at 44 M (7070 ops, over a third of that compile's passes) — the one quadratic "
              "term found, small at Bi-Real-18 size (`erase`, used by dce, scans the same way).",
              "- Simulator: the integer path keeps bits packed end to end — comparators write channel-last uint64 "
              "words straight from the compiled AND-popcount kernel (numba, cached on disk; its comparators "
              "vectorized), windows gather whole words, pooling and channel concatenations run compiled over the "
              "words — once a read's work repays loading numba (about 0.6 CPU-s); an RGB first layer (8 bit-planes "
              "× 27 ports) stays a byte GEMM whose sums the compiled comparator reads. A comparator that ran packed "
              "keeps its route to the kernel until an IR or a constant is edited. At batch 1 the largest parts left "
              "are CNV's first layer (numpy plane sum, im2col and GEMM: ~120 µs of ~560) and the driver's per-step "
              "Python (~2.5 µs a step, 41 steps)."]
    write_section(path, BEGIN, END, BEGIN + "\n" + "\n".join(lines) + "\n" + END)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
