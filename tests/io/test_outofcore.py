"""Out-of-core runs: lazily read inputs, band-by-band outputs, dask + zarr."""

from __future__ import annotations

import logging
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import imagemapper as im
from imagemapper.testing import assertExposuresEqual
from mappers_for_tests import FailingMapper, MeanOfExpandedMapper

ooc = pytest.importorskip("imagemapper.mapreduce._outofcore")


def makeExposure(w=300, h=410, seed=2):
    rng = np.random.default_rng(seed)
    image = rng.normal(size=(h, w)).astype(np.float32)
    image[rng.uniform(size=(h, w)) < 0.002] = np.nan
    mask = (rng.uniform(size=(h, w)) < 0.01).astype(np.int32)
    return im.Exposure.fromArrays(image, mask, np.full((h, w), 1.5, np.float32), xy0=(10, -5))


def makeConfig(op, mapper=MeanOfExpandedMapper):
    c = im.ImageMapReduceConfig()
    c.mapper.retarget(mapper)
    c.scaleByFwhm = False
    c.cellSizeX = c.cellSizeY = 48.0
    c.gridStepX = c.gridStepY = 24.0
    c.borderSizeX = c.borderSizeY = 6.0
    c.adjustGridOption = "none"
    c.reducer.reduceOperation = op
    c.progress = False
    return c


@pytest.mark.parametrize("op", ["average", "copy", "sum"])
@pytest.mark.parametrize("bandHeight", [37, 100, 1000])
def test_fits_to_fits_equals_in_memory(tmp_path, op, bandHeight):
    exp = makeExposure()
    src = tmp_path / "in.fits"
    exp.writeFits(src)
    task = im.ImageMapReduceTask(makeConfig(op))
    reference = task.run(exp).exposure
    res = ooc.runOutOfCore(
        task,
        ooc.FitsSource(src),
        outputPath=tmp_path / "out.fits",
        bandHeight=bandHeight,
        backend="threads",
        numWorkers=2,
    )
    out = im.Exposure.readFits(tmp_path / "out.fits")
    assertExposuresEqual(out, reference)
    assert res.numCells == len(task.boxes0)
    assert res.maxCellsHeld < res.numCells or res.numBands == 1
    assert (
        out.mask.getMaskPlaneDict()["INVALID_MAPREDUCE"]
        == (reference.mask.getMaskPlaneDict()["INVALID_MAPREDUCE"])
    )


# Every operation the out-of-core driver can do (all but mesh, which needs
# every cell before any band), including those that depend on the whole grid
# (weighted ramps, owner centres): bit-identical to the in-memory run.
@pytest.mark.parametrize("op", ["weighted", "owner", "max", "min"])
@pytest.mark.parametrize("bandHeight", [37, 1000])
def test_grid_dependent_operations_out_of_core_equal_in_memory(tmp_path, op, bandHeight):
    exp = makeExposure(160, 150)
    exp.writeFits(tmp_path / "in.fits")
    config = makeConfig(op)
    config.reducer.blendInverseVariance = op == "weighted"
    task = im.ImageMapReduceTask(config)
    reference = task.run(exp).exposure
    ooc.runOutOfCore(
        task,
        ooc.FitsSource(tmp_path / "in.fits"),
        outputPath=tmp_path / "out.fits",
        bandHeight=bandHeight,
        backend="threads",
        numWorkers=2,
    )
    assertExposuresEqual(im.Exposure.readFits(tmp_path / "out.fits"), reference)


@pytest.mark.parametrize("op", ["sum", "weighted"])
def test_failed_cells_are_flagged_alike_out_of_core(tmp_path, op):
    exp = makeExposure(160, 150)
    exp.writeFits(tmp_path / "in.fits")
    config = makeConfig(op, mapper=FailingMapper)
    config.onMapperError = "mask"
    task = im.ImageMapReduceTask(config)
    task.makeGrid(exp.getBBox())
    config.mapper.failCells = [task.boxes0[1].getMinX()]
    res = task.run(exp)
    reference = res.exposure
    assert res.failedCells
    out = ooc.runOutOfCore(
        task,
        ooc.FitsSource(tmp_path / "in.fits"),
        outputPath=tmp_path / "out.fits",
        bandHeight=40,
        backend="serial",
    )
    assert [f.index for f in out.failedCells] == [f.index for f in res.failedCells]
    got = im.Exposure.readFits(tmp_path / "out.fits")
    assertExposuresEqual(got, reference)
    # Independent: the failed cells' boxes are flagged even under good cells.
    bit = got.mask.getPlaneBitMask("INVALID_MAPREDUCE")
    for f in res.failedCells:
        assert ((got.mask.array[f.bbox.slices(exp.getBBox())] & bit) != 0).all()


def test_mesh_is_refused_before_any_output_exists(tmp_path):
    exp = makeExposure(60, 60)
    exp.writeFits(tmp_path / "in.fits")
    task = im.ImageMapReduceTask(makeConfig("mesh"))
    with pytest.raises(ValueError, match="reduceOperation='mesh' is not one of"):
        ooc.runOutOfCore(task, ooc.FitsSource(tmp_path / "in.fits"), outputPath=tmp_path / "o.fits")
    assert not (tmp_path / "o.fits").exists()


def test_zarr_in_and_out_equals_in_memory(tmp_path):
    pytest.importorskip("zarr")
    exp = makeExposure()
    ooc.ZarrSink.fromExposure(str(tmp_path / "in.zarr"), exp, bandHeight=64)
    task = im.ImageMapReduceTask(makeConfig("average"))
    reference = task.run(exp).exposure
    source = ooc.ZarrSource(str(tmp_path / "in.zarr"))
    assert source.getBBox() == exp.getBBox()
    sink = ooc.ZarrSink(
        str(tmp_path / "out.zarr"),
        source.getBBox(),
        source.dtype,
        reference.mask.getMaskPlaneDict(),
        bandHeight=64,
    )
    ooc.runOutOfCore(task, source, sink, bandHeight=64, backend="serial")
    out = ooc.ZarrSource(str(tmp_path / "out.zarr")).readExposure(exp.getBBox())
    assertExposuresEqual(out, reference)


def test_dask_workers_read_and_write_zarr(tmp_path):
    pytest.importorskip("zarr")
    distributed = pytest.importorskip("distributed")
    exp = makeExposure()
    exp.writeFits(tmp_path / "in.fits")
    task = im.ImageMapReduceTask(makeConfig("average"))
    reference = task.run(exp).exposure
    source = ooc.FitsSource(tmp_path / "in.fits")
    sink = ooc.ZarrSink(
        str(tmp_path / "out.zarr"),
        source.getBBox(),
        source.dtype,
        reference.mask.getMaskPlaneDict(),
        bandHeight=96,
    )
    with (
        distributed.LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=":0",
            silence_logs=logging.ERROR,
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        res = ooc.runOutOfCoreDask(task, source, sink, client, bandHeight=96)
    out = ooc.ZarrSource(str(tmp_path / "out.zarr")).readExposure(exp.getBBox())
    assertExposuresEqual(out, reference)
    assert res.numBands == 5


def test_errors_are_clear(tmp_path):
    exp = makeExposure(60, 60)
    exp.writeFits(tmp_path / "in.fits")
    src = ooc.FitsSource(tmp_path / "in.fits")
    with pytest.raises(ValueError, match="reduceOperation='none'"):
        ooc.runOutOfCore(
            im.ImageMapReduceTask(makeConfig("none")), src, outputPath=tmp_path / "o.fits"
        )
    assert not (tmp_path / "o.fits").exists()
    with pytest.raises(ValueError, match="backend"):
        ooc.runOutOfCore(
            im.ImageMapReduceTask(makeConfig("copy")),
            src,
            outputPath=tmp_path / "o.fits",
            backend="processes",
        )
    with pytest.raises(FileNotFoundError, match="no such FITS file"):
        ooc.FitsSource(tmp_path / "missing.fits")


MEMORY_SCRIPT = """
import resource, sys, numpy as np
sys.path.insert(0, {testsDir!r})
import imagemapper as im
from imagemapper.mapreduce import _outofcore as ooc
from mappers_for_tests import AddOneMapper

W, H = {w}, {h}
bbox = im.Box2I(im.Point2I(0, 0), im.Extent2I(W, H))
# Write the input band by band: it is never whole in memory.
with ooc.FitsSink({inPath!r}, bbox, np.float32, im.Mask(1, 1).getMaskPlaneDict()) as sink:
    for y in range(0, H, 256):
        h = min(256, H - y)
        rows = np.arange(y, y + h, dtype=np.float32)[:, None]
        img = rows * 0.001 + np.arange(W, dtype=np.float32)[None, :] * 0.0001
        sink.writeBand(im.Box2I(im.Point2I(0, y), im.Extent2I(W, h)), img,
                       np.zeros((h, W), np.int32), np.ones((h, W), np.float32))
del sink, img
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
c = im.ImageMapReduceConfig()
c.mapper.retarget(AddOneMapper)
c.scaleByFwhm = False
c.cellSizeX = c.cellSizeY = 128.0
c.gridStepX = c.gridStepY = 128.0
c.borderSizeX = c.borderSizeY = 8.0
c.adjustGridOption = "none"
c.reducer.reduceOperation = "average"
c.progress = False
task = im.ImageMapReduceTask(c)
res = ooc.runOutOfCore(task, ooc.FitsSource({inPath!r}), outputPath={outPath!r},
                       bandHeight=256, backend="threads", numWorkers=2)
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print(base, peak, res.numCells, res.maxCellsHeld)
"""


def test_memory_stays_bounded_for_an_image_larger_than_the_cap(tmp_path, testsDir):
    w, h = 6000, 4000  # 24M pixels: 288 MB of image + mask + variance
    script = MEMORY_SCRIPT.format(
        testsDir=testsDir,
        w=w,
        h=h,
        inPath=str(tmp_path / "big.fits"),
        outPath=str(tmp_path / "out.fits"),
    )
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script)], capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr
    base, peak, nCells, maxHeld = (int(v) for v in proc.stdout.split())
    imageBytes = w * h * 12
    cap = imageBytes // 4  # the run may use at most a quarter of the image's size
    assert peak - base < cap, f"grew by {(peak - base) / 2**20:.0f} MiB"
    assert maxHeld < nCells / 5
    # Independent check on samples: average of an add-one mapper = input + 1.
    from astropy.io import fits

    with fits.open(tmp_path / "out.fits", memmap=False) as hdul:
        for y in (0, 1999, 3999):
            row = np.asarray(hdul["IMAGE"].section[y, :], dtype=np.float64)
            expected = (
                np.float32(y) * np.float32(0.001)
                + np.arange(w, dtype=np.float32) * np.float32(0.0001)
                + np.float32(1)
            )
            np.testing.assert_allclose(row, expected, rtol=1e-6)
