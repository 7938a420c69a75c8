"""Op definitions, one module per dialect; importing this package registers them all."""

from . import bnn, host, xbar

__all__ = ["bnn", "host", "xbar"]
