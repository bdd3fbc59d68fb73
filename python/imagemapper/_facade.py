"""`map_reduce`: one call to map a plain function over overlapping cells of an array.

The façade builds an `ImageMapReduceTask` around a function of a numpy
array, so numpy and astropy users get tiling with borders, parallel
execution and stitching without writing a mapper class.
"""

from __future__ import annotations

__all__ = ["map_reduce"]

import copy
import numbers
from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np

from ._core import Box2I
from ._image import Exposure
from ._mapper import ImageMapper
from ._reducer import STITCH_OPERATIONS
from ._task import Struct


def _pair(value: Any, name: str, minimum: int) -> tuple[int, int]:
    if isinstance(value, (numbers.Integral, np.integer)) and not isinstance(value, bool):
        x = y = int(value)
    else:
        try:
            x, y = (int(v) for v in value)
        except (TypeError, ValueError):
            raise TypeError(
                f"{name} must be an integer or an (x, y) pair of integers, got {value!r}"
            ) from None
    if x < minimum or y < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value!r}")
    return x, y


def _rebuildFunctionMapper(reduced: tuple, func: Any, mode: str) -> _FunctionMapper:
    """Unpickle a `_FunctionMapper`: rebuild the task, then restore ``func``."""
    mapper = reduced[0](*reduced[1])
    mapper.func = func
    mapper.mode = mode
    return mapper


class _FunctionMapper(ImageMapper):
    """Applies ``self.func`` to the expanded cell's image array (set by `map_reduce`).

    ``mode``: ``'array'`` (stitch the returned arrays), ``'scalar'`` (a value
    per cell, for ``reduce='mesh'``) or ``'none'`` (keep whatever func returns).
    """

    _DefaultName: ClassVar[str] = "mapReduceFunction"
    #: ``func`` is called from several threads at once, as dask and skimage do.
    threadSafe: ClassVar[bool] = True
    func: Callable[[np.ndarray], Any] | None = None
    mode: str = "array"

    def __reduce__(self) -> tuple[Any, ...]:
        # A subtask pickles as "rebuild the parent, take its mapper"; func is
        # set after construction, so carry it along (process and dask workers).
        return _rebuildFunctionMapper, (super().__reduce__(), self.func, self.mode)

    def run(
        self, subExposure: Exposure, expandedSubExposure: Exposure, fullBBox: Box2I, **kwargs: Any
    ) -> Struct:
        func = self.func
        if func is None:  # pragma: no cover - map_reduce always sets it
            raise RuntimeError("_FunctionMapper.func is not set")
        bbox = subExposure.getBBox()
        ebox = expandedSubExposure.getBBox()
        crop = bbox.slices(ebox)
        value = func(expandedSubExposure.image.array)
        if self.mode == "none":
            return Struct(value=value, bbox=bbox, expandedBBox=ebox, slices=bbox.slices(fullBBox))
        if self.mode == "scalar":
            try:
                return Struct(value=float(value))
            except (TypeError, ValueError):
                raise TypeError(
                    f"reduce='mesh' needs func to return one number per cell, got "
                    f"{type(value).__name__}"
                ) from None
        out = np.asarray(value)
        eshape = (ebox.getHeight(), ebox.getWidth())
        shape = (bbox.getHeight(), bbox.getWidth())
        if out.shape == eshape:
            out = out[crop]
        elif out.shape != shape:
            raise ValueError(
                f"func returned an array of shape {out.shape} for an expanded cell of shape "
                f"{eshape}; expected that shape (it is cropped to the cell) or the cell's "
                f"shape {shape}"
            )
        if out.dtype.kind not in "biuf":
            raise TypeError(f"func returned an array of dtype {out.dtype}; expected numbers")
        dtype = subExposure.image.array.dtype
        cell = Exposure.fromArrays(
            out.astype(dtype, copy=False),
            subExposure.mask.array.copy(),
            np.zeros(shape, dtype=dtype),
            xy0=bbox.getMin(),
            planeDict=subExposure.mask.getMaskPlaneDict(),
        )
        return Struct(subExposure=cell)


def map_reduce(
    data: Any,
    func: Callable[[np.ndarray], Any],
    *,
    cellSize: int | tuple[int, int] = 256,
    gridStep: int | tuple[int, int] | None = None,
    borderSize: int | tuple[int, int] = 0,
    reduce: str = "average",
    backend: str = "threads",
    numWorkers: int = 0,
    progress: bool | None = False,
) -> Any:
    """Apply ``func`` to overlapping cells of an image and stitch the results.

    Each cell is grown by ``borderSize`` pixels on every side (clipped to the
    image); ``func`` receives that expanded cell and returns an array of the
    same shape, and the part that covers the cell is kept. Functions whose
    output at a pixel depends only on pixels within ``borderSize`` (filters,
    convolutions) give the same result as on the whole image.

    Parameters
    ----------
    data : 2-d `numpy.ndarray`, `~astropy.nddata.NDData` or `~astropy.nddata.CCDData`
        The image. Float32/float64 arrays are used without a copy; integer
        arrays are processed as float32 (up to 16 bits) or float64.
    func : callable
        ``func(expandedCell) -> array``. ``expandedCell`` is a read-only
        2-d view of ``data`` (copy it to modify it). The result must have
        the expanded cell's shape (it is cropped to the cell) or the cell's
        shape. With ``reduce='none'`` it may return anything. With
        ``backend='processes'`` it must be picklable (a module-level function,
        not a lambda).
    cellSize : `int` or ``(x, y)`` pair, optional
        Cell width and height in pixels.
    gridStep : `int` or ``(x, y)`` pair, optional
        Distance between cell centres. `None` (default) spreads
        ``W // cellSize + 1`` cells evenly across the image (neighbours
        overlap a little; LSST's ``adjustGridOption='spacing'``); a step below
        ``cellSize`` makes cells overlap, one above it leaves gaps (NaN).
    borderSize : `int` or ``(x, y)`` pair, optional
        Extra pixels on each side of a cell given to ``func``.
    reduce : `str`, optional
        How overlapping cells combine (``ImageReducerConfig.reduceOperation``):
        ``'average'`` (the mean of the cells' values at each pixel),
        ``'copy'`` (the later cell wins), ``'sum'``, ``'weighted'`` (a
        seam-free blend), ``'owner'`` (the cell whose centre is nearest),
        ``'max'``, ``'min'``; ``'mesh'`` (``func`` returns one number per
        cell, interpolated bilinearly between the cell centres to every pixel);
        or ``'none'`` (no stitching: return the per-cell results).
    backend : `str`, optional
        ``'serial'``, ``'threads'`` (default; numpy and scipy release the
        GIL), ``'processes'`` or ``'dask'``.
    numWorkers : `int`, optional
        Number of workers; 0 = all usable CPUs.
    progress : `bool` or `None`, optional
        Show a progress bar (`None`: only in an interactive terminal).

    Returns
    -------
    result : `numpy.ndarray`, `~astropy.nddata.NDData` or `list`
        For an array input, an array of its shape (dtype float32 or float64)
        with NaN where no cell produced a finite value. For an ``NDData``
        input, the same class with the new ``data``, and the input's
        ``mask``, ``wcs``, ``meta``, ``unit`` (the ``uncertainty`` is dropped:
        ``func`` does not transform it). For ``reduce='none'``, a list with
        one `~imagemapper.Struct` per cell: ``value`` (what ``func``
        returned), ``bbox`` (the cell), ``expandedBBox`` and ``slices``
        (``(slice_y, slice_x)`` of the cell in the input array).

    Raises
    ------
    TypeError, ValueError
        For a bad argument, or when ``func`` returns an array of the wrong
        shape or dtype.
    imagemapper.MapperError
        When ``func`` raises on a cell (the message names the cell; the
        original exception is chained).

    Examples
    --------
    >>> import numpy as np
    >>> from scipy.ndimage import gaussian_filter
    >>> import imagemapper as im
    >>> image = np.random.default_rng(0).normal(size=(300, 400)).astype(np.float32)
    >>> smooth = im.map_reduce(image, lambda a: gaussian_filter(a, 2.0), cellSize=128,
    ...                        borderSize=8)
    >>> bool(np.allclose(smooth, gaussian_filter(image, 2.0), atol=1e-5))
    True
    """
    from ._mapreduce import ImageMapReduceConfig, ImageMapReduceTask

    if not callable(func):
        raise TypeError(f"func must be callable, got {type(func).__name__}")
    allowed = ["none", *STITCH_OPERATIONS]
    if reduce not in allowed:
        raise ValueError(f"reduce={reduce!r} is not one of {allowed}")
    cx, cy = _pair(cellSize, "cellSize", 1)
    bx, by = _pair(borderSize, "borderSize", 0)

    from astropy.nddata import NDData

    nddata = None
    if isinstance(data, NDData):
        nddata = data
        array = np.asarray(data.data)
    elif isinstance(data, np.ndarray) or np.ndim(data) == 2:
        array = np.asarray(data)
    else:
        raise TypeError(
            f"data must be a 2-d numpy array or an astropy NDData/CCDData, got "
            f"{type(data).__name__}"
        )
    if array.ndim != 2:
        raise ValueError(f"data must be 2-d, got an array of shape {array.shape}")
    exposure = Exposure.fromArrays(array)

    config = ImageMapReduceConfig()
    config.mapper.retarget(_FunctionMapper)
    config.scaleByFwhm = False
    config.cellSizeX, config.cellSizeY = float(cx), float(cy)
    config.borderSizeX, config.borderSizeY = float(bx), float(by)
    if gridStep is None:
        config.adjustGridOption = "spacing"
        config.gridStepX, config.gridStepY = float(cx), float(cy)
    else:
        sx, sy = _pair(gridStep, "gridStep", 1)
        config.adjustGridOption = "none"
        config.gridStepX, config.gridStepY = float(sx), float(sy)
    config.reducer.reduceOperation = reduce
    config.reducer.badMaskPlanes = []
    # func gets a read-only view of the user's array (as documented): no copy.
    config.readOnlyCells = True
    config.backend = backend
    config.numWorkers = numWorkers
    config.progress = progress
    task = ImageMapReduceTask(config)
    mapper: Any = getattr(task, "mapper")  # noqa: B009 - made by makeSubtask
    mapper.func = func
    mapper.mode = {"none": "none", "mesh": "scalar"}.get(reduce, "array")
    result = task.run(exposure)
    if reduce == "none":
        return list(result.result)
    out = result.exposure.image.array
    if nddata is None:
        return out
    kwargs: dict[str, Any] = {
        "mask": None if nddata.mask is None else np.array(nddata.mask, copy=True),
        "wcs": nddata.wcs,
        "meta": copy.deepcopy(nddata.meta),
        "unit": nddata.unit,
    }
    return type(nddata)(out, **kwargs)
