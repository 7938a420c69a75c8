"""Sweep throughput: configurations per minute of ``bnnc sweep`` on CNV, serial (``-j 1``, in
one process) against a two-process pool (``-j 2``). Each run is a fresh ``bnnc sweep`` process
into a fresh directory (so no job is skipped), timed from start to exit (imports, worker start,
jobs with their golden check on 16 random inputs, results.csv and sweep.html), the two kinds
of run interleaved. Writes its
section of ``bench/RESULTS.md`` (between the markers below, replaced on a rerun).

    python bench/sweep.py                 # 3 array sizes x 4 schemes = 12 configurations, median of 3
    python bench/sweep.py --runs 1        # once
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import onnx

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from sections import write_section  # noqa: E402
from models import cnv  # noqa: E402

BEGIN, END = "<!-- bnnc sweep throughput -->", "<!-- /bnnc sweep throughput -->"
ARRAYS, SCHEMES = "64x64,128x128,256x256", "refcol,xnor,diff,auto"


def _command(model: Path, out: Path, jobs: int) -> list[str]:
    return [sys.executable, "-m", "bnnc", "sweep", str(model), "--array", ARRAYS, "--scheme", SCHEMES,
            "-j", str(jobs), "-o", str(out), "--quiet"]


def _time(model: Path, jobs: int, scratch: Path, run: int) -> float:
    out = scratch / f"j{jobs}-{run}"
    start = time.perf_counter()
    subprocess.run(_command(model, out, jobs), check=True, env={**os.environ, "OPENBLAS_NUM_THREADS": "1"})
    seconds = time.perf_counter() - start
    rows = (out / "results.jsonl").read_text().count("\n")
    assert rows == len(ARRAYS.split(",")) * len(SCHEMES.split(",")), rows
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--out", type=Path, default=HERE / "RESULTS.md")
    args = parser.parse_args()
    configs = len(ARRAYS.split(",")) * len(SCHEMES.split(","))
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as scratch:
        model = Path(scratch) / "cnv.onnx"
        onnx.save(cnv(), model)
        times: dict[int, list[float]] = {1: [], 2: []}
        for run in range(args.runs):  # interleaved, so that a change in the machine's load hits both alike
            for jobs, runs in times.items():
                runs.append(_time(model, jobs, Path(scratch), run))
    load_after = os.getloadavg()
    lines = [BEGIN, "## Sweep throughput (`bnnc sweep`, CNV)", "",
             f"Command: `python bench/sweep.py --runs {args.runs}` "
             f"(generated {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} cores); each run is "
             f"`bnnc sweep cnv.onnx --array {ARRAYS} --scheme {SCHEMES} -j N -o DIR --quiet` into a fresh DIR: "
             f"{configs} configurations, each compiled, golden-checked on 16 random inputs and written to "
             "DIR/jobs/<id>/, then results.csv and sweep.html.", "",
             "| workers | best seconds | median seconds | every run | configurations per minute (best run) | (median run) |",
             "|---|---|---|---|---|---|"]
    for jobs, runs in times.items():
        best, median = min(runs), statistics.median(runs)
        lines.append(f"| -j {jobs} | {best:.1f} | {median:.1f} | {', '.join(f'{t:.1f}' for t in runs)} | "
                     f"{configs / best * 60:.0f} | {configs / median * 60:.0f} |")
    best = min(times[1]) / min(times[2])
    median = statistics.median(times[1]) / statistics.median(times[2])
    lines += ["", f"Speed-up of -j 2 over -j 1: {best:.2f}× on the best runs (the least disturbed by other work), "
              f"{median:.2f}× on the medians. Load average (1, 5, 15 min) "
              f"{', '.join(f'{v:.1f}' for v in load_before)} before, {', '.join(f'{v:.1f}' for v in load_after)} after "
              "(other work on the machine takes cores from both runs).", END]
    section = "\n".join(lines)
    write_section(args.out, BEGIN, END, section)
    print(section)


if __name__ == "__main__":
    main()
