"""Shared memory of the process pool: names, and the slots that carry results.

The parent shares the input's planes with its workers (`ProcessPool._share`
in `~imagemapper.mapreduce._pools`); this module holds what goes the other
way. Results would otherwise be pickled in the worker, copied through a
pipe and unpickled in the parent, which costs about as much CPU as the
mapper saves on two cores (benchmarks/RESULTS.md, "Warm process pool").

`ResultSlots`
    The parent's slots: POSIX shared-memory segments it creates, owns and
    unlinks. Each chunk sent to a worker gets a slot; the worker writes the
    pixels of every numpy array in the chunk's outcomes into it
    (`SlotWriter`) and sends back only a small pickle in which each array
    is a reference ``(offset, dtype, shape, order)`` into the slot. The
    parent unpickles that into arrays that *are* views of the slot
    (`ResultSlots.load`): nothing is copied on the parent's side, and the
    stitcher reads the worker's pixels where the worker wrote them.

A slot is given to a new chunk only when nothing in the parent refers to
its memory any more. Every array or buffer made from the slot's `mmap`
holds a reference to that `mmap` object (numpy keeps its base; a buffer
export keeps its exporter), so the slot is free exactly when the `mmap`'s
reference count is back to the pool's own. A caller that keeps results
(``reduceOperation="none"``, the LSST two-step ``_runMapper``, ``map_reduce``
with ``reduce="none"``) keeps their slots busy; when the pool needs a slot
and has as many as it may hold, the oldest busy one is *retired*: unlinked
(its name is gone from ``/dev/shm``) and forgotten, its pages living on as
long as the caller's arrays (the last reference unmaps them; the pool never
calls ``mmap.close``, which would unmap under numpy arrays: they keep the
`mmap` object but no buffer export). Results therefore stay valid whatever
the caller does with them, also after `ProcessPool.close`.

Slots are reused across chunks and across the runs of a warm pool. Their
size follows what the results need: the first guess is the input's bytes
per pixel times the chunk's area; a chunk whose results do not fit travels
through the pipe as before, and the slot it used is replaced by a larger
one. The slot's pages are reserved when it is made (``posix_fallocate``),
so a full ``/dev/shm`` is an ``OSError`` there (the chunk then travels
through the pipe), never a ``SIGBUS`` in a worker.

Where there is no POSIX shared memory (Windows) every result travels
through the pipe.
"""

from __future__ import annotations

__all__ = [
    "ResultSlots",
    "SlotWriter",
    "sameBytes",
    "shmName",
    "unlinkShm",
]

import contextlib
import io
import mmap
import os
import pickle
import secrets
import sys
import threading
from multiprocessing.reduction import ForkingPickler
from typing import Any, Literal

import numpy as np

#: Arrays smaller than this travel inside the pickle (not worth a slot).
_MIN_BYTES = 1024
#: Offsets of arrays in a slot are multiples of this (cache lines, SIMD).
_ALIGN = 64
#: Slot sizes are rounded up to a multiple of this.
_GRANULE = 1 << 20


def shmName(kind: str = "") -> str:
    """A fresh segment name: ``imagemapper_<pid>_<hex>`` for the input's
    planes, ``imagemapper_<kind><pid>_<hex>`` for other segments. Short
    enough for macOS (31 characters); names the owner for a human."""
    return f"imagemapper_{kind}{os.getpid()}_{secrets.token_hex(4 if not kind else 3)}"


def unlinkShm(name: str) -> None:
    """Unlink a segment; no error if it is gone already."""
    from multiprocessing import shared_memory

    with contextlib.suppress(Exception):
        import _posixshmem

        _posixshmem.shm_unlink("/" + name.lstrip("/"))
        return
    with contextlib.suppress(Exception):  # pragma: no cover - not POSIX
        shared_memory.SharedMemory(name=name).unlink()


def sameBytes(a: np.ndarray, b: np.ndarray) -> bool:
    """Whether two C-contiguous arrays of one shape and dtype hold the same
    bytes (NaN payloads included), in blocks (no full-size temporary).

    Compared as 8-byte words where the size allows (half the CPU of bytes:
    a warm pool compares the whole input on every run)."""
    x = a.reshape(-1).view(np.uint8)
    y = b.reshape(-1).view(np.uint8)
    words = x.size // 8 * 8
    step = 1 << 24
    if words and a.ctypes.data % 8 == 0 and b.ctypes.data % 8 == 0:
        xw, yw = x[:words].view(np.uint64), y[:words].view(np.uint64)
        if not all(
            np.array_equal(xw[i : i + step], yw[i : i + step]) for i in range(0, xw.size, step)
        ):
            return False
        x, y = x[words:], y[words:]
    return all(np.array_equal(x[i : i + step], y[i : i + step]) for i in range(0, x.size, step))


def _mapSegment(name: str, size: int, create: bool) -> mmap.mmap:
    """Map the POSIX shared-memory segment ``name`` (creating it, with its
    pages reserved, when ``create``)."""
    import _posixshmem

    flags = os.O_RDWR | (os.O_CREAT | os.O_EXCL if create else 0)
    fd = _posixshmem.shm_open("/" + name, flags, mode=0o600)
    try:
        if create:
            try:
                os.ftruncate(fd, size)
                if hasattr(os, "posix_fallocate"):
                    os.posix_fallocate(fd, 0, size)
            except BaseException:
                unlinkShm(name)
                raise
        return mmap.mmap(fd, size)
    finally:
        os.close(fd)


def _track(name: str, register: bool) -> None:
    """Tell multiprocessing's resource tracker about a segment (it unlinks
    the ones still registered when the last process using it is gone)."""
    from multiprocessing import resource_tracker

    with contextlib.suppress(Exception):
        if register:
            resource_tracker.register("/" + name, "shared_memory")
        else:
            resource_tracker.unregister("/" + name, "shared_memory")


# ---------------------------------------------------------------- parent


class _Slot:
    __slots__ = ("mm", "name", "owner", "size", "stamp")

    #: References to ``mm`` when nothing made from it is alive: this
    #: object's attribute and `sys.getrefcount`'s argument.
    BASE = 2

    def __init__(self, name: str, mm: mmap.mmap, size: int) -> None:
        self.name = name
        self.mm = mm
        self.size = size
        #: The task id whose chunk may write into it, or None.
        self.owner: int | None = None
        #: When it was last handed out (to retire the oldest busy slot).
        self.stamp = 0

    def refs(self) -> int:
        """References to the mapping (`BASE` when nothing uses it)."""
        return sys.getrefcount(self.mm)

    def busy(self) -> bool:
        """Whether results made from it are still referenced (see the
        module docstring), or a chunk may write into it."""
        return self.owner is not None or self.refs() > self.BASE


_LOADING = threading.local()


_Order = Literal["C", "F"]


def _slotArray(offset: int, dtype: Any, shape: tuple[int, ...], order: _Order) -> np.ndarray:
    """Unpickling: the array at ``offset`` of the slot being loaded, as a
    view of the slot (see `ResultSlots.load`)."""
    mm = getattr(_LOADING, "mm", None)
    if mm is None:
        raise pickle.UnpicklingError(
            "an imagemapper worker's result refers to shared memory that is not being loaded"
        )
    return np.ndarray(shape, dtype=dtype, buffer=mm, offset=offset, order=order)


class ResultSlots:
    """The parent's result slots (see the module docstring).

    Parameters
    ----------
    limit : `int`
        Most slots held at once (a busy one is retired past this).
    """

    def __init__(self, limit: int = 8) -> None:
        self.limit = limit
        self._slots: list[_Slot] = []
        self._stamp = 0
        #: Most result bytes per cell pixel seen (0: none yet).
        self.perPixel = 0.0
        #: Set when a slot was made or retired: the workers must be told.
        self.changed = False
        #: Slots made and retired, chunks loaded from slots and chunks that
        #: came through the pipe, since the pool started (tests, benchmarks).
        self.made = 0
        self.retired = 0
        self.loaded = 0
        self.piped = 0
        self.enabled = os.name == "posix"

    def names(self) -> list[str]:
        return [s.name for s in self._slots]

    def take(self, owner: int, want: int) -> _Slot | None:
        """A free slot of at least ``want`` bytes for task ``owner``, or
        None (no shared memory: the chunk's results travel by pipe)."""
        if not self.enabled:
            return None
        want = max(_GRANULE, -(-want // _GRANULE) * _GRANULE)
        free = [s for s in self._slots if not s.busy()]
        fit = [s for s in free if s.size >= want]
        slot = min(fit, key=lambda s: s.size) if fit else None
        if slot is None:
            if free:
                # Too small for what the results now need: make a larger one.
                self._retire(max(free, key=lambda s: s.size))
                want = max(want, max(s.size for s in free) * 5 // 4)
            elif len(self._slots) >= self.limit:
                # The caller keeps its results: leave them their slot.
                held = [s for s in self._slots if s.owner is None]
                if held:
                    self._retire(min(held, key=lambda s: s.stamp))
            slot = self._make(want)
            if slot is None:
                return None
        self._stamp += 1
        slot.owner, slot.stamp = owner, self._stamp
        return slot

    def _make(self, size: int) -> _Slot | None:
        name = shmName("r")
        try:
            mm = _mapSegment(name, size, create=True)
        except (OSError, ImportError):
            return None
        # Like the input's segments: if the parent dies and no worker can
        # unlink it (one stuck in C code), the resource tracker does.
        _track(name, True)
        slot = _Slot(name, mm, size)
        self._slots.append(slot)
        self.made += 1
        self.changed = True
        return slot

    def _retire(self, slot: _Slot) -> None:
        # Never `mmap.close()`: numpy arrays made with ``buffer=mm`` keep
        # the mmap object alive but hold no buffer export, so close() would
        # unmap under them (and a new mapping could take the addresses).
        # Dropping the reference unmaps when the last array goes.
        self._slots.remove(slot)
        unlinkShm(slot.name)
        _track(slot.name, False)
        self.retired += 1
        self.changed = True

    def release(self, slot: _Slot | None, need: int = 0, area: int = 0) -> None:
        """The chunk that owned ``slot`` is over; ``need``: the bytes its
        results took, for cells of ``area`` pixels (to size later slots)."""
        if slot is not None:
            slot.owner = None
        if need > 0 and area > 0:
            self.perPixel = max(self.perPixel, need / area)

    def load(self, slot: _Slot, payload: bytes) -> Any:
        """Unpickle what a worker wrote into ``slot``: its arrays are views
        of the slot."""
        self.loaded += 1
        _LOADING.mm = slot.mm
        try:
            return pickle.loads(payload)
        finally:
            _LOADING.mm = None

    def close(self) -> None:
        """Unlink every slot (results still referenced stay readable)."""
        for slot in list(self._slots):
            self._retire(slot)
        self.changed = False


# ---------------------------------------------------------------- worker


class _SlotPickler(ForkingPickler):
    """Pickles outcomes with each large numpy array replaced by a reference
    into the slot; the arrays and their offsets are collected in ``arrays``.
    A `ForkingPickler`, as the pipe's: what multiprocessing knows how to
    send (its reducers) is sent the same way."""

    def __init__(self, file: Any) -> None:
        super().__init__(file, pickle.HIGHEST_PROTOCOL)
        self.arrays: list[tuple[int, np.ndarray, _Order]] = []
        self.end = 0

    def reducer_override(self, obj: Any) -> Any:
        if (
            type(obj) is not np.ndarray
            or obj.nbytes < _MIN_BYTES
            or obj.dtype.hasobject
            or obj.dtype.kind == "V"  # structured/void: let numpy pickle it
        ):
            return NotImplemented
        order: _Order = "F" if obj.flags.f_contiguous and not obj.flags.c_contiguous else "C"
        offset = -(-self.end // _ALIGN) * _ALIGN
        self.end = offset + obj.nbytes
        self.arrays.append((offset, obj, order))
        return _slotArray, (offset, obj.dtype, obj.shape, order)


class SlotWriter:
    """A worker's side of the result slots: the slots it has mapped, and
    the writing of a chunk's outcomes into one."""

    def __init__(self) -> None:
        self._maps: dict[str, mmap.mmap] = {}
        #: Every slot the parent holds, as last heard (the worker unlinks
        #: them if the parent dies); set by the worker's reading thread.
        self.names: list[str] = []

    def keep(self, names: list[str]) -> None:
        """The parent's slots were ``names``: unmap the others (mapped
        again if a chunk needs them after all)."""
        for name in [n for n in self._maps if n not in names]:
            del self._maps[name]  # unmapped with its last reference (now)

    def _map(self, name: str, size: int) -> mmap.mmap:
        mm = self._maps.get(name)
        if mm is None or len(mm) != size:
            mm = self._maps[name] = _mapSegment(name, size, create=False)
        return mm

    def dump(self, outcomes: Any, slot: tuple[str, int] | None) -> tuple[bytes | None, int]:
        """Write ``outcomes`` into ``slot``: returns the pickle that refers
        to it and the bytes the arrays took; ``(None, bytes needed)`` when
        they do not fit (or there is no slot or nothing to write): the
        caller then sends the outcomes through the pipe."""
        buf = io.BytesIO()
        pickler = _SlotPickler(buf)
        pickler.dump(outcomes)
        need = pickler.end
        if slot is None or not pickler.arrays or need > slot[1]:
            return None, need
        mm = self._map(*slot)
        for offset, arr, order in pickler.arrays:
            dst = np.ndarray(arr.shape, dtype=arr.dtype, buffer=mm, offset=offset, order=order)
            np.copyto(dst, arr, casting="no")
            del dst
        return buf.getvalue(), need
