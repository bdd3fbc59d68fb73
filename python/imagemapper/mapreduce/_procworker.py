"""What runs in a worker process of the process pool (`~imagemapper.mapreduce._pools`).

`workerMain` reads the parent's messages on a thread of its own (so the
names of the parent's result slots are known at once, even while a mapper
runs), runs the chunks it is sent on its main thread, writes their results
into the parent's result slots (`~imagemapper.mapreduce._shm.SlotWriter`)
and sends the replies from a third thread (so that it computes the next
chunk while the parent reads). A fourth thread watches a pipe whose only
writer is the parent: when the parent dies it unlinks every shared-memory
segment it knows (the input's planes, the result slots) and exits.
"""

from __future__ import annotations

__all__ = ["workerMain"]

import contextlib
import os
import queue
import signal
import threading
import time
from typing import Any

from ._shm import SlotWriter, unlinkShm


def workerMain(conn: Any, alive: Any) -> None:
    """A worker process: set-up and chunk messages in, results out.

    Messages from the parent: ``("setup", version, payload)``,
    ``("slots", names)`` (the parent's result slots now),
    ``("chunk", taskId, chunk, doClone, kwargs, readOnlyCells, timed, slot)``
    (``slot``: ``(name, size)`` or None), ``("stop",)``. To the parent:
    ``("ready", version, error or None)``, ``("start", taskId, monotonic
    time)`` (for timed chunks), ``("slot", taskId, pickle, bytes)`` (the
    outcomes, their arrays written into the slot), ``("done", taskId,
    outcomes, bytes needed)`` (the outcomes through the pipe: no slot, or
    too small), ``("error", taskId, exception)``.
    """
    from . import _executors as ex

    # Ctrl-C in a terminal reaches the whole process group: the parent
    # decides what stops (it kills its workers when it is interrupted).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    shmNames: list[str] = []
    slots = SlotWriter()
    # Messages are read by a thread of their own, so that the names of the
    # parent's result slots are known at once, even while a mapper runs for
    # ever: a worker that learnt them only between chunks could not unlink
    # the slots made while it was busy if the parent died then.
    inbox: queue.SimpleQueue[Any] = queue.SimpleQueue()
    drained = threading.Event()

    def readLoop() -> None:
        try:
            while True:
                msg = conn.recv()
                if msg[0] == "slots":
                    slots.names = list(msg[1])  # for watchParent; unmapped in the main loop
                inbox.put(msg)
                del msg
        except BaseException:  # EOF (the parent closed or died), or an error
            inbox.put(None)
        finally:
            drained.set()

    def watchParent() -> None:
        # The parent holds the only write end: EOF means it has gone. Its
        # end of `conn` is closed too: what it sent before is read first.
        with contextlib.suppress(BaseException):
            alive.poll(None)
        drained.wait(2.0)
        for name in list(shmNames) + list(slots.names):
            unlinkShm(name)
        os._exit(0)

    threading.Thread(target=watchParent, name="imagemapper-watch", daemon=True).start()
    threading.Thread(target=readLoop, name="imagemapper-read", daemon=True).start()
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
                portable = ex._portableException(err) or RuntimeError(repr(err))
                try:
                    conn.send(("error", msg[1], portable))
                except Exception:
                    os._exit(0)
            del msg

    sender = threading.Thread(target=sendLoop, name="imagemapper-send", daemon=True)
    sender.start()
    attached: dict[str, Any] = {}
    while True:
        msg = inbox.get()
        if msg is None:
            break
        kind = msg[0]
        if kind == "stop":
            break
        if kind == "setup":
            _, version, payload = msg
            try:
                names = ex._startProcessWorker(payload, attached)
                shmNames[:] = names
                outbox.put(("ready", version, None))
            except BaseException as err:
                outbox.put(("ready", version, ex._startErrorMessage(type(err).__name__, str(err))))
        elif kind == "slots":
            slots.keep(msg[1])
        elif kind == "chunk":
            _, taskId, chunk, doClone, kwargs, readOnlyCells, timed, slot = msg
            out = None
            if timed:
                outbox.put(("start", taskId, time.monotonic()))
            try:
                out = ex._runChunkInProcess(chunk, doClone, kwargs, readOnlyCells)
            except BaseException as err:
                outbox.put(("error", taskId, ex._portableException(err) or RuntimeError(repr(err))))
            else:
                try:
                    written, need = slots.dump(out, slot)
                except Exception:
                    # Does not pickle (the pipe path reports it as before),
                    # or the slot cannot be mapped: through the pipe.
                    written, need = None, 0
                if written is not None:
                    outbox.put(("slot", taskId, written, need))
                else:
                    outbox.put(("done", taskId, out, need))
                del written
            del out
        del msg
    outbox.put(None)
    sender.join()
