"""IR-drop model timings: ``python bench/irdrop.py [--sizes 32,64,128,256] [--reads 64]``.

Per square array size, on random cells (half on, 10 kΩ / 1 MΩ) read by random reads (half
the rows driven at 0.15 V), one thread, at MNSIM's 2.82 Ω: the exact nodal model's
factorization, its direct solve per read (batched), its transfer matrix (factorization
included: what the simulator builds per array and chip) and a read through it (one GEMM), the
ideal read ``ports @ G`` for scale, the first-order series' closed-form transfer; and the
series iterated per read at wire/R_on = 1e-6 with the iterations its bound asks for 1e-3 LSB. Prints a markdown table."""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402

from bnnc.backends.circuit import NodalMesh, SeriesMesh  # noqa: E402
from bnnc.backends.circuit import fully_driven_error_lsb, ir_drop_model, largest_square_array  # noqa: E402
from bnnc.backends.circuit.model import TOLERANCE_LSB  # noqa: E402

R_ON, R_OFF, V_READ, EXACT_WIRE = 1e4, 1e6, 0.15, 2.82


def seconds(work, repeat: int = 3) -> float:
    """The best of ``repeat`` wall times of ``work()``."""
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        work()
        best = min(best, time.perf_counter() - start)
    return best


def row(size: int, reads: int) -> str:
    rng = np.random.default_rng(size)
    g = np.where(rng.random((size, size)) < 0.5, 1 / R_ON, 1 / R_OFF)
    drives = rng.choice([0.0, V_READ], (reads, size))
    lsb = V_READ * (1 / R_ON - 1 / R_OFF)

    factor = seconds(lambda: NodalMesh(g, EXACT_WIRE)._factor, 1 if size > 128 else 3)
    mesh = NodalMesh(g, EXACT_WIRE)
    mesh._factor  # noqa: B018 (factor once, as the simulator does)
    solve = seconds(lambda: mesh.column_currents(drives), 1) / reads
    exact_transfer = seconds(lambda: NodalMesh(g, EXACT_WIRE).transfer(), 1 if size > 128 else 3)
    t = mesh.transfer()
    gemm = seconds(lambda: drives @ t) / reads
    ideal = seconds(lambda: drives @ g) / reads

    first_order = seconds(lambda: SeriesMesh(g, EXACT_WIRE).transfer(1))
    series = SeriesMesh(g, 1e-6 * R_ON)
    terms = series.terms_for(TOLERANCE_LSB * lsb, V_READ, most=20)
    series_read = seconds(lambda: series.column_currents(drives, terms)) / reads
    return (f"| {size}×{size} | {factor * 1e3:.1f} | {solve * 1e3:.3f} | {exact_transfer:.3f} | {gemm * 1e6:.2f} "
            f"| {ideal * 1e6:.2f} | {first_order * 1e3:.3f} | {series.contraction:.3f} | {terms} | {series_read * 1e3:.3f} |")

RATIOS = (1e-6, 1e-5, 1e-4, 2.82e-4)
"""wire/R_on: the issue's thresholds and MNSIM's 2.82 Ω against 10 kΩ."""


def random_reads_error_lsb(size: int, wire_ohm: float, reads: int) -> float:
    """The worst column-current error (LSB) over ``reads`` random reads (half the rows driven)
    of a random array (half the cells on)."""
    rng = np.random.default_rng(size)
    g = np.where(rng.random((size, size)) < 0.5, 1 / R_ON, 1 / R_OFF)
    lsb = 1 / R_ON - 1 / R_OFF
    drives = rng.choice([0.0, 1.0], (reads, size))
    return float(np.abs(drives @ (ir_drop_model(g, wire_ohm, 1.0, lsb).transfer - g)).max() / lsb)


def limits_table(sizes: list[int], reads: int) -> None:
    print("\n| wire/R_on | " + " | ".join(f"{n}×{n} all on, all driven LSB | {n}×{n} random reads LSB" for n in sizes)
          + " | largest square under 0.5 LSB (all on, all driven) |")
    print("|---|" + "---|---|" * len(sizes) + "---|")
    for ratio in RATIOS:
        cells = [f"{fully_driven_error_lsb(n, ratio * R_ON, R_ON, R_OFF):.3g} | {random_reads_error_lsb(n, ratio * R_ON, reads):.3g}"
                 for n in sizes]
        print(f"| {ratio:g} | " + " | ".join(cells) + f" | {largest_square_array(ratio * R_ON, R_ON, R_OFF)} |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="32,64,128,256")
    parser.add_argument("--reads", type=int, default=64)
    parser.add_argument("--limits", action="store_true",
                        help="also the worst error at 32/64/128 for several wire/R_on and the largest array under 0.5 LSB")
    args = parser.parse_args()
    print(f"Command: `python bench/irdrop.py --sizes {args.sizes} --reads {args.reads}{' --limits' if args.limits else ''}`; "
          f"load average before {' '.join(f'{v:.1f}' for v in os.getloadavg())}\n")
    print("| array | exact: factor ms | exact: direct solve ms/read | exact: factor + transfer s | read via transfer µs "
          "| ideal read µs | first-order transfer ms | series ε (wire/R_on 1e-6) | iterations for 1e-3 LSB "
          "| series iteration ms/read |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for size in (int(s) for s in args.sizes.split(",")):
        print(row(size, args.reads), flush=True)
    if args.limits:
        limits_table([32, 64, 128], args.reads)
    print(f"\nload average after {' '.join(f'{v:.1f}' for v in os.getloadavg())}")


if __name__ == "__main__":
    main()
