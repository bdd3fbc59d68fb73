"""`Mask`: integer bit planes with named mask planes, as ``lsst.afw.image.Mask``."""

from __future__ import annotations

import operator
import types
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import numpy as np
import numpy.typing as npt

from .._core import Box2I, Extent2I, Point2I
from ._common import MAX_MASK_PLANES, asSize, asXY, bboxMismatch, int32MaskArray, validatePlanes
from ._image import ImageBase

if TYPE_CHECKING:
    from typing_extensions import Self


_R = TypeVar("_R")

#: The mask planes every new `Mask` starts with (class-level calls add to it).
DEFAULT_MASK_PLANES: dict[str, int] = {
    "BAD": 0,
    "SAT": 1,
    "INTRP": 2,
    "CR": 3,
    "EDGE": 4,
    "DETECTED": 5,
    "DETECTED_NEGATIVE": 6,
    "SUSPECT": 7,
    "NO_DATA": 8,
}


class _maskPlaneMethod(Generic[_R]):
    """A `Mask` method that also works on the class, as ``afw``'s static ones do.

    ``mask.addMaskPlane("X")`` acts on that mask's plane dict;
    ``Mask.addMaskPlane("X")`` and ``Mask.getPlaneBitMask(names)`` act on the
    default plane dict that every new mask starts from (``afw``'s canonical
    dictionary).
    """

    def __init__(self, func: Callable[..., _R]) -> None:
        self._func = func
        self.__doc__ = func.__doc__

    def __get__(self, obj: Any, objtype: type | None = None) -> Callable[..., _R]:
        return types.MethodType(self._func, obj if obj is not None else objtype)


def _plane_dict(owner: Mask | type[Mask]) -> dict[str, int]:
    return owner._planes if isinstance(owner, Mask) else DEFAULT_MASK_PLANES


def _plane_bit(owner: Mask | type[Mask], name: str) -> int:
    planes = _plane_dict(owner)
    try:
        return planes[name]
    except KeyError:
        raise KeyError(
            f"mask plane {name!r} is not defined; known planes: {sorted(planes)}"
        ) from None


class Mask(ImageBase):
    """An int32 bit mask with named planes (``lsst.afw.image.Mask``).

    Constructors:

    - ``Mask(array, xy0=(0, 0), planeDict=None, copy=False)`` wraps an
      integer array (int32 arrays are not copied; other integer types are
      converted; float and bool arrays raise `TypeError`);
    - ``Mask(bbox, planeDict=None)``, ``Mask(width, height, planeDict=None)``
      and ``Mask(dimensions, ...)`` allocate zeros;
    - ``Mask(mask, bbox=None, origin=PARENT, deep=False, *, writeable=True)``
      is a view of ``bbox`` sharing pixels **and the plane dict** (adding a
      plane through a view adds it to the parent). Deep copies and read-only
      views (``writeable=False``) get their own copy of the plane dict, so a
      read-only view can never change its parent.

    Notes
    -----
    Every new mask starts with its own copy of the default planes BAD=0,
    SAT=1, INTRP=2, CR=3, EDGE=4, DETECTED=5, DETECTED_NEGATIVE=6, SUSPECT=7,
    NO_DATA=8 (unless ``planeDict`` is given). At most 31 planes (bits 0-30).
    ``|=``, ``&=`` and ``^=`` accept integers, integer arrays and masks with
    the same bbox (bits are combined as they are; plane names are not
    reconciled).
    """

    _planes: dict[str, int]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        if not args:
            raise TypeError(
                "Mask() needs an array, a Box2I, an Extent2I, width and height, or a Mask"
            )
        first, rest = args[0], args[1:]
        if isinstance(first, Mask):
            self._init_view(first, *rest, **kwargs)
        elif isinstance(first, Box2I):
            self._init_bbox(first, *rest, **kwargs)
        elif isinstance(first, Extent2I):
            self._init_size(first.getX(), first.getY(), *rest, **kwargs)
        elif isinstance(first, (int, np.integer)) and not isinstance(first, bool):
            self._init_size(int(first), *rest, **kwargs)
        elif isinstance(first, ImageBase):
            raise TypeError(f"cannot make a Mask view of a {type(first).__name__}")
        else:
            self._init_array(first, *rest, **kwargs)

    @staticmethod
    def _new_planes(planeDict: Mapping[str, int] | None) -> dict[str, int]:
        return dict(DEFAULT_MASK_PLANES) if planeDict is None else validatePlanes(planeDict)

    def _init_array(
        self,
        array: npt.ArrayLike,
        xy0: Point2I | Iterable[int] = (0, 0),
        planeDict: Mapping[str, int] | None = None,
        copy: bool = False,
    ) -> None:
        arr = int32MaskArray(array)
        if copy and arr is array:
            arr = arr.copy(order="K")
        self._set(arr, *asXY(xy0, "xy0"))
        self._planes = self._new_planes(planeDict)

    def _init_bbox(self, bbox: Box2I, planeDict: Mapping[str, int] | None = None) -> None:
        dims = bbox.getDimensions()
        self._init_size(dims.getX(), dims.getY(), planeDict)
        self._x0, self._y0 = bbox.getMinX(), bbox.getMinY()

    def _init_size(
        self, width: int, height: int, planeDict: Mapping[str, int] | None = None
    ) -> None:
        w, h = asSize(width, "width"), asSize(height, "height")
        self._set(np.zeros((h, w), dtype=np.int32), 0, 0)
        self._planes = self._new_planes(planeDict)

    def _derive(self, array: np.ndarray, x0: int, y0: int, share: bool) -> Self:
        obj = super()._derive(array, x0, y0, share)
        obj._planes = self._planes if share else dict(self._planes)
        return obj

    # -- planes -------------------------------------------------------------

    @staticmethod
    def getNumPlanesMax() -> int:
        """Return the maximum number of mask planes (31)."""
        return MAX_MASK_PLANES

    def getNumPlanesUsed(self) -> int:
        """Return the number of defined planes."""
        return len(self._planes)

    def getMaskPlaneDict(self) -> dict[str, int]:
        """Return a copy of the plane dict (name -> bit index)."""
        return dict(self._planes)

    @_maskPlaneMethod
    def getMaskPlane(self: Mask | type[Mask], name: str) -> int:
        """Return the bit index of plane ``name``.

        Called on the class (``Mask.getMaskPlane(name)``), it reads the
        default planes of new masks.

        Raises
        ------
        KeyError
            If the plane is not defined.
        """
        return _plane_bit(self, name)

    @_maskPlaneMethod
    def getPlaneBitMask(self: Mask | type[Mask], names: str | Iterable[str]) -> int:
        """Return the bit mask (``1 << bit``, OR'ed) of one plane or several.

        Called on the class (``Mask.getPlaneBitMask(names)``, as LSST code
        does), it reads the default planes of new masks.

        Parameters
        ----------
        names : `str` or iterable of `str`
            Plane name(s).

        Returns
        -------
        bitmask : `int`
        """
        if isinstance(names, str):
            names = [names]
        value = 0
        for name in names:
            value |= 1 << _plane_bit(self, name)
        return value

    @_maskPlaneMethod
    def addMaskPlane(self: Mask | type[Mask], name: str) -> int:
        """Define plane ``name`` (shared with every view) and return its bit index.

        An existing name returns its bit; a new one takes the lowest free bit.
        Called on the class (``Mask.addMaskPlane(name)``), it adds the plane to
        the defaults of every mask created afterwards.

        Raises
        ------
        ValueError
            If all 31 bits are used.
        """
        planes = _plane_dict(self)
        if name in planes:
            return planes[name]
        if not isinstance(name, str) or not name:
            raise TypeError(f"mask plane names must be non-empty strings, not {name!r}")
        used = set(planes.values())
        for bit in range(MAX_MASK_PLANES):
            if bit not in used:
                planes[name] = bit
                return bit
        raise ValueError(f"cannot add mask plane {name!r}: all {MAX_MASK_PLANES} planes are in use")

    def removeAndClearMaskPlane(self, name: str) -> None:
        """Clear plane ``name`` in this mask's pixels and remove it from the plane dict.

        Pixels of other views of the same parent outside this view keep the bit.
        """
        bit = self.getMaskPlane(name)
        self.clearMaskPlane(bit)
        del self._planes[name]

    def clearMaskPlane(self, bit: int) -> None:
        """Clear bit ``bit`` in every pixel."""
        index = operator.index(bit)
        if not 0 <= index < MAX_MASK_PLANES:
            raise ValueError(f"mask bits are in [0, {MAX_MASK_PLANES}), not {index}")
        pixels = self._writable()
        pixels &= np.int32(~(1 << index))

    def clearAllMaskPlanes(self) -> None:
        """Set every pixel to 0 (the plane dict is unchanged)."""
        self._writable()[...] = 0

    def interpret(self, value: int) -> str:
        """Return the comma-separated names of the planes set in ``value``."""
        value = operator.index(value)
        return ",".join(
            name
            for name, bit in sorted(self._planes.items(), key=lambda kv: kv[1])
            if value & (1 << bit)
        )

    # -- bit operations -----------------------------------------------------

    def __ior__(self, other: Any) -> Self:
        pixels = self._writable()
        pixels |= self._operand(other, "|=")
        return self

    def __iand__(self, other: Any) -> Self:
        pixels = self._writable()
        pixels &= self._operand(other, "&=")
        return self

    def __ixor__(self, other: Any) -> Self:
        pixels = self._writable()
        pixels ^= self._operand(other, "^=")
        return self

    def __repr__(self) -> str:
        return f"Mask(bbox={self.getBBox()!r}, planes={self._planes!r})"

    def __getstate__(self) -> dict[str, Any]:
        state = super().__getstate__()
        state["planes"] = self._planes
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        super().__setstate__(state)
        self._planes = state["planes"]


def assignPixels(target: ImageBase, value: Any, what: str) -> None:
    """Copy ``value`` (image with the same bbox, array or scalar) into ``target``."""
    if isinstance(value, ImageBase):
        if (value._x0, value._y0, value._array.shape) != (
            target._x0,
            target._y0,
            target._array.shape,
        ):
            raise bboxMismatch(f"cannot assign the {what}", target.getBBox(), value.getBBox())
        value = value._array
    target._writable()[...] = value
