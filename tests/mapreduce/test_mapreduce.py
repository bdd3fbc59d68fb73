"""End-to-end tests of ImageMapReduceTask against independently computed answers."""

from __future__ import annotations

import itertools
import pickle

import lsst.pex.config as pexConfig
import numpy as np
import pytest

import imagemapper as im
from imagemapper.testing import naiveGrid, naiveReduce

# ------------------------------------------------------------------ mappers


class AddAmountConfig(im.ImageMapperConfig):
    addAmount = pexConfig.Field(dtype=float, doc="amount to add", default=5.0)


class AddAmountMapper(im.ImageMapper):
    """Adds a constant to the cell; optionally plants a NaN at its first pixel."""

    ConfigClass = AddAmountConfig
    _DefaultName = "test_addAmount"

    def run(self, subExposure, expandedSubExposure, fullBBox, addNans=False, **kwargs):
        subExp = subExposure.clone()
        subExp.maskedImage += self.config.addAmount
        if addNans:
            subExp.image.array[0, 0] = np.nan
        return im.Struct(subExposure=subExp)


class MeanMapper(im.ImageMapper):
    """Returns the mean of the cell (for reduceOperation='none')."""

    _DefaultName = "test_mean"

    def run(self, subExposure, expandedSubExposure, fullBBox, **kwargs):
        return im.Struct(mean=float(np.mean(subExposure.image.array)), bbox=subExposure.getBBox())


class PassThroughMapper(im.ImageMapper):
    _DefaultName = "test_passThrough"

    def run(self, subExposure, expandedSubExposure, fullBBox, **kwargs):
        return super().run(subExposure, expandedSubExposure, fullBBox, **kwargs)


class RecordingMapper(im.ImageMapper):
    """Records the keyword arguments and the views it was given."""

    _DefaultName = "test_recording"

    def run(self, subExposure, expandedSubExposure, fullBBox, **kwargs):
        return im.Struct(
            kwargs=dict(kwargs),
            writeable=subExposure.image.array.flags.writeable,
            fullBBox=fullBBox,
            box0=subExposure.getBBox(),
            box1=expandedSubExposure.getBBox(),
        )


class MutatingMapper(im.ImageMapper):
    _DefaultName = "test_mutating"

    def run(self, subExposure, expandedSubExposure, fullBBox, **kwargs):
        subExposure.image.array[:] = 0.0
        return im.Struct(subExposure=subExposure)


# ---------------------------------------------------------------- fixtures


def makeExposure(width=128, height=128, xy0=(0, 0), seed=12345, dtype=np.float32, psf=True):
    rng = np.random.default_rng(seed)
    image = rng.normal(100.0, 10.0, size=(height, width)).astype(dtype)
    variance = rng.uniform(1.0, 2.0, size=(height, width)).astype(dtype)
    mask = np.zeros((height, width), dtype=np.int32)
    mask[rng.integers(0, height, 20), rng.integers(0, width, 20)] = 1  # some BAD pixels
    exp = im.Exposure.fromArrays(image, mask, variance, xy0=xy0)
    if psf:
        exp.setPsf(im.DoubleGaussianPsf(11, 11, 2.0, 3.7))
    return exp


def makeConfig(mapper=AddAmountMapper, op="average", **fields):
    config = im.ImageMapReduceConfig()
    config.mapper.retarget(mapper)
    config.reducer.reduceOperation = op
    config.backend = "serial"
    for k, v in fields.items():
        setattr(config, k, v)
    return config


@pytest.fixture
def exposure():
    return makeExposure()


# -------------------------------------------------------------------- tests


@pytest.mark.parametrize("op", ["copy", "sum", "average"])
@pytest.mark.parametrize("overlap", [False, True])
@pytest.mark.parametrize("addNans", [False, True])
def test_add_amount_matches_naive_reduce(op, overlap, addNans):
    exposure = makeExposure(width=100, height=90, xy0=(7, -3))
    step = 10.0 if overlap else 20.0
    config = makeConfig(
        op=op,
        cellSizeX=20.0,
        cellSizeY=20.0,
        gridStepX=step,
        gridStepY=step,
        borderSizeX=3.0,
        borderSizeY=3.0,
        adjustGridOption="none",
        scaleByFwhm=False,
    )
    task = im.ImageMapReduceTask(config)
    before = exposure.image.array.copy()
    result = task.run(exposure, addNans=addNans).exposure
    np.testing.assert_array_equal(exposure.image.array, before)  # input untouched

    # Independent answer: the naive LSST-style reducer over the same results.
    cells = []
    for b0 in task.boxes0:
        cell = im.Exposure(exposure, b0, deep=True)
        cell.maskedImage += 5.0
        if addNans:
            cell.image.array[0, 0] = np.nan
        cells.append(cell)
    expected = naiveReduce(
        cells, exposure, op, badMaskPlanes=["INVALID_MAPREDUCE", "BAD", "NO_DATA"]
    )
    np.testing.assert_array_equal(result.image.array, expected.image.array)
    np.testing.assert_array_equal(result.variance.array, expected.variance.array)
    np.testing.assert_array_equal(result.mask.array, expected.mask.array)

    # And the analytic answer where every pixel was valid everywhere.
    img = result.image.array
    finite = np.isfinite(img)
    if op in ("copy", "average"):
        np.testing.assert_allclose(img[finite], before[finite] + 5.0, rtol=1e-6)
    if not addNans and op != "sum":
        assert finite.all()


def test_average_equals_copy_on_noise(exposure):
    common = dict(cellSizeX=16.0, cellSizeY=16.0, gridStepX=8.0, gridStepY=8.0, scaleByFwhm=False)
    copy = im.ImageMapReduceTask(makeConfig(op="copy", **common)).run(exposure).exposure
    avg = im.ImageMapReduceTask(makeConfig(op="average", **common)).run(exposure).exposure
    np.testing.assert_allclose(avg.image.array, copy.image.array, rtol=1e-6)
    np.testing.assert_allclose(avg.variance.array, copy.variance.array, rtol=1e-6)


def test_sum_equals_input_times_coverage(exposure):
    config = makeConfig(
        op="sum",
        cellSizeX=16.0,
        cellSizeY=16.0,
        gridStepX=8.0,
        gridStepY=8.0,
        scaleByFwhm=False,
        adjustGridOption="none",
    )
    config.mapper.addAmount = 0.0
    task = im.ImageMapReduceTask(config)
    out = task.run(exposure).exposure
    coverage = np.zeros(exposure.image.array.shape)
    for b in task.boxes0:
        sy, sx = b.slices(exposure.getBBox())
        coverage[sy, sx] += 1
    np.testing.assert_allclose(out.image.array, exposure.image.array * coverage, rtol=1e-5)


def test_mask_invalid_count_equals_nan_count(exposure):
    config = makeConfig(
        op="average",
        cellSizeX=16.0,
        cellSizeY=16.0,
        gridStepX=16.0,
        gridStepY=16.0,
        borderSizeX=2.0,
        borderSizeY=2.0,
        scaleByFwhm=False,
        adjustGridOption="none",
    )
    out = im.ImageMapReduceTask(config).run(exposure, addNans=True).exposure
    bit = out.mask.getPlaneBitMask("INVALID_MAPREDUCE")
    invalid = (out.mask.array & bit) != 0
    nans = np.isnan(out.image.array)
    assert nans.sum() > 0
    assert invalid.sum() == nans.sum()
    np.testing.assert_array_equal(invalid, nans)
    # The input's mask plane dictionary is not changed by the reducer.
    assert "INVALID_MAPREDUCE" not in exposure.mask.getMaskPlaneDict()


def test_mean_mapper_with_none(exposure):
    config = makeConfig(
        mapper=MeanMapper, op="none", cellSizeX=32.0, cellSizeY=32.0, scaleByFwhm=False
    )
    task = im.ImageMapReduceTask(config)
    results = task.run(exposure).result
    assert len(results) == len(task.boxes0) > 1
    for res, b0 in zip(results, task.boxes0):
        sy, sx = b0.slices(exposure.getBBox())
        assert res.bbox == b0
        assert res.mean == pytest.approx(float(np.mean(exposure.image.array[sy, sx])), rel=1e-6)


def test_explicit_centroids(exposure):
    cx = [10.0, 50.5, 90.0, 127.0]
    cy = [12.0, 40.0, 100.2, 0.0]
    config = makeConfig(
        mapper=MeanMapper,
        op="none",
        cellCentroidsX=cx,
        cellCentroidsY=cy,
        cellSizeX=10.0,
        cellSizeY=12.0,
        borderSizeX=4.0,
        borderSizeY=3.0,
    )
    exposure.setPsf(None)  # no PSF needed with explicit centroids
    task = im.ImageMapReduceTask(config)
    task.run(exposure)
    boxes0, boxes1 = naiveGrid(
        exposure.getBBox(),
        cellSize=(10, 12),
        gridStep=(10, 10),
        borderSize=(4, 3),
        adjust="spacing",
        centroids=list(zip(cx, cy)),
    )
    assert task.boxes0 == boxes0
    assert task.boxes1 == boxes1


def test_mismatched_box_lists_raise(exposure):
    task = im.ImageMapReduceTask(makeConfig(scaleByFwhm=False))
    task._generateGrid(exposure)
    task.boxes1 = task.boxes1[:-1]
    with pytest.raises(ValueError, match="different lengths"):
        task.run(exposure)


@pytest.mark.parametrize("adjust", ["spacing", "size", "none"])
@pytest.mark.parametrize("scaleByFwhm", [False, True])
def test_grid_validity_sweep(exposure, adjust, scaleByFwhm):
    expected = exposure.image.array + 1.0
    nCellsByScale = {}
    for op in ("copy", "average"):
        for gstepx, gstepy in itertools.product((11, 7), (11, 7)):
            for gsizex, gsizey in itertools.product(
                gstepx + np.array([0, 2]), gstepy + np.array([0, 1])
            ):
                config = makeConfig(
                    op=op,
                    gridStepX=float(gstepx),
                    gridStepY=float(gstepy),
                    cellSizeX=float(gsizex),
                    cellSizeY=float(gsizey),
                    adjustGridOption=adjust,
                    scaleByFwhm=scaleByFwhm,
                )
                config.mapper.addAmount = 1.0
                task = im.ImageMapReduceTask(config)
                task._generateGrid(exposure)
                results = task._runMapper(exposure)
                out = task._reduceImage(results, exposure).exposure
                arr = out.image.array
                assert not np.isnan(arr).any(), f"NaN with {config.toDict()}"
                np.testing.assert_allclose(arr, expected, rtol=1e-6)
                nCellsByScale[(op, gstepx, gstepy, gsizex, gsizey)] = len(task.boxes0)
    if scaleByFwhm:
        # FWHM ~4.7 px: every scaled grid has fewer cells than the unscaled one.
        for key, n in nCellsByScale.items():
            op, gsx, gsy, szx, szy = key
            config = makeConfig(
                op=op,
                gridStepX=float(gsx),
                gridStepY=float(gsy),
                cellSizeX=float(szx),
                cellSizeY=float(szy),
                adjustGridOption=adjust,
                scaleByFwhm=False,
            )
            unscaled = im.ImageMapReduceTask(config)._generateGrid(exposure)[0]
            assert n < len(unscaled)


@pytest.mark.parametrize("op", ["sum", "average"])
def test_coadd_psf_after_reduce(exposure, op):
    psf = im.GaussianPsf(21, 21, 2.5)
    exposure.setPsf(psf)
    config = makeConfig(
        mapper=PassThroughMapper,
        op=op,
        cellSizeX=32.0,
        cellSizeY=32.0,
        gridStepX=16.0,
        gridStepY=16.0,
        scaleByFwhm=False,
    )
    out = im.ImageMapReduceTask(config).run(exposure).exposure
    coadd = out.getPsf()
    assert isinstance(coadd, im.CoaddPsf)
    bbox = exposure.getBBox()
    for x, y in itertools.product(
        np.linspace(bbox.getMinX(), bbox.getMaxX(), 5),
        np.linspace(bbox.getMinY(), bbox.getMaxY(), 5),
    ):
        pos = im.Point2D(float(x), float(y))
        a = coadd.computeImage(pos).array
        b = psf.computeImage(pos).array
        np.testing.assert_allclose(a, b, atol=1e-4)


def test_coadd_psf_operation(exposure):
    config = makeConfig(
        mapper=PassThroughMapper, op="coaddPsf", cellSizeX=40.0, cellSizeY=40.0, scaleByFwhm=False
    )
    task = im.ImageMapReduceTask(config)
    coadd = task.run(exposure).result
    assert isinstance(coadd, im.CoaddPsf)
    assert coadd.getComponentCount() == len(task.boxes0)


def test_non_exposure_result_with_stitching_reduce_raises(exposure):
    config = makeConfig(mapper=MeanMapper, op="average", scaleByFwhm=False)
    with pytest.raises(TypeError, match="reduceOperation='none'"):
        im.ImageMapReduceTask(config).run(exposure)


def test_cells_are_writable_and_kwargs_pass_through(exposure):
    config = makeConfig(
        mapper=RecordingMapper,
        op="none",
        cellSizeX=40.0,
        cellSizeY=40.0,
        scaleByFwhm=False,
        returnSubImages=True,
    )
    task = im.ImageMapReduceTask(config)
    results = task.run(exposure, someOption=42).result
    assert all(r.kwargs == {"someOption": 42} for r in results)
    assert all(r.writeable for r in results)
    assert all(r.fullBBox == exposure.getBBox() for r in results)
    assert [r.box0 for r in results] == task.boxes0
    assert [r.box1 for r in results] == task.boxes1
    assert all(r.inputSubExposure.getBBox() == r.box0 for r in results)
    assert all(r.inputExpandedSubExposure.getBBox() == r.box1 for r in results)

    cloned = task.run(exposure, doClone=True).result
    assert all(r.writeable for r in cloned)
    assert all("doClone" not in r.kwargs for r in cloned)

    config.readOnlyCells = True
    readOnly = im.ImageMapReduceTask(config).run(exposure).result
    assert not any(r.writeable for r in readOnly)


def test_mutating_mapper_never_modifies_input(exposure):
    before = exposure.image.array.copy()
    config = makeConfig(mapper=MutatingMapper, op="copy", scaleByFwhm=False)
    out = im.ImageMapReduceTask(config).run(exposure).exposure
    np.testing.assert_array_equal(exposure.image.array, before)
    assert np.all(out.image.array == 0.0)
    # The same with doClone (eager copies) ...
    out = im.ImageMapReduceTask(config).run(exposure, doClone=True).exposure
    np.testing.assert_array_equal(exposure.image.array, before)
    assert np.all(out.image.array == 0.0)
    # ... and read-only cells refuse the write.
    config.readOnlyCells = True
    with pytest.raises(im.MapperError, match="cell 0") as info:
        im.ImageMapReduceTask(config).run(exposure)
    assert isinstance(info.value.__cause__, ValueError)  # numpy: read-only destination
    np.testing.assert_array_equal(exposure.image.array, before)


def test_force_even_sized(exposure):
    config = makeConfig(
        mapper=RecordingMapper, op="none", cellSizeX=9.0, cellSizeY=11.0, scaleByFwhm=False
    )
    task = im.ImageMapReduceTask(config)
    results = task.run(exposure, forceEvenSized=True).result
    for b in task.boxes0 + task.boxes1:
        assert b.getWidth() % 2 == 0 and b.getHeight() % 2 == 0
    assert results[0].kwargs == {"forceEvenSized": True}  # passed on, as in LSST


def test_grid_regenerated_when_box_or_config_changes():
    config = makeConfig(scaleByFwhm=False, cellSizeX=20.0, cellSizeY=20.0)
    task = im.ImageMapReduceTask(config)
    small = makeExposure(64, 64, psf=False)
    task.run(small)
    n_small = len(task.boxes0)
    big = makeExposure(128, 96, xy0=(5, 5), psf=False)
    out = task.run(big).exposure
    assert task.boxes0 == naiveGrid(big.getBBox(), (20, 20), (10, 10), (5, 5), "spacing")[0]
    assert len(task.boxes0) != n_small
    assert not np.isnan(out.image.array).any()
    config.cellSizeX = 30.0  # the task holds a reference to its config
    task.run(big)
    assert task.boxes0 == naiveGrid(big.getBBox(), (30, 20), (10, 10), (5, 5), "spacing")[0]


def test_user_boxes_are_used_as_given(exposure):
    task = im.ImageMapReduceTask(makeConfig(op="copy", scaleByFwhm=False))
    b = im.Box2I(im.Point2I(10, 10), im.Extent2I(20, 20))
    task.boxes0 = [b]
    task.boxes1 = [b.dilatedBy(2)]
    out = task.run(exposure).exposure
    assert task.boxes0 == [b]
    assert np.isfinite(out.image.array).sum() == 400


def test_scale_by_fwhm_without_psf_is_a_clear_error():
    exposure = makeExposure(psf=False)
    task = im.ImageMapReduceTask(makeConfig(scaleByFwhm=True))
    with pytest.raises(ValueError, match="scaleByFwhm"):
        task.run(exposure)
    # No PSF needed without scaling.
    task = im.ImageMapReduceTask(makeConfig(scaleByFwhm=False))
    assert np.isfinite(task.run(exposure).exposure.image.array).all()


def test_default_task_passes_cells_through_with_a_warning(exposure, caplog):
    with pytest.raises(TypeError):
        im.ImageMapper()  # abstract, as in LSST
    config = im.ImageMapReduceConfig()
    config.scaleByFwhm = False
    config.reducer.reduceOperation = "copy"
    with caplog.at_level("WARNING"):
        task = im.ImageMapReduceTask(config)
    assert "retarget" in caplog.text
    assert isinstance(task.mapper, im.ImageMapper)
    out = task.run(exposure).exposure
    np.testing.assert_array_equal(out.image.array, exposure.image.array)
    np.testing.assert_array_equal(out.variance.array, exposure.variance.array)
    assert task.mapper.getFullName() == "ip_diffim_imageMapReduce.mapper"


def test_abstract_mapper_subclass_is_a_clear_error():
    class Incomplete(im.ImageMapper, metaclass=type(im.ImageMapper)):
        _DefaultName = "incomplete"

        @__import__("abc").abstractmethod
        def extra(self):
            pass

    config = im.ImageMapReduceConfig()
    config.mapper.retarget(Incomplete)
    with pytest.raises(TypeError, match="abstract class Incomplete"):
        im.ImageMapReduceTask(config)


def test_task_names_and_config_reference():
    config = makeConfig(scaleByFwhm=False)
    task = im.ImageMapReduceTask(config)
    assert task.getFullName() == "ip_diffim_imageMapReduce"
    assert task.mapper.getFullName() == "ip_diffim_imageMapReduce.mapper"
    assert task.reducer.getFullName() == "ip_diffim_imageMapReduce.reducer"
    config.mapper.addAmount = 17.0
    assert task.mapper.config.addAmount == 17.0
    assert isinstance(im.ImageMapper.makeField("doc"), pexConfig.ConfigurableField)


def test_float64_exposure_and_pickled_task(exposure):
    exp64 = makeExposure(dtype=np.float64, psf=False)
    config = makeConfig(op="average", scaleByFwhm=False, cellSizeX=16.0, cellSizeY=16.0)
    task = im.ImageMapReduceTask(config)
    out = task.run(exp64).exposure
    assert out.image.array.dtype == np.float64
    np.testing.assert_allclose(out.image.array, exp64.image.array + 5.0, rtol=1e-12)
    task2 = pickle.loads(pickle.dumps(task))
    out2 = task2.run(exp64).exposure
    np.testing.assert_array_equal(out.image.array, out2.image.array)


def test_metadata_timing(exposure):
    task = im.ImageMapReduceTask(makeConfig(scaleByFwhm=False))
    task.run(exposure)
    md = task.getFullMetadata()
    assert "runStartCpuTime" in md["ip_diffim_imageMapReduce"].names()
