"""An LSST-faithful serial map-reduce loop, written for the benchmarks.

This is what ``lsst.ip.diffim.imageMapReduce.ImageMapReduceTask`` does,
step for step, with imagemapper's `Exposure` standing in for ``afw``:

1. ``_runMapper``: for every cell make a view of the cell and of the expanded
   cell (``exposure.Factory(exposure, box)``), call ``mapper.run`` and keep
   *every* result in a list;
2. ``ImageReducer._reduceImage``: deep-copy the exposure, reset it, then for
   every result make a view of the output on the result's box, compute the
   boolean mask of valid pixels (``~isnan(image * variance)``) and copy or add
   the valid pixels, OR the mask, and (``average``) add 1 to an integer weights
   image; at the end flag NaN pixels, convert the weights to float64 and
   divide.

It is deliberately independent of imagemapper's Rust stitching (only the
`Exposure` container and the grid boxes are shared) so that the benchmark
compares against the algorithm as LSST wrote it.
"""

from __future__ import annotations

__all__ = ["referenceMapReduce", "referenceReduce", "referenceRunMapper"]

from collections.abc import Sequence
from typing import Any

import numpy as np

import imagemapper as im

BAD_MASK_PLANES = ("INVALID_MAPREDUCE", "BAD", "NO_DATA")


def referenceRunMapper(
    exposure: im.Exposure,
    boxes0: Sequence[im.Box2I],
    boxes1: Sequence[im.Box2I],
    mapper: Any,
    **kwargs: Any,
) -> list[Any]:
    """LSST ``ImageMapReduceTask._runMapper``: views, mapper, keep every result."""
    fullBBox = exposure.getBBox()
    results = []
    for box0, box1 in zip(boxes0, boxes1):
        subExp = im.Exposure(exposure, box0)
        expandedSubExp = im.Exposure(exposure, box1)
        results.append(mapper.run(subExp, expandedSubExp, fullBBox, **kwargs))
    return results


def referenceReduce(
    mapperResults: Sequence[Any],
    exposure: im.Exposure,
    op: str,
    badMaskPlanes: Sequence[str] = BAD_MASK_PLANES,
) -> im.Exposure:
    """LSST ``ImageReducer._reduceImage`` with numpy boolean masks."""
    newExp = exposure.clone()
    newMI = newExp.maskedImage
    if op == "copy":
        newMI.image.array[:, :] = np.nan
        newMI.variance.array[:, :] = np.nan
    else:
        newMI.image.array[:, :] = 0.0
        newMI.variance.array[:, :] = 0.0
    weights = None
    if op == "average":
        weights = np.zeros(newMI.image.array.shape, dtype=np.int32)
    full = newExp.getBBox()
    for item in mapperResults:
        item = item.subExposure
        if not isinstance(item, im.Exposure):
            raise TypeError(f"expected an Exposure in result.subExposure, not {type(item)}")
        subExp = im.Exposure(newExp, item.getBBox())
        subMI = subExp.maskedImage
        patchMI = item.maskedImage
        isValid = ~np.isnan(patchMI.image.array * patchMI.variance.array)
        if op == "copy":
            subMI.image.array[isValid] = patchMI.image.array[isValid]
            subMI.variance.array[isValid] = patchMI.variance.array[isValid]
            subMI.mask.array[:, :] |= patchMI.mask.array
        else:
            subMI.image.array[isValid] += patchMI.image.array[isValid]
            subMI.variance.array[isValid] += patchMI.variance.array[isValid]
            subMI.mask.array[:, :] |= patchMI.mask.array
            if weights is not None:
                sy, sx = item.getBBox().slices(full)
                weights[sy, sx][isValid] += 1

    mask = newMI.mask
    for m in badMaskPlanes:
        mask.addMaskPlane(m)
    bad = mask.getPlaneBitMask(list(badMaskPlanes))
    isNan = np.where(np.isnan(newMI.image.array * newMI.variance.array))
    if len(isNan[0]) > 0:
        mask.array[isNan[0], isNan[1]] |= bad

    if weights is not None:
        wts = weights.astype(np.float64)
        # LSST logs these statistics.
        _ = (np.nanmax(wts), np.nanmean(wts), np.nanmin(wts))
        with np.errstate(invalid="ignore", divide="ignore"):
            newMI.image.array[:, :] /= wts
            newMI.variance.array[:, :] /= wts
        wtsZero = np.equal(wts, 0.0)
        wtsZeroInds = np.where(wtsZero)
        if np.sum(wtsZero) > 0:
            mask.array[wtsZeroInds[0], wtsZeroInds[1]] |= bad
            newMI.image.array[wtsZeroInds] = np.nan
            newMI.variance.array[wtsZeroInds] = np.nan
    return newExp


def referenceMapReduce(
    exposure: im.Exposure,
    boxes0: Sequence[im.Box2I],
    boxes1: Sequence[im.Box2I],
    mapper: Any,
    op: str,
) -> im.Exposure:
    """The whole LSST loop: map every cell, keep the results, reduce."""
    results = referenceRunMapper(exposure, boxes0, boxes1, mapper)
    return referenceReduce(results, exposure, op)
