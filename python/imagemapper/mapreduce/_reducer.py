"""The reducer: combines per-cell results (stitching is done in Rust)."""

from __future__ import annotations

__all__ = [
    "BLEND_OPERATIONS",
    "STITCH_OPERATIONS",
    "ImageReducer",
    "ImageReducerConfig",
    "cellArrays",
]

import copy
from collections.abc import Iterable, Sequence
from typing import Any, ClassVar

import lsst.pex.config as pexConfig
import numpy as np

from .. import _core
from .._core import Box2I
from ..image import Exposure, Image
from ..image.psf import CoaddPsf
from ..task import Struct, Task
from ..task._configfields import RangeField

#: Reduce operations that build a new exposure from the per-cell results
#: (streamed through the Rust kernel, cell batch by cell batch).
STITCH_OPERATIONS = ("copy", "sum", "average", "weighted", "owner", "max", "min", "mesh")

#: The operations of the Rust blending kernel (`_core.blend_*`).
BLEND_OPERATIONS = ("weighted", "owner", "max", "min")

#: The operations of the LSST reference (`_core.stitch_*`).
_LSST_STITCH = ("copy", "sum", "average")


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
            "weighted": "seam-free blend: each cell's valid pixels weighted by a window that "
            "ramps down (blendWindow) on the edges facing other cells, never on the image "
            "border; the result is divided by the summed weights",
            "owner": "each pixel from the one cell, among those with a valid value there, "
            "whose centre on the grid is nearest (ties: lower cell index); independent of cell "
            "order",
            "max": "largest valid value per pixel (with its variance); NaN where none",
            "min": "smallest valid value per pixel (with its variance); NaN where none",
            "mesh": "per-cell scalars (result item meshItem) interpolated over the cell centres "
            "to a full-resolution image (meshInterpolation); the grid must be regular",
        },
    )
    blendWindow = pexConfig.ChoiceField(
        dtype=str,
        optional=False,
        doc="Ramp profile of the 'weighted' window; p(u) + p(1 - u) = 1, so two cells "
        "overlapping by the ramp width sum to one.",
        default="cosine",
        allowed={
            "linear": "p(u) = u",
            "cosine": "Hann ramp, p(u) = sin^2(pi u / 2)",
            "gaussian": "Gaussian step, p(u) = Phi(6 (u - 1/2))",
        },
    )
    blendMaxRampFraction = RangeField(
        dtype=float,
        doc="'weighted': largest ramp width as a fraction of the cell's width (height). Each "
        "ramp spans the overlap with the neighbouring cells on that edge, capped by this.",
        default=0.5,
        min=0.0,
        max=1.0,
        inclusiveMin=False,
    )
    blendInverseVariance = pexConfig.Field(
        dtype=bool,
        doc="'weighted': also weight every pixel by 1 / variance (pixels whose variance is "
        "not positive then count as invalid).",
        default=False,
    )
    blendVariancePolicy = pexConfig.ChoiceField(
        dtype=str,
        optional=False,
        doc="'weighted': how the output variance is formed.",
        default="correlated",
        allowed={
            "correlated": "sum(w var) / sum(w): averaged like the image, as 'average' does",
            "independent": "sum(w^2 var) / sum(w)^2: the variance of a weighted mean of "
            "independent values",
        },
    )
    returnWeights = pexConfig.Field(
        dtype=bool,
        doc="Also return the weight map as Struct item 'weights' (an Image): the summed "
        "window weights for 'weighted', the number of valid contributions for 'average'.",
        default=False,
    )
    meshItem = pexConfig.Field(
        dtype=str,
        doc="'mesh': name of the scalar item of each mapper result (e.g. Struct(value=1.5)).",
        default="value",
    )
    meshVarianceItem = pexConfig.Field(
        dtype=str,
        doc="'mesh': optional name of a scalar variance item, interpolated bilinearly "
        "into the variance plane (0 when absent).",
        optional=True,
        default=None,
    )
    meshInterpolation = pexConfig.ChoiceField(
        dtype=str,
        optional=False,
        doc="'mesh': interpolation over the cell centres; beyond the outermost centres the "
        "value is constant (that at the nearest point of the centres' rectangle).",
        default="bilinear",
        allowed={
            "bilinear": "bilinear (in Rust)",
            "bicubic": "bicubic interpolating spline (scipy.interpolate.RectBivariateSpline; "
            "needs scipy)",
        },
    )
    badMaskPlanes = pexConfig.ListField(
        dtype=str,
        doc="Mask planes added to the output and set on every pixel whose image or variance is "
        "NaN after reduction (nothing valid landed there).",
        default=("INVALID_MAPREDUCE", "BAD", "NO_DATA"),
    )


def _wcsEqual(a: Any, b: Any) -> bool:
    """Compare two astropy WCS objects (or None) by value.

    ``wcs.compare`` is the fast test; it can report a difference for a
    pickled copy of a WCS built attribute by attribute (as cells coming back
    from worker processes carry), so a "different" answer is checked again on
    the FITS header representation.
    """
    if a is b:
        return True
    if a is None or b is None:
        return False
    try:
        if a.wcs.compare(b.wcs) and (a.sip is None) == (b.sip is None):
            return True
        return bool(a.to_header_string(relax=True) == b.to_header_string(relax=True))
    except AttributeError:
        return bool(a == b)


def _psfComponent(index: int, res: Any, wcsref: Any) -> tuple[int, Any, Box2I]:
    """``(index, psf or None, bbox)`` of one mapper result, for a CoaddPsf."""
    # Attribute look-ups, not getDict(): this runs once per cell.
    items = getattr(res, "__dict__", {})
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


def cellArrays(
    index: int, result: Any, dtype: Any, fullBBox: Box2I, op: str
) -> tuple[Box2I, Any, Any, Any]:
    """``(bbox, image, mask, variance)`` of a mapper result, for stitching.

    Casts to the output's ``dtype`` (masks to int32) and checks that the
    result is an exposure inside ``fullBBox`` whose arrays match its box;
    errors name the cell.
    """
    item = getattr(result, "subExposure", None)
    if not isinstance(item, Exposure):
        found = (
            "no 'subExposure' item"
            if item is None
            else f"subExposure of type {type(item).__name__}"
        )
        raise TypeError(
            f"Mapper result for cell {index} has {found}; reduceOperation="
            f"{op!r} expects an Exposure in result.subExposure. "
            "Consider using reduceOperation='none' to receive the results as they are."
        )
    mi = item.maskedImage
    image, mask, variance = mi.image.array, mi.mask.array, mi.variance.array
    if image.dtype != dtype:
        image = image.astype(dtype)
    if variance.dtype != dtype:
        variance = variance.astype(dtype)
    if mask.dtype != np.int32:
        mask = mask.astype(np.int32)
    bbox = item.getBBox()
    if not fullBBox.contains(bbox):
        raise ValueError(
            f"Mapper result for cell {index}: its subExposure covers {bbox!r}, which is not "
            f"inside the input exposure's box {fullBBox!r}; expected (a part of) the cell, "
            "in the parent coordinates of the input"
        )
    shape = (bbox.getHeight(), bbox.getWidth())
    for name, arr in (("image", image), ("mask", mask), ("variance", variance)):
        if arr.shape != shape:
            raise ValueError(
                f"Mapper result for cell {index}: its subExposure's {name} array has shape "
                f"{arr.shape} but its box {bbox!r} needs {shape} (rows, columns)"
            )
    return bbox, image, mask, variance


def _blankLike(exposure: Exposure) -> Exposure:
    """A new exposure with ``exposure``'s box, mask (copied), PSF, WCS and
    metadata (deep copies), and uninitialised image and variance planes that
    the stitcher fills (cloning would copy pixels only to overwrite them)."""
    mi = exposure.maskedImage
    bbox = exposure.getBBox()
    return Exposure.fromArrays(
        np.empty_like(mi.image.array, order="C"),
        mi.mask.array.copy(),
        np.empty_like(mi.variance.array, order="C"),
        xy0=(bbox.getMinX(), bbox.getMinY()),
        psf=copy.deepcopy(exposure.getPsf()),
        wcs=copy.deepcopy(exposure.getWcs()),
        planeDict=mi.mask.getMaskPlaneDict(),
        metadata=copy.deepcopy(exposure.getMetadata()),
    )


class _Stitcher:
    """Accumulates per-cell results into a new exposure, in Rust.

    Cells are added in batches, in cell-index order (``add``), then
    ``finish`` divides (``average``, ``weighted``), flags the pixels where
    nothing valid landed and attaches the PSF. The output exposure starts as
    a copy of the input's bounding box, mask, WCS, PSF and metadata.

    ``cellBoxes`` (the grid's cells, ``task.boxes0``) give the ``weighted``
    windows their ramps, the ``owner`` cells their centres and the ``mesh``
    nodes their positions; without them each result's own box is used (and
    ``weighted`` cells then have no ramps unless every result is added in
    one batch).
    """

    def __init__(
        self,
        reducer: ImageReducer,
        exposure: Exposure,
        nThreads: int = 0,
        cellBoxes: Sequence[Box2I] | None = None,
    ) -> None:
        op = reducer.config.reduceOperation
        if op not in STITCH_OPERATIONS:
            raise ValueError(f"reduceOperation {op!r} does not stitch exposures")
        self.reducer = reducer
        self.op = op
        self.nThreads = nThreads
        self.exposure = exposure
        self.out = _blankLike(exposure)
        mi = self.out.maskedImage
        self.dtype = mi.image.array.dtype
        self.bbox = self.out.getBBox()
        self.cellBoxes = list(cellBoxes) if cellBoxes is not None else None
        self._geoms: list[tuple[tuple[int, ...], tuple[float, float]]] | None = None
        shape = mi.image.array.shape
        cfg = reducer.config
        self.weights: np.ndarray | None = None
        if op in _LSST_STITCH:
            if op == "average":
                self.weights = np.zeros(shape, dtype=np.int32)
            _core.stitch_init(
                op, mi.image.array, mi.mask.array, mi.variance.array, self.weights, self.nThreads
            )
        elif op in BLEND_OPERATIONS:
            if op in ("weighted", "owner"):
                self.weights = np.zeros(shape, dtype=np.float64)
            _core.blend_init(
                op, mi.image.array, mi.mask.array, mi.variance.array, self.weights, self.nThreads
            )
        else:  # mesh
            if cfg.meshInterpolation == "bicubic":
                _requireScipy("meshInterpolation='bicubic'")
            self.meshNodes: list[tuple[int, Box2I, float, float]] = []
        self.nCells = 0
        self.wantPsf = op in ("sum", "average", "weighted")
        self.psfComponents: list[tuple[int, Any, Box2I]] = []
        self.failedBoxes: list[Box2I] = []
        self.failedIndices: list[int] = []
        self.goodBoxes: list[Box2I] = []
        # Add the bad planes now: a mask with no room for them fails before
        # any mapper runs, not after.
        self.badBits()

    # ----------------------------------------------------------- geometry

    def _gridGeoms(self) -> list[Any]:
        """Ramps and centres of every grid cell (computed once)."""
        if self._geoms is None:
            boxes = self.cellBoxes or []
            ramps = _core.cell_ramps(boxes, float(self.reducer.config.blendMaxRampFraction))
            self._geoms = [
                (tuple(r), c) for r, c in zip(ramps, _unclippedCentres(boxes, self.bbox))
            ]
        return self._geoms

    def _geomsFor(self, indices: Sequence[int], boxes: Sequence[Box2I]) -> list:
        """Geometry (ramps, centre) of each cell of a batch."""
        if self.cellBoxes is not None:
            grid = self._gridGeoms()
        else:
            grid = []
        out = []
        for index, box in zip(indices, boxes):
            if 0 <= index < len(grid):
                out.append(grid[index])
            else:
                c = box.getCenter()
                out.append(((0, 0, 0, 0), (c.getX(), c.getY())))
        return out

    # --------------------------------------------------------------- cells

    def _cellArrays(self, index: int, result: Any) -> tuple[Box2I, Any, Any, Any]:
        return cellArrays(index, result, self.dtype, self.bbox, self.op)

    def _meshNode(self, index: int, result: Any) -> tuple[int, Box2I, float, float]:
        cfg = self.reducer.config
        name = cfg.meshItem
        items = result.getDict() if hasattr(result, "getDict") else {}
        if name not in items:
            raise TypeError(
                f"Mapper result for cell {index} has no {name!r} item; reduceOperation='mesh' "
                f"expects a scalar per cell (e.g. Struct({name}=1.0); see meshItem)"
            )
        try:
            value = float(items[name])
        except (TypeError, ValueError) as err:
            raise TypeError(
                f"Mapper result for cell {index}: item {name!r} must be a scalar, got "
                f"{type(items[name]).__name__}"
            ) from err
        var = 0.0
        if cfg.meshVarianceItem and cfg.meshVarianceItem in items:
            var = float(items[cfg.meshVarianceItem])
        if self.cellBoxes is not None and 0 <= index < len(self.cellBoxes):
            box = self.cellBoxes[index]
        elif isinstance(items.get("bbox"), Box2I):
            box = items["bbox"]
        elif isinstance(items.get("subExposure"), Exposure):
            box = items["subExposure"].getBBox()
        else:
            raise ValueError(
                f"cannot place the mesh value of cell {index}: no grid boxes were given and "
                "the result has no 'bbox' item"
            )
        return index, box, value, var

    def add(self, indexedResults: Iterable[tuple[int, Any]]) -> None:
        """Stitch a batch of ``(cellIndex, result)`` pairs, in that order."""
        if self.op == "mesh":
            for index, result in indexedResults:
                self.meshNodes.append(self._meshNode(index, result))
                self.nCells += 1
            return
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
        cfg = self.reducer.config
        try:
            if self.op in _LSST_STITCH:
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
            else:
                _core.blend_accumulate(
                    self.op,
                    self.bbox,
                    mi.image.array,
                    mi.mask.array,
                    mi.variance.array,
                    self.weights,
                    cells,
                    self._geomsFor(indices, [c[0] for c in cells]),
                    window=cfg.blendWindow,
                    inverse_variance=bool(cfg.blendInverseVariance),
                    variance_policy=cfg.blendVariancePolicy,
                    n_threads=self.nThreads,
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
        if not self.failedBoxes or not bad or self.op == "mesh":
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
            try:
                mask.addMaskPlane(name)
            except ValueError as err:
                raise ValueError(
                    f"reducer.config.badMaskPlanes = {badPlanes} needs the plane {name!r} in "
                    f"the output mask, which has no room for it ({err}); expected a mask with "
                    "free planes: remove unused planes from the input or shorten badMaskPlanes"
                ) from err
        return mask.getPlaneBitMask(badPlanes) if badPlanes else 0

    def finish(self) -> tuple[Exposure, dict]:
        """Finalise the output; returns it and the stitching statistics."""
        bad = self.badBits()
        mi = self.out.maskedImage
        if self.op in _LSST_STITCH:
            stats = _core.stitch_finalize(
                self.op,
                mi.image.array,
                mi.mask.array,
                mi.variance.array,
                self.weights,
                bad,
                self.nThreads,
            )
        elif self.op in BLEND_OPERATIONS:
            stats = _core.blend_finalize(
                self.op,
                mi.image.array,
                mi.mask.array,
                mi.variance.array,
                self.weights,
                bad,
                variance_policy=self.reducer.config.blendVariancePolicy,
                n_threads=self.nThreads,
            )
        else:
            stats = self._finishMesh(bad)
        return self._wrapUp(bad, stats)

    # ---------------------------------------------------------------- mesh

    def _finishMesh(self, bad: int) -> dict:
        """Interpolate the per-cell scalars over the cell centres."""
        mi = self.out.maskedImage
        nodes = list(self.meshNodes)
        for box in self.failedBoxes:
            nodes.append((-1, box, float("nan"), float("nan")))
        xs, ys, values, variances = _meshGrid(nodes)
        cfg = self.reducer.config
        values = _fillMissing(values)
        variances = _fillMissing(variances)
        if not np.isfinite(values).all():
            mi.image.array[...] = np.nan
            mi.variance.array[...] = np.nan
        else:
            how = cfg.meshInterpolation
            _interpolateMesh(xs, ys, values, self.bbox, mi.image.array, how, self.nThreads)
            # Bilinear for the variance always: a spline could overshoot below 0.
            _interpolateMesh(
                xs, ys, variances, self.bbox, mi.variance.array, "bilinear", self.nThreads
            )
        invalid = np.isnan(mi.image.array * mi.variance.array)
        if bad:
            mi.mask.array[invalid] |= np.int32(bad)
        self.meshValues = Struct(x=xs, y=ys, values=values, variances=variances)
        return {"n_bad": int(invalid.sum()), "n_uncovered": int(invalid.sum())}

    # ------------------------------------------------------------ wrap up

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

    def extraItems(self) -> dict[str, Any]:
        """Items to add to the reducer's result besides ``exposure``:
        ``weights`` (an `Image`) when ``returnWeights`` is set."""
        if not self.reducer.config.returnWeights or self.weights is None:
            return {}
        if self.op not in ("weighted", "average"):
            return {}
        return {"weights": Image(self.weights, xy0=self.bbox.getMin())}

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
        elif self.op == "weighted":
            log.info(
                "WEIGHTED: summed weights from %g to %g; %d uncovered pixels",
                float(stats["min_weight"]),
                float(stats["max_weight"]),
                int(stats["n_uncovered"]),
            )
        if self.wantPsf:
            self.out.setPsf(_coaddPsfFrom(self.psfComponents, self.reducer.log))
        return self.out, stats


def _unclippedCentres(boxes: Sequence[Box2I], full: Box2I) -> list[tuple[float, float]]:
    """The centre of every cell before it was clipped to the exposure.

    A cell clipped by the image edge is smaller than the others; its
    centroid on the grid lies where the full-size cell would be centred (for
    the last cell of a row, possibly beyond the image). Using it for
    ``owner`` keeps each pixel with the cell whose core holds it, instead of
    handing it to a sliver of a cell whose clipped centre moved towards the
    edge. Cells no smaller than the largest are used as they are.
    """
    if not boxes:
        return []
    cw = max(b.getWidth() for b in boxes)
    ch = max(b.getHeight() for b in boxes)

    def centre(lo: int, hi: int, size: int, f0: int, f1: int) -> float:
        if hi - lo + 1 < size:
            if lo == f0 and hi != f1:
                lo = hi - size + 1
            elif hi == f1 and lo != f0:
                hi = lo + size - 1
        return (lo + hi) / 2.0

    return [
        (
            centre(b.getMinX(), b.getMaxX(), cw, full.getMinX(), full.getMaxX()),
            centre(b.getMinY(), b.getMaxY(), ch, full.getMinY(), full.getMaxY()),
        )
        for b in boxes
    ]


def _requireScipy(what: str) -> Any:
    try:
        import scipy.interpolate
    except ImportError as err:  # pragma: no cover - scipy is installed in the tests
        raise ImportError(
            f"{what} needs scipy (pip install scipy); use meshInterpolation='bilinear' without it"
        ) from err
    return scipy.interpolate


def _meshGrid(
    nodes: Sequence[tuple[int, Box2I, float, float]],
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Arrange ``(index, box, value, variance)`` on the rectilinear grid of
    the box centres; raises ``ValueError`` when the centres are not one."""
    if not nodes:
        raise ValueError("reduceOperation='mesh' received no cell values")
    cx = np.array([b.getCenter().getX() for _, b, _, _ in nodes])
    cy = np.array([b.getCenter().getY() for _, b, _, _ in nodes])
    xs, ix = np.unique(cx, return_inverse=True)
    ys, iy = np.unique(cy, return_inverse=True)
    values = np.full((len(ys), len(xs)), np.nan)
    variances = np.full((len(ys), len(xs)), np.nan)
    seen = np.zeros((len(ys), len(xs)), dtype=bool)
    for k, (index, _, v, var) in enumerate(nodes):
        if seen[iy[k], ix[k]]:
            raise ValueError(
                f"reduceOperation='mesh' needs a regular grid of cells, but cell {index} has "
                f"the same centre ({cx[k]}, {cy[k]}) as another cell"
            )
        seen[iy[k], ix[k]] = True
        values[iy[k], ix[k]] = v
        variances[iy[k], ix[k]] = var
    if not seen.all():
        missing = np.argwhere(~seen)[0]
        raise ValueError(
            "reduceOperation='mesh' needs a regular grid of cells (every x centre with every "
            f"y centre); {len(nodes)} cells have {len(xs)} x centres and {len(ys)} y centres, "
            f"and no cell is centred at ({xs[missing[1]]}, {ys[missing[0]]})"
        )
    return xs, ys, values, variances


def _fillMissing(values: np.ndarray) -> np.ndarray:
    """Replace non-finite nodes by the nearest finite node (grid-index
    distance; ties go to the first in row-major order)."""
    ok = np.isfinite(values)
    if ok.all() or not ok.any():
        return values
    good = np.argwhere(ok)
    out = values.copy()
    for iy, ix in np.argwhere(~ok):
        d2 = (good[:, 0] - iy) ** 2 + (good[:, 1] - ix) ** 2
        gy, gx = good[int(np.argmin(d2))]
        out[iy, ix] = values[gy, gx]
    return out


def _interpolateMesh(
    xs: np.ndarray,
    ys: np.ndarray,
    values: np.ndarray,
    bbox: Box2I,
    out: np.ndarray,
    how: str,
    nThreads: int,
) -> None:
    """Fill ``out`` (covering ``bbox``) from ``values`` at the nodes ``xs`` ×
    ``ys``, constant beyond the outermost nodes."""
    if how == "bilinear":
        _core.mesh_bilinear(
            [float(x) for x in xs],
            [float(y) for y in ys],
            np.ascontiguousarray(values, dtype=np.float64),
            bbox,
            out,
            nThreads,
        )
        return
    interp = _requireScipy("meshInterpolation='bicubic'")
    if len(xs) == 1:
        xs, values = np.array([xs[0], xs[0] + 1.0]), np.repeat(values, 2, axis=1)
    if len(ys) == 1:
        ys, values = np.array([ys[0], ys[0] + 1.0]), np.repeat(values, 2, axis=0)
    spline = interp.RectBivariateSpline(
        ys, xs, values, kx=min(3, len(ys) - 1), ky=min(3, len(xs) - 1), s=0
    )
    px = np.clip(np.arange(bbox.getMinX(), bbox.getEndX(), dtype=np.float64), xs[0], xs[-1])
    py = np.clip(np.arange(bbox.getMinY(), bbox.getEndY(), dtype=np.float64), ys[0], ys[-1])
    ux, invx = np.unique(px, return_inverse=True)
    uy, invy = np.unique(py, return_inverse=True)
    grid = spline(uy, ux, grid=True)
    out[...] = grid[np.ix_(invy, invx)]


def _resultBoxes(mapperResults: Sequence[Struct]) -> list[Box2I] | None:
    """The box of every result (its subExposure's, else its 'bbox' item);
    None when one has neither."""
    boxes = []
    for res in mapperResults:
        sub = getattr(res, "subExposure", None)
        box = sub.getBBox() if isinstance(sub, Exposure) else getattr(res, "bbox", None)
        if not isinstance(box, Box2I):
            return None
        boxes.append(box)
    return boxes


class ImageReducer(Task):
    """Combine the per-cell results of an `ImageMapper`.

    ``reduceOperation`` chooses what `run` returns: the list of results
    (``none``), a `CoaddPsf` (``coaddPsf``), or a new exposure stitched from
    the cells' exposures (``copy``, ``sum``, ``average``, ``weighted``,
    ``owner``, ``max``, ``min``) or interpolated from per-cell scalars
    (``mesh``); see docs/reduce-operations.md. Stitching is done
    in the Rust core, in parallel over bands of output rows, and gives the
    same bits whatever the number of threads.
    """

    ConfigClass: ClassVar[type[pexConfig.Config]] = ImageReducerConfig
    _DefaultName: ClassVar[str] = "ip_diffim_ImageReducer"

    #: Threads used for stitching (0 = all usable CPUs); set by the parent task.
    numThreads: int = 0

    #: The grid's cells (``task.boxes0``), set by the parent task: they give
    #: ``weighted`` its ramps, ``owner`` its centres and ``mesh`` its nodes.
    cellBoxes: Sequence[Box2I] | None = None

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
            ``Struct(exposure=newExposure)``, with ``weights`` (an `Image`)
            for ``weighted`` and ``average`` when ``returnWeights`` is set.

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
        stitcher = self._stitchAll(mapperResults, exposure)
        newExp, _ = stitcher.finish()
        return Struct(exposure=newExp, **stitcher.extraItems())

    def _makeStitcher(
        self, exposure: Exposure, cellBoxes: Sequence[Box2I] | None = None
    ) -> _Stitcher:
        boxes = cellBoxes if cellBoxes is not None else self.cellBoxes
        return _Stitcher(self, exposure, self.numThreads, boxes)

    def _reduceImage(
        self, mapperResults: Sequence[Struct], exposure: Exposure, **kwargs: Any
    ) -> Exposure:
        """Stitch the results into a new exposure."""
        newExp, _ = self._stitchAll(mapperResults, exposure).finish()
        return newExp

    def _stitchAll(self, mapperResults: Sequence[Struct], exposure: Exposure) -> _Stitcher:
        """A stitcher holding every result (all cells known: the result boxes
        serve as the grid when the task gave none that matches)."""
        boxes = self.cellBoxes
        if boxes is None or len(boxes) != len(mapperResults):
            boxes = _resultBoxes(mapperResults)
        stitcher = self._makeStitcher(exposure, boxes)
        stitcher.add(enumerate(mapperResults))
        return stitcher

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
