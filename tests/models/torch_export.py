"""Real ``torch.onnx`` exports of small binarized networks: the fixtures in ``tests/models/torch/``.

The models are written the way BNN researchers write them in PyTorch (BinaryNet, Courbariaux
et al. 2016; XNOR-Net, Rastegari et al. 2016): a straight-through ``SignSTE`` autograd
function (``torch.sign`` forward, hard-tanh gradient) on latent float weights and on
activations, or plain ``nn.Conv2d``/``nn.Linear`` whose weights were set to ``torch.sign(W)``
before export; ``BatchNorm2d``/``BatchNorm1d`` with random running statistics (some γ < 0,
one channel with γ = 0); ``nn.Hardtanh`` before the binarizer; ``MaxPool2d`` before or after
BatchNorm; ``2*x - 1`` (or nothing) before the input ``Sign``; a final Linear producing
logits. Each model is exported in ``eval()`` mode by the TorchScript exporter
(``dynamo=False``, opset 13 or 17) and by the dynamo exporter (``dynamo=True``: its default
opset, one with opset 18, one with ``optimize=False``, weights always embedded), some with a
symbolic batch dimension.

The fixtures were made with torch 2.13.0 (CPU build), onnxscript 0.7.2 and onnx 1.23.2.
torch is not a dependency of bnnc: the ``.onnx`` files and ``MANIFEST.json`` are committed,
and this script is run by hand after ``pip install torch==2.13.0 onnxscript``::

    python -m tests.models.torch_export            # rewrites tests/models/torch/
    python -m tests.models.torch_export --check    # exports again, compares with the files

Everything is seeded: running it again gives byte-identical files (``--check`` verifies it).
Two things are normalized for that: the dynamo exporter's per-node stack traces (metadata
``pkg.torch.onnx.stack_trace``) get file names relative to the checkout or site-packages, and
the functions of the ``export_modules_as_functions`` export are sorted by name; as torch picks
which call's body becomes a function's template by object address, that file is rewritten
only when a fresh export differs in ops or outputs.
``MANIFEST.json`` lists for every file its model, exporter, opset, the ops the exporter
wrote, the graph input and ``input_zero``: the raw input value at which the input binarizer
sees exactly 0 (``0.5`` for ``Sign(2x - 1)``, ``0.0`` for ``Sign(x)``, null where the input
is not binarized).
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import hashlib
import io
import logging
import re
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import torch
from torch import nn
from torch.nn import functional as F

from tests.models.fixture_files import write_or_check

OUT = Path(__file__).resolve().parent / "torch"
TORCH_VERSION = "2.13.0"
MAX_BYTES = 200_000


# ---------------------------------------------------------------------------- building blocks


class SignSTE(torch.autograd.Function):
    """``torch.sign`` forward (0 -> 0), straight-through hard-tanh gradient backward."""

    @staticmethod
    def forward(ctx, x):  # type: ignore[override]
        ctx.save_for_backward(x)
        return torch.sign(x)

    @staticmethod
    def backward(ctx, grad):  # type: ignore[override]
        (x,) = ctx.saved_tensors
        return grad * (x.abs() <= 1).to(grad.dtype)


def binarize(x: torch.Tensor) -> torch.Tensor:
    return SignSTE.apply(x)


class BinaryConv2d(nn.Conv2d):
    """A convolution on ``sign(W)`` of latent float weights (BinaryNet)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, binarize(self.weight), self.bias, self.stride, self.padding, self.dilation, self.groups)


class BinaryLinear(nn.Linear):
    """A linear layer on ``sign(W)`` of latent float weights (BinaryNet)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, binarize(self.weight), self.bias)


class XnorConv2d(nn.Conv2d):
    """XNOR-Net weights: ``mean(|W|) * sign(W)`` per output channel, computed in forward."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        alpha = self.weight.abs().mean(dim=(1, 2, 3), keepdim=True)
        return F.conv2d(x, alpha * binarize(self.weight), self.bias, self.stride, self.padding)


def randomize_batchnorm(bn: nn.modules.batchnorm._BatchNorm, fan_in: int, generator: torch.Generator) -> None:
    """Running statistics of a trained-looking BatchNorm after a layer with ``fan_in`` ±1 taps:
    mean within the integer range, variance near the fan-in, γ of both signs and one γ = 0
    (with β != 0, as training leaves it)."""
    c = bn.num_features

    def uniform(lo: float, hi: float) -> torch.Tensor:
        return lo + (hi - lo) * torch.rand(c, generator=generator)

    with torch.no_grad():
        spread = float(np.sqrt(fan_in))
        bn.running_mean.copy_(uniform(-1.5, 1.5) * spread)
        bn.running_var.copy_(uniform(0.3, 1.5) * fan_in)
        gamma = uniform(0.3, 1.5) * torch.where(torch.rand(c, generator=generator) < 0.25, -1.0, 1.0)
        gamma[int(torch.randint(c, (1,), generator=generator))] = 0.0
        bn.weight.copy_(gamma)
        beta = uniform(-0.5, 0.5)
        beta = torch.where(beta.abs() < 0.05, torch.full_like(beta, 0.1), beta)
        bn.bias.copy_(beta)


def randomize_all_batchnorms(model: nn.Module, fan_ins: dict[str, int], seed: int) -> None:
    generator = torch.Generator().manual_seed(seed)
    for name, module in model.named_modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            randomize_batchnorm(module, fan_ins[name], generator)


# ---------------------------------------------------------------------------- the models


class MlpBinaryNet(nn.Module):
    """BinaryNet MLP on 12x12 grey images: Sign(2x-1), three binary Linear+BatchNorm1d layers
    with Hardtanh before Sign, the last BatchNorm1d giving the logits. The first weight has
    144x64 = 9216 elements, more than the 8192 up to which the dynamo exporter's optimizer
    (onnxscript) folds constants: there Sign(W) and the BatchNorm stay in the graph."""

    fan_ins = {"bn1": 144, "bn2": 64, "bn3": 32}
    input_shape = (1, 1, 12, 12)
    input_zero = 0.5

    def __init__(self) -> None:
        super().__init__()
        self.fc1, self.bn1 = BinaryLinear(144, 64, bias=False), nn.BatchNorm1d(64)
        self.fc2, self.bn2 = BinaryLinear(64, 32, bias=False), nn.BatchNorm1d(32)
        self.fc3, self.bn3 = BinaryLinear(32, 10, bias=False), nn.BatchNorm1d(10)
        self.htanh = nn.Hardtanh()
        self.drop = nn.Dropout(0.2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = binarize(2 * x.flatten(1) - 1)
        x = binarize(self.drop(self.htanh(self.bn1(self.fc1(x)))))
        x = binarize(self.drop(self.htanh(self.bn2(self.fc2(x)))))
        return self.bn3(self.fc3(x))


class CnnBinaryNet(nn.Module):
    """BinaryNet VGG-style CNN on 3x16x16 images: Sign(2x-1); padded 3x3 binary convolutions;
    MaxPool before BatchNorm; Hardtanh then Sign; binary Linear + BatchNorm1d logits."""

    fan_ins = {"bn1": 27, "bn2": 144, "bn3": 144, "bn4": 512}
    input_shape = (1, 3, 16, 16)
    input_zero = 0.5

    def __init__(self) -> None:
        super().__init__()
        self.conv1, self.bn1 = BinaryConv2d(3, 16, 3, padding=1, bias=False), nn.BatchNorm2d(16)
        self.conv2, self.bn2 = BinaryConv2d(16, 16, 3, padding=1, bias=False), nn.BatchNorm2d(16)
        self.conv3, self.bn3 = BinaryConv2d(16, 32, 3, padding=1, bias=False), nn.BatchNorm2d(32)
        self.fc, self.bn4 = BinaryLinear(32 * 4 * 4, 10, bias=False), nn.BatchNorm1d(10)
        self.pool = nn.MaxPool2d(2)
        self.htanh = nn.Hardtanh(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = binarize(2 * x - 1)
        x = binarize(self.htanh(self.bn1(self.conv1(x))))
        x = binarize(self.htanh(self.bn2(self.pool(self.conv2(x)))))
        x = binarize(self.htanh(self.bn3(self.pool(self.conv3(x)))))
        return self.bn4(self.fc(torch.flatten(x, 1)))


class CnnPoolAfterSign(nn.Module):
    """Sign(x) at the input (no 2x-1); Conv with bias -> BatchNorm -> Sign -> MaxPool; Conv ->
    BatchNorm -> Hardtanh -> MaxPool -> Sign; an unpadded stride-2 binary convolution; a float
    nn.Linear classifier (not binarized)."""

    fan_ins = {"bn1": 18, "bn2": 72, "bn3": 144}
    input_shape = (1, 2, 16, 16)
    input_zero = 0.0

    def __init__(self) -> None:
        super().__init__()
        self.conv1, self.bn1 = BinaryConv2d(2, 8, 3, padding=1, bias=True), nn.BatchNorm2d(8)
        self.conv2, self.bn2 = BinaryConv2d(8, 16, 3, bias=False), nn.BatchNorm2d(16)
        self.conv3, self.bn3 = BinaryConv2d(16, 16, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(16)
        self.pool = nn.MaxPool2d(2)
        self.htanh = nn.Hardtanh()
        self.classifier = nn.Linear(16 * 2 * 2, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = binarize(x)
        x = self.pool(binarize(self.bn1(self.conv1(x))))
        x = binarize(self.pool(self.htanh(self.bn2(self.conv2(x)))))
        x = binarize(self.bn3(self.conv3(x)))
        return self.classifier(x.view(x.size(0), -1))


class CnnPrebinarized(nn.Module):
    """Plain nn.Conv2d/nn.Linear whose weights were replaced by torch.sign(W) before export;
    torch.sign on activations; Dropout; x.view(x.size(0), -1); a binary Linear with a bias."""

    fan_ins = {"bn1": 9, "bn2": 72}
    input_shape = (1, 1, 10, 10)
    input_zero = 0.0

    def __init__(self) -> None:
        super().__init__()
        self.conv1, self.bn1 = nn.Conv2d(1, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8)
        self.conv2, self.bn2 = nn.Conv2d(8, 16, 3, padding=1, bias=False), nn.BatchNorm2d(16)
        self.pool = nn.MaxPool2d(2)
        self.drop = nn.Dropout(0.3)
        self.fc = nn.Linear(16 * 2 * 2, 10)

    def prebinarize(self) -> None:
        with torch.no_grad():
            for layer in (self.conv1, self.conv2, self.fc):
                layer.weight.copy_(torch.sign(layer.weight))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.sign(x)
        x = torch.sign(self.bn1(self.conv1(x)))
        x = self.pool(self.pool(torch.sign(self.bn2(self.conv2(x)))))
        x = self.drop(x)
        return self.fc(x.view(x.size(0), -1))


class CnnXnor(nn.Module):
    """XNOR-Net scaled weights (mean|W| * sign(W) in forward: Abs, ReduceMean, Mul in the
    graph unless folded), BatchNorm after the pool, Sign(2x-1) input."""

    fan_ins = {"bn1": 27, "bn2": 144}
    input_shape = (1, 3, 8, 8)
    input_zero = 0.5

    def __init__(self) -> None:
        super().__init__()
        self.conv1, self.bn1 = XnorConv2d(3, 16, 3, padding=1, bias=False), nn.BatchNorm2d(16)
        self.conv2, self.bn2 = XnorConv2d(16, 16, 3, padding=1, bias=False), nn.BatchNorm2d(16)
        self.pool = nn.MaxPool2d(2)
        self.fc = BinaryLinear(16 * 4 * 4, 10, bias=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = binarize(2 * x - 1)
        x = binarize(self.bn1(self.conv1(x)))
        x = binarize(self.bn2(self.pool(self.conv2(x))))
        return self.fc(torch.flatten(x, 1))


class CnnPixelStem(nn.Module):
    """The first layer sees 8-bit-like pixels ``x * 255`` (not binarized) through binary weights;
    later layers are binary; binary Linear logits."""

    fan_ins = {"bn1": 27, "bn2": 144}
    input_shape = (1, 3, 8, 8)
    input_zero = None

    def __init__(self) -> None:
        super().__init__()
        self.conv1, self.bn1 = BinaryConv2d(3, 16, 3, padding=1, bias=False), nn.BatchNorm2d(16)
        self.conv2, self.bn2 = BinaryConv2d(16, 16, 3, padding=1, bias=False), nn.BatchNorm2d(16)
        self.pool = nn.MaxPool2d(2)
        self.fc = BinaryLinear(16 * 4 * 4, 10, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x * 255
        x = binarize(self.bn1(self.conv1(x)))
        x = self.pool(binarize(self.bn2(self.conv2(x))))
        return self.fc(torch.flatten(x, 1))


class CnnUint8Input(CnnPixelStem):
    """Like CnnPixelStem, but the model takes the uint8 image itself (``x.float()``)."""

    input_dtype = torch.uint8

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.float()
        x = binarize(self.bn1(self.conv1(x)))
        x = self.pool(binarize(self.bn2(self.conv2(x))))
        return self.fc(torch.flatten(x, 1))


class CnnWhereSign(nn.Module):
    """Bi-Real/ReActNet-style binarizer ``torch.where(x >= 0, 1, -1)`` (0 -> +1) on the input and
    on activations, BinaryConv2d weights, BatchNorm, MaxPool, a binary Linear with a bias."""

    fan_ins = {"bn1": 27, "bn2": 144}
    input_shape = (1, 3, 8, 8)
    input_zero = 0.5

    def __init__(self) -> None:
        super().__init__()
        self.conv1, self.bn1 = BinaryConv2d(3, 16, 3, padding=1, bias=False), nn.BatchNorm2d(16)
        self.conv2, self.bn2 = BinaryConv2d(16, 16, 3, bias=False), nn.BatchNorm2d(16)
        self.pool = nn.MaxPool2d(2)
        self.fc = BinaryLinear(16 * 3 * 3, 10, bias=True)

    @staticmethod
    def sign(x: torch.Tensor) -> torch.Tensor:
        return torch.where(x >= 0, 1.0, -1.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.sign(x - 0.5)
        x = self.sign(self.bn1(self.conv1(x)))
        x = self.sign(self.bn2(self.pool(self.conv2(x))))
        return self.fc(torch.flatten(x, 1))


# ---------------------------------------------------------------------------- exporting


@dataclass(frozen=True)
class Exporter:
    """One way of calling ``torch.onnx.export``."""

    name: str
    dynamo: bool
    opset: int | None = None
    dynamic_batch: bool = False
    optimize: bool = True
    keep_initializers_as_inputs: bool = False
    modules_as_functions: bool = False

    def describe(self) -> str:
        if not self.dynamo:
            text = f"TorchScript exporter (dynamo=False, opset_version={self.opset})"
            if self.keep_initializers_as_inputs:
                text += ", keep_initializers_as_inputs=True"
            if self.modules_as_functions:
                text += ", export_modules_as_functions=True"
        else:
            text = "dynamo exporter (dynamo=True" + (f", opset_version={self.opset}" if self.opset else "")
            text += ", optimize=False)" if not self.optimize else ")"
        if self.dynamic_batch:
            text += ", symbolic batch"
        return text


TS13 = Exporter("ts13", dynamo=False, opset=13)
TS13_INITS = Exporter("ts13", dynamo=False, opset=13, keep_initializers_as_inputs=True)
TS17 = Exporter("ts17", dynamo=False, opset=17)
TS17_FUNCTIONS = Exporter("ts17_functions", dynamo=False, opset=17, modules_as_functions=True)
DYNAMO = Exporter("dynamo", dynamo=True)
DYNAMO18 = Exporter("dynamo18", dynamo=True, opset=18)
DYNAMO_NOOPT = Exporter("dynamo_noopt", dynamo=True, optimize=False)
TS13_DYN = Exporter("ts13_dynbatch", dynamo=False, opset=13, dynamic_batch=True)
DYNAMO_DYN = Exporter("dynamo_dynbatch", dynamo=True, dynamic_batch=True)


@dataclass(frozen=True)
class Fixture:
    model: str
    cls: type[nn.Module]
    seed: int
    exporters: tuple[Exporter, ...]


FIXTURES = (
    Fixture("mlp_binarynet", MlpBinaryNet, 11, (TS13, DYNAMO)),
    Fixture("cnn_binarynet", CnnBinaryNet, 12, (TS17, TS17_FUNCTIONS, DYNAMO, DYNAMO_NOOPT)),
    Fixture("cnn_pool_after_sign", CnnPoolAfterSign, 13, (TS13, DYNAMO18)),
    Fixture("cnn_prebinarized", CnnPrebinarized, 14, (TS13_INITS, DYNAMO, TS13_DYN, DYNAMO_DYN)),
    Fixture("cnn_xnor", CnnXnor, 15, (TS17, DYNAMO, DYNAMO_NOOPT)),
    Fixture("cnn_pixel_stem", CnnPixelStem, 16, (TS13, DYNAMO)),
    Fixture("cnn_uint8_input", CnnUint8Input, 17, (TS17, DYNAMO)),
    Fixture("cnn_where_sign", CnnWhereSign, 18, (TS17, DYNAMO)),
)


def build(fixture: Fixture) -> nn.Module:
    torch.manual_seed(fixture.seed)
    model = fixture.cls()
    randomize_all_batchnorms(model, fixture.cls.fan_ins, fixture.seed + 1000)
    if hasattr(model, "prebinarize"):
        model.prebinarize()
    return model.eval()


def example_input(fixture: Fixture, batch: int = 1, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    shape = (batch,) + tuple(fixture.cls.input_shape[1:])
    if getattr(fixture.cls, "input_dtype", torch.float32) == torch.uint8:
        return torch.randint(0, 256, shape, generator=generator, dtype=torch.uint8)
    return torch.rand(shape, generator=generator)


@contextlib.contextmanager
def _quiet():
    """The exporters print progress and warnings; keep the generator's output readable."""
    logging.disable(logging.WARNING)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with contextlib.redirect_stdout(io.StringIO()):
            try:
                yield
            finally:
                logging.disable(logging.NOTSET)


def export(fixture: Fixture, exporter: Exporter) -> onnx.ModelProto:
    """Export the fixture's model with ``exporter``; weights embedded in the protobuf."""
    model = build(fixture)
    args = (example_input(fixture, batch=2 if exporter.dynamic_batch else 1),)
    with _quiet(), torch.no_grad():
        if exporter.dynamo:
            kwargs: dict = {"dynamo": True, "external_data": False, "optimize": exporter.optimize}
            if exporter.opset is not None:
                kwargs["opset_version"] = exporter.opset
            if exporter.dynamic_batch:
                kwargs["dynamic_shapes"] = {"x": {0: torch.export.Dim("batch")}}
            program = torch.onnx.export(model, args, input_names=["x"], output_names=["logits"], **kwargs)
            proto = program.model_proto
        else:
            buffer = io.BytesIO()
            torch.onnx.export(
                model, args, buffer, dynamo=False, opset_version=exporter.opset,
                input_names=["x"], output_names=["logits"],
                keep_initializers_as_inputs=exporter.keep_initializers_as_inputs,
                export_modules_as_functions=exporter.modules_as_functions,
                dynamic_axes={"x": {0: "batch"}, "logits": {0: "batch"}} if exporter.dynamic_batch else None,
            )
            proto = onnx.load_model_from_string(buffer.getvalue())
    if proto.functions:
        # export_modules_as_functions lists the functions in set order, which varies with
        # PYTHONHASHSEED; sort them so the file is reproducible (the order has no meaning)
        functions = sorted(proto.functions, key=lambda f: (f.domain, f.name))
        del proto.functions[:]
        proto.functions.extend(functions)
    _relative_stack_traces(proto)
    external = [t.name for t in proto.graph.initializer if t.data_location == onnx.TensorProto.EXTERNAL]
    if external:
        raise RuntimeError(f"{fixture.model}/{exporter.name}: external data for {external}")
    return proto


_TRACE_PATH = re.compile(r'File "[^"]*?(?:site-packages/|' + re.escape(str(Path(__file__).resolve().parents[2])) + r'/)')


def _relative_stack_traces(proto: onnx.ModelProto) -> None:
    """The dynamo exporter records each node's Python stack trace (metadata
    ``pkg.torch.onnx.stack_trace``) with absolute file names; make them relative to the
    checkout or to site-packages so the files do not depend on where they were made."""
    for node in [*proto.graph.node, *(n for f in proto.functions for n in f.node)]:
        for entry in node.metadata_props:
            entry.value = _TRACE_PATH.sub('File "', entry.value)


def _session(data: bytes) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    options.log_severity_level = 3  # initializers listed as inputs: one warning per tensor
    return ort.InferenceSession(data, options, providers=["CPUExecutionProvider"])


def _check_against_torch(fixture: Fixture, proto: onnx.ModelProto, data: bytes) -> float:
    """onnxruntime on the exported file agrees with PyTorch (sanity check of the exporter)."""
    session = _session(data)
    dynamic = not proto.graph.input[0].type.tensor_type.shape.dim[0].HasField("dim_value")
    worst = 0.0
    for seed in range(4):
        batch = 3 if dynamic else 1
        x = example_input(fixture, batch, seed=100 + seed)
        with torch.no_grad():
            expected = build(fixture)(x).numpy()
        (got,) = session.run(None, {session.get_inputs()[0].name: x.numpy()})
        worst = max(worst, float(np.abs(got - expected).max()))
    if worst > 1e-3:
        raise RuntimeError(f"{fixture.model}: onnxruntime differs from torch by {worst}")
    return worst


def _opset(proto: onnx.ModelProto) -> int:
    return next(o.version for o in proto.opset_import if o.domain in ("", "ai.onnx"))


def _describe_input(proto: onnx.ModelProto) -> dict:
    initializers = {t.name for t in proto.graph.initializer}
    (value,) = [i for i in proto.graph.input if i.name not in initializers]
    tensor = value.type.tensor_type
    dims = [d.dim_value if d.HasField("dim_value") else (d.dim_param or "?") for d in tensor.shape.dim]
    return {"name": value.name, "shape": dims, "dtype": onnx.helper.tensor_dtype_to_np_dtype(tensor.elem_type).name}


def manifest_entry(fixture: Fixture, exporter: Exporter, proto: onnx.ModelProto, data: bytes) -> dict:
    ops = collections.Counter(
        (n.op_type if n.domain in ("", "ai.onnx") else f"{n.domain}.{n.op_type}") for n in proto.graph.node
    )
    initializers = {t.name for t in proto.graph.initializer}
    return {
        "model": fixture.model,
        "description": " ".join((fixture.cls.__doc__ or "").split()),
        "exporter": exporter.describe(),
        "opset": _opset(proto),
        "ir_version": proto.ir_version,
        "producer": f"{proto.producer_name} {proto.producer_version}".strip(),
        "ops": dict(sorted(ops.items())),
        "functions": [f"{f.domain}.{f.name}" for f in proto.functions],
        "function_ops": dict(sorted(collections.Counter(n.op_type for f in proto.functions for n in f.node).items())),
        "initializers_as_inputs": any(i.name in initializers for i in proto.graph.input),
        "input": _describe_input(proto),
        "input_zero": fixture.cls.input_zero,
        "bytes": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
    }


def _same_model(fixture: Fixture, old: bytes, new: bytes) -> bool:
    """Whether two exports hold the same ops and compute the same outputs."""
    def ops(data: bytes) -> collections.Counter:
        proto = onnx.load_model_from_string(data)
        nodes = [*proto.graph.node, *(n for f in proto.functions for n in f.node)]
        return collections.Counter((n.domain, n.op_type) for n in nodes)

    if ops(old) != ops(new):
        return False
    sessions = [_session(old), _session(new)]
    for seed in range(4):
        x = example_input(fixture, 1, seed=200 + seed).numpy()
        a, b = (s.run(None, {s.get_inputs()[0].name: x})[0] for s in sessions)
        if not np.array_equal(a, b):
            return False
    return True


def generate(out: Path = OUT) -> dict[str, tuple[bytes, dict]]:
    if not torch.__version__.startswith(TORCH_VERSION):
        print(f"warning: these fixtures were made with torch {TORCH_VERSION}, this is {torch.__version__}", file=sys.stderr)
    files = {}
    for fixture in FIXTURES:
        for exporter in fixture.exporters:
            proto = export(fixture, exporter)
            data = proto.SerializeToString()
            existing = out / f"{fixture.model}_{exporter.name}.onnx"
            if exporter.modules_as_functions and existing.exists() and _same_model(fixture, existing.read_bytes(), data):
                # which call's body torch writes as a function's template (and so the value
                # names inside it) depends on object addresses: keep the committed file
                data = existing.read_bytes()
                proto = onnx.load_model_from_string(data)
            if len(data) > MAX_BYTES:
                raise RuntimeError(f"{fixture.model}/{exporter.name}: {len(data)} bytes")
            error = _check_against_torch(fixture, proto, data)
            name = f"{fixture.model}_{exporter.name}.onnx"
            entry = manifest_entry(fixture, exporter, proto, data)
            entry["max_abs_error_vs_torch"] = float(f"{error:.3g}")
            files[name] = (data, entry)
            print(f"{name}: {entry['exporter']}, opset {entry['opset']}, {len(data)} bytes, ops {entry['ops']}")
    return files


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--check", action="store_true", help="compare a fresh export with the files instead of writing")
    args = parser.parse_args(argv)
    files = generate(args.out)
    return write_or_check(args.out, files, {"torch": torch.__version__, "onnx": onnx.__version__}, args.check)


if __name__ == "__main__":
    sys.exit(main())
