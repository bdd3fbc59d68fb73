"""The map_reduce façade: numpy / NDData in, same kind out, against whole-image answers."""

from __future__ import annotations

import numpy as np
import pytest

import imagemapper as im
from imagemapper._facade import map_reduce

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


def test_gaps_are_nan_and_integers_become_float():
    image = np.arange(100 * 120, dtype=np.int16).reshape(100, 120)
    out = map_reduce(image, lambda a: a + 1, cellSize=20, gridStep=30)
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
    assert cells[0].slices == (slice(0, 30, 1), slice(0, 30, 1))
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
    with pytest.raises(ValueError, match="must be 2-d"):
        map_reduce(np.zeros((2, 3, 4)), np.abs)
    with pytest.raises(TypeError, match="cellSize must be an integer"):
        map_reduce(image, np.abs, cellSize="big")
    with pytest.raises(ValueError, match="borderSize must be >= 0"):
        map_reduce(image, np.abs, borderSize=-1)
    with pytest.raises(TypeError, match="data must be a 2-d numpy array"):
        map_reduce("image.fits", np.abs)
