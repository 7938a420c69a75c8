"""The Python API of bnnc: compile a model, look at its report, run it, check it, write it —
the one front door; the ``bnnc`` command is a thin layer over it.

>>> import bnnc
>>> c = bnnc.compile("model.onnx", array=(128, 128), scheme="auto")
>>> c.totals["arrays"], c.totals["energy_nj"], c.totals["latency_ns"]
>>> c.simulate({"x": x})        # batched run of the compiled program -> {"y": ...}
>>> c.check(16).exact           # golden check against onnxruntime on the source model
>>> c.write("out/")             # the files the CLI writes
>>> bnnc.load("out/model.bir").report == c.report

**The final IR is the only record of a compilation.** The report is computed from the final
module, its constants and the hardware configuration by the analysis in
:mod:`bnnc.ir.analysis`; what else the report states — the source model, the pipeline, the
pass remarks, the hardware configuration's overrides and the golden check's outcome — is kept
as attributes of the module, so a saved ``model.bir`` + ``model.npz`` gives the same report.

Errors are :class:`bnnc.BnncError` subclasses whose message is the one line the CLI prints;
nothing is printed.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import onnx

from bnnc.version import __version__
from bnnc.backends.hardware import DeviceConfig, HardwareConfig, default_hardware, hardware_from_overrides, load_hardware
from bnnc.backends.profiles import PROFILES, builtin_profile
from bnnc.backends.simulator.chips import check_fault_map, read_fault_map
from bnnc.backends.report import REPORT_VERSION, assumptions, layer_entries, not_modelled, totals
from bnnc.backends.schedule import Schedule, build_schedule, timing_of, trace_events, trace_json
from bnnc.frontend import import_onnx
from bnnc.ir import BnncError, Module, clone_module, load_bir
from bnnc.ir.analysis import ProgramLayers, Timing, layer_name, program_layers
from bnnc.ir.dialects import bnn
from bnnc.ir.atomic import check_output_directory, replace_directory_atomically
from bnnc.ir.parser import bir_files
from bnnc.passes import PassContext, PassError, PassManager

from .choices import (
    OBJECTIVES, LayerChoice, check_layers, comparison_entry, layer_passes, objective_value, per_layer_assignments,
    read_layer_config,
)
from .figures import render_figures
from .golden import GoldenResult, golden_check
from .spice import DeviceModel, export_spice
from .program import random_inputs, run_program
from .report_writers import html_report, markdown_report
from .robustness import Robustness, device_config, sweep_values
from .robustness import robustness as monte_carlo

SCHEMES = ("refcol", "xnor", "diff", "auto")
SIGN_ZERO = ("exact", "pos", "neg", "error")


def default_pipeline(
    scheme: str = "auto", sign_zero: str = "exact", rows: int = 128, cols: int = 128,
    max_arrays: int = 0, target_fps: float = 0.0, timing: Timing | None = None,
    layers: Mapping[str, LayerChoice] | None = None,
) -> str:
    """What ``bnnc model.onnx`` runs when no pipeline is given (``replicate`` only with a
    budget or a target, timed by ``timing``, the default hardware's if not given; ``layers``:
    a layer configuration's per-layer choices, :mod:`bnnc.choices`)."""
    convert, tile, replicas = layer_passes(layers or {}, scheme, rows, cols)
    pipeline = (
        f"canonicalize,fuse-bn-binarize{{sign-zero={sign_zero}}},canonicalize,pool-to-bits,"
        f"{convert}sign-convert{{scheme={scheme},rows={rows},cols={cols}}},canonicalize,"
        f"{tile}tile{{rows={rows},cols={cols}}},dce{replicas}"
    )
    if max_arrays > 0 or target_fps > 0:
        t = timing or timing_of(default_hardware())
        adc_ns = list(t.adc_ns)
        while len(adc_ns) > 1 and adc_ns[-1] == adc_ns[-2]:
            adc_ns.pop()  # wider ADCs take the last
        options = [f"max-arrays={max_arrays}"] if max_arrays > 0 else []
        options += [f"target-fps={target_fps:g}"] if target_fps > 0 else []
        options += [f"read-ns={t.read_ns!r}", f"comparator-ns={t.comparator_ns!r}",
                    f"adc-ns={'/'.join(repr(v) for v in adc_ns)}", f"adc-share={t.adc_share}", f"clock-ns={t.clock_ns!r}"]
        options += [f"buffer-ns={t.buffer_ns!r}", f"buffer-bits={t.buffer_bits}"] if t.buffer_ns else []
        pipeline += f",replicate{{{','.join(options)}}}"
    return pipeline


DEFAULT_PIPELINE = default_pipeline()


def hardware(hw: HardwareConfig | str | Path | None = None, array: tuple[int, int] | None = None) -> HardwareConfig:
    """A hardware configuration: ``hw`` as given (a :class:`HardwareConfig`, the name of a
    built-in profile such as ``"mnsim"`` where no file of that name exists, or the path of a
    TOML file; the defaults if None), with the array size ``array`` = (rows, cols) if given."""
    if isinstance(hw, str | Path) and str(hw) in PROFILES and not Path(hw).exists():
        config = builtin_profile(str(hw))
    else:
        config = hw if isinstance(hw, HardwareConfig) else load_hardware(hw) if hw is not None else default_hardware()
    if array is not None:
        rows, cols = _array(array)
        config = config.with_values({"array.rows": rows, "array.cols": cols}, origin="--array")
    return config


def parse_array(text: str) -> tuple[int, int]:
    """(rows, cols) from ``ROWSxCOLS`` text such as ``128x128`` (``--array``)."""
    try:
        rows, cols = (int(v) for v in text.lower().split("x"))
    except ValueError:
        rows = cols = 0
    if rows < 2 or cols < 2:
        raise BnncError(f"--array takes ROWSxCOLS with at least 2 of each, e.g. 128x128; got '{text}'")
    return rows, cols


def _array(array: Any) -> tuple[int, int]:
    try:
        rows, cols = (int(v) for v in array)
    except (TypeError, ValueError):
        rows = cols = 0
    if rows < 2 or cols < 2:
        raise BnncError(f"the array size takes (rows, cols) with at least 2 of each, e.g. (128, 128); got {array!r}")
    return rows, cols


def compile(
    model: str | Path,
    *,
    array: tuple[int, int] | None = None,
    scheme: str = "auto",
    hw: HardwareConfig | str | Path | None = None,
    max_arrays: int | None = None,
    target_fps: float | None = None,
    sign_zero: str = "exact",
    pipeline: str | None = None,
    input_shapes: Mapping[str, tuple[int, ...]] | None = None,
    max_tensor_mb: float | None = None,
    manager: Mapping[str, Any] | None = None,
    debug: bool = False,
    objective: str = "arrays",
    layer_config: str | Path | Mapping[str, Any] | None = None,
    append_passes: str | None = None,
) -> Compilation:
    """Compile the ONNX model at ``model``.

    - ``array``: (rows, cols) of the crossbar arrays (default: the hardware's, 128 × 128);
    - ``scheme``: the crossbar mapping of every layer, ``refcol``, ``xnor``, ``diff`` or
      ``auto`` (per layer the fewest arrays);
    - ``hw``: a :class:`HardwareConfig` or a TOML file (``bnnc --print-default-hw``);
    - ``max_arrays`` / ``target_fps``: replicate bottleneck layers within an array budget (0 or
      None: no replication) or until a throughput;
    - ``sign_zero``: where an ONNX Sign can see exactly 0: ``exact`` (a second comparator),
      ``pos``/``neg`` (ties go to ±1; the golden check counts them), ``error``;
    - ``pipeline``: a pass pipeline instead of the default one (then the four tuning options
      above must be left alone: set them as pass options);
    - ``input_shapes``: static shapes for inputs with dynamic dimensions;
    - ``max_tensor_mb``: the largest tensor (MiB) the model may compute (default 1024); only
      what the graph outputs need is evaluated;
    - ``manager``: :class:`~bnnc.passes.PassManager` options (IR printing, timing, numerical
      checks); ``debug``: pattern-match remarks;
    - ``objective``: what ``scheme="auto"`` minimizes, ``arrays`` (per layer, the default),
      ``energy``, ``area``, ``latency`` or ``edp`` (energy × latency): see :func:`_by_objective`;
    - ``layer_config``: per-layer scheme, array size and replicas (a TOML file or a mapping,
      :mod:`bnnc.choices`);
    - ``append_passes``: a pipeline run after the default one (or after ``pipeline``), e.g. a
      plugin's pass (``bnnc -p +my-pass``).
    """
    config = hardware(hw, array)
    if objective not in OBJECTIVES:
        raise BnncError(f"objective (--objective) must be one of {', '.join(OBJECTIVES)}, got {objective!r}")
    choices, origin = read_layer_config(layer_config) if layer_config is not None else ({}, "")
    if pipeline is not None and (choices or objective != "arrays"):
        raise BnncError("objective and layer_config tune the default pipeline; with a pipeline, set the pass options in it instead")
    if objective != "arrays":
        if scheme != "auto":
            raise BnncError(f"objective (--objective {objective}) chooses the mappings of scheme auto; scheme {scheme} fixes them")
        options = {"array": array, "hw": config, "max_arrays": max_arrays, "target_fps": target_fps, "sign_zero": sign_zero,
                   "input_shapes": input_shapes, "max_tensor_mb": max_tensor_mb, "manager": manager, "debug": debug,
                   "append_passes": append_passes}
        return _by_objective(model, objective, choices, options)
    if scheme not in SCHEMES:
        raise BnncError(f"scheme must be one of {', '.join(SCHEMES)}, got '{scheme}'")
    if sign_zero not in SIGN_ZERO:
        raise BnncError(f"sign_zero must be one of {', '.join(SIGN_ZERO)}, got '{sign_zero}'")
    if max_arrays is not None and (isinstance(max_arrays, bool) or not isinstance(max_arrays, int) or max_arrays < 0):
        raise BnncError(f"max_arrays (--max-arrays) takes a whole number of arrays (0: no replication), got {max_arrays!r}")
    if target_fps is not None and not (isinstance(target_fps, int | float) and math.isfinite(target_fps) and target_fps > 0):
        raise BnncError(f"target_fps (--target-fps) takes a finite number of inferences per second > 0, got {target_fps!r}")
    if pipeline is None:
        pipeline = default_pipeline(scheme, sign_zero, config.array.rows, config.array.cols, max_arrays or 0,
                                    target_fps or 0.0, timing_of(config), choices)
    else:
        tuned = {"array": array, "scheme": None if scheme == "auto" else scheme, "sign_zero": None if sign_zero == "exact" else sign_zero,
                 "max_arrays": max_arrays, "target_fps": target_fps}
        given = [name for name, value in tuned.items() if value is not None]
        if given:
            raise BnncError(f"{', '.join(given)} tune the default pipeline; with a pipeline, set the pass options in it instead")
    if append_passes:
        pipeline = ",".join(p for p in (pipeline, append_passes) if p.strip())
    timings: dict[str, float] = {}
    start = time.perf_counter()
    module, graph = import_onnx(model, input_shapes, max_tensor_mb)
    if choices:
        check_layers(choices, binary_layer_names(module), origin, str(model))
    source, model_proto = clone_module(module), graph.model
    del graph  # its decoded weights are the module's constants now; the passes need not hold them
    timings["load"] = time.perf_counter() - start
    start = time.perf_counter()
    passes = PassManager.from_pipeline(pipeline, **dict(manager or {}))
    try:
        context = passes.run(module, PassContext(debug=debug))
    except PassError as e:
        raise e.at(str(model)) from e
    timings["passes"] = time.perf_counter() - start
    _record(module, pipeline, config, context.remarks)
    compilation = Compilation(module, config, source=source, model=model_proto, timings=timings)
    compilation.pass_timings = passes.timing_report()
    compilation.options = {"model": model, "array": (config.array.rows, config.array.cols), "scheme": scheme, "hw": config,
                           "max_arrays": max_arrays, "target_fps": target_fps, "sign_zero": sign_zero,
                           "input_shapes": input_shapes, "layer_config": layer_config, "append_passes": append_passes}
    return compilation


def binary_layer_names(module: Module) -> list[str]:
    """The names of an imported module's binary layers (their first ONNX node), in order."""
    return [layer_name(op) for function in module.functions for op in function.walk()
            if isinstance(op, (bnn.Conv, bnn.Dense)) and op.parent is function]


def _by_objective(model: str | Path, objective: str, choices: dict[str, LayerChoice], options: dict[str, Any]) -> Compilation:
    """Compile with the per-layer mappings that make ``objective`` smallest among: every layer
    under one scheme (refcol, xnor, diff), the fewest arrays per layer (``auto``), and per layer
    the mapping with the least arrays, energy, area or busy time in those compilations (the
    mappings ``choices`` fixes stay). Records the choice as a remark."""
    candidates = {scheme: compile(model, scheme=scheme, layer_config=choices or None, **options)
                  for scheme in ("refcol", "xnor", "diff")}
    candidates["auto"] = compile(model, scheme="auto", layer_config=choices or None, **options)
    reports = [c.report for c in candidates.values()]
    for metric, assignment in per_layer_assignments(reports).items():
        if all(assignment != _schemes_of(c.report) for c in candidates.values()):
            candidates[f"least {metric} per layer"] = compile(model, scheme="auto", layer_config=_with_schemes(choices, assignment),
                                                              **options)
    values = {name: objective_value(c.totals, objective) for name, c in candidates.items()}
    best = min(values, key=values.get)
    chosen = candidates[best]
    chosen.options.update(scheme="auto", layer_config=choices or None, objective=objective)
    shown = ", ".join(f"{name} {value:.4g}" for name, value in values.items())
    picked = ", ".join(f"{layer}: {scheme}" for layer, scheme in _schemes_of(chosen.report).items())
    chosen.module.attributes["remarks"] = tuple(chosen.remarks) + (f"objective {objective}: candidates {shown}; chose {picked}",)
    return chosen


def _schemes_of(report: dict) -> dict[str, str]:
    return {e["name"]: e["scheme"] for e in report["layers"] if e["target"] == "crossbar"}


def _with_schemes(choices: dict[str, LayerChoice], assignment: Mapping[str, str]) -> dict[str, LayerChoice]:
    """``choices`` with the schemes of ``assignment`` where ``choices`` fixes none."""
    merged = dict(choices)
    for layer, scheme in assignment.items():
        old = merged.get(layer, LayerChoice())
        if old.scheme is None:
            merged[layer] = LayerChoice(scheme, old.array, old.replicas)
    return merged


def compare_schemes(model: str | Path, **options: Any) -> dict[str, dict]:
    """The totals of ``model`` compiled under every mapping (refcol, xnor, diff, auto), with
    the other :func:`compile` ``options`` as given (:meth:`Compilation.compare` of its ``auto``
    compilation)."""
    compilation = compile(model, **{**options, "scheme": "auto"})
    return {entry["scheme"]: entry["totals"] for entry in compilation.compare(SCHEMES)}


def _record(module: Module, pipeline: str, hw: HardwareConfig, remarks: list[str]) -> None:
    """Keep on the module what the report states beyond the program itself."""
    module.attributes["pipeline"] = pipeline
    module.attributes["hardware"] = hw.digest()
    overrides = hw.overrides()
    if overrides:
        module.attributes["hardware_overrides"] = tuple(x for key, (value, origin) in overrides.items() for x in (key, value, origin))
    if remarks:
        module.attributes["remarks"] = tuple(remarks)


def load(path: str | Path, hw: HardwareConfig | str | Path | None = None) -> Compilation:
    """A compilation from saved IR (``model.bir`` and the ``model.npz`` beside it), costed on
    ``hw`` (default: the hardware it was compiled for, as its attributes record)."""
    module = load_bir(path)
    module.verify()
    return Compilation(module, recorded_hardware(module) if hw is None else hardware(hw))


def recorded_hardware(module: Module) -> HardwareConfig:
    """The hardware configuration a module's attributes record (the defaults if none)."""
    flat = module.attributes.get("hardware_overrides", ())
    if len(flat) % 3:
        raise BnncError("module attribute hardware_overrides must list (key, value, origin) triples")
    config = hardware_from_overrides({flat[i]: (flat[i + 1], flat[i + 2]) for i in range(0, len(flat), 3)})
    digest = module.attributes.get("hardware")
    if digest is not None and digest != config.digest():
        raise BnncError(f"the module records hardware {digest} but its overrides give {config.digest()}; "
                        "pass the hardware configuration explicitly")
    return config


class Compilation:
    """One compiled model: the final IR (:attr:`module`), the hardware it is costed on
    (:attr:`hw`) and, when compiled from ONNX, the source model and its imported IR (needed
    by :meth:`check`)."""

    def __init__(self, module: Module, hw: HardwareConfig, source: Module | None = None,
                 model: onnx.ModelProto | None = None, timings: dict[str, float] | None = None):
        self.module = module
        self.hw = hw
        self.source = source
        self.model = model
        self.timings = dict(timings or {})
        self.pass_timings: str | None = None
        """The pass manager's table of wall time per pass, when compiled here."""
        self.options: dict[str, Any] = {}
        """The :func:`compile` options this compilation was made with (empty for saved IR)."""
        self.comparison: list[dict] | None = None
        """``report["comparison"]``: after :meth:`compare`, the totals of the model under other
        schemes and array sizes."""
        self.last_robustness: Robustness | None = None
        """The last :meth:`robustness` run's outcome (``report.json``'s ``robustness``), if any."""

    # ---- what the IR records ------------------------------------------------------------------

    @property
    def pipeline(self) -> str:
        return str(self.module.attributes.get("pipeline", ""))

    @property
    def inputs(self) -> list[str]:
        """The ONNX input names, in order."""
        return list(self.module.function("main").attributes["inputs"])

    @property
    def remarks(self) -> list[str]:
        """Warnings and remarks of the passes (e.g. float-margin warnings)."""
        return list(self.module.attributes.get("remarks", ()))

    @property
    def golden(self) -> dict | None:
        """The last golden check's outcome (``inputs``, ``exact``, ``max_abs_err``,
        ``sign_zero_events``), or None if none ran."""
        if "golden_inputs" not in self.module.attributes:
            return None
        return {key: self.module.attributes[f"golden_{key}"] for key in ("inputs", "exact", "max_abs_err", "sign_zero_events")}

    def record_passes(self, pipeline: str, remarks: list[str]) -> None:
        """Record on the module that ``pipeline`` ran on it after the passes it records, with
        their remarks (so the report names every pass that made this IR)."""
        attributes = self.module.attributes
        done = ",".join(p for p in (str(attributes.get("pipeline", "")), pipeline) if p)
        if done:
            attributes["pipeline"] = done
        if remarks:
            attributes["remarks"] = tuple(self.remarks) + tuple(remarks)

    # ---- derived --------------------------------------------------------------------------------

    def layers(self) -> ProgramLayers:
        """The crossbar layers and host partitions of the final IR."""
        return program_layers(self.module)

    def schedule(self, layers: ProgramLayers | None = None) -> Schedule:
        """The cycle-approximate schedule on :attr:`hw`."""
        return build_schedule(layers or self.layers(), timing_of(self.hw))

    @property
    def report(self) -> dict:
        """The content of ``report.json`` (schema: ``docs/report-schema.md``)."""
        return self._report()[0]

    @property
    def totals(self) -> dict:
        """``report["totals"]``."""
        return self.report["totals"]

    def _report(self) -> tuple[dict, Schedule]:
        start = time.perf_counter()
        layers = self.layers()
        schedule = self.schedule(layers)
        entries = layer_entries(layers, schedule, self.hw)
        timings = {**self.timings, "report": time.perf_counter() - start}
        report = {
            "version": REPORT_VERSION,
            "bnnc": __version__,
            "model": str(self.module.attributes.get("source", "")),
            "pipeline": self.pipeline,
            "layers": entries,
            "totals": totals(entries, schedule, layers),
            "schemes": None,
            "comparison": self.comparison,
            "hardware": self.hw.to_json(),
            "assumptions": assumptions(self.hw),
            "not_modelled": not_modelled(),
            "golden": self.golden,
            "remarks": self.remarks,
            "timings": timings,
        }
        return report, schedule

    def compare(self, schemes: tuple[str, ...] = SCHEMES, arrays: list[tuple[int, int]] | None = None) -> list[dict]:
        """Compile the source model again under every scheme of ``schemes`` on every array size
        of ``arrays`` (default: this compilation's), with this compilation's other options;
        ``[{"scheme", "array", "totals"}, ...]`` (array sizes outer, schemes inner), kept as
        :attr:`comparison` (``report["comparison"]``). This compilation stands for its own
        scheme and array size."""
        if not self.options:
            raise BnncError("comparing schemes or array sizes needs the source ONNX model; compile it with bnnc.compile")
        options = {k: v for k, v in self.options.items() if k not in ("model", "array", "scheme", "objective")}
        objective = self.options.get("objective", "arrays")
        own = (self.options["scheme"], tuple(self.options["array"]))
        entries = []
        for array in arrays or [own[1]]:
            for scheme in schemes:
                totals = self.totals if (scheme, tuple(array)) == own else \
                    compile(self.options["model"], array=tuple(array), scheme=scheme,
                            objective=objective if scheme == "auto" else "arrays", **options).totals
                entries.append(comparison_entry(scheme, tuple(array), totals))
        self.comparison = entries
        return entries

    # ---- running and checking ------------------------------------------------------------------

    def simulate(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Run the compiled program (fast simulator) on ONNX-named inputs, samples stacked
        along the batch axis; outputs keyed by ONNX output name."""
        return run_program(self.module, inputs)

    def random_inputs(self, count: int, seed: int = 0) -> dict[str, np.ndarray]:
        """``count`` random samples per input, of the kind the program reads."""
        return random_inputs(self.module, count, seed)

    def check(self, inputs: int | Mapping[str, np.ndarray] = 16, seed: int = 0) -> GoldenResult:
        """The golden check against onnxruntime on the source model, on ``inputs`` (ONNX-named
        arrays) or that many random inputs; the outcome is recorded on the module."""
        if self.model is None or self.source is None:
            raise BnncError("the golden check needs the source ONNX model; compile it with bnnc.compile")
        if isinstance(inputs, int) and inputs < 1:
            raise BnncError(f"the golden check needs at least 1 input (--golden-inputs), got {inputs}")
        samples = self.random_inputs(inputs, seed) if isinstance(inputs, int) else dict(inputs)
        start = time.perf_counter()
        result = golden_check(self.module, self.source, self.model, samples)
        self.timings["golden"] = time.perf_counter() - start
        for key, value in result.to_json().items():
            self.module.attributes[f"golden_{key}"] = value
        return result

    def export_spice(self, out_dir: str | Path, inputs: Mapping[str, np.ndarray] | None = None,
                     device: DeviceModel | None = None, arrays: int | None = None) -> list[str]:
        """Write into ``out_dir`` one ngspice netlist per array (all, or the first ``arrays``)
        of its first read on the first sample of ``inputs`` (ONNX-named; a random sample if
        None), on ``device`` (default: this hardware's cells and read voltage, no wire
        resistance), each with ``NAME.expected.json`` (see
        :func:`bnnc.backends.simulator.spice_export.spice_netlists`); returns the file names."""
        return export_spice(self.module, self.hw, out_dir, inputs, device, arrays)

    def robustness(self, device: DeviceConfig | str | Path | Mapping[str, Any] | None = None, *, chips: int = 16,
                   inputs: int | Mapping[str, np.ndarray] = 16, labels: Any = None, seed: int = 0,
                   fault_aware: bool = False, fault_map: str | Path | Mapping[str, np.ndarray] | None = None,
                   sweep: tuple[str, list[float]] | str | None = None, labels_name: str = "labels") -> Robustness:
        """Monte Carlo over ``chips`` chip instances of the ``[device]`` configuration
        ``device`` (a :class:`DeviceConfig`, a TOML file with a ``[device]`` table, ``{key:
        value}``, or None for :attr:`hw`'s) on ``inputs`` (ONNX-named arrays or that many
        random inputs), with optional integer ``labels`` (one per sample); ``fault_aware``
        also runs every chip with its stuck cells folded (``fault_map``: a tested chip's
        stuck cells, a ``.npz`` or ``{array constant: codes}``, instead of sampled ones);
        ``sweep``: ``(key, values)`` or ``"key=v1,v2"``; ``labels_name`` names the labels in
        errors. See :mod:`bnnc.robustness`; the
        outcome goes into the next :meth:`files` / :meth:`write` (``report.json``
        ``robustness``, ``robustness.csv``, plots in ``report.html``)."""
        config = device_config(device, self.hw)
        samples = self.random_inputs(inputs, seed) if isinstance(inputs, int) else dict(inputs)
        if isinstance(fault_map, (str, Path)):
            fault_map = read_fault_map(fault_map, self.module)
        elif fault_map is not None:
            fault_map = check_fault_map(fault_map, self.module)
        if isinstance(sweep, str):
            sweep = sweep_values(sweep)
        start = time.perf_counter()
        self.last_robustness = monte_carlo(self.module, self.hw, config, chips, samples, labels, seed, fault_aware,
                                           fault_map, sweep, labels_name)
        self.timings["robustness"] = time.perf_counter() - start
        return self.last_robustness

    # ---- output ---------------------------------------------------------------------------------

    def files(self, out_dir: str | Path, extra: Mapping[str, Any] | None = None, figures: bool = True) -> dict[Path, bytes]:
        """The output directory's files (``report.json``, ``report.md``, ``report.html``,
        ``schedule.json``, ``trace.json``, ``model.bir`` + ``model.npz``, and with ``figures``
        ``figures/*.svg``, ``*.pdf``, ``*.csv``) as bytes; ``extra`` report keys (e.g.
        ``schemes``) are added to the report."""
        out = Path(out_dir)
        report, schedule = self._report()
        report.update(extra or {})
        drawn = render_figures(report, schedule) if figures else []
        robustness_files = {}
        if self.last_robustness is not None:
            report["robustness"] = self.last_robustness.to_json()
            robustness_files[out / "robustness.csv"] = self.last_robustness.csv().encode()
        files = {
            out / "report.json": _json_bytes(report),
            out / "report.md": markdown_report(report).encode(),
            out / "report.html": html_report(report, drawn).encode(),
            out / "schedule.json": _json_bytes(schedule.to_json()),
            out / "trace.json": trace_json(trace_events(schedule)),
        }
        files.update(robustness_files)
        files.update(bir_files(self.module, out / "model.bir"))
        files.update({out / name: data for figure in drawn for name, data in figure.files().items()})
        return files

    def write(self, out_dir: str | Path, extra: Mapping[str, Any] | None = None, figures: bool = True) -> dict:
        """Replace ``out_dir`` as a whole by the output directory (a reader sees the old one or
        the new one; see :func:`bnnc.ir.atomic.replace_directory_atomically`); returns the report."""
        check_output_directory(Path(out_dir))
        files = self.files(out_dir, extra, figures)
        write_output_directory(Path(out_dir), files)
        return json.loads(files[Path(out_dir) / "report.json"])


# Every name bnnc writes (or wrote) at the top of an output directory: an earlier run's are
# dropped on a rerun, any other entry is the user's and is kept.
OUTPUT_NAMES = frozenset({"model.bir", "model.npz", "report.json", "report.md", "report.html", "schedule.json",
                          "trace.json", "figures", "robustness.csv"})


def write_output_directory(out_dir: Path, files: Mapping[Path, bytes]) -> None:
    """Replace ``out_dir`` by ``files`` (paths inside it, as :meth:`Compilation.files` gives);
    entries of an earlier run not named in :data:`OUTPUT_NAMES` (the user's) are kept."""
    replace_directory_atomically(out_dir, {path.relative_to(out_dir).as_posix(): data for path, data in files.items()},
                                 OUTPUT_NAMES)


def _json_bytes(data: dict) -> bytes:
    """Strict JSON: a NaN or infinite figure is a bug and raises ValueError, never ``Infinity``."""
    return (json.dumps(data, indent=1, allow_nan=False) + "\n").encode()
