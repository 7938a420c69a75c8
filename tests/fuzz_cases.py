"""Seeded fuzz cases for bnnc's promise under bad input (tests/test_fuzz.py): mutated ONNX
models, mutated .bir text and .npz constants, unusual command lines; and the judge of one run.

The promise, for any input: the exit code is 0, 2 or 3, never 1 (an internal error) nor an
uncaught exception; a refusal is one line (remarks aside); nothing is written outside ``-o``
(except the files the command line names); after a refusal the output directory is as it
was; after success it is complete. The mutation ideas come from ../shared/probes/
(onnx_fuzz.py, bir_fuzz.py, cli_inputs_probe.py)."""

from __future__ import annotations

import contextlib
import io
import random
import re
import time
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from bnnc.cli import main

HANG_SECONDS = 60
"""A case that runs longer than this (these models compile in well under a second) counts as a hang."""
OUTPUT_FILES = {"report.json", "report.md", "report.html", "schedule.json", "trace.json", "model.bir"}
WEIRD_NAMES = ["line1\nline2", "para\u2028graph", "zero\u200bwidth", "\ufeffbom", "\x1b[31mred\x1b[0m", "tab\there", "nul\x00byte", "\u202eevil", "ü" * 3, "x" * 5000, "", " ",
               "a|b|c", "%0", "@w", 'quo"te', "back\\slash", "loc(\"x\")"]
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]")
_PYTHON_ERROR = re.compile(r"\b(RuntimeError|TypeError|KeyError|IndexError|AttributeError|ValueError|ZeroDivisionError|"
                           r"AssertionError|RecursionError|OverflowError|MemoryError|UnboundLocalError|NameError):")
"""A Python exception named in a message: a bug of bnnc's wrapped as a user error."""
INTS = [0, -1, -7, 1, 2, 3, 9, 2**31, 2**62, -(2**62)]
FLOATS = [0.0, -0.0, -1.0, 1e-45, 1e38, float("nan"), float("inf"), float("-inf"), 0.5]
DTYPES = [TensorProto.FLOAT, TensorProto.DOUBLE, TensorProto.UINT8, TensorProto.INT8, TensorProto.INT64, TensorProto.BOOL,
          TensorProto.STRING, TensorProto.FLOAT16, TensorProto.COMPLEX64, 0, 999]
OPS = ["Conv", "Relu", "Sign", "MatMul", "Gemm", "MaxPool", "Add", "Mul", "Flatten", "Reshape", "Where", "Pad", "TopK",
       "Softmax", "BatchNormalization", "Identity", "Cast", "Concat", "NoSuchOp", ""]


@dataclass
class Outcome:
    """What one run did: exit code, stderr, and the judge's findings (empty: promise kept)."""

    code: int
    err: str
    broken: list[str]


def _tree(root: Path) -> dict[str, bytes | None]:
    return {str(p.relative_to(root)): (p.read_bytes() if p.is_file() and not p.is_symlink() else None)
            for p in sorted(root.rglob("*"))}


def judge(argv: list[str], work: Path, out: Path, allowed: tuple[Path, ...] = ()) -> Outcome:
    """Run ``bnnc argv`` in-process (stdout and stderr captured) and check the promise: ``work``
    is the only directory the run may touch, ``out`` its ``-o`` and ``allowed`` the other
    files the command line asks for."""
    before = _tree(work)
    stdout, stderr = io.StringIO(), io.StringIO()
    start = time.monotonic()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        try:
            code = main(argv)
        except SystemExit as e:  # argparse
            code = e.code if isinstance(e.code, int) else 2
    seconds = time.monotonic() - start
    broken = []
    err = stderr.getvalue()
    after = _tree(work)
    if seconds > HANG_SECONDS:
        broken.append(f"took {seconds:.0f} s (a hang?)")
    if _CONTROL.search((err + stdout.getvalue()).replace("\n", "")):
        broken.append("a control character printed")
    if code not in (0, 2, 3):
        broken.append(f"exit {code}")
    lines = [line for line in err.splitlines() if not line.startswith(("bnnc: remark:", "bnnc: warning:"))]
    diagnostic = len(lines) == 3 and re.match(r"^\S.*:\d+:\d+: error: ", lines[0]) and lines[2].strip() == "^"
    if code == 2 and len(lines) != 1 and not diagnostic:  # a .bir or pipeline diagnostic: its source line and a caret
        broken.append(f"{len(lines)} error lines")
    if code != 0 and max(map(len, err.splitlines()), default=0) > 3000:
        broken.append("uncapped error text")
    if "Traceback" in err or "internal error" in err or _PYTHON_ERROR.search(err):
        broken.append("internal error")
    out_name = str(out.relative_to(work))
    outside = {name for name in set(before) | set(after)
               if before.get(name, 0) != after.get(name, 0) and name != out_name and not name.startswith(out_name + "/")}
    outside -= {str(p.relative_to(work)) for p in allowed}
    if outside:
        broken.append(f"written outside -o: {sorted(outside)[:3]}")
    old = {k: v for k, v in before.items() if k == out_name or k.startswith(out_name + "/")}
    new = {k: v for k, v in after.items() if k == out_name or k.startswith(out_name + "/")}
    if code == 2 and old != new:
        broken.append("output directory changed by a refused run")
    if code in (0, 3) and out.is_dir() and (out / "report.json").exists() and not OUTPUT_FILES <= {p.name for p in out.iterdir()}:
        broken.append("incomplete output directory")
    return Outcome(code, err, broken)


# ----------------------------------------------------------------------------------- ONNX


def _tensor_names(graph: onnx.GraphProto) -> list[str]:
    names = [v.name for v in [*graph.input, *graph.output]] + [t.name for t in graph.initializer]
    return names + [o for n in graph.node for o in n.output if o]


def mutate_onnx(model: onnx.ModelProto, rng: random.Random) -> str:
    """Apply one structural mutation in place; returns what it did."""
    graph = model.graph
    node = rng.choice(list(graph.node))
    kind = rng.choice(["attribute", "dtype", "dims", "cycle", "duplicate", "drop_initializer", "dangling", "opset", "names",
                       "op", "io", "bomb", "weights", "batchnorm", "swap"])
    if kind == "attribute" and node.attribute:
        attribute = rng.choice(list(node.attribute))
        if attribute.type == onnx.AttributeProto.INTS and attribute.ints:
            attribute.ints[rng.randrange(len(attribute.ints))] = rng.choice(INTS)
        elif attribute.type == onnx.AttributeProto.INT:
            attribute.i = rng.choice(INTS)
        elif attribute.type == onnx.AttributeProto.FLOAT:
            attribute.f = rng.choice(FLOATS)
        elif attribute.type == onnx.AttributeProto.STRING:
            attribute.s = rng.choice([b"", b"\xff\xfe", b"NOTSET", b"x" * 10000, b"line\nbreak"])
        else:
            node.attribute.remove(attribute)
    elif kind == "dtype":
        target = rng.choice([*graph.input, *graph.output])
        target.type.tensor_type.elem_type = rng.choice(DTYPES)
    elif kind == "dims":
        value = rng.choice([0, -1, 2**31, 2**40, 100000, 7])
        if rng.random() < 0.5 and graph.input[0].type.tensor_type.shape.dim:
            dims = graph.input[0].type.tensor_type.shape.dim
            dims[rng.randrange(len(dims))].dim_value = value
        elif graph.initializer and graph.initializer[0].dims:
            init = rng.choice([t for t in graph.initializer if t.dims] or [graph.initializer[0]])
            init.dims[rng.randrange(len(init.dims))] = value
    elif kind == "cycle" and node.input:
        later = [o for n in graph.node for o in n.output if o]
        node.input[rng.randrange(len(node.input))] = rng.choice(later)
    elif kind == "duplicate" and len(graph.node) > 1:
        a, b = rng.sample(list(graph.node), 2)
        b.output[0] = a.output[0]
    elif kind == "drop_initializer" and graph.initializer:
        graph.initializer.remove(rng.choice(list(graph.initializer)))
    elif kind == "dangling" and node.input:
        node.input[rng.randrange(len(node.input))] = rng.choice(["does_not_exist", "", "y" * 300])
    elif kind == "opset":
        for entry in model.opset_import:
            if entry.domain in ("", "ai.onnx"):
                entry.version = rng.choice([1, 8, 9, 10, 11, 99, 10000, -1])
    elif kind == "names":
        name = rng.choice(WEIRD_NAMES)
        if rng.random() < 0.5:
            node.name, node.op_type = name, rng.choice([node.op_type, "NoSuchOp", "Softmax"])
        else:
            old = rng.choice(_tensor_names(graph))
            for n in graph.node:
                n.input[:] = [name if i == old else i for i in n.input]
                n.output[:] = [name if o == old else o for o in n.output]
            for value in [*graph.input, *graph.output, *graph.initializer]:
                if value.name == old:
                    value.name = name
    elif kind == "op":
        node.op_type = rng.choice(OPS)
        if rng.random() < 0.2:
            node.domain = rng.choice(["qonnx.custom_op.general", "finn.custom_op.general", "com.example", "\x00"])
    elif kind == "io":
        choice = rng.randrange(4)
        if choice == 0:
            del graph.output[:]
        elif choice == 1:
            graph.output.append(helper.make_tensor_value_info(graph.input[0].name, graph.input[0].type.tensor_type.elem_type, None))
        elif choice == 2:
            graph.input.append(helper.make_tensor_value_info("extra_in", rng.choice([TensorProto.FLOAT, TensorProto.UINT8]), [1, 4]))
        else:
            graph.output.append(helper.make_tensor_value_info(rng.choice(node.output), TensorProto.FLOAT, None))
    elif kind == "bomb":
        shape = rng.choice([[2**31], [2**20, 2**12], [65536, 65536]])
        graph.initializer.append(numpy_helper.from_array(np.array(shape, np.int64), "bomb_shape"))
        graph.node.insert(0, helper.make_node("ConstantOfShape", ["bomb_shape"], ["bomb_out"], name="bomb"))
        if rng.random() < 0.5:  # used: the size limit refuses it
            graph.node.append(helper.make_node("ReduceMax", ["bomb_out"], ["bomb_max"], name="bomb_max", keepdims=0))
            graph.output.append(helper.make_tensor_value_info("bomb_max", TensorProto.FLOAT, []))
    elif kind in ("weights", "batchnorm"):
        floats = [t for t in graph.initializer if t.data_type == TensorProto.FLOAT and np.prod(t.dims) > 0]
        if kind == "batchnorm":
            norms = [n for n in graph.node if n.op_type == "BatchNormalization"]
            if norms and rng.random() < 0.3:
                norms[0].attribute.append(helper.make_attribute("epsilon", rng.choice(FLOATS)))
                return kind
            reads = {i for n in norms for i in n.input[1:]}
            floats = [t for t in floats if t.name in reads] or floats
        if floats:
            init = rng.choice(floats)
            try:
                array = numpy_helper.to_array(init).copy()
            except ValueError:  # an earlier mutation broke its dims: the loader's to refuse
                return kind
            array.flat[rng.randrange(array.size)] = rng.choice(FLOATS + [3.0, 2.0**24 + 1])
            if rng.random() < 0.3:
                array[...] = array.flat[0]
            init.CopyFrom(numpy_helper.from_array(array, init.name))
    elif kind == "swap" and len(graph.node) > 1:
        swap_nodes(graph, rng.randrange(len(graph.node) - 1))
    return kind


def swap_nodes(graph: onnx.GraphProto, i: int) -> None:
    """Exchange nodes ``i`` and ``i + 1`` (the graph may no longer be in topological order)."""
    a, b = onnx.NodeProto(), onnx.NodeProto()
    a.CopyFrom(graph.node[i])
    b.CopyFrom(graph.node[i + 1])
    graph.node[i].CopyFrom(b)
    graph.node[i + 1].CopyFrom(a)


def mutate_bytes(data: bytes, rng: random.Random) -> bytes:
    """Random bytes, a truncation, an insertion, a duplicated run, or another file altogether."""
    raw = bytearray(data)
    choice = rng.randrange(6)
    if choice == 0:
        for _ in range(rng.randint(1, 16)):
            raw[rng.randrange(len(raw))] = rng.randrange(256)
        return bytes(raw)
    if choice == 1:
        return bytes(raw[: rng.randrange(len(raw))])
    position = rng.randrange(len(raw))
    if choice == 2:
        return bytes(raw[:position]) + rng.randbytes(rng.randint(1, 64)) + bytes(raw[position:])
    if choice == 3:
        return bytes(raw[:position] + raw[position:position + 4096] + raw[position:])
    if choice == 4:
        return b"\xef\xbb\xbf" + bytes(raw)
    return rng.randbytes(rng.randint(0, 3000))


# ----------------------------------------------------------------------------------- .bir / .npz


def mutate_bir(text: str, rng: random.Random) -> str:
    """One mutation of textual IR: tokens deleted, duplicated, swapped or replaced, lines cut,
    huge or odd numbers, deep nesting, long lines, control characters, a BOM."""
    lines = text.split("\n")
    index = rng.randrange(len(lines))
    line = lines[index]
    tokens = line.split(" ")
    choice = rng.randrange(10)
    if choice == 0 and len(tokens) > 1:
        del tokens[rng.randrange(len(tokens))]
    elif choice == 1:
        position = rng.randrange(len(tokens))
        tokens.insert(position, tokens[position])
    elif choice == 2 and len(tokens) > 1:
        i, j = rng.sample(range(len(tokens)), 2)
        tokens[i], tokens[j] = tokens[j], tokens[i]
    elif choice == 3:
        tokens[rng.randrange(len(tokens))] = rng.choice(
            ["10" * 200, str(2**64), "-1", "0", "nan", "inf", "1e999", "%999", "@nope", "{", "}", "[[[[", "\"", "loc(", "i32<0x0>",
             "f32<99999999x99999999>", "pm1<1>", "\u202e", "ü"])
    elif choice == 4:
        lines[index] = line[: rng.randrange(len(line) + 1)]
        return "\n".join(lines[: index + 1])
    elif choice == 5:
        tokens.insert(rng.randrange(len(tokens) + 1), "[" * rng.choice([50, 5000]) + "1" + "]" * rng.choice([0, 50, 5000]))
    elif choice == 6:
        tokens.insert(rng.randrange(len(tokens) + 1), "x" * rng.choice([1000, 1_000_000]))
    elif choice == 7:
        tokens.insert(rng.randrange(len(tokens) + 1), rng.choice(["\x00", "\x1b[31m", "\r", "\x0c", "\ud800", "\u2028", "\ufeff"]))
    elif choice == 8:
        return "\ufeff" + text
    else:
        lines.insert(index, line)
    lines[index] = " ".join(tokens)
    return "\n".join(lines)


def _npz_member(name: str, array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, array, allow_pickle=array.dtype == object)
    return buffer.getvalue()


def mutate_npz(arrays: dict[str, np.ndarray], rng: random.Random) -> bytes | None:
    """The bytes of a mutated .npz of ``arrays`` (None: the file is missing)."""
    arrays = dict(arrays)
    name = rng.choice(sorted(arrays)) if arrays else "x"
    choice = rng.randrange(9)
    if choice == 0:
        return None
    if choice == 1 and arrays:
        arrays[name] = arrays[name].reshape(-1)[:-1] if arrays[name].size > 1 else np.zeros(3)
    elif choice == 2 and arrays:
        arrays[name] = arrays[name].astype(rng.choice([np.float64, np.int8, np.complex64, np.bool_, "U3"]))
    elif choice == 3:
        arrays[rng.choice(["extra", name + ".npy", "../escape"])] = np.zeros(2)
    elif choice == 4 and arrays:
        del arrays[name]
    elif choice == 5:
        arrays[name] = np.array([object()], dtype=object)
    elif choice == 6 and arrays:
        arrays[name] = np.full(arrays[name].shape, rng.choice([np.nan, np.inf]), arrays[name].dtype) \
            if arrays[name].dtype.kind == "f" else arrays[name]
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a duplicate member name ("x" and "x.npy") is one of the mutations
        for key, array in arrays.items():
            archive.writestr(key if key.endswith(".npy") else key + ".npy", _npz_member(key, array))
        if choice == 7:  # a member whose header declares 2**40 elements
            header = _npz_member("big", np.zeros(1, np.float32)).replace(b"(1,)", b"(1099511627776,)")
            archive.writestr("big.npy", header)
    data = buffer.getvalue()
    return data[: rng.randrange(len(data))] if choice == 8 else data


# ----------------------------------------------------------------------------------- command lines


def hw_toml(rng: random.Random) -> str:
    """A hardware file: a good value, a bad one, an unknown key, or not TOML at all."""
    return rng.choice([
        "[read]\ntime_ns = 10\n", "[read]\ntime_ns = 1e308\n", "[digital]\nclock_ghz = 5e-324\n", "[digital]\nclock_ghz = -1\n",
        "[array]\nrows = 64\ncols = 64\n", "[array]\nrows = 1\n", "[nosuch]\nx = 1\n", "read = 3\n", "[[[", "\xff\xfe",
        "[read]\ntime_ns = nan\n", "[read]\ntime_ns = \"fast\"\n", "",
    ])


def cli_flags(rng: random.Random, work: Path, input_name: str, input_shape: list[int]) -> tuple[list[str], tuple[Path, ...]]:
    """A random combination of flags with good and bad values; returns the flags and the files
    outside ``-o`` they ask bnnc to write."""
    flags: list[str] = []
    allowed: list[Path] = []
    pool = [
        lambda: ["--array", rng.choice(["2x2", "3x5", "64x64", "1x1", "0x4", "axb", "128", "-4x4", "99999999999x2"])],
        lambda: ["--max-arrays", rng.choice(["0", "1", "50", "-1", "1e3", "x"])],
        lambda: ["--target-fps", rng.choice(["1e6", "1e300", "0", "-1", "nan", "inf"])],
        lambda: ["--golden-inputs", rng.choice(["1", "2", "0", "-1", "z"])],
        lambda: ["--scheme", rng.choice(["refcol", "xnor", "diff", "auto", "bogus"])],
        lambda: ["--sign-zero", rng.choice(["exact", "pos", "neg", "error"])],
        lambda: ["--max-tensor-mb", rng.choice(["0.001", "1", "0", "-5", "nan", "1e9"])],
        lambda: ["--input-shape", rng.choice([f"{input_name}=" + "x".join(map(str, input_shape)), f"{input_name}=0x3", "nope=1x2",
                                              "=1", f"{input_name}=1x" + "9" * 30])],
        lambda: ["-p", rng.choice(["", "canonicalize,dce", "tile{rows=1,cols=1}", "no-such-pass", "canonicalize{", "dce{x=1}",
                                   "sign-convert{scheme=bogus}", "replicate{max-arrays=-5}"])],
        lambda: ["--emit", rng.choice(["ir", "none"])],
        lambda: ["--no-check"],
        lambda: ["--json"],
    ]
    for make in rng.sample(pool, rng.randint(0, 4)):
        flags += make()
    if rng.random() < 0.3:
        (work / "hw.toml").write_text(hw_toml(rng), errors="surrogateescape")
        flags += ["--hw", str(work / "hw.toml")]
    if rng.random() < 0.3:
        shape = rng.choice([input_shape, [0, *input_shape[1:]], [3, *input_shape[1:]], input_shape[:-1], [*input_shape, 1]])
        value = rng.choice([0.5, -1.0, 300, np.nan, np.inf])
        dtype = rng.choice([np.float32, np.float64, np.int64, np.uint8, np.bool_])
        key = rng.choice([input_name, input_name, "nope", input_name + ".npy"])
        with np.errstate(invalid="ignore", over="ignore"):
            array = np.full(shape, value).astype(dtype)
        data = mutate_npz({key: array}, rng) if rng.random() < 0.3 else _whole_npz({key: array})
        if data is not None:
            (work / "in.npz").write_bytes(data)
        flags += ["--inputs", str(work / "in.npz")]
        if rng.random() < 0.5:
            target = rng.choice([work / "saved.npz", work, work / "in.npz"])
            flags += ["--save-outputs", str(target)]
            allowed.append(target)
    if rng.random() < 0.1:
        flags += ["--export-standard-onnx", str(work / "std.onnx")]
        allowed.append(work / "std.onnx")
    return flags, tuple(allowed)


def _whole_npz(arrays: dict[str, np.ndarray]) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def output_target(rng: random.Random, work: Path) -> Path:
    """The ``-o`` of a case: fresh, an earlier output, a non-output directory, a file, or below one."""
    out = work / "out"
    choice = rng.randrange(6)
    if choice == 1:
        out.mkdir()
        for name in ("report.json", "model.bir", "notes.txt"):
            (out / name).write_text(f"earlier {name}")
    elif choice == 2:
        out.mkdir()
        (out / "mine.txt").write_text("not bnnc's")
    elif choice == 3:
        out.write_text("a file")
    elif choice == 4:
        (work / "blocker").write_text("a file")
        return work / "blocker" / "out"
    return out
