"""Judge scale types: one class per ``scale.type`` of a rubric file, registered by name.

Built in: ``points`` (an integer level), ``pass_fail``, ``fraction`` (flagged items / items) and
``preference`` (A/B/tie, pairwise rubrics). Adding a type is one module here that subclasses
:class:`ScaleType` and is decorated with ``@register_scale("<name>")``: every module of this package is
imported with it, so nothing else needs an edit. The names live in :mod:`evalstack.registry` (kind
``scale``), so an installed package can add a type through the entry point ``scale.<name>``.
"""

from __future__ import annotations

import importlib
import pkgutil

from ._base import ScaleScore, ScaleType, get_scale_type, register_scale, scale_types

__all__ = ["ScaleScore", "ScaleType", "get_scale_type", "register_scale", "scale_types"]

for _mod in pkgutil.iter_modules(__path__):
    if _mod.name != "_base":
        importlib.import_module(f"{__name__}.{_mod.name}")
