"""Batched mappers (``runBatch`` over stacks of equal-shape cells): the same
bits as the per-cell ``run``, with per-cell fallbacks for failures."""

from __future__ import annotations

import numpy as np
import pytest

import imagemapper as im
from imagemapper.testing import assertExposuresEqual


class AddBatchMapper(im.ImageMapper):
    """Adds the expanded cell's mean to the cell (border-dependent), per cell
    or per batch; counts which entry point ran."""

    _DefaultName = "addBatch"
    batchSize = 7
    calls = {"run": 0, "runBatch": 0}
    failOn: int | None = None

    def run(self, subExposure, expandedSubExposure, fullBBox, **kwargs):
        type(self).calls["run"] += 1
        if subExposure.getBBox().getMinX() == self.failOn:
            raise ZeroDivisionError("planted")
        out = subExposure.clone()
        mean = expandedSubExposure.image.array.mean(dtype=np.float64)
        out.image.array[...] += np.float32(mean)
        out.variance.array[...] *= np.float32(2.0)
        return im.Struct(subExposure=out)

    def runBatch(self, subExposures, expandedSubExposures, fullBBox, **kwargs):
        type(self).calls["runBatch"] += 1
        if self.failOn is not None and any(b.getMinX() == self.failOn for b in subExposures.bboxes):
            raise ZeroDivisionError("planted")
        means = expandedSubExposures.image.mean(axis=(1, 2), dtype=np.float64)
        image = subExposures.image + means.astype(np.float32)[:, None, None]
        return im.CellBatch(
            subExposures.bboxes, image, subExposures.mask, subExposures.variance * np.float32(2.0)
        )


class RunOnly(AddBatchMapper):
    runBatch = None  # type: ignore[assignment]


def makeExposure(w=150, h=131):
    rng = np.random.default_rng(5)
    image = rng.normal(size=(h, w)).astype(np.float32)
    image[rng.uniform(size=(h, w)) < 0.01] = np.nan
    mask = (rng.uniform(size=(h, w)) < 0.02).astype(np.int32)
    variance = rng.uniform(1, 2, size=(h, w)).astype(np.float32)
    return im.Exposure.fromArrays(image, mask, variance, xy0=(3, -4))


def config(mapper, op, **kw):
    c = im.ImageMapReduceConfig()
    c.mapper.retarget(mapper)
    c.reducer.reduceOperation = op
    c.scaleByFwhm = False
    c.cellSizeX = c.cellSizeY = 24.0
    c.gridStepX = c.gridStepY = 16.0
    c.borderSizeX = c.borderSizeY = 5.0
    c.keepCellShape = True
    c.progress = False
    for k, v in kw.items():
        setattr(c, k, v)
    return c


@pytest.mark.parametrize("op", ["average", "copy", "sum", "weighted", "owner", "max", "min"])
@pytest.mark.parametrize("backend", ["serial", "threads"])
def test_batched_equals_per_cell_bit_for_bit(op, backend):
    exp = makeExposure()
    AddBatchMapper.calls = {"run": 0, "runBatch": 0}
    batched = im.ImageMapReduceTask(config(AddBatchMapper, op, backend=backend, numWorkers=2))
    got = batched.run(exp).exposure
    assert AddBatchMapper.calls["run"] == 0
    nCells = len(batched.boxes0)
    assert AddBatchMapper.calls["runBatch"] == -(-nCells // AddBatchMapper.batchSize)
    perCell = im.ImageMapReduceTask(config(RunOnly, op, backend=backend, numWorkers=2))
    assertExposuresEqual(got, perCell.run(exp).exposure)
    assert batched.metadata["numBadPixels"] == perCell.metadata["numBadPixels"]


def test_without_equal_shapes_run_is_used():
    exp = makeExposure()
    AddBatchMapper.calls = {"run": 0, "runBatch": 0}
    c = config(AddBatchMapper, "average", keepCellShape=False, adjustGridOption="none")
    task = im.ImageMapReduceTask(c)
    task.run(exp)
    assert AddBatchMapper.calls["runBatch"] == 0
    assert AddBatchMapper.calls["run"] == len(task.boxes0)


def test_a_failing_batch_is_rerun_cell_by_cell_and_masked():
    exp = makeExposure()
    c = config(AddBatchMapper, "average", onMapperError="mask")
    task = im.ImageMapReduceTask(c)
    task.makeGrid(exp.getBBox())
    failX = task.boxes0[3].getMinX()
    Failing = type("Failing", (AddBatchMapper,), {"failOn": failX})
    c.mapper.retarget(Failing)
    task = im.ImageMapReduceTask(c)
    res = task.run(exp)
    failed = [i for i, b in enumerate(task.boxes0) if b.getMinX() == failX]
    assert [f.index for f in res.failedCells] == failed
    ref = im.ImageMapReduceTask(config(type("F2", (RunOnly,), {"failOn": failX}), "average",
                                       onMapperError="mask")).run(exp)  # fmt: skip
    assertExposuresEqual(res.exposure, ref.exposure)


def test_cell_batch_checks_its_shapes():
    box = im.Box2I(im.Point2I(0, 0), im.Extent2I(2, 2))
    with pytest.raises(ValueError, match=r"image has shape \(3, 2, 2\); expected \(2, height"):
        im.CellBatch([box, box], np.zeros((3, 2, 2)), None, np.zeros((2, 2, 2)))
