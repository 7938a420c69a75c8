"""Parser of the textual IR (grammar in ``grammar.lark``), and loading/saving ``.bir`` files
with their ``.npz`` of constants.

Every error — syntax, an undefined value, an unknown op, a type that does not match — raises
:class:`~bnnc.ir.diagnostics.ParseError` with ``file:line:col``.
"""

from __future__ import annotations

import io
import json
import math
import zipfile
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

import lark
import numpy as np

from .atomic import write_files_atomically
from .attributes import AttrValue
from .core import Constant, Function, Module, Operation, Value
from .diagnostics import ParseError
from .location import UNKNOWN, Location
from .printer import DEFAULT_INLINE_LIMIT, external_constants, print_module
from .registry import lookup_op
from .types import Domain, TensorType


@cache
def _lark() -> lark.Lark:
    """The parser of ``grammar.lark``. Building its LALR tables takes about 50 ms of CPU — a
    twelfth of a whole ``bnnc cnv.onnx`` run, which parses the imported module once
    (:func:`clone_module`) — so lark keeps them in ``__pycache__/grammar.lark.cache`` beside
    this file (lark checks the grammar's and options' digest stored in it and rebuilds where
    the file is stale or unreadable; no cache where the folder cannot be made or written)."""
    here = Path(__file__).parent
    grammar = (here / "grammar.lark").read_text()
    folder = here / "__pycache__"
    try:
        folder.mkdir(exist_ok=True)
        cache: str | bool = str(folder / "grammar.lark.cache")
    except OSError:
        cache = False
    return lark.Lark(grammar, parser="lalr", propagate_positions=True, cache=cache)


_TOKEN_NAMES = {
    "VALUE": "a value (%name)",
    "SYMBOL": "a symbol (@name)",
    "TYPE": "a type (e.g. f32<1x4>)",
    "OPNAME": "an op name (dialect.op)",
    "KEY": "an attribute name",
    "INT": "an integer",
    "FLOAT": "a float",
    "STRING": "a string",
    "DENSE": "dense<[...]>",
    "RBRACE": "'}'",
    "LBRACE": "'{'",
    "LPAR": "'('",
    "RPAR": "')'",
    "COMMA": "','",
    "COLON": "':'",
    "EQUAL": "'='",
    "RSQB": "']'",
    "LSQB": "'['",
    "__ANON_0": "'->'",
}


def _describe_expected(expected: set[str]) -> str:
    names = sorted(_TOKEN_NAMES.get(e, repr(e.lower()) if e.isupper() else e) for e in expected)
    return ", ".join(names[:8]) + (", …" if len(names) > 8 else "")


def _parse_number_list(body: str, domain: Domain) -> list[float] | list[int]:
    items = [s.strip() for s in body.split(",") if s.strip()]
    if domain is Domain.F32:
        return [float(s) for s in items]
    return [int(s) for s in items]


def _symbol_name(token: str) -> str:
    body = token[1:]
    return json.loads(body) if body.startswith('"') else body


def _parse_type(token: lark.Token) -> TensorType:
    text = str(token)
    domain_name, dims = text[:-1].split("<", 1)
    shape = tuple(int(d) for d in dims.split("x")) if dims else ()
    return TensorType(Domain(domain_name), shape)


class _Builder:
    """Builds a Module from the parse tree, reporting semantic errors with positions."""

    def __init__(self, text: str, filename: str, constants: dict[str, np.ndarray] | None, npz_name: str):
        self.lines = text.splitlines()
        self.filename = filename
        self.external = constants or {}
        self.npz_name = npz_name

    def error(self, message: str, node: Any) -> ParseError:
        line = getattr(node, "line", None) or getattr(getattr(node, "meta", None), "line", 1) or 1
        column = getattr(node, "column", None) or getattr(getattr(node, "meta", None), "column", 1) or 1
        source = self.lines[line - 1] if 0 < line <= len(self.lines) else ""
        return ParseError(message, self.filename, line, column, source)

    # -- module ---------------------------------------------------------------------------

    def module(self, tree: lark.Tree) -> Module:
        module = Module()
        for child in tree.children:
            if isinstance(child, lark.Token) and child.type == "SYMBOL":
                module.name = _symbol_name(child)
            elif child.data == "module_attrs":
                module.attributes = self.attr_dict(child.children[0])
            elif child.data == "const_decl":
                self.const_decl(module, child)
            elif child.data == "func":
                module.add_function(self.func(module, child))
        return module

    def const_decl(self, module: Module, tree: lark.Tree) -> None:
        sym, type_token = tree.children[0], tree.children[1]
        name = _symbol_name(sym)
        if name in module.constants:
            raise self.error(f"constant @{name} is declared twice", sym)
        ctype = _parse_type(type_token)
        if len(tree.children) > 2:
            dense = tree.children[2]
            try:
                values = _parse_number_list(str(dense)[len("dense<[") : -2], ctype.domain)
            except ValueError:
                raise self.error(f"malformed dense<...> literal for @{name}", dense) from None
            if len(values) != ctype.size:
                raise self.error(f"@{name} declares {ctype.size} elements but dense<...> has {len(values)}", dense)
            data = np.array(values, dtype=np.float64 if ctype.domain is Domain.F32 else np.int64)
            if ctype.domain is not Domain.F32 and not (_fits(data, ctype.domain) and ctype.domain.contains(data)):
                raise self.error(f"@{name}: a value does not fit domain {ctype.domain.value}", dense)
            data = data.astype(ctype.domain.dtype).reshape(ctype.shape)
        else:
            if name not in self.external:
                raise self.error(f"constant @{name} has no data: expected it inline or in {self.npz_name}", sym)
            data = np.asarray(self.external[name])
            if tuple(data.shape) != ctype.shape:
                raise self.error(f"@{name} is declared {ctype} but {self.npz_name} holds shape {data.shape}", sym)
            if data.dtype != ctype.domain.dtype:
                raise self.error(f"@{name} is declared {ctype} but {self.npz_name} holds dtype {data.dtype}", sym)
        module.constants[name] = Constant(ctype, data)

    # -- functions ------------------------------------------------------------------------

    def func(self, module: Module, tree: lark.Tree) -> Function:
        children = list(tree.children)
        name = _symbol_name(children.pop(0))
        arg_names: list[lark.Token] = []
        arg_types: list[TensorType] = []
        declared_results: list[TensorType] | None = []
        attributes: dict[str, AttrValue] = {}
        body: list[lark.Tree] = []
        for child in children:
            if child.data == "arg_list":
                for arg in child.children:
                    arg_names.append(arg.children[0])
                    arg_types.append(_parse_type(arg.children[1]))
            elif child.data == "type_list":
                declared_results = [_parse_type(t) for t in child.children]
            elif child.data == "func_attrs":
                attributes = self.attr_dict(child.children[0])
            else:
                body.append(child)
        function = Function(name, arg_types, attributes)
        function.parent = module
        scope: dict[str, Value] = {}
        for token, value in zip(arg_names, function.args):
            self.define(scope, token, value)
        for op_tree in body:
            function.append(self.operation(op_tree, scope))
        if not function.ops or function.ops[-1].name != "return":
            raise self.error(f"function @{name} must end in 'return'", tree)
        actual = function.result_types
        if declared_results != actual:
            raise self.error(
                f"function @{name} declares results ({', '.join(map(str, declared_results))}) "
                f"but returns ({', '.join(map(str, actual))})",
                tree,
            )
        return function

    def define(self, scope: dict[str, Value], token: lark.Token, value: Value) -> None:
        if str(token) in scope:
            raise self.error(f"value {token} is defined twice", token)
        scope[str(token)] = value

    def use(self, scope: dict[str, Value], token: lark.Token) -> Value:
        try:
            return scope[str(token)]
        except KeyError:
            raise self.error(f"use of undefined value {token}", token) from None

    def operation(self, tree: lark.Tree, scope: dict[str, Value]) -> Operation:
        if tree.data == "return_op":
            return self.return_op(tree, scope)
        result_tokens: list[lark.Token] = []
        operands: list[Value] = []
        operand_tokens: list[lark.Token] = []
        consts: list[str] = []
        attributes: dict[str, AttrValue] = {}
        location = UNKNOWN
        op_token = None
        in_types: list[TensorType] = []
        out_types: list[TensorType] = []
        for child in tree.children:
            if isinstance(child, lark.Token):
                op_token = child
            elif child.data == "result_list":
                result_tokens = list(child.children)
            elif child.data == "operand_list":
                for operand in child.children:
                    token = operand.children[0]
                    if operand.data == "value_ref":
                        if consts:
                            raise self.error("value operands must come before constant (@) operands", token)
                        operands.append(self.use(scope, token))
                        operand_tokens.append(token)
                    else:
                        consts.append(_symbol_name(token))
            elif child.data == "attr_dict":
                attributes = self.attr_dict(child)
            elif child.data == "signature":
                in_types, out_types = (self.sig_types(s) for s in child.children)
            elif child.data == "location":
                location = self.location(child)
        assert op_token is not None
        cls = lookup_op(str(op_token))
        if cls is None:
            raise self.error(f"unknown op '{op_token}'", op_token)
        if len(in_types) != len(operands):
            raise self.error(f"'{op_token}' has {len(operands)} value operands but its signature lists {len(in_types)} types", op_token)
        for token, value, declared in zip(operand_tokens, operands, in_types):
            if value.type != declared:
                raise self.error(f"{token} has type {value.type}, but the signature says {declared}", token)
        if len(out_types) != len(result_tokens):
            raise self.error(f"'{op_token}' defines {len(result_tokens)} results but its signature lists {len(out_types)} types", op_token)
        op = cls(operands, out_types, attributes, consts, location)
        op.source = (self.filename, op_token.line, op_token.column)
        for token, value in zip(result_tokens, op.results):
            self.define(scope, token, value)
        return op

    def return_op(self, tree: lark.Tree, scope: dict[str, Value]) -> Operation:
        cls = lookup_op("return")
        values: list[Value] = []
        types: list[TensorType] = []
        location = UNKNOWN
        for child in tree.children:
            if child.data == "value_list":
                values = [self.use(scope, t) for t in child.children]
            elif child.data == "type_list":
                types = [_parse_type(t) for t in child.children]
            elif child.data == "location":
                location = self.location(child)
        if [v.type for v in values] != types:
            raise self.error("the types after 'return' do not match its values", tree)
        op = cls(values, [], {}, [], location)
        op.source = (self.filename, tree.meta.line, tree.meta.column)
        return op

    def sig_types(self, tree: lark.Tree) -> list[TensorType]:
        if tree.data == "single_type":
            return [_parse_type(tree.children[0])]
        if not tree.children:
            return []
        return [_parse_type(t) for t in tree.children[0].children]

    # -- attributes and locations ---------------------------------------------------------

    def attr_dict(self, tree: lark.Tree) -> dict[str, AttrValue]:
        result: dict[str, AttrValue] = {}
        for entry in tree.children:
            key, value = entry.children
            if str(key) in result:
                raise self.error(f"attribute '{key}' is given twice", key)
            result[str(key)] = self.attr_value(value)
        return result

    def attr_value(self, tree: lark.Tree) -> AttrValue:
        kind = tree.data
        if kind == "true_val":
            return True
        if kind == "false_val":
            return False
        if kind == "list_val":
            return tuple(self.attr_value(c) for c in tree.children)
        token = tree.children[0]
        if kind == "int_val":
            return int(token)
        if kind == "float_val":
            return float(token)
        return json.loads(token)

    def location(self, tree: lark.Tree) -> Location:
        body = tree.children[0]
        if body.data == "loc_unknown":
            return UNKNOWN
        return Location(tuple(json.loads(t) for t in body.children))


def _fits(data: np.ndarray, domain: Domain) -> bool:
    info = np.iinfo(domain.dtype)
    return bool(((data >= info.min) & (data <= info.max)).all())


def parse_module(
    text: str, filename: str = "<string>", constants: dict[str, np.ndarray] | None = None, npz_name: str = "the .npz"
) -> Module:
    """Parse textual IR. Constants declared without ``dense<...>`` are taken from ``constants``."""
    try:
        tree = _lark().parse(text)
    except lark.exceptions.UnexpectedInput as e:
        lines = text.splitlines()
        line, column = max(e.line, 1), max(e.column, 1)
        source = lines[line - 1] if 0 < line <= len(lines) else ""
        if isinstance(e, lark.exceptions.UnexpectedToken):
            found = "end of input" if e.token.type == "$END" else repr(str(e.token))
            message = f"unexpected {found}, expected {_describe_expected(e.accepts or e.expected)}"
        elif isinstance(e, lark.exceptions.UnexpectedCharacters):
            message = f"unexpected character {text[e.pos_in_stream]!r}" if e.pos_in_stream < len(text) else "unexpected end of input"
        else:
            message = "unexpected end of input"
        raise ParseError(message, filename, line, column, source) from None
    return _Builder(text, filename, constants, npz_name).module(tree.children[0])


def clone_module(module: Module) -> Module:
    """An independent copy of ``module`` (through the textual form; constants' arrays are
    shared, as passes replace constants rather than edit them)."""
    return parse_module(print_module(module, inline_limit=-1), constants={n: c.data for n, c in module.constants.items()})


def npz_path(bir_path: Path) -> Path:
    """Where the constants of ``x.bir`` live: ``x.npz`` beside it."""
    return bir_path.with_suffix(".npz")


NPZ_ERRORS = (OSError, ValueError, EOFError, zipfile.BadZipFile, MemoryError)


def read_npz(path: Path) -> dict[str, np.ndarray]:
    """The arrays of an ``.npz`` by member name less ``.npy`` — read member by member, not
    through ``np.load``, whose lookup by key confuses a member ``x.npy`` with a member ``x``.
    Raises ``OSError``, ``ValueError``, ``EOFError``, ``zipfile.BadZipFile`` or ``MemoryError``
    (:data:`NPZ_ERRORS`) for a file that is not such an archive."""
    arrays: dict[str, np.ndarray] = {}
    with zipfile.ZipFile(path) as archive:
        for name in archive.namelist():
            if not name.endswith(".npy"):
                raise ValueError(f"member {name!r} is not a .npy array")
            _check_member_size(archive, name)
            with archive.open(name) as member:
                arrays[name[: -len(".npy")]] = np.lib.format.read_array(member, allow_pickle=False)
    return arrays


def _check_member_size(archive: zipfile.ZipFile, name: str) -> None:
    """Refuse a member whose header declares more (or less) data than it holds, before numpy
    allocates what the header says (a 1 KB file can declare terabytes)."""
    with archive.open(name) as member:
        version = np.lib.format.read_magic(member)
        read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        shape, _, dtype = read_header(member)
        held = archive.getinfo(name).file_size - member.tell()
    if dtype.hasobject:
        return  # read_array refuses pickled objects itself
    declared = math.prod(shape) * dtype.itemsize
    if declared != held:
        raise ValueError(f"member {name!r} declares {dtype}{list(shape)} ({declared} bytes) but holds {held} bytes")


def load_bir(path: str | Path) -> Module:
    """Read a ``.bir`` file and, if present, the ``.npz`` of constants beside it."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")  # a byte-order mark (Windows editors write one) is not text
    except UnicodeDecodeError as e:
        raise ParseError(f"not UTF-8 text (byte {e.start}); textual IR is UTF-8", str(path), 1, 1) from None
    constants: dict[str, np.ndarray] = {}
    npz = npz_path(path)
    if npz.exists():
        try:
            constants = read_npz(npz)
        except NPZ_ERRORS as e:
            raise ParseError(f"cannot read the constants in {npz.name} ({e}); expected the .npz bnnc wrote beside it",
                             str(path), 1, 1) from None
    try:
        return parse_module(text, str(path), constants, npz.name)
    except RecursionError:
        raise ParseError("the IR is nested too deeply to parse", str(path), 1, 1) from None


def bir_files(module: Module, path: str | Path, inline_limit: int = DEFAULT_INLINE_LIMIT) -> dict[Path, bytes]:
    """The contents of ``path`` (text) and, when some constant is too large to inline, of the
    ``.npz`` beside it."""
    path = Path(path)
    files: dict[Path, bytes] = {path: print_module(module, inline_limit).encode()}
    external = external_constants(module, inline_limit)
    if external:
        files[npz_path(path)] = npz_bytes(external)
    return files


def npz_bytes(arrays: Mapping[str, np.ndarray]) -> bytes:
    """``arrays`` as the bytes of an ``.npz`` archive (what :func:`read_npz` reads), written
    member by member, not by ``np.savez(buffer, **arrays)``: an array named "file" or
    "allow_pickle" would collide with savez's own parameters."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED, allowZip64=True) as archive:
        for name, array in arrays.items():
            with archive.open(name + ".npy", "w", force_zip64=True) as member:
                np.lib.format.write_array(member, np.asanyarray(array), allow_pickle=False)
    return buffer.getvalue()


def save_bir(module: Module, path: str | Path, inline_limit: int = DEFAULT_INLINE_LIMIT) -> list[Path]:
    """Write :func:`bir_files` atomically; returns the files written."""
    files = bir_files(module, path, inline_limit)
    write_files_atomically(files)
    return list(files)


__all__ = ["parse_module", "load_bir", "save_bir", "bir_files", "npz_path", "clone_module", "read_npz", "npz_bytes", "NPZ_ERRORS"]
