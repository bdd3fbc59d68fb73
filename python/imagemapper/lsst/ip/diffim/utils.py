"""``imagemapper.lsst.ip.diffim.utils``: ``computeAveragePsf``, which
``imageDecorrelation`` imports (`imagemapper.lsst._compat.diffim`)."""

from __future__ import annotations

__all__ = ["computeAveragePsf"]

from ..._compat.diffim import computeAveragePsf
