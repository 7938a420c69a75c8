"""The pass manager: runs a pipeline, verifying the IR after every pass, with MLIR-style
instrumentation (IR printing before/after passes, per-pass timing, a numerical check)."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from bnnc.ir import BnncError, IRError, Module, clone_module, print_module
from bnnc.ir.atomic import write_files_atomically

from .base import Pass, PassContext
from .pipeline import parse_pipeline

NumericCheck = Callable[[Module, Module, Pass], None]
"""Called with the module before and after a pass (and the pass); raises to report that the
pass changed what the program computes."""


class PassError(BnncError):
    """A failure inside a pass or in the verification after it: ``[FILE: ]in pass X (after
    passes A, B): …``, naming the compiled file where one is known (:meth:`at`)."""

    def __init__(self, pass_name: str, previous: list[str], message: str, source: str | None = None):
        self.pass_name = pass_name
        self.previous = previous
        self.message = message
        after = f" (after passes {', '.join(previous)})" if previous else " (the first pass)"
        super().__init__(f"{source + ': ' if source else ''}in pass {pass_name}{after}: {message}")

    def at(self, source: str) -> PassError:
        """The same failure, naming the file ``source`` whose module the pass ran on."""
        return PassError(self.pass_name, self.previous, self.message, source)


@dataclass
class PassTiming:
    name: str
    seconds: float


@dataclass
class PassManager:
    """Runs ``passes`` in order on a module.

    - ``verify_each``: verify the module after every pass (on by default);
    - ``print_before`` / ``print_after``: pass names (or ``{"all"}``) whose input/output IR is
      printed to ``out``; ``print_after_change``: print after a pass only if it changed the IR;
    - ``print_after_failure``: print the IR as a failing pass left it;
    - ``dump_dir``: write the IR before the first pass and after every pass as numbered files
      ``00-input.bir``, ``01-<pass>.bir``, … (text only, like ``print_after``);
    - ``on_pass``: called before each pass with its index, the number of passes and its label;
    - ``time_passes``: collect wall time per pass (see :meth:`timing_report`);
    - ``numeric_check``: compare the module before and after each pass (e.g. run random inputs
      through the interpreter) — it copies the module before each pass.
    """

    passes: list[Pass]
    verify_each: bool = True
    print_before: Collection[str] = ()
    print_after: Collection[str] = ()
    print_after_change: bool = False
    print_after_failure: bool = False
    dump_dir: Path | None = None
    on_pass: Callable[[int, int, str], None] | None = None
    time_passes: bool = False
    numeric_check: NumericCheck | None = None
    out: TextIO = field(default_factory=lambda: sys.stderr)
    timings: list[PassTiming] = field(default_factory=list)

    @classmethod
    def from_pipeline(cls, pipeline: str, **options) -> PassManager:
        return cls(parse_pipeline(pipeline) if pipeline.strip() else [], **options)

    def run(self, module: Module, context: PassContext | None = None) -> PassContext:
        """Run every pass; raises :class:`PassError` on the first failure."""
        context = context or PassContext()
        done: list[str] = []
        self._write_dump(module, 0, "input")
        for index, p in enumerate(self.passes):
            label = p.describe()
            if self.on_pass is not None:
                self.on_pass(index, len(self.passes), label)
            if self._selected(self.print_before, p):
                self._dump(module, f"IR Dump Before {label}")
            text_before = print_module(module) if self.print_after_change else None
            snapshot = clone_module(module) if self.numeric_check is not None else None
            start = time.perf_counter()
            try:
                p.run(module, context)
                if self.verify_each:
                    module.verify()
            except PassError:
                self._dump_failure(module, label)
                raise
            except (IRError, ValueError, KeyError, TypeError, ArithmeticError, AssertionError) as e:
                self._dump_failure(module, label)
                raise PassError(label, done, _describe(e)) from e
            if snapshot is not None:
                try:
                    self.numeric_check(snapshot, module, p)
                except Exception as e:  # whatever the checker raises names this pass
                    self._dump_failure(module, label)
                    raise PassError(label, done, f"numerical check: {_describe(e)}") from e
            self.timings.append(PassTiming(label, time.perf_counter() - start))
            if self._selected(self.print_after, p):
                self._dump(module, f"IR Dump After {label}")
            elif text_before is not None and print_module(module) != text_before:
                self._dump(module, f"IR Dump After {label} (changed)")
            done.append(label)
            self._write_dump(module, index + 1, p.name)
        return context

    def timing_report(self) -> str:
        """A table of wall time per pass, like ``mlir-opt --mlir-timing``."""
        total = sum(t.seconds for t in self.timings) or 1e-12
        lines = ["===-- pass execution timing --===", f"  {'seconds':>9}  {'share':>6}  pass"]
        for t in self.timings:
            lines.append(f"  {t.seconds:9.4f}  {100 * t.seconds / total:5.1f}%  {t.name}")
        lines.append(f"  {total:9.4f}  100.0%  total")
        return "\n".join(lines)

    @staticmethod
    def _selected(names: Collection[str], p: Pass) -> bool:
        return "all" in names or p.name in names

    def _dump(self, module: Module, title: str) -> None:
        self.out.write(f"// -----// {title} //----- //\n{print_module(module)}\n")

    def _dump_failure(self, module: Module, label: str) -> None:
        if not self.print_after_failure:
            return
        try:
            text = print_module(module)
        except Exception as e:  # the failing pass may have left IR the printer cannot print
            text = f"// the IR cannot be printed: {_describe(e)}"
        self.out.write(f"// -----// IR Dump After {label} Failed //----- //\n{text}\n")

    def _write_dump(self, module: Module, number: int, name: str) -> None:
        if self.dump_dir is not None:
            write_files_atomically({self.dump_dir / f"{number:02d}-{name}.bir": print_module(module).encode()})


def _describe(error: Exception) -> str:
    if isinstance(error, KeyError):
        return f"missing key {error}"
    return str(error) or type(error).__name__


