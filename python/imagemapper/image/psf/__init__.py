"""Point-spread-function models: analytic Gaussians, a kernel image and a coadd mixture.

These classes reproduce the parts of ``lsst.afw.detection.Psf`` (and its
``GaussianPsf``, ``DoubleGaussianPsf``, ``KernelPsf`` and ``CoaddPsf``
implementations) that ``ImageMapReduceTask`` and typical mappers rely on: PSF
model images centred on a position, kernel images centred on pixel ``(0, 0)``,
second moments and the FWHM derived from them.
"""

from __future__ import annotations

__all__ = [
    "CoaddPsf",
    "DoubleGaussianPsf",
    "GaussianPsf",
    "KernelPsf",
    "PointLike",
    "Psf",
    "Quadrupole",
    "psfFwhm",
]

from ._analytic import DoubleGaussianPsf, GaussianPsf
from ._base import Psf, psfFwhm
from ._coadd import CoaddPsf
from ._common import PointLike, Quadrupole
from ._kernel import KernelPsf
