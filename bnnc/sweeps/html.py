"""``sweep.html``: every configuration in a table that sorts by any column (a few lines of
inline JavaScript), and Pareto plots (matplotlib, inline SVG) of the successful ones — area
against energy per inference, throughput against area, and accuracy (or agreement with the
ideal program) against energy where robustness was swept — with the Pareto-optimal
configurations of each model marked, in the plots and in the table."""

from __future__ import annotations

import html
import io
from collections.abc import Callable, Sequence
from typing import Any

from .pareto import pareto_optimal
from .progress import describe

PALETTE = ["#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac"]


def _robust_figure(row: dict[str, Any], name: str) -> float | None:
    robustness = row.get("robustness") or {}
    figure = robustness.get(name) or {}
    return figure.get("mean") if isinstance(figure, dict) else None


def _accuracy(row: dict[str, Any]) -> float | None:
    return _robust_figure(row, "accuracy")


def _agreement(row: dict[str, Any]) -> float | None:
    return _robust_figure(row, "agreement")


Metric = tuple[str, Callable[[dict[str, Any]], float | None], bool]
"""(axis label, the row's value or None, larger is better)."""

AREA: Metric = ("area (mm²)", lambda r: r["totals"]["area_mm2"], False)
ENERGY: Metric = ("energy per inference (nJ)", lambda r: r["totals"]["energy_nj"], False)
THROUGHPUT: Metric = ("throughput (inferences/s)", lambda r: r["totals"]["throughput_ips"], True)
ACCURACY: Metric = ("accuracy (mean over chips)", _accuracy, True)
AGREEMENT: Metric = ("agreement with the ideal program (mean over chips)", _agreement, True)


def _plots(rows: Sequence[dict[str, Any]]) -> list[tuple[str, Metric, Metric]]:
    if not rows:
        return []
    plots = [("Area against energy per inference", AREA, ENERGY), ("Throughput against area", AREA, THROUGHPUT)]
    if any(_accuracy(r) is not None for r in rows):
        plots.append(("Accuracy against energy per inference", ENERGY, ACCURACY))
    elif any(_agreement(r) is not None for r in rows):
        plots.append(("Agreement with the ideal program against energy per inference", ENERGY, AGREEMENT))
    return plots


def optimal_ids(rows: Sequence[dict[str, Any]], x: Metric, y: Metric) -> set[str]:
    """The ids of the rows Pareto-optimal on ``x`` and ``y`` among the rows of their model."""
    found: set[str] = set()
    for model in dict.fromkeys(r["config"]["model"] for r in rows):
        mine = [r for r in rows if r["config"]["model"] == model and x[1](r) is not None and y[1](r) is not None]
        marks = pareto_optimal([(x[1](r), y[1](r)) for r in mine], (x[2], y[2]))
        found.update(r["id"] for r, mark in zip(mine, marks) if mark)
    return found


def _svg(title: str, rows: Sequence[dict[str, Any]], x: Metric, y: Metric, optimal: set[str]) -> str:
    from matplotlib.figure import Figure

    figure = Figure(figsize=(6.4, 4.2))
    axes = figure.add_subplot()
    for index, model in enumerate(dict.fromkeys(r["config"]["model"] for r in rows)):
        color = PALETTE[index % len(PALETTE)]
        mine = [r for r in rows if r["config"]["model"] == model and x[1](r) is not None and y[1](r) is not None]
        best = sorted((r for r in mine if r["id"] in optimal), key=lambda r: x[1](r))
        rest = [r for r in mine if r["id"] not in optimal]
        axes.scatter([x[1](r) for r in rest], [y[1](r) for r in rest], s=22, facecolors="none", edgecolors=color, alpha=0.7)
        axes.plot([x[1](r) for r in best], [y[1](r) for r in best], "-o", color=color, markersize=6,
                  label=f"{model} (Pareto-optimal filled)")
    axes.set_xlabel(x[0])
    axes.set_ylabel(y[0])
    axes.set_title(title, fontsize=10)
    for metric, scale in ((x, axes.set_xscale), (y, axes.set_yscale)):
        values = [metric[1](r) for r in rows if metric[1](r) is not None]
        if metric not in (ACCURACY, AGREEMENT) and values and min(values) > 0 and max(values) > 10 * min(values):
            scale("log")
    axes.grid(True, alpha=0.3)
    axes.legend(fontsize=7)
    figure.tight_layout()
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg", metadata={"Date": None})
    text = buffer.getvalue()
    return text[text.index("<svg"):]


COLUMNS: list[tuple[str, Callable[[dict[str, Any]], Any]]] = [
    ("id", lambda r: r["id"]),
    ("configuration", lambda r: describe(r["config"])),
    ("status", lambda r: r["status"]),
    ("arrays", lambda r: (r["totals"] or {}).get("arrays")),
    ("area mm²", lambda r: (r["totals"] or {}).get("area_mm2")),
    ("energy nJ", lambda r: (r["totals"] or {}).get("energy_nj")),
    ("latency µs", lambda r: (r["totals"] or {}).get("latency_ns", 0) / 1000 if r["totals"] else None),
    ("throughput /s", lambda r: (r["totals"] or {}).get("throughput_ips")),
    ("TOPS/W", lambda r: (r["totals"] or {}).get("tops_per_w")),
    ("golden", lambda r: None if not r["golden"] else "exact" if r["golden"]["exact"] else "MISMATCH"),
    ("accuracy", _accuracy),
    ("agreement", _agreement),
    ("seconds", lambda r: r["seconds"]),
    ("error", lambda r: r["error"]),
]

SORT_JS = """
document.querySelectorAll("th").forEach((th, col) => th.addEventListener("click", () => {
  const body = th.closest("table").tBodies[0], rows = Array.from(body.rows);
  const up = th.dataset.up !== "1"; th.dataset.up = up ? "1" : "0";
  const key = r => r.cells[col].dataset.v;
  const numeric = rows.every(r => key(r) === "" || !isNaN(Number(key(r))));
  rows.sort((a, b) => { const x = key(a), y = key(b);
    if (x === "" || y === "") return (x === "") - (y === "");
    const c = numeric ? Number(x) - Number(y) : x.localeCompare(y); return up ? c : -c; });
  rows.forEach(r => body.appendChild(r));
}));
"""


def _cell(value: Any) -> str:
    if value is None:
        return '<td data-v=""></td>'
    shown = f"{value:.4g}" if isinstance(value, float) else str(value)
    return f'<td data-v="{html.escape(str(value))}">{html.escape(shown)}</td>'


def sweep_html(rows: Sequence[dict[str, Any]]) -> str:
    """The page for ``rows`` (the result rows of ``results.jsonl``)."""
    ok = [r for r in rows if r["status"] == "ok" and r["totals"]]
    sections, marks = [], {r["id"]: [] for r in rows}
    for number, (title, x, y) in enumerate(_plots(ok), 1):
        optimal = optimal_ids(ok, x, y)
        for i in optimal:
            marks[i].append(str(number))
        sections.append(f"<h2>{number}. {html.escape(title)}</h2>\n{_svg(title, ok, x, y, optimal)}")
    header = "".join(f"<th>{html.escape(name)}</th>" for name in ["Pareto-optimal in", *[c[0] for c in COLUMNS]])
    body = []
    for row in rows:
        cells = [_cell(",".join(marks[row["id"]]) or None)]
        for name, value in COLUMNS:
            if name == "id" and row["status"] == "ok":
                cells.append(f'<td data-v="{row["id"]}"><a href="jobs/{row["id"]}/report.html">{row["id"]}</a></td>')
            else:
                cells.append(_cell(value(row)))
        body.append(f"<tr>{''.join(cells)}</tr>")
    errors = sum(r["status"] != "ok" for r in rows)
    return f"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>bnnc sweep</title>
<style>body{{font-family:sans-serif;margin:1.5em}} table{{border-collapse:collapse;font-size:12px}}
td,th{{border:1px solid #ccc;padding:2px 6px;text-align:right}} th{{cursor:pointer;background:#f3f3f3}}
td:nth-child(3),td:nth-child(15){{text-align:left}}</style></head><body>
<h1>bnnc sweep: {len(rows)} configurations ({len(rows) - errors} ok, {errors} errors)</h1>
<p>Filled points on a line are the Pareto-optimal configurations of each model; the table's first column
names the plots where a configuration is Pareto-optimal. Click a column header to sort.</p>
{chr(10).join(sections)}
<h2>Configurations</h2>
<table><thead><tr>{header}</tr></thead><tbody>
{chr(10).join(body)}
</tbody></table>
<script>{SORT_JS}</script>
</body></html>
"""
