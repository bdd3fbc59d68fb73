"""The façade's grid over the image axes and the mapper that hands ``func`` its
expanded cells: every pixel covered for any shape, padding per axis only
where the image ends.
"""

from __future__ import annotations

__all__ = ["CellMapper", "Frame", "Grid", "axisCells", "readRegion"]

import math
from collections.abc import Callable, Sequence
from typing import Any, Literal

import numpy as np

from .. import _core
from .._core import Box2I, Extent2I, Point2I
from ..task import Struct
from ._edges import edgeIndices, keepCellShape, takeCell

# --------------------------------------------------------------------- the grid


def axisCells(n: int, cell: int, step: int | None) -> list[tuple[int, int]]:
    """The cells' ``(lo, hi)`` ranges on one axis of ``n`` pixels, by LSST's
    grid rules (``spacing`` when ``step`` is None, else ``none``), without
    the reference's rule that drops cells of one pixel or less: the façade
    grid is the product of these ranges, so every pixel an axis range covers
    is covered."""
    adjust: Literal["spacing", "none"] = "spacing" if step is None else "none"
    s = cell if step is None else step
    # One axis at a time: the other is 2 pixels with one 2-pixel cell, so
    # LSST's area rule (> 1 pixel) keeps every range of this axis.
    boxes, _ = _core.generate_grid(
        Box2I(Point2I(0, 0), Extent2I(n, 2)),
        cell_size=(float(cell), 2.0),
        grid_step=(float(s), 2.0),
        border_size=(0.0, 0.0),
        adjust=adjust,
        centroids_x=None,
        centroids_y=None,
        fwhm_scale=None,
        force_even_sized=False,
    )
    out: list[tuple[int, int]] = []
    for b in boxes:
        r = (b.getMinX(), b.getMaxX())
        if r not in out:
            out.append(r)
    return out


class Grid:
    """The façade's cells over an ``H x W`` image and how each is expanded."""

    def __init__(
        self,
        shape: tuple[int, int],
        cell: tuple[int, int],
        step: tuple[int, int] | None,
        border: tuple[tuple[int, int], tuple[int, int]],
        modes: tuple[str, str],
        keepShape: bool,
    ) -> None:
        self.height, self.width = shape
        self.border = border
        self.modes = modes
        xs = axisCells(self.width, cell[0], None if step is None else step[0])
        ys = axisCells(self.height, cell[1], None if step is None else step[1])
        full = Box2I(Point2I(0, 0), Extent2I(self.width, self.height))
        boxes = [Box2I(Point2I(x0, y0), Point2I(x1, y1)) for x0, x1 in xs for y0, y1 in ys]
        if keepShape:
            boxes, _ = keepCellShape(boxes, boxes, full, (0, 0), True)
        self.full = full
        self.boxes0 = boxes
        self.expanded = [self.expandedRanges(b, keepShape) for b in boxes]
        # Executors slice the image with these: the expanded cell clipped to it.
        self.boxes1 = [
            Box2I(
                Point2I(max(0, x0), max(0, y0)),
                Point2I(min(self.width - 1, x1), min(self.height - 1, y1)),
            )
            for (y0, y1), (x0, x1) in self.expanded
        ]

    def expandedRanges(self, box: Box2I, keepShape: bool) -> tuple[tuple[int, int], ...]:
        """``((y0, y1), (x0, x1))`` the expanded cell covers (inclusive); beyond
        the image only on an axis whose mode pads."""
        out = []
        for lo, hi, (blo, bhi), mode, n in (
            (box.getMinY(), box.getMaxY(), self.border[1], self.modes[1], self.height),
            (box.getMinX(), box.getMaxX(), self.border[0], self.modes[0], self.width),
        ):
            e0, e1 = lo - blo, hi + bhi
            if mode == "clip":
                if keepShape:  # shift inside the image to keep the full shape
                    if e0 < 0:
                        e0, e1 = 0, e1 - e0
                    if e1 > n - 1:
                        e0, e1 = max(0, e0 - (e1 - n + 1)), n - 1
                e0, e1 = max(0, e0), min(n - 1, e1)
            out.append((e0, e1))
        return tuple(out)

    def indices(self, i: int) -> tuple[Any, Any]:
        """`edgeIndices` for cell ``i``: (rows, columns)."""
        (y0, y1), (x0, x1) = self.expanded[i]
        return (
            edgeIndices(y0, y1, self.height, self.modes[1]),
            edgeIndices(x0, x1, self.width, self.modes[0]),
        )


# ------------------------------------------------------------------- the mapper


class Frame:
    """What the executors slice for the façade: only boxes (the mapper reads
    its own arrays). ``frame[box]`` is a `Frame` over ``box``."""

    def __init__(self, box: Box2I) -> None:
        self.box = box

    def getBBox(self) -> Box2I:
        return self.box

    def __getitem__(self, box: Box2I) -> Frame:
        return Frame(box)


def _shift(index: Any, outside: Any, origin: int) -> Any:
    """An `edgeIndices` index moved to arrays that start at ``origin``."""
    if isinstance(index, slice):
        return slice(index.start - origin, index.stop - origin)
    index = index - origin
    return index if outside is None else np.where(outside, 0, index)


class CellMapper:
    """Runs ``func`` on the expanded cells of the façade's arrays.

    ``run(sub, expanded, fullBBox)`` follows the mapper protocol of the
    executors; only the cell's box is used. It returns the result cropped to
    the cell with the image axes last (``mode='array'``), the number
    (``'scalar'``) or whatever ``func`` returned (``'none'``).
    """

    threadSafe = True

    def __init__(
        self,
        func: Callable[..., Any],
        arrays: Sequence[np.ndarray],
        origin: tuple[int, int],
        grid: Grid,
        imageAxes: tuple[int, int],
        mode: str,
        constant: float,
    ) -> None:
        self.func = func
        self.arrays = list(arrays)  # (..., h, w): image axes moved last
        self.origin = origin  # (y, x) of arrays[..., 0, 0] in the image
        self.grid = grid
        self.imageAxes = imageAxes
        self.ndim = arrays[0].ndim
        self.mode = mode
        self.constant = constant
        self.index = {
            (b.getMinX(), b.getMinY(), b.getMaxX(), b.getMaxY()): i
            for i, b in enumerate(grid.boxes0)
        }

    def cellIndex(self, box: Box2I) -> int:
        return self.index[(box.getMinX(), box.getMinY(), box.getMaxX(), box.getMaxY())]

    def cells(self, i: int) -> list[np.ndarray]:
        """The expanded cell ``i`` of every array, in the input's axis order."""
        (iy, oy), (ix, ox) = self.grid.indices(i)
        y0, x0 = self.origin
        iy = _shift(iy, oy, y0)
        ix = _shift(ix, ox, x0)
        out = []
        for a in self.arrays:
            c = takeCell(a, (iy, oy), (ix, ox), self.constant)
            if isinstance(iy, slice) and isinstance(ix, slice):
                c = c.view()
                c.flags.writeable = False
            out.append(np.moveaxis(c, (-2, -1), self.imageAxes))
        return out

    def run(self, subExposure: Any, expandedSubExposure: Any, fullBBox: Box2I, **kw: Any) -> Any:
        box = subExposure.getBBox()
        i = self.cellIndex(box)
        value = self.func(*self.cells(i))
        if self.mode == "none":
            (y0, y1), (x0, x1) = self.grid.expanded[i]
            return Struct(
                value=value,
                bbox=box,
                expandedBBox=Box2I(Point2I(x0, y0), Point2I(x1, y1)),
                slices=(slice(box.getMinY(), box.getEndY()), slice(box.getMinX(), box.getEndX())),
            )
        if self.mode == "scalar":
            try:
                return float(value)
            except (TypeError, ValueError):
                raise TypeError(
                    f"reduce='mesh' needs func to return one number per cell, got "
                    f"{type(value).__name__}"
                ) from None
        return self.crop(np.asarray(value), i)

    def crop(self, out: np.ndarray, i: int) -> np.ndarray:
        """``out`` with the image axes last, cropped to cell ``i``."""
        box = self.grid.boxes0[i]
        (y0, y1), (x0, x1) = self.grid.expanded[i]
        eshape = (y1 - y0 + 1, x1 - x0 + 1)
        shape = (box.getHeight(), box.getWidth())
        if out.ndim == self.ndim:
            out = np.moveaxis(out, self.imageAxes, (-2, -1))
        if out.ndim < 2 or out.shape[-2:] not in (eshape, shape):
            raise ValueError(
                f"func returned an array of shape {out.shape} for an expanded cell of shape "
                f"{eshape} (image axes); expected that shape (it is cropped to the cell) or the "
                f"cell's shape {shape}"
            )
        if out.dtype.kind not in "biufc":
            raise TypeError(f"func returned an array of dtype {out.dtype}; expected numbers")
        if out.shape[-2:] == eshape:
            dy, dx = box.getMinY() - y0, box.getMinX() - x0
            out = out[..., dy : dy + shape[0], dx : dx + shape[1]]
        return out


def readRegion(grid: Grid, cells: list[int]) -> tuple[slice, slice]:
    """The smallest (rows, columns) slices of the image that hold every pixel
    the expanded ``cells`` read (padding included)."""
    lo = [math.inf, math.inf]
    hi = [-1, -1]
    for i in cells:
        for a, (idx, _) in enumerate(grid.indices(i)):
            if isinstance(idx, slice):
                a0, a1 = idx.start, idx.stop - 1
            else:
                a0, a1 = int(idx.min()), int(idx.max())
            lo[a], hi[a] = min(lo[a], a0), max(hi[a], a1)
    return slice(int(lo[0]), int(hi[0]) + 1), slice(int(lo[1]), int(hi[1]) + 1)
