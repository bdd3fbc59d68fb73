"""What a safe out-of-core output costs: the share of a run spent making it safe.

One `runOutOfCore` run (FitsSource -> FitsSink, an add-one mapper, ``average``,
128-pixel cells every 128 pixels with 8-pixel borders, bands of 256 rows,
threads) with the sink's steps timed in the same run: reserving the file
(``posix_fallocate``), each band's commit (``fsync`` of the data, then the
progress record written and renamed), and the finish (``DATASUM``/``CHECKSUM``:
the whole file read once, then ``fsync`` and the rename). Prints each as a share
of the run's wall time, and the peak RSS growth.

Run: ``python benchmarks/outofcore_outputs.py [--width 6000] [--height 4000] [--dir DIR]``.
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

import imagemapper as im
from imagemapper import _outofcore as ooc


class AddOne(im.ImageMapper):
    _DefaultName = "addOne"

    def run(self, subExposure, expandedSubExposure, fullBBox, **kwargs):
        out = subExposure.clone()
        out.image.array[:] += np.float32(1)
        return im.Struct(subExposure=out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--width", type=int, default=6000)
    ap.add_argument("--height", type=int, default=4000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--dir", default=None, help="where to write (default: a temporary folder)")
    args = ap.parse_args()
    folder = Path(args.dir or tempfile.mkdtemp())
    w, h = args.width, args.height
    bbox = im.Box2I(im.Point2I(0, 0), im.Extent2I(w, h))
    with ooc.FitsSink(folder / "in.fits", bbox, np.float32, {}) as sink:
        for y in range(0, h, 256):
            n = min(256, h - y)
            rows = np.arange(y, y + n, dtype=np.float32)[:, None] * np.float32(0.001)
            sink.writeBand(
                im.Box2I(im.Point2I(0, y), im.Extent2I(w, n)),
                rows + np.arange(w, dtype=np.float32)[None, :],
                np.zeros((n, w), np.int32),
                np.ones((n, w), np.float32),
            )
    spent: dict[str, float] = defaultdict(float)

    def timed(name, method):
        def wrapper(self, *a, **k):
            t0 = time.perf_counter()
            try:
                return method(self, *a, **k)
            finally:
                spent[name] += time.perf_counter() - t0

        return wrapper

    ooc.FitsSink._create = timed("reserve the file (fallocate)", ooc.FitsSink._create)
    ooc.FitsSink.commit = timed("commit bands (fsync + record)", ooc.FitsSink.commit)
    ooc.FitsSink._finish = timed("checksums (read once) + fsync", ooc.FitsSink._finish)
    ooc.FitsSink._publish = timed("rename into place", ooc.FitsSink._publish)
    c = im.ImageMapReduceConfig()
    c.mapper.retarget(AddOne)
    c.scaleByFwhm = False
    c.cellSizeX = c.cellSizeY = 128.0
    c.gridStepX = c.gridStepY = 128.0
    c.borderSizeX = c.borderSizeY = 8.0
    c.adjustGridOption = "none"
    c.reducer.reduceOperation = "average"
    c.progress = False
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0 = time.perf_counter()
    res = ooc.runOutOfCore(
        im.ImageMapReduceTask(c),
        ooc.FitsSource(folder / "in.fits"),
        outputPath=folder / "out.fits",
        bandHeight=256,
        backend="threads",
        numWorkers=args.workers,
    )
    total = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    size = (folder / "out.fits").stat().st_size
    print(f"{w} x {h}: output {size / 2**20:.0f} MiB, {res.numCells} cells, {res.numBands} bands")
    print(f"run: {total:.2f} s; peak RSS growth {(peak - base) / 1024:.0f} MiB")
    print("| step | seconds | share of the run |")
    print("|---|---|---|")
    for name, seconds in spent.items():
        print(f"| {name} | {seconds:.3f} | {seconds / total:.1%} |")
    safe = sum(spent.values())
    print(f"| all of the above | {safe:.3f} | {safe / total:.1%} |")


if __name__ == "__main__":
    main()
