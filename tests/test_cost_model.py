"""The cost model: on every zoo model, each layer's and the totals' energy and area by
component sum to the layer's and the model's figures, and the components are the same
everywhere; the report names what the model leaves out."""

from __future__ import annotations

from pathlib import Path

import onnx
import pytest

import bnnc
from tests.models.zoo import ZOO

COMPONENTS = {"cells", "drivers", "sensing", "adc", "digital", "buffers", "interconnect", "leakage"}


@pytest.mark.parametrize("name", list(ZOO))
def test_breakdowns_sum_to_the_totals_on_every_zoo_model(name: str, tmp_path: Path) -> None:
    path = tmp_path / f"{name}.onnx"
    onnx.save(ZOO[name].build(), path)
    report = bnnc.compile(path).report
    totals = report["totals"]
    for entry in [*report["layers"], totals]:
        assert set(entry["energy_breakdown_nj"]) == set(entry["area_breakdown_mm2"]) == COMPONENTS
        assert all(v >= 0 for v in [*entry["energy_breakdown_nj"].values(), *entry["area_breakdown_mm2"].values()])
        assert sum(entry["energy_breakdown_nj"].values()) == pytest.approx(entry["energy_nj"], rel=1e-12, abs=1e-15)
        assert sum(entry["area_breakdown_mm2"].values()) == pytest.approx(entry["area_mm2"], rel=1e-12, abs=1e-15)
    for component in COMPONENTS:
        assert totals["energy_breakdown_nj"][component] == pytest.approx(
            sum(e["energy_breakdown_nj"][component] for e in report["layers"]), rel=1e-12, abs=1e-15)
    assert totals["area_mm2"] == pytest.approx(sum(e["area_mm2"] for e in report["layers"]))
    assert report["not_modelled"] and all(isinstance(item, str) and item for item in report["not_modelled"])
