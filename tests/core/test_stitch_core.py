"""The Rust reducer (imagemapper._core.Reducer) against numpy."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import imagemapper as im
from imagemapper import _core

BAD = 1 << 9


def numpyReduce(op, outBox, cells, mask0, dtype):
    """LSST's reducer with boolean masks (the independent answer)."""
    h, w = outBox.getHeight(), outBox.getWidth()
    start = np.nan if op == "copy" else 0.0
    img = np.full((h, w), start, dtype=dtype)
    var = np.full((h, w), start, dtype=dtype)
    msk = mask0.copy()
    wts = np.zeros((h, w), np.int32)
    for box, ci, cm, cv in cells:
        sy, sx = box.slices(outBox)
        ok = ~np.isnan(ci * cv)
        if op == "copy":
            img[sy, sx][ok] = ci[ok]
            var[sy, sx][ok] = cv[ok]
        else:
            img[sy, sx][ok] += ci[ok]
            var[sy, sx][ok] += cv[ok]
            wts[sy, sx][ok] += 1
        if cm is not None:
            msk[sy, sx] |= cm
    msk[np.isnan(img * var)] |= BAD
    if op == "sum":
        # A sum pixel with no valid contribution is 0 and flagged.
        msk[wts == 0] |= BAD
    if op == "average":
        zero = wts == 0
        np.divide(img, wts.astype(float), out=img, where=~zero)
        np.divide(var, wts.astype(float), out=var, where=~zero)
        img[zero] = np.nan
        var[zero] = np.nan
        msk[zero] |= BAD
    return img, var, msk


def kernelReduce(op, outBox, cells, mask0, dtype, nThreads):
    r = _core.Reducer(op, outBox, dtype, mask=mask0, n_threads=nThreads)
    items = [(k, box, ci, cm, cv) for k, (box, ci, cm, cv) in enumerate(cells)]
    half = len(items) // 2
    r.add(items[:half])
    r.add(items[half:])
    stats = r.finish(BAD)
    img, msk, var, _ = r.take()
    return img, var, msk, stats


def strided(arr, how):
    """The same values in another memory layout."""
    if how == "fortran":
        return np.asfortranarray(arr)
    if how == "step":
        big = np.zeros((arr.shape[0], 2 * arr.shape[1]), arr.dtype)
        big[:, ::2] = arr
        return big[:, ::2]
    if how == "transposed":
        return np.ascontiguousarray(arr.T).T
    if how == "reversed":
        return np.ascontiguousarray(arr[::-1])[::-1]
    return arr


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    op=st.sampled_from(["copy", "sum", "average"]),
    dtype=st.sampled_from([np.float32, np.float64]),
    nThreads=st.sampled_from([1, 2, 3]),
)
def test_kernel_matches_numpy(seed, op, dtype, nThreads):
    rng = np.random.default_rng(seed)
    x0, y0 = (int(v) for v in rng.integers(-20, 20, 2))
    w, h = (int(v) for v in rng.integers(1, 50, 2))
    outBox = im.Box2I(im.Point2I(x0, y0), im.Extent2I(w, h))
    cells = []
    for _ in range(int(rng.integers(0, 10))):
        cx, cy = int(rng.integers(0, w)), int(rng.integers(0, h))
        cw, ch = int(rng.integers(1, w - cx + 1)), int(rng.integers(1, h - cy + 1))
        box = im.Box2I(im.Point2I(x0 + cx, y0 + cy), im.Extent2I(cw, ch))
        ci = rng.normal(size=(ch, cw)).astype(dtype)
        ci[rng.uniform(size=ci.shape) < 0.1] = np.nan
        cv = rng.uniform(0.5, 2, size=(ch, cw)).astype(dtype)
        cv[rng.uniform(size=cv.shape) < 0.05] = np.nan
        cm = (1 << rng.integers(0, 8, size=(ch, cw))).astype(np.int32)
        how = rng.choice(["c", "fortran", "step", "transposed", "reversed"])
        cells.append(
            (
                box,
                strided(ci, how),
                strided(cm, how) if rng.uniform() < 0.8 else None,
                strided(cv, how),
            )
        )
    mask0 = (rng.uniform(size=(h, w)) < 0.1).astype(np.int32) * 4096
    ei, ev, em = numpyReduce(op, outBox, cells, mask0, dtype)
    ki, kv, km, stats = kernelReduce(op, outBox, cells, mask0, dtype, nThreads)
    np.testing.assert_array_equal(ki, ei)
    np.testing.assert_array_equal(kv, ev)
    np.testing.assert_array_equal(km, em)
    assert stats["n_bad"] == int(((em & BAD) != 0).sum())


def test_errors_name_the_cell_and_dtype():
    box = im.Box2I(im.Point2I(0, 0), im.Extent2I(4, 4))
    inside = im.Box2I(im.Point2I(0, 0), im.Extent2I(2, 2))
    outside = im.Box2I(im.Point2I(3, 3), im.Extent2I(2, 2))
    c = np.ones((2, 2), np.float32)
    r = _core.Reducer("sum", box, np.float32, mask=np.zeros((4, 4), np.int32))
    with pytest.raises(ValueError, match="cell 7: its subExposure covers"):
        r.add([(0, inside, c, None, c), (7, outside, c, None, c)])
    with pytest.raises(ValueError, match=r"cell 3: its subExposure's image array has shape"):
        r.add([(3, inside, np.zeros((3, 2), np.float32), None, c)])
    with pytest.raises(TypeError, match="cell 0 mask: expected a 2-D numpy array of int32"):
        r.add([(0, inside, c, np.zeros(4, np.int32), c)])
    with pytest.raises(TypeError, match="cell 0 image: expected a 2-D numpy array"):
        r.add([(0, inside, "pixels", None, c)])
    with pytest.raises(ValueError, match="cannot be stitched; expected one of"):
        _core.Reducer("median", box, np.float32)
    with pytest.raises(TypeError, match="float64 or an integer type .*, got float16"):
        _core.Reducer("sum", box, np.float16)
    with pytest.raises(ValueError, match="integer pixels are image-only"):
        _core.Reducer("sum", box, np.int16)
    with pytest.raises(TypeError, match="output mask: expected .*int32, got int64"):
        _core.Reducer("sum", box, np.float32, mask=np.zeros((4, 4), np.int64))
    with pytest.raises(ValueError, match=r"output mask has shape \(4, 3\)"):
        _core.Reducer("sum", box, np.float32, mask=np.zeros((4, 3), np.int32))
    # Nothing was written by the failed calls.
    r.finish(BAD)
    img, msk, _var, _ = r.take()
    assert np.all(img == 0) and np.all(msk == BAD)
    with pytest.raises(ValueError, match="taken"):
        r.finish(BAD)


def test_other_dtypes_are_converted_like_numpy():
    box = im.Box2I(im.Point2I(0, 0), im.Extent2I(3, 2))
    rng = np.random.default_rng(3)
    f64 = rng.normal(size=(2, 3))
    ints = rng.integers(-50, 50, size=(2, 3)).astype(np.int16)
    outs = []
    for image, mask in ((f64, np.ones((2, 3), np.uint8)), (ints, np.ones((2, 3), np.int32))):
        r = _core.Reducer("copy", box, np.float32, mask=np.zeros((2, 3), np.int32))
        r.add([(0, box, image, mask, np.ones((2, 3), np.float64))])
        r.finish(BAD)
        outs.append(r.take())
    np.testing.assert_array_equal(outs[0][0], f64.astype(np.float32))
    np.testing.assert_array_equal(outs[0][1], np.ones((2, 3), np.int32))
    np.testing.assert_array_equal(outs[1][0], ints.astype(np.float32))


def test_an_output_too_large_to_allocate_is_a_memory_error():
    huge = im.Box2I(im.Point2I(0, 0), im.Extent2I(2**31 - 1, 2**31 - 1))
    with pytest.raises(MemoryError, match="cannot allocate the image plane"):
        _core.Reducer("copy", huge, np.float64)


def test_image_only_mode_keeps_every_value():
    # No variance plane: every value func returns is a contribution, as it is.
    box = im.Box2I(im.Point2I(0, 0), im.Extent2I(4, 1))
    values = np.array([[np.nan, -0.0, np.inf, 2.5]])
    r = _core.Reducer("copy", box, np.float64, variance=False)
    r.add([(0, box, values, None, None)])
    r.finish(0)
    img, msk, var, _ = r.take()
    assert msk is None and var is None
    np.testing.assert_array_equal(img, values)
    assert np.signbit(img[0, 1])
    s = _core.Reducer("sum", box, np.float64, variance=False)
    s.add([(0, box, values, None, None), (1, box, values, None, None)])
    s.finish(0)
    np.testing.assert_array_equal(s.take()[0], values + values)


def test_sum_keeps_negative_zero_and_flags_pixels_nothing_reached():
    box = im.Box2I(im.Point2I(0, 0), im.Extent2I(3, 1))
    cell = im.Box2I(im.Point2I(0, 0), im.Extent2I(2, 1))
    r = _core.Reducer("sum", box, np.float32, mask=np.zeros((1, 3), np.int32))
    image = np.array([[-0.0, np.nan]], np.float32)
    r.add([(0, cell, image, None, np.ones((1, 2), np.float32))])
    stats = r.finish(BAD)
    img, msk, _var, _ = r.take()
    assert np.signbit(img[0, 0]) and img[0, 0] == 0
    np.testing.assert_array_equal(img, [[0, 0, 0]])
    np.testing.assert_array_equal(msk, [[0, BAD, BAD]])
    assert stats["n_bad"] == 2


@pytest.mark.parametrize("op", [o for o in im.STITCH_OPERATIONS if o != "mesh"])
def test_failed_cells_are_flagged_wherever_they_reach(op):
    box = im.Box2I(im.Point2I(0, 0), im.Extent2I(6, 4))
    r = _core.Reducer(op, box, np.float64, mask=np.zeros((4, 6), np.int32), grid=[box])
    ones = np.ones((4, 6))
    r.add([(0, box, ones, None, ones)])
    r.add_failed([im.Box2I(im.Point2I(4, 2), im.Extent2I(5, 5))])  # reaches outside too
    stats = r.finish(BAD)
    img, msk, _, _ = r.take()
    want = np.zeros((4, 6), np.int32)
    want[2:, 4:] = BAD
    np.testing.assert_array_equal(msk, want)
    np.testing.assert_array_equal(img, ones)
    assert stats["n_bad"] == 4


def test_bands_share_the_grid_and_equal_the_whole():
    full = im.Box2I(im.Point2I(-2, 5), im.Extent2I(40, 30))
    grid = [
        im.Box2I(im.Point2I(-2 + x, 5 + y), im.Extent2I(16, 12))
        for y in range(0, 19, 9)
        for x in range(0, 25, 12)
    ]
    rng = np.random.default_rng(1)
    cells = [(k, b, rng.normal(size=(12, 16)), None, np.ones((12, 16))) for k, b in enumerate(grid)]
    whole = _core.Reducer("weighted", full, np.float64, grid=grid)
    whole.add(cells)
    whole.finish(BAD)
    ref = whole.take()[0]
    template = _core.Reducer("weighted", im.Box2I(), np.float64, full_bbox=full, grid=grid)
    for y0 in range(5, 35, 7):
        band = im.Box2I(im.Point2I(-2, y0), im.Extent2I(40, min(7, 35 - y0)))
        part = template.band(band)
        part.add(cells)
        part.finish(BAD)
        got = part.take()[0]
        np.testing.assert_array_equal(got, ref[y0 - 5 : y0 - 5 + band.getHeight()])


def test_thread_counts_give_identical_bits():
    rng = np.random.default_rng(7)
    outBox = im.Box2I(im.Point2I(-3, 11), im.Extent2I(300, 257))
    cells = []
    for k in range(60):
        cx, cy = int(rng.integers(0, 250)), int(rng.integers(0, 200))
        box = im.Box2I(im.Point2I(-3 + cx, 11 + cy), im.Extent2I(50, 57))
        ci = rng.normal(size=(57, 50)).astype(np.float32) * (k + 1)
        cells.append((box, ci, None, np.ones_like(ci)))
    mask0 = np.zeros((257, 300), np.int32)
    ref = kernelReduce("average", outBox, cells, mask0, np.float32, 1)
    for n in (2, 3, 4, 8):
        out = kernelReduce("average", outBox, cells, mask0, np.float32, n)
        for a, b in zip(out[:3], ref[:3]):
            assert a.tobytes() == b.tobytes()
