"""Converters from ONNX nodes to ``bnn`` IR, one function per ONNX op type (and domain),
registered with :func:`~bnnc.frontend.convert.registry.converter` in :data:`CONVERTERS`.

One module per op type or small family: ``conv`` (Conv), ``dense`` (Gemm, MatMul),
``batchnorm``, ``binarizers`` (Sign, BipolarQuant), ``quant`` (QONNX Quant, IntQuant),
``multithreshold`` (FINN MultiThreshold), ``comparisons`` (Greater…, Not, Where), ``clip``,
``elementwise`` (Add, Sub, Mul, Div), ``activations`` (Relu, LeakyRelu, PRelu), ``concat``,
``pad`` (Pad), ``pooling`` (MaxPool), ``shape`` (Reshape, Flatten, Squeeze, Unsqueeze,
Transpose), ``staircase`` (Round of a clipped value), ``qdq`` (QuantizeLinear,
DequantizeLinear), ``cast``. Shared pieces: ``context`` (what converters work with), ``layer``
(binary layer input, weights and result), ``window`` (padding). Importing this package
registers every converter.
"""

from . import activations, batchnorm, binarizers, cast, clip, comparisons, concat, conv, dense, elementwise, multithreshold, pad, pooling, qdq, quant, shape, staircase  # noqa: F401  (registers the converters)
from .context import LAYER_OPS, Context, NotMappable, Padded, Predicate, Staircase, Tensor
from .registry import CONVERTERS, converter

__all__ = ["CONVERTERS", "converter", "Context", "NotMappable", "Padded", "Predicate", "Staircase", "Tensor", "LAYER_OPS"]
