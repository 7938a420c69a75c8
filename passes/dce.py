"""``dce``: dead-code elimination."""

from __future__ import annotations

from bnnc.ir import Module, Return

from .base import Pass, PassContext, register_pass


@register_pass
class DeadCodeElimination(Pass):
    """Erase ops whose results are unused, then constants no op refers to."""

    name = "dce"

    def run(self, module: Module, context: PassContext) -> None:
        for function in module.functions:
            for op in reversed(list(function.ops)):
                if not isinstance(op, Return) and op.results and all(not r.uses for r in op.results):
                    function.erase(op)
        module.remove_unused_constants()
