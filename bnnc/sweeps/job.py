"""One sweep job: compile one configuration, check it, write its folder, return its row.

:func:`run_job` is what a local worker process or a Dask worker runs. It never raises for a
configuration that fails: the row says ``"status": "error"`` with the one-line message. Its
folder ``DIR/jobs/<id>/`` (the usual output files and ``job.json``, the row) replaces any
earlier one as a whole, so a job run again (a worker lost and retried, a resumed sweep) leaves
exactly one folder and the parent appends exactly one row for the result it receives.
"""

from __future__ import annotations

import json
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bnnc import api
from bnnc.backends.hardware import DeviceConfig, HardwareConfig
from bnnc.errors import BnncError
from bnnc.ir.atomic import replace_directory_atomically
from bnnc.ir.diagnostics import printable
from bnnc.program import onnx_inputs_to_domain, read_inputs
from bnnc.robustness import device_config, split_labels

from .space import DEVICE_TABLE, PATH_AXES, Configuration

JOB_FILE = "job.json"


@dataclass(frozen=True)
class Job:
    """A configuration to run, its folder and the absolute paths of the files it names, made
    where the sweep runs (a worker's working directory may be elsewhere, e.g. on a Dask
    cluster sharing the file system)."""

    config: Configuration
    folder: str
    files: tuple[tuple[str, str], ...]

    @property
    def id(self) -> str:
        return self.config.id

    def path(self, axis: str) -> str | None:
        """The absolute path of the file of ``axis`` (``model``, ``hw``, ...), None if unset."""
        return dict(self.files).get(axis)


def make_job(config: Configuration, directory: Path) -> Job:
    """The job of ``config`` writing into ``directory/jobs/<id>``."""
    named = config.to_json()
    files = tuple((axis, str(Path(named[axis]).resolve())) for axis in PATH_AXES if named[axis] is not None)
    return Job(config, str((directory / "jobs" / config.id).resolve()), files)


def _compile(job: Job) -> api.Compilation:
    config = job.config
    hw = api.hardware(job.path("hw"))
    if config.hardware:
        hw = hw.with_values(dict(config.hardware), origin="sweep")
    rows, cols = api.parse_array(config.array)
    return api.compile(job.path("model"), array=(rows, cols), scheme=config.scheme, hw=hw,
                       max_arrays=config.max_arrays or None, target_fps=config.target_fps, sign_zero=config.sign_zero,
                       objective=config.objective, layer_config=job.path("layer_config"))


def _device(job: Job, compilation: api.Compilation) -> DeviceConfig:
    """The ``[device]`` configuration of the job: its device file's (else the hardware's), with
    the configuration's device keys over it."""
    path = job.path("device")
    device = device_config(path, compilation.hw) if path is not None else compilation.hw.device
    if not job.config.device_values:
        return device
    values = {f"{DEVICE_TABLE}.{key}": value for key, value in job.config.device_values}
    return HardwareConfig(device=device).with_values(values, origin="sweep").device


def _robustness(compilation: api.Compilation, job: Job, arrays: dict[str, np.ndarray], labels: np.ndarray | None) -> dict:
    """The Monte Carlo over the job's number of chips (:meth:`Compilation.robustness`; the
    outcome also goes into the job's report files), on its inputs or 16 random ones."""
    inputs: Any = arrays if arrays else 16
    result = compilation.robustness(_device(job, compilation), chips=job.config.chips, inputs=inputs, labels=labels,
                                    seed=job.config.seed)
    return result.to_json()


def _one_line(error: BaseException) -> str:
    if isinstance(error, BnncError):
        return printable(" ".join(str(error).split()), 1000)
    return printable(f"internal error: {type(error).__name__}: {' '.join(str(error).split())}", 1000)


def run_job(job: Job) -> dict[str, Any]:
    """Run ``job``; write its folder; return its row ``{"id", "config", "status", "error",
    "totals", "golden", "robustness" (when asked), "seconds"}``."""
    start = time.perf_counter()
    config = job.config
    folder = Path(job.folder)
    row: dict[str, Any] = {"id": job.id, "config": config.to_json(), "status": "ok", "error": None,
                           "totals": None, "golden": None}
    if config.robustness:
        row["robustness"] = None
    files: dict[str, bytes] = {}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # a worker has no console; results are in the row
            compilation = _compile(job)
            row["totals"] = compilation.totals
            arrays: dict[str, np.ndarray] = {}
            labels = None
            if config.inputs is not None:
                arrays, labels = split_labels(read_inputs(job.path("inputs")), compilation.inputs)
                arrays = onnx_inputs_to_domain(compilation.module, arrays)
            golden = None
            if arrays:
                golden = compilation.check(arrays)
            elif config.golden_inputs > 0:
                golden = compilation.check(config.golden_inputs, seed=config.seed)
            row["golden"] = compilation.golden
            try:
                if config.robustness:
                    row["robustness"] = _robustness(compilation, job, arrays, labels)
            finally:
                # no figures/: sweep.html plots the whole sweep; `bnnc jobs/<id>/model.bir -o DIR` draws one job's
                files = {path.relative_to(folder).as_posix(): data
                         for path, data in compilation.files(folder, figures=False).items()}
            if golden is not None and not golden.exact and not golden.sign_zero_events:
                raise BnncError("the compiled program differs from onnxruntime: " + "; ".join(golden.mismatches))
    except Exception as error:  # a configuration that fails is a row, not a failed sweep
        row["status"], row["error"] = "error", _one_line(error)
    row["seconds"] = round(time.perf_counter() - start, 3)
    files[JOB_FILE] = (json.dumps(row, indent=1, allow_nan=False) + "\n").encode()
    replace_directory_atomically(folder, files, api.OUTPUT_NAMES | {JOB_FILE})
    return row
