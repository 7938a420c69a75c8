"""Fixtures shared by the test modules."""

from __future__ import annotations

import os
import shutil
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


def require_tool(executable: str) -> str:
    """The path of the external test oracle ``executable`` (ngspice, chromium): a test that needs
    one skips when it is absent — except under ``BNNC_REQUIRE_ORACLES=1`` (set by ``.ci/run``,
    which installs them), where its absence fails the test instead of hiding it."""
    found = shutil.which(executable)
    if found is None:
        if os.environ.get("BNNC_REQUIRE_ORACLES") == "1":
            pytest.fail(f"{executable} is required (BNNC_REQUIRE_ORACLES=1) but not on PATH")
        pytest.skip(f"{executable} not installed (.ci/run installs it)")
    return found
