"""What the image classes share: origins, argument coercion and checks, WCS shifts, box slicing."""

from __future__ import annotations

import copy
import enum
import operator
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import numpy.typing as npt

from .._core import Box2I, Extent2I, Point2I

if TYPE_CHECKING:
    from astropy.wcs import WCS


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

MAX_MASK_PLANES = 31
INT32 = np.dtype(np.int32)


# --------------------------------------------------------------------------
# small helpers
# --------------------------------------------------------------------------


def asOrigin(origin: ImageOrigin | str) -> ImageOrigin:
    """Return ``origin`` as an `ImageOrigin` (also accepts ``"PARENT"``/``"LOCAL"``)."""
    if isinstance(origin, ImageOrigin):
        return origin
    if isinstance(origin, str):
        try:
            return ImageOrigin(origin.upper())
        except ValueError:
            pass
    raise TypeError(f"origin must be PARENT or LOCAL, not {origin!r}")


def asXY(value: Point2I | Extent2I | Iterable[int], what: str) -> tuple[int, int]:
    """Return an integer ``(x, y)`` pair from a point, an extent or a 2-sequence."""
    try:
        x, y = value  # type: ignore[misc]
        return operator.index(x), operator.index(y)
    except (TypeError, ValueError):
        raise TypeError(f"{what} must be a Point2I or a pair of integers, not {value!r}") from None


def asSize(value: Any, what: str) -> int:
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


def bboxOf(x0: int, y0: int, shape: tuple[int, ...]) -> Box2I:
    return Box2I(Point2I(x0, y0), Extent2I(shape[1], shape[0]))


def nativeArray(array: np.ndarray) -> np.ndarray:
    """Return ``array`` in native byte order (a copy only when it is not)."""
    if array.dtype.isnative:
        return array
    return array.astype(array.dtype.newbyteorder("="))


def readOnlyArray(array: np.ndarray) -> np.ndarray:
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


def ownedArray(array: np.ndarray) -> np.ndarray:
    """Return ``array`` if it owns its memory, else a copy."""
    return array if array.flags.owndata and array.base is None else array.copy()


def check2d(array: np.ndarray, what: str) -> None:
    if array.ndim != 2:
        raise ValueError(f"{what} must be a 2-d array, got shape {array.shape}")


def coercePixels(array: npt.ArrayLike, dtype: npt.DTypeLike | None, copy_: bool) -> np.ndarray:
    """Coerce an array for `Image`: numeric, 2-d, native byte order."""
    arr = np.asarray(array)
    check2d(arr, "an image array")
    if arr.dtype.kind not in "iuf":
        raise TypeError(f"image pixels must be integers or floats, not dtype {arr.dtype}")
    if dtype is not None:
        target = np.dtype(dtype)
        if target.kind not in "iuf":
            raise TypeError(f"image pixels must be integers or floats, not dtype {target}")
        if arr.dtype != target:
            arr = arr.astype(target.newbyteorder("="))
            copy_ = False
    arr = nativeArray(arr) if not copy_ else arr.astype(arr.dtype.newbyteorder("="), order="K")
    return arr


def floatImageArray(array: npt.ArrayLike) -> np.ndarray:
    """Coerce an image array for `MaskedImage.fromArrays` (see its docstring)."""
    arr = np.asarray(array)
    check2d(arr, "the image array")
    kind, size = arr.dtype.kind, arr.dtype.itemsize
    if kind == "f":
        if size in (4, 8):
            return nativeArray(arr)
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


def int32MaskArray(array: npt.ArrayLike, what: str = "a mask array") -> np.ndarray:
    """Coerce an integer array to native int32 (no copy when it already is)."""
    arr = np.asarray(array)
    check2d(arr, what)
    if arr.dtype.kind == "b":
        raise TypeError(
            f"{what} must have an integer dtype, not bool: a boolean array has no plane "
            "bits; set a plane instead, e.g. mask.array[flags] |= mask.getPlaneBitMask('BAD')"
        )
    if arr.dtype.kind not in "iu":
        raise TypeError(f"{what} must have an integer dtype (bits), not {arr.dtype}")
    if arr.dtype == INT32:
        return nativeArray(arr)
    if arr.size and (arr.dtype.itemsize > 4 or (arr.dtype.kind == "u" and arr.dtype.itemsize == 4)):
        info = np.iinfo(np.int32)
        lo, hi = int(arr.min()), int(arr.max())
        if lo < info.min or hi > info.max:
            raise ValueError(
                f"{what} of dtype {arr.dtype} holds values in [{lo}, {hi}], "
                "outside the int32 range of a Mask"
            )
    return arr.astype(np.int32)


def validatePlanes(planes: Mapping[str, int]) -> dict[str, int]:
    """Return a validated copy of a mask plane dict (name -> bit index)."""
    result: dict[str, int] = {}
    seen: dict[int, str] = {}
    for name, bit in planes.items():
        if not isinstance(name, str) or not name:
            raise TypeError(f"mask plane names must be non-empty strings, not {name!r}")
        index = operator.index(bit)
        if not 0 <= index < MAX_MASK_PLANES:
            raise ValueError(
                f"mask plane {name!r} has bit {index}; bits must be in [0, {MAX_MASK_PLANES})"
            )
        if index in seen:
            raise ValueError(f"mask planes {seen[index]!r} and {name!r} both use bit {index}")
        seen[index] = name
        result[name] = index
    return result


def bboxMismatch(what: str, a: Box2I, b: Box2I) -> ValueError:
    return ValueError(f"{what}: bounding boxes differ: {a!r} vs {b!r}")


def shiftedWcs(wcs: WCS, dx: float, dy: float) -> WCS:
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


def checkWcs(wcs: Any) -> WCS | None:
    if wcs is None:
        return None
    from astropy.wcs import WCS

    if not isinstance(wcs, WCS):
        raise TypeError(f"wcs must be an astropy.wcs.WCS or None, not {type(wcs).__name__}")
    if wcs.pixel_n_dim != 2:
        raise ValueError(f"wcs must have 2 pixel axes, not {wcs.pixel_n_dim}")
    return wcs


def sliceBound(index: int | None, size: int, origin: ImageOrigin, default: int) -> int:
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


def sliceBox(key: Any, bbox_of: Callable[[ImageOrigin], Box2I]) -> Box2I | None:
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
    x0 = sliceBound(x.start, bbox.getWidth(), origin, bbox.getBeginX())
    x1 = sliceBound(x.stop, bbox.getWidth(), origin, bbox.getEndX())
    y0 = sliceBound(y.start, bbox.getHeight(), origin, bbox.getBeginY())
    y1 = sliceBound(y.stop, bbox.getHeight(), origin, bbox.getEndY())
    if x1 < x0 or y1 < y0:
        raise IndexError(f"empty or inverted image slice {key!r}")
    if origin is LOCAL:
        parent = bbox_of(PARENT)
        x0, x1 = x0 + parent.getMinX(), x1 + parent.getMinX()
        y0, y1 = y0 + parent.getMinY(), y1 + parent.getMinY()
    return Box2I(Point2I(x0, y0), Extent2I(x1 - x0, y1 - y0))
