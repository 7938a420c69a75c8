"""``bnnc MODEL.onnx``: compile, write the output directory, run inputs, golden-check."""

from __future__ import annotations

import argparse
import io
import json
import sys
from pathlib import Path

import numpy as np

from bnnc import __version__
from bnnc.driver import (
    DEFAULT_PIPELINE,
    Compilation,
    GoldenResult,
    compile_model,
    golden_check,
    onnx_inputs_to_domain,
    random_inputs,
    run_program,
)
from bnnc.errors import BnncError, GoldenMismatch
from bnnc.frontend.loader import parse_input_shapes, read_model
from bnnc.frontend.standardize import standardize
from bnnc.ir import print_module
from bnnc.ir.atomic import write_files_atomically
from bnnc.ir.parser import bir_files
from bnnc.passes import PassContext


def _load_npz(path: Path) -> dict[str, np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as data:
            return {k: data[k] for k in data.files}
    except (OSError, ValueError) as e:
        raise BnncError(f"{path}: cannot read input arrays ({e}); expected an .npz written by numpy.savez") from None


def _npz_bytes(arrays: dict[str, np.ndarray]) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def layer_table(compilation: Compilation) -> list[dict]:
    """One entry per op that stands for a layer of the source model: binary layers on arrays,
    and host partitions."""
    entries = []
    for op in compilation.module.function("main").ops:
        if op.name in ("bnn.conv", "bnn.dense"):
            weight = op.const_type("weight")
            entries.append({
                "name": op.location.names[0] if op.location.known else op.name,
                "op": op.name,
                "target": "crossbar",
                "input_domain": op.operands[0].type.domain.value,
                "fan_in": int(np.prod(weight.shape[1:])),
                "outputs": weight.shape[0],
                "weights": weight.size,
            })
        elif op.name == "host.onnx":
            entries.append({"name": ", ".join(op.location.names), "op": op.name, "target": "host", "arrays": 0})
    return entries


def run_onnx(args: argparse.Namespace, manager_options: dict) -> int:
    path = Path(args.file)
    if args.export_standard_onnx is not None:
        standard = standardize(read_model(path))
        write_files_atomically({args.export_standard_onnx: standard.SerializeToString()})
    pipeline = args.pipeline if args.pipeline is not None else DEFAULT_PIPELINE
    compilation = compile_model(
        path, pipeline, parse_input_shapes(args.input_shape), manager_options, PassContext(debug=args.debug)
    )
    from bnnc.cli import print_remarks

    print_remarks(compilation.context)
    user_inputs = _load_npz(args.inputs) if args.inputs is not None else None
    if user_inputs is not None:
        user_inputs = onnx_inputs_to_domain(compilation.module, compilation.graph, user_inputs)
    golden: GoldenResult | None = None
    if not args.no_check:
        inputs = user_inputs if user_inputs is not None else random_inputs(compilation.module, compilation.graph, args.golden_inputs)
        golden = golden_check(compilation, inputs)
    files: dict[Path, bytes] = {}
    if args.save_outputs is not None:
        if user_inputs is None:
            raise BnncError("--save-outputs needs --inputs IN.npz (keys: the model's ONNX input names)")
        files[args.save_outputs] = _npz_bytes(run_program(compilation.module, user_inputs))
    out_dir = args.output if args.output is not None else Path(f"{path.stem}.bnnc")
    report = {
        "version": 1,
        "bnnc": __version__,
        "model": str(path),
        "pipeline": pipeline,
        "layers": layer_table(compilation),
        "timings": compilation.timings,
    }
    if golden is not None:
        report["golden"] = golden.to_json()
    files[out_dir / "report.json"] = (json.dumps(report, indent=2) + "\n").encode()
    files.update(bir_files(compilation.module, out_dir / "model.bir"))
    write_files_atomically(files)
    summary = sys.stdout
    if args.emit == "ir":
        sys.stdout.write(print_module(compilation.module))
        summary = sys.stderr
    if args.time_passes:
        print(json.dumps(compilation.timings), file=sys.stderr)
    crossbar = sum(1 for layer in report["layers"] if layer["target"] == "crossbar")
    host = sum(1 for layer in report["layers"] if layer["target"] == "host")
    print(f"bnnc: {path.name}: {crossbar} binary layers on crossbars, {host} host partitions; wrote {out_dir}/", file=summary)
    if golden is not None:
        print(f"bnnc: golden check: {golden.summary()}", file=summary)
        if not golden.exact:
            raise GoldenMismatch(f"{path}: the compiled program differs from onnxruntime: " + "; ".join(golden.mismatches))
    return 0
