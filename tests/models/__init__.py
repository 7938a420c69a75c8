"""Test models: :mod:`tests.models.zoo` generates small BNN ONNX models in the
styles real exporters (torch, Brevitas/QONNX, FINN) write."""
