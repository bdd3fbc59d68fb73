"""Copy-on-write cells: a mapper may write into the cells it is handed, as in
LSST, and the input exposure is never modified."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

import imagemapper as im
from imagemapper.mapreduce._cells import copyOnWriteCells


def box(x0, y0, w, h):
    return im.Box2I(im.Point2I(x0, y0), im.Extent2I(w, h))


@pytest.fixture
def exposure():
    rng = np.random.default_rng(5)
    image = rng.normal(size=(40, 50)).astype(np.float32)
    variance = rng.uniform(1, 2, size=(40, 50)).astype(np.float32)
    mask = (rng.uniform(size=(40, 50)) < 0.2).astype(np.int32)
    return im.Exposure.fromArrays(image, mask, variance, xy0=(7, -3))


def cells(exposure, b0, b1):
    readOnly = im.Exposure(exposure, exposure.getBBox(), writeable=False)
    return copyOnWriteCells(readOnly, b0, b1)


B1 = box(10, 0, 20, 16)  # expanded cell (parent coordinates)
B0 = box(14, 4, 12, 8)  # cell


def inputSlices(exposure, b):
    return b.slices(exposure.getBBox())


def test_cells_see_the_input_and_share_nothing_writable_with_it(exposure):
    before = exposure.clone()
    sub, expanded = cells(exposure, B0, B1)
    assert sub.getBBox() == B0 and expanded.getBBox() == B1
    for plane in ("image", "mask", "variance"):
        src = getattr(before, plane).array
        np.testing.assert_array_equal(getattr(sub, plane).array, src[inputSlices(before, B0)])
        np.testing.assert_array_equal(getattr(expanded, plane).array, src[inputSlices(before, B1)])
        getattr(sub, plane).array[...] = 3
        getattr(expanded, plane).array[0, 0] = 9
    for plane in ("image", "mask", "variance"):
        np.testing.assert_array_equal(getattr(exposure, plane).array, getattr(before, plane).array)


@pytest.mark.parametrize("first", ["sub", "expanded"])
def test_cell_is_a_view_of_the_expanded_cell(exposure, first):
    # As in LSST (both are views of one parent there): a write through one is
    # seen through the other, whichever is written first.
    sub, expanded = cells(exposure, B0, B1)
    sy, sx = B0.slices(B1)
    if first == "sub":
        sub.image.array[...] = 5.0
        assert np.all(expanded.image.array[sy, sx] == 5.0)
        expanded.image.array[...] = -1.0
        assert np.all(sub.image.array == -1.0)
    else:
        expanded.maskedImage += 2.0
        np.testing.assert_array_equal(
            sub.image.array, exposure.image.array[inputSlices(exposure, B0)] + np.float32(2.0)
        )
        sub.mask.array[...] |= 1 << 12
        assert np.all(expanded.mask.array[sy, sx] & (1 << 12))
    assert not np.any(exposure.mask.array & (1 << 12))


def test_reading_and_cloning_copy_nothing(exposure):
    sub, expanded = cells(exposure, B0, B1)
    clone = sub.clone()
    stats = float(expanded.getMaskedImage().getImage().getArray().sum())
    assert stats == pytest.approx(float(exposure.image.array[inputSlices(exposure, B1)].sum()))
    # The mask and variance planes were never asked for as writable arrays:
    # they still read the input's memory (no copy was made).
    assert np.shares_memory(expanded.variance._array, exposure.variance.array)
    assert np.shares_memory(sub.mask._array, exposure.mask.array)
    assert not np.shares_memory(clone.image.array, exposure.image.array)
    clone.image.array[...] = 0  # the clone is the mapper's own
    assert not np.any(sub.image.array == 0)


def test_every_write_path_reaches_the_cell_not_the_input(exposure):
    before = exposure.clone()
    writes = [
        lambda s: s.image.__setitem__(box(15, 5, 2, 2), 1.0),
        lambda s: s.image.set(2.0),
        lambda s: s.variance.__imul__(2.0),
        lambda s: s.mask.__ior__(4),
        lambda s: s.mask.clearAllMaskPlanes(),
        lambda s: s.maskedImage.set(0.0),
        lambda s: s.maskedImage.__itruediv__(3.0),
        lambda s: s.maskedImage.__isub__(s.maskedImage.clone()),
        lambda s: setattr(s.image, "array", 7.0),
        lambda s: s[box(15, 5, 3, 3)].image.set(8.0),
        lambda s: im.Exposure(s, box(16, 6, 2, 2)).maskedImage.set(1.0),
    ]
    for write in writes:
        sub, _ = cells(exposure, B0, B1)
        expected = im.Exposure(before, B0, deep=True)
        write(expected)
        write(sub)
        for plane in ("image", "mask", "variance"):
            np.testing.assert_array_equal(getattr(sub, plane).array, getattr(expected, plane).array)
    for plane in ("image", "mask", "variance"):
        np.testing.assert_array_equal(getattr(exposure, plane).array, getattr(before, plane).array)


def test_mask_planes_added_on_a_cell_stay_in_the_cell(exposure):
    planes = exposure.mask.getMaskPlaneDict()
    sub, expanded = cells(exposure, B0, B1)
    bit = sub.mask.addMaskPlane("CELL_ONLY")
    assert expanded.mask.getMaskPlane("CELL_ONLY") == bit
    assert exposure.mask.getMaskPlaneDict() == planes


def test_cells_pickle_and_copy_as_plain_exposures(exposure):
    sub, expanded = cells(exposure, B0, B1)
    back = pickle.loads(pickle.dumps(sub))
    assert type(back.image) is im.Image and type(back.mask) is im.Mask
    np.testing.assert_array_equal(back.image.array, exposure.image.array[inputSlices(exposure, B0)])
    assert sub.image.Factory is im.Image
    assert type(sub.image.clone()) is im.Image
    view = im.Image(expanded.image, B0)
    assert type(view) is im.Image
    view.set(4.0)
    assert np.all(sub.image.array == 4.0)  # the view shares the cell's pixels
    assert type(sub.image) is im.Image  # plain again after its copy


# ------------------------------------------------------------ lazy cells (issue 12 item 4)


def test_a_cell_pair_reads_as_plain_exposures_of_the_input_region(exposure):
    sub, expanded = cells(exposure, B0, B1)
    # What a mapper sees before anything is read: the type's name, Factory, repr.
    assert isinstance(sub, im.Exposure) and type(sub).__name__ == "Exposure"
    assert sub.Factory is im.Exposure and expanded.Factory is im.Exposure
    assert repr(sub).startswith("Exposure(bbox=")
    assert type(sub) is im.Exposure  # plain after its first read
    assert expanded.getBBox() == B1 and type(expanded) is im.Exposure
    np.testing.assert_array_equal(
        expanded.variance.array, exposure.variance.array[inputSlices(exposure, B1)]
    )
    assert sub.getPsf() is exposure.getPsf() and sub.getWcs() is exposure.getWcs()


@pytest.mark.parametrize("written", ["sub", "expanded"])
def test_a_write_is_seen_by_the_other_cell_read_later(exposure, written):
    # The other cell of the pair is built only after the write: it must be
    # built from the written pixels, not from the input.
    sub, expanded = cells(exposure, B0, B1)
    sy, sx = B0.slices(B1)
    if written == "sub":
        sub.image.array[...] = 5.0
        sub.mask.array[...] |= 1 << 11
        assert np.all(expanded.image.array[sy, sx] == 5.0)
        assert np.all(expanded.mask.array[sy, sx] & (1 << 11))
    else:
        expanded.variance.array[...] = 7.0
        assert np.all(sub.variance.array == 7.0)
    for plane in ("image", "mask", "variance"):
        assert getattr(exposure, plane).array.flags.writeable
    assert not np.any(exposure.mask.array & (1 << 11))
    assert not np.any(exposure.variance.array == 7.0)


def test_a_write_reaches_a_sibling_plane_that_was_read_before_it(exposure):
    sub, expanded = cells(exposure, B0, B1)
    sy, sx = B0.slices(B1)
    image = expanded.image  # read: a copy-on-write plane over the input
    sub.image += 1.0  # copies the family's image plane
    np.testing.assert_array_equal(
        image.array[sy, sx], exposure.image.array[inputSlices(exposure, B0)] + np.float32(1.0)
    )
    assert type(image) is im.Image


def test_an_unread_cell_pickles_only_its_own_pixels(exposure):
    big = im.Exposure.fromArrays(np.ones((400, 500), np.float32), xy0=(7, -3))
    _, expanded = cells(big, box(14, 4, 12, 8), box(10, 0, 20, 16))
    data = pickle.dumps(expanded)
    assert len(data) < 20 * 16 * 12 * 2  # not the 2.4 MB input
    back = pickle.loads(data)
    assert type(back) is im.Exposure and type(back.mask) is im.Mask
    assert back.getBBox() == box(10, 0, 20, 16)
    np.testing.assert_array_equal(back.image.array, 1.0)


def test_a_cell_given_a_new_masked_image_keeps_it(exposure):
    sub, _ = cells(exposure, B0, B1)
    mine = im.MaskedImage(B0)
    mine.image.set(3.0)
    sub.setMaskedImage(mine)
    assert sub.maskedImage is mine
    assert np.all(sub.clone().image.array == 3.0)
    assert type(sub) is im.Exposure


def test_a_cell_outside_its_expanded_cell_is_refused(exposure):
    with pytest.raises(ValueError, match="not contained"):
        cells(exposure, box(5, 4, 12, 8), B1)
    with pytest.raises(ValueError, match="not contained"):
        cells(exposure, B0, box(0, 0, 200, 16))


class _CloneAdd(im.ImageMapper):
    def run(self, subExposure, expandedSubExposure, fullBBox, **kwargs):
        out = subExposure.clone()
        out.maskedImage += 1.0
        return im.Struct(subExposure=out)


class _WritesInPlace(im.ImageMapper):
    """Writes into both cells it is handed and returns the cell itself."""

    def run(self, subExposure, expandedSubExposure, fullBBox, **kwargs):
        expandedSubExposure.maskedImage *= 2.0
        subExposure.image += 1.0
        subExposure.mask.array[0, 0] |= 1 << 10
        return im.Struct(subExposure=subExposure)


def _naiveAverage(exposure, mapper, boxes0, boxes1):
    """Each cell mapped on its own deep copies; valid pixels summed in cell
    order in float32, divided in float64 (the documented 'average')."""
    mi = exposure.maskedImage
    shape = mi.image.array.shape
    img = np.full(shape, -0.0, np.float32)
    var = np.full(shape, -0.0, np.float32)
    n = np.zeros(shape, np.int64)
    mask = mi.mask.array.copy()
    full = exposure.getBBox()
    for b0, b1 in zip(boxes0, boxes1):
        sub = im.Exposure(exposure, b0, deep=True)
        expanded = im.Exposure(exposure, b1, deep=True)
        sub = im.Exposure(expanded, b0)  # the cell is a view of the expanded cell
        r = mapper.run(sub, expanded, full).subExposure
        sl = r.getBBox().slices(full)
        ci, cv = r.image.array, r.variance.array
        ok = ~np.isnan(ci * cv)
        img[sl] = np.where(ok, img[sl] + ci, img[sl])
        var[sl] = np.where(ok, var[sl] + cv, var[sl])
        n[sl] += ok
        mask[sl] |= r.mask.array
    with np.errstate(invalid="ignore", divide="ignore"):
        img = np.where(n > 0, (img.astype(np.float64) / n).astype(np.float32), np.nan)
        var = np.where(n > 0, (var.astype(np.float64) / n).astype(np.float32), np.nan)
    return img, var, mask


@pytest.mark.parametrize("mapperClass", [_CloneAdd, _WritesInPlace])
@pytest.mark.parametrize("backend", ["serial", "threads"])
def test_copy_on_write_cells_give_the_bits_of_deep_copied_cells(mapperClass, backend):
    rng = np.random.default_rng(3)
    image = rng.normal(100, 1, (70, 90)).astype(np.float32)
    image[5, 7] = np.nan
    variance = rng.uniform(1, 2, (70, 90)).astype(np.float32)
    mask = (rng.uniform(size=(70, 90)) < 0.1).astype(np.int32) << 5
    exposure = im.Exposure.fromArrays(image, mask, variance, xy0=(3, 4))
    before = exposure.clone()
    config = im.ImageMapReduceConfig()
    config.mapper.retarget(mapperClass)
    config.reducer.reduceOperation = "average"
    config.scaleByFwhm = False
    config.adjustGridOption = "none"
    config.cellSizeX = config.cellSizeY = 16.0
    config.gridStepX = config.gridStepY = 8.0
    config.borderSizeX = config.borderSizeY = 3.0
    config.reducer.badMaskPlanes = []
    task = im.ImageMapReduceTask(config)
    out = task.run(exposure, backend=backend, numWorkers=2).exposure
    img, var, msk = _naiveAverage(before, mapperClass(), task.boxes0, task.boxes1)
    assert out.image.array.tobytes() == img.tobytes()
    assert out.variance.array.tobytes() == var.tobytes()
    np.testing.assert_array_equal(out.mask.array, msk)
    for plane in ("image", "mask", "variance"):  # the input is never modified
        assert getattr(exposure, plane).array.tobytes() == getattr(before, plane).array.tobytes()
