"""``replicate``: duplicate a layer's arrays so that ``r`` windows are read at once — the
"highly parallelized" part of the design.

Greedy on the pipeline's bottleneck: while the busiest layer (``ceil(positions / r)`` window
groups × window time) can be sped up, give it the next replica count that removes at least one
window group, as long as the array budget ``max-arrays`` allows, or until the period reaches
``1 / target-fps``. Layers whose positions are not a multiple of ``r`` finish with a partial
group. The timing is the schedule's (``backends/schedule.py``) under the hardware in effect.
"""

from __future__ import annotations

import math

from bnnc.ir import Module
from bnnc.ir.dialects import xbar

from .base import Pass, PassContext, register_pass


@register_pass
class Replicate(Pass):
    """Duplicate the arrays of bottleneck layers to minimize the pipeline period within max-arrays, or to reach target-fps with the fewest arrays."""

    name = "replicate"
    max_arrays: int = 0
    target_fps: float = 0.0

    def run(self, module: Module, context: PassContext) -> None:
        from bnnc.backends.schedule import build_schedule, default_timing

        if self.max_arrays <= 0 and self.target_fps <= 0:
            raise ValueError("replicate needs max-arrays=N or target-fps=F")
        timing = context.options.get("timing") or default_timing()
        function = module.function("main")
        mvms = [op for op in function.ops if isinstance(op, xbar.Mvm)]
        layers = build_schedule(module, timing).layers
        replicas = {layer.name: layer.replicas for layer in layers}
        tiles = {layer.name: layer.tiles[0] * layer.tiles[1] for layer in layers}
        info = {layer.name: layer for layer in layers}
        arrays = sum(tiles[n] * replicas[n] for n in replicas)
        budget = self.max_arrays if self.max_arrays > 0 else math.inf
        goal_ns = 1e9 / self.target_fps if self.target_fps > 0 else 0.0
        if arrays > budget:
            context.remark(f"replicate: the layers need {arrays} arrays without replication, more than max-arrays={self.max_arrays}")

        def busy(name: str) -> float:
            return math.ceil(info[name].positions / replicas[name]) * info[name].window_ns

        while replicas:
            name = max(replicas, key=busy)
            if busy(name) <= goal_ns:
                break
            groups = math.ceil(info[name].positions / replicas[name])
            if groups == 1:
                break  # every window already has its own replica
            wanted = math.ceil(info[name].positions / (groups - 1))
            cost = tiles[name] * (wanted - replicas[name])
            if arrays + cost > budget:
                break
            arrays += cost
            replicas[name] = wanted
        if goal_ns and max(busy(n) for n in replicas) > goal_ns:
            best = 1e9 / max(busy(n) for n in replicas)
            context.remark(f"replicate: target {self.target_fps:g} inferences/s is not reachable; best {best:.4g} with {arrays} arrays")
        for op in mvms:
            name = op.location.names[0] if op.location.known else ""
            if name in replicas:
                op.attributes["replicas"] = replicas[name]
        facts = context.facts.setdefault("layers", {})
        for name, r in replicas.items():
            facts.setdefault(name, {}).update({"replicas": r, "arrays": tiles[name] * r})
