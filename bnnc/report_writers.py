"""Human-readable reports: the console summary, ``report.md`` and a self-contained
``report.html`` whose plots are inline SVG (no plotting library needed)."""

from __future__ import annotations

import html
from pathlib import Path

from bnnc.backends.schedule import Schedule
from bnnc.ir.diagnostics import printable

from . import robustness_report

PALETTE = ["#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac"]


def _fmt(value: float, digits: int = 4) -> str:
    return f"{value:.{digits}g}"


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")


def _layer_rows(report: dict) -> list[list[str]]:
    """The layer table; names (the model's own strings) escaped and capped (:func:`printable`)."""
    rows = []
    for layer in report["layers"]:
        layer = {**layer, "name": printable(layer["name"], 120)}
        if layer["target"] == "host":
            rows.append([layer["name"], "host", "-", "0", "-", "-", "-", "-"])
            continue
        if layer["target"] == "digital":
            rows.append([layer["name"], "digital", "-", "0", "-", "-", _fmt(layer["energy_nj"]), _fmt(layer["busy_ns"] / 1000)])
            continue
        rows.append([
            layer["name"], layer.get("scheme", "?"), f"{layer.get('tiles', ['?', '?'])[0]}×{layer.get('tiles', ['?', '?'])[1]}",
            str(layer.get("arrays", 0)), str(layer.get("replicas", 1)), layer.get("sensing", "?"),
            _fmt(layer.get("energy_nj", 0.0)), _fmt(layer.get("busy_ns", 0.0) / 1000),
        ])
    return rows


COMPARED = ["arrays", "energy_nj", "area_mm2", "latency_ns", "throughput_ips"]
"""The totals a comparison table shows."""

LAYER_HEADER = ["layer", "scheme", "tiles", "arrays", "replicas", "sensing", "energy nJ", "busy µs"]


def golden_text(golden: dict) -> str:
    """The golden check's outcome in words."""
    verdict = "bit-exact against onnxruntime" if golden["exact"] else "MISMATCH against onnxruntime"
    events = f", {golden['sign_zero_events']} Sign(0) events resolved by policy" if golden["sign_zero_events"] else ""
    return f"{verdict} on {golden['inputs']} inputs (max abs error {_fmt(golden['max_abs_err'])}{events})"


def console_summary(report: dict, out_dir: Path) -> str:
    """A short table: layers, then totals and the golden check."""
    rows = [LAYER_HEADER] + _layer_rows(report)
    widths = [max(len(r[i]) for r in rows) for i in range(len(LAYER_HEADER))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    t = report["totals"]
    lines += [
        "",
        f"{_count(t['arrays'], 'array')} (lower bound {t['arrays_lower_bound']}, MNSIM-style {t['arrays_mnsim_style']}), "
        f"area {_fmt(t['area_mm2'])} mm², energy {_fmt(t['energy_nj'])} nJ/inference, {_fmt(t['tops_per_w'])} TOPS/W",
        f"latency {_fmt(t['latency_ns'] / 1000)} µs, throughput {_fmt(t['throughput_ips'])} inferences/s "
        f"({_fmt(t['ips_per_mm2'])}/mm²), bottleneck {printable(str(t['bottleneck_layer']), 120)}",
    ]
    if report.get("golden"):
        lines.append(f"golden check: {golden_text(report['golden'])}")
    if report.get("robustness"):
        lines.append(robustness_report.summary_line(report["robustness"]))
    lines.append(f"wrote {out_dir}/ (report.html, report.md, report.json, schedule.json, trace.json, model.bir)")
    return "\n".join(lines)


def _markdown_table(header: list[str], rows: list[list[str]]) -> list[str]:
    """A markdown table; cells escaped: control characters (:func:`printable`) and ``|``."""
    cells = [[printable(c, 1000).replace("|", "\\|") for c in r] for r in rows]
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)] + ["| " + " | ".join(r) + " |" for r in cells]


def _hardware_rows(report: dict) -> list[list[str]]:
    rows = []
    for group, keys in report["hardware"]["parameters"].items():
        for key, entry in keys.items():
            rows.append([f"{group}.{key}", f"{entry['value']} {entry.get('unit', '')}".strip(), entry.get("source", "")])
    return rows


def markdown_report(report: dict) -> str:
    t = report["totals"]
    lines = [f"# bnnc report: {printable(report['model'], 1000)}", "", f"Pipeline: `{printable(report['pipeline'], 10000)}`", "", "## Totals", ""]
    lines += _markdown_table(["figure", "value"], [[k, _fmt(v) if isinstance(v, float) else str(v)] for k, v in t.items()
                                                   if not isinstance(v, dict)])
    lines += ["", "## Energy and area by component", ""]
    lines += _markdown_table(["component", "energy nJ", "area mm²"], [
        [c, _fmt(e), _fmt(t["area_breakdown_mm2"][c])] for c, e in t["energy_breakdown_nj"].items()])
    lines += ["", "## Layers", ""]
    lines += _markdown_table(LAYER_HEADER, _layer_rows(report))
    if report.get("schemes"):
        lines += ["", "## Mapping schemes compared", ""]
        keys = ["arrays", "arrays_lower_bound", "energy_nj", "area_mm2", "latency_ns", "throughput_ips", "tops_per_w"]
        lines += _markdown_table(["scheme", *keys], [[s, *(_fmt(v[k]) if isinstance(v[k], float) else str(v[k]) for k in keys)] for s, v in report["schemes"].items()])
    if report.get("comparison"):
        lines += ["", "## Schemes and array sizes compared", ""]
        lines += _markdown_table(["scheme", "array", *COMPARED], [
            [e["scheme"], "×".join(map(str, e["array"])), *(_fmt(e["totals"][k]) for k in COMPARED)] for e in report["comparison"]])
    if report.get("golden"):
        lines += ["", "## Golden check", "", golden_text(report["golden"])]
    if report.get("robustness"):
        lines += robustness_report.markdown_section(report["robustness"])
    lines += ["", "## Hardware parameters", "", f"Digest `{report['hardware']['digest']}`.", ""]
    lines += _markdown_table(["parameter", "value", "source"], _hardware_rows(report))
    lines += ["", "## Assumptions", ""] + [f"- {k}: {v}" for k, v in report["assumptions"].items()]
    lines += ["", "## Not modelled", ""] + [f"- {item}" for item in report.get("not_modelled", [])]
    if report.get("remarks"):
        lines += ["", "## Remarks", ""] + [f"- {printable(r, 1000)}" for r in report["remarks"]]
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------- SVG plots


LABEL_CHARS = 24
"""Characters of a bar's label that fit its 160-pixel margin; the whole name is its tooltip."""


def _bars(title: str, labels: list[str], values: list[float], unit: str) -> str:
    width, bar_h, left = 640, 18, 160
    height = 30 + bar_h * len(labels) + 10
    top = max(values, default=0) or 1
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img" aria-label="{html.escape(title)}">',
             f'<text x="4" y="16" font-weight="bold">{html.escape(title)}</text>']
    for i, (label, value) in enumerate(zip(labels, values)):
        y = 26 + i * bar_h
        w = (width - left - 90) * value / top
        shown = label if len(label) <= LABEL_CHARS else label[: LABEL_CHARS - 1] + "…"
        parts.append(f'<text x="{left - 6}" y="{y + 13}" text-anchor="end" font-size="12"><title>{html.escape(label)}</title>'
                     f'{html.escape(shown)}</text>')
        parts.append(f'<rect x="{left}" y="{y + 2}" width="{w:.1f}" height="{bar_h - 4}" fill="{PALETTE[i % len(PALETTE)]}"><title>{html.escape(label)}: {_fmt(value)} {unit}</title></rect>')
        parts.append(f'<text x="{left + w + 4:.1f}" y="{y + 13}" font-size="11">{_fmt(value)} {unit}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _timeline(schedule: Schedule) -> str:
    width, row_h, left = 640, 20, 160
    height = 30 + row_h * len(schedule.layers) + 20
    end = schedule.latency_ns or 1
    scale = (width - left - 10) / end
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img" aria-label="pipeline timeline">',
             '<text x="4" y="16" font-weight="bold">Pipeline timeline (one inference)</text>']
    for i, layer in enumerate(schedule.layers):
        y = 26 + i * row_h
        parts.append(f'<text x="{left - 6}" y="{y + 14}" text-anchor="end" font-size="12">{html.escape(layer.name)}</text>')
        ends = layer.group_end_ns
        starts = ends - layer.window_ns
        # merge back-to-back window groups into bars (keeps the SVG small)
        bar_start = float(starts[0]) if len(starts) else 0.0
        for k in range(len(starts)):
            if k + 1 == len(starts) or starts[k + 1] > ends[k] + 1e-9:
                x, w = left + bar_start * scale, max((float(ends[k]) - bar_start) * scale, 0.5)
                parts.append(f'<rect x="{x:.1f}" y="{y + 3}" width="{w:.1f}" height="{row_h - 6}" fill="{PALETTE[i % len(PALETTE)]}"/>')
                if k + 1 < len(starts):
                    bar_start = float(starts[k + 1])
    parts.append(f'<text x="{left}" y="{height - 4}" font-size="11">0</text>')
    parts.append(f'<text x="{width - 10}" y="{height - 4}" font-size="11" text-anchor="end">{_fmt(end / 1000)} µs</text>')
    parts.append("</svg>")
    return "".join(parts)


def _utilization(schedule: Schedule) -> str:
    times, busy = schedule.utilization(bins=100)
    width, height, left = 640, 140, 40
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img" aria-label="array utilization">',
             '<text x="4" y="16" font-weight="bold">Array utilization over time</text>']
    bar_w = (width - left - 10) / max(len(busy), 1)
    for i, value in enumerate(busy):
        h = 100 * min(float(value), 1.0)
        parts.append(f'<rect x="{left + i * bar_w:.1f}" y="{125 - h:.1f}" width="{bar_w:.2f}" height="{h:.1f}" fill="#4e79a7"/>')
    parts += ['<text x="4" y="30" font-size="11">100%</text>', '<text x="4" y="125" font-size="11">0%</text>', "</svg>"]
    return "".join(parts)


def html_report(report: dict, schedule: Schedule) -> str:
    """A self-contained page: totals, per-layer bars (arrays; energy and busy time of the
    crossbar layers and the digital blocks between them), the pipeline
    timeline, array utilization, the layer table and every hardware parameter with its source."""
    crossbar = [layer for layer in report["layers"] if layer["target"] == "crossbar"]
    names = [layer["name"] for layer in crossbar]
    working = [layer for layer in report["layers"] if layer["target"] in ("crossbar", "digital")]
    working_names = [layer["name"] + (" (digital)" if layer["target"] == "digital" else "") for layer in working]
    t = report["totals"]
    totals_rows = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(_fmt(v) if isinstance(v, float) else str(v))}</td></tr>" for k, v in t.items() if not isinstance(v, dict))
    layer_rows = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in _layer_rows(report))
    hw_rows = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in _hardware_rows(report))
    golden = golden_text(report["golden"]) if report.get("golden") else "not run"
    plots = "".join([
        _bars("Arrays per layer", names, [float(layer.get("arrays", 0)) for layer in crossbar], "arrays"),
        _bars("Energy per inference", working_names, [layer["energy_nj"] for layer in working], "nJ"),
        _bars("Busy time per inference", working_names, [layer["busy_ns"] / 1000 for layer in working], "µs"),
        _timeline(schedule),
        _utilization(schedule),
    ])
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>bnnc report: {html.escape(Path(report['model']).name)}</title>
<style>body{{font-family:system-ui,sans-serif;max-width:980px;margin:2em auto;padding:0 1em}}
table{{border-collapse:collapse;margin:1em 0}}td,th{{border:1px solid #ccc;padding:2px 8px;text-align:left;font-size:13px}}
svg{{display:block;margin:1em 0;font-family:system-ui,sans-serif}}</style></head>
<body>
<h1>bnnc report: {html.escape(report['model'])}</h1>
<p>Pipeline <code>{html.escape(report['pipeline'])}</code>. Golden check: {html.escape(golden)}.</p>
<h2>Totals</h2><table>{totals_rows}</table>
<h2>Plots</h2>{plots}
{robustness_report.html_section(report["robustness"]) if report.get("robustness") else ""}
<h2>Layers</h2><table><tr>{''.join(f'<th>{h}</th>' for h in LAYER_HEADER)}</tr>{layer_rows}</table>
<h2>Hardware parameters</h2><p>Digest <code>{html.escape(report['hardware']['digest'])}</code>. Every figure above is computed from these.</p>
<table><tr><th>parameter</th><th>value</th><th>source</th></tr>{hw_rows}</table>
<h2>Assumptions</h2><ul>{''.join(f'<li>{html.escape(k)}: {html.escape(str(v))}</li>' for k, v in report['assumptions'].items())}</ul>
</body></html>
"""
