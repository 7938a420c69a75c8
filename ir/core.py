"""The IR's data structures: SSA values, operations, functions and modules.

The IR follows MLIR/xDSL: a :class:`Module` holds a symbol table of constants and one or more
:class:`Function` s; a function is an ordered list of :class:`Operation` s in SSA form, ending in
a :class:`Return`. Every op class declares its operands, constant operands (symbol references to
module constants, written ``@name``), results and attributes, and verifies itself.
"""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from .attributes import AttrDef, AttrValue
from .diagnostics import VerifyError
from .location import UNKNOWN, Location
from .types import Domain, TensorType


# --------------------------------------------------------------------------- edits


_edits = 0


def edit_count() -> int:
    """How many structural edits the process has made to any IR so far: ops inserted, erased or
    reordered (any change of a function's op list), operands set (use lists with them) and op
    attributes changed. What is derived from a function's structure (the simulator's execution
    plan) stays valid while this number is unchanged. A value's type is fixed when the value is
    made; constants' data carry their own :attr:`Constant.version`."""
    return _edits


def _edited() -> None:
    global _edits
    _edits += 1


_constant_edits = 0


def constant_edit_count() -> int:
    """How many times the process has changed what any op's constant operands refer to: a
    constant's data assigned (:attr:`Constant.version`), a module's constant table changed
    (an entry set, removed or the table replaced), an op's constant operands set, or a
    function added to a module. What is derived from ops' constants stays valid while this
    number is unchanged; writing into a constant's array in place is no change (replace the
    data instead)."""
    return _constant_edits


def _constants_edited() -> None:
    global _constant_edits
    _constant_edits += 1


def _counting(base: type, names: tuple[str, ...], bump: Callable[[], None] = _edited) -> dict[str, Any]:
    """Methods of ``base`` that call ``bump`` (by default: count as an edit, :func:`edit_count`)
    each time they run."""

    def counted(name: str) -> Any:
        method = getattr(base, name)

        def edit(self: Any, *args: Any, **kwargs: Any) -> Any:
            bump()
            return method(self, *args, **kwargs)

        edit.__name__ = name
        return edit

    return {name: counted(name) for name in names}


class OpList(list):
    """A function's op list: every in-place change counts as an edit (:func:`edit_count`)."""


class AttrDict(dict):
    """An op's attributes: every change counts as an edit (:func:`edit_count`)."""


class ConstList(list):
    """An op's constant operands (symbols): every change counts (:func:`constant_edit_count`)."""


class ConstTable(dict):
    """A module's constants by symbol: every change counts (:func:`constant_edit_count`)."""


for _name, _method in _counting(list, ("__setitem__", "__delitem__", "__iadd__", "__imul__", "append", "extend",
                                       "insert", "pop", "remove", "clear", "sort", "reverse")).items():
    setattr(OpList, _name, _method)
for _name, _method in _counting(dict, ("__setitem__", "__delitem__", "__ior__", "pop", "popitem", "clear",
                                       "update", "setdefault")).items():
    setattr(AttrDict, _name, _method)
for _name, _method in _counting(list, ("__setitem__", "__delitem__", "__iadd__", "__imul__", "append", "extend",
                                       "insert", "pop", "remove", "clear", "sort", "reverse"),
                                _constants_edited).items():
    setattr(ConstList, _name, _method)
for _name, _method in _counting(dict, ("__setitem__", "__delitem__", "__ior__", "pop", "popitem", "clear",
                                       "update", "setdefault"), _constants_edited).items():
    setattr(ConstTable, _name, _method)


# --------------------------------------------------------------------------- values


@dataclass(frozen=True)
class Use:
    """Operand ``index`` of ``op`` reads a value."""

    op: Operation
    index: int


class Value:
    """An SSA value: a function argument or an op result. Knows its producer and its uses."""

    __slots__ = ("type", "owner", "index", "uses")

    def __init__(self, type: TensorType, owner: Operation | None = None, index: int = 0):
        self.type = type
        self.owner = owner
        self.index = index
        self.uses: list[Use] = []

    @property
    def producer(self) -> Operation | None:
        """The op that defines this value, or None for a function argument."""
        return self.owner

    def replace_all_uses_with(self, other: Value) -> None:
        """Make every user of this value read ``other`` instead."""
        if other is self:
            return
        for use in list(self.uses):
            use.op.set_operand(use.index, other)

    def __repr__(self) -> str:
        producer = self.owner.name if self.owner else "arg"
        return f"<Value {self.type} of {producer}#{self.index}>"


# --------------------------------------------------------------------------- op declarations


@dataclass(frozen=True)
class OperandDef:
    """A declared SSA operand. ``domains`` lists the element domains it accepts (None: any);
    a ``variadic`` operand (only the last one) takes zero or more values."""

    name: str
    domains: frozenset[Domain] | None = None
    variadic: bool = False
    doc: str = ""


@dataclass(frozen=True)
class ConstDef:
    """A declared constant operand: a symbol reference ``@name`` to a module constant."""

    name: str
    domains: frozenset[Domain] | None = None
    doc: str = ""


@dataclass(frozen=True)
class ResultDef:
    """A declared result; a ``variadic`` result (only the last one) stands for zero or more."""

    name: str
    domains: frozenset[Domain] | None = None
    variadic: bool = False
    doc: str = ""


def domains(*names: Domain) -> frozenset[Domain]:
    """Shorthand for the set of domains an operand or result accepts."""
    return frozenset(names)


class Operation:
    """Base class of every IR op.

    Subclasses set ``name`` (``dialect.op``) and the declarations ``operand_defs``,
    ``const_defs``, ``result_defs``, ``attr_defs``; they may override :meth:`infer_types`
    (result types from operand types, constant types and attributes — the verifier then checks
    the declared result types against it) and :meth:`verify_semantics` for further checks.
    """

    name: ClassVar[str] = ""
    operand_defs: ClassVar[tuple[OperandDef, ...]] = ()
    const_defs: ClassVar[tuple[ConstDef, ...]] = ()
    result_defs: ClassVar[tuple[ResultDef, ...]] = ()
    attr_defs: ClassVar[tuple[AttrDef, ...]] = ()
    source: tuple[str, int, int] | None = None
    """Where a parsed op was written (file, line, column), for diagnostics."""

    def __init__(
        self,
        operands: Sequence[Value] = (),
        result_types: Sequence[TensorType] = (),
        attributes: dict[str, Any] | None = None,
        consts: Sequence[str] = (),
        location: Location = UNKNOWN,
    ):
        self.operands: list[Value] = []
        self.consts = list(consts)
        self.attributes: dict[str, AttrValue] = AttrDict(self._complete_attributes(attributes or {}))
        self.results: list[Value] = [Value(t, self, i) for i, t in enumerate(result_types)]
        self.location = location
        self.parent: Function | None = None
        self._order = 0  # the op's sort key in its function's op list (see Function._position)
        for value in operands:
            self._append_operand(value)

    # -- construction helpers -------------------------------------------------------------

    @classmethod
    def build(
        cls,
        operands: Sequence[Value] = (),
        attributes: dict[str, Any] | None = None,
        consts: Sequence[str] = (),
        location: Location = UNKNOWN,
        const_types: Sequence[TensorType] = (),
    ) -> Operation:
        """Create the op with result types computed by :meth:`infer_types`."""
        attrs = cls._complete_attributes(attributes or {})
        types = cls.infer_types([v.type for v in operands], list(const_types), attrs)
        if types is None:
            raise TypeError(f"{cls.name} cannot infer its result types; pass them explicitly")
        return cls(operands, types, attrs, consts, location)

    @classmethod
    def infer_types(
        cls, operand_types: list[TensorType], const_types: list[TensorType], attributes: dict[str, AttrValue]
    ) -> list[TensorType] | None:
        """Result types implied by the operands, constants and attributes; None when the op
        does not infer (its result types are then free, checked only against the domains).
        Raises ``ValueError`` when the operands do not fit together."""
        return None

    @classmethod
    def _complete_attributes(cls, attributes: dict[str, Any]) -> dict[str, AttrValue]:
        """Coerce declared attributes and fill in defaults; unknown names are kept for the
        verifier to report."""
        complete: dict[str, AttrValue] = {}
        for attr in cls.attr_defs:
            if attr.name in attributes:
                # Canonical form (a float for an int given to a float attribute, tuples for
                # lists) so an op prints the same before and after verification; a value that
                # does not coerce is kept for the verifier to report.
                try:
                    complete[attr.name] = attr.coerce(attributes[attr.name])
                except (ValueError, TypeError):
                    complete[attr.name] = attributes[attr.name]
            elif not attr.required:
                complete[attr.name] = attr.default
        for key, value in attributes.items():
            complete.setdefault(key, value)
        return complete

    # -- operands and uses ----------------------------------------------------------------

    def _append_operand(self, value: Value) -> None:
        _edited()
        value.uses.append(Use(self, len(self.operands)))
        self.operands.append(value)

    def set_operand(self, index: int, value: Value) -> None:
        _edited()
        old = self.operands[index]
        old.uses = [u for u in old.uses if not (u.op is self and u.index == index)]
        self.operands[index] = value
        value.uses.append(Use(self, index))

    def drop_operand_uses(self) -> None:
        """Remove this op from the use lists of its operands (before erasing it)."""
        _edited()
        for index, value in enumerate(self.operands):
            value.uses = [u for u in value.uses if not (u.op is self and u.index == index)]

    def operand(self, name: str) -> Value:
        """The operand declared as ``name``."""
        return self.operands[self._index_of(self.operand_defs, name)]

    def const(self, name: str) -> str:
        """The symbol name of the constant operand declared as ``name``."""
        return self.consts[self._index_of(self.const_defs, name)]

    def attr(self, name: str) -> AttrValue:
        return self.attributes[name]

    @property
    def consts(self) -> ConstList:
        """The symbols of the op's constant operands (a :class:`ConstList`: changes count, see
        :func:`constant_edit_count`)."""
        return self._consts

    @consts.setter
    def consts(self, symbols: Iterable[str]) -> None:
        _constants_edited()
        self._consts = ConstList(symbols)

    @property
    def result(self) -> Value:
        """The single result of an op that has exactly one."""
        if len(self.results) != 1:
            raise ValueError(f"{self.name} has {len(self.results)} results, not one")
        return self.results[0]

    @staticmethod
    def _index_of(defs: Sequence[OperandDef | ConstDef], name: str) -> int:
        for i, d in enumerate(defs):
            if d.name == name:
                return i
        raise KeyError(name)

    # -- context --------------------------------------------------------------------------

    @property
    def module(self) -> Module | None:
        return self.parent.parent if self.parent is not None else None

    def const_type(self, name: str) -> TensorType:
        """Type of the constant operand declared as ``name`` (the op must be in a module)."""
        module = self.module
        if module is None:
            raise self.fail("op is not inside a module")
        return module.constant(self.const(name)).type

    def const_array(self, name: str) -> np.ndarray:
        """Data of the constant operand declared as ``name``."""
        module = self.module
        if module is None:
            raise self.fail("op is not inside a module")
        return module.constant(self.const(name)).data

    # -- verification ---------------------------------------------------------------------

    def fail(self, message: str) -> VerifyError:
        """An error about this op, to be raised by the caller."""
        return VerifyError(message, self.name, self.location, self.source)

    def verify(self) -> None:
        """Check declarations (counts, domains, attributes, constants), inferred result
        types and op-specific semantics; raise :class:`VerifyError` on the first violation."""
        self._verify_counts()
        self._verify_attributes()
        module = self.module
        const_types: list[TensorType] = []
        for d, symbol in zip(self.const_defs, self.consts):
            if module is None or symbol not in module.constants:
                raise self.fail(f"constant operand '{d.name}' refers to undefined constant @{symbol}")
            ctype = module.constants[symbol].type
            if d.domains is not None and ctype.domain not in d.domains:
                raise self.fail(
                    f"constant '{d.name}' (@{symbol}) has domain {ctype.domain.value}, "
                    f"expected one of {_names(d.domains)}"
                )
            const_types.append(ctype)
        self._verify_domains(self.operand_defs, [v.type for v in self.operands], "operand")
        self._verify_domains(self.result_defs, [v.type for v in self.results], "result")
        try:
            inferred = self.infer_types([v.type for v in self.operands], const_types, self.attributes)
        except ValueError as e:
            raise self.fail(str(e)) from None
        if inferred is not None:
            actual = [v.type for v in self.results]
            if list(inferred) != actual:
                raise self.fail(
                    f"result types ({', '.join(map(str, actual))}) do not match the inferred "
                    f"({', '.join(map(str, inferred))})"
                )
        self.verify_semantics()

    def verify_semantics(self) -> None:
        """Op-specific checks beyond declarations and type inference; override as needed."""

    def _verify_counts(self) -> None:
        for kind, defs, actual in (
            ("operands", self.operand_defs, len(self.operands)),
            ("results", self.result_defs, len(self.results)),
        ):
            fixed = sum(1 for d in defs if not d.variadic)
            variadic = any(d.variadic for d in defs)
            if actual < fixed or (not variadic and actual != fixed):
                expected = f"at least {fixed}" if variadic else str(fixed)
                raise self.fail(f"expected {expected} {kind}, got {actual}")
        if len(self.consts) != len(self.const_defs):
            raise self.fail(f"expected {len(self.const_defs)} constant operands, got {len(self.consts)}")

    def _verify_attributes(self) -> None:
        declared = {a.name: a for a in self.attr_defs}
        for key in self.attributes:
            if key not in declared:
                raise self.fail(f"unknown attribute '{key}'")
        for attr in self.attr_defs:
            if attr.name not in self.attributes:
                raise self.fail(f"missing required attribute '{attr.name}'")
            try:  # the canonical form of the same value: no edit
                dict.__setitem__(self.attributes, attr.name, attr.coerce(self.attributes[attr.name]))
            except ValueError as e:
                raise self.fail(f"attribute '{attr.name}' {e}") from None

    def _verify_domains(self, defs: Sequence[OperandDef | ResultDef], types: list[TensorType], kind: str) -> None:
        for i, t in enumerate(types):
            d = defs[min(i, len(defs) - 1)]
            if d.domains is not None and t.domain not in d.domains:
                raise self.fail(
                    f"{kind} '{d.name}' has domain {t.domain.value}, expected one of {_names(d.domains)}"
                )

    def __repr__(self) -> str:
        return f"<{self.name} at {self.location}>"


def _names(ds: Iterable[Domain]) -> str:
    return ", ".join(sorted(d.value for d in ds))


class Return(Operation):
    """``return %a, %b : t_a, t_b`` — ends a function; its operands are the function's results."""

    name = "return"
    operand_defs = (OperandDef("values", variadic=True),)


# --------------------------------------------------------------------------- containers


_DATA_VERSIONS = itertools.count(1)


@dataclass
class Constant:
    """A module constant: a typed numpy array (weights, thresholds, conductance patterns).

    ``version`` names the data: every assignment of ``data`` (at construction, directly, or by
    :meth:`Module.replace_constant`) takes a new number, never given to any other data in the
    process. Whatever is derived from a constant's data is keyed by its symbol and version,
    never by ``id(data)`` (Python reuses the id of a freed array). Writing into the array in
    place changes no version: replace the data instead."""

    type: TensorType
    data: np.ndarray
    version: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # np.asarray(order="C"), not np.ascontiguousarray: the latter turns a rank-0 array into shape (1,)
        self.data = np.asarray(self.data, dtype=self.type.domain.dtype, order="C")

    def __setattr__(self, name: str, value: Any) -> None:
        super().__setattr__(name, value)
        if name == "data":
            super().__setattr__("version", next(_DATA_VERSIONS))
            _constants_edited()

    def verify(self, symbol: str) -> None:
        """Shape and domain of the data; checked once per version and type (verification
        after every pass would otherwise re-scan every weight)."""
        checked = (self.version, self.type)
        if self.__dict__.get("_verified") == checked:
            return
        self._check(symbol)
        self.__dict__["_verified"] = checked

    def _check(self, symbol: str) -> None:
        if tuple(self.data.shape) != self.type.shape:
            raise VerifyError(f"constant @{symbol} has data of shape {self.data.shape}, declared {self.type}")
        if not self.type.domain.contains(self.data):
            bad = [v for v in np.unique(self.data) if not self.type.domain.contains(np.asarray(v))][:5]
            raise VerifyError(
                f"constant @{symbol} of domain {self.type.domain.value} holds values outside it "
                f"(e.g. {', '.join(str(v.item()) for v in bad)})"
            )


_KEY_SPACING = 1 << 32
"""The gap between the sort keys of ops appended in turn (integers: exact at any size)."""


def _order_of(op: Operation) -> int:
    return op._order


class Function:
    """A function: typed arguments, an ordered body of ops in SSA form ending in ``return``."""

    def __init__(self, name: str, arg_types: Sequence[TensorType], attributes: dict[str, Any] | None = None):
        self.name = name
        self.args = [Value(t, None, i) for i, t in enumerate(arg_types)]
        self._ops: OpList = OpList()
        self.attributes: dict[str, AttrValue] = dict(attributes or {})
        self.parent: Module | None = None

    @property
    def ops(self) -> list[Operation]:
        """The body, in order (an :class:`OpList`: edits of it count, see :func:`edit_count`)."""
        return self._ops

    @ops.setter
    def ops(self, ops: Iterable[Operation]) -> None:
        _edited()
        self._ops = OpList(ops)

    # -- editing --------------------------------------------------------------------------

    def append(self, op: Operation) -> Operation:
        return self._insert(len(self.ops), op)

    def insert_before(self, anchor: Operation, op: Operation) -> Operation:
        return self._insert(self._position(anchor), op)

    def insert_after(self, anchor: Operation, op: Operation) -> Operation:
        return self._insert(self._position(anchor) + 1, op)

    def erase(self, op: Operation) -> None:
        """Remove an op whose results are no longer used."""
        for r in op.results:
            if r.uses:
                raise ValueError(f"cannot erase {op.name}: result {r.index} still has {len(r.uses)} uses")
        op.drop_operand_uses()
        del self.ops[self._position(op)]
        op.parent = None

    def _insert(self, index: int, op: Operation) -> Operation:
        """Insert ``op`` at ``index`` with a sort key between its neighbours' (see :meth:`_position`)."""
        op.parent = self
        self.ops.insert(index, op)
        below = self.ops[index - 1]._order if index > 0 else None
        above = self.ops[index + 1]._order if index + 1 < len(self.ops) else None
        if below is not None and above is not None and above - below < 2:
            self._relabel(index)
        else:
            op._order = (0 if above is None else above - _KEY_SPACING) if below is None else \
                below + _KEY_SPACING if above is None else (below + above) // 2
        return op

    def _relabel(self, index: int) -> None:
        """Spread the keys of a window around ``index`` evenly, doubling the window until its
        bounds leave ample room (list labelling: amortized O(log n) per insertion, also when
        thousands of ops are inserted at one place, as tiling does)."""
        width = 8
        while True:
            lo, hi = max(0, index - width), min(len(self.ops), index + width + 1)
            count = hi - lo
            low = self.ops[lo - 1]._order if lo > 0 else None
            high = self.ops[hi]._order if hi < len(self.ops) else None
            if low is None or high is None or high - low >= 64 * (count + 1):
                break
            width *= 2
        if low is None:
            low = (high if high is not None else 0) - _KEY_SPACING * (count + 1)
        if high is None:
            high = low + _KEY_SPACING * (count + 1)
        step = (high - low) // (count + 1)
        for offset, op in enumerate(self.ops[lo:hi], 1):
            op._order = low + offset * step

    def _position(self, op: Operation) -> int:
        """The index of ``op``: a binary search on the ops' sort keys, which the editing
        methods keep increasing along the list (O(log n), so tiling thousands of arrays stays
        linear); a list edited from outside is found by a scan and renumbered."""
        index = bisect.bisect_left(self.ops, op._order, key=_order_of)
        if index < len(self.ops) and self.ops[index] is op:
            return index
        for index, candidate in enumerate(self.ops):
            if candidate is op:
                for i, each in enumerate(self.ops):
                    each._order = i * _KEY_SPACING
                return index
        raise ValueError(f"{op.name} is not in function @{self.name}")

    # -- queries --------------------------------------------------------------------------

    @property
    def return_op(self) -> Return:
        if not self.ops or not isinstance(self.ops[-1], Return):
            raise VerifyError(f"function @{self.name} does not end in 'return'")
        return self.ops[-1]

    @property
    def result_types(self) -> list[TensorType]:
        return [v.type for v in self.return_op.operands]

    def walk(self, op_type: type[Operation] | None = None) -> Iterator[Operation]:
        """The ops in order (a snapshot: editing while walking is safe), optionally filtered."""
        for op in list(self.ops):
            if op_type is None or isinstance(op, op_type):
                yield op

    def verify(self) -> None:
        """SSA dominance, use lists, a single trailing return, and each op's own checks."""
        defined: set[int] = {id(a) for a in self.args}
        uses: dict[int, set[tuple[int, int]]] = {}  # per value read: its uses as (op id, operand index)
        if not self.ops or not isinstance(self.ops[-1], Return):
            raise VerifyError(f"function @{self.name} must end in 'return'")
        for op in self.ops:
            if op.parent is not self:
                raise op.fail("op's parent link is stale")
            if isinstance(op, Return) and op is not self.ops[-1]:
                raise op.fail("'return' must be the last op of a function")
            for i, value in enumerate(op.operands):
                if id(value) not in defined:
                    raise op.fail(f"operand {i} is used before it is defined")
                if id(value) not in uses:
                    uses[id(value)] = {(id(u.op), u.index) for u in value.uses}
                if (id(op), i) not in uses[id(value)]:
                    raise op.fail(f"operand {i} is missing from its value's use list")
            op.verify()
            defined.update(id(r) for r in op.results)


class Module:
    """The top level: attributes, a symbol table of constants, and functions."""

    def __init__(self, name: str | None = None, attributes: dict[str, Any] | None = None):
        self.name = name
        self.attributes: dict[str, AttrValue] = dict(attributes or {})
        self.constants = {}
        self.functions: list[Function] = []

    @property
    def constants(self) -> ConstTable:
        """The constants by symbol (a :class:`ConstTable`: changes count, see
        :func:`constant_edit_count`)."""
        return self._constants

    @constants.setter
    def constants(self, table: dict[str, Constant]) -> None:
        _constants_edited()
        self._constants = ConstTable(table)

    def add_function(self, function: Function) -> Function:
        """Append ``function``, whose ops' constant operands now name this module's constants."""
        _constants_edited()
        function.parent = self
        self.functions.append(function)
        return function

    def function(self, name: str = "main") -> Function:
        for f in self.functions:
            if f.name == name:
                return f
        raise KeyError(f"no function @{name}")

    def add_constant(self, name: str, data: np.ndarray, domain: Domain) -> str:
        """Add a constant under ``name`` (made unique by a numeric suffix); returns the name used."""
        symbol = name
        counter = 1
        while symbol in self.constants:
            symbol = f"{name}_{counter}"
            counter += 1
        array = np.asarray(data)
        self.constants[symbol] = Constant(TensorType.of_array(array, domain), array)
        return symbol

    def constant(self, symbol: str) -> Constant:
        try:
            return self.constants[symbol]
        except KeyError:
            raise VerifyError(f"undefined constant @{symbol}") from None

    def replace_constant(self, symbol: str, data: np.ndarray) -> None:
        """Give constant ``@symbol`` new ``data`` of its shape (converted to its domain's dtype,
        the values checked by :meth:`verify`); its version changes, so nothing derived from the
        old data is used again."""
        constant = self.constant(symbol)
        array = np.asarray(data, dtype=constant.type.domain.dtype, order="C")
        if array.shape != constant.type.shape:
            raise ValueError(f"constant @{symbol} is {constant.type}, the new data has shape {array.shape}")
        constant.data = array

    def remove_unused_constants(self) -> None:
        """Drop constants no op refers to."""
        used = {s for f in self.functions for op in f.ops for s in op.consts}
        for symbol in [s for s in self.constants if s not in used]:
            del self.constants[symbol]

    def verify(self) -> None:
        """Verify every constant, then every function."""
        names = [f.name for f in self.functions]
        if len(set(names)) != len(names):
            raise VerifyError("function names must be unique")
        for symbol, constant in self.constants.items():
            constant.verify(symbol)
        for function in self.functions:
            function.verify()
