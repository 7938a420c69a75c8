"""Publication figures of a compilation: ``figures/<name>.svg``, ``.pdf`` and the data of
each as ``.csv`` in the output directory, and the SVGs inlined into ``report.html``.

The figures (drawn from the report's dict and the schedule; matplotlib is imported only
when they are made):

- ``layers``: arrays, energy per inference and area of every layer;
- ``components``: energy and area of every layer, stacked by component;
- ``timeline``: when each layer's arrays are busy during one inference;
- ``utilization``: the share of all arrays busy over time;
- ``comparison``: the compared mapping schemes / array sizes, when the report has them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from bnnc.backends.schedule import Schedule
from bnnc.ir.diagnostics import plural

from .tables import Table, comparison_table, component_table, layer_table, timeline_table, utilization_table


@dataclass(frozen=True)
class RenderedFigure:
    name: str
    title: str
    svg: bytes
    pdf: bytes
    csv: bytes

    def files(self) -> dict[str, bytes]:
        """The figure's files, by path relative to the output directory."""
        return {f"figures/{self.name}.{ext}": data for ext, data in (("svg", self.svg), ("pdf", self.pdf), ("csv", self.csv))}

    def inline_svg(self) -> str:
        """The SVG as an element for an HTML page (without the XML prolog; it keeps its
        ``xmlns``, so a copy saved from the page renders on its own)."""
        text = self.svg.decode()
        return text[re.search(r"<svg\b", text).start():]


def figure_tables(report: dict, schedule: Schedule) -> list[tuple[str, str, Table]]:
    """(name, title, data) of every figure the report calls for."""
    arrays = report["totals"]["arrays"]
    figures = [
        ("layers", "Arrays, energy and area per layer", layer_table(report)),
        ("components", "Energy and area by component", component_table(report)),
        ("timeline", "Pipeline timeline (one inference)", timeline_table(schedule)),
        ("utilization", f"Array utilization over time ({plural(arrays, 'array')})", utilization_table(schedule)),
    ]
    comparison = comparison_table(report)
    if comparison is not None:
        figures.append(("comparison", "Mapping schemes and array sizes compared", comparison))
    return figures


def render_figures(report: dict, schedule: Schedule) -> list[RenderedFigure]:
    """Every figure of :func:`figure_tables`, drawn."""
    from . import plot  # matplotlib: only when figures are made

    drawers = {"layers": plot.draw_layers, "components": plot.draw_components, "timeline": plot.draw_timeline,
               "utilization": plot.draw_utilization, "comparison": plot.draw_comparison}
    rendered = []
    for name, title, table in figure_tables(report, schedule):
        svg, pdf = plot.render(drawers[name], table, title)
        rendered.append(RenderedFigure(name, title, svg, pdf, table.csv()))
    return rendered
