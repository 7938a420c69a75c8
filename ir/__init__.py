"""The bnnc IR: types, values, ops, dialects, textual form and verifier.

Importing this package registers the ops of every dialect (``bnn``, ``host``, ...).
"""

from . import dialects  # noqa: F401  (registers the dialects' ops)
from .attributes import REQUIRED, AttrDef
from .core import (Constant, ConstDef, Function, Module, OperandDef, Operation, ResultDef, Return, Use, Value, constant_edit_count,
                   domains, edit_count)
from .diagnostics import BnncError, IRError, ParseError, VerifyError
from .location import UNKNOWN, Location
from .parser import clone_module, load_bir, parse_module, save_bir
from .printer import print_module
from .registry import lookup_op, register_op, registered_ops
from .types import Domain, TensorType

__all__ = [
    "REQUIRED", "AttrDef", "Constant", "ConstDef", "Function", "Module", "OperandDef", "Operation",
    "ResultDef", "Return", "Use", "Value", "domains", "edit_count", "constant_edit_count", "BnncError", "IRError", "ParseError", "VerifyError",
    "UNKNOWN", "Location", "clone_module", "load_bir", "parse_module", "save_bir", "print_module", "lookup_op",
    "register_op", "registered_ops", "Domain", "TensorType",
]
