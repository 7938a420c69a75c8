"""The promise under bad input and faults, fuzzed (cases in tests/fuzz_cases.py): mutated ONNX
models, mutated .bir text and .npz constants and unusual command lines exit 0, 2 or 3 — never
1 —, a refusal is one line, nothing is written outside ``-o`` and a refused run leaves the
output directory as it was; a kill during the output swap leaves the old directory or the new
one, never a mix (its hidden leftovers the next run removes), and Ctrl-C at any moment is one
line and exit 130.

Seeded: case ``i`` is the same on every run; ``BNNC_FUZZ_SEED=N`` draws other cases. A few
hundred cases run by default, thousands with ``-m slow``."""

from __future__ import annotations

import hashlib
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import onnx
import pytest

from bnnc.ir import staging
from bnnc.ir.parser import read_npz
from tests import fuzz_cases
from tests.models.zoo import ZOO

BASE_SEED = int(os.environ.get("BNNC_FUZZ_SEED", "0"))
EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "bnn_cnn.onnx"
ONNX_SEEDS = ["mlp_sign_w_graph", "cnn_pad1_stride1", "qonnx_bipolar_cnn", "finn_multithreshold_input", "uint8_input_cnn",
              "cnn_pad_value", "mlp_gemm_prebinarized"]
SLOW = pytest.mark.slow


def _rng(kind: str, index: int) -> random.Random:
    return random.Random(f"{BASE_SEED}:{kind}:{index}")


def _cases(default: int, slow: int) -> list:
    return [*range(default), *(pytest.param(i, marks=SLOW) for i in range(default, default + slow))]


def _assert_kept(outcome: fuzz_cases.Outcome, what: str) -> None:
    assert not outcome.broken, f"{what}: {outcome.broken}; exit {outcome.code}; stderr: {outcome.err[-600:]!r}"


@pytest.fixture(scope="module")
def seeds() -> dict[str, bytes]:
    return {name: ZOO[name].build().SerializeToString() for name in ONNX_SEEDS}


def _input(model: onnx.ModelProto) -> tuple[str, list[int]]:
    initializers = {t.name for t in model.graph.initializer}
    graph_input = next(i for i in model.graph.input if i.name not in initializers)
    return graph_input.name, [d.dim_value or 1 for d in graph_input.type.tensor_type.shape.dim]


@pytest.mark.parametrize("index", _cases(120, 1500))
def test_mutated_onnx_models_keep_the_promise(seeds: dict[str, bytes], tmp_path: Path, index: int) -> None:
    rng = _rng("onnx", index)
    name = rng.choice(ONNX_SEEDS)
    if rng.random() < 0.2:
        data, what = fuzz_cases.mutate_bytes(seeds[name], rng), "bytes"
    else:
        model = onnx.load_model_from_string(seeds[name])
        what = "+".join(fuzz_cases.mutate_onnx(model, rng) for _ in range(rng.choice([1, 1, 2, 3])))
        data = model.SerializeToString()
    (tmp_path / "model.onnx").write_bytes(data)
    flags = rng.choice([[], [], ["--scheme", "xnor"], ["--array", "3x5"], ["--sign-zero", "pos"], ["--max-arrays", "4"]])
    argv = [str(tmp_path / "model.onnx"), "--golden-inputs", "2", *flags, "-o", str(tmp_path / "out")]
    _assert_kept(fuzz_cases.judge(argv, tmp_path, tmp_path / "out"), f"{name} {what} {flags}")


@pytest.mark.parametrize("index", _cases(80, 800))
def test_unusual_command_lines_keep_the_promise(seeds: dict[str, bytes], tmp_path: Path, index: int) -> None:
    rng = _rng("cli", index)
    name = rng.choice(["mlp_sign_w_graph", "uint8_input_cnn", "cnn_pad1_stride1"])
    (tmp_path / "model.onnx").write_bytes(seeds[name])
    input_name, shape = _input(onnx.load_model_from_string(seeds[name]))
    out = fuzz_cases.output_target(rng, tmp_path)
    flags, allowed = fuzz_cases.cli_flags(rng, tmp_path, input_name, shape)
    argv = [str(tmp_path / "model.onnx"), "--golden-inputs", "2", *flags, "-o", str(out)]
    _assert_kept(fuzz_cases.judge(argv, tmp_path, out, allowed), f"{name} {flags}")


@pytest.fixture(scope="module")
def bir_seeds(tmp_path_factory) -> list[tuple[str, dict]]:
    """(text, constants) of final IR and of un-lowered bnn IR, as bnnc itself writes them."""
    from bnnc.cli import main

    directory = tmp_path_factory.mktemp("bir")
    found = []
    for name in ("cnn_pad1_stride1", "mlp_sign_w_graph"):
        onnx.save(ZOO[name].build(), directory / f"{name}.onnx")
        for pipeline in (None, ""):
            out = directory / f"{name}-{pipeline is None}"
            assert main([str(directory / f"{name}.onnx"), "--golden-inputs", "1", "-o", str(out),
                         *(["-p", pipeline] if pipeline is not None else [])]) == 0
            constants = read_npz(out / "model.npz") if (out / "model.npz").exists() else {}
            found.append(((out / "model.bir").read_text(), constants))
    return found


@pytest.mark.parametrize("index", _cases(100, 1200))
def test_mutated_bir_and_npz_keep_the_promise(bir_seeds: list[tuple[str, dict]], tmp_path: Path, index: int) -> None:
    rng = _rng("bir", index)
    text, constants = rng.choice(bir_seeds)
    model = tmp_path / "in" / "model.bir"
    model.parent.mkdir()
    mutate_text, mutate_constants = rng.random() < 0.7, rng.random() < 0.4
    raw = fuzz_cases.mutate_bir(text, rng) if mutate_text else text
    encoded = raw.encode("utf-8", "surrogatepass")  # a lone surrogate is one of the mutations: invalid UTF-8
    model.write_bytes(encoded if rng.random() < 0.9 else fuzz_cases.mutate_bytes(encoded, rng))
    if constants or mutate_constants:
        data = fuzz_cases.mutate_npz(constants, rng) if mutate_constants else fuzz_cases._whole_npz(constants)
        if data is not None:
            (model.parent / "model.npz").write_bytes(data)
    pipeline = rng.choice([[], [], ["-p", "canonicalize,dce"], ["-p", "tile{rows=2,cols=2},dce"], ["-p", "no-such-pass"],
                           ["-p", "tile{rows=99999999999999999999,cols=2}"], ["--json"]])
    out = tmp_path / "out"
    argv = [str(model), *pipeline, *(["-o", str(out)] if rng.random() < 0.7 else [])]
    _assert_kept(fuzz_cases.judge(argv, tmp_path, out), f"text {mutate_text} npz {mutate_constants} {pipeline}")


# ----------------------------------------------------------------------------------- kills

_SLOWED = """
import sys, time
from bnnc.ir import atomic
write = atomic._write_new
def slowed(path, data):
    print("writing", file=sys.stderr, flush=True)
    write(path, data)
    time.sleep(0.03)
atomic._write_new = slowed
print("ready", file=sys.stderr, flush=True)
from bnnc.entry import main
sys.exit(main(sys.argv[1:]))
"""


def _digests(out: Path) -> dict[str, str]:
    return {str(p.relative_to(out)): hashlib.sha1(p.read_bytes()).hexdigest() for p in sorted(out.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def old_and_new(tmp_path_factory) -> tuple[Path, dict[str, str], dict[str, str]]:
    """The example compiled with refcol (the old output) and with xnor (the new one)."""
    from bnnc.cli import main

    directory = tmp_path_factory.mktemp("kills")
    found = []
    for scheme in ("refcol", "xnor"):
        assert main([str(EXAMPLE), "--golden-inputs", "1", "--scheme", scheme, "-o", str(directory / scheme)]) == 0
        found.append(_digests(directory / scheme))
    return directory / "refcol", *found


def _start(tmp_path: Path, *args: str) -> subprocess.Popen:
    process = subprocess.Popen([sys.executable, "-c", _SLOWED, str(EXAMPLE), "--golden-inputs", "1", "--quiet", *args],
                               cwd=tmp_path, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
    assert process.stderr.readline() == "ready\n"
    return process


def _comparable(digests: dict[str, str]) -> dict[str, str]:
    """Digests of the files whose content is the same on every run (no timings)."""
    return {name: digest for name, digest in digests.items() if name in ("model.bir", "model.npz", "schedule.json")}


@pytest.mark.parametrize("index", _cases(3, 40))
def test_a_kill_during_the_output_swap_leaves_old_or_new(old_and_new, tmp_path: Path, index: int) -> None:
    old_dir, old, new = old_and_new
    out = tmp_path / "out"
    subprocess.run(["cp", "-a", str(old_dir), str(out)], check=True)
    process = _start(tmp_path, "--scheme", "xnor", "-o", str(out))
    assert process.stderr.readline() == "writing\n"
    time.sleep(_rng("kill", index).uniform(0, 0.3))
    process.kill()
    process.wait(timeout=30)
    found = _digests(out)
    assert set(found) in (set(old), set(new)), f"a mix: {sorted(found)}"
    assert _comparable(found) in (_comparable(old), _comparable(new)), "files of both runs"
    if _comparable(found) == _comparable(old):
        assert found == old, "the old directory, changed"
    else:
        assert json.loads((out / "report.json").read_text())["layers"], "the new directory, incomplete"
    strays = [p for p in tmp_path.iterdir() if p.name.startswith(".out.")]
    assert all(p.name.endswith((".new", ".old")) for p in strays), strays
    for stray in strays:  # as the next run finds them, a while later
        os.utime(stray, (0, 0))
    staging.remove_stale_siblings(out)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out.")], "a killed run's leftovers stay"


@pytest.mark.parametrize("index", _cases(3, 40))
def test_ctrl_c_at_any_moment_is_one_line_and_exit_130(tmp_path: Path, index: int) -> None:
    out = tmp_path / "out"
    process = _start(tmp_path, "-o", str(out))
    time.sleep(_rng("sigint", index).uniform(0, 1.5))
    process.send_signal(signal.SIGINT)
    code = process.wait(timeout=60)
    err = process.stderr.read()
    if code == 130:
        assert err.replace("writing\n", "") == "bnnc: interrupted\n"
        assert not out.exists() or _digests(out).keys() >= {"report.json", "model.bir", "trace.json"}
    else:
        assert code == 0, err  # finished before the signal
    assert sorted(p.name for p in tmp_path.iterdir()) in ([], ["out"])
