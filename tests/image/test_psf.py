"""Tests for the PSF models in ``imagemapper.image.psf``."""

from __future__ import annotations

import math
import pickle

import numpy as np
import pytest

import imagemapper as im
from imagemapper import Box2I, Extent2I, Point2D, Point2I

FWHM_PER_SIGMA = 2.0 * math.sqrt(2.0 * math.log(2.0))


def numpyGaussian(width: int, height: int, sigma: float, dx: float = 0.0, dy: float = 0.0):
    """Normalised Gaussian sampled at pixel centres, centred at index (w//2 + dx, h//2 + dy)."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    r2 = (x - width // 2 - dx) ** 2 + (y - height // 2 - dy) ** 2
    g = np.exp(-r2 / (2.0 * sigma**2))
    return g / g.sum()


def measuredMoments(array: np.ndarray, x0: int = 0, y0: int = 0):
    """Centroid and central second moments of an image, computed directly."""
    y, x = np.mgrid[0 : array.shape[0], 0 : array.shape[1]].astype(np.float64)
    x += x0
    y += y0
    total = array.sum()
    xc = (array * x).sum() / total
    yc = (array * y).sum() / total
    ixx = (array * (x - xc) ** 2).sum() / total
    iyy = (array * (y - yc) ** 2).sum() / total
    ixy = (array * (x - xc) * (y - yc)).sum() / total
    return xc, yc, ixx, iyy, ixy


def xy0(image) -> tuple[int, int]:
    bbox = image.getBBox()
    return bbox.getMinX(), bbox.getMinY()


# ---------------------------------------------------------------------------
# Quadrupole
# ---------------------------------------------------------------------------


def test_quadrupole_radii_and_value_semantics():
    q = im.Quadrupole(9.0, 4.0, 1.0)
    assert (q.getIxx(), q.getIyy(), q.getIxy()) == (9.0, 4.0, 1.0)
    assert q.getDeterminantRadius() == pytest.approx((9.0 * 4.0 - 1.0) ** 0.25, rel=1e-15)
    assert q.getTraceRadius() == pytest.approx(math.sqrt(6.5), rel=1e-15)
    assert q == im.Quadrupole(9.0, 4.0, 1.0)
    assert q != im.Quadrupole(9.0, 4.0, 0.0)
    assert hash(q) == hash(im.Quadrupole(9.0, 4.0, 1.0))
    assert repr(q) == "Quadrupole(ixx=9.0, iyy=4.0, ixy=1.0)"
    assert pickle.loads(pickle.dumps(q)) == q
    assert math.isnan(im.Quadrupole(1.0, 1.0, 2.0).getDeterminantRadius())


# ---------------------------------------------------------------------------
# GaussianPsf
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(("width", "height", "sigma"), [(21, 21, 2.0), (15, 11, 1.3), (8, 6, 1.0)])
def test_gaussian_kernel_image_matches_numpy(width, height, sigma):
    psf = im.GaussianPsf(width, height, sigma)
    kernel = psf.computeKernelImage()
    assert kernel.array.shape == (height, width)
    assert kernel.array.dtype == np.float64
    assert xy0(kernel) == (-(width // 2), -(height // 2))
    np.testing.assert_allclose(kernel.array, numpyGaussian(width, height, sigma), rtol=1e-13)
    assert abs(kernel.array.sum() - 1.0) < 1e-12
    # The kernel image does not depend on the position for an analytic PSF.
    np.testing.assert_array_equal(psf.computeKernelImage(Point2D(13.7, -4.2)).array, kernel.array)
    assert psf.computeBBox() == kernel.getBBox()
    assert psf.getDimensions() == Extent2I(width, height)


@pytest.mark.parametrize(
    ("position", "expectedXY0", "offset"),
    [
        ((0.0, 0.0), (-10, -7), (0.0, 0.0)),
        ((100, 50), (90, 43), (0.0, 0.0)),
        ((-5, -12), (-15, -19), (0.0, 0.0)),
        ((10.3, 20.6), (0, 14), (0.3, -0.4)),
        ((-3.7, -0.5), (-14, -7), (0.3, -0.5)),
        ((2.5, 7.49), (-7, 0), (-0.5, 0.49)),
    ],
)
def test_gaussian_compute_image_xy0_and_subpixel(position, expectedXY0, offset):
    psf = im.GaussianPsf(21, 15, 1.7)
    for pos in (position, Point2D(*map(float, position))):
        image = psf.computeImage(pos)
        assert image.array.shape == (15, 21)
        assert xy0(image) == expectedXY0
        # centre pixel is floor(position + 0.5)
        assert (expectedXY0[0] + 10, expectedXY0[1] + 7) == tuple(
            math.floor(c + 0.5) for c in position
        )
        np.testing.assert_allclose(image.array, numpyGaussian(21, 15, 1.7, *offset), atol=1e-15)
        assert abs(image.array.sum() - 1.0) < 1e-12


def test_gaussian_compute_image_accepts_point2i():
    psf = im.GaussianPsf(11, 11, 1.5)
    image = psf.computeImage(Point2I(-4, 9))
    assert xy0(image) == (-9, 4)
    np.testing.assert_array_equal(image.array, psf.computeKernelImage().array)


@pytest.mark.parametrize("position", [(10.3, 20.6), (-3.25, 4.499), (0.5, -0.5), (7.0, 7.0)])
def test_gaussian_centroid_follows_fractional_position(position):
    psf = im.GaussianPsf(41, 41, 3.0)
    image = psf.computeImage(position)
    x0, y0 = xy0(image)
    xc, yc, ixx, iyy, ixy = measuredMoments(image.array, x0, y0)
    assert xc == pytest.approx(position[0], abs=1e-3)
    assert yc == pytest.approx(position[1], abs=1e-3)
    assert ixx == pytest.approx(9.0, rel=1e-3)
    assert iyy == pytest.approx(9.0, rel=1e-3)
    assert ixy == pytest.approx(0.0, abs=1e-6)


def test_gaussian_default_position_is_average_position():
    psf = im.GaussianPsf(9, 9, 1.0)
    assert psf.getAveragePosition() == Point2D(0.0, 0.0)
    np.testing.assert_array_equal(psf.computeImage().array, psf.computeImage((0, 0)).array)
    assert xy0(psf.computeImage()) == (-4, -4)


@pytest.mark.parametrize("sigma", [0.7, 2.0, 3.3])
def test_gaussian_shape_and_fwhm(sigma):
    psf = im.GaussianPsf(25, 25, sigma)
    shape = psf.computeShape(Point2D(3.0, 4.0))
    assert shape == im.Quadrupole(sigma**2, sigma**2, 0.0)
    assert shape.getDeterminantRadius() == pytest.approx(sigma, rel=1e-14)
    assert psf.computeFwhm() == pytest.approx(2.354820045 * sigma, rel=1e-9)
    assert im.psfFwhm(psf) == pytest.approx(FWHM_PER_SIGMA * sigma, rel=1e-14)


def test_psf_fwhm_reference_value():
    assert im.psfFwhm(im.GaussianPsf(21, 21, 2.0)) == pytest.approx(4.7096, abs=1e-4)


def test_gaussian_accessors_equality_repr_clone_pickle():
    psf = im.GaussianPsf(21, 19, 2.5)
    assert (psf.getWidth(), psf.getHeight(), psf.getSigma()) == (21, 19, 2.5)
    assert psf == im.GaussianPsf(21, 19, 2.5)
    assert psf != im.GaussianPsf(21, 19, 2.6)
    assert psf != im.DoubleGaussianPsf(21, 19, 2.5)
    assert hash(psf) == hash(im.GaussianPsf(21, 19, 2.5))
    assert repr(psf) == "GaussianPsf(width=21, height=19, sigma=2.5)"
    clone = psf.clone()
    assert clone == psf and clone is not psf
    restored = pickle.loads(pickle.dumps(psf))
    assert restored == psf
    np.testing.assert_array_equal(
        restored.computeImage((3.2, 1.1)).array, psf.computeImage((3.2, 1.1)).array
    )


@pytest.mark.parametrize(
    ("args", "match"),
    [
        ((0, 21, 2.0), r"width must be a positive integer, got 0"),
        ((-3, 21, 2.0), r"width must be a positive integer, got -3"),
        ((21.0, 21, 2.0), r"width must be a positive integer, got 21\.0"),
        ((21, True, 2.0), r"height must be a positive integer, got True"),
        ((21, 21, 0.0), r"sigma must be finite and > 0, got 0\.0"),
        ((21, 21, -1.5), r"sigma must be finite and > 0, got -1\.5"),
        ((21, 21, math.inf), r"sigma must be finite and > 0, got inf"),
        ((21, 21, math.nan), r"sigma must be finite and > 0, got nan"),
        ((21, 21, "2"), r"sigma must be a finite real number, got '2'"),
    ],
)
def test_gaussian_rejects_invalid_arguments(args, match):
    with pytest.raises(ValueError, match=match):
        im.GaussianPsf(*args)


def test_invalid_positions():
    psf = im.GaussianPsf(5, 5, 1.0)
    with pytest.raises(
        ValueError, match=r"position must have finite coordinates, got \(nan, 1\.0\)"
    ):
        psf.computeImage((math.nan, 1.0))
    with pytest.raises(TypeError, match=r"position must be a Point2D.*got 'xy'"):
        psf.computeImage("xy")
    with pytest.raises(TypeError, match=r"got \(1, 2, 3\)"):
        psf.computeShape((1, 2, 3))


def test_numpy_integer_sizes_are_accepted():
    psf = im.GaussianPsf(np.int64(7), np.int32(5), np.float32(1.5))
    assert psf.computeKernelImage().array.shape == (5, 7)


# ---------------------------------------------------------------------------
# DoubleGaussianPsf
# ---------------------------------------------------------------------------


def test_double_gaussian_defaults_and_accessors():
    psf = im.DoubleGaussianPsf(31, 31, 1.5)
    assert psf.getSigma1() == 1.5
    assert psf.getSigma2() == 3.0
    assert psf.getB() == 0.0
    # b = 0 is a single Gaussian of width sigma1
    np.testing.assert_allclose(
        psf.computeKernelImage().array,
        im.GaussianPsf(31, 31, 1.5).computeKernelImage().array,
        rtol=1e-13,
    )
    shape = psf.computeShape()  # adaptive moments of a b = 0 kernel: sigma1**2
    assert shape.getIxx() == pytest.approx(2.25, rel=1e-6)
    assert shape.getIyy() == pytest.approx(2.25, rel=1e-6)
    assert repr(psf) == "DoubleGaussianPsf(width=31, height=31, sigma1=1.5, sigma2=3.0, b=0.0)"
    assert pickle.loads(pickle.dumps(psf)) == psf
    assert psf == im.DoubleGaussianPsf(31, 31, 1.5, 3.0, 0.0)
    assert psf != im.DoubleGaussianPsf(31, 31, 1.5, 3.0, 0.1)


def test_double_gaussian_image_matches_numpy():
    s1, s2, b = 1.2, 3.1, 0.25
    psf = im.DoubleGaussianPsf(25, 21, s1, s2, b)
    y, x = np.mgrid[0:21, 0:25].astype(np.float64)
    dx, dy = 0.4, -0.3
    r2 = (x - 12 - dx) ** 2 + (y - 10 - dy) ** 2
    expected = np.exp(-r2 / (2 * s1**2)) / (2 * np.pi * s1**2) + b * np.exp(-r2 / (2 * s2**2)) / (
        2 * np.pi * s2**2
    )
    expected /= expected.sum()
    image = psf.computeImage((50.4, 7.7))
    assert xy0(image) == (50 - 12, 8 - 10)
    np.testing.assert_allclose(image.array, expected, rtol=1e-12)
    assert abs(image.array.sum() - 1.0) < 1e-12


def adaptiveSigma2(array, x0, y0):
    """Independent adaptive moments of a circular kernel: the weight
    exp(-r^2 / 2 s^2) whose weighted x-moment is s^2 / 2 (a root, by brentq)."""
    from scipy.optimize import brentq

    h, w = array.shape
    y, x = np.mgrid[y0 : y0 + h, x0 : x0 + w].astype(float)

    def f(s2):
        wt = array * np.exp(-(x * x + y * y) / (2 * s2))
        return 2 * (wt * x * x).sum() / wt.sum() - s2

    return brentq(f, 0.3, 200.0, xtol=1e-14)


@pytest.mark.parametrize(("s1", "s2", "b"), [(1.5, None, 0.1), (2.0, 4.5, 0.3), (1.0, 2.5, 1.0)])
def test_double_gaussian_shape_is_the_adaptive_moment(s1, s2, b):
    psf = im.DoubleGaussianPsf(101, 101, s1, s2, b)
    sigma2 = 2.0 * s1 if s2 is None else s2
    shape = psf.computeShape()
    kernel = psf.computeKernelImage()
    expected = adaptiveSigma2(kernel.array, *xy0(kernel))
    assert shape.getIxx() == pytest.approx(expected, rel=1e-7)
    assert shape.getIyy() == pytest.approx(expected, rel=1e-7)
    assert abs(shape.getIxy()) < 1e-10
    # Between the core's moment and the unweighted mixture moment.
    assert s1**2 < shape.getIxx() < (s1**2 + b * sigma2**2) / (1.0 + b)
    assert psf.computeFwhm() == pytest.approx(FWHM_PER_SIGMA * math.sqrt(expected), rel=1e-7)


def test_single_gaussian_adaptive_moment_is_sigma_squared():
    # LSST's default in its tests: DoubleGaussianPsf(11, 11, 2.0, 3.7), b = 0.
    big = im.DoubleGaussianPsf(61, 61, 2.0, 3.7)
    assert big.computeShape().getIxx() == pytest.approx(4.0, rel=1e-6)
    small = im.DoubleGaussianPsf(11, 11, 2.0, 3.7)
    kernel = small.computeKernelImage()
    assert small.computeShape().getIxx() == pytest.approx(
        adaptiveSigma2(kernel.array, *xy0(kernel)), rel=1e-7
    )
    # The 11 x 11 kernel truncates the wings: slightly below sigma^2 = 4.
    assert 3.9 < small.computeShape().getIxx() < 4.0


@pytest.mark.parametrize(
    ("args", "match"),
    [
        ((21, 21, 0.0), r"sigma1 must be finite and > 0, got 0\.0"),
        ((21, 21, 1.0, -2.0), r"sigma2 must be finite and > 0, got -2\.0"),
        ((21, 21, 1.0, 2.0, -0.1), r"b must be finite and >= 0, got -0\.1"),
        ((21, 0, 1.0), r"height must be a positive integer, got 0"),
    ],
)
def test_double_gaussian_rejects_invalid_arguments(args, match):
    with pytest.raises(ValueError, match=match):
        im.DoubleGaussianPsf(*args)


# ---------------------------------------------------------------------------
# CoaddPsf
# ---------------------------------------------------------------------------


def tiledBoxes(nx: int, ny: int, size: int):
    return [
        Box2I(Point2I(i * size, j * size), Extent2I(size, size))
        for j in range(ny)
        for i in range(nx)
    ]


def test_coadd_of_identical_psfs_equals_single_psf():
    single = im.GaussianPsf(21, 17, 2.2)
    boxes = tiledBoxes(3, 2, 20)
    coadd = im.CoaddPsf(
        [
            (im.GaussianPsf(21, 17, 2.2), box, w)
            for box, w in zip(boxes, [1, 2, 3, 0.5, 4, 1.5], strict=True)
        ]
    )
    assert len(coadd) == coadd.getComponentCount() == 6
    rng = np.random.default_rng(12345)
    positions = [(x, y) for x in (0, 19, 20, 31, 59) for y in (0, 19, 20, 39)]
    positions += list(zip(rng.uniform(-0.5, 59.49, 20), rng.uniform(-0.5, 39.49, 20), strict=True))
    for position in positions:
        image = coadd.computeImage(position)
        expected = single.computeImage(position)
        assert image.getBBox() == expected.getBBox()
        np.testing.assert_allclose(image.array, expected.array, rtol=0, atol=1e-12)
        kernel = coadd.computeKernelImage(position)
        np.testing.assert_allclose(
            kernel.array, single.computeKernelImage().array, rtol=0, atol=1e-12
        )
        shape = coadd.computeShape(position)
        assert shape.getDeterminantRadius() == pytest.approx(2.2, rel=1e-3)


def test_coadd_weighted_mean_in_overlap_by_hand():
    psfA = im.GaussianPsf(15, 15, 1.5)
    psfB = im.DoubleGaussianPsf(21, 19, 2.0, 4.0, 0.2)
    boxA = Box2I(Point2I(0, 0), Extent2I(60, 40))
    boxB = Box2I(Point2I(40, 10), Extent2I(60, 40))
    wA, wB = 0.75, 2.5
    coadd = im.CoaddPsf.fromComponents([psfA, psfB], [boxA, boxB], [wA, wB])

    position = (50.3, 20.8)  # in both boxes
    image = coadd.computeImage(position)
    # By hand: place each component image on the union of their boxes.
    a = psfA.computeImage(position)
    b = psfB.computeImage(position)
    assert xy0(a) == (50 - 7, 21 - 7) and xy0(b) == (50 - 10, 21 - 9)
    expected = np.zeros((19, 21))
    expected[2:17, 3:18] += wA * a.array
    expected += wB * b.array
    expected /= wA + wB
    assert xy0(image) == (40, 12)
    assert image.array.shape == (19, 21)
    np.testing.assert_allclose(image.array, expected, rtol=1e-13, atol=1e-16)
    assert abs(image.array.sum() - 1.0) < 1e-12

    kernel = coadd.computeKernelImage(position)
    expectedKernel = np.zeros((19, 21))
    expectedKernel[2:17, 3:18] += wA * psfA.computeKernelImage().array
    expectedKernel += wB * psfB.computeKernelImage().array
    expectedKernel /= wA + wB
    assert xy0(kernel) == (-10, -9)
    np.testing.assert_allclose(kernel.array, expectedKernel, rtol=1e-13, atol=1e-16)
    assert coadd.computeBBox(position) == kernel.getBBox()

    # The shape is the adaptive moment of that kernel (circular components).
    s2 = adaptiveSigma2(expectedKernel, -10, -9)
    shape = coadd.computeShape(position)
    assert shape.getIxx() == pytest.approx(s2, rel=1e-7)
    assert shape.getIyy() == pytest.approx(s2, rel=1e-7)
    assert shape.getIxy() == pytest.approx(0.0, abs=1e-9)

    # Only A covers (10, 10); only B covers (90, 45).
    np.testing.assert_allclose(
        coadd.computeImage((10, 10)).array, psfA.computeImage((10, 10)).array, atol=1e-15
    )
    np.testing.assert_allclose(
        coadd.computeImage((90, 45)).array, psfB.computeImage((90, 45)).array, atol=1e-15
    )
    assert coadd.getDimensions() == Extent2I(21, 19)


def test_coadd_average_position_and_accessors():
    boxA = Box2I(Point2I(0, 0), Extent2I(10, 10))  # centre (4.5, 4.5)
    boxB = Box2I(Point2I(20, 0), Extent2I(11, 5))  # centre (25, 2)
    psf = im.GaussianPsf(5, 5, 1.0)
    coadd = im.CoaddPsf([(psf, boxA, 1.0), (psf, boxB, 3.0)])
    avg = coadd.getAveragePosition()
    assert avg.getX() == pytest.approx((4.5 + 3 * 25) / 4)
    assert avg.getY() == pytest.approx((4.5 + 3 * 2) / 4)
    assert coadd.getPsf(1) is psf
    assert coadd.getBBox(1) == boxB
    assert coadd.getWeight(0) == 1.0
    assert coadd.getWeight(-1) == 3.0
    with pytest.raises(IndexError, match="component index 2 out of range for 2 components"):
        coadd.getPsf(2)
    # Boxes are copied: mutating the caller's box does not change the PSF.
    boxA.grow(100)
    assert coadd.getBBox(0) == Box2I(Point2I(0, 0), Extent2I(10, 10))
    given = im.CoaddPsf([(psf, boxB, 1.0)], averagePosition=(22, 3))
    assert given.getAveragePosition() == Point2D(22.0, 3.0)
    # default position of computeImage is the average position
    assert xy0(given.computeImage()) == (20, 1)
    # a 5x5 kernel truncates the Gaussian: the FWHM comes from its adaptive moments
    kernel = psf.computeKernelImage()
    expectedFwhm = math.sqrt(adaptiveSigma2(kernel.array, *xy0(kernel))) * FWHM_PER_SIGMA
    assert im.psfFwhm(given) == pytest.approx(expectedFwhm, rel=1e-8)
    assert given.computeFwhm() == pytest.approx(expectedFwhm, rel=1e-8)
    assert im.psfFwhm(given) < FWHM_PER_SIGMA * 1.0


def test_coadd_position_outside_every_box():
    coadd = im.CoaddPsf([(im.GaussianPsf(5, 5, 1.0), Box2I(Point2I(0, 0), Extent2I(10, 10)), 1.0)])
    for position in [(10.5, 3.0), (-0.51, 3.0), (3.0, 200.0)]:
        with pytest.raises(ValueError, match=r"no component PSF covers position \("):
            coadd.computeImage(position)
        with pytest.raises(ValueError, match="no component PSF covers position"):
            coadd.computeKernelImage(position)
        with pytest.raises(ValueError, match="no component PSF covers position"):
            coadd.computeShape(position)
    with pytest.raises(ValueError, match=r"no component PSF covers position \(10\.5, 3\.0\)"):
        coadd.computeImage((10.5, 3.0))
    # pixel edges at half-integers: (9.49, -0.5) lies in pixel (9, 0)
    assert coadd.computeImage((9.49, -0.5)).getBBox() == Box2I(Point2I(7, -2), Extent2I(5, 5))


def test_coadd_rejects_invalid_components():
    psf = im.GaussianPsf(5, 5, 1.0)
    box = Box2I(Point2I(0, 0), Extent2I(10, 10))
    with pytest.raises(ValueError, match="at least one"):
        im.CoaddPsf([])
    with pytest.raises(ValueError, match=r"component 1: weight must be finite and > 0, got -2\.0"):
        im.CoaddPsf([(psf, box, 1.0), (psf, box, -2.0)])
    with pytest.raises(ValueError, match=r"component 0: weight must be finite and > 0, got 0"):
        im.CoaddPsf([(psf, box, 0)])
    with pytest.raises(ValueError, match=r"component 0: weight must be finite and > 0, got nan"):
        im.CoaddPsf([(psf, box, math.nan)])
    with pytest.raises(TypeError, match=r"component 1: psf must be a Psf, got 'notapsf'"):
        im.CoaddPsf([(psf, box, 1.0), ("notapsf", box, 1.0)])
    with pytest.raises(TypeError, match=r"component 0: bbox must be a Box2I, got \(0, 0, 10, 10\)"):
        im.CoaddPsf([(psf, (0, 0, 10, 10), 1.0)])
    with pytest.raises(TypeError, match=r"component 2 must be a \(psf, bbox, weight\) triple"):
        im.CoaddPsf([(psf, box, 1.0), (psf, box, 1.0), (psf, box)])
    with pytest.raises(ValueError, match=r"component 0: bbox .* is empty"):
        im.CoaddPsf([(psf, Box2I(), 1.0)])
    with pytest.raises(ValueError, match="same length, got 2, 1 and 2"):
        im.CoaddPsf.fromComponents([psf, psf], [box])
    with pytest.raises(TypeError, match="averagePosition must be"):
        im.CoaddPsf([(psf, box, 1.0)], averagePosition="middle")


def test_coadd_equality_pickle_clone_repr():
    boxes = tiledBoxes(2, 1, 16)
    coadd = im.CoaddPsf.fromComponents(
        [im.GaussianPsf(11, 11, 1.5), im.DoubleGaussianPsf(13, 13, 1.2, b=0.1)], boxes, [1.0, 2.0]
    )
    same = im.CoaddPsf.fromComponents(
        [im.GaussianPsf(11, 11, 1.5), im.DoubleGaussianPsf(13, 13, 1.2, b=0.1)], boxes, [1.0, 2.0]
    )
    assert coadd == same
    assert hash(coadd) == hash(same)
    assert coadd != im.CoaddPsf.fromComponents(
        [im.GaussianPsf(11, 11, 1.5), im.DoubleGaussianPsf(13, 13, 1.2, b=0.1)], boxes, [1.0, 3.0]
    )
    restored = pickle.loads(pickle.dumps(coadd))
    assert restored == coadd
    assert restored.getBBox(1) == boxes[1]
    np.testing.assert_array_equal(
        restored.computeImage((15.6, 3.2)).array, coadd.computeImage((15.6, 3.2)).array
    )
    clone = coadd.clone()
    assert clone == coadd and clone is not coadd
    assert repr(coadd).startswith("CoaddPsf([(GaussianPsf(width=11, height=11, sigma=1.5), Box2I(")


def test_coadd_nested_and_mixed_sizes_sum_to_one():
    inner = im.CoaddPsf.fromComponents(
        [im.GaussianPsf(8, 8, 1.0), im.GaussianPsf(9, 7, 1.4)], tiledBoxes(2, 1, 10)
    )
    outer = im.CoaddPsf.fromComponents(
        [inner, im.GaussianPsf(12, 5, 1.1)], [Box2I(Point2I(0, 0), Extent2I(20, 10))] * 2, [1, 2]
    )
    for position in [(9.6, 4.4), (3.0, 2.0), (15.2, 8.9)]:
        image = outer.computeImage(position)
        assert abs(image.array.sum() - 1.0) < 1e-12
        kernel = outer.computeKernelImage(position)
        assert abs(kernel.array.sum() - 1.0) < 1e-12
        assert outer.computeBBox(position) == kernel.getBBox()
        assert kernel.getBBox().contains(Point2I(0, 0))


def test_psf_is_abstract():
    with pytest.raises(TypeError):
        im.Psf()  # type: ignore[abstract]
