"""`map_reduce`: one call to map a plain function over overlapping cells of arrays.

The façade lays its own grid over the image axes of one or several numpy
(or dask) arrays, hands ``func`` each expanded cell (padded per axis where
the image ends), runs the cells on the task's execution backends and
stitches the results with the task's Rust reducer. numpy, dask and astropy
users get tiling with borders, parallel execution and stitching without
writing a mapper class.
"""

from __future__ import annotations

__all__ = ["map_reduce"]

import math
import numbers
import warnings
from collections.abc import Callable, Sequence
from typing import Any, Literal

import numpy as np

from .. import _core
from .._core import Box2I, Extent2I, Point2I
from ..image import Exposure
from ..task import Struct
from ._edges import canonicalEdgeMode, edgeIndices, keepCellShape, takeCell
from ._reducer import STITCH_OPERATIONS

#: Reductions a lazy (dask) input supports: those whose value at a pixel
#: depends only on the cells covering it, in cell order.
_LAZY_REDUCE = ("copy", "sum", "average", "max", "min")


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


# --------------------------------------------------------------------- the grid


def _axisCells(n: int, cell: int, step: int | None) -> list[tuple[int, int]]:
    """The cells' ``(lo, hi)`` ranges on one axis of ``n`` pixels, by LSST's
    grid rules (``spacing`` when ``step`` is None, else ``none``), without
    the reference's rule that drops cells of one pixel or less: the façade
    grid is the product of these ranges, so every pixel an axis range covers
    is covered."""
    adjust: Literal["spacing", "none"] = "spacing" if step is None else "none"
    s = cell if step is None else step
    # One axis at a time: the other is 2 pixels with one 2-pixel cell, so
    # LSST's area rule (> 1 pixel) keeps every range of this axis.
    boxes, _ = _core.generate_grid(
        Box2I(Point2I(0, 0), Extent2I(n, 2)),
        cell_size=(float(cell), 2.0),
        grid_step=(float(s), 2.0),
        border_size=(0.0, 0.0),
        adjust=adjust,
        centroids_x=None,
        centroids_y=None,
        fwhm_scale=None,
        force_even_sized=False,
    )
    out: list[tuple[int, int]] = []
    for b in boxes:
        r = (b.getMinX(), b.getMaxX())
        if r not in out:
            out.append(r)
    return out


class _Grid:
    """The façade's cells over an ``H x W`` image and how each is expanded."""

    def __init__(
        self,
        shape: tuple[int, int],
        cell: tuple[int, int],
        step: tuple[int, int] | None,
        border: tuple[tuple[int, int], tuple[int, int]],
        modes: tuple[str, str],
        keepShape: bool,
    ) -> None:
        self.height, self.width = shape
        self.border = border
        self.modes = modes
        xs = _axisCells(self.width, cell[0], None if step is None else step[0])
        ys = _axisCells(self.height, cell[1], None if step is None else step[1])
        full = Box2I(Point2I(0, 0), Extent2I(self.width, self.height))
        boxes = [Box2I(Point2I(x0, y0), Point2I(x1, y1)) for x0, x1 in xs for y0, y1 in ys]
        if keepShape:
            boxes, _ = keepCellShape(boxes, boxes, full, (0, 0), True)
        self.full = full
        self.boxes0 = boxes
        self.expanded = [self.expandedRanges(b, keepShape) for b in boxes]
        # Executors slice the image with these: the expanded cell clipped to it.
        self.boxes1 = [
            Box2I(
                Point2I(max(0, x0), max(0, y0)),
                Point2I(min(self.width - 1, x1), min(self.height - 1, y1)),
            )
            for (y0, y1), (x0, x1) in self.expanded
        ]

    def expandedRanges(self, box: Box2I, keepShape: bool) -> tuple[tuple[int, int], ...]:
        """``((y0, y1), (x0, x1))`` the expanded cell covers (inclusive); beyond
        the image only on an axis whose mode pads."""
        out = []
        for lo, hi, (blo, bhi), mode, n in (
            (box.getMinY(), box.getMaxY(), self.border[1], self.modes[1], self.height),
            (box.getMinX(), box.getMaxX(), self.border[0], self.modes[0], self.width),
        ):
            e0, e1 = lo - blo, hi + bhi
            if mode == "clip":
                if keepShape:  # shift inside the image to keep the full shape
                    if e0 < 0:
                        e0, e1 = 0, e1 - e0
                    if e1 > n - 1:
                        e0, e1 = max(0, e0 - (e1 - n + 1)), n - 1
                e0, e1 = max(0, e0), min(n - 1, e1)
            out.append((e0, e1))
        return tuple(out)

    def indices(self, i: int) -> tuple[Any, Any]:
        """`edgeIndices` for cell ``i``: (rows, columns)."""
        (y0, y1), (x0, x1) = self.expanded[i]
        return (
            edgeIndices(y0, y1, self.height, self.modes[1]),
            edgeIndices(x0, x1, self.width, self.modes[0]),
        )


# ------------------------------------------------------------------- the mapper


class _Frame:
    """What the executors slice for the façade: only boxes (the mapper reads
    its own arrays). ``frame[box]`` is a `_Frame` over ``box``."""

    def __init__(self, box: Box2I) -> None:
        self.box = box

    def getBBox(self) -> Box2I:
        return self.box

    def __getitem__(self, box: Box2I) -> _Frame:
        return _Frame(box)


def _shift(index: Any, outside: Any, origin: int) -> Any:
    """An `edgeIndices` index moved to arrays that start at ``origin``."""
    if isinstance(index, slice):
        return slice(index.start - origin, index.stop - origin)
    index = index - origin
    return index if outside is None else np.where(outside, 0, index)


class _CellMapper:
    """Runs ``func`` on the expanded cells of the façade's arrays.

    ``run(sub, expanded, fullBBox)`` follows the mapper protocol of the
    executors; only the cell's box is used. It returns the result cropped to
    the cell with the image axes last (``mode='array'``), the number
    (``'scalar'``) or whatever ``func`` returned (``'none'``).
    """

    threadSafe = True

    def __init__(
        self,
        func: Callable[..., Any],
        arrays: Sequence[np.ndarray],
        origin: tuple[int, int],
        grid: _Grid,
        imageAxes: tuple[int, int],
        mode: str,
        constant: float,
    ) -> None:
        self.func = func
        self.arrays = list(arrays)  # (..., h, w): image axes moved last
        self.origin = origin  # (y, x) of arrays[..., 0, 0] in the image
        self.grid = grid
        self.imageAxes = imageAxes
        self.ndim = arrays[0].ndim
        self.mode = mode
        self.constant = constant
        self.index = {
            (b.getMinX(), b.getMinY(), b.getMaxX(), b.getMaxY()): i
            for i, b in enumerate(grid.boxes0)
        }

    def cellIndex(self, box: Box2I) -> int:
        return self.index[(box.getMinX(), box.getMinY(), box.getMaxX(), box.getMaxY())]

    def cells(self, i: int) -> list[np.ndarray]:
        """The expanded cell ``i`` of every array, in the input's axis order."""
        (iy, oy), (ix, ox) = self.grid.indices(i)
        y0, x0 = self.origin
        iy = _shift(iy, oy, y0)
        ix = _shift(ix, ox, x0)
        out = []
        for a in self.arrays:
            c = takeCell(a, (iy, oy), (ix, ox), self.constant)
            if isinstance(iy, slice) and isinstance(ix, slice):
                c = c.view()
                c.flags.writeable = False
            out.append(np.moveaxis(c, (-2, -1), self.imageAxes))
        return out

    def run(self, subExposure: Any, expandedSubExposure: Any, fullBBox: Box2I, **kw: Any) -> Any:
        box = subExposure.getBBox()
        i = self.cellIndex(box)
        value = self.func(*self.cells(i))
        if self.mode == "none":
            (y0, y1), (x0, x1) = self.grid.expanded[i]
            return Struct(
                value=value,
                bbox=box,
                expandedBBox=Box2I(Point2I(x0, y0), Point2I(x1, y1)),
                slices=(slice(box.getMinY(), box.getEndY()), slice(box.getMinX(), box.getEndX())),
            )
        if self.mode == "scalar":
            try:
                return float(value)
            except (TypeError, ValueError):
                raise TypeError(
                    f"reduce='mesh' needs func to return one number per cell, got "
                    f"{type(value).__name__}"
                ) from None
        return self.crop(np.asarray(value), i)

    def crop(self, out: np.ndarray, i: int) -> np.ndarray:
        """``out`` with the image axes last, cropped to cell ``i``."""
        box = self.grid.boxes0[i]
        (y0, y1), (x0, x1) = self.grid.expanded[i]
        eshape = (y1 - y0 + 1, x1 - x0 + 1)
        shape = (box.getHeight(), box.getWidth())
        if out.ndim == self.ndim:
            out = np.moveaxis(out, self.imageAxes, (-2, -1))
        if out.ndim < 2 or out.shape[-2:] not in (eshape, shape):
            raise ValueError(
                f"func returned an array of shape {out.shape} for an expanded cell of shape "
                f"{eshape} (image axes); expected that shape (it is cropped to the cell) or the "
                f"cell's shape {shape}"
            )
        if out.dtype.kind not in "biufc":
            raise TypeError(f"func returned an array of dtype {out.dtype}; expected numbers")
        if out.shape[-2:] == eshape:
            dy, dx = box.getMinY() - y0, box.getMinX() - x0
            out = out[..., dy : dy + shape[0], dx : dx + shape[1]]
        return out


# ----------------------------------------------------------------- the stitching


def _stitchDtype(dtype: np.dtype) -> np.dtype:
    """The float type the reducer stitches ``dtype`` in (exactly for every
    value of up to 32-bit types; 64-bit integers exactly up to 2**53)."""
    if dtype.kind == "b" or (dtype.kind in "iu" and dtype.itemsize <= 2):
        return np.dtype(np.float32)
    if dtype.kind in "iu":
        return np.dtype(np.float64)
    if dtype.kind == "f" and dtype.itemsize <= 4:
        return np.dtype(np.float32)
    if dtype.kind == "f" and dtype.itemsize == 8:
        return np.dtype(np.float64)
    if dtype.kind == "c" and dtype.itemsize <= 8:
        return np.dtype(np.float32)
    if dtype.kind == "c" and dtype.itemsize == 16:
        return np.dtype(np.float64)
    raise TypeError(
        f"output dtype {dtype} is not supported; expected bool, integers, floats "
        "up to float64 or complex up to complex128"
    )


def _planes(out: np.ndarray, sdt: np.dtype) -> np.ndarray:
    """``(K, h, w)`` float planes of a ``(..., h, w)`` result (complex: real,
    imaginary)."""
    h, w = out.shape[-2:]
    if out.dtype.kind == "c":
        out = np.stack([out.real, out.imag])
    return np.asarray(out, dtype=sdt).reshape(-1, h, w)


def _fromPlanes(planes: np.ndarray, lead: tuple[int, ...], dtype: np.dtype, reduce: str) -> Any:
    """The stitched ``(K, H, W)`` planes as ``(*lead, H, W)`` of ``dtype``."""
    H, W = planes.shape[-2:]
    if dtype.kind == "c":
        half = planes.shape[0] // 2
        planes = planes[:half] + 1j * planes[half:]
    out = planes.reshape(*lead, H, W)
    if dtype.kind in "biu":
        nan = np.isnan(out)
        if nan.any():
            raise ValueError(
                f"{int(nan.sum())} pixels have no value (no cell covers them, or func returned "
                f"no valid value there), which {dtype} cannot hold; pass dtype=np.float32 (NaN "
                "there) or a gridStep no larger than cellSize"
            )
        if dtype.kind == "b":
            return out != 0
        if reduce == "average":
            out = np.rint(out)
    return out.astype(dtype, copy=False)


class _Stitch:
    """Stitches the cells' results over ``box``: one image-only Rust
    `~imagemapper._core.Reducer` per output plane (created from the first
    result). Only the planes ``func`` returned move through it -- no mask,
    variance or weight planes are built -- and every value is used as ``func``
    gave it (NaN, ±inf and -0.0 included). ``mesh`` (one number per cell) goes
    through the task's mesh reducer."""

    def __init__(
        self, reduce: str, box: Box2I, boxes0: list[Box2I], dtype: Any, nThreads: int
    ) -> None:
        self.reduce = reduce
        self.box = box
        self.boxes0 = boxes0
        self.nThreads = nThreads
        self.dtype = None if dtype is None else np.dtype(dtype)
        self.reducers: list[Any] = []
        self.lead: tuple[int, ...] | None = None

    def _start(self, first: Any) -> None:
        sdt = np.dtype(np.float64)
        if self.reduce == "mesh":
            from ._reducer import ImageReducer, ImageReducerConfig

            cfg = ImageReducerConfig()
            cfg.reduceOperation = "mesh"
            cfg.badMaskPlanes = []
            reducer = ImageReducer(config=cfg)
            reducer.numThreads = self.nThreads
            self.lead = ()
            self.dtype = self.dtype or sdt
            template = Exposure.fromArrays(
                np.broadcast_to(sdt.type(0), (self.box.getHeight(), self.box.getWidth())),
                xy0=self.box.getMin(),
            )
            self.reducers = [reducer._makeStitcher(template, self.boxes0)]
            return
        self.lead = tuple(first.shape[:-2])
        self.dtype = self.dtype or first.dtype
        sdt = _stitchDtype(self.dtype)
        self.sdt = sdt
        nPlanes = math.prod(self.lead) * (2 if self.dtype.kind == "c" else 1)
        self.reducers = [
            _core.Reducer(
                self.reduce,
                self.box,
                sdt,
                variance=False,
                grid=self.boxes0,
                n_threads=self.nThreads,
            )
            for _ in range(nPlanes)
        ]

    def add(self, results: list[tuple[int, Any]]) -> None:
        """Stitch ``(cellIndex, result)`` pairs (cell order)."""
        if not results:
            return
        if not self.reducers:
            self._start(results[0][1])
        if self.reduce == "mesh":
            self.reducers[0].add((i, Struct(value=v)) for i, v in results)
            return
        perPlane: list[list[tuple[int, Box2I, np.ndarray, None, None]]] = [
            [] for _ in self.reducers
        ]
        for i, out in results:
            if tuple(out.shape[:-2]) != self.lead:
                raise ValueError(
                    f"func returned an array of shape {out.shape} for cell {i}; the first cell "
                    f"gave leading axes {self.lead} (all cells must give the same)"
                )
            cell = self.boxes0[i].clippedTo(self.box)
            if cell.isEmpty():
                continue
            sl = cell.slices(self.boxes0[i])
            planes = _planes(out, self.sdt)[:, sl[0], sl[1]]
            for k, plane in enumerate(planes):
                perPlane[k].append((i, cell, plane, None, None))
        for reducer, batch in zip(self.reducers, perPlane):
            reducer.add(batch)

    def finish(self) -> np.ndarray:
        if not self.reducers:  # no cell covers the box
            raise ValueError("no cell covers the image")
        if self.reduce == "mesh":
            images = [self.reducers[0].finish()[0].image.array]
        else:
            images = []
            for reducer in self.reducers:
                reducer.finish(0)
                images.append(reducer.take()[0])
        planes = images[0][None] if len(images) == 1 else np.stack(images)
        assert self.lead is not None and self.dtype is not None
        return _fromPlanes(planes, self.lead, self.dtype, self.reduce)


# -------------------------------------------------------------------- execution


def _run(
    mapper: _CellMapper,
    cells: list[int],
    stitch: _Stitch | None,
    backend: str,
    numWorkers: int,
    client: Any,
    progress: bool | None,
) -> list[Any]:
    """Run the mapper over ``cells`` on ``backend``; stitch (or collect) in
    cell order."""
    from ._executors import iterOrderedResults
    from ._task import usableCpus

    grid = mapper.grid
    nWorkers = numWorkers if numWorkers > 0 else usableCpus()
    todo = [(i, grid.boxes0[i], grid.boxes1[i]) for i in cells]
    source: Any = _Frame(grid.full)
    if backend == "processes":
        # The process pool shares an exposure's planes; the mapper carries the data.
        source = Exposure.fromArrays(
            np.broadcast_to(np.float32(0), (grid.height, grid.width)),
        )
    collected: list[Any] = []
    with _progressBar(len(todo), progress) as bar:
        gen = iterOrderedResults(
            backend=backend,
            mapper=mapper,
            exposure=source,
            cells=todo,
            nWorkers=nWorkers,
            doClone=False,
            returnSubImages=False,
            kwargs={},
            readOnlyCells=True,  # the executors slice only boxes: the mapper reads the arrays
            client=client,
            onChunkDone=bar.update if bar is not None else None,
        )
        try:
            for batch in gen:
                good = []
                for index, ok, payload in batch:
                    if not ok:
                        raise payload.asError()
                    good.append((index, payload))
                if stitch is None:
                    collected.extend(r for _, r in good)
                else:
                    stitch.add(good)
                del batch, good
        finally:
            gen.close()
    return collected


def _progressBar(total: int, progress: bool | None) -> Any:
    import contextlib

    from ._executors import interactive

    show = interactive() if progress is None else bool(progress)
    if not show:
        return contextlib.nullcontext(None)
    import sys

    from tqdm.auto import tqdm

    return contextlib.closing(tqdm(total=total, unit="cell", desc="map_reduce", file=sys.stderr))


def _eager(
    arrays: list[np.ndarray],
    func: Callable[..., Any],
    grid: _Grid,
    imageAxes: tuple[int, int],
    reduce: str,
    constant: float,
    dtype: Any,
    backend: str,
    numWorkers: int,
    client: Any,
    progress: bool | None,
    origin: tuple[int, int] = (0, 0),
    box: Box2I | None = None,
) -> Any:
    """Map and reduce numpy ``arrays`` (image axes last) over the cells of
    ``grid`` that meet ``box`` (default: the whole image); ``arrays`` hold the
    image from ``origin`` (y, x) on."""
    from ._task import usableCpus

    box = grid.full if box is None else box
    mode = {"none": "none", "mesh": "scalar"}.get(reduce, "array")
    mapper = _CellMapper(func, arrays, origin, grid, imageAxes, mode, constant)
    cells = [i for i, b in enumerate(grid.boxes0) if not b.clippedTo(box).isEmpty()]
    if reduce == "none":
        return _run(mapper, cells, None, backend, numWorkers, client, progress)
    nThreads = numWorkers if numWorkers > 0 else usableCpus()
    stitch = _Stitch(reduce, box, grid.boxes0, dtype, nThreads)
    _run(mapper, cells, stitch, backend, numWorkers, client, progress)
    return stitch.finish()


def _restoreAxes(out: np.ndarray, ndim: int, imageAxes: tuple[int, int]) -> np.ndarray:
    """Image axes back where the input had them (when the output keeps its
    number of dimensions)."""
    if out.ndim == ndim:
        return np.moveaxis(out, (-2, -1), imageAxes)
    return out


# ------------------------------------------------------------------------- lazy


def _lazy(
    darrays: list[Any],
    func: Callable[..., Any],
    grid: _Grid,
    imageAxes: tuple[int, int],
    ndim: int,
    reduce: str,
    constant: float,
    dtype: Any,
) -> Any:
    """A dask array whose blocks (the first input's chunks on the image axes)
    are each stitched from the cells that meet them, reading only the input
    those cells need."""
    import dask
    import dask.array as da

    if reduce not in _LAZY_REDUCE:
        raise ValueError(
            f"reduce={reduce!r} is not available for a dask array input; expected one of "
            f"{list(_LAZY_REDUCE)} (or compute the input first)"
        )
    first = darrays[0]
    ychunks, xchunks = first.chunks[-2], first.chunks[-1]
    out0 = _probe(darrays, func, grid, imageAxes, constant)
    odt = np.dtype(dtype) if dtype is not None else out0.dtype
    lead = tuple(out0.shape[:-2])

    def block(y0: int, y1: int, x0: int, x1: int) -> Any:
        box = Box2I(Point2I(x0, y0), Point2I(x1 - 1, y1 - 1))
        cells = [i for i, b in enumerate(grid.boxes0) if not b.clippedTo(box).isEmpty()]
        ys, xs = _region(grid, cells)

        def compute(where: tuple[int, int, int, int], *parts: list[Any]) -> np.ndarray:
            # ``where`` (the block) is an argument so that the task's name,
            # hashed from the arguments, differs between blocks that read the
            # same chunks.
            return _eager(
                [np.block(p) for p in parts],
                func,
                grid,
                imageAxes,
                reduce,
                constant,
                odt,
                "serial",
                1,
                None,
                False,
                origin=(ys.start, xs.start),
                box=box,
            )

        # The parts travel as their chunks' own keys (not finalised into new
        # ones), so that an input chunk that several blocks read is one task
        # of the graph, loaded once, as in dask's map_overlap.
        parts = [a[..., ys, xs].to_delayed(optimize_graph=False).tolist() for a in darrays]
        return da.from_delayed(
            dask.delayed(compute, pure=True)((y0, y1, x0, x1), *parts),
            shape=(*lead, y1 - y0, x1 - x0),
            dtype=odt,
        )

    yb = np.cumsum((0, *ychunks))
    xb = np.cumsum((0, *xchunks))
    rows = [
        [block(int(yb[j]), int(yb[j + 1]), int(xb[i]), int(xb[i + 1])) for i in range(len(xchunks))]
        for j in range(len(ychunks))
    ]
    out = da.block(rows)
    if out.ndim == ndim:
        out = da.moveaxis(out, (-2, -1), imageAxes)
    return out


def _probe(
    darrays: list[Any],
    func: Callable[..., Any],
    grid: _Grid,
    imageAxes: tuple[int, int],
    constant: float,
) -> np.ndarray:
    """``func``'s result on the first cell (cropped, image axes last), for
    the output's dtype and leading axes, without reading the input: ``func``
    is called on zeros of the inputs' dtypes and the expanded cell's shape,
    as dask infers ``meta`` on stand-in arrays. Only if ``func`` fails on
    zeros is the first cell's input read and ``func`` run on it."""
    region = _region(grid, [0])
    shape = (region[0].stop - region[0].start, region[1].stop - region[1].start)
    origin = (region[0].start, region[1].start)
    stand = [np.zeros((*a.shape[:-2], *shape), a.dtype) for a in darrays]
    try:
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            mapper = _CellMapper(func, stand, origin, grid, imageAxes, "array", constant)
            return mapper.run(_Frame(grid.boxes0[0]), None, grid.full)
    except Exception:
        sample = [a[..., region[0], region[1]].compute() for a in darrays]
        mapper = _CellMapper(func, sample, origin, grid, imageAxes, "array", constant)
        return mapper.run(_Frame(grid.boxes0[0]), None, grid.full)


def _region(grid: _Grid, cells: list[int]) -> tuple[slice, slice]:
    """The smallest (rows, columns) slices of the image that hold every pixel
    the expanded ``cells`` read (padding included)."""
    lo = [math.inf, math.inf]
    hi = [-1, -1]
    for i in cells:
        for a, (idx, _) in enumerate(grid.indices(i)):
            if isinstance(idx, slice):
                a0, a1 = idx.start, idx.stop - 1
            else:
                a0, a1 = int(idx.min()), int(idx.max())
            lo[a], hi[a] = min(lo[a], a0), max(hi[a], a1)
    return slice(int(lo[0]), int(hi[0]) + 1), slice(int(lo[1]), int(hi[1]) + 1)


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
        integers, floats up to ``float64``, complex up to ``complex128``).
        Overlapping cells are combined in floating point (``float32`` for
        types of up to 16 bits, else ``float64``; complex as real and
        imaginary parts); an integer ``average`` is rounded to the nearest
        integer, an integer ``sum`` wraps as numpy's ``astype`` does.
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
    grid = _Grid((H, W), (cx, cy), step, border, modes, bool(keepCellShape))
    lazy = any(_isDask(a) for a in arrays)
    if lazy:
        import dask.array as da

        darrays = [da.moveaxis(da.asarray(a), imageAxes, (-2, -1)) for a in arrays]
        return _lazy(darrays, func, grid, imageAxes, ndim, reduce, constant, dtype)
    moved = [np.moveaxis(a, imageAxes, (-2, -1)) for a in arrays]
    out = _eager(
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
