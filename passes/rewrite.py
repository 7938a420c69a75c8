"""Rewrite patterns: match one op type, rewrite it, or say why the match failed.

A pattern subclasses :class:`RewritePattern`, names the op class it matches in ``op_type``
and implements :meth:`~RewritePattern.match_and_rewrite`, which either edits the IR through
the :class:`Rewriter` and returns True, or returns ``rewriter.fail(op, "why")``.
:func:`apply_patterns` applies a set of patterns greedily until nothing changes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import ClassVar

from bnnc.ir import Function, Module, Operation, Value

from .base import Pass, PassContext


@dataclass
class MatchFailure:
    pattern: str
    op: Operation
    reason: str

    def __str__(self) -> str:
        return f"{self.pattern} did not match {self.op.name} at {self.op.location.describe()}: {self.reason}"


@dataclass
class Rewriter:
    """Edits one function on behalf of patterns, and records why matches failed."""

    function: Function
    pattern: str = ""
    failures: list[MatchFailure] = field(default_factory=list)

    def insert_before(self, anchor: Operation, op: Operation) -> Operation:
        return self.function.insert_before(anchor, op)

    def replace_op(self, op: Operation, new_values: Sequence[Value]) -> None:
        """Make every use of ``op``'s results use ``new_values`` instead, then erase ``op``."""
        if len(new_values) != len(op.results):
            raise ValueError(f"{op.name} has {len(op.results)} results, got {len(new_values)} replacements")
        for old, new in zip(op.results, new_values):
            if old.type != new.type:
                raise ValueError(f"replacement for {op.name} result has type {new.type}, expected {old.type}")
            old.replace_all_uses_with(new)
        self.function.erase(op)

    def erase_op(self, op: Operation) -> None:
        self.function.erase(op)

    def fail(self, op: Operation, reason: str) -> bool:
        """Record why the current pattern does not apply to ``op``; returns False."""
        self.failures.append(MatchFailure(self.pattern, op, reason))
        return False


class RewritePattern:
    """Matches ops of class ``op_type`` (and subclasses; a tuple matches any of its classes)."""

    op_type: ClassVar[type[Operation] | tuple[type[Operation], ...]] = Operation

    def match_and_rewrite(self, op: Operation, rewriter: Rewriter) -> bool:
        raise NotImplementedError


@dataclass
class PatternResult:
    rewrites: int = 0
    failures: list[MatchFailure] = field(default_factory=list)


def apply_patterns(module: Module, patterns: Sequence[RewritePattern], max_rounds: int = 32) -> PatternResult:
    """Apply ``patterns`` to every op of every function, in order, until a round changes
    nothing (at most ``max_rounds`` rounds). Failures of the last round are reported."""
    result = PatternResult()
    for _ in range(max_rounds):
        changed = False
        result.failures = []
        for function in module.functions:
            for op in function.walk():
                if op.parent is not function:
                    continue  # erased by an earlier rewrite in this round
                for pattern in patterns:
                    if not isinstance(op, pattern.op_type):
                        continue
                    rewriter = Rewriter(function, type(pattern).__name__)
                    applied = pattern.match_and_rewrite(op, rewriter)
                    result.failures.extend(rewriter.failures)
                    if applied:
                        result.rewrites += 1
                        changed = True
                        break
        if not changed:
            return result
    raise RuntimeError(f"rewrite patterns did not converge in {max_rounds} rounds")


class PatternPass(Pass):
    """A pass made of rewrite patterns: subclasses implement :meth:`patterns`. With ``--debug``
    every failed match is reported as a remark."""

    def patterns(self) -> Sequence[RewritePattern]:
        raise NotImplementedError

    def run(self, module: Module, context: PassContext) -> None:
        result = apply_patterns(module, self.patterns())
        if context.debug:
            for failure in result.failures:
                context.remark(f"{self.name}: {failure}")
