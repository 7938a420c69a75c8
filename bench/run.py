"""The bnnc benchmark: compile time and peak memory, simulator throughput against onnxruntime,
and how both grow with model size. Writes ``bench/RESULTS.md``.

    python bench/run.py                 # everything, medians of 3 runs
    python bench/run.py --quick         # 1 run each, batch 64 instead of 256 (a smoke test)

Each compile runs in a fresh process (``bnnc MODEL --no-check --json``: load → passes →
schedule → report, no golden check), whose peak RSS is its memory figure. The throughput run
pins one thread for both sides (``OPENBLAS_NUM_THREADS=1`` for numpy, ``intra_op_num_threads=1``
for onnxruntime) and checks that the simulator's outputs equal onnxruntime's.
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

COMPILE_CHILD = r"""
import json, resource, sys, time
from bnnc.cli import main
start = time.perf_counter()
import io, contextlib
buffer = io.StringIO()
with contextlib.redirect_stdout(buffer):
    code = main([sys.argv[1], "--no-check", "--json", "-o", sys.argv[2]])
wall = time.perf_counter() - start
summary = json.loads(buffer.getvalue())
print(json.dumps({"code": code, "wall_s": wall, "timings": summary["timings"], "totals": summary["totals"],
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""

THROUGHPUT_CHILD = r"""
import json, sys, time
import numpy as np
import bnnc
from bnnc.api import default_pipeline
from bnnc.backends.simulator import simulate
from bnnc.frontend.reference import reference_session
path, batch, runs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
compilation = bnnc.compile(path, pipeline=default_pipeline())
inputs = compilation.random_inputs(batch, seed=0)
function = compilation.module.function("main")
args = [np.asarray(inputs[name]).reshape((batch,) + arg.type.shape) for name, arg in zip(compilation.inputs, function.args)]
import onnx
session = reference_session(onnx.load(path))  # the source model, symbolic batch and all
def timed(fn):
    fn()  # warm-up
    samples = []
    for _ in range(runs):
        start = time.perf_counter(); fn(); samples.append(time.perf_counter() - start)
    return sorted(samples)[len(samples) // 2]
ours = simulate(compilation.module, args)
theirs = session.run(None, inputs)
exact = all(np.array_equal(a.reshape(b.shape), b) if b.dtype.kind in "iub" else np.allclose(a.reshape(b.shape), b, rtol=1e-5, atol=1e-5)
            for a, b in zip(ours, theirs))
sim_s = timed(lambda: simulate(compilation.module, args))
ort_s = timed(lambda: session.run(None, inputs))
print(json.dumps({"batch": batch, "simulator_ips": batch / sim_s, "onnxruntime_ips": batch / ort_s, "exact": bool(exact)}))
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


def run_child(code: str, *args: str, threads: int | None = None) -> dict:
    env = dict(os.environ)
    if threads is not None:
        env.update({"OPENBLAS_NUM_THREADS": str(threads), "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)})
    out = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, env=env, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"benchmark child failed: {out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--out", type=Path, default=HERE / "RESULTS.md")
    args = parser.parse_args()
    runs = 1 if args.quick else args.runs
    big_batch = 64 if args.quick else 256
    paths = write_all(HERE / "models")
    import onnx

    compile_rows, throughput_rows = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for name, path in paths.items():
            weights = binary_weights(onnx.load(path))
            results = [run_child(COMPILE_CHILD, str(path), str(Path(tmp) / name)) for _ in range(runs)]
            compile_s = statistics.median(sum(r["timings"].get(k, 0.0) for k in ("load", "passes", "schedule", "report")) for r in results)
            compile_rows.append({
                "model": name, "binary_weights": weights, "compile_s": compile_s,
                "process_s": statistics.median(r["wall_s"] for r in results),
                "peak_rss_mb": max(r["peak_rss_mb"] for r in results),
                "arrays": results[0]["totals"]["arrays"], "output_mb": _size_mb(Path(tmp) / name),
                "phases": {k: statistics.median(r["timings"].get(k, 0.0) for r in results) for k in ("load", "passes", "schedule", "report")},
            })
            print(json.dumps(compile_rows[-1]), flush=True)
        for name in ("tfc", "cnv"):
            for batch in (1, big_batch):
                row = run_child(THROUGHPUT_CHILD, str(paths[name]), str(batch), str(max(runs, 3 if batch == 1 else runs)), threads=1)
                row["model"] = name
                throughput_rows.append(row)
                print(json.dumps(row), flush=True)
    write_results(args.out, compile_rows, throughput_rows, " ".join([Path(sys.executable).name, "bench/run.py", *sys.argv[1:]]))


def _size_mb(directory: Path) -> float:
    return sum(f.stat().st_size for f in directory.iterdir()) / 1e6 if directory.exists() else 0.0


def write_results(path: Path, compile_rows: list[dict], throughput_rows: list[dict], command: str) -> None:
    lines = [
        "# bnnc benchmark results", "",
        f"Command: `{command}` (generated {time.strftime('%Y-%m-%d')}).", "",
        f"Machine: {machine()}.", "",
        "## Compile (load → passes → schedule → report, no golden check), median of runs", "",
        "| model | binary weights | compile s | load s | passes s | schedule s | report s | process s | peak RSS MB | arrays | output MB |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in compile_rows:
        p = r["phases"]
        lines.append(f"| {r['model']} | {r['binary_weights'] / 1e6:.2f} M | {r['compile_s']:.2f} | {p['load']:.2f} | {p['passes']:.2f} | "
                     f"{p['schedule']:.2f} | {p['report']:.2f} | {r['process_s']:.2f} | {r['peak_rss_mb']:.0f} | {r['arrays']} | {r['output_mb']:.1f} |")
    lines += ["", "Cost per million binary weights (growth): " + ", ".join(
        f"{r['model']} {r['compile_s'] / max(r['binary_weights'] / 1e6, 1e-9):.2f} s/M" for r in compile_rows), ""]
    lines += ["## Simulator throughput against onnxruntime (one thread each, same inputs, same process)", "",
              "| model | batch | simulator inferences/s | onnxruntime inferences/s | ratio | outputs equal |", "|---|---|---|---|---|---|"]
    for r in throughput_rows:
        lines.append(f"| {r['model']} | {r['batch']} | {r['simulator_ips']:.1f} | {r['onnxruntime_ips']:.1f} | "
                     f"{r['simulator_ips'] / r['onnxruntime_ips']:.2f}× | {'yes' if r['exact'] else 'NO'} |")
    lines += ["", "## Targets", "",
              "| target | measured | met |", "|---|---|---|"]
    by = {r["model"]: r for r in compile_rows}
    cnv_sim = next((r for r in throughput_rows if r["model"] == "cnv" and r["batch"] > 1), None)
    checks = [
        ("CNV compile < 2 s", f"{by['cnv']['compile_s']:.2f} s", by["cnv"]["compile_s"] < 2),
        ("ResNet-18-sized compile < 20 s", f"{by['resnet18']['compile_s']:.2f} s", by["resnet18"]["compile_s"] < 20),
        ("ResNet-18-sized peak memory < 2 GiB", f"{by['resnet18']['peak_rss_mb']:.0f} MB", by["resnet18"]["peak_rss_mb"] < 2048),
        ("ResNet-18-sized schedule + report < 50 MB", f"{by['resnet18']['output_mb']:.1f} MB (whole output dir)", by["resnet18"]["output_mb"] < 50),
    ]
    if cnv_sim:
        ratio = cnv_sim["simulator_ips"] / cnv_sim["onnxruntime_ips"]
        checks.append((f"simulator ≥ 1.0× onnxruntime on CNV, batch {cnv_sim['batch']}, bit-exact", f"{ratio:.2f}×, exact: {cnv_sim['exact']}", ratio >= 1.0 and cnv_sim["exact"]))
    lines += [f"| {t} | {m} | {'yes' if ok else 'no'} |" for t, m, ok in checks]
    lines += ["", "## Where the time goes", "",
              "- Compile: about half is loading (protobuf parsing and one onnxruntime run of the model "
              "that gives every tensor's shape and folds constants), half the passes (threshold "
              "derivation, cell patterns, tiling); both grow linearly with the weights (the s/M "
              "column settles near 0.2 s per million binary weights once fixed costs are paid).",
              "- Simulator at batch 1: per-op Python dispatch (tens of ops, a few µs each) dominates; "
              "onnxruntime runs a small MLP's kernels with far less overhead. At batch 256 the array "
              "reads are integer GEMMs (numpy sgemm, or onnxruntime's MatMulInteger for large reads) and "
              "CNV's convolutions outrun onnxruntime's float convolutions; TFC's tiny 64-wide layers "
              "leave little GEMM work to amortize that overhead."]
    path.write_text("\n".join(lines) + "\n")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
