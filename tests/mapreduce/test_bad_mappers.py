"""Bad input (mapper misbehaviour): every one gives a clear error or a correct result, never a
crash, a hang or a silently wrong image (issue 7). Each test names the class of bad input it feeds
and checks what the user sees: the exception and a message naming the bad value and what
was expected, or the exact result.
"""

from __future__ import annotations

import numpy as np
import pytest

import imagemapper as im
import imagemapper.mappers
from bad_input_support import (
    invalidBit,
    makeConfig,
    makeExposure,
    mapperOf,
    outsideCell,
    run,
)

# --------------------------------------------------------- mapper misbehaviour


def _clone(sub):
    return sub.clone()


def _shifted(sub):
    out = sub.clone()
    out.setXY0(im.Point2I(sub.getX0() + 3, sub.getY0()))
    return out


BACKENDS = ["serial", "threads"]


@pytest.mark.parametrize("backend", BACKENDS)
def test_mapper_returns_an_exposure_outside_the_parent(backend):
    mapper = mapperOf(lambda s, e, f: im.Struct(subExposure=outsideCell(s)), "OutsideMapper")
    with pytest.raises(ValueError) as info:
        run(makeExposure(), mapper=mapper, backend=backend)
    msg = str(info.value)
    assert "Mapper result for cell 0" in msg
    assert "Box2I(minimum=Point2I(1000, 1000), dimensions=Extent2I(5, 5))" in msg
    assert "is not inside the input exposure's box" in msg


@pytest.mark.parametrize("backend", BACKENDS)
def test_wrong_bbox_names_the_cell_not_its_place_in_a_batch(backend):
    # Only the cells at the right edge overflow; the message names the real
    # cell index (not its position within a batch of results).
    mapper = mapperOf(lambda s, e, f: im.Struct(subExposure=_shifted(s)), "ShiftedMapper")
    exposure = makeExposure(24, 20)
    task = im.ImageMapReduceTask(makeConfig(mapper=mapper, backend=backend, numWorkers=2))
    with pytest.raises(ValueError) as info:
        task.run(exposure)
    first = next(i for i, b in enumerate(task.boxes0) if b.getMaxX() + 3 > 23)
    assert first > 0
    assert f"Mapper result for cell {first}:" in str(info.value)


def test_mapper_returns_arrays_of_the_wrong_shape():
    def badShape(s, e, f):
        out = s.clone()
        out.variance._set(np.zeros((3, 3), np.float32), out.getX0(), out.getY0())
        return im.Struct(subExposure=out)

    with pytest.raises(
        ValueError, match=r"cell 0: its subExposure's variance array has shape \(3, 3\)"
    ):
        run(makeExposure(), mapper=mapperOf(badShape, "BadShapeMapper"))


def test_mapper_returns_the_expanded_cell():
    # Documented: each result is stitched into its own box, whatever it is,
    # as long as it lies inside the exposure.
    mapper = mapperOf(lambda s, e, f: im.Struct(subExposure=e), "ExpandedMapper")
    exposure = makeExposure()
    out = run(exposure, mapper=mapper, op="average").exposure
    np.testing.assert_allclose(out.image.array, exposure.image.array, rtol=1e-6)


@pytest.mark.parametrize(
    ("result", "found"),
    [
        (None, "no 'subExposure' item"),
        (im.Struct(subExposure=None), "no 'subExposure' item"),
        (im.Struct(other=1), "no 'subExposure' item"),
        (im.Struct(subExposure=np.zeros((8, 8))), "subExposure of type ndarray"),
    ],
)
def test_mapper_returns_no_exposure(result, found):
    mapper = mapperOf(lambda s, e, f: result, "NoExposureMapper")
    with pytest.raises(TypeError) as info:
        run(makeExposure(), mapper=mapper)
    msg = str(info.value)
    assert f"Mapper result for cell 0 has {found}" in msg
    assert "reduceOperation='none'" in msg


def test_mapper_returning_none_is_fine_with_reduce_none():
    mapper = mapperOf(lambda s, e, f: None, "NoneMapper")
    task = im.ImageMapReduceTask(makeConfig(mapper=mapper, op="none"))
    assert task.run(makeExposure()).result == [None] * len(task.boxes0)


@pytest.mark.parametrize("backend", BACKENDS)
def test_mapper_raises(backend):
    def boom(s, e, f):
        if s.getBBox().getMinX() > 0:
            raise KeyError("boom")
        return im.Struct(subExposure=s)

    exposure = makeExposure()
    task = im.ImageMapReduceTask(makeConfig(mapper=mapperOf(boom, "BoomMapper"), backend=backend))
    with pytest.raises(im.MapperError) as info:
        task.run(exposure)
    first = next(i for i, b in enumerate(task.boxes0) if b.getMinX() > 0)
    assert f"mapper.run failed on cell {first} " in str(info.value)
    assert isinstance(info.value.__cause__, KeyError)
    # onMapperError='mask': the failed cells' pixels are flagged, not invented.
    res = task.run(exposure, onMapperError="mask")
    assert [f.index for f in res.failedCells] == [
        i for i, b in enumerate(task.boxes0) if b.getMinX() > 0
    ]
    out = res.exposure
    flagged = (out.mask.array & invalidBit(out)) != 0
    # Every pixel a failed cell would have contributed to is flagged, even
    # where another cell gave it a value; and every pixel with no value.
    reach = np.zeros(flagged.shape, bool)
    for f in res.failedCells:
        reach[f.bbox.slices(exposure.getBBox())] = True
    np.testing.assert_array_equal(flagged, reach | np.isnan(out.image.array))
    assert (reach & ~np.isnan(out.image.array)).any()
    assert flagged.any() and not flagged.all()
    assert task.metadata["numBadPixels"] == int(flagged.sum())


def test_mapper_raising_base_exception_is_not_swallowed():
    def interrupt(s, e, f):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run(makeExposure(), mapper=mapperOf(interrupt, "InterruptMapper"), onMapperError="mask")


MUTATIONS = [
    lambda s: s.image.array.__setitem__(slice(None), 0.0),
    lambda s: s.maskedImage.__iadd__(1.0),
    lambda s: s.mask.array.__ior__(1),
    lambda s: setattr(s.image.array.flags, "writeable", True),
    lambda s: np.copyto(s.variance.array, 7.0),
]
MUTATION_IDS = ["assign", "iadd", "mask-or", "flip-writeable-flag", "copyto"]


def _mutatingMapper(mutate):
    def mutating(s, e, f):
        mutate(s)
        return im.Struct(subExposure=s)

    return mapperOf(mutating, "MutatingMapper")


def _assertUnchanged(exposure, before):
    for plane in ("image", "mask", "variance"):
        np.testing.assert_array_equal(getattr(exposure, plane).array, getattr(before, plane).array)
    assert exposure.mask.getMaskPlaneDict() == before.mask.getMaskPlaneDict()


@pytest.mark.parametrize("mutate", MUTATIONS, ids=MUTATION_IDS)
@pytest.mark.parametrize("backend", BACKENDS)
def test_mapper_may_write_its_cells_and_the_input_is_untouched(mutate, backend):
    exposure = makeExposure()
    before = exposure.clone()
    out = run(
        exposure, mapper=_mutatingMapper(mutate), backend=backend, op="copy", numWorkers=2
    ).exposure
    _assertUnchanged(exposure, before)
    # The mutation reached the output: each cell's own copy was written.
    expected = before.clone()
    mutate(expected)
    for plane in ("image", "mask", "variance"):
        np.testing.assert_array_equal(getattr(out, plane).array, getattr(expected, plane).array)


@pytest.mark.parametrize("mutate", MUTATIONS, ids=MUTATION_IDS)
@pytest.mark.parametrize("backend", BACKENDS)
def test_read_only_cells_refuse_writes(mutate, backend):
    exposure = makeExposure()
    before = exposure.clone()
    with pytest.raises(im.MapperError) as info:
        run(exposure, mapper=_mutatingMapper(mutate), backend=backend, readOnlyCells=True)
    assert "mapper.run failed on cell 0" in str(info.value)
    assert isinstance(info.value.__cause__, ValueError)
    _assertUnchanged(exposure, before)


def test_mapper_may_mutate_clones():
    def mutating(s, e, f):
        s.maskedImage += 1.0
        return im.Struct(subExposure=s)

    exposure = makeExposure()
    before = exposure.image.array.copy()
    task = im.ImageMapReduceTask(makeConfig(mapper=mapperOf(mutating, "CloneMutator")))
    out = task.run(exposure, doClone=True).exposure
    np.testing.assert_array_equal(exposure.image.array, before)
    np.testing.assert_allclose(out.image.array, before + 1.0, rtol=1e-6)


@pytest.mark.parametrize(
    ("inDtype", "outDtype"), [(np.float32, np.float64), (np.float64, np.float32)]
)
def test_mapper_returns_a_different_dtype(inDtype, outDtype):
    # Documented: results are cast to the input's pixel type.
    def recast(s, e, f):
        out = im.Exposure.fromArrays(
            s.image.array.astype(outDtype),
            mask=s.mask.array,
            variance=s.variance.array.astype(outDtype),
            xy0=(s.getX0(), s.getY0()),
        )
        return im.Struct(subExposure=out)

    exposure = makeExposure(dtype=inDtype)
    out = run(exposure, mapper=mapperOf(recast, "RecastMapper")).exposure
    assert out.image.array.dtype == inDtype
    want = exposure.image.array.astype(outDtype).astype(inDtype)
    np.testing.assert_array_equal(out.image.array, want)


def test_mapper_returns_a_non_struct_with_return_sub_images():
    mapper = mapperOf(lambda s, e, f: s, "BareExposureMapper")
    with pytest.raises(im.MapperError, match=r"cell 0 .*returned Exposure, expected a Struct"):
        run(makeExposure(), mapper=mapper, returnSubImages=True)


class OutsideMapper(im.ImageMapper):
    """Module level, so that it pickles for the process backend."""

    _DefaultName = "test_outside"

    def run(self, subExposure, expandedSubExposure, fullBBox, **kwargs):
        if subExposure.getBBox().getMinX() > 0:
            raise ArithmeticError("planted")
        return im.Struct(subExposure=subExposure)


def test_mapper_errors_cross_processes():
    task = im.ImageMapReduceTask(
        makeConfig(mapper=OutsideMapper, backend="processes", numWorkers=2)
    )
    with pytest.raises(im.MapperError, match=r"ArithmeticError\('planted'\)") as info:
        task.run(makeExposure())
    assert isinstance(info.value.__cause__, ArithmeticError)
