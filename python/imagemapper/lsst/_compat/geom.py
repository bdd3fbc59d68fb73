"""The ``lsst.geom`` names imagemapper has no class for: ``Box2D``, ``Extent2D``,
and the ``Point`` / ``Extent`` factories.

`Box2D` is a floating-point box whose edges are continuous coordinates:
``Box2D(Box2I)`` covers the pixels of the integer box, so its edges lie on
the half-integers (``minX - 0.5`` to ``maxX + 0.5``), as in ``lsst.geom``.
"""

from __future__ import annotations

__all__ = [
    "Box2D",
    "BoxD",
    "BoxI",
    "Extent",
    "Extent2D",
    "ExtentD",
    "ExtentI",
    "Point",
    "PointD",
    "PointI",
]

import math
from collections.abc import Iterator
from typing import Any

from lsst.utils import TemplateMeta

from ..._core import Box2I, Extent2I, Point2D, Point2I


class Extent2D:
    """A floating-point 2-d extent (``lsst.geom.Extent2D``).

    ``Extent2D(x, y)``, ``Extent2D(Extent2I)``, ``Extent2D(Point2D)`` or
    ``Extent2D()`` (zero).
    """

    __slots__ = ("_x", "_y")

    def __init__(self, x: Any = None, y: float | None = None) -> None:
        if x is None:
            x, y = 0.0, 0.0
        elif y is None:
            x, y = _xy(x, "Extent2D's argument")
        self._x, self._y = float(x), float(y)

    @property
    def x(self) -> float:
        """The x component."""
        return self._x

    @property
    def y(self) -> float:
        """The y component."""
        return self._y

    def getX(self) -> float:
        """Return the x component."""
        return self._x

    def getY(self) -> float:
        """Return the y component."""
        return self._y

    def __len__(self) -> int:
        return 2

    def __getitem__(self, i: int) -> float:
        return (self._x, self._y)[i]

    def __iter__(self) -> Iterator[float]:
        return iter((self._x, self._y))

    def __add__(self, other: Any) -> Extent2D:
        return Extent2D(self._x + other[0], self._y + other[1])

    def __sub__(self, other: Any) -> Extent2D:
        return Extent2D(self._x - other[0], self._y - other[1])

    def __mul__(self, k: float) -> Extent2D:
        return Extent2D(self._x * k, self._y * k)

    __rmul__ = __mul__

    def __truediv__(self, k: float) -> Extent2D:
        return Extent2D(self._x / k, self._y / k)

    def __neg__(self) -> Extent2D:
        return Extent2D(-self._x, -self._y)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, (Extent2D, Extent2I)):
            return NotImplemented
        return (self._x, self._y) == (float(other[0]), float(other[1]))

    def __hash__(self) -> int:
        return hash(("Extent2D", self._x, self._y))

    def __reduce__(self) -> tuple[Any, ...]:
        return (Extent2D, (self._x, self._y))

    def __repr__(self) -> str:
        return f"Extent2D({self._x!r}, {self._y!r})"


def _xy(value: Any, what: str) -> tuple[float, float]:
    try:
        return float(value[0]), float(value[1])
    except (TypeError, IndexError):
        raise TypeError(
            f"{what} must be a point, an extent or an (x, y) pair, not {value!r}"
        ) from None


class Box2D:
    """A floating-point box (``lsst.geom.Box2D``).

    ``Box2D()`` is empty; ``Box2D(Box2I)`` covers the integer box's pixels
    (edges at half-integers); ``Box2D(minimum, maximum)`` takes two corners
    (swapped per axis when inverted); ``Box2D(corner, Extent2D)`` a corner
    and dimensions. A box is empty when it has no area.
    """

    __slots__ = ("_max", "_min")

    def __init__(self, *args: Any, invert: bool = True) -> None:
        nan = math.nan
        if not args:
            self._min, self._max = (nan, nan), (nan, nan)
            return
        first = args[0]
        if len(args) == 1:
            if isinstance(first, Box2I):
                if first.isEmpty():
                    self._min, self._max = (nan, nan), (nan, nan)
                else:
                    self._min = (first.getMinX() - 0.5, first.getMinY() - 0.5)
                    self._max = (first.getMaxX() + 0.5, first.getMaxY() + 0.5)
                return
            if isinstance(first, Box2D):
                self._min, self._max = first._min, first._max
                return
            raise TypeError(f"Box2D() takes a Box2I or a Box2D, not {type(first).__name__}")
        if len(args) != 2:
            raise TypeError(f"Box2D takes at most two arguments, got {len(args)}")
        lo = _xy(first, "the first corner")
        second = args[1]
        if isinstance(second, (Extent2D, Extent2I)):
            w, h = _xy(second, "the dimensions")
            hi = (lo[0] + w, lo[1] + h)
            if w < 0 or h < 0:
                if not invert:
                    self._min, self._max = (nan, nan), (nan, nan)
                    return
                lo, hi = (
                    (min(lo[0], hi[0]), min(lo[1], hi[1])),
                    (max(lo[0], hi[0]), max(lo[1], hi[1])),
                )
        else:
            hi = _xy(second, "the second corner")
            if invert:
                lo, hi = (
                    (min(lo[0], hi[0]), min(lo[1], hi[1])),
                    (max(lo[0], hi[0]), max(lo[1], hi[1])),
                )
        self._min, self._max = lo, hi
        if self.isEmpty():
            self._min, self._max = (nan, nan), (nan, nan)

    # -- accessors -------------------------------------------------------------

    def isEmpty(self) -> bool:
        """Return whether the box has no area (or is the empty box)."""
        return not (self._max[0] > self._min[0] and self._max[1] > self._min[1])

    def getMin(self) -> Point2D:
        """Return the lower-left corner."""
        return Point2D(*self._min)

    def getMax(self) -> Point2D:
        """Return the upper-right corner."""
        return Point2D(*self._max)

    def getMinX(self) -> float:
        """Return the minimum x."""
        return self._min[0]

    def getMinY(self) -> float:
        """Return the minimum y."""
        return self._min[1]

    def getMaxX(self) -> float:
        """Return the maximum x."""
        return self._max[0]

    def getMaxY(self) -> float:
        """Return the maximum y."""
        return self._max[1]

    def getWidth(self) -> float:
        """Return the width (0 for an empty box)."""
        return 0.0 if self.isEmpty() else self._max[0] - self._min[0]

    def getHeight(self) -> float:
        """Return the height (0 for an empty box)."""
        return 0.0 if self.isEmpty() else self._max[1] - self._min[1]

    def getDimensions(self) -> Extent2D:
        """Return ``(width, height)``."""
        return Extent2D(self.getWidth(), self.getHeight())

    def getArea(self) -> float:
        """Return the area."""
        return self.getWidth() * self.getHeight()

    def getCenter(self) -> Point2D:
        """Return the centre."""
        return Point2D(0.5 * (self._min[0] + self._max[0]), 0.5 * (self._min[1] + self._max[1]))

    def getCenterX(self) -> float:
        """Return the x of the centre."""
        return 0.5 * (self._min[0] + self._max[0])

    def getCenterY(self) -> float:
        """Return the y of the centre."""
        return 0.5 * (self._min[1] + self._max[1])

    def getCorners(self) -> list[Point2D]:
        """Return the four corners, counter-clockwise from the lower-left."""
        (x0, y0), (x1, y1) = self._min, self._max
        return [Point2D(x0, y0), Point2D(x1, y0), Point2D(x1, y1), Point2D(x0, y1)]

    # -- predicates --------------------------------------------------------------

    def contains(self, other: Any) -> bool:
        """Whether a point (``min <= p < max``, as ``lsst.geom``) or a whole box is inside."""
        if self.isEmpty():
            return False
        if isinstance(other, Box2D):
            return other.isEmpty() or (
                other._min[0] >= self._min[0]
                and other._min[1] >= self._min[1]
                and other._max[0] <= self._max[0]
                and other._max[1] <= self._max[1]
            )
        x, y = _xy(other, "the point")
        return self._min[0] <= x < self._max[0] and self._min[1] <= y < self._max[1]

    def overlaps(self, other: Box2D) -> bool:
        """Whether the two boxes share some area."""
        if self.isEmpty() or other.isEmpty():
            return False
        return (
            other._min[0] < self._max[0]
            and self._min[0] < other._max[0]
            and other._min[1] < self._max[1]
            and self._min[1] < other._max[1]
        )

    # -- in-place changes and copies -----------------------------------------------

    def grow(self, buffer: Any) -> None:
        """Move every edge outward by ``buffer`` (a number, or an extent per axis)."""
        if self.isEmpty():
            return
        bx, by = (
            (float(buffer), float(buffer))
            if isinstance(buffer, (int, float))
            else _xy(buffer, "the buffer")
        )
        self.__init__(  # type: ignore[misc]
            Point2D(self._min[0] - bx, self._min[1] - by),
            Point2D(self._max[0] + bx, self._max[1] + by),
            invert=False,
        )

    def shift(self, offset: Any) -> None:
        """Move the box by ``offset``."""
        if self.isEmpty():
            return
        dx, dy = _xy(offset, "the offset")
        self._min = (self._min[0] + dx, self._min[1] + dy)
        self._max = (self._max[0] + dx, self._max[1] + dy)

    def include(self, other: Any) -> None:
        """Grow the box to contain a point or another box."""
        if isinstance(other, Box2D):
            if other.isEmpty():
                return
            corners = [other._min, other._max]
        else:
            corners = [_xy(other, "the point")]
        for x, y in corners:
            if self.isEmpty():
                self._min = self._max = (x, y)
                continue
            self._min = (min(self._min[0], x), min(self._min[1], y))
            self._max = (max(self._max[0], x), max(self._max[1], y))

    def clip(self, other: Box2D) -> None:
        """Shrink the box to its intersection with ``other`` (empty if they do not overlap)."""
        if not self.overlaps(other):
            self.__init__()  # type: ignore[misc]
            return
        self._min = (max(self._min[0], other._min[0]), max(self._min[1], other._min[1]))
        self._max = (min(self._max[0], other._max[0]), min(self._max[1], other._max[1]))

    def dilatedBy(self, buffer: Any) -> Box2D:
        """Return a copy grown by ``buffer``."""
        box = Box2D(self)
        box.grow(buffer)
        return box

    def erodedBy(self, buffer: Any) -> Box2D:
        """Return a copy shrunk by ``buffer``."""
        bx, by = (
            (float(buffer), float(buffer))
            if isinstance(buffer, (int, float))
            else _xy(buffer, "the buffer")
        )
        return self.dilatedBy(Extent2D(-bx, -by))

    def shiftedBy(self, offset: Any) -> Box2D:
        """Return a shifted copy."""
        box = Box2D(self)
        box.shift(offset)
        return box

    def clippedTo(self, other: Box2D) -> Box2D:
        """Return the intersection with ``other``."""
        box = Box2D(self)
        box.clip(other)
        return box

    # -- protocol --------------------------------------------------------------------

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Box2D):
            return NotImplemented
        if self.isEmpty() or other.isEmpty():
            return self.isEmpty() and other.isEmpty()
        return (self._min, self._max) == (other._min, other._max)

    def __hash__(self) -> int:
        return hash(("Box2D", None if self.isEmpty() else (self._min, self._max)))

    def __reduce__(self) -> tuple[Any, ...]:
        if self.isEmpty():
            return (Box2D, ())
        return (Box2D, (Point2D(*self._min), Point2D(*self._max)))

    def __repr__(self) -> str:
        if self.isEmpty():
            return "Box2D()"
        return f"Box2D(minimum=Point2D{self._min!r}, maximum=Point2D{self._max!r})"


class Point(metaclass=TemplateMeta):
    """The ``lsst.geom.Point`` factory: ``Point[int, 2]`` is `Point2I`,
    ``Point[float, 2]`` is `Point2D`, and ``isinstance(p, Point)`` holds for both."""

    TEMPLATE_PARAMS = ("dtype", "dimensions")
    TEMPLATE_DEFAULTS = (None, 2)


class Extent(metaclass=TemplateMeta):
    """The ``lsst.geom.Extent`` factory: ``Extent[int, 2]`` is `Extent2I`,
    ``Extent[float, 2]`` is `Extent2D`."""

    TEMPLATE_PARAMS = ("dtype", "dimensions")
    TEMPLATE_DEFAULTS = (None, 2)


Point.register((int, 2), Point2I)
Point.register((float, 2), Point2D)
Extent.register((int, 2), Extent2I)
Extent.register((float, 2), Extent2D)

PointI = Point2I
PointD = Point2D
ExtentI = Extent2I
ExtentD = Extent2D
BoxI = Box2I
BoxD = Box2D
