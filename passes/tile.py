"""``tile``: cut every layer's conductance pattern into ``rows × cols`` arrays.

Rows (ports) split into row tiles, outputs into column tiles; refcol keeps a reference column
in every array (``cols − 1`` outputs per array), diff keeps each output's two columns together
(``cols // 2`` outputs). Where a layer's fan-in fits one array and its input is one plane, each
column's 1-bit comparator senses the analog current directly; otherwise every array read is
digitized by an ADC of ``ceil(log2(rows + 1))`` bits and the partial sums (row tiles, bit-planes)
are accumulated digitally before the comparison. Every array read records its array geometry
(``array = [rows, cols]``), so a pipeline may tile different layers onto different arrays.
"""

from __future__ import annotations

import math

import numpy as np

from bnnc.ir import Domain, Module, Operation, Value
from bnnc.ir.analysis import layer_name
from bnnc.ir.dialects import xbar
from bnnc.ir.dialects.bnn import FUSION_FACTS
from bnnc.ir.schemes import SCHEMES

from .base import Pass, PassContext, layer_names, register_pass

SENSING = (xbar.Compare, xbar.Readout)
FACTS = {a.name for a in FUSION_FACTS}


def adc_bits(rows: int) -> int:
    """Bits an ADC needs for a column count of up to ``rows``."""
    return max(1, math.ceil(math.log2(rows + 1)))


@register_pass
class Tile(Pass):
    """Cut each layer's cells into rows×cols arrays: comparators where one array and one plane suffice, ADCs and digital accumulation otherwise."""

    name = "tile"
    rows: int = 128
    cols: int = 128
    layers: str = ""
    """Comma-separated names of the layers to tile (empty: every layer not tiled yet), so that
    layers can be tiled onto arrays of different sizes."""

    def run(self, module: Module, context: PassContext) -> None:
        if self.rows < 2 or self.cols < 2:
            raise ValueError(f"arrays need at least 2 rows and 2 columns, got {self.rows}x{self.cols}")
        chosen = layer_names(self.layers)
        for function in module.functions:
            for op in function.walk():
                if isinstance(op, SENSING) and op.parent is function and isinstance(op.operands[0].producer, xbar.Mvm) \
                        and (not chosen or layer_name(op.operands[0].producer) in chosen):
                    self._tile(module, op)

    def _tile(self, module: Module, sensing: Operation) -> None:
        mvm = sensing.operands[0].producer
        function = sensing.parent
        if len(mvm.result.uses) != 1:
            raise ValueError(f"the column counts of {mvm.location.describe()} have other users")
        ports, pattern = mvm.operands[0], mvm.const_array("conductance")
        planes, _, fan_rows = ports.type.shape
        scheme = sensing.attr("scheme")
        table = sensing.const_array(sensing.const_defs[0].name)
        outputs = table.shape[0]
        mapping = SCHEMES[scheme]
        per_array = mapping.outputs_per_array(self.cols)
        row_starts = list(range(0, fan_rows, self.rows))
        # a comparator senses one analog read; sums over row tiles or bit-planes, and readouts,
        # go through ADCs
        digital = len(row_starts) > 1 or planes > 1 or isinstance(sensing, xbar.Readout)
        name = layer_name(mvm)
        location = mvm.location
        replicas = mvm.attr("replicas")

        def insert(op: Operation) -> Value:
            return function.insert_before(sensing, op).result

        row_ports = [
            insert(xbar.Slice.build([ports], {"axis": 2, "start": s, "size": min(self.rows, fan_rows - s)}, [], location))
            if len(row_starts) > 1 else ports
            for s in row_starts
        ]
        pieces: list[Value] = []
        for j, first in enumerate(range(0, outputs, per_array)):
            outs = np.arange(first, min(first + per_array, outputs))
            columns = mapping.column_indices(outs, pattern.shape[1])
            partials = []
            for r, (start, slice_ports) in enumerate(zip(row_starts, row_ports)):
                cells = pattern[start : start + self.rows][:, columns]
                symbol = module.add_constant(f"{name}.t{r}_{j}", cells, Domain.BIT)
                counts = insert(xbar.Mvm.build([slice_ports], {"tile": (r, j), "replicas": replicas, "array": (self.rows, self.cols)},
                                               [symbol], location, [module.constants[symbol].type]))
                if digital:
                    counts = insert(xbar.Adc.build([counts], {"bits": adc_bits(cells.shape[0])}, [], location))
                partials.append(counts)
            counts = insert(xbar.Accumulate.build(partials, {}, [], location)) if len(partials) > 1 else partials[0]
            part_table = module.add_constant(f"{sensing.const(sensing.const_defs[0].name)}.t{j}", table[outs], Domain.I32)
            consts = [part_table, sensing.const("classes")]
            attributes = {k: _channels_within(v, first, len(outs)) if k in FACTS else v for k, v in sensing.attributes.items()}
            pieces.append(insert(type(sensing).build([counts], attributes, consts, sensing.location,
                                                     [module.constants[c].type for c in consts])))
        axis = 2 if isinstance(sensing, xbar.Compare) else 1
        result = insert(xbar.Concat.build(pieces, {"axis": axis}, [], sensing.location)) if len(pieces) > 1 else pieces[0]
        sensing.result.replace_all_uses_with(result)
        function.erase(sensing)
        function.erase(mvm)


def _channels_within(channels: tuple[int, ...], first: int, count: int) -> tuple[int, ...]:
    """The channels of a layer-wide list that one column tile (outputs ``first`` … ``first + count − 1``)
    serves, counted from its first output."""
    return tuple(c - first for c in channels if first <= c < first + count)
