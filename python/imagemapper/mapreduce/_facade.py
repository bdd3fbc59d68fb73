"""`map_reduce`: one call to map a plain function over overlapping cells of arrays.

The façade lays its own grid over the image axes of one or several numpy
(or dask) arrays, hands ``func`` each expanded cell (padded per axis where
the image ends), runs the cells on the task's execution backends and
stitches the results with the task's Rust reducer. numpy, dask and astropy
users get tiling with borders, parallel execution and stitching without
writing a mapper class.

This module normalises the arguments and holds `map_reduce`; the parts it
calls live beside it: the grid and the mapper that hands ``func`` its cells
(``_facadecells``), eager and lazy (dask) execution (``_facaderun``), and
the dtype plan and stitcher (``_facadestitch``).
"""

from __future__ import annotations

__all__ = ["map_reduce"]

import numbers
from collections.abc import Callable
from typing import Any

import numpy as np

from ._edges import canonicalEdgeMode
from ._facadecells import Grid
from ._facaderun import runEager, runLazy
from ._reducer import STITCH_OPERATIONS

# ------------------------------------------------------------------- arguments


def _int(value: Any, name: str) -> int:
    if isinstance(value, (numbers.Integral, np.integer)) and not isinstance(value, bool):
        return int(value)
    raise TypeError(f"{name} must be an integer or an (x, y) pair of integers, got {value!r}")


def _pair(value: Any, name: str, minimum: int) -> tuple[int, int]:
    if isinstance(value, (numbers.Integral, np.integer)) and not isinstance(value, bool):
        x = y = int(value)
    else:
        try:
            x, y = (_int(v, name) for v in value)
        except (TypeError, ValueError):
            raise TypeError(
                f"{name} must be an integer or an (x, y) pair of integers, got {value!r}"
            ) from None
    if x < minimum or y < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value!r}")
    return x, y


def _borders(value: Any) -> tuple[tuple[int, int], tuple[int, int]]:
    """borderSize: ``b``, ``(bx, by)`` or ``((x_lo, x_hi), (y_lo, y_hi))``."""
    try:
        x, y = _pair(value, "borderSize", 0)
        return (x, x), (y, y)
    except TypeError:
        pass
    try:
        (xl, xh), (yl, yh) = value
        out = (
            (_int(xl, "borderSize"), _int(xh, "borderSize")),
            (
                _int(yl, "borderSize"),
                _int(yh, "borderSize"),
            ),
        )
    except (TypeError, ValueError):
        raise TypeError(
            "borderSize must be an integer, an (x, y) pair or ((x_lo, x_hi), (y_lo, y_hi)), "
            f"got {value!r}"
        ) from None
    if min(*out[0], *out[1]) < 0:
        raise ValueError(f"borderSize must be >= 0, got {value!r}")
    return out


def _modes(edgeMode: Any) -> tuple[str, str]:
    if isinstance(edgeMode, str):
        m = canonicalEdgeMode(edgeMode)
        return m, m
    try:
        mx, my = edgeMode
    except (TypeError, ValueError):
        raise TypeError(
            f"edgeMode must be a mode or an (x_mode, y_mode) pair, got {edgeMode!r}"
        ) from None
    return canonicalEdgeMode(mx, "edgeMode[0] (x)"), canonicalEdgeMode(my, "edgeMode[1] (y)")


def _isDask(a: Any) -> bool:
    return type(a).__module__.startswith("dask.") and hasattr(a, "__dask_graph__")


def _imageAxes(ndim: int, axes: Any, channel_axis: Any) -> tuple[int, int]:
    """The (y, x) image axes of an ``ndim``-d array."""
    if ndim < 2:
        raise ValueError(f"data must have at least 2 dimensions, got {ndim}")
    if axes is not None:
        try:
            ya, xa = (int(a) for a in axes)
        except (TypeError, ValueError):
            raise TypeError(f"axes must be a (y_axis, x_axis) pair, got {axes!r}") from None
        if not (-ndim <= ya < ndim and -ndim <= xa < ndim) or ya % ndim == xa % ndim:
            raise ValueError(f"axes={axes!r} must name two different axes of a {ndim}-d array")
        return ya % ndim, xa % ndim
    if channel_axis is None:
        return ndim - 2, ndim - 1
    c = int(channel_axis)
    if not -ndim <= c < ndim:
        raise ValueError(f"channel_axis={channel_axis!r} is not an axis of a {ndim}-d array")
    rest = [a for a in range(ndim) if a != c % ndim]
    if len(rest) < 2:
        raise ValueError(f"a {ndim}-d array with channel_axis={channel_axis!r} has no 2 image axes")
    return rest[-2], rest[-1]


def _restoreAxes(out: np.ndarray, ndim: int, imageAxes: tuple[int, int]) -> np.ndarray:
    """Image axes back where the input had them (when the output keeps its
    number of dimensions)."""
    if out.ndim == ndim:
        return np.moveaxis(out, (-2, -1), imageAxes)
    return out


# ------------------------------------------------------------------------ façade


def map_reduce(
    data: Any,
    func: Callable[..., Any],
    *,
    cellSize: int | tuple[int, int] = 256,
    gridStep: int | tuple[int, int] | None = None,
    borderSize: Any = 0,
    reduce: str = "average",
    edgeMode: str | tuple[str, str] = "clip",
    edgeConstant: float = 0.0,
    keepCellShape: bool = False,
    axes: tuple[int, int] | None = None,
    channel_axis: int | None = None,
    dtype: Any = None,
    backend: str = "threads",
    numWorkers: int = 0,
    client: Any = None,
    progress: bool | None = False,
) -> Any:
    """Apply ``func`` to overlapping cells of an image and stitch the results.

    Each cell is grown by ``borderSize`` pixels on every side (clipped to the
    image, or padded per ``edgeMode``); ``func`` receives that expanded cell
    and returns an array of the same shape, and the part that covers the cell
    is kept. Functions whose output at a pixel depends only on pixels within
    ``borderSize`` (filters, convolutions) give the same result as on the
    whole image with the matching boundary mode.

    Parameters
    ----------
    data : array, `~astropy.nddata.NDData`, dask array, or a tuple of arrays
        The image: a numpy array of 2 or more dimensions (the last two are
        the image's rows and columns unless ``axes`` or ``channel_axis`` say
        otherwise; ``func`` gets every other axis whole), an ``NDData`` /
        ``CCDData``, or a dask array (the result is then a lazy dask array).
        A tuple of arrays of one shape: ``func`` is called with the matching
        expanded cell of each, ``func(a, b, ...)``.
    func : callable
        ``func(expandedCell, ...) -> array``. A cell of an input is a view
        (read only: copy it to modify it) except where it is padded. The
        result has the expanded cell's image shape (it is cropped to the
        cell) or the cell's; with as many dimensions as the input the image
        axes stay where the input has them, otherwise they are its last two
        (a function may drop or add leading axes, as dask's ``drop_axis``).
        With ``reduce='mesh'`` it returns one number; with ``reduce='none'``
        anything. Lambdas, closures and functions defined in ``__main__`` or a
        notebook work on every backend (they travel with cloudpickle).
    cellSize : `int` or ``(x, y)`` pair, optional
        Cell width and height in pixels.
    gridStep : `int` or ``(x, y)`` pair, optional
        Distance between cell centres. `None` (default) spreads
        ``W // cellSize + 1`` cells evenly across the image (neighbours
        overlap a little; LSST's ``adjustGridOption='spacing'``); equal to
        ``cellSize``, the cells tile the image from its first pixel as dask
        chunks do; below it cells overlap, above it they leave gaps (NaN).
        Every pixel is covered whenever ``gridStep <= cellSize``, whatever
        the image's shape.
    borderSize : `int`, ``(x, y)`` or ``((x_lo, x_hi), (y_lo, y_hi))``, optional
        Extra pixels on each side of a cell given to ``func``; the last form
        sets each side (``lo``: towards pixel 0).
    reduce : `str`, optional
        How overlapping cells combine: ``'average'`` (the mean of the cells'
        values at each pixel), ``'copy'`` (the later cell wins), ``'sum'``,
        ``'weighted'`` (a seam-free blend), ``'owner'`` (the cell whose
        centre is nearest), ``'max'``, ``'min'``; ``'mesh'`` (``func``
        returns one number per cell, interpolated bilinearly between the cell
        centres to every pixel); or ``'none'`` (no stitching: return the
        per-cell results).
    edgeMode : `str` or ``(x_mode, y_mode)``, optional
        What ``func`` sees beyond the image edge: ``'clip'`` (default: the
        expanded cell stops at the image edge), ``'reflect'`` (``d c b a | a b
        c d``: dask's and scipy.ndimage's ``reflect``, numpy's ``symmetric``),
        ``'nearest'``, ``'constant'`` (``edgeConstant``) or ``'periodic'``
        (alias ``'wrap'``: the opposite side of the image). Padding is added
        only where the image ends.
    edgeConstant : `float`, optional
        The padding value for ``edgeMode='constant'`` (cast to the input's
        dtype).
    keepCellShape : `bool`, optional
        Shift the cells that the image edge clips inward, so that every cell
        (and, with a padding ``edgeMode``, every expanded cell) has one shape.
    axes : ``(y_axis, x_axis)``, optional
        The image axes of an N-d input (default: the last two).
    channel_axis : `int`, optional
        As scikit-image: the channel axis of a 3-d input; the image axes are
        the other two.
    dtype : dtype, optional
        The output's dtype. Default: that of ``func``'s result (``bool``,
        ``int8`` ... ``uint64``, ``float16`` ... ``float64``, ``complex64``,
        ``complex128``). Each cell's result is converted to it as numpy's
        ``astype`` does (NaN or ±inf into an integer dtype raise), then
        overlapping cells are combined in it. Integers are exact for every
        value, 64-bit ones too: ``copy``, ``owner``, ``max`` and ``min`` keep
        the values, ``sum`` adds in the dtype and wraps around as numpy's
        ``np.add`` does, ``average`` is the exact mean rounded to the nearest
        integer (ties to even, as ``np.rint``); ``weighted`` blends in
        ``float64`` and rounds (exact to 2**53). Floats combine in their own
        type (``float16`` in ``float32``), complex as real and imaginary
        parts, ``bool`` as 0/1 in ``float32`` (a ``sum`` or ``average`` is
        True where any contribution is).
    backend : `str`, optional
        ``'serial'``, ``'threads'`` (default; numpy and scipy release the
        GIL), ``'processes'`` or ``'dask'`` (``client``, else the current
        ``dask.distributed`` client).
    numWorkers : `int`, optional
        Number of workers; 0 = all usable CPUs.
    client : `dask.distributed.Client`, optional
        For ``backend='dask'``; default: the current client.
    progress : `bool` or `None`, optional
        Show a progress bar (`None`: only in an interactive terminal).

    Returns
    -------
    result : `numpy.ndarray`, `~astropy.nddata.NDData`, dask array or `list`
        For an array input, an array of the image's shape (with ``func``'s
        leading axes) and dtype, NaN where no cell produced a value (integer
        outputs raise instead). For an ``NDData`` input, the same class with
        the new ``data``, and the input's ``uncertainty``, ``mask``, ``wcs``,
        ``meta``, ``unit`` and ``psf`` (copies; ``func`` maps only the data,
        so the uncertainty is the input's, unchanged). For a dask input, a
        dask array with the input's chunks on the image axes, equal to the
        numpy result. For ``reduce='none'``, a list
        with one `~imagemapper.Struct` per cell: ``value`` (what ``func``
        returned), ``bbox`` (the cell), ``expandedBBox`` (what ``func`` saw;
        beyond the image where padded) and ``slices`` (``(slice_y,
        slice_x)`` of the cell in the image axes).

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
    if not callable(func):
        raise TypeError(f"func must be callable, got {type(func).__name__}")
    allowed = ["none", *STITCH_OPERATIONS]
    if reduce not in allowed:
        raise ValueError(f"reduce={reduce!r} is not one of {allowed}")
    cx, cy = _pair(cellSize, "cellSize", 1)
    step = None if gridStep is None else _pair(gridStep, "gridStep", 1)
    border = _borders(borderSize)
    modes = _modes(edgeMode)
    constant = float(edgeConstant)
    if backend not in ("serial", "threads", "processes", "dask"):
        raise ValueError(
            f"backend={backend!r} is not one of ['dask', 'processes', 'serial', 'threads']"
        )
    if not isinstance(numWorkers, int) or isinstance(numWorkers, bool) or numWorkers < 0:
        raise ValueError(f"numWorkers={numWorkers!r} must be an integer >= 0 (0 = all CPUs)")

    from astropy.nddata import NDData

    nddata = None
    items = list(data) if isinstance(data, tuple) else [data]
    if not items:
        raise ValueError("data is an empty tuple; expected one or more arrays")
    arrays: list[Any] = []
    for k, item in enumerate(items):
        name = "data" if len(items) == 1 else f"data[{k}]"
        if isinstance(item, NDData):
            nddata = item if len(items) == 1 else None
            item = np.asarray(item.data)
        elif not _isDask(item):
            if not isinstance(item, np.ndarray) and np.ndim(item) < 2:
                raise TypeError(
                    f"{name} must be a numpy array (2-d or more), an astropy NDData/CCDData or "
                    f"a dask array, got {type(item).__name__}"
                )
            item = np.asarray(item)
        if item.ndim < 2:
            raise ValueError(f"{name} must have at least 2 dimensions, got shape {item.shape}")
        arrays.append(item)
    shape = tuple(arrays[0].shape)
    for k, a in enumerate(arrays[1:], 1):
        if tuple(a.shape) != shape:
            raise ValueError(
                f"data[{k}] has shape {tuple(a.shape)} but data[0] has {shape}; the arrays "
                "given together must have one shape"
            )
    ndim = len(shape)
    imageAxes = _imageAxes(ndim, axes, channel_axis)
    H, W = shape[imageAxes[0]], shape[imageAxes[1]]
    if H < 1 or W < 1:
        raise ValueError(f"the image is {W} x {H} pixels; expected at least 1 pixel each way")
    grid = Grid((H, W), (cx, cy), step, border, modes, bool(keepCellShape))
    lazy = any(_isDask(a) for a in arrays)
    if lazy:
        import dask.array as da

        darrays = [da.moveaxis(da.asarray(a), imageAxes, (-2, -1)) for a in arrays]
        return runLazy(darrays, func, grid, imageAxes, ndim, reduce, constant, dtype)
    moved = [np.moveaxis(a, imageAxes, (-2, -1)) for a in arrays]
    out = runEager(
        moved,
        func,
        grid,
        imageAxes,
        reduce,
        constant,
        dtype,
        backend,
        numWorkers,
        client,
        progress,
    )
    if reduce == "none":
        return out
    out = _restoreAxes(out, ndim, imageAxes)
    if nddata is None:
        return out
    from ..io._nddata import nddataLike

    return nddataLike(nddata, out)
