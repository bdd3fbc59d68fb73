"""``afw.image``'s typed spellings (``ImageF`` ... ``ExposureD``) and ``PhotoCalib``.

The typed classes are imagemapper's own `~imagemapper.Image`,
`~imagemapper.MaskedImage` and `~imagemapper.Exposure` with the pixel type
fixed for the pixels they allocate: ``ExposureD(bbox)`` is
``Exposure(bbox, dtype=np.float64)``, ``ImageF(array)`` converts the array to
float32. Everything else (views, arithmetic, FITS) is the package's.
"""

from __future__ import annotations

__all__ = [
    "ExposureD",
    "ExposureF",
    "ImageD",
    "ImageF",
    "ImageI",
    "ImageL",
    "ImageU",
    "MaskX",
    "MaskedImageD",
    "MaskedImageF",
    "PhotoCalib",
    "makeExposure",
    "makeMaskedImage",
    "makeMaskedImageFromArrays",
]

import math
import numbers
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt

from ..._core import Box2I, Extent2I
from ...image import Exposure, Image, Mask, MaskedImage
from ...image._image import ImageBase

MaskX = Mask


def _sizeArgs(args: tuple[Any, ...]) -> int:
    """How many leading ``args`` give a size (0 when they do not start with one)."""
    first = args[0] if args else None
    if isinstance(first, (Box2I, Extent2I)):
        return 1
    if isinstance(first, (int, np.integer)) and not isinstance(first, bool):
        return 2
    return 0


def _allocates(args: tuple[Any, ...]) -> bool:
    """Whether ``args`` are a constructor's allocating form with no dtype: a size,
    maybe followed by a fill value."""
    head = _sizeArgs(args)
    return head > 0 and all(isinstance(a, numbers.Number) for a in args[head:])


class _TypedImage(Image):
    _pixelType: ClassVar[npt.DTypeLike]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        if "dtype" not in kwargs and args and not isinstance(args[0], ImageBase):
            # an allocating form, or an array (with at most its xy0) without a dtype
            wrapsArray = _sizeArgs(args) == 0 and len(args) <= 2
            if wrapsArray or _allocates(args):
                kwargs["dtype"] = self._pixelType
        super().__init__(*args, **kwargs)


class ImageF(_TypedImage):
    """``afw.image.ImageF``: an `~imagemapper.Image` of float32 pixels."""

    _pixelType = np.float32


class ImageD(_TypedImage):
    """``afw.image.ImageD``: an `~imagemapper.Image` of float64 pixels."""

    _pixelType = np.float64


class ImageI(_TypedImage):
    """``afw.image.ImageI``: an `~imagemapper.Image` of int32 pixels."""

    _pixelType = np.int32


class ImageL(_TypedImage):
    """``afw.image.ImageL``: an `~imagemapper.Image` of int64 pixels."""

    _pixelType = np.int64


class ImageU(_TypedImage):
    """``afw.image.ImageU``: an `~imagemapper.Image` of uint16 pixels."""

    _pixelType = np.uint16


class _AllocatesPixelType:
    """Mixin: the allocating constructor forms get the class's pixel type."""

    _pixelType: ClassVar[npt.DTypeLike]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        if "dtype" not in kwargs and _allocates(args):
            kwargs["dtype"] = self._pixelType
        super().__init__(*args, **kwargs)


class MaskedImageF(_AllocatesPixelType, MaskedImage):
    """``afw.image.MaskedImageF``: a `~imagemapper.MaskedImage` allocating float32 planes."""

    _pixelType = np.float32


class MaskedImageD(MaskedImageF):
    """``afw.image.MaskedImageD``: a `~imagemapper.MaskedImage` allocating float64 planes."""

    _pixelType = np.float64


class ExposureF(_AllocatesPixelType, Exposure):
    """``afw.image.ExposureF``: an `~imagemapper.Exposure` allocating float32 planes."""

    _pixelType = np.float32


class ExposureD(ExposureF):
    """``afw.image.ExposureD``: an `~imagemapper.Exposure` allocating float64 planes."""

    _pixelType = np.float64


def makeMaskedImage(
    image: Image, mask: Mask | None = None, variance: Image | None = None
) -> MaskedImage:
    """Return a `~imagemapper.MaskedImage` of the given planes (not copied)."""
    return MaskedImage(image, mask, variance)


def makeMaskedImageFromArrays(
    image: npt.ArrayLike, mask: npt.ArrayLike | None = None, variance: npt.ArrayLike | None = None
) -> MaskedImage:
    """Return a `~imagemapper.MaskedImage` wrapping numpy arrays (``MaskedImage.fromArrays``)."""
    return MaskedImage.fromArrays(image, mask, variance)


def makeExposure(maskedImage: MaskedImage, wcs: Any = None) -> Exposure:
    """Return an `~imagemapper.Exposure` of ``maskedImage`` (not copied) with ``wcs``."""
    return Exposure(maskedImage, wcs=wcs)


# AB magnitude zero point: 3631 Jy in nJy, i.e. 10**((8.90 + 22.5) / 2.5).
_REFERENCE_FLUX_NJY = 10.0 ** ((8.90 + 22.5) / 2.5)


class PhotoCalib:
    """A spatially constant photometric calibration (``lsst.afw.image.PhotoCalib``).

    ``calibrationMean`` converts instrumental flux to nanojansky:
    ``nJy = instFlux * calibrationMean``.

    Parameters
    ----------
    calibrationMean : `float`
        nJy per instrumental flux unit; finite and > 0.
    calibrationErr : `float`, optional
        Its uncertainty (>= 0).
    bbox : `~imagemapper.Box2I`, optional
        The region where the calibration is valid (empty: everywhere).
    """

    def __init__(
        self, calibrationMean: float = 1.0, calibrationErr: float = 0.0, bbox: Box2I | None = None
    ) -> None:
        mean, err = float(calibrationMean), float(calibrationErr)
        if not (math.isfinite(mean) and mean > 0):
            raise ValueError(f"calibrationMean must be finite and > 0, not {calibrationMean!r}")
        if not (math.isfinite(err) and err >= 0):
            raise ValueError(f"calibrationErr must be finite and >= 0, not {calibrationErr!r}")
        self._mean, self._err = mean, err
        self._bbox = Box2I() if bbox is None else Box2I(bbox)

    def getCalibrationMean(self) -> float:
        """Return nJy per instrumental flux unit."""
        return self._mean

    def getCalibrationErr(self) -> float:
        """Return the uncertainty of `getCalibrationMean`."""
        return self._err

    def getBBox(self) -> Box2I:
        """Return the box where the calibration is valid (empty: everywhere)."""
        return Box2I(self._bbox)

    def isConstant(self) -> bool:
        """Return `True`: this calibration does not vary over the image."""
        return True

    def getInstFluxAtZeroMagnitude(self) -> float:
        """Return the instrumental flux of an AB magnitude 0 source."""
        return _REFERENCE_FLUX_NJY / self._mean

    def instFluxToNanojansky(self, instFlux: Any) -> Any:
        """Convert instrumental flux to nJy."""
        return np.multiply(instFlux, self._mean)

    def nanojanskyToInstFlux(self, nanojansky: Any) -> Any:
        """Convert nJy to instrumental flux."""
        return np.divide(nanojansky, self._mean)

    def instFluxToMagnitude(self, instFlux: Any) -> Any:
        """Convert instrumental flux to AB magnitude."""
        return -2.5 * np.log10(np.multiply(instFlux, self._mean) / _REFERENCE_FLUX_NJY)

    def magnitudeToInstFlux(self, magnitude: Any) -> Any:
        """Convert AB magnitude to instrumental flux."""
        return _REFERENCE_FLUX_NJY * np.power(10.0, np.multiply(magnitude, -0.4)) / self._mean

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, PhotoCalib):
            return NotImplemented
        return (self._mean, self._err, self._bbox) == (other._mean, other._err, other._bbox)

    def __hash__(self) -> int:
        return hash((self._mean, self._err))

    def __reduce__(self) -> tuple[Any, ...]:
        return (PhotoCalib, (self._mean, self._err, self._bbox))

    def __repr__(self) -> str:
        return f"PhotoCalib(calibrationMean={self._mean!r}, calibrationErr={self._err!r})"
