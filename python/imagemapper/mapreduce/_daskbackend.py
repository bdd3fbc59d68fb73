"""The ``dask`` backend: chunks of cells as ``dask.distributed`` tasks.

The mapper and the exposure are scattered to every worker once per run;
each chunk is one task that runs `runChunk` on a worker thread, with a
mapper instance of that thread's own. Results come back in cell order
through the driver shared with the pools (`driveChunks`).
"""

from __future__ import annotations

__all__ = ["currentDaskClient", "driveDask"]

import concurrent.futures
import contextlib
import threading
import weakref
from collections.abc import Callable, Iterator, Sequence
from typing import Any, cast

from ..image import Exposure
from ._executors import Cell, Outcome, Stats, driveChunks, dumpsMapper, runChunk
from ._mapper import replicateMapper
from ._threadpool import Abandon, asyncRaise, timeoutOutcomes

#: the scattered mapper (a worker runs tasks on several threads).
_THREAD_MAPPERS = threading.local()
_CLAIMED: weakref.WeakSet[Any] = weakref.WeakSet()
_CLAIM_LOCK = threading.Lock()


def _threadMapper(mapper: Any) -> Any:
    """This thread's instance of ``mapper``: the first thread to ask uses
    ``mapper`` itself, every other thread a replica of its own."""
    if getattr(mapper, "threadSafe", False):
        return mapper
    own = getattr(_THREAD_MAPPERS, "byMapper", None)
    if own is None:
        own = _THREAD_MAPPERS.byMapper = weakref.WeakKeyDictionary()
    mine = own.get(mapper)
    if mine is None:
        with _CLAIM_LOCK:
            claimed = mapper in _CLAIMED
            _CLAIMED.add(mapper)
        mine = replicateMapper(mapper) if claimed else mapper
        own[mapper] = mine
    return mine


def _runChunkOnDaskWorker(
    mapper: Any,
    exposure: Exposure,
    chunk: Sequence[Cell],
    doClone: bool,
    returnSubImages: bool,
    kwargs: dict[str, Any],
    readOnlyCells: bool,
    cellTimeout: float | None = None,
) -> list[Outcome]:
    own = _threadMapper(mapper)

    def run() -> list[Outcome]:
        return runChunk(
            own,
            exposure,
            chunk,
            doClone,
            returnSubImages,
            kwargs,
            portable=True,
            readOnlyCells=readOnlyCells,
        )

    if cellTimeout is None:
        return run()
    # A dask task cannot be killed: the cell runs on a daemon thread of its
    # own, which is abandoned (and asked to stop) when it runs too long; this
    # dask thread then takes a new mapper instance.
    box: dict[str, Any] = {}

    def target() -> None:
        with contextlib.suppress(Abandon):
            box["out"] = run()

    helper = threading.Thread(target=target, name="imagemapper-cell", daemon=True)
    helper.start()
    helper.join(cellTimeout)
    if "out" in box:
        return box["out"]
    asyncRaise(helper)
    if not getattr(mapper, "threadSafe", False):
        with contextlib.suppress(Exception):
            _THREAD_MAPPERS.byMapper[mapper] = replicateMapper(mapper)
    return timeoutOutcomes(chunk, cellTimeout, "dask worker thread")


#: How often a chunk is resubmitted when the scattered inputs it needs were lost.
_DASK_RESUBMITS = 3


def driveDask(
    client: Any,
    mapper: Any,
    exposure: Exposure,
    chunks: list[list[Cell]],
    window: int,
    doClone: bool,
    returnSubImages: bool,
    kwargs: dict[str, Any],
    onChunkDone: Callable[[int], None] | None,
    stats: Stats,
    readOnlyCells: bool = False,
    cellTimeout: float | None = None,
) -> Iterator[list[Outcome]]:
    try:
        from distributed import wait as dwait
    except ImportError as err:  # pragma: no cover - optional extra
        raise ImportError(
            "backend='dask' needs dask.distributed: pip install 'imagemapper[dask]'"
        ) from err
    if client is None:
        client = currentDaskClient()
    dumpsMapper(mapper, "dask")
    scattered: list[Any] = []

    def scatter() -> tuple[Any, Any]:
        # Broadcast to the workers alive now; a worker that joins later
        # fetches the data from one that holds it.
        scattered[:] = [
            client.scatter(mapper, broadcast=True, hash=False),
            client.scatter(exposure, broadcast=True, hash=False),
        ]
        return scattered[0], scattered[1]

    scatter()

    def submitFuture(chunk: list[Cell]) -> Any:
        return client.submit(
            _runChunkOnDaskWorker,
            scattered[0],
            scattered[1],
            chunk,
            doClone,
            returnSubImages,
            kwargs,
            readOnlyCells,
            cellTimeout,
            pure=False,
            retries=2,
        )

    class Submitted:
        """A chunk's dask future; when every worker holding the scattered
        mapper or exposure died (the scheduler then forgets them and cancels
        what depends on them), ``result`` scatters them again and resubmits
        the chunk, up to ``_DASK_RESUBMITS`` times."""

        def __init__(self, chunk: list[Cell]) -> None:
            self.chunk = chunk
            self.future = submitFuture(chunk)
            self.resubmits = 0

        def result(self) -> list[Outcome]:
            while True:
                try:
                    return cast("list[Outcome]", self.future.result())
                except concurrent.futures.CancelledError:
                    if self.resubmits >= _DASK_RESUBMITS:
                        raise
                    self.resubmits += 1
                    stats.retries += 1
                    scatter()
                    self.future = submitFuture(self.chunk)

    def submit(chunk: list[Cell]) -> Any:
        return Submitted(chunk)

    def waitAny(pending: set) -> set:
        byFuture = {s.future: s for s in pending}
        try:
            done = dwait(list(byFuture), return_when="FIRST_COMPLETED").done
        except concurrent.futures.CancelledError:
            # wait() raises for cancelled futures: hand those to result(),
            # which resubmits them.
            done = {f for f in byFuture if f.cancelled()}
            if not done:
                raise
        return {byFuture[f] for f in done}

    def close(abort: bool, pending: list) -> None:
        with contextlib.suppress(Exception):
            futures = [s.future for s in pending] if abort else []
            client.cancel([*futures, *scattered])

    yield from driveChunks(chunks, window, submit, waitAny, close, onChunkDone, stats)


def currentDaskClient() -> Any:
    """The current ``dask.distributed`` client (the one a ``with Client():``
    block or the last ``Client()`` made), as dask itself uses it.

    Raises
    ------
    ValueError
        When there is none, saying how to give one.
    """
    from distributed import default_client

    try:
        return default_client()
    except ValueError:
        raise ValueError(
            "backend='dask' found no dask.distributed client: start one "
            "(from distributed import Client; client = Client()), pass client=..., or set "
            "ImageMapReduceConfig.daskScheduler to a scheduler address"
        ) from None
