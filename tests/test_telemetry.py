"""onnxruntime's telemetry is off: a compile with its golden check writes nothing under HOME
or TMPDIR — but matplotlib's own font cache and configuration folders (``~/.cache/matplotlib``,
``~/.config/matplotlib``: any program that draws with matplotlib makes them once)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "bnn_cnn.onnx"


def test_a_run_writes_nothing_under_home_or_tmpdir(tmp_path: Path) -> None:
    home, tmp = tmp_path / "home", tmp_path / "tmp"
    home.mkdir()
    tmp.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ORT_", "XDG_"))}
    env.update(HOME=str(home), TMPDIR=str(tmp))
    done = subprocess.run([sys.executable, "-m", "bnnc", str(EXAMPLE), "-o", str(tmp_path / "out"), "--golden-inputs", "2"],
                          env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    matplotlib_dirs = {home / ".cache", home / ".cache" / "matplotlib", home / ".config", home / ".config" / "matplotlib"}
    written = [p for p in home.rglob("*") if p not in matplotlib_dirs and not p.is_relative_to(home / ".cache" / "matplotlib")]
    assert written == [] and list(tmp.rglob("*")) == []
