"""The cells handed to ``mapper.run``: writable, yet the input is never modified.

LSST mappers write into the cells they are handed (``subExposure`` and
``expandedSubExposure`` are views of the input there). Here each cell pair is
*copy-on-write*: the planes start as read-only slices of the input and a
plane's pixels are copied the first time anything asks for them as a
writable array — ``.array``, ``getArray()``, an in-place operator, ``set``,
item assignment or a writable sub-view. A mapper that only clones or reads
through the object API pays no copy; one that writes gets its own pixels.

As in LSST, the cell is a view of the expanded cell: the two share pixels,
so a write through either is seen by both. The expanded cell's plane owns the
copy; the cell's plane is a slice of it.

After its copy a plane's class goes back to the plain `Image` / `Mask` (or
subclass) it was made from, so nothing of this module remains on the hot path
of a mapper that writes.
"""

from __future__ import annotations

__all__ = ["copyOnWriteCells"]

import weakref
from typing import Any

import numpy as np

from ._core import Box2I
from .image import Exposure
from .image._image import ImageBase

_COW_CLASSES: dict[type, type] = {}


def _materialize(plane: Any) -> None:
    """Copy the pixels of ``plane``'s family (the expanded cell's plane and the
    cell's plane that views it), once; turn them back into plain planes."""
    root = plane._cowRoot
    if isinstance(root, _CowPlane):
        pixels = np.array(root._array, copy=True, order="C")
        root._array = pixels
        dependents = root._cowDependents
        _restore(root)
        for ref, (sy, sx) in dependents:
            dep = ref()
            if isinstance(dep, _CowPlane):
                dep._array = pixels[sy, sx]
                _restore(dep)
    if isinstance(plane, _CowPlane):  # pragma: no cover - a family is restored together
        _restore(plane)


def _restore(plane: Any) -> None:
    """Make ``plane`` a plain plane again (it now owns writable pixels)."""
    real = plane._cowReal
    d = plane.__dict__
    for key in ("_cowRoot", "_cowReal", "_cowDependents"):
        d.pop(key, None)
    plane.__class__ = real


class _CowPlane:
    """Mixin placed before `Image`/`Mask` (or a subclass) for a copy-on-write plane."""

    _array: np.ndarray
    _cowRoot: Any
    _cowReal: type
    _cowDependents: list[tuple[weakref.ReferenceType, tuple[slice, slice]]]

    def _writable(self) -> np.ndarray:
        _materialize(self)
        return self._array

    @property
    def Factory(self) -> type:
        """The plain class of this plane (``afw``'s ``Factory``)."""
        return self._cowReal

    def _derive(self, array: np.ndarray, x0: int, y0: int, share: bool) -> Any:
        # Views and copies made from a copy-on-write plane are plain planes.
        obj = super()._derive(array, x0, y0, share)  # type: ignore[misc]
        obj.__class__ = self._cowReal
        return obj

    def __reduce_ex__(self, protocol: Any) -> Any:
        # Pickle as the plain plane (the copy happens anyway when pickling).
        _materialize(self)
        return self.__reduce_ex__(protocol)


def _cowClass(real: type) -> type:
    cls = _COW_CLASSES.get(real)
    if cls is None:
        cls = type(f"_CopyOnWrite{real.__name__}", (_CowPlane, real), {"__module__": __name__})
        _COW_CLASSES[real] = cls
    return cls


def _makeRoot(plane: ImageBase) -> None:
    real = type(plane)
    plane.__class__ = _cowClass(real)
    d = plane.__dict__
    d["_cowRoot"] = plane
    d["_cowReal"] = real
    d["_cowDependents"] = []


def _makeDependent(plane: ImageBase, root: Any, slices: tuple[slice, slice]) -> None:
    real = type(plane)
    plane.__class__ = _cowClass(real)
    d = plane.__dict__
    d["_cowRoot"] = root
    d["_cowReal"] = real
    root._cowDependents.append((weakref.ref(plane), slices))


def copyOnWriteCells(
    readOnlyInput: Exposure, box0: Box2I, box1: Box2I
) -> tuple[Exposure, Exposure]:
    """The ``(subExposure, expandedSubExposure)`` pair of one cell, copy-on-write.

    Parameters
    ----------
    readOnlyInput : `Exposure`
        A read-only view of the input (its arrays refuse writes).
    box0, box1 : `Box2I`
        The cell and the expanded cell (``box1`` contains ``box0``).

    Returns
    -------
    subExposure, expandedSubExposure : `Exposure`
        Writable cells; the input's pixels, mask planes and metadata are never
        modified through them. The PSF and WCS objects are shared with the input,
        as LSST's views share them.
    """
    expanded = readOnlyInput[box1]
    sub = expanded[box0]
    sy, sx = box0.slices(box1)
    emi, smi = expanded.maskedImage, sub.maskedImage
    for root, dep in (
        (emi.image, smi.image),
        (emi.mask, smi.mask),
        (emi.variance, smi.variance),
    ):
        _makeRoot(root)
        _makeDependent(dep, root, (sy, sx))
    # The cell's mask planes are its own (adding a plane never reaches the input).
    planes = dict(emi.mask._planes)
    emi.mask._planes = planes
    smi.mask._planes = planes
    return sub, expanded
