"""Worker pools that stop cleanly: per-cell timeouts, Ctrl-C, parent death.

Two pools run the chunks of cells that `~imagemapper.mapreduce._executors` hands them:

`ThreadPool`
    Daemon threads, each with its own mapper instance. Nothing waits for a
    worker thread: when a run is interrupted (Ctrl-C, an error) or a cell
    runs past ``cellTimeout``, the thread is abandoned (it is asked to stop
    with an asynchronous exception, which a mapper in Python code sees at
    its next bytecode) and, for a timeout, replaced by a new thread with a
    new mapper instance.

`ProcessPool`
    Worker processes started with ``forkserver`` (``spawn`` where there is
    none), one duplex pipe each, that map the input's pixels from shared
    memory. The parent sends each worker at most `DEPTH` chunks ahead, so a
    worker keeps computing while the parent stitches. A worker that runs a
    cell past ``cellTimeout`` is killed (SIGKILL: this works whatever the
    mapper is doing) and replaced; a worker that dies is replaced and its
    chunks are run again. Every worker watches a pipe whose only writer is
    the parent: when the parent dies (even by SIGKILL) the pipe reads EOF,
    and the worker unlinks the shared memory and exits. The pool uses no
    semaphores. A pool kept by a task (`PoolKeeper`) stays warm across
    runs: its processes and its shared copy of the input are reused, and
    only what changed (the pixels, the mapper, the metadata) is sent again.

Long module: `ProcessPool` holds the parent side of the worker protocol
and `_workerMain` its worker side, which change together; `ThreadPool` and
`PoolKeeper` are the parts to move out if the module grows.
"""

from __future__ import annotations

__all__ = ["DEPTH", "PoolKeeper", "ProcessPool", "ThreadPool", "timeoutOutcomes"]

import atexit
import collections
import contextlib
import ctypes
import multiprocessing
import os
import pickle
import queue
import secrets
import signal
import threading
import time
import weakref
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, wait
from multiprocessing import connection as mpconn
from typing import Any

import numpy as np

#: Chunks sent to a worker process ahead of the one it runs.
DEPTH = 2
#: How often the parent looks at its workers when nothing else wakes it
#: (seconds): bounds how late a dead worker or an expired cell is noticed.
_POLL = 0.25


#: How long closing a thread pool waits for its threads to end (seconds).
_GRACE = 0.25


class Abandon(BaseException):
    """Raised asynchronously in a worker thread that was given up on (a
    timed-out cell, an interrupted run). A `BaseException`, so that a
    mapper's ``except Exception`` does not swallow it."""


def asyncRaise(thread: threading.Thread) -> None:
    """Ask ``thread`` to stop: `Abandon` is raised in it at its next Python
    bytecode (a mapper blocked in C code sees it when it returns)."""
    ident = thread.ident
    if ident is None or not thread.is_alive():
        return
    ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(ident), ctypes.py_object(Abandon))


def timeoutOutcomes(chunk: Sequence[Any], cellTimeout: float, where: str) -> list[Any]:
    """The outcomes of the cells of a chunk that ran past ``cellTimeout``."""
    from ._executors import CellFailure

    out = []
    for index, box0, box1 in chunk:
        err = TimeoutError(
            f"mapper.run did not finish within cellTimeout={cellTimeout:g} s; the {where} was "
            "stopped"
        )
        out.append(
            (
                index,
                False,
                CellFailure(
                    index=index,
                    bbox=box0,
                    expandedBBox=box1,
                    error=repr(err),
                    traceback=f"TimeoutError: {err}\n",
                    exception=err,
                ),
            )
        )
    return out


# ------------------------------------------------------------------ threads


class _ThreadWorker:
    __slots__ = ("abandoned", "mapper", "running", "thread")

    def __init__(self, mapper: Any) -> None:
        self.mapper = mapper
        self.running: tuple[Future, Any, float] | None = None
        self.abandoned = False
        self.thread: threading.Thread | None = None


class ThreadPool:
    """Daemon worker threads, one mapper each; see the module docstring.

    Parameters
    ----------
    mappers : `list`
        One mapper per thread.
    run : callable
        ``run(mapper, chunk) -> outcomes``.
    cellTimeout : `float` or `None`
        Seconds a chunk (then one cell) may run.
    replicate : callable
        Makes the mapper of a thread that replaces a timed-out one.
    onTimeout : callable
        Called once per timed-out chunk.
    """

    def __init__(
        self,
        mappers: list[Any],
        run: Callable[[Any, Any], list[Any]],
        cellTimeout: float | None,
        replicate: Callable[[Any], Any],
        onTimeout: Callable[[], None] = lambda: None,
    ) -> None:
        self._run = run
        self._timeout = cellTimeout
        self._replicate = replicate
        self._onTimeout = onTimeout
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._workers: list[_ThreadWorker] = []
        for m in mappers:
            self._start(m)

    def _start(self, mapper: Any) -> None:
        w = _ThreadWorker(mapper)
        w.thread = threading.Thread(
            target=self._loop, args=(w,), name="imagemapper-worker", daemon=True
        )
        self._workers.append(w)
        w.thread.start()

    def _loop(self, w: _ThreadWorker) -> None:
        try:
            while True:
                item = self._queue.get()
                if item is None:
                    return
                fut, chunk = item
                with self._lock:
                    if not fut.set_running_or_notify_cancel():
                        continue
                    w.running = (fut, chunk, time.monotonic())
                err: BaseException | None = None
                out = None
                try:
                    out = self._run(w.mapper, chunk)
                except Abandon:
                    return
                except BaseException as e:  # reported through the future
                    err = e
                with self._lock:
                    if w.abandoned:
                        return
                    w.running = None
                if err is None:
                    fut.set_result(out)
                else:
                    fut.set_exception(err)
                del fut, chunk, out, err, item
        except Abandon:
            return

    def submit(self, chunk: Any) -> Future:
        fut: Future = Future()
        self._queue.put((fut, chunk))
        return fut

    def waitAny(self, pending: set) -> set:
        """Wait until one of ``pending`` is done, expiring timed-out chunks."""
        while True:
            timeout = None
            if self._timeout is not None:
                with self._lock:
                    starts = [w.running[2] for w in self._workers if w.running is not None]
                if starts:
                    timeout = max(0.0, min(starts) + self._timeout - time.monotonic()) + 0.01
                else:
                    timeout = _POLL
            done, _ = wait(pending, timeout=timeout, return_when=FIRST_COMPLETED)
            if done:
                return done
            self._expire()

    def _expire(self) -> None:
        assert self._timeout is not None
        now = time.monotonic()
        expired = []
        with self._lock:
            for w in list(self._workers):
                if w.running is not None and now - w.running[2] >= self._timeout:
                    expired.append((w, w.running[0], w.running[1]))
                    w.abandoned = True
                    w.running = None
                    self._workers.remove(w)
        for w, fut, chunk in expired:
            fut.set_result(timeoutOutcomes(chunk, self._timeout, "worker thread"))
            assert w.thread is not None
            asyncRaise(w.thread)
            self._onTimeout()
            self._start(self._replicate(w.mapper))

    def close(self, abort: bool) -> None:
        """Let the threads go: nothing waits for them (they are daemons).
        With ``abort``, queued chunks are cancelled and running mappers are
        asked to stop."""
        with self._lock:
            workers = list(self._workers)
            if abort:
                for w in workers:
                    w.abandoned = True
        if abort:
            while True:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is not None:
                    item[0].cancel()
        for _ in workers:
            self._queue.put(None)
        # Threads that stop promptly are gone when run() returns. Only a
        # thread still inside a mapper after a short grace is asked to stop
        # (an asynchronous exception lands wherever the thread is, so it is
        # kept for mappers that are really stuck); it is then left behind
        # (it is a daemon).
        deadline = time.monotonic() + _GRACE
        me = threading.current_thread()
        for w in workers:
            if w.thread is not None and w.thread is not me:
                w.thread.join(max(0.0, deadline - time.monotonic()))
        if abort:
            with self._lock:
                stuck = [
                    w.thread
                    for w in workers
                    if w.running is not None and w.thread is not None and w.thread.is_alive()
                ]
            for thread in stuck:
                if thread is not me:
                    asyncRaise(thread)


# ---------------------------------------------------------------- processes


def _shmName() -> str:
    # Short enough for macOS (31 characters); names the owner for a human.
    return f"imagemapper_{os.getpid()}_{secrets.token_hex(4)}"


def _unlinkShm(name: str) -> None:
    from multiprocessing import shared_memory

    with contextlib.suppress(Exception):
        import _posixshmem

        _posixshmem.shm_unlink("/" + name.lstrip("/"))
        return
    with contextlib.suppress(Exception):  # pragma: no cover - not POSIX
        shared_memory.SharedMemory(name=name).unlink()


def _workerMain(conn: Any, alive: Any) -> None:
    """A worker process: set-up and chunk messages in, results out.

    Messages from the parent: ``("setup", version, payload)``,
    ``("chunk", taskId, chunk, doClone, kwargs, readOnlyCells, timed)``,
    ``("stop",)``. To the parent: ``("ready", version, error or None)``,
    ``("start", taskId, monotonic time)`` (for timed chunks),
    ``("done", taskId, outcomes)``, ``("error", taskId, exception)``.
    """
    from . import _executors as ex

    # Ctrl-C in a terminal reaches the whole process group: the parent
    # decides what stops (it kills its workers when it is interrupted).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    shmNames: list[str] = []

    def watchParent() -> None:
        # The parent holds the only write end: EOF means it has gone.
        with contextlib.suppress(BaseException):
            alive.poll(None)
        for name in list(shmNames):
            _unlinkShm(name)
        os._exit(0)

    threading.Thread(target=watchParent, name="imagemapper-watch", daemon=True).start()
    outbox: queue.SimpleQueue[Any] = queue.SimpleQueue()

    def sendLoop() -> None:
        # A thread of its own: the worker computes the next chunk while a
        # large result waits for the parent to read it.
        while True:
            msg = outbox.get()
            if msg is None:
                return
            try:
                conn.send(msg)
            except (OSError, EOFError):
                os._exit(0)
            except Exception as err:  # a result that does not pickle
                portable = ex.portableException(err) or RuntimeError(repr(err))
                try:
                    conn.send(("error", msg[1], portable))
                except Exception:
                    os._exit(0)
            del msg

    sender = threading.Thread(target=sendLoop, name="imagemapper-send", daemon=True)
    sender.start()
    attached: dict[str, Any] = {}
    while True:
        try:
            msg = conn.recv()
        except (EOFError, OSError):
            break
        kind = msg[0]
        if kind == "stop":
            break
        if kind == "setup":
            _, version, payload = msg
            try:
                names = ex.startProcessWorker(payload, attached)
                shmNames[:] = names
                outbox.put(("ready", version, None))
            except BaseException as err:
                outbox.put(("ready", version, ex.startErrorMessage(type(err).__name__, str(err))))
        elif kind == "chunk":
            _, taskId, chunk, doClone, kwargs, readOnlyCells, timed = msg
            out = None
            if timed:
                outbox.put(("start", taskId, time.monotonic()))
            try:
                out = ex.runChunkInProcess(chunk, doClone, kwargs, readOnlyCells)
                outbox.put(("done", taskId, out))
            except BaseException as err:
                outbox.put(("error", taskId, ex.portableException(err) or RuntimeError(repr(err))))
            del out
        del msg
    outbox.put(None)
    sender.join()


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
    __slots__ = ("chunk", "doClone", "future", "kwargs", "readOnlyCells", "worker")

    def __init__(self, chunk: Any, doClone: bool, kwargs: Any, readOnlyCells: bool) -> None:
        self.chunk = chunk
        self.doClone = doClone
        self.kwargs = kwargs
        self.readOnlyCells = readOnlyCells
        self.future: Future = Future()
        self.worker: _Proc | None = None


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
    ) -> None:
        """Share the input and the mapper with the workers for a run.

        Planes whose shape and dtype are unchanged reuse their shared
        memory, and are copied again only when their pixels differ.

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
        mi = exposure.maskedImage
        specs = {}
        for key, arr in (
            ("image", mi.image.array),
            ("mask", mi.mask.array),
            ("variance", mi.variance.array),
        ):
            specs[key] = self._share(key, arr)
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
        self._workers = [w for w in self._workers if w.proc.is_alive() or self._reap(w)]
        while len(self._workers) < self.nWorkers:
            self._spawn()
        for w in self._workers:
            self._sendSetup(w)
        # Wait until every worker has its set-up: a worker that cannot start
        # raises one WorkerStartError here (from _pump), with the worker's
        # own exception.
        while any(w.readyError == "" for w in self._workers):
            self._pump(_POLL, starting=True)

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
            if not _sameBytes(view, arr):
                view[...] = arr
        else:
            self._unlink(key)
            shm = shared_memory.SharedMemory(create=True, size=max(1, arr.nbytes), name=_shmName())
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
            target=_workerMain,
            args=(childConn, self._aliveR),
            name="imagemapper-worker",
            daemon=False,
        )
        proc.start()
        childConn.close()
        self._workers.append(_Proc(proc, parentConn))

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
                try:
                    w.conn.send(
                        ("chunk", tid, task.chunk, task.doClone, task.kwargs, task.readOnlyCells,
                         timed)
                    )  # fmt: skip
                except OSError:
                    break  # it died: seen by _pump, which requeues its chunks

    def waitAny(self, pending: set) -> set:
        """Wait until one of ``pending`` is done, handling worker deaths and
        expiring timed-out cells meanwhile."""
        while True:
            done = {f for f in pending if f.done()}
            if done:
                return done
            timeout = _POLL
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
        if task is None or task.future.done():
            return
        if kind == "done":
            task.future.set_result(msg[2])
        else:
            task.future.set_exception(msg[2])

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
            task.future.cancel()
        self._tasks.clear()
        self._queue.clear()
        for c in (self._aliveR, self._aliveW):
            with contextlib.suppress(Exception):
                c.close()


def _sameBytes(a: np.ndarray, b: np.ndarray) -> bool:
    """Whether two C-contiguous arrays of one shape and dtype hold the same
    bytes (NaN payloads included), in blocks (no full-size temporary)."""
    x = a.reshape(-1).view(np.uint8)
    y = b.reshape(-1).view(np.uint8)
    step = 1 << 24
    return all(np.array_equal(x[i : i + step], y[i : i + step]) for i in range(0, x.size, step))


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
