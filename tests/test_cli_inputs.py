"""User inputs are validated before anything runs: one line, exit 2, nothing wrapped, rounded
or clipped silently (the cases ../shared/probes/cli_inputs_probe.py found)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest

from bnnc.cli import main
from tests.models.zoo import ZOO


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict[str, Path]:
    directory = tmp_path_factory.mktemp("models")
    paths = {}
    for name in ("mlp_sign_w_graph", "uint8_input_cnn"):
        paths[name] = directory / f"{name}.onnx"
        onnx.save(ZOO[name].build(), paths[name])
    return paths


def _input(path: Path) -> tuple[str, list[int]]:
    (graph_input,) = [i for i in onnx.load(path).graph.input if i.name not in {t.name for t in onnx.load(path).graph.initializer}]
    return graph_input.name, [d.dim_value for d in graph_input.type.tensor_type.shape.dim]


CASES = {
    "wrong key": lambda name, shape: {"nope": np.zeros(shape, np.float32)},
    "string array": lambda name, shape: {name: np.full(shape, "a")},
    "complex": lambda name, shape: {name: np.zeros(shape, np.complex64)},
    "NaN": lambda name, shape: {name: np.full(shape, np.nan, np.float32)},
    "zero samples": lambda name, shape: {name: np.zeros([0] + shape[1:], np.float32)},
    "wrong shape": lambda name, shape: {name: np.zeros(shape[:-1] + [shape[-1] + 1], np.float32)},
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input_arrays_exit_2_with_one_line(models: dict[str, Path], tmp_path: Path, capsys, case: str) -> None:
    model = models["mlp_sign_w_graph"]
    np.savez(tmp_path / "in.npz", **CASES[case](*_input(model)))
    assert main([str(model), "--inputs", str(tmp_path / "in.npz"), "-o", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "internal error" not in err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("values, dtype", [([300, -1], np.int64), ([-5, 3], np.int8), ([0.5, 2.0], np.float64)])
def test_integer_inputs_are_not_wrapped(models: dict[str, Path], tmp_path: Path, capsys, values, dtype) -> None:
    model = models["uint8_input_cnn"]
    name, shape = _input(model)
    data = np.resize(np.asarray(values, dtype), shape)
    np.savez(tmp_path / "in.npz", **{name: data})
    assert main([str(model), "--inputs", str(tmp_path / "in.npz"), "-o", str(tmp_path / "out")]) == 2
    assert "uint8" in capsys.readouterr().err


def test_files_that_are_not_npz_archives(models: dict[str, Path], tmp_path: Path, capsys) -> None:
    model = models["mlp_sign_w_graph"]
    np.save(tmp_path / "array.npy", np.zeros(3))
    (tmp_path / "array.npy").rename(tmp_path / "fake.npz")
    (tmp_path / "corrupt.npz").write_bytes(b"PK\x03\x04" + b"\x00" * 40)
    for path in ("fake.npz", "corrupt.npz"):
        assert main([str(model), "--inputs", str(tmp_path / path), "-o", str(tmp_path / "out")]) == 2
        assert "expected an .npz written by numpy.savez" in capsys.readouterr().err


@pytest.mark.parametrize("flags", [["--max-arrays", "-1"], ["--target-fps", "-1"], ["--target-fps", "nan"],
                                   ["--target-fps", "inf"], ["--golden-inputs", "0"], ["--golden-inputs", "-1"],
                                   ["-p", "sign-convert,tile{rows=1,cols=1}"]])
def test_bad_options_exit_2(models: dict[str, Path], tmp_path: Path, capsys, flags: list[str]) -> None:
    assert main([str(models["mlp_sign_w_graph"]), *flags, "-o", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "internal error" not in err


def test_saved_outputs_keep_names_that_savez_would_take_for_its_own(tmp_path: Path) -> None:
    """--save-outputs writes member by member: an output named like one of np.savez's own
    parameters ("file") is kept, and reads back under its name."""
    from bnnc.ir.parser import npz_bytes, read_npz

    (tmp_path / "o.npz").write_bytes(npz_bytes({"file": np.arange(3), "x.npy": np.ones(2)}))
    arrays = read_npz(tmp_path / "o.npz")
    assert sorted(arrays) == ["file", "x.npy"] and arrays["file"].tolist() == [0, 1, 2]


def test_huge_input_shapes_are_refused(models: dict[str, Path], tmp_path: Path, capsys) -> None:
    """A dimension protobuf cannot hold, and an input whose zeros the loader would allocate
    (40 GB, over the tensor size limit) on a model that takes any image size (found by fuzzing)."""
    from tests.models.zoo import BAD

    onnx.save(BAD["dynamic_shape"].build(), tmp_path / "dynamic.onnx")
    for model, dims, message in ((models["mlp_sign_w_graph"], "1x" + "9" * 30, "below 2^63"),
                                 (tmp_path / "dynamic.onnx", "1x1x100000x100000", "--max-tensor-mb 38147")):
        assert main([str(model), "--input-shape", f"input={dims}", "-o", str(tmp_path / "out")]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and message in err and "internal error" not in err, err


def test_an_npz_member_declaring_more_data_than_it_holds_is_refused_unread(models: dict[str, Path], tmp_path: Path, capsys) -> None:
    """A 200-byte member whose header declares 2^40 float32 (4 TiB): refused from its size,
    before numpy allocates what the header says (found by the shared bir_fuzz probe)."""
    import io
    import zipfile

    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, np.zeros(1, np.float32))
    member = buffer.getvalue().replace(b"(1,)", b"(1099511627776,)")
    with zipfile.ZipFile(tmp_path / "in.npz", "w") as archive:
        archive.writestr(f"{_input(models['mlp_sign_w_graph'])[0]}.npy", member)
    assert main([str(models["mlp_sign_w_graph"]), "--inputs", str(tmp_path / "in.npz"), "-o", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "declares float32[1099511627776]" in err and "allocate" not in err and err.count("\n") == 1
