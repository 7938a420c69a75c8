"""Op definitions, one module per dialect; importing this package registers them all."""

from . import bnn, host

__all__ = ["bnn", "host"]
