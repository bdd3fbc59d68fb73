"""The PSF interface: `Psf` (as ``lsst.afw.detection.Psf``), `Quadrupole` and `psfFwhm`.

Pixel conventions follow LSST: the centre of pixel ``(i, j)`` is at the
integer position ``(i, j)`` and the pixel covers ``[i - 0.5, i + 0.5)``.
Arrays are indexed ``array[y, x]``.
"""

from __future__ import annotations

__all__ = ["Psf", "psfFwhm"]


import abc
import copy
from typing import TYPE_CHECKING, Any

from ..._core import Box2I, Extent2I, Point2D, Point2I
from ._common import (
    FWHM_PER_SIGMA,
    PointLike,
    Quadrupole,
    adaptiveMoments,
    imageOrigin,
    resolvePosition,
)

if TYPE_CHECKING:
    from .. import Image


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
    A PSF that FITS files can store exactly also defines
    ``persistParams(kernels)`` (its parameters as a dict of floats, appending
    any kernel array it needs to ``kernels``) and the classmethod
    ``fromPersistParams(params, kernels, children)`` that rebuilds it;
    `imagemapper.io` calls them when it saves and reads PSFs.

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
        return self._doComputeImage(resolvePosition(self, position))

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
        return self._doComputeKernelImage(resolvePosition(self, position))

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
        return self._doComputeShape(resolvePosition(self, position))

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
        return self.computeShape(position).getDeterminantRadius() * FWHM_PER_SIGMA

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
        from ...lsst.afw.math import FixedKernel

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
        return self._doComputeBBox(resolvePosition(self, position))

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
        x0, y0 = imageOrigin(kernel)
        return adaptiveMoments(kernel.array, x0, y0)

    def _doComputeBBox(self, position: Point2D) -> Box2I:
        """Implement `computeBBox`: default, the box of the kernel image."""
        return Box2I(self._doComputeKernelImage(position).getBBox())

    def _key(self) -> tuple[Any, ...]:
        """Return the hashable values that define equality (default: identity)."""
        return (id(self),)


# ---------------------------------------------------------------------------
# Analytic PSFs
# ---------------------------------------------------------------------------

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
    return shape.getDeterminantRadius() * FWHM_PER_SIGMA
