"""Run one implementation of one workload once, in a fresh process, and
print its peak memory as JSON (used by ``run.py`` for W4).

``python benchmarks/_one.py --workload W1 --impl 'im threads(2)' --size 4096``

The baseline is the RSS after every import the implementation needs and
before the exposure is made (the import-time peak is reset through
``/proc/self/clear_refs``); the reported peak is VmHWM (ru_maxrss of this process alone) at the
end, so ``peak - baseline`` is what the workload added: the input exposure,
the output, and whatever is held in flight. Worker processes are reported
separately (the largest RSS of any descendant, sampled with psutil; it
counts the shared input pages a worker touched, and the forkserver).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)


def _maxrssBytes(who: int) -> int:
    return resource.getrusage(who).ru_maxrss * 1024  # KiB on Linux


def _hwmBytes() -> int:
    """This process's own peak RSS (VmHWM). ``ru_maxrss`` cannot be used
    alone: Linux carries the parent's peak across fork+exec into it, so a
    child of a big benchmark process starts with the parent's peak."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:  # not Linux
        pass
    return _maxrssBytes(resource.RUSAGE_SELF)


class _ChildSampler(threading.Thread):
    """Largest RSS of any descendant process, sampled every 10 ms (pool
    workers are children of the forkserver, so RUSAGE_CHILDREN misses them)."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.largest = 0
        self._halt = threading.Event()

    def run(self) -> None:
        import psutil

        me = psutil.Process()
        while not self._halt.wait(0.01):
            for child in me.children(recursive=True):
                try:
                    self.largest = max(self.largest, child.memory_info().rss)
                except psutil.Error:
                    pass

    def stop(self) -> None:
        self._halt.set()
        self.join()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--workload", required=True)
    ap.add_argument("--impl", required=True)
    ap.add_argument("--size", type=int, default=4096)
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()

    # Everything the implementations import lazily, imported before the baseline.
    import concurrent.futures  # noqa: F401

    # Forget the import-time peak: writing 5 to clear_refs resets the
    # high-water mark (VmHWM, which ru_maxrss reports) to the current RSS.
    import gc
    import multiprocessing.shared_memory  # noqa: F401

    import dask
    import dask.array  # noqa: F401
    import scipy.fft  # noqa: F401
    import workloads as wl

    gc.collect()
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:  # not Linux: the baseline is then the import peak
        pass
    baseline = _hwmBytes()
    exp = wl.makeExposure(args.size)
    impls = wl.implementations(args.workload, exp, args.workers, which="w4")
    run = impls[args.impl]
    sampler = _ChildSampler()
    sampler.start()
    t0 = time.perf_counter()
    out = run()
    seconds = time.perf_counter() - t0
    sampler.stop()
    del out
    print(
        json.dumps(
            {
                "workload": args.workload,
                "impl": args.impl,
                "baseline": baseline,
                "peak": _hwmBytes(),
                "ru_maxrss": _maxrssBytes(resource.RUSAGE_SELF),
                "children": sampler.largest,
                "imageBytes": wl.exposureBytes(exp),
                "seconds": seconds,
            }
        )
    )


if __name__ == "__main__":
    main()
