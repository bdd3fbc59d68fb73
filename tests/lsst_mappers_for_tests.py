"""Mappers written as LSST code is, through the ``imagemapper.lsst`` namespace,
modelled on ip_diffim's two real ImageMapReduce clients, and the numpy
references the tests compare them with (module level, so that they pickle).

- `DecorrelationStyleMapper` behaves like ``DecorrelateALKernelMapper``: a
  clipped ``afwMath`` statistic with an ``andMask`` from the class-level
  ``Mask.getPlaneBitMask``, per-call state on ``self`` (the FFT shape, set in
  one method and used in another), and the result written into the expanded
  cell it is handed, returned as a ``Factory`` view of the cell's box.
- `ZogyStyleMapper` behaves like ``ZogyMapper``: it replaces the infinities
  and NaNs of the science cell in place, subtracts a template cut with
  ``template.Factory(template, bbox)`` in Fourier space, and returns a new
  exposure carrying a ``KernelPsf`` made from a ``FixedKernel``.
"""

from __future__ import annotations

import lsst.pex.config as pexConfig
import numpy as np

import imagemapper.lsst.afw.image as afwImage
import imagemapper.lsst.afw.math as afwMath
import imagemapper.lsst.geom as geom
import imagemapper.lsst.meas.algorithms as measAlg
import imagemapper.lsst.pipe.base as pipeBase
from imagemapper.lsst.ip.diffim.imageMapReduce import ImageMapper, ImageMapperConfig

# ---------------------------------------------------------------------------
# afw's clipped statistics, the independent numpy way
# ---------------------------------------------------------------------------

# Gaussian quartiles: Phi^-1(0.75), from scipy when it is there.
try:
    from scipy.stats import norm

    QUARTILE_Z = float(norm.ppf(0.75))
except ImportError:  # pragma: no cover - scipy is a test dependency
    QUARTILE_Z = 0.6744897501960817


def afwClippedStats(values, mask=None, andMask=0, nSigma=3.0, nIter=3):
    """(mean, variance, n) after afw's clipping, in plain numpy.

    The pixels are the finite ones whose mask has none of ``andMask``. Pass 1
    keeps those within nSigma * sigma_IQR of the median (sigma_IQR = IQR /
    (2 * Phi^-1(0.75))); each later pass those within nSigma * std of the
    previous pass's mean; mean and ddof=1 variance of the last pass.
    """
    x = np.asarray(values, dtype=np.float64).ravel()
    keep = np.isfinite(x)
    if mask is not None:
        keep &= (np.asarray(mask).ravel() & andMask) == 0
    x = x[keep]
    q1, median, q3 = np.percentile(x, [25, 50, 75])
    center, half = median, nSigma * (q3 - q1) / (2 * QUARTILE_Z)
    mean = var = np.nan
    n = 0
    for i in range(nIter):
        if i > 0:
            center, half = mean, nSigma * np.sqrt(var)
        kept = x[np.abs(x - center) <= half]
        n = kept.size
        mean, var = kept.mean(), kept.var(ddof=1)
    return float(mean), float(var), n


def averageStitch(shape, boxes0, full, cells):
    """The 'average' reduce of per-cell (image, variance) arrays, in numpy:
    each output pixel is the mean over the cells covering it."""
    total = np.zeros(shape)
    totalVar = np.zeros(shape)
    count = np.zeros(shape)
    for box0, (image, variance) in zip(boxes0, cells):
        sl = box0.slices(full)
        total[sl] += image
        totalVar[sl] += variance
        count[sl] += 1
    with np.errstate(invalid="ignore"):
        return total / count, totalVar / count


# ---------------------------------------------------------------------------
# The decorrelation-style mapper
# ---------------------------------------------------------------------------

IGNORE_PLANES = ("SAT", "BAD", "NO_DATA")


def commonShape(*shapes):
    """Even FFT shape holding the two largest shapes' linear convolution."""
    s = np.sort(np.array(shapes, dtype=int), axis=0)[-2:]
    shape = s.sum(axis=0) - 1
    shape[shape % 2 == 1] += 1
    return tuple(int(v) for v in shape)


def decorrelationFilter(kernel, freqShape):
    """sqrt((1 + ksum^2) / (1 + |K|^2)) on ``freqShape``, the kernel's centre
    pixel moved to the origin."""
    padded = np.zeros(freqShape)
    kh, kw = kernel.shape
    padded[:kh, :kw] = kernel
    ctrY, ctrX = (kh - 1) // 2, (kw - 1) // 2
    padded = np.roll(padded, (-ctrY, -ctrX), axis=(0, 1))
    k = np.fft.fft2(padded)
    return np.sqrt((1 + kernel.sum() ** 2) / (1 + np.abs(k) ** 2))


def applyFilter(corr, image, freqShape):
    padded = np.zeros(freqShape)
    h, w = image.shape
    padded[:h, :w] = image
    return np.fft.ifft2(np.fft.fft2(padded) * corr).real[:h, :w]


class DecorrelationStyleConfig(ImageMapperConfig):
    ignoreMaskPlanes = pexConfig.ListField(
        dtype=str, doc="mask planes the clipped statistic ignores", default=IGNORE_PLANES
    )


class DecorrelationStyleMapper(ImageMapper):
    ConfigClass = DecorrelationStyleConfig
    _DefaultName = "decorrelationStyle"

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.statsControl = afwMath.StatisticsControl()
        self.statsControl.setNumSigmaClip(3.0)
        self.statsControl.setNumIter(3)
        self.statsControl.setAndMask(afwImage.Mask.getPlaneBitMask(self.config.ignoreMaskPlanes))

    def computeCommonShape(self, *shapes):
        self.freqSpaceShape = commonShape(*shapes)

    def computeCorrection(self, kernelArray):
        return decorrelationFilter(kernelArray, self.freqSpaceShape)

    def run(self, subExposure, expandedSubExposure, fullBBox, kernel=None, **kwargs):
        kimg = afwImage.ImageD(kernel.getDimensions())
        kernel.computeImage(kimg, False)
        stats = afwMath.makeStatistics(
            expandedSubExposure.variance,
            expandedSubExposure.mask,
            afwMath.MEANCLIP,
            self.statsControl,
        )
        varMean = stats.getValue(afwMath.MEANCLIP)
        self.computeCommonShape(kimg.array.shape, expandedSubExposure.image.array.shape)
        corr = self.computeCorrection(kimg.array)
        image = expandedSubExposure.image.array
        image[...] = applyFilter(corr, image, self.freqSpaceShape)
        expandedSubExposure.variance.array[...] = varMean
        out = expandedSubExposure.Factory(expandedSubExposure, subExposure.getBBox())
        return pipeBase.Struct(subExposure=out)


def decorrelationStyleCell(exposure, kernelArray, box0, box1, andMask):
    """What DecorrelationStyleMapper makes of one cell, from the input's arrays."""
    full = exposure.getBBox()
    sl1 = box1.slices(full)
    image = exposure.image.array[sl1].astype(np.float64)
    freq = commonShape(kernelArray.shape, image.shape)
    filtered = applyFilter(decorrelationFilter(kernelArray, freq), image, freq)
    mean, _, _ = afwClippedStats(exposure.variance.array[sl1], exposure.mask.array[sl1], andMask)
    sy, sx = box0.slices(box1)
    return filtered[sy, sx], np.full(filtered[sy, sx].shape, mean)


# ---------------------------------------------------------------------------
# The ZOGY-style mapper
# ---------------------------------------------------------------------------


def padCentered(psf, shape):
    """Zero-pad ``psf`` to ``shape`` with its centre pixel at the array centre."""
    out = np.zeros(shape)
    oy, ox = shape[0] // 2 - psf.shape[0] // 2, shape[1] // 2 - psf.shape[1] // 2
    out[oy : oy + psf.shape[0], ox : ox + psf.shape[1]] = psf
    return out


def zogyDifference(science, template, psfScience, psfTemplate):
    """Circular ZOGY-like difference D and its PSF (numpy arrays)."""
    p1 = np.fft.fft2(np.fft.ifftshift(padCentered(psfTemplate, science.shape)))
    p2 = np.fft.fft2(np.fft.ifftshift(padCentered(psfScience, science.shape)))
    denom = np.sqrt(np.abs(p1) ** 2 + np.abs(p2) ** 2)
    d = np.fft.ifft2((p1 * np.fft.fft2(science) - p2 * np.fft.fft2(template)) / denom).real
    pd = np.fft.fftshift(np.fft.ifft2(p1 * p2 / denom).real)
    cy, cx = science.shape[0] // 2, science.shape[1] // 2
    hy, hx = psfScience.shape[0] // 2, psfScience.shape[1] // 2
    return d, pd[cy - hy : cy + hy + 1, cx - hx : cx + hx + 1]


def fixNonFinite(array):
    """ZOGY's fix, in place: infinities to NaN, then NaN to the mean of the rest."""
    array[np.isinf(array)] = np.nan
    array[np.isnan(array)] = np.nanmean(array)
    return array


def cellCenter(bbox):
    return geom.Point2D(
        (bbox.getBeginX() + bbox.getEndX()) // 2.0, (bbox.getBeginY() + bbox.getEndY()) // 2.0
    )


class ZogyStyleMapper(ImageMapper):
    _DefaultName = "zogyStyle"

    def run(self, subExposure, expandedSubExposure, fullBBox, template=None, **kwargs):
        center = cellCenter(subExposure.getBBox())
        science = expandedSubExposure
        templateCell = template.Factory(template, science.getBBox())
        im2 = science.image.array
        fixNonFinite(im2)  # in place, in the cell, as ZOGY does
        im1 = np.array(templateCell.image.array, dtype=np.float64)
        psf2 = science.getPsf().computeKernelImage(center).array
        psf1 = template.getPsf().computeKernelImage(center).array
        d, pd = zogyDifference(im2.astype(np.float64), im1, psf2, psf1)
        out = science.clone()
        out.image.array[...] = d
        kernel = afwMath.FixedKernel(afwImage.ImageD(pd))
        out.setPsf(measAlg.KernelPsf(kernel, center))
        return pipeBase.Struct(subExposure=out.Factory(out, subExposure.getBBox()))


def zogyStyleCell(science, template, box0, box1):
    """What ZogyStyleMapper makes of one cell, from the inputs' arrays:
    (image, variance) of the cell and the PSF image it attaches."""
    full = science.getBBox()
    sl1 = box1.slices(full)
    center = cellCenter(box0)
    im2 = fixNonFinite(science.image.array[sl1].astype(np.float64))
    im1 = template.image.array[box1.slices(template.getBBox())].astype(np.float64)
    psf2 = science.getPsf().computeKernelImage(center).array
    psf1 = template.getPsf().computeKernelImage(center).array
    d, pd = zogyDifference(im2, im1, psf2, psf1)
    sy, sx = box0.slices(box1)
    return (d[sy, sx], science.variance.array[sl1][sy, sx]), pd / pd.sum()
