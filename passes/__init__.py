"""Passes over the bnnc IR: the pass API, registry, pipeline strings, pass manager, rewrite
patterns, and the built-in passes (one per module)."""

from .base import Pass, PassContext, load_plugin, lookup_pass, register_pass, registered_passes
from .manager import PassError, PassManager
from .pipeline import PipelineError, format_pipeline, parse_pipeline
from .rewrite import PatternPass, RewritePattern, Rewriter, apply_patterns
from . import builtin  # noqa: E402,F401,I001  (registers every built-in pass; after the API it uses)

__all__ = [
    "Pass", "PassContext", "load_plugin", "lookup_pass", "register_pass", "registered_passes",
    "PassError", "PassManager", "PipelineError", "format_pipeline", "parse_pipeline",
    "PatternPass", "RewritePattern", "Rewriter", "apply_patterns",
]
