"""The map_reduce façade: numpy / NDData in, same kind out, against whole-image answers."""

from __future__ import annotations

import os

import numpy as np
import pytest

import imagemapper as im
from imagemapper.mapreduce._facade import map_reduce

ndimage = pytest.importorskip("scipy.ndimage")


def _image(shape=(150, 210), seed=0):
    return np.random.default_rng(seed).normal(10.0, 2.0, shape).astype(np.float32)


def smooth3(a):
    """Module level, so that process workers can unpickle it."""
    return ndimage.uniform_filter(a, 3, mode="nearest")


def test_public_name():
    assert getattr(im, "map_reduce", map_reduce) is map_reduce


@pytest.mark.parametrize("reduce", ["average", "copy"])
def test_filters_equal_whole_image_when_border_covers_their_reach(reduce):
    image = _image()
    # A linear filter (radius 8 = int(4 * 2 + 0.5)) and a non-linear one (radius 2):
    # tiles with a border >= the radius give the whole-image result bit for bit, the
    # image edges included (the clipped expanded cell has the image's own edge).
    out = map_reduce(
        image, lambda a: ndimage.gaussian_filter(a, 2.0), cellSize=64, borderSize=8, reduce=reduce
    )
    np.testing.assert_array_equal(out, ndimage.gaussian_filter(image, 2.0))
    out = map_reduce(
        image, lambda a: ndimage.median_filter(a, 5), cellSize=(50, 40), borderSize=(2, 2)
    )
    np.testing.assert_array_equal(out, ndimage.median_filter(image, 5))
    assert out.dtype == np.float32 and out.shape == image.shape


def test_too_small_border_differs_and_cell_shaped_results_are_accepted():
    image = _image()
    out = map_reduce(image, lambda a: ndimage.gaussian_filter(a, 2.0), cellSize=64, borderSize=1)
    assert np.abs(out - ndimage.gaussian_filter(image, 2.0)).max() > 0.05
    # func may return only the cell (here: no border, so both shapes coincide anyway)
    out = map_reduce(image, lambda a: a * 2, cellSize=64, gridStep=64)
    np.testing.assert_array_equal(out, image * 2)


def test_gaps_are_nan_for_float_results_and_an_error_for_integers():
    image = np.arange(100 * 120, dtype=np.int16).reshape(100, 120)
    with pytest.raises(ValueError, match="pixels have no value"):
        map_reduce(image, lambda a: a + 1, cellSize=20, gridStep=30)
    out = map_reduce(image, lambda a: a + 1, cellSize=20, gridStep=30, dtype=np.float32)
    assert out.dtype == np.float32
    covered = np.isfinite(out)
    assert 0 < covered.sum() < out.size
    np.testing.assert_array_equal(out[covered], image[covered] + 1.0)
    # cells are 20 wide every 30: columns 20..29 of the first cell row are gaps
    assert np.isnan(out[:, 20:30]).all()


def test_nddata_and_ccddata_round_trip():
    nddata = pytest.importorskip("astropy.nddata")
    from astropy.wcs import WCS

    image = _image()
    wcs = WCS(naxis=2)
    mask = image > 13
    ccd = nddata.CCDData(
        image,
        unit="adu",
        mask=mask,
        wcs=wcs,
        meta={"OBJECT": "x"},
        uncertainty=nddata.StdDevUncertainty(np.ones_like(image)),
    )
    out = map_reduce(ccd, np.sqrt, cellSize=64)
    assert type(out) is nddata.CCDData
    assert out.unit == ccd.unit and out.meta["OBJECT"] == "x" and out.wcs is wcs
    np.testing.assert_array_equal(out.mask, mask)
    assert out.mask is not ccd.mask
    # Issue 15: the uncertainty is kept (a copy of the input's; func maps only the data).
    assert isinstance(out.uncertainty, nddata.StdDevUncertainty)
    np.testing.assert_array_equal(out.uncertainty.array, ccd.uncertainty.array)
    np.testing.assert_allclose(out.data, np.sqrt(image), rtol=1e-7)
    plain = map_reduce(nddata.NDData(image), np.negative, cellSize=64)
    assert type(plain) is nddata.NDData
    np.testing.assert_array_equal(plain.data, -image)


def test_reduce_none_returns_per_cell_values_with_slices():
    image = _image((90, 100))
    cells = map_reduce(image, np.median, cellSize=30, gridStep=30, reduce="none")
    assert len(cells) == 3 * 4
    for cell in cells:
        assert cell.value == np.median(image[cell.slices])
    assert cells[0].slices == (slice(0, 30), slice(0, 30))
    assert image[cells[-1].slices].shape == (30, 10)  # the last column of cells is clipped


def test_max_and_mesh_reductions():
    image = _image((90, 120))
    # every overlapping cell returns the same pixels: their max is the image
    out = map_reduce(image, lambda a: a, cellSize=40, gridStep=25, reduce="max")
    np.testing.assert_array_equal(out, image)
    # mesh: a plane's cell means are the plane at the cell centres, and bilinear
    # interpolation of a plane is exact inside the centres' rectangle.
    y, x = np.mgrid[0:90, 0:120]
    plane = 3.0 + 0.25 * x - 0.5 * y
    mesh = map_reduce(plane, np.mean, cellSize=30, gridStep=30, reduce="mesh")
    inside = (slice(15, 75), slice(15, 105))
    np.testing.assert_allclose(mesh[inside], plane[inside], atol=1e-9)


def test_processes_backend_pickles_the_function():
    image = _image((80, 90))
    out = map_reduce(image, smooth3, cellSize=40, borderSize=1, backend="processes", numWorkers=2)
    np.testing.assert_array_equal(out, smooth3(image))


def test_errors_name_the_problem():
    image = _image((50, 60))
    with pytest.raises(im.MapperError, match=r"func returned an array of shape \(3, 30\)"):
        map_reduce(image, lambda a: a[:3], cellSize=30)
    with pytest.raises(ValueError, match="reduce='median'"):
        map_reduce(image, np.abs, reduce="median")
    with pytest.raises(im.MapperError, match="one number per cell"):
        map_reduce(image, np.abs, cellSize=30, reduce="mesh")
    with pytest.raises(TypeError, match="func must be callable"):
        map_reduce(image, 3)
    with pytest.raises(ValueError, match="at least 2 dimensions"):
        map_reduce(np.zeros(4), np.abs)
    with pytest.raises(TypeError, match="cellSize must be an integer"):
        map_reduce(image, np.abs, cellSize="big")
    with pytest.raises(ValueError, match="borderSize must be >= 0"):
        map_reduce(image, np.abs, borderSize=-1)
    with pytest.raises(TypeError, match="data must be a numpy array"):
        map_reduce("image.fits", np.abs)


# ------------------------------------------------------- issue 14: on par with dask / skimage

da = pytest.importorskip("dask.array")
dask = pytest.importorskip("dask")


class GaussCellMapper(im.ImageMapper):
    """Gaussian (sigma 2, radius 8) of the expanded cell, kept over the cell."""

    def run(self, subExposure, expandedSubExposure, fullBBox, **kw):
        conv = ndimage.gaussian_filter(
            expandedSubExposure.image.array, 2.0, mode="constant", truncate=4.0
        )
        box = subExposure.getBBox()
        out = im.Exposure.fromArrays(
            conv[box.slices(expandedSubExposure.getBBox())].copy(), xy0=box.getMin()
        )
        out.variance.array[...] = 1.0
        return im.Struct(subExposure=out)


@pytest.mark.parametrize("shape", [(1, 1), (1, 9), (6, 6), (7, 7), (9, 11), (10, 10), (11, 6)])
@pytest.mark.parametrize("step", [None, 3])
def test_every_pixel_is_covered_for_any_shape(shape, step):
    image = _image(shape, seed=shape[0] * 100 + shape[1])
    want = ndimage.uniform_filter(image, 3, mode="nearest")
    out = map_reduce(image, smooth3, cellSize=3, gridStep=step, borderSize=1, edgeMode="nearest")
    np.testing.assert_array_equal(out, want)


@pytest.mark.parametrize(
    ("edgeMode", "scipyMode"),
    [
        ("reflect", "reflect"),
        ("nearest", "nearest"),
        ("constant", "constant"),
        ("periodic", "grid-wrap"),
        ("wrap", "grid-wrap"),
        (("periodic", "reflect"), ("reflect", "grid-wrap")),  # ours (x, y), scipy (y, x)
        (("nearest", "constant"), ("constant", "nearest")),
    ],
)
def test_edge_modes_match_scipy_whole_image(edgeMode, scipyMode):
    image = _image((61, 47)).astype(np.float64)
    want = ndimage.gaussian_filter(image, 1.5, mode=scipyMode, cval=2.5, truncate=4.0)
    out = map_reduce(
        image,
        lambda a: ndimage.gaussian_filter(a, 1.5, mode="constant", cval=-99.0, truncate=4.0),
        cellSize=(16, 13),
        borderSize=6,
        edgeMode=edgeMode,
        edgeConstant=2.5,
    )
    np.testing.assert_allclose(out, want, rtol=0, atol=1e-12)


def test_asymmetric_borders_pad_only_where_the_image_ends():
    image = np.arange(8 * 12, dtype=np.float64).reshape(8, 12)
    padded = np.pad(image, 2, mode="symmetric")  # the whole image, reflected once
    cells = map_reduce(
        image,
        lambda a: np.array(a),
        cellSize=4,
        gridStep=4,
        borderSize=((2, 0), (0, 2)),
        edgeMode="reflect",
        reduce="none",
    )
    for c in cells:
        ys, xs = c.slices
        # x: 2 on the left, none on the right; y: none below, 2 above
        want = padded[ys.start + 2 : ys.stop + 4, xs.start : xs.stop + 2]
        np.testing.assert_array_equal(c.value, want)


def test_task_hand_set_asymmetric_expanded_cells_keep_their_real_neighbours():
    seen = {}

    class Record(im.ImageMapper):
        def run(self, subExposure, expandedSubExposure, fullBBox, **kw):
            seen[subExposure.getBBox().getMinX()] = expandedSubExposure.image.array.copy()
            return im.Struct(subExposure=subExposure)

    image = np.arange(4 * 8, dtype=np.float32).reshape(4, 8)
    cfg = im.ImageMapReduceConfig()
    cfg.mapper.retarget(Record)
    cfg.scaleByFwhm = False
    cfg.borderSizeX = cfg.borderSizeY = 2.0
    cfg.edgeMode = "reflect"
    cfg.backend = "serial"
    task = im.ImageMapReduceTask(cfg)
    box = im.Box2I
    P = im.Point2I
    # cells [0..3] and [4..7] in x, each given 2 px on the right only (by hand)
    task.boxes0 = [box(P(0, 0), P(3, 3)), box(P(4, 0), P(7, 3))]
    task.boxes1 = [box(P(0, 0), P(5, 3)), box(P(4, 0), P(7, 3))]
    task.run(im.Exposure.fromArrays(image), progress=False)
    full = np.pad(image, 2, mode="symmetric")
    # left cell: the image ends on the left (padded), real pixels 4, 5 on the right
    np.testing.assert_array_equal(seen[0], full[:, 0:8])
    # right cell: its left side stops inside the image: no padding there
    np.testing.assert_array_equal(seen[4], full[:, 6:12])


@pytest.mark.parametrize("modes", [("periodic", "periodic"), ("reflect", "periodic")])
def test_task_edge_mode_x_y_and_periodic_match_scipy(modes):
    image = _image((60, 70)).astype(np.float64)
    cfg = im.ImageMapReduceConfig()
    cfg.mapper.retarget(GaussCellMapper)
    cfg.scaleByFwhm = False
    cfg.cellSizeX = cfg.cellSizeY = cfg.gridStepX = cfg.gridStepY = 20.0
    cfg.borderSizeX = cfg.borderSizeY = 8.0
    cfg.reducer.reduceOperation = "copy"
    cfg.edgeMode = "clip"
    cfg.edgeModeX, cfg.edgeModeY = modes
    res = im.ImageMapReduceTask(cfg).run(im.Exposure.fromArrays(image), progress=False)
    scipyModes = [{"periodic": "grid-wrap", "reflect": "reflect"}[m] for m in modes[::-1]]
    want = ndimage.gaussian_filter(image, 2.0, mode=scipyModes, truncate=4.0)
    np.testing.assert_allclose(res.exposure.image.array, want, atol=1e-12)


def test_several_arrays_match_dask_map_overlap():
    rng = np.random.default_rng(3)
    a, b = rng.normal(size=(2, 45, 70))

    def f(x, y):
        return ndimage.uniform_filter(x, 3, mode="nearest") * y

    want = da.map_overlap(
        f,
        da.from_array(a, chunks=(15, 14)),
        da.from_array(b, chunks=(15, 14)),
        depth=1,
        boundary="nearest",
    ).compute()
    out = map_reduce(
        (a, b), f, cellSize=(14, 15), gridStep=(14, 15), borderSize=1, edgeMode="nearest"
    )
    np.testing.assert_array_equal(out, want)
    with pytest.raises(ValueError, match=r"data\[1\] has shape \(45, 69\)"):
        map_reduce((a, b[:, :-1]), f)


@pytest.mark.parametrize("channel_axis", [0, -1, 1])
def test_channel_axis_matches_skimage_apply_parallel(channel_axis):
    util = pytest.importorskip("skimage.util")
    rgb = np.moveaxis(np.random.default_rng(4).random((80, 90, 3)), -1, channel_axis)

    def f(x):
        spatial = [s for i, s in enumerate((2.0, 2.0, 2.0)) if i != channel_axis % 3]
        sig = [0.0 if i == channel_axis % 3 else spatial[0] for i in range(3)]
        return ndimage.gaussian_filter(x, sig, mode="reflect", truncate=4.0) * 2

    want = util.apply_parallel(
        f, rgb, chunks=(32, 32), depth=8, channel_axis=channel_axis, mode="reflect", dtype=rgb.dtype
    )
    out = map_reduce(
        rgb,
        f,
        cellSize=32,
        gridStep=32,
        borderSize=8,
        edgeMode="reflect",
        channel_axis=channel_axis,
    )
    assert out.shape == rgb.shape and out.dtype == rgb.dtype
    np.testing.assert_allclose(out, want, rtol=0, atol=1e-12)
    # axes= names the image axes directly
    yx = [i for i in range(3) if i != channel_axis % 3]
    again = map_reduce(rgb, f, cellSize=32, gridStep=32, borderSize=8, edgeMode="reflect", axes=yx)
    np.testing.assert_array_equal(again, out)


def test_stack_function_may_drop_leading_axes_like_dask_drop_axis():
    x = np.random.default_rng(5).normal(size=(4, 30, 40))
    want = da.map_overlap(
        lambda b: b.mean(axis=0),
        da.from_array(x, chunks=(4, 10, 10)),
        depth=(0, 0, 0),
        drop_axis=0,
        dtype=float,
    ).compute()
    out = map_reduce(x, lambda b: b.mean(axis=0), cellSize=10, gridStep=10)
    assert out.shape == (30, 40)
    np.testing.assert_array_equal(out, want)


DTYPES = [
    "int8",
    "uint8",
    "int16",
    "uint16",
    "int32",
    "uint32",
    "int64",
    "uint64",
    "bool",
    "float16",
    "float32",
    "float64",
    "complex64",
    "complex128",
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduce", ["copy", "average"])
def test_dtype_is_kept_like_dask(dtype, reduce):
    rng = np.random.default_rng(6)
    # (64-bit integers beyond 2**53: tests/mapreduce/test_facade_ints.py)
    x = (np.abs(rng.normal(size=(23, 31))) * 50).astype(dtype)
    if np.dtype(dtype).kind == "c":
        x = x + 1j * x[::-1]

    def f(a):
        return a[::-1, ::-1][::-1, ::-1] if a.dtype.kind == "b" else a * 3 + 1

    want = da.from_array(x, chunks=(8, 8)).map_overlap(f, depth=2, boundary="none").compute()
    out = map_reduce(x, f, cellSize=8, borderSize=2, reduce=reduce)
    assert out.dtype == want.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(out, want)


def test_dtype_argument_and_integer_average_rounds():
    x = np.arange(12 * 10, dtype=np.int32).reshape(12, 10)
    out = map_reduce(x, lambda a: a, cellSize=4, dtype=np.float32)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, x)


def test_infinities_nan_and_negative_zero_pass_through():
    x = np.zeros((12, 12))
    x[0, 0], x[5, 7], x[11, 11] = np.inf, -np.inf, np.nan
    x[3, 3] = -0.0
    want = da.from_array(x, chunks=4).map_overlap(lambda a: a, depth=1, boundary="none").compute()
    out = map_reduce(x, lambda a: a, cellSize=4, gridStep=4, borderSize=1, reduce="copy")
    np.testing.assert_array_equal(out, want)
    assert np.signbit(out[3, 3]) and np.isposinf(out[0, 0]) and np.isneginf(out[5, 7])
    # the default grid overlaps a little: averaging keeps the infinities too
    out = map_reduce(x, lambda a: a, cellSize=5)
    assert np.isposinf(out[0, 0]) and np.isneginf(out[5, 7]) and np.isnan(out[11, 11])


class _CountingArray:
    """An array-like that records the slices dask reads from it."""

    def __init__(self, arr):
        self.arr, self.shape, self.dtype, self.ndim = arr, arr.shape, arr.dtype, arr.ndim
        self.reads = []

    def __getitem__(self, key):
        self.reads.append(key)
        return self.arr[key]


@pytest.mark.parametrize("edgeMode", ["clip", "periodic", "reflect"])
def test_lazy_dask_input_gives_a_dask_array_equal_to_numpy(edgeMode):
    image = _image((90, 120)).astype(np.float64)
    f = lambda a: ndimage.median_filter(a, 5, mode="nearest")  # noqa: E731
    eager = map_reduce(image, f, cellSize=25, borderSize=2, edgeMode=edgeMode)
    source = _CountingArray(image)
    lazy = map_reduce(
        da.from_array(source, chunks=(30, 40)), f, cellSize=25, borderSize=2, edgeMode=edgeMode
    )
    assert isinstance(lazy, da.Array) and lazy.chunks == ((30, 30, 30), (40, 40, 40))
    source.reads.clear()
    lazy.blocks[0, 0].compute(scheduler="sync")
    if edgeMode != "periodic":  # one corner block reads only the chunks near it
        assert 0 < len(source.reads) < 9
    np.testing.assert_array_equal(lazy.compute(), eager)
    if edgeMode == "clip":
        np.testing.assert_array_equal(eager, ndimage.median_filter(image, 5, mode="nearest"))


def _countingDaskInput(nChunks=4):
    """A dask array of ``nChunks`` (50, 100) row chunks that counts its loads."""
    loads = []

    def load(i):
        loads.append(i)
        return np.arange(5000, dtype=float).reshape(50, 100) * (i + 1)

    blocks = [da.from_delayed(dask.delayed(load)(i), (50, 100), float) for i in range(nChunks)]
    return da.concatenate(blocks, axis=0), loads


def test_lazy_graph_is_built_without_reading_input_and_loads_each_chunk_once_like_dask():
    x, loads = _countingDaskInput()
    f = lambda a: ndimage.median_filter(a, 5, mode="reflect")  # noqa: E731
    peer = x.map_overlap(f, depth=2, boundary="reflect", dtype=float)
    ours = map_reduce(x, f, cellSize=50, borderSize=2, edgeMode="reflect")
    assert loads == []  # neither read the input to build the graph
    expected = peer.compute(scheduler="sync")
    peerLoads = len(loads)
    loads.clear()
    np.testing.assert_array_equal(ours.compute(scheduler="sync"), expected)
    assert len(loads) == peerLoads == 4


def test_lazy_probe_falls_back_to_the_first_cell_when_func_rejects_zeros():
    x, loads = _countingDaskInput(2)

    def needsData(a):
        if not a.any():
            raise ValueError("empty cell")
        return a.astype(np.float32) * 2

    ours = map_reduce(x, needsData, cellSize=40, borderSize=2)
    assert ours.dtype == np.float32 and len(loads) == 1  # the first chunk, for the probe
    np.testing.assert_array_equal(ours.compute(), (x.compute() * 2).astype(np.float32))


def test_lazy_blocks_reading_the_same_chunks_stay_distinct_tasks():
    image = _image((60, 80)).astype(np.float64)
    f = lambda a: ndimage.median_filter(a, 9, mode="nearest")  # noqa: E731
    # A border wider than a chunk: every output block reads every input chunk.
    lazy = map_reduce(da.from_array(image, chunks=(30, 40)), f, cellSize=20, borderSize=40)
    np.testing.assert_array_equal(lazy.compute(), map_reduce(image, f, cellSize=20, borderSize=40))
    np.testing.assert_array_equal(lazy.compute(), ndimage.median_filter(image, 9, mode="nearest"))


def test_lazy_stack_with_channel_axis():
    rgb = np.random.default_rng(8).random((3, 50, 60))
    f = lambda a: a * 2 + 1  # noqa: E731
    lazy = map_reduce(da.from_array(rgb, chunks=(3, 25, 30)), f, cellSize=20, channel_axis=0)
    assert isinstance(lazy, da.Array) and lazy.shape == rgb.shape
    np.testing.assert_array_equal(lazy.compute(), f(rgb))
    with pytest.raises(ValueError, match="reduce='none' is not available for a dask array"):
        map_reduce(da.from_array(rgb[0]), f, reduce="none")


def test_dask_backend_uses_the_current_client_or_client_argument():
    distributed = pytest.importorskip("distributed")
    image = _image((60, 80))
    want = smooth3(image)
    with pytest.raises(ValueError, match="found no dask.distributed client") as err:
        map_reduce(image, smooth3, cellSize=30, borderSize=1, backend="dask")
    assert "ImageMapReduceTask" not in str(err.value)
    with distributed.LocalCluster(
        n_workers=1, threads_per_worker=2, processes=False, dashboard_address=None
    ) as cluster:
        with distributed.Client(cluster) as client:
            k = 2.0  # a closure travels to the workers
            out = map_reduce(
                image, lambda a: smooth3(a) * k, cellSize=30, borderSize=1, backend="dask"
            )
            np.testing.assert_array_equal(out, want * k)
            out = map_reduce(
                image, smooth3, cellSize=30, borderSize=1, backend="dask", client=client
            )
            np.testing.assert_array_equal(out, want)


def _python(args, script=None, cwd=None):
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, *args],
        input=script,
        capture_output=True,
        text=True,
        timeout=300,
        cwd=cwd,
    )
    return done.returncode, done.stdout, done.stderr.strip().splitlines()


SCRIPT = """
import numpy as np
import imagemapper as im

def smooth(a):
    return a * 2

k = 3.0
image = np.ones((64, 64), np.float32)
{body}
"""
RUN = (
    "print('SUM', im.map_reduce(image, smooth, cellSize=32, backend='processes', numWorkers=2)"
    ".sum(), im.map_reduce(image, lambda a: a * k, cellSize=32, backend='processes', "
    "numWorkers=2).sum())"
)


def test_processes_run_functions_from_python_c_and_a_guarded_script(tmp_path):
    rc, out, err = _python(["-c", SCRIPT.format(body=RUN)])
    assert rc == 0, err[-5:]
    assert "SUM 8192.0 12288.0" in out
    guarded = tmp_path / "guarded.py"
    guarded.write_text(SCRIPT.format(body="if __name__ == '__main__':\n    " + RUN))
    rc, out, err = _python([str(guarded)])
    assert rc == 0, err[-5:]
    assert "SUM 8192.0 12288.0" in out


def test_processes_start_failures_are_one_line_with_the_workers_exception(tmp_path):
    # A script read from stdin cannot be re-imported by the workers.
    rc, _out, err = _python(["-"], SCRIPT.format(body=RUN))
    assert rc == 1
    assert err[-1].startswith("imagemapper.WorkerStartError: a worker process could")
    assert (
        "FileNotFoundError" in err[-1] and "<stdin>" in err[-1] and "save it to a file" in err[-1]
    )
    # A script without the guard starts its run again in the worker.
    script = tmp_path / "noguard.py"
    script.write_text(SCRIPT.format(body=RUN))
    rc, _out, err = _python([str(script)])
    assert rc == 1
    assert err[-1].startswith("imagemapper.WorkerStartError: a worker process could")
    assert "RuntimeError" in err[-1] and "bootstrapping phase" in err[-1]
    assert 'if __name__ == "__main__":' in err[-1]
    assert "died while running the mapper" not in "\n".join(err)


# Without the guard both workers re-run the script. The first to do so is
# slowed down; the second is held where it starts a process of its own, and
# is killed there when the first fails (the pool closes at once). Whatever
# it had made by then outlives it: shared memory left registered with the
# resource tracker is reported as leaked when the run's interpreter exits
# (after the error, so the user's last line is not the error). The
# diagnosis subprocess (another process name) is left alone.
HELD_SCRIPT = """
import multiprocessing
import os
import sys
import time

import numpy as np
import imagemapper as im

if __name__ == "__mp_main__" and multiprocessing.current_process().name == "imagemapper-worker":
    try:
        os.close(os.open(sys.argv[1], os.O_CREAT | os.O_EXCL))
        time.sleep(3)
    except FileExistsError:
        from multiprocessing.process import BaseProcess

        def held(self, start=BaseProcess.start):
            # This process's segments: imagemapper_<pid>_... and imagemapper_r<pid>_...
            own = (f"imagemapper_{os.getpid()}_", f"imagemapper_r{os.getpid()}_")
            print("HELD", sorted(n for n in os.listdir("/dev/shm") if n.startswith(own)),
                  file=sys.stderr, flush=True)
            time.sleep(120)
            start(self)

        BaseProcess.start = held

image = np.ones((64, 64), np.float32)
print(im.map_reduce(image, lambda a: a * 2, cellSize=32, backend="processes", numWorkers=2).sum())
"""


@pytest.mark.skipif(not os.path.isdir("/dev/shm"), reason="lists POSIX shared memory in /dev/shm")
def test_a_worker_killed_while_re_running_the_script_leaves_nothing_behind(tmp_path):
    script = tmp_path / "held.py"
    script.write_text(HELD_SCRIPT)
    rc, _out, err = _python([str(script), str(tmp_path / "first")], cwd=tmp_path)
    assert rc == 1
    # The held worker was reached, holding no shared memory of its own ...
    assert "HELD []" in err
    # ... and the error stays the last line: no leak reported after it.
    assert err[-1].startswith("imagemapper.WorkerStartError: a worker process could")
    assert "bootstrapping phase" in err[-1]
    assert not [line for line in err if "leaked" in line]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("reduce", ["sum", "average", "copy", "max", "min"])
def test_overlapping_cells_keep_every_value_func_returns(reduce, dtype):
    # Overlapping cells; each cell's result has NaN at its own first pixel
    # (other cells give a number there), and the image holds ±inf and -0.0.
    # The stitched values are the naive numpy reduction of the per-cell
    # results (reduce="none" gives them with their slices), bit for bit:
    # IEEE arithmetic in cell order -- NaN, ±inf and -0.0 as func gave them.
    x = np.arange(20 * 22, dtype=dtype).reshape(20, 22) % 7
    x[2, 3], x[9, 9], x[15, 4] = np.inf, -np.inf, -0.0
    x[12, 0:22:2] = -0.0

    def f(a):
        a = a.copy()
        a[0, 0] = np.nan
        return a

    kw = dict(cellSize=6, gridStep=4)
    cells = map_reduce(x, f, reduce="none", **kw)
    assert len(cells) > 20
    if reduce in ("sum", "average"):
        acc = np.full(x.shape, -0.0, dtype if reduce == "sum" else np.float64)
        count = np.zeros(x.shape)
        for c in cells:
            acc[c.slices] += c.value
            count[c.slices] += 1
        want = acc if reduce == "sum" else (acc / count).astype(dtype)
    else:
        want = np.full(x.shape, np.nan, dtype)
        for c in cells:
            if reduce == "copy":
                want[c.slices] = c.value
            else:
                pick = np.fmax if reduce == "max" else np.fmin
                new = want[c.slices]
                want[c.slices] = np.where(np.isnan(new), c.value, pick(new, c.value))
    out = map_reduce(x, f, reduce=reduce, **kw)
    assert out.dtype == dtype
    np.testing.assert_array_equal(out, want)
    np.testing.assert_array_equal(np.signbit(out), np.signbit(want))
    if reduce in ("sum", "average"):
        assert np.isnan(out).sum() == len(cells)  # each cell's NaN survives the overlap


def test_plain_arrays_move_as_their_own_planes_only(monkeypatch):
    # A numpy array is stitched as the planes func returns: no Exposure (with
    # its zero mask and unit variance planes) is built for the cells or the
    # output.
    from imagemapper.image import _exposure

    def refuse(*args, **kwargs):
        raise AssertionError("an Exposure was built for a plain array")

    monkeypatch.setattr(_exposure.Exposure, "fromArrays", classmethod(refuse))
    monkeypatch.setattr(_exposure.Exposure, "__init__", refuse)
    x = np.random.default_rng(3).normal(size=(40, 50)).astype(np.float32)
    for reduce in ("copy", "average", "weighted", "max"):
        out = map_reduce(x, lambda a: a * 2, cellSize=16, gridStep=12, borderSize=2, reduce=reduce)
        np.testing.assert_allclose(out, x * 2, rtol=1e-6)
