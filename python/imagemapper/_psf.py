"""Point-spread-function models: analytic Gaussians and a coadd mixture.

These classes reproduce the parts of ``lsst.afw.detection.Psf`` (and its
``GaussianPsf``, ``DoubleGaussianPsf`` and ``CoaddPsf`` implementations) that
``ImageMapReduceTask`` and typical mappers rely on: PSF model images centred
on a position, kernel images centred on pixel ``(0, 0)``, second moments and
the FWHM derived from them.

Pixel conventions follow LSST: the centre of pixel ``(i, j)`` is at the
integer position ``(i, j)`` and the pixel covers ``[i - 0.5, i + 0.5)``.
Arrays are indexed ``array[y, x]``.
"""

from __future__ import annotations

__all__ = [
    "CoaddPsf",
    "DoubleGaussianPsf",
    "GaussianPsf",
    "KernelPsf",
    "Psf",
    "Quadrupole",
    "psfFromRecords",
    "psfFwhm",
    "psfToRecords",
]

import abc
import copy
import math
import numbers
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeAlias, cast

import numpy as np

from ._core import Box2I, Extent2I, Point2D, Point2I

if TYPE_CHECKING:
    from ._image import Image

PointLike: TypeAlias = Point2D | Point2I | Sequence[float] | np.ndarray
"""Anything accepted as a position: ``Point2D``, ``Point2I`` or an ``(x, y)`` pair."""

_FWHM_PER_SIGMA = 2.0 * math.sqrt(2.0 * math.log(2.0))
"""Ratio of the FWHM to the standard deviation of a Gaussian, 2 sqrt(2 ln 2) ~= 2.3548."""


# ---------------------------------------------------------------------------
# Small helpers
# ---------------------------------------------------------------------------


def _newImage(array: np.ndarray, x0: int, y0: int) -> Image:
    """Wrap ``array`` in an `Image` whose lower-left pixel is ``(x0, y0)``.

    The import is deferred so that this module does not depend on the import
    order of the package's private modules.
    """
    from ._image import Image

    return Image(array, xy0=(int(x0), int(y0)))


def _imageOrigin(image: Image) -> tuple[int, int]:
    """Return the ``(x0, y0)`` of ``image`` as plain ints."""
    bbox = image.getBBox()
    return int(bbox.getMinX()), int(bbox.getMinY())


def _asPoint2D(position: PointLike, name: str = "position") -> Point2D:
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


def _resolvePosition(psf: Psf, position: PointLike | None) -> Point2D:
    """Return ``position`` as a `Point2D`, or the PSF's average position for `None`."""
    if position is None:
        return _asPoint2D(psf.getAveragePosition(), "average position")
    return _asPoint2D(position)


def _nearestPixel(point: Point2D) -> tuple[int, int]:
    """Return the pixel whose area contains ``point``: ``floor(point + 0.5)``."""
    return math.floor(point.getX() + 0.5), math.floor(point.getY() + 0.5)


def _checkPositiveInt(value: Any, name: str) -> int:
    """Return ``value`` as an `int`, raising `ValueError` unless it is a positive integer."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value <= 0:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def _checkPositiveFloat(value: Any, name: str, *, allowZero: bool = False) -> float:
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


def _adaptiveMoments(
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


# ---------------------------------------------------------------------------
# Psf base class
# ---------------------------------------------------------------------------


class Psf(abc.ABC):
    """Abstract point-spread function, after ``lsst.afw.detection.Psf``.

    Subclasses implement `_doComputeImage` and `_doComputeKernelImage`, and
    may override `_doComputeShape` (default: the unweighted moments of the
    kernel image), `_doComputeBBox` (default: the kernel image's box),
    `getAveragePosition` (default ``Point2D(0, 0)``), `getDimensions` and
    `_key` (the values compared by ``==``; the default compares identity).

    Notes
    -----
    Every ``position`` argument accepts a `Point2D`, a `Point2I` or an
    ``(x, y)`` pair; `None` means `getAveragePosition`. All images are
    float64 and sum to one.
    """

    # -- public interface -------------------------------------------------

    def computeImage(self, position: PointLike | None = None) -> Image:
        """Return the PSF model image centred on ``position``.

        Parameters
        ----------
        position : `Point2D`, `Point2I`, pair of `float` or `None`, optional
            Where the PSF is evaluated and centred, in parent pixels.
            `None` means `getAveragePosition`.

        Returns
        -------
        image : `Image`
            The model, float64, summing to one. Its centre pixel (index
            ``width // 2``, ``height // 2`` of the array) is the pixel that
            contains ``position``, ``floor(position + 0.5)``, so
            ``xy0 = floor(position + 0.5) - (width // 2, height // 2)``. The
            remaining sub-pixel offset is part of the model: analytic profiles
            are evaluated at the true fractional offset, so the image's
            centroid is ``position``.
        """
        return self._doComputeImage(_resolvePosition(self, position))

    def computeKernelImage(self, position: PointLike | None = None) -> Image:
        """Return the PSF model at ``position``, centred on pixel ``(0, 0)``.

        Parameters
        ----------
        position : `Point2D`, `Point2I`, pair of `float` or `None`, optional
            Where the PSF is evaluated, in parent pixels. `None` means
            `getAveragePosition`.

        Returns
        -------
        image : `Image`
            The model, float64, summing to one, with no sub-pixel shift and
            ``xy0 = (-(width // 2), -(height // 2))``.
        """
        return self._doComputeKernelImage(_resolvePosition(self, position))

    def computeShape(self, position: PointLike | None = None) -> Quadrupole:
        """Return the second moments of the PSF at ``position``.

        Parameters
        ----------
        position : `Point2D`, `Point2I`, pair of `float` or `None`, optional
            Where the PSF is evaluated. `None` means `getAveragePosition`.

        Returns
        -------
        shape : `Quadrupole`
            The second moments about the PSF's centroid, in pixels**2.
        """
        return self._doComputeShape(_resolvePosition(self, position))

    def computeFwhm(self, position: PointLike | None = None) -> float:
        """Return the FWHM implied by the determinant radius at ``position``.

        Parameters
        ----------
        position : `Point2D`, `Point2I`, pair of `float` or `None`, optional
            Where the PSF is evaluated. `None` means `getAveragePosition`.

        Returns
        -------
        fwhm : `float`
            ``computeShape(position).getDeterminantRadius() * 2 * sqrt(2 ln 2)``,
            in pixels (exact for a circular Gaussian).
        """
        return self.computeShape(position).getDeterminantRadius() * _FWHM_PER_SIGMA

    def getLocalKernel(self, position: PointLike | None = None) -> Any:
        """Return the PSF at ``position`` as a kernel (``afw``'s ``Psf.getLocalKernel``).

        Parameters
        ----------
        position : `Point2D`, `Point2I`, pair of `float` or `None`, optional
            Where the PSF is evaluated. `None` means `getAveragePosition`.

        Returns
        -------
        kernel : `imagemapper.lsst.afw.math.FixedKernel`
            The kernel image of `computeKernelImage`, its centre at the
            image's pixel ``(0, 0)``.
        """
        from .lsst.afw.math import FixedKernel

        image = self.computeKernelImage(position)
        kernel = FixedKernel(image)
        kernel.setCtr(Point2I(-image.getX0(), -image.getY0()))
        return kernel

    def computeBBox(self, position: PointLike | None = None) -> Box2I:
        """Return the pixel box of `computeKernelImage` at ``position``.

        Parameters
        ----------
        position : `Point2D`, `Point2I`, pair of `float` or `None`, optional
            Where the PSF is evaluated. `None` means `getAveragePosition`.

        Returns
        -------
        bbox : `Box2I`
            The kernel image's box (centred on pixel ``(0, 0)``).
        """
        return self._doComputeBBox(_resolvePosition(self, position))

    def getAveragePosition(self) -> Point2D:
        """Return a representative position for the PSF.

        Returns
        -------
        position : `Point2D`
            ``Point2D(0, 0)`` unless a subclass knows better.
        """
        return Point2D(0.0, 0.0)

    def getDimensions(self) -> Extent2I:
        """Return the size of the kernel image at the average position.

        Returns
        -------
        dimensions : `Extent2I`
            Width and height of the model images, in pixels.
        """
        return self.computeBBox(self.getAveragePosition()).getDimensions()

    def clone(self) -> Psf:
        """Return an independent copy of this PSF.

        Returns
        -------
        psf : `Psf`
            A deep copy, equal to ``self``.
        """
        return copy.deepcopy(self)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Psf):
            return NotImplemented
        return type(self) is type(other) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash((type(self).__qualname__, self._key()))

    # -- subclass hooks ----------------------------------------------------

    @abc.abstractmethod
    def _doComputeImage(self, position: Point2D) -> Image:
        """Implement `computeImage` for a resolved, finite ``position``."""
        raise NotImplementedError

    @abc.abstractmethod
    def _doComputeKernelImage(self, position: Point2D) -> Image:
        """Implement `computeKernelImage` for a resolved, finite ``position``."""
        raise NotImplementedError

    def _doComputeShape(self, position: Point2D) -> Quadrupole:
        """Implement `computeShape`: default, the adaptive (Gaussian-weighted)
        second moments of the kernel image about its centre, as LSST's
        ``ImagePsf`` does (SDSS adaptive moments)."""
        kernel = self._doComputeKernelImage(position)
        x0, y0 = _imageOrigin(kernel)
        return _adaptiveMoments(kernel.array, x0, y0)

    def _doComputeBBox(self, position: Point2D) -> Box2I:
        """Implement `computeBBox`: default, the box of the kernel image."""
        return Box2I(self._doComputeKernelImage(position).getBBox())

    def _key(self) -> tuple[Any, ...]:
        """Return the hashable values that define equality (default: identity)."""
        return (id(self),)


# ---------------------------------------------------------------------------
# Analytic PSFs
# ---------------------------------------------------------------------------


class _AnalyticPsf(Psf):
    """Base for position-independent PSFs given by a profile ``f(dx, dy)``.

    Parameters
    ----------
    width, height : `int`
        Size of the model images in pixels; positive.
    """

    def __init__(self, width: int, height: int) -> None:
        self._width = _checkPositiveInt(width, "width")
        self._height = _checkPositiveInt(height, "height")

    def getWidth(self) -> int:
        """Return the width of the model images, in pixels."""
        return self._width

    def getHeight(self) -> int:
        """Return the height of the model images, in pixels."""
        return self._height

    def getDimensions(self) -> Extent2I:
        """Return the size of the model images, ``Extent2I(width, height)``."""
        return Extent2I(self._width, self._height)

    @abc.abstractmethod
    def _profile(self, r2: np.ndarray) -> np.ndarray:
        """Evaluate the (unnormalised) radial profile at squared radii ``r2``."""
        raise NotImplementedError

    def _sample(self, dx: float, dy: float) -> np.ndarray:
        """Sample the profile at pixel centres, offset by ``(dx, dy)``, normalised to sum 1.

        Pixel ``[j, i]`` of the result is the profile at
        ``(i - width // 2 - dx, j - height // 2 - dy)``.
        """
        xs = np.arange(self._width, dtype=np.float64) - (self._width // 2) - dx
        ys = np.arange(self._height, dtype=np.float64) - (self._height // 2) - dy
        r2 = ys[:, np.newaxis] ** 2 + xs[np.newaxis, :] ** 2
        values = self._profile(r2)
        total = float(values.sum())
        if not (total > 0.0 and math.isfinite(total)):
            raise ValueError(
                f"{self!r}: the sampled profile sums to {total!r}; "
                "it cannot be normalised (is sigma tiny compared with a pixel?)"
            )
        values /= total
        return values

    def _doComputeImage(self, position: Point2D) -> Image:
        cx, cy = _nearestPixel(position)
        array = self._sample(position.getX() - cx, position.getY() - cy)
        return _newImage(array, cx - self._width // 2, cy - self._height // 2)

    def _doComputeKernelImage(self, position: Point2D) -> Image:
        array = self._sample(0.0, 0.0)
        return _newImage(array, -(self._width // 2), -(self._height // 2))

    def _doComputeBBox(self, position: Point2D) -> Box2I:
        return Box2I(
            Point2I(-(self._width // 2), -(self._height // 2)),
            Extent2I(self._width, self._height),
        )


class GaussianPsf(_AnalyticPsf):
    """Circular Gaussian PSF, after ``lsst.afw.detection.GaussianPsf``.

    Parameters
    ----------
    width, height : `int`
        Size of the model images in pixels; any positive integers (odd sizes
        put the centre pixel in the middle).
    sigma : `float`
        Standard deviation of the Gaussian in pixels; finite and > 0.

    Raises
    ------
    ValueError
        Raised if a size is not a positive integer or ``sigma`` is not finite
        and positive; the message names the value.

    Notes
    -----
    Images are ``exp(-r**2 / (2 sigma**2))`` sampled at pixel centres and normalised to
    sum to one. `computeShape` is analytic: ``ixx = iyy = sigma**2``, ``ixy = 0``,
    so the determinant radius is sigma and the FWHM is
    ``2 sqrt(2 ln 2) sigma ~= 2.3548 sigma``
    (independent of truncation by the image size).

    Examples
    --------
    >>> psf = GaussianPsf(21, 21, 2.0)
    >>> round(psf.computeFwhm(), 4)
    4.7096
    """

    def __init__(self, width: int, height: int, sigma: float) -> None:
        super().__init__(width, height)
        self._sigma = _checkPositiveFloat(sigma, "sigma")

    def getSigma(self) -> float:
        """Return the standard deviation in pixels."""
        return self._sigma

    def _profile(self, r2: np.ndarray) -> np.ndarray:
        return np.exp(r2 * (-0.5 / (self._sigma * self._sigma)))

    def _doComputeShape(self, position: Point2D) -> Quadrupole:
        s2 = self._sigma * self._sigma
        return Quadrupole(s2, s2, 0.0)

    def _key(self) -> tuple[Any, ...]:
        return (self._width, self._height, self._sigma)

    def _persistParams(self, kernels: list[np.ndarray]) -> dict[str, float]:
        return {"width": self._width, "height": self._height, "sigma": self._sigma}

    @classmethod
    def _fromPersistParams(cls, p: dict[str, float], kernels: list[Any], children: list) -> Psf:
        return cls(int(p["width"]), int(p["height"]), p["sigma"])

    def __repr__(self) -> str:
        return f"GaussianPsf(width={self._width}, height={self._height}, sigma={self._sigma!r})"


class DoubleGaussianPsf(_AnalyticPsf):
    """Sum of two concentric circular Gaussians, after ``lsst.meas.algorithms.DoubleGaussianPsf``.

    Parameters
    ----------
    width, height : `int`
        Size of the model images in pixels; positive integers.
    sigma1 : `float`
        Standard deviation of the core Gaussian; finite and > 0.
    sigma2 : `float` or `None`, optional
        Standard deviation of the wing Gaussian; finite and > 0.
        `None` (default) means ``2 * sigma1``.
    b : `float`, optional
        Amplitude of the wing relative to the core, by integrated flux;
        finite and >= 0. Default 0 (a single Gaussian).

    Raises
    ------
    ValueError
        Raised if a parameter is out of range; the message names the value.

    Notes
    -----
    The profile is ``G(sigma1) + b G(sigma2)`` with
    ``G(s) = exp(-r**2 / (2 s**2)) / (2 pi s**2)``
    (each component has unit integral), sampled at pixel centres and
    normalised to sum to one. `computeShape` reports the adaptive
    (Gaussian-weighted) moments of the kernel image, as LSST's
    ``DoubleGaussianPsf`` (an ``ImagePsf``) does: for ``b = 0`` and a kernel
    that holds the profile this is ``sigma1**2``; for a mixture it lies
    between the core's and the unweighted mixture moment
    ``(sigma1**2 + b sigma2**2) / (1 + b)``.

    Examples
    --------
    >>> psf = DoubleGaussianPsf(31, 31, 1.5, b=0.1)
    >>> psf.getSigma2()
    3.0
    """

    def __init__(
        self,
        width: int,
        height: int,
        sigma1: float,
        sigma2: float | None = None,
        b: float = 0.0,
    ) -> None:
        super().__init__(width, height)
        self._sigma1 = _checkPositiveFloat(sigma1, "sigma1")
        self._sigma2 = (
            2.0 * self._sigma1 if sigma2 is None else _checkPositiveFloat(sigma2, "sigma2")
        )
        self._b = _checkPositiveFloat(b, "b", allowZero=True)

    def getSigma1(self) -> float:
        """Return the standard deviation of the core Gaussian."""
        return self._sigma1

    def getSigma2(self) -> float:
        """Return the standard deviation of the wing Gaussian."""
        return self._sigma2

    def getB(self) -> float:
        """Return the wing-to-core flux ratio."""
        return self._b

    def _profile(self, r2: np.ndarray) -> np.ndarray:
        s1 = self._sigma1 * self._sigma1
        values = np.exp(r2 * (-0.5 / s1)) * (1.0 / (2.0 * math.pi * s1))
        if self._b != 0.0:
            s2 = self._sigma2 * self._sigma2
            values += np.exp(r2 * (-0.5 / s2)) * (self._b / (2.0 * math.pi * s2))
        return values

    def _key(self) -> tuple[Any, ...]:
        return (self._width, self._height, self._sigma1, self._sigma2, self._b)

    def _persistParams(self, kernels: list[np.ndarray]) -> dict[str, float]:
        return {
            "width": self._width,
            "height": self._height,
            "sigma1": self._sigma1,
            "sigma2": self._sigma2,
            "b": self._b,
        }

    @classmethod
    def _fromPersistParams(cls, p: dict[str, float], kernels: list[Any], children: list) -> Psf:
        return cls(int(p["width"]), int(p["height"]), p["sigma1"], p["sigma2"], p["b"])

    def __repr__(self) -> str:
        return (
            f"DoubleGaussianPsf(width={self._width}, height={self._height}, "
            f"sigma1={self._sigma1!r}, sigma2={self._sigma2!r}, b={self._b!r})"
        )


# ---------------------------------------------------------------------------
# A PSF given by a kernel image
# ---------------------------------------------------------------------------


class KernelPsf(Psf):
    """A PSF given by one kernel image, the same at every position.

    After ``lsst.meas.algorithms.KernelPsf`` (a ``FixedKernel``): the model is
    the kernel image normalised to sum to one.

    Parameters
    ----------
    kernel : `Image` or 2-d `numpy.ndarray`
        The kernel. An array is centred on its pixel ``(width // 2, height //
        2)``, i.e. its box starts at ``(-(width // 2), -(height // 2))``; an
        `Image` keeps its own ``xy0`` (pixel ``(0, 0)`` is the centre).
    averagePosition : `Point2D`, `Point2I`, pair of `float` or `None`, optional
        Value for `getAveragePosition` (default ``(0, 0)``).

    Raises
    ------
    ValueError
        If the kernel is not 2-d, is empty, has non-finite values or does not
        sum to a finite non-zero value.

    Notes
    -----
    `computeKernelImage` returns the normalised kernel; `computeImage` places
    it on the pixel that contains the position and shifts it by the
    remaining sub-pixel offset with a Fourier phase ramp (exact for a
    band-limited kernel), so its centroid follows the position.
    `computeShape` is the adaptive moment of the kernel (as LSST's
    ``ImagePsf``).

    Examples
    --------
    >>> import numpy as np
    >>> psf = KernelPsf(np.outer([1.0, 2.0, 1.0], [1.0, 2.0, 1.0]))
    >>> float(psf.computeKernelImage().array[1, 1])
    0.25
    """

    def __init__(self, kernel: Any, averagePosition: PointLike | None = None) -> None:
        from ._image import Image

        if isinstance(kernel, Image):
            array = np.array(kernel.array, dtype=np.float64)
            x0, y0 = _imageOrigin(kernel)
        else:
            array = np.array(kernel, dtype=np.float64)
            if array.ndim != 2:
                raise ValueError(f"a kernel must be a 2-d array, got shape {array.shape}")
            x0, y0 = -(array.shape[1] // 2), -(array.shape[0] // 2)
        if array.ndim != 2 or array.size == 0:
            raise ValueError(f"a kernel must be a non-empty 2-d array, got shape {array.shape}")
        if not np.isfinite(array).all():
            raise ValueError("a kernel image must hold finite values only")
        total = float(array.sum())
        if not (math.isfinite(total) and total != 0.0):
            raise ValueError(f"a kernel image must sum to a finite non-zero value, got {total!r}")
        self._kernel = array / total
        self._kernel.flags.writeable = False
        self._x0, self._y0 = int(x0), int(y0)
        point = _asPoint2D(
            (0.0, 0.0) if averagePosition is None else averagePosition, "averagePosition"
        )
        self._averagePosition = (point.getX(), point.getY())

    def getKernelArray(self) -> np.ndarray:
        """Return the normalised kernel (read-only array, ``[y, x]``)."""
        return self._kernel

    def getAveragePosition(self) -> Point2D:
        """Return the position given at construction (default ``(0, 0)``)."""
        return Point2D(*self._averagePosition)

    def _doComputeKernelImage(self, position: Point2D) -> Image:
        return _newImage(self._kernel.copy(), self._x0, self._y0)

    def _doComputeImage(self, position: Point2D) -> Image:
        cx, cy = _nearestPixel(position)
        dx, dy = position.getX() - cx, position.getY() - cy
        array = self._kernel.copy()
        if dx != 0.0 or dy != 0.0:
            h, w = array.shape
            ramp = np.exp(
                -2j
                * math.pi
                * (np.fft.fftfreq(h)[:, np.newaxis] * dy + np.fft.fftfreq(w)[np.newaxis, :] * dx)
            )
            array = np.fft.ifft2(np.fft.fft2(array) * ramp).real
            array /= array.sum()
        return _newImage(array, cx + self._x0, cy + self._y0)

    def _doComputeBBox(self, position: Point2D) -> Box2I:
        h, w = self._kernel.shape
        return Box2I(Point2I(self._x0, self._y0), Extent2I(w, h))

    def _key(self) -> tuple[Any, ...]:
        return (
            self._kernel.shape,
            self._kernel.tobytes(),
            self._x0,
            self._y0,
            self._averagePosition,
        )

    def _persistParams(self, kernels: list[np.ndarray]) -> dict[str, float]:
        kernels.append(self._kernel)
        return {
            "kernel": float(len(kernels) - 1),
            "kernelX0": float(self._x0),
            "kernelY0": float(self._y0),
            "averageX": self._averagePosition[0],
            "averageY": self._averagePosition[1],
        }

    @classmethod
    def _fromPersistParams(cls, p: dict[str, float], kernels: list[Any], children: list) -> Psf:

        # The stored kernel is already normalised: no second division (which
        # would change its last bits).
        kernel = np.array(kernels[int(p["kernel"])], dtype=np.float64)
        psf = cls(kernel, averagePosition=(p["averageX"], p["averageY"]))
        psf._kernel = kernel
        psf._kernel.flags.writeable = False
        psf._x0, psf._y0 = int(p["kernelX0"]), int(p["kernelY0"])
        return psf

    def __repr__(self) -> str:
        h, w = self._kernel.shape
        return f"KernelPsf(<{w}x{h} kernel, xy0=({self._x0}, {self._y0})>)"


# ---------------------------------------------------------------------------
# CoaddPsf
# ---------------------------------------------------------------------------


def _boxKey(bbox: Box2I) -> tuple[int, int, int, int]:
    """Return ``(minX, minY, width, height)`` of a box (hashable, comparable)."""
    return (bbox.getMinX(), bbox.getMinY(), bbox.getWidth(), bbox.getHeight())


class CoaddPsf(Psf):
    """Weighted mixture of component PSFs, after ``lsst.meas.algorithms.CoaddPsf``.

    Each component is a PSF valid on a box of the parent (coadd) pixel grid,
    with a weight. At a position, the model is the weighted mean of the
    models of the components whose box covers that position.

    Parameters
    ----------
    components : iterable of ``(psf, bbox, weight)``
        At least one triple of a `Psf`, a non-empty `Box2I` in parent pixels
        (copied) and a finite weight > 0.
    averagePosition : `Point2D`, `Point2I`, pair of `float` or `None`, optional
        Value for `getAveragePosition`; `None` (default) means the
        weight-averaged centre of the component boxes.

    Raises
    ------
    TypeError
        Raised if a component is not a triple, its PSF is not a `Psf` or its
        box is not a `Box2I`; the message names the component index.
    ValueError
        Raised if there are no components, or a box is empty, or a weight is
        not finite and > 0; the message names the component index and value.

    Notes
    -----
    A component covers ``position`` when its box contains the pixel whose
    area contains the position, ``floor(position + 0.5)``, the pixel on
    which `computeImage` is centred; this is LSST's ``Box2D(bbox).contains``
    test (pixel edges at half-integers).

    The component images are placed on the union of their pixel boxes
    (components may differ in size; they share the centre pixel), weighted,
    summed and divided by the total weight of the covering components, so the
    result sums to one. `computeShape` is the unweighted second moment (about
    the centroid) of `computeKernelImage`; `getDimensions` is the size of the
    union of all components' kernel boxes at the average position.

    Examples
    --------
    >>> from imagemapper import Box2I, Extent2I, Point2I
    >>> left = Box2I(Point2I(0, 0), Extent2I(50, 100))
    >>> right = Box2I(Point2I(50, 0), Extent2I(50, 100))
    >>> psf = CoaddPsf([(GaussianPsf(21, 21, 2.0), left, 1.0),
    ...                 (GaussianPsf(21, 21, 3.0), right, 2.0)])
    >>> len(psf)
    2
    """

    def __init__(
        self,
        components: Iterable[tuple[Psf, Box2I, float]],
        *,
        averagePosition: PointLike | None = None,
    ) -> None:
        psfs: list[Psf] = []
        bboxes: list[Box2I] = []
        weights: list[float] = []
        if isinstance(components, (str, bytes)) or not isinstance(components, Iterable):
            raise TypeError(
                f"components must be an iterable of (psf, bbox, weight) triples, got {components!r}"
            )
        for index, component in enumerate(components):
            try:
                psf, bbox, weight = component
            except (TypeError, ValueError):
                raise TypeError(
                    f"component {index} must be a (psf, bbox, weight) triple, got {component!r}"
                ) from None
            if not isinstance(psf, Psf):
                raise TypeError(f"component {index}: psf must be a Psf, got {psf!r}")
            if not isinstance(bbox, Box2I):
                raise TypeError(f"component {index}: bbox must be a Box2I, got {bbox!r}")
            if bbox.isEmpty():
                raise ValueError(f"component {index}: bbox {bbox!r} is empty")
            if (
                isinstance(weight, bool)
                or not isinstance(weight, numbers.Real)
                or not (math.isfinite(float(weight)) and float(weight) > 0.0)
            ):
                raise ValueError(
                    f"component {index}: weight must be finite and > 0, got {weight!r}"
                )
            psfs.append(psf)
            bboxes.append(Box2I(bbox))
            weights.append(float(weight))
        if not psfs:
            raise ValueError("CoaddPsf needs at least one (psf, bbox, weight) component")
        self._psfs: tuple[Psf, ...] = tuple(psfs)
        self._bboxes: tuple[Box2I, ...] = tuple(bboxes)
        self._weights: tuple[float, ...] = tuple(weights)
        if averagePosition is None:
            total = math.fsum(weights)
            xs = (
                math.fsum(w * b.getCenter().getX() for w, b in zip(weights, bboxes, strict=True))
                / total
            )
            ys = (
                math.fsum(w * b.getCenter().getY() for w, b in zip(weights, bboxes, strict=True))
                / total
            )
            self._averagePosition = (xs, ys)
            self._averageGiven = False
        else:
            point = _asPoint2D(averagePosition, "averagePosition")
            self._averagePosition = (point.getX(), point.getY())
            self._averageGiven = True

    @classmethod
    def fromComponents(
        cls,
        psfs: Sequence[Psf],
        bboxes: Sequence[Box2I],
        weights: Sequence[float] | None = None,
        *,
        averagePosition: PointLike | None = None,
    ) -> CoaddPsf:
        """Build a `CoaddPsf` from parallel sequences.

        Parameters
        ----------
        psfs : sequence of `Psf`
            Component PSFs.
        bboxes : sequence of `Box2I`
            Their boxes in parent pixels, one per PSF.
        weights : sequence of `float` or `None`, optional
            Their weights, one per PSF; `None` (default) gives each weight 1.
        averagePosition : `Point2D`, `Point2I`, pair of `float` or `None`, optional
            As in the constructor.

        Returns
        -------
        psf : `CoaddPsf`
            The coadd PSF.

        Raises
        ------
        ValueError
            Raised if the sequences differ in length, or as the constructor.
        """
        psfs = list(psfs)
        bboxes = list(bboxes)
        weightList = [1.0] * len(psfs) if weights is None else list(weights)
        if len(bboxes) != len(psfs) or len(weightList) != len(psfs):
            raise ValueError(
                f"psfs, bboxes and weights must have the same length, got "
                f"{len(psfs)}, {len(bboxes)} and {len(weightList)}"
            )
        return cls(zip(psfs, bboxes, weightList, strict=True), averagePosition=averagePosition)

    # -- accessors ---------------------------------------------------------

    def getComponentCount(self) -> int:
        """Return the number of components."""
        return len(self._psfs)

    def __len__(self) -> int:
        return len(self._psfs)

    def _checkIndex(self, index: int) -> int:
        n = len(self._psfs)
        if isinstance(index, bool) or not isinstance(index, numbers.Integral):
            raise TypeError(f"component index must be an integer, got {index!r}")
        if not -n <= index < n:
            raise IndexError(f"component index {index} out of range for {n} components")
        return int(index) % n

    def getPsf(self, index: int) -> Psf:
        """Return the PSF of component ``index`` (negative indices count from the end)."""
        return self._psfs[self._checkIndex(index)]

    def getBBox(self, index: int) -> Box2I:
        """Return a copy of the box of component ``index``."""
        return Box2I(self._bboxes[self._checkIndex(index)])

    def getWeight(self, index: int) -> float:
        """Return the weight of component ``index``."""
        return self._weights[self._checkIndex(index)]

    def getAveragePosition(self) -> Point2D:
        """Return the given average position, or the weighted mean of the box centres."""
        return Point2D(*self._averagePosition)

    def getDimensions(self) -> Extent2I:
        """Return the size of the union of all components' kernel boxes at the average position.

        This bounds the size of `computeKernelImage` wherever the component
        boxes do not depend on position (as for the analytic PSFs).
        """
        where = self.getAveragePosition()
        union = Box2I(self._psfs[0].computeBBox(where))
        for psf in self._psfs[1:]:
            union.include(psf.computeBBox(where))
        return union.getDimensions()

    # -- evaluation --------------------------------------------------------

    def _covering(self, position: Point2D) -> list[int]:
        """Return the indices of the components whose box covers ``position``."""
        pixel = Point2I(*_nearestPixel(position))
        indices = [i for i, bbox in enumerate(self._bboxes) if bbox.contains(pixel)]
        if not indices:
            # LSST's CoaddPsf raises InvalidParameterError here (clients catch
            # it by that name); it is a ValueError.
            from .lsst.pex.exceptions import InvalidParameterError

            raise InvalidParameterError(
                f"no component PSF covers position ({position.getX()!r}, {position.getY()!r})"
            )
        return indices

    def _combine(self, position: Point2D, kernel: bool) -> Image:
        """Weighted mean of the covering components' (kernel) images at ``position``."""
        indices = self._covering(position)
        images = []
        for i in indices:
            psf = self._psfs[i]
            images.append(
                psf.computeKernelImage(position) if kernel else psf.computeImage(position)
            )
        origins = [_imageOrigin(image) for image in images]
        shapes = [np.shape(image.array) for image in images]
        x0 = min(o[0] for o in origins)
        y0 = min(o[1] for o in origins)
        x1 = max(o[0] + s[1] for o, s in zip(origins, shapes, strict=True))
        y1 = max(o[1] + s[0] for o, s in zip(origins, shapes, strict=True))
        result = np.zeros((y1 - y0, x1 - x0), dtype=np.float64)
        totalWeight = 0.0
        for i, image, (ox, oy), (h, w) in zip(indices, images, origins, shapes, strict=True):
            weight = self._weights[i]
            result[oy - y0 : oy - y0 + h, ox - x0 : ox - x0 + w] += weight * np.asarray(
                image.array, dtype=np.float64
            )
            totalWeight += weight
        result /= totalWeight
        return _newImage(result, x0, y0)

    def _doComputeImage(self, position: Point2D) -> Image:
        return self._combine(position, kernel=False)

    def _doComputeKernelImage(self, position: Point2D) -> Image:
        return self._combine(position, kernel=True)

    def _doComputeBBox(self, position: Point2D) -> Box2I:
        indices = self._covering(position)
        union = Box2I(self._psfs[indices[0]].computeBBox(position))
        for i in indices[1:]:
            union.include(self._psfs[i].computeBBox(position))
        return union

    # -- value semantics ---------------------------------------------------

    def _persistParams(self, kernels: list[np.ndarray]) -> dict[str, float]:
        x, y = self._averagePosition if self._averageGiven else (math.nan, math.nan)
        return {"averageX": x, "averageY": y}

    @classmethod
    def _fromPersistParams(cls, p: dict[str, float], kernels: list[Any], children: list) -> Psf:
        given = math.isfinite(p["averageX"]) and math.isfinite(p["averageY"])
        average = (p["averageX"], p["averageY"]) if given else None
        return cls(children, averagePosition=average)

    def _key(self) -> tuple[Any, ...]:
        return (
            tuple(
                (psf, _boxKey(bbox), weight)
                for psf, bbox, weight in zip(self._psfs, self._bboxes, self._weights, strict=True)
            ),
            self._averagePosition,
        )

    def __repr__(self) -> str:
        parts = [
            f"({psf!r}, {bbox!r}, {weight!r})"
            for psf, bbox, weight in zip(self._psfs[:3], self._bboxes, self._weights, strict=False)
        ]
        if len(self._psfs) > 3:
            parts.append(f"... {len(self._psfs) - 3} more")
        average = ""
        if self._averageGiven:
            average = f", averagePosition=Point2D{self._averagePosition!r}"
        return f"CoaddPsf([{', '.join(parts)}]{average})"


# ---------------------------------------------------------------------------
# Task helper
# ---------------------------------------------------------------------------


def psfFwhm(psf: Psf) -> float:
    """Return the FWHM that ``ImageMapReduceTask`` uses to scale its grid.

    Parameters
    ----------
    psf : `Psf`
        The exposure's PSF.

    Returns
    -------
    fwhm : `float`
        ``psf.computeShape(psf.getAveragePosition()).getDeterminantRadius()``
        times ``2 * sqrt(2 ln 2)``, in pixels.

    Examples
    --------
    >>> round(psfFwhm(GaussianPsf(21, 21, 2.0)), 4)
    4.7096
    """
    shape = psf.computeShape(psf.getAveragePosition())
    return shape.getDeterminantRadius() * _FWHM_PER_SIGMA


# ---------------------------------------------------------------------------
# Persistence: a PSF as table rows and kernel images
# ---------------------------------------------------------------------------

#: The PSF classes a file may name, by the ``type`` written; only these are
#: ever constructed when reading (a file cannot make us import anything else).
_PSF_TYPES: dict[str, tuple[str, str]] = {
    "GaussianPsf": ("imagemapper._psf", "GaussianPsf"),
    "DoubleGaussianPsf": ("imagemapper._psf", "DoubleGaussianPsf"),
    "KernelPsf": ("imagemapper._psf", "KernelPsf"),
    "CoaddPsf": ("imagemapper._psf", "CoaddPsf"),
    "VariableGaussianPsf": ("imagemapper.mappers", "VariableGaussianPsf"),
}


def _psfClass(name: str) -> type:
    import importlib

    module, attr = _PSF_TYPES[name]
    return cast(type, getattr(importlib.import_module(module), attr))


def _persistedType(psf: Psf) -> str | None:
    """The registered type ``psf`` is written as: its own, else a registered base class."""
    for name in _PSF_TYPES:
        if type(psf) is _psfClass(name):
            return name
    for name in _PSF_TYPES:
        if isinstance(psf, _psfClass(name)):
            return name
    return None


def psfToRecords(psf: Psf) -> tuple[list[dict[str, Any]], list[np.ndarray], list[str]]:
    """Describe ``psf`` as table rows and kernel images (what `Exposure.writeFits` stores).

    Parameters
    ----------
    psf : `Psf`
        The PSF. `GaussianPsf`, `DoubleGaussianPsf`, `KernelPsf`, `CoaddPsf`
        (its components recursively, with their boxes and weights) and
        `~imagemapper.mappers.VariableGaussianPsf` are written exactly;
        subclasses of these as the class they derive from; any other PSF as a
        `KernelPsf` of its kernel image at its average position (a note says
        so).

    Returns
    -------
    rows : `list` of `dict`
        One row per PSF, the root first, each component after its parent:
        ``type`` (class name), ``parent`` (row index, -1 for the root) and the
        class's parameters as floats (``width``, ``height``, ``sigma``, ...;
        for a coadd component also ``bboxMinX``, ``bboxMinY``, ``bboxWidth``,
        ``bboxHeight`` and ``weight``).
    kernels : `list` of `numpy.ndarray`
        Kernel images, referred to by a row's ``kernel`` index.
    notes : `list` of `str`
        What could not be written exactly (empty when the round trip is exact).
    """
    rows: list[dict[str, Any]] = []
    kernels: list[np.ndarray] = []
    notes: list[str] = []

    def add(p: Psf, parent: int, extra: dict[str, float]) -> None:
        name = _persistedType(p)
        if name is None:
            where = p.getAveragePosition()
            notes.append(
                f"a {type(p).__name__} cannot be saved exactly: saved its kernel image at "
                f"({where.getX():g}, {where.getY():g}) as a KernelPsf"
            )
            p = KernelPsf(p.computeKernelImage(where), averagePosition=where)
            name = "KernelPsf"
        elif type(p) is not _psfClass(name):
            notes.append(f"a {type(p).__name__} is saved as its base class {name}")
        index = len(rows)
        row: dict[str, Any] = {"type": name, "parent": parent, **extra}
        row.update({k: float(v) for k, v in cast(Any, p)._persistParams(kernels).items()})
        rows.append(row)
        if isinstance(p, CoaddPsf):
            for i in range(p.getComponentCount()):
                b = p.getBBox(i)
                add(
                    p.getPsf(i),
                    index,
                    {
                        "bboxMinX": float(b.getMinX()),
                        "bboxMinY": float(b.getMinY()),
                        "bboxWidth": float(b.getWidth()),
                        "bboxHeight": float(b.getHeight()),
                        "weight": p.getWeight(i),
                    },
                )

    add(psf, -1, {})
    return rows, kernels, notes


def psfFromRecords(rows: Sequence[Mapping[str, Any]], kernels: Sequence[Any]) -> Psf:
    """Rebuild the PSF that `psfToRecords` described.

    Parameters
    ----------
    rows : sequence of mapping
        The rows, the root first.
    kernels : sequence of 2-d arrays
        The kernel images the rows' ``kernel`` indices refer to.

    Returns
    -------
    psf : `Psf`

    Raises
    ------
    ValueError
        For an unknown type, a bad parent index, a missing parameter or a
        missing kernel; the message names the row.
    """
    if not rows:
        raise ValueError("no PSF rows")
    children: dict[int, list[tuple[Psf, Box2I, float]]] = {}
    root: Psf | None = None
    for index in range(len(rows) - 1, -1, -1):
        row = rows[index]
        name = str(row.get("type", "")).strip()
        if name not in _PSF_TYPES:
            raise ValueError(
                f"PSF row {index}: unknown type {name!r} (known: {', '.join(_PSF_TYPES)})"
            )
        params = {str(k): float(v) for k, v in row.items() if k not in ("type", "parent")}
        try:
            cls = _psfClass(name)
            psf = cast(Any, cls)._fromPersistParams(params, kernels, children.get(index, []))
            parent = int(row.get("parent", -1))
            if parent == -1:
                if index != 0:
                    raise ValueError("it has no parent but is not the first row")
                root = psf
                continue
            if not 0 <= parent < index:
                raise ValueError(f"its parent {parent} is not an earlier row")
            bbox = Box2I(
                Point2I(int(params["bboxMinX"]), int(params["bboxMinY"])),
                Extent2I(int(params["bboxWidth"]), int(params["bboxHeight"])),
            )
            children.setdefault(parent, []).insert(0, (psf, bbox, params["weight"]))
        except (KeyError, IndexError) as err:
            raise ValueError(f"PSF row {index} ({name}): missing {err}") from None
        except (TypeError, ValueError) as err:
            raise ValueError(f"PSF row {index} ({name}): {err}") from None
    assert root is not None
    return root
