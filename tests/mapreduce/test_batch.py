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


class ImageOnlyBatchMapper(im.ImageMapper):
    """LSST's AddAmountImageMapper per cell, and batched in place: only the
    image stack is read and written; mask and variance are left alone."""

    _DefaultName = "imageOnly"
    batchSize = 9
    seen: list = []

    def run(self, subExposure, expandedSubExposure, fullBBox, **kwargs):
        out = subExposure.clone()
        out.image.array[...] += np.float32(3.5)
        return im.Struct(subExposure=out)

    def runBatch(self, subExposures, expandedSubExposures, fullBBox, **kwargs):
        subExposures.image += np.float32(3.5)
        type(self).seen.append(subExposures)
        return subExposures


class ImageOnlyRunOnly(ImageOnlyBatchMapper):
    runBatch = None  # type: ignore[assignment]


@pytest.mark.parametrize("op", ["average", "copy", "sum", "weighted", "owner", "max", "min"])
def test_planes_the_batch_mapper_left_alone_are_stitched_from_the_input(op):
    exp = makeExposure()
    before = exp.clone()
    ImageOnlyBatchMapper.seen = []
    got = im.ImageMapReduceTask(config(ImageOnlyBatchMapper, op)).run(exp).exposure
    ref = im.ImageMapReduceTask(config(ImageOnlyRunOnly, op)).run(exp).exposure
    assertExposuresEqual(got, ref)
    assertExposuresEqual(exp, before)  # the input is not modified
    # Only the image stacks were ever gathered: mask and variance were read
    # from the input's planes by the reducer.
    assert ImageOnlyBatchMapper.seen
    assert all(set(b._planes) == {"image"} for b in ImageOnlyBatchMapper.seen)


def _cellsOf(shape, n, rng, h=6, w=5):
    ys = rng.integers(0, shape[0] - h + 1, n)
    xs = rng.integers(0, shape[1] - w + 1, n)
    return ys, xs, h, w


@pytest.mark.parametrize("op", ["average", "copy", "sum", "weighted", "owner", "max", "min"])
def test_core_add_batch_reads_a_source_plane_as_its_stack(op):
    from imagemapper import _core

    rng = np.random.default_rng(11)
    x0, y0 = 7, -3
    image = rng.normal(size=(30, 40)).astype(np.float32)
    mask = rng.integers(0, 4, size=(30, 40)).astype(np.int32)
    variance = rng.uniform(1, 2, size=(30, 40)).astype(np.float32)
    full = im.Box2I(im.Point2I(x0, y0), im.Extent2I(40, 30))
    ys, xs, h, w = _cellsOf(image.shape, 25, rng)
    boxes = [im.Box2I(im.Point2I(x0 + x, y0 + y), im.Extent2I(w, h)) for y, x in zip(ys, xs)]
    # The stacks, cut by numpy slicing: the independent reference.
    stack = {
        name: np.stack([p[y : y + h, x : x + w] for y, x in zip(ys, xs)])
        for name, p in (("image", image), ("mask", mask), ("variance", variance))
    }
    outs = []
    for planes, origin in (
        ((stack["image"] * 2, stack["mask"], stack["variance"]), None),
        ((stack["image"] * 2, mask, variance), (x0, y0)),  # mask, variance from the source
    ):
        r = _core.Reducer(op, full, np.float32, mask=np.zeros((30, 40), np.int32), grid=boxes)
        r.add_batch(list(range(len(boxes))), boxes, *planes, origin)
        r.finish(1)
        outs.append(r.take())
    for a, b in zip(*outs):
        if a is not None:
            np.testing.assert_array_equal(a, b)


def test_core_add_batch_source_plane_errors_name_the_cell():
    from imagemapper import _core

    full = im.Box2I(im.Point2I(0, 0), im.Extent2I(10, 10))
    boxes = [
        im.Box2I(im.Point2I(0, 0), im.Extent2I(4, 4)),
        im.Box2I(im.Point2I(8, 8), im.Extent2I(4, 4)),
    ]
    src = np.zeros((10, 10), np.float32)
    stack = np.zeros((2, 4, 4), np.float32)
    r = _core.Reducer("copy", full, np.float32, mask=np.zeros((10, 10), np.int32))
    with pytest.raises(ValueError, match=r"batch variance is a 2-D plane .* no origin"):
        r.add_batch([0, 1], boxes, stack, None, src)
    small = np.zeros((10, 10), np.float32)
    with pytest.raises(
        ValueError,
        match=r"batch image: cell 1 covers .* not inside the source plane of shape "
        r"\(10, 10\) at origin \(0, 0\)",
    ):
        r.add_batch([0, 1], boxes, small, None, None, (0, 0))
