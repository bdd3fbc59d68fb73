"""Where the process backend's time goes: CPU seconds per run, parent and workers.

    python benchmarks/process_cpu.py [--size 4096] [--reps 3] [--workload W2c]
        [--breakdown] [--one-worker]

Runs the workload serially and on two warm process pools (2 workers each),
one returning results through shared-memory result slots (the default) and
one through the pipes (slots switched off: how results travelled before),
in alternating rounds, and reports per run the wall time and the CPU time
of the parent (``time.process_time``) and of each worker
(``/proc/PID/stat``, Linux). On a shared machine wall time depends on the
other load; CPU time much less: ``serial CPU ÷ (total processes CPU ÷ 2)``
is the speed-up the process backend would reach on two otherwise idle
cores.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import numpy as np  # noqa: E402
import workloads as wl  # noqa: E402

import imagemapper as im  # noqa: E402
from imagemapper.mapreduce._pools import PoolKeeper  # noqa: E402


def _cpu(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", type=int, default=4096)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--workload", default="W2c")
    ap.add_argument(
        "--breakdown",
        action="store_true",
        help="also time, in this process, the parts of a run (mapper loop, result transfer, "
        "the warm pool's input comparison)",
    )
    ap.add_argument(
        "--one-worker",
        action="store_true",
        help="also a warm pool of 1 worker (its CPU against the 2-worker pool's shows what two "
        "workers running at once cost each other)",
    )
    args = ap.parse_args()
    w = wl.WORKLOADS[args.workload]
    rng = np.random.default_rng(0)
    exp = im.Exposure.fromArrays(rng.normal(size=(args.size, args.size)).astype(np.float32))
    serial = wl.makeTask(w)
    pools = {"processes(2)": wl.makeTask(w), "processes(2), pipe": wl.makeTask(w)}
    if args.one_worker:
        pools["processes(1)"] = wl.makeTask(w)
        PoolKeeper.MAX_WARM = 3  # keep all three warm
    ref = serial.run(exp, backend="serial").exposure
    for name, task in pools.items():
        t0 = time.perf_counter()
        out = task.run(exp, backend="processes", numWorkers=_workers(name)).exposure  # warm-up
        print(f"first {name} run (pool start-up): {time.perf_counter() - t0:.2f} s")
        for plane in ("image", "mask", "variance"):
            a, b = getattr(out, plane).array, getattr(ref, plane).array
            assert np.array_equal(a, b, equal_nan=True), plane
    pools["processes(2), pipe"]._poolKeeper.pool._slots.enabled = False
    rows: dict[str, list[tuple[float, float, float]]] = {"serial": []}
    rows.update({name: [] for name in pools})
    parts: dict[str, list[float]] = {}
    for _ in range(args.reps):
        if args.breakdown:
            for k, v in _breakdown(serial, exp).items():
                parts.setdefault(k, []).append(v)
        for name in rows:
            task = pools.get(name, serial)
            pids = [] if name == "serial" else _workerPids(task)
            w0 = [_cpu(p) for p in pids]
            c0, t0 = time.process_time(), time.perf_counter()
            if name == "serial":
                serial.run(exp, backend="serial")
            else:
                task.run(exp, backend="processes", numWorkers=_workers(name))
            wall, parent = time.perf_counter() - t0, time.process_time() - c0
            workers = sum(_cpu(p) for p in pids) - sum(w0)
            rows[name].append((wall, parent, workers))
    print(f"{args.workload}, {args.size}², median of {args.reps} alternating rounds:")
    print("| run | wall | parent CPU | workers CPU | total CPU |")
    print("|---|---|---|---|---|")
    med = {}
    for name, r in rows.items():
        wall, parent, workers = (statistics.median(x[i] for x in r) for i in range(3))
        med[name] = (wall, parent + workers)
        total = parent + workers
        print(f"| {name} | {wall:.3f} s | {parent:.3f} s | {workers:.3f} s | {total:.3f} s |")
    sw, sc = med["serial"]
    for name, task in pools.items():
        pw, pc = med[name]
        bound = (
            f"idle-2-core bound, serial CPU ÷ (this CPU ÷ 2): {sc / (pc / 2):.2f}×"
            if _workers(name) == 2
            else f"CPU ÷ serial CPU {pc / sc:.2f}×"
        )
        print(f"{name}: wall ratio serial ÷ this {sw / pw:.2f}×; {bound}")
        slots = task._poolKeeper.pool._slots
        print(f"  chunks through result slots {slots.loaded}, through the pipe {slots.piped}")
        task.close()
    if parts:
        print(f"CPU of the parts of one run, in this process (median of {args.reps}):")
        print("| part | CPU | share of serial |")
        print("|---|---|---|")
        for k, v in parts.items():
            print(f"| {k} | {statistics.median(v):.3f} s | {statistics.median(v) / sc:.0%} |")
    return 0


def _workers(name: str) -> int:
    return 1 if name.startswith("processes(1)") else 2


def _breakdown(task: im.ImageMapReduceTask, exp: im.Exposure) -> dict[str, float]:
    """CPU seconds of the parts of one run, measured in this process: the
    bare mapper loop (what the workers must do), writing the results into
    result slots and loading them (what slots add), pickling and unpickling
    them (what the pipe path added, without the pipe's copies), and the warm
    pool's comparison of the input with its shared copy (parent, per run)."""
    import pickle

    from imagemapper.mapreduce._executors import chooseChunkSize, runChunk
    from imagemapper.mapreduce._shm import ResultSlots, SlotWriter, sameBytes

    cells = task._cellList(exp, False)
    size = chooseChunkSize(len(cells), 2)
    chunks = [cells[i : i + size] for i in range(0, len(cells), size)]
    slots, writer = ResultSlots(limit=2), SlotWriter()
    out = dict.fromkeys(
        ("mapper loop (workers' share)", "results into slots + load", "results pickle + unpickle"),
        0.0,
    )
    try:
        for k, chunk in enumerate(chunks):
            c = time.process_time()
            res = runChunk(task.mapper, exp, chunk, False, False, {})
            c1 = time.process_time()
            slot = slots.take(k, 64 << 20)
            assert slot is not None
            payload, need = writer.dump(res, (slot.name, slot.size))
            assert payload is not None, f"{need} bytes of results do not fit 64 MiB"
            got = slots.load(slot, payload)
            slots.release(slot)
            del got, payload, slot
            c2 = time.process_time()
            back = pickle.loads(pickle.dumps(res))
            c3 = time.process_time()
            del back, res
            out["mapper loop (workers' share)"] += c1 - c
            out["results into slots + load"] += c2 - c1
            out["results pickle + unpickle"] += c3 - c2
    finally:
        slots.close()
        writer.keep([])
    mi = exp.maskedImage
    planes = [np.ascontiguousarray(p.array) for p in (mi.image, mi.mask, mi.variance)]
    copies = [p.copy() for p in planes]
    c = time.process_time()
    for a, b in zip(planes, copies):
        sameBytes(a, b)
    out["input comparison (warm pool, parent)"] = time.process_time() - c
    return out


def _workerPids(task: im.ImageMapReduceTask) -> list[int]:
    pool = task._poolKeeper.pool
    return [] if pool is None else [w.proc.pid for w in pool._workers]


if __name__ == "__main__":
    sys.exit(main())
