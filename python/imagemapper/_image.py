"""LSST ``afw``-style image classes backed by numpy arrays.

`Image`, `Mask`, `MaskedImage` and `Exposure` behave like their namesakes in
``lsst.afw.image``: pixel coordinates are *parent* coordinates, each image
carries ``xy0`` (the parent position of its array element ``[0, 0]``), numpy
arrays are indexed ``[y, x]`` and sub-images made with a `~imagemapper.Box2I`
are views that share pixels with their parent.

An `Exposure` adds a PSF (any object, usually one of this package's PSF
classes), an `astropy.wcs.WCS` in 0-based *parent* pixel coordinates and a
``metadata`` dict of FITS header cards; it reads and writes the LSST FITS
layout (`Exposure.writeFits`, `Exposure.readFits`) and converts to and from
`astropy.nddata.NDData` / `~astropy.nddata.CCDData`.
"""

from __future__ import annotations

__all__ = [
    "LOCAL",
    "PARENT",
    "Exposure",
    "Image",
    "ImageOrigin",
    "Mask",
    "MaskedImage",
]

import copy
import enum
import numbers
import operator
import os
import re
import types
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar, cast

import numpy as np
import numpy.typing as npt

from ._core import Box2I, Extent2I, Point2I

if TYPE_CHECKING:
    from astropy.nddata import CCDData, NDData
    from astropy.wcs import WCS
    from typing_extensions import Self

_R = TypeVar("_R")


class ImageOrigin(enum.Enum):
    """Which frame a bounding box is expressed in (``lsst.afw.image.ImageOrigin``).

    ``PARENT`` boxes are in parent pixel coordinates (they include ``xy0``);
    ``LOCAL`` boxes are relative to the image's own ``xy0``, i.e. array
    indices.
    """

    PARENT = "PARENT"
    LOCAL = "LOCAL"

    def __repr__(self) -> str:
        return self.value


PARENT = ImageOrigin.PARENT
LOCAL = ImageOrigin.LOCAL

_MAX_MASK_PLANES = 31
_DEFAULT_MASK_PLANES: dict[str, int] = {
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
_INT32 = np.dtype(np.int32)


# --------------------------------------------------------------------------
# small helpers
# --------------------------------------------------------------------------


def _as_origin(origin: ImageOrigin | str) -> ImageOrigin:
    """Return ``origin`` as an `ImageOrigin` (also accepts ``"PARENT"``/``"LOCAL"``)."""
    if isinstance(origin, ImageOrigin):
        return origin
    if isinstance(origin, str):
        try:
            return ImageOrigin(origin.upper())
        except ValueError:
            pass
    raise TypeError(f"origin must be PARENT or LOCAL, not {origin!r}")


def _as_xy(value: Point2I | Extent2I | Iterable[int], what: str) -> tuple[int, int]:
    """Return an integer ``(x, y)`` pair from a point, an extent or a 2-sequence."""
    try:
        x, y = value  # type: ignore[misc]
        return operator.index(x), operator.index(y)
    except (TypeError, ValueError):
        raise TypeError(f"{what} must be a Point2I or a pair of integers, not {value!r}") from None


def _as_size(value: Any, what: str) -> int:
    """Return ``value`` as a non-negative image size."""
    if isinstance(value, bool):
        raise TypeError(f"{what} must be an integer, not {value!r}")
    try:
        size = operator.index(value)
    except TypeError:
        raise TypeError(f"{what} must be an integer, not {value!r}") from None
    if size < 0:
        raise ValueError(f"{what} must be >= 0, not {size}")
    return size


def _bbox_of(x0: int, y0: int, shape: tuple[int, ...]) -> Box2I:
    return Box2I(Point2I(x0, y0), Extent2I(shape[1], shape[0]))


def _native(array: np.ndarray) -> np.ndarray:
    """Return ``array`` in native byte order (a copy only when it is not)."""
    if array.dtype.isnative:
        return array
    return array.astype(array.dtype.newbyteorder("="))


def _read_only(array: np.ndarray) -> np.ndarray:
    """A read-only view of ``array`` that cannot be made writeable again.

    Clearing ``flags.writeable`` alone is not enough: numpy lets anyone set
    it back to True while the memory's owner is writeable. A view whose
    base is a read-only `memoryview` refuses that, so a mapper cannot
    modify the input through the views it is handed.
    """
    if array.size:
        try:
            return np.asarray(memoryview(cast(Any, array)).toreadonly())
        except (BufferError, TypeError, ValueError):  # pragma: no cover - exotic dtypes
            pass
    view = array.view()
    view.flags.writeable = False
    return view


def _owned(array: np.ndarray) -> np.ndarray:
    """Return ``array`` if it owns its memory, else a copy."""
    return array if array.flags.owndata and array.base is None else array.copy()


def _check_2d(array: np.ndarray, what: str) -> None:
    if array.ndim != 2:
        raise ValueError(f"{what} must be a 2-d array, got shape {array.shape}")


def _coerce_pixels(array: npt.ArrayLike, dtype: npt.DTypeLike | None, copy_: bool) -> np.ndarray:
    """Coerce an array for `Image`: numeric, 2-d, native byte order."""
    arr = np.asarray(array)
    _check_2d(arr, "an image array")
    if arr.dtype.kind not in "iuf":
        raise TypeError(f"image pixels must be integers or floats, not dtype {arr.dtype}")
    if dtype is not None:
        target = np.dtype(dtype)
        if target.kind not in "iuf":
            raise TypeError(f"image pixels must be integers or floats, not dtype {target}")
        if arr.dtype != target:
            arr = arr.astype(target.newbyteorder("="))
            copy_ = False
    arr = _native(arr) if not copy_ else arr.astype(arr.dtype.newbyteorder("="), order="K")
    return arr


def _float_image_array(array: npt.ArrayLike) -> np.ndarray:
    """Coerce an image array for `MaskedImage.fromArrays` (see its docstring)."""
    arr = np.asarray(array)
    _check_2d(arr, "the image array")
    kind, size = arr.dtype.kind, arr.dtype.itemsize
    if kind == "f":
        if size in (4, 8):
            return _native(arr)
        if size == 2:
            return arr.astype(np.float32)
        raise TypeError(
            f"image arrays of dtype {arr.dtype} are not supported; convert to float64 explicitly"
        )
    if kind in "iu":
        return arr.astype(np.float32 if size <= 2 else np.float64)
    raise TypeError(
        f"image arrays must have a float or integer dtype, not {arr.dtype} "
        "(bool, complex and object arrays are rejected)"
    )


def _int32_mask_array(array: npt.ArrayLike, what: str = "a mask array") -> np.ndarray:
    """Coerce an integer array to native int32 (no copy when it already is)."""
    arr = np.asarray(array)
    _check_2d(arr, what)
    if arr.dtype.kind == "b":
        raise TypeError(
            f"{what} must have an integer dtype, not bool: a boolean array has no plane "
            "bits; set a plane instead, e.g. mask.array[flags] |= mask.getPlaneBitMask('BAD')"
        )
    if arr.dtype.kind not in "iu":
        raise TypeError(f"{what} must have an integer dtype (bits), not {arr.dtype}")
    if arr.dtype == _INT32:
        return _native(arr)
    if arr.size and (arr.dtype.itemsize > 4 or (arr.dtype.kind == "u" and arr.dtype.itemsize == 4)):
        info = np.iinfo(np.int32)
        lo, hi = int(arr.min()), int(arr.max())
        if lo < info.min or hi > info.max:
            raise ValueError(
                f"{what} of dtype {arr.dtype} holds values in [{lo}, {hi}], "
                "outside the int32 range of a Mask"
            )
    return arr.astype(np.int32)


def _validate_planes(planes: Mapping[str, int]) -> dict[str, int]:
    """Return a validated copy of a mask plane dict (name -> bit index)."""
    result: dict[str, int] = {}
    seen: dict[int, str] = {}
    for name, bit in planes.items():
        if not isinstance(name, str) or not name:
            raise TypeError(f"mask plane names must be non-empty strings, not {name!r}")
        index = operator.index(bit)
        if not 0 <= index < _MAX_MASK_PLANES:
            raise ValueError(
                f"mask plane {name!r} has bit {index}; bits must be in [0, {_MAX_MASK_PLANES})"
            )
        if index in seen:
            raise ValueError(f"mask planes {seen[index]!r} and {name!r} both use bit {index}")
        seen[index] = name
        result[name] = index
    return result


def _bbox_mismatch(what: str, a: Box2I, b: Box2I) -> ValueError:
    return ValueError(f"{what}: bounding boxes differ: {a!r} vs {b!r}")


def _shifted_wcs(wcs: WCS, dx: float, dy: float) -> WCS:
    """Return a copy of ``wcs`` whose pixel frame is shifted: ``new(p) = wcs(p - (dx, dy))``.

    ``CRPIX`` (and the SIP reference pixel) move by ``(dx, dy)``. Lookup-table
    distortions cannot be shifted and raise `NotImplementedError`.
    """
    new = copy.deepcopy(wcs)
    if dx == 0 and dy == 0:
        return new
    if any(
        getattr(new, name, None) is not None for name in ("cpdis1", "cpdis2", "det2im1", "det2im2")
    ):
        raise NotImplementedError(
            "cannot shift the pixel origin of a WCS with lookup-table distortions"
        )
    crpix = np.array(new.wcs.crpix, dtype=float)
    crpix[0] += dx
    crpix[1] += dy
    new.wcs.crpix = crpix
    if new.sip is not None:
        from astropy.wcs import Sip

        sip = new.sip
        sip_crpix = np.array(sip.crpix, dtype=float) + np.array([dx, dy])
        new.sip = Sip(sip.a, sip.b, sip.ap, sip.bp, sip_crpix)
    return new


def _check_wcs(wcs: Any) -> WCS | None:
    if wcs is None:
        return None
    from astropy.wcs import WCS

    if not isinstance(wcs, WCS):
        raise TypeError(f"wcs must be an astropy.wcs.WCS or None, not {type(wcs).__name__}")
    if wcs.pixel_n_dim != 2:
        raise ValueError(f"wcs must have 2 pixel axes, not {wcs.pixel_n_dim}")
    return wcs


def _slice_bound(index: int | None, size: int, origin: ImageOrigin, default: int) -> int:
    if index is None:
        return default
    index = operator.index(index)
    if index < 0:
        if origin is LOCAL:
            return size + index
        raise IndexError(
            f"negative index {index} with the PARENT origin: use LOCAL to count from the end, "
            "or a Box2I to reach negative parent pixels"
        )
    return index


def _slice_box(key: Any, bbox_of: Callable[[ImageOrigin], Box2I]) -> Box2I | None:
    """The PARENT box of ``afw``-style slicing ``[x0:x1, y0:y1(, origin)]``, or `None`.

    As in ``lsst.afw.image``: x first, then y; bounds are PARENT pixel
    coordinates unless the last item is ``LOCAL``; ``[:]`` and ``[:, :]``
    are the whole image; a negative bound counts from the end only with
    ``LOCAL``. Returns `None` when ``key`` is not a slice form.
    """
    origin = PARENT
    if isinstance(key, tuple) and key and isinstance(key[-1], ImageOrigin):
        key, origin = key[:-1], key[-1]
        if len(key) == 1:
            key = key[0]
    if isinstance(key, slice):
        if (key.start, key.stop, key.step) != (None, None, None):
            raise TypeError(f"a single slice must be [:] (the whole image), not {key!r}")
        key, origin = (key, key), LOCAL
    if not (isinstance(key, tuple) and len(key) == 2):
        return None
    x, y = key
    if not isinstance(x, slice) and not isinstance(y, slice):
        return None
    if not (isinstance(x, slice) and isinstance(y, slice)):
        raise TypeError(f"mixed (slice, int) indices are not supported for images: {key!r}")
    if x.step is not None or y.step is not None:
        raise ValueError(f"slices with steps are not supported in image indexing: {key!r}")
    bbox = bbox_of(origin)
    x0 = _slice_bound(x.start, bbox.getWidth(), origin, bbox.getBeginX())
    x1 = _slice_bound(x.stop, bbox.getWidth(), origin, bbox.getEndX())
    y0 = _slice_bound(y.start, bbox.getHeight(), origin, bbox.getBeginY())
    y1 = _slice_bound(y.stop, bbox.getHeight(), origin, bbox.getEndY())
    if x1 < x0 or y1 < y0:
        raise IndexError(f"empty or inverted image slice {key!r}")
    if origin is LOCAL:
        parent = bbox_of(PARENT)
        x0, x1 = x0 + parent.getMinX(), x1 + parent.getMinX()
        y0, y1 = y0 + parent.getMinY(), y1 + parent.getMinY()
    return Box2I(Point2I(x0, y0), Extent2I(x1 - x0, y1 - y0))


# --------------------------------------------------------------------------
# Image and Mask
# --------------------------------------------------------------------------


class _ImageBase:
    """Pixels in a 2-d numpy array plus the parent position ``xy0`` of ``[0, 0]``."""

    _array: np.ndarray
    _x0: int
    _y0: int

    # -- construction helpers (subclasses carry extra state in _derive) ---

    def _set(self, array: np.ndarray, x0: int, y0: int) -> None:
        self._array = array
        self._x0 = x0
        self._y0 = y0

    def _derive(self, array: np.ndarray, x0: int, y0: int, share: bool) -> Self:
        """Make an object of this type around ``array``; ``share`` says whether
        per-image state (mask planes) is shared with ``self`` or copied."""
        obj = type(self).__new__(type(self))
        obj._set(array, x0, y0)
        return obj

    def _writable(self) -> np.ndarray:
        """The pixel array, about to be written through.

        Every in-place write goes through this hook: a copy-on-write cell
        plane (`imagemapper._cells`) copies its pixels here the first time.
        """
        return self._array

    def _slices(
        self, bbox: Box2I, origin: ImageOrigin | str, owner: str = ""
    ) -> tuple[slice, slice]:
        if not isinstance(bbox, Box2I):
            raise TypeError(f"bbox must be a Box2I, not {type(bbox).__name__}")
        if _as_origin(origin) is LOCAL:
            bbox = bbox.shiftedBy(Extent2I(self._x0, self._y0))
        parent = self.getBBox()
        try:
            return bbox.slices(parent)
        except ValueError:
            raise ValueError(
                f"bbox {bbox!r} is not contained in the {owner or type(self).__name__}'s "
                f"bbox {parent!r}"
            ) from None

    def _view(
        self,
        bbox: Box2I | None,
        origin: ImageOrigin | str,
        deep: bool,
        writeable: bool,
        owner: str = "",
    ) -> Self:
        # A writeable view shares pixels: a copy-on-write plane copies first.
        pixels = self._writable() if writeable and not deep else self._array
        if bbox is None:
            array = pixels[:, :]
            x0, y0 = self._x0, self._y0
        else:
            sy, sx = self._slices(bbox, origin, owner)
            array = pixels[sy, sx]
            x0, y0 = self._x0 + sx.start, self._y0 + sy.start
        if deep:
            array = array.copy()
        if not writeable:
            array = _read_only(array)
        return self._derive(array, x0, y0, share=not deep and writeable)

    def _init_view(
        self,
        source: _ImageBase,
        bbox: Box2I | None = None,
        origin: ImageOrigin | str = PARENT,
        deep: bool = False,
        *,
        writeable: bool = True,
    ) -> None:
        view = source._view(bbox, origin, deep, writeable)
        self.__dict__.update(view.__dict__)

    # -- pixels -------------------------------------------------------------

    @property
    def array(self) -> np.ndarray:
        """The pixels, a numpy view indexed ``[y, x]``; assigning copies values in."""
        return self._writable()

    @array.setter
    def array(self, value: npt.ArrayLike) -> None:
        self._writable()[...] = value

    def getArray(self) -> np.ndarray:
        """Return the pixel array (a view, indexed ``[y, x]``)."""
        return self._writable()

    @property
    def dtype(self) -> np.dtype:
        """The numpy dtype of the pixels."""
        return self._array.dtype

    # -- geometry -----------------------------------------------------------

    def getBBox(self, origin: ImageOrigin | str = PARENT) -> Box2I:
        """Return the bounding box.

        Parameters
        ----------
        origin : `ImageOrigin`, optional
            ``PARENT`` (default) includes ``xy0``; ``LOCAL`` starts at ``(0, 0)``.

        Returns
        -------
        bbox : `~imagemapper.Box2I`
            A new box (changing it does not change the image).
        """
        if _as_origin(origin) is LOCAL:
            return _bbox_of(0, 0, self._array.shape)
        return _bbox_of(self._x0, self._y0, self._array.shape)

    def getXY0(self) -> Point2I:
        """Return the parent position of array element ``[0, 0]``."""
        return Point2I(self._x0, self._y0)

    def setXY0(self, xy0: Point2I | Iterable[int]) -> None:
        """Set the parent position of array element ``[0, 0]`` (pixels are unchanged)."""
        self._x0, self._y0 = _as_xy(xy0, "xy0")

    def getX0(self) -> int:
        """Return the parent x of the first column."""
        return self._x0

    def getY0(self) -> int:
        """Return the parent y of the first row."""
        return self._y0

    def getWidth(self) -> int:
        """Return the number of columns."""
        return int(self._array.shape[1])

    def getHeight(self) -> int:
        """Return the number of rows."""
        return int(self._array.shape[0])

    def getDimensions(self) -> Extent2I:
        """Return ``(width, height)``."""
        return Extent2I(self._array.shape[1], self._array.shape[0])

    @property
    def Factory(self) -> type[Self]:
        """The class of this object (``afw``'s ``Factory``)."""
        return type(self)

    # -- copies and sub-images ---------------------------------------------

    def clone(self) -> Self:
        """Return a deep copy (pixels and mask planes are not shared)."""
        return self._derive(self._array.copy(order="K"), self._x0, self._y0, share=False)

    def subset(self, bbox: Box2I, origin: ImageOrigin | str = PARENT) -> Self:
        """Return a view of ``bbox`` (which must lie inside the image).

        Raises
        ------
        ValueError
            If ``bbox`` is not contained in the image's box.
        """
        return self._view(bbox, origin, deep=False, writeable=True)

    def _pixel_index(self, key: Any) -> tuple[int, int] | None:
        if isinstance(key, Point2I) or (
            isinstance(key, tuple) and len(key) == 2 and not isinstance(key[0], slice)
        ):
            x, y = _as_xy(key, "a pixel position")
            ix, iy = x - self._x0, y - self._y0
            if not (0 <= ix < self._array.shape[1] and 0 <= iy < self._array.shape[0]):
                raise IndexError(f"pixel ({x}, {y}) is outside the bbox {self.getBBox()!r}")
            return iy, ix
        return None

    def __getitem__(self, key: Box2I | Point2I | tuple[Any, ...] | slice) -> Any:
        """``img[bbox]`` and ``img[x0:x1, y0:y1]`` are views (PARENT coordinates, as
        ``afw``; a trailing ``LOCAL`` makes them array indices); ``img[x, y]`` is a
        pixel value."""
        if not isinstance(key, Box2I):
            box = _slice_box(key, self.getBBox)
            if box is not None:
                key = box
        if isinstance(key, Box2I):
            return self._view(key, PARENT, deep=False, writeable=True)
        index = self._pixel_index(key)
        if index is None:
            raise TypeError(f"index with a Box2I, slices or an (x, y) pixel, not {key!r}")
        return self._array[index]

    def __setitem__(self, key: Box2I | Point2I | tuple[Any, ...] | slice, value: Any) -> None:
        """Assign a scalar, an array or an image of the same size to ``img[bbox]`` or
        ``img[x0:x1, y0:y1]`` (``mask[:, :] = otherMask`` copies every pixel)."""
        if not isinstance(key, Box2I):
            box = _slice_box(key, self.getBBox)
            if box is not None:
                key = box
        if isinstance(key, Box2I):
            target = self._writable()[self._slices(key, PARENT)]
            if isinstance(value, _ImageBase):
                if value._array.shape != target.shape:
                    raise ValueError(
                        f"cannot assign an image of bbox {value.getBBox()!r} to bbox {key!r}"
                    )
                value = value._array
            target[...] = value
            return
        index = self._pixel_index(key)
        if index is None:
            raise TypeError(f"index with a Box2I, slices or an (x, y) pixel, not {key!r}")
        self._writable()[index] = value

    def assign(
        self, rhs: _ImageBase, bbox: Box2I | None = None, origin: ImageOrigin | str = PARENT
    ) -> None:
        """Copy the pixels of ``rhs`` into ``bbox`` of this image (``afw``'s ``assign``).

        Parameters
        ----------
        rhs : `Image` or `Mask`
            Source pixels; its dimensions must equal those of ``bbox``.
        bbox : `~imagemapper.Box2I`, optional
            Where to copy them; `None` (default) or an empty box means the whole image.
        origin : `ImageOrigin`, optional
            Frame of ``bbox`` (default ``PARENT``).

        Raises
        ------
        ValueError
            If the dimensions differ or ``bbox`` is not inside this image.
        """
        if not isinstance(rhs, _ImageBase):
            raise TypeError(f"assign() copies an Image or a Mask, not {type(rhs).__name__}")
        if bbox is None or bbox.isEmpty():
            target = self._writable()
            where = self.getBBox()
        else:
            target = self._writable()[self._slices(bbox, origin)]
            where = bbox
        if rhs._array.shape != target.shape:
            raise ValueError(
                f"cannot assign an image of dimensions {rhs.getDimensions()!r} to bbox {where!r}"
            )
        target[...] = rhs._array

    def set(self, value: Any) -> None:
        """Set every pixel to ``value``."""
        self._writable()[...] = value

    def _operand(self, other: Any, op: str) -> Any:
        if isinstance(other, _ImageBase):
            if (other._x0, other._y0, other._array.shape) != (
                self._x0,
                self._y0,
                self._array.shape,
            ):
                raise _bbox_mismatch(
                    f"{op} needs images with the same bbox", self.getBBox(), other.getBBox()
                )
            return other._array
        return other

    # -- protocol -----------------------------------------------------------

    def __repr__(self) -> str:
        return f"{type(self).__name__}(bbox={self.getBBox()!r}, dtype={self._array.dtype})"

    def __getstate__(self) -> dict[str, Any]:
        return {"array": self._array, "xy0": (self._x0, self._y0)}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self._set(state["array"], *state["xy0"])

    def __deepcopy__(self, memo: dict[int, Any]) -> Self:
        return self.clone()


class Image(_ImageBase):
    """A 2-d image in parent coordinates (``lsst.afw.image.Image``).

    Constructors:

    - ``Image(array, xy0=(0, 0), dtype=None, copy=False)`` wraps an existing
      2-d numpy array **without copying** (a copy is made only when ``dtype``
      differs, the array is not in native byte order or ``copy=True``;
      ``deep=True`` is ``afw``'s spelling of ``copy=True``);
    - ``Image(bbox, dtype=np.float32)``, ``Image(width, height,
      dtype=np.float32)`` and ``Image(dimensions, dtype=...)`` allocate zeros;
      a number after the size (``Image(bbox, 5.0)``, as ``afw``'s
      ``initialValue``) fills the new image with it;
    - ``Image(image, bbox=None, origin=PARENT, deep=False, *,
      writeable=True)`` is a view of ``bbox`` sharing pixels (``deep=True``
      copies; ``writeable=False`` makes the view's array read-only).

    Notes
    -----
    In-place ``+=``, ``-=``, ``*=`` and ``/=`` accept scalars, arrays of the
    same shape, and images with the same bbox (`ValueError` otherwise).
    ``==`` is identity, as numpy comparisons would be ambiguous. Pickling
    copies the pixels of the view only.

    Examples
    --------
    >>> import numpy as np, imagemapper as im
    >>> img = im.Image(np.zeros((4, 6), dtype=np.float32), xy0=(10, 20))
    >>> sub = img[im.Box2I(im.Point2I(11, 21), im.Extent2I(2, 2))]
    >>> sub += 1
    >>> float(img.array[1, 1])
    1.0
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        if not args:
            raise TypeError(
                "Image() needs an array, a Box2I, an Extent2I, width and height, or an Image"
            )
        first, rest = args[0], args[1:]
        if isinstance(first, Image):
            self._init_view(first, *rest, **kwargs)
            return
        if isinstance(first, _ImageBase):
            raise TypeError(f"cannot make an Image view of a {type(first).__name__}")
        sized = isinstance(first, (Box2I, Extent2I)) or (
            isinstance(first, (int, np.integer)) and not isinstance(first, bool)
        )
        if not sized:
            self._init_array(first, *rest, **kwargs)
            return
        # afw's Image(bbox, initialValue): a number after the size fills the image.
        head = 0 if isinstance(first, (Box2I, Extent2I)) else 1
        fill = kwargs.pop("initialValue", None)
        if len(rest) > head and isinstance(rest[head], numbers.Number):
            fill, rest = rest[head], rest[:head] + rest[head + 1 :]
        if isinstance(first, Box2I):
            self._init_bbox(first, *rest, **kwargs)
        elif isinstance(first, Extent2I):
            self._init_size(first.getX(), first.getY(), *rest, **kwargs)
        else:
            self._init_size(int(first), *rest, **kwargs)
        if fill is not None:
            self._array[...] = fill

    def _init_array(
        self,
        array: npt.ArrayLike,
        xy0: Point2I | Iterable[int] | None = (0, 0),
        dtype: npt.DTypeLike | None = None,
        copy: bool = False,
        *,
        deep: bool = False,
    ) -> None:
        xy = (0, 0) if xy0 is None else _as_xy(xy0, "xy0")
        self._set(_coerce_pixels(array, dtype, copy or deep), *xy)

    def _init_bbox(self, bbox: Box2I, dtype: npt.DTypeLike = np.float32) -> None:
        dims = bbox.getDimensions()
        self._init_size(dims.getX(), dims.getY(), dtype)
        self._x0, self._y0 = bbox.getMinX(), bbox.getMinY()

    def _init_size(self, width: int, height: int, dtype: npt.DTypeLike = np.float32) -> None:
        w, h = _as_size(width, "width"), _as_size(height, "height")
        self._set(_coerce_pixels(np.zeros((h, w), dtype=dtype), None, False), 0, 0)

    def __iadd__(self, other: Any) -> Self:
        pixels = self._writable()
        pixels += self._operand(other, "+=")
        return self

    def __isub__(self, other: Any) -> Self:
        pixels = self._writable()
        pixels -= self._operand(other, "-=")
        return self

    def __imul__(self, other: Any) -> Self:
        pixels = self._writable()
        pixels *= self._operand(other, "*=")
        return self

    def __itruediv__(self, other: Any) -> Self:
        pixels = self._writable()
        pixels /= self._operand(other, "/=")
        return self

    def convertF(self) -> Image:
        """Return a float32 copy (same ``xy0``), as ``afw``'s ``convertF``."""
        return Image(self._array.astype(np.float32), xy0=(self._x0, self._y0))

    def convertD(self) -> Image:
        """Return a float64 copy (same ``xy0``), as ``afw``'s ``convertD``."""
        return Image(self._array.astype(np.float64), xy0=(self._x0, self._y0))


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
    return owner._planes if isinstance(owner, Mask) else _DEFAULT_MASK_PLANES


def _plane_bit(owner: Mask | type[Mask], name: str) -> int:
    planes = _plane_dict(owner)
    try:
        return planes[name]
    except KeyError:
        raise KeyError(
            f"mask plane {name!r} is not defined; known planes: {sorted(planes)}"
        ) from None


class Mask(_ImageBase):
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
        elif isinstance(first, _ImageBase):
            raise TypeError(f"cannot make a Mask view of a {type(first).__name__}")
        else:
            self._init_array(first, *rest, **kwargs)

    @staticmethod
    def _new_planes(planeDict: Mapping[str, int] | None) -> dict[str, int]:
        return dict(_DEFAULT_MASK_PLANES) if planeDict is None else _validate_planes(planeDict)

    def _init_array(
        self,
        array: npt.ArrayLike,
        xy0: Point2I | Iterable[int] = (0, 0),
        planeDict: Mapping[str, int] | None = None,
        copy: bool = False,
    ) -> None:
        arr = _int32_mask_array(array)
        if copy and arr is array:
            arr = arr.copy(order="K")
        self._set(arr, *_as_xy(xy0, "xy0"))
        self._planes = self._new_planes(planeDict)

    def _init_bbox(self, bbox: Box2I, planeDict: Mapping[str, int] | None = None) -> None:
        dims = bbox.getDimensions()
        self._init_size(dims.getX(), dims.getY(), planeDict)
        self._x0, self._y0 = bbox.getMinX(), bbox.getMinY()

    def _init_size(
        self, width: int, height: int, planeDict: Mapping[str, int] | None = None
    ) -> None:
        w, h = _as_size(width, "width"), _as_size(height, "height")
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
        return _MAX_MASK_PLANES

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
        for bit in range(_MAX_MASK_PLANES):
            if bit not in used:
                planes[name] = bit
                return bit
        raise ValueError(
            f"cannot add mask plane {name!r}: all {_MAX_MASK_PLANES} planes are in use"
        )

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
        if not 0 <= index < _MAX_MASK_PLANES:
            raise ValueError(f"mask bits are in [0, {_MAX_MASK_PLANES}), not {index}")
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


def _assign(target: _ImageBase, value: Any, what: str) -> None:
    """Copy ``value`` (image with the same bbox, array or scalar) into ``target``."""
    if isinstance(value, _ImageBase):
        if (value._x0, value._y0, value._array.shape) != (
            target._x0,
            target._y0,
            target._array.shape,
        ):
            raise _bbox_mismatch(f"cannot assign the {what}", target.getBBox(), value.getBBox())
        value = value._array
    target._writable()[...] = value


# --------------------------------------------------------------------------
# MaskedImage
# --------------------------------------------------------------------------


def _dispatch_init(
    obj: Any,
    args: tuple,
    kwargs: dict[str, Any],
    *,
    view: type,
    part: type,
    partName: str,
    hint: str,
) -> None:
    """The constructor overloads shared by `MaskedImage` and `Exposure`:
    ``(same type, bbox, ...)`` is a view, ``(part, ...)`` wraps planes,
    ``(Box2I | Extent2I | width, height, ...)`` allocates."""
    name = type(obj).__name__
    article = "an" if name[0] in "AEIOU" else "a"
    if not args:
        raise TypeError(
            f"{name}() needs {partName}, a Box2I, an Extent2I, width and height, or {article} "
            f"{name}; {hint}"
        )
    first, rest = args[0], args[1:]
    if isinstance(first, view):
        obj._init_view(first, *rest, **kwargs)
    elif isinstance(first, part):
        obj._init_parts(first, *rest, **kwargs)
    elif isinstance(first, Box2I):
        obj._init_bbox(first, *rest, **kwargs)
    elif isinstance(first, Extent2I):
        obj._init_bbox(Box2I(Point2I(0, 0), first), *rest, **kwargs)
    elif isinstance(first, (int, np.integer)) and not isinstance(first, bool):
        if not rest:
            raise TypeError(f"{name}(width, height) needs a height")
        width, height = _as_size(first, "width"), _as_size(rest[0], "height")
        obj._init_bbox(Box2I(Point2I(0, 0), Extent2I(width, height)), *rest[1:], **kwargs)
    else:
        raise TypeError(f"cannot make {article} {name} from a {type(first).__name__}; {hint}")


class MaskedImage:
    """An image, a mask and a variance on the same bbox (``lsst.afw.image.MaskedImage``).

    Constructors:

    - ``MaskedImage(image, mask=None, variance=None)`` combines existing
      planes (not copied). A missing mask is zeros with the default planes; a
      missing variance is zeros of the image's dtype;
    - ``MaskedImage(bbox, dtype=np.float32)``, ``MaskedImage(width, height,
      dtype=np.float32)`` and ``MaskedImage(dimensions, ...)`` allocate zeros
      (optional ``planeDict=`` keyword);
    - ``MaskedImage(maskedImage, bbox=None, origin=PARENT, deep=False, *,
      writeable=True)`` is a view (or deep copy) of ``bbox``;
    - ``MaskedImage.fromArrays(image, mask=None, variance=None, xy0=(0, 0))``
      wraps numpy arrays.

    Notes
    -----
    The image must be float32 or float64 and the variance has the same dtype.
    Arithmetic follows ``afw``: ``+=``/``-=`` with a scalar, an array or an
    `Image` act on the image plane; with a `MaskedImage` the variances add and
    the masks are OR'ed. ``*= s`` scales the image by ``s`` and the variance by
    ``s**2``; ``/= s`` divides them by ``s`` and ``s**2``.
    """

    _image: Image
    _mask: Mask
    _variance: Image

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        _dispatch_init(
            self,
            args,
            kwargs,
            view=MaskedImage,
            part=Image,
            partName="an Image",
            hint="use MaskedImage.fromArrays for numpy arrays",
        )

    def _init_parts(
        self, image: Image, mask: Mask | None = None, variance: Image | None = None
    ) -> None:
        if image.dtype.kind != "f" or image.dtype.itemsize not in (4, 8):
            raise TypeError(f"a MaskedImage needs a float32 or float64 image, not {image.dtype}")
        bbox = image.getBBox()
        if mask is None:
            mask = Mask(bbox)
        elif not isinstance(mask, Mask):
            raise TypeError(f"mask must be a Mask or None, not {type(mask).__name__}")
        elif mask.getBBox() != bbox:
            raise _bbox_mismatch("image and mask", bbox, mask.getBBox())
        if variance is None:
            variance = Image(bbox, dtype=image.dtype)
        elif not isinstance(variance, Image):
            raise TypeError(f"variance must be an Image or None, not {type(variance).__name__}")
        elif variance.getBBox() != bbox:
            raise _bbox_mismatch("image and variance", bbox, variance.getBBox())
        elif variance.dtype != image.dtype:
            raise TypeError(
                f"the variance dtype {variance.dtype} differs from the image dtype {image.dtype}"
            )
        self._image, self._mask, self._variance = image, mask, variance

    def _init_bbox(
        self,
        bbox: Box2I,
        dtype: npt.DTypeLike = np.float32,
        *,
        planeDict: Mapping[str, int] | None = None,
    ) -> None:
        self._init_parts(Image(bbox, dtype), Mask(bbox, planeDict), Image(bbox, dtype))

    def _init_view(
        self,
        source: MaskedImage,
        bbox: Box2I | None = None,
        origin: ImageOrigin | str = PARENT,
        deep: bool = False,
        *,
        writeable: bool = True,
    ) -> None:
        view = source._view(bbox, origin, deep, writeable)
        self._image, self._mask, self._variance = view._image, view._mask, view._variance

    @classmethod
    def _from_planes(cls, image: Image, mask: Mask, variance: Image) -> Self:
        obj = cls.__new__(cls)
        obj._image, obj._mask, obj._variance = image, mask, variance
        return obj

    def _view(
        self,
        bbox: Box2I | None,
        origin: ImageOrigin | str,
        deep: bool,
        writeable: bool,
        owner: str = "",
    ) -> Self:
        img, msk, var = self._image, self._mask, self._variance
        if (
            bbox is not None
            and not deep
            and origin is PARENT
            and msk._x0 == var._x0 == img._x0
            and msk._y0 == var._y0 == img._y0
        ):
            # Fast path (a cell view per mapper call): validate and slice once
            # for the three planes.
            sy, sx = img._slices(bbox, origin, owner or type(self).__name__)
            x0, y0 = img._x0 + sx.start, img._y0 + sy.start
            planes = []
            for plane in (img, msk, var):
                array = (plane._writable() if writeable else plane._array)[sy, sx]
                if not writeable:
                    array = _read_only(array)
                planes.append(plane._derive(array, x0, y0, share=writeable))
            return self._from_planes(
                cast(Image, planes[0]), cast(Mask, planes[1]), cast(Image, planes[2])
            )
        image = img._view(bbox, origin, deep, writeable, owner or type(self).__name__)
        if bbox is not None and _as_origin(origin) is LOCAL:
            bbox, origin = image.getBBox(), PARENT
        return self._from_planes(
            image,
            self._mask._view(bbox, origin, deep, writeable),
            self._variance._view(bbox, origin, deep, writeable),
        )

    @classmethod
    def fromArrays(
        cls,
        image: npt.ArrayLike,
        mask: npt.ArrayLike | None = None,
        variance: npt.ArrayLike | None = None,
        xy0: Point2I | Iterable[int] = (0, 0),
        *,
        planeDict: Mapping[str, int] | None = None,
    ) -> Self:
        """Wrap numpy arrays, without copying when their dtypes fit.

        Parameters
        ----------
        image : array_like
            2-d pixels. float32 and float64 arrays are wrapped as they are;
            float16 and integer arrays of up to 16 bits become float32; wider
            integers become float64. bool, complex and object arrays raise
            `TypeError`.
        mask : array_like, optional
            Integer bits (int32 is wrapped; other integer types are converted
            to int32). A boolean array sets the ``BAD`` plane where `True`.
            Missing: zeros (no plane set).
        variance : array_like, optional
            Cast to the image's dtype when it differs. Missing: zeros, so
            every pixel with a finite image value counts as valid.
        xy0 : `~imagemapper.Point2I` or pair of `int`, optional
            Parent position of array element ``[0, 0]``.
        planeDict : `dict` [`str`, `int`], optional
            Mask planes; the defaults when omitted.

        Returns
        -------
        maskedImage : `MaskedImage`

        Raises
        ------
        TypeError
            For unsupported dtypes.
        ValueError
            If an array is not 2-d or the shapes differ.

        Notes
        -----
        Arrays in non-native byte order (big-endian data from FITS) are
        converted to native order, which copies them.
        """
        img = _float_image_array(image)
        x0, y0 = _as_xy(xy0, "xy0")
        planes = Mask._new_planes(planeDict)
        if mask is None:
            msk = np.zeros(img.shape, dtype=np.int32)
        else:
            marr = np.asarray(mask)
            _check_2d(marr, "the mask array")
            if marr.dtype.kind == "b":
                if "BAD" not in planes:
                    raise ValueError("a boolean mask needs a BAD plane in planeDict")
                msk = np.where(marr, np.int32(1 << planes["BAD"]), np.int32(0))
            else:
                msk = _int32_mask_array(marr, "the mask array")
        if variance is None:
            var = np.zeros(img.shape, dtype=img.dtype)
        else:
            varr = np.asarray(variance)
            _check_2d(varr, "the variance array")
            if varr.dtype.kind not in "iuf":
                raise TypeError(f"the variance array must be numeric, not dtype {varr.dtype}")
            var = _native(varr) if varr.dtype == img.dtype else varr.astype(img.dtype)
        if not (img.shape == msk.shape == var.shape):
            raise ValueError(
                f"image, mask and variance shapes differ: {img.shape}, {msk.shape}, {var.shape}"
            )
        image_obj = Image.__new__(Image)
        image_obj._set(img, x0, y0)
        mask_obj = Mask.__new__(Mask)
        mask_obj._set(msk, x0, y0)
        mask_obj._planes = planes
        variance_obj = Image.__new__(Image)
        variance_obj._set(var, x0, y0)
        return cls._from_planes(image_obj, mask_obj, variance_obj)

    # -- planes -------------------------------------------------------------

    @property
    def image(self) -> Image:
        """The image plane; assigning copies pixels in."""
        return self._image

    @image.setter
    def image(self, value: Any) -> None:
        _assign(self._image, value, "image")

    @property
    def mask(self) -> Mask:
        """The mask plane; assigning copies pixels in."""
        return self._mask

    @mask.setter
    def mask(self, value: Any) -> None:
        _assign(self._mask, value, "mask")

    @property
    def variance(self) -> Image:
        """The variance plane; assigning copies pixels in."""
        return self._variance

    @variance.setter
    def variance(self, value: Any) -> None:
        _assign(self._variance, value, "variance")

    def getImage(self) -> Image:
        """Return the image plane."""
        return self._image

    def getMask(self) -> Mask:
        """Return the mask plane."""
        return self._mask

    def getVariance(self) -> Image:
        """Return the variance plane."""
        return self._variance

    @property
    def dtype(self) -> np.dtype:
        """The dtype of the image (and variance)."""
        return self._image.dtype

    @property
    def Factory(self) -> type[Self]:
        """The class of this object."""
        return type(self)

    def getBBox(self, origin: ImageOrigin | str = PARENT) -> Box2I:
        """Return the bounding box (see `Image.getBBox`)."""
        return self._image.getBBox(origin)

    def getXY0(self) -> Point2I:
        """Return the parent position of array element ``[0, 0]``."""
        return self._image.getXY0()

    def setXY0(self, xy0: Point2I | Iterable[int]) -> None:
        """Set ``xy0`` of all three planes."""
        x0, y0 = _as_xy(xy0, "xy0")
        for plane in (self._image, self._mask, self._variance):
            plane._x0, plane._y0 = x0, y0

    def getX0(self) -> int:
        """Return the parent x of the first column."""
        return self._image._x0

    def getY0(self) -> int:
        """Return the parent y of the first row."""
        return self._image._y0

    def getWidth(self) -> int:
        """Return the number of columns."""
        return self._image.getWidth()

    def getHeight(self) -> int:
        """Return the number of rows."""
        return self._image.getHeight()

    def getDimensions(self) -> Extent2I:
        """Return ``(width, height)``."""
        return self._image.getDimensions()

    def clone(self) -> Self:
        """Return a deep copy."""
        return self._from_planes(self._image.clone(), self._mask.clone(), self._variance.clone())

    def subset(self, bbox: Box2I, origin: ImageOrigin | str = PARENT) -> Self:
        """Return a view of ``bbox``.

        Raises
        ------
        ValueError
            If ``bbox`` is not contained in the image's box.
        """
        return self._view(bbox, origin, deep=False, writeable=True)

    def _box_key(self, key: Any) -> Box2I:
        box = key if isinstance(key, Box2I) else _slice_box(key, self.getBBox)
        if box is None:
            raise TypeError(
                f"index a {type(self).__name__} with a Box2I or [x0:x1, y0:y1], not {key!r}"
            )
        return box

    def __getitem__(self, key: Box2I | tuple[Any, ...] | slice) -> Self:
        """Return a view of ``bbox`` or ``[x0:x1, y0:y1]`` (PARENT coordinates)."""
        return self._view(self._box_key(key), PARENT, deep=False, writeable=True)

    def __setitem__(self, key: Box2I | tuple[Any, ...] | slice, value: Any) -> None:
        """Copy a `MaskedImage` of the same size into ``bbox``, or `set` it to a value."""
        self[key].set(value)

    def assign(
        self, rhs: MaskedImage, bbox: Box2I | None = None, origin: ImageOrigin | str = PARENT
    ) -> None:
        """Copy the three planes of ``rhs`` into ``bbox`` (``afw``'s ``assign``; `None`
        or an empty box means the whole image)."""
        if not isinstance(rhs, MaskedImage):
            raise TypeError(f"assign() copies a MaskedImage, not {type(rhs).__name__}")
        for mine, theirs in zip(
            (self._image, self._mask, self._variance), (rhs._image, rhs._mask, rhs._variance)
        ):
            mine.assign(theirs, bbox, origin)

    def set(self, value: Any) -> None:
        """Set the pixels.

        Parameters
        ----------
        value : scalar, `tuple` or `MaskedImage`
            A scalar sets the image to it and the mask and variance to 0; a
            tuple ``(image, mask, variance)`` sets each plane; a `MaskedImage`
            of the same size is copied in.
        """
        if isinstance(value, MaskedImage):
            if value.getDimensions() != self.getDimensions():
                raise ValueError(
                    f"cannot copy a MaskedImage of bbox {value.getBBox()!r} "
                    f"into bbox {self.getBBox()!r}"
                )
            self._image._writable()[...] = value._image._array
            self._mask._writable()[...] = value._mask._array
            self._variance._writable()[...] = value._variance._array
        elif isinstance(value, tuple):
            if len(value) != 3:
                raise ValueError(f"set() needs (image, mask, variance), got {len(value)} values")
            self._image.set(value[0])
            self._mask.set(value[1])
            self._variance.set(value[2])
        else:
            self._image.set(value)
            self._mask.set(0)
            self._variance.set(0)

    def _check_same(self, other: MaskedImage, op: str) -> None:
        if other.getBBox() != self.getBBox():
            raise _bbox_mismatch(
                f"{op} needs masked images with the same bbox", self.getBBox(), other.getBBox()
            )

    def __iadd__(self, other: Any) -> Self:
        if isinstance(other, MaskedImage):
            self._check_same(other, "+=")
            pixels = self._image._writable()
            pixels += other._image._array
            pixels = self._variance._writable()
            pixels += other._variance._array
            pixels = self._mask._writable()
            pixels |= other._mask._array
        else:
            self._image += other
        return self

    def __isub__(self, other: Any) -> Self:
        if isinstance(other, MaskedImage):
            self._check_same(other, "-=")
            pixels = self._image._writable()
            pixels -= other._image._array
            pixels = self._variance._writable()
            pixels += other._variance._array
            pixels = self._mask._writable()
            pixels |= other._mask._array
        else:
            self._image -= other
        return self

    def __imul__(self, other: Any) -> Self:
        if isinstance(other, (MaskedImage, _ImageBase)):
            raise TypeError("MaskedImage *= takes a scalar or an array")
        pixels = self._image._writable()
        pixels *= other
        pixels = self._variance._writable()
        pixels *= np.square(other)
        return self

    def __itruediv__(self, other: Any) -> Self:
        if isinstance(other, (MaskedImage, _ImageBase)):
            raise TypeError("MaskedImage /= takes a scalar or an array")
        pixels = self._image._writable()
        pixels /= other
        pixels = self._variance._writable()
        pixels /= np.square(other)
        return self

    def __repr__(self) -> str:
        return f"{type(self).__name__}(bbox={self.getBBox()!r}, dtype={self.dtype})"

    def __deepcopy__(self, memo: dict[int, Any]) -> Self:
        return self.clone()


# --------------------------------------------------------------------------
# Exposure
# --------------------------------------------------------------------------

_STANDARD_KEY = re.compile(r"^[A-Z0-9_-]{1,8}$")


def _card_key(key: str) -> str:
    """Return the header key to use for ``key`` (``HIERARCH`` when it is not a standard keyword)."""
    return key if _STANDARD_KEY.match(key) else f"HIERARCH {key}"


class Exposure:
    """A `MaskedImage` with a PSF, a WCS and metadata (``lsst.afw.image.Exposure``).

    Constructors:

    - ``Exposure(width, height, dtype=np.float32)``, ``Exposure(bbox,
      dtype=...)`` and ``Exposure(dimensions, ...)`` allocate zeros (keywords
      ``psf=``, ``wcs=``, ``planeDict=``);
    - ``Exposure(maskedImage, psf=None, wcs=None, metadata=None)`` wraps a
      `MaskedImage` (not copied);
    - ``Exposure(exposure, bbox=None, origin=PARENT, deep=False, *,
      writeable=True)`` is a view of ``bbox`` sharing pixels, the PSF, the
      WCS and the metadata dict; ``deep=True`` copies everything.
      ``writeable=False`` gives a cheap read-only view: no pixel is copied,
      the three arrays have ``flags.writeable = False`` (so writes raise
      numpy's `ValueError`), and the metadata and mask-plane dicts are
      shallow copies so the view cannot change its parent (the PSF and WCS
      objects are still shared);
    - ``Exposure.fromArrays(image, mask=None, variance=None, xy0=(0, 0),
      psf=None, wcs=None)`` wraps numpy arrays (see
      `MaskedImage.fromArrays`).

    Notes
    -----
    The WCS is an `astropy.wcs.WCS` in 0-based **parent** pixel coordinates:
    ``exposure.wcs.pixel_to_world(x, y)`` takes the same ``(x, y)`` as
    ``exposure.getBBox()``; views keep the parent's WCS.
    """

    _maskedImage: MaskedImage
    _psf: Any
    _wcs: WCS | None
    _metadata: dict[str, Any]
    _photoCalib: Any = None

    _FITS_EXTNAMES: ClassVar[tuple[str, str, str]] = ("IMAGE", "MASK", "VARIANCE")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        _dispatch_init(
            self,
            args,
            kwargs,
            view=Exposure,
            part=MaskedImage,
            partName="a MaskedImage",
            hint="use Exposure.fromArrays for numpy arrays or Exposure.readFits for files",
        )

    def _init_parts(
        self,
        maskedImage: MaskedImage,
        psf: Any = None,
        wcs: WCS | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> None:
        self._maskedImage = maskedImage
        self._psf = psf
        self._wcs = _check_wcs(wcs)
        self._metadata = dict(metadata) if metadata is not None else {}

    def _init_bbox(
        self,
        bbox: Box2I,
        dtype: npt.DTypeLike = np.float32,
        *,
        psf: Any = None,
        wcs: WCS | None = None,
        planeDict: Mapping[str, int] | None = None,
    ) -> None:
        self._init_parts(MaskedImage(bbox, dtype, planeDict=planeDict), psf, wcs)

    def _init_view(
        self,
        source: Exposure,
        bbox: Box2I | None = None,
        origin: ImageOrigin | str = PARENT,
        deep: bool = False,
        *,
        writeable: bool = True,
    ) -> None:
        self.__dict__.update(source._view(bbox, origin, deep, writeable).__dict__)

    def _view(
        self, bbox: Box2I | None, origin: ImageOrigin | str, deep: bool, writeable: bool
    ) -> Self:
        obj = type(self).__new__(type(self))
        obj._maskedImage = self._maskedImage._view(
            bbox, origin, deep, writeable, type(self).__name__
        )
        if deep:
            obj._psf = copy.deepcopy(self._psf)
            obj._wcs = copy.deepcopy(self._wcs)
            obj._metadata = copy.deepcopy(self._metadata)
        else:
            obj._psf = self._psf
            obj._wcs = self._wcs
            obj._metadata = self._metadata if writeable else dict(self._metadata)
        if self._photoCalib is not None:
            obj._photoCalib = copy.deepcopy(self._photoCalib) if deep else self._photoCalib
        return obj

    @classmethod
    def fromArrays(
        cls,
        image: npt.ArrayLike,
        mask: npt.ArrayLike | None = None,
        variance: npt.ArrayLike | None = None,
        xy0: Point2I | Iterable[int] = (0, 0),
        psf: Any = None,
        wcs: WCS | None = None,
        *,
        planeDict: Mapping[str, int] | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> Self:
        """Wrap numpy arrays as an exposure, without copying when their dtypes fit.

        Parameters
        ----------
        image, mask, variance, xy0, planeDict
            As for `MaskedImage.fromArrays`: float32/float64 images are
            wrapped; integer images become float32 (up to 16 bits) or float64;
            bool/complex/object images raise `TypeError`; a missing mask or
            variance is zeros; big-endian arrays are converted to native order.
        psf : object, optional
            The PSF.
        wcs : `astropy.wcs.WCS`, optional
            Sky coordinates of 0-based parent pixels.
        metadata : mapping, optional
            FITS header cards to carry.

        Returns
        -------
        exposure : `Exposure`

        Raises
        ------
        TypeError
            For unsupported dtypes or a WCS that is not an `astropy.wcs.WCS`.
        ValueError
            If an array is not 2-d or the shapes differ.

        Examples
        --------
        >>> import numpy as np, imagemapper as im
        >>> exp = im.Exposure.fromArrays(np.ones((3, 4), dtype=np.float32), xy0=(5, 6))
        >>> exp.getBBox()
        Box2I(minimum=Point2I(5, 6), dimensions=Extent2I(4, 3))
        """
        mi = MaskedImage.fromArrays(image, mask, variance, xy0, planeDict=planeDict)
        obj = cls.__new__(cls)
        obj._init_parts(mi, psf, wcs, metadata)
        return obj

    # -- planes -------------------------------------------------------------

    @property
    def maskedImage(self) -> MaskedImage:
        """The `MaskedImage` (assigning replaces it, like `setMaskedImage`)."""
        return self._maskedImage

    @maskedImage.setter
    def maskedImage(self, value: MaskedImage) -> None:
        self.setMaskedImage(value)

    def getMaskedImage(self) -> MaskedImage:
        """Return the `MaskedImage`."""
        return self._maskedImage

    def setMaskedImage(self, maskedImage: MaskedImage) -> None:
        """Replace the `MaskedImage` (not copied)."""
        if not isinstance(maskedImage, MaskedImage):
            raise TypeError(f"expected a MaskedImage, not {type(maskedImage).__name__}")
        self._maskedImage = maskedImage

    @property
    def image(self) -> Image:
        """The image plane; assigning copies pixels in."""
        return self._maskedImage._image

    @image.setter
    def image(self, value: Any) -> None:
        self._maskedImage.image = value

    @property
    def mask(self) -> Mask:
        """The mask plane; assigning copies pixels in."""
        return self._maskedImage._mask

    @mask.setter
    def mask(self, value: Any) -> None:
        self._maskedImage.mask = value

    @property
    def variance(self) -> Image:
        """The variance plane; assigning copies pixels in."""
        return self._maskedImage._variance

    @variance.setter
    def variance(self, value: Any) -> None:
        self._maskedImage.variance = value

    @property
    def dtype(self) -> np.dtype:
        """The dtype of the image (and variance)."""
        return self._maskedImage.dtype

    @property
    def Factory(self) -> type[Self]:
        """The class of this object: ``exposure.Factory(exposure, bbox)`` is a view."""
        return type(self)

    # -- geometry -----------------------------------------------------------

    def getBBox(self, origin: ImageOrigin | str = PARENT) -> Box2I:
        """Return the bounding box (see `Image.getBBox`)."""
        return self._maskedImage._image.getBBox(origin)

    def getXY0(self) -> Point2I:
        """Return the parent position of array element ``[0, 0]``."""
        return self._maskedImage.getXY0()

    def setXY0(self, xy0: Point2I | Iterable[int]) -> None:
        """Move the image to a new ``xy0``, keeping each pixel's sky position.

        As in ``afw``, the WCS (if any) is replaced by a copy shifted by
        ``xy0 - old xy0``; other views keep the old WCS object.
        """
        x0, y0 = _as_xy(xy0, "xy0")
        old = self.getXY0()
        if self._wcs is not None:
            self._wcs = _shifted_wcs(self._wcs, x0 - old.getX(), y0 - old.getY())
        self._maskedImage.setXY0((x0, y0))

    def getX0(self) -> int:
        """Return the parent x of the first column."""
        return self._maskedImage.getX0()

    def getY0(self) -> int:
        """Return the parent y of the first row."""
        return self._maskedImage.getY0()

    def getWidth(self) -> int:
        """Return the number of columns."""
        return self._maskedImage.getWidth()

    def getHeight(self) -> int:
        """Return the number of rows."""
        return self._maskedImage.getHeight()

    def getDimensions(self) -> Extent2I:
        """Return ``(width, height)``."""
        return self._maskedImage.getDimensions()

    # -- PSF, WCS, metadata ---------------------------------------------------

    @property
    def psf(self) -> Any:
        """The PSF, or `None`."""
        return self._psf

    @psf.setter
    def psf(self, value: Any) -> None:
        self._psf = value

    def getPsf(self) -> Any:
        """Return the PSF (or `None`)."""
        return self._psf

    def setPsf(self, psf: Any) -> None:
        """Set the PSF (`None` removes it)."""
        self._psf = psf

    def hasPsf(self) -> bool:
        """Return whether there is a PSF."""
        return self._psf is not None

    @property
    def wcs(self) -> WCS | None:
        """The `astropy.wcs.WCS` in 0-based parent pixel coordinates, or `None`."""
        return self._wcs

    @wcs.setter
    def wcs(self, value: WCS | None) -> None:
        self._wcs = _check_wcs(value)

    def getWcs(self) -> WCS | None:
        """Return the WCS (or `None`)."""
        return self._wcs

    def setWcs(self, wcs: WCS | None) -> None:
        """Set the WCS (0-based parent pixel coordinates; `None` removes it)."""
        self._wcs = _check_wcs(wcs)

    def hasWcs(self) -> bool:
        """Return whether there is a WCS."""
        return self._wcs is not None

    @property
    def photoCalib(self) -> Any:
        """The photometric calibration (``lsst.afw.image.PhotoCalib``-like), or `None`."""
        return self._photoCalib

    @photoCalib.setter
    def photoCalib(self, value: Any) -> None:
        self._photoCalib = value

    def getPhotoCalib(self) -> Any:
        """Return the photometric calibration, or `None` when there is none."""
        return self._photoCalib

    def setPhotoCalib(self, photoCalib: Any) -> None:
        """Set the photometric calibration (`None` removes it); views share it."""
        self._photoCalib = photoCalib

    @property
    def metadata(self) -> dict[str, Any]:
        """FITS header cards carried with the exposure (a live dict)."""
        return self._metadata

    @metadata.setter
    def metadata(self, value: Mapping[str, Any]) -> None:
        self._metadata = dict(value)

    def getMetadata(self) -> dict[str, Any]:
        """Return the metadata dict (live)."""
        return self._metadata

    def setMetadata(self, metadata: Mapping[str, Any]) -> None:
        """Replace the metadata with a copy of ``metadata``."""
        self._metadata = dict(metadata)

    # -- copies and sub-exposures -------------------------------------------

    def clone(self) -> Self:
        """Return a deep copy (pixels, mask planes, PSF, WCS and metadata)."""
        return self._view(None, PARENT, deep=True, writeable=True)

    def subset(self, bbox: Box2I, origin: ImageOrigin | str = PARENT) -> Self:
        """Return a view of ``bbox`` sharing pixels, PSF and WCS.

        Raises
        ------
        ValueError
            If ``bbox`` is not contained in the exposure's box (the message
            names both boxes).
        """
        return self._view(bbox, origin, deep=False, writeable=True)

    def __getitem__(self, key: Box2I | tuple[Any, ...] | slice) -> Self:
        """Return a view of ``bbox`` or ``[x0:x1, y0:y1]`` (PARENT coordinates)."""
        return self._view(self._maskedImage._box_key(key), PARENT, deep=False, writeable=True)

    def __setitem__(self, key: Box2I | tuple[Any, ...] | slice, value: Any) -> None:
        """Copy an exposure's or a masked image's pixels, or a value, into ``bbox``."""
        if isinstance(value, Exposure):
            value = value._maskedImage
        self._maskedImage[key] = value

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(bbox={self.getBBox()!r}, dtype={self.dtype}, "
            f"psf={self._psf!r}, wcs={'yes' if self._wcs is not None else 'no'})"
        )

    def __deepcopy__(self, memo: dict[int, Any]) -> Self:
        return self.clone()

    # -- FITS -----------------------------------------------------------------

    def writeFits(
        self,
        path: str | os.PathLike[str],
        overwrite: bool = True,
        *,
        compress: bool | None = None,
    ) -> None:
        """Write the LSST multi-extension layout, atomically and with checksums.

        A primary HDU holding ``metadata`` (``HIERARCH`` cards for long names,
        one ``HISTORY``/``COMMENT`` card per line of a list) and ``IM_VERS``
        (the package version), then image extensions ``IMAGE``, ``MASK`` and
        ``VARIANCE``. Each carries ``xy0`` as ``LTV1 = -x0``, ``LTV2 = -y0``
        and the ``PARENT`` linear WCS with key ``A`` (``CRVAL1A = x0``,
        ``CRPIX1A = 1``), plus the sky WCS shifted so that FITS pixel 1 is
        parent pixel ``x0``. The mask header has one ``MP_<NAME> = bit`` card
        per plane; the variance header ``UTYPE = 'VarianceUncertainty'`` (so
        ``CCDData.read(path, hdu_uncertainty='VARIANCE')`` reads it as a
        variance). A PSF is written as a ``PSF`` table (and ``PSF_KERNEL``
        images); `readFits` reads it back. Every HDU has ``CHECKSUM`` and
        ``DATASUM`` cards.

        Parameters
        ----------
        path : `str` or path-like
            Output file; ``.gz`` is gzip-compressed, ``.fz`` tile-compressed.
        overwrite : `bool`, optional
            Replace an existing file.
        compress : `bool`, optional
            Tile-compress the three planes (lossless: GZIP_2 for floats,
            RICE_1 for the mask); default: when the name ends in ``.fz``.

        Raises
        ------
        FileExistsError
            If the file exists and ``overwrite`` is False.
        OSError
            When writing fails (e.g. the disk is full); the file at ``path``
            is then untouched.

        Notes
        -----
        The file is written under a temporary name beside ``path``, flushed
        to disk and renamed to ``path`` only when complete: a previous file
        stays intact until then, and no partial file is ever left at
        ``path`` (not even if the process is killed). The pixels are written
        from big-endian copies, so the exposure is never modified.
        """
        from ._fitsio import writeExposure

        writeExposure(self, path, overwrite=overwrite, compress=compress)

    @classmethod
    def readFits(cls, path: str | os.PathLike[str], hdu: Any = None) -> Self:
        """Read an exposure from a FITS file: LSST, CCDData, HST/JWST or a plain image.

        Parameters
        ----------
        path : `str` or path-like
            Input file (``.gz``, ``.bz2`` and tile-compressed files too).
        hdu : `int`, `str` or ``(str, int)``, optional
            The image HDU: an index, an ``EXTNAME`` (``"SCI"`` or ``"SCI,2"``)
            or an ``(EXTNAME, EXTVER)`` pair. Default: the ``IMAGE``
            extension, else the first ``SCI`` extension (HST/JWST; an INFO
            log line names it when there are several), else the first HDU
            with 2-d image data.

        Returns
        -------
        exposure : `Exposure`
            Pixels in native byte order. The mask comes from the ``MASK`` (or
            ``DQ``) extension with the image's ``EXTVER``; plane names from
            ``MP_*`` cards (defaults otherwise; a ``DQ`` extension without
            them gets ``DQ_BIT<n>`` planes for the bits it uses). The variance
            comes from ``VARIANCE`` or ``VAR``, ``UNCERT`` (as its ``UTYPE``
            says: ``StdDevUncertainty`` -- the default --,
            ``VarianceUncertainty`` or ``InverseVariance``; also ``std``,
            ``var``, ``ivar``), ``ERR`` (a standard deviation) or ``IVAR``
            (inverse variance; 0 becomes ``inf``). A missing mask or variance
            is zeros. ``xy0`` comes from the ``PARENT`` ``A`` WCS or
            ``LTV1/2``; the sky WCS from the image header (shifted to parent
            pixels); the PSF from a ``PSF`` table; ``metadata`` from the
            primary header and the image HDU's header (the latter wins),
            without structural, WCS and mask-plane cards, ``HISTORY`` and
            ``COMMENT`` as lists of lines.

        Raises
        ------
        FileNotFoundError
            If there is no such file.
        OSError
            `~imagemapper._fitsio.FitsFormatError` (also a `ValueError`) when
            the file is not FITS, has no image data, is truncated, fails its
            ``CHECKSUM``/``DATASUM``, or its planes disagree with the image
            (shape, float mask, ``xy0``, mask planes); the message names the
            file and the HDU.

        Notes
        -----
        The file is read with ordinary reads, never memory-mapped (a
        truncated file raises an error instead of killing the process with
        SIGBUS). `~imagemapper.FitsSource` applies the same checks.
        """
        from ._fitsio import readExposure

        return cast("Self", readExposure(path, hdu, cls))

    # -- astropy NDData ---------------------------------------------------------

    def toNDData(self, unit: Any = None) -> NDData:
        """Return an `~astropy.nddata.NDData`, or a `~astropy.nddata.CCDData` when there is a unit.

        Parameters
        ----------
        unit : `astropy.units.Unit` or `str`, optional
            The data unit. With a unit (given, or ``metadata['BUNIT']``) the
            result is `toCCDData` ``(unit)``; otherwise an
            `~astropy.nddata.NDData`.

        Returns
        -------
        nddata : `~astropy.nddata.NDData`
            ``data`` is the image array and ``uncertainty`` a
            `~astropy.nddata.VarianceUncertainty` of the variance array, both
            shared with the exposure (no copies). ``mask`` is the int32 mask
            array (shared). ``wcs`` is a copy of the WCS whose pixel frame is
            the array (shifted by ``-xy0``, ``pixel_shape`` set). ``meta``
            holds the metadata, ``LTV1 = -x0``, ``LTV2 = -y0``,
            ``XY0 = (x0, y0)`` and one ``MP_<NAME>: bit`` item per mask plane.
            ``psf`` is the PSF's kernel image at its average position.
        """
        from ._fitsio import toNDData

        return cast("NDData", toNDData(self, unit))

    def toCCDData(self, unit: Any = None) -> CCDData:
        """Return a `~astropy.nddata.CCDData` sharing the pixels.

        Parameters
        ----------
        unit : `astropy.units.Unit` or `str`, optional
            The data unit; default ``metadata['BUNIT']``, else dimensionless.

        Returns
        -------
        ccd : `~astropy.nddata.CCDData`
            ``data`` the image array and ``uncertainty`` a
            `~astropy.nddata.VarianceUncertainty` of the variance array (both
            shared); ``mask`` is ``mask.array != 0`` (CCDData masks are
            boolean; the plane bits are in ``meta`` as ``MP_<NAME>`` cards);
            ``wcs`` in array pixels; ``meta`` a `~astropy.io.fits.Header` of
            the metadata with ``LTV1/2`` (so ``CCDData.write`` works and
            `fromNDData` restores ``xy0``); ``psf`` the kernel image.
        """
        from ._fitsio import toCCDData

        return cast("CCDData", toCCDData(self, unit))

    @classmethod
    def fromNDData(cls, nddata: NDData) -> Self:
        """Make an exposure from an `~astropy.nddata.NDData` or `~astropy.nddata.CCDData`.

        Parameters
        ----------
        nddata : `~astropy.nddata.NDData`
            ``data`` follows the `fromArrays` dtype rules (wrapped without a
            copy when it is float32/float64). The uncertainty may be `None`
            (zero variance), a `~astropy.nddata.VarianceUncertainty` (wrapped),
            a `~astropy.nddata.StdDevUncertainty` (squared) or an
            `~astropy.nddata.InverseVariance` (inverted; ``inf`` where it is
            0). A boolean mask sets the ``BAD`` plane; an integer mask is taken
            as plane bits. ``xy0`` comes from ``meta['XY0']`` (a pair) or
            ``meta['LTV1'/'LTV2']``, mask planes from ``meta['MP_<NAME>']``;
            the WCS must be an `astropy.wcs.WCS` (or wrap one) and is shifted
            from array to parent pixels. The unit becomes ``metadata['BUNIT']``;
            other meta items are kept in ``metadata``. A ``psf`` array becomes
            a `~imagemapper.KernelPsf`.

        Returns
        -------
        exposure : `Exposure`

        Raises
        ------
        TypeError
            For an unsupported uncertainty, mask dtype or WCS type.
        """
        from ._fitsio import fromNDData

        return cast("Self", fromNDData(cls, nddata))
