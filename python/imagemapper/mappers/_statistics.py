"""Statistics mappers: `BackgroundMapper` (sigma-clipped level and RMS), `CellStatisticsMapper`."""

from __future__ import annotations

import math
from typing import Any, ClassVar

import lsst.pex.config as pexConfig
import numpy as np

from .._core import Box2I
from ..image import Exposure
from ..mapreduce._mapper import ImageMapper, ImageMapperConfig
from ..task import Struct
from ..task._configfields import RangeField

# ---------------------------------------------------------------------------
# statistics helpers
# ---------------------------------------------------------------------------


def sigmaClippedStats(
    values: np.ndarray, nSigma: float = 3.0, maxIters: int = 5
) -> tuple[float, float, float, int]:
    """Iteratively sigma-clipped mean, median, standard deviation and count.

    Non-finite values are dropped; then, up to ``maxIters`` times, values
    outside ``median ± nSigma * std`` of the remaining values are removed,
    stopping early when nothing changes (the algorithm of
    ``astropy.stats.sigma_clipped_stats`` with its defaults, ``cenfunc='median'``,
    ``stdfunc='std'``).

    Parameters
    ----------
    values : `numpy.ndarray`
        The values (any shape); computed in float64.
    nSigma : `float`, optional
        Clipping threshold in standard deviations.
    maxIters : `int`, optional
        Most clipping iterations (0: no clipping).

    Returns
    -------
    mean, median, std : `float`
        Of the values that survive (NaN if none).
    n : `int`
        How many survive.

    Examples
    --------
    >>> sigmaClippedStats(np.array([1.0, 2, 3, 2, 1, 2, 3, 2, 100]))
    (2.0, 2.0, 0.7071067811865476, 8)
    """
    data = np.asarray(values, dtype=np.float64).ravel()
    data = data[np.isfinite(data)]
    for _ in range(int(maxIters)):
        if data.size == 0:
            break
        center = np.median(data)
        std = data.std()
        keep = (data >= center - nSigma * std) & (data <= center + nSigma * std)
        if keep.all():
            break
        data = data[keep]
    if data.size == 0:
        return math.nan, math.nan, math.nan, 0
    return float(data.mean()), float(np.median(data)), float(data.std()), int(data.size)


class _MaskPlanesMixin:
    """Which mask planes a statistics mapper ignores."""

    config: Any
    _parentTask: Any

    def ignoredPlanes(self, kwargs: dict[str, Any]) -> list[str]:
        """The mask planes to ignore: ``kwargs['ignoreMaskPlanes']``, else this
        mapper's ``config.ignoreMaskPlanes``, else the parent task's
        ``config.ignoreMaskPlanes``, else none."""
        planes = kwargs.get("ignoreMaskPlanes")
        if planes is None:
            planes = self.config.ignoreMaskPlanes
        if planes is None:
            parent = self._parentTask
            planes = getattr(getattr(parent, "config", None), "ignoreMaskPlanes", None)
        return list(planes or [])

    def validPixels(self, exposure: Exposure, kwargs: dict[str, Any]) -> np.ndarray:
        """The finite image values of ``exposure`` whose mask has none of the ignored planes."""
        mi = exposure.maskedImage
        planes = mi.mask.getMaskPlaneDict()
        bits = 0
        for name in self.ignoredPlanes(kwargs):
            if name in planes:
                bits |= 1 << planes[name]
        image = mi.image.array
        good = np.isfinite(image)
        if bits:
            good &= (mi.mask.array & bits) == 0
        return image[good]


_IGNORE_DOC = (
    "Mask planes whose pixels are left out of the statistics; None = the parent "
    "ImageMapReduceTask's config.ignoreMaskPlanes (a run() keyword ignoreMaskPlanes wins "
    "over both)."
)


class BackgroundMapperConfig(ImageMapperConfig):
    """Configuration of `BackgroundMapper`."""

    statistic = pexConfig.ChoiceField(
        dtype=str,
        doc="The background level of a cell.",
        default="median",
        allowed={
            "median": "median of the sigma-clipped pixels",
            "mean": "mean of the sigma-clipped pixels",
        },
    )
    nSigma = RangeField(
        dtype=float,
        doc="Clipping threshold, in standard deviations.",
        default=3.0,
        min=0.0,
        inclusiveMin=False,
    )
    maxIters = RangeField(
        dtype=int,
        doc="Most sigma-clipping iterations.",
        default=5,
        min=0,
    )
    ignoreMaskPlanes = pexConfig.ListField(dtype=str, doc=_IGNORE_DOC, default=None, optional=True)
    minValidPixels = RangeField(
        dtype=int,
        doc="Fewer valid pixels than this (after clipping) make the cell's level NaN.",
        default=10,
        min=1,
    )
    useExpanded = pexConfig.Field(
        dtype=bool,
        doc="Measure on the expanded cell (cell + border) rather than the cell.",
        default=True,
    )
    excludePercentile = RangeField(
        dtype=float,
        doc="A cell whose measured box has more than this percentage of its pixels left out "
        "(ignored mask planes, non-finite, clipped) gets no level (NaN), as photutils' "
        "Background2D exclude_percentile; 100 keeps every cell with a valid pixel.",
        default=100.0,
        min=0.0,
        max=100.0,
    )


class BackgroundMapper(_MaskPlanesMixin, ImageMapper):
    """Sigma-clipped background level of each cell.

    The level is the sigma-clipped median (or mean) of the valid pixels of
    the expanded cell (``useExpanded``): finite, and with none of the mask
    planes to ignore (see `BackgroundMapperConfig.ignoreMaskPlanes`).

    Returns, per cell, a `Struct` with ``subExposure`` (the cell filled with
    the level; its variance is ``std**2 / n``, the variance of the mean, and
    its mask is clear), ``background``, ``backgroundRms`` (the standard
    deviation of the clipped pixels, photutils' ``StdBackgroundRMS``; also
    ``backgroundStd``), ``nValid``, ``nPixels`` (pixels of the measured
    box), ``bbox`` and ``center``. The level and RMS are NaN when fewer than
    ``minValidPixels`` pixels survive, or when more than
    ``excludePercentile`` percent of the box was left out. Use
    ``reduceOperation='none'`` to get the levels, or a stitching reduce to
    get a piecewise-constant background; for a
    smooth full-resolution background use `backgroundImage`.

    Examples
    --------
    >>> import numpy as np, imagemapper as im
    >>> from imagemapper.mappers import BackgroundMapper
    >>> config = im.ImageMapReduceConfig()
    >>> config.mapper.retarget(BackgroundMapper)
    >>> config.scaleByFwhm = False
    >>> config.cellSizeX = config.cellSizeY = 50
    >>> config.borderSizeX = config.borderSizeY = 0
    >>> config.reducer.reduceOperation = "none"
    >>> rng = np.random.default_rng(1)
    >>> exp = im.Exposure.fromArrays(rng.normal(100, 5, (100, 100)).astype(np.float32))
    >>> levels = [r.background for r in im.ImageMapReduceTask(config).run(exp).result]
    >>> len(levels), bool(np.allclose(levels, 100, atol=1.5))
    (9, True)
    """

    ConfigClass: ClassVar[type[pexConfig.Config]] = BackgroundMapperConfig
    _DefaultName: ClassVar[str] = "background"

    def run(
        self, subExposure: Exposure, expandedSubExposure: Exposure, fullBBox: Box2I, **kwargs: Any
    ) -> Struct:
        """Measure the cell's background level."""
        source = expandedSubExposure if self.config.useExpanded else subExposure
        values = self.validPixels(source, kwargs)
        mean, median, std, n = sigmaClippedStats(values, self.config.nSigma, self.config.maxIters)
        level = median if self.config.statistic == "median" else mean
        box = source.getBBox()
        nPixels = box.getWidth() * box.getHeight()
        kept = (1.0 - self.config.excludePercentile / 100.0) * nPixels
        if n < self.config.minValidPixels or n < kept:
            level = std = math.nan
        bbox = subExposure.getBBox()
        dtype = subExposure.image.array.dtype
        shape = (bbox.getHeight(), bbox.getWidth())
        out = Exposure.fromArrays(
            np.full(shape, level, dtype=dtype),
            None,
            np.full(shape, std * std / n if n else math.nan, dtype=dtype),
            xy0=bbox.getMin(),
            psf=subExposure.getPsf(),
            wcs=subExposure.getWcs(),
            planeDict=subExposure.mask.getMaskPlaneDict(),
        )
        c = bbox.getCenter()
        return Struct(
            subExposure=out,
            background=level,
            backgroundRms=std,
            backgroundStd=std,
            nValid=n,
            nPixels=nPixels,
            bbox=bbox,
            center=(c.getX(), c.getY()),
        )


class CellStatisticsMapperConfig(ImageMapperConfig):
    """Configuration of `CellStatisticsMapper`."""

    ignoreMaskPlanes = pexConfig.ListField(dtype=str, doc=_IGNORE_DOC, default=None, optional=True)
    useExpanded = pexConfig.Field(
        dtype=bool,
        doc="Measure on the expanded cell (cell + border) rather than the cell.",
        default=False,
    )


class CellStatisticsMapper(_MaskPlanesMixin, ImageMapper):
    """Plain statistics of the valid pixels of each cell (use ``reduceOperation='none'``).

    Valid pixels are finite and have none of the ignored mask planes (as for
    `BackgroundMapper`). Each result is a `Struct` with ``bbox``, ``center``,
    ``mean``, ``median``, ``std`` (population, ``ddof=0``), ``min``, ``max``
    and ``nValid`` (the statistics are NaN when ``nValid`` is 0).

    Examples
    --------
    >>> import numpy as np, imagemapper as im
    >>> from imagemapper.mappers import CellStatisticsMapper
    >>> config = im.ImageMapReduceConfig()
    >>> config.mapper.retarget(CellStatisticsMapper)
    >>> config.scaleByFwhm = False
    >>> config.cellSizeX = config.cellSizeY = 2
    >>> config.borderSizeX = config.borderSizeY = 0
    >>> config.adjustGridOption = "none"              # 2x2 cells, every 2 pixels
    >>> config.gridStepX = config.gridStepY = 2
    >>> config.reducer.reduceOperation = "none"
    >>> exp = im.Exposure.fromArrays(np.arange(16, dtype=np.float32).reshape(4, 4))
    >>> results = im.ImageMapReduceTask(config).run(exp).result
    >>> [(r.bbox.getMinX(), r.bbox.getMinY(), r.mean) for r in results]
    [(0, 0, 2.5), (0, 2, 10.5), (2, 0, 4.5), (2, 2, 12.5)]
    """

    ConfigClass: ClassVar[type[pexConfig.Config]] = CellStatisticsMapperConfig
    _DefaultName: ClassVar[str] = "cellStatistics"
    #: The reduce operation the command line uses with this mapper by default.
    preferredReduceOperation: ClassVar[str] = "none"

    def run(
        self, subExposure: Exposure, expandedSubExposure: Exposure, fullBBox: Box2I, **kwargs: Any
    ) -> Struct:
        """Measure the cell."""
        source = expandedSubExposure if self.config.useExpanded else subExposure
        values = self.validPixels(source, kwargs).astype(np.float64)
        bbox = subExposure.getBBox()
        c = bbox.getCenter()
        n = int(values.size)
        stats: tuple[float, ...] = (math.nan,) * 5
        if n:
            stats = tuple(
                float(v)
                for v in (
                    values.mean(),
                    np.median(values),
                    values.std(),
                    values.min(),
                    values.max(),
                )
            )
        mean, median, std, lo, hi = stats
        return Struct(
            bbox=bbox,
            center=(c.getX(), c.getY()),
            mean=mean,
            median=median,
            std=std,
            min=lo,
            max=hi,
            nValid=n,
        )
