"""``replicate``: duplicate a layer's arrays so that ``r`` windows are read at once — the
"highly parallelized" part of the design.

Greedy on the pipeline's bottleneck: while the busiest layer (``ceil(positions / r)`` window
groups × window time) can be sped up, give it the next replica count that removes at least one
window group, as long as the array budget ``max-arrays`` allows, or until the period reaches
``1 / target-fps``. Layers whose positions are not a multiple of ``r`` finish with a partial
group. Window times follow :meth:`bnnc.ir.analysis.CrossbarLayer.window_ns` with the timing
given as options (defaults: the default hardware of ``../shared/DESIGN.md`` §6; ``bnnc`` fills
them from the hardware configuration in effect).
"""

from __future__ import annotations

import math

from bnnc.ir import Module
from bnnc.ir.analysis import Timing, crossbar_layers
from bnnc.ir.diagnostics import plural

from .base import Pass, PassContext, register_pass


def parse_adc_ns(text: str) -> tuple[float, ...]:
    """``adc-ns``: one conversion time for every ADC width, or one per width ``1, 2, …, n``
    separated by ``/`` (wider ADCs take the last)."""
    try:
        values = tuple(float(v) for v in text.split("/"))
    except ValueError:
        raise ValueError(f"adc-ns takes nanoseconds per conversion, e.g. 1 or 1/1/0.9, got '{text}'") from None
    if not values or min(values) <= 0:
        raise ValueError(f"adc-ns must be positive, got '{text}'")
    return values


@register_pass
class Replicate(Pass):
    """Duplicate the arrays of bottleneck layers to minimize the pipeline period within max-arrays, or to reach target-fps with the fewest arrays."""

    name = "replicate"
    max_arrays: int = 0
    target_fps: float = 0.0
    read_ns: float = 10.0
    """Time of one array read."""
    comparator_ns: float = 1.0
    """Time of one comparator decision."""
    adc_ns: str = "1"
    """Time of one ADC conversion, for every width or per width 1/2/…/n bits."""
    adc_share: int = 8
    """Columns sharing one ADC."""
    clock_ns: float = 1.0
    """Period of the digital clock."""
    buffer_ns: float = 0.0
    """Time of one line-buffer access on a window's path (0: overlapped with the reads)."""
    buffer_bits: int = 64
    """Bits per line-buffer access."""

    def timing(self) -> Timing:
        return Timing(self.read_ns, self.comparator_ns, parse_adc_ns(self.adc_ns), self.adc_share, self.clock_ns,
                      buffer_ns=self.buffer_ns, buffer_bits=self.buffer_bits)

    def run(self, module: Module, context: PassContext) -> None:
        if self.max_arrays <= 0 and self.target_fps <= 0:
            raise ValueError("replicate needs max-arrays=N or target-fps=F")
        timing = self.timing()
        layers = {layer.name: layer for layer in crossbar_layers(module.function("main"))}
        replicas = {name: layer.replicas for name, layer in layers.items()}
        tiles = {name: len(layer.reads) for name, layer in layers.items()}
        window_ns = {name: layer.window_ns(timing) for name, layer in layers.items()}
        arrays = sum(tiles[n] * replicas[n] for n in replicas)
        budget = self.max_arrays if self.max_arrays > 0 else math.inf
        goal_ns = 1e9 / self.target_fps if self.target_fps > 0 else 0.0
        if arrays > budget:
            context.remark(f"replicate: the layers need {plural(arrays, 'array')} without replication, more than max-arrays={self.max_arrays}")

        def busy(name: str) -> float:
            return math.ceil(layers[name].positions / replicas[name]) * window_ns[name]

        while replicas:
            name = max(replicas, key=busy)
            if busy(name) <= goal_ns:
                break
            groups = math.ceil(layers[name].positions / replicas[name])
            if groups == 1:
                break  # every window already has its own replica
            wanted = math.ceil(layers[name].positions / (groups - 1))
            cost = tiles[name] * (wanted - replicas[name])
            if arrays + cost > budget:
                break
            arrays += cost
            replicas[name] = wanted
        if goal_ns and max(busy(n) for n in replicas) > goal_ns:
            best = 1e9 / max(busy(n) for n in replicas)
            context.remark(f"replicate: target {self.target_fps:g} inferences/s is not reachable; best {best:.4g} with {plural(arrays, 'array')}")
        for name, layer in layers.items():
            for op in layer.reads:
                op.attributes["replicas"] = replicas[name]
