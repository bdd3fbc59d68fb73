"""``imagemapper.lsst.afw.math`` kernels and ``convolve`` against scipy, the
edge bits, ``KernelPsf``, ``offsetImage`` and ``Random``."""

from __future__ import annotations

import numpy as np
import pytest

import imagemapper as im
import imagemapper.lsst.afw.image as afwImage
import imagemapper.lsst.afw.math as afwMath
import imagemapper.lsst.geom as geom
import imagemapper.lsst.meas.algorithms as measAlg
from imagemapper.lsst.pex.exceptions import InvalidParameterError

signal = pytest.importorskip("scipy.signal")


def makeMaskedImage(width=40, height=33, seed=2, xy0=(5, -7)):
    rng = np.random.default_rng(seed)
    mi = afwImage.MaskedImageD(width, height)
    mi.setXY0(xy0)
    mi.image.array[...] = rng.normal(size=(height, width))
    mi.variance.array[...] = rng.uniform(0.5, 2.0, size=(height, width))
    mi.mask.array[...] = (rng.uniform(size=(height, width)) < 0.05) * (1 << 3)
    mi.mask.array[rng.uniform(size=(height, width)) < 0.03] |= 1 << 0
    return mi


def makeKernel(width, height, seed=3, zeros=0.0):
    rng = np.random.default_rng(seed)
    array = rng.uniform(0.1, 1.0, size=(height, width))
    array[rng.uniform(size=array.shape) < zeros] = 0.0
    return array


def orOverFootprint(mask, footprint):
    """The OR of each bit over the footprint ('valid' windows), plane by plane."""
    out = np.zeros((mask.shape[0] - footprint.shape[0] + 1, mask.shape[1] - footprint.shape[1] + 1))
    out = out.astype(np.int32)
    for bit in range(31):
        plane = ((mask >> bit) & 1).astype(float)
        if plane.any():
            hit = signal.correlate2d(plane, footprint.astype(float), mode="valid") > 0.5
            out[hit] |= 1 << bit
    return out


@pytest.mark.parametrize("kw,kh", [(5, 5), (4, 7), (8, 6), (1, 3)])
@pytest.mark.parametrize("doNormalize", [False, True])
def test_masked_image_convolution_matches_scipy(kw, kh, doNormalize):
    mi = makeMaskedImage()
    before = mi.clone()
    kArr = makeKernel(kw, kh, zeros=0.2)
    kernel = afwMath.FixedKernel(afwImage.ImageD(kArr))
    out = afwImage.MaskedImageD(mi.getDimensions())
    afwMath.convolve(out, mi, kernel, afwMath.ConvolutionControl(doNormalize, False, 0))
    k = kArr / kArr.sum() if doNormalize else kArr
    ctrX, ctrY = (kw - 1) // 2, (kh - 1) // 2
    assert kernel.getCtr() == geom.Point2I(ctrX, ctrY)
    inner = np.s_[ctrY : ctrY + mi.getHeight() - kh + 1, ctrX : ctrX + mi.getWidth() - kw + 1]
    # afw correlates: out(x, y) = sum K(i, j) in(x + i - ctrX, y + j - ctrY)
    image = signal.correlate2d(mi.image.array, k, mode="valid")
    variance = signal.correlate2d(mi.variance.array, k**2, mode="valid")
    np.testing.assert_allclose(out.image.array[inner], image, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(out.variance.array[inner], variance, rtol=1e-12)
    np.testing.assert_array_equal(out.mask.array[inner], orOverFootprint(mi.mask.array, k != 0))
    border = np.ones(mi.image.array.shape, dtype=bool)
    border[inner] = False
    assert np.all(np.isnan(out.image.array[border]))
    assert np.all(np.isposinf(out.variance.array[border]))
    assert np.all(out.mask.array[border] == afwImage.Mask.getPlaneBitMask("NO_DATA"))
    assert out.getXY0() == mi.getXY0()
    assert np.array_equal(mi.image.array, before.image.array)


def test_copy_edge_copies_the_input_and_sets_edge():
    mi = makeMaskedImage()
    kernel = afwMath.FixedKernel(afwImage.ImageD(makeKernel(5, 4)))
    out = mi.clone()
    out.set(0.0)
    afwMath.convolve(out, mi, kernel, afwMath.ConvolutionControl(doCopyEdge=True))
    inner = np.s_[1 : 1 + mi.getHeight() - 3, 2 : 2 + mi.getWidth() - 4]
    border = np.ones(mi.image.array.shape, dtype=bool)
    border[inner] = False
    edge = afwImage.Mask.getPlaneBitMask("EDGE")
    np.testing.assert_array_equal(out.image.array[border], mi.image.array[border])
    np.testing.assert_array_equal(out.variance.array[border], mi.variance.array[border])
    np.testing.assert_array_equal(out.mask.array[border], mi.mask.array[border] | edge)
    assert not np.any(out.mask.array[inner] & edge)


def test_nan_under_a_zero_tap_does_not_spread():
    image = afwImage.ImageD(np.ones((9, 9)))
    image.array[4, 4] = np.nan
    k = np.ones((3, 3))
    k[1, 2] = 0.0  # the tap to the right of the centre
    out = afwImage.ImageD(9, 9)
    afwMath.convolve(out, image, afwMath.FixedKernel(afwImage.ImageD(k)), False)
    # out(x, y) reads in(x + i - 1, y + j - 1): the NaN at x=4 reaches x=3 only via i=2
    assert np.isfinite(out.array[4, 3])
    assert np.isnan(out.array[4, 4]) and np.isnan(out.array[4, 5])
    assert out.array[4, 3] == 8.0  # the eight non-zero taps, each reading 1


def test_image_convolution_in_place_and_errors():
    rng = np.random.default_rng(0)
    array = rng.normal(size=(20, 25))
    image = afwImage.ImageD(array.copy())
    k = makeKernel(3, 5)
    afwMath.convolve(image, image, afwMath.FixedKernel(afwImage.ImageD(k)), False)
    np.testing.assert_allclose(
        image.array[2:-2, 1:-1], signal.correlate2d(array, k, mode="valid"), rtol=1e-12
    )
    assert np.all(np.isnan(image.array[:2])) and np.all(np.isnan(image.array[:, 0]))
    kernel = afwMath.FixedKernel(afwImage.ImageD(k))
    with pytest.raises(InvalidParameterError, match="dimensions"):
        afwMath.convolve(afwImage.ImageD(5, 5), afwImage.ImageD(6, 5), kernel)
    with pytest.raises(InvalidParameterError, match="smaller than the kernel"):
        afwMath.convolve(afwImage.ImageD(2, 2), afwImage.ImageD(2, 2), kernel)
    with pytest.raises(TypeError, match="two Images or two MaskedImages"):
        afwMath.convolve(afwImage.MaskedImageD(9, 9), afwImage.ImageD(9, 9), kernel)


def test_fixed_kernel_compute_image():
    k = makeKernel(6, 4)
    kernel = afwMath.FixedKernel(afwImage.ImageD(k))
    image = afwImage.ImageD(kernel.getDimensions())
    total = kernel.computeImage(image, False, 10.0, 20.0)
    assert total == pytest.approx(k.sum()) and kernel.getSum() == pytest.approx(k.sum())
    np.testing.assert_array_equal(image.array, k)
    assert image.getXY0() == geom.Point2I(-2, -1)  # -ctr, ctr = ((w-1)//2, (h-1)//2)
    assert kernel.computeImage(image, True) == 1.0
    np.testing.assert_allclose(image.array, k / k.sum())
    kernel.setCtr(geom.Point2I(0, 3))
    kernel.computeImage(image, True)
    assert image.getXY0() == geom.Point2I(0, -3)
    with pytest.raises(InvalidParameterError):
        kernel.computeImage(afwImage.ImageD(3, 3), True)
    with pytest.raises(OverflowError):
        afwMath.FixedKernel(afwImage.ImageD(np.zeros((3, 3)))).computeImage(
            afwImage.ImageD(3, 3), True
        )


def gaussian(size, sigma, cx=0.0, cy=0.0):
    y, x = np.mgrid[:size, :size] - (size - 1) // 2
    g = np.exp(-((x - cx) ** 2 + (y - cy) ** 2) / (2 * sigma**2))
    return g / g.sum()


def test_kernel_psf():
    sigma = 2.0
    psf = measAlg.KernelPsf(afwMath.FixedKernel(afwImage.ImageD(3 * gaussian(25, sigma))))
    assert isinstance(psf, im.Psf)
    kernelImage = psf.computeKernelImage(geom.Point2D(40.0, 50.0))
    assert kernelImage.getXY0() == geom.Point2I(-12, -12)
    np.testing.assert_allclose(kernelImage.array, gaussian(25, sigma), rtol=1e-12)
    assert psf.getAveragePosition() == geom.Point2D(0.0, 0.0)
    # adaptive moments of a sampled Gaussian give its sigma
    radius = psf.computeShape(psf.getAveragePosition()).getDeterminantRadius()
    assert radius == pytest.approx(sigma, rel=1e-5)
    # at an integer position the image is the kernel image, moved
    image = psf.computeImage(geom.Point2D(40.0, 50.0))
    assert image.getXY0() == geom.Point2I(28, 38)
    np.testing.assert_allclose(image.array, kernelImage.array, rtol=1e-12)
    # at a fractional position it is the Gaussian centred there, to the
    # accuracy of a Lanczos-5 interpolation (~0.5% of the peak, 0.02 pixel)
    image = psf.computeImage(geom.Point2D(40.3, 49.8))
    assert image.getXY0() == geom.Point2I(28, 38)
    np.testing.assert_allclose(image.array, gaussian(25, sigma, 0.3, -0.2), atol=2e-4)
    assert centroid(image) == pytest.approx((40.3, 49.8), abs=0.02)
    assert image.array.sum() == pytest.approx(1.0, abs=1e-6)
    fixed = psf.getLocalKernel(geom.Point2D(1.0, 2.0))
    assert isinstance(fixed, afwMath.FixedKernel)
    average = measAlg.KernelPsf(psf.getKernel(), geom.Point2D(3.0, 4.0))
    assert average.getAveragePosition() == geom.Point2D(3.0, 4.0)


def test_coadd_psf_accepts_kernel_psfs():
    left = geom.Box2I(geom.Point2I(0, 0), geom.Extent2I(10, 10))
    right = geom.Box2I(geom.Point2I(10, 0), geom.Extent2I(10, 10))
    a = measAlg.KernelPsf(afwMath.FixedKernel(afwImage.ImageD(gaussian(11, 1.5))))
    b = measAlg.KernelPsf(afwMath.FixedKernel(afwImage.ImageD(gaussian(11, 2.5))))
    coadd = measAlg.CoaddPsf([(a, left, 1.0), (b, right, 3.0)])
    np.testing.assert_allclose(
        coadd.computeKernelImage(geom.Point2D(4, 4)).array, gaussian(11, 1.5)
    )
    np.testing.assert_allclose(
        coadd.computeKernelImage(geom.Point2D(14, 4)).array, gaussian(11, 2.5)
    )


def centroid(image):
    y, x = np.mgrid[: image.getHeight(), : image.getWidth()]
    total = image.array.sum()
    return (
        (image.array * x).sum() / total + image.getX0(),
        (image.array * y).sum() / total + image.getY0(),
    )


def test_offset_image_moves_content():
    image = afwImage.ImageD(gaussian(41, 2.5))
    image.setXY0((3, 4))
    start = centroid(image)
    moved = afwMath.offsetImage(image, 0.4, -0.3, "lanczos5", 5)
    assert moved.getXY0() == geom.Point2I(3, 4)
    # Lanczos-5 interpolation: within ~0.5% of the peak and 0.02 pixel
    np.testing.assert_allclose(moved.array, gaussian(41, 2.5, 0.4, -0.3), atol=1.5e-4)
    assert centroid(moved) == pytest.approx((start[0] + 0.4, start[1] - 0.3), abs=0.02)
    assert moved.array.sum() == pytest.approx(1.0, abs=1e-9)
    # whole pixels go to xy0 (round(2.4), round(-1.6)), the rest is interpolated
    far = afwMath.offsetImage(image, 2.4, -1.6)
    assert far.getXY0() == geom.Point2I(5, 2)
    assert centroid(far) == pytest.approx((start[0] + 2.4, start[1] - 1.6), abs=0.02)
    # whole-pixel offsets are exact
    exact = afwMath.offsetImage(image, 3, -2)
    assert exact.getXY0() == geom.Point2I(6, 2)
    np.testing.assert_array_equal(exact.array, image.array)
    with pytest.raises(InvalidParameterError, match="lanczos"):
        afwMath.offsetImage(image, 0.5, 0.5, "bicubic")


def test_random_images_are_seeded():
    a, b = afwImage.ImageF(300, 200), afwImage.ImageF(300, 200)
    afwMath.randomGaussianImage(a, afwMath.Random())
    afwMath.randomGaussianImage(b, afwMath.Random(afwMath.Random.MT19937, 1))
    np.testing.assert_array_equal(a.array, b.array)
    c = afwImage.ImageF(300, 200)
    afwMath.randomGaussianImage(c, afwMath.Random(7))
    assert not np.array_equal(a.array, c.array)
    assert abs(a.array.mean()) < 0.02 and abs(a.array.std() - 1) < 0.02
    u = afwImage.ImageD(100, 100)
    afwMath.randomUniformImage(u, afwMath.Random("MT19937", 3))
    assert 0 <= u.array.min() and u.array.max() < 1
    assert afwMath.Random(5).getSeed() == 5
    with pytest.raises(InvalidParameterError, match="RANLUX"):
        afwMath.Random("RANLUX")


def test_coadd_psf_outside_its_components_raises_invalid_parameter():
    # ip_diffim's decorrelation catches pexExceptions.InvalidParameterError
    # around CoaddPsf evaluation: it must be that class (and a ValueError).
    box = geom.Box2I(geom.Point2I(0, 0), geom.Extent2I(10, 10))
    coadd = measAlg.CoaddPsf([(im.GaussianPsf(11, 11, 1.5), box, 1.0)])
    with pytest.raises(InvalidParameterError, match="no component PSF covers"):
        coadd.computeKernelImage(geom.Point2D(50.0, 50.0))
    with pytest.raises(ValueError):
        coadd.computeImage(geom.Point2D(-20.0, 3.0))


@pytest.mark.parametrize(
    "psf",
    [
        im.GaussianPsf(15, 15, 2.0),
        im.DoubleGaussianPsf(13, 11, 1.5, 3.0, 0.2),
        im.KernelPsf(gaussian(9, 1.2)[:, :8]),
    ],
    ids=["gaussian", "doubleGaussian", "kernel-even-width"],
)
def test_every_psf_has_a_local_kernel(psf):
    # afw's Psf.getLocalKernel: a FixedKernel whose image, placed with its
    # centre at (0, 0), is the PSF's kernel image.
    position = geom.Point2D(7.0, 3.0)
    kernel = psf.getLocalKernel(position)
    assert isinstance(kernel, afwMath.FixedKernel)
    expected = psf.computeKernelImage(position)
    assert kernel.getDimensions() == expected.getDimensions()
    image = afwImage.ImageD(kernel.getDimensions())
    kernel.computeImage(image, True)
    assert image.getXY0() == expected.getXY0()
    np.testing.assert_allclose(image.array, expected.array, rtol=1e-12)
