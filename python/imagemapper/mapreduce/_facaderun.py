"""Running the façade's cells: eagerly on one of the task's execution backends
(stitching each batch as it arrives, in cell order), or lazily as a dask
array whose blocks are each stitched from the cells that meet them.
"""

from __future__ import annotations

__all__ = ["LAZY_REDUCE", "runEager", "runLazy"]

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

from .._core import Box2I, Point2I
from ..image import Exposure
from ._facadecells import CellMapper, Frame, Grid, readRegion
from ._facadestitch import Stitch

#: Reductions a lazy (dask) input supports: those whose value at a pixel
#: depends only on the cells covering it, in cell order.
LAZY_REDUCE = ("copy", "sum", "average", "max", "min")


# -------------------------------------------------------------------- execution


def _run(
    mapper: CellMapper,
    cells: list[int],
    stitch: Stitch | None,
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
    source: Any = Frame(grid.full)
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


def runEager(
    arrays: list[np.ndarray],
    func: Callable[..., Any],
    grid: Grid,
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
    mapper = CellMapper(func, arrays, origin, grid, imageAxes, mode, constant)
    cells = [i for i, b in enumerate(grid.boxes0) if not b.clippedTo(box).isEmpty()]
    if reduce == "none":
        return _run(mapper, cells, None, backend, numWorkers, client, progress)
    nThreads = numWorkers if numWorkers > 0 else usableCpus()
    stitch = Stitch(reduce, box, grid.boxes0, dtype, nThreads)
    _run(mapper, cells, stitch, backend, numWorkers, client, progress)
    return stitch.finish()


# ------------------------------------------------------------------------- lazy


def runLazy(
    darrays: list[Any],
    func: Callable[..., Any],
    grid: Grid,
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

    if reduce not in LAZY_REDUCE:
        raise ValueError(
            f"reduce={reduce!r} is not available for a dask array input; expected one of "
            f"{list(LAZY_REDUCE)} (or compute the input first)"
        )
    first = darrays[0]
    ychunks, xchunks = first.chunks[-2], first.chunks[-1]
    out0 = _probe(darrays, func, grid, imageAxes, constant)
    odt = np.dtype(dtype) if dtype is not None else out0.dtype
    lead = tuple(out0.shape[:-2])

    def block(y0: int, y1: int, x0: int, x1: int) -> Any:
        box = Box2I(Point2I(x0, y0), Point2I(x1 - 1, y1 - 1))
        cells = [i for i, b in enumerate(grid.boxes0) if not b.clippedTo(box).isEmpty()]
        ys, xs = readRegion(grid, cells)

        def compute(where: tuple[int, int, int, int], *parts: list[Any]) -> np.ndarray:
            # ``where`` (the block) is an argument so that the task's name,
            # hashed from the arguments, differs between blocks that read the
            # same chunks.
            return runEager(
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
    grid: Grid,
    imageAxes: tuple[int, int],
    constant: float,
) -> np.ndarray:
    """``func``'s result on the first cell (cropped, image axes last), for
    the output's dtype and leading axes, without reading the input: ``func``
    is called on zeros of the inputs' dtypes and the expanded cell's shape,
    as dask infers ``meta`` on stand-in arrays. Only if ``func`` fails on
    zeros is the first cell's input read and ``func`` run on it."""
    region = readRegion(grid, [0])
    shape = (region[0].stop - region[0].start, region[1].stop - region[1].start)
    origin = (region[0].start, region[1].start)

    def runOn(arrays: list[np.ndarray]) -> np.ndarray:
        mapper = CellMapper(func, arrays, origin, grid, imageAxes, "array", constant)
        return mapper.run(Frame(grid.boxes0[0]), None, grid.full)

    try:
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            return runOn([np.zeros((*a.shape[:-2], *shape), a.dtype) for a in darrays])
    except Exception:
        return runOn([a[..., region[0], region[1]].compute() for a in darrays])
