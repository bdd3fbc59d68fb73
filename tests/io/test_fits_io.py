"""FITS reading and writing against files nobody here wrote, and against astropy.

The inputs are the FITS files that ship inside astropy (HST multi-extension
files, a DSS plate, a tile-compressed image, a file with checksums) and
files written by ``CCDData.write``; every expected value is read from the
file with astropy in the same test.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import astropy
import numpy as np
import pytest
from astropy import units as u
from astropy.io import fits
from astropy.nddata import CCDData, InverseVariance, StdDevUncertainty, VarianceUncertainty
from astropy.wcs import WCS

import imagemapper as im
from imagemapper import Box2I, Extent2I, Point2I
from imagemapper._fitsio import FitsFormatError

ASTROPY = Path(astropy.__file__).parent
FITS_DATA = ASTROPY / "io" / "fits" / "tests" / "data"
HST_4SCI = FITS_DATA / "test0.fits"  # WFPC2-like: PRIMARY + 4 SCI extensions
STIS_RAW = FITS_DATA / "o4sp040b0_raw.fits"  # STIS: SCI/ERR/DQ x 2, ERR/DQ constant arrays
DSS = ASTROPY / "wcs" / "tests" / "data" / "dss.14.29.56-62.41.05.fits.gz"
CHECKSUMMED = FITS_DATA / "checksum.fits"
TILE_COMPRESSED = FITS_DATA / "comp.fits"


def tan_wcs(crpix=(20.5, 10.0)) -> WCS:
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    wcs.wcs.crval = [150.1, 2.2]
    wcs.wcs.crpix = list(crpix)
    wcs.wcs.cdelt = [-0.2 / 3600, 0.2 / 3600]
    return WCS(wcs.to_header())


def same_sky(wa: WCS, pa, wb: WCS, pb) -> bool:
    for (xa, ya), (xb, yb) in zip(pa, pb, strict=True):
        if wa.pixel_to_world(xa, ya).separation(wb.pixel_to_world(xb, yb)).arcsec > 1e-6:
            return False
    return True


def exposure(dtype=np.float32, psf=None) -> im.Exposure:
    rng = np.random.default_rng(3)
    shape = (30, 40)
    exp = im.Exposure.fromArrays(
        rng.normal(size=shape).astype(dtype),
        rng.integers(0, 2**9, shape).astype(np.int32),
        rng.uniform(0.5, 2, shape).astype(dtype),
        xy0=(100, -20),
        psf=psf,
        wcs=tan_wcs((120.5, -10.0)),
    )
    exp.metadata.update({"OBSERVER": "someone", "EXPTIME": 30.0, "HISTORY": ["one", "two"]})
    return exp


# ---------------------------------------------------------------- astropy's files


def test_hst_multi_extension_picks_sci1_says_so_and_reads_any_chosen_hdu(caplog):
    with fits.open(HST_4SCI) as hdul:
        want = {v: (np.asarray(hdul["SCI", v].data), hdul["SCI", v].header) for v in (1, 3)}
        primary = hdul[0].header
    with caplog.at_level(logging.INFO, logger="imagemapper.fits"):
        exp = im.Exposure.readFits(HST_4SCI)
    # The log line names the HDU used and the others.
    (line,) = [r.getMessage() for r in caplog.records]
    assert "SCI,1" in line and "SCI,4" in line and "hdu=" in line
    np.testing.assert_array_equal(exp.image.array, want[1][0])
    for hdu in (("SCI", 3), "SCI,3", 3):
        third = im.Exposure.readFits(HST_4SCI, hdu=hdu)
        np.testing.assert_array_equal(third.image.array, want[3][0])
    # The chosen extension's own keys are kept, and the primary's.
    assert third.metadata["EXPNAME"] == want[3][1]["EXPNAME"]
    assert third.metadata["DETECTOR"] == want[3][1]["DETECTOR"]
    assert exp.metadata["INSTRUME"] == primary["INSTRUME"]
    assert "DATAMIN" not in third.metadata  # describes the input's pixels, not the output's
    with pytest.raises(FitsFormatError, match=r"hdu=\('SCI', 7\).*no such HDU.*SCI,4"):
        im.Exposure.readFits(HST_4SCI, hdu=("SCI", 7))
    with pytest.raises(FitsFormatError, match="HDU 0 .*no 2-d image data"):
        im.Exposure.readFits(HST_4SCI, hdu=0)


def test_stis_raw_constant_err_and_dq_and_ltv_origin():
    with fits.open(STIS_RAW) as hdul:
        sci = np.asarray(hdul["SCI", 2].data)
        header = hdul["SCI", 2].header
        err = hdul["ERR", 2].header
    exp = im.Exposure.readFits(STIS_RAW, hdu="SCI,2")
    np.testing.assert_array_equal(exp.image.array, sci)
    assert exp.getXY0() == Point2I(-int(header["LTV1"]), -int(header["LTV2"]))
    # ERR and DQ are HST constant arrays (NAXIS=0, NPIX1/2, PIXVALUE).
    assert (exp.variance.array == np.float32(err["PIXVALUE"]) ** 2).all()
    assert not exp.mask.array.any()
    assert exp.metadata["BUNIT"] == header["BUNIT"]


def test_dss_plate_wcs_matches_astropy():
    with fits.open(DSS) as hdul, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the oracle's own complaints about the plate
        data = np.asarray(hdul[0].data)
        wcs = WCS(hdul[0].header)
    # astropy fixes a non-standard card of this plate, and says so.
    with pytest.warns(fits.verify.VerifyWarning) as record:
        exp = im.Exposure.readFits(DSS)
    assert any("SKEW" in str(w.message) for w in record)
    np.testing.assert_array_equal(exp.image.array, data)
    pixels = [(0, 0), (99, 0), (50.5, 72.25)]
    assert same_sky(exp.wcs, pixels, wcs, pixels)


def test_tile_compressed_file_and_astropy_checksums():
    with fits.open(TILE_COMPRESSED) as hdul:
        data = np.asarray(hdul[1].data)
    np.testing.assert_array_equal(im.Exposure.readFits(TILE_COMPRESSED).image.array, data)
    with fits.open(CHECKSUMMED, checksum=True) as hdul:
        assert hdul[0].verify_checksum() == 1  # astropy agrees the file is good
        data = np.asarray(hdul[0].data)
    np.testing.assert_array_equal(im.Exposure.readFits(CHECKSUMMED).image.array, data)


def test_corrupt_byte_fails_checksum_in_both_readers(tmp_path):
    bad = tmp_path / "bad.fits"
    shutil.copy(CHECKSUMMED, bad)
    with fits.open(CHECKSUMMED) as hdul:
        offset = hdul.fileinfo(0)["datLoc"] + 100
    raw = bytearray(bad.read_bytes())
    raw[offset] ^= 0x01
    bad.write_bytes(bytes(raw))
    with pytest.warns(Warning, match="sum verification failed"):  # astropy's oracle
        with fits.open(bad, checksum=True) as hdul:
            hdul[0].data  # noqa: B018
    for reader in (im.Exposure.readFits, im.FitsSource):
        with pytest.raises(OSError, match=r"bad\.fits: HDU 0 \(PRIMARY\): DATASUM"):
            reader(bad)


# -------------------------------------------------------------- CCDData files


@pytest.mark.parametrize(
    ("uncertainty", "to_variance"),
    [
        (StdDevUncertainty, np.square),
        (VarianceUncertainty, lambda a: a),
        (InverseVariance, lambda a: 1.0 / a),
    ],
)
def test_ccddata_write_file_keeps_uncertainty_mask_wcs_and_keys(tmp_path, uncertainty, to_variance):
    rng = np.random.default_rng(5)
    data = rng.normal(100, 5, (25, 35))
    values = rng.uniform(1, 3, data.shape)
    flags = rng.uniform(size=data.shape) < 0.1
    ccd = CCDData(
        data,
        unit="electron",
        uncertainty=uncertainty(values),
        mask=flags,
        wcs=tan_wcs(),
        meta={"OBJECT": "M42", "AIRMASS": 1.2},
    )
    path = tmp_path / "ccd.fits"
    ccd.write(path)
    exp = im.Exposure.readFits(path)
    back = CCDData.read(path)  # astropy's own reading of the same file
    np.testing.assert_array_equal(exp.image.array, back.data)
    np.testing.assert_allclose(exp.variance.array, to_variance(back.uncertainty.array), rtol=1e-15)
    bad = exp.mask.getPlaneBitMask("BAD")
    np.testing.assert_array_equal(exp.mask.array == bad, back.mask)
    assert exp.metadata["OBJECT"] == "M42" and exp.metadata["BUNIT"] == "electron"
    pixels = [(0, 0), (30, 20)]
    assert same_sky(exp.wcs, pixels, back.wcs, pixels)
    # Both readers agree.
    with im.FitsSource(path) as source:
        cut = source.readExposure(source.getBBox())
    np.testing.assert_array_equal(cut.variance.array, exp.variance.array)
    np.testing.assert_array_equal(cut.mask.array, exp.mask.array)


def test_unknown_utype_is_refused(tmp_path):
    path = tmp_path / "odd.fits"
    unc = fits.ImageHDU(np.ones((4, 5)), name="UNCERT")
    unc.header["UTYPE"] = "PoissonUncertainty"
    fits.HDUList([fits.PrimaryHDU(np.zeros((4, 5))), unc]).writeto(path)
    with pytest.raises(FitsFormatError, match="UNCERT,1.*unknown UTYPE 'PoissonUncertainty'"):
        im.Exposure.readFits(path)


# ------------------------------------------------------------ HST/JWST layouts


def test_jwst_like_err_dq_with_bit31_and_ivar(tmp_path):
    rng = np.random.default_rng(6)
    sci = rng.normal(size=(20, 30)).astype(np.float32)
    err = rng.uniform(0.5, 1.5, sci.shape).astype(np.float32)
    dq = np.zeros(sci.shape, np.uint32)
    dq[0, :] = 2**31 + 1  # REFERENCE_PIXEL | DO_NOT_USE
    dq[5, 5] = 4
    hdus = [fits.PrimaryHDU(), fits.ImageHDU(sci, name="SCI"), fits.ImageHDU(err, name="ERR")]
    hdus.append(fits.ImageHDU(dq, name="DQ"))
    path = tmp_path / "jwst.fits"
    fits.HDUList(hdus).writeto(path)
    exp = im.Exposure.readFits(path)
    np.testing.assert_allclose(exp.variance.array, err.astype(np.float32) ** 2)
    m = exp.mask
    planes = m.getMaskPlaneDict()
    # Bit 31 does not fit a Mask (bits 0-30): it moves to a free bit, by name.
    assert m.getMaskPlane("DQ_BIT0") == 0 and m.getMaskPlane("DQ_BIT2") == 2
    moved = m.getPlaneBitMask("DQ_BIT31")
    assert (m.array[0] == (moved | 1)).all() and m.array[5, 5] == 4
    # The reducer can still add its planes.
    assert m.addMaskPlane("INVALID_MAPREDUCE") not in (0, 2, moved.bit_length() - 1)
    with im.FitsSource(path) as source:
        np.testing.assert_array_equal(source.readMask(source.getBBox()), exp.mask.array)
        assert source.planes == planes
    # An inverse variance plane: 0 means infinite variance.
    ivar = np.full(sci.shape, 4.0, np.float32)
    ivar[1, 1] = 0
    path2 = tmp_path / "ivar.fits"
    fits.HDUList([fits.PrimaryHDU(sci), fits.ImageHDU(ivar, name="IVAR")]).writeto(path2)
    var = im.Exposure.readFits(path2).variance.array
    assert var[1, 1] == np.inf and (np.delete(var.ravel(), 31) == 0.25).all()


def test_int16_dq_top_bit_is_a_flag_not_a_sign(tmp_path):
    sci = np.zeros((4, 4), np.float32)
    dq = np.zeros((4, 4), np.int16)
    dq[1, 1] = np.int16(-32768)  # bit 15 of a 16-bit flag word
    path = tmp_path / "dq.fits"
    hdus = [fits.PrimaryHDU(), fits.ImageHDU(sci, name="SCI"), fits.ImageHDU(dq, name="DQ")]
    fits.HDUList(hdus).writeto(path)
    exp = im.Exposure.readFits(path)
    assert exp.mask.array[1, 1] == 1 << 15
    assert exp.mask.getMaskPlane("DQ_BIT15") == 15


# ------------------------------------------------------------ bad files, both readers


def lsst_file(tmp_path, variance_shape=None, mask=None) -> Path:
    image = np.ones((10, 12), np.float32)
    hdus = [fits.PrimaryHDU(), fits.ImageHDU(image, name="IMAGE")]
    hdus.append(fits.ImageHDU(np.zeros((10, 12), np.int32) if mask is None else mask, name="MASK"))
    hdus.append(fits.ImageHDU(np.ones(variance_shape or (10, 12), np.float32), name="VARIANCE"))
    path = tmp_path / "lsst.fits"
    fits.HDUList(hdus).writeto(path, overwrite=True)
    return path


@pytest.mark.parametrize(
    "reader", [im.Exposure.readFits, im.FitsSource], ids=["readFits", "FitsSource"]
)
def test_inconsistent_files_are_refused_by_both_readers(tmp_path, reader):
    path = lsst_file(tmp_path, variance_shape=(12, 14))
    with pytest.raises(
        FitsFormatError, match=r"lsst\.fits: HDU 3 \(VARIANCE,1\).*shape \(12, 14\)"
    ):
        reader(path)
    path = lsst_file(tmp_path, mask=np.full((10, 12), 2.7, np.float32))
    with pytest.raises(FitsFormatError, match=r"HDU 2 \(MASK,1\).*integer bits.*BITPIX=-32"):
        reader(path)
    offset = lsst_file(tmp_path)
    with fits.open(offset, mode="update") as hdul:
        hdul["VARIANCE"].header["LTV1"] = -3
    with pytest.raises(FitsFormatError, match=r"VARIANCE,1.*starts at parent pixel \(3, 0\)"):
        reader(offset)


TRUNCATED_SCRIPT = """
import sys, imagemapper as im
from imagemapper._fitsio import FitsFormatError
path, which = sys.argv[1], sys.argv[2]
try:
    if which == "readFits":
        im.Exposure.readFits(path)
    else:
        src = im.FitsSource(path)
        src.readExposure(src.getBBox())
except OSError as err:
    print("OSError:", err)
    sys.exit(3)
print("read it")
"""


@pytest.mark.parametrize("which", ["readFits", "FitsSource"])
@pytest.mark.parametrize("cut", ["data", "sparse"])
def test_truncated_file_is_an_io_error_never_sigbus(tmp_path, which, cut):
    exp = exposure()
    path = tmp_path / "whole.fits"
    exp.writeFits(path)
    with fits.open(path) as hdul:
        info = hdul.fileinfo(3)  # VARIANCE
    raw = path.read_bytes()
    if cut == "data":
        path.write_bytes(raw[: info["datLoc"] + 100])
    else:  # the tail is a hole (as a sparse file is before it is written)
        with open(path, "r+b") as f:
            f.truncate(info["datLoc"] + 100)
    proc = subprocess.run(
        [sys.executable, "-c", TRUNCATED_SCRIPT, str(path), which],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 3, (proc.returncode, proc.stdout, proc.stderr)  # not -SIGBUS
    assert "whole.fits: HDU 3 (VARIANCE)" in proc.stdout and "truncated" in proc.stdout
    assert "reshape" not in proc.stdout


def test_file_truncated_after_fitssource_opened_it(tmp_path):
    exp = exposure()
    path = tmp_path / "shrinks.fits"
    exp.writeFits(path)
    source = im.FitsSource(path)
    with fits.open(path) as hdul:
        start = hdul.fileinfo(1)["datLoc"]
    with open(path, "r+b") as f:
        f.truncate(start + 40 * 4 * 5)  # 5 rows of the image remain
    with pytest.raises(OSError, match=r"shrinks\.fits: HDU 1 \(IMAGE,1\).*truncated"):
        source.readExposure(source.getBBox())
    source.close()


# ---------------------------------------------------------------------- writing


@pytest.mark.parametrize("name", ["out.fits", "out.fits.gz", "out.fz"])
def test_written_files_carry_checksums_astropy_verifies_and_round_trip(tmp_path, name):
    exp = exposure(psf=im.GaussianPsf(11, 11, 1.5))
    path = tmp_path / name
    exp.writeFits(path)
    # astropy checks the stored HDUs (for .fz: the binary tables that hold the tiles)
    with fits.open(path, checksum=True, disable_image_compression=True) as hdul:
        for hdu in hdul:  # 1: present and right (2 would be: missing)
            assert hdu.verify_checksum() == 1 and hdu.verify_datasum() == 1, hdu.name
    if name.endswith(".fz"):
        with fits.open(path) as hdul:
            assert isinstance(hdul["IMAGE"], fits.CompImageHDU)
    back = im.Exposure.readFits(path)
    for got, want in (
        (back.image, exp.image),
        (back.mask, exp.mask),
        (back.variance, exp.variance),
    ):
        assert got.array.tobytes() == want.array.tobytes()  # lossless, also compressed
    assert back.getPsf() == exp.getPsf()
    assert back.metadata["HISTORY"] == ["one", "two"]
    assert back.metadata["IM_VERS"] == im.__version__
    assert sorted(os.listdir(tmp_path)) == [name]  # no temporary file left


def test_ccddata_reads_our_variance_as_a_variance(tmp_path):
    exp = exposure()
    exp.metadata["BUNIT"] = "adu"
    path = tmp_path / "ours.fits"
    exp.writeFits(path)
    ccd = CCDData.read(path, hdu_uncertainty="VARIANCE")
    assert isinstance(ccd.uncertainty, VarianceUncertainty)
    np.testing.assert_array_equal(ccd.uncertainty.array, exp.variance.array)
    np.testing.assert_array_equal(ccd.mask, exp.mask.array != 0)


def test_overwrite_false_refuses_and_keeps_the_file(tmp_path):
    path = tmp_path / "x.fits"
    exposure().writeFits(path)
    before = path.read_bytes()
    with pytest.raises(FileExistsError, match="exists"):
        exposure(np.float64).writeFits(path, overwrite=False)
    assert path.read_bytes() == before


DISK_FULL_SCRIPT = """
import resource, signal, sys
import numpy as np, imagemapper as im
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)   # a full disk: writes fail with EFBIG
big = im.Exposure.fromArrays(np.ones((512, 512), np.float32))
resource.setrlimit(resource.RLIMIT_FSIZE, (200_000, 200_000))
try:
    big.writeFits(sys.argv[1], overwrite=True)
except OSError as err:
    print("failed:", type(err).__name__)
    sys.exit(3)
print("wrote it")
"""


def test_disk_full_keeps_the_previous_good_file(tmp_path):
    path = tmp_path / "good.fits"
    small = exposure()
    small.writeFits(path)
    before = path.read_bytes()
    proc = subprocess.run(
        [sys.executable, "-c", DISK_FULL_SCRIPT, str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 3, (proc.stdout, proc.stderr)
    assert path.read_bytes() == before  # the old file is intact and readable
    assert im.Exposure.readFits(path).image.array.tobytes() == small.image.array.tobytes()
    assert sorted(os.listdir(tmp_path)) == ["good.fits"]


KILL_SCRIPT = """
import os, sys, time
import numpy as np, imagemapper as im
from imagemapper import _fitsio
real = os.fsync
def slow(fd):
    real(fd)
    open(sys.argv[2], "w").close()   # tell the test: the file is written, not yet renamed
    time.sleep(60)
_fitsio.os.fsync = slow
im.Exposure.fromArrays(np.full((64, 64), 7, np.float32)).writeFits(sys.argv[1])
"""


def test_killed_writer_leaves_the_old_file_at_the_target(tmp_path):
    path = tmp_path / "target.fits"
    old = exposure()
    old.writeFits(path)
    before = path.read_bytes()
    marker = tmp_path / "written"
    proc = subprocess.Popen([sys.executable, "-c", KILL_SCRIPT, str(path), str(marker)])
    try:
        deadline = time.monotonic() + 120
        while not marker.exists():
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert path.read_bytes() == before
    # The partial file is hidden beside it under a temporary name, never at the target.
    leftovers = [p.name for p in tmp_path.iterdir() if p.name not in ("target.fits", "written")]
    assert all(n.startswith(".target.fits.") and ".partial" in n for n in leftovers)


# ------------------------------------------------------------------ PSF persistence


def psfs():
    a = Box2I(Point2I(100, -20), Extent2I(20, 30))
    b = Box2I(Point2I(120, -20), Extent2I(20, 30))
    kernel = np.outer([1, 4, 6, 4, 1], [1, 2, 3, 2, 1]).astype(float)
    inner = im.CoaddPsf([(im.GaussianPsf(9, 9, 1.2), a, 0.5), (im.GaussianPsf(9, 9, 1.7), b, 2.0)])
    return {
        "gaussian": im.GaussianPsf(15, 13, 1.7),
        "double": im.DoubleGaussianPsf(21, 21, 1.1, 2.9, 0.15),
        "kernel": im.KernelPsf(kernel, averagePosition=(110.25, -5.5)),
        "coadd": im.CoaddPsf(
            [
                (im.DoubleGaussianPsf(11, 11, 1.0, b=0.1), a, 1.5),
                (im.KernelPsf(kernel), b, 0.25),
                (inner, Box2I(Point2I(100, -20), Extent2I(40, 10)), 3.0),
            ],
            averagePosition=(119.0, -6.0),
        ),
        "variable": im.mappers.VariableGaussianPsf(21, 21, a, 1.3, 2.3, b=0.1),
    }


@pytest.mark.parametrize("kind", list(psfs()))
def test_psf_round_trip(tmp_path, kind):
    psf = psfs()[kind]
    exp = exposure(psf=psf)
    path = tmp_path / "psf.fits"
    exp.writeFits(path)
    back = im.Exposure.readFits(path).getPsf()
    assert type(back) is type(psf)
    assert back == psf  # same parameters, boxes, weights, components
    for where in [(110, -10), (125.3, 5.7), (101, 9)]:
        a, b = psf.computeImage(where), back.computeImage(where)
        assert a.getBBox() == b.getBBox()
        np.testing.assert_allclose(b.array, a.array, rtol=1e-12, atol=1e-15)
    # The out-of-core reader attaches the file's PSF too.
    with im.FitsSource(path) as source:
        assert source.getPsf() == psf


def test_unknown_psf_is_saved_as_its_kernel_with_a_warning(tmp_path, caplog):
    from imagemapper.image.psf._analytic import _AnalyticPsf

    class OddPsf(_AnalyticPsf):  # a PSF class the file format does not know
        def __init__(self):
            super().__init__(7, 7)

        def _profile(self, r2):
            return 1.0 / (1.0 + r2)

    psf = OddPsf()
    exp = exposure(psf=psf)
    path = tmp_path / "odd.fits"
    with caplog.at_level(logging.WARNING, logger="imagemapper.fits"):
        exp.writeFits(path)
    assert "OddPsf cannot be saved exactly" in caplog.text
    back = im.Exposure.readFits(path).getPsf()
    assert isinstance(back, im.KernelPsf)
    np.testing.assert_allclose(back.computeKernelImage().array, psf.computeKernelImage().array)


# ------------------------------------------------------------ NDData and map_reduce


def test_map_reduce_on_ccddata_keeps_uncertainty_mask_wcs_unit_meta():
    rng = np.random.default_rng(8)
    ccd = CCDData(
        rng.normal(size=(40, 50)),
        unit="adu",
        uncertainty=StdDevUncertainty(rng.uniform(1, 2, (40, 50))),
        mask=rng.uniform(size=(40, 50)) < 0.05,
        wcs=tan_wcs(),
        meta={"OBJECT": "x"},
    )
    out = im.map_reduce(ccd, lambda a: a * 2, cellSize=16)
    assert type(out) is CCDData and out.unit == u.adu
    np.testing.assert_array_equal(out.data, ccd.data * 2)
    assert isinstance(out.uncertainty, StdDevUncertainty)
    np.testing.assert_array_equal(out.uncertainty.array, ccd.uncertainty.array)
    assert out.uncertainty.array is not ccd.uncertainty.array
    np.testing.assert_array_equal(out.mask, ccd.mask)
    assert out.meta["OBJECT"] == "x"
    assert same_sky(out.wcs, [(3, 4)], ccd.wcs, [(3, 4)])


def test_nddata_round_trip_keeps_the_psf_kernel():
    exp = exposure(psf=im.GaussianPsf(9, 9, 1.3))
    nd = exp.toNDData()
    np.testing.assert_allclose(nd.psf, exp.getPsf().computeKernelImage().array)
    back = im.Exposure.fromNDData(nd)
    np.testing.assert_allclose(
        back.getPsf().computeKernelImage().array, exp.getPsf().computeKernelImage().array
    )


def test_module_imports_nothing_a_file_names():
    # A PSF table naming a class outside the registry is refused, not imported.
    from imagemapper.io._psfrecords import psfFromRecords

    with pytest.raises(ValueError, match="unknown type 'os.system'"):
        psfFromRecords([{"type": "os.system", "parent": -1}], [])
