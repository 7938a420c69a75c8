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
    assert printable("line\u2028sep\u200b\ufeff") == "line\\u2028sep\\u200b\\ufeff"
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


def test_ctrl_c_inside_an_extension_modules_initialization_is_an_interrupt(tmp_path: Path, capsys, monkeypatch) -> None:
    """pybind11 (onnxruntime) and matplotlib's extensions turn a KeyboardInterrupt raised while they
    initialize into ``ImportError: initialization failed``: that is still the user's Ctrl-C."""

    def interrupted_import(*args, **kwargs):
        try:
            raise KeyboardInterrupt
        except KeyboardInterrupt as interrupt:
            raise ImportError("initialization failed") from interrupt

    monkeypatch.setattr(api, "compile", interrupted_import)
    assert main([str(EXAMPLE), "-o", str(tmp_path / "out")]) == 130
    assert capsys.readouterr().err == "bnnc: interrupted\n"


def test_a_real_sigint_prints_one_line_and_exits_130(tmp_path: Path) -> None:
    plugin = tmp_path / "slow_plugin.py"
    plugin.write_text("import sys, time\nprint('ready', file=sys.stderr, flush=True)\ntime.sleep(60)\n")
    process = subprocess.Popen([sys.executable, "-m", "bnnc", "--load-plugin", str(plugin), str(EXAMPLE), "-o", str(tmp_path / "out")],
                               stderr=subprocess.PIPE, text=True)
    assert process.stderr.readline() == "ready\n"
    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=30) == 130
    assert process.stderr.read() == "bnnc: interrupted\n"


def test_ctrl_c_while_the_compiler_is_still_being_imported_is_one_line_too(tmp_path: Path) -> None:
    """SIGINT while bnnc.cli's imports run (here held at bnnc.api by an import hook) goes
    through the real entry point: one line, exit 130, no traceback."""
    stall = ("import sys, time\n"
             "class Stall:\n"
             "    def find_spec(self, name, path=None, target=None):\n"
             "        if name == 'bnnc.api':\n"
             "            print('ready', file=sys.stderr, flush=True)\n"
             "            time.sleep(60)\n"
             "sys.meta_path.insert(0, Stall())\n"
             "from bnnc.entry import main\n"
             f"sys.exit(main([{str(EXAMPLE)!r}, '-o', {str(tmp_path / 'out')!r}]))\n")
    process = subprocess.Popen([sys.executable, "-c", stall], stderr=subprocess.PIPE, text=True)
    assert process.stderr.readline() == "ready\n"
    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=30) == 130
    assert process.stderr.read() == "bnnc: interrupted\n"
    assert "numpy" not in subprocess.run([sys.executable, "-c", "import sys, bnnc; print(sorted(sys.modules))"],
                                         capture_output=True, text=True, check=True).stdout


def test_the_cli_starts_without_the_optional_heavy_libraries() -> None:
    """scipy (IR drop), matplotlib (figures), numba (packed kernels, read noise), rich and dask
    load where they are first needed, not on every run's start-up."""
    script = "import sys, bnnc.cli; print(' '.join(sorted(sys.modules)))"
    loaded = set(subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout.split())
    assert not loaded & {"scipy", "matplotlib", "numba", "rich", "dask", "distributed"}


def test_a_parse_error_shows_its_source_line_escaped_and_cut_around_the_caret(tmp_path: Path, capsys) -> None:
    from bnnc.ir.diagnostics import caret_excerpt

    line, caret = caret_excerpt("ab\x1bc?d", 5).split("\n")
    assert line == "ab\\x1bc?d" and line[caret.index("^")] == "?"
    line, caret = caret_excerpt("x" * 500_000 + "?" + "y" * 500_000, 500_001).split("\n")
    assert len(line) < 170 and line.startswith("…") and line.endswith("…") and line[caret.index("^")] == "?"
    bir = tmp_path / "m.bir"
    bir.write_text("module {\n" + " " * 300_000 + "\x1b[31m\n}\n")
    assert main([str(bir)]) == 2
    head, shown, caret_line = capsys.readouterr().err.rstrip("\n").split("\n")
    assert head.endswith("unexpected character '\\x1b'") and len(shown) < 170 and shown[caret_line.index("^"):].startswith("\\x1b")


def test_model_names_are_escaped_in_the_summary_the_remarks_and_report_md(tmp_path: Path, capsys) -> None:
    from tests.models.zoo import ZOO

    model = ZOO["cnn_pad1_stride1"].build()
    for i, node in enumerate(model.graph.node):
        node.name = f"n{i}\x1b[31m\nnext|pipe"
    onnx.save(model, tmp_path / "m.onnx")
    assert main([str(tmp_path / "m.onnx"), "--golden-inputs", "2", "--debug", "-o", str(tmp_path / "out")]) == 0
    captured = capsys.readouterr()
    assert "bnnc: remark:" in captured.err and "n0\\x1b[31m\\nnext|pipe" in captured.out
    assert not any(c in captured.out + captured.err for c in "\x1b\r\x07")
    markdown = (tmp_path / "out" / "report.md").read_text()
    assert "\x1b" not in markdown
    rows = [line for line in markdown.splitlines() if line.startswith("| n")]
    assert len(rows) >= 3 and all(line.count(" | ") == 7 and "next\\|pipe" in line for line in rows)
    assert not any(line.startswith("next") for line in markdown.splitlines()), "a name's newline split a line"


def test_a_bir_file_may_start_with_a_byte_order_mark(tmp_path: Path, capsys) -> None:
    assert main([str(EXAMPLE), "--golden-inputs", "1", "-p", "", "-o", str(tmp_path / "out")]) == 0
    bir = tmp_path / "bom.bir"
    bir.write_bytes(b"\xef\xbb\xbf" + (tmp_path / "out" / "model.bir").read_bytes())
    (tmp_path / "bom.npz").write_bytes((tmp_path / "out" / "model.npz").read_bytes())
    capsys.readouterr()
    assert main([str(bir), "-p", "canonicalize"]) == 0
    assert capsys.readouterr().out.startswith("module @")


def test_model_strings_that_are_not_utf8_give_one_clean_line(tmp_path: Path, capsys) -> None:
    """protobuf hands a string field that is not UTF-8 over as bytes: the model is refused at
    load naming the field (such a node name compiled, then failed writing report.json; such an
    op type raised inside the error's str(): a traceback; found by fuzzing)."""
    from tests.models.zoo import ZOO

    assert printable(b"a\xb3\n") == "a\\xb3\\n"
    model = ZOO["cnn_pad1_stride1"].build()
    model.graph.node[0].name = "NODENAME"
    finn = ZOO["finn_multithreshold_input"].build().SerializeToString()
    for data, where in ((model.SerializeToString().replace(b"NODENAME", b"NODE\xdfAME"), "model.graph.node[0].name"),
                        (finn.replace(b"MultiThreshold", b"\xb3ultiThreshold"), "\\xb3ultiThreshold")):
        (tmp_path / "m.onnx").write_bytes(data)
        assert main([str(tmp_path / "m.onnx"), "-o", str(tmp_path / "out")]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "is not UTF-8" in err and where in err, err


def test_an_error_while_running_the_compiled_model_names_the_model_file(tmp_path: Path, capsys) -> None:
    """A BatchNorm with epsilon NaN makes a sign of NaN in the golden check: the message names
    the model file as well as the op and node (found by the shared onnx_fuzz probe)."""
    from tests.models.zoo import ZOO

    model = ZOO["qonnx_bipolar_cnn"].build()
    norm = next(n for n in model.graph.node if n.op_type == "BatchNormalization")
    kept = [a for a in norm.attribute if a.name != "epsilon"]
    del norm.attribute[:]
    norm.attribute.extend([*kept, onnx.helper.make_attribute("epsilon", float("nan"))])
    onnx.save(model, tmp_path / "m.onnx")
    assert main([str(tmp_path / "m.onnx"), "--golden-inputs", "2", "-o", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"bnnc: error: {tmp_path / 'm.onnx'}: '") and "NaN" in err and err.count("\n") == 1, err


def test_a_failing_pass_names_the_file_it_ran_on(tmp_path: Path, capsys) -> None:
    """A pass option refused by the pass: the one error line names the model, .onnx or .bir."""
    assert main([str(EXAMPLE), "-p", "replicate{max-arrays=-5}", "-o", str(tmp_path / "a")]) == 2
    assert capsys.readouterr().err.startswith(f"bnnc: error: {EXAMPLE}: in pass replicate{{max-arrays=-5}} (the first pass): ")
    assert main([str(EXAMPLE), "-p", "", "-o", str(tmp_path / "bnn"), "--no-check", "-q"]) == 0
    bir = tmp_path / "bnn" / "model.bir"
    assert main([str(bir), "-p", "tile{rows=-1,cols=0}", "-o", str(tmp_path / "b")]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"bnnc: error: {bir}: in pass tile{{rows=-1,cols=0}} (the first pass): ") and err.count("\n") == 1
