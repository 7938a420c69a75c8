"""``bnnc sweep``: the command line of a design-space sweep (``bnnc sweep --help``)."""

from __future__ import annotations

import argparse
from pathlib import Path

from bnnc.errors import BnncError
from bnnc.version import __version__

from .runner import run_sweep
from .space import Configuration, expand, read_sweep_file, split_list

LIST_FLAGS: dict[str, str] = {
    "array": "crossbar array sizes, e.g. 64x64,128x128",
    "scheme": "crossbar mappings: refcol,xnor,diff,auto",
    "max_arrays": "array budgets for replication (0: none), e.g. 0,64,256",
    "target_fps": "throughput targets (inferences/s), e.g. 1e5,1e6",
    "sign_zero": "Sign(0) policies: exact,pos,neg,error",
    "objective": "what scheme auto minimizes: arrays,energy,area,latency,edp",
    "hw": "hardware TOML files, e.g. a.toml,b.toml",
    "layer_config": "per-layer configuration TOML files (scheme, array, replicas per layer)",
    "device": "device TOML files, a [device] table each (robustness; with --chips)",
    "chips": "numbers of chips in a Monte Carlo over device instances (robustness)",
    "seed": "seeds (random golden inputs, device draws)",
}
"""The axes the command line takes as comma-separated lists, with their help."""

EPILOG = """\
Each configuration is a job writing DIR/jobs/<id>/ and one row of DIR/results.jsonl; a rerun of the
same command skips the finished jobs. DIR/sweep.html and DIR/results.csv summarize all rows.
Exit codes: 0 done (configurations that failed are rows with their error), 2 bad input (before any
job runs), 4 some jobs' workers were lost (rerun to run them), 130 interrupted.

A sweep file (TOML):  models = ["cnv.onnx"]   [grid] array = ["64x64", "128x128"]
  scheme = ["xnor", "diff"]   adc.power_6bit_mw = [1.26, 2.0]   device.stuck_lrs = [0, 0.01]
  and/or [[configs]] tables of single values, each crossed with the grid; top-level keys
  (hw, inputs, golden_inputs, device, chips, seed, ...) hold for every configuration."""


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def build_sweep_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bnnc sweep", formatter_class=argparse.RawDescriptionHelpFormatter, epilog=EPILOG,
        description="Compile the cross product of configurations (a design-space sweep), on this machine "
        "or on a Dask cluster.")
    parser.add_argument("models", nargs="*", metavar="MODEL.onnx", help="the models to sweep")
    parser.add_argument("--config", type=Path, default=None, metavar="SWEEP.toml",
                        help="a sweep file: a grid and/or a list of configurations (instead of the flags below)")
    for name, text in LIST_FLAGS.items():
        parser.add_argument(_flag(name), dest=name, default=None, metavar="LIST", help=text)
    parser.add_argument("--set", dest="keys", action="append", default=[], metavar="KEY=V1,V2",
                        help="a hardware or device key and its values, e.g. adc.power_6bit_mw=1.26,2 (repeatable)")
    parser.add_argument("--inputs", default=None, metavar="DATA.npz",
                        help="inputs for the golden check and the robustness Monte Carlo (optional key 'labels')")
    parser.add_argument("--golden-inputs", dest="golden_inputs", default=None, metavar="N",
                        help="random inputs of each job's golden check without --inputs (default 16; 0: none)")
    parser.add_argument("-o", "--output", required=True, metavar="DIR", help="the sweep directory (resumed if it exists)")
    parser.add_argument("-j", "--jobs", type=int, default=None, metavar="N",
                        help="worker processes (default: the CPU count; 1: in this process)")
    parser.add_argument("--cluster", default=None, metavar="ADDRESS",
                        help="run the jobs on the Dask scheduler at ADDRESS (tcp://host:8786; needs bnnc[dask])")
    parser.add_argument("--retry-errors", action="store_true",
                        help="run again the configurations whose earlier row is an error (e.g. a file a worker could not read)")
    parser.add_argument("--quiet", action="store_true", help="no progress and no summary")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    parser.add_argument("--version", action="version", version=f"bnnc {__version__}")
    return parser


def _key_values(text: str) -> tuple[str, list[str]]:
    key, eq, values = text.partition("=")
    if not eq or not key.strip() or "." not in key:
        raise BnncError(f"--set: expected KEY=V1,V2 with a dotted hardware or device key (e.g. adc.power_6bit_mw=1.26,2), got '{text}'")
    return key.strip(), split_list(values, f"--set {key.strip()}")


def configurations(args: argparse.Namespace) -> list[Configuration]:
    """The configurations the command line names, validated."""
    grid: dict[str, list[str]] = {}
    where: dict[str, str] = {}
    for name in LIST_FLAGS:
        if getattr(args, name) is not None:
            grid[name], where[name] = split_list(getattr(args, name), _flag(name)), _flag(name)
    for single in ("inputs", "golden_inputs"):
        if getattr(args, single) is not None:
            grid[single], where[single] = [getattr(args, single)], _flag(single)
    for text in args.keys:
        key, values = _key_values(text)
        grid[key], where[key] = values, f"--set {key}"
    if args.config is not None:
        if args.models or grid:
            raise BnncError("--config gives the configurations; leave out the models and the other list flags")
        return read_sweep_file(args.config)
    if not args.models:
        raise BnncError("bnnc sweep needs MODEL.onnx (one or more) or --config SWEEP.toml")
    grid["model"], where["model"] = args.models, "MODEL"
    return expand(grid, where)


def main(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    """``bnnc sweep`` on parsed arguments; returns the exit code."""
    configs = configurations(args)
    rows = run_sweep(configs, Path(args.output), args.jobs, args.cluster, "quiet" if args.quiet else "auto", args.retry_errors)
    if not args.quiet:
        errors = sum(r["status"] != "ok" for r in rows)
        print(f"bnnc sweep: {len(rows)} configurations, {len(rows) - errors} ok, {errors} errors: "
            f"{Path(args.output) / 'sweep.html'}, {Path(args.output) / 'results.csv'}")
    return 0
