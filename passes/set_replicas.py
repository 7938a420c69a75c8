"""``set-replicas``: give the named layers a fixed number of replicas (copies of their arrays,
each reading its own window at the same time), as a layer configuration asks — at most one per
window position. Runs after
``tile`` (a layer's array reads are its tiles); a later ``replicate`` only adds replicas."""

from __future__ import annotations

from bnnc.ir import Module
from bnnc.ir.analysis import crossbar_layers

from .base import Pass, PassContext, layer_names, register_pass


@register_pass
class SetReplicas(Pass):
    """Set the replica count of the named crossbar layers."""

    name = "set-replicas"
    layers: str = ""
    """Comma-separated names of the layers (their first ONNX node)."""
    replicas: int = 1

    def run(self, module: Module, context: PassContext) -> None:
        if self.replicas < 1:
            raise ValueError(f"set-replicas needs replicas >= 1, got {self.replicas}")
        chosen = layer_names(self.layers)
        for function in module.functions:
            for layer in crossbar_layers(function):
                if layer.name in chosen:
                    for op in layer.reads:
                        op.attributes["replicas"] = min(self.replicas, layer.positions)
