"""``imagemapper.lsst.afw.math``: ``afw``'s statistics, kernels, convolution and
random images (`imagemapper.lsst._compat.math` documents the semantics)."""

from __future__ import annotations

from .._compat.math import *  # noqa: F403 - this module re-exports all of it
from .._compat.math import __all__ as __all__
