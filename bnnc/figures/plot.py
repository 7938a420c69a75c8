"""Drawing the figures with matplotlib (imported here only, when figures are made).

Each ``draw_*`` function fills a :class:`matplotlib.figure.Figure` from a figure's
:class:`~bnnc.figures.tables.Table`; :func:`render` saves it as SVG and PDF. No pyplot: a
Figure of its own per drawing, so nothing global changes in a program that imports bnnc.
The files are deterministic (``svg.hashsalt`` fixed, no dates in the metadata); SVG text is
drawn as glyph outlines (``svg.fonttype = path``, each text kept as an XML comment), so a
figure looks as matplotlib measured it whatever fonts a viewer has: a label laid out to fit
cannot overflow (and be cut) in a browser with wider fonts.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable

import matplotlib
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, MaxNLocator

from bnnc.ir.diagnostics import printable

from .tables import COMPARISON_FIGURES, COMPONENT_COSTS, Table

STYLE = {
    "svg.hashsalt": "bnnc",
    "svg.fonttype": "path",
    "text.parse_math": False,  # a '$' in a layer name is text, not mathtext
    "text.hinting": "no_hinting",  # text measured as the SVG/PDF draw it (unhinted outlines; see render)
    "figure.autolayout": False,  # no layout engine but the Figure's own (see render)
    "figure.constrained_layout.use": False,
    "font.size": 9,
    "axes.titlesize": 10,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "axes.axisbelow": True,
    "grid.alpha": 0.35,
}
SVG_METADATA = {"Date": None, "Creator": "bnnc"}
PDF_METADATA = {"CreationDate": None, "ModDate": None, "Creator": "bnnc", "Producer": "bnnc (matplotlib)"}
COLORS = ["#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac"]

LABEL_WIDTH = 28
"""Characters per line of a layer label; longer names wrap (never clipped)."""

WIDTH_IN = 7.0
PAD_IN = 0.1
"""Margin around the drawn content of a cropped figure (matplotlib's ``savefig.pad_inches``)."""
ROW_IN = 0.24


def wrap_label(name: str, width: int = LABEL_WIDTH) -> str:
    """``name`` (control characters escaped, capped: :func:`~bnnc.ir.diagnostics.printable`) on
    lines of at most ``width`` characters, broken after separators (``/ _ . : ,`` and spaces)
    where it can be, else anywhere."""
    name = printable(name, 200)
    lines, line = [], ""
    for piece in re.findall(r"[^/_.:, ]*[/_.:, ]?", name):
        while len(piece) > width:
            if line:
                lines.append(line)
                line = ""
            lines.append(piece[:width])
            piece = piece[width:]
        if len(line) + len(piece) > width:
            lines.append(line)
            line = ""
        line += piece
    lines.append(line)
    return "\n".join(part.rstrip() for part in lines if part.strip()) or name


def _rows_height(labels: list[str]) -> float:
    return ROW_IN * sum(label.count("\n") + 1 for label in labels) + 1.1


def _horizontal_bars(ax, labels: list[str], values: list[float], xlabel: str, color: str) -> None:
    positions = range(len(labels))
    ax.barh(positions, values, color=color, height=0.7)
    ax.set_yticks(list(positions), labels)
    ax.set_xlabel(xlabel)
    ax.grid(axis="y", visible=False)
    ax.margins(x=0.12)
    ax.xaxis.set_major_locator(MaxNLocator(nbins=4))
    top = max(values, default=0.0)
    for y, value in zip(positions, values):
        ax.annotate(f"{value:.3g}", (value, y), xytext=(3, 0), textcoords="offset points", va="center", fontsize=7)
    if top == 0:
        ax.set_xlim(0, 1)


def draw_layers(fig: Figure, table: Table, title: str) -> None:
    """Arrays, energy per inference and area of every layer, side by side."""
    labels = [wrap_label(name) for name in table.column("layer")]
    fig.set_size_inches(WIDTH_IN + 1.5, _rows_height(labels))
    axes = fig.subplots(1, 3, sharey=True)
    for ax, (column, xlabel), color in zip(axes, (("arrays", "arrays"), ("energy_nj", "energy per inference (nJ)"),
                                                  ("area_mm2", "area (mm²)")), COLORS):
        _horizontal_bars(ax, labels, [float(v) for v in table.column(column)], xlabel, color)
    axes[0].xaxis.set_major_locator(MaxNLocator(nbins=4, integer=True))
    axes[0].invert_yaxis()  # shared: once for all, first layer on top
    axes[0].set_ylabel("layer")
    fig.suptitle(title)


def _component_columns(table: Table, quantity: str, unit: str) -> dict[str, str]:
    """The columns of ``quantity`` (energy or area) by component name."""
    prefix, suffix = f"{quantity}_", f"_{unit}"
    return {c[len(prefix): -len(suffix)]: c for c in table.columns if c.startswith(prefix) and c.endswith(suffix)}


def draw_components(fig: Figure, table: Table, title: str) -> None:
    """Energy and area of every layer, stacked by component (one colour per component name
    in both panels)."""
    labels = [wrap_label(name) for name in table.column("layer")]
    fig.set_size_inches(WIDTH_IN + 1.5, _rows_height(labels) + 0.6)
    axes = fig.subplots(1, 2, sharey=True)
    panels = [(quantity, _component_columns(table, quantity, unit)) for quantity, _, _, unit in COMPONENT_COSTS]
    names = list(dict.fromkeys(part for _, columns in panels for part in columns))
    colors = {part: COLORS[i % len(COLORS)] for i, part in enumerate(names)}
    for ax, (quantity, columns) in zip(axes, panels):
        left = [0.0] * len(labels)
        for part, column in columns.items():
            values = [float(v) for v in table.column(column)]
            ax.barh(range(len(labels)), values, left=left, height=0.7, color=colors[part], label=part)
            left = [a + b for a, b in zip(left, values)]
        ax.set_yticks(list(range(len(labels))), labels)
        ax.grid(axis="y", visible=False)
        ax.set_xlim(left=0)
        ax.xaxis.set_major_locator(MaxNLocator(nbins=5))
        ax.set_xlabel("energy per inference (nJ)" if quantity == "energy" else "area (mm²)")
        ax.set_title(f"{quantity} by component")
    handles = {h.get_label(): h for ax in axes for h in ax.get_legend_handles_labels()[0]}
    fig.legend([handles[n] for n in names if n in handles], [n for n in names if n in handles], loc="outside lower center",
               ncol=min(len(names), 8), fontsize=8, frameon=False)
    axes[0].invert_yaxis()
    axes[0].set_ylabel("layer")
    fig.suptitle(title)


def draw_timeline(fig: Figure, table: Table, title: str) -> None:
    """When each layer's arrays are busy during one inference."""
    names = list(dict.fromkeys(table.column("layer")))
    labels = [wrap_label(name) for name in names]
    fig.set_size_inches(WIDTH_IN, _rows_height(labels))
    ax = fig.subplots()
    spans: dict[str, list[tuple[float, float]]] = {name: [] for name in names}
    for name, start, end, _ in table.rows:
        spans[name].append((start / 1000, (end - start) / 1000))
    for i, name in enumerate(names):
        color = COLORS[i % len(COLORS)]  # an edge of its colour: a run far shorter than a pixel still shows
        ax.broken_barh(spans[name], (i - 0.35, 0.7), facecolors=color, edgecolors=color, linewidth=0.6)
    ax.set_yticks(list(range(len(names))), labels)
    ax.set_ylim(max(len(names), 1) - 0.5, -0.5)
    ax.set_xlim(left=0)
    if not names:  # a program without crossbar arrays (e.g. a pipeline that lowers nothing)
        ax.text(0.5, 0.5, "no crossbar array is busy", transform=ax.transAxes, ha="center", va="center")
    ax.grid(axis="y", visible=False)
    ax.set_xlabel("time since the input arrives (µs)")
    ax.set_ylabel("layer")
    ax.set_title(title)


def draw_utilization(fig: Figure, table: Table, title: str) -> None:
    """The share of all arrays busy over time; the y axis follows the data (a low
    utilization is not a flat line at 0 %), the mean and peak are written on the plot."""
    fig.set_size_inches(WIDTH_IN, 2.6)
    ax = fig.subplots()
    starts = [s / 1000 for s in table.column("start_ns")]
    ends = [e / 1000 for e in table.column("end_ns")]
    busy = [float(b) for b in table.column("busy_percent")]
    ax.stairs(busy, starts + ends[-1:], fill=True, color=COLORS[0], alpha=0.8)
    peak = max(busy, default=0.0)
    mean = sum(busy) / len(busy) if busy else 0.0
    ax.set_ylim(0, peak * 1.2 if peak > 0 else 1.0)
    ax.set_xlim(0, ends[-1] if ends else 1.0)
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:.3g} %"))
    ax.set_xlabel("time since the input arrives (µs)")
    ax.set_ylabel("arrays busy (% of all)")
    ax.set_title(title)
    ax.text(0.99, 0.95, f"mean {mean:.3g} %, peak {peak:.3g} %", transform=ax.transAxes, ha="right", va="top",
            fontsize=8, bbox={"facecolor": "white", "edgecolor": "#999999", "alpha": 0.9})


def draw_comparison(fig: Figure, table: Table, title: str) -> None:
    """Arrays, energy, area and latency of every compared configuration, side by side (one
    row per configuration, named once on the left)."""
    labels = [wrap_label(c) for c in table.column("configuration")]
    fig.set_size_inches(WIDTH_IN + 2.5, _rows_height(labels))
    axes = fig.subplots(1, len(COMPARISON_FIGURES), sharey=True)
    for ax, (column, xlabel), color in zip(axes, COMPARISON_FIGURES, COLORS):
        _horizontal_bars(ax, labels, [float(v) for v in table.column(column)], xlabel, color)
    axes[0].xaxis.set_major_locator(MaxNLocator(nbins=4, integer=True))
    axes[0].invert_yaxis()
    axes[0].set_ylabel("scheme and array size")
    fig.suptitle(title)


Drawer = Callable[[Figure, Table, str], None]


def render(draw: Drawer, table: Table, title: str) -> tuple[bytes, bytes]:
    """The figure ``draw`` makes of ``table`` as (SVG, PDF) bytes, cropped to what is drawn
    (tight bounding box plus ``PAD_IN``: long labels are never cut). The figure is laid out
    (constrained layout) and measured once, at the vector formats' 72 dpi with unhinted text
    (matplotlib's measuring renderer then agrees with the outlines SVG and PDF draw within
    0.12 pt on 1600 sample strings; hinted, it was off by up to 6.5 pt), then drawn once per format with that layout and box: a ``savefig`` with
    ``bbox_inches="tight"`` would lay out, draw and measure the figure once more per format."""
    with matplotlib.rc_context(STYLE):
        fig = Figure(layout="constrained", dpi=72)
        draw(fig, table, title)
        fig.get_layout_engine().execute(fig)
        box = fig.get_tightbbox().padded(PAD_IN)
        fig.set_layout_engine(None)  # laid out: each save draws once, without a dry run
        svg, pdf = io.BytesIO(), io.BytesIO()
        fig.savefig(svg, format="svg", bbox_inches=box, metadata=SVG_METADATA)
        fig.savefig(pdf, format="pdf", bbox_inches=box, metadata=PDF_METADATA)
    return svg.getvalue(), pdf.getvalue()
