"""The ``bnnc`` command.

``bnnc FILE.bir`` behaves like ``mlir-opt``: parse, verify, run the pipeline (``-p``), print
the IR. ``bnnc MODEL.onnx`` compiles a model. Errors in the input print one message and exit
with code 2 (3 for a golden-check mismatch); ``--debug`` shows the traceback.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import traceback
import warnings
from pathlib import Path
from typing import NoReturn

import numpy as np

from bnnc import api
from bnnc.api import DEFAULT_PIPELINE, SCHEMES, parse_array
from bnnc.backends.simulator.chips import read_fault_map
from bnnc.choices import OBJECTIVES
from bnnc.interrupt import interrupted
from bnnc.errors import BnncError, GoldenMismatch
from bnnc.frontend.loader import parse_input_shapes, read_model
from bnnc.frontend.standardize import standardize
from bnnc.ir import print_module
from bnnc.ir.atomic import check_output_directory, write_files_atomically
from bnnc.ir.diagnostics import printable
from bnnc.ir.parser import npz_bytes
from bnnc.passes import PassContext, PassError, PassManager, load_plugin, registered_passes
from bnnc.program import onnx_inputs_to_domain, read_inputs
from bnnc.progress import Progress
from bnnc.report_writers import console_summary
from bnnc.spice import check_spice_options, chip_device
from bnnc.robustness import check_chips, device_config, split_labels, sweep_values
from bnnc.version import __version__


def _name_list(text: str) -> set[str]:
    return {n.strip() for n in text.split(",") if n.strip()}


class _Parser(argparse.ArgumentParser):
    """argparse with a one-line usage error (exit 2): the message and where to look."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"bnnc: error: {printable(message, 1000)} (see bnnc --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="bnnc",
        description="Compile a binarized neural network (ONNX) onto memristor crossbar arrays, "
        "or run a pass pipeline on textual IR (.bir).",
        epilog="Design-space sweeps: bnnc sweep MODEL.onnx --array 64x64,128x128 --scheme xnor,diff -o DIR "
        "(bnnc sweep --help).",
    )
    parser.add_argument("file", nargs="?", help="an ONNX model (.onnx) or textual IR (.bir)")
    parser.add_argument("-p", "--pipeline", default=None,
                        help=f"pass pipeline (default for .onnx: '{DEFAULT_PIPELINE}'); '+PASSES' runs PASSES after "
                        "the default pipeline; '' runs none (with --emit ir: the imported bnn IR)")
    parser.add_argument("--verify-each-numerically", type=int, default=0, metavar="N",
                        help="run N random inputs through the interpreter before and after every pass")
    parser.add_argument("--emit", choices=("ir", "none"), default=None, help="print the final IR to stdout")
    parser.add_argument("-o", "--output", default=None, help="output directory (replaced as a whole)")
    parser.add_argument("--list-passes", action="store_true", help="list the registered passes and exit")
    parser.add_argument("--print-default-hw", action="store_true",
                        help="print the default hardware configuration (TOML, every figure with its source) and exit")
    parser.add_argument("--load-plugin", action="append", default=[], metavar="FILE_OR_MODULE",
                        help="import a Python file or module that registers passes (repeatable)")
    parser.add_argument("--print-ir-before", type=_name_list, default=set(), metavar="PASSES",
                        help="print the IR before these passes (comma-separated, or 'all') to stderr")
    parser.add_argument("--print-ir-after", type=_name_list, default=set(), metavar="PASSES",
                        help="print the IR after these passes (comma-separated, or 'all') to stderr")
    parser.add_argument("--print-ir-after-change", action="store_true",
                        help="print the IR after every pass that changed it")
    parser.add_argument("--print-ir-after-failure", action="store_true",
                        help="print the IR as a failing pass left it (to stderr)")
    parser.add_argument("--dump-ir", type=Path, default=None, metavar="DIR",
                        help="write the IR before the first pass and after every pass, one numbered file each "
                        "(00-input.bir, 01-canonicalize.bir, ...)")
    parser.add_argument("--append-pass", action="append", default=[], metavar="PASS",
                        help="run PASS after the default pipeline (repeatable; like -p +PASS)")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress lines and no summary table")
    parser.add_argument("--time-passes", action="store_true", help="report wall time per pass on stderr")
    parser.add_argument("--no-verify-each", action="store_true", help="do not verify the IR after every pass")
    onnx_group = parser.add_argument_group("compiling an ONNX model")
    onnx_group.add_argument("--input-shape", action="append", default=[], metavar="NAME=1x3x32x32",
                            help="static shape for a graph input with dynamic dimensions (repeatable)")
    onnx_group.add_argument("--inputs", type=Path, default=None, metavar="IN.npz",
                            help="run the compiled program on these inputs (keys: ONNX input names); "
                            "the golden check uses them too")
    onnx_group.add_argument("--save-outputs", type=Path, default=None, metavar="OUT.npz",
                            help="write the compiled program's outputs on --inputs (keys: ONNX output names)")
    onnx_group.add_argument("--golden-inputs", type=int, default=16, metavar="N",
                            help="random inputs for the golden check when --inputs is not given (default 16)")
    onnx_group.add_argument("--no-check", action="store_true", help="skip the golden check against onnxruntime")
    onnx_group.add_argument("--scheme", choices=("refcol", "xnor", "diff", "auto", "all"), default=None,
                            help="crossbar mapping for every layer (default: auto, the fewest arrays per layer; "
                            "all: compile with auto and compare every scheme in the report)")
    onnx_group.add_argument("--sign-zero", choices=("exact", "pos", "neg", "error"), default=None,
                            help="where an ONNX Sign can see exactly 0 after BatchNorm: exact (a second comparator, "
                            "default), pos/neg (send 0 to +1/-1; the golden check counts the events), error")
    onnx_group.add_argument("--array", default=None, metavar="RxC[,RxC...]",
                            help="crossbar array size (default 128x128); a list compiles the first and compares them all")
    onnx_group.add_argument("--objective", choices=OBJECTIVES, default=None,
                            help="what --scheme auto minimizes: arrays (per layer, default), energy, area, latency, "
                            "edp (energy x latency)")
    onnx_group.add_argument("--layer-config", type=Path, default=None, metavar="LAYERS.toml",
                            help="per-layer scheme, array and replicas: [LayerName] scheme = \"xnor\", "
                            "array = \"256x256\", replicas = 4")
    onnx_group.add_argument("--max-arrays", type=int, default=None, metavar="N",
                            help="replicate bottleneck layers' arrays to minimize the pipeline period within N arrays")
    onnx_group.add_argument("--target-fps", type=float, default=None, metavar="F",
                            help="replicate until F inferences/s, with the fewest arrays")
    onnx_group.add_argument("--hw", type=Path, default=None, metavar="FILE.toml|mnsim",
                            help="hardware configuration (see --print-default-hw), or a built-in profile: "
                            "mnsim (MNSIM-2.0's figures, docs/mnsim-comparison.md)")
    onnx_group.add_argument("--max-tensor-mb", type=float, default=None, metavar="MB",
                            help="the largest tensor the model may compute, in MiB (default 1024)")
    device_group = parser.add_argument_group("device non-idealities (Monte Carlo over chips)")
    device_group.add_argument("--device", type=Path, default=None, metavar="DEV.toml",
                              help="a [device] table (see --print-default-hw); default: --hw's [device]")
    device_group.add_argument("--chips", type=int, default=None, metavar="N",
                              help="simulate N chip instances on --inputs (labels optional under the key 'labels')")
    device_group.add_argument("--seed", type=int, default=0, metavar="S", help="seed of the chips (default 0)")
    device_group.add_argument("--device-sweep", default=None, metavar="KEY=v1,v2,...",
                              help="repeat the Monte Carlo over one [device] key's values (the curve in report.html)")
    device_group.add_argument("--fault-aware", action="store_true",
                              help="also fold each chip's stuck cells into its thresholds and use its spare rows/cols")
    device_group.add_argument("--fault-map", type=Path, default=None, metavar="CHIP.npz",
                              help="a tested chip's stuck cells (per array constant: 0 works, 1 stuck off, 2 stuck on)")
    onnx_group.add_argument("--json", action="store_true", help="print the summary as JSON on stdout")
    onnx_group.add_argument("--no-figures", action="store_true",
                            help="skip the matplotlib figures (figures/*.svg, *.pdf, *.csv and the plots of report.html)")
    onnx_group.add_argument("--export-standard-onnx", type=Path, default=None, metavar="FILE",
                            help="write the model with QONNX/FINN custom ops rewritten into standard ONNX")
    onnx_group.add_argument("--export-spice", type=Path, default=None, metavar="DIR",
                            help="write one ngspice netlist per array (its first read on the first input) and the "
                            "column currents bnnc expects of it (NAME.expected.json) into DIR")
    onnx_group.add_argument("--spice-arrays", type=int, default=None, metavar="K",
                            help="with --export-spice: only the first K arrays")
    onnx_group.add_argument("--wire-ohm", type=float, default=None, metavar="OHMS",
                            help="with --export-spice: wire resistance per segment between cells (default: the "
                            "[device] table's wire_ohm)")
    parser.add_argument("--debug", action="store_true", help="show tracebacks and pattern-match remarks")
    parser.add_argument("--version", action="version", version=f"bnnc {__version__}")
    return parser


def list_passes() -> str:
    lines = [f"default pipeline for .onnx models:\n  {DEFAULT_PIPELINE}", "", "passes:"]
    passes = registered_passes()
    width = max(len(n) for n in passes)
    for name, cls in passes.items():
        options = ", ".join(f.name.replace("_", "-") for f in cls.options())
        lines.append(f"  {name:<{width}}  {cls.summary()}" + (f"  [options: {options}]" if options else ""))
    return "\n".join(lines)


def _manager_options(args: argparse.Namespace, progress: Progress | None = None) -> dict:
    from bnnc.numeric_check import numeric_checker

    for flag, names in (("--print-ir-before", args.print_ir_before), ("--print-ir-after", args.print_ir_after)):
        unknown = sorted(names - {"all"} - set(registered_passes()))
        if unknown:
            raise BnncError(f"{flag}: unknown pass {', '.join(repr(n) for n in unknown)} "
                            f"(known passes: {', '.join(registered_passes())}, or 'all'); see --list-passes")
    return {
        "numeric_check": numeric_checker(args.verify_each_numerically) if args.verify_each_numerically > 0 else None,
        "verify_each": not args.no_verify_each,
        "print_before": args.print_ir_before,
        "print_after": args.print_ir_after,
        "print_after_change": args.print_ir_after_change,
        "print_after_failure": args.print_ir_after_failure,
        "dump_dir": args.dump_ir,
        "time_passes": args.time_passes,
        "on_pass": _pass_progress(progress) if progress is not None else None,
    }


def _pass_progress(progress: Progress):
    """A pass manager's ``on_pass``: the passes as one phase of the progress display."""
    def on_pass(index: int, total: int, label: str) -> None:
        if index == 0:
            progress.start("passes", total)
        else:
            progress.advance(label)
    return on_pass


def _appended_passes(args: argparse.Namespace) -> str:
    """The passes ``-p +PASSES`` and ``--append-pass`` run after the default pipeline."""
    plus = [args.pipeline.lstrip()[1:]] if args.pipeline is not None and args.pipeline.lstrip().startswith("+") else []
    return ",".join(p for p in (*plus, *args.append_pass) if p.strip())


def _given_pipeline(args: argparse.Namespace) -> str | None:
    """``-p`` as given, unless it extends the default pipeline (``-p +PASSES``)."""
    return None if args.pipeline is None or args.pipeline.lstrip().startswith("+") else args.pipeline


def parse_arrays(text: str) -> list[tuple[int, int]]:
    """``--array 64x64,128x128``: one array size or a comma-separated list."""
    return [parse_array(part.strip()) for part in text.split(",")]


def _tuning_flags(args: argparse.Namespace) -> list[str]:
    """The flags given that tune the default pipeline of an .onnx model."""
    tuned = {"--scheme": args.scheme, "--sign-zero": args.sign_zero, "--array": args.array,
             "--max-arrays": args.max_arrays, "--target-fps": args.target_fps, "--objective": args.objective,
             "--layer-config": args.layer_config}
    return [flag for flag, value in tuned.items() if value is not None]


def _compile_options(args: argparse.Namespace, hw) -> dict:
    """The :func:`bnnc.compile` options the command line sets (``-p +PASSES`` and
    ``--append-pass``: the default pipeline, as the tuning flags make it, then those passes)."""
    shapes, appended = parse_input_shapes(args.input_shape), _appended_passes(args) or None
    pipeline = _given_pipeline(args)
    if pipeline is not None:
        given = _tuning_flags(args)
        if given:
            raise BnncError(f"{', '.join(given)} tune the default pipeline; with -p, set the pass options in the pipeline instead")
        return {"hw": hw, "pipeline": pipeline, "append_passes": appended, "input_shapes": shapes,
                "max_tensor_mb": args.max_tensor_mb}
    return {
        "hw": hw, "scheme": "auto" if args.scheme in (None, "all") else args.scheme, "sign_zero": args.sign_zero or "exact",
        "max_arrays": args.max_arrays, "target_fps": args.target_fps, "input_shapes": shapes, "max_tensor_mb": args.max_tensor_mb,
        "objective": args.objective or "arrays", "layer_config": args.layer_config, "append_passes": appended,
    }


def _check_outputs(args: argparse.Namespace, path: Path, out_dir: Path | None) -> None:
    """Refuse, before any work, outputs that would overwrite an input or cannot be written."""
    inputs = tuple(p for p in (path, args.inputs, args.hw, args.device, args.fault_map) if p is not None)
    if args.export_spice is not None:
        check_spice_options(args.export_spice, args.spice_arrays, args.wire_ohm)
    elif args.spice_arrays is not None or args.wire_ohm is not None:
        raise BnncError("--spice-arrays and --wire-ohm set up --export-spice DIR; give it too")
    for flag, target in (("--save-outputs", args.save_outputs), ("--export-standard-onnx", args.export_standard_onnx)):
        if target is None:
            continue
        if str(target) == "" or target.is_dir():
            raise BnncError(f"{flag} needs a file name (got '{target}')")
        if any(target.resolve() == p.resolve() for p in inputs):
            raise BnncError(f"{flag} {target} is an input of this run; choose another file")
    if out_dir is not None:
        rewritten = {out_dir / "model.bir", out_dir / "model.npz"}
        check_output_directory(out_dir, tuple(p for p in inputs if p not in rewritten))


def _write_outputs(out_dir: Path, files: dict[Path, bytes]) -> None:
    """The output directory replaced as a whole, then each file outside it written atomically."""
    inside = {p: data for p, data in files.items() if p.is_relative_to(out_dir)}
    api.write_output_directory(out_dir, inside)
    outside = {p: data for p, data in files.items() if p not in inside}
    if outside:
        write_files_atomically(outside)


def run_onnx(args: argparse.Namespace) -> int:
    path = Path(args.file)
    out_dir = args.output if args.output is not None else Path(f"{path.stem}.bnnc")
    _check_outputs(args, path, out_dir)
    if args.save_outputs is not None and args.inputs is None:
        raise BnncError("--save-outputs needs --inputs IN.npz (keys: the model's ONNX input names)")
    arrays = parse_arrays(args.array) if args.array else None
    hw = api.hardware(args.hw, arrays[0] if arrays else None)
    chips = robustness_options(args, hw)
    if args.export_standard_onnx is not None:
        write_files_atomically({args.export_standard_onnx: standardize(read_model(path)).SerializeToString()})
    options = _compile_options(args, hw)
    progress = Progress.for_run(args.quiet)
    try:
        progress.start("load")
        compilation = api.compile(path, **options, manager=_manager_options(args, progress), debug=args.debug)
        progress.advance()
        progress.finish()
        faults = _fault_map(args, compilation)
        files, golden, user_inputs = _compile_outputs(args, compilation, out_dir, arrays, chips, faults, progress)
        progress.run("write", lambda: _write_outputs(out_dir, files))
        if args.export_spice is not None:
            progress.run("export spice", lambda: _export_spice(args, compilation, user_inputs, faults))
    finally:
        progress.close()
    if args.emit == "ir":
        sys.stdout.write(print_module(compilation.module))
    report = json.loads(files[out_dir / "report.json"])
    _summarize(args, report, out_dir)
    if golden is not None and not golden.exact and not golden.sign_zero_events:
        margins = [e["name"] for e in report["layers"] if e.get("float_margin_channels")]
        hint = (f" (onnxruntime's float accumulation decides signs near the thresholds of {', '.join(margins)}; "
                "see the warnings above)") if margins else ""
        raise GoldenMismatch(f"{path}: the compiled program differs from onnxruntime: " + "; ".join(golden.mismatches) + hint)
    return 0


def _compile_outputs(args: argparse.Namespace, compilation: api.Compilation, out_dir: Path,
                     arrays: list[tuple[int, int]] | None, chips: dict | None, faults: dict[str, np.ndarray] | None,
                     progress: Progress) -> tuple[dict[Path, bytes], api.GoldenResult | None, dict[str, np.ndarray] | None]:
    """After compiling: remarks, pass timings, the comparisons of schemes and array sizes
    (``arrays``), the golden check, the Monte Carlo over ``chips`` (on the stuck cells
    ``faults`` where given) and the output files (with ``--save-outputs``, the
    program's outputs on ``--inputs``: the golden check's own when it ran on them, so the
    simulator runs once); returns them with the check and ``--inputs`` as the program reads them."""
    print_remarks(compilation.remarks)
    if args.time_passes:
        print(compilation.pass_timings, file=sys.stderr)
    schemes = None
    if args.scheme == "all" or (arrays and len(arrays) > 1):
        compared = SCHEMES if args.scheme == "all" else (compilation.options["scheme"],)
        entries = progress.run("compare", lambda: compilation.compare(compared, arrays))
        if args.scheme == "all":
            schemes = {e["scheme"]: e["totals"] for e in entries if e["array"] == list(compilation.options["array"])}
    user_inputs, labels = _user_inputs(args, compilation)
    golden = None
    if not args.no_check:
        golden = progress.run("golden check", lambda: compilation.check(user_inputs if user_inputs is not None else args.golden_inputs))
    if chips is not None:
        progress.run("robustness", lambda: run_robustness(args, compilation, chips, user_inputs, labels, faults))
    phase = "report" if args.no_figures else "report and figures"
    files = progress.run(phase, lambda: compilation.files(out_dir, {"schemes": schemes}, figures=not args.no_figures))
    if args.save_outputs is not None:
        if args.save_outputs in files:
            raise BnncError(f"--save-outputs {args.save_outputs} is one of the output directory's files; choose another file")
        outputs = golden.outputs if golden is not None and golden.outputs else None
        if outputs is None:
            outputs = progress.run("simulate", lambda: compilation.simulate(user_inputs))
        files[args.save_outputs] = npz_bytes(outputs)
    return files, golden, user_inputs


def _fault_map(args: argparse.Namespace, compilation: api.Compilation) -> dict[str, np.ndarray] | None:
    """``--fault-map`` read and checked against the compiled arrays (None without): read once
    per run, for the Monte Carlo and the SPICE export alike."""
    return None if args.fault_map is None else read_fault_map(args.fault_map, compilation.module)


def _export_spice(args: argparse.Namespace, compilation: api.Compilation, inputs: dict[str, np.ndarray] | None,
                  faults: dict[str, np.ndarray] | None) -> None:
    """``--export-spice DIR``: the arrays' netlists on chip 0 (seed ``--seed``) of the
    ``[device]`` table (``--device``, else ``--hw``'s) with the stuck cells ``faults`` where
    given (``--fault-map``), with ``--wire-ohm`` where given."""
    config = device_config(args.device, compilation.hw)
    if args.wire_ohm is not None:
        config = dataclasses.replace(config, wire_ohm=args.wire_ohm)
    device = chip_device(compilation.module, compilation.hw, config, args.seed, faults)
    compilation.export_spice(args.export_spice, inputs, device, args.spice_arrays)


def _user_inputs(args: argparse.Namespace, compilation) -> tuple[dict | None, np.ndarray | None]:
    """``--inputs`` cast to the model's input dtypes, and the labels under ``labels`` (unless
    the model has an input of that name); None for what is not given."""
    if args.inputs is None:
        return None, None
    arrays, labels = split_labels(read_inputs(args.inputs), compilation.inputs)
    return onnx_inputs_to_domain(compilation.module, arrays), labels


def robustness_options(args: argparse.Namespace, hw) -> dict | None:
    """The Monte Carlo's options from the command line, checked before any work (None without
    ``--chips``): the device configuration, the chip count and the sweep."""
    flags = {"--device": None if args.export_spice else args.device, "--device-sweep": args.device_sweep,
             "--fault-aware": args.fault_aware or None, "--fault-map": args.fault_map}
    if args.chips is None:
        given = [flag for flag, value in flags.items() if value is not None]
        if given:
            raise BnncError(f"{', '.join(given)} {'needs' if len(given) == 1 else 'need'} --chips N "
                           "(the number of chip instances to simulate)")
        return None
    return {"device": device_config(args.device, hw), "chips": check_chips(args.chips),
            "sweep": sweep_values(args.device_sweep) if args.device_sweep else None}


def run_robustness(args: argparse.Namespace, compilation, options: dict, inputs: dict | None, labels,
                   faults: dict[str, np.ndarray] | None) -> None:
    """``--chips``: the Monte Carlo on ``--inputs`` (with its labels) or random inputs, on the
    stuck cells ``faults`` (``--fault-map``, read by :func:`_fault_map`) where given."""
    compilation.robustness(options["device"], chips=options["chips"],
                           inputs=inputs if inputs is not None else args.golden_inputs, labels=labels, seed=args.seed,
                           fault_aware=args.fault_aware, fault_map=faults, sweep=options["sweep"],
                           labels_name=f"{args.inputs}: labels")


def run_bir(args: argparse.Namespace) -> int:
    """``bnnc FILE.bir``: parse, verify, run ``-p``; print the IR, or with ``-o`` write the output
    directory (report files costed on ``--hw`` or the recorded hardware) and with ``--json``
    print the summary."""
    tuning = _tuning_flags(args)
    if tuning:
        raise BnncError(f"{', '.join(tuning)} tune the default pipeline of an .onnx model; for .bir, give passes with -p")
    path = Path(args.file)
    _check_outputs(args, path, args.output)
    compilation = api.load(path, args.hw)
    chips = robustness_options(args, compilation.hw)
    pipeline = ",".join(p for p in (_given_pipeline(args) or "", _appended_passes(args)) if p)
    manager = PassManager.from_pipeline(pipeline, **_manager_options(args))
    try:
        context = manager.run(compilation.module, PassContext(debug=args.debug))
    except PassError as e:
        raise e.at(str(path)) from e
    print_remarks(context.remarks)
    faults = _fault_map(args, compilation)
    if args.time_passes:
        print(manager.timing_report(), file=sys.stderr)
    if chips is not None:
        if args.output is None:
            raise BnncError("--chips on saved IR writes its figures into an output directory; give -o DIR")
        run_robustness(args, compilation, chips, *_user_inputs(args, compilation), faults)
    report = None
    if args.output is not None or args.json:  # the report names every pass that made this IR
        compilation.record_passes(pipeline, context.remarks)
        report = compilation.write(args.output, figures=not args.no_figures) if args.output is not None else compilation.report
    if args.export_spice is not None:
        _export_spice(args, compilation, None, faults)
    if args.emit == "ir" or (args.emit is None and args.output is None and not args.json):
        sys.stdout.write(print_module(compilation.module))
    if report is not None:
        _summarize(args, report, args.output)
    return 0


def _summarize(args: argparse.Namespace, report: dict, out_dir: Path | None) -> None:
    """The summary: JSON on stdout with ``--json``, else the console table (on stderr when
    stdout carries the IR)."""
    if args.json:
        summary = {"model": report["model"], "output": str(out_dir) if out_dir else None, "totals": report["totals"],
                   "golden": report["golden"], "schemes": report["schemes"], "comparison": report.get("comparison"),
                   "timings": report["timings"]}
        if report.get("robustness"):
            summary["robustness"] = {k: v for k, v in report["robustness"].items()
                                     if k in ("chips", "samples", "seed", "agreement", "accuracy", "fault_aware")}
        sys.stdout.write(json.dumps(summary, indent=1, allow_nan=False) + "\n")
    elif out_dir is not None and not args.quiet:
        print(console_summary(report, out_dir), file=sys.stderr if args.emit == "ir" else sys.stdout)


def print_remarks(remarks: list[str]) -> None:
    for remark in remarks:
        print(f"bnnc: remark: {printable(remark, 1000)}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit code. Warnings (numpy's, a plugin's) are printed as one
    ``bnnc: warning:`` line each after a successful run (and with ``--debug``) and folded into
    the error line after a failed one; Ctrl-C prints one line and exits 130."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["sweep"]:  # the subcommand (a model is named *.onnx; a file named sweep is not one)
        from bnnc.sweeps.command import build_sweep_parser, main as run_sweep

        parser, run, argv = build_sweep_parser(), run_sweep, argv[1:]
    else:
        parser, run = build_parser(), _run
    args = parser.parse_args(argv)
    error = None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            code = run(parser, args)
        except KeyboardInterrupt:
            return interrupted()
        except Exception as e:
            if _caused_by_interrupt(e):  # Ctrl-C inside a C extension's initialization (pybind11: ImportError)
                return interrupted()
            error, code = _reported(e, args.debug)
    messages = list(dict.fromkeys(printable(str(w.message), 300) for w in caught))
    if error is None or args.debug:
        for message in messages:
            print(f"bnnc: warning: {message}", file=sys.stderr)
    if error is not None:
        folded = f" (after warnings: {'; '.join(messages)})" if messages and not args.debug else ""
        print(error + folded, file=sys.stderr)
    return code


def _reported(error: Exception, debug: bool) -> tuple[str, int]:
    """The error line and exit code of a failed run: the input's fault (:class:`BnncError`, a
    file's ``OSError``, a missing plugin's ``ImportError``) exits 2 (or the error's own
    ``exit_code``); anything else is a bug in bnnc, exit 1. With ``debug`` the traceback too."""
    if debug:
        traceback.print_exc()
    if isinstance(error, (BnncError, OSError, ImportError)):
        return _format_error(error), getattr(error, "exit_code", 2)
    return f"bnnc: internal error: {type(error).__name__}: {printable(str(error), 1000)} (run with --debug for a traceback)", 1


def _caused_by_interrupt(error: BaseException) -> bool:
    """Whether a KeyboardInterrupt is in the error's chain of causes (an extension module imported
    lazily during the run turns a Ctrl-C into ``ImportError: initialization failed``)."""
    seen: set[int] = set()
    cause: BaseException | None = error
    while cause is not None and id(cause) not in seen:
        if isinstance(cause, KeyboardInterrupt):
            return True
        seen.add(id(cause))
        cause = cause.__cause__ or cause.__context__
    return False


def _run(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    """The command on parsed arguments; returns the exit code."""
    for plugin in args.load_plugin:
        load_plugin(plugin)
    if args.list_passes:
        print(list_passes())
        return 0
    if args.print_default_hw:
        from bnnc.backends.hardware import default_hardware_toml

        sys.stdout.write(default_hardware_toml())
        return 0
    if not args.file:
        parser.error("a FILE (.onnx or .bir) is required")
    if args.output is not None:
        if not args.output:
            raise BnncError("-o needs a directory name (got an empty path)")
        args.output = Path(args.output)
    path = Path(args.file)
    if not path.is_file():
        raise BnncError(f"{args.file}: no such file")
    if path.suffix == ".bir":
        return run_bir(args)
    if path.suffix == ".onnx":
        return run_onnx(args)
    raise BnncError(f"{args.file}: expected an ONNX model (.onnx) or textual IR (.bir)")


def _format_error(error: Exception) -> str:
    """The message, each line with control characters escaped and capped at 1000 characters."""
    text = "\n".join(printable(line, 1000) for line in str(error).split("\n"))
    if text.startswith(("pipeline:",)) or (":" in text.split("\n", 1)[0] and " error: " in text.split("\n", 1)[0]):
        return text
    return f"bnnc: error: {text}"


