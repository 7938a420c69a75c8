"""Tests for the model zoo (tests/models/zoo.py): every good model is valid ONNX
and runs in the reference, builds are deterministic, the tie model really
produces Sign(0) = 0, and the bad models are well-formed enough that bnnc, not
the ONNX checker, has to refuse them."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from bnnc.frontend.errors import UnsupportedModelError
from bnnc.frontend.reference import reference_session, run_reference
from bnnc.frontend.standardize import standardize
from tests.models.zoo import BAD, TIE_CHANNELS, ZOO, ZooModel, sample_inputs, write_all


@pytest.mark.parametrize("name", list(ZOO))
def test_good_model_checks_and_runs(name: str) -> None:
    entry = ZOO[name]
    model = entry.build()
    onnx.checker.check_model(standardize(model), full_check=True)
    inputs = sample_inputs(entry, 3, seed=0)
    outputs = run_reference(model, inputs)
    assert list(outputs) == [o.name for o in model.graph.output]
    for value in outputs.values():
        assert value.shape[0] == 3
        assert np.all(np.isfinite(value))


@pytest.mark.parametrize("name", [*ZOO, *BAD])
def test_build_is_deterministic(name: str) -> None:
    entry = {**ZOO, **BAD}[name]
    assert entry.build().SerializeToString() == entry.build().SerializeToString()


@pytest.mark.parametrize("name", [*ZOO, *BAD])
def test_sample_inputs_have_the_right_kind(name: str) -> None:
    entry = {**ZOO, **BAD}[name]
    inputs = sample_inputs(entry, 4, seed=1)
    for key, value in sample_inputs(entry, 4, seed=1).items():
        np.testing.assert_array_equal(value, inputs[key])
    (value,) = inputs.values()
    assert value.shape[0] == 4
    if entry.input_kind == "pm1":
        assert value.dtype == np.float32 and set(np.unique(value)) == {-1.0, 1.0}
    elif entry.input_kind == "uint8":
        assert value.dtype in (np.uint8, np.float32)
        assert np.array_equal(value, np.round(value)) and value.min() >= 0 and value.max() <= 255
    else:
        assert entry.input_kind == "real" and value.dtype == np.float32
        if entry.input_zero is not None:
            hits = (value == np.float32(entry.input_zero)).reshape(4, -1)
            assert hits.any(axis=1).all()  # every sample meets the binarizer's zero


def test_zoo_entries_are_consistent() -> None:
    assert not set(ZOO) & set(BAD)
    for name, entry in {**ZOO, **BAD}.items():
        assert entry.name == name and entry.description
        assert entry.input_kind in ("real", "uint8", "pm1")
    assert all(e.error is None for e in ZOO.values())
    assert all(e.error for e in BAD.values())
    assert len({e.error for e in BAD.values()}) == len(BAD)


def test_uint8_model_takes_uint8() -> None:
    (value,) = sample_inputs(ZOO["uint8_input_cnn"], 2, seed=0).values()
    assert value.dtype == np.uint8


def _batchnorms(model: onnx.ModelProto) -> list[list[np.ndarray]]:
    """[gamma, beta, mean, var] of every BatchNormalization node."""
    values = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    return [[values[i] for i in n.input[1:5]] for n in model.graph.node if n.op_type == "BatchNormalization"]


def test_batchnorm_parameters_are_sensible() -> None:
    params = [p for entry in ZOO.values() for p in _batchnorms(entry.build())]
    gammas = np.concatenate([p[0] for p in params])
    assert (gammas < 0).any() and (gammas == 0).any()
    for gamma, beta, _, var in params:
        assert np.all(var > 0)
        assert np.all(beta[gamma == 0] != 0)  # a zero gamma gives a constant, non-tie Sign


def _bn_at_integers(gamma, beta, mean, var, bound: int) -> np.ndarray:
    """onnxruntime's BatchNormalization on y = -bound..bound for every channel:
    rows are y, columns channels."""
    node = helper.make_node("BatchNormalization", ["y", "g", "b", "m", "v"], ["z"], epsilon=1e-5)
    inits = [numpy_helper.from_array(a, n) for a, n in zip((gamma, beta, mean, var), "gbmv")]
    graph = helper.make_graph(
        [node], "bn", [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", len(gamma)])],
        [helper.make_tensor_value_info("z", TensorProto.FLOAT, None)], inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], ir_version=7)
    ys = np.arange(-bound, bound + 1, dtype=np.float32)
    return reference_session(model).run(None, {"y": np.repeat(ys[:, None], len(gamma), axis=1)})[0]


def test_tie_unreachable_model_has_no_integer_tie() -> None:
    for params, fan_in in zip(_batchnorms(ZOO["cnn_sign_tie_unreachable"].build()), (27, 72)):
        assert np.all(_bn_at_integers(*params, fan_in) != 0)


def test_tie_reachable_model_ties_where_documented() -> None:
    first = _batchnorms(ZOO["cnn_sign_tie_reachable"].build())[0]
    z = _bn_at_integers(*first, 27)
    for channel, mean in zip(TIE_CHANNELS, (5, 4, 27)):
        assert z[27 + mean, channel] == 0.0
    assert np.count_nonzero(z == 0) == len(TIE_CHANNELS)


def _with_first_sign_as_output(entry: ZooModel) -> tuple[onnx.ModelProto, str, np.ndarray]:
    model = entry.build()
    sign = next(n for n in model.graph.node if n.op_type == "Sign")
    model.graph.output.append(helper.make_tensor_value_info(sign.output[0], TensorProto.FLOAT, None))
    conv = next(n for n in model.graph.node if n.op_type == "Conv")
    weights = next(numpy_helper.to_array(t) for t in model.graph.initializer if t.name == conv.input[1])
    return model, sign.output[0], weights


def test_tie_model_really_produces_sign_zero() -> None:
    model, sign, w = _with_first_sign_as_output(ZOO["cnn_sign_tie_reachable"])
    x = np.ones((1, 3, 8, 8), np.float32)
    # channel 0, interior output (3, 3): window rows/cols 2..4, all 27 taps; 27 - 2*11 = 5
    patch = w[0].copy()
    patch.reshape(-1)[:11] *= -1
    x[0, :, 2:5, 2:5] = patch
    # channel 1, corner output (0, 0): taps w[:, 1:, 1:] see rows/cols 0..1; 12 - 2*4 = 4
    patch = w[1][:, 1:, 1:].copy()
    patch.reshape(-1)[:4] *= -1
    x[0, :, 0:2, 0:2] = patch
    # channel 2, interior output (6, 6): window rows/cols 5..7 equal to the kernel: 27
    x[0, :, 5:8, 5:8] = w[2]
    out = run_reference(model, {"input": x})[sign]
    assert out[0, 0, 3, 3] == 0.0 and out[0, 1, 0, 0] == 0.0 and out[0, 2, 6, 6] == 0.0


def test_real_input_zeros_gives_a_ternary_input() -> None:
    entry = ZOO["real_input_zeros"]
    model, sign, _ = _with_first_sign_as_output(entry)
    out = run_reference(model, sample_inputs(entry, 2, seed=0))[sign]
    assert set(np.unique(out)) == {-1.0, 0.0, 1.0}


@pytest.mark.parametrize("name", list(BAD))
def test_bad_model_is_valid_onnx(name: str) -> None:
    model = BAD[name].build()
    if BAD[name].error == "unknown-domain":
        onnx.checker.check_model(model, full_check=True)
        with pytest.raises(UnsupportedModelError, match="com.example"):
            standardize(model)
        return
    onnx.checker.check_model(standardize(model), full_check=True)
    outputs = run_reference(model, sample_inputs(BAD[name], 2, seed=0))
    assert all(v.shape[0] == 2 for v in outputs.values())


def test_write_all(tmp_path) -> None:
    write_all(tmp_path)
    assert sorted(p.stem for p in tmp_path.glob("*.onnx")) == sorted([*ZOO, *BAD])
    written = onnx.load(tmp_path / "cnn_folded_bn.onnx")
    assert written.SerializeToString() == ZOO["cnn_folded_bn"].build().SerializeToString()
