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

import functools
import math
from collections.abc import Sequence
from typing import Any, ClassVar

import lsst.pex.config as pexConfig
import numpy as np

from ._configfields import RangeField
from ._core import Box2I, Extent2I, Point2D, Point2I
from ._mapper import ImageMapper, ImageMapperConfig
from .image import Exposure, Image
from .image.psf import DoubleGaussianPsf, GaussianPsf, Psf, Quadrupole
from .task import Struct

# ---------------------------------------------------------------------------
# numerical helpers
# ---------------------------------------------------------------------------


@functools.lru_cache(maxsize=1024)
def _fastLen(n: int) -> int:
    """Smallest 5-smooth integer (2^a 3^b 5^c) >= ``n``: a fast FFT length."""
    if n <= 1:
        return 1
    best = 1 << (n - 1).bit_length()
    p5 = 1
    while p5 < best:
        p35 = p5
        while p35 < best:
            p = p35
            while p < n:
                p *= 2
            best = min(best, p)
            p35 *= 3
        p5 *= 5
    return best


def gaussianKernel(sigma: float, nSigma: float = 4.0) -> np.ndarray:
    """A normalised, circular 2-d Gaussian kernel sampled at pixel centres.

    Parameters
    ----------
    sigma : `float`
        Standard deviation in pixels (>= 0; 0 gives the identity kernel ``[[1]]``).
    nSigma : `float`, optional
        The kernel reaches ``int(nSigma * sigma + 0.5)`` pixels from its centre,
        the radius ``scipy.ndimage.gaussian_filter`` uses for ``truncate=nSigma``.

    Returns
    -------
    kernel : `numpy.ndarray`
        float64, shape ``(2 r + 1, 2 r + 1)``, summing to 1: the outer product
        of the normalised 1-d kernel, exactly the weights of
        ``gaussian_filter``.

    Examples
    --------
    >>> k = gaussianKernel(1.0)
    >>> k.shape, round(float(k.sum()), 12)
    ((9, 9), 1.0)
    """
    if not (math.isfinite(sigma) and sigma >= 0):
        raise ValueError(f"sigma must be finite and >= 0, got {sigma!r}")
    radius = int(nSigma * sigma + 0.5)
    if sigma == 0 or radius == 0:
        return np.ones((1, 1))
    x = np.arange(-radius, radius + 1, dtype=np.float64)
    g = np.exp(-0.5 * (x / sigma) ** 2)
    g /= g.sum()
    return np.multiply.outer(g, g)


def fftConvolve(
    arrays: Sequence[np.ndarray],
    kernels: Sequence[np.ndarray],
    crop: tuple[slice, slice] | None = None,
) -> list[np.ndarray]:
    """Linear ('same') convolution of each array with its kernel, by real FFTs.

    Parameters
    ----------
    arrays : sequence of 2-d `numpy.ndarray`
        Images of one shape ``(H, W)``; non-finite pixels count as zero and
        pixels outside the array as zero.
    kernels : sequence of 2-d `numpy.ndarray`
        One kernel per array, all of one odd-sized shape, centred on their
        middle pixel.
    crop : ``(slice_y, slice_x)``, optional
        Return only this part of the ``(H, W)`` result.

    Returns
    -------
    results : `list` of `numpy.ndarray`
        float64 arrays; element ``[y, x]`` is
        ``sum_ij array[y - j, x - i] kernel[j + ky, i + kx]`` (``ky, kx`` the
        kernel's half sizes), as ``scipy.signal.fftconvolve(..., mode="same")``.

    Notes
    -----
    Uses `numpy.fft.rfft2` on the arrays zero-padded to a 5-smooth size of
    at least ``H + kh - 1`` by ``W + kw - 1`` (no wrap-around); all arrays
    are transformed in one batched call.
    """
    if len(arrays) != len(kernels):
        raise ValueError(f"got {len(arrays)} arrays but {len(kernels)} kernels")
    H, W = arrays[0].shape
    kh, kw = kernels[0].shape
    if kh % 2 == 0 or kw % 2 == 0:
        raise ValueError(f"kernels must have odd sizes, got {kh}x{kw}")
    sy, sx = crop if crop is not None else (slice(0, H), slice(0, W))
    sy = slice(*sy.indices(H)[:2])
    sx = slice(*sx.indices(W)[:2])
    if kh == 1 and kw == 1:
        return [
            np.nan_to_num(np.asarray(a, dtype=np.float64)[sy, sx], nan=0.0, posinf=0.0, neginf=0.0)
            * float(k[0, 0])
            for a, k in zip(arrays, kernels)
        ]
    shape = (_fastLen(H + kh - 1), _fastLen(W + kw - 1))
    data = np.stack([np.asarray(a, dtype=np.float64) for a in arrays])
    bad = ~np.isfinite(data)
    if bad.any():
        data[bad] = 0.0
    spectra = np.fft.rfft2(data, s=shape)
    spectra *= np.fft.rfft2(np.stack([np.asarray(k, dtype=np.float64) for k in kernels]), s=shape)
    full = np.fft.irfft2(spectra, s=shape)
    oy, ox = kh // 2, kw // 2
    out = full[:, oy + sy.start : oy + sy.stop, ox + sx.start : ox + sx.stop]
    return [np.ascontiguousarray(o) for o in out]


def _dilateMask(mask: np.ndarray, ry: int, rx: int, crop: tuple[slice, slice]) -> np.ndarray:
    """OR every pixel's bits into the ``(2 ry + 1) x (2 rx + 1)`` box around it;
    return the ``crop`` part (the mask of a convolution with a kernel of that box)."""
    H, W = mask.shape
    sy, sx = crop
    y0, y1 = max(sy.start - ry, 0), min(sy.stop + ry, H)
    width = sx.stop - sx.start
    rows = np.zeros((y1 - y0, width), dtype=mask.dtype)
    for dx in range(-rx, rx + 1):
        a, b = max(sx.start + dx, 0), min(sx.stop + dx, W)
        if a < b:
            rows[:, a - dx - sx.start : b - dx - sx.start] |= mask[y0:y1, a:b]
    out = np.zeros((sy.stop - sy.start, width), dtype=mask.dtype)
    for dy in range(-ry, ry + 1):
        a, b = max(sy.start + dy, y0), min(sy.stop + dy, y1)
        if a < b:
            out[a - dy - sy.start : b - dy - sy.start] |= rows[a - y0 : b - y0]
    return out


def _cellCrop(subExposure: Exposure, expandedSubExposure: Exposure) -> tuple[slice, slice]:
    return subExposure.getBBox().slices(expandedSubExposure.getBBox())


#: ``edgeMode`` of the convolution mappers, with its `numpy.pad` mode.
_EDGE_PADS = {"reflect": "symmetric", "mirror": "reflect", "nearest": "edge", "constant": None}
_EDGE_DOC = (
    "What the kernel sees beyond the image edge (scipy.ndimage's modes): 'reflect' "
    "(d c b a | a b c d, scipy's default), 'mirror' (d c b | a b c d), 'nearest' "
    "(a a a | a b c d) or 'constant' (zeros, which darkens the edges)."
)


def _edgePadding(
    subExposure: Exposure, expandedSubExposure: Exposure, fullBBox: Box2I, ry: int, rx: int
) -> tuple[tuple[int, int], tuple[int, int]]:
    """Pixels to add (``(before, after)`` in y and x) so that the kernel reaches
    ``(ry, rx)`` beyond the cell where the expanded cell stops at the image edge."""
    b0, b1 = subExposure.getBBox(), expandedSubExposure.getBBox()
    f = fullBBox

    def need(edgeReached: bool, have: int, r: int) -> int:
        return max(0, r - have) if edgeReached else 0

    return (
        (
            need(b1.getMinY() <= f.getMinY(), b0.getMinY() - b1.getMinY(), ry),
            need(b1.getMaxY() >= f.getMaxY(), b1.getMaxY() - b0.getMaxY(), ry),
        ),
        (
            need(b1.getMinX() <= f.getMinX(), b0.getMinX() - b1.getMinX(), rx),
            need(b1.getMaxX() >= f.getMaxX(), b1.getMaxX() - b0.getMaxX(), rx),
        ),
    )


def _convolveCell(
    subExposure: Exposure,
    expandedSubExposure: Exposure,
    kernel: np.ndarray,
    propagateMask: bool,
    psf: Any,
    fullBBox: Box2I | None = None,
    edgeMode: str = "constant",
) -> Exposure:
    """Convolve the expanded cell's image with ``kernel`` and its variance
    with ``kernel**2``; return the cell's part as a new exposure.

    Where the expanded cell stops at the edge of ``fullBBox`` it is first
    padded to the kernel's reach with ``edgeMode`` (image and variance alike;
    ``constant`` pads nothing: the FFT's zeros)."""
    crop = _cellCrop(subExposure, expandedSubExposure)
    emi = expandedSubExposure.maskedImage
    imageIn, varianceIn = emi.image.array, emi.variance.array
    ry, rx = kernel.shape[0] // 2, kernel.shape[1] // 2
    npMode = _EDGE_PADS[edgeMode]
    padCrop = crop
    if npMode is not None and fullBBox is not None:
        pads = _edgePadding(subExposure, expandedSubExposure, fullBBox, ry, rx)
        if any(pads[0]) or any(pads[1]):
            imageIn = np.pad(imageIn, pads, mode=npMode)  # type: ignore[call-overload]
            varianceIn = np.pad(varianceIn, pads, mode=npMode)  # type: ignore[call-overload]
            (top, _), (left, _) = pads
            padCrop = (
                slice(crop[0].start + top, crop[0].stop + top),
                slice(crop[1].start + left, crop[1].stop + left),
            )
    image, variance = fftConvolve([imageIn, varianceIn], [kernel, kernel * kernel], padCrop)
    if propagateMask:
        mask = _dilateMask(emi.mask.array, ry, rx, crop)
    else:
        mask = emi.mask.array[crop].copy()
    dtype = emi.image.array.dtype
    return Exposure.fromArrays(
        image.astype(dtype),
        mask,
        variance.astype(dtype),
        xy0=subExposure.getBBox().getMin(),
        psf=psf,
        wcs=subExposure.getWcs(),
        planeDict=subExposure.mask.getMaskPlaneDict(),
    )


# ---------------------------------------------------------------------------
# Gaussian convolution
# ---------------------------------------------------------------------------


class GaussianConvolveConfig(ImageMapperConfig):
    """Configuration of `GaussianConvolveMapper`."""

    sigma = RangeField(
        dtype=float,
        doc="Standard deviation of the Gaussian kernel, in pixels.",
        default=2.0,
        min=0.0,
    )
    nSigma = RangeField(
        dtype=float,
        doc="Kernel radius in units of sigma: the kernel reaches int(nSigma * sigma + 0.5) "
        "pixels, which the border should cover.",
        default=4.0,
        min=0.0,
        inclusiveMin=False,
    )
    propagateMask = pexConfig.Field(
        dtype=bool,
        doc="OR each pixel's mask bits over the kernel's footprint (as afw's convolve does); "
        "otherwise the output keeps the cell's mask.",
        default=True,
    )
    edgeMode = pexConfig.ChoiceField(
        dtype=str,
        doc=_EDGE_DOC,
        default="reflect",
        allowed={k: k for k in _EDGE_PADS},
    )


def _warnSmallBorder(
    mapper: ImageMapper, sub: Exposure, exp: Exposure, full: Box2I, r: int
) -> None:
    """Log once if the border is narrower than the kernel radius away from the image edges."""
    if getattr(mapper, "_borderWarned", False):
        return
    b0, b1 = sub.getBBox(), exp.getBBox()
    gaps = [
        (b0.getMinX() - b1.getMinX(), b1.getMinX() > full.getMinX()),
        (b1.getMaxX() - b0.getMaxX(), b1.getMaxX() < full.getMaxX()),
        (b0.getMinY() - b1.getMinY(), b1.getMinY() > full.getMinY()),
        (b1.getMaxY() - b0.getMaxY(), b1.getMaxY() < full.getMaxY()),
    ]
    small = [g for g, interior in gaps if interior and g < r]
    if small:
        mapper._borderWarned = True  # type: ignore[attr-defined]
        mapper.log.warning(
            "border of %d pixels is smaller than the kernel radius %d: cells will show seams; "
            "set borderSizeX/Y >= %d (and scaleByFwhm=False for pixel units)",
            min(small),
            r,
            r,
        )


class GaussianConvolveMapper(ImageMapper):
    """Convolve each expanded cell with a circular Gaussian, by FFT, and crop to the cell.

    The image is convolved with the kernel `gaussianKernel` ``(sigma, nSigma)``,
    the variance with the squared kernel; with ``propagateMask`` each output
    pixel's mask is the OR of the input mask over the kernel's footprint.
    Non-finite pixels count as zero. Beyond the image edge the image is
    extended by ``edgeMode`` (default ``reflect``, scipy's default): with a
    border of at least ``int(nSigma * sigma + 0.5)`` pixels the stitched result
    equals ``scipy.ndimage.gaussian_filter(image, sigma, mode=edgeMode,
    truncate=nSigma)`` of the whole image (``constant``: zeros, ``cval=0``).

    The result's PSF is the input PSF convolved with the Gaussian,
    approximated by a `GaussianPsf` of sigma ``sqrt(r**2 + sigma**2)`` where
    ``r`` is the input PSF's determinant radius at the cell centre (exact
    for Gaussian PSFs); none if the input has no PSF.

    Examples
    --------
    >>> import numpy as np, imagemapper as im
    >>> from imagemapper.mappers import GaussianConvolveMapper
    >>> config = im.ImageMapReduceConfig()
    >>> config.mapper.retarget(GaussianConvolveMapper)
    >>> config.mapper.sigma = 1.5
    >>> config.scaleByFwhm = False
    >>> config.cellSizeX = config.cellSizeY = 32
    >>> config.borderSizeX = config.borderSizeY = 6          # >= int(4 * 1.5 + 0.5)
    >>> exp = im.Exposure.fromArrays(np.ones((64, 80), np.float32))
    >>> out = im.ImageMapReduceTask(config).run(exp).exposure
    >>> round(float(out.image.array[32, 40]), 5)               # flat stays flat
    1.0
    """

    ConfigClass: ClassVar[type[pexConfig.Config]] = GaussianConvolveConfig
    _DefaultName: ClassVar[str] = "gaussianConvolve"

    def run(
        self, subExposure: Exposure, expandedSubExposure: Exposure, fullBBox: Box2I, **kwargs: Any
    ) -> Struct:
        """Convolve ``expandedSubExposure`` and return the ``subExposure`` part.

        Returns
        -------
        result : `Struct`
            ``subExposure``: the convolved cell (a new exposure).
        """
        sigma = float(self.config.sigma)
        kernel = gaussianKernel(sigma, self.config.nSigma)
        _warnSmallBorder(self, subExposure, expandedSubExposure, fullBBox, kernel.shape[0] // 2)
        psf = None
        inPsf = expandedSubExposure.getPsf()
        if inPsf is not None:
            center = subExposure.getBBox().getCenter()
            r = inPsf.computeShape(center).getDeterminantRadius()
            newSigma = math.hypot(r, sigma)
            size = 2 * int(5.0 * newSigma + 0.5) + 1
            psf = GaussianPsf(size, size, newSigma)
        out = _convolveCell(
            subExposure,
            expandedSubExposure,
            kernel,
            self.config.propagateMask,
            psf,
            fullBBox,
            self.config.edgeMode,
        )
        return Struct(subExposure=out)


# ---------------------------------------------------------------------------
# PSF matching
# ---------------------------------------------------------------------------


class PsfMatchMapperConfig(ImageMapperConfig):
    """Configuration of `PsfMatchMapper`."""

    targetSigma = RangeField(
        dtype=float,
        doc="Sigma (pixels) of the Gaussian PSF to match to; must be at least the PSF's "
        "determinant radius everywhere (a Gaussian kernel cannot sharpen).",
        default=None,
        optional=False,
        min=0.0,
        inclusiveMin=False,
    )
    nSigma = RangeField(
        dtype=float,
        doc="Matching-kernel radius in units of its sigma (int(nSigma * sigma + 0.5) pixels).",
        default=4.0,
        min=0.0,
        inclusiveMin=False,
    )
    propagateMask = pexConfig.Field(
        dtype=bool,
        doc="OR each pixel's mask bits over the matching kernel's footprint.",
        default=True,
    )
    edgeMode = pexConfig.ChoiceField(
        dtype=str,
        doc=_EDGE_DOC,
        default="reflect",
        allowed={k: k for k in _EDGE_PADS},
    )
    psfSize = RangeField(
        dtype=int,
        doc="Width and height of the output GaussianPsf model images; 0 = "
        "2 * int(5 * targetSigma + 0.5) + 1.",
        default=0,
        min=0,
    )


class PsfMatchMapper(ImageMapper):
    """Match each cell's PSF to a common circular Gaussian.

    For every cell the exposure's PSF is evaluated at the cell centre; its
    width is the determinant radius ``s`` of ``psf.computeShape(center)``.
    The matching kernel is the Gaussian of sigma ``sqrt(targetSigma**2 -
    s**2)`` (exact for Gaussian PSFs: Gaussians add in quadrature), applied to
    the expanded cell by FFT and cropped to the cell, as
    `GaussianConvolveMapper` does. The result's PSF is
    ``GaussianPsf(psfSize, psfSize, targetSigma)``.

    The border should cover the widest kernel, ``int(nSigma *
    sqrt(targetSigma**2 - min(s)**2) + 0.5)`` pixels.

    Raises
    ------
    ValueError
        From `run`, when the exposure has no PSF or ``targetSigma`` is smaller
        than the PSF's width at a cell centre.

    Examples
    --------
    >>> import numpy as np, imagemapper as im
    >>> from imagemapper.mappers import PsfMatchMapper
    >>> config = im.ImageMapReduceConfig()
    >>> config.mapper.retarget(PsfMatchMapper)
    >>> config.mapper.targetSigma = 2.5
    >>> config.scaleByFwhm = False
    >>> config.cellSizeX = config.cellSizeY = 32
    >>> config.borderSizeX = config.borderSizeY = 8
    >>> psf = im.GaussianPsf(15, 15, 1.5)
    >>> exp = im.Exposure.fromArrays(np.zeros((64, 64), np.float32), psf=psf)
    >>> out = im.ImageMapReduceTask(config).run(exp).exposure
    >>> round(out.getPsf().computeShape((32, 32)).getDeterminantRadius(), 3)
    2.5
    """

    ConfigClass: ClassVar[type[pexConfig.Config]] = PsfMatchMapperConfig
    _DefaultName: ClassVar[str] = "psfMatch"

    def matchingSigma(self, psf: Psf, position: Point2D) -> float:
        """Sigma of the Gaussian that matches ``psf`` at ``position`` to the target.

        Raises
        ------
        ValueError
            If the PSF is wider than ``targetSigma`` there.
        """
        target = float(self.config.targetSigma)
        width = float(psf.computeShape(position).getDeterminantRadius())
        if not math.isfinite(width):
            raise ValueError(f"the PSF has no finite width at {position}: got {width!r}")
        if target < width * (1.0 - 1e-9):
            raise ValueError(
                f"targetSigma={target:g} is smaller than the PSF's sigma {width:.4f} at "
                f"{position}: a Gaussian kernel cannot sharpen the PSF; set "
                f"mapper.targetSigma to at least {width:.4f} (the widest PSF in the image)"
            )
        return math.sqrt(max(target * target - width * width, 0.0))

    def run(
        self, subExposure: Exposure, expandedSubExposure: Exposure, fullBBox: Box2I, **kwargs: Any
    ) -> Struct:
        """Match the cell's PSF to the target Gaussian.

        Returns
        -------
        result : `Struct`
            ``subExposure``: the matched cell, with a `GaussianPsf`;
            ``kernelSigma``: the sigma of the matching kernel (pixels).
        """
        psf = expandedSubExposure.getPsf()
        if psf is None:
            raise ValueError(
                "PsfMatchMapper needs an exposure with a PSF (exposure.setPsf(...)); this one "
                "has none"
            )
        center = subExposure.getBBox().getCenter()
        sigma = self.matchingSigma(psf, center)
        kernel = gaussianKernel(sigma, self.config.nSigma)
        _warnSmallBorder(self, subExposure, expandedSubExposure, fullBBox, kernel.shape[0] // 2)
        target = float(self.config.targetSigma)
        size = self.config.psfSize or 2 * int(5.0 * target + 0.5) + 1
        out = _convolveCell(
            subExposure,
            expandedSubExposure,
            kernel,
            self.config.propagateMask,
            GaussianPsf(size, size, target),
            fullBBox,
            self.config.edgeMode,
        )
        return Struct(subExposure=out, kernelSigma=sigma)


# ---------------------------------------------------------------------------
# A spatially varying PSF
# ---------------------------------------------------------------------------


class VariableGaussianPsf(Psf):
    """A (double) Gaussian PSF whose width grows quadratically away from a centre.

    The core sigma at ``(x, y)`` is ``sigmaCenter + (sigmaCorner -
    sigmaCenter) * (d / dCorner)**2``, where ``d`` is the distance to the
    centre of ``bbox`` and ``dCorner`` the distance from the centre to a corner.
    At every position the model is ``DoubleGaussianPsf(width, height, sigma,
    sigma2Ratio * sigma, b)``; with ``b = 0`` it is a Gaussian.

    Parameters
    ----------
    width, height : `int`
        Size of the model images.
    bbox : `Box2I`
        The image the PSF describes (its centre and corners set the scale).
    sigmaCenter, sigmaCorner : `float`
        Core sigma at the centre and at the corners, in pixels.
    b : `float`, optional
        Wing-to-core flux ratio (0: a single Gaussian).
    sigma2Ratio : `float`, optional
        Wing sigma over core sigma.

    Examples
    --------
    >>> import imagemapper as im
    >>> from imagemapper.mappers import VariableGaussianPsf
    >>> bbox = im.Box2I(im.Point2I(0, 0), im.Extent2I(101, 101))
    >>> psf = VariableGaussianPsf(21, 21, bbox, 1.0, 2.0)
    >>> psf.sigmaAt((50, 50)), psf.sigmaAt((0, 0))
    (1.0, 2.0)
    """

    def __init__(
        self,
        width: int,
        height: int,
        bbox: Box2I,
        sigmaCenter: float,
        sigmaCorner: float,
        b: float = 0.0,
        sigma2Ratio: float = 2.0,
    ) -> None:
        self._width, self._height = int(width), int(height)
        self._bbox = Box2I(bbox)
        self._sigmaCenter, self._sigmaCorner = float(sigmaCenter), float(sigmaCorner)
        self._b, self._ratio = float(b), float(sigma2Ratio)
        if min(self._sigmaCenter, self._sigmaCorner) <= 0:
            raise ValueError(
                f"sigmaCenter and sigmaCorner must be > 0, got {sigmaCenter!r}, {sigmaCorner!r}"
            )
        c = self._bbox.getCenter()
        self._cx, self._cy = c.getX(), c.getY()
        self._d2Corner = max(
            (self._bbox.getMinX() - self._cx) ** 2 + (self._bbox.getMinY() - self._cy) ** 2, 1.0
        )

    def sigmaAt(self, position: Any) -> float:
        """Core sigma at ``position`` (an ``(x, y)`` pair or a point)."""
        x, y = (position.getX(), position.getY()) if hasattr(position, "getX") else position
        return float(self.sigmaArray(np.asarray(x, float), np.asarray(y, float)))

    def sigmaArray(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Core sigma at arrays of positions (vectorised `sigmaAt`)."""
        d2 = ((x - self._cx) ** 2 + (y - self._cy) ** 2) / self._d2Corner
        return self._sigmaCenter + (self._sigmaCorner - self._sigmaCenter) * d2

    def _at(self, position: Point2D) -> DoubleGaussianPsf:
        s = self.sigmaAt(position)
        return DoubleGaussianPsf(self._width, self._height, s, self._ratio * s, self._b)

    def _doComputeImage(self, position: Point2D) -> Image:
        return self._at(position).computeImage(position)

    def _doComputeKernelImage(self, position: Point2D) -> Image:
        return self._at(position).computeKernelImage(position)

    def _doComputeShape(self, position: Point2D) -> Quadrupole:
        # The model's own second moment (core and wing, unit-integral
        # components): the width PSF matching to a Gaussian works with.
        s2 = self.sigmaAt(position) ** 2
        moment = s2 * (1.0 + self._b * self._ratio**2) / (1.0 + self._b)
        return Quadrupole(moment, moment, 0.0)

    def _doComputeBBox(self, position: Point2D) -> Box2I:
        return Box2I(
            Point2I(-(self._width // 2), -(self._height // 2)),
            Extent2I(self._width, self._height),
        )

    def getAveragePosition(self) -> Point2D:
        """The centre of the image."""
        return Point2D(self._cx, self._cy)

    def getDimensions(self) -> Extent2I:
        """Size of the model images."""
        return Extent2I(self._width, self._height)

    def _key(self) -> tuple[Any, ...]:
        b = self._bbox
        return (
            self._width,
            self._height,
            (b.getMinX(), b.getMinY(), b.getWidth(), b.getHeight()),
            self._sigmaCenter,
            self._sigmaCorner,
            self._b,
            self._ratio,
        )

    def _persistParams(self, kernels: list[np.ndarray]) -> dict[str, float]:
        b = self._bbox
        return {
            "width": self._width,
            "height": self._height,
            "imageMinX": b.getMinX(),
            "imageMinY": b.getMinY(),
            "imageWidth": b.getWidth(),
            "imageHeight": b.getHeight(),
            "sigmaCenter": self._sigmaCenter,
            "sigmaCorner": self._sigmaCorner,
            "b": self._b,
            "sigma2Ratio": self._ratio,
        }

    @classmethod
    def _fromPersistParams(cls, p: dict[str, float], kernels: list, children: list) -> Psf:
        bbox = Box2I(
            Point2I(int(p["imageMinX"]), int(p["imageMinY"])),
            Extent2I(int(p["imageWidth"]), int(p["imageHeight"])),
        )
        return cls(
            int(p["width"]),
            int(p["height"]),
            bbox,
            p["sigmaCenter"],
            p["sigmaCorner"],
            b=p["b"],
            sigma2Ratio=p["sigma2Ratio"],
        )

    def __repr__(self) -> str:
        return (
            f"VariableGaussianPsf({self._width}, {self._height}, {self._bbox!r}, "
            f"sigmaCenter={self._sigmaCenter!r}, sigmaCorner={self._sigmaCorner!r}, "
            f"b={self._b!r}, sigma2Ratio={self._ratio!r})"
        )


# ---------------------------------------------------------------------------
# statistics helpers
# ---------------------------------------------------------------------------


def sigmaClippedStats(
    values: np.ndarray, nSigma: float = 3.0, maxIters: int = 5
) -> tuple[float, float, float, int]:
    """Iteratively sigma-clipped mean, median, standard deviation and count.

    Non-finite values are dropped; then, up to ``maxIters`` times, values
    outside ``median ± nSigma * std`` of the remaining values are removed,
    stopping early when nothing changes (the algorithm of
    ``astropy.stats.sigma_clipped_stats`` with its defaults, ``cenfunc='median'``,
    ``stdfunc='std'``).

    Parameters
    ----------
    values : `numpy.ndarray`
        The values (any shape); computed in float64.
    nSigma : `float`, optional
        Clipping threshold in standard deviations.
    maxIters : `int`, optional
        Most clipping iterations (0: no clipping).

    Returns
    -------
    mean, median, std : `float`
        Of the values that survive (NaN if none).
    n : `int`
        How many survive.

    Examples
    --------
    >>> sigmaClippedStats(np.array([1.0, 2, 3, 2, 1, 2, 3, 2, 100]))
    (2.0, 2.0, 0.7071067811865476, 8)
    """
    data = np.asarray(values, dtype=np.float64).ravel()
    data = data[np.isfinite(data)]
    for _ in range(int(maxIters)):
        if data.size == 0:
            break
        center = np.median(data)
        std = data.std()
        keep = (data >= center - nSigma * std) & (data <= center + nSigma * std)
        if keep.all():
            break
        data = data[keep]
    if data.size == 0:
        return math.nan, math.nan, math.nan, 0
    return float(data.mean()), float(np.median(data)), float(data.std()), int(data.size)


class _MaskPlanesMixin:
    """Which mask planes a statistics mapper ignores."""

    config: Any
    _parentTask: Any

    def ignoredPlanes(self, kwargs: dict[str, Any]) -> list[str]:
        """The mask planes to ignore: ``kwargs['ignoreMaskPlanes']``, else this
        mapper's ``config.ignoreMaskPlanes``, else the parent task's
        ``config.ignoreMaskPlanes``, else none."""
        planes = kwargs.get("ignoreMaskPlanes")
        if planes is None:
            planes = self.config.ignoreMaskPlanes
        if planes is None:
            parent = self._parentTask
            planes = getattr(getattr(parent, "config", None), "ignoreMaskPlanes", None)
        return list(planes or [])

    def validPixels(self, exposure: Exposure, kwargs: dict[str, Any]) -> np.ndarray:
        """The finite image values of ``exposure`` whose mask has none of the ignored planes."""
        mi = exposure.maskedImage
        planes = mi.mask.getMaskPlaneDict()
        bits = 0
        for name in self.ignoredPlanes(kwargs):
            if name in planes:
                bits |= 1 << planes[name]
        image = mi.image.array
        good = np.isfinite(image)
        if bits:
            good &= (mi.mask.array & bits) == 0
        return image[good]


_IGNORE_DOC = (
    "Mask planes whose pixels are left out of the statistics; None = the parent "
    "ImageMapReduceTask's config.ignoreMaskPlanes (a run() keyword ignoreMaskPlanes wins "
    "over both)."
)


class BackgroundMapperConfig(ImageMapperConfig):
    """Configuration of `BackgroundMapper`."""

    statistic = pexConfig.ChoiceField(
        dtype=str,
        doc="The background level of a cell.",
        default="median",
        allowed={
            "median": "median of the sigma-clipped pixels",
            "mean": "mean of the sigma-clipped pixels",
        },
    )
    nSigma = RangeField(
        dtype=float,
        doc="Clipping threshold, in standard deviations.",
        default=3.0,
        min=0.0,
        inclusiveMin=False,
    )
    maxIters = RangeField(
        dtype=int,
        doc="Most sigma-clipping iterations.",
        default=5,
        min=0,
    )
    ignoreMaskPlanes = pexConfig.ListField(dtype=str, doc=_IGNORE_DOC, default=None, optional=True)
    minValidPixels = RangeField(
        dtype=int,
        doc="Fewer valid pixels than this (after clipping) make the cell's level NaN.",
        default=10,
        min=1,
    )
    useExpanded = pexConfig.Field(
        dtype=bool,
        doc="Measure on the expanded cell (cell + border) rather than the cell.",
        default=True,
    )
    excludePercentile = RangeField(
        dtype=float,
        doc="A cell whose measured box has more than this percentage of its pixels left out "
        "(ignored mask planes, non-finite, clipped) gets no level (NaN), as photutils' "
        "Background2D exclude_percentile; 100 keeps every cell with a valid pixel.",
        default=100.0,
        min=0.0,
        max=100.0,
    )


class BackgroundMapper(_MaskPlanesMixin, ImageMapper):
    """Sigma-clipped background level of each cell.

    The level is the sigma-clipped median (or mean) of the valid pixels of
    the expanded cell (``useExpanded``): finite, and with none of the mask
    planes to ignore (see `BackgroundMapperConfig.ignoreMaskPlanes`).

    Returns, per cell, a `Struct` with ``subExposure`` (the cell filled with
    the level; its variance is ``std**2 / n``, the variance of the mean, and
    its mask is clear), ``background``, ``backgroundRms`` (the standard
    deviation of the clipped pixels, photutils' ``StdBackgroundRMS``; also
    ``backgroundStd``), ``nValid``, ``nPixels`` (pixels of the measured
    box), ``bbox`` and ``center``. The level and RMS are NaN when fewer than
    ``minValidPixels`` pixels survive, or when more than
    ``excludePercentile`` percent of the box was left out. Use
    ``reduceOperation='none'`` to get the levels, or a stitching reduce to
    get a piecewise-constant background; for a
    smooth full-resolution background use `backgroundImage`.

    Examples
    --------
    >>> import numpy as np, imagemapper as im
    >>> from imagemapper.mappers import BackgroundMapper
    >>> config = im.ImageMapReduceConfig()
    >>> config.mapper.retarget(BackgroundMapper)
    >>> config.scaleByFwhm = False
    >>> config.cellSizeX = config.cellSizeY = 50
    >>> config.borderSizeX = config.borderSizeY = 0
    >>> config.reducer.reduceOperation = "none"
    >>> rng = np.random.default_rng(1)
    >>> exp = im.Exposure.fromArrays(rng.normal(100, 5, (100, 100)).astype(np.float32))
    >>> levels = [r.background for r in im.ImageMapReduceTask(config).run(exp).result]
    >>> len(levels), bool(np.allclose(levels, 100, atol=1.5))
    (9, True)
    """

    ConfigClass: ClassVar[type[pexConfig.Config]] = BackgroundMapperConfig
    _DefaultName: ClassVar[str] = "background"

    def run(
        self, subExposure: Exposure, expandedSubExposure: Exposure, fullBBox: Box2I, **kwargs: Any
    ) -> Struct:
        """Measure the cell's background level."""
        source = expandedSubExposure if self.config.useExpanded else subExposure
        values = self.validPixels(source, kwargs)
        mean, median, std, n = sigmaClippedStats(values, self.config.nSigma, self.config.maxIters)
        level = median if self.config.statistic == "median" else mean
        box = source.getBBox()
        nPixels = box.getWidth() * box.getHeight()
        kept = (1.0 - self.config.excludePercentile / 100.0) * nPixels
        if n < self.config.minValidPixels or n < kept:
            level = std = math.nan
        bbox = subExposure.getBBox()
        dtype = subExposure.image.array.dtype
        shape = (bbox.getHeight(), bbox.getWidth())
        out = Exposure.fromArrays(
            np.full(shape, level, dtype=dtype),
            None,
            np.full(shape, std * std / n if n else math.nan, dtype=dtype),
            xy0=bbox.getMin(),
            psf=subExposure.getPsf(),
            wcs=subExposure.getWcs(),
            planeDict=subExposure.mask.getMaskPlaneDict(),
        )
        c = bbox.getCenter()
        return Struct(
            subExposure=out,
            background=level,
            backgroundRms=std,
            backgroundStd=std,
            nValid=n,
            nPixels=nPixels,
            bbox=bbox,
            center=(c.getX(), c.getY()),
        )


class CellStatisticsMapperConfig(ImageMapperConfig):
    """Configuration of `CellStatisticsMapper`."""

    ignoreMaskPlanes = pexConfig.ListField(dtype=str, doc=_IGNORE_DOC, default=None, optional=True)
    useExpanded = pexConfig.Field(
        dtype=bool,
        doc="Measure on the expanded cell (cell + border) rather than the cell.",
        default=False,
    )


class CellStatisticsMapper(_MaskPlanesMixin, ImageMapper):
    """Plain statistics of the valid pixels of each cell (use ``reduceOperation='none'``).

    Valid pixels are finite and have none of the ignored mask planes (as for
    `BackgroundMapper`). Each result is a `Struct` with ``bbox``, ``center``,
    ``mean``, ``median``, ``std`` (population, ``ddof=0``), ``min``, ``max``
    and ``nValid`` (the statistics are NaN when ``nValid`` is 0).

    Examples
    --------
    >>> import numpy as np, imagemapper as im
    >>> from imagemapper.mappers import CellStatisticsMapper
    >>> config = im.ImageMapReduceConfig()
    >>> config.mapper.retarget(CellStatisticsMapper)
    >>> config.scaleByFwhm = False
    >>> config.cellSizeX = config.cellSizeY = 2
    >>> config.borderSizeX = config.borderSizeY = 0
    >>> config.adjustGridOption = "none"              # 2x2 cells, every 2 pixels
    >>> config.gridStepX = config.gridStepY = 2
    >>> config.reducer.reduceOperation = "none"
    >>> exp = im.Exposure.fromArrays(np.arange(16, dtype=np.float32).reshape(4, 4))
    >>> results = im.ImageMapReduceTask(config).run(exp).result
    >>> [(r.bbox.getMinX(), r.bbox.getMinY(), r.mean) for r in results]
    [(0, 0, 2.5), (0, 2, 10.5), (2, 0, 4.5), (2, 2, 12.5)]
    """

    ConfigClass: ClassVar[type[pexConfig.Config]] = CellStatisticsMapperConfig
    _DefaultName: ClassVar[str] = "cellStatistics"
    #: The reduce operation the command line uses with this mapper by default.
    preferredReduceOperation: ClassVar[str] = "none"

    def run(
        self, subExposure: Exposure, expandedSubExposure: Exposure, fullBBox: Box2I, **kwargs: Any
    ) -> Struct:
        """Measure the cell."""
        source = expandedSubExposure if self.config.useExpanded else subExposure
        values = self.validPixels(source, kwargs).astype(np.float64)
        bbox = subExposure.getBBox()
        c = bbox.getCenter()
        n = int(values.size)
        stats: tuple[float, ...] = (math.nan,) * 5
        if n:
            stats = tuple(
                float(v)
                for v in (
                    values.mean(),
                    np.median(values),
                    values.std(),
                    values.min(),
                    values.max(),
                )
            )
        mean, median, std, lo, hi = stats
        return Struct(
            bbox=bbox,
            center=(c.getX(), c.getY()),
            mean=mean,
            median=median,
            std=std,
            min=lo,
            max=hi,
            nValid=n,
        )


# ---------------------------------------------------------------------------
# full-resolution background (in _background.py; exported here)
# ---------------------------------------------------------------------------

from ._background import backgroundImage, backgroundMaps, backgroundMesh  # noqa: E402
