"""The pass API: a :class:`Pass` is a dataclass whose fields are its options; ``@register_pass``
makes it available by name to pipeline strings, ``--list-passes`` and the pass manager.

A pass transforms a :class:`~bnnc.ir.Module` in place. Passes from other packages register
through the entry-point group ``bnnc.passes`` (each entry point names a module or a Pass
class; loading it is enough) or ``bnnc --load-plugin FILE_OR_MODULE``.
"""

from __future__ import annotations

import dataclasses
import importlib
import importlib.metadata
import importlib.util
import sys
import typing
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from bnnc.ir import Module

ENTRY_POINT_GROUP = "bnnc.passes"


@dataclass
class PassContext:
    """What passes share during one pipeline run: remarks — warnings and pattern-match
    diagnostics — for the user (``remarks``) and whether to explain failed matches (``debug``).
    Everything a pass decides is in the IR; what a pass needs comes from its options."""

    remarks: list[str] = field(default_factory=list)
    debug: bool = False

    def remark(self, message: str) -> None:
        self.remarks.append(message)


class Pass:
    """Base class of passes. Subclasses set ``name`` (kebab-case, used in pipelines), write a
    docstring whose first line is the one-line summary, declare options as annotated class
    attributes with defaults, and implement :meth:`run`."""

    name: ClassVar[str] = ""

    def run(self, module: Module, context: PassContext) -> None:
        raise NotImplementedError

    @classmethod
    def summary(cls) -> str:
        """First line of the docstring."""
        return (cls.__doc__ or "").strip().splitlines()[0] if cls.__doc__ else ""

    @classmethod
    def options(cls) -> list[dataclasses.Field]:
        return list(dataclasses.fields(cls)) if dataclasses.is_dataclass(cls) else []

    def describe(self) -> str:
        """The pass as it would be written in a pipeline string, with non-default options."""
        changed = [
            f"{f.name.replace('_', '-')}={_format_option(getattr(self, f.name))}"
            for f in self.options()
            if getattr(self, f.name) != f.default
        ]
        return self.name + ("{" + ",".join(changed) + "}" if changed else "")


def _format_option(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


_PASSES: dict[str, type[Pass]] = {}
_plugins_loaded = False


def register_pass(cls: type[Pass]) -> type[Pass]:
    """Class decorator: turn ``cls`` into a dataclass (its annotated attributes become options)
    and register it under ``cls.name``."""
    if not cls.name:
        raise ValueError(f"pass class {cls.__name__} needs a 'name'")
    existing = _PASSES.get(cls.name)
    if existing is not None and existing.__qualname__ != cls.__qualname__:
        raise ValueError(f"pass name '{cls.name}' is already registered by {existing.__qualname__}")
    if not dataclasses.is_dataclass(cls) or "__dataclass_fields__" not in cls.__dict__:
        cls = dataclass(cls)
    _PASSES[cls.name] = cls
    return cls


def load_entry_point_passes() -> None:
    """Import the passes other installed packages declare under the ``bnnc.passes`` group."""
    global _plugins_loaded
    if _plugins_loaded:
        return
    _plugins_loaded = True
    for entry in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        try:
            loaded = entry.load()
        except Exception as e:  # a broken plugin must not break the compiler
            warnings.warn(f"could not load pass plugin '{entry.name}' ({entry.value}): {e}", stacklevel=2)
            continue
        if isinstance(loaded, type) and issubclass(loaded, Pass) and loaded.name not in _PASSES:
            register_pass(loaded)


def load_plugin(spec: str) -> None:
    """Import a user's pass module, given as a ``.py`` file path or a dotted module name; its
    ``@register_pass`` decorators register the passes."""
    path = Path(spec)
    if spec.endswith(".py"):
        if not path.is_file():
            raise FileNotFoundError(f"pass plugin file {spec} does not exist")
        module_name = f"bnnc_plugin_{path.stem}"
        loader_spec = importlib.util.spec_from_file_location(module_name, path)
        assert loader_spec is not None and loader_spec.loader is not None
        module = importlib.util.module_from_spec(loader_spec)
        sys.modules[module_name] = module
        loader_spec.loader.exec_module(module)
    else:
        importlib.import_module(spec)


def registered_passes() -> dict[str, type[Pass]]:
    """Every known pass by name (built-in — the package imports them —, entry points, loaded
    plugins), sorted by name."""
    load_entry_point_passes()
    return dict(sorted(_PASSES.items()))


def lookup_pass(name: str) -> type[Pass] | None:
    return registered_passes().get(name)


def option_type(cls: type[Pass], option: dataclasses.Field) -> Any:
    """The resolved type annotation of a pass option."""
    hints = typing.get_type_hints(cls)
    return hints.get(option.name, str)


def layer_names(text: str) -> set[str]:
    """The layer names of a ``layers=`` pass option: comma-separated, blanks ignored."""
    return {name.strip() for name in text.split(",") if name.strip()}
