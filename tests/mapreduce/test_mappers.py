"""Built-in mappers against independent computations (scipy, astropy, numpy)."""

from __future__ import annotations

import math
import pickle

import numpy as np
import pytest

import imagemapper as im
from imagemapper.mappers import (
    BackgroundMapper,
    CellStatisticsMapper,
    GaussianConvolveMapper,
    PsfMatchMapper,
    VariableGaussianPsf,
    backgroundImage,
    backgroundMesh,
    fftConvolve,
    gaussianKernel,
    sigmaClippedStats,
)
from imagemapper.testing import naiveGrid

ndimage = pytest.importorskip("scipy.ndimage")
signal = pytest.importorskip("scipy.signal")


def _config(mapper, cell, step=None, border=0, op="average", backend="threads"):
    c = im.ImageMapReduceConfig()
    c.mapper.retarget(mapper)
    c.scaleByFwhm = False
    c.cellSizeX = c.cellSizeY = cell
    if step is None:
        c.adjustGridOption = "spacing"
    else:
        c.adjustGridOption = "none"
        c.gridStepX = c.gridStepY = step
    c.borderSizeX = c.borderSizeY = border
    c.reducer.reduceOperation = op
    c.backend = backend
    c.numWorkers = 2
    c.progress = False
    return c


def _testExposure(shape=(200, 240), seed=1):
    rng = np.random.default_rng(seed)
    image = rng.normal(100.0, 10.0, shape).astype(np.float32)
    yy, xx = np.mgrid[0 : shape[0], 0 : shape[1]]
    for x, y, f in zip(rng.uniform(0, shape[1], 15), rng.uniform(0, shape[0], 15), [3e3] * 15):
        image += (f * np.exp(-((xx - x) ** 2 + (yy - y) ** 2) / 4.5)).astype(np.float32)
    variance = rng.uniform(50.0, 150.0, shape).astype(np.float32)
    mask = np.zeros(shape, np.int32)
    mask[50, 60] = 1 << 0
    mask[120:123, 10] = 1 << 2
    mask[0, shape[1] - 1] = 1 << 1
    return im.Exposure.fromArrays(image, mask, variance, xy0=(7, -3))


def _dilatedMaskReference(mask, radius):
    """OR of each bit plane dilated by a (2r+1)^2 square, by scipy."""
    structure = np.ones((2 * radius + 1, 2 * radius + 1), bool)
    out = np.zeros_like(mask)
    for bit in range(31):
        plane = (mask >> bit) & 1 == 1
        if plane.any():
            out |= ndimage.binary_dilation(plane, structure).astype(np.int32) << bit
    return out


# ----------------------------------------------------------------- helpers


def test_gaussian_kernel_equals_scipy_gaussian_filter_weights():
    # gaussian_filter of a centred delta is its kernel: the same weights and radius.
    for sigma in (0.7, 1.7, 3.2):
        k = gaussianKernel(sigma)
        r = k.shape[0] // 2
        assert r == int(4.0 * sigma + 0.5)
        delta = np.zeros((2 * r + 11, 2 * r + 11))
        delta[r + 5, r + 5] = 1.0
        ref = ndimage.gaussian_filter(delta, sigma, mode="constant", truncate=4.0)
        np.testing.assert_allclose(k, ref[5:-5, 5:-5], rtol=0, atol=1e-15)
    assert gaussianKernel(0.0).tolist() == [[1.0]]


def test_fft_convolve_equals_scipy_fftconvolve_with_asymmetric_kernel():
    rng = np.random.default_rng(3)
    a = rng.normal(size=(37, 52))
    k = rng.normal(size=(5, 9))  # asymmetric: catches flips and off-by-one centring
    (got,) = fftConvolve([a], [k])
    np.testing.assert_allclose(got, signal.fftconvolve(a, k, mode="same"), atol=1e-12)
    crop = (slice(4, 30), slice(10, 41))
    (cropped,) = fftConvolve([a], [k], crop)
    np.testing.assert_allclose(cropped, got[crop], atol=1e-12)


def test_sigma_clipped_stats_equals_astropy():
    stats = pytest.importorskip("astropy.stats")
    rng = np.random.default_rng(5)
    for n in (50, 1000, 20000):
        values = rng.normal(10.0, 2.0, n)
        values[rng.integers(0, n, n // 20)] += rng.uniform(20, 200, n // 20)  # outliers
        values[:3] = np.nan
        mean, median, std, count = sigmaClippedStats(values, 3.0, 5)
        finite = values[3:]  # astropy warns about NaNs (an error here): give it finite values
        ref = stats.sigma_clipped_stats(finite, sigma=3.0, maxiters=5)
        np.testing.assert_allclose([mean, median, std], ref, rtol=1e-12)
        clipped = stats.sigma_clip(finite, sigma=3.0, maxiters=5, masked=True)
        assert count == int((~clipped.mask).sum())


# ------------------------------------------------------------ convolution


@pytest.mark.parametrize(
    ("op", "edge"),
    [("average", None), ("copy", None), ("copy", "mirror"), ("average", "nearest"),
     ("copy", "constant")],
)  # fmt: skip
def test_gaussian_convolve_equals_whole_image_scipy(op, edge):
    exp = _testExposure()
    sigma = 1.7
    radius = int(4 * sigma + 0.5)
    config = _config(GaussianConvolveMapper, 64, step=48, border=radius, op=op)
    config.mapper.sigma = sigma
    if edge is not None:
        config.mapper.edgeMode = edge
    mode = edge or "reflect"  # the default is scipy's default
    out = im.ImageMapReduceTask(config).run(exp).exposure
    assert out.getBBox() == exp.getBBox()

    image = exp.image.array.astype(np.float64)
    ref = ndimage.gaussian_filter(image, sigma, mode=mode, cval=0.0, truncate=4.0)
    # Everywhere, the image edges included: beyond the image, the same edge mode.
    # The FFT is float64 (error ~1e-13 of the image scale); the output is float32, so
    # the difference is float32 rounding: 2**-24 relative, here < 4e-6 for values < 3e3.
    scale = np.abs(ref).max()
    np.testing.assert_allclose(out.image.array, ref, rtol=0, atol=4 * scale * 2.0**-24)

    kernel = gaussianKernel(sigma)
    vref = ndimage.convolve(exp.variance.array.astype(np.float64), kernel**2, mode=mode)
    np.testing.assert_allclose(out.variance.array, vref, rtol=4 * 2.0**-24)

    np.testing.assert_array_equal(out.mask.array, _dilatedMaskReference(exp.mask.array, radius))


def test_default_edge_does_not_darken_a_flat_image():
    # Issue 15: zero padding darkened the first rows (mean 125.8 instead of 208.3 there).
    flat = im.Exposure.fromArrays(np.full((90, 100), 208.3, np.float32))
    config = _config(GaussianConvolveMapper, 32, border=9, op="average")
    config.mapper.sigma = 2.0
    out = im.ImageMapReduceTask(config).run(flat).exposure.image.array
    np.testing.assert_allclose(out, 208.3, rtol=1e-6)
    config.mapper.edgeMode = "constant"
    dark = im.ImageMapReduceTask(config).run(flat).exposure.image.array
    assert dark[0].mean() < 150  # what the old default gave


def test_gaussian_convolve_border_too_small_shows_seams():
    exp = _testExposure()
    config = _config(GaussianConvolveMapper, 64, step=64, border=2, op="copy")
    config.mapper.sigma = 2.0
    out = im.ImageMapReduceTask(config).run(exp).exposure
    ref = ndimage.gaussian_filter(exp.image.array.astype(float), 2.0)
    assert np.abs(out.image.array - ref).max() > 1.0  # the border matters


def test_gaussian_convolve_keeps_mask_when_asked_and_updates_gaussian_psf():
    exp = _testExposure()
    exp.setPsf(im.GaussianPsf(21, 21, 1.5))
    config = _config(GaussianConvolveMapper, 100, border=8, op="average")
    config.mapper.sigma = 2.0
    config.mapper.propagateMask = False
    out = im.ImageMapReduceTask(config).run(exp).exposure
    np.testing.assert_array_equal(out.mask.array, exp.mask.array)
    r = out.getPsf().computeShape((100, 100)).getDeterminantRadius()
    assert r == pytest.approx(math.hypot(1.5, 2.0), rel=1e-4)


def test_gaussian_convolve_same_bits_for_every_backend():
    exp = _testExposure((120, 150))
    results = []
    for backend in ("serial", "threads"):
        config = _config(GaussianConvolveMapper, 40, step=30, border=8, backend=backend)
        results.append(im.ImageMapReduceTask(config).run(exp).exposure.image.array)
    np.testing.assert_array_equal(results[0], results[1])


# ----------------------------------------------------------- PSF matching


def test_psf_match_with_constant_gaussian_psf_is_the_quadrature_kernel():
    exp = _testExposure()
    exp.setPsf(im.GaussianPsf(25, 25, 1.5))
    config = _config(PsfMatchMapper, 64, step=56, border=8)
    config.mapper.targetSigma = 2.5
    out = im.ImageMapReduceTask(config).run(exp).exposure
    # sqrt(2.5**2 - 1.5**2) = 2 exactly: the whole-image gaussian_filter with sigma 2.
    ref = ndimage.gaussian_filter(exp.image.array.astype(float), 2.0)
    np.testing.assert_allclose(out.image.array, ref, rtol=0, atol=4 * np.abs(ref).max() * 2.0**-24)
    psf = out.getPsf()
    for pos in ((20, 10), (150, 150)):
        assert psf.computeShape(pos).getDeterminantRadius() == pytest.approx(2.5, rel=1e-4)


def _moments_sigma(stamp, xc, yc, x0, y0):
    ys, xs = np.mgrid[0 : stamp.shape[0], 0 : stamp.shape[1]]
    xs, ys = xs + x0 - xc, ys + y0 - yc
    f = stamp.sum()
    ixx = (stamp * xs * xs).sum() / f
    iyy = (stamp * ys * ys).sum() / f
    ixy = (stamp * xs * ys).sum() / f
    return (ixx * iyy - ixy * ixy) ** 0.25


def test_psf_match_makes_a_varying_psf_uniform():
    # Noise-free stars drawn (independently of the PSF class) at the cell centres, with
    # the Gaussian width the varying PSF has there; after matching, each star's measured
    # second-moment width must be the target (Gaussians add in quadrature).
    size, cell = 240, 40
    bbox = im.Box2I(im.Point2I(0, 0), im.Extent2I(size, size))
    psf = VariableGaussianPsf(31, 31, bbox, 1.0, 2.0)
    centres = np.arange(cell // 2, size, cell) - 0.5  # Box2I centres of the cells
    yy, xx = np.mgrid[0:size, 0:size].astype(float)
    image = np.zeros((size, size))
    widths = []
    for x in centres:
        for y in centres:
            s = 1.0 + 1.0 * ((x - 119.5) ** 2 + (y - 119.5) ** 2) / (119.5**2 * 2)
            widths.append(s)
            image += (
                1e4 * np.exp(-((xx - x) ** 2 + (yy - y) ** 2) / (2 * s * s)) / (2 * np.pi * s * s)
            )
    exp = im.Exposure.fromArrays(image, psf=psf)
    target = 2.3
    config = _config(PsfMatchMapper, cell, step=cell, border=12)
    config.mapper.targetSigma = target
    out = im.ImageMapReduceTask(config).run(exp).exposure
    assert min(widths) < 1.05 and max(widths) > 1.7
    np.testing.assert_allclose(widths, [psf.sigmaAt((x, y)) for x in centres for y in centres])
    measured_in, measured_out = [], []
    for x in centres:
        for y in centres:
            i0, j0 = int(x - 19.5), int(y - 19.5)
            sl = (slice(j0, j0 + cell), slice(i0, i0 + cell))
            measured_in.append(_moments_sigma(image[sl], x, y, i0, j0))
            measured_out.append(_moments_sigma(out.image.array[sl], x, y, i0, j0))
    np.testing.assert_allclose(measured_in, widths, rtol=1e-3)
    np.testing.assert_allclose(measured_out, target, rtol=2e-3)
    # Flux is conserved by the normalised kernel.
    np.testing.assert_allclose(out.image.array.sum(), image.sum(), rtol=1e-6)


def test_psf_match_errors_name_the_problem():
    exp = _testExposure((100, 100))
    config = _config(PsfMatchMapper, 50, border=4)
    config.mapper.targetSigma = 1.0
    with pytest.raises(im.MapperError, match="needs an exposure with a PSF"):
        im.ImageMapReduceTask(config).run(exp)
    exp.setPsf(im.GaussianPsf(15, 15, 1.5))
    with pytest.raises(im.MapperError, match=r"targetSigma=1 is smaller than the PSF's sigma 1\.5"):
        im.ImageMapReduceTask(config).run(exp)


def test_variable_gaussian_psf():
    bbox = im.Box2I(im.Point2I(10, 20), im.Extent2I(101, 61))
    psf = VariableGaussianPsf(25, 25, bbox, 1.2, 2.4, b=0.1)
    assert psf.sigmaAt((60, 50)) == pytest.approx(1.2)
    assert psf.sigmaAt((10, 20)) == pytest.approx(2.4)
    assert psf.sigmaAt((110, 80)) == pytest.approx(2.4)
    s1 = psf.sigmaAt((30, 30))
    moment = (s1**2 + 0.1 * (2 * s1) ** 2) / 1.1
    assert psf.computeShape((30, 30)).getDeterminantRadius() == pytest.approx(math.sqrt(moment))
    k = psf.computeKernelImage((30, 30)).array
    assert k.shape == (25, 25) and k.sum() == pytest.approx(1.0)
    assert psf.getAveragePosition() == im.Point2D(60.0, 50.0)
    assert pickle.loads(pickle.dumps(psf)) == psf


# ------------------------------------------------------------- statistics


def _statsExposure(seed=7):
    rng = np.random.default_rng(seed)
    H, W = 150, 180
    yy, xx = np.mgrid[0:H, 0:W]
    truth = 100.0 + 0.2 * xx - 0.1 * yy
    image = truth + rng.normal(0.0, 3.0, (H, W))
    image[rng.integers(0, H, 80), rng.integers(0, W, 80)] += 500.0  # cosmic-ray-like outliers
    image[10, 10] = np.nan
    mask = np.zeros((H, W), np.int32)
    exp = im.Exposure.fromArrays(image.astype(np.float32), mask, xy0=(5, 5))
    detected = exp.mask.getPlaneBitMask("DETECTED")
    exp.image.array[60:80, 90:120] += 300.0  # a big "galaxy", flagged DETECTED
    exp.mask.array[60:80, 90:120] |= detected
    return exp, truth


@pytest.mark.parametrize("statistic", ["median", "mean"])
def test_background_mapper_equals_astropy_sigma_clipped_stats(statistic):
    stats = pytest.importorskip("astropy.stats")
    exp, _ = _statsExposure()
    config = _config(BackgroundMapper, 50, border=10, op="none")
    config.mapper.statistic = statistic
    task = im.ImageMapReduceTask(config)
    results = task.run(exp).result
    boxes0, boxes1 = naiveGrid(exp.getBBox(), (50, 50), (50, 50), (10, 10), "spacing")
    assert [r.bbox for r in results] == boxes0
    ignore = exp.mask.getPlaneBitMask(
        [p for p in config.ignoreMaskPlanes if p in exp.mask.getMaskPlaneDict()]
    )
    for r, b1 in zip(results, boxes1):
        sl = b1.slices(exp.getBBox())
        pix = exp.image.array[sl].astype(np.float64)
        good = ((exp.mask.array[sl] & ignore) == 0) & np.isfinite(pix)
        mean, median, std = stats.sigma_clipped_stats(pix[good], sigma=3.0, maxiters=5)
        expected = median if statistic == "median" else mean
        assert r.background == pytest.approx(float(expected), rel=1e-12)
        assert r.backgroundStd == pytest.approx(float(std), rel=1e-12)
        np.testing.assert_array_equal(r.subExposure.image.array, np.float32(r.background))


def test_background_mapper_mask_plane_precedence():
    exp, _ = _statsExposure()
    detected = exp.mask.getPlaneBitMask("DETECTED")
    boxes1 = naiveGrid(exp.getBBox(), (50, 50), (50, 50), (10, 10), "spacing")[1]
    galaxyCell = next(  # a cell that overlaps the DETECTED region
        i
        for i, b in enumerate(boxes1)
        if (exp.mask.array[b.slices(exp.getBBox())] & detected).any()
    )

    def levels(run_kwargs=None, mapper_planes=None, task_planes=None):
        config = _config(BackgroundMapper, 50, border=10, op="none")
        config.mapper.maxIters = 0  # no clipping: the galaxy pixels must be excluded by mask
        config.mapper.statistic = "mean"
        if mapper_planes is not None:
            config.mapper.ignoreMaskPlanes = mapper_planes
        if task_planes is not None:
            config.ignoreMaskPlanes = task_planes
        res = im.ImageMapReduceTask(config).run(exp, **(run_kwargs or {})).result
        return np.array([r.background for r in res])

    def reference(ignored):
        b1 = naiveGrid(exp.getBBox(), (50, 50), (50, 50), (10, 10), "spacing")[1][galaxyCell]
        sl = b1.slices(exp.getBBox())
        pix = exp.image.array[sl].astype(float)
        good = np.isfinite(pix)
        if ignored:
            good &= (exp.mask.array[sl] & exp.mask.getPlaneBitMask(ignored)) == 0
        return pix[good].mean()

    parent = levels()  # the task's default ignoreMaskPlanes include DETECTED
    assert parent[galaxyCell] == pytest.approx(reference(["DETECTED"]), rel=1e-12)
    none = levels(task_planes=[])
    assert none[galaxyCell] == pytest.approx(reference([]), rel=1e-12)
    assert none[galaxyCell] > parent[galaxyCell] + 10
    mapperWins = levels(mapper_planes=["DETECTED"], task_planes=[])
    np.testing.assert_array_equal(mapperWins, parent)
    kwargWins = levels(run_kwargs={"ignoreMaskPlanes": []}, mapper_planes=["DETECTED"])
    np.testing.assert_array_equal(kwargWins, none)


def test_background_image_equals_independent_mesh_and_interpolation():
    stats = pytest.importorskip("astropy.stats")
    interpolate = pytest.importorskip("scipy.interpolate")
    exp, truth = _statsExposure()
    planes = ["DETECTED", "BAD"]
    bkg = backgroundImage(exp, 40, borderSize=5, ignoreMaskPlanes=planes, excludePercentile=100)
    assert isinstance(bkg, im.Image) and bkg.getBBox() == exp.getBBox()

    # Independent: grid by the design rules, astropy statistics, scipy interpolation.
    bbox = exp.getBBox()
    boxes0, boxes1 = naiveGrid(bbox, (40, 40), (40, 40), (5, 5), "spacing")
    ignore = exp.mask.getPlaneBitMask(planes)
    xs = sorted({b.getCenter().getX() for b in boxes0})
    ys = sorted({b.getCenter().getY() for b in boxes0})
    levels = np.empty((len(ys), len(xs)))
    for b0, b1 in zip(boxes0, boxes1):
        sl = b1.slices(bbox)
        pix = exp.image.array[sl].astype(float)
        good = ((exp.mask.array[sl] & ignore) == 0) & np.isfinite(pix)
        _, median, _ = stats.sigma_clipped_stats(pix[good])
        levels[ys.index(b0.getCenter().getY()), xs.index(b0.getCenter().getX())] = median
    # Linear, extended beyond the outer cell centres (the outer planes continue).
    interp = interpolate.RegularGridInterpolator(
        (ys, xs), levels, bounds_error=False, fill_value=None
    )
    py = np.arange(bbox.getMinY(), bbox.getMaxY() + 1)
    px = np.arange(bbox.getMinX(), bbox.getMaxX() + 1)
    gy, gx = np.meshgrid(py, px, indexing="ij")
    ref = interp(np.stack([gy.ravel(), gx.ravel()], -1)).reshape(gy.shape)
    # float32 output: 2**-24 relative rounding of values ~100-140.
    np.testing.assert_allclose(bkg.array, ref, rtol=4 * 2.0**-24, atol=0)

    # And it is the right answer: the plane under the noise, up to the edges.
    assert np.abs(bkg.array - truth).max() < 1.5


def test_background_image_numpy_input_and_cubic():
    rng = np.random.default_rng(11)
    y, x = np.mgrid[0:128, 0:160]
    data = 50 + 0.05 * x + 0.02 * y + rng.normal(0, 1, x.shape)
    lin = backgroundImage(data, 32)
    assert isinstance(lin, np.ndarray) and lin.shape == data.shape and lin.dtype == np.float64
    pytest.importorskip("scipy.interpolate")
    cub = backgroundImage(data, 32, method="cubic")
    inner = (slice(16, -16), slice(16, -16))
    truth = 50 + 0.05 * x + 0.02 * y
    assert np.abs(lin - truth)[inner].max() < 0.6
    assert np.abs(cub - truth)[inner].max() < 0.6
    # Cells with no valid pixel are filled from their neighbours.
    mask = np.zeros(data.shape, bool)
    mask[:40, :40] = True
    mesh = backgroundMesh(data, 32, mask=mask, minValidPixels=1, excludePercentile=100)
    assert np.isnan(mesh.levels[0, 0]) and np.isfinite(mesh.levels[1:, 1:]).all()
    filled = backgroundImage(data, 32, mask=mask, minValidPixels=1)
    assert np.isfinite(filled).all()


def test_background_image_equals_the_mesh_reduce_operation():
    # The reducer's 'mesh' operation interpolates the same per-cell levels (in Rust).
    exp, _ = _statsExposure()
    config = _config(BackgroundMapper, 40, border=5, op="mesh")
    config.reducer.meshItem = "background"
    config.ignoreMaskPlanes = ["DETECTED"]
    viaMesh = im.ImageMapReduceTask(config).run(exp).exposure.image.array
    direct = backgroundImage(
        exp, 40, borderSize=5, ignoreMaskPlanes=["DETECTED"], excludePercentile=100
    )
    # Between the outer cell centres (beyond them the reducer holds the outer values
    # constant, backgroundImage continues the outer planes).
    inner = (slice(20, -20), slice(20, -20))
    np.testing.assert_allclose(direct.array[inner], viaMesh[inner], rtol=2 * 2.0**-24)


def test_cell_statistics_equals_numpy_on_the_same_cells():
    exp, _ = _statsExposure()
    config = _config(CellStatisticsMapper, 45, step=30, border=3, op="none")
    config.ignoreMaskPlanes = ["DETECTED"]
    results = im.ImageMapReduceTask(config).run(exp).result
    boxes0, _ = naiveGrid(exp.getBBox(), (45, 45), (30, 30), (3, 3), "none")
    assert [r.bbox for r in results] == boxes0
    bit = exp.mask.getPlaneBitMask("DETECTED")
    for r, b in zip(results, boxes0):
        sl = b.slices(exp.getBBox())
        pix = exp.image.array[sl].astype(float)
        v = pix[np.isfinite(pix) & ((exp.mask.array[sl] & bit) == 0)]
        assert r.nValid == v.size
        if v.size == 0:
            assert math.isnan(r.mean)
            continue
        np.testing.assert_allclose(
            [r.mean, r.median, r.std, r.min, r.max],
            [v.mean(), np.median(v), v.std(), v.min(), v.max()],
            rtol=1e-12,
        )
        assert r.center == (b.getCenter().getX(), b.getCenter().getY())


# ------------------------------------------------------------------ plots


def test_plot_boxes_writes_a_png(tmp_path):
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    exp = _testExposure((100, 130))
    config = _config(GaussianConvolveMapper, 30, border=5)
    task = im.ImageMapReduceTask(config)
    boxes0, _ = task._generateGrid(exp)
    fig = task.plotBoxes(exp.getBBox(), skip=3)
    rects = [p for p in fig.axes[0].patches if isinstance(p, Rectangle)]
    assert len(rects) == 2 * len(range(0, len(boxes0), 3))
    first = rects[0]
    assert first.get_xy() == (boxes0[0].getMinX() - 0.5, boxes0[0].getMinY() - 0.5)
    assert (first.get_width(), first.get_height()) == (boxes0[0].getWidth(), boxes0[0].getHeight())
    path = tmp_path / "grid.png"
    fig.savefig(path)
    plt.close(fig)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert path.stat().st_size > 1000


def test_plot_boxes_needs_a_grid():
    task = im.ImageMapReduceTask(_config(GaussianConvolveMapper, 30))
    with pytest.raises(RuntimeError, match="no grid yet"):
        task.plotBoxes(im.Box2I(im.Point2I(0, 0), im.Extent2I(10, 10)))
