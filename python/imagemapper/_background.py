"""Full-resolution background and background-RMS maps from a mesh of cells.

`backgroundMesh` runs `~imagemapper.mappers.BackgroundMapper` over a grid
(reduce ``none``) and collects the per-cell sigma-clipped levels and RMS;
`backgroundMaps` fills excluded cells, median-filters the mesh and
interpolates it to every pixel: the job of photutils' ``Background2D``,
done through `ImageMapReduceTask` (parallel, mask planes honoured).
`backgroundImage` returns only the background.
"""

from __future__ import annotations

__all__ = ["backgroundImage", "backgroundMaps", "backgroundMesh"]

from collections.abc import Sequence
from typing import Any

import numpy as np

from ._core import Box2I, Extent2I, Point2I
from .image import Exposure, Image
from .task import Struct


def _pair(value: Any, name: str) -> tuple[float, float]:
    if isinstance(value, (int, float, np.integer, np.floating)):
        return float(value), float(value)
    try:
        x, y = value
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a number or an (x, y) pair, got {value!r}") from None
    return float(x), float(y)


def _fillNan(levels: np.ndarray) -> np.ndarray:
    """Replace NaN mesh values by the mean of their valid 4-neighbours, repeatedly."""
    levels = levels.copy()
    if np.isnan(levels).all():
        raise ValueError(
            "no cell has enough valid pixels to measure a background (too many masked or "
            "clipped pixels: raise excludePercentile, lower minValidPixels or enlarge the cells)"
        )
    while np.isnan(levels).any():
        padded = np.pad(levels, 1, constant_values=np.nan)
        neigh = np.stack([padded[:-2, 1:-1], padded[2:, 1:-1], padded[1:-1, :-2], padded[1:-1, 2:]])
        count = np.isfinite(neigh).sum(axis=0)
        total = np.nansum(neigh, axis=0)
        fill = np.isnan(levels) & (count > 0)
        levels[fill] = total[fill] / count[fill]
    return levels


def medianFilterMesh(levels: np.ndarray, size: int | tuple[int, int]) -> np.ndarray:
    """Median of each mesh node's ``size`` neighbourhood (``(ny, nx)``, odd), the
    mesh reflected beyond its edges (``d c b a | a b c d``), so that a mesh
    following a plane keeps it up to the edges."""
    if isinstance(size, tuple):
        ny, nx = int(size[0]), int(size[1])
    else:
        ny = nx = int(size)
    if ny < 1 or nx < 1 or ny % 2 == 0 or nx % 2 == 0:
        raise ValueError(f"filterSize must be odd and positive, got {size!r}")
    if (ny, nx) == (1, 1):
        return levels.copy()
    ry, rx = ny // 2, nx // 2
    padded = np.pad(levels, ((ry, ry), (rx, rx)), mode="symmetric")
    windows = np.lib.stride_tricks.sliding_window_view(padded, (ny, nx))
    return np.median(windows.reshape(*levels.shape, -1), axis=-1)


def _linearWeights(nodes: np.ndarray, at: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Left node index and weight of the right node for linear interpolation at
    ``at``, continuing the outermost segments beyond the nodes (extrapolation)."""
    if len(nodes) == 1:
        return np.zeros(len(at), dtype=np.intp), np.zeros(len(at))
    i = np.clip(np.searchsorted(nodes, at, side="right") - 1, 0, len(nodes) - 2)
    t = (at - nodes[i]) / (nodes[i + 1] - nodes[i])
    return i, t


def _bilinear(
    levels: np.ndarray, xs: np.ndarray, ys: np.ndarray, px: np.ndarray, py: np.ndarray
) -> np.ndarray:
    """Bilinear interpolation of ``levels[iy, ix]`` (at ``ys[iy], xs[ix]``) onto the
    grid ``py x px``; beyond the outermost nodes the outer planes continue."""
    ix, tx = _linearWeights(xs, px)
    iy, ty = _linearWeights(ys, py)
    ix1 = np.minimum(ix + 1, len(xs) - 1)
    iy1 = np.minimum(iy + 1, len(ys) - 1)
    rows = levels[:, ix] * (1.0 - tx) + levels[:, ix1] * tx  # (ny, W)
    return rows[iy] * (1.0 - ty)[:, None] + rows[iy1] * ty[:, None]


def _asExposure(data: Any, mask: Any = None) -> tuple[Exposure, bool]:
    if isinstance(data, Exposure):
        return data, True
    return Exposure.fromArrays(np.asarray(data), mask=mask), False


def _withCoverage(exposure: Exposure, coverageMask: Any) -> Exposure:
    """A view of ``exposure`` whose mask has ``NO_DATA`` where ``coverageMask`` is True
    (the input is not modified)."""
    cover = np.asarray(coverageMask, dtype=bool)
    if cover.shape != exposure.image.array.shape:
        raise ValueError(
            f"coverageMask has shape {cover.shape}, the image {exposure.image.array.shape}"
        )
    mask = exposure.mask.array.copy()
    planes = exposure.mask.getMaskPlaneDict()
    bit = planes.get("NO_DATA")
    if bit is None:
        bit = max(planes.values(), default=-1) + 1
        planes["NO_DATA"] = bit
    mask[cover] |= np.int32(1 << bit)
    return Exposure.fromArrays(
        exposure.image.array,
        mask,
        exposure.variance.array,
        xy0=exposure.getXY0(),
        psf=exposure.getPsf(),
        wcs=exposure.getWcs(),
        planeDict=planes,
    )


def backgroundMesh(
    exposure: Exposure | np.ndarray,
    cellSize: float | tuple[float, float],
    *,
    borderSize: float | tuple[float, float] = 0,
    statistic: str = "median",
    nSigma: float = 3.0,
    maxIters: int = 5,
    ignoreMaskPlanes: Sequence[str] | None = None,
    minValidPixels: int = 10,
    excludePercentile: float = 10.0,
    mask: np.ndarray | None = None,
    coverageMask: np.ndarray | None = None,
    gridStep: float | tuple[float, float] | None = None,
    backend: str = "threads",
    numWorkers: int = 0,
    progress: bool | None = False,
) -> Struct:
    """Sigma-clipped background levels and RMS on a mesh of cells
    (`~imagemapper.mappers.BackgroundMapper`, reduce ``none``).

    The grid is ``adjustGridOption='spacing'`` with cells of ``cellSize``
    pixels (``W // cellSize + 1`` cells across, evenly spread), or cells every
    ``gridStep`` pixels (``adjustGridOption='none'``), each measured over the
    cell grown by ``borderSize``.

    Parameters
    ----------
    exposure : `Exposure` or 2-d `numpy.ndarray`
        The image. For an array, ``mask`` (boolean, True = ignore) may mark bad pixels.
    cellSize, borderSize, gridStep : `float` or ``(x, y)`` pair
        In pixels.
    statistic, nSigma, maxIters, minValidPixels, excludePercentile
        As in `~imagemapper.mappers.BackgroundMapperConfig`;
        ``excludePercentile`` (default 10, as photutils): a cell with more
        than this percentage of its pixels masked, non-finite or clipped gets
        no level.
    ignoreMaskPlanes : sequence of `str`, optional
        Planes to ignore; default the task's default list (``INTRP, EDGE,
        DETECTED, SAT, CR, NO_DATA``) plus ``BAD``.
    mask : `numpy.ndarray` of `bool`, optional
        For an array input: pixels to ignore.
    coverageMask : `numpy.ndarray` of `bool`, optional
        Pixels with no data (True), as photutils' ``coverage_mask``: left out
        of the statistics (as ``NO_DATA``).
    backend, numWorkers, progress
        Execution options of `ImageMapReduceTask`.

    Returns
    -------
    mesh : `Struct`
        ``levels`` and ``rms`` (2-d arrays ``[iy, ix]``, NaN where a cell
        was excluded), ``xCenters``, ``yCenters`` (parent coordinates of the
        mesh nodes), ``std`` (the same as ``rms``), ``nValid`` and
        ``results`` (the mapper results, in cell order).
    """
    from ._mapreduce import ImageMapReduceConfig, ImageMapReduceTask
    from .mappers import BackgroundMapper

    exp, _ = _asExposure(exposure, mask)
    if coverageMask is not None:
        exp = _withCoverage(exp, coverageMask)
    config = ImageMapReduceConfig()
    config.mapper.retarget(BackgroundMapper)
    config.scaleByFwhm = False
    config.cellSizeX, config.cellSizeY = _pair(cellSize, "cellSize")
    if gridStep is None:
        config.adjustGridOption = "spacing"
        config.gridStepX, config.gridStepY = config.cellSizeX, config.cellSizeY
    else:
        config.adjustGridOption = "none"
        config.gridStepX, config.gridStepY = _pair(gridStep, "gridStep")
    config.borderSizeX, config.borderSizeY = _pair(borderSize, "borderSize")
    if ignoreMaskPlanes is None:
        ignoreMaskPlanes = [*config.ignoreMaskPlanes, "BAD"]
    config.ignoreMaskPlanes = list(ignoreMaskPlanes)
    config.mapper.statistic = statistic
    config.mapper.nSigma = nSigma
    config.mapper.maxIters = maxIters
    config.mapper.minValidPixels = minValidPixels
    config.mapper.excludePercentile = excludePercentile
    config.reducer.reduceOperation = "none"
    config.backend = backend
    config.numWorkers = numWorkers
    config.progress = progress
    results = ImageMapReduceTask(config).run(exp).result
    xs = np.unique(np.round([r.center[0] for r in results], 6))
    ys = np.unique(np.round([r.center[1] for r in results], 6))
    levels = np.full((len(ys), len(xs)), np.nan)
    rms = np.full_like(levels, np.nan)
    nValid = np.zeros(levels.shape, dtype=np.int64)
    for r in results:
        ix = int(np.searchsorted(xs, round(r.center[0], 6)))
        iy = int(np.searchsorted(ys, round(r.center[1], 6)))
        levels[iy, ix], rms[iy, ix], nValid[iy, ix] = r.background, r.backgroundRms, r.nValid
    return Struct(
        levels=levels, rms=rms, std=rms, xCenters=xs, yCenters=ys, nValid=nValid, results=results
    )


def _interpolate(
    levels: np.ndarray, xs: np.ndarray, ys: np.ndarray, bbox: Box2I, method: str
) -> np.ndarray:
    px = np.arange(bbox.getMinX(), bbox.getMaxX() + 1, dtype=np.float64)
    py = np.arange(bbox.getMinY(), bbox.getMaxY() + 1, dtype=np.float64)
    if method == "linear":
        return _bilinear(levels, xs, ys, px, py)
    try:
        from scipy.interpolate import RegularGridInterpolator
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError(
            f"method={method!r} needs scipy: pip install 'imagemapper[scipy]' "
            "(or use method='linear')"
        ) from err
    interp = RegularGridInterpolator(
        (ys, xs), levels, method=method, bounds_error=False, fill_value=None
    )
    values = np.empty((len(py), len(px)))
    for start in range(0, len(py), 256):
        gy, gx = np.meshgrid(py[start : start + 256], px, indexing="ij")
        values[start : start + 256] = interp(np.stack([gy.ravel(), gx.ravel()], axis=-1)).reshape(
            gy.shape
        )
    return values


def backgroundMaps(
    exposure: Exposure | np.ndarray,
    cellSize: float | tuple[float, float],
    *,
    filterSize: int | tuple[int, int] = 1,
    method: str = "linear",
    fillValue: float = 0.0,
    **kwargs: Any,
) -> Struct:
    """Full-resolution background and background-RMS maps, as photutils' ``Background2D``.

    Runs `~imagemapper.mappers.BackgroundMapper` over a mesh of cells
    (`backgroundMesh`), fills excluded cells from their neighbours,
    median-filters the mesh over ``filterSize`` cells and interpolates the
    levels and the RMS between the cell centres to every pixel.

    Parameters
    ----------
    exposure : `Exposure` or 2-d `numpy.ndarray`
        The image.
    cellSize : `float` or ``(x, y)`` pair
        Cell size in pixels (photutils' ``box_size``).
    filterSize : `int` or ``(ny, nx)`` pair, optional
        Median filter of the mesh, in cells, odd (photutils' ``filter_size``,
        whose default is 3). Default 1: none -- sigma clipping already
        rejects stars, and a median over 3 x 3 cells flattens real structure
        of the background; use 3 when large bright objects spoil whole
        cells. The mesh is reflected beyond its edges, so a background that
        follows a plane keeps it up to the image edge.
    method : `str`, optional
        ``'linear'`` (bilinear, numpy only) or any other method of
        `scipy.interpolate.RegularGridInterpolator` (``'cubic'``, ``'pchip'``,
        ...; needs scipy and enough cells). Beyond the outermost cell centres
        the interpolant is extended (the outer planes continue), which keeps
        gradients at the image edges.
    fillValue : `float`, optional
        The value of both maps where ``coverageMask`` is True (photutils'
        ``fill_value``).
    **kwargs
        Passed to `backgroundMesh` (``borderSize``, ``gridStep``,
        ``statistic``, ``nSigma``, ``maxIters``, ``excludePercentile``,
        ``ignoreMaskPlanes``, ``mask``, ``coverageMask``, ``backend``, ...).

    Returns
    -------
    maps : `Struct`
        ``background`` and ``backgroundRms`` (an `Image` with the
        exposure's ``xy0`` and dtype for an `Exposure`; an array of the
        input's shape, float64 unless the input is float32, for an array),
        ``mesh`` (`backgroundMesh`'s result) and ``backgroundMesh`` /
        ``backgroundRmsMesh`` (the filled, filtered meshes).

    Examples
    --------
    >>> import numpy as np
    >>> y, x = np.mgrid[0:128, 0:160]
    >>> rng = np.random.default_rng(2)
    >>> maps = backgroundMaps(100 + 0.02 * x + rng.normal(0, 2, x.shape), 32)
    >>> bool(np.abs(maps.background - (100 + 0.02 * x)).max() < 1.0)
    True
    >>> bool(abs(np.median(maps.backgroundRms) - 2.0) < 0.1)
    True
    """
    mesh = backgroundMesh(exposure, cellSize, **kwargs)
    if isinstance(exposure, Exposure):
        bbox = exposure.getBBox()
        dtype = exposure.image.array.dtype
    else:
        arr = np.asarray(exposure)
        bbox = Box2I(Point2I(0, 0), Extent2I(arr.shape[1], arr.shape[0]))
        dtype = np.dtype(np.float32 if arr.dtype == np.float32 else np.float64)
    levels = medianFilterMesh(_fillNan(mesh.levels), filterSize)
    rms = medianFilterMesh(_fillNan(mesh.rms), filterSize)
    out = {}
    coverage = kwargs.get("coverageMask")
    for name, values in (("background", levels), ("backgroundRms", rms)):
        full = _interpolate(values, mesh.xCenters, mesh.yCenters, bbox, method).astype(
            dtype, copy=False
        )
        if coverage is not None:
            full[np.asarray(coverage, dtype=bool)] = fillValue
        out[name] = Image(full, xy0=bbox.getMin()) if isinstance(exposure, Exposure) else full
    return Struct(
        background=out["background"],
        backgroundRms=out["backgroundRms"],
        mesh=mesh,
        backgroundMesh=levels,
        backgroundRmsMesh=rms,
    )


def backgroundImage(
    exposure: Exposure | np.ndarray,
    cellSize: float | tuple[float, float],
    *,
    method: str = "linear",
    **kwargs: Any,
) -> Image | np.ndarray:
    """Full-resolution background: `backgroundMaps` ``(...).background``.

    Parameters
    ----------
    exposure : `Exposure` or 2-d `numpy.ndarray`
        The image.
    cellSize : `float` or ``(x, y)`` pair
        Cell size in pixels.
    method : `str`, optional
        Interpolation (see `backgroundMaps`).
    **kwargs
        Passed to `backgroundMaps` (``filterSize``, ``borderSize``,
        ``statistic``, ``excludePercentile``, ``mask``, ``coverageMask``,
        ``backend``, ...).

    Returns
    -------
    background : `Image` or `numpy.ndarray`
        An `Image` with the exposure's ``xy0`` and dtype for an `Exposure`;
        an array of the input's shape (float64 unless the input is float32)
        for an array.

    Examples
    --------
    >>> import numpy as np
    >>> y, x = np.mgrid[0:120, 0:160]
    >>> rng = np.random.default_rng(2)
    >>> data = 100 + 0.1 * x + rng.normal(0, 1, x.shape)
    >>> bkg = backgroundImage(data, 40)
    >>> bkg.shape, bool(np.abs(bkg - (100 + 0.1 * x)).max() < 1.0)
    ((120, 160), True)
    """
    return backgroundMaps(exposure, cellSize, method=method, **kwargs).background
