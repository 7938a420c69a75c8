"""The configurations of a sweep: settings from the command line, the Python API or a sweep
file, validated and expanded into a list of :class:`Configuration`, each with its job id.

A *setting* maps an axis name (``model``, ``array``, ``scheme``, ``max_arrays``,
``target_fps``, ``sign_zero``, ``objective``, ``hw``, ``layer_config``, ``inputs``,
``golden_inputs``, ``device``, ``chips``, ``seed``) or a dotted hardware key (``adc.power_6bit_mw``; ``device.stuck_lrs`` for a device
key) to a value. A grid maps them to lists of values and stands for their cross product.

A sweep file (TOML) holds, all optional but a model somewhere::

    models = ["cnv.onnx"]          # a grid axis over models (paths relative to this file)
    golden_inputs = 8              # other top-level keys: one value for every configuration

    [grid]                         # the cross product: every key takes a list of values
    array = ["64x64", "128x128"]
    scheme = ["refcol", "xnor", "diff", "auto"]
    adc.power_6bit_mw = [1.26, 2.0]   # hardware keys as [table] key
    device.stuck_lrs = [0.0, 0.01]    # device keys (robustness, with device, chips, inputs)

    [[configs]]                    # or a list of configurations, each crossed with the grid
    model = "tfc.onnx"
    array = "256x256"

Every value is checked before any job runs; a bad one is a :class:`BnncError` naming where it
was given (``--scheme``, ``sweep.toml: grid.scheme``) and what was expected.
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import math
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from bnnc import api
from bnnc.backends.hardware import HardwareConfig
from bnnc.choices import OBJECTIVES, read_layer_config
from bnnc.ir import BnncError
from bnnc.program import read_inputs
from bnnc.robustness import device_config
from bnnc.toml_file import read_toml
from bnnc.version import __version__

PATH_AXES = ("model", "hw", "layer_config", "inputs", "device")
AXES = ("model", "array", "scheme", "objective", "max_arrays", "target_fps", "sign_zero", "hw", "layer_config", "inputs",
        "golden_inputs", "device", "chips", "seed")
"""The axes a setting may name besides hardware and device keys, in the order rows show them."""

DEVICE_TABLE = "device"


@dataclass(frozen=True)
class Configuration:
    """One point of the design space, normalized: equal configurations are equal values (the
    array is the effective one, from ``array`` or the hardware; no replication is
    ``max_arrays = 0``). Paths are as given (relative to the sweep file's folder for a file)."""

    model: str
    array: str
    scheme: str = "auto"
    objective: str = "arrays"
    max_arrays: int = 0
    target_fps: float | None = None
    sign_zero: str = "exact"
    hw: str | None = None
    hardware: tuple[tuple[str, Any], ...] = ()
    layer_config: str | None = None
    inputs: str | None = None
    golden_inputs: int = 16
    device: str | None = None
    device_values: tuple[tuple[str, Any], ...] = ()
    chips: int | None = None
    seed: int = 0
    id: str = field(default="", compare=False)

    @property
    def robustness(self) -> bool:
        """Whether this configuration asks for a Monte Carlo over chip instances."""
        return self.chips is not None

    def to_json(self) -> dict[str, Any]:
        """The configuration as a result row states it (every key, null where unset)."""
        return {"model": self.model, "array": self.array, "scheme": self.scheme, "objective": self.objective,
                "max_arrays": self.max_arrays, "target_fps": self.target_fps, "sign_zero": self.sign_zero, "hw": self.hw,
                "hardware": dict(self.hardware), "layer_config": self.layer_config, "inputs": self.inputs, "golden_inputs": self.golden_inputs,
                "device": self.device, "device_values": dict(self.device_values), "chips": self.chips,
                "seed": self.seed}


# ---- values ---------------------------------------------------------------------------------

def _whole(value: Any, where: str, minimum: int) -> int:
    if isinstance(value, str):
        try:
            value = int(value.strip())
        except ValueError:
            raise BnncError(f"{where}: expected a whole number >= {minimum}, got '{value}'") from None
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise BnncError(f"{where}: expected a whole number >= {minimum}, got {value!r}")
    return value


def _number(value: Any, where: str) -> float:
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            raise BnncError(f"{where}: expected a number, got '{value}'") from None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise BnncError(f"{where}: expected a finite number, got {value!r}")
    return float(value)


def _text(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise BnncError(f"{where}: expected a non-empty string, got {value!r}")
    return value.strip()


def _file(value: Any, where: str, base: Path | None) -> str:
    text = _text(os.fspath(value) if isinstance(value, os.PathLike) else value, where)
    path = os.path.normpath(os.path.join(base, text)) if base is not None else text
    if not Path(path).is_file():
        raise BnncError(f"{path}: no such file ({where})")
    return path


CHOICES = {"scheme": api.SCHEMES, "sign_zero": api.SIGN_ZERO, "objective": OBJECTIVES}


def _choice(value: Any, where: str, option: str) -> str:
    """A ``scheme``, ``sign_zero`` or ``objective`` value: one of those :func:`bnnc.compile` takes."""
    text = _text(value, where)
    if option == "scheme" and text == "all":
        raise BnncError(f"{where}: a sweep lists the schemes it compares: refcol,xnor,diff,auto (not 'all')")
    if text not in CHOICES[option]:
        raise BnncError(f"{where}: {option} must be one of {', '.join(CHOICES[option])}, got '{text}'")
    return text


def _target_fps(value: Any, where: str) -> float:
    fps = _number(value, where)
    if fps <= 0:
        raise BnncError(f"{where}: expected inferences per second > 0, got {value!r}")
    return fps


@lru_cache(maxsize=None)
def _hardware_file(path: str | None) -> HardwareConfig:
    return api.hardware(path)


@lru_cache(maxsize=None)
def _inputs_file(path: str) -> None:
    read_inputs(path)


@lru_cache(maxsize=None)
def _device_file(path: str) -> None:
    device_config(path, api.hardware())  # only a [device] table, every value valid


@lru_cache(maxsize=None)
def file_digest(path: str) -> str:
    """SHA-256 of the bytes of the file at ``path``."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


# ---- one configuration ----------------------------------------------------------------------

def _hardware_key(key: str, value: Any, where: str) -> Any:
    table = key.split(".", 1)[0]
    if table == "array":
        raise BnncError(f"{where}: give the array size as array = \"ROWSxCOLS\" (--array), not as {key}")
    api.hardware().with_values({key: value}, origin=where)  # HardwareConfigError names the key
    return value


def configuration(setting: Mapping[str, Any], where: Mapping[str, str], base: Path | None = None) -> Configuration:
    """The configuration of one setting, every value validated; ``where[key]`` names where the
    key's value was given, for messages; paths are relative to ``base`` (None: as given)."""
    values: dict[str, Any] = {}
    hardware: dict[str, Any] = {}
    device: dict[str, Any] = {}
    for key, value in setting.items():
        at = where.get(key, key)
        if key == "model":
            values[key] = _file(value, at, base)
            if Path(values[key]).suffix != ".onnx":
                raise BnncError(f"{at}: {values[key]}: expected an ONNX model (.onnx)")
        elif key in ("hw", "layer_config", "inputs", "device"):
            values[key] = _file(value, at, base)
        elif key == "array":
            rows, cols = api.parse_array(_text(value, at))
            values[key] = f"{rows}x{cols}"
        elif key in ("scheme", "sign_zero", "objective"):
            values[key] = _choice(value, at, key)
        elif key == "max_arrays":
            values[key] = _whole(value, at, 0)
        elif key == "target_fps":
            values[key] = _target_fps(value, at)
        elif key == "golden_inputs":
            values[key] = _whole(value, at, 0)
        elif key == "chips":
            values[key] = _whole(value, at, 1)
        elif key == "seed":
            values[key] = _whole(value, at, 0)
        elif key.startswith(DEVICE_TABLE + "."):
            device[key.split(".", 1)[1]] = _hardware_key(key, _number(value, at), at)
        elif "." in key:
            hardware[key] = _hardware_key(key, value, at)
        else:
            raise BnncError(f"{at}: unknown key; expected one of {', '.join(AXES)}, a hardware key such as "
                            "adc.power_6bit_mw or a device key such as device.stuck_lrs")
    if "model" not in values:
        raise BnncError("no model to sweep: give MODEL.onnx (or models = [...] in the sweep file)")
    hw = _hardware_file(values.get("hw"))
    if hardware:
        hw = hw.with_values(hardware, origin="sweep")
    values.setdefault("array", f"{hw.array.rows}x{hw.array.cols}")
    if "inputs" in values:
        _inputs_file(values["inputs"])
    if "layer_config" in values:
        read_layer_config(values["layer_config"])
    if "device" in values:
        _device_file(values["device"])
    config = Configuration(**values, hardware=tuple(sorted(hardware.items())), device_values=tuple(sorted(device.items())))
    if (config.device is not None or config.device_values) and config.chips is None:
        raise BnncError(f"{config.model}: device settings are for a Monte Carlo over chips; give their number "
                        "(--chips N; chips in a sweep file)")
    return config


def job_id(config: Configuration) -> str:
    """A hash of the model's bytes, the configuration (the files it names by their bytes) and
    the bnnc version: the same point of the design space has the same id on every run."""
    settings = config.to_json()
    files = {key: file_digest(settings.pop(key)) if settings[key] is not None else None for key in PATH_AXES}
    text = json.dumps({"bnnc": __version__, "files": files, "config": settings}, sort_keys=True, allow_nan=False)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


# ---- expansion ------------------------------------------------------------------------------

def _grid(grid: Mapping[str, Iterable[Any]]) -> list[dict[str, Any]]:
    keys = list(grid)
    return [dict(zip(keys, combination)) for combination in itertools.product(*(list(grid[k]) for k in keys))]


def expand(grid: Mapping[str, list[Any]], where: Mapping[str, str], base: Path | None = None,
           configs: list[Mapping[str, Any]] | None = None, defaults: Mapping[str, Any] | None = None) -> list[Configuration]:
    """The configurations of ``configs`` (one empty one if None) each crossed with ``grid``,
    over ``defaults``; duplicates (the same id) kept once, in order. Files are read (and
    hashed) once per expansion, so a file edited between two sweeps is read anew."""
    for memo in (_hardware_file, _inputs_file, _device_file, file_digest):
        memo.cache_clear()
    found: dict[str, Configuration] = {}
    for entry in configs if configs is not None else [{}]:
        for point in _grid(grid):
            config = configuration({**(defaults or {}), **entry, **point}, where, base)
            identified = dataclasses.replace(config, id=job_id(config))
            found.setdefault(identified.id, identified)
    return list(found.values())


def split_list(text: str, flag: str) -> list[str]:
    """The items of a comma-separated command-line list; an empty item is an error."""
    items = [item.strip() for item in text.split(",")]
    if not text.strip() or any(not item for item in items):
        raise BnncError(f"{flag}: expected a comma-separated list of values (e.g. 64x64,128x128), got '{text}'")
    return items


# ---- sweep files ----------------------------------------------------------------------------

def _flatten(table: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested TOML tables as dotted keys: ``{"adc": {"power_6bit_mw": x}}`` → ``adc.power_6bit_mw``."""
    flat: dict[str, Any] = {}
    for key, value in table.items():
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[prefix + key] = value
    return flat


def read_sweep_file(path: Path) -> list[Configuration]:
    """The configurations of a sweep file (see the module docstring)."""
    name = str(path)
    document = read_toml(path, "sweep file")
    grid_table = document.pop("grid", {})
    configs = document.pop("configs", None)
    models = document.pop("models", None)
    if not isinstance(grid_table, dict):
        raise BnncError(f"{name}: grid: expected a table [grid] of lists")
    grid: dict[str, list[Any]] = {}
    where: dict[str, str] = {}
    for key, values in _flatten(grid_table).items():
        if not isinstance(values, list) or not values:
            raise BnncError(f"{name}: grid.{key}: expected a non-empty list of values, got {values!r}")
        grid[key], where[key] = values, f"{name}: grid.{key}"
    if models is not None:
        if not isinstance(models, list) or not models or "model" in grid:
            raise BnncError(f"{name}: models: expected a non-empty list of .onnx paths (and no grid.model beside it)")
        grid["model"], where["model"] = models, f"{name}: models"
    if configs is not None and (not isinstance(configs, list) or not configs or not all(isinstance(c, dict) for c in configs)):
        raise BnncError(f"{name}: configs: expected a list of tables [[configs]]")
    defaults = _flatten(document)
    for key in defaults:
        where.setdefault(key, f"{name}: {key}")
    entries = [_flatten(c) for c in configs] if configs is not None else None
    for index, entry in enumerate(entries or []):
        clash = sorted(set(entry) & set(grid))
        if clash:
            raise BnncError(f"{name}: configs[{index}].{clash[0]} is also a grid axis; give it in one place")
        for key in entry:
            where.setdefault(key, f"{name}: configs.{key}")
    return expand(grid, where, path.parent, entries, defaults)
