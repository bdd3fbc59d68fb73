"""``imagemapper.lsst.meas.algorithms``: the PSF classes LSST mappers use.

``DoubleGaussianPsf`` and ``CoaddPsf`` are imagemapper's (``CoaddPsf`` is
built from ``(psf, bbox, weight)`` components and accepts ``KernelPsf``
ones); ``SingleGaussianPsf`` is imagemapper's ``GaussianPsf``;
``KernelPsf`` is the port's (`imagemapper.lsst._compat.psf`).
"""

from __future__ import annotations

__all__ = ["CoaddPsf", "DoubleGaussianPsf", "KernelPsf", "SingleGaussianPsf"]

from ...image.psf import CoaddPsf, DoubleGaussianPsf
from ...image.psf import GaussianPsf as SingleGaussianPsf
from .._compat.psf import KernelPsf
