"""The process pool of the ``processes`` backend: per-cell timeouts, Ctrl-C,
parent death, a pool kept warm across runs.

`ProcessPool`
    Worker processes started with ``forkserver`` (``spawn`` where there is
    none), one duplex pipe each, that map the input's pixels from shared
    memory. The parent sends each worker at most `DEPTH` chunks ahead, so a
    worker keeps computing while the parent stitches. Each chunk's results
    come back through a shared-memory *result slot* of the parent's
    (`~imagemapper.mapreduce._shm`): the worker writes the arrays' pixels
    there and sends only a small pickle; the parent stitches from views of
    the slot. A worker that runs a cell past ``cellTimeout`` is killed
    (SIGKILL: this works whatever the mapper is doing) and replaced; a
    worker that dies is replaced and its chunks are run again. Every worker
    watches a pipe whose only writer is the parent: when the parent dies
    (even by SIGKILL) the pipe reads EOF, and the worker unlinks the shared
    memory (the input's and the result slots) and exits. The pool uses no
    semaphores. A pool kept by a task (`PoolKeeper`) stays warm across
    runs: its processes, its shared copy of the input and its result slots
    are reused, and only what changed (the pixels, the mapper, the
    metadata) is sent again.

What runs in a worker is in `~imagemapper.mapreduce._procworker`; the thread
pool is in `~imagemapper.mapreduce._threadpool`.
"""

from __future__ import annotations

__all__ = ["DEPTH", "PoolKeeper", "ProcessPool"]

import atexit
import collections
import contextlib
import multiprocessing
import pickle
import threading
import time
import weakref
from concurrent.futures import Future
from multiprocessing import connection as mpconn
from typing import Any

import numpy as np

from ._procworker import workerMain
from ._shm import ResultSlots, sameBytes, shmName
from ._threadpool import POLL, timeoutOutcomes

#: Chunks sent to a worker process ahead of the one it runs.
DEPTH = 2


class _Proc:
    """The parent's view of one worker process."""

    __slots__ = ("conn", "inflight", "proc", "readyError", "started", "version")

    def __init__(self, proc: Any, conn: Any) -> None:
        self.proc = proc
        self.conn = conn
        #: Task ids sent and not answered, in the order sent.
        self.inflight: collections.deque[int] = collections.deque()
        #: (taskId, monotonic start) of the timed chunk it runs.
        self.started: tuple[int, float] | None = None
        #: The set-up version it was sent, and whether it failed.
        self.version = -1
        self.readyError: str | None = None


class _Task:
    __slots__ = ("area", "chunk", "doClone", "future", "kwargs", "readOnlyCells", "slot", "worker")

    def __init__(self, chunk: Any, doClone: bool, kwargs: Any, readOnlyCells: bool) -> None:
        self.chunk = chunk
        self.doClone = doClone
        self.kwargs = kwargs
        self.readOnlyCells = readOnlyCells
        self.future: Future = Future()
        self.worker: _Proc | None = None
        #: The result slot its worker writes into (kept when it is requeued).
        self.slot: Any = None
        #: Pixels of its cells (to size result slots).
        self.area = sum(box0.getWidth() * box0.getHeight() for _, box0, _ in chunk)


class ProcessPool:
    """Worker processes sharing the input's pixels; see the module docstring.

    Use: `prepare` at the start of each run (shares the input, starts or
    updates the workers), `submit` / `waitAny` during the run, `finishRun`
    or `close` after it.
    """

    def __init__(self, nWorkers: int) -> None:
        self.nWorkers = nWorkers
        self.closed = False
        self._ctx = multiprocessing.get_context(
            "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"
        )
        # The workers' parent-death pipe: the parent keeps the only write end.
        self._aliveR, self._aliveW = self._ctx.Pipe(duplex=False)
        self._workers: list[_Proc] = []
        self._shms: dict[str, Any] = {}  # plane -> SharedMemory
        self._layouts: dict[str, tuple] = {}  # plane -> (shape, dtype) it holds
        self._payload: bytes | None = None
        self._version = 0
        self._tasks: dict[int, _Task] = {}
        self._queue: collections.deque[int] = collections.deque()
        self._nextId = 0
        self._timeout: float | None = None
        self._deaths = 0
        self._maxRestarts = 2
        self._stats: Any = None
        self._log: Any = None
        #: Where the workers write results (see `~imagemapper.mapreduce._shm`).
        self._slots = ResultSlots()
        #: Result bytes per cell pixel guessed before any result was seen.
        self._guessPerPixel = 0.0
        _LIVE.add(self)

    # ------------------------------------------------------------ set-up

    def prepare(
        self,
        mapper: Any,
        exposure: Any,
        returnSubImages: bool,
        cellTimeout: float | None,
        stats: Any,
        log: Any,
        resultSlots: int = 8,
    ) -> None:
        """Share the input and the mapper with the workers for a run.

        Planes whose shape and dtype are unchanged reuse their shared
        memory, and are copied again only when their pixels differ.
        ``resultSlots``: the most result slots to hold (chunks in flight
        and held by the caller; a caller that keeps more results makes
        the pool retire slots, see `~imagemapper.mapreduce._shm`).

        Raises
        ------
        WorkerStartError
            When a worker cannot start.
        TypeError
            When the mapper does not pickle.
        """
        from . import _executors as ex

        assert not self.closed
        self._timeout = cellTimeout
        self._stats = stats
        self._log = log
        self._deaths = 0
        mapperBytes = ex.dumpsMapper(mapper, "processes")
        # Workers start before anything is shared: a process that re-imports
        # a main script without the ``__main__`` guard fails here, in
        # Process.start, holding no shared memory; were it killed (a worker
        # that failed first closes the pool) with segments made, they would
        # outlive it and the resource tracker would report them as leaked.
        self._workers = [w for w in self._workers if w.proc.is_alive() or self._reap(w)]
        while len(self._workers) < self.nWorkers:
            self._spawn()
        mi = exposure.maskedImage
        specs = {}
        for key, arr in (
            ("image", mi.image.array),
            ("mask", mi.mask.array),
            ("variance", mi.variance.array),
        ):
            specs[key] = self._share(key, arr)
        # A first guess of what a cell's results take: the input's planes.
        self._guessPerPixel = float(
            mi.image.array.itemsize + mi.mask.array.itemsize + mi.variance.array.itemsize
        )
        self._slots.limit = max(1, resultSlots)
        bbox = exposure.getBBox()
        state = dict(
            specs,
            xy0=(bbox.getMinX(), bbox.getMinY()),
            psf=exposure.getPsf(),
            wcs=exposure.getWcs(),
            planes=exposure.mask.getMaskPlaneDict(),
            returnSubImages=returnSubImages,
            mapper=mapperBytes,  # unpickled by each worker (cloudpickle output)
        )
        payload = pickle.dumps(state)
        if payload != self._payload:
            self._payload = payload
            self._version += 1
        for w in self._workers:
            self._sendSetup(w)
        # Wait until every worker has its set-up: a worker that cannot start
        # raises one WorkerStartError here (from _pump), with the worker's
        # own exception.
        while any(w.readyError == "" for w in self._workers):
            self._pump(POLL, starting=True)

    def _share(self, key: str, arr: np.ndarray) -> tuple[str, tuple[int, ...], str]:
        """Put one plane in shared memory: the segment of the last run when
        the shape and dtype match (copied into only if the bytes differ),
        else a new one."""
        from multiprocessing import shared_memory

        arr = np.ascontiguousarray(arr)
        layout = (arr.shape, arr.dtype.str)
        shm = self._shms.get(key)
        if shm is not None and self._layouts.get(key) == layout:
            view = np.ndarray(arr.shape, arr.dtype, buffer=shm.buf)
            if not sameBytes(view, arr):
                view[...] = arr
        else:
            self._unlink(key)
            shm = shared_memory.SharedMemory(create=True, size=max(1, arr.nbytes), name=shmName())
            self._shms[key] = shm
            self._layouts[key] = layout
            np.ndarray(arr.shape, arr.dtype, buffer=shm.buf)[...] = arr
        return (shm.name, arr.shape, arr.dtype.str)

    def _unlink(self, key: str) -> None:
        shm = self._shms.pop(key, None)
        if shm is None:
            return
        with contextlib.suppress(Exception):
            shm.unlink()
        with contextlib.suppress(Exception):
            shm.close()

    def _spawn(self) -> None:
        parentConn, childConn = self._ctx.Pipe(duplex=True)
        proc = self._ctx.Process(  # type: ignore[attr-defined]
            target=workerMain,
            args=(childConn, self._aliveR),
            name="imagemapper-worker",
            daemon=False,
        )
        proc.start()
        childConn.close()
        self._workers.append(_Proc(proc, parentConn))
        names = self._slots.names()
        if names:
            with contextlib.suppress(OSError):
                parentConn.send(("slots", names))

    def _sendSetup(self, w: _Proc) -> None:
        if w.version == self._version:
            return
        w.version = self._version
        w.readyError = ""  # "" = waiting for the answer
        try:
            w.conn.send(("setup", self._version, self._payload))
        except OSError:
            pass  # it died: seen by _pump

    # --------------------------------------------------------------- run

    def submit(
        self, chunk: Any, doClone: bool, kwargs: dict[str, Any], readOnlyCells: bool
    ) -> Future:
        task = _Task(chunk, doClone, kwargs, readOnlyCells)
        tid = self._nextId
        self._nextId += 1
        self._tasks[tid] = task
        self._queue.append(tid)
        self._dispatch()
        return task.future

    def _dispatch(self) -> None:
        timed = self._timeout is not None
        for w in self._workers:
            while self._queue and len(w.inflight) < DEPTH and not w.readyError:
                tid = self._queue.popleft()
                task = self._tasks[tid]
                if task.future.cancelled():
                    del self._tasks[tid]
                    continue
                task.worker = w
                w.inflight.append(tid)
                slot = self._slotFor(tid, task)
                try:
                    w.conn.send(
                        ("chunk", tid, task.chunk, task.doClone, task.kwargs, task.readOnlyCells,
                         timed, slot)
                    )  # fmt: skip
                except OSError:
                    break  # it died: seen by _pump, which requeues its chunks

    def _slotFor(self, tid: int, task: _Task) -> tuple[str, int] | None:
        """The result slot of a chunk about to be sent, as ``(name, size)``;
        tells every worker when the set of slots changed."""
        if task.slot is None:
            perPixel = self._slots.perPixel or self._guessPerPixel
            want = int(task.area * perPixel) + 4096 * len(task.chunk)
            task.slot = self._slots.take(tid, want)
        if self._slots.changed:
            self._slots.changed = False
            names = self._slots.names()
            for other in self._workers:
                with contextlib.suppress(OSError):
                    other.conn.send(("slots", names))
        return None if task.slot is None else (task.slot.name, task.slot.size)

    def _forget(self, task: _Task | None, need: int = 0) -> None:
        """A task is over: its slot may be given to another chunk once
        nothing refers to the results made from it."""
        if task is not None:
            self._slots.release(task.slot, need, task.area)
            task.slot = None

    def waitAny(self, pending: set) -> set:
        """Wait until one of ``pending`` is done, handling worker deaths and
        expiring timed-out cells meanwhile."""
        while True:
            done = {f for f in pending if f.done()}
            if done:
                return done
            timeout = POLL
            if self._timeout is not None:
                starts = [w.started[1] for w in self._workers if w.started is not None]
                if starts:
                    timeout = min(timeout, max(0.0, min(starts) + self._timeout - time.monotonic()))
            self._pump(timeout + 0.005)

    def _pump(self, timeout: float, starting: bool = False) -> None:
        """Read what the workers sent; notice deaths and expired cells."""
        objs: list[Any] = []
        for w in self._workers:
            objs += [w.conn, w.proc.sentinel]
        ready = set(mpconn.wait(objs, timeout=timeout)) if objs else set()
        dead = []
        for w in list(self._workers):
            if w.conn in ready:
                try:
                    while w.conn.poll():
                        self._handle(w, w.conn.recv())
                except (EOFError, OSError):
                    dead.append(w)
                    continue
            if w.proc.sentinel in ready or not w.proc.is_alive():
                # Read what it sent before it died, then replace it.
                with contextlib.suppress(EOFError, OSError):
                    while w.conn.poll():
                        self._handle(w, w.conn.recv())
                dead.append(w)
        for w in dict.fromkeys(dead):
            self._died(w, starting)
        for w in self._workers:
            if w.readyError:
                from ._executors import WorkerStartError

                message = w.readyError
                self.close(abort=True)
                raise WorkerStartError(message)
        if self._timeout is not None:
            self._expire()
        self._dispatch()

    def _handle(self, w: _Proc, msg: tuple) -> None:
        kind = msg[0]
        if kind == "ready":
            _, version, error = msg
            if version == w.version:
                w.readyError = error
            return
        if kind == "start":
            w.started = (msg[1], msg[2])
            return
        tid = msg[1]
        if w.started is not None and w.started[0] == tid:
            w.started = None
        with contextlib.suppress(ValueError):
            w.inflight.remove(tid)
        task = self._tasks.pop(tid, None)
        if task is None:
            return
        if task.future.done():
            self._forget(task)
        elif kind == "slot":
            try:
                outcomes = self._slots.load(task.slot, msg[2])
            except BaseException as err:
                task.future.set_exception(err)
            else:
                task.future.set_result(outcomes)
            self._forget(task, msg[3])
        elif kind == "done":
            self._slots.piped += 1
            task.future.set_result(msg[2])
            self._forget(task, msg[3])
        else:
            task.future.set_exception(msg[2])
            self._forget(task)

    def _reap(self, w: _Proc) -> bool:
        with contextlib.suppress(Exception):
            w.conn.close()
        with contextlib.suppress(Exception):
            w.proc.join(timeout=1)
        return False

    def _requeue(self, w: _Proc) -> None:
        # Its chunks go first, in their order: they are the oldest.
        for tid in reversed(w.inflight):
            if tid in self._tasks:
                self._tasks[tid].worker = None
                self._queue.appendleft(tid)
        w.inflight.clear()
        w.started = None

    def _died(self, w: _Proc, starting: bool) -> None:
        from . import _executors as ex

        self._workers.remove(w)
        self._reap(w)
        if starting and w.readyError == "":
            # It died before it could say why (e.g. re-importing the main script).
            self.close(abort=True)
            raise ex.WorkerStartError(ex.diagnoseStart())
        self._requeue(w)
        self._deaths += 1
        if self._deaths > self._maxRestarts:
            err = RuntimeError(
                "a worker process died while running the mapper (killed, out of memory or "
                f"crashed) and {self._maxRestarts} restart(s) did not help; no result was "
                "returned"
            )
            for task in self._tasks.values():
                self._forget(task)
                if not task.future.done():
                    task.future.set_exception(err)
            self._tasks.clear()
            self._queue.clear()
            return
        if self._stats is not None:
            self._stats.retries += 1
        if self._log is not None:
            self._log.warning("A worker process died; starting another and retrying its cells.")
        self._spawn()
        self._sendSetup(self._workers[-1])

    def _expire(self) -> None:
        assert self._timeout is not None
        now = time.monotonic()
        for w in list(self._workers):
            if w.started is None or now - w.started[1] < self._timeout:
                continue
            # What it sent meanwhile (the cell may just have finished).
            with contextlib.suppress(EOFError, OSError):
                while w.conn.poll():
                    self._handle(w, w.conn.recv())
            if w.started is None or now - w.started[1] < self._timeout:
                continue
            tid = w.started[0]
            w.started = None
            with contextlib.suppress(ValueError):
                w.inflight.remove(tid)
            task = self._tasks.pop(tid, None)
            self._forget(task)
            self._kill([w])
            self._workers.remove(w)
            self._reap(w)
            self._requeue(w)
            if task is not None and not task.future.done():
                task.future.set_result(timeoutOutcomes(task.chunk, self._timeout, "worker process"))
            if self._stats is not None:
                self._stats.timeouts += 1
            self._spawn()
            self._sendSetup(self._workers[-1])

    # ------------------------------------------------------------- close

    def finishRun(self) -> None:
        """The run is over: forget what is left (nothing, after a complete run)."""
        for task in self._tasks.values():
            self._forget(task)
            task.future.cancel()
        self._tasks.clear()
        self._queue.clear()
        self._stats = None

    @staticmethod
    def _kill(workers: list[_Proc]) -> None:
        for w in workers:
            with contextlib.suppress(Exception):
                w.proc.kill()

    def close(self, abort: bool = False) -> None:
        """Stop the workers (asking them, or with ``abort`` killing them at
        once) and release the shared memory."""
        if self.closed:
            return
        self.closed = True
        _LIVE.discard(self)
        workers, self._workers = self._workers, []
        if abort:
            self._kill(workers)
        else:
            for w in workers:
                with contextlib.suppress(Exception):
                    w.conn.send(("stop",))
        deadline = time.monotonic() + (2.0 if abort else 5.0)
        for w in workers:
            with contextlib.suppress(Exception):
                w.proc.join(timeout=max(0.0, deadline - time.monotonic()))
        self._kill([w for w in workers if w.proc.is_alive()])
        for w in workers:
            self._reap(w)
        for key in list(self._shms):
            self._unlink(key)
        for task in self._tasks.values():
            self._forget(task)
            task.future.cancel()
        self._slots.close()
        self._tasks.clear()
        self._queue.clear()
        for c in (self._aliveR, self._aliveW):
            with contextlib.suppress(Exception):
                c.close()


#: Pools not yet closed: closed at interpreter exit.
_LIVE: weakref.WeakSet[ProcessPool] = weakref.WeakSet()


@atexit.register
def _closeAll() -> None:
    for pool in list(_LIVE):
        with contextlib.suppress(Exception):
            pool.close()


class PoolKeeper:
    """The warm process pool of one task.

    `acquire` hands out the pool for a run (starting one, or replacing one
    of another size); `release` keeps it warm after a complete run and
    closes it after an interrupted or failed one. A second run that asks
    while the pool is in use (another thread) gets a pool of its own,
    closed after its run.

    At most `MAX_WARM` pools are kept warm in a process: starting another
    closes the least recently used idle one.
    """

    MAX_WARM = 2
    _ORDER: collections.OrderedDict[int, PoolKeeper] = collections.OrderedDict()
    _ORDER_LOCK = threading.Lock()

    def __init__(self) -> None:
        self.pool: ProcessPool | None = None
        self._lock = threading.Lock()

    def acquire(self, nWorkers: int) -> tuple[ProcessPool, bool]:
        """The pool for a run and whether it is this keeper's (warm) one."""
        if not self._lock.acquire(blocking=False):
            return ProcessPool(nWorkers), False
        try:
            if self.pool is not None and (self.pool.closed or self.pool.nWorkers != nWorkers):
                self.pool.close()
                self.pool = None
            if self.pool is None:
                self._evictOthers()
                self.pool = ProcessPool(nWorkers)
            with self._ORDER_LOCK:
                self._ORDER[id(self)] = self
                self._ORDER.move_to_end(id(self))
            return self.pool, True
        except BaseException:
            self._lock.release()
            raise

    def release(self, pool: ProcessPool, warm: bool, abort: bool) -> None:
        """After a run: keep the pool warm, or close it."""
        if not warm:
            pool.close(abort=abort)
            return
        try:
            if abort:
                pool.close(abort=True)
                self.pool = None
            else:
                pool.finishRun()
        finally:
            self._lock.release()

    def _evictOthers(self) -> None:
        with self._ORDER_LOCK:
            others = [k for k in self._ORDER.values() if k is not self]
            excess = len(others) - (self.MAX_WARM - 1)
            victims = others[: max(0, excess)]
        for k in victims:
            k.close(blocking=False)

    def close(self, blocking: bool = True) -> None:
        """Stop the warm pool's workers and release its shared memory."""
        if not self._lock.acquire(blocking=blocking):
            return  # in use by a run: it closes itself when that run ends
        try:
            if self.pool is not None:
                self.pool.close()
                self.pool = None
            with self._ORDER_LOCK:
                self._ORDER.pop(id(self), None)
        finally:
            self._lock.release()
