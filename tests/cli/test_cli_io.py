"""The command line with FITS files nobody here wrote: HDUs, uncertainty, PSF, provenance, names."""

from __future__ import annotations

import datetime
import subprocess
import sys
import textwrap
from pathlib import Path

import astropy
import numpy as np
import pytest
from astropy.io import fits
from astropy.nddata import CCDData, StdDevUncertainty, VarianceUncertainty
from astropy.wcs import WCS

import imagemapper as im
from imagemapper import cli

ASTROPY = Path(astropy.__file__).parent
HST_4SCI = ASTROPY / "io" / "fits" / "tests" / "data" / "test0.fits"
DSS = ASTROPY / "wcs" / "tests" / "data" / "dss.14.29.56-62.41.05.fits.gz"


def run(argv, capsys):
    code = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def one_line_error(code, err, *fragments):
    assert code == 1, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    for f in fragments:
        assert f in lines[0], lines[0]


def tan_wcs() -> WCS:
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    wcs.wcs.crval = [83.8, -5.4]
    wcs.wcs.crpix = [30.0, 20.0]
    wcs.wcs.cdelt = [-0.5 / 3600, 0.5 / 3600]
    return WCS(wcs.to_header())


@pytest.fixture
def ccdFile(tmp_path):
    """A file as astropy/ccdproc users have them: CCDData.write (PRIMARY + MASK + UNCERT)."""
    rng = np.random.default_rng(11)
    data = rng.normal(500, 10, (60, 70)).astype(np.float32)
    ccd = CCDData(
        data,
        unit="electron",
        uncertainty=StdDevUncertainty(rng.uniform(2, 4, data.shape).astype(np.float32)),
        mask=rng.uniform(size=data.shape) < 0.03,
        wcs=tan_wcs(),
        meta={"OBJECT": "M42", "FILTER": "r", "AIRMASS": 1.3},
    )
    path = tmp_path / "ccd.fits"
    ccd.write(path)
    return path, ccd


def mapperModule(tmp_path, monkeypatch, module: str, name: str, body: str) -> None:
    """Write ``module.py`` with an ImageMapper ``name`` whose ``run`` is ``body``;
    make it importable from the current directory, as a user's would be."""
    code = textwrap.indent(body, " " * 8)
    (tmp_path / f"{module}.py").write_text(
        "import imagemapper as im\n\n\n"
        f"class {name}(im.ImageMapper):\n"
        f"    _DefaultName = {name.lower()!r}\n\n"
        "    def run(self, subExposure, expandedSubExposure, fullBBox, **kwargs):\n"
        f"{code}\n"
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", list(sys.path))


# --------------------------------------------------------------- the round trip


def test_fits_cli_fits_ccddata_round_trip_keeps_everything(tmp_path, capsys, ccdFile):
    path, ccd = ccdFile
    out = tmp_path / "out.fits"
    code, _text, err = run(
        ["run", path, "-o", out, "--mapper", "PassThroughMapper", "--reduce", "copy",
         "--cell", 32, "--backend", "serial"],
        capsys,
    )  # fmt: skip
    assert code == 0, err
    back = CCDData.read(out, hdu_uncertainty="VARIANCE")
    np.testing.assert_array_equal(back.data, ccd.data)
    np.testing.assert_array_equal(back.mask, ccd.mask)
    assert isinstance(back.uncertainty, VarianceUncertainty)
    np.testing.assert_allclose(back.uncertainty.array, ccd.uncertainty.array**2, rtol=1e-7)
    assert back.unit == ccd.unit
    for key in ("OBJECT", "FILTER", "AIRMASS"):
        assert back.header[key] == ccd.header[key]
    pixels = [(0, 0), (69, 59), (33.5, 12.25)]
    for x, y in pixels:
        assert back.wcs.pixel_to_world(x, y).separation(ccd.wcs.pixel_to_world(x, y)).arcsec < 1e-6


def test_the_psf_goes_through_the_command_line(tmp_path, capsys):
    rng = np.random.default_rng(12)
    exp = im.Exposure.fromArrays(
        rng.normal(size=(80, 90)).astype(np.float32),
        variance=np.ones((80, 90), np.float32),
        psf=im.DoubleGaussianPsf(15, 15, 1.4, b=0.1),
    )
    path = tmp_path / "withpsf.fits"
    exp.writeFits(path)
    out = tmp_path / "out.fits"
    code, _, err = run(
        ["run", path, "-o", out, "--mapper", "PassThroughMapper", "--reduce", "average",
         "--cell", 40, "--step", 30, "--border", 4, "--backend", "serial"],
        capsys,
    )  # fmt: skip
    assert code == 0, err
    # The same run in Python: its CoaddPsf of the cells' PSFs is what the file holds.
    config = im.ImageMapReduceConfig()
    config.mapper.retarget(im.PassThroughMapper)
    config.scaleByFwhm = False
    config.cellSizeX = config.cellSizeY = 40.0
    config.adjustGridOption = "none"
    config.gridStepX = config.gridStepY = 30.0
    config.borderSizeX = config.borderSizeY = 4.0
    config.backend = "serial"
    expected = im.ImageMapReduceTask(config).run(exp).exposure.getPsf()
    got = im.Exposure.readFits(out).getPsf()
    assert isinstance(got, im.CoaddPsf) and got == expected
    np.testing.assert_allclose(
        got.computeImage((45.3, 40.1)).array, expected.computeImage((45.3, 40.1)).array, rtol=1e-12
    )


def test_psf_match_mapper_runs_on_the_demos_own_input(tmp_path, capsys):
    code, _, err = run(
        ["demo", "--size", 256, "--output", tmp_path, "--workers", 1, "--no-plots"], capsys
    )
    assert code == 0, err
    out = tmp_path / "matched.fits"
    code, _text, err = run(
        ["run", tmp_path / "input.fits", "-o", out, "--mapper", "PsfMatchMapper",
         "-c", "mapper.targetSigma=2.5", "--cell", 64, "--border", 12, "--backend", "serial"],
        capsys,
    )  # fmt: skip
    assert code == 0, err
    psf = im.Exposure.readFits(out).getPsf()
    assert psf.computeShape((128, 128)).getDeterminantRadius() == pytest.approx(2.5, rel=1e-3)


# ------------------------------------------------------------------------ HDUs


def test_hdu_choice_log_line_and_extension_keys(tmp_path, capsys):
    with fits.open(HST_4SCI) as hdul:
        sci3 = np.asarray(hdul["SCI", 3].data, dtype=np.float32)
        expname = hdul["SCI", 3].header["EXPNAME"]
        instrume = hdul[0].header["INSTRUME"]
    out = tmp_path / "out.fits"
    code, text, err = run(
        ["run", HST_4SCI, "-o", out, "--mapper", "PassThroughMapper", "--reduce", "copy"], capsys
    )
    assert code == 0, err
    # Several SCI extensions: one line names the one used and how to choose.
    (line,) = [ln for ln in text.splitlines() if "using HDU" in ln]
    assert "SCI,1" in line and "SCI,4" in line and "--hdu" in line
    code, text, err = run(
        ["run", HST_4SCI, "-o", out, "--overwrite", "--hdu", "SCI,3", "--mapper",
         "PassThroughMapper", "--reduce", "copy"],
        capsys,
    )  # fmt: skip
    assert code == 0, err
    assert "using HDU" not in text  # chosen explicitly
    with fits.open(out) as hdul:
        np.testing.assert_array_equal(hdul["IMAGE"].data, sci3)
        header = hdul[0].header
        assert header["EXPNAME"] == expname and header["INSTRUME"] == instrume
        assert header["IM_INHDU"] == "SCI,3 (index 3)"
    code, _, err = run(["grid", HST_4SCI, "--hdu", "7"], capsys)
    one_line_error(code, err, "hdu=7", "no such HDU")
    with pytest.raises(SystemExit):
        cli.main(["grid", str(HST_4SCI), "--hdu", "SCI,x"])


# ------------------------------------------------------------------- provenance


def test_output_says_how_it_was_made(tmp_path, capsys, ccdFile):
    path, _ = ccdFile
    out = tmp_path / "smooth.fits"
    code, _, err = run(
        ["run", path, "-o", out, "--mapper", "GaussianConvolveMapper", "-c", "mapper.sigma=1.5",
         "--cell", 32, "--border", 8],
        capsys,
    )  # fmt: skip
    assert code == 0, err
    with fits.open(out) as hdul:
        h = hdul[0].header
    assert h["IM_VERS"] == im.__version__
    assert h["IM_MAPPR"] == "imagemapper.mappers.GaussianConvolveMapper"
    assert h["IM_REDUC"] == "average"
    assert h["IM_INPUT"] == "ccd.fits" and h["IM_INHDU"] == "PRIMARY,1 (index 0)"
    when = datetime.datetime.fromisoformat(h["IM_DATE"])
    assert abs((datetime.datetime.now(datetime.timezone.utc) - when).total_seconds()) < 600
    history = [str(v) for v in h["HISTORY"]]
    assert "override: -c mapper.sigma=1.5" in history and "override: --cell 32" in history
    assert "  mapper.sigma = 1.5" in history and "  cellSizeX = 32.0" in history
    assert f"config (sha256 {h['IM_CFGDG']}):" in history


# -------------------------------------------------------------- refusals, names


def test_inverse_variance_blending_without_variance_is_refused(tmp_path, capsys):
    path = tmp_path / "plain.fits"
    fits.PrimaryHDU(np.ones((50, 60), np.float32)).writeto(path)
    out = tmp_path / "out.fits"
    code, _, err = run(
        ["run", path, "-o", out, "--mapper", "PassThroughMapper", "--reduce", "weighted",
         "-c", "reducer.blendInverseVariance=True"],
        capsys,
    )  # fmt: skip
    one_line_error(code, err, "blendInverseVariance", "no positive finite variance")
    assert not out.exists()


@pytest.mark.parametrize("name", ["y.png", "y.txt", "y"])
def test_output_name_must_be_fits_or_zarr(tmp_path, capsys, ccdFile, name):
    path, _ = ccdFile
    code, _, err = run(
        ["run", path, "-o", tmp_path / name, "--mapper", "PassThroughMapper"], capsys
    )
    one_line_error(code, err, "FITS name", ".fits.gz", ".fz", ".zarr")
    assert not (tmp_path / name).exists()


@pytest.mark.parametrize("name", ["out.fits.gz", "out.fz", "out.zarr"])
def test_compressed_and_zarr_outputs(tmp_path, capsys, ccdFile, name):
    if name.endswith(".zarr"):
        pytest.importorskip("zarr")  # zarr 3 needs Python >= 3.11
    path, ccd = ccdFile
    out = tmp_path / name
    code, _, err = run(
        ["run", path, "-o", out, "--mapper", "PassThroughMapper", "--reduce", "copy"], capsys
    )
    assert code == 0, err
    if name.endswith(".zarr"):
        source = im.ZarrSource(str(out))
        back = source.readExposure(source.getBBox())
    else:
        back = im.Exposure.readFits(out)
    np.testing.assert_array_equal(back.image.array, ccd.data)
    np.testing.assert_allclose(back.variance.array, ccd.uncertainty.array**2, rtol=1e-7)
    # Again over the existing output: replaced whole, nothing else left beside it.
    code, _, err = run(
        ["run", path, "-o", out, "--overwrite", "--mapper", "PassThroughMapper", "--reduce",
         "copy"],
        capsys,
    )  # fmt: skip
    assert code == 0, err
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["ccd.fits", name])


def test_output_equal_to_input_is_refused(tmp_path, capsys, ccdFile):
    path, _ = ccdFile
    before = path.read_bytes()
    code, _, err = run(
        ["run", path, "-o", path, "--overwrite", "--mapper", "PassThroughMapper"], capsys
    )
    one_line_error(code, err, "is the input file")
    assert path.read_bytes() == before


def test_a_failed_run_keeps_the_previous_output(tmp_path, capsys, ccdFile, monkeypatch):
    path, _ = ccdFile
    out = tmp_path / "out.fits"
    code, _, err = run(["run", path, "-o", out, "--mapper", "PassThroughMapper"], capsys)
    assert code == 0, err
    before = out.read_bytes()
    mapperModule(tmp_path, monkeypatch, "failing_cli_io", "Fails", 'raise RuntimeError("no luck")')
    code, _, err = run(
        ["run", path, "-o", out, "--overwrite", "--mapper", "failing_cli_io:Fails"], capsys
    )
    one_line_error(code, err, "no luck")
    assert out.read_bytes() == before


def test_failed_cells_are_counted_in_the_summary(tmp_path, capsys, ccdFile, monkeypatch):
    path, _ = ccdFile
    body = (
        "if subExposure.getBBox().getMinX() > 0:\n"
        '    raise ValueError("right half fails")\n'
        "return im.Struct(subExposure=subExposure.clone())"
    )
    mapperModule(tmp_path, monkeypatch, "halfcli_io", "Half", body)
    out = tmp_path / "out.fits"
    code, text, err = run(
        ["run", path, "-o", out, "--mapper", "halfcli_io:Half", "--cell", 35, "--step", 35,
         "-c", "onMapperError=mask", "--reduce", "copy", "--backend", "serial"],
        capsys,
    )  # fmt: skip
    assert code == 0, err
    assert "2 of 4 cells failed (onMapperError=mask)" in text


# ------------------------------------------------------------ messages and plots


def test_astropy_warnings_are_printed_once(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "imagemapper.cli", "grid", str(DSS)],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    warned = [ln for ln in proc.stderr.splitlines() if "SKEW" in ln]
    assert len(warned) == 1, proc.stderr
    assert warned[0].startswith("imagemapper grid: warning: ")
    assert "Traceback" not in proc.stderr


def test_show_config_marks_required_fields_without_failing(capsys, tmp_path):
    code, text, err = run(
        ["run", tmp_path / "never-read.fits", "--mapper", "PsfMatchMapper", "--show-config"],
        capsys,
    )
    assert code == 0, err
    (line,) = [ln for ln in text.splitlines() if ln.startswith("mapper.targetSigma")]
    assert "REQUIRED" in line and "-c mapper.targetSigma=VALUE" in line
    assert not [ln for ln in text.splitlines() if "REQUIRED" in ln and "targetSigma" not in ln]


def test_grid_plot_title_and_name(tmp_path, capsys, ccdFile):
    pytest.importorskip("matplotlib")
    from imagemapper._plot import _boxesTitle

    assert _boxesTitle(361, 1) == "361 cells, all shown (solid: cell; dashed: with border)"
    assert [_boxesTitle(9, k).split(", ")[1].split(" (")[0] for k in (2, 3, 11, 22)] == [
        "every 2nd shown",
        "every 3rd shown",
        "every 11th shown",
        "every 22nd shown",
    ]
    path, _ = ccdFile
    code, _, err = run(["grid", path, "--plot", tmp_path / "grid.fits"], capsys)
    one_line_error(code, err, "--plot", ".png")


def test_progress_bar_names_the_mapper(tmp_path, capsys, ccdFile):
    path, _ = ccdFile
    code, _, err = run(
        ["run", path, "-o", tmp_path / "o.fits", "--mapper", "PassThroughMapper", "--progress",
         "--backend", "serial"],
        capsys,
    )  # fmt: skip
    assert code == 0, err
    assert "PassThroughMapper" in err and "imageMapReduce" not in err


def test_pictures_state_their_stretch_and_scale():
    pytest.importorskip("matplotlib")
    import matplotlib.pyplot as plt

    from imagemapper._plot import imageNorm, plotBoxes, plotImage

    rng = np.random.default_rng(13)
    image = rng.normal(1000, 10, (64, 80))
    norm, words = imageNorm(image, "asinh", (1.0, 99.8))
    lo, hi = np.percentile(image, [1.0, 99.8])
    assert float(norm(lo)) == pytest.approx(0.0, abs=1e-6) and float(norm(hi)) == pytest.approx(1)
    assert words == "asinh stretch, 1-99.8 percentile range"
    fig = plotImage(image, title="t", colorbar="counts")
    bar = fig.axes[1]  # the colour bar says what the greys mean
    assert bar.get_ylabel() == "counts (asinh stretch, 1-99.8 percentile range)"
    plt.close(fig)
    box = im.Box2I(im.Point2I(0, 0), im.Extent2I(80, 64))
    cells = [im.Box2I(im.Point2I(0, 0), im.Extent2I(40, 32))]
    fig = plotBoxes(cells, cells, box, skip=1, image=image, region=box, annotate=True)
    assert [t.get_text() for t in fig.axes[0].texts] == ["cell 0"]
    assert "stretch" in fig.axes[1].get_ylabel()
    plt.close(fig)
