"""Data, mappers and implementations shared by the benchmark scripts.

Every implementation is a zero-argument callable that runs the whole
workload once and returns its output (so that outputs can be compared);
`implementations` builds them for one workload.
"""

from __future__ import annotations

__all__ = [
    "WORKLOADS",
    "AddConstantMapper",
    "FftGaussianMapper",
    "Workload",
    "copyLimit",
    "fftGaussian",
    "implementations",
    "makeExposure",
    "makeTask",
    "stitchBytes",
]

import dataclasses
import functools
import math
import os
import sys
from collections.abc import Callable
from typing import Any, ClassVar

import lsst.pex.config as pexConfig
import numpy as np

import imagemapper as im

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:  # worker processes import this module by name
    sys.path.insert(0, HERE)

from reference_loop import referenceMapReduce, referenceReduce  # noqa: E402

SIGMA = 2.0


# ----------------------------------------------------------------- data


def makeExposure(n: int, seed: int = 0) -> im.Exposure:
    """An n×n float32 exposure (image ~ N(100, 1), variance in [1, 2), a
    sparse int32 mask), allocated without float64 temporaries."""
    rng = np.random.default_rng(seed)
    image = rng.standard_normal((n, n), dtype=np.float32)
    image += 100.0
    variance = rng.random((n, n), dtype=np.float32)
    variance += 1.0
    mask = np.zeros((n, n), dtype=np.int32)
    mask[::97, ::89] = 1 << 5  # DETECTED here and there
    return im.Exposure.fromArrays(image, mask, variance)


def exposureBytes(exp: im.Exposure) -> int:
    mi = exp.maskedImage
    return int(mi.image.array.nbytes + mi.mask.array.nbytes + mi.variance.array.nbytes)


# -------------------------------------------------------------- mappers


class AddConstantConfig(im.ImageMapperConfig):
    addAmount = pexConfig.Field(dtype=float, doc="Amount added to the image", default=1.0)


class AddConstantMapper(im.ImageMapper):
    """LSST's ``AddAmountImageMapper``: clone the cell and add a constant."""

    ConfigClass: ClassVar[type[pexConfig.Config]] = AddConstantConfig
    _DefaultName: ClassVar[str] = "addConstant"

    def run(self, subExposure, expandedSubExposure, fullBBox, **kwargs):  # type: ignore[override]
        subExp = subExposure.clone()
        subExp.maskedImage += self.config.addAmount
        return im.Struct(subExposure=subExp)


class AddConstantBatchMapper(AddConstantMapper):
    """The same, also as a batched mapper (``runBatch`` over stacks of
    equal-shape cells; imagemapper >= the one-reducer change)."""

    batchSize = 1024

    def runBatch(self, subExposures, expandedSubExposures, fullBBox, **kwargs):  # type: ignore[no-untyped-def]
        subExposures.image += np.float32(self.config.addAmount)  # image only, as run does
        return subExposures


@functools.lru_cache(maxsize=64)
def _transfer(ny: int, nx: int, sigma: float, squared: bool) -> np.ndarray:
    """Fourier transfer function of a unit Gaussian (or of its square)."""
    import scipy.fft

    fy = scipy.fft.fftfreq(ny)[:, None]
    fx = scipy.fft.rfftfreq(nx)[None, :]
    if squared:
        # k(x)^2 = 1/(4 pi s^2) * N(0, s/sqrt(2))
        s2, norm = sigma * sigma / 2.0, 1.0 / (4.0 * math.pi * sigma * sigma)
    else:
        s2, norm = sigma * sigma, 1.0
    tf = norm * np.exp(-2.0 * math.pi**2 * s2 * (fx * fx + fy * fy))
    tf = tf.astype(np.float32)
    tf.flags.writeable = False
    return tf


def fftGaussian(a: np.ndarray, sigma: float = SIGMA, squared: bool = False) -> np.ndarray:
    """Convolve a 2-d float32 array with a Gaussian by FFT (circular; the
    caller crops a border of at least 4 sigma). Single-threaded, GIL released."""
    import scipy.fft

    F = scipy.fft.rfft2(a, workers=1)
    F *= _transfer(a.shape[0], a.shape[1], float(sigma), bool(squared))
    return scipy.fft.irfft2(F, s=a.shape, workers=1)


class FftGaussianConfig(im.ImageMapperConfig):
    sigma = pexConfig.Field(dtype=float, doc="Gaussian sigma (pixels)", default=SIGMA)


class FftGaussianMapper(im.ImageMapper):
    """FFT-convolve the expanded cell (image with the Gaussian, variance
    with its square), crop to the cell, keep the cell's mask."""

    ConfigClass: ClassVar[type[pexConfig.Config]] = FftGaussianConfig
    _DefaultName: ClassVar[str] = "fftGaussian"

    def run(self, subExposure, expandedSubExposure, fullBBox, **kwargs):  # type: ignore[override]
        sigma = self.config.sigma
        box, ebox = subExposure.getBBox(), expandedSubExposure.getBBox()
        sy, sx = box.slices(ebox)
        emi = expandedSubExposure.maskedImage
        image = fftGaussian(emi.image.array, sigma)[sy, sx]
        variance = fftGaussian(emi.variance.array, sigma, squared=True)[sy, sx]
        return im.Struct(
            subExposure=im.Exposure.fromArrays(
                np.ascontiguousarray(image),
                subExposure.mask.array.copy(),
                np.ascontiguousarray(variance),
                xy0=(box.getMinX(), box.getMinY()),
            )
        )


# ------------------------------------------------------------ workloads


@dataclasses.dataclass(frozen=True)
class Workload:
    name: str
    title: str
    mapper: type
    cell: int
    step: int
    border: int
    op: str


WORKLOADS = {
    "W1": Workload("W1", "overhead: clone+add, cell 64 step 32 border 8, average",
                   AddConstantMapper, 64, 32, 8, "average"),
    "W2c": Workload("W2c", "FFT Gaussian s=2, cell 256 step 256 border 32, copy",
                    FftGaussianMapper, 256, 256, 32, "copy"),
    "W2a": Workload("W2a", "FFT Gaussian s=2, cell 256 step 128 border 32, average",
                    FftGaussianMapper, 256, 128, 32, "average"),
}  # fmt: skip


def makeTask(w: Workload, mapper: type | None = None) -> im.ImageMapReduceTask:
    config = im.ImageMapReduceConfig()
    config.mapper.retarget(mapper or w.mapper)
    config.reducer.reduceOperation = w.op
    config.scaleByFwhm = False
    config.adjustGridOption = "none"
    config.cellSizeX = config.cellSizeY = float(w.cell)
    config.gridStepX = config.gridStepY = float(w.step)
    config.borderSizeX = config.borderSizeY = float(w.border)
    config.progress = False
    if mapper is im.RustGaussianConvolveMapper:
        config.mapper.sigma = SIGMA
    return im.ImageMapReduceTask(config)


def _imagemapperRun(task: im.ImageMapReduceTask, exp: im.Exposure, **opts: Any) -> Callable:
    def run() -> im.Exposure:
        return task.run(exp, **opts).exposure

    return run


def _daskMapOverlap(exp: im.Exposure, w: Workload, nWorkers: int) -> Callable:
    """dask.array.map_overlap with the mapper's per-cell function (copy only)."""

    def run() -> im.Exposure:
        import dask
        import dask.array as da

        mi = exp.maskedImage
        kw = dict(depth=w.border, boundary="none", trim=True, dtype=np.float32)
        img = da.map_overlap(
            functools.partial(fftGaussian, sigma=SIGMA),
            da.from_array(mi.image.array, chunks=w.cell),
            **kw,
        )
        var = da.map_overlap(
            functools.partial(fftGaussian, sigma=SIGMA, squared=True),
            da.from_array(mi.variance.array, chunks=w.cell),
            **kw,
        )
        image, variance = dask.compute(img, var, scheduler="threads", num_workers=nWorkers)
        return im.Exposure.fromArrays(image, mi.mask.array.copy(), variance)

    return run


def _scipyLimit(exp: im.Exposure) -> Callable:
    def run() -> im.Exposure:
        from scipy import ndimage

        mi = exp.maskedImage
        image = ndimage.gaussian_filter(mi.image.array, SIGMA, truncate=4.0, mode="constant")
        # the variance needs the squared kernel; a second filter costs the same
        variance = ndimage.gaussian_filter(
            mi.variance.array, SIGMA / math.sqrt(2), truncate=4.0 * math.sqrt(2), mode="constant"
        )
        variance *= np.float32(1.0 / (4.0 * math.pi * SIGMA * SIGMA))
        return im.Exposure.fromArrays(image, mi.mask.array.copy(), variance)

    return run


def _mapperOnly(task: im.ImageMapReduceTask, exp: im.Exposure) -> Callable:
    """The mapper's own time: the same calls in a bare loop over pre-made views."""
    boxes0, boxes1 = task._generateGrid(exp)
    full = exp.getBBox()
    views = [
        (im.Exposure(exp, b0, writeable=False), im.Exposure(exp, b1, writeable=False))
        for b0, b1 in zip(boxes0, boxes1)
    ]
    mapper = task.mapper

    def run() -> None:
        for sub, expanded in views:
            mapper.run(sub, expanded, full)

    return run


def implementations(
    name: str, exp: im.Exposure, nWorkers: int = 2, which: str = "all"
) -> dict[str, Callable]:
    """The implementations of workload ``name`` (W1, W2c, W2a) on ``exp``.

    ``which='all'`` gives every implementation; ``'w4'`` only the ones
    whose memory W4 reports.
    """
    w = WORKLOADS[name]
    task = makeTask(w)
    boxes0, boxes1 = task._generateGrid(exp)
    refMapper = makeTask(w).mapper
    impls: dict[str, Callable] = {
        "reference": lambda: referenceMapReduce(exp, boxes0, boxes1, refMapper, w.op),
    }
    if w.op == "copy" and w.step == w.cell:
        impls["dask map_overlap"] = _daskMapOverlap(exp, w, nWorkers)
    tasks = {b: makeTask(w) for b in ("serial", "threads", "processes")}
    impls["im serial"] = _imagemapperRun(tasks["serial"], exp, backend="serial", numWorkers=1)
    impls[f"im threads({nWorkers})"] = _imagemapperRun(
        tasks["threads"], exp, backend="threads", numWorkers=nWorkers
    )
    impls[f"im processes({nWorkers})"] = _imagemapperRun(
        tasks["processes"], exp, backend="processes", numWorkers=nWorkers
    )
    if which == "w4":
        return impls
    if w.mapper is FftGaussianMapper:
        rtask = makeTask(w, im.RustGaussianConvolveMapper)
        impls[f"im Rust mapper({nWorkers})"] = _imagemapperRun(rtask, exp, numWorkers=nWorkers)
        impls["limit: scipy.ndimage whole image"] = _scipyLimit(exp)
    if name == "W1":
        # The same batches, stitched by the reducer on one thread and on nWorkers.
        # keepCellShape moves the edge cells inwards (batches need equal shapes):
        # another grid, so the average differs from the reference's by rounding
        # (max Δ 1.5e-05); per-cell run on that grid gives the same bits.
        for label, backend, n in (
            ("serial", "serial", 1),
            (f"threads({nWorkers})", "threads", nWorkers),
        ):
            btask = makeTask(w, AddConstantBatchMapper)
            btask.config.keepCellShape = True
            impls[f"im batched mapper ({label})"] = _imagemapperRun(
                btask, exp, backend=backend, numWorkers=n
            )
    impls["mapper only (bare loop)"] = _mapperOnly(makeTask(w), exp)
    if name == "W1":
        impls["views only (2 read-only views per cell)"] = _viewsOnly(boxes0, boxes1, exp)
    return impls


def _viewsOnly(boxes0: list, boxes1: list, exp: im.Exposure) -> Callable:
    """What making the two read-only cell views costs, per run."""

    def run() -> None:
        for b0, b1 in zip(boxes0, boxes1):
            im.Exposure(exp, b0, writeable=False)
            im.Exposure(exp, b1, writeable=False)

    return run


# ------------------------------------------------------------------ W3


def stitchBytes(op: str, cellPixels: int, imagePixels: int) -> int:
    """Bytes a stitch must touch (model): every cell's image+mask+variance
    read once (12 B/px); the output planes (12 B/px, +4 B/px of weights for
    average) read and written once per cell pixel; plus an initialising and
    a finalising pass over the output (read + write each)."""
    out = 12 + (4 if op == "average" else 0)
    return cellPixels * (12 + 2 * out) + imagePixels * 2 * 2 * out


def stitchImplementations(results: list[Any], exp: im.Exposure, op: str) -> dict[str, Callable]:
    def imStitch(nThreads: int) -> Callable:
        config = im.ImageReducerConfig()
        config.reduceOperation = op
        reducer = im.ImageReducer(config=config)
        reducer.numThreads = nThreads

        def run() -> im.Exposure:
            return reducer.run(results, exp).exposure

        return run

    impls: dict[str, Callable] = {}
    if op in ("copy", "sum", "average"):  # the operations LSST has
        impls["reference reducer"] = lambda: referenceReduce(results, exp, op)
    return impls | {
        "im stitch (1 thread)": imStitch(1),
        "im stitch (2 threads)": imStitch(2),
    }


def copyLimit(nbytes: int) -> Callable:
    """numpy copy of ``nbytes`` (read + write = 2*nbytes touched), in 64 MiB
    pieces of one preallocated pair of buffers (so the copy streams from
    memory as a stitch does; caches are far smaller)."""
    piece = 64 << 20
    size = max(piece, min(nbytes, 512 << 20))
    src = np.ones(size // 4, dtype=np.float32)
    dst = np.empty_like(src)

    def run() -> None:
        left = nbytes
        while left > 0:
            n = min(left, size) // 4
            np.copyto(dst[:n], src[:n])
            left -= n * 4

    return run
