"""Imports every built-in pass module so that their ``@register_pass`` decorators run."""

from . import canonicalize, dce  # noqa: F401
