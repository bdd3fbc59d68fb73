"""``lsst.meas.algorithms.KernelPsf``: a PSF given by a convolution kernel.

It is a `~imagemapper.Psf`, so it goes wherever the package's PSFs go (an
exposure, a cell result, a component of a `~imagemapper.CoaddPsf`):

- ``computeKernelImage(position)`` is the kernel image normalised to sum to
  one, with ``xy0 = -ctr`` (the kernel's centre pixel at ``(0, 0)``);
- ``computeImage(position)`` is that image moved to ``position``: by whole
  pixels through ``xy0`` (``floor(position + 0.5)``) and by the remaining
  fraction with a Lanczos-5 interpolation on a 5-pixel zero buffer, as
  ``afw``'s ``Psf.recenterKernelImage`` does;
- ``computeShape`` is the package's adaptive second moments of the kernel
  image.
"""

from __future__ import annotations

__all__ = ["KernelPsf"]

import math
from typing import Any

import numpy as np

from ..._core import Box2I, Point2D
from ..._image import Image
from ..._psf import PointLike, Psf, _asPoint2D
from .math import FixedKernel, Kernel, offsetImage


class KernelPsf(Psf):
    """A PSF made from a spatially constant kernel (``lsst.meas.algorithms.KernelPsf``).

    Parameters
    ----------
    kernel : `~imagemapper.lsst.afw.math.Kernel`
        The kernel (kept, not copied, as ``afw`` shares it).
    averagePosition : `~imagemapper.Point2D` or pair of `float`, optional
        What `getAveragePosition` returns (default ``(0, 0)``).
    """

    def __init__(self, kernel: Kernel, averagePosition: PointLike | None = None) -> None:
        if not isinstance(kernel, Kernel):
            raise TypeError(f"KernelPsf needs a Kernel, not {type(kernel).__name__}")
        self._kernel = kernel
        self._averagePosition = (
            Point2D(0.0, 0.0)
            if averagePosition is None
            else _asPoint2D(averagePosition, "averagePosition")
        )

    def getKernel(self) -> Kernel:
        """Return the kernel."""
        return self._kernel

    def getAveragePosition(self) -> Point2D:
        """Return the average position given at construction."""
        return Point2D(self._averagePosition)

    def getLocalKernel(self, position: PointLike | None = None) -> FixedKernel:
        """Return the kernel image at ``position`` as a `FixedKernel` (``afw``'s
        ``Psf.getLocalKernel``)."""
        return FixedKernel(self.computeKernelImage(position))

    def _doComputeKernelImage(self, position: Point2D) -> Image:
        image = Image(self._kernel.getDimensions(), dtype=np.float64)
        self._kernel.computeImage(image, True, position.getX(), position.getY())
        return image

    def _doComputeImage(self, position: Point2D) -> Image:
        kernelImage = self._doComputeKernelImage(position)
        ix, iy = math.floor(position.getX() + 0.5), math.floor(position.getY() + 0.5)
        rx, ry = position.getX() - ix, position.getY() - iy
        if rx or ry:
            kernelImage = offsetImage(kernelImage, rx, ry, "lanczos5", 5)
        kernelImage.setXY0((kernelImage.getX0() + ix, kernelImage.getY0() + iy))
        return kernelImage

    def _doComputeBBox(self, position: Point2D) -> Box2I:
        return self._kernel.getBBox()

    def _key(self) -> tuple[Any, ...]:
        image = self._doComputeKernelImage(self._averagePosition)
        return (
            image.getArray().tobytes(),
            image.getArray().shape,
            (self._kernel.getCtrX(), self._kernel.getCtrY()),
            (self._averagePosition.getX(), self._averagePosition.getY()),
        )

    def __repr__(self) -> str:
        return f"KernelPsf({self._kernel!r}, averagePosition={self._averagePosition!r})"
