"""The reducer: combines per-cell results (stitching is done in Rust)."""

from __future__ import annotations

__all__ = ["STITCH_OPERATIONS", "ImageReducer", "ImageReducerConfig"]

from collections.abc import Iterable, Sequence
from typing import Any, ClassVar

import lsst.pex.config as pexConfig
import numpy as np

from . import _core
from ._core import Box2I
from ._image import Exposure
from ._psf import CoaddPsf
from ._task import Struct, Task

#: Reduce operations that stitch per-cell exposures into a new exposure.
STITCH_OPERATIONS = ("copy", "sum", "average")


class ImageReducerConfig(pexConfig.Config):
    """Configuration of an `ImageReducer`."""

    reduceOperation = pexConfig.ChoiceField(
        dtype=str,
        optional=False,
        doc="How to combine the per-cell results of the mapper.",
        default="average",
        allowed={
            "none": "return the list of mapper results as they are (Struct(result=[...]))",
            "copy": "copy the valid pixels of each cell into a NaN-initialised exposure; "
            "where cells overlap the later cell wins",
            "sum": "add the valid pixels of every cell into a zero-initialised exposure",
            "average": "as 'sum', divided per pixel by the number of valid contributions",
            "coaddPsf": "no image: build a CoaddPsf from the cells' PSFs",
        },
    )
    badMaskPlanes = pexConfig.ListField(
        dtype=str,
        doc="Mask planes added to the output and set on every pixel whose image or variance is "
        "NaN after reduction (nothing valid landed there).",
        default=("INVALID_MAPREDUCE", "BAD", "NO_DATA"),
    )


def _wcsEqual(a: Any, b: Any) -> bool:
    """Compare two astropy WCS objects (or None) by value."""
    if a is b:
        return True
    if a is None or b is None:
        return False
    try:
        if not a.wcs.compare(b.wcs):
            return False
    except AttributeError:
        return bool(a == b)
    return a.to_header_string(relax=True) == b.to_header_string(relax=True)


def _psfComponent(index: int, res: Any, wcsref: Any) -> tuple[int, Any, Box2I]:
    """``(index, psf or None, bbox)`` of one mapper result, for a CoaddPsf."""
    items = res.getDict() if hasattr(res, "getDict") else {}
    if "subExposure" in items:
        subExp = items["subExposure"]
        if not _wcsEqual(subExp.getWcs(), wcsref):
            raise ValueError(
                f"WCS of the subExposure of cell {index} differs from the exposure's WCS"
            )
        return index, subExp.getPsf(), subExp.getBBox()
    if "psf" in items:
        if items.get("bbox") is None:
            raise ValueError(f"mapper result {index} has a 'psf' item but no 'bbox' item")
        return index, items["psf"], items["bbox"]
    raise ValueError(
        f"mapper result {index} has neither a 'subExposure' nor 'psf' and 'bbox' items"
    )


def _coaddPsfFrom(components: Sequence[tuple[int, Any, Box2I]], log: Any) -> CoaddPsf | None:
    """A CoaddPsf (weight 1 per cell) from ``(index, psf, bbox)`` triples."""
    missing = [i for i, psf, _ in components if psf is None]
    if len(missing) == len(components):
        log.debug("No cell carries a PSF: the reduced exposure has no PSF.")
        return None
    if missing:
        raise ValueError(
            f"cells {missing[:10]} carry no PSF while others do; cannot build a CoaddPsf"
        )
    return CoaddPsf([(psf, bbox, 1.0) for _, psf, bbox in components])


class _Stitcher:
    """Accumulates per-cell exposures into a new exposure, in Rust.

    Cells are added in batches, in cell-index order (``add``), then
    ``finish`` divides (``average``), flags the pixels where nothing valid
    landed and attaches the PSF. The output exposure starts as a copy of the
    input's bounding box, mask, WCS, PSF and metadata.
    """

    def __init__(self, reducer: ImageReducer, exposure: Exposure, nThreads: int = 0) -> None:
        op = reducer.config.reduceOperation
        if op not in STITCH_OPERATIONS:
            raise ValueError(f"reduceOperation {op!r} does not stitch exposures")
        self.reducer = reducer
        self.op = op
        self.nThreads = nThreads
        self.exposure = exposure
        self.out = exposure.clone()
        mi = self.out.maskedImage
        self.dtype = mi.image.array.dtype
        self.bbox = self.out.getBBox()
        self.weights = np.zeros(mi.image.array.shape, dtype=np.int32) if op == "average" else None
        _core.stitch_init(
            op, mi.image.array, mi.mask.array, mi.variance.array, self.weights, self.nThreads
        )
        self.nCells = 0
        self.wantPsf = op in ("sum", "average")
        self.psfComponents: list[tuple[int, Any, Box2I]] = []
        self.failedBoxes: list[Box2I] = []
        self.goodBoxes: list[Box2I] = []

    def _cellArrays(self, index: int, result: Any) -> tuple[Box2I, Any, Any, Any]:
        item = getattr(result, "subExposure", None)
        if not isinstance(item, Exposure):
            found = (
                "no 'subExposure' item"
                if item is None
                else f"subExposure of type {type(item).__name__}"
            )
            raise TypeError(
                f"Mapper result for cell {index} has {found}; reduceOperation="
                f"{self.op!r} expects an Exposure in result.subExposure. "
                "Consider using reduceOperation='none' to receive the results as they are."
            )
        mi = item.maskedImage
        image, mask, variance = mi.image.array, mi.mask.array, mi.variance.array
        if image.dtype != self.dtype:
            image = image.astype(self.dtype)
        if variance.dtype != self.dtype:
            variance = variance.astype(self.dtype)
        if mask.dtype != np.int32:
            mask = mask.astype(np.int32)
        return item.getBBox(), image, mask, variance

    def add(self, indexedResults: Iterable[tuple[int, Any]]) -> None:
        """Stitch a batch of ``(cellIndex, result)`` pairs, in that order."""
        cells = []
        indices = []
        wcsref = self.exposure.getWcs()
        for index, result in indexedResults:
            cells.append(self._cellArrays(index, result))
            indices.append(index)
            if self.wantPsf:
                self.psfComponents.append(_psfComponent(index, result, wcsref))
        if not cells:
            return
        mi = self.out.maskedImage
        try:
            _core.stitch_accumulate(
                self.op,
                self.bbox,
                mi.image.array,
                mi.mask.array,
                mi.variance.array,
                self.weights,
                cells,
                self.nThreads,
            )
        except ValueError as err:
            raise ValueError(
                f"cannot stitch the results of cells {indices[0]}..{indices[-1]} into the "
                f"exposure box {self.bbox}: {err}"
            ) from err
        self.nCells += len(cells)
        self.goodBoxes.extend(c[0] for c in cells)

    def addFailed(self, boxes: Iterable[Box2I]) -> None:
        """Record cells whose mapper failed: they contribute nothing, and their
        pixels that no other cell covers get the bad mask planes."""
        self.failedBoxes.extend(boxes)

    def _flagUncovered(self, bad: int) -> None:
        if not self.failedBoxes or not bad:
            return
        covered = np.zeros(self.out.maskedImage.image.array.shape, dtype=bool)
        for box in self.goodBoxes:
            covered[box.slices(self.bbox)] = True
        maskArr = self.out.maskedImage.mask.array
        for box in self.failedBoxes:
            sl = box.clippedTo(self.bbox).slices(self.bbox)
            maskArr[sl] |= np.where(covered[sl], 0, bad).astype(np.int32)

    def badBits(self) -> int:
        """Add the reducer's ``badMaskPlanes`` to the output mask; their bits."""
        mask = self.out.maskedImage.mask
        badPlanes = list(self.reducer.config.badMaskPlanes)
        for name in badPlanes:
            mask.addMaskPlane(name)
        return mask.getPlaneBitMask(badPlanes) if badPlanes else 0

    def finish(self) -> tuple[Exposure, dict]:
        """Finalise the output; returns it and the stitching statistics."""
        bad = self.badBits()
        mi = self.out.maskedImage
        stats = _core.stitch_finalize(
            self.op,
            mi.image.array,
            mi.mask.array,
            mi.variance.array,
            self.weights,
            bad,
            self.nThreads,
        )
        return self._wrapUp(bad, stats)

    def runRustMapper(
        self, mapper: Any, boxes0: Sequence[Box2I], boxes1: Sequence[Box2I]
    ) -> tuple[Exposure, dict]:
        """Map a Rust built-in mapper over the grid and stitch, all in Rust
        (``mapper.rustMapReduce``); then finish as `finish` does."""
        bad = self.badBits()
        stats = mapper.rustMapReduce(self.exposure, boxes0, boxes1, self, bad)
        self.nCells = len(boxes0)
        self.goodBoxes.extend(boxes0)
        if self.wantPsf:
            psf = self.exposure.getPsf()
            self.psfComponents.extend((i, psf, b) for i, b in enumerate(boxes0))
        return self._wrapUp(bad, stats)

    def _wrapUp(self, bad: int, stats: dict) -> tuple[Exposure, dict]:
        mi = self.out.maskedImage
        self._flagUncovered(bad)
        log = self.reducer.log
        if self.op == "average":
            npix = max(1, mi.image.array.size)
            log.info("AVERAGE: Maximum overlap: %f", float(stats["max_weight"]))
            log.info("AVERAGE: Average overlap: %f", float(stats["mean_weight"]))
            log.info("AVERAGE: Minimum overlap: %f", float(stats["min_weight"]))
            log.info(
                "AVERAGE: Number of zero pixels: %f (%f%%)",
                float(stats["n_zero_weight"]),
                stats["n_zero_weight"] * 100.0 / npix,
            )
        if self.wantPsf:
            self.out.setPsf(_coaddPsfFrom(self.psfComponents, self.reducer.log))
        return self.out, stats


class ImageReducer(Task):
    """Combine the per-cell results of an `ImageMapper`.

    ``reduceOperation`` chooses what `run` returns: the list of results
    (``none``), a `CoaddPsf` (``coaddPsf``), or a new exposure stitched from
    the cells' exposures (``copy``, ``sum``, ``average``). Stitching is done
    in the Rust core, in parallel over bands of output rows, and gives the
    same bits whatever the number of threads.
    """

    ConfigClass: ClassVar[type[pexConfig.Config]] = ImageReducerConfig
    _DefaultName: ClassVar[str] = "ip_diffim_ImageReducer"

    #: Threads used for stitching (0 = all usable CPUs); set by the parent task.
    numThreads: int = 0

    def run(self, mapperResults: Sequence[Struct], exposure: Exposure, **kwargs: Any) -> Struct:
        """Reduce the mapper results.

        Parameters
        ----------
        mapperResults : `list` of `Struct`
            The results of ``mapper.run``, in cell order.
        exposure : `Exposure`
            The input exposure (gives the output's box, mask, WCS and PSF).
        **kwargs
            Keyword arguments given to ``ImageMapReduceTask.run`` (unused here).

        Returns
        -------
        result : `Struct`
            ``Struct(result=mapperResults)`` for ``none``,
            ``Struct(result=coaddPsf)`` for ``coaddPsf``, otherwise
            ``Struct(exposure=newExposure)``.

        Raises
        ------
        TypeError
            When a result holds no exposure and the operation stitches.
        ValueError
            When a result's box lies outside the exposure, or its arrays do
            not match its box.
        """
        op = self.config.reduceOperation
        if op == "none":
            return Struct(result=mapperResults)
        if op == "coaddPsf":
            return Struct(result=self._constructPsf(mapperResults, exposure))
        newExp = self._reduceImage(mapperResults, exposure, **kwargs)
        return Struct(exposure=newExp)

    def _makeStitcher(self, exposure: Exposure) -> _Stitcher:
        return _Stitcher(self, exposure, self.numThreads)

    def _reduceImage(
        self, mapperResults: Sequence[Struct], exposure: Exposure, **kwargs: Any
    ) -> Exposure:
        """Stitch the results' exposures into a new exposure (copy/sum/average)."""
        stitcher = self._makeStitcher(exposure)
        stitcher.add(enumerate(mapperResults))
        newExp, _ = stitcher.finish()
        return newExp

    def _constructPsf(self, mapperResults: Sequence[Struct], exposure: Exposure) -> CoaddPsf | None:
        """Build a `CoaddPsf` from the cells' PSFs (weight 1 each).

        A result contributes ``subExposure.getPsf()`` over
        ``subExposure.getBBox()``, or, without a ``subExposure``, its ``psf``
        and ``bbox`` items. Returns None when no cell carries a PSF.

        Raises
        ------
        ValueError
            When a cell's WCS differs from the exposure's, or when some cells
            carry a PSF and others do not.
        """
        wcsref = exposure.getWcs()
        return _coaddPsfFrom(
            [_psfComponent(i, res, wcsref) for i, res in enumerate(mapperResults)], self.log
        )
