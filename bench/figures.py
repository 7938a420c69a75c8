"""What the figures cost a compile: CPU seconds of ``bnnc cnv.onnx --no-check`` with figures
against ``--no-figures``, each run a fresh one-thread process into a fresh directory (user +
system time from the child's rusage: interpreter start and imports included), the two kinds of
run interleaved; and, in one process, the split of the difference into importing matplotlib and
drawing (every figure as SVG and PDF, the first draw of the process: font loading included).
Writes its section of ``bench/RESULTS.md`` (between the markers below, replaced on a rerun).

    python bench/figures.py               # best and median of 5 runs each
    python bench/figures.py --runs 1
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path

import onnx

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from models import cnv  # noqa: E402
from sections import write_section  # noqa: E402

BEGIN, END = "<!-- figures cost -->", "<!-- /figures cost -->"
ENV = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}

SPLIT = """
import json, sys, time
import bnnc
compiled = bnnc.compile(sys.argv[1])
report, schedule = compiled._report()
start = time.process_time()
import matplotlib.figure, matplotlib.ticker
imported = time.process_time()
from bnnc.figures import render_figures
render_figures(report, schedule)
drawn = time.process_time()
render_figures(report, schedule)
print(json.dumps({"import_s": imported - start, "first_draw_s": drawn - imported, "next_draw_s": time.process_time() - drawn}))
"""


def _cpu(argv: list[str], cwd: Path) -> float:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run([sys.executable, "-P", *argv], check=True, env=ENV, cwd=cwd, capture_output=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--out", type=Path, default=HERE / "RESULTS.md")
    args = parser.parse_args()
    load_before = os.getloadavg()
    runs: dict[str, list[float]] = {"figures": [], "--no-figures": []}
    splits = []
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        model = root / "cnv.onnx"
        onnx.save(cnv(), model)
        for run in range(args.runs):  # interleaved: a change in the machine's load hits both alike
            for kind, times in runs.items():
                flags = ["--no-figures"] if kind == "--no-figures" else []
                times.append(_cpu(["-m", "bnnc", str(model), "--no-check", "-q", *flags, "-o", str(root / f"{kind}{run}")], root))
            out = subprocess.run([sys.executable, "-P", "-c", SPLIT, str(model)], check=True, env=ENV, cwd=root,
                                 capture_output=True, text=True)
            splits.append(json.loads(out.stdout.strip().splitlines()[-1]))
    load_after = os.getloadavg()
    best = {kind: min(times) for kind, times in runs.items()}
    median = {kind: statistics.median(times) for kind, times in runs.items()}
    split = {key: min(s[key] for s in splits) for key in splits[0]}
    lines = [BEGIN, "## What the figures cost a compile (`bnnc cnv.onnx`)", "",
             f"Command: `python bench/figures.py --runs {args.runs}` (generated {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC, "
             f"{os.cpu_count()} cores, one thread per run); each run is `bnnc cnv.onnx --no-check -q [--no-figures] -o DIR` "
             "in a fresh process, CPU seconds (user + system) of the whole process.", "",
             "| run | best CPU-s | median CPU-s | every run |", "|---|---|---|---|"]
    for kind, times in runs.items():
        lines.append(f"| {'with figures' if kind == 'figures' else kind} | {best[kind]:.2f} | {median[kind]:.2f} | "
                     f"{', '.join(f'{t:.2f}' for t in times)} |")
    lines += ["", f"Figures add {best['figures'] - best['--no-figures']:.2f} CPU-s (best runs), "
              f"{median['figures'] - median['--no-figures']:.2f} (medians). In one process (least of {args.runs}): importing "
              f"matplotlib {split['import_s']:.2f} CPU-s, the first drawing of every figure as SVG and PDF "
              f"{split['first_draw_s']:.2f} (fonts loaded), a second one {split['next_draw_s']:.2f}. Load average "
              f"(1, 5, 15 min) {', '.join(f'{v:.1f}' for v in load_before)} before, "
              f"{', '.join(f'{v:.1f}' for v in load_after)} after (the machine may be shared).", END]
    section = "\n".join(lines)
    write_section(args.out, BEGIN, END, section)
    print(section)


if __name__ == "__main__":
    main()
