"""The parts of ``lsst.afw.math`` that LSST mappers call: statistics, kernels,
convolution and random images, with ``afw``'s semantics, in numpy.

Statistics (`makeStatistics`)
    A pixel takes part when it is finite (with ``setNanSafe(True)``, the
    default) and none of the ``andMask`` bits is set in its mask. ``MEAN``,
    ``VARIANCE`` (``n - 1`` in the denominator), ``STDEV``, ``MIN``, ``MAX``,
    ``SUM``, ``MEANSQUARE`` and ``NPOINT`` are over those pixels; ``MEDIAN``
    and ``IQRANGE`` interpolate linearly between order statistics (at
    ``fraction * (n - 1)``). The clipped statistics iterate ``numIter`` times:
    the first pass keeps the pixels within ``numSigmaClip * 0.741 * IQR`` of
    the median, every later pass those within ``numSigmaClip * sigma`` of the
    previous pass's mean; ``MEANCLIP`` and ``VARIANCECLIP`` are the mean and
    the ``n - 1`` variance of the last pass. Statistics of a `MaskedImage`
    are those of its image plane, selected by its mask.

Convolution (`convolve`)
    ``out(x, y) = sum_ij K(i, j) * in(x + i - ctrX, y + j - ctrY)`` over the
    kernel pixels ``K(i, j)`` that are not zero (``afw`` does not flip the
    kernel); for a `MaskedImage` the variance is convolved with ``K**2`` and
    the mask bits are OR'ed over the kernel's non-zero footprint. The border
    where the kernel does not fit (``ctrX`` columns on the left, ``width - 1
    - ctrX`` on the right, likewise in y) is NaN with the ``NO_DATA`` bit and
    infinite variance, or, with ``doCopyEdge``, a copy of the input with the
    ``EDGE`` bit added.
"""

from __future__ import annotations

__all__ = [
    "ERRORS",
    "IQRANGE",
    "MAX",
    "MEAN",
    "MEANCLIP",
    "MEANSQUARE",
    "MEDIAN",
    "MIN",
    "NCLIPPED",
    "NMASKED",
    "NOTHING",
    "NPOINT",
    "ORMASK",
    "STDEV",
    "STDEVCLIP",
    "SUM",
    "VARIANCE",
    "VARIANCECLIP",
    "ConvolutionControl",
    "FixedKernel",
    "Kernel",
    "Property",
    "Random",
    "Statistics",
    "StatisticsControl",
    "convolve",
    "makeStatistics",
    "offsetImage",
    "randomFlatImage",
    "randomGaussianImage",
    "randomPoissonImage",
    "randomUniformImage",
    "randomUniformPosImage",
    "stringToStatisticsProperty",
]

import enum
import math
import numbers
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from ..._core import Box2I, Extent2I, Point2I
from ...image import Image, Mask, MaskedImage
from ...image._image import ImageBase
from .exceptions import InvalidParameterError, OverflowError

# ---------------------------------------------------------------------------
# Statistics
# ---------------------------------------------------------------------------


class Property(enum.IntFlag):
    """What `makeStatistics` computes (``lsst.afw.math.Property``), OR-able."""

    NOTHING = 0x0
    ERRORS = 0x1
    NPOINT = 0x2
    MEAN = 0x4
    STDEV = 0x8
    VARIANCE = 0x10
    MEDIAN = 0x20
    IQRANGE = 0x40
    MEANCLIP = 0x80
    STDEVCLIP = 0x100
    VARIANCECLIP = 0x200
    MIN = 0x400
    MAX = 0x800
    SUM = 0x1000
    MEANSQUARE = 0x2000
    ORMASK = 0x4000
    NCLIPPED = 0x8000
    NMASKED = 0x10000


NOTHING = Property.NOTHING
ERRORS = Property.ERRORS
NPOINT = Property.NPOINT
MEAN = Property.MEAN
STDEV = Property.STDEV
VARIANCE = Property.VARIANCE
MEDIAN = Property.MEDIAN
IQRANGE = Property.IQRANGE
MEANCLIP = Property.MEANCLIP
STDEVCLIP = Property.STDEVCLIP
VARIANCECLIP = Property.VARIANCECLIP
MIN = Property.MIN
MAX = Property.MAX
SUM = Property.SUM
MEANSQUARE = Property.MEANSQUARE
ORMASK = Property.ORMASK
NCLIPPED = Property.NCLIPPED
NMASKED = Property.NMASKED

_CLIPPED = MEANCLIP | STDEVCLIP | VARIANCECLIP
_ORDERED = MEDIAN | IQRANGE | _CLIPPED

# The standard deviation of a Gaussian in units of its interquartile range:
# the quartiles are at +-0.6744897501960817 sigma.
_IQR_TO_SIGMA = 1.0 / (2.0 * 0.6744897501960817)


def stringToStatisticsProperty(name: str) -> Property:
    """Return the `Property` called ``name`` (``"MEANCLIP"`` ...)."""
    try:
        return Property[name]
    except KeyError:
        raise InvalidParameterError(
            f"unknown statistics property {name!r}; known: {[p.name for p in Property]}"
        ) from None


class StatisticsControl:
    """How `makeStatistics` clips and which pixels it ignores
    (``lsst.afw.math.StatisticsControl``).

    Parameters
    ----------
    numSigmaClip : `float`, optional
        Clipping half-width in standard deviations (default 3).
    numIter : `int`, optional
        Number of clipping passes (default 3).
    andMask : `int`, optional
        Pixels with any of these mask bits set are ignored (default 0).
    isNanSafe : `bool`, optional
        Ignore NaN and infinite pixels (default `True`).
    """

    def __init__(
        self,
        numSigmaClip: float = 3.0,
        numIter: int = 3,
        andMask: int = 0x0,
        isNanSafe: bool = True,
    ) -> None:
        self.setNumSigmaClip(numSigmaClip)
        self.setNumIter(numIter)
        self.setAndMask(andMask)
        self.setNanSafe(isNanSafe)

    def getNumSigmaClip(self) -> float:
        """Return the clipping half-width in standard deviations."""
        return self._numSigmaClip

    def setNumSigmaClip(self, numSigmaClip: float) -> None:
        """Set the clipping half-width (> 0) in standard deviations."""
        value = float(numSigmaClip)
        if not value > 0:
            raise InvalidParameterError(f"numSigmaClip has to be positive, not {numSigmaClip!r}")
        self._numSigmaClip = value

    def getNumIter(self) -> int:
        """Return the number of clipping passes."""
        return self._numIter

    def setNumIter(self, numIter: int) -> None:
        """Set the number of clipping passes (> 0)."""
        value = int(numIter)
        if value != numIter or not value > 0:
            raise InvalidParameterError(f"numIter has to be a positive integer, not {numIter!r}")
        self._numIter = value

    def getAndMask(self) -> int:
        """Return the mask bits that exclude a pixel."""
        return self._andMask

    def setAndMask(self, andMask: int) -> None:
        """Set the mask bits that exclude a pixel."""
        self._andMask = int(andMask)

    def getNanSafe(self) -> bool:
        """Return whether NaN and infinite pixels are ignored."""
        return self._isNanSafe

    def setNanSafe(self, isNanSafe: bool) -> None:
        """Set whether NaN and infinite pixels are ignored."""
        self._isNanSafe = bool(isNanSafe)

    def __repr__(self) -> str:
        return (
            f"StatisticsControl(numSigmaClip={self._numSigmaClip!r}, numIter={self._numIter!r}, "
            f"andMask={self._andMask:#x}, isNanSafe={self._isNanSafe!r})"
        )


def _meanVariance(x: np.ndarray) -> tuple[int, float, float]:
    """``n``, mean and ``n - 1`` variance of ``x`` (NaN where undefined, no warnings)."""
    n = int(x.size)
    if n == 0:
        return 0, math.nan, math.nan
    mean = float(np.mean(x, dtype=np.float64))
    if n == 1:
        return 1, mean, math.nan
    delta = x - mean
    return n, mean, float(np.dot(delta, delta)) / (n - 1)


def _quantiles(x: np.ndarray, integral: bool, fractions: Sequence[float]) -> list[float]:
    """The quantiles ``afw`` reports: linear interpolation at ``fraction * (n - 1)``
    for floats; for integers, the tie-aware midpoint of the value's pixel run."""
    n = int(x.size)
    if n == 0:
        return [math.nan for _ in fractions]
    if n == 1:
        return [float(x[0]) for _ in fractions]
    ordered = np.sort(x)
    result = []
    for fraction in fractions:
        if not integral:
            result.append(float(np.quantile(ordered, fraction, method="linear")))
            continue
        naive = ordered[int(fraction * (n - 1))]
        left = int(np.searchsorted(ordered, naive, side="left"))
        middle = int(np.searchsorted(ordered, naive, side="right")) - left
        result.append(float(naive) - 0.5 + (fraction * n - left) / middle)
    return result


class Statistics:
    """The result of `makeStatistics`: ``getValue(prop)``, ``getError(prop)``,
    ``getResult(prop)`` and ``getOrMask()`` (``lsst.afw.math.Statistics``)."""

    def __init__(
        self,
        values: np.ndarray,
        mask: np.ndarray | None,
        flags: int,
        sctrl: StatisticsControl,
    ) -> None:
        self._flags = int(flags)
        if values.size == 0:
            raise InvalidParameterError("Image contains no pixels")
        integral = values.dtype.kind in "iu"
        data = values.astype(np.float64, copy=False).ravel()
        good = np.ones(data.shape, dtype=bool)
        if mask is not None:
            flatMask = mask.ravel()
            good &= (flatMask & sctrl.getAndMask()) == 0
        if sctrl.getNanSafe():
            with np.errstate(over="ignore", invalid="ignore"):
                good &= np.isfinite(data.astype(np.float32))
        x = data[good]
        self._n, mean, variance = _meanVariance(x)
        self._mean, self._variance = mean, variance
        self._sum = float(np.sum(x)) if self._n else 0.0
        self._min = float(np.min(x)) if self._n else math.nan
        self._max = float(np.max(x)) if self._n else math.nan
        self._orMask = int(np.bitwise_or.reduce(flatMask[good])) if mask is not None else 0
        self._nMasked = int(values.size) - self._n
        self._median = math.nan
        self._iqrange = math.nan
        self._meanClip = math.nan
        self._varianceClip = math.nan
        self._nClip = 0
        if self._flags & _ORDERED:
            median, q1, q3 = _quantiles(x, integral, (0.5, 0.25, 0.75))
            self._median, self._iqrange = median, q3 - q1
        if self._flags & _CLIPPED:
            self._clip(x, sctrl)

    def _clip(self, x: np.ndarray, sctrl: StatisticsControl) -> None:
        nSigma = sctrl.getNumSigmaClip()
        for iteration in range(sctrl.getNumIter()):
            if self._varianceClip < 0:
                self._varianceClip = 0.0
            if iteration == 0:
                center = self._median
            else:
                center = self._meanClip
            if iteration > 0 and self._n > 1:
                halfWidth = nSigma * math.sqrt(self._varianceClip)
            else:
                halfWidth = nSigma * _IQR_TO_SIGMA * self._iqrange
            if math.isnan(center) or math.isnan(halfWidth):
                self._nClip, self._meanClip, self._varianceClip = 0, math.nan, math.nan
                continue
            kept = x[np.abs(x - center) <= halfWidth]
            self._nClip, self._meanClip, self._varianceClip = _meanVariance(kept)

    def _value(self, prop: Property) -> tuple[float, float]:
        """(value, error) of one property; errors as ``afw`` estimates them."""
        n = self._n
        errors = bool(self._flags & ERRORS)
        nan = math.nan
        if prop == NPOINT:
            return float(n), 0.0 if errors else nan
        if prop == NCLIPPED:
            # as afw: only a clipped statistic clips (otherwise nothing was clipped)
            clipped = n - self._nClip if self._flags & _CLIPPED else 0
            return float(clipped), 0.0 if errors else nan
        if prop == NMASKED:
            return float(self._nMasked), 0.0 if errors else nan
        if prop == SUM:
            return self._sum, 0.0 if errors else nan
        if prop == MEAN:
            return self._mean, math.sqrt(self._variance / n) if errors and n else nan
        if prop == MEANCLIP:
            nClip = self._nClip
            error = math.sqrt(self._varianceClip / nClip) if errors and nClip else nan
            return self._meanClip, error
        if prop == VARIANCE:
            return self._variance, math.sqrt(_varianceError(self._variance, n)) if errors else nan
        if prop == STDEV:
            value = math.sqrt(self._variance) if self._variance >= 0 else nan
            error = 0.5 * math.sqrt(_varianceError(self._variance, n)) / value if errors else nan
            return value, error
        if prop == VARIANCECLIP:
            return self._varianceClip, nan
        if prop == STDEVCLIP:
            value = math.sqrt(self._varianceClip) if self._varianceClip >= 0 else nan
            varErr = _varianceError(self._varianceClip, self._nClip)
            return value, 0.5 * math.sqrt(varErr) / value if errors else nan
        if prop == MEANSQUARE:
            value = (n - 1) / n * self._variance + self._mean**2 if n else nan
            return value, math.sqrt(2 * (value / n) ** 2) if errors and n else nan
        if prop == MIN:
            return self._min, 0.0 if errors else nan
        if prop == MAX:
            return self._max, 0.0 if errors else nan
        if prop == MEDIAN:
            error = math.sqrt(math.pi / 2 * self._variance / n) if errors and n else nan
            return self._median, error
        if prop == IQRANGE:
            return self._iqrange, nan
        if prop == ORMASK:
            return float(self._orMask), nan
        raise InvalidParameterError(f"unknown statistics property {prop!r}")

    def getResult(self, prop: int = NOTHING) -> tuple[float, float]:
        """Return ``(value, error)`` of ``prop`` (or of the only property asked for).

        Raises
        ------
        InvalidParameterError
            If ``prop`` was not asked for, or is omitted when several were.
        """
        wanted = int(prop) if prop else self._flags & ~int(ERRORS)
        wanted &= ~int(ERRORS)
        if not wanted & self._flags:
            raise InvalidParameterError(
                f"You didn't ask me to calculate {Property(wanted)!r}; asked for "
                f"{Property(self._flags)!r}"
            )
        if wanted & (wanted - 1):
            raise InvalidParameterError(
                "getValue() may only be called without a parameter if you asked for only one "
                f"statistic, not {Property(wanted)!r}"
            )
        return self._value(Property(wanted))

    def getValue(self, prop: int = NOTHING) -> float:
        """Return the value of ``prop`` (or of the only property asked for)."""
        return self.getResult(prop)[0]

    def getError(self, prop: int = NOTHING) -> float:
        """Return the error of ``prop`` (NaN unless ``ERRORS`` was asked for)."""
        return self.getResult(prop)[1]

    def getOrMask(self) -> int:
        """Return the OR of the mask bits of the pixels that took part."""
        return self._orMask


def _varianceError(variance: float, n: int) -> float:
    """The variance of a Gaussian sample's variance, as ``afw`` estimates it."""
    if n == 0:
        return math.nan
    return 2 * (n - 1) * variance * variance / (n * n)


def makeStatistics(*args: Any) -> Statistics:
    """Compute statistics of an image, a masked image, a mask or a sequence of values.

    The forms are ``afw``'s: ``makeStatistics(image, flags, [sctrl])``,
    ``makeStatistics(image, mask, flags, [sctrl])``,
    ``makeStatistics(maskedImage, flags, [sctrl])``,
    ``makeStatistics(mask, flags)`` (``NPOINT`` and ``SUM``, the OR of the
    bits) and ``makeStatistics(values, flags, [sctrl])``.

    Returns
    -------
    stats : `Statistics`

    Raises
    ------
    InvalidParameterError
        If the image has no pixels, or the image and mask sizes differ.
    """
    if not args:
        raise TypeError("makeStatistics() needs an image and the flags")
    first, rest = args[0], list(args[1:])
    mask: np.ndarray | None = None
    if isinstance(first, MaskedImage):
        values, mask = first.getImage().getArray(), first.getMask().getArray()
    elif isinstance(first, Mask):
        return _maskStatistics(first, *rest)
    elif isinstance(first, Image):
        values = first.getArray()
        if rest and isinstance(rest[0], Mask):
            maskImage = rest.pop(0)
            if maskImage.getDimensions() != first.getDimensions():
                raise InvalidParameterError(
                    f"Image sizes don't match: {first.getDimensions()!r} vs "
                    f"{maskImage.getDimensions()!r}"
                )
            mask = maskImage.getArray()
    elif isinstance(first, ImageBase):
        raise TypeError(f"makeStatistics() cannot take a {type(first).__name__}")
    else:
        values = np.asarray(first)
        if values.dtype.kind not in "iuf":
            raise TypeError(f"makeStatistics() needs numbers, not dtype {values.dtype}")
    if not rest or not isinstance(rest[0], (int, np.integer)):
        raise TypeError(f"makeStatistics() needs the flags (e.g. afwMath.MEAN), got {rest!r}")
    flags = int(rest[0])
    sctrl = rest[1] if len(rest) > 1 else StatisticsControl()
    if not isinstance(sctrl, StatisticsControl):
        raise TypeError(f"expected a StatisticsControl, not {type(sctrl).__name__}")
    return Statistics(np.asarray(values), mask, flags, sctrl)


def _maskStatistics(mask: Mask, flags: int = NPOINT, *_: Any) -> Statistics:
    if int(flags) & ~int(NPOINT | SUM):
        raise InvalidParameterError("Statistics<Mask> only supports NPOINT and SUM")
    stats = Statistics.__new__(Statistics)
    array = mask.getArray()
    if array.size == 0:
        raise InvalidParameterError("Image contains no pixels")
    stats._flags = int(flags)
    stats._n = int(array.size)
    stats._sum = float(np.bitwise_or.reduce(array, axis=None))
    return stats


# ---------------------------------------------------------------------------
# Kernels
# ---------------------------------------------------------------------------


class Kernel:
    """A convolution kernel of fixed size with a centre pixel (``lsst.afw.math.Kernel``).

    Subclasses implement `_pixels` (the unnormalised kernel image, float64,
    ``[y, x]``).
    """

    def __init__(self, width: int, height: int) -> None:
        if width < 1 or height < 1:
            raise InvalidParameterError(f"kernel height = {height} and/or width = {width} < 1")
        self._width, self._height = int(width), int(height)
        self._ctrX, self._ctrY = (self._width - 1) // 2, (self._height - 1) // 2

    def _pixels(self, x: float, y: float) -> np.ndarray:
        raise NotImplementedError

    def getWidth(self) -> int:
        """Return the kernel width."""
        return self._width

    def getHeight(self) -> int:
        """Return the kernel height."""
        return self._height

    def getDimensions(self) -> Extent2I:
        """Return ``(width, height)``."""
        return Extent2I(self._width, self._height)

    def getCtr(self) -> Point2I:
        """Return the centre pixel (index into the kernel image)."""
        return Point2I(self._ctrX, self._ctrY)

    def setCtr(self, ctr: Point2I | Sequence[int]) -> None:
        """Set the centre pixel; it must lie inside the kernel."""
        x, y = int(ctr[0]), int(ctr[1])
        if not (0 <= x < self._width and 0 <= y < self._height):
            raise InvalidParameterError(
                f"kernel centre ({x}, {y}) is outside the {self._width}x{self._height} kernel"
            )
        self._ctrX, self._ctrY = x, y

    def getCtrX(self) -> int:
        """Return the x of the centre pixel."""
        return self._ctrX

    def getCtrY(self) -> int:
        """Return the y of the centre pixel."""
        return self._ctrY

    def getBBox(self) -> Box2I:
        """Return the kernel image's box: ``-ctr`` to ``dimensions - 1 - ctr``."""
        return Box2I(Point2I(-self._ctrX, -self._ctrY), self.getDimensions())

    def isSpatiallyVarying(self) -> bool:
        """Return `False`: these kernels do not vary over the image."""
        return False

    def shrinkBBox(self, bbox: Box2I) -> Box2I:
        """Return the part of ``bbox`` a convolution with this kernel computes fully."""
        if bbox.getWidth() < self._width or bbox.getHeight() < self._height:
            raise InvalidParameterError(
                f"bbox dimensions {bbox.getDimensions()!r} < ({self._width}, {self._height})"
            )
        return Box2I(
            Point2I(bbox.getMinX() + self._ctrX, bbox.getMinY() + self._ctrY),
            Extent2I(bbox.getWidth() - self._width + 1, bbox.getHeight() - self._height + 1),
        )

    def growBBox(self, bbox: Box2I) -> Box2I:
        """Return the input box a convolution needs to compute all of ``bbox``."""
        return Box2I(
            Point2I(bbox.getMinX() - self._ctrX, bbox.getMinY() - self._ctrY),
            Extent2I(bbox.getWidth() + self._width - 1, bbox.getHeight() + self._height - 1),
        )

    def computeImage(
        self, image: Image, doNormalize: bool = True, x: float = 0.0, y: float = 0.0
    ) -> float:
        """Fill ``image`` with the kernel and return the kernel's sum.

        Parameters
        ----------
        image : `~imagemapper.Image`
            Of the kernel's dimensions; its ``xy0`` becomes ``-ctr``.
        doNormalize : `bool`, optional
            Scale the pixels to sum to one (the returned sum is then 1).
        x, y : `float`, optional
            Where to evaluate a spatially varying kernel (ignored here).

        Returns
        -------
        sum : `float`

        Raises
        ------
        InvalidParameterError
            If the image's dimensions differ from the kernel's.
        OverflowError
            If ``doNormalize`` and the kernel sums to zero.
        """
        if image.getDimensions() != self.getDimensions():
            raise InvalidParameterError(
                f"image dimensions = {image.getDimensions()!r} != "
                f"{self.getDimensions()!r} = kernel dimensions"
            )
        pixels = self._pixels(x, y)
        total = float(np.sum(pixels))
        if doNormalize:
            if total == 0:
                raise OverflowError("Cannot normalize; kernel sum is 0")
            pixels = pixels / total
            total = 1.0
        image.setXY0(Point2I(-self._ctrX, -self._ctrY))
        image.getArray()[...] = pixels
        return total

    def _image(self, doNormalize: bool, x: float = 0.0, y: float = 0.0) -> np.ndarray:
        image = Image(self.getDimensions(), dtype=np.float64)
        self.computeImage(image, doNormalize, x, y)
        return image.getArray()


class FixedKernel(Kernel):
    """A kernel given by an image (``lsst.afw.math.FixedKernel``).

    ``FixedKernel(image)`` copies the image (as float64); ``FixedKernel(kernel,
    position)`` freezes another kernel at ``position``. The centre is pixel
    ``((width - 1) // 2, (height - 1) // 2)``; `setCtr` moves it.
    """

    def __init__(self, image: Image | Kernel | npt.ArrayLike, position: Any = None) -> None:
        if isinstance(image, Kernel):
            x, y = (0.0, 0.0) if position is None else (float(position[0]), float(position[1]))
            array = image._pixels(x, y)
        elif isinstance(image, Image):
            array = image.getArray()
        elif isinstance(image, ImageBase):
            raise TypeError(f"a FixedKernel is made from an Image, not a {type(image).__name__}")
        else:
            array = np.asarray(image)
        if array.ndim != 2 or array.dtype.kind not in "iuf":
            raise TypeError(f"a kernel image must be a 2-d numeric image, not {array!r}")
        super().__init__(array.shape[1], array.shape[0])
        self._array = np.array(array, dtype=np.float64)
        self._array.flags.writeable = False
        self._sum = float(np.sum(self._array))

    def _pixels(self, x: float, y: float) -> np.ndarray:
        return self._array.copy()

    def getSum(self) -> float:
        """Return the sum of the kernel's pixels."""
        return self._sum

    def getImage(self) -> Image:
        """Return a copy of the kernel image (``xy0 = -ctr``)."""
        return Image(self._array.copy(), xy0=(-self._ctrX, -self._ctrY))

    def clone(self) -> FixedKernel:
        """Return a copy (same centre)."""
        copy = FixedKernel(self._array)
        copy.setCtr(self.getCtr())
        return copy

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuildFixedKernel, (self._array, self._ctrX, self._ctrY))

    def __repr__(self) -> str:
        return (
            f"FixedKernel({self._width}x{self._height}, ctr=({self._ctrX}, {self._ctrY}), "
            f"sum={self._sum!r})"
        )


def _rebuildFixedKernel(array: np.ndarray, ctrX: int, ctrY: int) -> FixedKernel:
    kernel = FixedKernel(array)
    kernel.setCtr(Point2I(ctrX, ctrY))
    return kernel


# ---------------------------------------------------------------------------
# Convolution
# ---------------------------------------------------------------------------


class ConvolutionControl:
    """Options of `convolve` (``lsst.afw.math.ConvolutionControl``).

    Parameters
    ----------
    doNormalize : `bool`, optional
        Normalise the kernel to sum to one (default `True`).
    doCopyEdge : `bool`, optional
        Copy the input into the border the kernel cannot reach and set the
        ``EDGE`` bit, instead of NaN / ``NO_DATA`` / infinite variance
        (default `False`).
    maxInterpolationDistance : `int`, optional
        Kept for ``afw`` compatibility; the kernels here are spatially
        constant, so no interpolation happens.
    """

    def __init__(
        self, doNormalize: bool = True, doCopyEdge: bool = False, maxInterpolationDistance: int = 10
    ) -> None:
        self._doNormalize = bool(doNormalize)
        self._doCopyEdge = bool(doCopyEdge)
        self._maxInterpolationDistance = int(maxInterpolationDistance)

    def getDoNormalize(self) -> bool:
        """Return whether the kernel is normalised."""
        return self._doNormalize

    def setDoNormalize(self, doNormalize: bool) -> None:
        """Set whether the kernel is normalised."""
        self._doNormalize = bool(doNormalize)

    def getDoCopyEdge(self) -> bool:
        """Return whether border pixels are copied from the input."""
        return self._doCopyEdge

    def setDoCopyEdge(self, doCopyEdge: bool) -> None:
        """Set whether border pixels are copied from the input."""
        self._doCopyEdge = bool(doCopyEdge)

    def getMaxInterpolationDistance(self) -> int:
        """Return the interpolation distance (unused: kernels are spatially constant)."""
        return self._maxInterpolationDistance

    def setMaxInterpolationDistance(self, distance: int) -> None:
        """Set the interpolation distance (unused: kernels are spatially constant)."""
        self._maxInterpolationDistance = int(distance)


def _orOverBox(mask: np.ndarray, kh: int, kw: int, out: np.ndarray) -> None:
    """``out |= OR of mask over every kh x kw window``, separably (OR is idempotent)."""
    height, width = out.shape
    rows = np.zeros((mask.shape[0], width), dtype=mask.dtype)
    for i in range(kw):
        rows |= mask[:, i : i + width]
    for j in range(kh):
        out |= rows[j : j + height]


def _correlate(
    planes: Sequence[np.ndarray],
    weights: Sequence[np.ndarray],
    footprint: np.ndarray,
    out: Sequence[np.ndarray],
) -> None:
    """Accumulate ``sum_ij w[j, i] * plane[j:j+h, i:i+w]`` for each float plane (w = K for
    the image, K**2 for the variance) and the OR over the footprint for an int mask."""
    height, width = out[0].shape
    fullBox = bool(footprint.all())
    for plane, acc, weight in zip(planes, out, weights):
        if acc.dtype.kind != "f" and fullBox:
            _orOverBox(plane, footprint.shape[0], footprint.shape[1], acc)
            continue
        for j, i in zip(*np.nonzero(footprint)):
            window = plane[j : j + height, i : i + width]
            if acc.dtype.kind == "f":
                acc += weight[j, i] * window
            else:
                acc |= window


def convolve(
    outImage: Image | MaskedImage,
    inImage: Image | MaskedImage,
    kernel: Kernel,
    convolutionControl: ConvolutionControl | bool | None = None,
    doCopyEdge: bool = False,
) -> None:
    """Convolve ``inImage`` with ``kernel`` into ``outImage``, as ``afw`` does.

    See the module docstring for the formula and the border. ``outImage``
    gets ``inImage``'s ``xy0`` and may be ``inImage`` itself.

    Parameters
    ----------
    outImage : `~imagemapper.Image` or `~imagemapper.MaskedImage`
        Output, of the same kind and dimensions as ``inImage``.
    inImage : `~imagemapper.Image` or `~imagemapper.MaskedImage`
        Input; at least as large as the kernel.
    kernel : `Kernel`
        The kernel (not flipped).
    convolutionControl : `ConvolutionControl`, optional
        Options; the older ``convolve(out, in, kernel, doNormalize,
        doCopyEdge)`` form is accepted too.

    Raises
    ------
    InvalidParameterError
        If the dimensions differ or the input is smaller than the kernel.
    """
    if convolutionControl is None:
        control = ConvolutionControl()
    elif isinstance(convolutionControl, ConvolutionControl):
        control = convolutionControl
    else:
        control = ConvolutionControl(bool(convolutionControl), doCopyEdge)
    if not isinstance(kernel, Kernel):
        raise TypeError(f"convolve() needs a Kernel, not {type(kernel).__name__}")
    masked = isinstance(inImage, MaskedImage)
    if (
        masked != isinstance(outImage, MaskedImage)
        or not isinstance(inImage, (Image, MaskedImage))
        or not isinstance(outImage, (Image, MaskedImage))
    ):
        raise TypeError(
            "convolve() takes two Images or two MaskedImages, not "
            f"{type(outImage).__name__} and {type(inImage).__name__}"
        )
    dims = inImage.getDimensions()
    if outImage.getDimensions() != dims:
        raise InvalidParameterError(
            f"convolvedImage dimensions {outImage.getDimensions()!r} != inImage dimensions {dims!r}"
        )
    kw, kh = kernel.getWidth(), kernel.getHeight()
    if dims.getX() < kw or dims.getY() < kh:
        raise InvalidParameterError(
            f"inImage dimensions {dims!r} are smaller than the kernel's ({kw}, {kh})"
        )
    kArr = kernel._image(control.getDoNormalize())
    footprint = kArr != 0
    ctrX, ctrY = kernel.getCtrX(), kernel.getCtrY()
    cnvH, cnvW = dims.getY() - kh + 1, dims.getX() - kw + 1
    inner = (slice(ctrY, ctrY + cnvH), slice(ctrX, ctrX + cnvW))
    if isinstance(inImage, MaskedImage):
        assert isinstance(outImage, MaskedImage)
        inPlanes = [
            inImage.getImage().getArray(),
            inImage.getVariance().getArray(),
            inImage.getMask().getArray(),
        ]
        outPlanes = [
            outImage.getImage().getArray(),
            outImage.getVariance().getArray(),
            outImage.getMask().getArray(),
        ]
        weights = [kArr, kArr * kArr, kArr]
        accs: list[np.ndarray] = [
            np.zeros((cnvH, cnvW), dtype=np.float64),
            np.zeros((cnvH, cnvW), dtype=np.float64),
            np.zeros((cnvH, cnvW), dtype=inPlanes[2].dtype),
        ]
        edgeBit = outImage.getMask().getPlaneBitMask("EDGE")
        noDataBit = outImage.getMask().getPlaneBitMask("NO_DATA")
    else:
        assert isinstance(outImage, Image)
        inPlanes = [inImage.getArray()]
        outPlanes = [outImage.getArray()]
        weights = [kArr]
        accs = [np.zeros((cnvH, cnvW), dtype=np.float64)]
    with np.errstate(invalid="ignore", over="ignore"):
        _correlate(inPlanes, weights, footprint, accs)
    border = np.ones(inPlanes[0].shape, dtype=bool)
    border[inner] = False
    if control.getDoCopyEdge():
        edgeValues = [plane[border] for plane in inPlanes]
    for k, (outPlane, acc) in enumerate(zip(outPlanes, accs)):
        outPlane[inner] = acc.astype(outPlane.dtype)
        if control.getDoCopyEdge():
            outPlane[border] = edgeValues[k]
    if masked:
        if control.getDoCopyEdge():
            outPlanes[2][border] |= edgeBit
        else:
            outPlanes[0][border] = np.nan
            outPlanes[1][border] = np.inf
            outPlanes[2][border] = noDataBit
    elif not control.getDoCopyEdge():
        outPlanes[0][border] = np.nan if outPlanes[0].dtype.kind == "f" else 0
    outImage.setXY0(inImage.getXY0())


# ---------------------------------------------------------------------------
# Sub-pixel offsets (Lanczos interpolation)
# ---------------------------------------------------------------------------


def _lanczos(offsets: np.ndarray, order: int) -> np.ndarray:
    """The Lanczos window ``sinc(x) * sinc(x / order)`` for ``|x| < order``, else 0."""
    values = np.sinc(offsets) * np.sinc(offsets / order)
    values[np.abs(offsets) >= order] = 0.0
    return values


def _shiftAxis(array: np.ndarray, shift: float, order: int, axis: int) -> np.ndarray:
    """Move ``array``'s content by ``shift`` (``|shift| < 1``) pixels along ``axis``:
    ``out[k] = sum_t w(t) * in[k + t]`` with ``w(t) = L(t + shift)`` normalised.
    Pixels the kernel does not fit at the ends keep their input value."""
    taps = np.arange(-order, order + 1)
    weights = _lanczos(taps + shift, order)
    weights /= weights.sum()
    moved = np.moveaxis(array, axis, 0)
    n = moved.shape[0]
    out = moved.copy()
    if n > 2 * order:
        acc = np.zeros((n - 2 * order, *moved.shape[1:]), dtype=np.float64)
        for t, w in zip(taps, weights):
            if w != 0:
                acc += w * moved[order + t : n - order + t]
        out[order : n - order] = acc
    return np.moveaxis(out, 0, axis)


def offsetImage(
    image: Image, dx: float, dy: float, algorithmName: str = "lanczos5", buffer: int = 0
) -> Image:
    """Return a copy of ``image`` with its content moved by ``(dx, dy)`` pixels.

    The integer part of the offset (when an offset is 1 or more) moves
    ``xy0``; the remaining fraction is a Lanczos interpolation of order
    ``N`` (``algorithmName = "lanczosN"``). ``buffer`` zero-pads the image
    first, so that pixels near the edge are interpolated too (otherwise the
    outermost ``N`` pixels keep their values).

    Raises
    ------
    InvalidParameterError
        For an algorithm other than ``lanczosN``.
    """
    name = str(algorithmName).lower()
    if not (name.startswith("lanczos") and name[7:].isdigit() and int(name[7:]) > 0):
        raise InvalidParameterError(
            f"offsetImage supports the 'lanczosN' algorithms, not {algorithmName!r}"
        )
    order = int(name[7:])
    if -1 < dx < 1 and -1 < dy < 1:
        shiftX, shiftY, fracX, fracY = 0, 0, float(dx), float(dy)
    else:
        shiftX, shiftY = math.floor(dx + 0.5), math.floor(dy + 0.5)
        fracX, fracY = dx - shiftX, dy - shiftY
    data = np.asarray(image.getArray(), dtype=np.float64)
    if buffer > 0:
        data = np.pad(data, buffer)
    if fracX:
        data = _shiftAxis(data, fracX, order, axis=1)
    if fracY:
        data = _shiftAxis(data, fracY, order, axis=0)
    if buffer > 0:
        data = data[buffer:-buffer, buffer:-buffer]
    x0, y0 = image.getX0() + shiftX, image.getY0() + shiftY
    return Image(data.astype(image.getArray().dtype), xy0=(x0, y0))


# ---------------------------------------------------------------------------
# Random numbers
# ---------------------------------------------------------------------------


class Random:
    """A seeded random number generator (``lsst.afw.math.Random``).

    ``Random()``, ``Random(seed)``, ``Random("MT19937", seed)`` or
    ``Random(Random.MT19937, seed)``: a Mersenne Twister (numpy's
    ``MT19937`` bit generator) seeded with ``seed`` (default 1). The same
    seed gives the same numbers; they are not the GSL stream ``afw`` uses.
    """

    class Algorithm(enum.Enum):
        """The generator algorithms; only ``MT19937`` is available."""

        MT19937 = "MT19937"

    MT19937 = Algorithm.MT19937

    def __init__(self, algorithm: Any = Algorithm.MT19937, seed: int = 1) -> None:
        if isinstance(algorithm, numbers.Integral) and not isinstance(algorithm, bool):
            algorithm, seed = Random.Algorithm.MT19937, int(algorithm)
        if isinstance(algorithm, str):
            try:
                algorithm = Random.Algorithm(algorithm.upper())
            except ValueError:
                raise InvalidParameterError(
                    f"unknown random algorithm {algorithm!r}; available: MT19937"
                ) from None
        if not isinstance(algorithm, Random.Algorithm):
            raise InvalidParameterError(f"unknown random algorithm {algorithm!r}")
        if int(seed) < 0:
            raise InvalidParameterError(f"the seed must be >= 0, not {seed!r}")
        self._algorithm = algorithm
        self._seed = int(seed)
        self._rng = np.random.Generator(np.random.MT19937(self._seed))

    def getAlgorithm(self) -> Random.Algorithm:
        """Return the algorithm."""
        return self._algorithm

    def getAlgorithmName(self) -> str:
        """Return the algorithm's name."""
        return self._algorithm.value

    def getSeed(self) -> int:
        """Return the seed."""
        return self._seed

    def deepCopy(self) -> Random:
        """Return an independent generator in the same state."""
        other = Random(self._algorithm, self._seed)
        other._rng.bit_generator.state = self._rng.bit_generator.state
        return other

    def uniform(self) -> float:
        """A uniform deviate in [0, 1)."""
        return float(self._rng.random())

    def uniformPos(self) -> float:
        """A uniform deviate in (0, 1)."""
        while True:
            value = float(self._rng.random())
            if value > 0:
                return value

    def uniformInt(self, n: int) -> int:
        """A uniform integer in [0, n)."""
        return int(self._rng.integers(0, n))

    def flat(self, a: float, b: float) -> float:
        """A uniform deviate in [a, b)."""
        return float(self._rng.uniform(a, b))

    def gaussian(self) -> float:
        """A standard normal deviate."""
        return float(self._rng.standard_normal())

    def chisq(self, nu: float) -> float:
        """A chi-squared deviate with ``nu`` degrees of freedom."""
        return float(self._rng.chisquare(nu))

    def poisson(self, mu: float) -> float:
        """A Poisson deviate of mean ``mu``."""
        return float(self._rng.poisson(mu))

    def _fill(self, image: Image, values: np.ndarray) -> None:
        if not isinstance(image, Image):
            raise TypeError(f"expected an Image, not {type(image).__name__}")
        image.getArray()[...] = values


def randomGaussianImage(image: Image, rand: Random) -> None:
    """Fill ``image`` with standard normal deviates from ``rand``."""
    rand._fill(image, rand._rng.standard_normal(image.getArray().shape))


def randomUniformImage(image: Image, rand: Random) -> None:
    """Fill ``image`` with uniform deviates in [0, 1) from ``rand``."""
    rand._fill(image, rand._rng.random(image.getArray().shape))


def randomUniformPosImage(image: Image, rand: Random) -> None:
    """Fill ``image`` with uniform deviates in (0, 1) from ``rand``."""
    shape = image.getArray().shape
    values = rand._rng.random(shape)
    while not values.all():
        zero = values == 0
        values[zero] = rand._rng.random(int(zero.sum()))
    rand._fill(image, values)


def randomFlatImage(image: Image, rand: Random, a: float, b: float) -> None:
    """Fill ``image`` with uniform deviates in [a, b) from ``rand``."""
    rand._fill(image, rand._rng.uniform(a, b, image.getArray().shape))


def randomPoissonImage(image: Image, rand: Random, mu: float) -> None:
    """Fill ``image`` with Poisson deviates of mean ``mu`` from ``rand``."""
    rand._fill(image, rand._rng.poisson(mu, image.getArray().shape))
