"""Bad input: every one gives a clear error or a correct result, never a
crash, a hang or a silently wrong image (issue 7).

Each test names the class of bad input it feeds and checks what the user
sees: the exception type and a message naming the bad value and what was
expected, or the exact result.
"""

from __future__ import annotations

import logging
import math

import lsst.pex.config as pexConfig
import numpy as np
import pytest

import imagemapper as im
import imagemapper.mappers
from imagemapper import _configdoc, _core
from imagemapper.testing import naiveGrid

# ------------------------------------------------------------------ helpers


class IdentityMapper(im.ImageMapper):
    """Returns the (read-only) cell view itself."""

    _DefaultName = "test_identity"

    def run(self, subExposure, expandedSubExposure, fullBBox, **kwargs):
        return im.Struct(subExposure=subExposure)


class CountingMapper(IdentityMapper):
    calls = 0

    def run(self, subExposure, expandedSubExposure, fullBBox, **kwargs):
        type(self).calls += 1
        return super().run(subExposure, expandedSubExposure, fullBBox, **kwargs)


def makeConfig(mapper=IdentityMapper, op="copy", backend="serial", **fields):
    config = im.ImageMapReduceConfig()
    config.mapper.retarget(mapper)
    config.reducer.reduceOperation = op
    config.scaleByFwhm = False
    config.backend = backend
    config.cellSizeX = config.cellSizeY = 8.0
    config.gridStepX = config.gridStepY = 8.0
    config.borderSizeX = config.borderSizeY = 2.0
    for name, value in fields.items():
        setattr(config, name, value)
    return config


def makeExposure(width=24, height=20, xy0=(0, 0), dtype=np.float32, seed=3):
    rng = np.random.default_rng(seed)
    image = rng.normal(100.0, 10.0, size=(height, width)).astype(dtype)
    variance = rng.uniform(1.0, 2.0, size=(height, width)).astype(dtype)
    return im.Exposure.fromArrays(image, variance=variance, xy0=xy0)


def run(exposure, **fields):
    return im.ImageMapReduceTask(makeConfig(**fields)).run(exposure)


def coverage(task, exposure):
    count = np.zeros(exposure.image.array.shape, dtype=np.int64)
    for box in task.boxes0:
        count[box.slices(exposure.getBBox())] += 1
    return count


def invalidBit(exposure):
    return exposure.mask.getPlaneBitMask("INVALID_MAPREDUCE")


# ---------------------------------------------------------- config validation

POSITIVE_FIELDS = ["cellSizeX", "cellSizeY", "gridStepX", "gridStepY"]


@pytest.mark.parametrize("field", POSITIVE_FIELDS)
@pytest.mark.parametrize("value", [0.0, -1.0, math.nan, math.inf])
def test_non_positive_or_non_finite_size_or_step(field, value):
    config = im.ImageMapReduceConfig()
    with pytest.raises(pexConfig.FieldValidationError) as info:
        setattr(config, field, value)
    msg = str(info.value)
    assert f"'{field}'" in msg
    assert f"Value {value!r} is not allowed" in msg
    assert "expected a finite number > 0" in msg


@pytest.mark.parametrize("field", ["borderSizeX", "borderSizeY"])
@pytest.mark.parametrize("value", [-1.0, -0.5, math.nan, math.inf])
def test_negative_border(field, value):
    config = im.ImageMapReduceConfig()
    with pytest.raises(
        pexConfig.FieldValidationError, match=rf"{field}.*expected a finite number >= 0"
    ):
        setattr(config, field, value)


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("numWorkers", -1, r"Value -1 is not allowed; expected an integer >= 0"),
        ("maxCellsInFlight", -3, r"Value -3 is not allowed; expected an integer >= 0"),
    ],
)
def test_negative_execution_counts(field, value, expected):
    with pytest.raises(pexConfig.FieldValidationError, match=expected):
        setattr(im.ImageMapReduceConfig(), field, value)


# Every ranged number of every config: (config class, field, range as written
# in the message, values outside it, values inside it). The ranges are those
# the fields had as bare ``check=`` lambdas before issue 13.
RANGED_FIELDS = [
    (im.ImageMapReduceConfig, "cellSizeX", "(0, inf)", [0.0, -1.0], [1e-3, 64.0]),
    (im.ImageMapReduceConfig, "borderSizeY", "[0, inf)", [-0.5], [0.0, 3.0]),
    (im.ImageMapReduceConfig, "numWorkers", "[0, inf)", [-1], [0, 3]),
    (im.ImageMapReduceConfig, "cellTimeout", "(0, inf)", [0.0, -1.0], [0.5, 2.5]),
    (im.ImageMapReduceConfig, "maxCellsInFlight", "[0, inf)", [-3], [0, 8]),
    (im.ImageReducerConfig, "blendMaxRampFraction", "(0, 1]", [0.0, -0.1, 1.01], [1e-6, 1.0]),
    (im.RustGaussianConvolveConfig, "sigma", "(0, inf)", [0.0, -1.0], [0.1, 5.0]),
    (im.mappers.GaussianConvolveConfig, "sigma", "[0, inf)", [-1e-9], [0.0, 2.0]),
    (im.mappers.GaussianConvolveConfig, "nSigma", "(0, inf)", [0.0], [0.5, 4.0]),
    (im.mappers.PsfMatchMapperConfig, "targetSigma", "(0, inf)", [0.0, -2.0], [3.0]),
    (im.mappers.PsfMatchMapperConfig, "nSigma", "(0, inf)", [0.0], [4.0]),
    (im.mappers.PsfMatchMapperConfig, "psfSize", "[0, inf)", [-1], [0, 25]),
    (im.mappers.BackgroundMapperConfig, "nSigma", "(0, inf)", [0.0, -3.0], [3.0]),
    (im.mappers.BackgroundMapperConfig, "maxIters", "[0, inf)", [-1], [0, 10]),
    (im.mappers.BackgroundMapperConfig, "minValidPixels", "[1, inf)", [0, -5], [1, 100]),
    (
        im.mappers.BackgroundMapperConfig,
        "excludePercentile",
        "[0, 100]",
        [-1.0, 100.5],
        [0.0, 100.0],
    ),
]


@pytest.mark.parametrize(
    ("configClass", "field", "rangeText", "bad", "good"),
    RANGED_FIELDS,
    ids=[f"{c.__name__}.{f}" for c, f, *_ in RANGED_FIELDS],
)
def test_ranged_field_error_names_the_range(configClass, field, rangeText, bad, good):
    config = configClass()
    for value in good:
        setattr(config, field, value)
        assert getattr(config, field) == value
    extra = [math.nan, math.inf, -math.inf] if isinstance(good[0], float) else []
    for value in bad + extra:
        with pytest.raises(pexConfig.FieldValidationError) as info:
            setattr(config, field, value)
        msg = str(info.value)
        assert f"'{field}'" in msg
        assert f"Value {value!r} is not allowed" in msg
        assert rangeText in msg
    # The range is documented, in the field's docstring and the config reference.
    assert rangeText in type(config)._fields[field].__doc__
    assert f"Range: `{rangeText}`" in _configdoc._doc(type(config)._fields[field])


def test_ranged_field_value_smuggled_past_assignment_is_caught_by_validate():
    config = im.mappers.BackgroundMapperConfig()
    config._storage["excludePercentile"] = 150.0
    with pytest.raises(pexConfig.FieldValidationError, match=r"150\.0.*\[0, 100\]"):
        config.validate()


def test_every_ranged_config_field_is_tested():
    """A new ranged field joins RANGED_FIELDS (or POSITIVE_FIELDS and the
    border tests above), and so gets its error message checked."""
    ranged = {
        (cls.__name__, name)
        for _, cls in _configdoc.configClasses()
        for name, field in cls._fields.items()
        if isinstance(field, pexConfig.RangeField)
    }
    tested = {(c.__name__, f) for c, f, *_ in RANGED_FIELDS}
    tested |= {("ImageMapReduceConfig", f) for f in POSITIVE_FIELDS}
    tested |= {("ImageMapReduceConfig", f) for f in ("borderSizeX", "borderSizeY")}
    assert ranged == tested


def test_bad_value_smuggled_past_assignment_is_caught_by_validate():
    config = makeConfig()
    config._storage["cellSizeX"] = -5.0  # e.g. a config file edited by hand
    with pytest.raises(pexConfig.FieldValidationError, match=r"cellSizeX.*-5\.0.*expected"):
        config.validate()


@pytest.mark.parametrize(
    ("path", "value", "allowed"),
    [
        ("reducer.reduceOperation", "median", "none, copy, sum, average, coaddPsf"),
        ("adjustGridOption", "spacings", "spacing, size, none"),
        ("backend", "thread", "serial, threads, processes, dask"),
        ("onMapperError", "ignore", "raise, mask"),
    ],
)
def test_unknown_choice(path, value, allowed):
    config = im.ImageMapReduceConfig()
    owner, _, name = path.rpartition(".")
    target = config.reducer if owner else config
    with pytest.raises(pexConfig.FieldValidationError) as info:
        setattr(target, name, value)
    assert f"Value {value} is not allowed" in str(info.value)
    assert allowed in str(info.value)


@pytest.mark.parametrize(("cx", "cy"), [([1.0, 2.0], [1.0]), ([1.0], []), ([], [3.0])])
def test_centroid_lists_of_different_lengths(cx, cy):
    config = makeConfig(cellCentroidsX=cx, cellCentroidsY=cy)
    with pytest.raises(
        pexConfig.FieldValidationError,
        match=rf"cellCentroidsX has {len(cx)} values but cellCentroidsY has {len(cy)}",
    ):
        config.validate()
    with pytest.raises(pexConfig.FieldValidationError):
        im.ImageMapReduceTask(config).run(makeExposure())


@pytest.mark.parametrize(
    ("x", "y"), [(-1.0, 5.0), (24.0, 5.0), (5.0, 20.0), (5.0, -0.5), (-30.0, 1.0)]
)
def test_centroid_outside_the_image_warns_and_keeps_reference_boxes(x, y, caplog):
    config = makeConfig(cellCentroidsX=[4.0, x], cellCentroidsY=[4.0, y])
    exposure = makeExposure(24, 20)
    task = im.ImageMapReduceTask(config)
    with caplog.at_level("WARNING"):
        task.run(exposure)
    msgs = " ".join(r.getMessage() for r in caplog.records)
    assert f"cellCentroidsX[1], cellCentroidsY[1] = ({x!r}, {y!r}) is outside the exposure" in msgs
    assert "expected 0 <= x < 24 and 0 <= y < 20" in msgs
    c = task.config
    expected = naiveGrid(
        exposure.getBBox(),
        (c.cellSizeX, c.cellSizeY),
        (1, 1),
        (c.borderSizeX, c.borderSizeY),
        centroids=[(4.0, 4.0), (x, y)],
    )
    assert (task.boxes0, task.boxes1) == expected


def test_centroid_beyond_32_bits_is_an_error():
    config = makeConfig(cellCentroidsX=[4.0, 1e30], cellCentroidsY=[4.0, 1.0])
    with pytest.raises(ValueError, match=r"cellCentroidsX\[1\] = 1e30 is out of range"):
        im.ImageMapReduceTask(config).run(makeExposure(24, 20))


def test_centroids_in_parent_coordinates_get_a_hint(caplog):
    # A classic mistake: centroids given in parent coordinates of an exposure with xy0.
    exposure = makeExposure(24, 20, xy0=(1000, 2000))
    config = makeConfig(cellCentroidsX=[1005.0], cellCentroidsY=[2005.0])
    with caplog.at_level("WARNING"):
        im.ImageMapReduceTask(config).run(exposure)
    assert "relative to the exposure's origin xy0 = (1000, 2000)" in caplog.text


def test_non_finite_centroid():
    config = makeConfig(cellCentroidsX=[math.nan], cellCentroidsY=[3.0])
    with pytest.raises(ValueError, match=r"\(nan, 3\.0\) is not finite"):
        im.ImageMapReduceTask(config).run(makeExposure())


def test_centroids_inside_image_match_explicit_boxes():
    exposure = makeExposure(24, 20, xy0=(-7, 11))
    config = makeConfig(cellCentroidsX=[0.0, 23.9], cellCentroidsY=[0.0, 19.5])
    task = im.ImageMapReduceTask(config)
    task.run(exposure)
    assert [b.getMin() for b in task.boxes0] == [im.Point2I(-7, 11), im.Point2I(12, 26)]


def test_border_larger_than_the_image():
    exposure = makeExposure(24, 20)
    task = im.ImageMapReduceTask(makeConfig(borderSizeX=1000.0, borderSizeY=5000.0))
    out = task.run(exposure).exposure
    assert all(b == exposure.getBBox() for b in task.boxes1)
    np.testing.assert_array_equal(out.image.array, exposure.image.array)


def test_cell_size_too_large_for_32_bits():
    with pytest.raises(ValueError, match=r"cellSizeX = 1000000000000\.0 rounds to .* 32-bit"):
        run(makeExposure(), cellSizeX=1e12)


def test_sizes_that_round_to_zero_pixels():
    exposure = makeExposure()
    exposure.setPsf(im.GaussianPsf(11, 11, 1.0))
    with pytest.raises(ValueError, match=r"gridStepY = 0\.01 x FWHM .* rounds to 0 pixels"):
        run(exposure, scaleByFwhm=True, adjustGridOption="none", gridStepY=0.01)
    with pytest.raises(
        ValueError, match=r"cellSizeX = 0\.4 rounds to 0 pixels; expected at least 1"
    ):
        run(makeExposure(), cellSizeX=0.4)


def test_grid_with_too_many_cells_is_refused_before_it_is_built():
    huge = im.Box2I(im.Point2I(0, 0), im.Extent2I(2**30, 2**30))
    with pytest.raises(ValueError, match=r"expected at most 67108864 cells"):
        _core.generate_grid(huge, cell_size=(1, 1), grid_step=(1, 1), border_size=(0, 0))


def test_scale_by_fwhm_without_psf():
    with pytest.raises(ValueError, match=r"scaleByFwhm is True but the exposure has no PSF"):
        run(makeExposure(), scaleByFwhm=True)


def test_force_even_sized_impossible():
    # An odd-sized exposure entirely covered by one cell cannot be made even.
    task = im.ImageMapReduceTask(makeConfig(cellSizeX=40.0, cellSizeY=40.0))
    with pytest.raises(RuntimeError, match=r"Cannot make bounding box .* even-sized"):
        task.run(makeExposure(23, 21), forceEvenSized=True)


def test_run_time_execution_overrides_are_checked():
    task = im.ImageMapReduceTask(makeConfig())
    with pytest.raises(ValueError, match=r"numWorkers=-2 must be an integer >= 0"):
        task.run(makeExposure(), numWorkers=-2)
    with pytest.raises(ValueError, match=r"backend='gpu' is not one of"):
        task.run(makeExposure(), backend="gpu")


def test_absurd_worker_count_does_not_spawn_a_million_threads():
    exposure = makeExposure()
    out = run(exposure, backend="threads", numWorkers=10**6).exposure
    np.testing.assert_array_equal(out.image.array, exposure.image.array)


# ------------------------------------------------------------------- images


def test_zero_size_exposure():
    for exposure in (im.Exposure(0, 0), im.Exposure(0, 5)):
        with pytest.raises(ValueError, match=r"exposure is 0 x \d+ pixels; expected at least 1"):
            run(exposure)


@pytest.mark.parametrize("op", ["copy", "average"])
def test_one_pixel_exposure_has_no_cell(op, caplog):
    # LSST keeps only cells of more than one pixel: a 1x1 exposure gets none;
    # the result is NaN and flagged, with a warning.
    exposure = makeExposure(1, 1)
    with caplog.at_level(logging.WARNING):
        out = run(exposure, op=op).exposure
    assert np.isnan(out.image.array).all()
    assert (out.mask.array & invalidBit(out)).all()
    assert "has no cell" in caplog.text


@pytest.mark.parametrize("shape", [(1, 9), (9, 1), (2, 2)])
def test_thin_exposures(shape):
    exposure = makeExposure(width=shape[1], height=shape[0])
    out = run(exposure, cellSizeX=3.0, cellSizeY=3.0).exposure
    np.testing.assert_array_equal(out.image.array, exposure.image.array)


@pytest.mark.parametrize("adjust", ["spacing", "size", "none"])
@pytest.mark.parametrize("op", ["copy", "sum", "average"])
def test_cells_larger_than_the_image(adjust, op):
    exposure = makeExposure(24, 20)
    config = makeConfig(
        op=op, adjustGridOption=adjust, cellSizeX=100.0, cellSizeY=64.0, gridStepX=50.0
    )
    task = im.ImageMapReduceTask(config)
    out = task.run(exposure).exposure
    count = coverage(task, exposure)
    assert (count >= 1).all()
    want = exposure.image.array * count if op == "sum" else exposure.image.array
    np.testing.assert_allclose(out.image.array, want, rtol=1e-6)


@pytest.mark.parametrize("xy0", [(-1000, 37), (2**31 - 100, -(2**31)), (-(2**31), 2**31 - 50)])
def test_non_zero_xy0(xy0):
    exposure = makeExposure(24, 20, xy0=xy0)
    task = im.ImageMapReduceTask(makeConfig())
    out = task.run(exposure).exposure
    assert out.getXY0() == im.Point2I(*xy0)
    assert all(exposure.getBBox().contains(b) for b in task.boxes1)
    np.testing.assert_array_equal(out.image.array, exposure.image.array)


@pytest.mark.parametrize(
    ("dtype", "want"),
    [
        (np.float32, np.float32),
        (np.float64, np.float64),
        (">f4", np.float32),
        (">f8", np.float64),
        (np.float16, np.float32),
        (np.int16, np.float32),
        (">i2", np.float32),
        (np.uint8, np.float32),
        (np.int32, np.float64),
        (np.int64, np.float64),
    ],
)
def test_pixel_dtypes(dtype, want):
    # FITS gives big-endian arrays; integer images are promoted to a float
    # type that holds them exactly.
    image = (np.arange(24 * 20) % 200).reshape(20, 24).astype(dtype)
    exposure = im.Exposure.fromArrays(image, variance=np.ones(image.shape, dtype=dtype))
    out = run(exposure, op="average").exposure
    assert out.image.array.dtype == np.dtype(want)
    assert out.image.array.dtype.isnative
    np.testing.assert_array_equal(out.image.array, image.astype(want))


@pytest.mark.parametrize("dtype", [np.complex64, bool, object, "U3"])
def test_unsupported_pixel_dtypes(dtype):
    with pytest.raises(TypeError, match=r"float or integer dtype"):
        im.Exposure.fromArrays(np.zeros((4, 4), dtype=dtype))


def test_not_a_2d_array():
    with pytest.raises(ValueError, match=r"2-d array, got shape \(2, 3, 4\)"):
        im.Exposure.fromArrays(np.zeros((2, 3, 4), dtype=np.float32))


def test_variance_of_the_wrong_shape():
    with pytest.raises(ValueError, match=r"\(5, 4\)"):
        im.Exposure.fromArrays(np.zeros((4, 5), np.float32), variance=np.zeros((5, 4), np.float32))


def _layouts():
    base = np.random.default_rng(0).normal(size=(40, 48)).astype(np.float32)
    readonly = base[:20, :24].copy()
    readonly.flags.writeable = False
    return {
        "fortran": np.asfortranarray(base[:20, :24]),
        "strided": base[::2, ::2],
        "reversed": base[::-1, ::-1][:20, :24],
        "transposed": base.T[:24, :20],
        "readonly": readonly,
        "big-endian-fortran": np.asfortranarray(base[:20, :24].astype(">f4")),
    }


@pytest.mark.parametrize("layout", list(_layouts()))
@pytest.mark.parametrize("backend", ["serial", "threads"])
def test_array_layouts(layout, backend):
    arr = _layouts()[layout]
    before = arr.copy()
    exposure = im.Exposure.fromArrays(arr, variance=np.ones(arr.shape, np.float32))
    out = run(exposure, backend=backend, numWorkers=3).exposure
    np.testing.assert_array_equal(out.image.array, before)
    np.testing.assert_array_equal(arr, before)  # the input is untouched
    if layout == "readonly":
        assert not arr.flags.writeable


def test_processes_backend_with_odd_layouts():
    arr = _layouts()["big-endian-fortran"]
    exposure = im.Exposure.fromArrays(arr, variance=np.ones(arr.shape, np.float32))
    out = run(exposure, backend="processes", numWorkers=2).exposure
    np.testing.assert_array_equal(out.image.array, arr)


def _specialPixels():
    image = np.arange(20 * 24, dtype=np.float32).reshape(20, 24)
    variance = np.ones_like(image)
    image[3, 4] = np.nan
    image[5, 6] = np.inf
    image[7, 8] = -np.inf
    variance[9, 9] = np.nan
    variance[10, 10] = np.inf
    image[11, 11] = np.inf
    variance[11, 11] = 0.0  # inf * 0 is NaN: invalid under the image * variance rule
    return image, variance


@pytest.mark.parametrize("op", ["copy", "average", "sum"])
def test_inf_and_nan_pixels(op):
    image, variance = _specialPixels()
    exposure = im.Exposure.fromArrays(image, variance=variance)
    task = im.ImageMapReduceTask(makeConfig(op=op))
    out = task.run(exposure).exposure
    count = coverage(task, exposure)
    with np.errstate(invalid="ignore"):
        invalid = np.isnan(image * variance)
    assert invalid.sum() == 3
    res = out.image.array
    # inf pixels with a finite variance are valid data: they come through.
    assert res[5, 6] == np.inf and res[7, 8] == -np.inf
    assert res[10, 10] == image[10, 10] * (count[10, 10] if op == "sum" else 1)
    flagged = (out.mask.array & invalidBit(out)) != 0
    if op == "sum":
        # A sum starts at 0 (as in LSST), so a pixel with no valid
        # contribution is 0; unlike LSST it is flagged (issue 16).
        assert (res[invalid] == 0).all()
        np.testing.assert_array_equal(flagged, invalid)
    else:
        assert np.isnan(res[invalid]).all()
        np.testing.assert_array_equal(flagged, invalid)
    ok = ~invalid & np.isfinite(image)
    want = image * count if op == "sum" else image
    np.testing.assert_allclose(res[ok], want[ok], rtol=1e-6)


def test_all_nan_image():
    image = np.full((20, 24), np.nan, np.float32)
    out = run(im.Exposure.fromArrays(image), op="average").exposure
    assert np.isnan(out.image.array).all()
    assert (out.mask.array & invalidBit(out)).all()


def test_mask_with_every_bit_set():
    exposure = makeExposure()
    exposure.mask.array[:] = -1  # all 32 bits
    out = run(exposure).exposure
    assert (out.mask.array == -1).all()
    assert (exposure.mask.array == -1).all()


def test_mask_with_every_plane_in_use_fails_before_mapping():
    exposure = makeExposure()
    mask = exposure.mask
    i = 0
    while mask.getNumPlanesUsed() < mask.getNumPlanesMax():
        mask.addMaskPlane(f"USER{i}")
        i += 1
    CountingMapper.calls = 0
    with pytest.raises(ValueError) as info:
        run(exposure, mapper=CountingMapper)
    msg = str(info.value)
    assert "badMaskPlanes" in msg and "'INVALID_MAPREDUCE'" in msg and "no room" in msg
    assert CountingMapper.calls == 0
    # With no bad planes to add, the same exposure goes through.
    config = makeConfig()
    config.reducer.badMaskPlanes = []
    out = im.ImageMapReduceTask(config).run(exposure).exposure
    np.testing.assert_array_equal(out.image.array, exposure.image.array)


def test_missing_variance():
    image = np.arange(20 * 24, dtype=np.float64).reshape(20, 24)
    exposure = im.Exposure.fromArrays(image)
    assert (exposure.variance.array == 0).all()
    out = run(exposure, op="average").exposure
    np.testing.assert_array_equal(out.image.array, image)
    np.testing.assert_array_equal(out.variance.array, 0.0)
    assert not (out.mask.array & invalidBit(out)).any()


# --------------------------------------------------------- mapper misbehaviour


def _mapper(fn, name):
    return type(name, (im.ImageMapper,), {"run": lambda self, s, e, f, **kw: fn(s, e, f)})


def _clone(sub):
    return sub.clone()


def _outside(sub):
    return im.Exposure(im.Box2I(im.Point2I(1000, 1000), im.Extent2I(5, 5)))


def _shifted(sub):
    out = sub.clone()
    out.setXY0(im.Point2I(sub.getX0() + 3, sub.getY0()))
    return out


BACKENDS = ["serial", "threads"]


@pytest.mark.parametrize("backend", BACKENDS)
def test_mapper_returns_an_exposure_outside_the_parent(backend):
    mapper = _mapper(lambda s, e, f: im.Struct(subExposure=_outside(s)), "OutsideMapper")
    with pytest.raises(ValueError) as info:
        run(makeExposure(), mapper=mapper, backend=backend)
    msg = str(info.value)
    assert "Mapper result for cell 0" in msg
    assert "Box2I(minimum=Point2I(1000, 1000), dimensions=Extent2I(5, 5))" in msg
    assert "is not inside the input exposure's box" in msg


@pytest.mark.parametrize("backend", BACKENDS)
def test_wrong_bbox_names_the_cell_not_its_place_in_a_batch(backend):
    # Only the cells at the right edge overflow; the message names the real
    # cell index (not its position within a batch of results).
    mapper = _mapper(lambda s, e, f: im.Struct(subExposure=_shifted(s)), "ShiftedMapper")
    exposure = makeExposure(24, 20)
    task = im.ImageMapReduceTask(makeConfig(mapper=mapper, backend=backend, numWorkers=2))
    with pytest.raises(ValueError) as info:
        task.run(exposure)
    first = next(i for i, b in enumerate(task.boxes0) if b.getMaxX() + 3 > 23)
    assert first > 0
    assert f"Mapper result for cell {first}:" in str(info.value)


def test_mapper_returns_arrays_of_the_wrong_shape():
    def badShape(s, e, f):
        out = s.clone()
        out.variance._set(np.zeros((3, 3), np.float32), out.getX0(), out.getY0())
        return im.Struct(subExposure=out)

    with pytest.raises(
        ValueError, match=r"cell 0: its subExposure's variance array has shape \(3, 3\)"
    ):
        run(makeExposure(), mapper=_mapper(badShape, "BadShapeMapper"))


def test_mapper_returns_the_expanded_cell():
    # Documented: each result is stitched into its own box, whatever it is,
    # as long as it lies inside the exposure.
    mapper = _mapper(lambda s, e, f: im.Struct(subExposure=e), "ExpandedMapper")
    exposure = makeExposure()
    out = run(exposure, mapper=mapper, op="average").exposure
    np.testing.assert_allclose(out.image.array, exposure.image.array, rtol=1e-6)


@pytest.mark.parametrize(
    ("result", "found"),
    [
        (None, "no 'subExposure' item"),
        (im.Struct(subExposure=None), "no 'subExposure' item"),
        (im.Struct(other=1), "no 'subExposure' item"),
        (im.Struct(subExposure=np.zeros((8, 8))), "subExposure of type ndarray"),
    ],
)
def test_mapper_returns_no_exposure(result, found):
    mapper = _mapper(lambda s, e, f: result, "NoExposureMapper")
    with pytest.raises(TypeError) as info:
        run(makeExposure(), mapper=mapper)
    msg = str(info.value)
    assert f"Mapper result for cell 0 has {found}" in msg
    assert "reduceOperation='none'" in msg


def test_mapper_returning_none_is_fine_with_reduce_none():
    mapper = _mapper(lambda s, e, f: None, "NoneMapper")
    task = im.ImageMapReduceTask(makeConfig(mapper=mapper, op="none"))
    assert task.run(makeExposure()).result == [None] * len(task.boxes0)


@pytest.mark.parametrize("backend", BACKENDS)
def test_mapper_raises(backend):
    def boom(s, e, f):
        if s.getBBox().getMinX() > 0:
            raise KeyError("boom")
        return im.Struct(subExposure=s)

    exposure = makeExposure()
    task = im.ImageMapReduceTask(makeConfig(mapper=_mapper(boom, "BoomMapper"), backend=backend))
    with pytest.raises(im.MapperError) as info:
        task.run(exposure)
    first = next(i for i, b in enumerate(task.boxes0) if b.getMinX() > 0)
    assert f"mapper.run failed on cell {first} " in str(info.value)
    assert isinstance(info.value.__cause__, KeyError)
    # onMapperError='mask': the failed cells' pixels are flagged, not invented.
    res = task.run(exposure, onMapperError="mask")
    assert [f.index for f in res.failedCells] == [
        i for i, b in enumerate(task.boxes0) if b.getMinX() > 0
    ]
    out = res.exposure
    flagged = (out.mask.array & invalidBit(out)) != 0
    # Every pixel a failed cell would have contributed to is flagged, even
    # where another cell gave it a value; and every pixel with no value.
    reach = np.zeros(flagged.shape, bool)
    for f in res.failedCells:
        reach[f.bbox.slices(exposure.getBBox())] = True
    np.testing.assert_array_equal(flagged, reach | np.isnan(out.image.array))
    assert (reach & ~np.isnan(out.image.array)).any()
    assert flagged.any() and not flagged.all()
    assert task.metadata["numBadPixels"] == int(flagged.sum())


def test_mapper_raising_base_exception_is_not_swallowed():
    def interrupt(s, e, f):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run(makeExposure(), mapper=_mapper(interrupt, "InterruptMapper"), onMapperError="mask")


MUTATIONS = [
    lambda s: s.image.array.__setitem__(slice(None), 0.0),
    lambda s: s.maskedImage.__iadd__(1.0),
    lambda s: s.mask.array.__ior__(1),
    lambda s: setattr(s.image.array.flags, "writeable", True),
    lambda s: np.copyto(s.variance.array, 7.0),
]
MUTATION_IDS = ["assign", "iadd", "mask-or", "flip-writeable-flag", "copyto"]


def _mutatingMapper(mutate):
    def mutating(s, e, f):
        mutate(s)
        return im.Struct(subExposure=s)

    return _mapper(mutating, "MutatingMapper")


def _assertUnchanged(exposure, before):
    for plane in ("image", "mask", "variance"):
        np.testing.assert_array_equal(getattr(exposure, plane).array, getattr(before, plane).array)
    assert exposure.mask.getMaskPlaneDict() == before.mask.getMaskPlaneDict()


@pytest.mark.parametrize("mutate", MUTATIONS, ids=MUTATION_IDS)
@pytest.mark.parametrize("backend", BACKENDS)
def test_mapper_may_write_its_cells_and_the_input_is_untouched(mutate, backend):
    exposure = makeExposure()
    before = exposure.clone()
    out = run(
        exposure, mapper=_mutatingMapper(mutate), backend=backend, op="copy", numWorkers=2
    ).exposure
    _assertUnchanged(exposure, before)
    # The mutation reached the output: each cell's own copy was written.
    expected = before.clone()
    mutate(expected)
    for plane in ("image", "mask", "variance"):
        np.testing.assert_array_equal(getattr(out, plane).array, getattr(expected, plane).array)


@pytest.mark.parametrize("mutate", MUTATIONS, ids=MUTATION_IDS)
@pytest.mark.parametrize("backend", BACKENDS)
def test_read_only_cells_refuse_writes(mutate, backend):
    exposure = makeExposure()
    before = exposure.clone()
    with pytest.raises(im.MapperError) as info:
        run(exposure, mapper=_mutatingMapper(mutate), backend=backend, readOnlyCells=True)
    assert "mapper.run failed on cell 0" in str(info.value)
    assert isinstance(info.value.__cause__, ValueError)
    _assertUnchanged(exposure, before)


def test_mapper_may_mutate_clones():
    def mutating(s, e, f):
        s.maskedImage += 1.0
        return im.Struct(subExposure=s)

    exposure = makeExposure()
    before = exposure.image.array.copy()
    task = im.ImageMapReduceTask(makeConfig(mapper=_mapper(mutating, "CloneMutator")))
    out = task.run(exposure, doClone=True).exposure
    np.testing.assert_array_equal(exposure.image.array, before)
    np.testing.assert_allclose(out.image.array, before + 1.0, rtol=1e-6)


@pytest.mark.parametrize(
    ("inDtype", "outDtype"), [(np.float32, np.float64), (np.float64, np.float32)]
)
def test_mapper_returns_a_different_dtype(inDtype, outDtype):
    # Documented: results are cast to the input's pixel type.
    def recast(s, e, f):
        out = im.Exposure.fromArrays(
            s.image.array.astype(outDtype),
            mask=s.mask.array,
            variance=s.variance.array.astype(outDtype),
            xy0=(s.getX0(), s.getY0()),
        )
        return im.Struct(subExposure=out)

    exposure = makeExposure(dtype=inDtype)
    out = run(exposure, mapper=_mapper(recast, "RecastMapper")).exposure
    assert out.image.array.dtype == inDtype
    want = exposure.image.array.astype(outDtype).astype(inDtype)
    np.testing.assert_array_equal(out.image.array, want)


def test_mapper_returns_a_non_struct_with_return_sub_images():
    mapper = _mapper(lambda s, e, f: s, "BareExposureMapper")
    with pytest.raises(im.MapperError, match=r"cell 0 .*returned Exposure, expected a Struct"):
        run(makeExposure(), mapper=mapper, returnSubImages=True)


class OutsideMapper(im.ImageMapper):
    """Module level, so that it pickles for the process backend."""

    _DefaultName = "test_outside"

    def run(self, subExposure, expandedSubExposure, fullBBox, **kwargs):
        if subExposure.getBBox().getMinX() > 0:
            raise ArithmeticError("planted")
        return im.Struct(subExposure=subExposure)


def test_mapper_errors_cross_processes():
    task = im.ImageMapReduceTask(
        makeConfig(mapper=OutsideMapper, backend="processes", numWorkers=2)
    )
    with pytest.raises(im.MapperError, match=r"ArithmeticError\('planted'\)") as info:
        task.run(makeExposure())
    assert isinstance(info.value.__cause__, ArithmeticError)


# --------------------------------------------------- the Rust boundary (FFI)


def test_rust_panic_becomes_runtime_error():
    # A panic inside the core must not surface as pyo3's PanicException
    # (a BaseException that `except Exception` does not catch).
    with pytest.raises(RuntimeError, match=r"internal error in imagemapper's Rust core.*boom"):
        _core._panic_for_tests("boom")
    try:
        _core._panic_for_tests("again")
    except Exception as err:  # the point of the test: a plain Exception
        assert type(err) is RuntimeError
    # The module still works afterwards.
    assert _core.generate_grid(
        im.Box2I(im.Point2I(0, 0), im.Extent2I(4, 4)),
        cell_size=(2, 2),
        grid_step=(2, 2),
        border_size=(0, 0),
    )


@pytest.mark.parametrize(
    ("expr", "match"),
    [
        (lambda: im.Point2I(2**31 - 1, 0) + im.Extent2I(1, 0), r"2147483647 \+ 1 does not fit"),
        (lambda: im.Point2I(-(2**31), 0) - im.Point2I(1, 0), r"-2147483648 - 1 does not fit"),
        (lambda: im.Point2I(0, -(2**31)) - im.Extent2I(0, 1), r"does not fit"),
        (lambda: -im.Extent2I(-(2**31), 0), r"0 - -2147483648 does not fit"),
        (lambda: im.Extent2I(2**16, 1) * 2**16, r"65536 \* 65536 does not fit"),
        (lambda: im.Extent2I(2**30, 0) + im.Extent2I(2**30, 0), r"does not fit"),
    ],
)
def test_integer_geometry_overflow_raises(expr, match):
    with pytest.raises(OverflowError, match=match):
        expr()


@pytest.mark.parametrize(
    "args",
    [(2**31, 0), (0, -(2**31) - 1), (2**63, 0)],
)
def test_out_of_range_coordinates(args):
    with pytest.raises(OverflowError):
        im.Point2I(*args)


def test_box_arithmetic_near_the_32_bit_edge():
    with pytest.raises(ValueError, match=r"32-bit"):
        im.Box2I(im.Point2I(0, 0), im.Extent2I(2**31 - 1, 1)).shift(im.Extent2I(5, 0))
    big = im.Box2I(im.Point2I(-(2**30), -(2**30)), im.Extent2I(2**31 - 1, 2**31 - 1))
    assert big.getArea() == (2**31 - 1) ** 2  # past 2**31 pixels, exact
    assert big.getMaxX() == 2**30 - 2
    corner = im.Box2I(im.Point2I(2**30 - 11, 2**30 - 21), im.Extent2I(10, 20))
    sy, sx = corner.slices(big)
    assert (sy.start, sx.start) == (2**31 - 21, 2**31 - 11)
    assert (sy.stop - sy.start, sx.stop - sx.start) == (20, 10)


def test_grid_over_a_box_past_2_31_pixels():
    # No pixel is allocated: the grid is computed on the box alone.
    frame = im.Box2I(im.Point2I(-(2**31), 7), im.Extent2I(2**31 - 1, 2**20))
    boxes0, boxes1 = _core.generate_grid(
        frame, cell_size=(2**27, 2**18), grid_step=(1, 1), border_size=(2**26, 100)
    )
    assert len(boxes0) == (frame.getWidth() // 2**27 + 1) * (2**20 // 2**18 + 1)
    for b0, b1 in zip(boxes0, boxes1):
        assert frame.contains(b1) and b1.contains(b0)
        sy, sx = b0.slices(frame)
        assert sx.start == b0.getMinX() - frame.getMinX()
        assert sy.start == b0.getMinY() - frame.getMinY()
    last = boxes0[-1]
    assert last.getMaxX() == frame.getMaxX() and last.getMaxY() == frame.getMaxY()
    assert last.slices(frame)[1].stop == frame.getWidth() > 2**30


def test_reducer_output_too_large_to_allocate():
    huge = im.Box2I(im.Point2I(0, 0), im.Extent2I(2**31 - 1, 2**20))
    with pytest.raises(MemoryError, match=r"cannot allocate the image plane of 1048576 x"):
        _core.Reducer("copy", huge, np.float64)


@pytest.mark.parametrize(
    ("kwargs", "exc", "match"),
    [
        (dict(op="median"), ValueError, r"reduceOperation \"median\" cannot be stitched"),
        (dict(dtype=np.int32), TypeError, r"float32 or float64, got int32"),
        (dict(dtype="no such type"), TypeError, r"not a numpy dtype"),
        (
            dict(mask=np.zeros((4, 4), np.int64)),
            TypeError,
            r"output mask: expected .*int32, got int64",
        ),
        (dict(mask=np.zeros((4, 3), np.int32)), ValueError, r"mask has shape \(4, 3\)"),
        (dict(window="box"), ValueError, r"blend window \"box\" is unknown"),
        (dict(max_ramp_fraction=0.0), ValueError, r"ramp fraction 0 must be in \(0, 1\]"),
    ],
)
def test_reducer_argument_errors(kwargs, exc, match):
    args = dict(op="copy", dtype=np.float32, mask=np.zeros((4, 4), np.int32))
    args.update(kwargs)
    box = im.Box2I(im.Point2I(0, 0), im.Extent2I(4, 4))
    op, dtype = args.pop("op"), args.pop("dtype")
    with pytest.raises(exc, match=match):
        _core.Reducer(op, box, dtype, **args)


def test_rust_mapper_with_an_absurd_sigma_is_refused_not_aborted():
    # sigma = 1e12 used to ask for a 8e12-element kernel (the allocator
    # aborts the process, no exception); now it is a ValueError naming it.
    config = makeConfig(mapper=im.RustGaussianConvolveMapper, op="average")
    config.mapper.sigma = 1e12
    with pytest.raises(ValueError, match=r"sigma = 1000000000000 gives a kernel half-width"):
        im.ImageMapReduceTask(config).run(makeExposure())


@pytest.mark.parametrize("op", ["copy", "none"])
def test_worker_pool_is_shut_down_when_a_result_is_rejected(op):
    # The error is raised while stitching (or sorting) results, outside the
    # workers: the pool must be shut down before run() returns, not when the
    # generator is garbage-collected (which could happen on one of the pool's
    # own threads: "RuntimeError: cannot join current thread").
    import threading

    def boomOrOutside(s, e, f):
        if s.getBBox().getMinX() > 0:
            raise KeyError("late failure")
        return im.Struct(subExposure=_outside(s))

    mapper = _mapper(boomOrOutside, "LateFailureMapper")
    task = im.ImageMapReduceTask(makeConfig(mapper=mapper, op=op, backend="threads", numWorkers=4))
    exposure = makeExposure(64, 64)
    # Keep the tracebacks (as a user inspecting the error does): they hold
    # the frames, so nothing is left to reference counting.
    with pytest.raises((ValueError, im.MapperError)) as first:
        task.run(exposure)
    with pytest.raises(im.MapperError) as second:
        task._runMapper(exposure)
    assert first.tb is not None and second.tb is not None
    alive = [t.name for t in threading.enumerate() if t.name.startswith("imagemapper")]
    assert alive == []
