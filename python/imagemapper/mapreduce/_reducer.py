"""The reducer: combines per-cell results (stitching is done in Rust).

Long module: the reducer's config, its streaming `Stitcher` and the mesh
interpolation share the operation table and the result conventions; the
`Stitcher` (about 350 lines) is the part to move out if the module grows.
"""

from __future__ import annotations

__all__ = [
    "STITCH_OPERATIONS",
    "ImageReducer",
    "ImageReducerConfig",
]

import copy
from collections.abc import Iterable, Sequence
from typing import Any, ClassVar

import lsst.pex.config as pexConfig
import numpy as np

from .. import _core
from .._core import Box2I
from ..image import Exposure, Image, Mask
from ..image.psf import CoaddPsf
from ..task import Struct, Task
from ..task._configfields import RangeField
from ._batch import stitchPlanes

#: Reduce operations that build a new exposure from the per-cell results
#: (streamed through the Rust reducer, cell batch by cell batch). The names
#: come from the one parser of operations, in the Rust core.
STITCH_OPERATIONS: tuple[str, ...] = tuple(_core.reduce_operations())


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


def _coaddPsfFrom(components: Sequence[tuple[int, Any, Box2I | None]], log: Any) -> CoaddPsf | None:
    """A CoaddPsf (weight 1 per cell) from ``(index, psf, bbox)`` triples."""
    missing = [i for i, psf, _ in components if psf is None]
    if len(missing) == len(components):
        log.debug("No cell carries a PSF: the reduced exposure has no PSF.")
        return None
    if missing:
        raise ValueError(
            f"cells {missing[:10]} carry no PSF while others do; cannot build a CoaddPsf"
        )
    return CoaddPsf([(psf, bbox, 1.0) for _, psf, bbox in components if bbox is not None])


class Stitcher:
    """One output of a reduce: a thin shell over the Rust `_core.Reducer`.

    Used by every driver: `ImageReducer.run` and the streaming task (the
    whole exposure), the out-of-core drivers (one band at a time, `band`),
    and the numpy façade. Cells are added in batches, in cell-index order
    (`add`; results whose mapper failed with `addFailed`), then `finish`
    normalises, flags and returns the new exposure. The output starts as
    the input's bounding box and mask, with its WCS, PSF and metadata.

    ``cellBoxes`` (the grid's cells, ``task.boxes0``) give the ``weighted``
    windows their ramps, the ``owner`` cells their centres and the ``mesh``
    nodes their positions; without them each result's own box is used.
    """

    def __init__(
        self,
        reducer: ImageReducer,
        exposure: Exposure | None,
        nThreads: int = 0,
        cellBoxes: Sequence[Box2I] | None = None,
        *,
        core: Any = None,
        bbox: Box2I | None = None,
        planeDict: dict[str, int] | None = None,
    ) -> None:
        op = reducer.config.reduceOperation
        if op not in STITCH_OPERATIONS:
            raise ValueError(f"reduceOperation {op!r} does not stitch exposures")
        cfg = reducer.config
        self.reducer = reducer
        self.op = op
        self.nThreads = nThreads
        self.exposure = exposure
        self.cellBoxes = list(cellBoxes) if cellBoxes is not None else None
        if exposure is not None:
            mi = exposure.maskedImage
            bbox = exposure.getBBox()
            self.dtype = mi.image.array.dtype
            planeDict = mi.mask.getMaskPlaneDict()
            mask0 = mi.mask.array
        else:
            assert bbox is not None and core is not None
            self.dtype = np.dtype(core.dtype)
            mask0 = None
        self.bbox = bbox
        # Mask planes of the output: the input's and the bad planes (added
        # now: a mask with no room for them fails before any mapper runs).
        self.planes = Mask(1, 1, planeDict=planeDict) if planeDict else Mask(1, 1)
        self._bad = self._addBadPlanes()
        self.core: Any
        if op == "mesh":
            if cfg.meshInterpolation == "bicubic":
                _requireScipy("meshInterpolation='bicubic'")
            self.core = None
            self.meshNodes: list[tuple[int, Box2I, float, float]] = []
        elif core is not None:
            self.core = core
        else:
            self.core = _core.Reducer(
                op,
                bbox,
                self.dtype,
                mask=np.asarray(mask0, dtype=np.int32),
                grid=self.cellBoxes or [],
                window=cfg.blendWindow,
                inverse_variance=bool(cfg.blendInverseVariance),
                variance_policy=cfg.blendVariancePolicy,
                max_ramp_fraction=float(cfg.blendMaxRampFraction),
                n_threads=nThreads,
            )
        self.nCells = 0
        self.wantPsf = op in ("sum", "average", "weighted")
        self.psfComponents: list[tuple[int, Any, Box2I | None]] = []
        self.failedBoxes: list[Box2I] = []
        self.weights: np.ndarray | None = None

    # -------------------------------------------------------------- bands

    def band(self, bbox: Box2I, mask: np.ndarray, nThreads: int | None = None) -> Stitcher:
        """A stitcher for the rows ``bbox`` of this output (same operation,
        parameters and grid geometry), starting from ``mask``: one band of an
        out-of-core output."""
        if self.core is None:
            raise ValueError(
                f"reduceOperation={self.op!r} interpolates over every cell at once; it cannot "
                "be stitched band by band"
            )
        core = self.core.band(bbox, np.asarray(mask, dtype=np.int32), nThreads)
        return Stitcher(
            self.reducer,
            None,
            self.nThreads if nThreads is None else nThreads,
            self.cellBoxes,
            core=core,
            bbox=bbox,
            planeDict=self.planes.getMaskPlaneDict(),
        )

    @classmethod
    def forSource(
        cls,
        reducer: ImageReducer,
        bbox: Box2I,
        dtype: Any,
        planeDict: dict[str, int] | None,
        cellBoxes: Sequence[Box2I],
        nThreads: int = 0,
    ) -> Stitcher:
        """The template of an out-of-core output over ``bbox``: no planes of
        its own (its `band` stitchers have them); refuses an operation that
        cannot be stitched band by band before anything is written."""
        cfg = reducer.config
        op = cfg.reduceOperation
        if op not in STITCH_OPERATIONS or op == "mesh":
            allowed = [o for o in STITCH_OPERATIONS if o != "mesh"]
            raise ValueError(
                f"out-of-core runs stitch into an output file band by band; "
                f"reduceOperation={op!r} is not one of {allowed}"
            )
        core = _core.Reducer(
            op,
            Box2I(),
            dtype,
            full_bbox=bbox,
            grid=list(cellBoxes),
            window=cfg.blendWindow,
            inverse_variance=bool(cfg.blendInverseVariance),
            variance_policy=cfg.blendVariancePolicy,
            max_ramp_fraction=float(cfg.blendMaxRampFraction),
            n_threads=nThreads,
        )
        return cls(reducer, None, nThreads, cellBoxes, core=core, bbox=bbox, planeDict=planeDict)

    # --------------------------------------------------------------- cells

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
        """Stitch a batch of ``(cellIndex, result)`` pairs, in that order.

        The checks of every result (an `Exposure` in ``subExposure``, inside
        the input's box, planes of its box's shape) run in Rust for the whole
        batch; errors name the cell.
        """
        if self.core is None:  # mesh
            for index, result in indexedResults:
                self.meshNodes.append(self._meshNode(index, result))
                self.nCells += 1
            return
        batch = indexedResults if isinstance(indexedResults, list) else list(indexedResults)
        if not batch:
            return
        subs = self.core.add_results(batch)
        self.nCells += len(batch)
        if self.wantPsf:
            self._collectPsfs(batch, subs)

    def addBatch(self, indices: Sequence[int], batch: Any) -> None:
        """Stitch a `CellBatch` of results (equal-shape cells stacked along a
        first axis; cell ``k`` has index ``indices[k]``), with no Python per
        cell. Its cells carry the input's PSF."""
        if self.core is None:
            raise ValueError("reduceOperation='mesh' reduces per-cell scalars, not batches")
        indices = list(indices)
        image, mask, variance, origin = stitchPlanes(batch)
        self.core.add_batch(indices, batch.bboxes, image, mask, variance, origin)
        self.nCells += len(indices)
        if self.wantPsf:
            psf = self.exposure.getPsf() if self.exposure is not None else None
            self.psfComponents.extend(
                (i, psf, None if psf is None else b) for i, b in zip(indices, batch.bboxes)
            )

    def _collectPsfs(self, batch: list[tuple[int, Any]], subs: list[Exposure]) -> None:
        """Remember each cell's PSF (with its box) for the output's CoaddPsf."""
        wcsref = self.exposure.getWcs() if self.exposure is not None else None
        out = self.psfComponents
        for (index, _), sub in zip(batch, subs):
            wcs = sub.getWcs()
            if wcs is not wcsref and not _wcsEqual(wcs, wcsref):
                raise ValueError(
                    f"WCS of the subExposure of cell {index} differs from the exposure's WCS"
                )
            psf = sub.getPsf()
            out.append((index, psf, None if psf is None else sub.getBBox()))

    def addFailed(self, boxes: Iterable[Box2I]) -> None:
        """Record cells whose mapper failed: every output pixel they would have
        contributed to gets the bad mask planes (whatever other cells cover)."""
        boxes = list(boxes)
        self.failedBoxes.extend(boxes)
        if self.core is not None and boxes:
            self.core.add_failed(boxes)

    def _addBadPlanes(self) -> int:
        mask = self.planes
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

    def badBits(self) -> int:
        """The bits of the reducer's ``badMaskPlanes`` in the output mask."""
        return self._bad

    def finishArrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict]:
        """Finish and hand over the planes ``(image, mask, variance, stats)``
        (a band of an out-of-core output)."""
        stats = self.core.finish(self._bad)
        image, mask, variance, weights = self.core.take()
        self.weights = weights
        return image, mask, variance, stats

    def finish(self) -> tuple[Exposure, dict]:
        """Finalise the output; returns it and the stitching statistics."""
        if self.core is None:
            return self._finishMesh()
        image, mask, variance, stats = self.finishArrays()
        return self._wrapUp(self._exposureOf(image, mask, variance), stats)

    def _exposureOf(self, image: np.ndarray, mask: np.ndarray, variance: np.ndarray) -> Exposure:
        src = self.exposure
        assert src is not None
        return Exposure.fromArrays(
            image,
            mask,
            variance,
            xy0=(self.bbox.getMinX(), self.bbox.getMinY()),
            psf=copy.deepcopy(src.getPsf()),
            wcs=copy.deepcopy(src.getWcs()),
            planeDict=self.planes.getMaskPlaneDict(),
            metadata=copy.deepcopy(src.getMetadata()),
        )

    # ---------------------------------------------------------------- mesh

    def _finishMesh(self) -> tuple[Exposure, dict]:
        """Interpolate the per-cell scalars over the cell centres."""
        src = self.exposure
        assert src is not None
        shape = src.maskedImage.image.array.shape
        image = np.empty(shape, self.dtype)
        variance = np.empty(shape, self.dtype)
        mask = src.maskedImage.mask.array.astype(np.int32, copy=True)
        nodes = list(self.meshNodes)
        for box in self.failedBoxes:
            nodes.append((-1, box, float("nan"), float("nan")))
        xs, ys, values, variances = _meshGrid(nodes)
        cfg = self.reducer.config
        values = _fillMissing(values)
        variances = _fillMissing(variances)
        if not np.isfinite(values).all():
            image[...] = np.nan
            variance[...] = np.nan
        else:
            how = cfg.meshInterpolation
            _interpolateMesh(xs, ys, values, self.bbox, image, how, self.nThreads)
            # Bilinear for the variance always: a spline could overshoot below 0.
            _interpolateMesh(xs, ys, variances, self.bbox, variance, "bilinear", self.nThreads)
        with np.errstate(invalid="ignore"):
            invalid = np.isnan(image * variance)
        for box in self.failedBoxes:
            invalid[box.clippedTo(self.bbox).slices(self.bbox)] = True
        if self._bad:
            mask[invalid] |= np.int32(self._bad)
        self.meshValues = Struct(x=xs, y=ys, values=values, variances=variances)
        n = int(invalid.sum())
        stats = {"n_bad": n, "n_uncovered": n}
        return self._wrapUp(self._exposureOf(image, mask, variance), stats)

    # ------------------------------------------------------------ wrap up

    def runRustMapper(
        self, mapper: Any, boxes0: Sequence[Box2I], boxes1: Sequence[Box2I]
    ) -> tuple[Exposure, dict]:
        """Map a Rust built-in mapper over the grid and stitch, all in Rust
        (``mapper.rustMapReduce``); then finish as `finish` does."""
        assert self.exposure is not None and self.core is not None
        stats = mapper.rustMapReduce(self.exposure, boxes0, boxes1, self, self._bad)
        self.nCells = len(boxes0)
        if self.wantPsf:
            psf = self.exposure.getPsf()
            self.psfComponents.extend((i, psf, b) for i, b in enumerate(boxes0))
        image, mask, variance, weights = self.core.take()
        self.weights = weights
        return self._wrapUp(self._exposureOf(image, mask, variance), stats)

    def extraItems(self) -> dict[str, Any]:
        """Items to add to the reducer's result besides ``exposure``:
        ``weights`` (an `Image`) when ``returnWeights`` is set."""
        if not self.reducer.config.returnWeights or self.weights is None:
            return {}
        if self.op not in ("weighted", "average"):
            return {}
        return {"weights": Image(self.weights, xy0=self.bbox.getMin())}

    def _wrapUp(self, out: Exposure, stats: dict) -> tuple[Exposure, dict]:
        log = self.reducer.log
        if self.op == "average":
            npix = max(1, out.maskedImage.image.array.size)
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
            out.setPsf(_coaddPsfFrom(self.psfComponents, self.reducer.log))
        return out, stats


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

    def makeStitcher(
        self, exposure: Exposure, cellBoxes: Sequence[Box2I] | None = None
    ) -> Stitcher:
        """A `Stitcher` that builds this reducer's output for ``exposure``,
        taking results in batches: how the task and the numpy façade stream
        results without holding them all. ``cellBoxes`` is the grid (default
        `cellBoxes`)."""
        boxes = cellBoxes if cellBoxes is not None else self.cellBoxes
        return Stitcher(self, exposure, self.numThreads, boxes)

    def _reduceImage(
        self, mapperResults: Sequence[Struct], exposure: Exposure, **kwargs: Any
    ) -> Exposure:
        """Stitch the results into a new exposure."""
        newExp, _ = self._stitchAll(mapperResults, exposure).finish()
        return newExp

    def _stitchAll(self, mapperResults: Sequence[Struct], exposure: Exposure) -> Stitcher:
        """A stitcher holding every result (all cells known: the result boxes
        serve as the grid when the task gave none that matches)."""
        boxes = self.cellBoxes
        if boxes is None or len(boxes) != len(mapperResults):
            boxes = _resultBoxes(mapperResults)
        stitcher = self.makeStitcher(exposure, boxes)
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
