"""The command line's progress and logs, IR instrumentation flags, pipeline extension, the
single simulator run behind --save-outputs, and the small print details (plurals, title)."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import numpy as np
import pytest

from bnnc import api
from bnnc.cli import main
from bnnc.frontend.reference import run_reference
from bnnc.frontend.loader import read_model
from bnnc.ir.parser import read_npz
from bnnc.progress import Progress
from tests.test_report import small_model

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "bnn_cnn.onnx"
FAST = ["--no-figures", "--golden-inputs", "2"]


def test_one_plain_line_per_long_phase_off_a_terminal(tmp_path: Path, capsys, monkeypatch) -> None:
    """Every phase of this run takes 2 s by the progress clock: each says one line."""
    ticks = iter(range(0, 10_000, 2))
    monkeypatch.setattr("bnnc.progress.clock", lambda: float(next(ticks)))
    assert main([str(EXAMPLE), "-o", str(tmp_path / "a"), *FAST]) == 0
    err = capsys.readouterr().err.splitlines()
    phases = [line for line in err if line.startswith("bnnc: ") and " done in " in line]
    assert phases == ["bnnc: load done in 2.00 s", "bnnc: passes (8 of 8 steps) done in 2.00 s",
                      "bnnc: golden check done in 2.00 s", "bnnc: report done in 2.00 s", "bnnc: write done in 2.00 s"]


def test_short_phases_say_nothing_so_an_error_stays_one_line(monkeypatch) -> None:
    clock = iter([0.0, 0.4, 0.4, 2.9, 2.9, 3.0])  # load 0.4 s, passes 2.5 s, report 0.1 s
    monkeypatch.setattr("bnnc.progress.clock", lambda: next(clock))
    stream = io.StringIO()
    progress = Progress.for_run(False, stream)
    assert progress.mode == "plain"
    progress.start("load")
    progress.start("passes", 2)
    progress.advance()
    progress.advance()
    progress.run("report", lambda: None)
    assert stream.getvalue() == "bnnc: passes (2 of 2 steps) done in 2.50 s\n"


def test_quiet_prints_nothing(tmp_path: Path, capsys) -> None:
    assert main([str(EXAMPLE), "-o", str(tmp_path / "b"), *FAST, "--quiet"]) == 0
    assert capsys.readouterr() == ("", "")


def test_a_terminal_gets_a_progress_display() -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    stream = Terminal()
    progress = Progress.for_run(False, stream)
    assert progress.mode == "rich"
    progress.start("passes", 3)
    for label in ("tile", "dce"):
        progress.advance(label)
    progress.advance()
    progress.run("golden check", lambda: None)
    progress.close()
    text = stream.getvalue()
    assert "passes" in text and "3/3" in text and "golden check" in text
    assert Progress.for_run(True, stream).mode == "off"


def test_an_unknown_pass_to_print_is_an_error(tmp_path: Path, capsys) -> None:
    assert main([str(EXAMPLE), "-o", str(tmp_path / "out"), "--print-ir-after", "tile,tiel"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "--print-ir-after: unknown pass 'tiel'" in err and "sign-convert" in err
    assert not (tmp_path / "out").exists()


FAILING_PLUGIN = '''
from bnnc.passes import Pass, register_pass

@register_pass
class Explode(Pass):
    """Fail on purpose."""
    name = "explode"
    def run(self, module, context):
        raise ValueError("boom")
'''


def test_print_ir_after_failure_and_append_pass(tmp_path: Path, capsys) -> None:
    plugin = tmp_path / "explode_plugin.py"
    plugin.write_text(FAILING_PLUGIN)
    argv = [str(EXAMPLE), "-o", str(tmp_path / "out"), "--load-plugin", str(plugin), *FAST]
    assert main([*argv, "--append-pass", "explode", "--print-ir-after-failure"]) == 2
    err = capsys.readouterr().err
    assert "// -----// IR Dump After explode Failed //----- //" in err and "xbar.mvm" in err  # after the default pipeline
    assert "in pass explode (after passes canonicalize" in err
    assert main([*argv, "-p", "+explode"]) == 2
    assert "IR Dump" not in capsys.readouterr().err


def test_plus_pipeline_extends_the_default_one_with_its_tuning(tmp_path: Path, capsys) -> None:
    assert main([str(EXAMPLE), "-o", str(tmp_path / "a"), *FAST, "-q", "--scheme", "refcol", "-p", "+dce"]) == 0
    assert main([str(EXAMPLE), "-o", str(tmp_path / "b"), *FAST, "-q", "--scheme", "refcol", "--append-pass", "dce"]) == 0
    expected = api.default_pipeline(scheme="refcol") + ",dce"
    for out in ("a", "b"):
        assert json.loads((tmp_path / out / "report.json").read_text())["pipeline"] == expected


def test_dump_ir_writes_one_numbered_file_per_pass(tmp_path: Path) -> None:
    assert main([str(EXAMPLE), "-o", str(tmp_path / "out"), "--dump-ir", str(tmp_path / "dump"), *FAST, "-q"]) == 0
    files = sorted(p.name for p in (tmp_path / "dump").iterdir())
    assert files == ["00-input.bir", "01-canonicalize.bir", "02-fuse-bn-binarize.bir", "03-canonicalize.bir",
                     "04-pool-to-bits.bir", "05-sign-convert.bir", "06-canonicalize.bir", "07-tile.bir", "08-dce.bir"]
    first = (tmp_path / "dump" / "00-input.bir").read_text()
    assert "bnn.conv" in first and "xbar." not in first
    last = (tmp_path / "dump" / "08-dce.bir").read_text()
    assert "xbar.mvm" in last and "bnn.conv " not in last


def test_time_passes_on_an_onnx_model(tmp_path: Path, capsys) -> None:
    assert main([str(EXAMPLE), "-o", str(tmp_path / "out"), "--time-passes", *FAST, "-q"]) == 0
    err = capsys.readouterr().err
    assert "pass execution timing" in err and "sign-convert" in err and "total" in err


def test_save_outputs_reuses_the_golden_checks_run(tmp_path: Path, monkeypatch) -> None:
    """With --inputs and --save-outputs the golden check's simulation is saved (one run), and
    what is saved is what onnxruntime computes on the source model."""
    calls = []
    simulate = api.Compilation.simulate
    monkeypatch.setattr(api.Compilation, "simulate", lambda self, x: calls.append(1) or simulate(self, x))
    x = {"image": np.random.default_rng(0).random((3, 1, 28, 28)).astype(np.float32)}
    np.savez(tmp_path / "in.npz", **x)
    argv = [str(EXAMPLE), "--inputs", str(tmp_path / "in.npz"), "--no-figures", "-q"]
    assert main([*argv, "-o", str(tmp_path / "a"), "--save-outputs", str(tmp_path / "a.npz")]) == 0
    assert calls == []
    saved = read_npz(tmp_path / "a.npz")
    reference = run_reference(read_model(EXAMPLE), x)
    assert saved.keys() == reference.keys() and all(np.array_equal(saved[k], reference[k]) for k in saved)
    old = os.umask(0o022)
    try:
        assert main([*argv, "-o", str(tmp_path / "b"), "--save-outputs", str(tmp_path / "b.npz"), "--no-check"]) == 0
    finally:
        os.umask(old)
    assert calls == [1] and (tmp_path / "b.npz").stat().st_mode & 0o777 == 0o644


def test_plurals_title_and_readme(tmp_path: Path, capsys) -> None:
    small_model(tmp_path / "small.onnx")
    assert main([str(tmp_path / "small.onnx"), "-o", str(tmp_path / "out"), "--golden-inputs", "2"]) == 0
    out = capsys.readouterr().out
    assert "\n1 array (" in out and "1 arrays" not in out
    page = (tmp_path / "out" / "report.html").read_text()
    assert "<title>bnnc report: small.onnx</title>" in page and "<h1>bnnc report: small.onnx</h1>" in page
    assert "1 arrays" not in page and "1 arrays" not in (tmp_path / "out" / "trace.json").read_text()
    assert "-p ''" in (ROOT / "README.md").read_text()


@pytest.mark.parametrize("flag", ["--print-ir-before", "--print-ir-after"])
def test_all_and_known_names_are_accepted(tmp_path: Path, capsys, flag: str) -> None:
    assert main([str(EXAMPLE), "-o", str(tmp_path / "out"), f"{flag}=all", *FAST, "-q"]) == 0
    assert "IR Dump" in capsys.readouterr().err


def test_counts_are_pluralized() -> None:
    from bnnc.ir.diagnostics import plural
    from bnnc.report_writers import golden_text

    assert [plural(n, "array") for n in (0, 1, 2)] == ["0 arrays", "1 array", "2 arrays"]
    assert "on 1 input (" in golden_text({"inputs": 1, "exact": True, "max_abs_err": 0.0, "sign_zero_events": 0})
