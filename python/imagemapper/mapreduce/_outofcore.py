"""Out-of-core map-reduce: images larger than memory, in and out (the driver; the
sources and sinks it reads and writes are in ``imagemapper.io``).

The input is read lazily, cell by cell (`FitsSource`: only the expanded box
of each cell is read from disk, through astropy's ``section``; `ZarrSource`
for zarr arrays). The output is written band by band (`FitsSink`: rows are
written straight into a preallocated FITS file; `ZarrSink`) as soon as every
cell touching a band has been stitched, so peak memory is the cells in flight
plus one band of accumulators, whatever the image size.

Bands are processed top to bottom. The cells touching a band are mapped (by
the task's backend), stitched into the band in cell-index order — so each
pixel sees its cells in the same order as the in-memory run, and the result
is bit-identical to it — then the band is finalised, written and dropped.
Results of cells that also reach into the next band are kept until then, so
every cell is mapped exactly once.

With dask (`runOutOfCoreDask`), every band is an independent task on a
worker: the worker reads its cells from shared storage, maps and stitches
them and writes the band into a zarr array. Nothing but small descriptions
travels through the client; cells that straddle two bands are mapped by both
band tasks (a cost of about cellHeight / bandHeight extra work).
"""

from __future__ import annotations

__all__ = [
    "FitsSink",
    "FitsSource",
    "ZarrSink",
    "ZarrSource",
    "runOutOfCore",
    "runOutOfCoreDask",
]

import os
from typing import Any

import numpy as np

from .._core import Box2I, Extent2I, Point2I
from ..image import Exposure
from ..io._sinks import FitsSink, ZarrSink
from ..io._sources import FitsSource, ZarrSource
from ..task import Struct
from ._executors import CellFailure, iterOrderedResults, runChunk
from ._reducer import ImageReducer, Stitcher


class _SourceReadError(Exception):
    """A failed read of the input inside a cell task: the run re-raises the
    `OSError` itself (it names the file and HDU), never a mapper failure, under
    any ``onMapperError`` policy."""

    def __init__(self, error: OSError) -> None:
        super().__init__(error)
        self.error = error


class _GuardedSource:
    """A source whose read errors are marked as such (see `_SourceReadError`)."""

    def __init__(self, source: Any) -> None:
        self._source = source

    def __getattr__(self, name: str) -> Any:
        return getattr(self._source, name)

    def readExposure(self, box: Box2I) -> Exposure:
        try:
            return self._source.readExposure(box)
        except OSError as err:
            raise _SourceReadError(err) from err


def _guarded(source: Any) -> Any:
    """``source`` as the executors read it (`_GuardedSource`)."""
    return _GuardedSource(source)


def _raiseReadError(failure: Any) -> None:
    """Re-raise the input's read error that made ``failure``, if it is one."""
    if isinstance(failure.exception, _SourceReadError):
        raise failure.exception.error


# ------------------------------------------------------------------- bands


def _bands(bbox: Box2I, bandHeight: int) -> list[Box2I]:
    out = []
    y = bbox.getMinY()
    while y <= bbox.getMaxY():
        h = min(bandHeight, bbox.getMaxY() - y + 1)
        out.append(Box2I(Point2I(bbox.getMinX(), y), Extent2I(bbox.getWidth(), h)))
        y += h
    return out


def _prepare(
    task: Any, source: Any, bandHeight: int | None, nThreads: int
) -> tuple[Stitcher, list, list]:
    """The grid, the bands and the output's template stitcher; refuses an
    operation the out-of-core drivers cannot do before anything is written."""
    bbox = source.getBBox()
    # Refused first: nothing (not even the grid) is made for an operation
    # that cannot be stitched band by band.
    Stitcher.forSource(task.reducer, bbox, source.dtype, None, [], 1)
    grid = task.makeGrid(bbox, source.getPsf())
    boxes0, boxes1 = grid.boxes0, grid.boxes1
    cells = [(i, b0, b1) for i, (b0, b1) in enumerate(zip(boxes0, boxes1))]
    if bandHeight is None:
        tallest = max((b.getHeight() for b in boxes0), default=1)
        bandHeight = max(256, 4 * tallest)
    if bandHeight < 1:
        raise ValueError(f"bandHeight={bandHeight} must be a positive number of rows")
    template = Stitcher.forSource(
        task.reducer, bbox, source.dtype, source.planes or None, boxes0, nThreads
    )
    return template, cells, _bands(bbox, bandHeight)


def runOutOfCore(
    task: Any,
    source: Any,
    sink: Any = None,
    *,
    outputPath: str | os.PathLike[str] | None = None,
    bandHeight: int | None = None,
    backend: str | None = None,
    numWorkers: int | None = None,
    resume: bool = False,
    outputMetadata: Any = None,
    **kwargs: Any,
) -> Struct:
    """Run ``task`` over a lazily read ``source`` into ``sink``, band by band.

    Parameters
    ----------
    task : `ImageMapReduceTask`
        Its config gives the grid, the mapper and the reduce operation
        (any stitching operation but ``mesh``; others are refused before the
        output exists).
    source : `FitsSource` or `ZarrSource`
        The input.
    sink : `FitsSink` or `ZarrSink`, optional
        The output; or give ``outputPath``: a FITS file, or a zarr
        directory when the name ends in ``.zarr``.
    bandHeight : `int`, optional
        Output rows per band (default: 4 cell heights, at least 256).
    backend, numWorkers
        Override the task's config (``serial`` or ``threads``).
    resume : `bool`, optional
        Continue the partial output a killed or failed run left beside the
        target, from its first band not done; the result is bit-identical
        to an uninterrupted run. A partial output of a different run (config,
        mapper, input, band height, ``kwargs``) is refused with `ValueError`
        naming what differs; with none, the run starts from the beginning.
    outputMetadata : mapping, optional
        Header cards (FITS primary header; zarr attribute ``metadata``) of the
        output made for ``outputPath``, e.g. provenance.
    **kwargs
        Passed to ``mapper.run``.

    Returns
    -------
    result : `Struct`
        ``numCells``, ``numBands``, ``maxCellsHeld`` (cell results held at
        once), ``failedCells`` (of this call), ``resumedBands`` (bands a
        previous run had done) and the ``sink``.

    Raises
    ------
    ValueError
        Before anything is written: the output is the input (also through a
        hard or symbolic link), the operation cannot be stitched band by band.
    OutputLockedError
        (a `BlockingIOError`) another writer holds the output's lock; the
        message names it (process id, host, start time).

    Notes
    -----
    The output is written under a temporary name beside the target and
    renamed into place only when complete (see `FitsSink`, `ZarrSink`): a
    killed or failed run leaves the previous output intact, and its partial
    output and progress record (``.NAME.partial``, ``.NAME.partial.json``)
    for ``resume``. See docs/reliability.md.
    """
    cfg = task.config
    backend = backend or cfg.backend
    if backend not in ("serial", "threads"):
        raise ValueError(
            f"runOutOfCore runs locally with backend 'serial' or 'threads', not {backend!r}; "
            "use runOutOfCoreDask for a cluster"
        )
    if numWorkers is not None and numWorkers > 0:
        nWorkers = numWorkers
    else:
        nWorkers = task.makeGrid(source.getBBox(), source.getPsf()).numWorkers
    template, cells, bands = _prepare(task, source, bandHeight, nWorkers)
    planes = template.planes.getMaskPlaneDict()
    if sink is None and outputPath is None:
        raise ValueError("give a sink or an outputPath")
    _refuseInputAsOutput(source, sink, outputPath)
    if sink is None:
        assert outputPath is not None
        if os.fspath(outputPath).rstrip("/").lower().endswith(".zarr"):
            sink = ZarrSink(
                os.fspath(outputPath),
                source.getBBox(),
                source.dtype,
                planes,
                bands[0].getHeight(),
                metadata=outputMetadata,
            )
        else:
            sink = FitsSink(
                outputPath,
                source.getBBox(),
                source.dtype,
                planes,
                wcs=source.getWcs(),
                metadata=outputMetadata,
            )
    begin = getattr(sink, "begin", None)
    try:
        start = begin(_runRecord(task, source, bands, kwargs), resume) if begin else 0
        struct = _runBands(
            task, source, sink, backend, nWorkers, template, cells, bands, start, kwargs
        )
    except BaseException:
        if hasattr(sink, "abort"):
            sink.abort(keep=True)
        raise
    finally:
        if hasattr(source, "close"):
            source.close()
    if hasattr(sink, "close"):
        sink.close()
    struct.resumedBands = start
    return struct


def _runBands(
    task: Any,
    source: Any,
    sink: Any,
    backend: str,
    nWorkers: int,
    template: Stitcher,
    cells: list,
    bands: list[Box2I],
    start: int,
    kwargs: dict[str, Any],
) -> Struct:
    """Map, stitch and write bands ``start`` onwards (the bands before are done)."""
    cfg = task.config
    policy = cfg.onMapperError
    # Cells in the order their bands need them: by first band touched, then index.
    # Bands all have the first band's height (the last may be shorter), so a
    # row's band is a division; cells lie inside the exposure.
    y0, bandH = bands[0].getMinY(), bands[0].getHeight()
    firstBand = {i: (b0.getMinY() - y0) // bandH for i, b0, _ in cells if not b0.isEmpty()}
    lastBand = {i: (b0.getMaxY() - y0) // bandH for i, b0, _ in cells if not b0.isEmpty()}
    held: dict[int, Any] = {}
    failures: list[CellFailure] = []
    maxHeld = 0
    # Resuming at band ``start``: the cells that reach into it from above are
    # mapped again (mappers are deterministic), as if their first band were it.
    firstBand = {i: max(b, start) for i, b in firstBand.items() if lastBand[i] >= start}
    order = sorted((c for c in cells if c[0] in firstBand), key=lambda c: (firstBand[c[0]], c[0]))
    pos = 0
    commit = getattr(sink, "commit", None)
    for k, band in enumerate(bands):
        if k < start:
            continue
        # Map the cells whose first band is this one.
        todo = []
        while pos < len(order) and firstBand[order[pos][0]] == k:
            todo.append(order[pos])
            pos += 1
        if todo:
            for batch in iterOrderedResults(
                backend=backend,
                mapper=task.mapper,
                exposure=_guarded(source),
                cells=todo,
                nWorkers=nWorkers,
                doClone=False,
                returnSubImages=False,
                kwargs=kwargs,
                maxCellsInFlight=cfg.maxCellsInFlight,
                log=task.log,
            ):
                for index, ok, payload in batch:
                    if ok:
                        held[index] = payload
                        continue
                    _raiseReadError(payload)
                    if policy == "raise":
                        raise payload.asError()
                    else:
                        task.log.warning("mapper.run failed on cell %d; masking it", index)
                        failures.append(payload)
                maxHeld = max(maxHeld, len(held))
        stitcher = template.band(band, source.readMask(band))
        stitcher.add(sorted((i, r) for i, r in held.items() if lastBand[i] >= k))
        stitcher.addFailed(f.bbox for f in failures if f.bbox.overlaps(band))
        image, mask, variance, _ = stitcher.finishArrays()
        sink.writeBand(band, image, mask, variance)
        if commit is not None:
            commit(k + 1)
        for i in [i for i in held if lastBand[i] <= k]:
            del held[i]
        del stitcher, image, mask, variance
    return Struct(
        numCells=len(cells),
        numBands=len(bands),
        maxCellsHeld=maxHeld,
        failedCells=failures,
        sink=sink,
    )


def _sourceName(source: Any) -> str | None:
    """The local path of a source's file or directory, if it has one."""
    name = getattr(source, "path", None) or getattr(source, "store", None)
    if isinstance(name, (str, os.PathLike)) and "://" not in os.fspath(name):
        return os.fspath(name)
    return None


def _refuseInputAsOutput(source: Any, sink: Any, outputPath: Any) -> None:
    """`ValueError` when the output is the input (links included), before anything is written."""
    inPath = _sourceName(source)
    if sink is not None:
        outPath = getattr(sink, "target", None) or _sourceName(sink)
    else:
        outPath = os.fspath(outputPath)
    if inPath is None or outPath is None or not os.path.exists(outPath):
        return
    if os.path.samefile(inPath, outPath):
        raise ValueError(
            f"the output {outPath!r} is the input {inPath!r} (the same file, maybe through a "
            "link): the input would be replaced; choose another output"
        )


def _runRecord(task: Any, source: Any, bands: list[Box2I], kwargs: dict[str, Any]) -> dict:
    """What makes a run's output: a partial output is resumed only by the same run."""
    import hashlib

    from ..io._fitswrite import configDigest

    name = _sourceName(source)
    if name is not None and os.path.exists(name):
        st = os.stat(name)
        inputId = f"{os.path.abspath(name)} ({st.st_size} bytes, mtime {st.st_mtime_ns} ns)"
    else:
        inputId = repr(getattr(source, "store", source))
    mapper = type(task.mapper)
    bbox = source.getBBox()
    return {
        "config": configDigest(task.config),
        "mapper": f"{mapper.__module__}.{mapper.__qualname__}",
        "input": inputId,
        "bbox": [bbox.getMinX(), bbox.getMinY(), bbox.getWidth(), bbox.getHeight()],
        "dtype": str(np.dtype(source.dtype)),
        "bandHeight": bands[0].getHeight(),
        "kwargs": hashlib.sha256(repr(sorted(kwargs.items())).encode()).hexdigest()[:16],
    }


def _processBand(
    mapper: Any,
    source: Any,
    sink: Any,
    shared: tuple[Any, list[Box2I]],
    band: Box2I,
    cells: list,
    kwargs: dict[str, Any],
) -> dict:
    """One dask task: map the cells touching ``band``, stitch, write the band."""
    reducerConfig, boxes0 = shared
    outcomes = runChunk(mapper, _guarded(source), cells, False, False, kwargs, portable=True)
    failures = [p for _, ok, p in outcomes if not ok]
    for failure in failures:
        _raiseReadError(failure)
    if failures:
        raise failures[0].asError()
    template = Stitcher.forSource(
        ImageReducer(config=reducerConfig), source.getBBox(), source.dtype,
        source.planes or None, boxes0, 1,
    )  # fmt: skip
    stitcher = template.band(band, source.readMask(band))
    stitcher.add([(i, r) for i, _, r in outcomes])
    image, mask, variance, stats = stitcher.finishArrays()
    sink.writeBand(band, image, mask, variance)
    if hasattr(source, "close"):
        source.close()
    return {"band": (band.getMinY(), band.getMaxY()), "cells": len(cells), "n_bad": stats["n_bad"]}


def runOutOfCoreDask(
    task: Any,
    source: Any,
    sink: ZarrSink,
    client: Any,
    *,
    bandHeight: int | None = None,
    **kwargs: Any,
) -> Struct:
    """Run ``task`` on a dask cluster: workers read from ``source`` (shared
    storage), map and stitch one band each, and write it into ``sink``.

    The mapper is scattered once; each band task carries only boxes. The
    client never holds pixels. The workers write into the sink's partial
    output; the client publishes it when every band is written (or removes
    it when a band fails: the previous output stays), as `runOutOfCore` does
    (which alone can resume).

    Returns
    -------
    result : `Struct`
        ``numCells``, ``numBands``, ``bandStats`` (per band), ``sink``.
    """
    template, cells, bands = _prepare(task, source, bandHeight, 1)
    if sink.bandHeight != bands[0].getHeight() and len(bands) > 1:
        raise ValueError(
            f"the zarr sink's chunks are {sink.bandHeight} rows but bands are "
            f"{bands[0].getHeight()} rows: make them equal so that no chunk is shared"
        )
    from distributed import as_completed

    from ._executors import dumpsMapper

    _refuseInputAsOutput(source, sink, None)
    dumpsMapper(task.mapper, "dask")
    try:
        sink.begin()  # the workers write into the partial output
        mapperF = client.scatter(task.mapper, broadcast=True, hash=False)
        # One future for the pair (a list given to scatter is scattered item by item).
        sharedF = client.scatter(
            [(task.reducer.config, template.cellBoxes or [])], broadcast=True, hash=False
        )[0]
        futures = []
        for band in bands:
            touching = [c for c in cells if c[1].overlaps(band)]
            futures.append(
                client.submit(
                    _processBand,
                    mapperF,
                    source,
                    sink,
                    sharedF,
                    band,
                    touching,
                    kwargs,
                    pure=False,
                    retries=2,
                )
            )
        stats = [f.result() for f in as_completed(futures)]
    except BaseException:
        sink.abort()
        raise
    sink.close()
    stats.sort(key=lambda s: s["band"])
    return Struct(numCells=len(cells), numBands=len(bands), bandStats=stats, sink=sink)
