"""The peers' own workload, side by side: `im.map_reduce` against dask's
``map_overlap``, scikit-image's ``apply_parallel`` and whole-image scipy.

4096² float32 image; two filters, a 5 x 5 median (reach 2) and a Gaussian
sigma = 2 (reach 8); each tool is given the same cells (chunks of
``--chunk`` pixels) and the same border, on the same number of threads.
Every implementation runs once as a warm-up and its output is compared with
the whole-image scipy result (bit-identical expected); then ``--reps``
rounds, each running every implementation once in an order rotated per
round, so slow spells of a shared machine hit all alike. Reported: median /
min seconds and each tool's speed relative to dask (dask median / tool
median: above 1 is faster than dask).

    python benchmarks/facade_peers.py                  # 4096², 5 rounds
    python benchmarks/facade_peers.py --size 1024 --reps 3
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import numpy as np


def implementations(workers: int, chunk: int) -> dict[str, Callable]:
    import dask
    import dask.array as da
    from scipy import ndimage
    from skimage.util import apply_parallel

    import imagemapper as im

    filters = {
        "median 5x5": (lambda a: ndimage.median_filter(a, 5, mode="reflect"), 2),
        "gaussian s=2": (lambda a: ndimage.gaussian_filter(a, 2.0, mode="reflect"), 8),
    }
    out = {}
    for name, (f, depth) in filters.items():

        def mapReduce(img, f=f, depth=depth):
            return im.map_reduce(
                img,
                f,
                cellSize=chunk,
                gridStep=chunk,
                borderSize=depth,
                edgeMode="reflect",
                reduce="copy",
                numWorkers=workers,
            )

        def daskOverlap(img, f=f, depth=depth):
            x = da.from_array(img, chunks=chunk)
            with dask.config.set(scheduler="threads", num_workers=workers):
                return x.map_overlap(f, depth=depth, boundary="reflect", dtype=img.dtype).compute()

        def skimageParallel(img, f=f, depth=depth):
            with dask.config.set(scheduler="threads", num_workers=workers):
                return apply_parallel(
                    f, img, chunks=chunk, depth=depth, mode="reflect", dtype=img.dtype
                )

        out[name] = {
            "scipy whole image": f,
            "im.map_reduce": mapReduce,
            "dask map_overlap": daskOverlap,
            "skimage apply_parallel": skimageParallel,
        }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=4096)
    parser.add_argument("--chunk", type=int, default=512)
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    img = np.random.default_rng(0).normal(100.0, 10.0, (args.size, args.size)).astype(np.float32)
    print(
        f"{args.size}² float32, chunks/cells {args.chunk}, {args.workers} threads, "
        f"{args.reps} rounds\n"
    )
    for workload, impls in implementations(args.workers, args.chunk).items():
        names = list(impls)
        ref = impls["scipy whole image"](img)
        check = {}
        for name in names:
            out = impls[name](img)
            check[name] = (
                "= scipy"
                if np.array_equal(out, ref)
                else (f"max |diff| {float(np.abs(out.astype(np.float64) - ref).max()):.3g}")
            )
        times: dict[str, list[float]] = {n: [] for n in names}
        for r in range(args.reps):
            order = names[r % len(names) :] + names[: r % len(names)]
            for name in order:
                t0 = time.perf_counter()
                impls[name](img)
                times[name].append(time.perf_counter() - t0)
        daskMed = statistics.median(times["dask map_overlap"])
        print(f"### {workload}\n")
        print("| implementation | median s | min s | speed vs dask | check |")
        print("|---|---|---|---|---|")
        for name in names:
            med = statistics.median(times[name])
            print(
                f"| {name} | {med:.3f} | {min(times[name]):.3f} | {daskMed / med:.2f}x | "
                f"{check[name]} |"
            )
        print()


if __name__ == "__main__":
    main()
