"""``imagemapper.lsst.geom``: the ``lsst.geom`` names LSST mappers use.

``Point2I``, ``Point2D``, ``Extent2I`` and ``Box2I`` are imagemapper's
Rust-backed classes; ``Box2D``, ``Extent2D`` and the ``Point`` / ``Extent``
factories are the port's (`imagemapper.lsst._compat.geom`).
"""

from __future__ import annotations

__all__ = [
    "Box2D",
    "Box2I",
    "BoxD",
    "BoxI",
    "Extent",
    "Extent2D",
    "Extent2I",
    "ExtentD",
    "ExtentI",
    "Point",
    "Point2D",
    "Point2I",
    "PointD",
    "PointI",
]

from .._core import Box2I, Extent2I, Point2D, Point2I
from ._compat.geom import (
    Box2D,
    BoxD,
    BoxI,
    Extent,
    Extent2D,
    ExtentD,
    ExtentI,
    Point,
    PointD,
    PointI,
)
