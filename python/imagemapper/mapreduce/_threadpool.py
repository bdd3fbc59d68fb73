"""The thread pool of the ``threads`` backend (and of ``serial`` with a
``cellTimeout``), and what both pools share: per-cell timeouts.

`ThreadPool`
    Daemon threads, each with its own mapper instance. Nothing waits for a
    worker thread: when a run is interrupted (Ctrl-C, an error) or a cell
    runs past ``cellTimeout``, the thread is abandoned (it is asked to stop
    with an asynchronous exception, which a mapper in Python code sees at
    its next bytecode) and, for a timeout, replaced by a new thread with a
    new mapper instance.

The process pool is in `~imagemapper.mapreduce._pools`.
"""

from __future__ import annotations

__all__ = ["POLL", "Abandon", "ThreadPool", "asyncRaise", "timeoutOutcomes"]

import ctypes
import queue
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, wait
from typing import Any

#: How often a pool looks at its workers when nothing else wakes it
#: (seconds): bounds how late a dead worker or an expired cell is noticed.
POLL = 0.25
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
                    timeout = POLL
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
