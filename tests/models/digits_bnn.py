"""Generate ``tests/models/digits/``: a small binarized MLP trained on scikit-learn's
``load_digits`` (the device-robustness fixture of tests/test_robustness.py and the worked
example of docs/device-nonidealities.md).

The model takes each 8×8 digit as 64 bits (``pixel >= 8``, pixels 0..16), applied as ±1
through ``Sign(2·bits − 1)`` — an integer input whose preprocessing never reaches 0, so the
first layer is binary — then two binary dense layers of 128 with BatchNorm + Sign, and a binary
dense layer of 10 with BatchNorm giving the logits. Trained with straight-through estimators
(Adam, 40 epochs, seed 0) on the 80 % split of ``tests/models/arch_export.digits``, exported by
the TorchScript exporter (opset 13) with the weights binarized (±1 constants). Writes
``digits_bnn.onnx`` and ``digits_test.npz`` (the held-out 20 %: ``bits`` uint8 ``[360, 64]``
and ``labels`` int64 ``[360]``) and prints the test accuracy of the exported model under
onnxruntime.

    python -m tests.models.digits_bnn
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from tests.models.arch_export import fit

OUT = Path(__file__).parent / "digits"
HIDDEN = 128


class _SignSTE(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return torch.where(x >= 0, 1.0, -1.0)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad * (x.abs() <= 1).to(grad.dtype)


class DigitsBNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.ModuleList([nn.Linear(64, HIDDEN, bias=False), nn.Linear(HIDDEN, HIDDEN, bias=False),
                                 nn.Linear(HIDDEN, 10, bias=False)])
        self.bn = nn.ModuleList([nn.BatchNorm1d(HIDDEN), nn.BatchNorm1d(HIDDEN), nn.BatchNorm1d(10)])
        self.deploy = False

    def forward(self, bits: torch.Tensor) -> torch.Tensor:
        x = torch.sign(bits.to(torch.float32) * 2.0 - 1.0)
        for index, (fc, bn) in enumerate(zip(self.fc, self.bn)):
            w = fc.weight if self.deploy else _SignSTE.apply(fc.weight)
            x = bn(F.linear(x, w))
            if index < 2:
                x = torch.sign(x) if self.deploy else _SignSTE.apply(x)
        return x


def digit_bits() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(bits_train, y_train, bits_test, y_test): the 80/20 split of ``arch_export.digits`` with
    pixels ``>= 8`` (of 16) as 1."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    data = load_digits()
    bits = (data.images.reshape(-1, 64) >= 8).astype(np.uint8)
    xtr, xte, ytr, yte = train_test_split(bits, data.target, test_size=0.2, random_state=0, stratify=data.target)
    return xtr, ytr.astype(np.int64), xte, yte.astype(np.int64)


def train(epochs: int = 40) -> DigitsBNN:
    torch.manual_seed(0)
    xtr, ytr, _, _ = digit_bits()
    model = DigitsBNN()
    fit(model, xtr, ytr, 0, epochs)
    with torch.no_grad():
        for fc in model.fc:
            fc.weight.copy_(torch.where(fc.weight >= 0, 1.0, -1.0))
    model.deploy = True
    return model


def main() -> None:
    import onnxruntime as ort

    model = train()
    OUT.mkdir(exist_ok=True)
    path = OUT / "digits_bnn.onnx"
    torch.onnx.export(model, (torch.zeros(1, 64, dtype=torch.uint8),), str(path), dynamo=False, opset_version=13,
                      input_names=["bits"], output_names=["logits"])
    _, _, xte, yte = digit_bits()
    np.savez(OUT / "digits_test.npz", bits=xte, labels=yte)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    predicted = np.array([np.argmax(session.run(None, {"bits": xte[i : i + 1]})[0]) for i in range(len(xte))])
    print(f"{path}: test accuracy {np.mean(predicted == yte):.4f} on {len(yte)} digits")


if __name__ == "__main__":
    main()
