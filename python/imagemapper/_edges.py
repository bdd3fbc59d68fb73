"""Edge halos, same-shape cells and the border exactness check.

Beyond the LSST reference (which clips the expanded cell at the image edge):

* `EdgeHaloMapper` wraps a mapper and hands it, for cells at the image
  edge, an expanded cell padded to the full border by reflection, the
  nearest pixel or a constant (``ImageMapReduceConfig.edgeMode``);
* `keepCellShape` shifts edge cells inward so that every cell (and every
  expanded cell) has the same shape;
* `checkBorder` measures how much a mapper's output inside a cell changes
  when the border is doubled.
"""

from __future__ import annotations

__all__ = ["EDGE_MODES", "EdgeHaloMapper", "checkBorder", "keepCellShape"]

from collections.abc import Sequence
from typing import Any, cast

import numpy as np

from ._core import Box2I, Extent2I, Point2I
from ._image import Exposure
from ._task import Struct

#: ``edgeMode`` values, with their `numpy.pad` modes.
EDGE_MODES = {"clip": None, "reflect": "symmetric", "nearest": "edge", "constant": "constant"}


def _box(x0: int, y0: int, x1: int, y1: int) -> Box2I:
    return Box2I(Point2I(int(x0), int(y0)), Point2I(int(x1), int(y1)))


def _shiftInside(lo: int, size: int, full0: int, full1: int) -> tuple[int, int]:
    """``[lo, lo + size - 1]`` moved to lie inside ``[full0, full1]``, clipped
    when it cannot fit."""
    hi = lo + size - 1
    if lo < full0:
        lo, hi = full0, full0 + size - 1
    if hi > full1:
        lo, hi = full1 - size + 1, full1
    return max(lo, full0), min(hi, full1)


def keepCellShape(
    boxes0: Sequence[Box2I],
    boxes1: Sequence[Box2I],
    fullBBox: Box2I,
    border: tuple[int, int],
    padded: bool,
) -> tuple[list[Box2I], list[Box2I]]:
    """Shift clipped edge cells inward so that every cell has the shape of
    the largest one (the unclipped cell size).

    Parameters
    ----------
    boxes0, boxes1 : sequence of `Box2I`
        The grid's cells and expanded cells.
    fullBBox : `Box2I`
        The exposure's box.
    border : pair of `int`
        The border in pixels (x, y).
    padded : `bool`
        True when the edge halos are padded (``edgeMode != 'clip'``): the
        expanded cell is then the cell grown by the border, clipped to the
        exposure (the padding restores the full shape). False: the expanded
        cell is also shifted inside the exposure, so that it keeps its full
        shape too (the cell is then off-centre in it).

    Returns
    -------
    boxes0, boxes1 : `list` of `Box2I`
        Cells of one shape (and, when the exposure is large enough,
        expanded cells of one shape).
    """
    if not boxes0:
        return list(boxes0), list(boxes1)
    cw = max(b.getWidth() for b in boxes0)
    ch = max(b.getHeight() for b in boxes0)
    bx, by = border
    fx0, fy0, fx1, fy1 = (
        fullBBox.getMinX(),
        fullBBox.getMinY(),
        fullBBox.getMaxX(),
        fullBBox.getMaxY(),
    )
    new0: list[Box2I] = []
    new1: list[Box2I] = []
    for b0 in boxes0:
        x0 = b0.getMinX() if b0.getMinX() > fx0 else b0.getMaxX() - cw + 1
        y0 = b0.getMinY() if b0.getMinY() > fy0 else b0.getMaxY() - ch + 1
        if b0.getWidth() == cw:
            x0 = b0.getMinX()
        if b0.getHeight() == ch:
            y0 = b0.getMinY()
        x0, x1 = _shiftInside(x0, cw, fx0, fx1)
        y0, y1 = _shiftInside(y0, ch, fy0, fy1)
        cell = _box(x0, y0, x1, y1)
        if padded:
            exp = cell.dilatedBy(Extent2I(bx, by)).clippedTo(fullBBox)
        else:
            ex0, ex1 = _shiftInside(x0 - bx, cw + 2 * bx, fx0, fx1)
            ey0, ey1 = _shiftInside(y0 - by, ch + 2 * by, fy0, fy1)
            exp = _box(ex0, ey0, ex1, ey1)
        new0.append(cell)
        new1.append(exp)
    return new0, new1


def padExposure(expanded: Exposure, target: Box2I, mode: str, constant: float = 0.0) -> Exposure:
    """A deep copy of ``expanded`` padded out to ``target`` (which contains
    its box) with ``mode``: ``reflect`` (``d c b a | a b c d``, the edge pixel
    repeated, as ``scipy.ndimage`` mode ``reflect``), ``nearest`` or
    ``constant`` (image ``constant``, mask and variance 0). The mask and
    variance are padded like the image (``constant``: 0)."""
    box = expanded.getBBox()
    if not target.contains(box):
        raise ValueError(f"padding target {target} does not contain the expanded cell {box}")
    npMode = EDGE_MODES[mode]
    if npMode is None:
        return expanded
    padW = (
        (box.getMinY() - target.getMinY(), target.getMaxY() - box.getMaxY()),
        (box.getMinX() - target.getMinX(), target.getMaxX() - box.getMaxX()),
    )
    mi = expanded.maskedImage

    def pad(arr: np.ndarray, value: float) -> np.ndarray:
        if npMode == "constant":
            return np.pad(arr, padW, mode="constant", constant_values=value)
        return np.pad(arr, padW, mode=cast(Any, npMode))

    image = pad(mi.image.array, constant)
    mask = pad(mi.mask.array, 0)
    variance = pad(mi.variance.array, 0)
    return Exposure.fromArrays(
        image,
        mask,
        variance,
        xy0=target.getMin(),
        psf=expanded.getPsf(),
        wcs=expanded.getWcs(),
        planeDict=mi.mask.getMaskPlaneDict(),
    )


class EdgeHaloMapper:
    """A mapper wrapper that pads the expanded cell at the image edge.

    ``run`` hands the wrapped mapper the cell unchanged and, for a cell whose
    expanded cell was clipped by the image edge, a padded copy covering the
    cell grown by the full border (parts of it lie outside the exposure's
    box). Interior cells are passed through untouched (no copy).

    Parameters
    ----------
    mapper : `ImageMapper`
        The wrapped mapper.
    border : pair of `int`
        The border in pixels (x, y).
    mode : `str`
        ``reflect``, ``nearest`` or ``constant``.
    constant : `float`
        The image value for ``constant``.
    """

    def __init__(
        self, mapper: Any, border: tuple[int, int], mode: str, constant: float = 0.0
    ) -> None:
        if mode not in EDGE_MODES or mode == "clip":
            raise ValueError(
                f"edgeMode {mode!r} does not pad; expected one of 'reflect', 'nearest', 'constant'"
            )
        self.mapper = mapper
        self.border = (int(border[0]), int(border[1]))
        self.mode = mode
        self.constant = float(constant)

    def __getattr__(self, name: str) -> Any:
        if name == "mapper":  # not yet set (unpickling)
            raise AttributeError(name)
        return getattr(self.mapper, name)

    def replicate(self) -> EdgeHaloMapper:
        """The same padding around a per-worker copy of the wrapped mapper."""
        from ._mapper import replicateMapper

        return EdgeHaloMapper(replicateMapper(self.mapper), self.border, self.mode, self.constant)

    def run(
        self, subExposure: Exposure, expandedSubExposure: Exposure, fullBBox: Box2I, **kwargs: Any
    ) -> Any:
        """Pad ``expandedSubExposure`` when it was clipped, then run the mapper."""
        target = subExposure.getBBox().dilatedBy(Extent2I(*self.border))
        target.include(expandedSubExposure.getBBox())
        if target != expandedSubExposure.getBBox():
            expandedSubExposure = padExposure(expandedSubExposure, target, self.mode, self.constant)
        return self.mapper.run(subExposure, expandedSubExposure, fullBBox, **kwargs)


def _cellImage(result: Any, box: Box2I) -> np.ndarray:
    """The mapper result's image over ``box`` (float64)."""
    sub = getattr(result, "subExposure", None)
    if not isinstance(sub, Exposure):
        raise TypeError(
            "checkBorder needs mapper results with an Exposure in result.subExposure, got "
            f"{type(result).__name__}"
        )
    if not sub.getBBox().contains(box):
        raise ValueError(
            f"checkBorder: the mapper returned the box {sub.getBBox()}, which does not cover "
            f"the cell {box}"
        )
    arr = sub.maskedImage.image.array[box.slices(sub.getBBox())]
    return np.asarray(arr, dtype=np.float64)


def checkBorder(
    task: Any, exposure: Exposure, nCells: int = 5, seed: int = 0, **kwargs: Any
) -> Struct:
    """Run ``nCells`` random cells with the border b and with 2b; report the
    largest absolute difference of the mapper's output inside the cells.

    See `ImageMapReduceTask.checkBorder`.
    """
    if nCells < 1:
        raise ValueError(f"nCells={nCells!r} must be >= 1")
    boxes0, boxes1 = task._generateGrid(
        exposure, forceEvenSized=kwargs.get("forceEvenSized", False)
    )
    if not boxes0:
        raise ValueError("the grid has no cells")
    border = task._borderPixels(exposure)
    full = exposure.getBBox()
    rng = np.random.default_rng(seed)
    picks = sorted(rng.choice(len(boxes0), size=min(nCells, len(boxes0)), replace=False).tolist())
    mapper = task._cellMapper(exposure)
    cells = []
    worst = 0.0
    for i in picks:
        b0, b1 = boxes0[i], boxes1[i]
        # The wide border: grow the expanded cell by b more on every side.
        wide = b1.dilatedBy(Extent2I(*border)).clippedTo(full)
        outs = []
        for ebox in (b1, wide):
            sub = Exposure(exposure, b0, writeable=False)
            expanded = Exposure(exposure, ebox, writeable=False)
            outs.append(_cellImage(mapper.run(sub, expanded, full, **kwargs), b0))
        diff = np.abs(outs[0] - outs[1])
        both = np.isfinite(outs[0]) & np.isfinite(outs[1])
        nanMismatch = int(np.count_nonzero(np.isfinite(outs[0]) != np.isfinite(outs[1])))
        d = float(diff[both].max()) if both.any() else 0.0
        scale = float(np.abs(outs[1][both]).max()) if both.any() else 0.0
        cells.append(
            Struct(
                index=int(i),
                bbox=b0,
                expandedBBox=b1,
                wideBBox=wide,
                maxDifference=d,
                maxAbsValue=scale,
                nNanMismatch=nanMismatch,
            )
        )
        worst = max(worst, d)
    return Struct(maxDifference=worst, cells=cells, border=border)
