"""ONNX strings are UTF-8 (onnx.proto: "strings ... must be UTF-8"); protobuf parses a string
field that is not into ``bytes``, which would travel into the IR and the reports as bytes.
:func:`require_utf8` refuses such a model, naming the field."""

from __future__ import annotations

from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

from bnnc.ir.diagnostics import printable

from .errors import InvalidModelError


def _repeated(field: FieldDescriptor) -> bool:
    flag = getattr(field, "is_repeated", None)  # protobuf >= 5.28; ``label`` before
    return flag if isinstance(flag, bool) else field.label == FieldDescriptor.LABEL_REPEATED


def _first_non_utf8(message: Message, path: str) -> tuple[str, bytes] | None:
    """The path and value of the first string field of ``message`` (recursively) that holds bytes."""
    for field, value in message.ListFields():
        if field.type not in (FieldDescriptor.TYPE_STRING, FieldDescriptor.TYPE_MESSAGE):
            continue
        items = list(value) if _repeated(field) else [value]
        for index, item in enumerate(items):
            where = f"{path}.{field.name}" + (f"[{index}]" if _repeated(field) else "")
            if field.type == FieldDescriptor.TYPE_STRING:
                if isinstance(item, bytes):
                    return where, item
            else:
                found = _first_non_utf8(item, where)
                if found is not None:
                    return found
    return None


def require_utf8(model: Message, file: str) -> None:
    """Refuse ``model`` if one of its strings (names, op types, domains, ...) is not UTF-8."""
    found = _first_non_utf8(model, "model")
    if found is not None:
        where, value = found
        raise InvalidModelError("UTF-8 strings (ONNX requires them)",
                                f"{where} is not UTF-8 ('{printable(value, 80)}'); fix or re-export the model", file=file)
