"""The embedded demo: PSF-match a synthetic CCD exposure cell by cell.

`synthesizeExposure` makes a float32 exposure with a star field whose
(double-Gaussian) PSF widens from the centre to the corners, a sky
background, Poisson-like noise, a variance plane, bad columns (``BAD``) and
saturated star cores (``SAT``), plus the matching `VariableGaussianPsf`.
`runDemo` matches that PSF to a common Gaussian with `PsfMatchMapper` over
overlapping cells (reduce ``average``), writes FITS and PNG files and
returns a summary; ``imagemapper demo`` prints it.
"""

from __future__ import annotations

__all__ = ["localDaskClient", "measureSigma", "runDemo", "synthesizeExposure"]

import contextlib
import logging
import math
import os
import resource
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from .._core import Box2I, Extent2I, Point2I
from ..image import Exposure
from ..mappers import PsfMatchMapper, VariableGaussianPsf, gaussianKernel
from ..task import Struct


def _simpleWcs(size: int) -> Any:
    """A TAN WCS (0.2 arcsec pixels) centred on the image.

    Normalised through ``to_header()``: such a WCS compares equal
    (``wcs.compare``) to its pickled copy, which the reducer's WCS check needs
    with the processes and dask backends; a WCS made from a few cards (or
    attribute by attribute) does not.
    """
    from astropy.wcs import WCS

    wcs = WCS(
        {
            "CTYPE1": "RA---TAN",
            "CTYPE2": "DEC--TAN",
            "CRVAL1": 150.0,
            "CRVAL2": 2.2,
            "CRPIX1": size / 2.0 + 1.0,  # FITS pixels are 1-based
            "CRPIX2": size / 2.0 + 1.0,
            "CDELT1": -0.2 / 3600.0,
            "CDELT2": 0.2 / 3600.0,
            "CUNIT1": "deg",
            "CUNIT2": "deg",
        }
    )
    return WCS(wcs.to_header())


def synthesizeExposure(
    size: int = 4096,
    seed: int = 0,
    *,
    starDensity: float = 2.0e-4,
    sky: float = 1000.0,
    readNoise: float = 5.0,
    saturation: float = 60000.0,
    sigmaCenter: float = 1.3,
    sigmaCorner: float = 2.3,
    b: float = 0.1,
    nBadColumns: int = 4,
) -> Struct:
    """Make a synthetic CCD exposure with a spatially varying PSF.

    Parameters
    ----------
    size : `int`
        Width and height in pixels.
    seed : `int`
        Seed of the random generator (the exposure is a function of it).
    starDensity : `float`
        Stars per pixel.
    sky, readNoise : `float`
        Sky level (counts) and read noise (counts rms); the noise is
        Gaussian with variance ``model + readNoise**2`` (Poisson-like, gain 1).
    saturation : `float`
        Pixels above this are clipped to it and flagged ``SAT``.
    sigmaCenter, sigmaCorner, b : `float`
        The PSF: `VariableGaussianPsf` core sigma at the centre and the
        corners, wing-to-core flux ratio (wing sigma = 2 x core sigma).
    nBadColumns : `int`
        Columns (partly) dead and flagged ``BAD``.

    Returns
    -------
    result : `Struct`
        ``exposure`` (float32, with ``psf`` and a TAN ``wcs``), ``x``, ``y``,
        ``flux`` (the stars, parent pixels and counts).
    """
    if size < 64:
        raise ValueError(f"size must be at least 64 pixels, got {size}")
    rng = np.random.default_rng(seed)
    bbox = Box2I(Point2I(0, 0), Extent2I(size, size))
    psf = VariableGaussianPsf(41, 41, bbox, sigmaCenter, sigmaCorner, b=b)

    nStars = max(1, int(starDensity * size * size))
    x = rng.uniform(-5, size + 5, nStars)
    y = rng.uniform(-5, size + 5, nStars)
    # Power-law fluxes (many faint, a few saturated).
    flux = np.minimum(3000.0 * rng.uniform(0.0, 1.0, nStars) ** (-1.0), 3.0e6)

    s1 = psf.sigmaArray(x, y)
    s2 = 2.0 * s1
    radius = math.ceil(4.0 * 2.0 * max(sigmaCenter, sigmaCorner))
    offsets = np.arange(-radius, radius + 1)
    ix = np.rint(x).astype(np.int64)
    iy = np.rint(y).astype(np.int64)
    model = np.zeros(size * size, dtype=np.float64)
    for start in range(0, nStars, 1024):
        sl = slice(start, start + 1024)
        px = ix[sl, None] + offsets[None, :]  # (n, k)
        py = iy[sl, None] + offsets[None, :]
        dx2 = (px - x[sl, None]) ** 2
        dy2 = (py - y[sl, None]) ** 2
        r2 = dy2[:, :, None] + dx2[:, None, :]  # (n, k, k)
        a1 = (1.0 / (2 * math.pi * s1[sl] ** 2))[:, None, None]
        a2 = (b / (2 * math.pi * s2[sl] ** 2))[:, None, None]
        prof = a1 * np.exp(-0.5 * r2 / (s1[sl] ** 2)[:, None, None])
        prof += a2 * np.exp(-0.5 * r2 / (s2[sl] ** 2)[:, None, None])
        prof *= (flux[sl] / (1.0 + b))[:, None, None]
        inside = ((px >= 0) & (px < size))[:, None, :] & ((py >= 0) & (py < size))[:, :, None]
        index = py[:, :, None] * size + px[:, None, :]
        model += np.bincount(index[inside], weights=prof[inside], minlength=size * size)
    signal = model.reshape(size, size).astype(np.float32)
    del model
    signal += np.float32(sky)

    variance = signal + np.float32(readNoise**2)
    image = signal + np.sqrt(variance) * rng.standard_normal((size, size), dtype=np.float32)
    del signal

    exposure = Exposure.fromArrays(image, None, variance, psf=psf, wcs=_simpleWcs(size))
    mask = exposure.mask
    sat = image > saturation
    image[sat] = saturation
    mask.array[sat] |= np.int32(mask.getPlaneBitMask("SAT"))
    badBit = np.int32(mask.getPlaneBitMask("BAD"))
    for col in rng.choice(np.arange(8, size - 8), size=min(nBadColumns, size - 16), replace=False):
        y0 = int(rng.integers(0, size // 2))
        image[y0:, col] = np.float32(0.1 * sky)
        mask.array[y0:, col] |= badBit
    exposure.metadata["OBJECT"] = "imagemapper demo"
    exposure.metadata["SEED"] = int(seed)
    return Struct(exposure=exposure, x=x, y=y, flux=flux)


def measureSigma(
    exposure: Exposure,
    x: np.ndarray,
    y: np.ndarray,
    radius: int,
    background: float,
) -> np.ndarray:
    """Second-moment sigma of point sources, ``(ixx * iyy - ixy**2) ** 0.25``.

    Unweighted moments in a ``(2 radius + 1)**2`` box around ``(x, y)``
    after subtracting ``background``; NaN for stars whose box leaves the
    image or touches a masked pixel. Noisy per star: use medians.
    """
    img = exposure.image.array
    msk = exposure.mask.array
    H, W = img.shape
    x0, y0 = exposure.getX0(), exposure.getY0()
    cx = np.rint(x).astype(np.int64) - x0
    cy = np.rint(y).astype(np.int64) - y0
    ok = (cx >= radius) & (cx < W - radius) & (cy >= radius) & (cy < H - radius)
    out = np.full(len(x), np.nan)
    if not ok.any():
        return out
    off = np.arange(-radius, radius + 1)
    rows = cy[ok, None, None] + off[None, :, None]
    cols = cx[ok, None, None] + off[None, None, :]
    stamps = img[rows, cols].astype(np.float64) - background
    bad = (msk[rows, cols] != 0).any(axis=(1, 2))
    dx = (cols + x0) - x[ok, None, None]
    dy = (rows + y0) - y[ok, None, None]
    f = stamps.sum(axis=(1, 2))
    mx = (stamps * dx).sum(axis=(1, 2)) / f
    my = (stamps * dy).sum(axis=(1, 2)) / f
    dx = dx - mx[:, None, None]
    dy = dy - my[:, None, None]
    ixx = (stamps * dx * dx).sum(axis=(1, 2)) / f
    iyy = (stamps * dy * dy).sum(axis=(1, 2)) / f
    ixy = (stamps * dx * dy).sum(axis=(1, 2)) / f
    det = ixx * iyy - ixy * ixy
    with np.errstate(invalid="ignore"):
        sig = np.where((det > 0) & ~bad & (f > 0), det**0.25, np.nan)
    out[np.flatnonzero(ok)] = sig
    return out


def _isolated(x: np.ndarray, y: np.ndarray, flux: np.ndarray, distance: float) -> np.ndarray:
    """Stars with no other star brighter than 1% of them within ``distance``."""
    order = np.argsort(x)
    xs, ys, fs = x[order], y[order], flux[order]
    keep = np.ones(len(x), dtype=bool)
    lo = np.searchsorted(xs, xs - distance)
    hi = np.searchsorted(xs, xs + distance)
    for i in range(len(xs)):
        j = np.arange(lo[i], hi[i])
        j = j[j != i]
        near = (np.hypot(xs[j] - xs[i], ys[j] - ys[i]) < distance) & (fs[j] > 0.01 * fs[i])
        keep[i] = not near.any()
    result = np.empty_like(keep)
    result[order] = keep
    return result


def _peakRssBytes() -> int:
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(rss if sys.platform == "darwin" else rss * 1024)


def _formatBytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.2f} {unit}"
        n /= 1024
    return f"{n:.2f} GiB"  # pragma: no cover


def previewArray(array: np.ndarray, maxSize: int = 1024) -> np.ndarray:
    """Block-average ``array`` so that neither side exceeds ``maxSize``."""
    H, W = array.shape
    f = max(1, math.ceil(max(H, W) / maxSize))
    if f == 1:
        return np.asarray(array, dtype=np.float32)
    h, w = H // f, W // f
    a = np.asarray(array[: h * f, : w * f], dtype=np.float32).reshape(h, f, w, f)
    with np.errstate(invalid="ignore"), _quiet():
        return np.nanmean(a, axis=(1, 3))


class _quiet:
    """Silence numpy's RuntimeWarnings (all-NaN blocks) inside a block."""

    def __enter__(self) -> None:
        import warnings

        self._ctx = warnings.catch_warnings()
        self._ctx.__enter__()
        warnings.simplefilter("ignore", RuntimeWarning)

    def __exit__(self, *exc: Any) -> None:
        self._ctx.__exit__(*exc)


def _writePngs(
    out: Path,
    inExp: Exposure,
    outExp: Exposure,
    task: Any,
    target: float,
    spots: list[tuple[str, int, int, float, float, float, float]],
    psfRange: tuple[float, float],
) -> list[Path]:
    """The demo's pictures; each states its stretch (colour bar) and what it shows."""
    from astropy.visualization import AsymmetricPercentileInterval
    from matplotlib.patches import Rectangle

    from ..mapreduce._plot import matplotlibPyplot, plotBoxes, plotImage

    plt = matplotlibPyplot()
    written = []
    inPrev = previewArray(inExp.image.array)
    outPrev = previewArray(outExp.image.array)
    factor = max(1, math.ceil(max(inExp.image.array.shape) / inPrev.shape[0]))
    binned = f", binned {factor}x{factor}" if factor > 1 else ""
    finite = inPrev[np.isfinite(inPrev)]
    # One range for both, from the input: the same grey is the same count.
    vmin, vmax = (float(v) for v in AsymmetricPercentileInterval(1.0, 99.8).get_limits(finite))
    bbox = inExp.getBBox()
    for name, prev, title in (
        ("input.png", inPrev, f"input: PSF sigma {psfRange[0]:.2f} px (centre) to "
         f"{psfRange[1]:.2f} px (corners){binned}"),
        ("output.png", outPrev, f"output: PSF matched to a Gaussian of sigma {target:.2f} px"
         f"{binned}"),
    ):  # fmt: skip
        scale = "counts" if name == "input.png" else "counts, the scale of input.png"
        fig = plotImage(
            prev, bbox, title=title, vmin=vmin, vmax=vmax, stretch="asinh", colorbar=scale
        )
        fig.savefig(out / name, dpi=100)
        plt.close(fig)
        written.append(out / name)

    # The grid: the whole image, and a zoom where cells and borders can be told apart.
    boxes0, boxes1 = task.boxes0, task.boxes1
    c = task.config
    border = int(c.borderSizeX)
    cell = int(c.cellSizeX)
    step = int(c.gridStepX) if c.adjustGridOption != "spacing" else cell
    span = min(bbox.getWidth(), bbox.getHeight(), step + cell // 2 + border)
    region = Box2I(bbox.getMin(), Extent2I(span, span))
    fig, (axAll, axZoom) = plt.subplots(1, 2, figsize=(15, 7))
    plotBoxes(boxes0, boxes1, bbox, skip=1, image=inPrev, ax=axAll,
              title=f"all {len(boxes0)} cells ({cell} px every {step} px)")  # fmt: skip
    axAll.add_patch(
        Rectangle(
            (region.getMinX() - 0.5, region.getMinY() - 0.5),
            region.getWidth(),
            region.getHeight(),
            fill=False,
            edgecolor="red",
            linewidth=2.5,
        )
    )
    crop = inExp.image.array[region.slices(bbox)]
    plotBoxes(
        boxes0,
        boxes1,
        region,
        skip=1,
        image=crop,
        ax=axZoom,
        region=region,
        annotate=True,
        title=f"zoom (red square): cells solid, with their {border} px border dashed; "
        f"neighbours overlap by {max(cell - step, 0)} px",
    )
    axZoom.title.set_fontsize(9)
    fig.tight_layout()
    fig.savefig(out / "grid.png", dpi=100)
    plt.close(fig)
    written.append(out / "grid.png")

    # Zoom on a star near the centre and one near a corner, before and after, with sigmas.
    if not spots:
        return written
    half = 20
    fig, axes = plt.subplots(2, len(spots), figsize=(6.5 * len(spots), 9.5), squeeze=False)
    for col, (label, cx, cy, sIn, sOut, medIn, medOut) in enumerate(spots):
        rows = ((inExp, "input", sIn, medIn), (outExp, "output", sOut, medOut))
        for row, (exp, what, sigma, median) in enumerate(rows):
            y0, x0 = max(cy - half, 0), max(cx - half, 0)
            cut = exp.image.array[y0 : cy + half + 1, x0 : cx + half + 1]
            box = Box2I(Point2I(x0, y0), Extent2I(cut.shape[1], cut.shape[0]))
            goal = f" (target {target:.2f})" if what == "output" else ""
            where = label.replace("star ", "")
            plotImage(
                cut,
                box,
                ax=axes[row, col],
                title=f"{what}, {where}: \u03c3 = {sigma:.2f} px{goal}\n"
                f"(median of the isolated stars there: {median:.2f} px)",
                stretch="asinh",
                colorbar="counts",
            )
    fig.suptitle("the same stars before and after PSF matching: the widths become equal")
    fig.tight_layout()
    fig.savefig(out / "zoom.png", dpi=100)
    plt.close(fig)
    written.append(out / "zoom.png")
    return written


@contextlib.contextmanager
def localDaskClient(
    backend: str, nWorkers: int, echo: Callable[[str], None] = print
) -> Iterator[Any]:
    """A client of a throw-away local dask cluster when ``backend == 'dask'``, else None."""
    if backend != "dask":
        yield None
        return
    try:
        from dask.distributed import Client, LocalCluster
    except ImportError as err:  # pragma: no cover - optional extra
        raise ImportError(
            "backend='dask' needs dask.distributed: pip install 'imagemapper[dask]'"
        ) from err
    if logging.getLogger().getEffectiveLevel() > logging.DEBUG:
        logging.getLogger("distributed").setLevel(logging.ERROR)  # its INFO chatter
    echo(f"starting a local dask cluster of {nWorkers} single-threaded worker processes")
    with (
        LocalCluster(
            n_workers=nWorkers,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=":0",
            silence_logs=logging.ERROR,
        ) as cluster,
        Client(cluster) as client,
    ):
        yield client


def runDemo(
    size: int = 4096,
    output: str | os.PathLike[str] = "imagemapper-demo",
    *,
    workers: int = 0,
    backend: str = "threads",
    seed: int = 0,
    cell: int = 256,
    step: int | None = 224,
    border: int | None = None,
    targetSigma: float | None = None,
    writeFits: bool = True,
    plots: bool = True,
    progress: bool | None = None,
    echo: Callable[[str], None] = print,
) -> Struct:
    """Run the demo and report with ``echo``; returns the numbers it printed.

    Parameters
    ----------
    size : `int`
        Image width and height (pixels).
    output : path
        Folder for the files (created if needed).
    workers : `int`
        Number of workers (0 = all usable CPUs).
    backend : `str`
        ``serial``, ``threads``, ``processes`` or ``dask``.
    seed : `int`
        Seed of the synthetic exposure.
    cell, step : `int`
        Cell size and distance between cell centres (pixels); ``step=None``
        spreads the cells evenly (``adjustGridOption='spacing'``).
    border : `int`, optional
        Border (pixels); default the radius of the widest matching kernel,
        which makes the result independent of the grid.
    targetSigma : `float`, optional
        Sigma of the common Gaussian PSF; default 5% above the widest PSF.
    writeFits, plots : `bool`
        Whether to write the FITS files and the PNG previews (matplotlib).
    progress : `bool`, optional
        Progress bar (None: only in an interactive terminal).
    echo : callable
        Where the summary lines go.

    Returns
    -------
    summary : `Struct`
        ``exposure``, ``result`` (the output exposure), ``task``,
        ``nCells``, ``numWorkers``, ``backend``, ``runTime``, ``totalTime``,
        ``peakRss`` (bytes), ``files``, ``targetSigma``, ``border``,
        ``sigmaIn``/``sigmaOut`` (measured centre and corner sigmas).
    """
    from ..mapreduce._task import ImageMapReduceConfig, ImageMapReduceTask, usableCpus

    t0 = time.perf_counter()
    outDir = Path(output)
    outDir.mkdir(parents=True, exist_ok=True)
    synth = synthesizeExposure(size, seed)
    exposure = synth.exposure
    psf = exposure.getPsf()
    tSynth = time.perf_counter() - t0

    bbox = exposure.getBBox()
    corners = [bbox.getMin(), bbox.getMax()]
    widths = [psf.computeShape(p).getDeterminantRadius() for p in corners]
    widths.append(psf.computeShape(bbox.getCenter()).getDeterminantRadius())
    wMin, wMax = min(widths), max(widths)
    if targetSigma is None:
        targetSigma = math.ceil(1.05 * wMax * 20) / 20
    kernelRadius = gaussianKernel(math.sqrt(max(targetSigma**2 - wMin**2, 0.0))).shape[0] // 2
    if border is None:
        border = kernelRadius

    config = ImageMapReduceConfig()
    config.mapper.retarget(PsfMatchMapper)
    config.mapper.targetSigma = targetSigma
    config.scaleByFwhm = False
    config.cellSizeX = config.cellSizeY = cell
    if step is None:
        config.adjustGridOption = "spacing"
    else:
        config.adjustGridOption = "none"
        config.gridStepX = config.gridStepY = step
    config.borderSizeX = config.borderSizeY = border
    config.reducer.reduceOperation = "average"
    config.backend = backend
    config.numWorkers = workers
    config.progress = progress
    nWorkers = workers or usableCpus()

    maskArr = exposure.mask.array
    nSat = int(((maskArr & exposure.mask.getPlaneBitMask("SAT")) != 0).sum())
    nBad = int(((maskArr & exposure.mask.getPlaneBitMask("BAD")) != 0).sum())
    echo(
        f"imagemapper demo: {size} x {size} float32 exposure, {len(synth.x)} stars "
        f"({nSat} SAT and {nBad} BAD pixels); PSF sigma {wMin:.2f} px (centre) to "
        f"{wMax:.2f} px (corners)"
    )
    t1 = time.perf_counter()
    with localDaskClient(backend, nWorkers, echo) as client:
        task = ImageMapReduceTask(config, client=client)
        result = task.run(exposure)
    tRun = time.perf_counter() - t1
    matched = result.exposure
    nCells = len(task.boxes0 or [])
    gridText = f"every {step} px" if step is not None else "evenly spread"
    echo(
        f"PSF-matched to a Gaussian of sigma {targetSigma:.2f} px: {nCells} cells of {cell} px "
        f"({gridText}), border {border} px, reduce 'average'"
    )
    echo(f"run: backend {backend!r}, {nWorkers} workers, {tRun:.2f} s")

    # Measured PSF widths, centre versus corners, before and after.
    r = math.ceil(4 * targetSigma)
    good = (synth.flux > 1.0e4) & (synth.flux < 3.0e5)
    good &= _isolated(synth.x, synth.y, synth.flux, 2 * r)
    xs, ys = synth.x[good], synth.y[good]
    d = np.hypot(xs - size / 2, ys - size / 2) / (size / math.sqrt(2))
    centre, corner = d < 0.35, d > 0.75
    sigIn = measureSigma(exposure, xs, ys, r, 1000.0)
    sigOut = measureSigma(matched, xs, ys, r, 1000.0)

    def med(values: np.ndarray, sel: np.ndarray) -> float:
        v = values[sel & np.isfinite(values)]
        return float(np.median(v)) if v.size else math.nan

    sigmaIn = (med(sigIn, centre), med(sigIn, corner))
    sigmaOut = (med(sigOut, centre), med(sigOut, corner))
    nInner = int((np.isfinite(sigOut) & centre).sum())
    nOuter = int((np.isfinite(sigOut) & corner).sum())
    echo(
        f"measured PSF sigma (median over isolated stars; {nInner} inner, {nOuter} outer): "
        f"input {sigmaIn[0]:.2f} (inner) / {sigmaIn[1]:.2f} (outer) px -> output "
        f"{sigmaOut[0]:.2f} / {sigmaOut[1]:.2f} px"
    )

    files: list[Path] = []
    t2 = time.perf_counter()
    if writeFits:
        from ..io._fitswrite import addProvenance, provenance

        exposure.metadata["HISTORY"] = [
            f"imagemapper demo input: {size} x {size} synthetic exposure, seed {seed}, "
            f"PSF sigma {wMin:.2f} to {wMax:.2f} px"
        ]
        addProvenance(
            matched.metadata,
            provenance(
                config,
                PsfMatchMapper,
                inputPath=outDir / "input.fits",
                inputHdu="IMAGE,1 (index 1)",
                command="imagemapper demo",
            ),
        )
        exposure.writeFits(outDir / "input.fits")
        matched.writeFits(outDir / "output.fits")
        files += [outDir / "input.fits", outDir / "output.fits"]
    if plots:
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            echo("matplotlib is not installed: no PNG previews (pip install 'imagemapper[plot]')")
        else:
            spots = []
            for label, sel in (("star near the centre", centre), ("star near a corner", corner)):
                cand = np.flatnonzero(sel & np.isfinite(sigOut) & np.isfinite(sigIn))
                if cand.size:
                    best = cand[np.argmax(synth.flux[good][cand])]
                    spots.append(
                        (
                            label,
                            round(float(xs[best])),
                            round(float(ys[best])),
                            float(sigIn[best]),
                            float(sigOut[best]),
                            med(sigIn, sel),
                            med(sigOut, sel),
                        )
                    )
            files += _writePngs(outDir, exposure, matched, task, targetSigma, spots, (wMin, wMax))
    tWrite = time.perf_counter() - t2
    total = time.perf_counter() - t0
    peak = _peakRssBytes()
    echo(
        f"total {total:.2f} s (synthesis {tSynth:.2f} s, map-reduce {tRun:.2f} s, "
        f"writing {tWrite:.2f} s); peak memory (RSS) {_formatBytes(peak)}"
    )
    if files:
        echo(
            f"wrote {len(files)} files to {outDir.resolve()}/: " + ", ".join(f.name for f in files)
        )
    return Struct(
        exposure=exposure,
        result=matched,
        task=task,
        nCells=nCells,
        numWorkers=nWorkers,
        backend=backend,
        runTime=tRun,
        totalTime=total,
        peakRss=peak,
        files=files,
        targetSigma=targetSigma,
        border=border,
        sigmaIn=sigmaIn,
        sigmaOut=sigmaOut,
    )
