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
    default_pipeline,
    Compilation,
    GoldenResult,
    compile_model,
    golden_check,
    onnx_inputs_to_domain,
    random_inputs,
    run_program,
)
from bnnc.backends.report import REPORT_VERSION, layer_entries, totals
from bnnc.backends.schedule import build_schedule, default_timing, trace_events
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


def _json_bytes(data: dict) -> bytes:
    return (json.dumps(data, indent=1) + "\n").encode()


def _npz_bytes(arrays: dict[str, np.ndarray]) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def pipeline_for(args: argparse.Namespace) -> str:
    """``-p`` as given, or the default pipeline with ``--scheme``, ``--sign-zero``, ``--array``."""
    tuned = {"--scheme": args.scheme, "--sign-zero": args.sign_zero, "--array": args.array,
             "--max-arrays": args.max_arrays, "--target-fps": args.target_fps}
    if args.pipeline is not None:
        given = [flag for flag, value in tuned.items() if value is not None]
        if given:
            raise BnncError(f"{', '.join(given)} tune the default pipeline; with -p, set the pass options in the pipeline instead")
        return args.pipeline
    rows, cols = parse_array(args.array or "128x128")
    return default_pipeline(args.scheme or "auto", args.sign_zero or "exact", rows, cols, args.max_arrays or 0, args.target_fps or 0.0)


def parse_array(text: str) -> tuple[int, int]:
    try:
        rows, cols = (int(v) for v in text.lower().split("x"))
    except ValueError:
        rows = cols = 0
    if rows < 2 or cols < 2:
        raise BnncError(f"--array takes ROWSxCOLS with at least 2 of each, e.g. 128x128; got '{text}'")
    return rows, cols


def run_onnx(args: argparse.Namespace, manager_options: dict) -> int:
    path = Path(args.file)
    if args.export_standard_onnx is not None:
        standard = standardize(read_model(path))
        write_files_atomically({args.export_standard_onnx: standard.SerializeToString()})
    pipeline = pipeline_for(args)
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
    schedule = build_schedule(compilation.module, default_timing())
    layers = layer_entries(compilation.module, compilation.context.facts, schedule)
    report = {
        "version": REPORT_VERSION,
        "bnnc": __version__,
        "model": str(path),
        "pipeline": pipeline,
        "layers": layers,
        "totals": totals(layers, schedule, compilation.context.facts.get("arrays")),
        "timings": compilation.timings,
    }
    if golden is not None:
        report["golden"] = golden.to_json()
    files[out_dir / "report.json"] = _json_bytes(report)
    files[out_dir / "schedule.json"] = _json_bytes(schedule.to_json())
    files[out_dir / "trace.json"] = _json_bytes(trace_events(schedule))
    files.update(bir_files(compilation.module, out_dir / "model.bir"))
    write_files_atomically(files)
    summary = sys.stdout
    if args.emit == "ir":
        sys.stdout.write(print_module(compilation.module))
        summary = sys.stderr
    if args.time_passes:
        print(json.dumps(compilation.timings), file=sys.stderr)
    t = report["totals"]
    print(
        f"bnnc: {path.name}: {t['binary_layers']} binary layers on {t['arrays']} arrays "
        f"(lower bound {t['arrays_lower_bound']}), {t['host_partitions']} host partitions; "
        f"latency {t['latency_ns'] / 1000:.3f} µs, {t['throughput_ips']:.4g} inferences/s, "
        f"bottleneck {t['bottleneck_layer']}; wrote {out_dir}/",
        file=summary,
    )
    if golden is not None:
        print(f"bnnc: golden check: {golden.summary()}", file=summary)
        if not golden.exact and not (compilation.sign_zero_policy != "exact" and golden.sign_zero_events):
            margins = [name for name, facts in compilation.context.facts.get("layers", {}).items() if facts.get("float_margin_channels")]
            hint = (f" (onnxruntime's float accumulation decides signs near the thresholds of {', '.join(margins)}; "
                    "see the warnings above)") if margins else ""
            raise GoldenMismatch(f"{path}: the compiled program differs from onnxruntime: " + "; ".join(golden.mismatches) + hint)
    return 0
