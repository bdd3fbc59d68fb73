"""`Image`: a 2-D array with a parent origin ``xy0`` (``lsst.afw.image.Image``) and its base."""

from __future__ import annotations

import numbers
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from .._core import Box2I, Extent2I, Point2I
from ._common import (
    LOCAL,
    PARENT,
    ImageOrigin,
    asOrigin,
    asSize,
    asXY,
    bboxMismatch,
    bboxOf,
    coercePixels,
    readOnlyArray,
    sliceBox,
)

if TYPE_CHECKING:
    from typing_extensions import Self


# --------------------------------------------------------------------------
# Image and Mask
# --------------------------------------------------------------------------


class ImageBase:
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
        if asOrigin(origin) is LOCAL:
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
            array = readOnlyArray(array)
        return self._derive(array, x0, y0, share=not deep and writeable)

    def _init_view(
        self,
        source: ImageBase,
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
        if asOrigin(origin) is LOCAL:
            return bboxOf(0, 0, self._array.shape)
        return bboxOf(self._x0, self._y0, self._array.shape)

    def getXY0(self) -> Point2I:
        """Return the parent position of array element ``[0, 0]``."""
        return Point2I(self._x0, self._y0)

    def setXY0(self, xy0: Point2I | Iterable[int]) -> None:
        """Set the parent position of array element ``[0, 0]`` (pixels are unchanged)."""
        self._x0, self._y0 = asXY(xy0, "xy0")

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
            x, y = asXY(key, "a pixel position")
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
            box = sliceBox(key, self.getBBox)
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
            box = sliceBox(key, self.getBBox)
            if box is not None:
                key = box
        if isinstance(key, Box2I):
            target = self._writable()[self._slices(key, PARENT)]
            if isinstance(value, ImageBase):
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
        self, rhs: ImageBase, bbox: Box2I | None = None, origin: ImageOrigin | str = PARENT
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
        if not isinstance(rhs, ImageBase):
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
        if isinstance(other, ImageBase):
            if (other._x0, other._y0, other._array.shape) != (
                self._x0,
                self._y0,
                self._array.shape,
            ):
                raise bboxMismatch(
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


class Image(ImageBase):
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
        if isinstance(first, ImageBase):
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
        xy = (0, 0) if xy0 is None else asXY(xy0, "xy0")
        self._set(coercePixels(array, dtype, copy or deep), *xy)

    def _init_bbox(self, bbox: Box2I, dtype: npt.DTypeLike = np.float32) -> None:
        dims = bbox.getDimensions()
        self._init_size(dims.getX(), dims.getY(), dtype)
        self._x0, self._y0 = bbox.getMinX(), bbox.getMinY()

    def _init_size(self, width: int, height: int, dtype: npt.DTypeLike = np.float32) -> None:
        w, h = asSize(width, "width"), asSize(height, "height")
        self._set(coercePixels(np.zeros((h, w), dtype=dtype), None, False), 0, 0)

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
