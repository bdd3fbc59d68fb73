"""Integer outputs of `map_reduce`, exact for every value: 64-bit integers near
2**63 and 2**64 against a naive numpy reference built in each test from the
per-cell results (``reduce="none"``), stitched by hand."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

from imagemapper import _core
from imagemapper.mapreduce._facade import map_reduce

# Cells of 6 every 4 pixels on a 22 x 18 image: most pixels get 2 or 4 cells.
GRID = dict(cellSize=6, gridStep=4)
SHAPE = (18, 22)


def _image(dtype, seed=0):
    """Values within 2**20 of the type's top (and, signed, of its bottom)."""
    rng = np.random.default_rng(seed)
    info = np.iinfo(dtype)
    top = np.array(info.max, dtype) - rng.integers(0, 2**20, SHAPE).astype(dtype)
    if info.min == 0:
        return top
    bottom = np.array(info.min, dtype) + rng.integers(0, 2**20, SHAPE).astype(dtype)
    return np.where(rng.random(SHAPE) < 0.5, top, bottom)


def shifted(a):
    """A cell-dependent result: the cell moved towards zero by an amount that
    depends on its first pixel, so overlapping cells disagree (module level,
    for the process backend)."""
    k = int(a[0, 0]) % min(1000, int(np.iinfo(a.dtype).max)) + 1
    step = np.array(k, a.dtype)
    return np.where(a > 0, a - step, a + step).astype(a.dtype)


def _cellValues(x, func, **kw):
    """``(slices, value over the cell)`` per cell, in cell order, from
    ``reduce="none"``."""
    out = []
    for c in map_reduce(x, func, reduce="none", **kw):
        dy = c.bbox.getMinY() - c.expandedBBox.getMinY()
        dx = c.bbox.getMinX() - c.expandedBBox.getMinX()
        h, w = c.bbox.getHeight(), c.bbox.getWidth()
        out.append((c.slices, np.asarray(c.value)[dy : dy + h, dx : dx + w], c.bbox))
    return out


def _naive(reduce, cells, shape, dtype):
    """The naive reduction of the per-cell results, in cell order."""
    if reduce == "copy":
        want = np.zeros(shape, dtype)
        for sl, v, _ in cells:
            want[sl] = v
        return want
    if reduce == "sum":  # numpy's integer add, in the dtype: wraps around
        want = np.zeros(shape, dtype)
        for sl, v, _ in cells:
            want[sl] += v
        return want
    if reduce == "average":  # exact (Python integers), rounded half to even
        acc = np.zeros(shape, dtype=object)
        count = np.zeros(shape, dtype=np.int64)
        for sl, v, _ in cells:
            acc[sl] += v.astype(object)
            count[sl] += 1
        flat = [round(Fraction(int(s), int(n))) for s, n in zip(acc.ravel(), count.ravel())]
        return np.array(flat, dtype=object).reshape(shape).astype(dtype)
    if reduce in ("max", "min"):
        want = np.zeros(shape, dtype)
        seen = np.zeros(shape, bool)
        pick = np.maximum if reduce == "max" else np.minimum
        for sl, v, _ in cells:
            want[sl] = np.where(seen[sl], pick(want[sl], v), v)
            seen[sl] = True
        return want
    if reduce == "owner":  # the cell whose centre is nearest; ties: the earlier
        want = np.zeros(shape, dtype)
        best = np.full(shape, np.inf)
        yy, xx = np.mgrid[0 : shape[0], 0 : shape[1]]
        cw = max(b.getWidth() for _, _, b in cells)
        ch = max(b.getHeight() for _, _, b in cells)

        def centre(lo, hi, size, n):
            # a cell the image edge clipped is centred where its full size would be
            if hi - lo + 1 < size and lo == 0 and hi != n - 1:
                lo = hi - size + 1
            elif hi - lo + 1 < size and hi == n - 1 and lo != 0:
                hi = lo + size - 1
            return (lo + hi) / 2

        for sl, v, box in cells:
            cy = centre(box.getMinY(), box.getMaxY(), ch, shape[0])
            cx = centre(box.getMinX(), box.getMaxX(), cw, shape[1])
            d2 = (yy[sl] - cy) ** 2 + (xx[sl] - cx) ** 2
            nearer = d2 < best[sl]
            want[sl] = np.where(nearer, v, want[sl])
            best[sl] = np.where(nearer, d2, best[sl])
        return want
    raise AssertionError(reduce)


@pytest.mark.parametrize("dtype", [np.int64, np.uint64])
@pytest.mark.parametrize("reduce", ["copy", "sum", "average", "owner", "max", "min"])
def test_64_bit_integers_are_exact_for_every_reduce(dtype, reduce):
    x = _image(dtype)
    kw = dict(GRID, borderSize=1)
    cells = _cellValues(x, shifted, **kw)
    want = _naive(reduce, cells, SHAPE, dtype)
    out = map_reduce(x, shifted, reduce=reduce, **kw)
    assert out.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(out, want)
    # The values are beyond float64's 53 bits: a float64 round trip changes them.
    assert (want.astype(np.float64).astype(object) != want.astype(object)).any()
    if reduce == "average":
        # the overlaps disagree, and some means lie exactly half-way
        sums = np.zeros(SHAPE, dtype=object)
        count = np.zeros(SHAPE, dtype=np.int64)
        for sl, v, _ in cells:
            sums[sl] += v.astype(object)
            count[sl] += 1
        halves = [(2 * (int(s) % int(n))) == int(n) for s, n in zip(sums.ravel(), count.ravel())]
        assert any(halves)
    if reduce == "sum":
        # the sums wrap: they differ from the exact (Python integer) sums
        exact = np.zeros(SHAPE, dtype=object)
        for sl, v, _ in cells:
            exact[sl] += v.astype(object)
        assert (exact != want.astype(object)).any()


@pytest.mark.parametrize("dtype", [np.int8, np.uint8, np.int16, np.uint16, np.int32, np.uint32])
@pytest.mark.parametrize("reduce", ["sum", "average", "max"])
def test_small_integers_combine_in_their_own_type(dtype, reduce):
    x = _image(dtype, seed=4) if np.iinfo(dtype).bits > 16 else None
    if x is None:
        rng = np.random.default_rng(4)
        info = np.iinfo(dtype)
        x = rng.integers(info.min, info.max, SHAPE, endpoint=True).astype(dtype)
    cells = _cellValues(x, shifted, **GRID)
    want = _naive(reduce, cells, SHAPE, dtype)
    out = map_reduce(x, shifted, reduce=reduce, **GRID)
    assert out.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(out, want)


@pytest.mark.parametrize("reduce", ["copy", "sum", "average", "max", "min"])
def test_lazy_dask_64_bit_integers_equal_numpy(reduce):
    da = pytest.importorskip("dask.array")
    x = _image(np.int64, seed=2)
    lazy = map_reduce(da.from_array(x, chunks=(7, 9)), shifted, reduce=reduce, **GRID)
    assert lazy.dtype == np.int64
    want = _naive(reduce, _cellValues(x, shifted, **GRID), SHAPE, np.int64)
    np.testing.assert_array_equal(lazy.compute(), want)


def test_processes_backend_keeps_64_bit_integers():
    x = _image(np.uint64, seed=3)
    want = _naive("average", _cellValues(x, shifted, **GRID), SHAPE, np.uint64)
    out = map_reduce(x, shifted, reduce="average", backend="processes", numWorkers=2, **GRID)
    np.testing.assert_array_equal(out, want)


def test_weighted_integers_blend_in_float64_and_round():
    x = np.random.default_rng(5).integers(-1000, 1000, SHAPE).astype(np.int32)
    out = map_reduce(x, shifted, reduce="weighted", **GRID)
    assert out.dtype == np.int32
    # The rule: the float64 blend of the same cells, rounded half to even.
    blend = map_reduce(x, lambda a: shifted(a).astype(np.float64), reduce="weighted", **GRID)
    np.testing.assert_array_equal(out, np.rint(blend).astype(np.int32))
    assert (blend != np.rint(blend)).any()  # some pixels were rounded


def test_weighted_saturates_where_float64_rounds_past_the_type():
    x = np.full(SHAPE, np.iinfo(np.int64).max, np.int64)
    out = map_reduce(x, lambda a: a, reduce="weighted", **GRID)
    np.testing.assert_array_equal(out, x)


def test_float_results_into_an_integer_dtype_convert_like_astype():
    x = np.random.default_rng(6).normal(0, 50, SHAPE)

    def f(a):
        return a * 1.5

    cells = [(sl, v.astype(np.int16), b) for sl, v, b in _cellValues(x, f, **GRID)]
    want = _naive("average", cells, SHAPE, np.int16)
    out = map_reduce(x, f, reduce="average", dtype=np.int16, **GRID)
    assert out.dtype == np.int16
    np.testing.assert_array_equal(out, want)
    nan = x.copy()
    nan[9, 9] = np.nan
    with pytest.raises(ValueError, match="NaN or infinite values for cell .* int16"):
        map_reduce(nan, f, dtype=np.int16, **GRID)


@pytest.mark.parametrize("dtype", [np.int64, np.uint64, np.int8])
def test_integer_gaps_are_an_error(dtype):
    x = _image(np.int64).astype(dtype)
    with pytest.raises(ValueError, match=r"\d+ pixels have no value"):
        map_reduce(x, lambda a: a, cellSize=4, gridStep=6, reduce="copy")
    with pytest.raises(ValueError, match=r"\d+ pixels have no value"):
        map_reduce(x, lambda a: a, cellSize=4, gridStep=6, reduce="max")


def test_core_reducer_integer_pixels():
    box = _core.Box2I(_core.Point2I(0, 0), _core.Extent2I(3, 2))
    r = _core.Reducer("max", box, np.uint64, variance=False)
    assert r.dtype == "uint64"
    top = np.iinfo(np.uint64).max
    r.add([(0, box, np.full((2, 3), top, np.uint64), None, None)])
    r.add([(1, box, np.full((2, 3), 5, np.uint8), None, None)])  # converted exactly
    stats = r.finish(0)
    image = r.take()[0]
    assert image.dtype == np.uint64 and (image == top).all()
    assert stats["n_uncovered"] == 0
    r = _core.Reducer("copy", box, np.int64, variance=False)
    with pytest.raises(TypeError, match="int64"):
        r.add([(0, box, np.zeros((2, 3)), None, None)])  # float planes are refused
    with pytest.raises(ValueError, match="image-only"):
        _core.Reducer("copy", box, np.int32)
    with pytest.raises(ValueError, match="weighted"):
        _core.Reducer("weighted", box, np.int32, variance=False)
    with pytest.raises(TypeError, match="float32, float64 or an integer type"):
        _core.Reducer("copy", box, np.complex64, variance=False)
