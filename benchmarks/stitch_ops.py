"""Stitch time of every reduce operation relative to ``average``.

A 4096 x 4096 float32 exposure, 64-pixel cells every 32 pixels
(``adjustGridOption='none'``), border 8; the per-cell results are computed
once beforehand (each cell plus a cell-dependent offset; ``mesh`` gets one
scalar per cell), so only the reduce is timed: creating the output, adding
the results in batches of 256 cells (as the task streams them), finishing.

Run: ``python benchmarks/stitch_ops.py [--size 4096] [--repeat 3] [--threads 0]``.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

import imagemapper as im
from imagemapper.mapreduce._reducer import ImageReducer

OPS = ("average", "copy", "sum", "weighted", "owner", "max", "min", "mesh")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=4096)
    ap.add_argument("--cell", type=int, default=64)
    ap.add_argument("--step", type=int, default=32)
    ap.add_argument("--border", type=int, default=8)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--threads", type=int, default=0, help="stitching threads (0 = all)")
    ap.add_argument("--batch", type=int, default=256)
    args = ap.parse_args()

    n = args.size
    rng = np.random.default_rng(0)
    exp = im.Exposure.fromArrays(
        rng.normal(size=(n, n)).astype(np.float32), variance=np.ones((n, n), np.float32)
    )
    cfg = im.ImageMapReduceConfig()
    cfg.mapper.retarget(_Noop)
    cfg.scaleByFwhm = False
    cfg.adjustGridOption = "none"
    cfg.cellSizeX = cfg.cellSizeY = args.cell
    cfg.gridStepX = cfg.gridStepY = args.step
    cfg.borderSizeX = cfg.borderSizeY = args.border
    task = im.ImageMapReduceTask(cfg)
    boxes0, _ = task._generateGrid(exp)
    t0 = time.perf_counter()
    results = []
    for b in boxes0:
        cell = im.Exposure(exp, b, deep=True)
        cell.image.array[...] += np.float32((b.getMinX() * 7 + b.getMinY() * 13) % 11)
        results.append(im.Struct(subExposure=cell))
    scalars = [im.Struct(value=float(i % 11)) for i in range(len(boxes0))]
    print(
        f"{n} x {n} float32, {len(boxes0)} cells of {args.cell} px every {args.step} px, "
        f"border {args.border}; results precomputed in {time.perf_counter() - t0:.1f} s; "
        f"{args.threads or os.cpu_count()} stitching threads"
    )

    times = {}
    for op in OPS:
        reducer = ImageReducer()
        reducer.config.reduceOperation = op
        reducer.numThreads = args.threads
        items = scalars if op == "mesh" else results
        best = []
        for _ in range(args.repeat):
            t = time.perf_counter()
            st = reducer.makeStitcher(exp, boxes0)
            for k in range(0, len(items), args.batch):
                st.add((i, items[i]) for i in range(k, min(k + args.batch, len(items))))
            st.finish()
            best.append(time.perf_counter() - t)
        times[op] = float(np.median(best))
    base = times["average"]
    print(f"{'operation':<10} {'seconds':>8} {'vs average':>11}")
    for op in OPS:
        print(f"{op:<10} {times[op]:8.3f} {times[op] / base:10.2f}x")


class _Noop(im.ImageMapper):
    def run(self, subExposure, expandedSubExposure, fullBBox, **kwargs):
        return im.Struct(subExposure=subExposure)


if __name__ == "__main__":
    main()
