"""Batched mappers: equal-shape cells handed to ``mapper.runBatch`` as stacks.

A mapper that defines ``runBatch(subExposures, expandedSubExposures, fullBBox,
**kwargs)`` receives a chunk of cells at once as two `CellBatch` objects —
the cells and the expanded cells, each plane stacked along a first axis of
length ``len(batch)`` — and returns a `CellBatch` of results (or a `Struct`
whose ``subExposure`` is one). Vectorisable work then runs with no Python per
cell, and could run on an accelerator; the results are stitched straight from
the stacks by the Rust reducer. This is the sliding-window batching of MONAI
(``sw_batch_size``); the batch size is the mapper's ``batchSize`` attribute
(default 256 cells).

The task uses ``runBatch`` when every cell has one shape and every expanded
cell has one shape (``keepCellShape`` grids), the edge mode is ``clip``, and
neither ``doClone`` nor ``returnSubImages`` is asked for; otherwise it calls
``run`` per cell. ``runBatch`` must give the results ``run`` would give, cell
for cell: the stitched output is then bit-identical. A batch whose
``runBatch`` raises is run again cell by cell with ``run``, so failures are
reported (and, under ``onMapperError='mask'``, masked) per cell.
"""

from __future__ import annotations

__all__ = ["CellBatch"]

from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from ._core import Box2I
from ._image import Exposure

#: Cells per `runBatch` call when the mapper does not say (``batchSize``).
DEFAULT_BATCH_SIZE = 256


class CellBatch:
    """Equal-shape cells stacked along a first axis.

    Parameters
    ----------
    bboxes : sequence of `Box2I`
        The box of each cell (parent coordinates), all of one shape ``(h, w)``.
    image, variance : `numpy.ndarray`
        Float arrays of shape ``(n, h, w)``.
    mask : `numpy.ndarray`, optional
        Integer array of shape ``(n, h, w)``; None for no mask.
    """

    def __init__(
        self,
        bboxes: Sequence[Box2I],
        image: np.ndarray,
        mask: np.ndarray | None,
        variance: np.ndarray,
    ) -> None:
        self.bboxes = list(bboxes)
        self.image = image
        self.mask = mask
        self.variance = variance
        n = len(self.bboxes)
        for name, arr in (("image", image), ("mask", mask), ("variance", variance)):
            if arr is not None and (arr.ndim != 3 or arr.shape[0] != n):
                raise ValueError(
                    f"CellBatch {name} has shape {arr.shape}; expected ({n}, height, width) "
                    f"for {n} cells"
                )

    def __len__(self) -> int:
        return len(self.bboxes)

    def __repr__(self) -> str:
        return f"CellBatch({len(self)} cells of {self.image.shape[1:]}, dtype={self.image.dtype})"


def equalShapes(boxes: Sequence[Box2I]) -> bool:
    """Whether every box has the shape of the first."""
    if not boxes:
        return False
    w, h = boxes[0].getWidth(), boxes[0].getHeight()
    return all(b.getWidth() == w and b.getHeight() == h for b in boxes)


def gather(exposure: Exposure, boxes: Sequence[Box2I]) -> CellBatch:
    """The cells ``boxes`` (equal shapes, inside the exposure) stacked: one
    numpy gather per plane (a copy: cells overlap)."""
    full = exposure.getBBox()
    h, w = boxes[0].getHeight(), boxes[0].getWidth()
    ys = np.fromiter((b.getMinY() - full.getMinY() for b in boxes), np.intp, len(boxes))
    xs = np.fromiter((b.getMinX() - full.getMinX() for b in boxes), np.intp, len(boxes))
    mi = exposure.maskedImage
    planes = [
        sliding_window_view(p._array, (h, w))[ys, xs] for p in (mi._image, mi._mask, mi._variance)
    ]
    return CellBatch(boxes, planes[0], planes[1], planes[2])


def batchSize(mapper: Any) -> int:
    n = getattr(mapper, "batchSize", DEFAULT_BATCH_SIZE)
    if not isinstance(n, int) or isinstance(n, bool) or n < 1:
        raise ValueError(f"mapper.batchSize={n!r} must be a positive number of cells")
    return n


def resultBatch(index0: int, result: Any) -> CellBatch:
    """The `CellBatch` a ``runBatch`` returned (directly or in ``subExposure``)."""
    if isinstance(result, CellBatch):
        return result
    sub = getattr(result, "subExposure", None)
    if isinstance(sub, CellBatch):
        return sub
    raise TypeError(
        f"mapper.runBatch for the batch starting at cell {index0} returned "
        f"{type(result).__name__}; expected a CellBatch (or a Struct whose subExposure is one)"
    )
