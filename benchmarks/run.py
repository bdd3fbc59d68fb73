"""imagemapper benchmark suite: every workload, every implementation, side by side.

    python benchmarks/run.py [--quick] [--workloads W1,W2,W3,W4,W5] [--reps N]
                             [--out benchmarks/RESULTS.md] [--json FILE]

Within a workload every implementation runs once as a warm-up (its output is
checked against the reference loop's), then ``--reps`` rounds in which each
implementation runs once, in an order rotated every round, so that a slow
spell of a shared machine hits them all alike. Reported: median, min and max
wall time and ratios of medians. Memory (W4) is measured in a fresh child
process per implementation (``_one.py``). See README.md.
"""

from __future__ import annotations

import argparse
import datetime
import gc
import json
import logging
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import numpy as np  # noqa: E402
import workloads as wl  # noqa: E402

import imagemapper as im  # noqa: E402

BEGIN, END = "<!-- BEGIN GENERATED -->", "<!-- END GENERATED -->"


# --------------------------------------------------------------- timing


def _interiorDiff(a: Any, b: Any, margin: int) -> float:
    """Largest |a - b| over image and variance, away from the image edge
    (FFT cells wrap around at the edge; whole-image filters do not)."""
    if a is None or b is None:
        return float("nan")
    d = 0.0
    for plane in ("image", "variance"):
        x = getattr(a, plane).array[margin:-margin, margin:-margin]
        y = getattr(b, plane).array[margin:-margin, margin:-margin]
        with np.errstate(invalid="ignore"):
            diff = np.abs(x.astype(np.float64) - y)
        both = np.isnan(x) & np.isnan(y)
        d = max(d, float(np.max(np.where(both, 0.0, diff), initial=0.0)))
        if np.any(np.isnan(diff) & ~both):
            return float("inf")
    return d


def timeAlternating(
    impls: dict[str, Callable], reps: int, check: str | None = "reference", margin: int = 16
) -> dict[str, dict[str, Any]]:
    """Warm up each implementation (checking its output against ``check``),
    then ``reps`` rotated rounds. Returns per-implementation stats."""
    names = list(impls)
    res: dict[str, dict[str, Any]] = {n: {"times": [], "error": None, "diff": None} for n in names}
    ref = None
    for n in names:
        gc.collect()
        try:
            out = impls[n]()
        except Exception as err:  # an implementation a revision lacks, say
            res[n]["error"] = f"{type(err).__name__}: {err}"[:200]
            print(f"    {n}: FAILED {res[n]['error']}", flush=True)
            continue
        if check is not None:
            if n == check:
                ref = out
            elif out is not None and ref is not None:
                res[n]["diff"] = _interiorDiff(out, ref, margin)
        del out
    ref = None
    for r in range(reps):
        k = r % len(names)
        for n in names[k:] + names[:k]:
            if res[n]["error"]:
                continue
            gc.collect()
            t0 = time.perf_counter()
            out = impls[n]()
            res[n]["times"].append(time.perf_counter() - t0)
            del out
        print(f"    round {r + 1}/{reps} done", flush=True)
    for n in names:
        t = res[n]["times"]
        if t:
            res[n].update(median=statistics.median(t), min=min(t), max=max(t))
    return res


def _fmt(t: float | None) -> str:
    if t is None:
        return "-"
    return f"{t * 1e3:.1f} ms" if t < 1 else f"{t:.2f} s"


def _ratio(a: float | None, b: float | None) -> str:
    return f"{a / b:.2f}×" if a and b else "-"


def timingTable(res: dict[str, dict[str, Any]], extra: dict[str, str] | None = None) -> list[str]:
    """Markdown table: median/min/max, speed-up over the reference (and over dask)."""
    ref = res.get("reference", {}).get("median")
    dask = res.get("dask map_overlap", {}).get("median")
    head = "| implementation | median | min | max | reference ÷ this | dask ÷ this | check |"
    lines = [head, "|---|---|---|---|---|---|---|"]
    for n, r in res.items():
        if r["error"]:
            lines.append(f"| {n} | failed: {r['error']} | | | | | |")
            continue
        m = r.get("median")
        chk = "ref" if n == "reference" else ""
        if r.get("diff") is not None:
            chk = "= ref" if r["diff"] == 0 else f"max Δ {r['diff']:.2g}"
        if extra and n in extra:
            chk = (chk + "; " if chk else "") + extra[n]
        lines.append(
            f"| {n} | {_fmt(m)} | {_fmt(r.get('min'))} | {_fmt(r.get('max'))} | "
            f"{_ratio(ref, m)} | {_ratio(dask, m)} | {chk} |"
        )
    return lines


# ------------------------------------------------------------- workloads


def runW1W2(name: str, exp: im.Exposure, reps: int, workers: int, out: dict) -> list[str]:
    w = wl.WORKLOADS[name]
    print(f"== {name}: {w.title}", flush=True)
    impls = wl.implementations(name, exp, workers)
    nCells = len(wl.makeTask(w)._generateGrid(exp)[0])
    res = timeAlternating(impls, reps)
    out[name] = {"cells": nCells, "results": _jsonable(res)}
    lines = [f"### {name} — {w.title} ({nCells} cells)", ""]
    extra: dict[str, str] = {}
    mapperOnly = res.get("mapper only (bare loop)", {}).get("median")
    if name == "W1" and mapperOnly:
        over = {}
        for n, r in res.items():
            if n.startswith("im ") and r.get("median"):
                over[n] = (r["median"] - mapperOnly) / nCells
                extra[n] = f"overhead {over[n] * 1e6:.1f} µs/cell"
        ref = res["reference"].get("median")
        if ref:
            over["reference"] = (ref - mapperOnly) / nCells
            extra["reference"] = f"overhead {over['reference'] * 1e6:.1f} µs/cell"
        out[name]["overheadPerCell"] = over
        views = res.get("views only (2 read-only views per cell)", {}).get("median")
        if views:
            perCell = f"{views / nCells * 1e6:.1f} µs/cell"
            extra["views only (2 read-only views per cell)"] = perCell
        extra["mapper only (bare loop)"] = f"{mapperOnly / nCells * 1e6:.1f} µs/cell"
    lines += timingTable(res, extra)
    lines.append("")
    return lines


def runW3(exp: im.Exposure, reps: int, out: dict) -> list[str]:
    print("== W3: stitch only (W1's cell results precomputed)", flush=True)
    task = wl.makeTask(wl.WORKLOADS["W1"])
    results = task._runMapper(exp, backend="serial")
    cellPixels = sum(r.subExposure.getBBox().getArea() for r in results)
    imagePixels = exp.getBBox().getArea()
    lines = [
        f"### W3 — stitch only: W1's {len(results)} cell results precomputed "
        f"({cellPixels / imagePixels:.1f}× the image's pixels)",
        "",
        "GB/s = modelled bytes touched ÷ median time (`workloads.stitchBytes`: cells read once, "
        "output planes read+written once per cell pixel, one init and one final pass); "
        "'of copy' = that ÷ numpy's copy bandwidth measured on the same number of bytes.",
        "",
    ]
    out["W3"] = {}
    skipped = [op for op in im.STITCH_OPERATIONS if op in ("mesh",)]
    if skipped:
        lines += [f"Not run: {', '.join(skipped)} (reduces a scalar per cell, not exposures). "
                  "Operations other than copy/sum/average have no LSST reference.", ""]  # fmt: skip
    for op in im.STITCH_OPERATIONS:
        if op in skipped:
            continue
        nbytes = wl.stitchBytes(op, cellPixels, imagePixels)
        impls = wl.stitchImplementations(results, exp, op)
        impls["limit: numpy copy of the same bytes"] = wl.copyLimit(nbytes // 2)
        print(f"  -- {op}", flush=True)
        res = timeAlternating(impls, reps, check="reference reducer")
        copyT = res["limit: numpy copy of the same bytes"].get("median")
        extra = {}
        for n, r in res.items():
            if r.get("median"):
                gbs = nbytes / r["median"] / 1e9
                frac = f", {copyT / r['median'] * 100:.0f}% of copy" if copyT else ""
                extra[n] = f"{gbs:.1f} GB/s{frac}"
        lines += [f"**{op}** ({nbytes / 1e9:.2f} GB touched)", ""]

        def rename(d: dict) -> dict:
            return {k.replace("reference reducer", "reference"): v for k, v in d.items()}

        lines += timingTable(rename(res), rename(extra))
        lines.append("")
        out["W3"][op] = {"bytes": nbytes, "results": _jsonable(res)}
    del results
    return lines


def runW4(size: int, workers: int, out: dict) -> list[str]:
    print("== W4: peak RSS, one child process per implementation", flush=True)
    lines = [
        "### W4 — peak memory (child process per implementation)",
        "",
        "(peak RSS − RSS after imports) ÷ exposure bytes (image+mask+variance). Worker "
        "processes are reported separately (largest child, which maps the shared input).",
        "",
        "| workload | implementation | peak ÷ exposure | largest worker ÷ exposure | run time |",
        "|---|---|---|---|---|",
    ]
    out["W4"] = []
    procs = f"im processes({workers})"
    for name in ("W1", "W2c", "W2a"):
        w = wl.WORKLOADS[name]
        names = ["reference", "im serial", f"im threads({workers})", procs]
        if w.op == "copy" and w.step == w.cell:
            names.insert(1, "dask map_overlap")
        for impl in names:
            cmd = [sys.executable, os.path.join(HERE, "_one.py"), "--workload", name,
                   "--impl", impl, "--size", str(size), "--workers", str(workers)]  # fmt: skip
            p = subprocess.run(cmd, capture_output=True, text=True)
            try:
                r = json.loads(p.stdout.strip().splitlines()[-1])
            except Exception:
                lines.append(f"| {name} | {impl} | failed: {p.stderr.strip()[-150:]} | | |")
                continue
            added = (r["peak"] - r["baseline"]) / r["imageBytes"]
            child = r["children"] / r["imageBytes"] if impl == procs else None
            childS = f"{child:.2f}" if child is not None else "-"
            lines.append(f"| {name} | {impl} | {added:.2f} | {childS} | {_fmt(r['seconds'])} |")
            print(f"    {name} {impl}: {added:.2f}", flush=True)
            out["W4"].append(dict(r, ratio=added))
    lines.append("")
    return lines


def runW5(exp: im.Exposure, reps: int, workers: int, distributed: bool, out: dict) -> list[str]:
    name = "W2c"
    w = wl.WORKLOADS[name]
    print(f"== W5: scaling of {name} with workers", flush=True)
    counts = sorted({1, workers})
    impls: dict[str, Callable] = {}
    for n in counts:
        t = wl.makeTask(w)
        impls[f"im threads n={n}"] = wl._imagemapperRun(t, exp, backend="threads", numWorkers=n)
        t = wl.makeTask(w)
        impls[f"im processes n={n}"] = wl._imagemapperRun(t, exp, backend="processes", numWorkers=n)
        impls[f"dask map_overlap n={n}"] = wl._daskMapOverlap(exp, w, n)
        t = wl.makeTask(w, im.RustGaussianConvolveMapper)
        impls[f"im Rust mapper n={n}"] = wl._imagemapperRun(t, exp, numWorkers=n)
    clusters = []
    if distributed:
        try:
            from distributed import Client, LocalCluster

            for n in counts:
                cluster = LocalCluster(
                    n_workers=n,
                    threads_per_worker=1,
                    processes=True,
                    dashboard_address=None,
                    silence_logs=logging.WARNING,
                )
                client = Client(cluster)
                client.run(lambda here=HERE: sys.path.insert(0, here))
                clusters.append((client, cluster))
                t = wl.makeTask(w)
                t.client = client
                impls[f"im dask.distributed n={n}"] = wl._imagemapperRun(
                    t, exp, backend="dask", numWorkers=n
                )
        except Exception as err:  # pragma: no cover - optional
            print(f"    dask.distributed skipped: {err!r}", flush=True)
    try:
        res = timeAlternating(impls, reps, check=None)
    finally:
        for client, cluster in clusters:
            client.close()
            cluster.close()
    out["W5"] = _jsonable(res)
    lines = [
        f"### W5 — scaling: {name} with 1 and {workers} workers (speed-up = time(1) ÷ time(n))",
        "",
        "| implementation | " + " | ".join(f"n={n}" for n in counts) + " | speed-up |",
        "|---|" + "---|" * (len(counts) + 1),
    ]
    for kind in ("im threads", "im processes", "dask map_overlap", "im Rust mapper",
                 "im dask.distributed"):  # fmt: skip
        meds = [res.get(f"{kind} n={n}", {}).get("median") for n in counts]
        if not any(meds):
            continue
        lines.append(
            f"| {kind} | " + " | ".join(_fmt(m) for m in meds) + f" | {_ratio(meds[0], meds[-1])} |"
        )
    lines += [
        "",
        "(`im threads n=1` runs the serial backend: the task does so for one worker.)",
        "",
    ]
    return lines


# ------------------------------------------------------------------ main


def _jsonable(res: dict) -> dict:
    return {k: {kk: vv for kk, vv in v.items()} for k, v in res.items()}


def machine() -> dict[str, str]:
    info = {"python": platform.python_version(), "numpy": np.__version__,
            "imagemapper": f"{im.__version__} from {os.path.dirname(im.__file__)}"}  # fmt: skip
    try:
        lscpu = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        for line in lscpu.splitlines():
            k, _, v = line.partition(":")
            if k.strip() in ("Model name", "CPU(s)", "Thread(s) per core", "L3 cache"):
                info[k.strip()] = v.strip()
        with open("/proc/meminfo") as f:
            info["MemTotal"] = f.readline().split(":")[1].strip()
        info["loadavg (start)"] = " ".join(os.getloadavg().__repr__().strip("()").split(", "))
    except Exception:
        pass
    try:
        info["git"] = subprocess.run(
            ["git", "describe", "--always", "--dirty"], capture_output=True, text=True, cwd=HERE
        ).stdout.strip()
    except Exception:
        pass
    return info


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="1024² image, 2 rounds (smoke run)")
    ap.add_argument("--workloads", default="W1,W2,W3,W4,W5",
                    help="comma-separated subset of W1,W2 (=W2c+W2a),W2c,W2a,W3,W4,W5")  # fmt: skip
    ap.add_argument("--reps", type=int, default=None, help="rounds per workload (default 3)")
    ap.add_argument("--size", type=int, default=None, help="image side (default 4096)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--no-distributed", action="store_true", help="skip dask.distributed in W5")
    ap.add_argument("--out", default=None, help="write the tables to this Markdown file")
    ap.add_argument("--json", default=None, help="write raw timings as JSON")
    args = ap.parse_args(argv)
    size = args.size or (1024 if args.quick else 4096)
    reps = args.reps or (2 if args.quick else 3)
    wanted = []
    for x in args.workloads.split(","):
        wanted += ["W2c", "W2a"] if x.strip() == "W2" else [x.strip()]

    cmd = "python benchmarks/run.py " + " ".join(argv if argv is not None else sys.argv[1:])
    info = machine()
    started = time.time()
    out: dict[str, Any] = {"size": size, "reps": reps, "machine": info, "command": cmd}
    exp = wl.makeExposure(size)
    print(f"image {size}×{size}: {wl.exposureBytes(exp) / 1e6:.0f} MB, {reps} rounds", flush=True)
    lines = [
        f"Command: `{cmd}`  ",
        f"Date: {datetime.datetime.now().isoformat(timespec='seconds')}  ",
        "Machine: " + ", ".join(f"{k} {v}" for k, v in info.items()) + "  ",
        f"Image: {size}×{size} float32 image + int32 mask + float32 variance "
        f"({wl.exposureBytes(exp) / 1e6:.0f} MB); {reps} rounds after one warm-up; "
        "'reference ÷ this' > 1 means faster than the LSST-faithful loop; 'check' compares the "
        "output with the reference's (interior, 16 px from the edge).",
        "",
    ]
    for name in wanted:
        if name in ("W1", "W2c", "W2a"):
            lines += runW1W2(name, exp, reps, args.workers, out)
        elif name == "W3":
            lines += runW3(exp, reps, out)
        elif name == "W4":
            lines += runW4(size, args.workers, out)
        elif name == "W5":
            lines += runW5(exp, reps, args.workers, not args.no_distributed, out)
        else:
            raise SystemExit(f"unknown workload {name!r}")
    elapsed = time.time() - started
    lines.append(f"Suite wall time: {elapsed / 60:.1f} min; load average at the end: "
                 f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}.")  # fmt: skip
    out["elapsed"] = elapsed
    text = "\n".join(lines)
    print("\n" + text)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=1, default=str)
    if args.out:
        block = f"{BEGIN}\n{text}\n{END}"
        old = open(args.out).read() if os.path.exists(args.out) else ""
        if BEGIN in old and END in old:
            new = old[: old.index(BEGIN)] + block + old[old.index(END) + len(END) :]
        else:
            new = "# imagemapper benchmark results\n\n" + block + "\n"
        with open(args.out, "w") as f:
            f.write(new)
    return 0


if __name__ == "__main__":
    sys.exit(main())
