"""Property tests (hypothesis) of the whole task over random grids, images
and configs: identity mappers reproduce the input, sums count coverage,
INVALID_MAPREDUCE marks exactly what it should, and results do not depend on
the number of workers."""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import imagemapper as im

SETTINGS = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    derandomize=True,
)


class IdentityMapper(im.ImageMapper):
    _DefaultName = "prop_identity"

    def run(self, subExposure, expandedSubExposure, fullBBox, **kwargs):
        return im.Struct(subExposure=subExposure)


class MixingMapper(im.ImageMapper):
    """A cell-dependent float computation, so that rounding would reveal any
    dependence of the stitched result on the order of operations."""

    _DefaultName = "prop_mixing"

    def run(self, subExposure, expandedSubExposure, fullBBox, **kwargs):
        out = subExposure.clone()
        big = expandedSubExposure.image.array
        finite = big[np.isfinite(big)]
        offset = finite.mean(dtype=np.float64) if finite.size else 0.0
        out.image.array[:] = out.image.array * 1.37 + offset / 3.0
        out.variance.array[:] *= 0.7
        return im.Struct(subExposure=out)


@st.composite
def problems(draw):
    """A random exposure (with NaN, inf and odd values) and grid config."""
    width = draw(st.integers(1, 23))
    height = draw(st.integers(1, 23))
    xy0 = (draw(st.integers(-40, 40)), draw(st.integers(-40, 40)))
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    image = rng.normal(0.0, 100.0, size=(height, width)).astype(dtype)
    variance = rng.uniform(0.5, 4.0, size=(height, width)).astype(dtype)
    nSpecial = draw(st.integers(0, 4))
    for _ in range(nSpecial):
        y, x = rng.integers(height), rng.integers(width)
        kind = draw(st.sampled_from(["nan-image", "nan-var", "inf", "-inf", "zero-var"]))
        if kind == "nan-image":
            image[y, x] = np.nan
        elif kind == "nan-var":
            variance[y, x] = np.nan
        elif kind == "inf":
            image[y, x] = np.inf
        elif kind == "-inf":
            image[y, x] = -np.inf
        else:
            variance[y, x] = 0.0
    mask = rng.integers(0, 4, size=(height, width)).astype(np.int32)
    exposure = im.Exposure.fromArrays(image, mask=mask, variance=variance, xy0=xy0)

    config = im.ImageMapReduceConfig()
    config.scaleByFwhm = False
    config.backend = "serial"
    if draw(st.booleans()):
        n = draw(st.integers(1, 6))
        config.cellCentroidsX = [draw(st.floats(0, width, exclude_max=True)) for _ in range(n)]
        config.cellCentroidsY = [draw(st.floats(0, height, exclude_max=True)) for _ in range(n)]
    config.adjustGridOption = draw(st.sampled_from(["spacing", "size", "none"]))
    size = st.floats(1.0, 30.0)
    config.cellSizeX, config.cellSizeY = draw(size), draw(size)
    config.gridStepX, config.gridStepY = draw(size), draw(size)
    border = st.floats(0.0, 8.0)
    config.borderSizeX, config.borderSizeY = draw(border), draw(border)
    return exposure, config


def runTask(exposure, config, op, mapper=IdentityMapper, **kwargs):
    config.mapper.retarget(mapper)
    config.reducer.reduceOperation = op
    task = im.ImageMapReduceTask(config)
    out = task.run(exposure, **kwargs).exposure
    count = np.zeros(exposure.image.array.shape, dtype=np.int64)
    for box in task.boxes0:
        count[box.slices(exposure.getBBox())] += 1
    return out, count


def validity(exposure):
    """Input pixels that count as valid: image * variance is not NaN (LSST)."""
    with np.errstate(invalid="ignore"):
        return ~np.isnan(exposure.image.array * exposure.variance.array)


def flagged(out):
    return (out.mask.array & out.mask.getPlaneBitMask("INVALID_MAPREDUCE")) != 0


@SETTINGS
@given(problems())
def test_copy_of_identity_reproduces_the_input_where_covered(problem):
    exposure, config = problem
    before = exposure.clone()
    out, count = runTask(exposure, config, "copy")
    good = (count > 0) & validity(exposure)
    np.testing.assert_array_equal(out.image.array[good], exposure.image.array[good])
    np.testing.assert_array_equal(out.variance.array[good], exposure.variance.array[good])
    assert np.isnan(out.image.array[~good]).all()
    # The mask keeps the input's bits wherever a cell (or nothing) landed.
    assert ((out.mask.array & before.mask.array) == before.mask.array).all()
    # INVALID_MAPREDUCE marks exactly the uncovered or invalid pixels.
    np.testing.assert_array_equal(flagged(out), ~good)
    # The input is untouched.
    np.testing.assert_array_equal(exposure.image.array, before.image.array)
    np.testing.assert_array_equal(exposure.mask.array, before.mask.array)


@SETTINGS
@given(problems())
def test_average_of_identity_reproduces_the_input_within_rounding(problem):
    exposure, config = problem
    out, count = runTask(exposure, config, "average")
    good = (count > 0) & validity(exposure)
    eps = np.finfo(exposure.image.array.dtype).eps
    got, want = out.image.array[good], exposure.image.array[good]
    # k equal values summed in the pixel type, divided once: a few ulps.
    np.testing.assert_allclose(got, want, rtol=4 * eps * count.max(), atol=0)
    assert np.isnan(out.image.array[~good]).all()
    np.testing.assert_array_equal(flagged(out), ~good)


@SETTINGS
@given(problems())
def test_sum_of_identity_is_input_times_coverage(problem):
    exposure, config = problem
    out, count = runTask(exposure, config, "sum")
    valid = validity(exposure)
    good = (count > 0) & valid
    eps = np.finfo(exposure.image.array.dtype).eps
    with np.errstate(invalid="ignore"):  # inf * 0 where uncovered
        want = exposure.image.array.astype(np.float64) * count
    np.testing.assert_allclose(
        out.image.array[good], want[good], rtol=4 * eps * max(1, count.max()), atol=0
    )
    # A sum starts at 0 (LSST): nothing valid landed -> 0, not NaN; and
    # (issue 16, not LSST) flagged, exactly there.
    assert (out.image.array[~good] == 0).all()
    np.testing.assert_array_equal(flagged(out), ~good)


@SETTINGS
@given(problems(), st.sampled_from(["copy", "sum", "average"]))
def test_identical_across_worker_counts(problem, op):
    exposure, config = problem
    results = []
    for backend, workers in (("serial", 1), ("threads", 2), ("threads", 5)):
        config.backend = backend
        config.numWorkers = workers
        config.maxCellsInFlight = 0
        out, _ = runTask(exposure, config, op, mapper=MixingMapper)
        results.append(out)
    first = results[0]
    for other in results[1:]:
        for plane in ("image", "variance", "mask"):
            a = getattr(first, plane).array
            b = getattr(other, plane).array
            assert a.tobytes() == b.tobytes(), plane
