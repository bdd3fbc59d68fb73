"""``imagemapper.lsst.afw.detection``: the PSF base class and ``GaussianPsf``
(imagemapper's)."""

from __future__ import annotations

__all__ = ["GaussianPsf", "Psf"]

from ...image.psf import GaussianPsf, Psf
