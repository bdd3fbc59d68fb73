"""``PropertySet`` / ``PropertyList`` and ``makeSkyWcs`` (metadata to WCS)."""

from __future__ import annotations

import numpy as np
import pytest
from astropy.wcs import WCS

import imagemapper as im
import imagemapper.lsst.afw.geom as afwGeom
import imagemapper.lsst.afw.image as afwImage
import imagemapper.lsst.daf.base as dafBase
from imagemapper.lsst.pex.exceptions import InvalidParameterError

CD = np.array(
    [[5.10808596133527e-05, 1.85579539217196e-07], [-8.27440751733828e-07, -5.10281493481982e-05]]
)


def lsstStyleMetadata(cls=dafBase.PropertySet):
    # as LSST's tests build a WCS (afw's testMakeWcs cards)
    metadata = cls()
    metadata.set("SIMPLE", "T")
    metadata.set("BITPIX", -32)
    metadata.set("NAXIS", 2)
    metadata.set("NAXIS1", 1024)
    metadata.set("NAXIS2", 1153)
    metadata.set("RADESYS", "FK5")
    metadata.set("EQUINOX", 2000.0)
    metadata.setDouble("CRVAL1", 215.604025685476)
    metadata.setDouble("CRVAL2", 53.1595451514076)
    metadata.setDouble("CRPIX1", 1109.99981456774)
    metadata.setDouble("CRPIX2", 560.018167811613)
    metadata.set("CTYPE1", "RA---SIN")
    metadata.set("CTYPE2", "DEC--SIN")
    metadata.setDouble("CD1_1", CD[0, 0])
    metadata.setDouble("CD1_2", CD[0, 1])
    metadata.setDouble("CD2_1", CD[1, 0])
    metadata.setDouble("CD2_2", CD[1, 1])
    return metadata


@pytest.mark.parametrize("cls", [dafBase.PropertySet, dafBase.PropertyList])
def test_make_sky_wcs_from_property_set(cls):
    wcs = afwGeom.makeSkyWcs(lsstStyleMetadata(cls))
    assert isinstance(wcs, WCS) and wcs.has_celestial
    # 0-based pixels: FITS CRPIX - 1 is the reference point, at CRVAL
    ra, dec = wcs.all_pix2world([1109.99981456774 - 1], [560.018167811613 - 1], 0)
    assert ra[0] == pytest.approx(215.604025685476, abs=1e-10)
    assert dec[0] == pytest.approx(53.1595451514076, abs=1e-10)
    # the local Jacobian there is the CD matrix (RA scaled by cos(dec))
    x0, y0, h = 1109.99981456774 - 1, 560.018167811613 - 1, 0.5
    (r1, r2), (d1, d2) = wcs.all_pix2world([x0 - h, x0 + h], [y0, y0], 0)
    (r3, r4), (d3, d4) = wcs.all_pix2world([x0, x0], [y0 - h, y0 + h], 0)
    cosDec = np.cos(np.deg2rad(53.1595451514076))
    jacobian = np.array([[(r2 - r1) * cosDec, (r4 - r3) * cosDec], [d2 - d1, d4 - d3]]) / (2 * h)
    np.testing.assert_allclose(jacobian, CD, rtol=1e-6, atol=1e-12)
    # an exposure takes it as its WCS
    exposure = afwImage.ExposureF(10, 10)
    exposure.setWcs(wcs)
    assert exposure.getWcs() is wcs


def test_make_sky_wcs_strip_and_errors():
    metadata = lsstStyleMetadata()
    afwGeom.makeSkyWcs(metadata, strip=True)
    assert not metadata.exists("CRVAL1") and not metadata.exists("CD2_2")
    assert metadata.getScalar("NAXIS1") == 1024  # not a WCS card
    plain = {k: v for k, v in lsstStyleMetadata().toDict().items() if not k.startswith("CTYPE")}
    with pytest.raises(InvalidParameterError, match="celestial"):
        afwGeom.makeSkyWcs(plain)
    assert isinstance(afwGeom.makeSkyWcs(lsstStyleMetadata().toDict()), WCS)


def test_property_set_values():
    ps = dafBase.PropertySet()
    ps.set("a", 1)
    ps.setDouble("b", 2)
    ps.add("b", 3.5)
    ps.set("c.d", "deep")
    ps.setBool("e", 1)
    assert ps.get("a") == 1 and isinstance(ps.getScalar("b"), float)
    assert ps.get("b") == 3.5 and ps.getArray("b") == [2.0, 3.5]
    assert ps.getScalar("c.d") == "deep" and isinstance(ps.getPropertySet("c"), dafBase.PropertySet)
    assert ps.get("missing", 7) == 7
    with pytest.raises(KeyError):
        ps.getScalar("missing")
    assert ps.getBool("e") is True
    assert ps.names() == ["a", "b", "c", "e"]
    assert set(ps.names(topLevelOnly=False)) == {"a", "b", "c", "c.d", "e"}
    assert ps.toDict() == {"a": 1, "b": [2.0, 3.5], "c": {"d": "deep"}, "e": True}
    assert "c.d" in ps and ps.isArray("b") and ps.valueCount("b") == 2
    ps.remove("c.d")
    assert "c.d" not in ps
    copy = ps.copy()
    copy.set("a", 9)
    assert ps.get("a") == 1


def test_property_list_keeps_order_and_comments():
    pl = dafBase.PropertyList()
    pl.set("Z", 1, "last letter")
    pl.set("A.B", 2)  # a flat name, not a hierarchy
    pl.add("Z", 3)
    assert pl.names() == ["Z", "A.B"]
    assert pl.getComment("Z") == "last letter" and pl.getComment("A.B") == ""
    assert pl.toList() == [("Z", 1, "last letter"), ("Z", 3, "last letter"), ("A.B", 2, "")]
    assert pl.getArray("Z") == [1, 3] and pl.get("Z") == 3


def test_metadata_values_from_numpy():
    ps = dafBase.PropertySet()
    ps.set("arr", np.array([1.5, 2.5]))
    ps.set("scalar", np.float32(3.0))
    assert ps.getArray("arr") == [1.5, 2.5] and type(ps.get("scalar")) is float
    assert im.Exposure is afwImage.Exposure
