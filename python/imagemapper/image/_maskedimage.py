"""`MaskedImage`: image, mask and variance over one box, as ``lsst.afw.image.MaskedImage``."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, cast

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
    check2d,
    floatImageArray,
    int32MaskArray,
    nativeArray,
    readOnlyArray,
    sliceBox,
)
from ._image import Image, ImageBase
from ._mask import Mask, assignPixels

if TYPE_CHECKING:
    from typing_extensions import Self


# --------------------------------------------------------------------------
# MaskedImage
# --------------------------------------------------------------------------


def dispatchInit(
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
        width, height = asSize(first, "width"), asSize(rest[0], "height")
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
        dispatchInit(
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
            raise bboxMismatch("image and mask", bbox, mask.getBBox())
        if variance is None:
            variance = Image(bbox, dtype=image.dtype)
        elif not isinstance(variance, Image):
            raise TypeError(f"variance must be an Image or None, not {type(variance).__name__}")
        elif variance.getBBox() != bbox:
            raise bboxMismatch("image and variance", bbox, variance.getBBox())
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
                    array = readOnlyArray(array)
                planes.append(plane._derive(array, x0, y0, share=writeable))
            return self._from_planes(
                cast(Image, planes[0]), cast(Mask, planes[1]), cast(Image, planes[2])
            )
        image = img._view(bbox, origin, deep, writeable, owner or type(self).__name__)
        if bbox is not None and asOrigin(origin) is LOCAL:
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
        img = floatImageArray(image)
        x0, y0 = asXY(xy0, "xy0")
        planes = Mask._new_planes(planeDict)
        if mask is None:
            msk = np.zeros(img.shape, dtype=np.int32)
        else:
            marr = np.asarray(mask)
            check2d(marr, "the mask array")
            if marr.dtype.kind == "b":
                if "BAD" not in planes:
                    raise ValueError("a boolean mask needs a BAD plane in planeDict")
                msk = np.where(marr, np.int32(1 << planes["BAD"]), np.int32(0))
            else:
                msk = int32MaskArray(marr, "the mask array")
        if variance is None:
            var = np.zeros(img.shape, dtype=img.dtype)
        else:
            varr = np.asarray(variance)
            check2d(varr, "the variance array")
            if varr.dtype.kind not in "iuf":
                raise TypeError(f"the variance array must be numeric, not dtype {varr.dtype}")
            var = nativeArray(varr) if varr.dtype == img.dtype else varr.astype(img.dtype)
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
        assignPixels(self._image, value, "image")

    @property
    def mask(self) -> Mask:
        """The mask plane; assigning copies pixels in."""
        return self._mask

    @mask.setter
    def mask(self, value: Any) -> None:
        assignPixels(self._mask, value, "mask")

    @property
    def variance(self) -> Image:
        """The variance plane; assigning copies pixels in."""
        return self._variance

    @variance.setter
    def variance(self, value: Any) -> None:
        assignPixels(self._variance, value, "variance")

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
        x0, y0 = asXY(xy0, "xy0")
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
        box = key if isinstance(key, Box2I) else sliceBox(key, self.getBBox)
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
            raise bboxMismatch(
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
        if isinstance(other, (MaskedImage, ImageBase)):
            raise TypeError("MaskedImage *= takes a scalar or an array")
        pixels = self._image._writable()
        pixels *= other
        pixels = self._variance._writable()
        pixels *= np.square(other)
        return self

    def __itruediv__(self, other: Any) -> Self:
        if isinstance(other, (MaskedImage, ImageBase)):
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
