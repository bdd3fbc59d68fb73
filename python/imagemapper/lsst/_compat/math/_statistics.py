"""Statistics (``lsst.afw.math.makeStatistics``): `Property` and its flags,
`StatisticsControl`, `Statistics`, `makeStatistics`; the semantics are in
`imagemapper.lsst._compat.math`'s docstring."""

from __future__ import annotations

import enum
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from ....image import Image, Mask, MaskedImage
from ....image._image import ImageBase
from ..exceptions import InvalidParameterError


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
