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

from .._core import Box2I
from ..image import Exposure

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

    The batches the task hands to ``runBatch`` gather each plane from the
    input when it is first read (a copy: cells overlap), so a plane the mapper
    never reads costs nothing. Planes may be replaced (``batch.image = ...``)
    or written in place.
    """

    def __init__(
        self,
        bboxes: Sequence[Box2I],
        image: np.ndarray,
        mask: np.ndarray | None,
        variance: np.ndarray,
    ) -> None:
        self.bboxes = list(bboxes)
        self._source: tuple[Exposure, np.ndarray, np.ndarray] | None = None
        self._planes: dict[str, np.ndarray | None] = {}
        n = len(self.bboxes)
        for name, arr in (("image", image), ("mask", mask), ("variance", variance)):
            if arr is not None and (arr.ndim != 3 or arr.shape[0] != n):
                raise ValueError(
                    f"CellBatch {name} has shape {arr.shape}; expected ({n}, height, width) "
                    f"for {n} cells"
                )
            self._planes[name] = arr

    @classmethod
    def _gathered(cls, exposure: Exposure, boxes: Sequence[Box2I]) -> CellBatch:
        """The cells ``boxes`` (equal shapes, inside ``exposure``), each plane
        gathered on first use."""
        obj = cls.__new__(cls)
        obj.bboxes = list(boxes)
        full = exposure.getBBox()
        n = len(obj.bboxes)
        ys = np.fromiter((b.getMinY() - full.getMinY() for b in obj.bboxes), np.intp, n)
        xs = np.fromiter((b.getMinX() - full.getMinX() for b in obj.bboxes), np.intp, n)
        obj._source = (exposure, ys, xs)
        obj._planes = {}
        return obj

    def _sourcePlane(self, name: str) -> np.ndarray:
        """The whole plane ``name`` of the exposure the batch was gathered from."""
        assert self._source is not None
        return getattr(self._source[0].maskedImage, "_" + name)._array

    def _plane(self, name: str) -> Any:
        if name not in self._planes:
            assert self._source is not None
            _, ys, xs = self._source
            h, w = self.bboxes[0].getHeight(), self.bboxes[0].getWidth()
            self._planes[name] = sliding_window_view(self._sourcePlane(name), (h, w))[ys, xs]
        return self._planes[name]

    @property
    def image(self) -> np.ndarray:
        """Image planes, ``(n, h, w)``."""
        return self._plane("image")

    @image.setter
    def image(self, value: np.ndarray) -> None:
        self._planes["image"] = value

    @property
    def mask(self) -> np.ndarray | None:
        """Mask planes, ``(n, h, w)``, or None."""
        return self._plane("mask")

    @mask.setter
    def mask(self, value: np.ndarray | None) -> None:
        self._planes["mask"] = value

    @property
    def variance(self) -> np.ndarray:
        """Variance planes, ``(n, h, w)``."""
        return self._plane("variance")

    @variance.setter
    def variance(self, value: np.ndarray) -> None:
        self._planes["variance"] = value

    def __len__(self) -> int:
        return len(self.bboxes)

    def __repr__(self) -> str:
        b = self.bboxes[0] if self.bboxes else None
        shape = (b.getHeight(), b.getWidth()) if b is not None else ()
        return f"CellBatch({len(self)} cells of {shape})"


def equalShapes(boxes: Sequence[Box2I]) -> bool:
    """Whether every box has the shape of the first."""
    if not boxes:
        return False
    w, h = boxes[0].getWidth(), boxes[0].getHeight()
    return all(b.getWidth() == w and b.getHeight() == h for b in boxes)


def gather(exposure: Exposure, boxes: Sequence[Box2I]) -> CellBatch:
    """The cells ``boxes`` (equal shapes, inside the exposure) as a batch
    whose planes are gathered when first read."""
    return CellBatch._gathered(exposure, boxes)


def stitchPlanes(batch: CellBatch) -> tuple[Any, Any, Any, tuple[int, int] | None]:
    """The planes of a batch of results to stitch, ``(image, mask, variance,
    origin)``: each a stack, or, where the batch was gathered from an
    exposure and the plane was never read or replaced, that exposure's whole
    plane, with ``origin`` its corner (the reducer reads each cell's box
    from it: no stack is gathered for a plane the mapper left alone)."""
    if batch._source is None:
        return batch.image, batch.mask, batch.variance, None
    image, mask, variance = (
        batch._planes[name] if name in batch._planes else batch._sourcePlane(name)
        for name in ("image", "mask", "variance")
    )
    full = batch._source[0].getBBox()
    return image, mask, variance, (full.getMinX(), full.getMinY())


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
