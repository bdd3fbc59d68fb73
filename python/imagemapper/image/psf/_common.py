"""Helpers shared by the PSF models: positions, argument checks, adaptive moments."""

from __future__ import annotations

__all__ = [
    "FWHM_PER_SIGMA",
    "PointLike",
    "Quadrupole",
    "adaptiveMoments",
    "asPoint2D",
    "checkPositiveFloat",
    "checkPositiveInt",
    "imageOrigin",
    "nearestPixel",
    "newImage",
    "resolvePosition",
]


import math
import numbers
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, TypeAlias

import numpy as np

from ..._core import Point2D, Point2I

if TYPE_CHECKING:
    from .. import Image
    from ._base import Psf


PointLike: TypeAlias = Point2D | Point2I | Sequence[float] | np.ndarray
"""Anything accepted as a position: ``Point2D``, ``Point2I`` or an ``(x, y)`` pair."""

FWHM_PER_SIGMA = 2.0 * math.sqrt(2.0 * math.log(2.0))
"""Ratio of the FWHM to the standard deviation of a Gaussian, 2 sqrt(2 ln 2) ~= 2.3548."""


# ---------------------------------------------------------------------------
# Small helpers
# ---------------------------------------------------------------------------


def newImage(array: np.ndarray, x0: int, y0: int) -> Image:
    """Wrap ``array`` in an `Image` whose lower-left pixel is ``(x0, y0)``.

    The import is deferred so that this module does not depend on the import
    order of the package's private modules.
    """
    from .. import Image

    return Image(array, xy0=(int(x0), int(y0)))


def imageOrigin(image: Image) -> tuple[int, int]:
    """Return the ``(x0, y0)`` of ``image`` as plain ints."""
    bbox = image.getBBox()
    return int(bbox.getMinX()), int(bbox.getMinY())


def asPoint2D(position: PointLike, name: str = "position") -> Point2D:
    """Convert ``position`` to a finite `Point2D`.

    Parameters
    ----------
    position : `Point2D`, `Point2I` or pair of `float`
        The position to convert.
    name : `str`, optional
        Name used in error messages.

    Returns
    -------
    point : `Point2D`
        The position as a `Point2D`.

    Raises
    ------
    TypeError
        Raised if ``position`` is not a point or an ``(x, y)`` pair of numbers.
    ValueError
        Raised if a coordinate is not finite.
    """
    if isinstance(position, (Point2D, Point2I)):
        x, y = float(position.getX()), float(position.getY())
    else:
        try:
            xRaw, yRaw = position
            x, y = float(xRaw), float(yRaw)
        except (TypeError, ValueError):
            raise TypeError(
                f"{name} must be a Point2D, a Point2I or an (x, y) pair of numbers, "
                f"got {position!r}"
            ) from None
    if not (math.isfinite(x) and math.isfinite(y)):
        raise ValueError(f"{name} must have finite coordinates, got ({x!r}, {y!r})")
    return Point2D(x, y)


def resolvePosition(psf: Psf, position: PointLike | None) -> Point2D:
    """Return ``position`` as a `Point2D`, or the PSF's average position for `None`."""
    if position is None:
        return asPoint2D(psf.getAveragePosition(), "average position")
    return asPoint2D(position)


def nearestPixel(point: Point2D) -> tuple[int, int]:
    """Return the pixel whose area contains ``point``: ``floor(point + 0.5)``."""
    return math.floor(point.getX() + 0.5), math.floor(point.getY() + 0.5)


def checkPositiveInt(value: Any, name: str) -> int:
    """Return ``value`` as an `int`, raising `ValueError` unless it is a positive integer."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value <= 0:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def checkPositiveFloat(value: Any, name: str, *, allowZero: bool = False) -> float:
    """Return ``value`` as a `float`, raising `ValueError` unless finite and > 0 (or >= 0)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a finite real number, got {value!r}")
    result = float(value)
    ok = math.isfinite(result) and (result >= 0.0 if allowZero else result > 0.0)
    if not ok:
        bound = ">= 0" if allowZero else "> 0"
        raise ValueError(f"{name} must be finite and {bound}, got {value!r}")
    return result


def _momentsOf(array: np.ndarray, x0: int, y0: int) -> tuple[float, float, Quadrupole]:
    """Unweighted centroid and second moments (about the centroid) of an image.

    Parameters
    ----------
    array : `numpy.ndarray`
        Pixel values, indexed ``[y, x]``.
    x0, y0 : `int`
        Position of pixel ``array[0, 0]``.

    Returns
    -------
    xc, yc : `float`
        Flux-weighted centroid.
    shape : `Quadrupole`
        Flux-weighted second central moments.
    """
    data = np.asarray(array, dtype=np.float64)
    total = float(data.sum())
    if total == 0.0 or not math.isfinite(total):
        raise ValueError(f"cannot measure moments of an image whose sum is {total!r}")
    height, width = data.shape
    xs = np.arange(width, dtype=np.float64) + x0
    ys = np.arange(height, dtype=np.float64) + y0
    colSum = data.sum(axis=0)  # as a function of x
    rowSum = data.sum(axis=1)  # as a function of y
    xc = float(colSum @ xs) / total
    yc = float(rowSum @ ys) / total
    dx = xs - xc
    dy = ys - yc
    ixx = float(colSum @ (dx * dx)) / total
    iyy = float(rowSum @ (dy * dy)) / total
    ixy = float(dy @ data @ dx) / total
    return xc, yc, Quadrupole(ixx, iyy, ixy)


def adaptiveMoments(
    array: np.ndarray, x0: int, y0: int, maxIter: int = 200, tol: float = 1e-10
) -> Quadrupole:
    """Adaptive second moments of a kernel image centred on pixel ``(0, 0)``.

    The weight is a Gaussian of covariance ``W`` about the origin; the
    weighted second moments ``M`` of a Gaussian of covariance ``C`` are
    ``(C^-1 + W^-1)^-1``, so iterating ``W <- 2 M`` converges to ``W = C``
    for a Gaussian and to the SDSS adaptive-moment shape in general (the
    measure LSST's ``ImagePsf.computeShape`` reports). Falls back to the
    unweighted moments if the iteration does not converge.
    """
    h, w = array.shape
    yy, xx = np.mgrid[y0 : y0 + h, x0 : x0 + w].astype(np.float64)
    img = np.asarray(array, dtype=np.float64)
    start = _momentsOf(img, x0, y0)[2]
    wxx, wyy, wxy = start.getIxx(), start.getIyy(), start.getIxy()
    if not (wxx > 0 and wyy > 0 and wxx * wyy > wxy * wxy):
        return start
    for _ in range(maxIter):
        det = wxx * wyy - wxy * wxy
        ixx, iyy, ixy = wyy / det, wxx / det, -wxy / det
        weighted = img * np.exp(-0.5 * (ixx * xx * xx + 2.0 * ixy * xx * yy + iyy * yy * yy))
        total = weighted.sum()
        if not total > 0:
            return start
        mxx = 2.0 * float((weighted * xx * xx).sum() / total)
        myy = 2.0 * float((weighted * yy * yy).sum() / total)
        mxy = 2.0 * float((weighted * xx * yy).sum() / total)
        if not (mxx > 0 and myy > 0 and mxx * myy > mxy * mxy):
            return start
        done = (
            abs(mxx - wxx) <= tol * wxx
            and abs(myy - wyy) <= tol * wyy
            and abs(mxy - wxy) <= tol * math.sqrt(wxx * wyy)
        )
        wxx, wyy, wxy = mxx, myy, mxy
        if done:
            return Quadrupole(wxx, wyy, wxy)
    return start


# ---------------------------------------------------------------------------
# Quadrupole
# ---------------------------------------------------------------------------


class Quadrupole:
    """Second moments of a 2-d distribution, as ``lsst.afw.geom.ellipses.Quadrupole``.

    Parameters
    ----------
    ixx : `float`
        Second moment in x, ``<(x - xc)^2>``.
    iyy : `float`
        Second moment in y, ``<(y - yc)^2>``.
    ixy : `float`, optional
        Cross moment, ``<(x - xc)(y - yc)>``.

    Examples
    --------
    >>> q = Quadrupole(4.0, 4.0, 0.0)
    >>> q.getDeterminantRadius()
    2.0
    """

    __slots__ = ("_ixx", "_ixy", "_iyy")

    def __init__(self, ixx: float, iyy: float, ixy: float = 0.0) -> None:
        self._ixx = float(ixx)
        self._iyy = float(iyy)
        self._ixy = float(ixy)

    def getIxx(self) -> float:
        """Return the second moment in x."""
        return self._ixx

    def getIyy(self) -> float:
        """Return the second moment in y."""
        return self._iyy

    def getIxy(self) -> float:
        """Return the cross moment."""
        return self._ixy

    def getMatrix(self) -> np.ndarray:
        """Return the moments as the symmetric matrix ``[[ixx, ixy], [ixy, iyy]]``."""
        return np.array([[self._ixx, self._ixy], [self._ixy, self._iyy]], dtype=np.float64)

    def getDeterminant(self) -> float:
        """Return ``ixx * iyy - ixy**2``."""
        return self._ixx * self._iyy - self._ixy * self._ixy

    def getDeterminantRadius(self) -> float:
        """Return the determinant radius, ``(ixx * iyy - ixy**2) ** (1/4)``.

        Returns
        -------
        radius : `float`
            The radius; equal to sigma for a circular Gaussian. NaN when the
            determinant is negative (moments that are not positive
            semi-definite), as in LSST.
        """
        det = self.getDeterminant()
        if det < 0.0 or math.isnan(det):
            return math.nan
        return math.sqrt(math.sqrt(det))

    def getTraceRadius(self) -> float:
        """Return the trace radius, ``sqrt((ixx + iyy) / 2)`` (NaN if negative)."""
        half = 0.5 * (self._ixx + self._iyy)
        if half < 0.0 or math.isnan(half):
            return math.nan
        return math.sqrt(half)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Quadrupole):
            return NotImplemented
        return (self._ixx, self._iyy, self._ixy) == (other._ixx, other._iyy, other._ixy)

    def __hash__(self) -> int:
        return hash((Quadrupole, self._ixx, self._iyy, self._ixy))

    def __repr__(self) -> str:
        return f"Quadrupole(ixx={self._ixx!r}, iyy={self._iyy!r}, ixy={self._ixy!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        return (Quadrupole, (self._ixx, self._iyy, self._ixy))
