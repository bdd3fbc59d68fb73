"""Reduce operations beyond the reference: weighted, owner, max, min, mesh;
the border check; edge halos and same-shape cells."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import imagemapper as im

ndimage = pytest.importorskip("scipy.ndimage")
interpolate = pytest.importorskip("scipy.interpolate")

SIGMA = 2.0
RADIUS = int(4 * SIGMA + 0.5)  # scipy's footprint radius with truncate=4


# ------------------------------------------------------------------ mappers


class IdentityMapper(im.ImageMapper):
    """Returns a copy of the cell."""

    def run(self, subExposure, expandedSubExposure, fullBBox, **kwargs):
        return im.Struct(subExposure=subExposure.clone())


def cellOffset(box):
    """A pseudo-random offset per cell (0..10)."""
    return float((box.getMinX() * 7919 + box.getMinY() * 104729) % 11)


class OffsetMapper(im.ImageMapper):
    """Adds a cell-dependent constant (a background level that differs from
    cell to cell)."""

    def run(self, subExposure, expandedSubExposure, fullBBox, **kwargs):
        out = subExposure.clone()
        out.image.array[...] += cellOffset(subExposure.getBBox())
        return im.Struct(subExposure=out)


class ExpandedConvolveMapper(im.ImageMapper):
    """Gaussian-convolves the expanded cell (zero outside it) and returns the
    *whole expanded cell*: its outer RADIUS pixels are wrong."""

    def run(self, subExposure, expandedSubExposure, fullBBox, **kwargs):
        out = expandedSubExposure.clone()
        arr = expandedSubExposure.image.array.astype(np.float64)
        out.image.array[...] = ndimage.gaussian_filter(arr, SIGMA, mode="constant", truncate=4)
        return im.Struct(subExposure=out)


class CellConvolveMapper(im.ImageMapper):
    """Gaussian-convolves the expanded cell (zero outside it) and crops to the cell."""

    def run(self, subExposure, expandedSubExposure, fullBBox, **kwargs):
        ebox = expandedSubExposure.getBBox()
        arr = expandedSubExposure.image.array.astype(np.float64)
        conv = ndimage.gaussian_filter(arr, SIGMA, mode="constant", truncate=4)
        out = subExposure.clone()
        out.image.array[...] = conv[subExposure.getBBox().slices(ebox)]
        return im.Struct(subExposure=out)


class ScrambleMapper(im.ImageMapper):
    """A cell-dependent transform with some NaN pixels (for max/min)."""

    def run(self, subExposure, expandedSubExposure, fullBBox, **kwargs):
        out = subExposure.clone()
        b = subExposure.getBBox()
        rng = np.random.default_rng([b.getMinX() + 1000, b.getMinY() + 1000])
        arr = out.image.array
        arr[...] = arr * rng.uniform(0.5, 2.0) + rng.normal(size=arr.shape)
        arr[rng.random(arr.shape) < 0.05] = np.nan
        out.variance.array[...] = rng.uniform(0.5, 2.0, size=arr.shape)
        return im.Struct(subExposure=out)


class MeanMapper(im.ImageMapper):
    """One scalar per cell: the mean of the expanded cell, and a variance."""

    def run(self, subExposure, expandedSubExposure, fullBBox, **kwargs):
        v = float(np.mean(expandedSubExposure.image.array, dtype=np.float64))
        return im.Struct(value=v, valueVar=abs(v) + 1.0)


# ------------------------------------------------------------------ helpers


def makeExposure(h=96, w=128, dtype=np.float64, seed=0, xy0=(0, 0)):
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    img = (np.sin(xx / 9.0) + np.cos(yy / 7.0) + 0.1 * rng.normal(size=(h, w))).astype(dtype)
    var = rng.uniform(0.5, 1.5, size=(h, w)).astype(dtype)
    return im.Exposure.fromArrays(img, variance=var, xy0=xy0)


def makeConfig(mapper, op, cell=32, step=16, border=4, adjust="spacing", **reducer):
    c = im.ImageMapReduceConfig()
    c.mapper.retarget(mapper)
    c.scaleByFwhm = False
    c.cellSizeX = c.cellSizeY = cell
    c.gridStepX = c.gridStepY = step
    c.borderSizeX = c.borderSizeY = border
    c.adjustGridOption = adjust
    c.reducer.reduceOperation = op
    for k, v in reducer.items():
        setattr(c.reducer, k, v)
    return c


def run(config, exposure, **kwargs):
    task = im.ImageMapReduceTask(config)
    return task, task.run(exposure, progress=False, **kwargs)


def boundaryJumps(field, boxes, bbox):
    """Largest |Δ| between x-neighbours across a cell edge, and elsewhere."""
    dx = np.abs(np.diff(field, axis=1))
    edge = np.zeros(dx.shape, bool)
    x0 = bbox.getMinX()
    for b in boxes:
        for x in (b.getMinX() - x0 - 1, b.getMaxX() - x0):
            if 0 <= x < dx.shape[1]:
                edge[:, x] = True
    return float(np.nanmax(dx[edge])), float(np.nanmax(dx[~edge]))


# ------------------------------------------------------------------ weighted


@settings(max_examples=25, deadline=None)
@given(
    cell=st.integers(8, 40),
    stepFrac=st.floats(0.3, 1.0),
    border=st.integers(0, 6),
    adjust=st.sampled_from(["spacing", "none", "size"]),
    window=st.sampled_from(["linear", "cosine", "gaussian"]),
    dtype=st.sampled_from([np.float32, np.float64]),
    h=st.integers(20, 90),
    w=st.integers(20, 90),
)
def test_weighted_identity_reproduces_the_input(
    cell, stepFrac, border, adjust, window, dtype, h, w
):
    exp = makeExposure(h, w, dtype=dtype, xy0=(3, -5))
    step = max(1, int(cell * stepFrac))
    cfg = makeConfig(IdentityMapper, "weighted", cell, step, border, adjust, blendWindow=window)
    _, res = run(cfg, exp)
    out = res.exposure
    rtol = 1e-6 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(out.image.array, exp.image.array, rtol=rtol, atol=rtol)
    np.testing.assert_allclose(out.variance.array, exp.variance.array, rtol=rtol, atol=rtol)
    assert out.image.array.dtype == dtype


@pytest.mark.parametrize("window", ["linear", "cosine", "gaussian"])
def test_weighted_windows_sum_to_one_on_a_regular_grid(window):
    exp = makeExposure(96, 128)
    cfg = makeConfig(IdentityMapper, "weighted", 32, 24, 4, blendWindow=window, returnWeights=True)
    _, res = run(cfg, exp)
    wts = res.weights.array
    assert wts.shape == exp.image.array.shape
    assert res.weights.getXY0() == exp.getXY0()
    np.testing.assert_allclose(wts, 1.0, atol=1e-12)


def test_weighted_offsets_leave_no_seam():
    exp = makeExposure(128, 160)
    results = {}
    for op in ("average", "weighted"):
        task, res = run(makeConfig(OffsetMapper, op, 32, 16, 0), exp)
        field = res.exposure.image.array - exp.image.array  # the blended offsets
        results[op] = boundaryJumps(field, task.boxes0, exp.getBBox())
    wEdge, wInside = results["weighted"]
    aEdge, aInside = results["average"]
    # average steps at cell edges; weighted is as smooth at the edges as
    # inside the cells (offsets differ by up to 10).
    assert aEdge > 2.0 and aInside < 1e-9
    assert wEdge <= 1.05 * wInside + 1e-9
    assert wEdge < 0.5 * aEdge


def test_weighted_against_numpy_reference_with_inverse_variance():
    exp = makeExposure(60, 70, xy0=(10, 20))
    for policy in ("correlated", "independent"):
        cfg = makeConfig(
            ScrambleMapper,
            "weighted",
            24,
            14,
            3,
            blendWindow="linear",
            blendInverseVariance=True,
            blendVariancePolicy=policy,
            returnWeights=True,
        )
        task, res = run(cfg, exp)
        bbox = exp.getBBox()
        mapper = task.mapper
        num = np.zeros(exp.image.array.shape)
        numv = np.zeros_like(num)
        den = np.zeros_like(num)
        boxes = task.boxes0
        for i, (b0, b1) in enumerate(zip(boxes, task.boxes1)):
            cellRes = mapper.run(im.Exposure(exp, b0), im.Exposure(exp, b1), bbox)
            ci = cellRes.subExposure.image.array
            cv = cellRes.subExposure.variance.array
            # naive ramps: largest overlap with a cell reaching beyond each edge
            r = [0, 0, 0, 0]
            for j, n in enumerate(boxes):
                if j == i or not n.overlaps(b0):
                    continue
                if n.getMinX() < b0.getMinX():
                    r[0] = max(r[0], min(n.getMaxX(), b0.getMaxX()) - b0.getMinX() + 1)
                if n.getMaxX() > b0.getMaxX():
                    r[1] = max(r[1], b0.getMaxX() - max(n.getMinX(), b0.getMinX()) + 1)
                if n.getMinY() < b0.getMinY():
                    r[2] = max(r[2], min(n.getMaxY(), b0.getMaxY()) - b0.getMinY() + 1)
                if n.getMaxY() > b0.getMaxY():
                    r[3] = max(r[3], b0.getMaxY() - max(n.getMinY(), b0.getMinY()) + 1)
            r = [min(r[0], b0.getWidth() // 2), min(r[1], b0.getWidth() // 2)] + [
                min(r[2], b0.getHeight() // 2),
                min(r[3], b0.getHeight() // 2),
            ]

            def ramp(t, width):
                return np.where(t < width, (t + 0.5) / max(width, 1), 1.0)

            tx = np.arange(b0.getWidth())
            ty = np.arange(b0.getHeight())
            wx = ramp(tx, r[0]) * ramp(tx[::-1], r[1])
            wy = ramp(ty, r[2]) * ramp(ty[::-1], r[3])
            wgt = wy[:, None] * wx[None, :] / cv
            ok = np.isfinite(ci * cv)
            wgt = np.where(ok, wgt, 0.0)
            sl = b0.slices(bbox)
            num[sl] += wgt * np.where(ok, ci, 0)
            numv[sl] += (wgt**2 if policy == "independent" else wgt) * np.where(ok, cv, 0)
            den[sl] += wgt
        with np.errstate(invalid="ignore", divide="ignore"):
            wantImg = num / den
            wantVar = numv / (den**2 if policy == "independent" else den)
        np.testing.assert_allclose(res.exposure.image.array, wantImg, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(res.exposure.variance.array, wantVar, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(res.weights.array, den, rtol=1e-12)


# ------------------------------------------------------------------ owner


@pytest.mark.parametrize(("adjust", "step"), [("spacing", 32), ("none", 28), ("size", 30)])
def test_owner_with_convolution_equals_whole_image(adjust, step):
    exp = makeExposure(100, 140)
    whole = ndimage.gaussian_filter(exp.image.array, SIGMA, mode="constant", truncate=4)
    diffs = {}
    for op in ("owner", "copy"):
        cfg = makeConfig(ExpandedConvolveMapper, op, 40, step, RADIUS, adjust)
        _, res = run(cfg, exp)
        diffs[op] = float(np.max(np.abs(res.exposure.image.array - whole)))
    assert diffs["owner"] < 1e-12
    assert diffs["copy"] > 1e-3  # later cells' wrong outer borders overwrite


def test_owner_with_the_rust_mapper_equals_whole_image():
    exp = makeExposure(90, 120, dtype=np.float32)
    cfg = makeConfig(im.RustGaussianConvolveMapper, "owner", 30, 20, math.ceil(4 * 1.5))
    cfg.mapper.sigma = 1.5
    _, res = run(cfg, exp)
    ref = makeConfig(im.RustGaussianConvolveMapper, "copy", 200, 200, 0)
    ref.mapper.sigma = 1.5
    _, whole = run(ref, exp)  # one cell: the whole image
    np.testing.assert_array_equal(res.exposure.image.array, whole.exposure.image.array)


def test_owner_picks_the_nearest_centre_regardless_of_order():
    exp = makeExposure(40, 40)
    cfg = makeConfig(OffsetMapper, "owner", 16, 8, 2)
    task, res = run(cfg, exp)
    field = res.exposure.image.array - exp.image.array
    yy, xx = np.mgrid[0:40, 0:40]
    best = np.full((40, 40), np.inf)
    want = np.full((40, 40), np.nan)
    for b in task.boxes0:
        c = b.getCenter()
        d2 = (xx - c.getX()) ** 2 + (yy - c.getY()) ** 2
        inside = np.zeros((40, 40), bool)
        inside[b.slices(exp.getBBox())] = True
        better = inside & (d2 < best)
        best[better] = d2[better]
        want[better] = cellOffset(b)
    np.testing.assert_allclose(field, want, atol=1e-12)


# ------------------------------------------------------------------ max / min


@pytest.mark.parametrize("op", ["max", "min"])
def test_max_min_against_numpy(op):
    exp = makeExposure(70, 90, dtype=np.float32, xy0=(-4, 7))
    task, res = run(makeConfig(ScrambleMapper, op, 24, 10, 2), exp)
    bbox = exp.getBBox()
    stack = []
    for b0, b1 in zip(task.boxes0, task.boxes1):
        r = task.mapper.run(im.Exposure(exp, b0), im.Exposure(exp, b1), bbox).subExposure
        layer = np.full(exp.image.array.shape, np.nan, np.float32)
        ok = np.isfinite(r.image.array * r.variance.array)
        layer[b0.slices(bbox)] = np.where(ok, r.image.array, np.nan)
        stack.append(layer)
    with np.errstate(all="ignore"), pytest.warns(RuntimeWarning):
        want = np.nanmax(stack, axis=0) if op == "max" else np.nanmin(stack, axis=0)
    np.testing.assert_array_equal(res.exposure.image.array, want)
    bad = res.exposure.mask.getPlaneBitMask("INVALID_MAPREDUCE")
    flagged = (res.exposure.mask.array & bad) != 0
    np.testing.assert_array_equal(flagged, np.isnan(want))


# ------------------------------------------------------------------ mesh


def meshReference(task, exp, how):
    bbox = exp.getBBox()
    vals = {}
    for b0, b1 in zip(task.boxes0, task.boxes1):
        c = b0.getCenter()
        vals[(c.getX(), c.getY())] = float(np.mean(exp[b1].image.array, dtype=np.float64))
    xs = np.array(sorted({k[0] for k in vals}))
    ys = np.array(sorted({k[1] for k in vals}))
    grid = np.array([[vals[(x, y)] for x in xs] for y in ys])
    px = np.clip(np.arange(bbox.getMinX(), bbox.getEndX()), xs[0], xs[-1])
    py = np.clip(np.arange(bbox.getMinY(), bbox.getEndY()), ys[0], ys[-1])
    if how == "bilinear":
        gy, gx = np.meshgrid(py, px, indexing="ij")
        interp = interpolate.RegularGridInterpolator((ys, xs), grid, method="linear")
        return interp(np.stack([gy.ravel(), gx.ravel()], -1)).reshape(gy.shape), xs, ys, grid
    # The interpolating tensor-product cubic spline, separably with 1-D FITPACK:
    # along x for every row of nodes, then along y for every pixel column.
    rows = np.array([interpolate.splev(px, interpolate.splrep(xs, g, k=3, s=0)) for g in grid])
    cols = [
        interpolate.splev(py, interpolate.splrep(ys, rows[:, j], k=3, s=0)) for j in range(len(px))
    ]
    return np.array(cols).T, xs, ys, grid


@pytest.mark.parametrize("how", ["bilinear", "bicubic"])
def test_mesh_against_scipy(how):
    exp = makeExposure(100, 130, xy0=(5, -3))
    cfg = makeConfig(MeanMapper, "mesh", 20, 20, 5, meshInterpolation=how)
    cfg.reducer.meshVarianceItem = "valueVar"
    task, res = run(cfg, exp)
    want, xs, ys, grid = meshReference(task, exp, how)
    assert len(xs) >= 4 and len(ys) >= 4
    tol = 1e-12 if how == "bilinear" else 1e-9
    np.testing.assert_allclose(res.exposure.image.array, want, atol=tol)
    # at the nodes the interpolant passes through the values
    bbox = exp.getBBox()
    for iy, y in enumerate(ys):
        for ix, x in enumerate(xs):
            if float(x).is_integer() and float(y).is_integer():
                px, py = int(x) - bbox.getMinX(), int(y) - bbox.getMinY()
                assert res.exposure.image.array[py, px] == pytest.approx(grid[iy, ix], abs=tol)
    assert np.all(res.exposure.variance.array >= 1.0)


def test_mesh_needs_a_regular_grid_and_the_item():
    exp = makeExposure(60, 60)
    cfg = makeConfig(MeanMapper, "mesh", 20, 20, 0)
    cfg.cellCentroidsX = [10.0, 30.0, 50.0]
    cfg.cellCentroidsY = [10.0, 30.0, 10.0]
    with pytest.raises(ValueError, match="regular grid"):
        run(cfg, exp)
    cfg = makeConfig(MeanMapper, "mesh", 20, 20, 0, meshItem="level")
    with pytest.raises(TypeError, match="'level'"):
        run(cfg, exp)


# ------------------------------------------------------------------ determinism


@pytest.mark.parametrize("op", ["weighted", "owner", "max", "min", "mesh"])
def test_new_operations_are_bit_identical_across_workers(op):
    exp = makeExposure(150, 170, dtype=np.float32)
    mapper = MeanMapper if op == "mesh" else ScrambleMapper
    outs = []
    for backend, n in (("serial", 1), ("threads", 2), ("threads", 7)):
        cfg = makeConfig(mapper, op, 24, 12, 3, blendInverseVariance=(op == "weighted"))
        cfg.backend = backend
        cfg.numWorkers = n
        _, res = run(cfg, exp)
        mi = res.exposure.maskedImage
        outs.append(
            (mi.image.array.tobytes(), mi.variance.array.tobytes(), mi.mask.array.tobytes())
        )
    assert outs[0] == outs[1] == outs[2]


def test_reducer_run_directly_matches_the_streaming_task():
    exp = makeExposure(64, 80)
    cfg = makeConfig(OffsetMapper, "weighted", 24, 12, 2, returnWeights=True)
    task, res = run(cfg, exp)
    results = task._runMapper(exp, progress=False)
    reducer = im.ImageReducer(config=cfg.reducer)
    direct = reducer.run(results, exp)
    np.testing.assert_array_equal(direct.exposure.image.array, res.exposure.image.array)
    np.testing.assert_array_equal(direct.weights.array, res.weights.array)


# ------------------------------------------------------------------ border check


def test_check_border_is_zero_for_a_wide_border_and_not_for_a_narrow_one():
    exp = makeExposure(120, 120)
    wide = im.ImageMapReduceTask(makeConfig(CellConvolveMapper, "copy", 32, 32, RADIUS + 2))
    res = wide.checkBorder(exp, nCells=6, seed=3)
    assert len(res.cells) == 6
    assert res.maxDifference < 1e-12
    assert res.border == (RADIUS + 2, RADIUS + 2)
    narrow = im.ImageMapReduceTask(makeConfig(CellConvolveMapper, "copy", 32, 32, 2))
    res = narrow.checkBorder(exp, nCells=6, seed=3)
    assert res.maxDifference > 1e-3
    assert res.maxDifference == max(c.maxDifference for c in res.cells)
    assert narrow.metadata["checkBorderMaxDifference"] == res.maxDifference


# ------------------------------------------------------------------ edge halos


@pytest.mark.parametrize(
    ("edgeMode", "scipyMode", "cval"),
    [("reflect", "reflect", 0.0), ("nearest", "nearest", 0.0), ("constant", "constant", 2.5)],
)
@pytest.mark.parametrize("keep", [False, True])
def test_edge_halos_match_whole_image_modes(edgeMode, scipyMode, cval, keep):
    exp = makeExposure(90, 110)
    cfg = makeConfig(CellConvolveMapper, "owner", 30, 30, RADIUS)
    cfg.edgeMode = edgeMode
    cfg.edgeConstant = cval
    cfg.keepCellShape = keep
    task, res = run(cfg, exp)
    want = ndimage.gaussian_filter(exp.image.array, SIGMA, mode=scipyMode, cval=cval, truncate=4)
    np.testing.assert_allclose(res.exposure.image.array, want, atol=1e-12)
    if keep:
        assert len({(b.getWidth(), b.getHeight()) for b in task.boxes0}) == 1


def test_edge_mode_clip_is_the_reference():
    exp = makeExposure(90, 110)
    cfg = makeConfig(CellConvolveMapper, "owner", 30, 30, RADIUS)
    _, res = run(cfg, exp)
    want = ndimage.gaussian_filter(exp.image.array, SIGMA, mode="constant", truncate=4)
    np.testing.assert_allclose(res.exposure.image.array, want, atol=1e-12)


def test_keep_cell_shape_gives_one_shape_and_covers_the_image():
    exp = makeExposure(100, 75)
    cfg = makeConfig(IdentityMapper, "average", 32, 32, 5, adjust="size")
    ref = im.ImageMapReduceTask(cfg)
    ref._generateGrid(exp)
    assert len({(b.getWidth(), b.getHeight()) for b in ref.boxes0}) > 1
    cfg.keepCellShape = True
    task = im.ImageMapReduceTask(cfg)
    b0, b1 = task._generateGrid(exp)
    assert len({(b.getWidth(), b.getHeight()) for b in b0}) == 1
    assert len({(b.getWidth(), b.getHeight()) for b in b1}) == 1
    covered = np.zeros((100, 75), bool)
    for a, e in zip(b0, b1):
        assert exp.getBBox().contains(e) and e.contains(a)
        covered[a.slices(exp.getBBox())] = True
    assert covered.all()
    res = task.run(exp, progress=False)
    np.testing.assert_array_equal(res.exposure.image.array, exp.image.array)
