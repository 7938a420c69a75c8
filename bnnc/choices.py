"""Design choices as results: per-layer choices from a layer configuration (like FINN's folding
configuration), the objective ``--scheme auto`` optimizes, and comparisons of schemes and array
sizes.

A layer configuration is a TOML file (or a mapping of the same shape) with one table per
binary layer, named by the layer's first ONNX node as the report names it::

    [Conv_3]
    scheme = "xnor"          # refcol, xnor, diff or auto
    array = "256x256"        # rows x cols of this layer's arrays (or [256, 256])
    replicas = 4             # copies of its arrays (a --max-arrays budget only adds more)

Layers not named keep the command's choices. Unknown layers, keys or values are
:class:`LayerConfigError` (exit code 2) naming the file, the layer and the key.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bnnc.errors import BnncError
from bnnc.toml_file import read_toml

OBJECTIVES = ("arrays", "energy", "area", "latency", "edp")
"""What ``--scheme auto`` minimizes: arrays (per layer, in the pass; the default), energy per
inference, area, latency of one inference, or energy × latency."""

LAYER_SCHEMES = ("refcol", "xnor", "diff", "auto")
LAYER_KEYS = ("scheme", "array", "replicas")


class LayerConfigError(BnncError):
    """A layer configuration bnnc cannot use; the message names the file, the layer and the key."""


@dataclass(frozen=True)
class LayerChoice:
    """What a layer configuration fixes for one layer (None: the command's choice)."""

    scheme: str | None = None
    array: tuple[int, int] | None = None
    replicas: int | None = None


def read_layer_config(source: str | os.PathLike[str] | Mapping[str, Any]) -> tuple[dict[str, LayerChoice], str]:
    """The choices of a layer configuration (a TOML file, or a mapping of layer name to
    ``{scheme, array, replicas}``) and the name messages give it."""
    if isinstance(source, Mapping):
        origin, document = "layer_config", source
    else:
        origin = os.fspath(source)
        document = read_toml(origin, "layer configuration", LayerConfigError)
    choices = {}
    for layer, table in document.items():
        if isinstance(table, LayerChoice):
            choices[layer] = table
            continue
        if not isinstance(table, Mapping):
            raise LayerConfigError(f"{origin}: {layer}: expected a table [{layer}] with keys {', '.join(LAYER_KEYS)}")
        unknown = [key for key in table if key not in LAYER_KEYS]
        if unknown:
            raise LayerConfigError(f"{origin}: [{layer}] {unknown[0]}: unknown key; expected one of {', '.join(LAYER_KEYS)}")
        choices[layer] = LayerChoice(_scheme(table, origin, layer), _array(table, origin, layer), _replicas(table, origin, layer))
    return choices, origin


def _scheme(table: Mapping[str, Any], origin: str, layer: str) -> str | None:
    scheme = table.get("scheme")
    if scheme is not None and scheme not in LAYER_SCHEMES:
        raise LayerConfigError(f"{origin}: [{layer}] scheme: expected one of {', '.join(LAYER_SCHEMES)}, got {scheme!r}")
    return scheme


def _array(table: Mapping[str, Any], origin: str, layer: str) -> tuple[int, int] | None:
    array = table.get("array")
    if array is None:
        return None
    try:
        parts = array.lower().split("x") if isinstance(array, str) else list(array)
        rows, cols = (int(v) for v in parts)
        valid = not isinstance(array, bool) and all(not isinstance(v, bool | float) for v in parts)
    except (TypeError, ValueError, AttributeError):
        valid = False
    if not valid or rows < 2 or cols < 2:
        raise LayerConfigError(f"{origin}: [{layer}] array: expected \"ROWSxCOLS\" or [rows, cols] with at least 2 "
                               f"of each, e.g. \"256x256\"; got {array!r}")
    return rows, cols


def _replicas(table: Mapping[str, Any], origin: str, layer: str) -> int | None:
    replicas = table.get("replicas")
    if replicas is not None and (isinstance(replicas, bool) or not isinstance(replicas, int) or replicas < 1):
        raise LayerConfigError(f"{origin}: [{layer}] replicas: expected a whole number >= 1, got {replicas!r}")
    return replicas


def check_layers(choices: Mapping[str, LayerChoice], layers: list[str], origin: str, model: str) -> None:
    """Every configured layer is a binary layer of the model."""
    for name in choices:
        if name not in layers:
            shown = ", ".join(layers[:12]) + (", ..." if len(layers) > 12 else "")
            raise LayerConfigError(f"{origin}: [{name}]: {model} has no binary layer of that name; "
                                   f"its binary layers are {shown or 'none'}")


def _quoted(names: list[str]) -> str:
    text = ",".join(names).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{text}"'


def layer_passes(choices: Mapping[str, LayerChoice], scheme: str, rows: int, cols: int) -> tuple[str, str, str]:
    """The passes a layer configuration adds to the default pipeline: ``sign-convert`` of the
    layers with a scheme of their own (before the general one), ``tile`` of the layers with an
    array size of their own (before the general one), and ``set-replicas`` (after tiling),
    grouped by setting (``scheme``, ``rows`` × ``cols``: the command's); each part ends (or, the
    last, starts) with a comma when not empty."""
    groups: dict[tuple[str, Any], list[str]] = {}
    for name, choice in choices.items():
        array = choice.array or (rows, cols)
        if choice.scheme is not None or choice.array is not None:
            groups.setdefault(("sign-convert", (choice.scheme or scheme, array)), []).append(name)
        if choice.array is not None:
            groups.setdefault(("tile", array), []).append(name)
        if choice.replicas is not None:
            groups.setdefault(("set-replicas", choice.replicas), []).append(name)
    convert = tile = replicas = ""
    for (kind, setting), names in groups.items():
        if kind == "sign-convert":
            (mapping, (r, c)) = setting
            convert += f"sign-convert{{scheme={mapping},rows={r},cols={c},layers={_quoted(names)}}},"
        elif kind == "tile":
            tile += f"tile{{rows={setting[0]},cols={setting[1]},layers={_quoted(names)}}},"
        else:
            replicas += f",set-replicas{{replicas={setting},layers={_quoted(names)}}}"
    return convert, tile, replicas


def objective_value(totals: Mapping[str, Any], objective: str) -> float:
    """The figure ``objective`` minimizes, from a report's totals."""
    if objective == "arrays":
        return float(totals["arrays"])
    if objective == "energy":
        return float(totals["energy_nj"])
    if objective == "area":
        return float(totals["area_mm2"])
    if objective == "latency":
        return float(totals["latency_ns"])
    if objective == "edp":
        return float(totals["energy_nj"]) * float(totals["latency_ns"])
    raise BnncError(f"objective (--objective) must be one of {', '.join(OBJECTIVES)}, got {objective!r}")


LAYER_METRICS = {"arrays": "arrays", "energy": "energy_nj", "area": "area_mm2", "latency": "busy_ns"}
"""The per-layer figure behind each additive part of an objective."""


def per_layer_assignments(reports: list[dict]) -> dict[str, dict[str, str]]:
    """From reports of one model compiled with different mappings, for each per-layer figure of
    :data:`LAYER_METRICS` (by objective name) the mapping of each layer that makes that figure
    smallest (ties: the earlier report)."""
    layers: dict[str, list[dict]] = {}
    for report in reports:
        for entry in report["layers"]:
            if entry["target"] == "crossbar":
                layers.setdefault(entry["name"], []).append(entry)
    return {objective: {name: min(entries, key=lambda e: e[metric])["scheme"] for name, entries in layers.items()}
            for objective, metric in LAYER_METRICS.items()}


def comparison_entry(scheme: str, array: tuple[int, int], totals: dict) -> dict:
    """One entry of ``report.json`` ``comparison``."""
    return {"scheme": scheme, "array": [array[0], array[1]], "totals": totals}
