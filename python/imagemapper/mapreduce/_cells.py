"""The cells handed to ``mapper.run``: writable, yet the input is never modified.

LSST mappers write into the cells they are handed (``subExposure`` and
``expandedSubExposure`` are views of the input there). Here each cell pair is
*copy-on-write*: the planes start as read-only slices of the input and a
plane's pixels are copied the first time anything asks for them as a
writable array — ``.array``, ``getArray()``, an in-place operator, ``set``,
item assignment or a writable sub-view. A mapper that only clones or reads
through the object API pays no copy; one that writes gets its own pixels.

As in LSST, the cell is a view of the expanded cell: the two share pixels,
so a write through either is seen by both. The first write to a plane
copies the expanded cell's region of it (`_Family.copy`); from then on both
cells' planes of that kind are slices of the copy.

Cheap to make, because a mapper looks at few of them (issue 12, item 4):

* the two exposures of a pair are *lazy*: they carry the PSF, WCS and
  metadata, and build their masked image (three planes, three slices of
  the input) only when something first reads it — an expanded cell the
  mapper never touches costs one small object;
* nothing refers back from the input or the family to a cell (no weak
  references, no reference cycles): a plane finds out that its family was
  written when it next reads its pixels (`_CowPlane._array`);
* the per-chunk state (the input's arrays, classes, mask planes, PSF, WCS,
  metadata) is gathered once per chunk (`CopyOnWriteSource`).

After materialising, an exposure's class is the input's again (``Exposure``);
after its copy, a plane's class is the plain `Image` / `Mask` (or subclass)
it was made from, so nothing of this module remains on the hot path of a
mapper that writes.
"""

from __future__ import annotations

__all__ = ["CopyOnWriteSource", "copyOnWriteCells"]

from collections.abc import Sequence
from typing import Any

import numpy as np

from .. import _core
from .._core import Box2I
from ..image import Exposure, MaskedImage
from ..image._image import ImageBase
from ..image._mask import Mask

_COW_CLASSES: dict[type, type] = {}
_LAZY_CLASSES: dict[type, type] = {}

#: How `Image` and `Mask` derive views and copies (see `_CowPlane._derive`).
_PLAIN_DERIVE = ImageBase._derive
_MASK_DERIVE = Mask._derive

#: Plane kinds, in the order of a masked image.
_IMAGE, _MASK, _VARIANCE = 0, 1, 2


class CopyOnWriteSource:
    """Makes the copy-on-write cell pairs of one chunk of cells.

    Parameters
    ----------
    readOnlyInput : `Exposure`
        A read-only view of the input (its arrays refuse writes).
    """

    __slots__ = (
        "arrays",
        "bbox",
        "common",
        "cow",
        "exposureClass",
        "lazy",
        "maskedImageClass",
        "planeDict",
        "x0",
        "y0",
    )

    def __init__(self, readOnlyInput: Exposure) -> None:
        mi = readOnlyInput.maskedImage
        planes = (mi._image, mi._mask, mi._variance)
        self.arrays = tuple(p._array for p in planes)
        self.x0, self.y0 = mi._image._x0, mi._image._y0
        if any((p._x0, p._y0) != (self.x0, self.y0) for p in planes):
            raise ValueError("the input's image, mask and variance planes have different xy0")
        self.bbox = readOnlyInput.getBBox()
        self.planeDict = mi._mask._planes
        self.cow: tuple[Any, ...] = tuple(_cowClass(type(p)) for p in planes)
        self.maskedImageClass = type(mi)
        self.exposureClass = type(readOnlyInput)
        self.lazy = _lazyClass(self.exposureClass)
        # What every cell exposure of this chunk shares with the read-only
        # input view (as LSST's views share it): PSF, WCS, the view's own
        # copy of the metadata, the photometric calibration.
        common = {
            "_psf": readOnlyInput.getPsf(),
            "_wcs": readOnlyInput.getWcs(),
            "_metadata": readOnlyInput.getMetadata(),
        }
        photoCalib = readOnlyInput.getPhotoCalib()
        if photoCalib is not None:
            common["_photoCalib"] = photoCalib
        self.common = common

    def slicesOf(self, chunk: Sequence[tuple[int, Box2I, Box2I]]) -> list[Any]:
        """The slices of every cell of a chunk of ``(index, box0, box1)``,
        in one call (`pair`'s ``where``); None for a cell whose boxes are not
        valid (`pair` then says why)."""
        try:
            return _core.cell_slices(self.bbox, [c[1] for c in chunk], [c[2] for c in chunk])
        except (TypeError, ValueError):  # not boxes: each cell reports itself
            return [None] * len(chunk)

    def pair(
        self, box0: Box2I, box1: Box2I, where: tuple[slice, slice, slice, slice] | None = None
    ) -> tuple[Exposure, Exposure]:
        """The ``(subExposure, expandedSubExposure)`` pair of one cell.

        ``where``: the cell's slices from `slicesOf`, when known.

        Raises
        ------
        ValueError
            When ``box1`` is not inside the input or ``box0`` not inside ``box1``.
        """
        if where is not None:
            sy1, sx1, sy0, sx0 = where
        else:
            sy1, sx1, sy0, sx0 = self._slices(box0, box1)
        fam = _Family(self, sy1, sx1, sy0, sx0)
        lazy: Any = self.lazy
        sub = lazy.__new__(lazy)
        d = sub.__dict__
        d.update(self.common)
        d["_cellFamily"] = fam
        d["_cellSub"] = True
        expanded = lazy.__new__(lazy)
        d = expanded.__dict__
        d.update(self.common)
        d["_cellFamily"] = fam
        d["_cellSub"] = False
        return sub, expanded

    def _slices(self, box0: Box2I, box1: Box2I) -> tuple[slice, slice, slice, slice]:
        """One cell's slices (`slicesOf`'s rule), or the error that says why
        its boxes are not valid."""
        bbox = self.bbox
        where = _core.cell_slices(bbox, [box0], [box1])[0]
        if where is not None:
            return where
        for box in (box1, box0):
            if not bbox.contains(box):
                raise ValueError(f"bbox {box!r} is not contained in the Exposure's bbox {bbox!r}")
        raise ValueError(f"bbox {box0!r} is not contained in the Exposure's bbox {box1!r}")


class _Family:
    """The shared state of one cell pair: where it lies in the input (the
    expanded cell's and the cell's slices), and the copies of the planes
    written so far (kind -> the expanded cell's region, writable)."""

    __slots__ = ("copies", "planes", "src", "sx0", "sx1", "sy0", "sy1")

    def __init__(self, src: CopyOnWriteSource, sy1: slice, sx1: slice, sy0: slice, sx0: slice):
        self.src = src
        self.sy1, self.sx1, self.sy0, self.sx0 = sy1, sx1, sy0, sx0
        self.copies: list[np.ndarray | None] = [None, None, None]
        # The cell's mask planes are its own (adding a plane never reaches the
        # input), shared by its two masks.
        self.planes: dict[str, int] | None = None

    def copy(self, kind: int) -> np.ndarray:
        """The writable copy of the expanded cell's plane ``kind`` (made once)."""
        c = self.copies[kind]
        if c is None:
            c = np.array(self.src.arrays[kind][self.sy1, self.sx1], copy=True, order="C")
            self.copies[kind] = c
        return c

    def inCopy(self, copy: np.ndarray, sub: bool) -> np.ndarray:
        """The cell's (``sub``) or the expanded cell's part of a copy."""
        if not sub:
            return copy
        y, x = self.sy1.start, self.sx1.start
        return copy[self.sy0.start - y : self.sy0.stop - y, self.sx0.start - x : self.sx0.stop - x]

    def maskedImage(self, sub: bool) -> MaskedImage:
        src = self.src
        sy, sx = (self.sy0, self.sx0) if sub else (self.sy1, self.sx1)
        x0, y0 = src.x0 + sx.start, src.y0 + sy.start
        if self.planes is None:
            self.planes = dict(src.planeDict)
        copies = self.copies
        cow = src.cow
        new = object.__new__
        parts = []
        for kind, array in enumerate(src.arrays):
            c = copies[kind]
            if c is None:
                cls = cow[kind]
                plane = new(cls)
                d = plane.__dict__
                d["_array"] = array[sy, sx]
                d["_cowFamily"] = self
                d["_cowKind"] = kind
                d["_cowSub"] = sub
            else:  # a plane of this kind was written: the cell owns its pixels
                cls = cow[kind]._cowReal
                plane = new(cls)
                d = plane.__dict__
                d["_array"] = self.inCopy(c, sub)
            d["_x0"] = x0
            d["_y0"] = y0
            if kind == _MASK:
                d["_planes"] = self.planes
            parts.append(plane)
        return src.maskedImageClass._from_planes(*parts)


# ----------------------------------------------------------------- planes


def _detach(plane: Any, array: np.ndarray) -> np.ndarray:
    """Make ``plane`` a plain plane again, with ``array`` as its pixels."""
    d = plane.__dict__
    d["_array"] = array
    for key in ("_cowFamily", "_cowKind", "_cowSub"):
        d.pop(key, None)
    plane.__class__ = type(plane)._cowReal
    return array


def _currentPixels(self: Any) -> np.ndarray:
    d = self.__dict__
    fam = d.get("_cowFamily")
    if fam is None:
        return d["_array"]
    c = fam.copies[d["_cowKind"]]
    if c is None:
        return d["_array"]
    # Its family was written through another cell: share that copy.
    return _detach(self, fam.inCopy(c, d["_cowSub"]))


def _setPixels(self: Any, value: np.ndarray) -> None:
    # New pixels (an object being built by `_derive`, or `_set`): plain from now on.
    _detach(self, value)


class _CowPlane:
    """Mixin placed before `Image`/`Mask` (or a subclass) for a copy-on-write plane."""

    _cowReal: Any

    #: The pixels: read-only slices of the input until a write to the family.
    _array = property(_currentPixels, _setPixels)

    def _writable(self) -> np.ndarray:
        d = self.__dict__
        fam = d.get("_cowFamily")
        if fam is None:  # pragma: no cover - a detached plane is plain again
            return d["_array"]
        return _detach(self, fam.inCopy(fam.copy(d["_cowKind"]), d["_cowSub"]))

    @property
    def Factory(self) -> type:
        """The plain class of this plane (``afw``'s ``Factory``)."""
        return self._cowReal

    def _derive(self, array: np.ndarray, x0: int, y0: int, share: bool) -> Any:
        # Views and copies made from a copy-on-write plane are plain planes,
        # built as the plain class builds them: directly for `Image` and
        # `Mask` (a clone per mapper call), else by the class's own `_derive`.
        real = self._cowReal
        how = real._derive
        if how is _PLAIN_DERIVE or how is _MASK_DERIVE:
            obj = object.__new__(real)
            d = obj.__dict__
            d["_array"] = array
            d["_x0"] = x0
            d["_y0"] = y0
            if how is _MASK_DERIVE:
                planes = self.__dict__["_planes"]
                d["_planes"] = planes if share else dict(planes)
            return obj
        obj = super()._derive(array, x0, y0, share)  # type: ignore[misc]
        obj.__class__ = real
        return obj

    def __reduce_ex__(self, protocol: Any) -> Any:
        # Pickle as the plain plane (the copy happens anyway when pickling).
        self._writable()
        return self.__reduce_ex__(protocol)


def _cowClass(real: type) -> type:
    cls = _COW_CLASSES.get(real)
    if cls is None:
        if not issubclass(real, ImageBase):  # pragma: no cover - defensive
            raise TypeError(f"not an image plane: {real!r}")
        cls = type(
            f"_CopyOnWrite{real.__name__}",
            (_CowPlane, real),
            {"__module__": __name__, "_cowReal": real},
        )
        _COW_CLASSES[real] = cls
    return cls


# -------------------------------------------------------------- exposures


class _MaterializedOnRead:
    """``_maskedImage`` of a lazy cell: built on first read (a non-data
    descriptor: once built it lives in the instance dict)."""

    def __get__(self, obj: Any, owner: type | None = None) -> Any:
        if obj is None:
            return self
        return _settle(obj)


def _settle(obj: Any) -> MaskedImage:
    """Build a lazy cell's masked image (unless it was assigned one) and make
    it a plain exposure of the input's class."""
    d = obj.__dict__
    real = getattr(type(obj), "_cellReal", None)
    if real is None:  # settled already (a bound method looked up before)
        return d["_maskedImage"]
    fam = d.pop("_cellFamily", None)
    sub = d.pop("_cellSub", True)
    mi = d.get("_maskedImage")
    if mi is None:
        mi = fam.maskedImage(sub)
        d["_maskedImage"] = mi
    obj.__class__ = real
    return mi


class _LazyCell:
    """Mixin placed before `Exposure` (or a subclass) for a lazy cell."""

    _cellReal: type
    _maskedImage = _MaterializedOnRead()

    def _view(self, *args: Any, **kwargs: Any) -> Any:
        _settle(self)
        return self._view(*args, **kwargs)

    @property
    def Factory(self) -> type:
        """The exposure class (``exposure.Factory(exposure, bbox)`` is a view)."""
        return self._cellReal

    def __repr__(self) -> str:
        _settle(self)
        return repr(self)

    def __reduce_ex__(self, protocol: Any) -> Any:
        _settle(self)
        return self.__reduce_ex__(protocol)


def _lazyClass(real: type) -> type:
    cls = _LAZY_CLASSES.get(real)
    if cls is None:
        # Named as the class it stands for: messages that name the type of
        # what a mapper returned ("returned Exposure") read the same.
        cls = type(
            real.__name__,
            (_LazyCell, real),
            {"__module__": __name__, "__qualname__": real.__qualname__, "_cellReal": real},
        )
        _LAZY_CLASSES[real] = cls
    return cls


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
        as LSST's views share them. A chunk of cells uses one
        `CopyOnWriteSource` instead (the input's state gathered once).
    """
    return CopyOnWriteSource(readOnlyInput).pair(box0, box1)
