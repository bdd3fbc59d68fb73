"""Where `im.map_reduce`'s time goes on the peers' workload, as CPU time
(which a shared machine's load does not inflate the way it does wall time).

1. ``im.map_reduce`` and dask's ``map_overlap`` (the settings of
   ``facade_peers.py``) alternating for ``--reps`` rounds: wall and CPU
   seconds (``time.process_time``: every thread of this process).
2. ``im.map_reduce`` on the serial backend with ``func`` timed inside: the
   share of its CPU time spent in the filter itself; the rest is the grid,
   the cell views and the Rust stitch.

    python benchmarks/facade_cpu.py --size 2048 --reps 4
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from facade_peers import implementations


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=2048)
    parser.add_argument("--chunk", type=int, default=512)
    parser.add_argument("--reps", type=int, default=4)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    import imagemapper as im

    img = np.random.default_rng(0).normal(100.0, 10.0, (args.size, args.size)).astype(np.float32)
    print(f"{args.size}² float32, cells {args.chunk}, {args.workers} threads, {args.reps} rounds\n")
    print("| filter | tool | wall s (median) | CPU s (median) |")
    print("|---|---|---|---|")
    names = ["im.map_reduce", "dask map_overlap"]
    for workload, impls in implementations(args.workers, args.chunk).items():
        for n in names:
            impls[n](img)  # warm-up
        wall: dict[str, list[float]] = {n: [] for n in names}
        cpu: dict[str, list[float]] = {n: [] for n in names}
        for r in range(args.reps):
            for n in names if r % 2 == 0 else names[::-1]:
                c0, t0 = time.process_time(), time.perf_counter()
                impls[n](img)
                cpu[n].append(time.process_time() - c0)
                wall[n].append(time.perf_counter() - t0)
        for n in names:
            print(
                f"| {workload} | {n} | {statistics.median(wall[n]):.3f} | "
                f"{statistics.median(cpu[n]):.3f} |"
            )
    print("\nSerial map_reduce, func timed inside (best of 3 by total CPU):\n")
    print("| filter | map_reduce CPU s | of which func | rest |")
    print("|---|---|---|---|")
    from scipy import ndimage

    filters = {
        "median 5x5": (lambda a: ndimage.median_filter(a, 5, mode="reflect"), 2),
        "gaussian s=2": (lambda a: ndimage.gaussian_filter(a, 2.0, mode="reflect"), 8),
    }
    for workload, (f, depth) in filters.items():
        spent = [0.0]

        def timed(a: np.ndarray, f=f, spent=spent) -> np.ndarray:
            t0 = time.process_time()
            out = f(a)
            spent[0] += time.process_time() - t0
            return out

        best: tuple[float, float] | None = None
        for _ in range(3):
            spent[0] = 0.0
            c0 = time.process_time()
            im.map_reduce(
                img,
                timed,
                cellSize=args.chunk,
                gridStep=args.chunk,
                borderSize=depth,
                edgeMode="reflect",
                reduce="copy",
                backend="serial",
            )
            total = time.process_time() - c0
            if best is None or total < best[0]:
                best = (total, spent[0])
        assert best is not None
        total, inFunc = best
        print(
            f"| {workload} | {total:.3f} | {inFunc:.3f} ({100 * inFunc / total:.0f}%) | "
            f"{total - inFunc:.3f} |"
        )


if __name__ == "__main__":
    main()
