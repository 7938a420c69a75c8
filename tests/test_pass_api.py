"""The pass API as the README shows it: a user's own module registers a pass that runs from a
pipeline string, through the CLI and through Python."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from bnnc.cli import main
from bnnc.ir import parse_module, print_module
from bnnc.passes import (
    Pass,
    PassContext,
    PassError,
    PassManager,
    PipelineError,
    load_plugin,
    parse_pipeline,
    register_pass,
    registered_passes,
)

README = Path(__file__).resolve().parents[1] / "README.md"

MODULE = """module {
  const @w : pm1<2x3> = dense<[1, -1, 1, 1, 1, -1]>
  const @one : f32<> = dense<[1.0]>
  func @main(%x: f32<1x3>) -> (f32<1x2>) {
    %a = bnn.sign %x {zero = "pos"} : f32<1x3> -> pm1<1x3> loc("Sign_0")
    %b = bnn.dense %a, @w : pm1<1x3> -> i32<1x2> loc("MatMul_0")
    %c = bnn.mul %b, @one : i32<1x2> -> f32<1x2> loc("Mul_0")
    %d = bnn.mul %c, @one : f32<1x2> -> f32<1x2> loc("Mul_1")
    return %d : f32<1x2>
  }
}
"""


def readme_plugin() -> str:
    """The ``my_passes.py`` code block of the README, verbatim."""
    text = README.read_text()
    block = re.search(r"```python\n# my_passes.py\n(.*?)```", text, re.S)
    assert block, "the README must show my_passes.py"
    return block.group(1)


@pytest.fixture
def plugin(tmp_path: Path) -> Path:
    path = tmp_path / "my_passes.py"
    path.write_text(readme_plugin())
    return path


def test_readme_plugin_runs_from_the_cli(plugin: Path, tmp_path: Path, capsys) -> None:
    bir = tmp_path / "model.bir"
    bir.write_text(MODULE)
    code = main([str(bir), "--load-plugin", str(plugin), "-p", "drop-mul-by-one,dce", "--print-ir-after=all"])
    out, err = capsys.readouterr()
    assert code == 0
    assert "IR Dump After drop-mul-by-one" in err and "IR Dump After dce" in err
    # the f32 -> f32 multiplication by one is gone, the i32 -> f32 one stays
    assert 'loc("Mul_1")' not in out and 'loc("Mul_0")' in out
    assert "drop-mul-by-one" in registered_passes()


def test_readme_plugin_runs_from_python(plugin: Path) -> None:
    load_plugin(str(plugin))
    module = parse_module(MODULE)
    context = PassManager.from_pipeline("drop-mul-by-one,dce").run(module, PassContext(debug=True))
    assert [op.name for op in module.function().ops] == ["bnn.sign", "bnn.dense", "bnn.mul", "return"]
    assert any("not a type-preserving multiplication by 1" in r for r in context.remarks)


def test_readme_test_command_is_what_ci_runs() -> None:
    ci = (Path(__file__).resolve().parents[1] / ".ci" / "run").read_text()
    command = "python -m pip install -e '.[test]' && python -m pytest -q"
    assert command in README.read_text() and command in ci


@register_pass
class _Rename(Pass):
    """Test pass: set the module name."""

    name = "test-rename"
    new_name: str = "renamed"
    times: int = 1
    loud: bool = False

    def run(self, module, context) -> None:
        module.name = self.new_name * self.times
        if self.loud:
            context.remark(module.name)


@register_pass
class _Break(Pass):
    """Test pass: leave a dangling constant reference behind."""

    name = "test-break"

    def run(self, module, context) -> None:
        module.function().ops[0].consts.append("nowhere")


def test_pipeline_options_are_typed() -> None:
    (p,) = parse_pipeline("test-rename{new-name=ab, times=2, loud=true}")
    assert (p.new_name, p.times, p.loud) == ("ab", 2, True)
    assert p.describe() == "test-rename{new-name=ab,times=2,loud=true}"


@pytest.mark.parametrize(
    "pipeline, message",
    [
        ("nope", "unknown pass 'nope'"),
        ("test-rename{times=x}", "expected an integer"),
        ("test-rename{loud=maybe}", "expected true or false"),
        ("test-rename{colour=red}", "has no option 'colour'"),
        ("test-rename{times=1", "expected ',' or '}'"),
        ("dce,", "expected a pass name"),
    ],
)
def test_bad_pipelines_name_the_column(pipeline: str, message: str) -> None:
    with pytest.raises(PipelineError, match=re.escape(message)) as info:
        parse_pipeline(pipeline)
    assert str(info.value).startswith("pipeline:1:")


def test_verification_after_each_pass_names_the_pass_and_its_predecessors() -> None:
    module = parse_module(MODULE)
    with pytest.raises(PassError, match=r"in pass test-break \(after passes dce, test-rename\): .*undefined constant @nowhere|in pass test-break \(after passes dce, test-rename\)"):
        PassManager.from_pipeline("dce,test-rename,test-break").run(module)


def test_print_ir_after_change_and_timing(tmp_path: Path, capsys) -> None:
    bir = tmp_path / "m.bir"
    bir.write_text(MODULE)
    assert main([str(bir), "-p", "dce,test-rename", "--print-ir-after-change", "--time-passes", "--emit", "none"]) == 0
    err = capsys.readouterr().err
    assert "IR Dump After test-rename (changed)" in err and "IR Dump After dce" not in err
    assert "pass execution timing" in err


def test_list_passes_and_version_in_a_subprocess() -> None:
    listed = subprocess.run([sys.executable, "-m", "bnnc", "--list-passes"], capture_output=True, text=True, check=True)
    assert "canonicalize" in listed.stdout and "dce" in listed.stdout
    version = subprocess.run([sys.executable, "-m", "bnnc", "--version"], capture_output=True, text=True, check=True)
    assert version.stdout.startswith("bnnc ")


def test_malformed_bir_exits_2_with_position(tmp_path: Path, capsys) -> None:
    bir = tmp_path / "bad.bir"
    bir.write_text("module {\n  func @main() -> () {\n    return %nope\n  }\n}\n")
    assert main([str(bir)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"{bir}:3:12: error: use of undefined value %nope") and "Traceback" not in err


def test_bir_round_trips_unchanged_through_the_cli(tmp_path: Path, capsys) -> None:
    bir = tmp_path / "m.bir"
    bir.write_text(print_module(parse_module(MODULE)))
    assert main([str(bir), "--emit", "ir"]) == 0
    assert capsys.readouterr().out == bir.read_text()
