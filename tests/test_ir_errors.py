"""Negative tests of the IR: parse errors point at ``file:line:col`` with the source line and a
caret; verifier errors name the op, the ONNX node it came from and, for parsed input, where it
was written."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from bnnc.ir import (
    Constant,
    Domain,
    Function,
    Location,
    Module,
    ParseError,
    Return,
    TensorType,
    VerifyError,
    load_bir,
    parse_module,
    print_module,
    save_bir,
)
from bnnc.ir.dialects import bnn

D = Domain
FILE = "net.bir"


def _module(body: str, consts: str = "") -> str:
    """A one-function module; ``body`` lines are indented under ``func @main``."""
    head = "module {\n" + "".join(f"  {c}\n" for c in consts.splitlines() if c.strip())
    return head + "  func @main(%arg0: f32<1x4>) -> (tern<1x4>) {\n" + "".join(
        f"    {line}\n" for line in body.splitlines() if line.strip()
    ) + "  }\n}\n"


SIGN = '%0 = bnn.sign %arg0 : f32<1x4> -> tern<1x4> loc("Sign_3")'
RET = "return %0 : tern<1x4>"

# (id, text, line of the error, text the caret points at, words the message must contain)
PARSE_ERRORS = [
    (
        "bad-token",
        _module(f"{SIGN} ?\n{RET}"),
        3, "?", ["unexpected character '?'"],
    ),
    (
        "bad-token-in-attributes",
        _module('%0 = bnn.sign %arg0 {zero = } : f32<1x4> -> tern<1x4>\n' + RET),
        3, "} :", ["unexpected '}'", "expected"],
    ),
    (
        "keyword-where-value-expected",
        _module("%0 = bnn.sign module : f32<1x4> -> tern<1x4>\n" + RET),
        3, "module :", ["unexpected"],
    ),
    (
        "unterminated-string",
        _module('%0 = bnn.sign %arg0 : f32<1x4> -> tern<1x4> loc("Sign_3)\n' + RET),
        3, '"Sign_3)', ["unexpected character"],
    ),
    (
        "unterminated-string-attribute",
        _module('%0 = bnn.sign %arg0 {zero = "pos} : f32<1x4> -> pm1<1x4>\n' + RET),
        3, '"pos}', ["unexpected character"],
    ),
    (
        "unexpected-end-of-input",
        "module {\n  func @main(%arg0: f32<1x4>) -> (tern<1x4>) {\n    %0 = bnn.sign %arg0 : f32<1x4> -> tern<1x4>\n",
        3, "tern<1x4>", ["unexpected end of input", "'return'", "'}'"],  # caret: the last token
    ),
    (
        "unknown-op",
        _module("%0 = bnn.frobnicate %arg0 : f32<1x4> -> tern<1x4>\n" + RET),
        3, "bnn.frobnicate", ["unknown op 'bnn.frobnicate'"],
    ),
    (
        "undefined-value",
        _module("%0 = bnn.sign %arg7 : f32<1x4> -> tern<1x4>\n" + RET),
        3, "%arg7", ["undefined value %arg7"],
    ),
    (
        "undefined-value-in-return",
        _module(f"{SIGN}\nreturn %1 : tern<1x4>"),
        4, "%1", ["undefined value %1"],
    ),
    (
        "value-defined-twice",
        _module(f"{SIGN}\n{SIGN}\n{RET}"),
        4, "%0 =", ["%0 is defined twice"],
    ),
    (
        "argument-redefined",
        _module("%arg0 = bnn.sign %arg0 : f32<1x4> -> tern<1x4>\nreturn %arg0 : tern<1x4>"),
        3, "%arg0 =", ["%arg0 is defined twice"],
    ),
    (
        "signature-type-mismatch",
        _module("%0 = bnn.sign %arg0 : f32<1x5> -> tern<1x4>\n" + RET),
        3, "%arg0 :", ["%arg0 has type f32<1x4>", "signature says f32<1x5>"],
    ),
    (
        "signature-operand-count",
        _module("%0 = bnn.sign %arg0 : (f32<1x4>, f32<1x4>) -> tern<1x4>\n" + RET),
        3, "bnn.sign", ["1 value operands", "lists 2 types"],
    ),
    (
        "signature-result-count",
        _module("%0 = bnn.sign %arg0 : f32<1x4> -> (tern<1x4>, tern<1x4>)\n" + RET),
        3, "bnn.sign", ["defines 1 results", "lists 2 types"],
    ),
    (
        "return-type-mismatch",
        _module(f"{SIGN}\nreturn %0 : pm1<1x4>"),
        4, "return", ["types after 'return'"],
    ),
    (
        "function-result-mismatch",
        _module("return %arg0 : f32<1x4>"),
        2, "func @main", ["declares results (tern<1x4>)", "returns (f32<1x4>)"],
    ),
    (
        "missing-return",
        _module(SIGN),
        2, "func @main", ["must end in 'return'"],
    ),
    (
        "constant-without-data",
        _module(f"{SIGN}\n{RET}", 'const @"features.3.weight" : pm1<4x4>'),
        2, '@"features.3.weight"', ["features.3.weight", "no data"],
    ),
    (
        "constant-declared-twice",
        _module(f"{SIGN}\n{RET}", "const @w : f32<1> = dense<[1.0]>\nconst @w : f32<1> = dense<[2.0]>"),
        3, "@w", ["@w is declared twice"],
    ),
    (
        "dense-too-few-elements",
        _module(f"{SIGN}\n{RET}", "const @w : pm1<2x2> = dense<[1, -1, 1]>"),
        2, "dense<", ["declares 4 elements", "has 3"],
    ),
    (
        "dense-too-many-elements",
        _module(f"{SIGN}\n{RET}", "const @t : f32<> = dense<[1.0, 2.0]>"),
        2, "dense<", ["declares 1 elements", "has 2"],
    ),
    (
        "dense-malformed-value",
        _module(f"{SIGN}\n{RET}", "const @w : i32<2> = dense<[1, 2.5]>"),
        2, "dense<", ["malformed dense"],
    ),
    (
        "dense-u8-out-of-range",
        _module(f"{SIGN}\n{RET}", "const @q : u8<3> = dense<[0, 255, 256]>"),
        2, "dense<", ["does not fit domain u8"],
    ),
    (
        "dense-u8-negative",
        _module(f"{SIGN}\n{RET}", "const @q : u8<2> = dense<[-1, 3]>"),
        2, "dense<", ["does not fit domain u8"],
    ),
    (
        "dense-pm1-out-of-range",
        _module(f"{SIGN}\n{RET}", "const @w : pm1<2> = dense<[1, 200]>"),
        2, "dense<", ["does not fit domain pm1"],
    ),
    (
        "dense-pm1-two",
        _module(f"{SIGN}\n{RET}", "const @w : pm1<2> = dense<[1, 2]>"),
        2, "dense<", ["does not fit domain pm1"],
    ),
    (
        "dense-pm1-zero",
        _module(f"{SIGN}\n{RET}", "const @w : pm1<3> = dense<[1, 0, -1]>"),
        2, "dense<", ["does not fit domain pm1"],
    ),
    (
        "duplicate-attribute",
        _module('%0 = bnn.sign %arg0 {zero = "pos", zero = "neg"} : f32<1x4> -> pm1<1x4>\n' + RET),
        3, 'zero = "neg"', ["attribute 'zero' is given twice"],
    ),
    (
        "duplicate-module-attribute",
        'module attributes {a = 1, b = 2, a = 3} {\n}\n',
        1, "a = 3", ["attribute 'a' is given twice"],
    ),
    (
        "value-after-constant-operand",
        _module(f"{SIGN}\n%1 = bnn.add @c, %0 : tern<1x4> -> f32<1x4>\nreturn %1 : f32<1x4>", "const @c : f32<> = dense<[1.0]>"),
        5, "%0 :", ["before constant"],
    ),
]


@pytest.mark.parametrize(
    "text, line, caret_at, words", [pytest.param(*case[1:], id=case[0]) for case in PARSE_ERRORS]
)
def test_parse_error(text, line, caret_at, words):
    with pytest.raises(ParseError) as info:
        parse_module(text, FILE)
    error = info.value
    source_line = text.splitlines()[line - 1]
    column = source_line.index(caret_at) + 1
    message = str(error)
    head, shown_line, caret_line = message.split("\n")
    assert head.startswith(f"{FILE}:{line}:{column}: error: "), message
    for word in words:
        assert word in head, message
    assert shown_line == source_line
    assert caret_line == " " * (column - 1) + "^"
    assert (error.filename, error.line, error.column) == (FILE, line, column)


def test_parse_error_from_file_names_the_path(tmp_path):
    path = tmp_path / "model.bir"
    path.write_text(_module("%0 = bnn.nope %arg0 : f32<1x4> -> tern<1x4>\n" + RET))
    with pytest.raises(ParseError, match=r"^" + re.escape(f"{path}:3:10: error: unknown op 'bnn.nope'")):
        load_bir(path)


def _saved_module_with_external_weight(tmp_path: Path) -> Path:
    module = Module()
    function = module.add_function(Function("main", [TensorType(D.PM1, (1, 80))]))
    symbol = module.add_constant("fc.weight", np.ones((2, 80), np.int8), D.PM1)
    op = function.append(bnn.Dense.build([function.args[0]], consts=[symbol], const_types=[module.constants[symbol].type]))
    function.append(Return([op.result]))
    path = tmp_path / "model.bir"
    save_bir(module, path)
    assert path.with_suffix(".npz").exists()
    return path


def test_missing_npz_is_a_parse_error(tmp_path):
    path = _saved_module_with_external_weight(tmp_path)
    path.with_suffix(".npz").unlink()
    with pytest.raises(ParseError) as info:
        load_bir(path)
    assert str(info.value).startswith(f"{path}:2:9: error: constant @fc.weight has no data")
    assert "model.npz" in str(info.value)


@pytest.mark.parametrize(
    "array, words",
    [
        (np.ones((2, 81), np.int8), ["declared pm1<2x80>", "shape (2, 81)"]),
        (np.ones((2, 80), np.float32), ["declared pm1<2x80>", "dtype float32"]),
    ],
)
def test_npz_that_does_not_match_its_declaration(tmp_path, array, words):
    path = _saved_module_with_external_weight(tmp_path)
    np.savez(path.with_suffix(".npz"), **{"fc.weight": array})
    with pytest.raises(ParseError) as info:
        load_bir(path)
    assert str(info.value).startswith(f"{path}:2:9: error: @fc.weight is declared")
    for word in words:
        assert word in str(info.value)


# --------------------------------------------------------------------------- verifier errors

HEAD = re.compile(r"^(?P<file>[^:\n]+):(?P<line>\d+):(?P<col>\d+): error: verification failed")


def _verify_error(module: Module) -> VerifyError:
    with pytest.raises(VerifyError) as info:
        module.verify()
    return info.value


def _check_names_op(error: VerifyError, op_name: str, node: str, words: list[str]) -> None:
    message = str(error)
    assert f"'{op_name}'" in message, message
    assert f"'{node}'" in message, message  # the ONNX node the op came from
    for word in words:
        assert word in message, message
    assert error.op_name == op_name


def _parsed_error(text: str, line: int, op_token: str) -> VerifyError:
    module = parse_module(text, FILE)
    error = _verify_error(module)
    column = text.splitlines()[line - 1].index(op_token) + 1
    match = HEAD.match(str(error))
    assert match, str(error)
    assert (match["file"], int(match["line"]), int(match["col"])) == (FILE, line, column), str(error)
    assert error.source == (FILE, line, column)
    return error


# (id, op line, ONNX node, words in the message)
PARSED_VERIFY_ERRORS = [
    (
        "bad-attribute-kind",
        _module('%0 = bnn.sign %arg0 {zero = 1} : f32<1x4> -> tern<1x4> loc("Sign_3")\n' + RET),
        "bnn.sign", "Sign_3", ["attribute 'zero'", "expected a string"],
    ),
    (
        "attribute-not-a-choice",
        _module('%0 = bnn.sign %arg0 {zero = "maybe"} : f32<1x4> -> tern<1x4> loc("Sign_3")\n' + RET),
        "bnn.sign", "Sign_3", ["attribute 'zero'", "must be one of zero, pos, neg"],
    ),
    (
        "attribute-list-length",
        "module {\n  const @w : pm1<1x1x1x1> = dense<[1]>\n"
        "  func @main(%arg0: pm1<1x1x4x4>) -> (i32<1x1x4x4>) {\n"
        '    %0 = bnn.conv %arg0, @w {strides = [1]} : pm1<1x1x4x4> -> i32<1x1x4x4> loc(fused["Conv_1", "Pad_0"])\n'
        "    return %0 : i32<1x1x4x4>\n  }\n}\n",
        "bnn.conv", "Conv_1", ["attribute 'strides'", "must have 2 elements", "'Pad_0'"],
    ),
    (
        "pad-value-not-a-sign",
        "module {\n  const @w : pm1<1x1x1x1> = dense<[1]>\n"
        "  func @main(%arg0: pm1<1x1x4x4>) -> (i32<1x1x6x6>) {\n"
        '    %0 = bnn.conv %arg0, @w {pads = [1, 1, 1, 1], pad_value = 2} : pm1<1x1x4x4> -> i32<1x1x6x6> loc("Conv_1")\n'
        "    return %0 : i32<1x1x6x6>\n  }\n}\n",
        "bnn.conv", "Conv_1", ["pad_value must be 0, 1 or -1, got 2"],
    ),
    (
        "pad-value-on-integer-codes",
        "module {\n  const @w : pm1<1x1x1x1> = dense<[1]>\n"
        "  func @main(%arg0: u8<1x1x4x4>) -> (i32<1x1x6x6>) {\n"
        '    %0 = bnn.conv %arg0, @w {pads = [1, 1, 1, 1], pad_value = -1} : u8<1x1x4x4> -> i32<1x1x6x6> loc("Conv_1")\n'
        "    return %0 : i32<1x1x6x6>\n  }\n}\n",
        "bnn.conv", "Conv_1", ["pad_value -1 needs a pm1 or tern input, got u8"],
    ),
    (
        "pad-bits-per-plane",
        "module {\n  func @main(%arg0: bit<2x1x1x4x4>) -> (bit<2x16x9>) {\n"
        '    %0 = xbar.window %arg0 {kernel = [3, 3], pads = [1, 1, 1, 1], pad_bits = [1]} : bit<2x1x1x4x4> -> bit<2x16x9> loc("Conv_1")\n'
        "    return %0 : bit<2x16x9>\n  }\n}\n",
        "xbar.window", "Conv_1", ["pad_bits must be one bit per plane (2), got [1]"],
    ),
    (
        "unknown-attribute",
        _module('%0 = bnn.sign %arg0 {zero = "zero", colour = "red"} : f32<1x4> -> tern<1x4> loc("Sign_3")\n' + RET),
        "bnn.sign", "Sign_3", ["unknown attribute 'colour'"],
    ),
    (
        "missing-required-attribute",
        "module {\n  func @main(%arg0: f32<1x4>) -> (f32<4>) {\n"
        '    %0 = bnn.reshape %arg0 : f32<1x4> -> f32<4> loc("Flatten_9")\n'
        "    return %0 : f32<4>\n  }\n}\n",
        "bnn.reshape", "Flatten_9", ["missing required attribute 'shape'"],
    ),
    (
        "result-type-not-inferred",
        _module('%0 = bnn.sign %arg0 {zero = "pos"} : f32<1x4> -> tern<1x4> loc("Sign_3")\n' + RET),
        "bnn.sign", "Sign_3", ["result types (tern<1x4>)", "inferred (pm1<1x4>)"],
    ),
    (
        "result-shape-not-inferred",
        "module {\n  const @w : pm1<3x4> = dense<[1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1]>\n"
        "  func @main(%arg0: pm1<1x4>) -> (i32<1x4>) {\n"
        '    %0 = bnn.dense %arg0, @w : pm1<1x4> -> i32<1x4> loc("Gemm_5")\n'
        "    return %0 : i32<1x4>\n  }\n}\n",
        "bnn.dense", "Gemm_5", ["result types (i32<1x4>)", "inferred (i32<1x3>)"],
    ),
    (
        "shapes-do-not-fit",
        "module {\n  const @w : pm1<3x5> = dense<[1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1]>\n"
        "  func @main(%arg0: pm1<1x4>) -> (i32<1x3>) {\n"
        '    %0 = bnn.dense %arg0, @w : pm1<1x4> -> i32<1x3> loc("Gemm_5")\n'
        "    return %0 : i32<1x3>\n  }\n}\n",
        "bnn.dense", "Gemm_5", ["input has 4 features, weight expects 5"],
    ),
    (
        "constant-domain-mismatch",
        "module {\n  const @w : f32<3x4> = dense<[1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0]>\n"
        "  func @main(%arg0: pm1<1x4>) -> (i32<1x3>) {\n"
        '    %0 = bnn.dense %arg0, @w : pm1<1x4> -> i32<1x3> loc("Gemm_5")\n'
        "    return %0 : i32<1x3>\n  }\n}\n",
        "bnn.dense", "Gemm_5", ["constant 'weight' (@w) has domain f32", "expected one of pm1"],
    ),
    (
        "operand-domain-mismatch",
        "module {\n  const @w : pm1<3x4> = dense<[1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1]>\n"
        "  func @main(%arg0: f32<1x4>) -> (i32<1x3>) {\n"
        '    %0 = bnn.dense %arg0, @w : f32<1x4> -> i32<1x3> loc("Gemm_5")\n'
        "    return %0 : i32<1x3>\n  }\n}\n",
        "bnn.dense", "Gemm_5", ["operand 'input' has domain f32"],
    ),
    (
        "undefined-constant",
        "module {\n  func @main(%arg0: f32<1x4>) -> (f32<1x4>) {\n"
        '    %0 = bnn.mul %arg0, @"scale 1" : f32<1x4> -> f32<1x4> loc("Mul_4")\n'
        "    return %0 : f32<1x4>\n  }\n}\n",
        "bnn.mul", "Mul_4", ["undefined constant @scale 1"],
    ),
    (
        "return-not-last",
        _module(f'{SIGN}\nreturn %0 : tern<1x4> loc("Identity_0")\n%1 = bnn.sign %arg0 : f32<1x4> -> tern<1x4>\n{RET}'),
        "return", "Identity_0", ["'return' must be the last op"],
    ),
]


@pytest.mark.parametrize(
    "text, op_name, node, words", [pytest.param(*case[1:], id=case[0]) for case in PARSED_VERIFY_ERRORS]
)
def test_verify_error_in_parsed_module(text, op_name, node, words):
    line = next(i for i, s in enumerate(text.splitlines(), 1) if f'"{node}"' in s)
    token = "return" if op_name == "return" else op_name
    error = _parsed_error(text, line, token)
    _check_names_op(error, op_name, node, words)


# -- built programmatically: no file position, but the op and its node


def _function(module: Module, *arg_types: TensorType) -> Function:
    return module.add_function(Function("main", list(arg_types)))


F14 = TensorType(D.F32, (1, 4))


def test_bad_attribute_kind_programmatic():
    module = Module()
    function = _function(module, F14)
    op = function.append(bnn.Sign([function.args[0]], [F14.with_domain(D.TERN)], {"zero": 0}, [], Location.of("Sign_3")))
    function.append(Return([op.result]))
    error = _verify_error(module)
    _check_names_op(error, "bnn.sign", "Sign_3", ["attribute 'zero'", "expected a string, got 0"])
    assert not HEAD.match(str(error)) and error.source is None
    assert str(error).startswith("verification failed for 'bnn.sign' at node 'Sign_3': ")


def test_unknown_and_missing_attributes_programmatic():
    module = Module()
    function = _function(module, F14)
    op = function.append(bnn.Transpose([function.args[0]], [TensorType(D.F32, (4, 1))], {"perms": (1, 0)}, [], Location.of("T")))
    function.append(Return([op.result]))
    _check_names_op(_verify_error(module), "bnn.transpose", "T", ["unknown attribute 'perms'"])
    del op.attributes["perms"]
    _check_names_op(_verify_error(module), "bnn.transpose", "T", ["missing required attribute 'perm'"])
    op.attributes["perm"] = (1, 0)
    module.verify()


def test_result_type_not_inferred_programmatic():
    module = Module()
    function = _function(module, F14)
    op = function.append(bnn.Sign([function.args[0]], [F14.with_domain(D.PM1)], {}, [], Location.of("Sign_3")))
    function.append(Return([op.result]))
    _check_names_op(_verify_error(module), "bnn.sign", "Sign_3", ["(pm1<1x4>) do not match the inferred (tern<1x4>)"])


def test_constant_domain_mismatch_programmatic():
    module = Module()
    function = _function(module, TensorType(D.PM1, (1, 4)))
    symbol = module.add_constant("fc.weight", np.ones((3, 4), np.float32), D.F32)
    op = bnn.Dense([function.args[0]], [TensorType(D.I32, (1, 3))], {}, [symbol], Location.fuse(Location.of("MatMul_1"), Location.of("Add_2")))
    function.append(op)
    function.append(Return([op.result]))
    error = _verify_error(module)
    _check_names_op(error, "bnn.dense", "MatMul_1", ["nodes 'MatMul_1', 'Add_2'", "@fc.weight", "domain f32"])


def test_pm1_constant_holding_zero():
    module = Module()
    module.constants["w"] = Constant(TensorType(D.PM1, (2, 2)), np.array([[1, -1], [0, 1]]))
    error = _verify_error(module)
    assert "constant @w of domain pm1" in str(error)
    assert "e.g. 0" in str(error)


def test_pm1_constant_holding_zero_loaded_from_npz(tmp_path):
    path = tmp_path / "model.bir"
    module = Module()
    function = _function(module, TensorType(D.PM1, (1, 80)))
    weights = np.ones((2, 80), np.int8)
    symbol = module.add_constant("fc.weight", weights, D.PM1)
    op = function.append(bnn.Dense.build([function.args[0]], consts=[symbol], const_types=[module.constants[symbol].type]))
    function.append(Return([op.result]))
    save_bir(module, path)
    weights[1, 7] = 0
    np.savez(path.with_suffix(".npz"), **{"fc.weight": weights})
    loaded = load_bir(path)  # the .npz is not checked against the domain when loading
    error = _verify_error(loaded)
    assert "constant @fc.weight of domain pm1" in str(error) and "e.g. 0" in str(error)


def test_use_before_def_programmatic():
    module = Module()
    function = _function(module, F14)
    first = bnn.Sign.build([function.args[0]], location=Location.of("Sign_1"))
    second = bnn.Mul.build([first.result], consts=["c"], const_types=[TensorType(D.F32, ())], location=Location.of("Mul_2"))
    module.add_constant("c", np.array(2.0, np.float32), D.F32)
    function.append(second)  # uses first's result before first is in the function
    function.append(first)
    function.append(Return([second.result]))
    _check_names_op(_verify_error(module), "bnn.mul", "Mul_2", ["operand 0 is used before it is defined"])
    function.ops[:2] = [first, second]
    module.verify()


def test_return_not_last_programmatic():
    module = Module()
    function = _function(module, F14)
    op = bnn.Sign.build([function.args[0]], location=Location.of("Sign_1"))
    function.append(Return([function.args[0]], location=Location.of("Identity_0")))
    function.append(op)
    function.append(Return([op.result]))
    _check_names_op(_verify_error(module), "return", "Identity_0", ["'return' must be the last op"])


def test_missing_return_programmatic():
    module = Module()
    function = _function(module, F14)
    function.append(bnn.Sign.build([function.args[0]]))
    with pytest.raises(VerifyError, match="function @main must end in 'return'"):
        module.verify()


def test_duplicate_function_names():
    module = Module()
    for _ in range(2):
        function = _function(module, F14)
        function.append(Return([function.args[0]]))
    with pytest.raises(VerifyError, match="function names must be unique"):
        module.verify()


def test_verify_errors_survive_a_print_parse_cycle():
    """A module that fails verification still prints, and the parsed copy fails the same way,
    now with a position."""
    module = Module()
    function = _function(module, F14)
    op = function.append(bnn.Sign([function.args[0]], [F14.with_domain(D.PM1)], {}, [], Location.of("Sign_3")))
    function.append(Return([op.result]))
    text = print_module(module)
    error = _parsed_error(text, 3, "bnn.sign")
    assert error.message == _verify_error(module).message
