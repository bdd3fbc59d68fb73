"""Map-reduce over a grid of overlapping cells: the task and its config.

This module re-creates the behaviour of ``lsst.ip.diffim.imageMapReduce``'s
``ImageMapReduceTask`` on top of imagemapper's Rust core: the grid is
generated and the cells are stitched in Rust; only building the cell views
and calling ``mapper.run`` is Python.

Long module: `ImageMapReduceConfig` and `ImageMapReduceTask` keep the
layout of LSST's single ``imageMapReduce`` module (the porting guide maps one
to the other), and the task's run paths share its grid and cell state.
"""

from __future__ import annotations

__all__ = ["ImageMapReduceConfig", "ImageMapReduceTask"]

import contextlib
import inspect
import math
import sys
import time
import weakref
from collections.abc import Generator
from typing import Any, ClassVar, cast

import lsst.pex.config as pexConfig

from .. import _core
from .._core import Box2I
from ..image import Exposure
from ..image.psf import psfFwhm
from ..task import Struct, Task, timeMethod
from ..task._configfields import RangeField
from ._batch import batchSize, equalShapes, gather, resultBatch
from ._edges import EDGE_MODES, EdgeHaloMapper, canonicalEdgeMode, keepCellShape
from ._edges import checkBorder as _checkBorder
from ._executors import (
    CellFailure,
    Stats,
    StitchBehind,
    interactive,
    iterOrderedResults,
    runChunk,
)
from ._mapper import ImageMapper, PassThroughMapper
from ._pools import PoolKeeper
from ._reducer import STITCH_OPERATIONS, ImageReducer

#: The choices of ``edgeModeX`` / ``edgeModeY``: those of ``edgeMode``.
_AXIS_EDGE_MODES = {k: f"as edgeMode {k!r}" for k in EDGE_MODES}


class ImageMapReduceConfig(pexConfig.Config):
    """Configuration of `ImageMapReduceTask`: the grid, the subtasks and the
    execution."""

    mapper = pexConfig.ConfigurableField(
        doc="Task run on every cell; retarget to a subclass of ImageMapper.",
        target=ImageMapper,
    )
    reducer = pexConfig.ConfigurableField(
        doc="Task that combines the per-cell results.",
        target=ImageReducer,
    )
    cellCentroidsX = pexConfig.ListField(
        dtype=float,
        doc="Explicit x centres of the cells (parent pixels relative to the exposure's begin). "
        "When given (with cellCentroidsY) they replace the regular grid.",
        optional=True,
        default=None,
    )
    cellCentroidsY = pexConfig.ListField(
        dtype=float,
        doc="Explicit y centres of the cells (see cellCentroidsX); same length.",
        optional=True,
        default=None,
    )
    cellSizeX = RangeField(
        dtype=float,
        doc="Cell width in pixels (× PSF FWHM when scaleByFwhm).",
        default=10.0,
        min=0.0,
        inclusiveMin=False,
        note="pixels, or units of the PSF FWHM when scaleByFwhm",
    )
    cellSizeY = RangeField(
        dtype=float,
        doc="Cell height in pixels (× PSF FWHM when scaleByFwhm).",
        default=10.0,
        min=0.0,
        inclusiveMin=False,
        note="pixels, or units of the PSF FWHM when scaleByFwhm",
    )
    gridStepX = RangeField(
        dtype=float,
        doc="Distance between cell centres in x (× FWHM when scaleByFwhm); "
        "ignored when adjustGridOption is 'spacing'.",
        default=10.0,
        min=0.0,
        inclusiveMin=False,
        note="pixels, or units of the PSF FWHM when scaleByFwhm",
    )
    gridStepY = RangeField(
        dtype=float,
        doc="Distance between cell centres in y (see gridStepX).",
        default=10.0,
        min=0.0,
        inclusiveMin=False,
        note="pixels, or units of the PSF FWHM when scaleByFwhm",
    )
    borderSizeX = RangeField(
        dtype=float,
        doc="Extra pixels on each side of a cell in x, for the expanded cell "
        "(× FWHM when scaleByFwhm).",
        default=5.0,
        min=0.0,
        note="pixels, or units of the PSF FWHM when scaleByFwhm",
    )
    borderSizeY = RangeField(
        dtype=float,
        doc="Extra pixels on each side of a cell in y (see borderSizeX).",
        default=5.0,
        min=0.0,
        note="pixels, or units of the PSF FWHM when scaleByFwhm",
    )
    adjustGridOption = pexConfig.ChoiceField(
        dtype=str,
        optional=False,
        doc="How the regular grid is fitted to the image.",
        default="spacing",
        allowed={
            "spacing": "keep cellSize; spread W // cellSize + 1 centres evenly over the image",
            "size": "cellSize := gridStep (+1 so that cells leave no gap); centres every gridStep",
            "none": "keep cellSize and gridStep as given",
        },
    )
    scaleByFwhm = pexConfig.Field(
        dtype=bool,
        doc="Multiply cell sizes, steps and borders by the PSF FWHM (needs a PSF).",
        default=True,
    )
    returnSubImages = pexConfig.Field(
        dtype=bool,
        doc="Add the input cell views to each mapper result (inputSubExposure, "
        "inputExpandedSubExposure).",
        default=False,
    )
    readOnlyCells = pexConfig.Field(
        dtype=bool,
        doc="Hand the mapper read-only views of the input (writing to them raises) instead of "
        "the default copy-on-write cells, which a mapper may write into as in LSST (a plane is "
        "copied the first time the mapper asks for it as a writable array; the input is never "
        "modified either way).",
        default=False,
    )
    ignoreMaskPlanes = pexConfig.ListField(
        dtype=str,
        doc="Mask planes a mapper should ignore when computing statistics.",
        default=("INTRP", "EDGE", "DETECTED", "SAT", "CR", "NO_DATA"),
    )
    backend = pexConfig.ChoiceField(
        dtype=str,
        optional=False,
        doc="Where mapper.run is executed.",
        default="threads",
        allowed={
            "serial": "one cell after the other in the calling thread",
            "threads": "a pool of threads (numpy/scipy release the GIL)",
            "processes": "a pool of worker processes (the mapper must pickle)",
            "dask": "a dask.distributed cluster (a client passed to the task, or daskScheduler)",
        },
    )
    numWorkers = RangeField(
        dtype=int,
        doc="Number of workers (threads/processes) and stitching threads; 0 = all usable CPUs.",
        default=0,
        min=0,
        note="0 = all usable CPUs",
    )
    onMapperError = pexConfig.ChoiceField(
        dtype=str,
        optional=False,
        doc="What to do when mapper.run raises.",
        default="raise",
        allowed={
            "raise": "stop and raise an error naming the cell, with the mapper's exception chained",
            "mask": "log a warning; the cell contributes nothing and its uncovered pixels are "
            "flagged with the reducer's badMaskPlanes",
        },
    )
    progress = pexConfig.Field(
        dtype=bool,
        doc="Show a progress bar over cells: None = only in an interactive terminal.",
        optional=True,
        default=None,
    )
    maxCellsInFlight = RangeField(
        dtype=int,
        doc="Most cells submitted to workers but not yet stitched, which bounds the memory "
        "held by results; 0 = four chunks per worker.",
        default=0,
        min=0,
        note="0 = four chunks per worker",
    )
    cellTimeout = RangeField(
        dtype=float,
        doc="Seconds mapper.run may take on one cell; None = no limit. A cell that takes longer "
        "is stopped and counts as failed: a MapperError under onMapperError='raise', a "
        "masked cell under 'mask' (see docs/reliability.md).",
        optional=True,
        default=None,
        min=0.0,
        inclusiveMin=False,
        note="None = no limit",
    )
    daskScheduler = pexConfig.Field(
        dtype=str,
        doc="Address of a dask.distributed scheduler for backend='dask' when no client is "
        "passed to the task.",
        optional=True,
        default=None,
    )
    edgeMode = pexConfig.ChoiceField(
        dtype=str,
        optional=False,
        doc="What the mapper sees beyond the image edge in an expanded cell.",
        default="clip",
        allowed={
            "clip": "the expanded cell is clipped to the image (the LSST reference)",
            "reflect": "padded to the full border by reflection about the edge, the edge pixel "
            "repeated (d c b a | a b c d; scipy.ndimage 'reflect')",
            "nearest": "padded with the nearest edge pixel",
            "constant": "padded with edgeConstant (mask and variance 0)",
            "periodic": "padded with the pixels from the opposite side of the image (wrapped "
            "around; dask 'periodic', scipy.ndimage 'grid-wrap')",
            "wrap": "alias of 'periodic'",
        },
    )
    edgeModeX = pexConfig.ChoiceField(
        dtype=str,
        optional=True,
        doc="edgeMode for the x axis (left and right edges); None = edgeMode.",
        default=None,
        allowed=_AXIS_EDGE_MODES,
    )
    edgeModeY = pexConfig.ChoiceField(
        dtype=str,
        optional=True,
        doc="edgeMode for the y axis (bottom and top edges); None = edgeMode.",
        default=None,
        allowed=_AXIS_EDGE_MODES,
    )
    edgeConstant = pexConfig.Field(
        dtype=float,
        doc="Image value of the padding for edgeMode='constant'.",
        default=0.0,
    )
    keepCellShape = pexConfig.Field(
        dtype=bool,
        doc="Shift cells clipped by the image edge inward so that every cell has the same "
        "shape (and every expanded cell too, by padding with edgeMode or, for 'clip', by "
        "shifting it inside the image), so that cells can be batched.",
        default=False,
    )

    def validate(self) -> None:
        super().validate()
        cx = self.cellCentroidsX or []
        cy = self.cellCentroidsY or []
        if len(cx) != len(cy):
            raise pexConfig.FieldValidationError(
                ImageMapReduceConfig.cellCentroidsY,
                self,
                f"cellCentroidsX has {len(cx)} values but cellCentroidsY has {len(cy)}; "
                "expected the same number",
            )


def usableCpus() -> int:
    import os

    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


class _BoxOnly:
    """What grid generation needs of an exposure: a box and a PSF."""

    def __init__(self, bbox: Box2I, psf: Any) -> None:
        self._bbox, self._psf = bbox, psf

    def getBBox(self) -> Box2I:
        return self._bbox

    def getPsf(self) -> Any:
        return self._psf


class ImageMapReduceTask(Task):
    """Split an exposure into a grid of cells, run a mapper on each and
    reduce the results.

    The grid (``boxes0``: cells, ``boxes1``: cells grown by the border) is
    generated as LSST's ``ImageMapReduceTask`` does, box for box. Each cell is
    handed to ``mapper.run`` as a pair of exposures the mapper may write into
    (copy-on-write: the input is never modified); each worker thread runs its
    own instance of the mapper; the results go to ``reducer.run``.

    Parameters
    ----------
    config : `ImageMapReduceConfig`, optional
        Configuration; the task keeps a reference to it.
    name, parentTask, log
        As for `Task`.
    client : `dask.distributed.Client`, optional
        Client used when ``config.backend == 'dask'``.
    """

    ConfigClass: ClassVar[type[pexConfig.Config]] = ImageMapReduceConfig
    _DefaultName: ClassVar[str] = "ip_diffim_imageMapReduce"
    #: The subtasks (made by ``makeSubtask`` in ``__init__``).
    mapper: ImageMapper
    reducer: ImageReducer

    def __init__(
        self,
        config: ImageMapReduceConfig | None = None,
        *,
        name: str | None = None,
        parentTask: Task | None = None,
        log: Any = None,
        client: Any = None,
    ) -> None:
        super().__init__(config=config, name=name, parentTask=parentTask, log=log)
        self.boxes0: list[Box2I] | None = None
        self.boxes1: list[Box2I] | None = None
        self._gridKey: tuple | None = None
        self._generatedBoxes: tuple[list, list] | None = None
        self.client = client
        # The processes backend's pool stays warm between runs (closed by
        # close(), a with block, when the task is collected, or at exit).
        self._poolKeeper = PoolKeeper()
        weakref.finalize(self, self._poolKeeper.close)
        target = self.config.mapper.target
        if target is ImageMapper:
            # The default target is the abstract base: run its documented
            # pass-through run() (LSST cannot instantiate it at all).
            self.log.warning(
                "config.mapper targets the abstract ImageMapper: cells pass through unchanged. "
                "Retarget it to your subclass: config.mapper.retarget(MyMapper)"
            )
            self.mapper = PassThroughMapper(
                config=self.config.mapper.value, name="mapper", parentTask=self
            )
        elif inspect.isabstract(target):
            raise TypeError(
                f"config.mapper targets the abstract class {target.__name__}; implement its "
                "abstract methods or retarget it: config.mapper.retarget(MyMapper)"
            )
        else:
            self.makeSubtask("mapper")
        self.makeSubtask("reducer")

    # ------------------------------------------------------------ lifetime

    def close(self) -> None:
        """Stop the worker processes the ``processes`` backend keeps warm
        between runs and release their shared copy of the input.

        The task stays usable: a later run starts a new pool. Also done by a
        ``with task:`` block, when the task is garbage-collected, and at
        interpreter exit.
        """
        self._poolKeeper.close()

    def __enter__(self) -> ImageMapReduceTask:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---------------------------------------------------------------- grid

    def _gridConfigKey(self, exposure: Exposure, forceEvenSized: bool) -> tuple:
        c = self.config
        centroids = (tuple(c.cellCentroidsX or ()), tuple(c.cellCentroidsY or ()))
        fwhm = None
        if not centroids[0] and c.scaleByFwhm:
            fwhm = self._psfFwhm(exposure)
        bbox = exposure.getBBox()
        return (
            (bbox.getMinX(), bbox.getMinY(), bbox.getWidth(), bbox.getHeight()),
            c.cellSizeX,
            c.cellSizeY,
            c.gridStepX,
            c.gridStepY,
            c.borderSizeX,
            c.borderSizeY,
            c.adjustGridOption,
            c.scaleByFwhm,
            centroids,
            fwhm,
            bool(forceEvenSized),
            c.keepCellShape,
            self._edgeModes(),
        )

    def _psfFwhm(self, exposure: Exposure) -> float:
        psf = exposure.getPsf()
        if psf is None:
            raise ValueError(
                "config.scaleByFwhm is True but the exposure has no PSF to scale the grid by; "
                "attach one (exposure.setPsf(...)) or set config.scaleByFwhm = False"
            )
        return psfFwhm(psf)

    def _generateGrid(
        self, exposure: Exposure, forceEvenSized: bool = False, **kwargs: Any
    ) -> tuple[list[Box2I], list[Box2I]]:
        """Generate the grid of cells for ``exposure``.

        Fills ``self.boxes0`` (cells) and ``self.boxes1`` (expanded cells) and
        returns them. Other keyword arguments are accepted and ignored.

        Raises
        ------
        ValueError
            For a grid configuration that gives no valid cell size, an
            exposure with no pixel, an explicit centroid outside the exposure,
            or ``scaleByFwhm`` without a PSF.
        RuntimeError
            When ``forceEvenSized`` cannot make a box even-sized.
        """
        c = self.config
        cx = list(c.cellCentroidsX or [])
        cy = list(c.cellCentroidsY or [])
        if len(cx) != len(cy):
            raise ValueError(
                f"cellCentroidsX has {len(cx)} values but cellCentroidsY has {len(cy)}; "
                "expected the same number"
            )
        bbox = exposure.getBBox()
        # From the array when there is one: an empty Box2I forgets which
        # dimension was 0. (Out-of-core sources have a box only.)
        mi = getattr(exposure, "maskedImage", None)
        if mi is not None:
            height, width = mi.image.array.shape
        else:
            width, height = bbox.getWidth(), bbox.getHeight()
        if width < 1 or height < 1:
            raise ValueError(
                f"the exposure is {width} x {height} pixels; expected at least 1 pixel in "
                "each dimension to lay a grid of cells over"
            )
        for i, (x, y) in enumerate(zip(cx, cy)):
            if not (math.isfinite(x) and math.isfinite(y)):
                raise ValueError(
                    f"cellCentroidsX[{i}], cellCentroidsY[{i}] = ({x!r}, {y!r}) is not finite; "
                    "expected pixel coordinates relative to the exposure's origin"
                )
            if not (0 <= x < width and 0 <= y < height):
                # The reference keeps such cells clipped to the image (or drops
                # them when nothing is left): keep its box lists, but say so.
                self.log.warning(
                    "cellCentroidsX[%d], cellCentroidsY[%d] = (%r, %r) is outside the exposure; "
                    "expected 0 <= x < %d and 0 <= y < %d (centroids are relative to the "
                    "exposure's origin xy0 = (%d, %d), not parent coordinates): its cell is "
                    "clipped to the image, or dropped if nothing is left",
                    i,
                    i,
                    x,
                    y,
                    width,
                    height,
                    bbox.getMinX(),
                    bbox.getMinY(),
                )
        fwhm = None
        if not cx and c.scaleByFwhm:
            fwhm = self._psfFwhm(exposure)
            self.log.info("Scaling grid parameters by %f", fwhm)
        boxes0, boxes1 = _core.generate_grid(
            bbox,
            cell_size=(c.cellSizeX, c.cellSizeY),
            grid_step=(c.gridStepX, c.gridStepY),
            border_size=(c.borderSizeX, c.borderSizeY),
            adjust=c.adjustGridOption,
            centroids_x=cx or None,
            centroids_y=cy or None,
            fwhm_scale=fwhm,
            force_even_sized=bool(forceEvenSized),
        )
        self.boxes0, self.boxes1 = list(boxes0), list(boxes1)
        if c.keepCellShape:
            self.boxes0, self.boxes1 = keepCellShape(
                self.boxes0,
                self.boxes1,
                bbox,
                self._borderPixels(exposure),
                "clip" not in self._edgeModes(),
            )
        if not self.boxes0:
            self.log.warning(
                "The grid over the %d x %d exposure has no cell (every cell would be a single "
                "pixel or less): the stitched result will be all NaN and flagged.",
                width,
                height,
            )
        self._gridKey = self._gridConfigKey(exposure, forceEvenSized)
        self._generatedBoxes = (self.boxes0, self.boxes1)
        return self.boxes0, self.boxes1

    def makeGrid(self, bbox: Box2I, psf: Any = None, forceEvenSized: bool = False) -> Struct:
        """The grid of cells over ``bbox``, for drivers that hold no exposure.

        Parameters
        ----------
        bbox : `Box2I`
            The box of the image to cover (parent coordinates).
        psf : optional
            The image's PSF (needed when ``config.scaleByFwhm`` is set).
        forceEvenSized : `bool`
            Make every box even-sized.

        Returns
        -------
        grid : `Struct`
            ``boxes0`` (the cells), ``boxes1`` (the expanded cells), ``border``
            (the border in pixels, x and y, scaled as the grid is) and
            ``numWorkers`` (the configured worker count, 0 resolved to the usable
            CPUs). ``task.boxes0`` and ``task.boxes1`` are set too.

        Raises
        ------
        ValueError, RuntimeError
            As `_generateGrid`.
        """
        shape: Any = _BoxOnly(bbox, psf)
        boxes0, boxes1 = self._generateGrid(shape, forceEvenSized=forceEvenSized)
        return Struct(
            boxes0=boxes0,
            boxes1=boxes1,
            border=self._borderPixels(shape),
            numWorkers=self._numWorkers(),
        )

    def _ensureGrid(self, exposure: Exposure, forceEvenSized: bool = False) -> None:
        """Generate the grid if there is none, or if the one this task made
        is stale (the exposure's box or the grid configuration changed).
        Boxes assigned by the user are used as they are."""
        if self.boxes0 is None or self.boxes1 is None:
            self._generateGrid(exposure, forceEvenSized=forceEvenSized)
            return
        gen = self._generatedBoxes
        ours = gen is not None and self.boxes0 is gen[0] and self.boxes1 is gen[1]
        if ours and self._gridConfigKey(exposure, forceEvenSized) != self._gridKey:
            self.log.info("Exposure box or grid configuration changed: regenerating the grid.")
            self._generateGrid(exposure, forceEvenSized=forceEvenSized)

    # ----------------------------------------------------------------- run

    #: Keyword arguments of `run` that are execution options, not mapper arguments.
    EXECUTION_OPTIONS: ClassVar[tuple[str, ...]] = (
        "backend",
        "numWorkers",
        "onMapperError",
        "progress",
        "maxCellsInFlight",
        "cellTimeout",
    )

    @timeMethod
    def run(self, exposure: Exposure, **kwargs: Any) -> Struct:
        """Map the mapper over the cells of ``exposure`` and reduce.

        Parameters
        ----------
        exposure : `Exposure`
            The input; never modified.
        **kwargs
            Passed on to ``mapper.run`` and ``reducer.run``, except:
            ``doClone`` (hand the mapper eager deep copies of the cells
            instead of copy-on-write cells), and the per-call overrides of the execution
            config fields ``backend``, ``numWorkers``, ``onMapperError``,
            ``progress``, ``maxCellsInFlight`` and ``cellTimeout``. ``forceEvenSized`` makes
            every box even-sized and is also passed to the mapper, as in LSST.

        Returns
        -------
        result : `Struct`
            The reducer's result: ``exposure`` for a stitching reduce,
            ``result`` for ``none`` and ``coaddPsf``. With
            ``onMapperError='mask'`` it also holds ``failedCells``, a list of
            `CellFailure`.

        Raises
        ------
        MapperError
            When ``mapper.run`` raises on a cell, or runs past
            ``cellTimeout`` (the cause is then a `TimeoutError`), and
            ``onMapperError='raise'``.
        """
        opts = self._executionOptions(kwargs)
        doClone = bool(kwargs.pop("doClone", False))
        self.log.info("Mapper sub-task: %s", self.mapper._DefaultName)
        with self._phase("grid"):
            cells = self._cellList(exposure, kwargs.get("forceEvenSized", False))
        self.metadata["numCells"] = len(cells)
        self.log.info("Processing %d sub-exposures", len(cells))
        reducer = self.reducer
        reducer.numThreads = opts["numWorkers"]
        reducer.cellBoxes = self.boxes0
        streaming = (
            type(reducer).run is ImageReducer.run
            and reducer.config.reduceOperation in STITCH_OPERATIONS
        )
        failures: list[CellFailure] = []
        with (
            self._phase("mapReduce"),
            self._progressBar(len(cells), opts["progress"]) as bar,
            # Closed on every exit: an error raised while stitching (a bad
            # result) must shut the worker pool down here, not whenever the
            # generator is garbage-collected, possibly on a pool thread
            # ("cannot join current thread").
            contextlib.closing(
                self._iterOutcomes(exposure, cells, doClone, kwargs, opts, bar)
            ) as outcomes,
        ):
            if streaming and self._rustPath(doClone):
                result = self._reduceInRust(exposure, bar)
            elif streaming and self._batchPath(doClone, opts["backend"]):
                result = self._reduceBatched(exposure, cells, failures, kwargs, opts, bar)
            elif streaming:
                result = self._reduceStreaming(exposure, outcomes, failures, opts)
            else:
                results: list[Any] = []
                for batch in outcomes:
                    results.extend(
                        r for _, r in self._sortOutcomes(batch, failures, opts["onMapperError"])
                    )
                self.log.info("Reducer sub-task: %s", reducer._DefaultName)
                result = self._reduceImage(results, exposure, **kwargs)
        self.metadata["numFailedCells"] = len(failures)
        self.metadata["failedCells"] = [f.index for f in failures]
        if opts["onMapperError"] == "mask":
            result.failedCells = failures
        return result

    def _reduceInRust(self, exposure: Exposure, bar: Any) -> Struct:
        """Map and stitch every cell in Rust (a mapper with ``rustMapReduce``)."""
        self.log.info(
            "Mapper %s runs in Rust: mapping and stitching without Python per cell.",
            type(self.mapper).__name__,
        )
        assert self.boxes0 is not None and self.boxes1 is not None
        stitcher = self.reducer.makeStitcher(exposure)
        newExp, stats = stitcher.runRustMapper(self.mapper, self.boxes0, self.boxes1)
        if bar is not None:
            bar.update(len(self.boxes0))
        self._recordOverlap(stats)
        return Struct(exposure=newExp)

    def _reduceStreaming(
        self, exposure: Exposure, outcomes: Any, failures: list[CellFailure], opts: dict
    ) -> Struct:
        """Stitch batches of results as they arrive (in cell order)."""
        self.log.info("Reducer sub-task: %s (streaming)", self.reducer._DefaultName)
        stitcher = self.reducer.makeStitcher(exposure)

        def stitch(good: list, failed: list[Box2I]) -> None:
            stitcher.add(good)
            stitcher.addFailed(failed)

        # The serial backend maps in this thread: the stitch of a chunk runs
        # behind the mapping of the next (other backends map elsewhere).
        with StitchBehind(opts["backend"] == "serial") as behind:
            for batch in outcomes:
                behind.wait()  # errors in cell order: the previous chunk's first
                nFailed = len(failures)
                good = self._sortOutcomes(batch, failures, opts["onMapperError"])
                behind.call(stitch, good, [f.bbox for f in failures[nFailed:]])
                # Release this batch before the driver submits more cells.
                del batch, good
        newExp, stats = stitcher.finish()
        self._recordOverlap(stats)
        return Struct(exposure=newExp, **stitcher.extraItems())

    def _batchPath(self, doClone: bool, backend: str) -> bool:
        """Whether the mapper's ``runBatch`` can take the cells as stacks."""
        return (
            callable(getattr(self.mapper, "runBatch", None))
            and backend in ("serial", "threads")
            and self._edgeModes() == ("clip", "clip")
            and not self.config.returnSubImages
            and not doClone
            and self.boxes0 is not None
            and self.boxes1 is not None
            and equalShapes(self.boxes0)
            and equalShapes(self.boxes1)
        )

    def _reduceBatched(
        self,
        exposure: Exposure,
        cells: list[tuple[int, Box2I, Box2I]],
        failures: list[CellFailure],
        kwargs: dict[str, Any],
        opts: dict,
        bar: Any,
    ) -> Struct:
        """Map batches of equal-shape cells with ``mapper.runBatch`` and stitch
        them from the stacks (see `imagemapper.mapreduce._batch`)."""
        mapper = self.mapper
        n = batchSize(mapper)
        self.log.info(
            "Mapper %s runs on batches of up to %d equal-shape cells (runBatch).",
            type(mapper).__name__,
            n,
        )
        stitcher = self.reducer.makeStitcher(exposure)
        full = exposure.getBBox()
        for k in range(0, len(cells), n):
            chunk = cells[k : k + n]
            indices = [c[0] for c in chunk]
            subs = gather(exposure, [c[1] for c in chunk])
            expanded = gather(exposure, [c[2] for c in chunk])
            try:
                out = cast(Any, mapper).runBatch(subs, expanded, full, **kwargs)
            except Exception as err:
                self.log.warning(
                    "mapper.runBatch failed on cells %d..%d (%r); running them one by one",
                    indices[0],
                    indices[-1],
                    err,
                )
                outcomes = runChunk(mapper, exposure, chunk, False, False, kwargs)
                nFailed = len(failures)
                stitcher.add(self._sortOutcomes(outcomes, failures, opts["onMapperError"]))
                stitcher.addFailed(f.bbox for f in failures[nFailed:])
            else:
                stitcher.addBatch(indices, resultBatch(indices[0], out))
            del subs, expanded
            if bar is not None:
                bar.update(len(chunk))
        newExp, stats = stitcher.finish()
        self._recordOverlap(stats)
        return Struct(exposure=newExp, **stitcher.extraItems())

    # --------------------------------------------------------- execution

    def _executionOptions(self, kwargs: dict[str, Any]) -> dict[str, Any]:
        """Execution options: config values, overridden by ``run`` keywords."""
        c = self.config
        opts = {name: kwargs.pop(name, getattr(c, name)) for name in self.EXECUTION_OPTIONS}
        choices = cast(Any, ImageMapReduceConfig.backend).allowed
        allowed = sorted(k for k in choices if k is not None)
        if opts["backend"] not in allowed:
            raise ValueError(f"backend={opts['backend']!r} is not one of {allowed}")
        if opts["onMapperError"] not in ("raise", "mask"):
            raise ValueError(
                f"onMapperError={opts['onMapperError']!r} is not one of ['mask', 'raise']"
            )
        n = opts["numWorkers"]
        if not isinstance(n, int) or isinstance(n, bool) or n < 0:
            raise ValueError(f"numWorkers={n!r} must be an integer >= 0 (0 = all usable CPUs)")
        opts["numWorkers"] = n if n > 0 else usableCpus()
        m = opts["maxCellsInFlight"]
        if not isinstance(m, int) or isinstance(m, bool) or m < 0:
            raise ValueError(f"maxCellsInFlight={m!r} must be an integer >= 0 (0 = automatic)")
        t = opts["cellTimeout"]
        if t is not None and (
            not isinstance(t, (int, float))
            or isinstance(t, bool)
            or not (math.isfinite(t) and t > 0)
        ):
            raise ValueError(
                f"cellTimeout={t!r} must be a finite number of seconds > 0, or None for no limit"
            )
        return opts

    def _cellList(self, exposure: Exposure, forceEvenSized: bool) -> list[tuple[int, Box2I, Box2I]]:
        self._ensureGrid(exposure, forceEvenSized=forceEvenSized)
        assert self.boxes0 is not None and self.boxes1 is not None
        if len(self.boxes0) != len(self.boxes1):
            raise ValueError(
                "Bounding boxes list and expanded bounding boxes list are of different lengths: "
                f"{len(self.boxes0)} cells (boxes0) but {len(self.boxes1)} expanded cells (boxes1)"
            )
        return [(i, b0, b1) for i, (b0, b1) in enumerate(zip(self.boxes0, self.boxes1))]

    def _rustPath(self, doClone: bool) -> bool:
        """Whether the mapper is written in Rust and can run entirely there."""
        return (
            callable(getattr(self.mapper, "rustMapReduce", None))
            and self.reducer.config.reduceOperation in ("copy", "sum", "average")
            and self._edgeModes() == ("clip", "clip")
            and not self.config.returnSubImages
            and not doClone
        )

    def _daskClient(self) -> Any:
        if self.client is None and self.config.daskScheduler:
            from distributed import Client

            self.client = Client(self.config.daskScheduler)
        return self.client

    def _iterOutcomes(
        self,
        exposure: Exposure,
        cells: list,
        doClone: bool,
        kwargs: dict[str, Any],
        opts: dict[str, Any],
        bar: Any,
    ) -> Generator[list[Any], None, None]:
        stats = Stats()
        self._driverStats = stats
        gen = iterOrderedResults(
            backend=opts["backend"],
            mapper=self.cellMapper(exposure),
            exposure=exposure,
            cells=cells,
            nWorkers=opts["numWorkers"],
            doClone=doClone,
            returnSubImages=self.config.returnSubImages,
            readOnlyCells=self.config.readOnlyCells,
            kwargs=kwargs,
            maxCellsInFlight=opts["maxCellsInFlight"],
            client=self._daskClient() if opts["backend"] == "dask" else None,
            onChunkDone=bar.update if bar is not None else None,
            stats=stats,
            log=self.log,
            cellTimeout=opts["cellTimeout"],
            poolKeeper=self._poolKeeper,
        )
        try:
            yield from gen
        finally:
            gen.close()
            self.metadata["maxCellsHeld"] = stats.maxHeld
            self.metadata["workerRestarts"] = stats.retries
            self.metadata["numTimedOutCells"] = stats.timeouts

    def _sortOutcomes(
        self, batch: list, failures: list[CellFailure], policy: str
    ) -> list[tuple[int, Any]]:
        good = []
        for index, ok, payload in batch:
            if ok:
                good.append((index, payload))
                continue
            if policy == "raise":
                raise payload.asError()
            self.log.warning(
                "mapper.run failed on cell %d (%s); masking it: %s",
                index,
                payload.bbox,
                payload.error,
            )
            failures.append(payload)
        return good

    def _recordOverlap(self, stats: dict[str, Any]) -> None:
        if self.reducer.config.reduceOperation == "average":
            self.metadata["maxOverlap"] = float(stats["max_weight"])
            self.metadata["meanOverlap"] = float(stats["mean_weight"])
            self.metadata["minOverlap"] = float(stats["min_weight"])
            self.metadata["numZeroOverlapPixels"] = int(stats["n_zero_weight"])
        self.metadata["numBadPixels"] = int(stats["n_bad"])

    @contextlib.contextmanager
    def _phase(self, name: str) -> Any:
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.metadata[f"{name}Time"] = time.perf_counter() - t0

    @contextlib.contextmanager
    def _progressBar(self, total: int, progress: bool | None) -> Any:
        show = interactive() if progress is None else bool(progress)
        if not show:
            yield None
            return
        from tqdm.auto import tqdm

        # Say what runs, not the LSST task name: "GaussianConvolveMapper: 40%|... 8/20 cell".
        label = type(getattr(self, "mapper", None)).__name__
        bar = tqdm(total=total, unit="cell", desc=label, file=sys.stderr)
        try:
            yield bar
        finally:
            bar.close()

    def _runMapper(self, exposure: Exposure, doClone: bool = False, **kwargs: Any) -> list[Struct]:
        """Run the mapper on every cell; returns the results in cell order
        (the LSST two-step API; `run` streams instead).

        Raises
        ------
        ValueError
            When ``boxes0`` and ``boxes1`` differ in length.
        MapperError
            When ``mapper.run`` raises on a cell and ``onMapperError='raise'``.
        """
        opts = self._executionOptions(kwargs)
        cells = self._cellList(exposure, kwargs.get("forceEvenSized", False))
        failures: list[CellFailure] = []
        results: list[Struct] = []
        with (
            self._progressBar(len(cells), opts["progress"]) as bar,
            contextlib.closing(
                self._iterOutcomes(exposure, cells, doClone, kwargs, opts, bar)
            ) as outcomes,
        ):
            for batch in outcomes:
                results.extend(
                    r for _, r in self._sortOutcomes(batch, failures, opts["onMapperError"])
                )
        return results

    def _reduceImage(
        self, mapperResults: list[Struct], exposure: Exposure, **kwargs: Any
    ) -> Struct:
        """Hand the results to the reducer."""
        for name in self.EXECUTION_OPTIONS + ("doClone",):
            kwargs.pop(name, None)
        if not self.reducer.numThreads:
            self.reducer.numThreads = self._numWorkers()
        return self.reducer.run(mapperResults, exposure, **kwargs)

    def _numWorkers(self) -> int:
        n = self.config.numWorkers
        return n if n > 0 else usableCpus()

    # ------------------------------------------------------- edges, border

    def _borderPixels(self, exposure: Exposure) -> tuple[int, int]:
        """The border in pixels (x, y), scaled by the PSF FWHM as the grid is."""
        c = self.config
        scale = 1.0
        if not (c.cellCentroidsX or []) and c.scaleByFwhm:
            scale = self._psfFwhm(exposure)
        return round(c.borderSizeX * scale), round(c.borderSizeY * scale)

    def cellMapper(self, exposure: Exposure) -> Any:
        """The mapper handed to the executors for ``exposure``: the mapper
        itself, or (for ``edgeMode`` other than ``clip``) an `EdgeHaloMapper`
        around it."""
        modes = self._edgeModes()
        if modes == ("clip", "clip"):
            return self.mapper
        border = self._borderPixels(exposure)
        return EdgeHaloMapper(self.mapper, border, modes, self.config.edgeConstant, source=exposure)

    def _edgeModes(self) -> tuple[str, str]:
        """``(x_mode, y_mode)``: ``edgeModeX`` / ``edgeModeY`` where set, else
        ``edgeMode``; ``wrap`` spelled ``periodic``."""
        c = self.config
        return (
            canonicalEdgeMode(c.edgeModeX or c.edgeMode, "edgeModeX"),
            canonicalEdgeMode(c.edgeModeY or c.edgeMode, "edgeModeY"),
        )

    def checkBorder(
        self, exposure: Exposure, nCells: int = 5, seed: int = 0, **kwargs: Any
    ) -> Struct:
        """Check that the border is wide enough for the mapper.

        Runs the mapper on ``nCells`` randomly chosen cells twice, with the
        configured border b and with 2b (the expanded cell grown by b more,
        clipped to the exposure), and compares the outputs inside the cells.
        A border that covers the mapper's footprint gives a difference of
        (close to) 0.

        Parameters
        ----------
        exposure : `Exposure`
            The input (never modified).
        nCells : `int`
            How many cells to try (at most all of them).
        seed : `int`
            Seed of the random choice of cells.
        **kwargs
            Passed to ``mapper.run``.

        Returns
        -------
        result : `Struct`
            ``maxDifference`` (the largest absolute difference over the
            cells), ``cells`` (one `Struct` per cell: ``index``, ``bbox``,
            ``expandedBBox``, ``wideBBox``, ``maxDifference``, ``maxAbsValue``,
            ``nNanMismatch``) and ``border`` (pixels, x and y).
        """
        result = _checkBorder(self, exposure, nCells=nCells, seed=seed, **kwargs)
        for cell in result.cells:
            self.log.info(
                "checkBorder: cell %d %s: max |difference| %g (max |value| %g)",
                cell.index,
                cell.bbox,
                cell.maxDifference,
                cell.maxAbsValue,
            )
        self.log.info(
            "checkBorder: border %s vs twice that: max |difference| %g over %d cells",
            result.border,
            result.maxDifference,
            len(result.cells),
        )
        self.metadata["checkBorderMaxDifference"] = result.maxDifference
        return result

    # ------------------------------------------------------------- helpers

    def plotBoxes(self, fullBBox: Box2I, skip: int = 3) -> Any:
        """Plot every ``skip``-th cell (and its expanded cell) over ``fullBBox``.

        Needs matplotlib (``pip install imagemapper[plot]``) and a grid
        (run the task or call `_generateGrid` first).

        Returns
        -------
        figure : `matplotlib.figure.Figure`
        """
        if self.boxes0 is None or self.boxes1 is None:
            raise RuntimeError("no grid yet: call run() or _generateGrid(exposure) first")
        from ._plot import plotBoxes

        return plotBoxes(self.boxes0, self.boxes1, fullBBox, skip=skip)
