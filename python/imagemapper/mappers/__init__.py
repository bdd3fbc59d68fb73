"""Built-in mappers: Gaussian convolution, PSF matching, background and cell statistics.

Each mapper is an `~imagemapper.ImageMapper` subclass with its own config
class; retarget ``ImageMapReduceConfig.mapper`` to it::

    config = im.ImageMapReduceConfig()
    config.mapper.retarget(GaussianConvolveMapper)
    config.mapper.sigma = 2.0

=========================  =============================================  ================
mapper                     what ``run`` returns per cell                  reduce operation
=========================  =============================================  ================
`GaussianConvolveMapper`   the cell convolved with a Gaussian (FFT)       copy / average
`PsfMatchMapper`           the cell matched to a Gaussian PSF (FFT)       copy / average
`BackgroundMapper`         the cell filled with its sigma-clipped level   none / average
`CellStatisticsMapper`     mean, median, std, min, max, nValid            none
=========================  =============================================  ================

`backgroundMaps` runs `BackgroundMapper` over a grid and interpolates the
per-cell levels and RMS into full-resolution background and background-RMS
maps (photutils' ``Background2D``; `backgroundImage` returns the background).
`VariableGaussianPsf` is a PSF whose width varies across the image (used by
the demo and the tests of `PsfMatchMapper`).

The convolving mappers work on the expanded cell and crop to the cell, so the
stitched result equals the whole-image convolution as long as the border is
at least the kernel radius, ``int(nSigma * sigma + 0.5)`` pixels. Beyond the
image edge they reflect the image, as ``scipy.ndimage.gaussian_filter``
does by default (``edgeMode``: ``reflect``, ``mirror``, ``nearest`` or
``constant`` zeros).
"""

from __future__ import annotations

__all__ = [
    "BackgroundMapper",
    "BackgroundMapperConfig",
    "CellStatisticsMapper",
    "CellStatisticsMapperConfig",
    "GaussianConvolveConfig",
    "GaussianConvolveMapper",
    "PsfMatchMapper",
    "PsfMatchMapperConfig",
    "VariableGaussianPsf",
    "backgroundImage",
    "backgroundMaps",
    "backgroundMesh",
    "fftConvolve",
    "gaussianKernel",
    "sigmaClippedStats",
]

from ._background import backgroundImage, backgroundMaps, backgroundMesh
from ._convolve import (
    GaussianConvolveConfig,
    GaussianConvolveMapper,
    PsfMatchMapper,
    PsfMatchMapperConfig,
    fftConvolve,
    gaussianKernel,
)
from ._statistics import (
    BackgroundMapper,
    BackgroundMapperConfig,
    CellStatisticsMapper,
    CellStatisticsMapperConfig,
    sigmaClippedStats,
)
from ._variablepsf import VariableGaussianPsf
