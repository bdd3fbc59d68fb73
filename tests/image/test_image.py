"""Tests of the numpy-backed Image, Mask, MaskedImage and Exposure classes."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

import imagemapper as im
from imagemapper import Box2I, Extent2I, Point2I


def box(x0: int, y0: int, w: int, h: int) -> Box2I:
    return Box2I(Point2I(x0, y0), Extent2I(w, h))


def ramp(h: int = 7, w: int = 9, dtype: type = np.float32) -> np.ndarray:
    return (np.arange(h * w, dtype=np.float64).reshape(h, w) * 1.5).astype(dtype)


# --------------------------------------------------------------------- Image


class TestImage:
    def test_wraps_without_copy(self) -> None:
        arr = ramp()
        img = im.Image(arr, xy0=(100, 200))
        assert img.array is arr
        assert img.getArray() is arr
        assert img.dtype == np.float32
        assert img.getXY0() == Point2I(100, 200)
        assert (img.getX0(), img.getY0()) == (100, 200)
        assert (img.getWidth(), img.getHeight()) == (9, 7)
        assert img.getDimensions() == Extent2I(9, 7)
        assert img.getBBox() == box(100, 200, 9, 7)
        assert img.getBBox(im.LOCAL) == box(0, 0, 9, 7)
        assert img.Factory is im.Image

    def test_dtype_and_copy_keywords(self) -> None:
        arr = ramp()
        img = im.Image(arr, dtype=np.float64)
        assert img.dtype == np.float64
        assert not np.shares_memory(img.array, arr)
        np.testing.assert_array_equal(img.array, arr)
        copied = im.Image(arr, copy=True)
        assert not np.shares_memory(copied.array, arr)
        assert im.Image(arr, dtype=np.float32).array is arr

    def test_rejects_bad_arrays(self) -> None:
        with pytest.raises(ValueError, match=r"\(3,\)"):
            im.Image(np.zeros(3))
        with pytest.raises(TypeError, match="complex"):
            im.Image(np.zeros((2, 2), dtype=complex))
        with pytest.raises(TypeError, match="bool"):
            im.Image(np.zeros((2, 2), dtype=bool))

    def test_allocating_constructors(self) -> None:
        a = im.Image(box(-3, 4, 5, 6))
        assert a.dtype == np.float32
        assert a.getBBox() == box(-3, 4, 5, 6)
        assert a.array.shape == (6, 5)
        assert not a.array.any()
        b = im.Image(5, 6, dtype=np.float64)
        assert b.dtype == np.float64
        assert b.getBBox() == box(0, 0, 5, 6)
        c = im.Image(Extent2I(2, 3), dtype=np.int32)
        assert c.array.shape == (3, 2) and c.dtype == np.int32
        with pytest.raises(ValueError, match="-1"):
            im.Image(-1, 3)

    def test_view_shares_pixels_in_parent_coordinates(self) -> None:
        arr = np.zeros((7, 9), dtype=np.float32)
        img = im.Image(arr, xy0=(100, 200))
        sub = img[box(103, 202, 4, 3)]
        assert sub.getBBox() == box(103, 202, 4, 3)
        assert sub.getXY0() == Point2I(103, 202)
        sub.array[0, 0] = 5.0
        sub[Point2I(106, 204)] = 7.0
        # parent pixel (103, 202) is array element [202 - 200, 103 - 100]
        assert arr[2, 3] == 5.0
        assert arr[4, 6] == 7.0
        assert img[103, 202] == 5.0
        assert arr.sum() == 12.0

        via_ctor = im.Image(img, box(103, 202, 4, 3))
        assert np.shares_memory(via_ctor.array, arr)
        local = im.Image(img, box(3, 2, 4, 3), im.LOCAL)
        assert local.getBBox() == box(103, 202, 4, 3)
        assert np.shares_memory(local.array, arr)
        assert img.subset(box(1, 1, 2, 2), im.LOCAL).getBBox() == box(101, 201, 2, 2)

        deep = im.Image(img, box(103, 202, 4, 3), deep=True)
        deep.array[...] = -1
        assert arr[2, 3] == 5.0

    def test_view_outside_raises(self) -> None:
        img = im.Image(4, 4)
        with pytest.raises(ValueError, match="not contained"):
            img[box(2, 2, 3, 3)]
        with pytest.raises(IndexError):
            img[4, 0]

    def test_setitem_and_set(self) -> None:
        img = im.Image(box(10, 10, 5, 4))
        img[box(11, 11, 2, 2)] = 3.0
        img[box(13, 10, 2, 1)] = im.Image(np.array([[1.0, 2.0]], dtype=np.float32))
        expected = np.zeros((4, 5), dtype=np.float32)
        expected[1:3, 1:3] = 3.0
        expected[0, 3:5] = [1.0, 2.0]
        np.testing.assert_array_equal(img.array, expected)
        img.set(9)
        assert (img.array == 9).all()

    def test_array_assignment_copies_values_in(self) -> None:
        arr = np.zeros((2, 3), dtype=np.float32)
        img = im.Image(arr)
        new = np.ones((2, 3), dtype=np.float32)
        img.array = new
        assert img.array is arr
        assert (arr == 1).all()
        new[0, 0] = 5
        assert arr[0, 0] == 1

    def test_inplace_arithmetic(self) -> None:
        arr = ramp(3, 4)
        ref = arr.copy()
        img = im.Image(arr, xy0=(1, 2))
        img += 2
        img *= 3
        img -= 1
        img /= 2
        np.testing.assert_allclose(arr, ((ref + 2) * 3 - 1) / 2)
        other = im.Image(np.full((3, 4), 2.0, dtype=np.float32), xy0=(1, 2))
        img *= other
        np.testing.assert_allclose(arr, ((ref + 2) * 3 - 1))
        img += np.ones((3, 4), dtype=np.float32)
        np.testing.assert_allclose(arr, ((ref + 2) * 3))
        shifted = im.Image(np.ones((3, 4), dtype=np.float32), xy0=(0, 2))
        with pytest.raises(ValueError, match="same bbox"):
            img += shifted

    def test_clone_is_independent(self) -> None:
        img = im.Image(ramp(), xy0=(4, 5))
        clone = img.clone()
        assert clone.getBBox() == img.getBBox()
        clone.array[...] = 0
        assert img.array.any()

    def test_pickle_copies(self) -> None:
        arr = ramp()
        img = im.Image(arr, xy0=(-2, 3))
        sub = img[box(0, 4, 3, 2)]
        back = pickle.loads(pickle.dumps(sub))
        assert back.getBBox() == box(0, 4, 3, 2)
        np.testing.assert_array_equal(back.array, arr[1:3, 2:5])
        back.array[...] = -1
        assert (arr >= 0).all()

    def test_identity_equality(self) -> None:
        a = im.Image(2, 2)
        assert a == a
        assert a != a.clone()

    def test_big_endian_fortran_and_strided_inputs(self) -> None:
        base = ramp(8, 10, np.float64)
        big = base.astype(">f8")
        img = im.Image(big)
        assert img.dtype.isnative
        np.testing.assert_array_equal(img.array, base)

        fortran = np.asfortranarray(base)
        fimg = im.Image(fortran, xy0=(3, 4))
        assert fimg.array is fortran
        fimg[box(4, 5, 1, 1)] = -7.0
        assert fortran[1, 1] == -7.0

        strided = base[::2, ::3]
        simg = im.Image(strided)
        assert np.shares_memory(simg.array, base)
        assert simg.getDimensions() == Extent2I(4, 4)
        assert simg[3, 1] == base[2, 9]

    def test_repr(self) -> None:
        text = repr(im.Image(box(1, 2, 3, 4)))
        assert "Image" in text and "float32" in text


# ---------------------------------------------------------------------- Mask


DEFAULT_PLANES = [
    "BAD",
    "SAT",
    "INTRP",
    "CR",
    "EDGE",
    "DETECTED",
    "DETECTED_NEGATIVE",
    "SUSPECT",
    "NO_DATA",
]


class TestMask:
    def test_defaults(self) -> None:
        mask = im.Mask(4, 3)
        assert mask.dtype == np.int32
        assert mask.getMaskPlaneDict() == {name: i for i, name in enumerate(DEFAULT_PLANES)}
        assert list(mask.getMaskPlaneDict()) == DEFAULT_PLANES
        assert mask.getMaskPlane("NO_DATA") == 8
        assert im.Mask.getNumPlanesMax() == 31
        # each new mask has its own copy of the defaults
        other = im.Mask(4, 3)
        mask.addMaskPlane("MINE")
        assert "MINE" not in other.getMaskPlaneDict()

    def test_plane_bitmasks(self) -> None:
        mask = im.Mask(2, 2)
        assert mask.getPlaneBitMask("BAD") == 1
        assert mask.getPlaneBitMask("CR") == 8
        assert mask.getPlaneBitMask(["BAD", "SAT", "NO_DATA"]) == 1 | 2 | 256
        assert mask.getPlaneBitMask(iter(("EDGE", "DETECTED"))) == 16 | 32
        with pytest.raises(KeyError, match=r"NOPE.*BAD"):
            mask.getPlaneBitMask(["BAD", "NOPE"])
        with pytest.raises(KeyError, match="NOPE"):
            mask.getMaskPlane("NOPE")
        assert mask.interpret(1 | 8) == "BAD,CR"

    def test_add_plane_takes_lowest_free_bit(self) -> None:
        mask = im.Mask(2, 2)
        assert mask.addMaskPlane("A") == 9
        assert mask.addMaskPlane("A") == 9
        mask.removeAndClearMaskPlane("SAT")
        assert mask.addMaskPlane("B") == 1
        for i in range(31 - mask.getNumPlanesUsed()):
            mask.addMaskPlane(f"P{i}")
        assert mask.getNumPlanesUsed() == 31
        assert sorted(mask.getMaskPlaneDict().values()) == list(range(31))
        with pytest.raises(ValueError, match="31"):
            mask.addMaskPlane("ONE_TOO_MANY")

    def test_remove_and_clear(self) -> None:
        mask = im.Mask(3, 1)
        mask.array[...] = [1 | 2, 2, 4]
        mask.removeAndClearMaskPlane("SAT")
        np.testing.assert_array_equal(mask.array, [[1, 0, 4]])
        assert "SAT" not in mask.getMaskPlaneDict()

    def test_views_share_plane_dict_clones_do_not(self) -> None:
        mask = im.Mask(box(10, 10, 6, 6))
        view = mask[box(11, 11, 2, 2)]
        view2 = im.Mask(mask, box(12, 12, 3, 3))
        assert view._planes is mask._planes
        assert view2._planes is mask._planes
        bit = view.addMaskPlane("VIEWPLANE")
        assert mask.getMaskPlane("VIEWPLANE") == bit
        assert view2.getMaskPlane("VIEWPLANE") == bit

        clone = mask.clone()
        clone.addMaskPlane("CLONEPLANE")
        assert "CLONEPLANE" not in mask.getMaskPlaneDict()
        deep = im.Mask(mask, box(11, 11, 2, 2), deep=True)
        deep.addMaskPlane("DEEPPLANE")
        assert "DEEPPLANE" not in mask.getMaskPlaneDict()
        # getMaskPlaneDict returns a copy
        mask.getMaskPlaneDict()["X"] = 30
        assert "X" not in mask.getMaskPlaneDict()

    def test_bit_operations(self) -> None:
        mask = im.Mask(box(5, 5, 3, 2))
        mask |= mask.getPlaneBitMask("CR")
        other = im.Mask(box(5, 5, 3, 2))
        other.array[0, 1] = 1
        mask |= other
        expected = np.full((2, 3), 8, dtype=np.int32)
        expected[0, 1] = 9
        np.testing.assert_array_equal(mask.array, expected)
        mask &= 1
        np.testing.assert_array_equal(mask.array, (expected & 1))
        with pytest.raises(ValueError, match="same bbox"):
            mask |= im.Mask(box(0, 0, 3, 2))

    def test_dtype_rules(self) -> None:
        m16 = im.Mask(np.array([[1, 2], [3, 4]], dtype=np.uint16))
        assert m16.dtype == np.int32
        np.testing.assert_array_equal(m16.array, [[1, 2], [3, 4]])
        i32 = np.zeros((2, 2), dtype=np.int32)
        assert im.Mask(i32).array is i32
        with pytest.raises(TypeError, match="float"):
            im.Mask(np.zeros((2, 2), dtype=np.float32))
        with pytest.raises(TypeError, match="bool"):
            im.Mask(np.zeros((2, 2), dtype=bool))
        with pytest.raises(ValueError, match="int32"):
            im.Mask(np.full((2, 2), 2**40, dtype=np.int64))
        big = np.array([[1, 4]], dtype=">i4")
        mbig = im.Mask(big)
        assert mbig.dtype == np.int32 and mbig.dtype.isnative
        np.testing.assert_array_equal(mbig.array, [[1, 4]])

    def test_custom_plane_dict_and_pickle(self) -> None:
        mask = im.Mask(box(1, 2, 3, 4), planeDict={"X": 3, "Y": 0})
        assert mask.getMaskPlaneDict() == {"X": 3, "Y": 0}
        with pytest.raises(ValueError, match="both use bit 3"):
            im.Mask(2, 2, planeDict={"X": 3, "Y": 3})
        view = mask[box(1, 2, 2, 2)]
        back = pickle.loads(pickle.dumps(view))
        assert back.getMaskPlaneDict() == {"X": 3, "Y": 0}
        assert back.getBBox() == box(1, 2, 2, 2)


# ---------------------------------------------------------------- MaskedImage


class TestMaskedImage:
    def test_construct_from_planes(self) -> None:
        image = im.Image(ramp(3, 4), xy0=(2, 3))
        mi = im.MaskedImage(image)
        assert mi.image is image
        assert mi.mask.getBBox() == image.getBBox()
        assert mi.variance.dtype == np.float32
        assert not mi.variance.array.any() and not mi.mask.array.any()
        with pytest.raises(ValueError, match=r"Extent2I\(4, 3\).*Extent2I\(4, 4\)"):
            im.MaskedImage(image, im.Mask(box(2, 3, 4, 4)))
        with pytest.raises(ValueError, match=r"Point2I\(2, 3\).*Point2I\(0, 0\)"):
            im.MaskedImage(image, None, im.Image(4, 3))
        with pytest.raises(TypeError, match="float64"):
            im.MaskedImage(image, None, im.Image(box(2, 3, 4, 3), dtype=np.float64))
        with pytest.raises(TypeError, match="float32 or float64"):
            im.MaskedImage(im.Image(2, 2, dtype=np.int32))

    def test_allocate(self) -> None:
        mi = im.MaskedImage(box(1, 1, 4, 2), dtype=np.float64)
        assert mi.dtype == np.float64 and mi.variance.dtype == np.float64
        assert mi.mask.dtype == np.int32
        assert mi.getBBox() == box(1, 1, 4, 2)
        mi2 = im.MaskedImage(4, 2)
        assert mi2.getDimensions() == Extent2I(4, 2)
        assert mi2.Factory is im.MaskedImage

    def test_set(self) -> None:
        mi = im.MaskedImage(3, 2)
        mi.mask.array[...] = 5
        mi.variance.array[...] = 2
        mi.set(4.0)
        assert (mi.image.array == 4).all()
        assert not mi.mask.array.any() and not mi.variance.array.any()
        mi.set((1.0, 2, 3.0))
        assert (mi.image.array == 1).all()
        assert (mi.mask.array == 2).all()
        assert (mi.variance.array == 3).all()

    def test_scalar_arithmetic(self) -> None:
        mi = im.MaskedImage(3, 2)
        mi.image.array[...] = 2.0
        mi.variance.array[...] = 4.0
        mi.mask.array[...] = 1
        mi += 1.0
        assert (mi.image.array == 3.0).all() and (mi.variance.array == 4.0).all()
        mi -= 0.5
        assert (mi.image.array == 2.5).all() and (mi.variance.array == 4.0).all()
        mi *= 3.0
        assert (mi.image.array == 7.5).all()
        assert (mi.variance.array == 36.0).all()
        mi /= 2.0
        assert (mi.image.array == 3.75).all()
        assert (mi.variance.array == 9.0).all()
        assert (mi.mask.array == 1).all()

    def test_maskedimage_arithmetic(self) -> None:
        a = im.MaskedImage(2, 2)
        b = im.MaskedImage(2, 2)
        a.set((1.0, 1, 2.0))
        b.set((3.0, 4, 5.0))
        a += b
        assert (a.image.array == 4).all() and (a.variance.array == 7).all()
        assert (a.mask.array == 5).all()
        a -= b
        assert (a.image.array == 1).all() and (a.variance.array == 12).all()

    def test_views(self) -> None:
        mi = im.MaskedImage(box(10, 20, 6, 5))
        sub = mi[box(12, 21, 2, 3)]
        sub.set((1.0, 2, 3.0))
        assert mi.image.array[1:4, 2:4].sum() == 6.0
        assert mi.mask.array.sum() == 12
        assert mi.variance.array.sum() == 18.0
        assert mi.image.array.sum() == 6.0
        assert sub.mask._planes is mi.mask._planes
        local = im.MaskedImage(mi, box(2, 1, 2, 3), im.LOCAL)
        assert local.getBBox() == box(12, 21, 2, 3)
        assert local.variance.getBBox() == box(12, 21, 2, 3)
        clone = mi.clone()
        clone.set(0.0)
        assert mi.image.array.sum() == 6.0

    def test_setxy0(self) -> None:
        mi = im.MaskedImage(3, 3)
        mi.setXY0(Point2I(7, 8))
        for plane in (mi.image, mi.mask, mi.variance):
            assert plane.getXY0() == Point2I(7, 8)


# ------------------------------------------------------------------- Exposure


class TestExposureConstruction:
    def test_allocate(self) -> None:
        exp = im.Exposure(5, 4)
        assert exp.dtype == np.float32
        assert exp.getBBox() == box(0, 0, 5, 4)
        exp2 = im.Exposure(box(-2, 3, 5, 4), dtype=np.float64)
        assert exp2.getBBox() == box(-2, 3, 5, 4)
        assert exp2.variance.dtype == np.float64
        assert exp2.getXY0() == Point2I(-2, 3)
        assert (exp2.getX0(), exp2.getY0(), exp2.getWidth(), exp2.getHeight()) == (-2, 3, 5, 4)
        assert exp2.getDimensions() == Extent2I(5, 4)
        assert not exp2.hasPsf() and not exp2.hasWcs()
        assert exp2.Factory is im.Exposure

    def test_from_maskedimage(self) -> None:
        mi = im.MaskedImage(3, 3)
        exp = im.Exposure(mi, psf="a psf")
        assert exp.maskedImage is mi and exp.getMaskedImage() is mi
        assert exp.image is mi.image and exp.mask is mi.mask and exp.variance is mi.variance
        assert exp.getPsf() == "a psf" and exp.hasPsf()
        exp.psf = None
        assert not exp.hasPsf()
        with pytest.raises(TypeError, match="astropy"):
            exp.wcs = "not a wcs"

    def test_from_arrays_wraps_float(self) -> None:
        for dtype in (np.float32, np.float64):
            image = ramp(dtype=dtype)
            mask = np.zeros(image.shape, dtype=np.int32)
            var = np.ones(image.shape, dtype=dtype)
            exp = im.Exposure.fromArrays(image, mask, var, xy0=(3, -4))
            assert exp.image.array is image
            assert exp.mask.array is mask
            assert exp.variance.array is var
            assert exp.dtype == dtype
            assert exp.getBBox() == box(3, -4, 9, 7)

    def test_from_arrays_defaults(self) -> None:
        image = ramp()
        exp = im.Exposure.fromArrays(image)
        assert exp.mask.dtype == np.int32 and not exp.mask.array.any()
        assert exp.variance.dtype == np.float32 and not exp.variance.array.any()
        assert exp.getXY0() == Point2I(0, 0)
        assert list(exp.mask.getMaskPlaneDict()) == DEFAULT_PLANES

    @pytest.mark.parametrize(
        ("dtype", "expected"),
        [
            (np.uint8, np.float32),
            (np.int8, np.float32),
            (np.int16, np.float32),
            (np.uint16, np.float32),
            (np.int32, np.float64),
            (np.uint32, np.float64),
            (np.int64, np.float64),
            (np.float16, np.float32),
        ],
    )
    def test_from_arrays_converts_integers(self, dtype: type, expected: type) -> None:
        image = np.arange(12).reshape(3, 4).astype(dtype)
        exp = im.Exposure.fromArrays(image)
        assert exp.dtype == expected
        assert exp.variance.dtype == expected
        np.testing.assert_array_equal(exp.image.array, np.arange(12).reshape(3, 4))

    @pytest.mark.parametrize("dtype", [bool, np.complex64, object])
    def test_from_arrays_rejects(self, dtype: type) -> None:
        with pytest.raises(TypeError, match="dtype"):
            im.Exposure.fromArrays(np.zeros((2, 2), dtype=dtype))

    def test_from_arrays_shapes(self) -> None:
        with pytest.raises(ValueError, match=r"\(3, 4\).*\(3, 5\)"):
            im.Exposure.fromArrays(np.zeros((3, 4)), np.zeros((3, 5), dtype=np.int32))
        with pytest.raises(ValueError, match=r"\(3, 4\).*\(4, 3\)"):
            im.Exposure.fromArrays(np.zeros((3, 4)), None, np.zeros((4, 3)))
        with pytest.raises(ValueError, match=r"\(2, 3, 4\)"):
            im.Exposure.fromArrays(np.zeros((2, 3, 4)))
        with pytest.raises(TypeError, match="float"):
            im.Exposure.fromArrays(np.zeros((3, 4)), np.zeros((3, 4)))

    def test_from_arrays_mask_and_variance_conversion(self) -> None:
        image = ramp(2, 3, np.float64)
        flags = np.array([[True, False, False], [False, False, True]])
        exp = im.Exposure.fromArrays(image, flags, np.ones((2, 3), dtype=np.float32))
        np.testing.assert_array_equal(exp.mask.array, flags.astype(np.int32))
        assert exp.mask.interpret(int(exp.mask.array[0, 0])) == "BAD"
        assert exp.variance.dtype == np.float64
        exp16 = im.Exposure.fromArrays(image, np.full((2, 3), 6, dtype=np.uint8))
        assert exp16.mask.dtype == np.int32 and (exp16.mask.array == 6).all()

    def test_from_arrays_byte_order_and_layout(self) -> None:
        base = ramp(6, 8, np.float32)
        big = base.astype(">f4")
        exp = im.Exposure.fromArrays(big, big.astype(">i4"), big.astype(">f4"))
        for plane in (exp.image, exp.mask, exp.variance):
            assert plane.dtype.isnative
        np.testing.assert_array_equal(exp.image.array, base)
        np.testing.assert_array_equal(exp.variance.array, base)
        np.testing.assert_array_equal(exp.mask.array, base.astype(np.int32))

        fortran = np.asfortranarray(base)
        fexp = im.Exposure.fromArrays(fortran, xy0=(10, 20))
        assert fexp.image.array is fortran
        fexp.image[12, 21] = -3.0
        assert fortran[1, 2] == -3.0

        strided = base[1::2, ::2]
        sexp = im.Exposure.fromArrays(strided, xy0=(1, 1))
        assert np.shares_memory(sexp.image.array, base)
        assert sexp.image[2, 2] == base[3, 2]


class TestExposureViews:
    def make(self) -> im.Exposure:
        image = ramp(10, 12)
        exp = im.Exposure.fromArrays(image, xy0=(100, 50), psf="psf-object")
        exp.metadata["OBSID"] = "x"
        return exp

    def test_view_shares(self) -> None:
        exp = self.make()
        sub = exp[box(103, 52, 4, 5)]
        assert sub.getBBox() == box(103, 52, 4, 5)
        assert sub.getXY0() == Point2I(103, 52)
        assert sub.psf is exp.psf
        assert sub.metadata is exp.metadata
        sub.image.array[0, 0] = -1.0
        sub.mask.array[1, 2] = 4
        sub.variance.array[4, 3] = 9.0
        assert exp.image.array[2, 3] == -1.0
        assert exp.mask.array[3, 5] == 4
        assert exp.variance.array[6, 6] == 9.0
        # afw-style constructors and Factory
        for view in (
            im.Exposure(exp, box(103, 52, 4, 5)),
            exp.Factory(exp, box(103, 52, 4, 5)),
            exp.subset(box(3, 2, 4, 5), im.LOCAL),
            im.Exposure(exp, box(3, 2, 4, 5), im.LOCAL),
        ):
            assert view.getBBox() == box(103, 52, 4, 5)
            assert np.shares_memory(view.image.array, exp.image.array)

    def test_view_outside_names_both_boxes(self) -> None:
        exp = self.make()
        outside = box(95, 52, 4, 5)
        with pytest.raises(ValueError) as info:
            exp[outside]
        message = str(info.value)
        assert repr(outside) in message
        assert repr(exp.getBBox()) in message
        with pytest.raises(ValueError, match="not contained"):
            exp.subset(box(10, 0, 4, 5), im.LOCAL)

    def test_read_only_view(self) -> None:
        exp = self.make()
        before = exp.image.array.copy()
        view = im.Exposure(exp, box(101, 51, 3, 3), writeable=False)
        for plane, parent in zip(
            (view.image, view.mask, view.variance),
            (exp.image, exp.mask, exp.variance),
            strict=True,
        ):
            assert not plane.array.flags.writeable
            assert np.shares_memory(plane.array, parent.array)
        with pytest.raises(ValueError, match="read-only"):
            view.image.array[0, 0] = 1.0
        with pytest.raises(ValueError, match="read-only"):
            view.mask |= 1
        with pytest.raises(ValueError, match="read-only"):
            view.variance += 1.0
        with pytest.raises(ValueError, match="read-only"):
            view.maskedImage *= 2.0
        np.testing.assert_array_equal(exp.image.array, before)
        assert exp.image.array.flags.writeable
        # the view cannot change its parent's planes or metadata
        view.mask.addMaskPlane("MAPPER")
        view.metadata["NEW"] = 1
        assert "MAPPER" not in exp.mask.getMaskPlaneDict()
        assert "NEW" not in exp.metadata
        # a clone of a read-only view is writeable and independent
        clone = view.clone()
        clone.image.array[...] = 7.0
        np.testing.assert_array_equal(exp.image.array, before)

    def test_clone_is_deep(self) -> None:
        from astropy.wcs import WCS

        exp = self.make()
        exp.psf = {"sigma": [1.0]}
        wcs = WCS(naxis=2)
        exp.wcs = wcs
        clone = exp.clone()
        assert clone.getBBox() == exp.getBBox()
        assert clone.psf == exp.psf and clone.psf is not exp.psf
        assert clone.wcs is not wcs
        assert clone.metadata == exp.metadata and clone.metadata is not exp.metadata
        clone.image.array[...] = 0
        clone.mask.addMaskPlane("CLONE")
        assert exp.image.array.any()
        assert "CLONE" not in exp.mask.getMaskPlaneDict()
        deep = im.Exposure(exp, box(101, 51, 2, 2), deep=True)
        assert not np.shares_memory(deep.image.array, exp.image.array)
        assert deep.psf is not exp.psf

    def test_setitem(self) -> None:
        exp = im.Exposure(box(0, 0, 4, 4))
        patch = im.Exposure.fromArrays(
            np.ones((2, 2), dtype=np.float32),
            np.full((2, 2), 3, dtype=np.int32),
            np.full((2, 2), 2.0, dtype=np.float32),
            xy0=(1, 1),
        )
        exp[box(2, 2, 2, 2)] = patch
        assert exp.image.array[2:, 2:].sum() == 4.0
        assert exp.mask.array.sum() == 12
        assert exp.variance.array.sum() == 8.0

    def test_image_assignment_copies(self) -> None:
        exp = im.Exposure(box(5, 5, 2, 2))
        original = exp.image
        exp.image = im.Image(np.full((2, 2), 3.0, dtype=np.float32), xy0=(5, 5))
        assert exp.image is original and (original.array == 3).all()
        with pytest.raises(ValueError, match="bounding boxes differ"):
            exp.image = im.Image(np.ones((2, 2), dtype=np.float32))
        exp.variance = 2.0
        assert (exp.variance.array == 2).all()

    def test_setxy0_shifts_wcs(self) -> None:
        from astropy.wcs import WCS

        wcs = WCS(naxis=2)
        wcs.wcs.ctype = ["RA---TAN", "DEC--TAN"]
        wcs.wcs.crval = [30.0, 10.0]
        wcs.wcs.crpix = [3.0, 4.0]
        wcs.wcs.cdelt = [-1e-3, 1e-3]
        exp = im.Exposure(box(10, 20, 5, 5), wcs=wcs)
        before = wcs.pixel_to_world(12, 23)
        exp.setXY0((0, 0))
        after = exp.wcs.pixel_to_world(2, 3)
        assert before.separation(after).arcsec < 1e-9
        assert exp.getBBox() == box(0, 0, 5, 5)
        assert wcs.wcs.crpix[0] == 3.0

    def test_pickle(self) -> None:
        from astropy.wcs import WCS

        exp = self.make()
        exp.wcs = WCS(naxis=2)
        exp.mask.addMaskPlane("EXTRA")
        sub = im.Exposure(exp, box(102, 53, 5, 4), writeable=False)
        back = pickle.loads(pickle.dumps(sub))
        assert back.getBBox() == sub.getBBox()
        np.testing.assert_array_equal(back.image.array, sub.image.array)
        assert back.psf == "psf-object"
        assert back.wcs is not None
        assert back.mask.getMaskPlane("EXTRA") == exp.mask.getMaskPlane("EXTRA")
        assert back.metadata == {"OBSID": "x"}
        assert not np.shares_memory(back.image.array, exp.image.array)

    def test_repr(self) -> None:
        assert "Exposure" in repr(self.make())
