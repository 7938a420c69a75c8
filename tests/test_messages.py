"""Errors stay one line: a model's own strings are escaped and capped, warnings are folded
into the error line, and Ctrl-C prints one line and exits 130."""

from __future__ import annotations

import signal
import subprocess
import sys
import warnings
from pathlib import Path

import onnx
from onnx import TensorProto, helper

from bnnc import api
from bnnc.cli import main
from bnnc.errors import BnncError
from bnnc.ir.diagnostics import printable

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "bnn_cnn.onnx"


def _unsupported_model(path: Path, node_name: str) -> Path:
    node = helper.make_node("Frobnicate", ["x"], ["y"], name=node_name, domain="evil\x1b]0;title\x07")
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13), helper.make_opsetid("evil\x1b]0;title\x07", 1)])
    onnx.save(model, path)
    return path


def test_printable_escapes_controls_and_caps_length() -> None:
    assert printable("a\nb\x1b[31m\u202e") == "a\\nb\\x1b[31m\\u202e"
    capped = printable("x" * 500, 80)
    assert len(capped) == 80 and capped.endswith("…")


def test_a_node_name_with_newlines_and_escapes_gives_one_clean_line(tmp_path: Path, capsys) -> None:
    model = _unsupported_model(tmp_path / "m.onnx", "line1\nline2\x1b[31mred" + "n" * 5000)
    assert main([str(model), "-o", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "\x1b" not in err and "\x07" not in err
    assert "line1\\nline2\\x1b[31mred" in err and len(err) < 3000


def test_warnings_are_folded_into_the_error_line(tmp_path: Path, capsys, monkeypatch) -> None:
    def warn_then_fail(*args, **kwargs):
        warnings.warn("invalid value encountered in multiply", RuntimeWarning)
        raise BnncError("the model is bad")

    monkeypatch.setattr(api, "compile", warn_then_fail)
    assert main([str(EXAMPLE), "-o", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err == "bnnc: error: the model is bad (after warnings: invalid value encountered in multiply)\n"


def test_ctrl_c_prints_one_line_and_exits_130(tmp_path: Path, capsys, monkeypatch) -> None:
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(api, "compile", interrupted)
    assert main([str(EXAMPLE), "-o", str(tmp_path / "out")]) == 130
    assert capsys.readouterr().err == "bnnc: interrupted\n"
    assert not (tmp_path / "out").exists()


def test_a_real_sigint_prints_one_line_and_exits_130(tmp_path: Path) -> None:
    plugin = tmp_path / "slow_plugin.py"
    plugin.write_text("import sys, time\nprint('ready', file=sys.stderr, flush=True)\ntime.sleep(60)\n")
    process = subprocess.Popen([sys.executable, "-m", "bnnc", "--load-plugin", str(plugin), str(EXAMPLE), "-o", str(tmp_path / "out")],
                               stderr=subprocess.PIPE, text=True)
    assert process.stderr.readline() == "ready\n"
    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=30) == 130
    assert process.stderr.read() == "bnnc: interrupted\n"
