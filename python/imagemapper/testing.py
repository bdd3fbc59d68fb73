"""Reference implementations and assertion helpers for tests.

Everything here is deliberately simple, slow and independent of the Rust
core: `naiveGrid` follows the grid rules of the design document line by
line with numpy, `naiveReduce` is the LSST reducer written with boolean
masks. Use them to check imagemapper (or your own mapper) against a
straightforward answer.
"""

from __future__ import annotations

__all__ = [
    "assertExposuresEqual",
    "naiveGrid",
    "naiveReduce",
]

from collections.abc import Sequence
from typing import Any

import numpy as np

from ._core import Box2I, Point2I
from .image import Exposure


def _box(x0: int, y0: int, x1: int, y1: int) -> Box2I | None:
    """Box from inclusive corners, or None when empty."""
    if x1 < x0 or y1 < y0:
        return None
    return Box2I(Point2I(int(x0), int(y0)), Point2I(int(x1), int(y1)))


def naiveGrid(
    bbox: Box2I,
    cellSize: Sequence[float],
    gridStep: Sequence[float],
    borderSize: Sequence[float],
    adjust: str = "spacing",
    centroids: Sequence[tuple[float, float]] | None = None,
    fwhm: float | None = None,
    forceEvenSized: bool = False,
) -> tuple[list[Box2I], list[Box2I]]:
    """The cell grid by the design document's rules, with numpy.

    Parameters
    ----------
    bbox : `Box2I`
        The exposure's box.
    cellSize, gridStep, borderSize : pair of `float`
        ``(x, y)`` config values.
    adjust : `str`
        ``spacing``, ``size`` or ``none``.
    centroids : list of ``(x, y)``, optional
        Explicit centroids (sizes are then used as given, rounded).
    fwhm : `float`, optional
        Scale sizes, steps and borders by this (``scaleByFwhm``).
    forceEvenSized : `bool`
        Grow boxes to even dimensions.

    Returns
    -------
    boxes0, boxes1 : `list` of `Box2I`
        Cells and expanded cells.
    """
    x0, y0 = bbox.getMinX(), bbox.getMinY()
    W, H = bbox.getWidth(), bbox.getHeight()
    if centroids:
        cs = [int(np.rint(v)) for v in cellSize]
        bs = [int(np.rint(v)) for v in borderSize]
        cents = [(float(x), float(y)) for x, y in centroids]
    else:
        scale = fwhm if fwhm is not None else 1.0
        cs = [int(np.rint(v * scale)) for v in cellSize]
        gs = [int(np.rint(v * scale)) for v in gridStep]
        bs = [int(np.rint(v * scale)) for v in borderSize]
        xs: np.ndarray
        ys: np.ndarray
        if adjust == "spacing":
            xs = np.linspace(cs[0] // 2, W - cs[0] // 2, W // cs[0] + 1)
            ys = np.linspace(cs[1] // 2, H - cs[1] // 2, H // cs[1] + 1)
        elif adjust == "size":
            cs = list(gs)
            xs = np.arange(cs[0] // 2, W + cs[0] // 2, cs[0])
            ys = np.arange(cs[1] // 2, H + cs[1] // 2, cs[1])
            cs = [cs[0] + 1, cs[1] + 1]
        else:
            xs = np.arange(cs[0] // 2, W + cs[0] // 2, gs[0])
            ys = np.arange(cs[1] // 2, H + cs[1] // 2, gs[1])
        cents = [(float(x), float(y)) for x in xs for y in ys]

    full = (x0, y0, x0 + W - 1, y0 + H - 1)

    def clip(b: tuple[int, int, int, int] | None) -> tuple[int, int, int, int] | None:
        if b is None:
            return None
        c = (max(b[0], full[0]), max(b[1], full[1]), min(b[2], full[2]), min(b[3], full[3]))
        return c if c[2] >= c[0] and c[3] >= c[1] else None

    def even(b: tuple[int, int, int, int] | None) -> tuple[int, int, int, int] | None:
        if b is None:
            return None
        ax0, ay0, ax1, ay1 = b
        if (ax1 - ax0 + 1) % 2:
            ax0, ay0, ax1, ay1 = clip((ax0, ay0, ax1 + 1, ay1))  # type: ignore[misc]
            if (ax1 - ax0 + 1) % 2:
                ax0, ay0, ax1, ay1 = clip((ax0 - 1, ay0, ax1, ay1))  # type: ignore[misc]
        if (ay1 - ay0 + 1) % 2:
            ax0, ay0, ax1, ay1 = clip((ax0, ay0, ax1, ay1 + 1))  # type: ignore[misc]
            if (ay1 - ay0 + 1) % 2:
                ax0, ay0, ax1, ay1 = clip((ax0, ay0 - 1, ax1, ay1))  # type: ignore[misc]
        if (ax1 - ax0 + 1) % 2 or (ay1 - ay0 + 1) % 2:
            raise RuntimeError("Cannot make bounding box even-sized")
        return (ax0, ay0, ax1, ay1)

    def area(b: tuple[int, int, int, int] | None) -> int:
        return 0 if b is None else (b[2] - b[0] + 1) * (b[3] - b[1] + 1)

    boxes0: list[Box2I] = []
    boxes1: list[Box2I] = []
    w, h = cs
    if w <= 0 or h <= 0:
        return boxes0, boxes1
    for x, y in cents:
        xoff = int(np.floor(x)) - w // 2
        yoff = int(np.floor(y)) - h // 2
        b0 = clip((x0 + xoff, y0 + yoff, x0 + xoff + w - 1, y0 + yoff + h - 1))
        b1 = clip(
            (
                x0 + xoff - bs[0],
                y0 + yoff - bs[1],
                x0 + xoff + w - 1 + bs[0],
                y0 + yoff + h - 1 + bs[1],
            )
        )
        if forceEvenSized:
            b0, b1 = even(b0), even(b1)
        if area(b0) > 1 and area(b1) > 1:
            boxes0.append(_box(*b0))  # type: ignore[arg-type, misc]
            boxes1.append(_box(*b1))  # type: ignore[arg-type, misc]
    return boxes0, boxes1


def naiveReduce(
    cells: Sequence[Exposure],
    exposure: Exposure,
    op: str,
    badMaskPlanes: Sequence[str] = ("INVALID_MAPREDUCE", "BAD", "NO_DATA"),
) -> Exposure:
    """The LSST reducer, written with numpy boolean masks.

    Parameters
    ----------
    cells : sequence of `Exposure`
        Per-cell results, in cell order.
    exposure : `Exposure`
        The input exposure (gives the box and the starting mask).
    op : `str`
        ``copy``, ``sum`` or ``average``.
    badMaskPlanes : sequence of `str`
        Planes set where the result is NaN (and, for ``sum``, where no valid
        value landed).

    Returns
    -------
    exposure : `Exposure`
        The stitched exposure (PSF not set).
    """
    out = exposure.clone()
    img, var, msk = out.image.array, out.variance.array, out.mask.array
    if op == "copy":
        img[:] = np.nan
        var[:] = np.nan
    else:
        img[:] = 0
        var[:] = 0
    weights = np.zeros(img.shape, dtype=np.int32)
    full = exposure.getBBox()
    for cell in cells:
        sy, sx = cell.getBBox().slices(full)
        ci, cv, cm = cell.image.array, cell.variance.array, cell.mask.array
        valid = ~np.isnan(ci * cv)
        if op == "copy":
            img[sy, sx][valid] = ci[valid]
            var[sy, sx][valid] = cv[valid]
        else:
            img[sy, sx][valid] += ci[valid]
            var[sy, sx][valid] += cv[valid]
            weights[sy, sx][valid] += 1
        msk[sy, sx] |= cm
    for name in badMaskPlanes:
        out.mask.addMaskPlane(name)
    bad = out.mask.getPlaneBitMask(list(badMaskPlanes)) if badMaskPlanes else 0
    isNan = np.isnan(img * var)
    msk[isNan] |= bad
    if op == "sum":
        # Not LSST: a sum pixel with no valid contribution stays 0 but is
        # flagged (imagemapper's flags tell where nothing valid landed).
        msk[weights == 0] |= bad
    if op == "average":
        wts = weights.astype(float)
        zero = wts == 0
        np.divide(img, wts, out=img, where=~zero)
        np.divide(var, wts, out=var, where=~zero)
        img[zero] = np.nan
        var[zero] = np.nan
        msk[zero] |= bad
    return out


def assertExposuresEqual(
    a: Exposure, b: Exposure, *, checkPsf: bool = False, msg: Any = ""
) -> None:
    """Assert that two exposures have the same box and bit-identical planes.

    NaNs compare equal to NaNs in the same places.
    """
    if a.getBBox() != b.getBBox():
        raise AssertionError(f"boxes differ: {a.getBBox()} != {b.getBBox()} {msg}")
    for name in ("image", "mask", "variance"):
        x = getattr(a, name).array
        y = getattr(b, name).array
        if x.dtype != y.dtype:
            raise AssertionError(f"{name} dtypes differ: {x.dtype} != {y.dtype} {msg}")
        np.testing.assert_array_equal(x, y, err_msg=f"{name} differs {msg}")
    if checkPsf and (a.getPsf() is None) != (b.getPsf() is None):
        raise AssertionError(f"one exposure has a PSF and the other not {msg}")
