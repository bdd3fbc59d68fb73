"""Execution backends: run ``mapper.run`` over the cells and hand the results
back *in cell order*, as they become available, with bounded memory.

Every backend runs the same function, `runChunk`, on chunks of consecutive
cells. The driver (`iterOrderedResults`) submits chunks, waits for any to
finish, keeps finished chunks in a reorder buffer and yields them as soon as
every earlier chunk is done. New chunks are submitted only while the number
of chunks submitted but not yet yielded is below a window: that window bounds
the results held at once, whatever the order in which workers finish.
Because results are always yielded in cell order, the stitched output is the
same bit for bit for any backend, worker count or completion order.
"""

from __future__ import annotations

__all__ = [
    "CellFailure",
    "MapperError",
    "StitchBehind",
    "WorkerStartError",
    "driveChunks",
    "iterOrderedResults",
    "runChunk",
    "workerMappers",
]

import contextlib
import dataclasses
import logging
import os
import pickle
import sys
import traceback
from collections.abc import Callable, Generator, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import numpy as np

from .._core import Box2I
from ..image import Exposure, Image, Mask, MaskedImage
from ..task import Struct
from ._cells import CopyOnWriteSource
from ._mapper import replicateMapper
from ._pools import PoolKeeper, ProcessPool
from ._threadpool import ThreadPool

_log = logging.getLogger(__name__)

#: A cell to process: (index, cell box, expanded cell box).
Cell = tuple[int, Box2I, Box2I]
#: One processed cell: (index, ok, result or CellFailure).
Outcome = tuple[int, bool, Any]


class StitchBehind:
    """Runs calls one at a time, in the order given, on one background
    thread while the caller goes on: the serial driver stitches chunk ``k``
    there while it maps chunk ``k + 1`` (the Rust reducer releases the GIL),
    so the stitch no longer adds to the mapper's time on a machine with a
    core to spare. At most one call is pending: `call` first waits for the
    previous one and raises its error, so errors come in cell order and the
    results held are those of two chunks, as before.

    Not ``enabled``: every call runs at once in the caller's thread. Used as
    a context manager: a normal exit waits for the last call (and raises
    its error); an exit on an error waits for it too (it may not outlive
    the run) and keeps the error that is already on its way.
    """

    def __init__(self, enabled: bool) -> None:
        self._pool = (
            ThreadPoolExecutor(1, thread_name_prefix="imagemapper-stitch") if enabled else None
        )
        self._pending: Future | None = None

    def wait(self) -> None:
        """Wait for the pending call; raise its error."""
        pending, self._pending = self._pending, None
        if pending is not None:
            pending.result()

    def call(self, fn: Callable[..., Any], *args: Any) -> None:
        self.wait()
        if self._pool is None:
            fn(*args)
        else:
            self._pending = self._pool.submit(fn, *args)

    def __enter__(self) -> StitchBehind:
        return self

    def __exit__(self, excType: Any, exc: Any, tb: Any) -> None:
        try:
            if excType is None:
                self.wait()
            else:
                with contextlib.suppress(BaseException):
                    self.wait()
        finally:
            if self._pool is not None:
                self._pool.shutdown(wait=True)


class MapperError(RuntimeError):
    """``mapper.run`` raised on a cell (``onMapperError='raise'``).

    The message names the cell index and both boxes; the mapper's own
    exception is chained as ``__cause__``.
    """


@dataclasses.dataclass(frozen=True)
class CellFailure:
    """A cell whose ``mapper.run`` raised (kept with ``onMapperError='mask'``)."""

    #: Index of the cell in ``task.boxes0``.
    index: int
    #: The cell's box.
    bbox: Box2I
    #: The expanded cell's box.
    expandedBBox: Box2I
    #: ``repr`` of the exception.
    error: str
    #: The formatted traceback from where it was raised (possibly a worker).
    traceback: str
    #: The exception itself when it could be carried back, else None.
    exception: BaseException | None = dataclasses.field(default=None, compare=False)

    def asError(self) -> MapperError:
        """A `MapperError` describing this failure, with the cause chained."""
        err = MapperError(
            f"mapper.run failed on cell {self.index} (cell {self.bbox}, expanded cell "
            f"{self.expandedBBox}): {self.error}\n--- traceback from the mapper ---\n"
            f"{self.traceback}"
        )
        err.__cause__ = self.exception
        return err


def portableException(err: BaseException) -> BaseException | None:
    """The exception if it survives pickling (to cross a process), else None."""
    try:
        pickle.loads(pickle.dumps(err))
    except Exception:
        return None
    return err


def runChunk(
    mapper: Any,
    exposure: Exposure,
    chunk: Sequence[Cell],
    doClone: bool,
    returnSubImages: bool,
    kwargs: dict[str, Any],
    portable: bool = False,
    readOnlyCells: bool = False,
) -> list[Outcome]:
    """Run ``mapper.run`` on each cell of ``chunk``; never raises for a cell.

    Parameters
    ----------
    mapper : `ImageMapper`
        The mapper task.
    exposure : `Exposure`
        The full input exposure.
    chunk : sequence of ``(index, box0, box1)``
        The cells to process.
    doClone : `bool`
        Hand the mapper eager deep copies of the cells.
    returnSubImages : `bool`
        Add the input views to each result.
    kwargs : `dict`
        Keyword arguments for ``mapper.run``.
    portable : `bool`
        Make failures picklable (for results that cross a process).
    readOnlyCells : `bool`
        Hand the mapper read-only views (writes raise) instead of the default
        copy-on-write cells (`CopyOnWriteSource`); ignored with ``doClone``.

    Returns
    -------
    outcomes : `list` of ``(index, ok, result_or_failure)``
    """
    fullBBox = exposure.getBBox()
    if not doClone and isinstance(exposure, Exposure):
        # One read-only view of the whole input per chunk: slices of it are
        # read-only too (their base is a read-only buffer), so each cell's
        # views cost only the slicing; copy-on-write cells copy a plane only
        # when the mapper asks to write it.
        exposure = Exposure(exposure, fullBBox, writeable=False)
    cows = None
    where: list[Any] = []
    out: list[Outcome] = []
    for k, (index, box0, box1) in enumerate(chunk):
        try:
            if hasattr(exposure, "readExposure"):
                # A lazy source (out-of-core input): read only the expanded
                # cell. What was read is the cell's own copy, so the cell is a
                # writable view of it (as LSST's cells share pixels).
                expanded = exposure.readExposure(box1)
                if doClone:
                    sub = Exposure(expanded, box0, deep=True)
                else:
                    if readOnlyCells:
                        expanded = Exposure(expanded, box1, writeable=False)
                    sub = expanded[box0]
            elif doClone:
                sub = Exposure(exposure, box0, deep=True)
                expanded = Exposure(exposure, box1, deep=True)
            elif readOnlyCells:
                sub = exposure[box0]
                expanded = exposure[box1]
            else:
                if cows is None:  # the input's state and the slices, once per chunk
                    cows = CopyOnWriteSource(exposure)
                    where = cows.slicesOf(chunk)
                sub, expanded = cows.pair(box0, box1, where[k])
            result = mapper.run(sub, expanded, fullBBox, **kwargs)
            if returnSubImages:
                if not isinstance(result, Struct):
                    raise TypeError(
                        f"mapper.run returned {type(result).__name__}, expected a Struct"
                    )
                result.mergeItems(
                    Struct(inputSubExposure=sub, inputExpandedSubExposure=expanded),
                    "inputSubExposure",
                    "inputExpandedSubExposure",
                )
            out.append((index, True, result))
        except Exception as err:
            failure = CellFailure(
                index=index,
                bbox=box0,
                expandedBBox=box1,
                error=repr(err),
                traceback=traceback.format_exc(),
                exception=portableException(err) if portable else err,
            )
            out.append((index, False, failure))
    return out


# ------------------------------------------------------------------ process pool

_WORKER_STATE: dict[str, Any] = {}


class WorkerStartError(RuntimeError):
    """A worker process could not start: it failed to import or unpickle
    what it needs (the mapper, ``func``, the shared input).

    The message is one line: the worker's own exception and, where it
    applies, what to change.
    """


#: Signs that a worker re-ran the user's script or could not find what the
#: script defines: the ``if __name__ == "__main__":`` guard is missing.
_MAIN_HINTS = ("__main__", "__mp_main__", "bootstrapping phase", "freeze_support")


def startErrorMessage(name: str, message: str) -> str:
    """One line: the worker's exception (class ``name``, ``message``), and
    the ``__main__`` guard hint when it points at the main module."""
    first = " ".join(message.split())  # one line
    text = f"a worker process could not start: {name}: {first}"
    if "<stdin>" in first:
        text += (
            " (worker processes re-import the main script, which a script read from stdin "
            "cannot be: save it to a file, or use backend='threads')"
        )
    elif any(h in first for h in _MAIN_HINTS):
        text += (
            " (worker processes re-import the main script: put the code that starts the run "
            'under `if __name__ == "__main__":`, or use backend="threads")'
        )
    return text


def startProcessWorker(payload: bytes, attached: dict[str, Any]) -> list[str]:
    """Rebuild the mapper and the shared exposure in a worker process from
    the parent's set-up ``payload``; returns the shared-memory names.

    ``attached`` maps the segments this worker has mapped already to their
    `SharedMemory`, so that a new set-up over the same segments (a warm
    pool's next run) maps nothing again.
    """
    from multiprocessing import shared_memory

    _WORKER_STATE.clear()
    state = pickle.loads(payload)
    mapper = pickle.loads(state["mapper"])

    def attach(spec: tuple[str, tuple[int, ...], str]) -> np.ndarray:
        name, shape, dtype = spec
        shm = attached.get(name)
        if shm is None:
            shm = attached[name] = shared_memory.SharedMemory(name=name)
        arr = np.ndarray(shape, dtype=np.dtype(dtype), buffer=shm.buf)
        arr.flags.writeable = False
        return arr

    xy0 = state["xy0"]
    image = attach(state["image"])
    mask = Mask(attach(state["mask"]), xy0=xy0, planeDict=state["planes"])
    variance = attach(state["variance"])
    exposure = Exposure(
        MaskedImage(Image(image, xy0=xy0), mask, Image(variance, xy0=xy0)),
        psf=state["psf"],
        wcs=state["wcs"],
    )
    _WORKER_STATE.update(mapper=mapper, exposure=exposure, returnSubImages=state["returnSubImages"])
    return [state[k][0] for k in ("image", "mask", "variance")]


def runChunkInProcess(
    chunk: Sequence[Cell], doClone: bool, kwargs: dict[str, Any], readOnlyCells: bool
) -> list[Outcome]:
    """Run one chunk in a worker process, on what `startProcessWorker` set up."""
    st = _WORKER_STATE
    return runChunk(
        st["mapper"],
        st["exposure"],
        chunk,
        doClone,
        st["returnSubImages"],
        kwargs,
        portable=True,
        readOnlyCells=readOnlyCells,
    )


#: Run by `diagnoseStart` in a fresh interpreter: the preparation a worker
#: process makes before anything of ours runs (re-importing the main script
#: as ``__mp_main__``), with its exception printed on one line.
_DIAGNOSE = """
import pickle, sys
from multiprocessing import process, spawn
data = pickle.loads(sys.stdin.buffer.read())
process.current_process()._inheriting = True
try:
    spawn.prepare(data)
except BaseException as err:
    line = " ".join(str(err).split())
    sys.stdout.write("\\nIMAGEMAPPER-START-ERROR " + type(err).__name__ + "\\t" + line + "\\n")
"""


def diagnoseStart() -> str:
    """Why a worker process died before it could run anything: its start-up
    (the preparation multiprocessing makes in every worker) is replayed in
    a subprocess, and the exception it raises is returned as one line."""
    import subprocess
    from multiprocessing import spawn

    try:
        prep = spawn.get_preparation_data("imagemapper-diagnosis")
        prep["authkey"] = bytes(prep["authkey"])  # an AuthenticationString refuses pickling
        data = pickle.dumps(prep)
        done = subprocess.run(
            [sys.executable, "-c", _DIAGNOSE], input=data, capture_output=True, timeout=120
        )
        for line in reversed(done.stdout.decode(errors="replace").splitlines()):
            if line.startswith("IMAGEMAPPER-START-ERROR "):
                name, _, message = line[len("IMAGEMAPPER-START-ERROR ") :].partition("\t")
                return startErrorMessage(name, message)
    except Exception as err:  # pragma: no cover - the diagnosis itself failed
        return f"a worker process died while starting ({err!r} while finding out why)"
    return (
        "a worker process died while starting, before it could report why (see the worker's "
        "traceback above)"
    )


def dumpsMapper(mapper: Any, backend: str) -> bytes:
    """Pickle the mapper with cloudpickle (functions and classes defined in
    ``__main__``, a notebook, lambdas and closures travel by value, as with
    dask), checking that it also unpickles (a task pickles its config as
    code that must import the mapper's class)."""
    import cloudpickle

    try:
        data = cloudpickle.dumps(mapper, protocol=pickle.HIGHEST_PROTOCOL)
        pickle.loads(data)
        return data
    except Exception as err:
        raise TypeError(
            f"backend={backend!r} sends the mapper to other processes, but the mapper "
            f"{type(mapper).__name__} cannot be pickled ({err!r}). Keep no open files, locks "
            "or sockets on it (or on the function it calls), or use backend='threads'."
        ) from err


# ------------------------------------------------------------------------ driver


def _chunks(cells: Sequence[Cell], size: int) -> list[list[Cell]]:
    return [list(cells[i : i + size]) for i in range(0, len(cells), size)]


def chooseChunkSize(nCells: int, nWorkers: int) -> int:
    """Cells per task: about 8 tasks per worker, between 1 and 32 cells."""
    if nCells <= 0:
        return 1
    return int(max(1, min(32, nCells // max(1, 8 * nWorkers))))


class Stats:
    """What the driver measured (for metadata and tests)."""

    def __init__(self) -> None:
        self.maxHeld = 0  # most cells submitted but not yet yielded, at any time
        self.retries = 0  # worker processes that died and were replaced
        self.timeouts = 0  # cells stopped by cellTimeout


def iterOrderedResults(
    *,
    backend: str,
    mapper: Any,
    exposure: Exposure,
    cells: Sequence[Cell],
    nWorkers: int,
    doClone: bool,
    returnSubImages: bool,
    kwargs: dict[str, Any],
    maxCellsInFlight: int = 0,
    chunkSize: int = 0,
    readOnlyCells: bool = False,
    client: Any = None,
    onChunkDone: Callable[[int], None] | None = None,
    stats: Stats | None = None,
    log: Any = None,
    cellTimeout: float | None = None,
    poolKeeper: PoolKeeper | None = None,
) -> Generator[list[Outcome], None, None]:
    """Run the mapper over ``cells``; yield lists of outcomes in cell order.

    Each yielded list continues exactly where the previous one stopped.

    Parameters
    ----------
    backend : `str`
        ``serial``, ``threads``, ``processes`` or ``dask``.
    maxCellsInFlight : `int`
        Bound on cells submitted but not yet yielded (0: 4 chunks per worker).
    chunkSize : `int`
        Cells per task (0: `chooseChunkSize`; 1 with ``cellTimeout``).
    readOnlyCells : `bool`
        Hand the mapper read-only views instead of copy-on-write cells.
    client : `dask.distributed.Client`, optional
        For ``dask``.
    onChunkDone : callable, optional
        Called with the number of cells of each chunk as it finishes (progress).
    cellTimeout : `float`, optional
        Seconds ``mapper.run`` may take on one cell; a cell that takes longer
        becomes a failed cell (`CellFailure` with a `TimeoutError`). Cells are
        then sent to workers one at a time.
    poolKeeper : `PoolKeeper`, optional
        Keeps the ``processes`` pool warm after the run (else it is closed).
    """
    log = log or _log
    stats = stats or Stats()
    nWorkers = max(1, int(nWorkers))
    if backend == "threads" and nWorkers == 1:
        backend = "serial"
    mappers: list[Any] = [mapper]
    if backend == "threads":
        try:
            mappers = workerMappers(mapper, nWorkers)
        except Exception as err:
            log.warning(
                "Cannot make a copy of mapper %s for each worker thread (%s): running its "
                "cells serially. Set threadSafe = True on the mapper if one instance may run "
                "on several threads at once.",
                type(mapper).__name__,
                err,
            )
            backend = "serial"
            nWorkers = 1
    if cellTimeout is not None:
        chunkSize = 1
    size = chunkSize if chunkSize > 0 else chooseChunkSize(len(cells), nWorkers)
    chunks = _chunks(cells, size)
    window = max(1, (maxCellsInFlight // size) if maxCellsInFlight > 0 else 4 * nWorkers)
    if maxCellsInFlight > 0 and maxCellsInFlight < size:
        raise ValueError(
            f"maxCellsInFlight={maxCellsInFlight} is smaller than one chunk of {size} cells"
        )

    cellOpts = {"readOnlyCells": readOnlyCells}
    if backend == "serial" and cellTimeout is None:
        for chunk in chunks:
            stats.maxHeld = max(stats.maxHeld, len(chunk))
            out = runChunk(mapper, exposure, chunk, doClone, returnSubImages, kwargs, **cellOpts)
            if onChunkDone:
                onChunkDone(len(chunk))
            yield out
            out = None  # type: ignore[assignment]
        return

    if backend in ("serial", "threads"):
        # Daemon threads: an interrupted run (Ctrl-C) or a timed-out cell
        # never waits for a mapper that does not return. Under serial (with
        # a cellTimeout) one such thread runs the cells one after the other.
        def runOne(m: Any, chunk: Sequence[Cell]) -> list[Outcome]:
            return runChunk(m, exposure, chunk, doClone, returnSubImages, kwargs, **cellOpts)

        def onTimeout() -> None:
            stats.timeouts += 1

        tpool = ThreadPool(
            mappers[: max(1, len(chunks))],  # no idle threads (numWorkers may be absurd)
            runOne,
            cellTimeout,
            lambda old: _replacementMapper(mapper, old, log),
            onTimeout,
        )

        def tclose(abort: bool, pending: list) -> None:
            tpool.close(abort)

        yield from driveChunks(
            chunks, window, tpool.submit, tpool.waitAny, tclose, onChunkDone, stats
        )
        return

    if backend == "processes":
        nWorkers = max(1, min(nWorkers, len(chunks)))  # no idle processes
        if poolKeeper is not None:
            ppool, warm = poolKeeper.acquire(nWorkers)
        else:
            ppool, warm = ProcessPool(nWorkers), False
        try:
            # Result slots: one per chunk in flight or in the reorder buffer
            # (window), one for the batch the caller works on, one spare.
            ppool.prepare(
                mapper, exposure, returnSubImages, cellTimeout, stats, log, resultSlots=window + 2
            )
        except BaseException:
            if poolKeeper is not None:
                poolKeeper.release(ppool, warm, abort=True)
            else:
                ppool.close(abort=True)
            raise

        def psubmit(chunk: Sequence[Cell]) -> Any:
            return ppool.submit(chunk, doClone, kwargs, readOnlyCells)

        def pclose(abort: bool, pending: list) -> None:
            if poolKeeper is not None:
                poolKeeper.release(ppool, warm, abort)
            else:
                ppool.close(abort=abort)

        yield from driveChunks(chunks, window, psubmit, ppool.waitAny, pclose, onChunkDone, stats)
        return

    if backend == "dask":
        from ._daskbackend import driveDask

        yield from driveDask(
            client,
            mapper,
            exposure,
            chunks,
            window,
            doClone,
            returnSubImages,
            kwargs,
            onChunkDone,
            stats,
            readOnlyCells,
            cellTimeout,
        )
        return

    raise ValueError(f"backend {backend!r} is not one of 'serial', 'threads', 'processes', 'dask'")


def _replacementMapper(mapper: Any, old: Any, log: Any) -> Any:
    """The mapper of a thread that replaces one stopped by ``cellTimeout``:
    a new instance (the old one may still be in use by the abandoned
    thread), or the shared one for a ``threadSafe`` mapper."""
    if getattr(mapper, "threadSafe", False):
        return mapper
    try:
        return replicateMapper(mapper)
    except Exception as err:
        log.warning(
            "Cannot make a new instance of mapper %s for the thread that replaces a timed-out "
            "one (%s): reusing the instance the abandoned thread may still be running.",
            type(mapper).__name__,
            err,
        )
        return old


def workerMappers(mapper: Any, nWorkers: int) -> list[Any]:
    """The mapper instances of ``nWorkers`` worker threads.

    The first is ``mapper`` itself; the others are made by `replicateMapper`,
    unless the mapper declares ``threadSafe = True`` (then all are ``mapper``).

    Raises
    ------
    TypeError
        If the mapper cannot be replicated (see `replicateMapper`).
    """
    if nWorkers <= 1 or getattr(mapper, "threadSafe", False):
        return [mapper] * max(1, nWorkers)
    return [mapper] + [replicateMapper(mapper) for _ in range(nWorkers - 1)]


#: Per-thread mapper instances on dask workers, keyed by the worker's copy of
def driveChunks(
    chunks: list[list[Cell]],
    window: int,
    submit: Callable[[list[Cell]], Any],
    waitAny: Callable[[set], set],
    close: Callable[[bool, list], None],
    onChunkDone: Callable[[int], None] | None,
    stats: Stats,
) -> Iterator[list[Outcome]]:
    """The submit / wait / reorder loop shared by the pool backends.

    ``close(aborted, pending)`` runs on every exit: ``aborted`` unless every
    chunk was yielded (an error, Ctrl-C, or the consumer stopped early).
    """
    futureToChunk: dict[Any, int] = {}
    buffer: dict[int, list[Outcome]] = {}
    nextSubmit = 0
    nextYield = 0
    aborted = True
    try:
        while nextYield < len(chunks):
            while nextSubmit < len(chunks) and nextSubmit < nextYield + window:
                futureToChunk[submit(chunks[nextSubmit])] = nextSubmit
                nextSubmit += 1
            held = sum(len(chunks[i]) for i in range(nextYield, nextSubmit))
            stats.maxHeld = max(stats.maxHeld, held)
            if nextYield not in buffer:
                done = waitAny(set(futureToChunk))
                for fut in done:
                    ci = futureToChunk.pop(fut)
                    buffer[ci] = fut.result()
                    if onChunkDone:
                        onChunkDone(len(chunks[ci]))
                # Drop our references to finished futures (they hold results).
                done = fut = None  # type: ignore[assignment]
            while nextYield in buffer:
                out = buffer.pop(nextYield)
                nextYield += 1
                yield out
                out = None  # type: ignore[assignment]
        aborted = False
    finally:
        close(aborted, list(futureToChunk))


def interactive() -> bool:
    """True when a progress bar is wanted by default: a terminal, not CI."""
    if os.environ.get("CI"):
        return False
    try:
        return sys.stderr.isatty()
    except Exception:
        return False
