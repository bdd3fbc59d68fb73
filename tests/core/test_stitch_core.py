"""The Rust stitching kernel (imagemapper._core.stitch_*) against numpy."""

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
    if op == "average":
        zero = wts == 0
        np.divide(img, wts.astype(float), out=img, where=~zero)
        np.divide(var, wts.astype(float), out=var, where=~zero)
        img[zero] = np.nan
        var[zero] = np.nan
        msk[zero] |= BAD
    return img, var, msk


def kernelReduce(op, outBox, cells, mask0, dtype, nThreads):
    h, w = outBox.getHeight(), outBox.getWidth()
    img = np.empty((h, w), dtype)
    var = np.empty((h, w), dtype)
    msk = mask0.copy()
    wts = np.empty((h, w), np.int32) if op == "average" else None
    _core.stitch_init(op, img, msk, var, wts, nThreads)
    half = len(cells) // 2
    _core.stitch_accumulate(op, outBox, img, msk, var, wts, cells[:half], nThreads)
    _core.stitch_accumulate(op, outBox, img, msk, var, wts, cells[half:], nThreads)
    stats = _core.stitch_finalize(op, img, msk, var, wts, BAD, nThreads)
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
    assert stats["n_bad"] == int(np.isnan(ei * ev).sum())


def test_errors_name_the_cell_and_dtype():
    box = im.Box2I(im.Point2I(0, 0), im.Extent2I(4, 4))
    img = np.zeros((4, 4), np.float32)
    var = np.zeros((4, 4), np.float32)
    msk = np.zeros((4, 4), np.int32)
    inside = im.Box2I(im.Point2I(0, 0), im.Extent2I(2, 2))
    outside = im.Box2I(im.Point2I(3, 3), im.Extent2I(2, 2))
    c = np.zeros((2, 2), np.float32)
    with pytest.raises(ValueError, match="cell 1: its box"):
        _core.stitch_accumulate(
            "sum", box, img, msk, var, None, [(inside, c, None, c), (outside, c, None, c)]
        )
    with pytest.raises(TypeError, match="cell 0 image.*float64"):
        _core.stitch_accumulate(
            "sum", box, img, msk, var, None, [(inside, c.astype(np.float64), None, c)]
        )
    with pytest.raises(TypeError, match="cell 0 mask.*int32"):
        _core.stitch_accumulate("sum", box, img, msk, var, None, [(inside, c, c, c)])
    with pytest.raises(ValueError, match="shape"):
        _core.stitch_accumulate(
            "sum", box, img, msk, var, None, [(inside, np.zeros((3, 2), np.float32), None, c)]
        )
    with pytest.raises(ValueError, match="weights"):
        _core.stitch_init("average", img, msk, var, None)
    with pytest.raises(ValueError, match="'median'|\"median\""):
        _core.stitch_init("median", img, msk, var, None)
    with pytest.raises(TypeError, match="float32 or float64"):
        _core.stitch_init("sum", img.astype(np.int16), msk, var, None)
    ro = img.copy()
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="not writeable"):
        _core.stitch_init("sum", ro, msk, var, None)
    # Nothing was written by the failed calls.
    assert np.all(img == 0)


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
