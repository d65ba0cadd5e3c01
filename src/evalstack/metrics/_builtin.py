"""Imports every built-in metric module so that its ``@register_metric`` classes are registered."""

from . import _classification  # noqa: F401
from . import _rouge  # noqa: F401
from . import _sacre  # noqa: F401
