"""The parts of ``lsst.afw.math`` that LSST mappers call: statistics, kernels,
convolution and random images, with ``afw``'s semantics, in numpy.

Statistics (`makeStatistics`)
    A pixel takes part when it is finite (with ``setNanSafe(True)``, the
    default) and none of the ``andMask`` bits is set in its mask. ``MEAN``,
    ``VARIANCE`` (``n - 1`` in the denominator), ``STDEV``, ``MIN``, ``MAX``,
    ``SUM``, ``MEANSQUARE`` and ``NPOINT`` are over those pixels; ``MEDIAN``
    and ``IQRANGE`` interpolate linearly between order statistics (at
    ``fraction * (n - 1)``). The clipped statistics iterate ``numIter`` times:
    the first pass keeps the pixels within ``numSigmaClip * 0.741 * IQR`` of
    the median, every later pass those within ``numSigmaClip * sigma`` of the
    previous pass's mean; ``MEANCLIP`` and ``VARIANCECLIP`` are the mean and
    the ``n - 1`` variance of the last pass. Statistics of a `MaskedImage`
    are those of its image plane, selected by its mask.

Convolution (`convolve`)
    ``out(x, y) = sum_ij K(i, j) * in(x + i - ctrX, y + j - ctrY)`` over the
    kernel pixels ``K(i, j)`` that are not zero (``afw`` does not flip the
    kernel); for a `MaskedImage` the variance is convolved with ``K**2`` and
    the mask bits are OR'ed over the kernel's non-zero footprint. The border
    where the kernel does not fit (``ctrX`` columns on the left, ``width - 1
    - ctrX`` on the right, likewise in y) is NaN with the ``NO_DATA`` bit and
    infinite variance, or, with ``doCopyEdge``, a copy of the input with the
    ``EDGE`` bit added.

The implementation is split by topic: ``_statistics.py``, ``_convolve.py``
(kernels and convolution), ``_offset.py`` (Lanczos offsets) and
``_random.py``; this package re-exports them as ``lsst.afw.math`` has them.
"""

from __future__ import annotations

__all__ = [
    "ERRORS",
    "IQRANGE",
    "MAX",
    "MEAN",
    "MEANCLIP",
    "MEANSQUARE",
    "MEDIAN",
    "MIN",
    "NCLIPPED",
    "NMASKED",
    "NOTHING",
    "NPOINT",
    "ORMASK",
    "STDEV",
    "STDEVCLIP",
    "SUM",
    "VARIANCE",
    "VARIANCECLIP",
    "ConvolutionControl",
    "FixedKernel",
    "Kernel",
    "Property",
    "Random",
    "Statistics",
    "StatisticsControl",
    "convolve",
    "makeStatistics",
    "offsetImage",
    "randomFlatImage",
    "randomGaussianImage",
    "randomPoissonImage",
    "randomUniformImage",
    "randomUniformPosImage",
    "stringToStatisticsProperty",
]

from ._convolve import ConvolutionControl, FixedKernel, Kernel, convolve
from ._offset import offsetImage
from ._random import (
    Random,
    randomFlatImage,
    randomGaussianImage,
    randomPoissonImage,
    randomUniformImage,
    randomUniformPosImage,
)
from ._statistics import (
    ERRORS,
    IQRANGE,
    MAX,
    MEAN,
    MEANCLIP,
    MEANSQUARE,
    MEDIAN,
    MIN,
    NCLIPPED,
    NMASKED,
    NOTHING,
    NPOINT,
    ORMASK,
    STDEV,
    STDEVCLIP,
    SUM,
    VARIANCE,
    VARIANCECLIP,
    Property,
    Statistics,
    StatisticsControl,
    makeStatistics,
    stringToStatisticsProperty,
)
