"""``bnnc MODEL.onnx``: compile, schedule, cost, golden-check, and write the output directory
(atomically) and the console summary."""

from __future__ import annotations

import argparse
import io
import json
import sys
import time
from pathlib import Path

import numpy as np

from bnnc import __version__
from bnnc.backends.hardware import HardwareConfig, default_hardware, load_hardware
from bnnc.backends.report import REPORT_VERSION, assumptions, layer_entries, totals
from bnnc.backends.schedule import build_schedule, timing_of, trace_events
from bnnc.driver import (
    Compilation,
    GoldenResult,
    compile_model,
    default_pipeline,
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
from bnnc.report_writers import console_summary, html_report, markdown_report

SCHEMES = ("refcol", "xnor", "diff", "auto")


class Progress:
    """Phase-by-phase progress on stderr for interactive runs; records each phase's seconds."""

    def __init__(self, enabled: bool):
        self.enabled = enabled
        self.timings: dict[str, float] = {}

    def run(self, phase: str, work):
        if self.enabled:
            print(f"bnnc: {phase}…", file=sys.stderr, flush=True)
        start = time.perf_counter()
        result = work()
        self.timings[phase] = self.timings.get(phase, 0.0) + time.perf_counter() - start
        return result


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


def pipeline_for(args: argparse.Namespace, hw: HardwareConfig, scheme: str | None = None) -> str:
    """``-p`` as given, or the default pipeline tuned by ``--scheme``, ``--sign-zero``,
    ``--array`` (default: the hardware's array), ``--max-arrays``, ``--target-fps``."""
    tuned = {"--scheme": args.scheme, "--sign-zero": args.sign_zero, "--array": args.array,
             "--max-arrays": args.max_arrays, "--target-fps": args.target_fps}
    if args.pipeline is not None:
        given = [flag for flag, value in tuned.items() if value is not None]
        if given:
            raise BnncError(f"{', '.join(given)} tune the default pipeline; with -p, set the pass options in the pipeline instead")
        return args.pipeline
    rows, cols = parse_array(args.array) if args.array else (hw.array.rows, hw.array.cols)
    return default_pipeline(scheme or args.scheme or "auto", args.sign_zero or "exact", rows, cols,
                            args.max_arrays or 0, args.target_fps or 0.0)


def parse_array(text: str) -> tuple[int, int]:
    try:
        rows, cols = (int(v) for v in text.lower().split("x"))
    except ValueError:
        rows = cols = 0
    if rows < 2 or cols < 2:
        raise BnncError(f"--array takes ROWSxCOLS with at least 2 of each, e.g. 128x128; got '{text}'")
    return rows, cols


def hardware_for(args: argparse.Namespace) -> HardwareConfig:
    hw = load_hardware(args.hw) if args.hw is not None else default_hardware()
    if args.array:
        rows, cols = parse_array(args.array)
        hw = hw.with_values({"array.rows": rows, "array.cols": cols}, origin="--array")
    return hw


def evaluate(compilation: Compilation, hw: HardwareConfig, progress: Progress) -> tuple[dict, object]:
    """Schedule and cost a compilation: report fields and the schedule."""
    schedule = progress.run("schedule", lambda: build_schedule(compilation.module, timing_of(hw)))

    def cost() -> tuple[list, dict]:
        layers = layer_entries(compilation.module, compilation.context.facts, schedule, hw)
        return layers, totals(layers, schedule, compilation.context.facts.get("arrays"))

    layers, summed = progress.run("report", cost)
    return {"layers": layers, "totals": summed}, schedule


def run_onnx(args: argparse.Namespace, manager_options: dict) -> int:
    path = Path(args.file)
    hw = hardware_for(args)
    progress = Progress(sys.stderr.isatty() and not args.json)
    if args.export_standard_onnx is not None:
        standard = standardize(read_model(path))
        write_files_atomically({args.export_standard_onnx: standard.SerializeToString()})
    pipeline = pipeline_for(args, hw, "auto" if args.scheme == "all" else None)
    context = PassContext(options={"hardware": hw, "timing": timing_of(hw)}, debug=args.debug)
    compilation = progress.run("compile", lambda: compile_model(path, pipeline, parse_input_shapes(args.input_shape), manager_options, context))
    compilation.module.attributes["hardware"] = hw.digest()
    progress.timings.pop("compile")
    progress.timings.update(compilation.timings)  # load, passes
    from bnnc.cli import print_remarks

    print_remarks(compilation.context)
    evaluated, schedule = evaluate(compilation, hw, progress)
    comparison = {}
    if args.scheme == "all":
        for scheme in SCHEMES:
            variant = compile_model(path, pipeline_for(args, hw, scheme), parse_input_shapes(args.input_shape), {},
                                    PassContext(options={"hardware": hw, "timing": timing_of(hw)}))
            comparison[scheme] = evaluate(variant, hw, Progress(False))[0]["totals"]
    user_inputs = _load_npz(args.inputs) if args.inputs is not None else None
    if user_inputs is not None:
        user_inputs = onnx_inputs_to_domain(compilation.module, compilation.graph, user_inputs)
    golden: GoldenResult | None = None
    if not args.no_check:
        inputs = user_inputs if user_inputs is not None else random_inputs(compilation.module, compilation.graph, args.golden_inputs)
        golden = progress.run("golden", lambda: golden_check(compilation, inputs))
    files: dict[Path, bytes] = {}
    if args.save_outputs is not None:
        if user_inputs is None:
            raise BnncError("--save-outputs needs --inputs IN.npz (keys: the model's ONNX input names)")
        files[args.save_outputs] = _npz_bytes(progress.run("simulate", lambda: run_program(compilation.module, user_inputs)))
    out_dir = args.output if args.output is not None else Path(f"{path.stem}.bnnc")
    report = {
        "version": REPORT_VERSION,
        "bnnc": __version__,
        "model": str(path),
        "pipeline": pipeline,
        **evaluated,
        "schemes": comparison or None,
        "hardware": hw.to_json(),
        "assumptions": assumptions(),
        "golden": golden.to_json() if golden is not None else None,
        "remarks": compilation.context.remarks,
        "timings": progress.timings,
    }
    files[out_dir / "report.json"] = _json_bytes(report)
    files[out_dir / "report.md"] = markdown_report(report).encode()
    files[out_dir / "report.html"] = html_report(report, schedule).encode()
    files[out_dir / "schedule.json"] = _json_bytes(schedule.to_json())
    files[out_dir / "trace.json"] = _json_bytes(trace_events(schedule))
    files.update(bir_files(compilation.module, out_dir / "model.bir"))
    write_files_atomically(files)
    if args.emit == "ir":
        sys.stdout.write(print_module(compilation.module))
    if args.json:
        summary = {"model": str(path), "output": str(out_dir), "totals": report["totals"], "golden": report["golden"],
                   "timings": progress.timings}
        sys.stdout.write(json.dumps(summary, indent=1) + "\n")
    else:
        print(console_summary(report, out_dir), file=sys.stderr if args.emit == "ir" else sys.stdout)
    if golden is not None and not golden.exact and not (compilation.sign_zero_policy != "exact" and golden.sign_zero_events):
        margins = [name for name, facts in compilation.context.facts.get("layers", {}).items() if facts.get("float_margin_channels")]
        hint = (f" (onnxruntime's float accumulation decides signs near the thresholds of {', '.join(margins)}; "
                "see the warnings above)") if margins else ""
        raise GoldenMismatch(f"{path}: the compiled program differs from onnxruntime: " + "; ".join(golden.mismatches) + hint)
    return 0
