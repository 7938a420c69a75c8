"""``sign-convert``: from ±1 arithmetic to bits on crossbar ports (the paper's feature-map and
kernel conversion).

Inputs are applied as bit-planes — ``x̃ = (x + 1) / 2`` for ±1 values, ``p``/``n`` planes for
ternary values, binary code planes for 8-bit integers — so every port sees 0 V or +V_read.
Weights become cell states by one of three mappings (``../shared/DESIGN.md`` §4):

- ``refcol``: one cell ``w̃`` per weight and one reference column of mid-conductance cells;
  ``Σ x̃·w = 2·c_j − c_ref``;
- ``xnor``: rows ``x̃`` and ``1 − x̃``, cells ``w̃`` and ``1 − w̃``; the column count is the
  XNOR popcount;
- ``diff``: columns ``w̃`` and ``1 − w̃``; ``Σ x̃·w = c⁺ − c⁻``.

The correction terms (``Σ w`` and ``N`` over each window's valid taps) fold into the
comparator thresholds, per border class, so a layer's comparator bits are the next layer's
port voltages as they are. A conv padded with ±1 (``pad_value``) has its pad ports driven with
the constant bit of that value (``xbar.window``'s ``pad_bits``): every tap is an input, the
correction is the full fan-in's and there is one border class. A layer without a comparator is read out through ADCs
(``xbar.readout``: the exact integer pre-activation). ``auto`` picks, per layer, the mapping
needing the fewest ``rows × cols`` arrays. A layer with weights of exactly 0 (ternary weights:
sign of a latent 0, block-diagonal grouped convs) is never mapped with refcol, whose one cell
per weight stands for ±1: under ``scheme=refcol`` it gets the best of xnor and diff, with a
remark.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from bnnc.ir import Domain, Module, Operation
from bnnc.ir.analysis import layer_name
from bnnc.ir.dialects import bnn, xbar
from bnnc.ir.schemes import SCHEMES

from .base import Pass, PassContext, layer_names, register_pass
from .geometry import geometry, tap_counts, weight_matrix

WINDOW = ("strides", "pads", "dilations")
PREFERENCE = ("xnor", "refcol", "diff")
"""Tie-break for ``auto``: fewer physical columns (sense inputs) first."""


def choose_scheme(fan_in: int, outputs: int, rows: int, cols: int, zero_weights: bool = False) -> str:
    """The mapping needing the fewest ``rows × cols`` arrays (ties: :data:`PREFERENCE`) among
    those that can map the layer (weights of 0 rule out refcol)."""
    usable = [s for s in PREFERENCE if SCHEMES[s].maps_zero_weights or not zero_weights]
    return min(usable, key=lambda s: (SCHEMES[s].arrays_needed(fan_in, outputs, rows, cols), PREFERENCE.index(s)))


@register_pass
class SignConvert(Pass):
    """Map binary layers onto crossbar ports and cells (refcol, xnor or diff), folding the correction terms into the comparator thresholds."""

    name = "sign-convert"
    scheme: Literal["refcol", "xnor", "diff", "auto"] = "auto"
    rows: int = 128
    cols: int = 128
    layers: str = ""
    """Comma-separated names of the layers to convert (empty: every layer not converted yet),
    so that layers can have mappings of their own."""

    def run(self, module: Module, context: PassContext) -> None:
        chosen = layer_names(self.layers)
        for function in module.functions:
            for op in function.walk():
                if isinstance(op, (bnn.Conv, bnn.Dense)) and op.parent is function and (not chosen or layer_name(op) in chosen):
                    self._convert(module, op, context)

    def _convert(self, module: Module, layer: Operation, context: PassContext) -> None:
        function = layer.parent
        x = layer.operands[0]
        encoding, _ = xbar.PLANES[x.type.domain]
        w = weight_matrix(layer)
        outputs, fan_in = w.shape[0], int(np.prod(w.shape[1:]))
        zeros = bool((w == 0).any())
        name = layer_name(layer)
        scheme = self.scheme if self.scheme != "auto" else choose_scheme(fan_in, outputs, self.rows, self.cols, zeros)
        if zeros and not SCHEMES[scheme].maps_zero_weights:
            scheme = choose_scheme(fan_in, outputs, self.rows, self.cols, zeros)
            context.remark(f"sign-convert: layer {name} has weights of 0, which {self.scheme} cannot map "
                           f"(one cell per ±1 weight): mapped with {scheme}")
        mapping = SCHEMES[scheme]
        geo = geometry(layer)
        plus, minus = tap_counts(layer, geo)
        offset = mapping.correction(encoding, plus, minus)  # [M, K_border]

        def insert(op: Operation) -> Operation:
            return function.insert_before(layer, op)

        planes = insert(xbar.Planes.build([x], {}, [], layer.location)).result
        if isinstance(layer, bnn.Dense):
            planes = insert(bnn.Reshape.build([planes], {"shape": planes.type.shape + (1, 1)}, [], layer.location)).result
            window = {"kernel": (1, 1)}
        else:
            pad = layer.attr("pad_value")
            window = {"kernel": tuple(w.shape[2:]), **{k: layer.attr(k) for k in WINDOW},
                      "pad_bits": xbar.PAD_BITS[x.type.domain, pad] if pad else ()}
        ports = insert(xbar.Window.build([planes], {**window, "complement": mapping.complement_ports}, [], layer.location)).result
        g = module.add_constant(f"{name}.cells", mapping.cells(w.reshape(outputs, -1)), Domain.BIT)
        counts = insert(xbar.Mvm.build([ports], {}, [g], layer.location, [module.constants[g].type])).result
        sensing = {"scheme": scheme, "encoding": encoding}
        users = [u.op for u in layer.result.uses]
        if len(users) == 1 and isinstance(users[0], bnn.Compare):
            compare = users[0]
            thresholds = compare.const_array("thresholds").astype(np.int64)  # [M, K_c, L]
            classes = compare.const_array("classes").reshape(-1)
            table, class_of = _refine(thresholds, classes, -offset, geo.class_of)
            t = module.add_constant(f"{name}.port_thresholds", table.astype(np.int32), Domain.I32)
            c = module.add_constant(f"{name}.port_classes", class_of.reshape(layer.result.type.shape[2:]).astype(np.int32), Domain.I32)
            sensed = xbar.Compare.build([counts], {**sensing, **compare.attributes}, [t, c], compare.location,
                                        [module.constants[t].type, module.constants[c].type])
            function.insert_before(compare, sensed)
            decoded = function.insert_before(compare, xbar.Decode.build([sensed.result], {}, [], compare.location))
            compare.result.replace_all_uses_with(decoded.result)
            function.erase(compare)
        else:
            o = module.add_constant(f"{name}.offset", offset.astype(np.int32), Domain.I32)
            c = module.add_constant(f"{name}.port_classes", geo.class_of.reshape(layer.result.type.shape[2:]).astype(np.int32), Domain.I32)
            readout = insert(xbar.Readout.build([counts], sensing, [o, c], layer.location, [module.constants[o].type, module.constants[c].type]))
            layer.result.replace_all_uses_with(readout.result)
        function.erase(layer)


def _refine(table: np.ndarray, classes: np.ndarray, shift: np.ndarray, border: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Combine a per-class table ``[M, K_c, L]`` with per-border-class shifts ``[M, K_b]``:
    one class per distinct (class, border class) pair, ``table + shift``."""
    pairs, class_of = np.unique(np.stack([classes, border], axis=1), axis=0, return_inverse=True)
    refined = table[:, pairs[:, 0], :] + shift[:, pairs[:, 1]][..., None]
    return refined, class_of.reshape(-1)
