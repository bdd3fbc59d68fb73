"""The imagemapper command: demo, run, grid, overrides, exit codes and messages."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from importlib import metadata

import numpy as np
import pytest

import imagemapper as im
from imagemapper import cli
from imagemapper.mappers import BackgroundMapper
from imagemapper.testing import naiveGrid

ndimage = pytest.importorskip("scipy.ndimage")


@pytest.fixture
def fitsFile(tmp_path):
    rng = np.random.default_rng(4)
    image = rng.normal(100.0, 5.0, (120, 150)).astype(np.float32)
    mask = np.zeros(image.shape, np.int32)
    exp = im.Exposure.fromArrays(image, mask, np.full(image.shape, 25.0, np.float32), xy0=(3, 4))
    exp.mask.array[30:40, 50:60] |= exp.mask.getPlaneBitMask("DETECTED")
    exp.image.array[30:40, 50:60] += 1000.0
    path = tmp_path / "in.fits"
    exp.writeFits(path)
    return path, exp


def run(argv, capsys):
    code = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line_error(code, err, *fragments):
    assert code == 1
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    for f in fragments:
        assert f in lines[0], lines[0]


# ------------------------------------------------------------------- basics


def test_entry_point_and_version(capsys):
    (ep,) = [e for e in metadata.entry_points(group="console_scripts") if e.name == "imagemapper"]
    assert ep.value == "imagemapper.cli:main"
    with pytest.raises(SystemExit) as exc:
        cli.main(["--version"])
    assert exc.value.code == 0
    assert capsys.readouterr().out.strip() == f"imagemapper {im.__version__}"


def test_help_explains_every_option(capsys):
    parser = cli.buildParser()
    subparsers = parser._subparsers._group_actions[0].choices
    for name, sub in subparsers.items():
        with pytest.raises(SystemExit) as exc:
            cli.main([name, "--help"])
        assert exc.value.code == 0
        text = capsys.readouterr().out
        for action in sub._actions:
            for opt in action.option_strings:
                assert opt in text, (name, opt)
            if action.option_strings and action.help != "==SUPPRESS==":
                assert action.help, (name, action.option_strings)


def test_usage_errors_exit_2(capsys, fitsFile):
    path, _ = fitsFile
    for argv in (
        [],
        ["run", path],  # --mapper missing
        ["run", path, "--mapper", "X", "--backend", "gpu"],
        ["grid", path, "--cell", "0"],
        ["demo", "--size", "big"],
    ):
        with pytest.raises(SystemExit) as exc:
            cli.main([str(a) for a in argv])
        assert exc.value.code == 2
        assert "usage:" in capsys.readouterr().err


def test_real_process_exit_codes_and_no_traceback(tmp_path):
    bad = tmp_path / "notfits.fits"
    bad.write_text("hello\n")
    proc = subprocess.run(
        [sys.executable, "-m", "imagemapper.cli", "grid", str(bad)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 1
    assert proc.stderr.startswith("imagemapper grid: error: cannot read")
    assert "Traceback" not in proc.stderr


# ---------------------------------------------------------------------- run


def test_run_gaussian_convolve_matches_scipy(tmp_path, capsys, fitsFile):
    path, exp = fitsFile
    out = tmp_path / "out.fits"
    code, text, err = run(
        ["run", path, "-o", out, "--mapper", "imagemapper.mappers:GaussianConvolveMapper",
         "--cell", 48, "--border", 9, "-c", "mapper.sigma=2.0", "--backend", "serial"],
        capsys,
    )  # fmt: skip
    assert code == 0, err
    assert f"wrote {out}" in text and "GaussianConvolveMapper" in text
    result = im.Exposure.readFits(out)
    assert result.getBBox() == exp.getBBox()
    ref = ndimage.gaussian_filter(exp.image.array.astype(float), 2.0)  # scipy's default edge
    np.testing.assert_allclose(result.image.array, ref, atol=4 * np.abs(ref).max() * 2.0**-24)
    # Existing output is not replaced without --overwrite.
    code, _, err = run(["run", path, "-o", out, "--mapper", "GaussianConvolveMapper"], capsys)
    assert_one_line_error(code, err, "exists", "--overwrite")
    code, _, err = run(
        ["run", path, "-o", out, "--mapper", "GaussianConvolveMapper", "--overwrite"], capsys
    )
    assert code == 0, err


def test_run_cell_statistics_table_equals_numpy(tmp_path, capsys, fitsFile):
    table = pytest.importorskip("astropy.table")
    path, exp = fitsFile
    out = tmp_path / "stats.ecsv"
    code, _, err = run(
        ["run", path, "-o", out, "--mapper", "CellStatisticsMapper", "--cell", 40, "--step", 40,
         "-c", "ignoreMaskPlanes=DETECTED"],
        capsys,
    )  # fmt: skip
    assert code == 0, err
    t = table.Table.read(out)
    boxes0, _ = naiveGrid(exp.getBBox(), (40, 40), (40, 40), (16, 16), "none")
    assert len(t) == len(boxes0)
    bit = exp.mask.getPlaneBitMask("DETECTED")
    for row, b in zip(t, boxes0):
        assert (row["bbox_minX"], row["bbox_minY"]) == (b.getMinX(), b.getMinY())
        sl = b.slices(exp.getBBox())
        v = exp.image.array[sl][(exp.mask.array[sl] & bit) == 0].astype(float)
        assert row["nValid"] == v.size
        assert row["mean"] == pytest.approx(v.mean(), rel=1e-12)
        assert row["median"] == pytest.approx(np.median(v), rel=1e-12)
    # Without -o the table is printed.
    code, text, _ = run(["run", path, "--mapper", "CellStatisticsMapper", "--cell", 60], capsys)
    assert code == 0 and "median" in text and "nValid" in text


def test_run_user_mapper_from_current_directory(tmp_path, capsys, fitsFile, monkeypatch):
    path, exp = fitsFile
    (tmp_path / "usermappers_cli.py").write_text(
        textwrap.dedent(
            """
            import lsst.pex.config as pexConfig
            import imagemapper as im

            class AddConfig(im.ImageMapperConfig):
                amount = pexConfig.Field(dtype=float, doc="added", default=1.0)

            class AddMapper(im.ImageMapper):
                ConfigClass = AddConfig
                _DefaultName = "add"

                def run(self, subExposure, expandedSubExposure, fullBBox, **kwargs):
                    out = subExposure.clone()
                    out.maskedImage += self.config.amount
                    return im.Struct(subExposure=out)
            """
        )
    )
    overrides = tmp_path / "overrides.py"
    overrides.write_text("config.mapper.amount = 5.0\nconfig.cellSizeX = 30.0\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", list(sys.path))
    out = tmp_path / "added.fits"
    # -C then -c: the later -c wins; the file's cellSizeX stays.
    code, _, err = run(
        ["run", path, "-o", out, "--mapper", "usermappers_cli:AddMapper", "-C", overrides,
         "-c", "mapper.amount=2.5", "--reduce", "copy"],
        capsys,
    )  # fmt: skip
    assert code == 0, err
    np.testing.assert_allclose(im.Exposure.readFits(out).image.array, exp.image.array + 2.5)
    # -c then -C: the file wins.
    code, _, err = run(
        ["run", path, "-o", out, "--overwrite", "--mapper", "usermappers_cli:AddMapper",
         "-c", "mapper.amount=2.5", "-C", overrides],
        capsys,
    )  # fmt: skip
    assert code == 0, err
    np.testing.assert_allclose(im.Exposure.readFits(out).image.array, exp.image.array + 5.0)


GAUSS = ["run", "{fits}", "-o", "{out}", "--mapper", "GaussianConvolveMapper"]
PSFMATCH = ["run", "{fits}", "-o", "{out}", "--mapper", "PsfMatchMapper"]


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (["run", "{missing}", "-o", "{out}", "--mapper", "GaussianConvolveMapper"],
         ["does not exist", "missing.fits"]),
        (["run", "{text}", "-o", "{out}", "--mapper", "GaussianConvolveMapper"],
         ["cannot read", "as FITS"]),
        (["run", "{tmp}", "-o", "{out}", "--mapper", "GaussianConvolveMapper"],
         ["is a directory"]),
        (["run", "{fits}", "-o", "{out}", "--mapper", "no_such_pkg.mod:Mapper"],
         ["cannot import module 'no_such_pkg.mod'"]),
        (["run", "{fits}", "-o", "{out}", "--mapper", "imagemapper.mappers:Nope"],
         ["has no attribute 'Nope'", "GaussianConvolveMapper"]),
        (["run", "{fits}", "-o", "{out}", "--mapper", "imagemapper:Struct"],
         ["not a subclass of imagemapper.ImageMapper"]),
        (["run", "{fits}", "-o", "{out}", "--mapper", "imagemapper:ImageMapper"],
         ["is abstract"]),
        ([*GAUSS, "-c", "cellSize=3"],
         ["unknown config field 'cellSize'", "did you mean"]),
        ([*GAUSS, "-c", "mapper.sigmaa=1"],
         ["unknown config field 'sigmaa' in 'mapper'", "'sigma'"]),
        ([*GAUSS, "-c", "cellSizeX=abc"],
         ["cellSizeX=abc", "expected a number"]),
        ([*GAUSS, "-c", "scaleByFwhm=maybe"],
         ["expected true or false"]),
        ([*GAUSS, "-c", "adjustGridOption=spaceing"],
         ["not one of", "did you mean 'spacing'"]),
        ([*GAUSS, "-c", "cellSizeX"],
         ["must look like name=value"]),
        ([*GAUSS, "-c", "mapper=x"],
         ["group of fields"]),
        ([*GAUSS, "-C", "{missing}"],
         ["config override file", "does not exist"]),
        (["run", "{fits}", "-o", "{tmp}/nodir/x.fits", "--mapper", "GaussianConvolveMapper"],
         ["output folder", "does not exist"]),
        (["run", "{fits}", "--mapper", "GaussianConvolveMapper"],
         ["-o OUT.fits is required"]),
        (PSFMATCH, ["mapper.targetSigma", "cannot be None"]),
        ([*PSFMATCH, "-c", "mapper.targetSigma=3"],
         ["mapper.run failed on cell 0", "needs an exposure with a PSF"]),
        (["grid", "{fits}", "-c", "scaleByFwhm=true"],
         ["cannot make the grid", "no PSF"]),
    ],
)  # fmt: skip
def test_runtime_errors_are_one_actionable_line(args, fragments, tmp_path, capsys, fitsFile):
    path, _ = fitsFile
    text = tmp_path / "text.fits"
    text.write_text("not a FITS file\n")
    subs = {
        "missing": tmp_path / "missing.fits",
        "out": tmp_path / "out.fits",
        "text": text,
        "tmp": tmp_path,
        "fits": path,
    }
    argv = [a.format(**subs) for a in args]
    code, _, err = run(argv, capsys)
    assert_one_line_error(code, err, *fragments)
    assert not (tmp_path / "out.fits").exists()


def test_debug_shows_the_traceback(tmp_path, capsys):
    with pytest.raises(cli.CliError, match="does not exist"):
        cli.main(["--debug", "grid", str(tmp_path / "missing.fits")])
    with pytest.raises(cli.CliError, match="does not exist"):
        cli.main(["grid", str(tmp_path / "missing.fits"), "--debug"])


# ---------------------------------------------------------------- overrides


def test_override_parsing_uses_field_types():
    config = im.ImageMapReduceConfig()
    config.mapper.retarget(BackgroundMapper)
    for assignment in (
        "cellSizeX=64",
        "numWorkers=3",
        "scaleByFwhm=False",
        "progress=None",
        "ignoreMaskPlanes=BAD, SAT",
        "cellCentroidsX=[1.5, 2]",
        "cellCentroidsY=(3, 4)",
        "reducer.reduceOperation=copy",
        "reducer.badMaskPlanes=[]",
        "mapper.statistic='mean'",
        "mapper.ignoreMaskPlanes=None",
        "mapper.maxIters=2",
    ):
        cli.applyConfigOverride(config, assignment)
    assert config.cellSizeX == 64.0 and isinstance(config.cellSizeX, float)
    assert config.numWorkers == 3 and config.scaleByFwhm is False and config.progress is None
    assert list(config.ignoreMaskPlanes) == ["BAD", "SAT"]
    assert list(config.cellCentroidsX) == [1.5, 2.0] and list(config.cellCentroidsY) == [3.0, 4.0]
    assert config.reducer.reduceOperation == "copy" and list(config.reducer.badMaskPlanes) == []
    assert config.mapper.statistic == "mean" and config.mapper.ignoreMaskPlanes is None
    assert config.mapper.maxIters == 2
    for bad in ("numWorkers=1.5", "scaleByFwhm=None", "mapper.maxIters=x", "nothing.here=1"):
        with pytest.raises(cli.CliError):
            cli.applyConfigOverride(config, bad)


# --------------------------------------------------------------------- grid


def test_grid_prints_the_cell_count_and_plots(tmp_path, capsys, fitsFile):
    pytest.importorskip("matplotlib")
    path, exp = fitsFile
    png = tmp_path / "grid.png"
    code, text, err = run(
        ["grid", path, "-c", "cellSizeX=40", "-c", "cellSizeY=30", "--border", 5,
         "--plot", png, "--list"],
        capsys,
    )  # fmt: skip
    assert code == 0, err
    boxes0, boxes1 = naiveGrid(exp.getBBox(), (40, 30), (256, 256), (5, 5), "spacing")
    assert f"\n{len(boxes0)} cells\n" in text
    for i, (b0, b1) in enumerate(zip(boxes0, boxes1)):
        line = (
            f"cell {i}: ({b0.getMinX()}, {b0.getMinY()})-({b0.getMaxX()}, {b0.getMaxY()}), "
            f"expanded ({b1.getMinX()}, {b1.getMinY()})-({b1.getMaxX()}, {b1.getMaxY()})"
        )
        assert line in text
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


# --------------------------------------------------------------------- demo


def test_demo_small_writes_files_and_matches_the_psf(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    out = tmp_path / "demo"
    code, text, err = run(
        ["demo", "--size", 1024, "--output", out, "--workers", 2, "--seed", 1], capsys
    )
    assert code == 0, err
    names = {"input.fits", "output.fits", "input.png", "output.png", "grid.png", "zoom.png"}
    assert names <= {p.name for p in out.iterdir()}
    for line in ("stars", "cells of 256 px", "2 workers", "peak memory (RSS)", str(out)):
        assert line in text
    inExp = im.Exposure.readFits(out / "input.fits")
    outExp = im.Exposure.readFits(out / "output.fits")
    assert inExp.getBBox() == outExp.getBBox()
    m = inExp.mask
    assert (m.array & m.getPlaneBitMask("BAD")).any() and (m.array & m.getPlaneBitMask("SAT")).any()
    # Flux is kept (normalised kernels) away from the edges, where zeros leak in.
    inner = (slice(64, -64), slice(64, -64))
    ratio = outExp.image.array[inner].sum(dtype=float) / inExp.image.array[inner].sum(dtype=float)
    assert ratio == pytest.approx(1.0, abs=2e-3)


def test_demo_without_matplotlib_skips_the_pngs(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib -> ImportError
    out = tmp_path / "demo"
    code, text, err = run(["demo", "--size", 256, "--output", out, "--workers", 1], capsys)
    assert code == 0, err
    assert "matplotlib is not installed: no PNG previews" in text
    assert sorted(p.name for p in out.iterdir()) == ["input.fits", "output.fits"]


def test_show_config_prints_the_values_a_run_would_use(capsys, tmp_path):
    code, text, err = run(
        ["run", tmp_path / "never-read.fits", "--mapper", "PsfMatchMapper", "--cell", 64,
         "-c", "mapper.targetSigma=3", "--reduce", "copy", "--show-config"],
        capsys,
    )  # fmt: skip
    assert code == 0, err
    lines = text.splitlines()
    for line in (
        "mapper: imagemapper.mappers.PsfMatchMapper",
        "mapper.targetSigma = 3.0",
        "reducer.reduceOperation = 'copy'",
        "cellSizeX = 64.0",
        "scaleByFwhm = False",
        "borderSizeY = 16.0",
    ):
        assert line in lines


def test_demo_function_measures_a_uniform_output_psf(tmp_path):
    from imagemapper._demo import runDemo

    summary = runDemo(
        size=1536, output=tmp_path, workers=2, writeFits=False, plots=False, echo=lambda s: None
    )
    target = summary.targetSigma
    inner, outer = summary.sigmaIn
    assert outer > inner + 0.3  # the input PSF varies
    assert summary.sigmaOut == pytest.approx((target, target), rel=0.06)  # the output does not
    assert summary.nCells == len(summary.task.boxes0) > 1
