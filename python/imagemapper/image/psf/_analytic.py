"""Analytic PSFs: `GaussianPsf` and `DoubleGaussianPsf`, as in LSST's afw and meas_algorithms."""

from __future__ import annotations

__all__ = ["DoubleGaussianPsf", "GaussianPsf"]


import abc
import math
from typing import TYPE_CHECKING, Any

import numpy as np

from ..._core import Box2I, Extent2I, Point2D, Point2I
from ._base import Psf
from ._common import (
    Quadrupole,
    checkPositiveFloat,
    checkPositiveInt,
    nearestPixel,
    newImage,
)

if TYPE_CHECKING:
    from .. import Image


class _AnalyticPsf(Psf):
    """Base for position-independent PSFs given by a profile ``f(dx, dy)``.

    Parameters
    ----------
    width, height : `int`
        Size of the model images in pixels; positive.
    """

    def __init__(self, width: int, height: int) -> None:
        self._width = checkPositiveInt(width, "width")
        self._height = checkPositiveInt(height, "height")

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
        cx, cy = nearestPixel(position)
        array = self._sample(position.getX() - cx, position.getY() - cy)
        return newImage(array, cx - self._width // 2, cy - self._height // 2)

    def _doComputeKernelImage(self, position: Point2D) -> Image:
        array = self._sample(0.0, 0.0)
        return newImage(array, -(self._width // 2), -(self._height // 2))

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
        self._sigma = checkPositiveFloat(sigma, "sigma")

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

    def persistParams(self, kernels: list[np.ndarray]) -> dict[str, float]:
        return {"width": self._width, "height": self._height, "sigma": self._sigma}

    @classmethod
    def fromPersistParams(cls, p: dict[str, float], kernels: list[Any], children: list) -> Psf:
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
        self._sigma1 = checkPositiveFloat(sigma1, "sigma1")
        self._sigma2 = (
            2.0 * self._sigma1 if sigma2 is None else checkPositiveFloat(sigma2, "sigma2")
        )
        self._b = checkPositiveFloat(b, "b", allowZero=True)

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

    def persistParams(self, kernels: list[np.ndarray]) -> dict[str, float]:
        return {
            "width": self._width,
            "height": self._height,
            "sigma1": self._sigma1,
            "sigma2": self._sigma2,
            "b": self._b,
        }

    @classmethod
    def fromPersistParams(cls, p: dict[str, float], kernels: list[Any], children: list) -> Psf:
        return cls(int(p["width"]), int(p["height"]), p["sigma1"], p["sigma2"], p["b"])

    def __repr__(self) -> str:
        return (
            f"DoubleGaussianPsf(width={self._width}, height={self._height}, "
            f"sigma1={self._sigma1!r}, sigma2={self._sigma2!r}, b={self._b!r})"
        )
