"""Edge halos, same-shape cells and the border exactness check.

Beyond the LSST reference (which clips the expanded cell at the image edge):

* `EdgeHaloMapper` wraps a mapper and hands it, for cells at the image
  edge, an expanded cell padded to the full border, per axis, by
  reflection, the nearest pixel, a constant or the opposite side of the
  image (``ImageMapReduceConfig.edgeMode``, ``edgeModeX``, ``edgeModeY``);
  only where the image ends;
* `edgeIndices` / `takeCell` / `paddedRange`: the index arithmetic shared
  with the `map_reduce` façade;
* `keepCellShape` shifts edge cells inward so that every cell (and every
  expanded cell) has the same shape;
* `checkBorder` measures how much a mapper's output inside a cell changes
  when the border is doubled.
"""

from __future__ import annotations

__all__ = [
    "EDGE_MODES",
    "EdgeHaloMapper",
    "canonicalEdgeMode",
    "checkBorder",
    "edgeIndices",
    "keepCellShape",
    "paddedRange",
    "takeCell",
]

from collections.abc import Sequence
from typing import Any

import numpy as np

from .._core import Box2I, Extent2I, Point2I
from ..image import Exposure
from ..task import Struct

#: ``edgeMode`` values, with their `numpy.pad` modes (``wrap`` is an alias of ``periodic``).
EDGE_MODES = {
    "clip": None,
    "reflect": "symmetric",
    "nearest": "edge",
    "constant": "constant",
    "periodic": "wrap",
    "wrap": "wrap",
}


def canonicalEdgeMode(mode: Any, name: str = "edgeMode") -> str:
    """``mode`` checked against `EDGE_MODES`, with ``wrap`` spelled ``periodic``."""
    if not isinstance(mode, str) or mode not in EDGE_MODES:
        raise ValueError(f"{name}={mode!r} is not one of {sorted(EDGE_MODES)}")
    return "periodic" if mode == "wrap" else mode


def edgeIndices(
    lo: int, hi: int, n: int, mode: str
) -> tuple[slice | np.ndarray, np.ndarray | None]:
    """Indices into an axis of length ``n`` that give the pixels ``lo..hi``
    (inclusive; they may lie beyond ``0..n-1``) padded with ``mode``.

    Returns ``(index, outside)``: ``index`` is a `slice` when ``lo..hi`` lies
    inside the axis (a view can be taken), else an integer array;
    ``outside`` is, for ``constant``, the boolean array of the positions
    beyond the axis (to be set to the constant), else `None`. ``reflect``
    mirrors about the edge with the edge pixel repeated (``d c b a | a b c
    d``, period ``2 n``), ``nearest`` repeats the edge pixel, ``periodic``
    wraps around, ``clip`` is only allowed inside the axis.
    """
    if 0 <= lo and hi < n:
        return slice(lo, hi + 1), None
    mode = canonicalEdgeMode(mode)
    r = np.arange(lo, hi + 1, dtype=np.intp)
    if mode == "reflect":
        m = np.mod(r, 2 * n)
        return np.where(m < n, m, 2 * n - 1 - m), None
    if mode == "nearest":
        return np.clip(r, 0, n - 1), None
    if mode == "periodic":
        return np.mod(r, n), None
    if mode == "constant":
        outside = (r < 0) | (r >= n)
        return np.where(outside, 0, r), outside
    raise ValueError(f"pixels {lo}..{hi} lie beyond an axis of {n} pixels with edgeMode 'clip'")


def takeCell(
    arr: np.ndarray,
    ys: tuple[slice | np.ndarray, np.ndarray | None],
    xs: tuple[slice | np.ndarray, np.ndarray | None],
    constant: Any = 0,
) -> np.ndarray:
    """``arr[..., ys, xs]`` for two `edgeIndices` results: a view when both
    are slices, else a padded copy (``constant`` where they say so)."""
    (iy, oy), (ix, ox) = ys, xs
    if isinstance(iy, slice) and isinstance(ix, slice):
        return arr[..., iy, ix]
    rows = np.arange(arr.shape[-2])[iy] if isinstance(iy, slice) else iy
    cols = np.arange(arr.shape[-1])[ix] if isinstance(ix, slice) else ix
    out = arr[..., rows[:, None], cols[None, :]]
    if oy is not None and oy.any():
        out[..., oy, :] = constant
    if ox is not None and ox.any():
        out[..., :, ox] = constant
    return out


def paddedRange(
    cellLo: int, cellHi: int, expLo: int, expHi: int, border: tuple[int, int], n: int, mode: str
) -> tuple[int, int]:
    """The pixel range an expanded cell covers on one axis once padded.

    The expanded cell ``expLo..expHi`` is extended to ``cellLo - border[0]``
    (``cellHi + border[1]``) only on a side where it stops at the image's
    own end (``0`` or ``n - 1``) and the border reaches beyond it: a side
    that stops inside the image (a hand-set, asymmetric expanded cell) keeps
    its real neighbours and is never padded. ``clip`` pads nothing.
    """
    if canonicalEdgeMode(mode) == "clip":
        return expLo, expHi
    lo, hi = expLo, expHi
    if expLo <= 0 and cellLo - border[0] < expLo:
        lo = cellLo - border[0]
    if expHi >= n - 1 and cellHi + border[1] > expHi:
        hi = cellHi + border[1]
    return lo, hi


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


def _modePair(mode: str | Sequence[str]) -> tuple[str, str]:
    """``(x_mode, y_mode)`` from one mode or a pair."""
    if isinstance(mode, str):
        m = canonicalEdgeMode(mode)
        return m, m
    mx, my = mode
    return canonicalEdgeMode(mx, "edgeModeX"), canonicalEdgeMode(my, "edgeModeY")


def padExposure(
    expanded: Exposure,
    target: Box2I,
    mode: str | Sequence[str],
    constant: float = 0.0,
    source: Exposure | None = None,
) -> Exposure:
    """A copy of ``expanded`` padded out to ``target`` (which contains its
    box) per axis with ``mode`` (one mode, or ``(x_mode, y_mode)``):
    ``reflect`` (``d c b a | a b c d``, the edge pixel repeated, as
    ``scipy.ndimage`` mode ``reflect``), ``nearest``, ``constant`` (image
    ``constant``, mask and variance 0) or ``periodic`` (the pixels from the
    opposite side of the image: needs ``source``, the whole exposure). The
    image is taken to end where ``target`` leaves ``expanded``'s box, or at
    ``source``'s box when given. The mask and variance are padded like the
    image (``constant``: 0)."""
    box = expanded.getBBox()
    if not target.contains(box):
        raise ValueError(f"padding target {target} does not contain the expanded cell {box}")
    mx, my = _modePair(mode)
    if (mx == "periodic" or my == "periodic") and source is None:
        raise ValueError("edgeMode 'periodic' pads from the opposite side: pass source=exposure")
    base = source if source is not None else expanded
    frame = base.getBBox()
    axes = []
    for m, lo, hi, f0, n in (
        (my, target.getMinY(), target.getMaxY(), frame.getMinY(), frame.getHeight()),
        (mx, target.getMinX(), target.getMaxX(), frame.getMinX(), frame.getWidth()),
    ):
        axes.append(edgeIndices(lo - f0, hi - f0, n, m if lo - f0 < 0 or hi - f0 >= n else "clip"))
    mi = base.maskedImage
    image = takeCell(mi.image.array, axes[0], axes[1], constant)
    mask = takeCell(mi.mask.array, axes[0], axes[1], 0)
    variance = takeCell(mi.variance.array, axes[0], axes[1], 0)
    return Exposure.fromArrays(
        np.array(image, copy=True),
        np.array(mask, copy=True),
        np.array(variance, copy=True),
        xy0=target.getMin(),
        psf=expanded.getPsf(),
        wcs=expanded.getWcs(),
        planeDict=mi.mask.getMaskPlaneDict(),
    )


class EdgeHaloMapper:
    """A mapper wrapper that pads the expanded cell where the image ends.

    ``run`` hands the wrapped mapper the cell unchanged and, for a cell whose
    expanded cell was clipped by the image edge, a padded copy covering the
    cell grown by the full border on the sides where the image ends (parts
    of it lie outside the exposure's box). A side of the expanded cell that
    stops inside the image (hand-set, asymmetric boxes) is left as it is:
    real neighbours are never replaced by padding. Interior cells are passed
    through untouched (no copy).

    Parameters
    ----------
    mapper : `ImageMapper`
        The wrapped mapper.
    border : pair of `int`
        The border in pixels (x, y).
    mode : `str` or pair of `str`
        ``reflect``, ``nearest``, ``constant``, ``periodic`` (alias ``wrap``)
        or ``clip`` (no padding on that axis); one for both axes or
        ``(x_mode, y_mode)``.
    constant : `float`
        The image value for ``constant``.
    source : `Exposure`, optional
        The whole input, for ``periodic`` (the padding comes from the opposite
        side of the image) and for reflections reaching past the expanded cell.
    """

    def __init__(
        self,
        mapper: Any,
        border: tuple[int, int],
        mode: str | Sequence[str],
        constant: float = 0.0,
        source: Exposure | None = None,
    ) -> None:
        modes = _modePair(mode)
        if modes == ("clip", "clip"):
            raise ValueError(
                f"edgeMode {mode!r} does not pad; expected one of 'reflect', 'nearest', "
                "'constant', 'periodic' on at least one axis"
            )
        self.mapper = mapper
        self.border = (int(border[0]), int(border[1]))
        self.modes = modes
        self.constant = float(constant)
        self.source = source if isinstance(source, Exposure) else None

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        if "periodic" not in self.modes:
            state["source"] = None  # only periodic needs it: do not ship the image
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)

    def __getattr__(self, name: str) -> Any:
        if name == "mapper":  # not yet set (unpickling)
            raise AttributeError(name)
        return getattr(self.mapper, name)

    def paddedBox(self, cell: Box2I, expanded: Box2I, full: Box2I) -> Box2I:
        """The box the mapper sees for ``cell``: ``expanded`` extended by
        `paddedRange` on each axis."""
        ranges = []
        for mode, b, c0, c1, e0, e1, f0, n in (
            (
                self.modes[0],
                self.border[0],
                cell.getMinX(),
                cell.getMaxX(),
                expanded.getMinX(),
                expanded.getMaxX(),
                full.getMinX(),
                full.getWidth(),
            ),
            (
                self.modes[1],
                self.border[1],
                cell.getMinY(),
                cell.getMaxY(),
                expanded.getMinY(),
                expanded.getMaxY(),
                full.getMinY(),
                full.getHeight(),
            ),
        ):
            lo, hi = paddedRange(c0 - f0, c1 - f0, e0 - f0, e1 - f0, (b, b), n, mode)
            ranges.append((lo + f0, hi + f0))
        (x0, x1), (y0, y1) = ranges
        return _box(x0, y0, x1, y1)

    def replicate(self) -> EdgeHaloMapper:
        """The same padding around a per-worker copy of the wrapped mapper."""
        from ._mapper import replicateMapper

        return EdgeHaloMapper(
            replicateMapper(self.mapper), self.border, self.modes, self.constant, self.source
        )

    def run(
        self, subExposure: Exposure, expandedSubExposure: Exposure, fullBBox: Box2I, **kwargs: Any
    ) -> Any:
        """Pad ``expandedSubExposure`` where the image ends, then run the mapper."""
        ebox = expandedSubExposure.getBBox()
        target = self.paddedBox(subExposure.getBBox(), ebox, fullBBox)
        if target != ebox:
            source = self.source
            if source is None or source.getBBox() != fullBBox:
                source = None
            expandedSubExposure = padExposure(
                expandedSubExposure, target, self.modes, self.constant, source
            )
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
    grid = task.makeGrid(
        exposure.getBBox(), exposure.getPsf(), forceEvenSized=kwargs.get("forceEvenSized", False)
    )
    boxes0, boxes1 = grid.boxes0, grid.boxes1
    if not boxes0:
        raise ValueError("the grid has no cells")
    border = grid.border
    full = exposure.getBBox()
    rng = np.random.default_rng(seed)
    picks = sorted(rng.choice(len(boxes0), size=min(nCells, len(boxes0)), replace=False).tolist())
    mapper = task.cellMapper(exposure)
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
