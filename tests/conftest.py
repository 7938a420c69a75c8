"""Fixtures shared by the test modules."""

from __future__ import annotations

from pathlib import Path

import onnx
import pytest

from tests.models.zoo import BAD, ZOO


@pytest.fixture(scope="session")
def zoo_dir(tmp_path_factory) -> Path:
    """Every zoo model, good and bad, written once as ``<name>.onnx``."""
    directory = tmp_path_factory.mktemp("zoo")
    for name, model in {**ZOO, **BAD}.items():
        onnx.save(model.build(), directory / f"{name}.onnx")
    return directory
