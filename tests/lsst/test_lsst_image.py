"""The ``afw.image`` behaviour LSST mappers rely on: class-level mask calls,
constructor forms, slicing and box assignment, typed classes, ``PhotoCalib``,
and the TestCase image assertions."""

from __future__ import annotations

import math
import pickle

import lsst.utils.tests
import numpy as np
import pytest

import imagemapper.image._mask as _image
import imagemapper.lsst.afw.image as afwImage
import imagemapper.lsst.geom as geom


def box(x0, y0, w, h):
    return geom.Box2I(geom.Point2I(x0, y0), geom.Extent2I(w, h))


@pytest.fixture
def defaultPlanes(monkeypatch):
    """Isolate the default plane dict the class-level calls change."""
    planes = dict(_image.DEFAULT_MASK_PLANES)
    monkeypatch.setattr(_image, "DEFAULT_MASK_PLANES", planes)
    return planes


def test_class_level_plane_calls_use_the_default_planes(defaultPlanes):
    mask = afwImage.Mask(3, 2)
    names = ["INTRP", "EDGE", "DETECTED", "SAT", "CR", "BAD", "NO_DATA", "DETECTED_NEGATIVE"]
    expected = 0
    for name in names:
        expected |= 1 << mask.getMaskPlane(name)
    assert afwImage.Mask.getPlaneBitMask(names) == expected
    assert afwImage.Mask.getPlaneBitMask("EDGE") == 1 << mask.getMaskPlane("EDGE")
    assert afwImage.Mask.getMaskPlane("NO_DATA") == mask.getMaskPlane("NO_DATA")
    with pytest.raises(KeyError, match="NOPE"):
        afwImage.Mask.getPlaneBitMask(["BAD", "NOPE"])
    # adding on the class: new masks have the plane, at the lowest free bit
    free = min(set(range(31)) - set(defaultPlanes.values()))
    assert afwImage.Mask.addMaskPlane("UNMASKEDNAN") == free
    assert afwImage.Mask.addMaskPlane("UNMASKEDNAN") == free
    assert afwImage.MaskX(2, 2).getMaskPlane("UNMASKEDNAN") == free
    assert "UNMASKEDNAN" not in mask.getMaskPlaneDict()  # existing masks keep their own
    # adding on an instance stays with that mask (and its views)
    bit = mask.addMaskPlane("MINE")
    assert mask[box(0, 0, 2, 2)].getMaskPlane("MINE") == bit
    assert "MINE" not in defaultPlanes


def test_image_constructor_forms():
    b = box(-3, 4, 5, 2)
    filled = afwImage.Image(b, 2.5)
    assert filled.getBBox() == b and filled.dtype == np.float32
    assert np.all(filled.array == 2.5)
    assert np.all(afwImage.ImageD(b, initialValue=-1.0).array == -1.0)
    assert np.all(afwImage.ImageI(4, 3, 7).array == 7) and afwImage.ImageI(4, 3).dtype == np.int32
    sized = afwImage.ImageD(geom.Extent2I(6, 5))
    assert sized.getDimensions() == geom.Extent2I(6, 5) and sized.dtype == np.float64
    assert afwImage.Image(b, np.float64).dtype == np.float64
    array = np.arange(12.0).reshape(3, 4)
    shared = afwImage.Image(array, xy0=geom.Point2I(2, 3))
    shared.array[0, 0] = -1
    assert array[0, 0] == -1 and shared.getXY0() == geom.Point2I(2, 3)
    deep = afwImage.Image(array, deep=True, dtype=np.float32)
    deep.array[0, 1] = -5
    assert array[0, 1] == 1 and deep.dtype == np.float32
    assert afwImage.ImageF(array).dtype == np.float32
    assert afwImage.ImageU(2, 2).dtype == np.uint16
    assert afwImage.ExposureD(b).dtype == np.float64
    assert afwImage.ExposureF(4, 3).dtype == np.float32
    assert afwImage.MaskedImageD(4, 3).variance.dtype == np.float64


def test_slicing_is_x_then_y_in_parent_coordinates():
    image = afwImage.ImageD(np.arange(30.0).reshape(5, 6), xy0=(10, 20))
    sub = image[11:14, 21:23]
    assert sub.getBBox() == box(11, 21, 3, 2)
    np.testing.assert_array_equal(sub.array, image.array[1:3, 1:4])
    local = image[1:4, 1:3, afwImage.LOCAL]
    assert local.getBBox() == sub.getBBox()
    assert image[-2:, :, afwImage.LOCAL].getBBox() == box(14, 20, 2, 5)
    with pytest.raises(IndexError, match="negative"):
        image[-2:, :]
    with pytest.raises(TypeError, match="mixed"):
        image[11:14, 21]
    assert image[12, 23] == image.array[3, 2]  # a pixel, (x, y)


def test_whole_and_box_assignment():
    a = afwImage.Mask(6, 4)
    b = afwImage.Mask(6, 4)
    b.array[...] = np.arange(24).reshape(4, 6)
    a[:, :] = b
    np.testing.assert_array_equal(a.array, b.array)
    image = afwImage.ImageF(box(0, 0, 8, 6))
    patch = afwImage.ImageF(box(0, 0, 3, 2), 4.0)
    image[box(2, 3, 3, 2)] = patch
    assert image.array[3:5, 2:5].sum() == 24 and image.array.sum() == 24
    image[5:8, 0:2] = 1.0
    assert image.array[0:2, 5:8].sum() == 6
    with pytest.raises(ValueError, match="cannot assign"):
        image[box(0, 0, 2, 2)] = patch
    # assign(): the source's pixels into a box of the target, as afw
    kern = afwImage.ImageD(np.ones((3, 3)), xy0=(-1, -1))
    padded = afwImage.ImageD(7, 6)
    padded.assign(kern, box(2, 1, 3, 3))
    assert padded.array[1:4, 2:5].sum() == 9 and padded.array.sum() == 9
    padded.assign(afwImage.ImageD(7, 6, 2.0))
    assert np.all(padded.array == 2.0)
    converted = kern.convertF()
    assert converted.dtype == np.float32 and converted.getXY0() == kern.getXY0()
    assert kern.convertD().dtype == np.float64
    mi = afwImage.MaskedImageF(5, 4)
    other = afwImage.MaskedImageF(5, 4)
    other.set(3.0)
    mi[:, :] = other
    assert np.all(mi.image.array == 3.0)
    exposure = afwImage.ExposureF(5, 4)
    assert exposure[1:3, 0:2].getBBox() == box(1, 0, 2, 2)


def test_photo_calib_on_exposures():
    exposure = afwImage.ExposureF(4, 3)
    assert exposure.getPhotoCalib() is None
    calib = afwImage.PhotoCalib(2.0, 0.1)
    exposure.setPhotoCalib(calib)
    assert exposure.getPhotoCalib() is calib
    assert exposure[box(0, 0, 2, 2)].getPhotoCalib() is calib  # views share it
    clone = exposure.clone()
    assert clone.getPhotoCalib() == calib and clone.getPhotoCalib() is not calib
    assert pickle.loads(pickle.dumps(exposure)).getPhotoCalib() == calib
    # nJy = instFlux * calibrationMean; AB: m = -2.5 log10(nJy) + 31.4
    assert calib.instFluxToNanojansky(10.0) == 20.0
    assert calib.instFluxToMagnitude(10.0) == pytest.approx(-2.5 * math.log10(20.0) + 31.4)
    assert calib.magnitudeToInstFlux(calib.instFluxToMagnitude(7.0)) == pytest.approx(7.0)
    assert calib.instFluxToMagnitude(calib.getInstFluxAtZeroMagnitude()) == pytest.approx(0.0)
    with pytest.raises(ValueError, match="calibrationMean"):
        afwImage.PhotoCalib(0.0)


class AssertionsTest(lsst.utils.tests.TestCase):
    """afw adds image assertions to lsst.utils.tests.TestCase on import."""

    def test_images_almost_equal(self):
        a = afwImage.ImageD(np.array([[1.0, np.nan, np.inf], [2.0, 3.0, -np.inf]]))
        b = a.clone()
        b.array[0, 0] += 5e-6
        self.assertImagesAlmostEqual(a, b)
        self.assertImagesAlmostEqual(a.array, b)
        with self.assertRaises(AssertionError):
            self.assertImagesEqual(a, b)
        b.array[0, 0] = 1.1
        with self.assertRaisesRegex(AssertionError, "differ by more"):
            self.assertImagesAlmostEqual(a, b)
        self.assertImagesAlmostEqual(a, b, skipMask=np.array([[1, 0, 0], [0, 0, 0]]))
        c = a.clone()
        c.array[0, 1] = 0.0
        with self.assertRaisesRegex(AssertionError, "NaNs differ"):
            self.assertImagesAlmostEqual(a, c)
        d = a.clone()
        d.array[1, 2] = np.inf
        with self.assertRaisesRegex(AssertionError, "inf differ"):
            self.assertImagesAlmostEqual(a, d)

    def test_masks_and_masked_images(self):
        a = afwImage.MaskedImageD(3, 2)
        a.image.array[...] = 1.0
        b = a.clone()
        self.assertMaskedImagesAlmostEqual(a, b)
        self.assertMaskedImagesEqual(a, b)
        b.mask.array[0, 0] = 1
        with self.assertRaisesRegex(AssertionError, "mask planes differ"):
            self.assertMaskedImagesAlmostEqual(a, b)
        with self.assertRaises(AssertionError):
            self.assertMasksEqual(a.mask, b.mask)
        self.assertMaskedImagesAlmostEqual(a, b, doMask=False)
        b.variance.array[0, 0] = 1e-9  # within atol=1e-8
        self.assertMaskedImagesAlmostEqual(a, b, doMask=False)
