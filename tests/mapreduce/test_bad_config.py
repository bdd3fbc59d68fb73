"""Bad input (config values): every one gives a clear error or a correct result, never a crash,
a hang or a silently wrong image (issue 7). Each test names the class of bad input it feeds
and checks what the user sees: the exception and a message naming the bad value and what
was expected, or the exact result.
"""

from __future__ import annotations

import math

import lsst.pex.config as pexConfig
import numpy as np
import pytest

import imagemapper as im
import imagemapper.mappers
from bad_input_support import (
    makeConfig,
    makeExposure,
    run,
)
from imagemapper import _core
from imagemapper.task import _configdoc
from imagemapper.testing import naiveGrid

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
