"""Copy-on-write cells: a mapper may write into the cells it is handed, as in
LSST, and the input exposure is never modified."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

import imagemapper as im
from imagemapper._cells import copyOnWriteCells


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
