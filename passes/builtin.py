"""Imports every built-in pass module so that their ``@register_pass`` decorators run."""

from . import canonicalize, dce, fuse_bn_binarize, pool_to_bits, replicate, set_replicas, sign_convert, tile  # noqa: F401
