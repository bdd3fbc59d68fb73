"""Bad input (images): every one gives a clear error or a correct result, never a crash,
a hang or a silently wrong image (issue 7). Each test names the class of bad input it feeds
and checks what the user sees: the exception and a message naming the bad value and what
was expected, or the exact result.
"""

from __future__ import annotations

import logging

import numpy as np
import pytest

import imagemapper as im
import imagemapper.mappers
from bad_input_support import (
    CountingMapper,
    coverage,
    invalidBit,
    makeConfig,
    makeExposure,
    run,
)

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
