"""Tests for bnnc.frontend.standardize (custom quantizers -> standard ONNX) and
bnnc.frontend.reference (the onnxruntime golden reference).

The custom-op semantics are checked against independent numpy transcriptions of
the qonnx reference implementations (quant, bipolar_quant, multithreshold).
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from onnx import TensorProto, helper, numpy_helper

from bnnc.errors import BnncError
from bnnc.frontend.errors import FrontendError, InvalidModelError, UnsupportedModelError
from bnnc.frontend.reference import reference_session, run_reference, run_session
from bnnc.frontend.standardize import standardize

SHARED = Path("/work/shared/models")
FINN_TFC = SHARED / "finn_tfc_w1a1" / "model.onnx"
QONNX_TFC = SHARED / "qonnx_zoo_tfc_1w1a" / "TFC_1W1A.onnx"
MNIST = SHARED / "finn_tfc_w1a1" / "input.npy"
QONNX = "qonnx.custom_op.general"


def _model(nodes, inputs, outputs, initializers=(), opset=13, domains=(QONNX,)) -> onnx.ModelProto:
    graph = helper.make_graph(nodes, "t", inputs, outputs, list(initializers))
    opsets = [helper.make_opsetid("", opset)] + [helper.make_opsetid(d, 1) for d in domains]
    return helper.make_model(graph, opset_imports=opsets, ir_version=helper.find_min_ir_version_for(opsets[:1]))


def _f32(name: str, shape) -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, shape)


def _const(name: str, value, dtype=np.float32) -> onnx.TensorProto:
    return numpy_helper.from_array(np.asarray(value, dtype), name)


# --- the shared third-party models --------------------------------------------------


@pytest.mark.skipif(not SHARED.exists(), reason="shared models not available")
@pytest.mark.parametrize("path", [FINN_TFC, QONNX_TFC], ids=["finn", "qonnx"])
def test_shared_models_classify_mnist(path: Path) -> None:
    model = onnx.load(path)
    standard = standardize(model)
    onnx.checker.check_model(standard, full_check=True)
    assert all(n.domain in ("", "ai.onnx") for n in standard.graph.node)
    assert [o.domain for o in standard.opset_import] == [""]
    images = np.load(MNIST)
    assert images.shape == (4, 1, 28, 28)  # four samples; the graphs have batch 1
    (name,) = [i.name for i in reference_session(model).get_inputs()]
    (out,) = run_reference(model, {name: images}).values()
    classes = out.ravel() if out.dtype == np.int64 else out.argmax(axis=1)
    assert classes.tolist() == [7, 2, 1, 0]


@pytest.mark.skipif(not SHARED.exists(), reason="shared models not available")
def test_standardize_keeps_names_and_leaves_the_source_alone() -> None:
    model = onnx.load(FINN_TFC)
    before = model.SerializeToString()
    standard = standardize(model)
    assert model.SerializeToString() == before
    produced = {o for n in standard.graph.node for o in n.output}
    for node in model.graph.node:
        assert set(node.output) <= produced
    assert len(standard.graph.quantization_annotation) == len(model.graph.quantization_annotation)
    assert [v.name for v in standard.graph.value_info] == [v.name for v in model.graph.value_info]


# --- BipolarQuant ---------------------------------------------------------------------


@pytest.mark.parametrize("domain,opset", [("onnx.brevitas", 9), (QONNX, 13)])
def test_bipolar_quant_sends_zero_to_plus_one(domain: str, opset: int) -> None:
    node = helper.make_node("BipolarQuant", ["x", "s"], ["y"], domain=domain, name="bq")
    model = _model([node], [_f32("x", [7])], [_f32("y", [7])], [_const("s", 0.5)], opset, (domain,))
    x = np.array([-2.0, -1e-30, -0.0, 0.0, 1e-30, 3.0, -0.5], np.float32)
    (y,) = run_reference(model, {"x": x}).values()
    np.testing.assert_array_equal(y, np.where(x >= 0, 1.0, -1.0) * 0.5)


# --- Quant ----------------------------------------------------------------------------


def _qonnx_quant(x, scale, zeropt, bits, signed, narrow, mode):
    """numpy transcription of qonnx.custom_op.general.quant.quant (float32)."""
    v = (x / np.float32(scale) + np.float32(zeropt)).astype(np.float32)
    if bits == 1 and signed:
        q = np.where(v >= 0, 1.0, -1.0).astype(np.float32)
    else:
        lo = -(2 ** (bits - 1)) + narrow if signed else 0
        hi = 2 ** (bits - 1) - 1 if signed else 2**bits - 1 - narrow
        v = np.where(v > hi, np.float32(hi), v)
        v = np.where(v < lo, np.float32(lo), v)
        q = {"ROUND": np.round, "FLOOR": np.floor, "CEIL": np.ceil, "ROUND_TO_ZERO": np.trunc}[mode](v)
    return ((q - np.float32(zeropt)) * np.float32(scale)).astype(np.float32)


QUANT_CASES = [
    (scale, zeropt, bits, signed, narrow, mode)
    for mode in ("ROUND", "FLOOR", "CEIL", "ROUND_TO_ZERO")
    for bits, signed, narrow in ((1, 1, 0), (1, 0, 0), (2, 1, 0), (2, 1, 1), (4, 0, 1), (8, 0, 0), (8, 1, 1))
    for scale, zeropt in ((1.0, 0.0), (0.25, 3.0))
]


@functools.cache
def _quant_session(opset: int) -> ort.InferenceSession:
    """One model holding every QUANT_CASES case as a separate output y<k>."""
    nodes, inits, outputs = [], [], []
    for k, (scale, zeropt, bits, signed, narrow, mode) in enumerate(QUANT_CASES):
        inits += [_const(f"s{k}", scale), _const(f"z{k}", zeropt), _const(f"b{k}", float(bits))]
        nodes.append(helper.make_node(
            "Quant", ["x", f"s{k}", f"z{k}", f"b{k}"], [f"y{k}"], domain=QONNX, name=f"q{k}",
            signed=signed, narrow=narrow, rounding_mode=mode,
        ))
        outputs.append(_f32(f"y{k}", ["n"]))
    return reference_session(_model(nodes, [_f32("x", ["n"])], outputs, inits, opset))


def _tricky_values() -> np.ndarray:
    """Halves (rounding ties) and near-halves over and beyond every range."""
    halves = np.arange(-300, 301, dtype=np.float32) / 2
    near = np.concatenate([np.nextafter(halves, np.float32(np.inf)), np.nextafter(halves, np.float32(-np.inf))])
    small = np.array([0.0, -0.0, 1e-30, -1e-30, 0.49999997, -0.49999997, 0.50000006, -0.50000006], np.float32)
    return np.concatenate([halves, near, small, halves / 4 + np.float32(0.75)])


@pytest.mark.parametrize("opset", [9, 13], ids=["opset9-floor-based-round", "opset13-Round"])
def test_quant_matches_qonnx(opset: int) -> None:
    x = _tricky_values()
    session = _quant_session(opset)
    results = run_session(session, {"x": x})
    for k, case in enumerate(QUANT_CASES):
        np.testing.assert_array_equal(results[f"y{k}"], _qonnx_quant(x, *case), err_msg=str(case))


@settings(max_examples=60, deadline=None)
@given(hnp.arrays(np.float32, st.integers(1, 64), elements=st.floats(-1e9, 1e9, width=32)))
def test_round_half_even_without_round_op(x: np.ndarray) -> None:
    results = run_session(_quant_session(9), {"x": x})
    for k, case in enumerate(QUANT_CASES):
        np.testing.assert_array_equal(results[f"y{k}"], _qonnx_quant(x, *case), err_msg=str(case))


def test_quant_with_constant_node_bitwidth_and_defaults() -> None:
    bits = helper.make_node("Constant", [], ["b"], value=_const("v", 4.0))
    quant = helper.make_node("Quant", ["x", "s", "z", "b"], ["y"], domain=QONNX)  # signed=1, narrow=0, ROUND
    model = _model([bits, quant], [_f32("x", [5])], [_f32("y", [5])], [_const("s", 1.0), _const("z", 0.0)])
    x = np.array([-9.0, -2.5, 0.5, 1.5, 7.6], np.float32)
    (y,) = run_reference(model, {"x": x}).values()
    np.testing.assert_array_equal(y, [-8.0, -2.0, 0.0, 2.0, 7.0])


def test_quant_needs_a_constant_bitwidth() -> None:
    quant = helper.make_node("Quant", ["x", "s", "z", "b"], ["y"], domain=QONNX, name="q")
    model = _model([quant], [_f32("x", [2]), _f32("b", [])], [_f32("y", [2])], [_const("s", 1.0), _const("z", 0.0)])
    with pytest.raises(UnsupportedModelError, match="constant bit width"):
        standardize(model)


def test_quant_unknown_rounding_mode() -> None:
    quant = helper.make_node("Quant", ["x", "s", "z", "b"], ["y"], domain=QONNX, name="q", rounding_mode="STOCHASTIC")
    inits = [_const("s", 1.0), _const("z", 0.0), _const("b", 4.0)]
    with pytest.raises(UnsupportedModelError, match="rounding_mode"):
        standardize(_model([quant], [_f32("x", [2])], [_f32("y", [2])], inits))


# --- MultiThreshold -------------------------------------------------------------------


def _qonnx_multithreshold(x, thresholds, out_scale, out_bias, layout):
    """numpy transcription of qonnx.custom_op.general.multithreshold."""
    if layout == "NHWC" and x.ndim == 4:
        x = x.transpose(0, 3, 1, 2)
    shape = x.shape
    if x.ndim not in (2, 4):
        x = x.reshape(-1, shape[-1])
    counts = np.count_nonzero(np.moveaxis(x, 1, -1)[..., None] >= thresholds, axis=-1)
    y = (out_scale * np.moveaxis(counts, -1, 1) + out_bias).reshape(shape)
    return y.transpose(0, 2, 3, 1) if layout == "NHWC" and y.ndim == 4 else y


MT_CASES = {
    "nchw-per-channel": ((2, 3, 4, 5), (3, 4), "NCHW", 1.0, 0.0),
    "nchw-global-255": ((2, 3, 4, 5), (1, 255), "NCHW", 1.0, 0.0),
    "nhwc-per-channel": ((2, 4, 5, 3), (3, 2), "NHWC", 2.0, -1.0),
    "nc-bipolar": ((4, 6), (6, 1), "NCHW", 2.0, -1.0),
    "nc-nhwc": ((4, 6), (1, 3), "NHWC", 0.5, 0.25),
    "rank3-channels-last": ((2, 5, 6), (6, 3), "NCHW", 1.0, -2.0),
}


@pytest.mark.parametrize("case", MT_CASES, ids=list(MT_CASES))
@pytest.mark.parametrize("opset", [11, 13])
def test_multithreshold_matches_qonnx(case: str, opset: int) -> None:
    shape, tshape, layout, out_scale, out_bias = MT_CASES[case]
    rng = np.random.default_rng(0)
    thresholds = rng.integers(-4, 5, tshape).astype(np.float32)  # unsorted, with repeats
    if tshape[1] == 255:
        thresholds = ((np.arange(1, 256) - 0.5) / 255).astype(np.float32)[None]
        x = rng.integers(0, 256, shape).astype(np.float32) / 255
    else:
        x = rng.integers(-5, 6, shape).astype(np.float32) / 2  # hits every threshold exactly
    node = helper.make_node(
        "MultiThreshold", ["x", "T"], ["y"], domain="finn.custom_op.general", name="mt",
        data_layout=layout, out_scale=out_scale, out_bias=out_bias, out_dtype="INT8",
    )
    model = _model([node], [_f32("x", list(shape))], [_f32("y", list(shape))], [_const("T", thresholds)],
                   opset, ("finn.custom_op.general",))
    (y,) = run_reference(model, {"x": x}).values()
    np.testing.assert_array_equal(y, _qonnx_multithreshold(x, thresholds, out_scale, out_bias, layout))


def test_multithreshold_nhwc_rank3_is_refused() -> None:
    node = helper.make_node("MultiThreshold", ["x", "T"], ["y"], domain=QONNX, name="mt", data_layout="NHWC")
    model = _model([node], [_f32("x", [1, 2, 3])], [_f32("y", [1, 2, 3])], [_const("T", [[0.0]])])
    with pytest.raises(UnsupportedModelError, match="data_layout"):
        standardize(model)


# --- errors -----------------------------------------------------------------------------


def test_unknown_domain_is_refused_with_one_line() -> None:
    node = helper.make_node("XYZ", ["x"], ["y"], domain="my.domain", name="Foo_3")
    model = _model([node], [_f32("x", [2])], [_f32("y", [2])], domains=("my.domain",))
    with pytest.raises(UnsupportedModelError) as info:
        standardize(model)
    info.value.file = "model.onnx"
    text = str(info.value)
    assert text.startswith("model.onnx: node 'Foo_3' (op XYZ, domain my.domain): expected ")
    assert "\n" not in text
    assert isinstance(info.value, BnncError) and info.value.exit_code == 2


def test_frontend_error_format() -> None:
    assert str(FrontendError("a thing", "do this")) == "model: expected a thing; do this"
    err = InvalidModelError("x", "y", file="m.onnx", node="n", op_type="Conv", domain="")
    assert str(err) == "m.onnx: node 'n' (op Conv): expected x; y"
    assert isinstance(err, FrontendError)


def test_custom_ops_need_opset_9() -> None:
    node = helper.make_node("BipolarQuant", ["x", "s"], ["y"], domain=QONNX, name="bq")
    model = _model([node], [_f32("x", [2])], [_f32("y", [2])], [_const("s", 1.0)], opset=8)
    with pytest.raises(UnsupportedModelError, match="opset >= 9"):
        standardize(model)


def test_model_without_custom_ops_is_returned_as_it_is() -> None:
    """Nothing to rewrite: the model itself, not a copy (which would double the weights held)."""
    node = helper.make_node("Sign", ["x"], ["y"], name="s")
    model = _model([node], [_f32("x", [2])], [_f32("y", [2])], domains=())
    before = model.SerializeToString()
    assert standardize(model) is model and model.SerializeToString() == before


# --- the reference session ----------------------------------------------------------------


def _sign_model(batch) -> onnx.ModelProto:
    node = helper.make_node("Sign", ["x"], ["y"], name="s")
    red = helper.make_node("ReduceSum", ["y"], ["total"], name="r", keepdims=0)
    outputs = [_f32("y", [batch, 3]), _f32("total", [])]
    return _model([node, red], [_f32("x", [batch, 3])], outputs, domains=())


def test_reference_session_options() -> None:
    session = reference_session(_sign_model(1))
    options = session.get_session_options()
    assert options.graph_optimization_level == ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    assert options.intra_op_num_threads == 1
    assert session.get_providers() == ["CPUExecutionProvider"]


def test_run_reference_splits_a_fixed_batch_of_one() -> None:
    x = np.array([[-1.0, 0.0, 2.0], [3.0, -0.0, -4.0], [0.0, 0.0, 1.0], [5.0, 5.0, 5.0]], np.float32)
    out = run_reference(_sign_model(1), {"x": x})
    np.testing.assert_array_equal(out["y"], np.sign(x))
    np.testing.assert_array_equal(out["total"], np.sign(x).sum(axis=1))  # 0-d outputs are stacked
    single = run_reference(_sign_model(1), {"x": x[:1]})
    assert single["y"].shape == (1, 3) and single["total"].shape == ()


def test_run_reference_symbolic_batch_runs_once() -> None:
    x = np.array([[-1.0, 0.0, 2.0], [3.0, -0.0, -4.0]], np.float32)
    out = run_reference(_sign_model("N"), {"x": x})
    np.testing.assert_array_equal(out["y"], np.sign(x))
    assert out["total"].shape == ()
    assert out["total"] == np.sign(x).sum()
