"""``lsst.meas.algorithms.KernelPsf``: the package's `~imagemapper.KernelPsf`
made from an ``afw``-style kernel.

It *is* an `imagemapper.KernelPsf` (one implementation of a kernel PSF: the
normalised kernel image, its box, shape, equality and FITS persistence), so it
goes wherever the package's PSFs go (an exposure, a cell result, a component
of a `~imagemapper.CoaddPsf`). What the port adds, as ``afw`` does:

- it is built from a `~imagemapper.lsst.afw.math.Kernel` (a ``FixedKernel``),
  whose centre becomes the kernel image's pixel ``(0, 0)``, and `getKernel`
  returns that kernel;
- ``computeImage(position)`` moves the kernel image to ``position`` by whole
  pixels through ``xy0`` (``floor(position + 0.5)``) and by the remaining
  fraction with a Lanczos-5 interpolation on a 5-pixel zero buffer, as
  ``afw``'s ``Psf.recenterKernelImage`` does (the package's class uses an
  exact Fourier shift).
"""

from __future__ import annotations

__all__ = ["KernelPsf"]

import math

import numpy as np

from ..._core import Point2D
from ...image import Image
from ...image.psf import KernelPsf as _PackageKernelPsf
from ...image.psf._common import PointLike, asPoint2D
from .math import Kernel, offsetImage


class KernelPsf(_PackageKernelPsf):
    """A PSF made from a spatially constant kernel (``lsst.meas.algorithms.KernelPsf``).

    Parameters
    ----------
    kernel : `~imagemapper.lsst.afw.math.Kernel`
        The kernel (kept, not copied, as ``afw`` shares it).
    averagePosition : `~imagemapper.Point2D` or pair of `float`, optional
        What `getAveragePosition` returns (default ``(0, 0)``); the kernel is
        evaluated there.
    """

    def __init__(self, kernel: Kernel, averagePosition: PointLike | None = None) -> None:
        if not isinstance(kernel, Kernel):
            raise TypeError(f"KernelPsf needs a Kernel, not {type(kernel).__name__}")
        point = (
            Point2D(0.0, 0.0)
            if averagePosition is None
            else asPoint2D(averagePosition, "averagePosition")
        )
        image = Image(kernel.getDimensions(), dtype=np.float64)
        kernel.computeImage(image, True, point.getX(), point.getY())  # xy0 = -ctr
        super().__init__(image, averagePosition=point)
        self._afwKernel = kernel

    def getKernel(self) -> Kernel:
        """Return the kernel."""
        return self._afwKernel

    def _doComputeImage(self, position: Point2D) -> Image:
        kernelImage = self._doComputeKernelImage(position)
        ix, iy = math.floor(position.getX() + 0.5), math.floor(position.getY() + 0.5)
        rx, ry = position.getX() - ix, position.getY() - iy
        if rx or ry:
            kernelImage = offsetImage(kernelImage, rx, ry, "lanczos5", 5)
        kernelImage.setXY0((kernelImage.getX0() + ix, kernelImage.getY0() + iy))
        return kernelImage

    def __repr__(self) -> str:
        return f"KernelPsf({self._afwKernel!r}, averagePosition={self.getAveragePosition()!r})"
