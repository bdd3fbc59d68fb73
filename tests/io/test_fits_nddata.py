"""FITS I/O and astropy NDData conversion of Exposure."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from astropy import units as u
from astropy.io import fits
from astropy.nddata import (
    CCDData,
    InverseVariance,
    NDData,
    StdDevUncertainty,
    VarianceUncertainty,
)
from astropy.wcs import WCS, Sip

import imagemapper as im
from imagemapper import Box2I, Extent2I, Point2I

X0, Y0 = 1000, -250
WIDTH, HEIGHT = 40, 30
PARENT_PIXELS = [(X0, Y0), (X0 + 39, Y0), (X0 + 17, Y0 + 29), (X0 + 5.5, Y0 + 12.25)]


def tan_wcs() -> WCS:
    """A rotated TAN WCS in parent pixel coordinates."""
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    wcs.wcs.crval = [150.1, 2.2]
    wcs.wcs.crpix = [X0 + 20.5, Y0 + 10.0]  # FITS 1-based, parent frame
    angle = np.deg2rad(30.0)
    scale = 0.2 / 3600.0
    wcs.wcs.cd = scale * np.array([[-np.cos(angle), np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    wcs.wcs.radesys = "ICRS"
    return wcs


def sip_wcs() -> WCS:
    wcs = tan_wcs()
    wcs.wcs.ctype = ["RA---TAN-SIP", "DEC--TAN-SIP"]
    a = np.zeros((3, 3))
    b = np.zeros((3, 3))
    a[2, 0] = 2e-3
    a[1, 1] = -1e-3
    b[0, 2] = 3e-3
    wcs.sip = Sip(a, b, None, None, wcs.wcs.crpix)
    return wcs


def make_exposure(dtype: type = np.float32, wcs: WCS | None = None) -> im.Exposure:
    rng = np.random.default_rng(42)
    image = rng.normal(size=(HEIGHT, WIDTH)).astype(dtype)
    image[3, 4] = np.nan
    image[5, 6] = np.inf
    variance = rng.uniform(0.5, 2.0, size=(HEIGHT, WIDTH)).astype(dtype)
    mask = rng.integers(0, 2**9, size=(HEIGHT, WIDTH)).astype(np.int32)
    exp = im.Exposure.fromArrays(
        image, mask, variance, xy0=(X0, Y0), wcs=wcs if wcs is not None else tan_wcs()
    )
    bit = exp.mask.addMaskPlane("INVALID_MAPREDUCE")
    exp.mask.array[0, :] |= 1 << bit
    exp.metadata["OBSERVER"] = "someone"
    exp.metadata["EXPTIME"] = 30.0
    return exp


def assert_same_sky(wcs_a: WCS, pixels_a: list, wcs_b: WCS, pixels_b: list) -> None:
    for (xa, ya), (xb, yb) in zip(pixels_a, pixels_b, strict=True):
        sky_a = wcs_a.pixel_to_world(xa, ya)
        sky_b = wcs_b.pixel_to_world(xb, yb)
        assert sky_a.separation(sky_b).to_value(u.arcsec) < 1e-7, (xa, ya)


# ---------------------------------------------------------------------- FITS


class TestFits:
    @pytest.mark.parametrize("dtype", [np.float32, np.float64])
    def test_round_trip(self, tmp_path: Path, dtype: type) -> None:
        exp = make_exposure(dtype)
        path = tmp_path / "exp.fits"
        exp.writeFits(path)
        back = im.Exposure.readFits(path)

        assert back.getBBox() == Box2I(Point2I(X0, Y0), Extent2I(WIDTH, HEIGHT))
        assert back.dtype == dtype
        for got, want in (
            (back.image, exp.image),
            (back.mask, exp.mask),
            (back.variance, exp.variance),
        ):
            assert got.dtype == want.dtype and got.dtype.isnative
            # bit-exact, NaN and inf included
            assert got.array.tobytes() == want.array.tobytes()
        assert back.mask.getMaskPlaneDict() == exp.mask.getMaskPlaneDict()
        assert back.mask.getMaskPlane("INVALID_MAPREDUCE") == 9
        assert back.metadata["OBSERVER"] == "someone"
        assert back.metadata["EXPTIME"] == 30.0
        assert back.wcs is not None
        assert_same_sky(exp.wcs, PARENT_PIXELS, back.wcs, PARENT_PIXELS)
        # the exposure written is unchanged (astropy is given big-endian copies)
        assert exp.image.dtype.isnative

    def test_lsst_layout(self, tmp_path: Path) -> None:
        exp = make_exposure()
        path = tmp_path / "exp.fits"
        exp.writeFits(path)
        with fits.open(path) as hdul:
            assert hdul[0].data is None
            assert [h.name for h in hdul[1:]] == ["IMAGE", "MASK", "VARIANCE"]
            for hdu in hdul[1:]:
                header = hdu.header
                assert header["LTV1"] == -X0 and header["LTV2"] == -Y0
                assert header["CTYPE1A"] == "LINEAR" and header["CTYPE2A"] == "LINEAR"
                assert header["CRPIX1A"] == 1.0 and header["CRPIX2A"] == 1.0
                assert header["CRVAL1A"] == X0 and header["CRVAL2A"] == Y0
                assert header["WCSNAMEA"] == "PARENT"
                assert header["CTYPE1"] == "RA---TAN"
                # FITS pixel 1 is parent pixel x0
                fits_wcs = WCS(header)
                assert_same_sky(fits_wcs, [(0, 0), (3, 7)], exp.wcs, [(X0, Y0), (X0 + 3, Y0 + 7)])
                # the linear "A" WCS maps FITS pixels to parent pixels
                parent = WCS(header, key="A")
                np.testing.assert_allclose(
                    parent.wcs_pix2world([[0, 0], [3, 7]], 0), [[X0, Y0], [X0 + 3, Y0 + 7]]
                )
            mask_header = hdul["MASK"].header
            assert mask_header["MP_BAD"] == 0
            assert mask_header["MP_NO_DATA"] == 8
            assert mask_header["MP_DETECTED_NEGATIVE"] == 6
            assert mask_header["MP_INVALID_MAPREDUCE"] == 9
            assert hdul["IMAGE"].data.dtype == np.dtype(">f4")
            assert hdul["MASK"].data.dtype == np.dtype(">i4")
            assert hdul[0].header["OBSERVER"] == "someone"

    def test_sip_round_trip(self, tmp_path: Path) -> None:
        exp = make_exposure(wcs=sip_wcs())
        path = tmp_path / "sip.fits"
        exp.writeFits(path)
        back = im.Exposure.readFits(path)
        assert back.wcs.sip is not None
        assert_same_sky(exp.wcs, PARENT_PIXELS, back.wcs, PARENT_PIXELS)
        # the distortion is not negligible: TAN alone would differ
        plain = tan_wcs()
        far = (X0 + 39, Y0 + 29)
        assert exp.wcs.pixel_to_world(*far).separation(plain.pixel_to_world(*far)).arcsec > 0.01

    def test_no_wcs_and_overwrite(self, tmp_path: Path) -> None:
        exp = im.Exposure.fromArrays(np.ones((3, 4), dtype=np.float32), xy0=(2, 5))
        path = tmp_path / "plain.fits"
        exp.writeFits(path)
        back = im.Exposure.readFits(str(path))
        assert back.wcs is None and not back.hasWcs()
        assert back.getXY0() == Point2I(2, 5)
        with pytest.raises(OSError, match="exists"):
            exp.writeFits(path, overwrite=False)

    def test_view_round_trip(self, tmp_path: Path) -> None:
        exp = make_exposure()
        sub = exp[Box2I(Point2I(X0 + 7, Y0 + 3), Extent2I(11, 13))]
        path = tmp_path / "sub.fits"
        sub.writeFits(path)
        back = im.Exposure.readFits(path)
        assert back.getBBox() == sub.getBBox()
        assert back.image.array.tobytes() == np.ascontiguousarray(sub.image.array).tobytes()
        pixels = [(X0 + 7, Y0 + 3), (X0 + 17, Y0 + 15)]
        assert_same_sky(exp.wcs, pixels, back.wcs, pixels)

    def test_read_single_hdu_image(self, tmp_path: Path) -> None:
        data = np.arange(20, dtype=np.float32).reshape(4, 5) * 0.25
        header = tan_wcs().to_header()
        header["OBJECT"] = "M31"
        path = tmp_path / "single.fits"
        fits.PrimaryHDU(data=data, header=header).writeto(path)
        back = im.Exposure.readFits(path)
        assert back.getXY0() == Point2I(0, 0)
        assert back.dtype == np.float32 and back.dtype.isnative
        np.testing.assert_array_equal(back.image.array, data)
        assert not back.mask.array.any() and not back.variance.array.any()
        assert back.metadata["OBJECT"] == "M31"
        assert "CTYPE1" not in back.metadata and "NAXIS1" not in back.metadata
        # astropy's 0-based pixels of the file are parent pixels here
        reference = WCS(header)
        assert_same_sky(reference, [(0, 0), (4, 3)], back.wcs, [(0, 0), (4, 3)])

    def test_read_single_hdu_integer_image(self, tmp_path: Path) -> None:
        data = np.arange(12, dtype=np.int16).reshape(3, 4)
        path = tmp_path / "int.fits"
        fits.PrimaryHDU(data=data).writeto(path)
        back = im.Exposure.readFits(path)
        assert back.dtype == np.float32
        np.testing.assert_array_equal(back.image.array, data)
        assert back.wcs is None

    def test_read_without_variance(self, tmp_path: Path) -> None:
        image = np.ones((3, 4), dtype=np.float64)
        mask = np.full((3, 4), 2, dtype=np.int32)
        image_hdu = fits.ImageHDU(image, name="IMAGE")
        image_hdu.header["LTV1"] = -7
        image_hdu.header["LTV2"] = -9
        mask_hdu = fits.ImageHDU(mask, name="MASK")
        mask_hdu.header["MP_FOO"] = 1
        path = tmp_path / "novar.fits"
        fits.HDUList([fits.PrimaryHDU(), image_hdu, mask_hdu]).writeto(path)
        back = im.Exposure.readFits(path)
        assert back.getXY0() == Point2I(7, 9)
        assert back.dtype == np.float64
        assert back.mask.getMaskPlaneDict() == {"FOO": 1}
        assert (back.mask.array == 2).all()
        assert back.variance.dtype == np.float64 and not back.variance.array.any()

    def test_read_no_data_raises(self, tmp_path: Path) -> None:
        path = tmp_path / "empty.fits"
        fits.PrimaryHDU().writeto(path)
        with pytest.raises(ValueError, match="no image data"):
            im.Exposure.readFits(path)


# -------------------------------------------------------------------- NDData


class TestNDData:
    def test_to_nddata(self) -> None:
        exp = make_exposure()
        nd = exp.toNDData()
        assert type(nd) is NDData
        assert nd.data is exp.image.array
        assert isinstance(nd.uncertainty, VarianceUncertainty)
        assert np.shares_memory(nd.uncertainty.array, exp.variance.array)
        assert nd.mask is exp.mask.array and nd.mask.dtype == np.int32
        assert nd.meta["LTV1"] == -X0 and nd.meta["LTV2"] == -Y0
        assert nd.meta["MP_INVALID_MAPREDUCE"] == 9
        assert nd.meta["MP_BAD"] == 0
        assert nd.meta["OBSERVER"] == "someone"
        # array pixel (0, 0) is parent pixel xy0
        pixels = [(0, 0), (39, 0), (17, 29), (5.5, 12.25)]
        parents = [(x + X0, y + Y0) for x, y in pixels]
        assert_same_sky(nd.wcs, pixels, exp.wcs, parents)
        assert nd.wcs is not exp.wcs
        # the exposure's own WCS is unchanged
        assert_same_sky(exp.wcs, PARENT_PIXELS, tan_wcs(), PARENT_PIXELS)

    def test_to_ccddata(self, tmp_path: Path) -> None:
        exp = make_exposure()
        ccd = exp.toNDData(unit="electron")
        assert isinstance(ccd, CCDData)
        assert ccd.unit == u.electron
        assert ccd.data is exp.image.array
        # CCDData only holds boolean masks
        np.testing.assert_array_equal(ccd.mask, exp.mask.array != 0)
        assert ccd.meta["MP_INVALID_MAPREDUCE"] == 9
        assert ccd.meta["LTV1"] == -X0
        pixels = [(0, 0), (17, 29)]
        assert_same_sky(ccd.wcs, pixels, exp.wcs, [(x + X0, y + Y0) for x, y in pixels])
        # meta is a FITS header: CCDData can write it, and it reads back
        path = tmp_path / "ccd.fits"
        ccd.write(path)
        back = im.Exposure.fromNDData(CCDData.read(path))
        assert back.getBBox() == exp.getBBox()
        assert back.image.array.tobytes() == exp.image.array.tobytes()
        np.testing.assert_array_equal(back.variance.array, exp.variance.array)
        assert back.mask.getMaskPlaneDict() == exp.mask.getMaskPlaneDict()
        np.testing.assert_array_equal(
            back.mask.array, np.where(exp.mask.array != 0, 1, 0).astype(np.int32)
        )
        assert back.metadata["BUNIT"] == "electron"
        assert back.metadata["OBSERVER"] == "someone"
        assert "NAXIS1" not in back.metadata and "CTYPE1" not in back.metadata
        assert_same_sky(back.wcs, PARENT_PIXELS, exp.wcs, PARENT_PIXELS)

    def test_nddata_with_a_unit_is_ccddata(self) -> None:
        # Issue 15: with a unit (BUNIT), toNDData gives what astropy users expect: CCDData.
        exp = make_exposure()
        exp.metadata["BUNIT"] = "adu"
        nd = exp.toNDData()
        assert type(nd) is CCDData
        assert nd.unit == u.adu
        np.testing.assert_array_equal(nd.mask, exp.mask.array != 0)
        assert isinstance(nd.uncertainty, VarianceUncertainty)
        assert np.shares_memory(nd.uncertainty.array, exp.variance.array)
        back = im.Exposure.fromNDData(nd)
        assert back.metadata["BUNIT"] == "adu"
        np.testing.assert_array_equal(back.variance.array, exp.variance.array)
        ccd = exp.toCCDData()
        assert type(ccd) is CCDData and ccd.unit == u.adu

    @pytest.mark.parametrize("kind", ["variance", "stddev", "ivar", "none"])
    def test_round_trip(self, kind: str) -> None:
        exp = make_exposure(np.float64)
        nd = exp.toNDData()
        assert nd.meta["XY0"] == (X0, Y0)
        variance = exp.variance.array
        if kind == "stddev":
            nd.uncertainty = StdDevUncertainty(np.sqrt(variance))
        elif kind == "ivar":
            ivar = 1.0 / variance
            ivar[2, 2] = 0.0
            nd.uncertainty = InverseVariance(ivar)
        elif kind == "none":
            nd.uncertainty = None
        back = im.Exposure.fromNDData(nd)
        assert back.getBBox() == exp.getBBox()
        assert back.image.array.tobytes() == exp.image.array.tobytes()
        np.testing.assert_array_equal(back.mask.array, exp.mask.array)
        assert back.mask.getMaskPlaneDict() == exp.mask.getMaskPlaneDict()
        assert back.metadata == exp.metadata
        assert_same_sky(back.wcs, PARENT_PIXELS, exp.wcs, PARENT_PIXELS)
        if kind == "variance":
            assert back.variance.array is exp.variance.array
        elif kind == "none":
            assert not back.variance.array.any()
        elif kind == "stddev":
            np.testing.assert_allclose(back.variance.array, variance, rtol=1e-14)
        else:
            expected = variance.copy()
            expected[2, 2] = np.inf
            np.testing.assert_allclose(back.variance.array, expected, rtol=1e-14)

    def test_from_plain_nddata(self) -> None:
        data = np.arange(12, dtype=np.float32).reshape(3, 4)
        flags = np.zeros((3, 4), dtype=bool)
        flags[1, 2] = True
        wcs = tan_wcs()
        nd = NDData(data, mask=flags, wcs=wcs, meta={"XY0": (5, 6)})
        exp = im.Exposure.fromNDData(nd)
        assert exp.image.array is data
        assert exp.getXY0() == Point2I(5, 6)
        assert exp.mask.array[1, 2] == exp.mask.getPlaneBitMask("BAD")
        assert exp.mask.array.sum() == 1
        assert not exp.variance.array.any()
        # array pixel (0, 0) of the NDData is parent pixel (5, 6) of the exposure
        assert_same_sky(wcs, [(0, 0), (3, 2)], exp.wcs, [(5, 6), (8, 8)])

    def test_from_nddata_rejects(self) -> None:
        with pytest.raises(TypeError, match="float"):
            im.Exposure.fromNDData(NDData(np.zeros((2, 2)), mask=np.zeros((2, 2))))
