"""Small models of the published BNN architectures as ``torch.onnx`` (and Brevitas QONNX)
exports: the fixtures in ``tests/models/arch/`` (issue 11).

Each architecture is written from its authors' code at a small width (6-36 channels) and a
small input (load_digits' 1x8x8, or 3x16x16, 3x32x32):

* ``bireal``             Bi-Real Net (liuzechun/Bi-Real-net, pytorch_implementation): real
                         residual stream around every binary 3x3 conv (sign -> binary conv ->
                         BN -> + shortcut), downsample shortcut AvgPool 2x2 -> real 1x1 conv ->
                         BN; the authors' ``BinaryActivation`` (``sign(x) - out3 + out3`` with
                         the piecewise polynomial ``out3``: Less/Cast/Mul nodes) and
                         ``HardBinaryConv`` (flat latent weights, α·sign(W) minus/plus the
                         clipped weights, all in the graph). Trained on load_digits.
* ``reactnet_resnet``    ReActNet on ResNet-18 (liuzechun/ReActNet resnet/2_step2): RSign
                         (learnable per-channel shift, then sign), RPReLU (shift, PReLU,
                         shift), AvgPool shortcut; eval-mode ``HardBinaryConv`` (conv on
                         sign(W), output times α = mean|W| computed in the graph); one layer
                         with latent weights exactly 0 (sign(W) has zeros).
* ``reactnet_mobilenet`` ReActNet-A block (liuzechun/ReActNet mobilenet): binary 3x3 conv,
                         AvgPool shortcut, RPReLU, and in the downsample block two binary 1x1
                         convs whose outputs (each + shortcut) are concatenated; the activation
                         of mobilenet/1_step1 (polynomial STE in every mode).
* ``xnor_lenet``         XNOR-Net LeNet-5 (jiecaoyu/XNOR-Net-PyTorch MNIST): BN -> sign ->
                         binary conv with per-channel α·sign(W) -> x K -> ReLU, K the
                         data-dependent input scale (mean |x| over channels, avg-pooled over the
                         kernel window: a Mul of two runtime tensors). Trained on load_digits.
* ``xnor_nin``           XNOR-Net NIN (jiecaoyu CIFAR_10 nin.py): the same BinConv2d on 1x1 and
                         3x3 convs, MaxPool and AvgPool between them, a real 1x1 classifier.
* ``binary_densenet``    BinaryDenseNet (larq zoo): dense blocks concatenating binary conv
                         outputs to earlier features, transitions BN -> MaxPool -> ReLU -> real
                         1x1 conv.
* ``meliusnet``          MeliusNet (larq zoo): group stem, dense block (concat) + improvement
                         block (binary conv output padded on the channel axis and added to the
                         last channels), transition.
* ``quicknet``           QuickNet (larq zoo sota): Pad(value=+1) before every binary conv
                         (larq ``pad_values=1.0``), ReLU between conv and BN, residual adds, a
                         transition with MaxPool and a fixed float depthwise blur-pool conv.
* ``real_to_binary``     Real-to-Binary Net (larq zoo): data-dependent channel scaling
                         (squeeze-excite: GAP -> Dense/ReLU -> Dense/sigmoid, Mul of two runtime
                         tensors) of each binary conv, PReLU, AvgPool shortcuts.
* ``dorefanet``          DoReFa-Net (larq zoo): 2-bit activations ``round(clip(x,0,1)*3)/3``
                         feeding convs on α·sign(W) (α = mean|W| per layer), BN without scale.
* ``binary_resnet_e``    BinaryResNetE18 (larq zoo): binary conv -> BN -> + shortcut, AvgPool
                         downsample shortcut.

Every Larq model binarizes with larq's ``ste_sign``, ``sign(sign(x) + 0.1)`` (0 -> +1), on
activations and (in the authors' graph) on the latent weights.

Variants:

* ``authors``: the authors' modules in ``eval()`` mode as they stand: training formulas (STE
  expressions, α·sign(W), sign(sign(W)+0.1)) evaluated in the graph.
* ``deploy``: the same parameters with constant pre-binarized weights (α·sign(W) exactly ±α
  per channel, or ±1) and a plain binarizer: ``torch.sign`` (0 -> 0), ``where(x >= 0, 1, -1)``,
  comparison chains ``1 - 2*(x < 0)``, ``2*(x >= 0) - 1``, ``2*not(x < 0) - 1`` (0 -> +1), or the
  Larq ``sign(sign(x) + 0.1)`` as tf2onnx writes it.
* ``brevitas``: Brevitas (QuantConv2d/QuantLinear/QuantIdentity) versions of Bi-Real Net,
  XNOR-Net LeNet (both with the trained weights) and DoReFa-Net, exported as QONNX
  (``BipolarQuant``, ``Quant``); onnxruntime cannot load these, they are checked against
  PyTorch through a translation of the QONNX ops to standard ONNX (DESIGN.md §9).

BatchNorm statistics are never the defaults: trained (``bireal``, ``xnor_lenet``) or
calibrated on random inputs (batch statistics of the layer's real input) and then perturbed
(mean shifted by N(0, 0.3)·std, variance scaled by U(0.5, 2)), with γ of both signs (about 30%
negative) and β != 0.

Both exporters fold a BatchNormalization that directly follows a conv with constant weights
into that conv (``batchnorms`` in the manifest counts them): in the deploy variants the binary
weights then become ±α·γ/σ per output channel (either sign) plus a bias.

Exporters: TorchScript (``dynamo=False``; opset 17 for ``authors``, 13 for ``deploy``) and
dynamo (``dynamo=True, opset_version=18``, weights embedded); ``bireal`` authors also with
``optimize=False`` (the optimizer folds weight formulas of up to 8192 elements). Brevitas:
``export_qonnx`` with ``dynamo=True`` (opset 18) and ``dynamo=False`` (opset 17). The dynamo
exporter's per-node metadata (stack traces, name scopes: half the bytes of a small model) is
dropped to keep the files small; tests/models/torch/ has files that keep it.

The fixtures were made with torch 2.13.0 (CPU build), onnxscript 0.7.2, onnx 1.23.2,
brevitas 0.13.4 and scikit-learn 1.9.1. None of them is a dependency of bnnc: the ``.onnx``
files and ``MANIFEST.json`` are committed, and this script is run by hand::

    pip install torch==2.13.0 onnxscript scikit-learn brevitas onnxoptimizer
    python -m tests.models.arch_export            # rewrites tests/models/arch/
    python -m tests.models.arch_export --check    # exports again, compares with the files

Every file is checked: onnxruntime (graph optimizations disabled, as bnnc's golden reference
runs) agrees with PyTorch within 1e-4 on 10 inputs, of which at most 2 may be skipped where they
differ because a binarizer input lies within 1e-5 of its decision point (a near-tie: float
evaluation order decides it; counted as ``near_tie_inputs_skipped``, and the smallest distance
seen is ``min_binarizer_margin``); the error of the default-optimized session is recorded too.
QONNX files run through ``qonnx_to_standard``. Trained models are scored on the test split in
onnxruntime, file by file.

Everything is seeded and runs on one thread: running it again gives byte-identical files.
``MANIFEST.json`` lists for every file its architecture, variant, exporter and opset, the
graph input, the constructs it contains, the sign conventions of its binarizers, how its
weights appear (constant ±1 / ±α / computed in the graph / real), the ops, and the trained
accuracy where the model was trained.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import functools
import hashlib
import io
import logging
import os
import sys
import tempfile
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import torch
from onnx import helper, numpy_helper
from torch import nn
from torch.nn import functional as F

from tests.models.fixture_files import write_or_check

OUT = Path(__file__).resolve().parent / "arch"
TORCH_VERSION = "2.13.0"
MAX_BYTES = 200_000
MAX_TOTAL_BYTES = 3_000_000
TOLERANCE = 1e-4


# ============================================================================ binarizers


class SignSTE(torch.autograd.Function):
    """``torch.sign`` forward (0 -> 0), straight-through hard-tanh gradient (XNOR-Net,
    BinaryNet)."""

    @staticmethod
    def forward(ctx, x):  # type: ignore[override]
        ctx.save_for_backward(x)
        return torch.sign(x)

    @staticmethod
    def backward(ctx, grad):  # type: ignore[override]
        (x,) = ctx.saved_tensors
        return grad * (x.abs() <= 1).to(grad.dtype)


class LarqSteSign(torch.autograd.Function):
    """larq ``ste_sign``: ``lq.math.sign(x) = sign(sign(x) + 0.1)`` (0 -> +1) forward,
    straight-through gradient clipped at ``|x| <= 1`` backward."""

    @staticmethod
    def forward(ctx, x):  # type: ignore[override]
        ctx.save_for_backward(x)
        return torch.sign(torch.sign(x) + 0.1)

    @staticmethod
    def backward(ctx, grad):  # type: ignore[override]
        (x,) = ctx.saved_tensors
        return grad * (x.abs() <= 1).to(grad.dtype)


def bireal_activation(x: torch.Tensor) -> torch.Tensor:
    """Bi-Real Net's ``BinaryActivation.forward`` as the authors wrote it: the forward value is
    ``sign(x)`` (0 -> 0), the gradient that of the piecewise polynomial ``out3``."""
    out_forward = torch.sign(x)
    mask1 = x < -1
    mask2 = x < 0
    mask3 = x < 1
    out1 = (-1) * mask1.type(torch.float32) + (x * x + 2 * x) * (1 - mask1.type(torch.float32))
    out2 = out1 * mask2.type(torch.float32) + (-x * x + 2 * x) * (1 - mask2.type(torch.float32))
    out3 = out2 * mask3.type(torch.float32) + 1 * (1 - mask3.type(torch.float32))
    return out_forward.detach() - out3.detach() + out3


BINARIZERS = {
    # name: (function, sign convention)
    "sign": (SignSTE.apply, "Sign: 0 -> 0"),
    "bireal_poly": (bireal_activation, "Sign(x) - p(x) + p(x), Bi-Real polynomial p (Less/Cast/Mul): 0 -> 0"),
    "larq": (LarqSteSign.apply, "Sign(Sign(x) + 0.1): 0 -> +1"),
    "where": (lambda x: torch.where(x >= 0, 1.0, -1.0), "Where(x >= 0, 1, -1): 0 -> +1"),
    "less_cast": (lambda x: 1.0 - 2.0 * (x < 0).to(x.dtype), "1 - 2*Cast(x < 0): 0 -> +1"),
    "ge_cast": (lambda x: 2.0 * (x >= 0).to(x.dtype) - 1.0, "2*Cast(x >= 0) - 1: 0 -> +1"),
    "not_less": (lambda x: 2.0 * torch.logical_not(x < 0).to(x.dtype) - 1.0, "2*Cast(Not(x < 0)) - 1: 0 -> +1"),
}


# While checking an export, the smallest distance of any binarizer input to its decision
# point (0 for a sign, the half-integers for the k-bit quantizer): where it is below float
# rounding, onnxruntime and PyTorch may disagree on that one value (a near-tie, not an error).
_MARGINS: list[float] | None = None


def _record_margin(x: torch.Tensor, levels: float = 0.0) -> None:
    """Record the distance of ``x`` to 0 (``levels == 0``) or, for a quantizer with ``levels``
    steps on [0, 1], to its nearest rounding boundary. A no-op unless checking (so that
    nothing of it reaches an exported graph)."""
    if _MARGINS is None or not x.numel():
        return
    x = x.detach()
    if levels:
        y = torch.clamp(x, 0.0, 1.0) * levels
        distance = (y - torch.floor(y) - 0.5).abs() / levels
    else:
        distance = x.abs()
    _MARGINS.append(float(distance.min()))


class Binarizer(nn.Module):
    """An activation binarizer; ``kind`` is a key of ``BINARIZERS``."""

    def __init__(self, kind: str) -> None:
        super().__init__()
        self.kind = kind

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _record_margin(x)
        return BINARIZERS[self.kind][0](x)


def dorefa_quantize(x: torch.Tensor, k_bit: int = 2) -> torch.Tensor:
    """larq ``DoReFaQuantizer(k_bit)`` forward: ``round(clip(x, 0, 1) * n) / n``, n = 2^k - 1
    (gradient: straight through inside [0, 1])."""
    n = float(2**k_bit - 1)
    x = torch.clamp(x, 0.0, 1.0)
    _record_margin(x, n)
    q = torch.round(x * n) / n
    if torch.is_grad_enabled() and x.requires_grad:
        return x + (q - x).detach()
    return q


# ============================================================================ binary layers


def _alpha(w: torch.Tensor) -> torch.Tensor:
    """Per-output-channel mean |W|, keepdim (XNOR-Net α; Bi-Real/ReActNet scaling_factor)."""
    return w.abs().mean(dim=tuple(range(1, w.dim())), keepdim=True)


class BinaryWeights(nn.Module):
    """Shared weight handling of the binary layers. ``quant`` is the authors' weight formula:

    * ``bireal``:   ``α·sign(W) - clip(W) + clip(W)`` (Bi-Real HardBinaryConv), α = mean|W|
                    per output channel via three nested means, weights stored flat (n, 1)
    * ``reactnet``: eval-mode ReActNet HardBinaryConv: the layer runs on ``sign(W)`` and its
                    output is multiplied by α (computed from W in the graph)
    * ``xnor``:     ``α · sign(W)`` with α = mean|W| per output channel
    * ``larq``:     ``sign(sign(W) + 0.1)`` (larq ste_sign kernel quantizer)
    * ``dorefa``:   ``sign(sign(W) + 0.1) · mean|W|`` (one α per layer; larq
                    magnitude_aware_sign_unclipped)

    ``freeze()`` replaces the formula by the constant it evaluates to, written the way a deploy
    export has it: ``α·sign(W)`` (exactly ±α, or 0 where W = 0) or ±1."""

    quant: str
    shape: tuple[int, ...]

    def _init_weights(self, shape: tuple[int, ...], quant: str) -> None:
        self.quant = quant
        self.shape = shape
        w = torch.empty(shape)
        nn.init.kaiming_uniform_(w, a=5**0.5)
        if quant == "bireal":
            self.weights = nn.Parameter(w.reshape(-1, 1))
        else:
            self.weight = nn.Parameter(w)
        self.frozen = False

    def latent(self) -> torch.Tensor:
        return self.weights.view(self.shape) if self.quant == "bireal" else self.weight

    def set_latent(self, w: torch.Tensor) -> None:
        with torch.no_grad():
            (self.weights if self.quant == "bireal" else self.weight).copy_(w.reshape_as(self.weights if self.quant == "bireal" else self.weight))

    def authors_weight(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(weight the layer runs on, factor its output is multiplied by or None)."""
        real = self.latent()
        if self.quant == "bireal":
            scaling_factor = torch.mean(torch.mean(torch.mean(abs(real), dim=3, keepdim=True), dim=2, keepdim=True), dim=1, keepdim=True)
            scaling_factor = scaling_factor.detach()
            binary_weights_no_grad = scaling_factor * torch.sign(real)
            cliped_weights = torch.clamp(real, -1.0, 1.0)
            return binary_weights_no_grad.detach() - cliped_weights.detach() + cliped_weights, None
        if self.quant == "reactnet":
            scaling_factor = torch.mean(torch.mean(torch.mean(abs(real), dim=3, keepdim=True), dim=2, keepdim=True), dim=1, keepdim=True)
            return torch.sign(real), scaling_factor.reshape([-1, 1, 1])
        if self.quant == "xnor":
            return _alpha(real) * SignSTE.apply(real), None
        if self.quant == "larq":
            return LarqSteSign.apply(real), None
        if self.quant == "dorefa":
            return LarqSteSign.apply(real) * real.abs().mean().detach(), None
        raise ValueError(self.quant)

    def deploy_weight(self) -> torch.Tensor:
        real = self.latent().detach()
        if self.quant in ("bireal", "reactnet", "xnor"):
            return _alpha(real) * torch.sign(real)
        if self.quant == "larq":
            return torch.sign(torch.sign(real) + 0.1)
        if self.quant == "dorefa":
            return torch.sign(torch.sign(real) + 0.1) * real.abs().mean()
        raise ValueError(self.quant)

    def freeze(self) -> None:
        self.register_buffer("constant_weight", self.deploy_weight().clone())
        self.frozen = True

    def weight_and_scale(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        if self.frozen:
            return self.constant_weight, None
        return self.authors_weight()


class BinConv2d(BinaryWeights):
    """A convolution on binarized latent weights (input binarized by the caller)."""

    def __init__(self, cin: int, cout: int, k: int, stride: int = 1, padding: int = 0, groups: int = 1, quant: str = "xnor") -> None:
        super().__init__()
        self.stride, self.padding, self.groups = stride, padding, groups
        self._init_weights((cout, cin // groups, k, k), quant)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w, scale = self.weight_and_scale()
        y = F.conv2d(x, w, None, self.stride, self.padding, 1, self.groups)
        return y if scale is None else y * scale


class BinLinear(BinaryWeights):
    """A linear layer on binarized latent weights."""

    def __init__(self, cin: int, cout: int, quant: str = "xnor") -> None:
        super().__init__()
        self._init_weights((cout, cin), quant)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w, scale = self.weight_and_scale()
        y = F.linear(x, w)
        return y if scale is None else y * scale.reshape(1, -1)


class LearnableBias(nn.Module):
    """ReActNet's ``LearnableBias`` (the shifts of RSign and RPReLU)."""

    def __init__(self, out_chn: int) -> None:
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(1, out_chn, 1, 1), requires_grad=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.bias.reshape([-1, 1, 1])


def _bn(c: int, eps: float = 1e-5, affine: bool = True, fixed_gamma: bool = False, d1: bool = False) -> nn.Module:
    bn = (nn.BatchNorm1d if d1 else nn.BatchNorm2d)(c, eps=eps, affine=affine)
    bn.fixed_gamma = fixed_gamma  # keras BatchNormalization(scale=False): γ stays 1
    return bn


class ArchNet(nn.Module):
    """Base of the models: ``variant`` picks the binarizer; subclasses list the binarizer per
    variant (``binarizer``), the constructs (``constructs``), the input shape, and may
    customize parameters the authors learn (shifts, PReLU slopes, zero weights)."""

    input_shape: tuple[int, ...] = (1, 3, 16, 16)
    binarizer: dict[str, str] = {"authors": "sign", "deploy": "sign"}
    constructs: tuple[str, ...] = ()
    variant_constructs: dict[str, tuple[str, ...]] = {}
    dataset = "random"  # or "digits"
    weights_authors = ""
    weights_deploy = ""

    def __init__(self, variant: str) -> None:
        super().__init__()
        self.variant = variant
        self.act = Binarizer(self.binarizer[variant])

    def customize(self, generator: torch.Generator) -> None:
        """Set what training would have moved away from its initial value."""


def _uniform(shape, lo: float, hi: float, generator: torch.Generator) -> torch.Tensor:
    return lo + (hi - lo) * torch.rand(shape, generator=generator)


def _randomize_shifts_and_slopes(model: nn.Module, generator: torch.Generator) -> None:
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, LearnableBias):
                module.bias.copy_(0.3 * torch.randn(module.bias.shape, generator=generator))
            elif isinstance(module, nn.PReLU):
                module.weight.copy_(_uniform(module.weight.shape, -0.2, 0.9, generator))


# ============================================================================ 1. Bi-Real Net


class BiRealBlock(nn.Module):
    def __init__(self, net: ArchNet, inplanes: int, planes: int, stride: int = 1, downsample: nn.Module | None = None, quant: str = "bireal") -> None:
        super().__init__()
        self.net = [net]  # the binarizer is the model's (a list keeps it out of the module tree)
        self.binary_conv = BinConv2d(inplanes, planes, 3, stride=stride, padding=1, quant=quant)
        self.bn1 = _bn(planes)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        residual = x
        out = self.net[0].act(x)
        out = self.binary_conv(out)
        out = self.bn1(out)
        if self.downsample is not None:
            residual = self.downsample(x)
        out = out + residual
        return out


def _avgpool_shortcut(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.AvgPool2d(kernel_size=2, stride=2), nn.Conv2d(cin, cout, 1, bias=False), _bn(cout))


class BiRealNet(ArchNet):
    """Bi-Real Net (Liu et al., ECCV 2018) as in liuzechun/Bi-Real-net birealnet.py, on
    load_digits (1x8x8): real stem conv 3x3 + BN; layer1 two blocks at 12 channels, layer2 two
    blocks at 20 (the first stride 2 with the AvgPool 2x2 -> real 1x1 conv -> BN shortcut);
    global average pool, real Linear. authors: BinaryActivation's polynomial STE and
    HardBinaryConv's α·sign(W) - clip(W) + clip(W) on flat latent weights in the graph;
    deploy: torch.sign and constant α·sign(W)."""

    input_shape = (1, 1, 8, 8)
    binarizer = {"authors": "bireal_poly", "deploy": "sign"}
    dataset = "digits"
    constructs = ("real stem", "residual add", "avgpool shortcut", "real 1x1 conv", "global avgpool")
    variant_constructs = {"authors": ("comparison-chain sign", "bireal poly ste")}
    weights_authors = "α·sign(W) - clip(W) + clip(W) in the graph (HardBinaryConv)"
    weights_deploy = "constant α·sign(W), α = mean|W| per output channel"
    quant = "bireal"

    def __init__(self, variant: str) -> None:
        super().__init__(variant)
        q = self.quant
        self.conv1 = nn.Conv2d(1, 12, kernel_size=3, padding=1, bias=False)
        self.bn1 = _bn(12)
        self.layer1 = nn.Sequential(BiRealBlock(self, 12, 12, quant=q), BiRealBlock(self, 12, 12, quant=q))
        self.layer2 = nn.Sequential(
            BiRealBlock(self, 12, 20, stride=2, downsample=_avgpool_shortcut(12, 20), quant=q), BiRealBlock(self, 20, 20, quant=q)
        )
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(20, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.bn1(self.conv1(x))
        x = self.layer2(self.layer1(x))
        x = self.avgpool(x)
        x = x.view(x.size(0), -1)
        return self.fc(x)


# ============================================================================ 2. ReActNet


class ReActResBlock(nn.Module):
    """ReActNet resnet/2_step2 BasicBlock: move0 -> sign -> binary conv -> BN -> + shortcut ->
    move1 -> PReLU -> move2."""

    def __init__(self, net: ArchNet, inplanes: int, planes: int, stride: int = 1, downsample: nn.Module | None = None) -> None:
        super().__init__()
        self.net = [net]
        self.move0 = LearnableBias(inplanes)
        self.binary_conv = BinConv2d(inplanes, planes, 3, stride=stride, padding=1, quant="reactnet")
        self.bn1 = _bn(planes)
        self.move1 = LearnableBias(planes)
        self.prelu = nn.PReLU(planes)
        self.move2 = LearnableBias(planes)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        residual = x
        out = self.move0(x)
        out = self.net[0].act(out)
        out = self.binary_conv(out)
        out = self.bn1(out)
        if self.downsample is not None:
            residual = self.downsample(x)
        out = out + residual
        out = self.move1(out)
        out = self.prelu(out)
        return self.move2(out)


class ReActNetResNet(ArchNet):
    """ReActNet on ResNet-18 (Liu et al., ECCV 2020; liuzechun/ReActNet resnet/2_step2) on
    3x16x16: real stem conv + BN; blocks 12->12, 12->20 (stride 2, AvgPool -> real 1x1 conv ->
    BN shortcut), 20->20, each RSign -> binary conv -> BN -> add -> RPReLU; the 12->20 layer
    has 12% of its latent weights exactly 0. authors: eval-mode HardBinaryConv (conv on
    sign(W), output times α computed from W in the graph) and torch.sign; deploy: constant
    α·sign(W) (zeros kept) and torch.sign."""

    binarizer = {"authors": "sign", "deploy": "sign"}
    constructs = ("real stem", "rsign", "rprelu", "prelu", "residual add", "avgpool shortcut", "real 1x1 conv", "zero weights", "global avgpool")
    variant_constructs = {"authors": ("output-alpha mul",)}
    weights_authors = "Sign(W) in the graph, conv output times α = mean|W| (ReduceMean(Abs(W)) in the graph); sign(0) = 0 weights"
    weights_deploy = "constant α·sign(W) with exact zeros"

    def __init__(self, variant: str) -> None:
        super().__init__(variant)
        self.conv1 = nn.Conv2d(3, 12, kernel_size=3, padding=1, bias=False)
        self.bn1 = _bn(12)
        self.layer1 = ReActResBlock(self, 12, 12)
        self.layer2 = ReActResBlock(self, 12, 20, stride=2, downsample=_avgpool_shortcut(12, 20))
        self.layer3 = ReActResBlock(self, 20, 20)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(20, 10)

    def customize(self, generator: torch.Generator) -> None:
        _randomize_shifts_and_slopes(self, generator)
        conv = self.layer2.binary_conv
        w = conv.latent().detach().clone()
        w[torch.rand(w.shape, generator=generator) < 0.12] = 0.0
        conv.set_latent(w)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.bn1(self.conv1(x))
        x = self.layer3(self.layer2(self.layer1(x)))
        x = self.avgpool(x)
        x = x.view(x.size(0), -1)
        return self.fc(x)


class ReActMobileBlock(nn.Module):
    """ReActNet-A BasicBlock (liuzechun/ReActNet mobilenet/2_step2/reactnet.py)."""

    def __init__(self, net: ArchNet, inplanes: int, planes: int, stride: int = 1) -> None:
        super().__init__()
        self.net = [net]
        self.move11 = LearnableBias(inplanes)
        self.binary_3x3 = BinConv2d(inplanes, inplanes, 3, stride=stride, padding=1, quant="reactnet")
        self.bn1 = _bn(inplanes)
        self.move12 = LearnableBias(inplanes)
        self.prelu1 = nn.PReLU(inplanes)
        self.move13 = LearnableBias(inplanes)
        self.move21 = LearnableBias(inplanes)
        if inplanes == planes:
            self.binary_pw = BinConv2d(inplanes, planes, 1, quant="reactnet")
            self.bn2 = _bn(planes)
        else:
            self.binary_pw_down1 = BinConv2d(inplanes, inplanes, 1, quant="reactnet")
            self.binary_pw_down2 = BinConv2d(inplanes, inplanes, 1, quant="reactnet")
            self.bn2_1 = _bn(inplanes)
            self.bn2_2 = _bn(inplanes)
        self.move22 = LearnableBias(planes)
        self.prelu2 = nn.PReLU(planes)
        self.move23 = LearnableBias(planes)
        self.stride, self.inplanes, self.planes = stride, inplanes, planes
        if inplanes != planes:
            self.pooling = nn.AvgPool2d(2, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        act = self.net[0].act
        out1 = self.move11(x)
        out1 = act(out1)
        out1 = self.binary_3x3(out1)
        out1 = self.bn1(out1)
        if self.stride == 2:
            x = self.pooling(x)
        out1 = x + out1
        out1 = self.move12(out1)
        out1 = self.prelu1(out1)
        out1 = self.move13(out1)
        out2 = self.move21(out1)
        out2 = act(out2)
        if self.inplanes == self.planes:
            out2 = self.binary_pw(out2)
            out2 = self.bn2(out2)
            out2 = out2 + out1
        else:
            out2_1 = self.bn2_1(self.binary_pw_down1(out2)) + out1
            out2_2 = self.bn2_2(self.binary_pw_down2(out2)) + out1
            out2 = torch.cat([out2_1, out2_2], dim=1)
        out2 = self.move22(out2)
        out2 = self.prelu2(out2)
        return self.move23(out2)


class ReActNetMobile(ArchNet):
    """ReActNet-A (MobileNet-based) on 3x16x16: real stem conv stride 2 + BN; blocks 12->12
    and 12->24 (stride 2: AvgPool on the shortcut of the 3x3 conv, then two binary 1x1 convs,
    each + the shortcut, concatenated); global average pool, Linear. authors: the
    activation of mobilenet/1_step1 (polynomial STE in every mode), eval-mode HardBinaryConv
    (sign(W), output times α in the graph); deploy: Where(x >= 0, 1, -1) and constant α·sign(W)."""

    binarizer = {"authors": "bireal_poly", "deploy": "where"}
    constructs = ("real stem", "rsign", "rprelu", "prelu", "residual add", "avgpool shortcut", "concat", "global avgpool")
    variant_constructs = {"authors": ("comparison-chain sign", "bireal poly ste", "output-alpha mul"), "deploy": ("comparison-chain sign",)}
    weights_authors = "Sign(W) in the graph, conv output times α = mean|W| computed in the graph"
    weights_deploy = "constant α·sign(W)"

    def __init__(self, variant: str) -> None:
        super().__init__(variant)
        self.conv1 = nn.Conv2d(3, 12, 3, 2, 1, bias=False)
        self.bn1 = _bn(12)
        self.feature = nn.ModuleList([ReActMobileBlock(self, 12, 12, 1), ReActMobileBlock(self, 12, 24, 2)])
        self.pool1 = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(24, 10)

    def customize(self, generator: torch.Generator) -> None:
        _randomize_shifts_and_slopes(self, generator)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.bn1(self.conv1(x))
        for block in self.feature:
            x = block(x)
        x = self.pool1(x)
        x = x.view(x.size(0), -1)
        return self.fc(x)


# ============================================================================ 3. XNOR-Net


class XnorBinConv2d(nn.Module):
    """jiecaoyu/XNOR-Net-PyTorch ``BinConv2d``: BN -> sign -> conv on α·sign(W), scaled by the
    paper's K (mean |x| over channels, averaged over the kernel window: ``K = A * k``), plus
    bias -> ReLU. ``linear=True`` is the BinConv2d(Linear=True) variant (K = mean |x|)."""

    def __init__(self, net: ArchNet, cin: int, cout: int, k: int = 1, stride: int = 1, padding: int = 0, linear: bool = False) -> None:
        super().__init__()
        self.net = [net]
        self.k, self.stride, self.padding, self.linear = k, stride, padding, linear
        self.bn = _bn(cin, eps=1e-4, d1=linear)
        self.layer = BinLinear(cin, cout, quant="xnor") if linear else BinConv2d(cin, cout, k, stride, padding, quant="xnor")
        self.bias = nn.Parameter(torch.zeros(cout))
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.bn(x)
        a = torch.mean(x.abs(), 1, keepdim=True)
        x = self.net[0].act(x)
        y = self.layer(x)
        if self.linear:
            y = y * a + self.bias
        else:
            kk = F.avg_pool2d(a, self.k, self.stride, self.padding) if self.k > 1 else a
            y = y * kk + self.bias.reshape(1, -1, 1, 1)
        return self.relu(y)


class XnorLeNet(ArchNet):
    """XNOR-Net (Rastegari et al., ECCV 2016) LeNet-5 as in jiecaoyu/XNOR-Net-PyTorch
    MNIST/models/LeNet_5.py, on load_digits (1x8x8): real conv 1->12 3x3 -> BN(affine=False)
    -> ReLU -> MaxPool; BinConv2d 12->24 3x3 (BN -> sign -> α·sign(W) conv x K + b -> ReLU) ->
    MaxPool; BinConv2d(Linear) 96->88 (8448 weights: more than the 8192 up to which the dynamo
    exporter's optimizer folds constants); real Linear 88->10. authors: α·sign(W) in the graph;
    deploy: constant α·sign(W); torch.sign in both."""

    input_shape = (1, 1, 8, 8)
    binarizer = {"authors": "sign", "deploy": "sign"}
    dataset = "digits"
    constructs = ("real stem", "bn before sign", "data-dependent mul", "relu between binary layers", "maxpool", "real classifier")
    weights_authors = "α·sign(W) in the graph (Abs, ReduceMean, Sign, Mul), α = mean|W| per output channel"
    weights_deploy = "constant α·sign(W)"

    def __init__(self, variant: str) -> None:
        super().__init__(variant)
        self.conv1 = nn.Conv2d(1, 12, kernel_size=3, padding=1)
        self.bn_conv1 = _bn(12, eps=1e-4, affine=False)
        self.relu_conv1 = nn.ReLU(inplace=True)
        self.pool1 = nn.MaxPool2d(kernel_size=2, stride=2)
        self.bin_conv2 = XnorBinConv2d(self, 12, 24, k=3, padding=1)
        self.pool2 = nn.MaxPool2d(kernel_size=2, stride=2)
        self.bin_ip1 = XnorBinConv2d(self, 24 * 2 * 2, 88, linear=True)
        self.ip2 = nn.Linear(88, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool1(self.relu_conv1(self.bn_conv1(self.conv1(x))))
        x = self.pool2(self.bin_conv2(x))
        x = x.reshape(x.size(0), 24 * 2 * 2)
        return self.ip2(self.bin_ip1(x))


class XnorNIN(ArchNet):
    """XNOR-Net NIN as in jiecaoyu/XNOR-Net-PyTorch CIFAR_10/models/nin.py on 3x16x16: real
    conv 3->16 5x5 -> BN(affine=False) -> ReLU; BinConv2d 16->16 1x1, 16->16 1x1; MaxPool 3/2;
    BinConv2d 16->20 3x3, 20->20 1x1; AvgPool 3/2; BinConv2d 20->16 3x3, 16->16 1x1;
    BN(affine=False) -> real conv 16->10 1x1 -> ReLU -> AvgPool 4. Each BinConv2d: BN -> sign ->
    α·sign(W) conv x K + b -> ReLU; the first BN has one channel with γ = 0. authors: α·sign(W)
    in the graph, torch.sign; deploy: constant α·sign(W), 2*Cast(x >= 0) - 1."""

    binarizer = {"authors": "sign", "deploy": "ge_cast"}
    constructs = ("real stem", "bn before sign", "data-dependent mul", "relu between binary layers", "maxpool", "avgpool", "real 1x1 conv", "gamma zero")
    variant_constructs = {"deploy": ("comparison-chain sign",)}
    weights_authors = "α·sign(W) in the graph, α = mean|W| per output channel"
    weights_deploy = "constant α·sign(W)"

    def __init__(self, variant: str) -> None:
        super().__init__(variant)
        self.xnor = nn.Sequential(
            nn.Conv2d(3, 16, kernel_size=5, stride=1, padding=2),
            _bn(16, eps=1e-4, affine=False),
            nn.ReLU(inplace=True),
            XnorBinConv2d(self, 16, 16, k=1),
            XnorBinConv2d(self, 16, 16, k=1),
            nn.MaxPool2d(kernel_size=3, stride=2, padding=1),
            XnorBinConv2d(self, 16, 20, k=3, padding=1),
            XnorBinConv2d(self, 20, 20, k=1),
            nn.AvgPool2d(kernel_size=3, stride=2, padding=1),
            XnorBinConv2d(self, 20, 16, k=3, padding=1),
            XnorBinConv2d(self, 16, 16, k=1),
            _bn(16, eps=1e-4, affine=False),
            nn.Conv2d(16, 10, kernel_size=1, stride=1, padding=0),
            nn.ReLU(inplace=True),
            nn.AvgPool2d(kernel_size=4, stride=1, padding=0),
        )

    def customize_bn(self, generator: torch.Generator) -> None:
        with torch.no_grad():
            self.xnor[3].bn.weight[int(torch.randint(16, (1,), generator=generator))] = 0.0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.xnor(x)
        return x.view(x.size(0), 10)


# ============================================================================ 4. BinaryDenseNet


class DenseLayer(nn.Module):
    """larq zoo ``densely_connected_block``: BN -> ste_sign -> binary 3x3 conv -> concat."""

    def __init__(self, net: ArchNet, cin: int, growth: int) -> None:
        super().__init__()
        self.net = [net]
        self.bn = _bn(cin)
        self.conv = BinConv2d(cin, growth, 3, padding=1, quant="larq")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(self.net[0].act(self.bn(x)))
        return torch.cat([x, y], dim=1)


class BinaryDenseNet(ArchNet):
    """BinaryDenseNet (Bethge et al. 2019; larq zoo literature/densenet.py) on 3x16x16: real
    stem conv 3->16 (the zoo's small-input path, no BN); dense block of 3 layers (growth 6:
    BN -> sign -> binary 3x3 conv, concatenated to the features) 16->34; transition BN ->
    MaxPool 2 -> ReLU -> real 1x1 conv 34->24; dense block of 2 layers 24->36; BN -> ReLU ->
    global average pool -> Linear. authors: larq ste_sign on activations and on the latent
    weights in the graph; deploy: Where(x >= 0, 1, -1), constant ±1 weights."""

    binarizer = {"authors": "larq", "deploy": "where"}
    constructs = ("real stem", "concat", "bn before sign", "maxpool", "real 1x1 conv", "global avgpool")
    variant_constructs = {"authors": ("sign(sign(x)+c)",), "deploy": ("comparison-chain sign",)}
    weights_authors = "Sign(Sign(W) + 0.1) in the graph"
    weights_deploy = "constant ±1"

    def __init__(self, variant: str) -> None:
        super().__init__(variant)
        self.stem = nn.Conv2d(3, 16, 3, padding=1, bias=False)
        self.block1 = nn.Sequential(*(DenseLayer(self, 16 + 6 * i, 6) for i in range(3)))
        self.trans_bn = _bn(34)
        self.trans_pool = nn.MaxPool2d(2, 2)
        self.trans_conv = nn.Conv2d(34, 24, 1, bias=False)
        self.block2 = nn.Sequential(*(DenseLayer(self, 24 + 6 * i, 6) for i in range(2)))
        self.final_bn = _bn(36)
        self.fc = nn.Linear(36, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.block1(self.stem(x))
        x = self.trans_conv(F.relu(self.trans_pool(self.trans_bn(x))))
        x = self.block2(x)
        x = F.relu(self.final_bn(x))
        x = x.mean(dim=(2, 3))
        return self.fc(x)


# ============================================================================ 5. MeliusNet


class GroupConv(nn.Module):
    """A float grouped conv. ``split=True`` writes it as larq zoo's ``group_conv`` does (split
    the channels, one Conv2D per group, concat); otherwise one Conv with ``group``."""

    def __init__(self, cin: int, cout: int, k: int, groups: int, split: bool) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.empty(cout, cin // groups, k, k))
        nn.init.kaiming_uniform_(self.weight, a=5**0.5)
        self.groups, self.split, self.padding = groups, split, k // 2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.split:
            return F.conv2d(x, self.weight, None, 1, self.padding, 1, self.groups)
        xs = torch.split(x, x.shape[1] // self.groups, dim=1)
        ws = torch.split(self.weight, self.weight.shape[0] // self.groups, dim=0)
        return torch.cat([F.conv2d(xi, wi, None, 1, self.padding) for xi, wi in zip(xs, ws)], dim=1)


class MeliusBlock(nn.Module):
    """MeliusNet block: dense block (BN -> sign -> binary 3x3 conv, concat) then improvement
    block (BN -> sign -> binary 3x3 conv, padded on the channel axis and added to the last
    ``growth`` channels)."""

    def __init__(self, net: ArchNet, cin: int, growth: int = 6) -> None:
        super().__init__()
        self.net = [net]
        self.growth = growth
        self.dense_bn = _bn(cin)
        self.dense_conv = BinConv2d(cin, growth, 3, padding=1, quant="larq")
        self.improve_bn = _bn(cin + growth)
        self.improve_conv = BinConv2d(cin + growth, growth, 3, padding=1, quant="larq")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        act = self.net[0].act
        w = self.dense_conv(act(self.dense_bn(x)))
        x = torch.cat([x, w], dim=1)
        w = self.improve_conv(act(self.improve_bn(x)))
        f_in = x.shape[1]
        return x + F.pad(w, (0, 0, 0, 0, f_in - self.growth, 0))


class MeliusNet(ArchNet):
    """MeliusNet (Bethge et al. 2020; larq zoo literature/meliusnet.py) on 3x16x16: group stem
    (real conv 3->16, BN, ReLU; grouped conv 16->16 g=4, BN, ReLU; grouped conv 16->16 g=8,
    BN, ReLU; MaxPool 2); two MeliusNet blocks (growth 6) 16->28; transition BN -> MaxPool 2 ->
    ReLU -> real 1x1 conv 28->16; one block 16->22; BN -> ReLU -> global average pool -> Linear.
    authors: larq ste_sign in the graph, grouped convs as split/conv/concat; deploy:
    2*Cast(Not(x < 0)) - 1, constant ±1 weights, grouped convs as Conv(group)."""

    binarizer = {"authors": "larq", "deploy": "not_less"}
    constructs = ("real stem", "grouped float conv", "concat", "channel pad+add", "residual add", "bn before sign", "maxpool", "real 1x1 conv", "global avgpool")
    variant_constructs = {"authors": ("sign(sign(x)+c)",), "deploy": ("comparison-chain sign",)}
    weights_authors = "Sign(Sign(W) + 0.1) in the graph"
    weights_deploy = "constant ±1"

    def __init__(self, variant: str) -> None:
        super().__init__(variant)
        split = variant == "authors"
        self.stem_conv = nn.Conv2d(3, 16, 3, padding=1, bias=False)
        self.stem_bn1 = _bn(16)
        self.stem_g1 = GroupConv(16, 16, 3, 4, split)
        self.stem_bn2 = _bn(16)
        self.stem_g2 = GroupConv(16, 16, 3, 8, split)
        self.stem_bn3 = _bn(16)
        self.pool = nn.MaxPool2d(2, 2)
        self.blocks1 = nn.Sequential(MeliusBlock(self, 16), MeliusBlock(self, 22))
        self.trans_bn = _bn(28)
        self.trans_conv = nn.Conv2d(28, 16, 1, bias=False)
        self.blocks2 = MeliusBlock(self, 16)
        self.final_bn = _bn(22)
        self.fc = nn.Linear(22, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.stem_bn1(self.stem_conv(x)))
        x = F.relu(self.stem_bn2(self.stem_g1(x)))
        x = self.pool(F.relu(self.stem_bn3(self.stem_g2(x))))
        x = self.blocks1(x)
        x = self.trans_conv(F.relu(self.pool(self.trans_bn(x))))
        x = self.blocks2(x)
        x = F.relu(self.final_bn(x)).mean(dim=(2, 3))
        return self.fc(x)


# ============================================================================ 6. QuickNet


def _blurpool_kernel(channels: int) -> torch.Tensor:
    k = torch.tensor([1.0, 2.0, 1.0])
    k = torch.outer(k, k)
    k = k / k.sum()
    return k.expand(channels, 1, 3, 3).clone()


class QuickResidual(nn.Module):
    """QuickNet ``residual_block``: ste_sign -> Pad(+1) -> binary 3x3 conv -> ReLU -> BN -> + x."""

    def __init__(self, net: ArchNet, c: int) -> None:
        super().__init__()
        self.net = [net]
        self.conv = BinConv2d(c, c, 3, padding=0, quant="larq")
        self.bn = _bn(c)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.net[0].act(x)
        y = F.pad(y, (1, 1, 1, 1), value=1.0)
        y = F.relu(self.conv(y))
        return self.bn(y) + x


class QuickNet(ArchNet):
    """QuickNet (larq zoo sota/quicknet.py) on 3x32x32: stem real conv 3->8 3x3/2 -> BN -> ReLU
    -> float depthwise 3x3/2 -> BN(scale=False, center=False) -> real 1x1 conv 8->12 -> BN;
    section of 2 residual blocks at 12 (ste_sign -> Pad(value=+1) -> binary 3x3 conv -> ReLU
    -> BN -> + shortcut); transition ReLU -> MaxPool 2/1 -> fixed float depthwise blur-pool
    3x3/2 -> real 1x1 conv 12->16 -> BN; 2 residual blocks at 16; ReLU -> global average pool
    -> Linear. authors: larq ste_sign in the graph; deploy: the same Sign(Sign(x)+0.1) on
    activations (as tf2onnx writes it), constant ±1 weights."""

    input_shape = (1, 3, 32, 32)
    binarizer = {"authors": "larq", "deploy": "larq"}
    constructs = ("real stem", "pad+1", "relu-bn", "residual add", "depthwise float conv", "maxpool", "real 1x1 conv", "global avgpool", "sign(sign(x)+c)")
    weights_authors = "Sign(Sign(W) + 0.1) in the graph"
    weights_deploy = "constant ±1"

    def __init__(self, variant: str) -> None:
        super().__init__(variant)
        self.stem_conv = nn.Conv2d(3, 8, 3, stride=2, padding=1, bias=False)
        self.stem_bn1 = _bn(8)
        self.stem_dw = nn.Conv2d(8, 8, 3, stride=2, padding=1, groups=8, bias=False)
        self.stem_bn2 = _bn(8, affine=False)
        self.stem_pw = nn.Conv2d(8, 12, 1, bias=False)
        self.stem_bn3 = _bn(12)
        self.section1 = nn.Sequential(QuickResidual(self, 12), QuickResidual(self, 12))
        self.trans_pool = nn.MaxPool2d(2, stride=1)
        self.trans_blur = nn.Conv2d(12, 12, 3, stride=2, padding=1, groups=12, bias=False)
        self.trans_blur.weight.requires_grad_(False)
        with torch.no_grad():
            self.trans_blur.weight.copy_(_blurpool_kernel(12))
        self.trans_conv = nn.Conv2d(12, 16, 1, bias=False)
        self.trans_bn = _bn(16)
        self.section2 = nn.Sequential(QuickResidual(self, 16), QuickResidual(self, 16))
        self.fc = nn.Linear(16, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.stem_bn1(self.stem_conv(x)))
        x = self.stem_bn3(self.stem_pw(self.stem_bn2(self.stem_dw(x))))
        x = self.section1(x)
        x = self.trans_blur(self.trans_pool(F.relu(x)))
        x = self.trans_bn(self.trans_conv(x))
        x = self.section2(x)
        x = F.relu(x).mean(dim=(2, 3))
        return self.fc(x)


# ============================================================================ 7. Real-to-Binary Net


class R2BHalfBlock(nn.Module):
    """Real-to-Binary Net ``half_binary_block``: shortcut (identity or AvgPool -> real 1x1 conv
    -> BN); BN -> ste_sign -> binary 3x3 conv; output times the data-dependent scale
    sigmoid(W2 relu(W1 GAP(BN input))); PReLU; + shortcut."""

    def __init__(self, net: ArchNet, cin: int, cout: int, stride: int = 1, scaling_r: int = 4) -> None:
        super().__init__()
        self.net = [net]
        self.shortcut = _avgpool_shortcut(cin, cout) if cin != cout else None
        self.bn = _bn(cin)
        self.conv = BinConv2d(cin, cout, 3, stride=stride, padding=1, quant="larq")
        self.reduce = nn.Linear(cin, cin // scaling_r, bias=False)
        self.expand = nn.Linear(cin // scaling_r, cout, bias=False)
        self.prelu = nn.PReLU(cout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x if self.shortcut is None else self.shortcut(x)
        conv_input = self.bn(x)
        conv_output = self.conv(self.net[0].act(conv_input))
        z = conv_input.mean(dim=(2, 3))
        scales = torch.sigmoid(self.expand(F.relu(self.reduce(z))))
        y = conv_output * scales.reshape(scales.shape[0], -1, 1, 1)
        return self.prelu(y) + shortcut


class RealToBinaryNet(ArchNet):
    """Real-to-Binary Net (Martinez et al., ICLR 2020; larq zoo literature/real_to_bin_nets.py,
    RealToBinNetBNN) on 3x16x16: first block real conv 3->12 -> BN -> ReLU -> MaxPool 3/2; two
    blocks of two half blocks: 12->12, 12->12; 12->20 (stride 2, AvgPool shortcut), 20->20;
    global average pool -> Linear. authors: larq ste_sign in the graph; deploy: 1 - 2*Cast(x < 0),
    constant ±1 weights."""

    binarizer = {"authors": "larq", "deploy": "less_cast"}
    constructs = ("real stem", "data-dependent mul", "prelu", "residual add", "avgpool shortcut", "real 1x1 conv", "bn before sign", "maxpool", "global avgpool")
    variant_constructs = {"authors": ("sign(sign(x)+c)",), "deploy": ("comparison-chain sign",)}
    weights_authors = "Sign(Sign(W) + 0.1) in the graph"
    weights_deploy = "constant ±1"

    def __init__(self, variant: str) -> None:
        super().__init__(variant)
        self.conv1 = nn.Conv2d(3, 12, 3, padding=1, bias=False)
        self.bn1 = _bn(12)
        self.pool = nn.MaxPool2d(3, stride=2, padding=1)
        self.blocks = nn.Sequential(
            R2BHalfBlock(self, 12, 12), R2BHalfBlock(self, 12, 12), R2BHalfBlock(self, 12, 20, stride=2), R2BHalfBlock(self, 20, 20)
        )
        self.fc = nn.Linear(20, 10)

    def customize(self, generator: torch.Generator) -> None:
        _randomize_shifts_and_slopes(self, generator)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool(F.relu(self.bn1(self.conv1(x))))
        x = self.blocks(x)
        return self.fc(x.mean(dim=(2, 3)))


# ============================================================================ 8. DoReFa-Net


class DoReFaNet(ArchNet):
    """DoReFa-Net (Zhou et al. 2016; larq zoo literature/dorefanet.py) on 3x16x16: real conv
    3->16 5x5 with bias; conv blocks (2-bit quantizer round(clip(x,0,1)*3)/3 -> conv on
    α·sign(W) -> BN(scale=False, eps 1e-4) [-> MaxPool 3/2]) 16->16 pool, 16->16, 16->8 pool;
    flatten -> 2-bit -> binary-weight Linear 128->32 -> BN1d(scale=False); clip(0, 1) -> Linear.
    α = mean|W| per layer. authors: sign(sign(W)+0.1)·mean|W| in the graph; deploy: constant
    α·(±1) weights. The activations are the 2-bit quantizer in both."""

    binarizer = {"authors": "sign", "deploy": "sign"}  # unused: no binary activations
    constructs = ("real stem", "k-bit activations", "maxpool", "bn scale=False")
    weights_authors = "Sign(Sign(W) + 0.1) · mean|W| (one α per layer) in the graph"
    weights_deploy = "constant ±α, one α per layer"

    def __init__(self, variant: str) -> None:
        super().__init__(variant)
        self.stem = nn.Conv2d(3, 16, 5, padding=2, bias=True)
        self.conv2 = BinConv2d(16, 16, 3, padding=1, quant="dorefa")
        self.bn2 = _bn(16, eps=1e-4, fixed_gamma=True)
        self.conv3 = BinConv2d(16, 16, 3, padding=1, quant="dorefa")
        self.bn3 = _bn(16, eps=1e-4, fixed_gamma=True)
        self.conv4 = BinConv2d(16, 8, 3, padding=1, quant="dorefa")
        self.bn4 = _bn(8, eps=1e-4, fixed_gamma=True)
        self.pool = nn.MaxPool2d(3, stride=2, padding=1)
        self.fc1 = BinLinear(128, 32, quant="dorefa")
        self.bn5 = _bn(32, eps=1e-4, fixed_gamma=True, d1=True)
        self.fc2 = nn.Linear(32, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        x = self.pool(self.bn2(self.conv2(dorefa_quantize(x))))
        x = self.bn3(self.conv3(dorefa_quantize(x)))
        x = self.pool(self.bn4(self.conv4(dorefa_quantize(x))))
        x = torch.flatten(x, 1)
        x = self.bn5(self.fc1(dorefa_quantize(x)))
        return self.fc2(torch.clamp(x, 0.0, 1.0))


# ============================================================================ 9. BinaryResNetE18


class ResNetEBlock(nn.Module):
    """larq zoo BinaryResNetE ``residual_block``: [AvgPool -> real 1x1 conv -> BN shortcut];
    ste_sign -> binary 3x3 conv -> BN -> + shortcut."""

    def __init__(self, net: ArchNet, cin: int, cout: int, stride: int = 1) -> None:
        super().__init__()
        self.net = [net]
        self.shortcut = _avgpool_shortcut(cin, cout) if cin != cout else None
        self.conv = BinConv2d(cin, cout, 3, stride=stride, padding=1, quant="larq")
        self.bn = _bn(cout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        residual = x if self.shortcut is None else self.shortcut(x)
        return self.bn(self.conv(self.net[0].act(x))) + residual


class BinaryResNetE(ArchNet):
    """BinaryResNetE18 (Bethge et al. 2019; larq zoo literature/resnet_e.py) on 3x16x16: real
    stem conv 3->12 (small-input path, no BN); residual blocks 12, 12, 12->20 (stride 2,
    AvgPool 2 -> real 1x1 conv -> BN shortcut), 24; ReLU -> global average pool -> Linear.
    authors: larq ste_sign in the graph; deploy: Sign(Sign(x) + 0.1) on activations, constant
    ±1 weights."""

    binarizer = {"authors": "larq", "deploy": "larq"}
    constructs = ("real stem", "residual add", "avgpool shortcut", "real 1x1 conv", "global avgpool", "sign(sign(x)+c)")
    weights_authors = "Sign(Sign(W) + 0.1) in the graph"
    weights_deploy = "constant ±1"

    def __init__(self, variant: str) -> None:
        super().__init__(variant)
        self.stem = nn.Conv2d(3, 12, 3, padding=1, bias=False)
        self.blocks = nn.Sequential(
            ResNetEBlock(self, 12, 12), ResNetEBlock(self, 12, 12), ResNetEBlock(self, 12, 20, stride=2), ResNetEBlock(self, 20, 20)
        )
        self.fc = nn.Linear(20, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.blocks(self.stem(x))
        return self.fc(F.relu(x).mean(dim=(2, 3)))


# ============================================================================ Brevitas versions


def _brevitas():
    """Brevitas quantizers (imported lazily: brevitas is only needed for those variants)."""
    import brevitas.nn as qnn
    from brevitas.core.quant import BinaryQuant
    from brevitas.inject.enum import RestrictValueType, ScalingImplType, StatsOp
    from brevitas.quant import SignedBinaryActPerTensorConst, SignedBinaryWeightPerTensorConst, Uint8ActPerTensorFloat

    class BinaryWeightPerChannelMeanAbs(SignedBinaryWeightPerTensorConst):
        """±α per output channel, α = mean|W| (XNOR-Net, Bi-Real): BipolarQuant(W, α). The
        non-clamping BinaryQuant: the default ClampedBinaryQuant clamps the weights in place."""

        tensor_quant = BinaryQuant
        scaling_impl_type = ScalingImplType.STATS
        scaling_stats_op = StatsOp.AVE
        scaling_per_output_channel = True
        restrict_scaling_type = RestrictValueType.FP

    class BinaryWeightPerTensorMeanAbs(BinaryWeightPerChannelMeanAbs):
        scaling_per_output_channel = False

    class Uint2ActUnitRange(Uint8ActPerTensorFloat):
        """DoReFa's 2-bit activations: Quant(x, 1/3, 0, 2, unsigned) = clip(round(3x), 0, 3)/3."""

        bit_width = 2
        max_val = 1.0
        scaling_impl_type = ScalingImplType.CONST
        scaling_const = 1.0
        restrict_scaling_type = RestrictValueType.FP

    return qnn, BinaryWeightPerChannelMeanAbs, BinaryWeightPerTensorMeanAbs, SignedBinaryActPerTensorConst, Uint2ActUnitRange


class BrevitasBiRealNet(nn.Module):
    """Bi-Real Net written with Brevitas: QuantIdentity(SignedBinaryActPerTensorConst) as the
    binarizer (BipolarQuant, 0 -> +1), QuantConv2d with ±α per output channel (BipolarQuant(W,
    α = mean|W|)); the trained weights and BatchNorms of ``bireal``."""

    def __init__(self) -> None:
        super().__init__()
        qnn, wq, _, aq, _ = _brevitas()

        def block(cin: int, cout: int, stride: int, downsample: nn.Module | None) -> nn.Module:
            b = nn.Module()
            b.binary_activation = qnn.QuantIdentity(act_quant=aq)
            b.binary_conv = qnn.QuantConv2d(cin, cout, 3, stride=stride, padding=1, bias=False, weight_quant=wq)
            b.bn1 = _bn(cout)
            b.downsample = downsample
            return b

        self.conv1 = nn.Conv2d(1, 12, kernel_size=3, padding=1, bias=False)
        self.bn1 = _bn(12)
        self.layer1 = nn.Sequential(block(12, 12, 1, None), block(12, 12, 1, None))
        self.layer2 = nn.Sequential(block(12, 20, 2, _avgpool_shortcut(12, 20)), block(20, 20, 1, None))
        self.fc = nn.Linear(20, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.bn1(self.conv1(x))
        for b in [*self.layer1, *self.layer2]:
            residual = x if b.downsample is None else b.downsample(x)
            x = b.bn1(b.binary_conv(b.binary_activation(x))) + residual
        x = x.mean(dim=(2, 3))
        return self.fc(x)


class BrevitasXnorLeNet(nn.Module):
    """XNOR-Net LeNet written with Brevitas: BN -> QuantIdentity(binary, BipolarQuant 0 -> +1)
    -> QuantConv2d/QuantLinear with ±α per output channel -> x K (data-dependent) + b -> ReLU;
    the trained weights of ``xnor_lenet``."""

    def __init__(self) -> None:
        super().__init__()
        qnn, wq, _, aq, _ = _brevitas()
        self.conv1 = nn.Conv2d(1, 12, kernel_size=3, padding=1)
        self.bn_conv1 = _bn(12, eps=1e-4, affine=False)
        self.pool = nn.MaxPool2d(2, 2)
        self.bin_conv2 = nn.Module()
        self.bin_conv2.bn = _bn(12, eps=1e-4)
        self.bin_conv2.act = qnn.QuantIdentity(act_quant=aq)
        self.bin_conv2.layer = qnn.QuantConv2d(12, 24, 3, padding=1, bias=False, weight_quant=wq)
        self.bin_conv2.bias = nn.Parameter(torch.zeros(24))
        self.bin_ip1 = nn.Module()
        self.bin_ip1.bn = _bn(96, eps=1e-4, d1=True)
        self.bin_ip1.act = qnn.QuantIdentity(act_quant=aq)
        self.bin_ip1.layer = qnn.QuantLinear(96, 88, bias=False, weight_quant=wq)
        self.bin_ip1.bias = nn.Parameter(torch.zeros(88))
        self.ip2 = nn.Linear(88, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool(F.relu(self.bn_conv1(self.conv1(x))))
        b = self.bin_conv2
        x = b.bn(x)
        k = F.avg_pool2d(torch.mean(x.abs(), 1, keepdim=True), 3, 1, 1)
        x = F.relu(b.layer(b.act(x)) * k + b.bias.reshape(1, -1, 1, 1))
        x = self.pool(x).reshape(x.shape[0], 96)
        b = self.bin_ip1
        x = b.bn(x)
        k = torch.mean(x.abs(), 1, keepdim=True)
        x = F.relu(b.layer(b.act(x)) * k + b.bias)
        return self.ip2(x)


class BrevitasDoReFaNet(nn.Module):
    """DoReFa-Net written with Brevitas: QuantReLU with a 2-bit unit-range quantizer (Quant,
    scale 1/3) before each binary-weight layer (BipolarQuant(W, mean|W|) per tensor); the
    parameters of ``dorefanet``."""

    def __init__(self) -> None:
        super().__init__()
        qnn, _, wq, _, a2 = _brevitas()
        self.stem = nn.Conv2d(3, 16, 5, padding=2, bias=True)
        self.q2, self.q3, self.q4, self.q5 = (qnn.QuantReLU(act_quant=a2) for _ in range(4))
        self.conv2 = qnn.QuantConv2d(16, 16, 3, padding=1, bias=False, weight_quant=wq)
        self.bn2 = _bn(16, eps=1e-4)
        self.conv3 = qnn.QuantConv2d(16, 16, 3, padding=1, bias=False, weight_quant=wq)
        self.bn3 = _bn(16, eps=1e-4)
        self.conv4 = qnn.QuantConv2d(16, 8, 3, padding=1, bias=False, weight_quant=wq)
        self.bn4 = _bn(8, eps=1e-4)
        self.pool = nn.MaxPool2d(3, stride=2, padding=1)
        self.fc1 = qnn.QuantLinear(128, 32, bias=False, weight_quant=wq)
        self.bn5 = _bn(32, eps=1e-4, d1=True)
        self.fc2 = nn.Linear(32, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        x = self.pool(self.bn2(self.conv2(self.q2(x))))
        x = self.bn3(self.conv3(self.q3(x)))
        x = self.pool(self.bn4(self.conv4(self.q4(x))))
        x = self.bn5(self.fc1(self.q5(torch.flatten(x, 1))))
        return self.fc2(torch.clamp(x, 0.0, 1.0))


# ============================================================================ parameters


def digits() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """scikit-learn's load_digits as (N, 1, 8, 8) float32 in [0, 1] (pixel / 16), split 80/20
    stratified with random_state 0: (x_train, y_train, x_test, y_test)."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    data = load_digits()
    x = (data.images / 16.0).astype(np.float32)[:, None]
    xtr, xte, ytr, yte = train_test_split(x, data.target, test_size=0.2, random_state=0, stratify=data.target)
    return xtr, ytr.astype(np.int64), xte, yte.astype(np.int64)


def _batchnorms(model: nn.Module) -> list[nn.modules.batchnorm._BatchNorm]:
    return [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]


def calibrate_and_perturb(model: ArchNet, generator: torch.Generator) -> None:
    """Running statistics from one batch of 64 random inputs (train-mode batch statistics of
    each BatchNorm's real input), then perturbed as training leaves them: mean shifted by
    N(0, 0.3)·std, variance scaled by U(0.5, 2); γ = ±U(0.4, 1.5) (30% negative) unless fixed
    to 1, β = U(-0.5, 0.5) kept away from 0."""
    shape = (64,) + tuple(model.input_shape[1:])
    x = torch.rand(shape, generator=generator)
    bns = _batchnorms(model)
    for bn in bns:
        bn.reset_running_stats()
        bn.momentum = None  # cumulative average: one batch gives that batch's statistics
    model.train()
    with torch.no_grad():
        model(x)
    with torch.no_grad():
        for bn in bns:
            bn.momentum = 0.1
            c = bn.num_features
            std = bn.running_var.sqrt()
            bn.running_mean.add_(0.3 * torch.randn(c, generator=generator) * std)
            bn.running_var.mul_(_uniform(c, 0.5, 2.0, generator))
            if bn.affine:
                gamma = _uniform(c, 0.4, 1.5, generator) * torch.where(torch.rand(c, generator=generator) < 0.3, -1.0, 1.0)
                beta = _uniform(c, -0.5, 0.5, generator)
                beta = torch.where(beta.abs() < 0.05, torch.full_like(beta, 0.1), beta)
                bn.weight.copy_(torch.ones(c) if getattr(bn, "fixed_gamma", False) else gamma)
                bn.bias.copy_(beta)
    if hasattr(model, "customize_bn"):
        model.customize_bn(generator)
    model.eval()


def train_digits(model: ArchNet, seed: int, epochs: int = 30) -> None:
    """A few epochs of Adam on load_digits with the model's own straight-through estimators."""
    xtr, ytr, _, _ = digits()
    fit(model, xtr, ytr, seed, epochs)


def fit(model: nn.Module, xtr: np.ndarray, ytr: np.ndarray, seed: int, epochs: int) -> None:
    """``epochs`` of Adam (lr 0.01, cosine schedule, batches of 32 in a seeded order) on
    cross-entropy; the model is left in eval mode."""
    generator = torch.Generator().manual_seed(seed)
    x, y = torch.from_numpy(xtr), torch.from_numpy(ytr)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, epochs)
    model.train()
    for _ in range(epochs):
        order = torch.randperm(len(x), generator=generator)
        for start in range(0, len(x), 32):
            idx = order[start : start + 32]
            optimizer.zero_grad()
            loss = F.cross_entropy(model(x[idx]), y[idx])
            loss.backward()
            optimizer.step()
        schedule.step()
    model.eval()


def accuracy(predict, x: np.ndarray, y: np.ndarray) -> float:
    correct = sum(int(np.argmax(predict(x[i : i + 1]))) == int(y[i]) for i in range(len(x)))
    return correct / len(x)


@dataclass(frozen=True)
class Exporter:
    """One way of calling ``torch.onnx.export`` (or Brevitas' ``export_qonnx``)."""

    name: str
    dynamo: bool
    opset: int
    optimize: bool = True
    qonnx: bool = False

    def describe(self) -> str:
        if self.qonnx:
            return f"brevitas.export.export_qonnx (dynamo={self.dynamo}, opset_version={self.opset})"
        if not self.dynamo:
            return f"TorchScript exporter (dynamo=False, opset_version={self.opset})"
        return f"dynamo exporter (dynamo=True, opset_version={self.opset}" + (", optimize=False)" if not self.optimize else ")")


TS13 = Exporter("ts13", dynamo=False, opset=13)
TS17 = Exporter("ts17", dynamo=False, opset=17)
DYNAMO18 = Exporter("dynamo18", dynamo=True, opset=18)
DYNAMO18_NOOPT = Exporter("dynamo18_noopt", dynamo=True, opset=18, optimize=False)
QONNX_DYNAMO = Exporter("qonnx_dynamo18", dynamo=True, opset=18, qonnx=True)
QONNX_TS = Exporter("qonnx_ts17", dynamo=False, opset=17, qonnx=True)


@dataclass(frozen=True)
class Arch:
    name: str
    architecture: str
    cls: type[ArchNet]
    seed: int
    trained: bool = False
    exporters: dict[str, tuple[Exporter, ...]] = field(default_factory=lambda: {"authors": (TS17, DYNAMO18), "deploy": (TS13, DYNAMO18)})


ARCHS = (
    Arch("bireal", "Bi-Real Net", BiRealNet, 21, trained=True, exporters={"authors": (TS17, DYNAMO18, DYNAMO18_NOOPT), "deploy": (TS13, DYNAMO18)}),
    Arch("reactnet_resnet", "ReActNet (ResNet-18 based)", ReActNetResNet, 22),
    Arch("reactnet_mobilenet", "ReActNet-A (MobileNet based)", ReActNetMobile, 23),
    Arch("xnor_lenet", "XNOR-Net (LeNet-5)", XnorLeNet, 24, trained=True),
    Arch("xnor_nin", "XNOR-Net (NIN)", XnorNIN, 25),
    Arch("binary_densenet", "BinaryDenseNet", BinaryDenseNet, 26),
    Arch("meliusnet", "MeliusNet", MeliusNet, 27),
    Arch("quicknet", "QuickNet", QuickNet, 28),
    Arch("real_to_binary", "Real-to-Binary Net", RealToBinaryNet, 29),
    Arch("dorefanet", "DoReFa-Net", DoReFaNet, 30),
    Arch("binary_resnet_e", "BinaryResNetE18", BinaryResNetE, 31),
)
ARCH_BY_NAME = {a.name: a for a in ARCHS}

# Brevitas versions: (file stem, architecture of the parameters, class, description of the
# activation binarizer, constructs)
BREVITAS = (
    ("bireal", BrevitasBiRealNet, ("real stem", "residual add", "avgpool shortcut", "real 1x1 conv", "global avgpool", "qonnx bipolarquant")),
    ("xnor_lenet", BrevitasXnorLeNet, ("real stem", "bn before sign", "data-dependent mul", "relu between binary layers", "maxpool", "real classifier", "qonnx bipolarquant")),
    ("dorefanet", BrevitasDoReFaNet, ("real stem", "k-bit activations", "maxpool", "bn scale=False", "qonnx quant")),
)
BREVITAS_WEIGHTS = {
    "bireal": "BipolarQuant(W, α) with α = mean|W| per output channel (brevitas scaling_stats_op AVE)",
    "xnor_lenet": "BipolarQuant(W, α) with α = mean|W| per output channel",
    "dorefanet": "BipolarQuant(W, α) with one α = mean|W| per layer",
}


@functools.lru_cache(maxsize=None)
def base_state(name: str) -> tuple[dict[str, torch.Tensor], dict]:
    """The parameters every variant of an architecture shares: seeded initialization, the
    authors' customizations, then training (on load_digits) or calibrated BatchNorms."""
    arch = ARCH_BY_NAME[name]
    torch.manual_seed(arch.seed)
    generator = torch.Generator().manual_seed(arch.seed + 1000)
    model = arch.cls("authors")
    model.customize(generator)
    info: dict = {}
    if arch.trained:
        train_digits(model, arch.seed)
        _, _, xte, yte = digits()
        with torch.no_grad():
            info["test_accuracy_torch"] = accuracy(lambda x: model(torch.from_numpy(x)).numpy(), xte, yte)
        info["bn_statistics"] = "trained (30 epochs of Adam on load_digits, batch 32, with the model's STEs)"
    else:
        calibrate_and_perturb(model, generator)
        info["bn_statistics"] = (
            "calibrated on 64 random inputs, perturbed (mean + N(0,0.3)·std, var · U(0.5,2)), γ of both signs "
            "(γ = 1 where the authors' BatchNormalization has scale=False), β != 0"
        )
    return {k: v.detach().clone() for k, v in model.state_dict().items()}, info


def build(name: str, variant: str) -> nn.Module:
    if variant == "brevitas":
        return build_brevitas(name)
    arch = ARCH_BY_NAME[name]
    state, _ = base_state(name)
    torch.manual_seed(arch.seed)
    model = arch.cls(variant)
    model.load_state_dict(state)
    if variant == "deploy":
        for module in model.modules():
            if isinstance(module, BinaryWeights):
                module.freeze()
    return model.eval()


def build_brevitas(name: str) -> nn.Module:
    cls = next(c for n, c, _ in BREVITAS if n == name)
    state, _ = base_state(name)
    torch.manual_seed(0)
    model = cls()
    own = model.state_dict()
    copied = {}
    for key, value in state.items():
        target = key[: -len(".weights")] + ".weight" if key.endswith(".weights") else key
        if target in own:
            copied[target] = value.reshape(own[target].shape)
        elif not key.endswith("num_batches_tracked"):
            raise KeyError(f"{name}: {key} has no place in the Brevitas model")
    missing = [k for k in own if k not in copied and not k.endswith("num_batches_tracked")]
    if any("quant" not in k for k in missing):
        raise KeyError(f"{name}: Brevitas parameters not set: {missing}")
    model.load_state_dict(copied, strict=False)
    return model.eval()


def input_for(name: str, batch: int = 1, seed: int = 0) -> torch.Tensor:
    arch = ARCH_BY_NAME[name]
    if arch.cls.dataset == "digits":
        _, _, xte, _ = digits()
        return torch.from_numpy(xte[seed % len(xte) : seed % len(xte) + batch].copy())
    generator = torch.Generator().manual_seed(seed)
    return torch.rand((batch,) + tuple(arch.cls.input_shape[1:]), generator=generator)


# ============================================================================ exporting


@contextlib.contextmanager
def _quiet():
    """The exporters print progress and warnings; keep the generator's output readable."""
    logging.disable(logging.WARNING)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            try:
                yield
            finally:
                logging.disable(logging.NOTSET)


def _normalize(proto: onnx.ModelProto) -> None:
    """Make the file small and independent of where it was made: the dynamo exporter's per-node
    metadata (stack traces, name scopes, class hierarchies, fx nodes: half of a small model's
    bytes, and tied to this file's line numbers) is dropped; functions sorted by name."""
    for node in [*proto.graph.node, *(n for f in proto.functions for n in f.node)]:
        del node.metadata_props[:]
    if proto.functions:
        functions = sorted(proto.functions, key=lambda f: (f.domain, f.name))
        del proto.functions[:]
        proto.functions.extend(functions)


def export(name: str, variant: str, exporter: Exporter) -> onnx.ModelProto:
    model = build(name, variant)
    args = (input_for(name),)
    with _quiet(), torch.no_grad():
        if exporter.qonnx:
            from brevitas.export import export_qonnx

            with tempfile.TemporaryDirectory() as tmp:
                path = os.path.join(tmp, "model.onnx")
                export_qonnx(model, args, path, dynamo=exporter.dynamo, opset_version=exporter.opset, input_names=["x"], output_names=["logits"])
                proto = onnx.load(path)
        elif exporter.dynamo:
            program = torch.onnx.export(
                model, args, dynamo=True, external_data=False, optimize=exporter.optimize, opset_version=exporter.opset,
                input_names=["x"], output_names=["logits"],
            )
            proto = program.model_proto
        else:
            buffer = io.BytesIO()
            torch.onnx.export(model, args, buffer, dynamo=False, opset_version=exporter.opset, input_names=["x"], output_names=["logits"])
            proto = onnx.load_model_from_string(buffer.getvalue())
    _normalize(proto)
    external = [t.name for t in proto.graph.initializer if t.data_location == onnx.TensorProto.EXTERNAL]
    if external:
        raise RuntimeError(f"{name}/{variant}/{exporter.name}: external data for {external}")
    return proto


# ------------------------------------------------------------------ checking with onnxruntime


def qonnx_to_standard(proto: onnx.ModelProto) -> onnx.ModelProto:
    """The model with QONNX ``BipolarQuant`` and ``Quant`` written as standard ONNX ops
    (DESIGN.md §9: BipolarQuant(x, s) = where(x >= 0, +1, -1)·s; Quant(x, s, z, b) =
    (clip(round(x/s + z), lo, hi) - z)·s, round half to even), for checking in onnxruntime."""
    out = onnx.ModelProto()
    out.CopyFrom(proto)
    g = out.graph
    constants = {t.name: numpy_helper.to_array(t) for t in g.initializer}
    for node in g.node:
        if node.op_type == "Constant":
            constants[node.output[0]] = _constant_attribute(node)
    nodes = []

    def const(name: str, value: float) -> str:
        g.initializer.append(numpy_helper.from_array(np.asarray(value, dtype=np.float32), name))
        return name

    for i, node in enumerate(g.node):
        p = f"_std{i}_"
        if node.op_type == "BipolarQuant":
            x, s = node.input
            nodes += [
                helper.make_node("GreaterOrEqual", [x, const(p + "zero", 0.0)], [p + "ge"]),
                helper.make_node("Where", [p + "ge", const(p + "one", 1.0), const(p + "mone", -1.0)], [p + "pm"]),
                helper.make_node("Mul", [p + "pm", s], list(node.output)),
            ]
        elif node.op_type == "Quant":
            attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
            x, s, z, bw = node.input
            rounding = attrs.get("rounding_mode", b"ROUND")
            if (rounding.decode() if isinstance(rounding, bytes) else rounding) != "ROUND":
                raise ValueError(f"Quant rounding {rounding}")
            b = float(constants[bw])
            narrow = 1 if attrs.get("narrow", 0) else 0
            lo, hi = ((-(2 ** (b - 1)) + narrow, 2 ** (b - 1) - 1) if attrs.get("signed", 1) else (0.0, 2**b - 1 - narrow))
            nodes += [
                helper.make_node("Div", [x, s], [p + "d"]),
                helper.make_node("Add", [p + "d", z], [p + "dz"]),
                helper.make_node("Round", [p + "dz"], [p + "r"]),
                helper.make_node("Clip", [p + "r", const(p + "lo", lo), const(p + "hi", hi)], [p + "q"]),
                helper.make_node("Sub", [p + "q", z], [p + "qz"]),
                helper.make_node("Mul", [p + "qz", s], list(node.output)),
            ]
        elif node.domain not in ("", "ai.onnx"):
            raise ValueError(f"no standard form for {node.domain}.{node.op_type}")
        else:
            nodes.append(node)
    del g.node[:]
    g.node.extend(nodes)
    version = max(o.version for o in proto.opset_import if o.domain in ("", "ai.onnx"))
    del out.opset_import[:]
    out.opset_import.append(helper.make_opsetid("", version))
    return out


NEAR_TIE = 1e-5


def _brevitas_margin_hook(module: nn.Module, args: tuple) -> None:
    # QuantReLU: 2-bit, scale 1/3, rounding boundaries at (k + 0.5)/3; QuantIdentity: sign
    _record_margin(args[0], 3.0 if type(module).__name__ == "QuantReLU" else 0.0)


def _session(data: bytes, optimized: bool = False) -> ort.InferenceSession:
    options = ort.SessionOptions()
    if not optimized:
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    options.log_severity_level = 3
    options.intra_op_num_threads = 1
    return ort.InferenceSession(data, options, providers=["CPUExecutionProvider"])


def _runner(session: ort.InferenceSession, proto: onnx.ModelProto):
    initializers = {t.name for t in proto.graph.initializer}
    (name,) = [i.name for i in session.get_inputs() if i.name not in initializers]
    return lambda x: session.run(None, {name: np.asarray(x, dtype=np.float32)})[0]


def check(name: str, variant: str, proto: onnx.ModelProto, data: bytes) -> dict:
    """onnxruntime agrees with PyTorch within TOLERANCE (graph optimizations disabled, as the
    golden reference runs); the default-optimized session is reported too."""
    qonnx = any(n.domain not in ("", "ai.onnx") for n in proto.graph.node)
    standard = qonnx_to_standard(proto) if qonnx else proto
    reference = _runner(_session(standard.SerializeToString()), standard)
    result: dict = {"onnxruntime_loads": not qonnx}
    optimized = None
    if not qonnx:
        optimized = _runner(_session(data, optimized=True), proto)
    model = build(name, variant)
    hooks = [m.register_forward_pre_hook(_brevitas_margin_hook) for m in model.modules() if type(m).__name__ in ("QuantIdentity", "QuantReLU")]
    worst = worst_optimized = 0.0
    margins, ties = [], 0
    global _MARGINS
    for seed in range(10):
        x = input_for(name, 1, seed=100 + seed)
        _MARGINS = []
        try:
            with torch.no_grad():
                expected = model(x).numpy()
            margin = min(_MARGINS, default=float("inf"))
        finally:
            _MARGINS = None
        error = float(np.abs(reference(x.numpy()) - expected).max())
        if error > TOLERANCE and margin < NEAR_TIE:
            ties += 1  # a binarizer input within float rounding of its decision point
            continue
        margins.append(margin)
        worst = max(worst, error)
        if optimized is not None:
            worst_optimized = max(worst_optimized, float(np.abs(optimized(x.numpy()) - expected).max()))
    for hook in hooks:
        hook.remove()
    if worst > TOLERANCE or len(margins) < 8:
        raise RuntimeError(f"{name}/{variant}: onnxruntime differs from torch by {worst} ({ties} near-ties)")
    result["max_abs_error_vs_torch"] = float(f"{worst:.3g}")
    result["checked_inputs"] = len(margins)
    result["near_tie_inputs_skipped"] = ties
    if margins and min(margins) < float("inf"):
        result["min_binarizer_margin"] = float(f"{min(margins):.3g}")
    if optimized is not None:
        result["max_abs_error_vs_torch_ort_default_optimizations"] = float(f"{worst_optimized:.3g}")
    else:
        result["checked_with"] = "onnxruntime on the graph with BipolarQuant/Quant translated to standard ops (qonnx_to_standard)"
    arch = ARCH_BY_NAME[name]
    if arch.trained:
        _, _, xte, yte = digits()
        result["test_accuracy_onnxruntime"] = round(accuracy(reference, xte, yte), 4)
    return result


# ------------------------------------------------------------------ describing a file


def _opset(proto: onnx.ModelProto) -> int:
    return next(o.version for o in proto.opset_import if o.domain in ("", "ai.onnx"))


def _describe_input(proto: onnx.ModelProto) -> dict:
    initializers = {t.name for t in proto.graph.initializer}
    (value,) = [i for i in proto.graph.input if i.name not in initializers]
    tensor = value.type.tensor_type
    dims = [d.dim_value if d.HasField("dim_value") else (d.dim_param or "?") for d in tensor.shape.dim]
    return {"name": value.name, "shape": dims, "dtype": helper.tensor_dtype_to_np_dtype(tensor.elem_type).name}


def _constant_attribute(node: onnx.NodeProto) -> np.ndarray:
    """The value of a ``Constant`` node, whichever attribute holds it."""
    attr = node.attribute[0]
    if attr.name == "value":
        return numpy_helper.to_array(attr.t)
    value = helper.get_attribute_value(attr)
    dtype = np.float32 if attr.name.startswith("value_float") else np.int64
    return np.asarray(value, dtype=dtype)


class Graph:
    """What a file's graph holds: which values are constant (computable from initializers
    alone), producers, consumers and constant values."""

    def __init__(self, proto: onnx.ModelProto) -> None:
        self.proto = proto
        g = proto.graph
        self.values: dict[str, np.ndarray] = {t.name: numpy_helper.to_array(t) for t in g.initializer}
        self.constant: set[str] = set(self.values) | {""}
        self.producer: dict[str, onnx.NodeProto] = {}
        self.consumers: dict[str, list[onnx.NodeProto]] = collections.defaultdict(list)
        self.constant_nodes: list[onnx.NodeProto] = []
        for node in g.node:
            for out in node.output:
                self.producer[out] = node
            for inp in node.input:
                self.consumers[inp].append(node)
            if node.op_type == "Constant" or (node.input and all(i in self.constant for i in node.input) and node.op_type not in ("RandomNormal", "RandomUniform")):
                self.constant.update(node.output)
                if node.op_type != "Constant":
                    self.constant_nodes.append(node)
                else:
                    self.values[node.output[0]] = _constant_attribute(node)
        self._evaluated: dict[str, np.ndarray] | None = None

    def runtime(self, name: str) -> bool:
        return name not in self.constant

    def constant_value(self, name: str) -> np.ndarray | None:
        """The value of a constant tensor (evaluating the constant subgraph in onnxruntime)."""
        if name in self.values:
            return self.values[name]
        if name not in self.constant:
            return None
        if self._evaluated is None:
            self._evaluated = self._evaluate_constants()
        return self._evaluated.get(name)

    def _evaluate_constants(self) -> dict[str, np.ndarray]:
        if not self.constant_nodes:
            return {}
        g = self.proto.graph
        outputs = [o for n in self.constant_nodes for o in n.output if o]
        used = {i for n in self.constant_nodes for i in n.input}
        consts = [n for n in g.node if n.op_type == "Constant" and n.output[0] in used]
        graph = helper.make_graph(
            consts + self.constant_nodes, "constants", [], [onnx.ValueInfoProto(name=o) for o in outputs],
            [t for t in g.initializer if t.name in used],
        )
        model = helper.make_model(graph, opset_imports=list(self.proto.opset_import), ir_version=self.proto.ir_version)
        if any(n.domain not in ("", "ai.onnx") for n in self.constant_nodes):
            model = qonnx_to_standard(model)
        from onnx.reference import ReferenceEvaluator

        return dict(zip(outputs, ReferenceEvaluator(model).run(outputs, {})))

    def ops(self, names: set[str]) -> list[onnx.NodeProto]:
        return [n for n in self.proto.graph.node if n.op_type in names]


def weight_kinds(graph: Graph) -> dict[str, int]:
    """How the weights of Conv/Gemm/MatMul appear: constant initializers classified by value
    (``pm1``, ``pm1_with_zeros``, ``pm_alpha`` exactly ±α per output channel, ``pm_alpha_spread``
    ±α within 1e-6 relative, ``pm_alpha_with_zeros``, ``real``), or ``computed_in_graph`` (a
    constant subgraph: the exporter left the formula in), or ``runtime``."""
    kinds: collections.Counter = collections.Counter()
    for node in graph.ops({"Conv", "Gemm", "MatMul"}):
        name = node.input[1]
        if graph.runtime(name):
            kinds["runtime"] += 1
            continue
        computed = name not in graph.values
        w = graph.constant_value(name)
        if w is None:
            kinds["unknown"] += 1
            continue
        w = np.asarray(w, dtype=np.float64)
        if node.op_type == "MatMul" or (node.op_type == "Gemm" and not any(a.name == "transB" and a.i for a in node.attribute)):
            w = w.T
        w = w.reshape(w.shape[0], -1)
        mags = np.abs(w)
        if np.all(mags == 1):
            kind = "pm1"
        elif np.all((mags == 1) | (mags == 0)):
            kind = "pm1_with_zeros"
        else:
            nz = np.where(mags > 0, mags, np.nan)
            hi, lo = np.nanmax(nz, axis=1), np.nanmin(nz, axis=1)
            zeros = bool(np.any(mags == 0))
            if np.all(hi == lo):
                kind = "pm_alpha_with_zeros" if zeros else "pm_alpha"
            elif np.all((hi - lo) <= 1e-6 * hi):
                kind = "pm_alpha_spread_with_zeros" if zeros else "pm_alpha_spread"
            else:
                kind = "real"
        kinds[("computed_in_graph:" if computed else "") + kind] += 1
    return dict(sorted(kinds.items()))


def _const_float(graph: Graph, name: str) -> float | None:
    value = graph.constant_value(name)
    if value is None or np.asarray(value).size != 1:
        return None
    return float(np.asarray(value).ravel()[0])


def _pads_with(graph: Graph, value: float, channel: bool) -> bool:
    for node in graph.ops({"Pad"}):
        if not graph.runtime(node.input[0]):
            continue
        v = _const_float(graph, node.input[2]) if len(node.input) > 2 and node.input[2] else 0.0
        attr = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        pads = attr.get("pads")
        if pads is None and len(node.input) > 1:
            pads = graph.constant_value(node.input[1])
        if "value" in attr:
            v = attr["value"]
        if pads is None or v is None:
            continue
        pads = [int(p) for p in np.asarray(pads).ravel()]
        rank = len(pads) // 2
        on_channel = rank == 4 and (pads[1] or pads[1 + rank])
        if (on_channel if channel else v == value):
            return True
    return False


def _two_runtime(graph: Graph, op: str) -> bool:
    return any(all(graph.runtime(i) for i in n.input) and len(n.input) == 2 for n in graph.ops({op}))


def _sign_of_sign(graph: Graph) -> bool:
    for node in graph.ops({"Sign"}):
        if graph.runtime(node.input[0]):
            add = graph.producer.get(node.input[0])
            if add is not None and add.op_type == "Add":
                inner = [graph.producer.get(i) for i in add.input if graph.runtime(i)]
                if any(p is not None and p.op_type == "Sign" for p in inner):
                    return True
    return False


# constructs that can be confirmed from the graph (the others are taken from the model's code)
CHECKS = {
    "residual add": lambda g: _two_runtime(g, "Add"),
    "concat": lambda g: any(sum(g.runtime(i) for i in n.input) >= 2 for n in g.ops({"Concat"})),
    "pad+1": lambda g: _pads_with(g, 1.0, channel=False),
    "channel pad+add": lambda g: _pads_with(g, 0.0, channel=True) and _two_runtime(g, "Add"),
    "avgpool shortcut": lambda g: bool(g.ops({"AveragePool"})),
    "data-dependent mul": lambda g: _two_runtime(g, "Mul"),
    "prelu": lambda g: bool(g.ops({"PRelu"})),
    "rprelu": lambda g: bool(g.ops({"PRelu"})),
    "k-bit activations": lambda g: bool(g.ops({"Round", "Quant"})),
    "sign(sign(x)+c)": _sign_of_sign,
    "comparison-chain sign": lambda g: any(g.runtime(n.input[0]) for n in g.ops({"Less", "Greater", "GreaterOrEqual", "LessOrEqual"})),
    "relu-bn": lambda g: any(any(c.op_type == "BatchNormalization" for c in g.consumers[n.output[0]]) for n in g.ops({"Relu"})),
    "depthwise float conv": lambda g: any(any(a.name == "group" and a.i > 1 for a in n.attribute) for n in g.ops({"Conv"})) or bool(g.ops({"Split"})),
    "grouped float conv": lambda g: any(any(a.name == "group" and a.i > 1 for a in n.attribute) for n in g.ops({"Conv"})) or bool(g.ops({"Split"})),
    "qonnx bipolarquant": lambda g: bool(g.ops({"BipolarQuant"})),
    "qonnx quant": lambda g: bool(g.ops({"Quant"})),
}


def computed_constructs(graph: Graph) -> list[str]:
    """Constructs read off the graph: weights binarized in the graph."""
    ops = collections.Counter(n.op_type for n in graph.constant_nodes)
    found = []
    if ops["Sign"] and (ops["Abs"] or ops["ReduceMean"]):
        found.append("alpha-sign-in-graph")
    elif ops["Sign"]:
        found.append("sign(W)-in-graph")
    if ops["BipolarQuant"]:
        found.append("bipolarquant(W)-in-graph")
    return found


def manifest_entry(name: str, variant: str, exporter: Exporter, proto: onnx.ModelProto, data: bytes) -> dict:
    graph = Graph(proto)
    ops = collections.Counter((n.op_type if n.domain in ("", "ai.onnx") else f"{n.domain}.{n.op_type}") for n in proto.graph.node)
    arch = ARCH_BY_NAME[name]
    _, info = base_state(name)
    if variant == "brevitas":
        cls, constructs = next((c, k) for n, c, k in BREVITAS if n == name)
        description = cls.__doc__
        sign = "BipolarQuant(x, 1) = Where(x >= 0, 1, -1): 0 -> +1" if "qonnx bipolarquant" in constructs else "none (2-bit Quant activations)"
        weights = BREVITAS_WEIGHTS[name]
    else:
        cls = arch.cls
        constructs = cls.constructs + cls.variant_constructs.get(variant, ())
        description = cls.__doc__
        sign = "none (2-bit activations)" if cls is DoReFaNet else BINARIZERS[cls.binarizer[variant]][1]
        weights = cls.weights_authors if variant == "authors" else cls.weights_deploy
    for construct in constructs:
        if construct in CHECKS and not CHECKS[construct](graph):
            raise RuntimeError(f"{name}/{variant}/{exporter.name}: no {construct!r} in the graph")
    constructs = list(dict.fromkeys([*constructs, *computed_constructs(graph)]))
    kinds = weight_kinds(graph)
    if variant == "authors":
        computed = any(k.startswith("computed_in_graph") and not k.endswith(":real") for k in kinds)
        folded = any(not k.startswith("computed_in_graph") and k != "real" for k in kinds)
        if folded:
            weights += (
                "; the exporter's optimizer folded it into constants where the weight has at most 8192 elements"
                if computed else "; the exporter's optimizer folded the formula into constants"
            )
    initializers = {t.name for t in proto.graph.initializer}
    entry = {
        "architecture": arch.architecture,
        "model": name,
        "variant": variant,
        "description": " ".join((description or "").split()),
        "exporter": exporter.describe(),
        "opset": _opset(proto),
        "ir_version": proto.ir_version,
        "producer": f"{proto.producer_name} {proto.producer_version}".strip(),
        "input": _describe_input(proto),
        "constructs": constructs,
        "sign_convention": sign,
        "weights": weights,
        "weight_kinds": kinds,
        "weight_formula_ops_in_graph": dict(sorted(collections.Counter(n.op_type for n in graph.constant_nodes).items())),
        "bn_statistics": info["bn_statistics"],
        "batchnorms": {"in_model": len(_batchnorms(build(name, variant))), "in_graph": ops.get("BatchNormalization", 0)},
        "ops": dict(sorted(ops.items())),
        "initializers_as_inputs": any(i.name in initializers for i in proto.graph.input),
        "bytes": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
    }
    if "test_accuracy_torch" in info:
        entry["trained_on"] = "sklearn load_digits (pixels / 16), 80/20 stratified split, random_state 0; 360 test images"
        entry["test_accuracy_torch"] = round(info["test_accuracy_torch"], 4)
    return entry


def fixtures() -> list[tuple[str, str, Exporter]]:
    out = [(a.name, variant, e) for a in ARCHS for variant, exporters in a.exporters.items() for e in exporters]
    out += [(name, "brevitas", e) for name, _, _ in BREVITAS for e in (QONNX_DYNAMO, QONNX_TS)]
    return out


def generate() -> dict[str, tuple[bytes, dict]]:
    if not torch.__version__.startswith(TORCH_VERSION):
        print(f"warning: these fixtures were made with torch {TORCH_VERSION}, this is {torch.__version__}", file=sys.stderr)
    files = {}
    for name, variant, exporter in fixtures():
        proto = export(name, variant, exporter)
        data = proto.SerializeToString()
        if len(data) > MAX_BYTES:
            raise RuntimeError(f"{name}/{variant}/{exporter.name}: {len(data)} bytes")
        file = f"{name}_{variant}_{exporter.name}.onnx"
        entry = manifest_entry(name, variant, exporter, proto, data)
        entry.update(check(name, variant, proto, data))
        files[file] = (data, entry)
        acc = f", test accuracy {entry['test_accuracy_onnxruntime']}" if "test_accuracy_onnxruntime" in entry else ""
        print(f"{file}: opset {entry['opset']}, {len(data)} bytes, error {entry['max_abs_error_vs_torch']}{acc}", flush=True)
    total = sum(len(d) for d, _ in files.values())
    if total > MAX_TOTAL_BYTES:
        raise RuntimeError(f"{total} bytes in all")
    return files


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--check", action="store_true", help="compare a fresh export with the files instead of writing")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    files = generate()
    versions = {"torch": torch.__version__, "onnx": onnx.__version__, "onnxruntime": ort.__version__}
    try:
        import brevitas
        import sklearn

        versions.update(brevitas=brevitas.__version__, sklearn=sklearn.__version__)
    except ImportError:
        pass
    return write_or_check(args.out, files, versions, args.check)


if __name__ == "__main__":
    sys.exit(main())
