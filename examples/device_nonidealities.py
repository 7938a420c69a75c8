"""The worked example of docs/device-nonidealities.md: accuracy of the digits-trained BNN
(``tests/models/digits/``, generator ``tests/models/digits_bnn.py``) on simulated chips
against the stuck-cell rate and against the wire resistance, for each mapping scheme, with and
without fault-aware folding. Writes ``docs/figures/device-stuck-cells.svg`` (and
``device-wire-resistance.svg``), their data as CSV, and prints the tables the document quotes.

    python examples/device_nonidealities.py [--chips 100] [--curves stuck,wire]

The stuck-cell rate ``p`` is split evenly between the two states (``stuck_hrs = stuck_lrs =
p / 2``); every chip of a point is the same chip with and without fault-aware folding.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

import bnnc

ROOT = Path(__file__).resolve().parents[1]
MODEL = ROOT / "tests" / "models" / "digits" / "digits_bnn.onnx"
DATA = ROOT / "tests" / "models" / "digits" / "digits_test.npz"
FIGURES = ROOT / "docs" / "figures"
SCHEMES = ("refcol", "xnor", "diff")
STUCK = (0.0, 0.01, 0.02, 0.05, 0.1)
WIRE_OHM = (0.0, 0.1, 0.5, 1.0, 2.82)


def curve(devices: list[tuple[float, dict]], chips: int, fault_aware: bool) -> dict[str, list[tuple[float, dict]]]:
    """Per scheme, per ``(x, device keys)`` point: the robustness figures of ``chips`` chips."""
    data = np.load(DATA)
    inputs, labels = {"bits": data["bits"]}, data["labels"]
    result = {}
    for scheme in SCHEMES:
        c = bnnc.compile(MODEL, scheme=scheme)
        points = []
        for x, device in devices:
            r = c.robustness(device, chips=chips, inputs=inputs, labels=labels, seed=0, fault_aware=fault_aware).to_json()
            points.append((x, r))
            aware = f", fault-aware {r['fault_aware']['accuracy']['mean']:.4f}" if fault_aware else ""
            print(f"{scheme:6} {x:>6}: accuracy {r['accuracy']['mean']:.4f} (min {r['accuracy']['min']:.4f}){aware}", flush=True)
        result[scheme] = points
    return result


def plot(result: dict, xlabel: str, name: str, fault_aware: bool) -> None:
    import matplotlib

    matplotlib.use("Agg")
    matplotlib.rcParams["svg.hashsalt"] = "bnnc"
    import matplotlib.pyplot as plt

    figure, ax = plt.subplots(figsize=(6.4, 3.8))
    rows = ["scheme,x,accuracy_mean,accuracy_min,accuracy_p5,fault_aware_mean,fault_aware_min"]
    for index, (scheme, points) in enumerate(result.items()):
        xs = [x for x, _ in points]
        color = f"C{index}"
        ax.plot(xs, [r["accuracy"]["mean"] for _, r in points], marker="o", color=color, label=scheme)
        ax.fill_between(xs, [r["accuracy"]["p5"] for _, r in points], [r["accuracy"]["max"] for _, r in points],
                        color=color, alpha=0.12)
        if fault_aware:
            ax.plot(xs, [r["fault_aware"]["accuracy"]["mean"] for _, r in points], marker="s", linestyle="--",
                    color=color, label=f"{scheme}, fault-aware")
        for x, r in points:
            fa = r.get("fault_aware", {}).get("accuracy", {})
            rows.append(f"{scheme},{x},{r['accuracy']['mean']:.6g},{r['accuracy']['min']:.6g},{r['accuracy']['p5']:.6g},"
                        f"{fa.get('mean', '')},{fa.get('min', '')}")
    ideal = next(iter(result.values()))[0][1]["ideal_accuracy"]
    ax.axhline(ideal, color="grey", linewidth=0.8, linestyle=":", label=f"ideal device ({ideal:.3f})")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("top-1 accuracy on 360 test digits\n(mean; band: 5th percentile to max)")
    ax.set_title("Digits BNN (64-128-128-10) on simulated chips")
    ax.legend(fontsize=7, ncol=2)
    FIGURES.mkdir(parents=True, exist_ok=True)
    figure.savefig(FIGURES / f"{name}.svg", bbox_inches="tight", metadata={"Date": None})
    (FIGURES / f"{name}.csv").write_text("\n".join(rows) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chips", type=int, default=100)
    parser.add_argument("--curves", default="stuck,wire", help="which figures to make: stuck, wire or both")
    args = parser.parse_args()
    curves = set(args.curves.split(","))
    if "stuck" in curves:
        stuck = [(p, {"stuck_hrs": p / 2, "stuck_lrs": p / 2}) for p in STUCK]
        plot(curve(stuck, args.chips, True), "fraction of stuck cells (half off, half on)", "device-stuck-cells", True)
    if "wire" in curves:  # wire resistance alone draws nothing at random: one chip is every chip
        wires = [(w, {"wire_ohm": w}) for w in WIRE_OHM]
        plot(curve(wires, 1, False), "wire resistance per segment (Ω)", "device-wire-resistance", False)


if __name__ == "__main__":
    main()
