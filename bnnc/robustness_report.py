"""The robustness section of the human-readable reports: a console line, a ``report.md``
section and ``report.html`` figures (matplotlib, Agg, inline SVG) of a report's
``"robustness"`` entry (:meth:`bnnc.robustness.Robustness.to_json`): the per-chip
distributions of agreement and accuracy (with and without fault-aware folding), the comparator
flip rate per layer, and the curve over a ``--device-sweep``."""

from __future__ import annotations

import html
import io
from typing import Any

def summary_line(r: dict[str, Any]) -> str:
    """One line: chips, samples, agreement (and accuracy) means and minima."""
    parts = [f"robustness over {r['chips']} chips × {r['samples']} samples: agreement mean {r['agreement']['mean']:.4f} "
             f"(min {r['agreement']['min']:.4f})"]
    if "accuracy" in r:
        parts.append(f"accuracy mean {r['accuracy']['mean']:.4f} (ideal {r['ideal_accuracy']:.4f})")
    if "fault_aware" in r:
        key = "accuracy" if "accuracy" in r["fault_aware"] else "agreement"
        parts.append(f"fault-aware {key} mean {r['fault_aware'][key]['mean']:.4f}")
    return ", ".join(parts)


def markdown_section(r: dict[str, Any]) -> list[str]:
    """``report.md`` lines: the summary, the non-zero device keys, the per-layer table."""
    device = [f"{k} = {v['value']} {v['unit']}".rstrip() for k, v in r["device"].items() if v["value"] and k != "drift_t0_seconds"]
    lines = ["", "## Robustness (Monte Carlo over chips)", "", summary_line(r) + ".", "",
             f"Device: {', '.join(device) or 'ideal'}; seed {r['seed']}; "
             f"{r['seconds_per_chip_sample']:.3g} s per chip-sample (ideal run {r['ideal_seconds_per_sample']:.3g} s per sample).",
             "", "| layer | flip rate | min margin (LSB) |", "|---|---|---|"]
    for layer in r["layers"]:
        margin = "-" if layer["min_margin_lsb"] is None else f"{layer['min_margin_lsb']:.3g}"
        lines.append(f"| {layer['name']} | {layer['flip_rate']:.3g} | {margin} |")
    return lines


def html_section(r: dict[str, Any]) -> str:
    """The robustness section of ``report.html``: summary and inline SVG figures."""
    figures = [_distributions(r), _flip_rates(r)]
    if "sweep" in r:
        figures.append(_sweep_curve(r))
    return (f"<h2>Robustness (Monte Carlo over chips)</h2><p>{html.escape(summary_line(r))}.</p>"
            + "".join(figures))


def _svg(figure: Any) -> str:
    """``figure`` as deterministic inline SVG (no date, fixed hash salt), closed afterwards."""
    import matplotlib.pyplot as plt

    buffer = io.StringIO()
    figure.savefig(buffer, format="svg", bbox_inches="tight", metadata={"Date": None})
    plt.close(figure)
    text = buffer.getvalue()
    return text[text.index("<svg"):]


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    matplotlib.rcParams["svg.hashsalt"] = "bnnc"
    import matplotlib.pyplot as plt

    return plt


def _distributions(r: dict[str, Any]) -> str:
    plt = _pyplot()
    per_chip = r["per_chip"]
    figure, ax = plt.subplots(figsize=(6.4, 3.2))
    bins = 20
    for name, label in (("agreement", "agreement with the ideal program"), ("accuracy", "accuracy"),
                        ("fault_aware_agreement", "agreement, fault-aware"), ("fault_aware_accuracy", "accuracy, fault-aware")):
        if name in per_chip:
            ax.hist(per_chip[name], bins=bins, range=(0, 1), alpha=0.55, label=label)
    ax.set_xlabel("fraction of samples, per chip")
    ax.set_ylabel("chips")
    ax.set_title(f"Per-chip outcomes ({r['chips']} chips, {r['samples']} samples)")
    ax.legend(fontsize=8)
    return _svg(figure)


def _flip_rates(r: dict[str, Any]) -> str:
    plt = _pyplot()
    names = [layer["name"] for layer in r["layers"]]
    figure, ax = plt.subplots(figsize=(6.4, 0.4 * len(names) + 1.2))
    ax.barh(names, [layer["flip_rate"] for layer in r["layers"]], label="sampled chips")
    if "fault_aware" in r:
        ax.barh(names, [layer["flip_rate"] for layer in r["fault_aware"]["layers"]], height=0.4, label="fault-aware")
        ax.legend(fontsize=8)
    ax.invert_yaxis()
    ax.set_xlim(left=0)
    ax.set_xlabel("fraction of comparator decisions differing from the ideal program")
    ax.set_title("Comparator flip rate per layer")
    return _svg(figure)


def _sweep_curve(r: dict[str, Any]) -> str:
    plt = _pyplot()
    sweep = r["sweep"]
    values = [p["value"] for p in sweep["points"]]
    key = "accuracy" if "accuracy" in r else "agreement"
    figure, ax = plt.subplots(figsize=(6.4, 3.4))
    for source, label in (("", key), ("fault_aware", f"{key}, fault-aware")):
        points = [p.get(source, {}).get(key) if source else p[key] for p in sweep["points"]]
        if any(p is None for p in points):
            continue
        ax.plot(values, [p["mean"] for p in points], marker="o", label=f"{label} (mean)")
        ax.fill_between(values, [p["min"] for p in points], [p["max"] for p in points], alpha=0.2)
    if min(values) > 0 and max(values) / min(values) > 50:
        ax.set_xscale("log")
    ax.set_xlabel(f"[device] {sweep['key']}")
    ax.set_ylabel(f"{key} (band: min to max over chips)")
    ax.set_title(f"{key.capitalize()} against {sweep['key']}")
    ax.legend(fontsize=8)
    return _svg(figure)
