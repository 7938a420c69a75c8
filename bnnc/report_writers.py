"""Human-readable reports: the console summary, ``report.md`` and a self-contained
``report.html`` with the figures of :mod:`bnnc.figures` inlined as SVG."""

from __future__ import annotations

import html
from pathlib import Path

from bnnc.figures import RenderedFigure
from bnnc.figures.tables import COMPARED, Table, comparison_table
from bnnc.ir.diagnostics import plural, printable

from . import robustness_report


def _fmt(value: float, digits: int = 4) -> str:
    return f"{value:.{digits}g}"


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


LAYER_HEADER = ["layer", "scheme", "tiles", "arrays", "replicas", "sensing", "energy nJ", "busy µs"]


def golden_text(golden: dict) -> str:
    """The golden check's outcome in words."""
    verdict = "bit-exact against onnxruntime" if golden["exact"] else "MISMATCH against onnxruntime"
    events = f", {golden['sign_zero_events']} Sign(0) events resolved by policy" if golden["sign_zero_events"] else ""
    return f"{verdict} on {plural(golden['inputs'], 'input')} (max abs error {_fmt(golden['max_abs_err'])}{events})"


def console_summary(report: dict, out_dir: Path) -> str:
    """A short table: layers, then totals and the golden check."""
    rows = [LAYER_HEADER] + _layer_rows(report)
    widths = [max(len(r[i]) for r in rows) for i in range(len(LAYER_HEADER))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    t = report["totals"]
    lines += [
        "",
        f"{plural(t['arrays'], 'array')} (lower bound {t['arrays_lower_bound']}, MNSIM-style {t['arrays_mnsim_style']}), "
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


def _html_table(header: list[str] | tuple[str, ...], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _table_cells(table: Table) -> list[list[str]]:
    return [[_fmt(v) if isinstance(v, float) else str(v) for v in row] for row in table.rows]


def _figures_html(figures: list[RenderedFigure]) -> str:
    if not figures:
        return "<p>Figures not drawn (<code>--no-figures</code>).</p>"
    parts = []
    for figure in figures:
        links = " · ".join(f'<a href="figures/{figure.name}.{ext}">{ext.upper()}</a>' for ext in ("svg", "pdf", "csv"))
        parts.append(f'<figure id="figure-{figure.name}">{figure.inline_svg()}<figcaption>{html.escape(figure.title)} '
                     f"({links})</figcaption></figure>")
    return "".join(parts)


def html_report(report: dict, figures: list[RenderedFigure]) -> str:
    """A self-contained page: totals, the figures (inline SVG: arrays, energy and area per
    layer; energy and area by component; the pipeline timeline; array utilization; the
    compared configurations), the layer table and every hardware parameter with its source."""
    t = report["totals"]
    totals_rows = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(_fmt(v) if isinstance(v, float) else str(v))}</td></tr>" for k, v in t.items() if not isinstance(v, dict))
    golden = golden_text(report["golden"]) if report.get("golden") else "not run"
    compared = comparison_table(report)
    comparison = f"<h2>Configurations compared</h2>{_html_table(compared.columns, _table_cells(compared))}" if compared else ""
    name = Path(report["model"]).name
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>bnnc report: {html.escape(name)}</title>
<style>body{{font-family:system-ui,sans-serif;max-width:980px;margin:2em auto;padding:0 1em}}
table{{border-collapse:collapse;margin:1em 0}}td,th{{border:1px solid #ccc;padding:2px 8px;text-align:left;font-size:13px}}
figure{{margin:1.5em 0}}figure svg{{display:block;max-width:100%;height:auto}}figcaption{{font-size:13px;color:#444}}</style></head>
<body>
<h1>bnnc report: {html.escape(name)}</h1>
<p>Model <code>{html.escape(report['model'])}</code>. Pipeline <code>{html.escape(report['pipeline'])}</code>. Golden check: {html.escape(golden)}.</p>
<h2>Totals</h2><table>{totals_rows}</table>
<h2>Figures</h2>{_figures_html(figures)}{comparison}
{robustness_report.html_section(report["robustness"]) if report.get("robustness") else ""}
<h2>Layers</h2>{_html_table(LAYER_HEADER, _layer_rows(report))}
<h2>Hardware parameters</h2><p>Digest <code>{html.escape(report['hardware']['digest'])}</code>. Every figure above is computed from these.</p>
{_html_table(["parameter", "value", "source"], _hardware_rows(report))}
<h2>Assumptions</h2><ul>{''.join(f'<li>{html.escape(k)}: {html.escape(str(v))}</li>' for k, v in report['assumptions'].items())}</ul>
<h2>Not modelled</h2><ul>{''.join(f'<li>{html.escape(str(item))}</li>' for item in report.get('not_modelled', []))}</ul>
</body></html>
"""
