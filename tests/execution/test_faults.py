"""Faults stop cleanly: per-cell timeouts, Ctrl-C with a hung mapper, the
death of the parent process, and the warm process pool's life cycle.

Every test that hangs, interrupts or kills runs its scenario in a
subprocess with a time bound (``subprocess`` ``timeout=``), so that a
regression fails the test instead of hanging the suite.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import imagemapper as im
from fault_mappers import HangMapper
from imagemapper.testing import assertExposuresEqual

TESTS = str(Path(__file__).resolve().parents[1])  # the suite root: fault_mappers

COMMON = """
import json, os, signal, sys, threading, time, logging
import numpy as np
sys.path.insert(0, {tests!r})
import imagemapper as im
from fault_mappers import HangMapper

BACKEND = {backend!r}


def makeConfig(**fields):
    c = im.ImageMapReduceConfig()
    c.mapper.retarget(HangMapper)
    c.scaleByFwhm = False
    c.adjustGridOption = "none"
    c.cellSizeX = c.cellSizeY = 16.0
    c.gridStepX = c.gridStepY = 16.0
    c.borderSizeX = c.borderSizeY = 2.0
    c.backend = BACKEND
    c.numWorkers = 2
    c.progress = False
    for k, v in fields.items():
        setattr(c.mapper if k in ("how", "hang", "pidDir") else c, k, v)
    return c


def makeClient():
    if BACKEND != "dask":
        return None
    from distributed import Client, LocalCluster

    cluster = LocalCluster(n_workers=1, threads_per_worker=2, processes=False,
                           dashboard_address=":0", silence_logs=logging.ERROR)
    return Client(cluster)


def makeExposure():
    rng = np.random.default_rng(5)
    image = rng.normal(10.0, 2.0, size=(64, 80)).astype(np.float32)
    variance = rng.uniform(1.0, 2.0, size=(64, 80)).astype(np.float32)
    return im.Exposure.fromArrays(image, None, variance, xy0=(4, -3))
"""

TIMEOUT_SCRIPT = (
    COMMON
    + """
def same(a, b):
    return all(np.array_equal(getattr(a, p).array, getattr(b, p).array, equal_nan=True)
               for p in ("image", "mask", "variance"))


if __name__ == "__main__":
    client = makeClient()
    exp = makeExposure()
    out = {{}}
    task = im.ImageMapReduceTask(makeConfig(how={how!r}, cellTimeout=1.0), client=client)
    t0 = time.monotonic()
    try:
        task.run(exp)
        out["raise"] = "no error"
    except im.MapperError as err:
        out["raise"] = dict(first=str(err).splitlines()[0], cause=type(err.__cause__).__name__,
                            seconds=time.monotonic() - t0)
    t0 = time.monotonic()
    res = task.run(exp, onMapperError="mask")
    seconds = time.monotonic() - t0
    ref = im.ImageMapReduceTask(makeConfig(how="raise", backend="serial", onMapperError="mask"))
    refRes = ref.run(exp)
    out["mask"] = dict(
        failed=[f.index for f in res.failedCells],
        errors=[f.error for f in res.failedCells],
        refFailed=[f.index for f in refRes.failedCells],
        sameAsFailedCell=same(res.exposure, refRes.exposure),
        timedOut=task.metadata["numTimedOutCells"],
        seconds=seconds,
    )
    # The same task runs again (a new worker replaced the stopped one).
    task.config.mapper.hang = "none"
    ref.config.mapper.hang = "none"
    out["again"] = same(task.run(exp).exposure, ref.run(exp).exposure)
    # Stopped threads end (they are asked to stop at their next bytecode).
    deadline = time.monotonic() + 5
    names = ("imagemapper-worker", "imagemapper-cell")
    while time.monotonic() < deadline:
        left = [t.name for t in threading.enumerate() if t.name in names]
        if not left:
            break
        time.sleep(0.05)
    out["threadsLeft"] = left
    task.close()
    print("RESULT " + json.dumps(out), flush=True)
    os._exit(0)
"""
)


def _runScript(script: str, timeout: float) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=timeout
    )
    lines = [ln for ln in done.stdout.splitlines() if ln.startswith("RESULT ")]
    assert done.returncode == 0 and lines, done.stderr[-3000:]
    return json.loads(lines[-1][len("RESULT ") :])


@pytest.mark.parametrize(
    "backend, how",
    [("serial", "sleep"), ("threads", "spin"), ("processes", "spin"), ("dask", "sleep")],
)
def test_cell_timeout_fails_the_cell_on_every_backend(backend, how):
    if backend == "dask":
        pytest.importorskip("distributed")
    script = TIMEOUT_SCRIPT.format(tests=TESTS, backend=backend, how=how)
    out = _runScript(script, timeout=240)
    # raise: a MapperError naming cell 0, with a TimeoutError as its cause,
    # after about the timeout (1 s), not the hour the mapper would take.
    assert out["raise"] != "no error"
    assert out["raise"]["first"].startswith("mapper.run failed on cell 0 ")
    assert "cellTimeout=1 s" in out["raise"]["first"]
    assert out["raise"]["cause"] == "TimeoutError"
    assert out["raise"]["seconds"] < 60
    # mask: the timed-out cell is exactly a failed cell: same failed list and
    # the same output bits as a run where that cell raises instead.
    mask = out["mask"]
    assert mask["failed"] == [0] == mask["refFailed"]
    assert "TimeoutError" in mask["errors"][0]
    assert mask["sameAsFailedCell"]
    assert mask["seconds"] < 60
    if backend != "dask":  # dask's count lives on its workers
        assert mask["timedOut"] == 1
    assert out["again"]
    assert out["threadsLeft"] == []


def test_cell_timeout_is_validated():
    config = im.ImageMapReduceConfig()
    assert config.cellTimeout is None
    config.cellTimeout = 2.5
    for bad in (0.0, -1.0, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="cellTimeout|expected a finite number"):
            config.cellTimeout = bad
    task = im.ImageMapReduceTask()
    exp = im.Exposure.fromArrays(np.zeros((8, 8), np.float32))
    for bad in (0, -2.0, "1", True, float("nan")):
        with pytest.raises(ValueError, match=f"cellTimeout={bad!r}"):
            task.run(exp, cellTimeout=bad)


# ------------------------------------------------------------------ Ctrl-C

INTERRUPT_SCRIPT = (
    COMMON
    + """
if __name__ == "__main__":
    client = makeClient()
    exp = makeExposure()
    task = im.ImageMapReduceTask(makeConfig(hang="all", how={how!r}, pidDir={pidDir!r}),
                                 client=client)
    when = {{}}

    def onSigint(signum, frame):
        when["signal"] = time.monotonic()
        raise KeyboardInterrupt

    signal.signal(signal.SIGINT, onSigint)
    print("started", flush=True)
    try:
        task.run(exp)
    except KeyboardInterrupt:
        print("interrupted %.3f" % (time.monotonic() - when["signal"]), flush=True)
        if BACKEND == "dask":
            os._exit(130)  # the cluster lives in this process; its hung thread is dask's
        sys.exit(130)
"""
)


class _Lines:
    """The lines a child writes to a file (not a pipe: a pipe inherited by
    stray workers would never read EOF), each waited for a bounded time."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._seen = 0

    def next(self, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        while True:
            lines = self._path.read_text().splitlines(keepends=True)
            if len(lines) > self._seen and lines[self._seen].endswith("\n"):
                self._seen += 1
                return lines[self._seen - 1].strip()
            if time.monotonic() > deadline:
                raise AssertionError(f"no new output from the child within {timeout} s")
            time.sleep(0.02)


def _alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie waiting to be reaped does not)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError):
        return False


def _killStrays(pids: set[int]) -> None:
    """Kill what a failed test left behind (our own children's children)."""
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def _waitForPids(pidDir: Path, n: int, exclude: int = -1, timeout: float = 120) -> set[int]:
    deadline = time.monotonic() + timeout
    while True:
        pids = {int(p.name) for p in pidDir.iterdir()} - {exclude}
        if len(pids) >= n:
            return pids
        assert time.monotonic() < deadline, "the workers never started"
        time.sleep(0.05)


@pytest.mark.parametrize(
    "backend, how",
    [("serial", "sleep"), ("threads", "spin"), ("processes", "sleep"), ("dask", "sleep")],
)
def test_ctrl_c_stops_every_backend_within_a_second_with_a_hung_mapper(tmp_path, backend, how):
    if backend == "dask":
        pytest.importorskip("distributed")
    pidDir = tmp_path / "pids"
    pidDir.mkdir()
    script = INTERRUPT_SCRIPT.format(tests=TESTS, backend=backend, how=how, pidDir=str(pidDir))
    outPath = tmp_path / "out.txt"
    with open(outPath, "w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-c", script], stdout=out, stderr=subprocess.DEVNULL
        )
    workers = _interrupt(proc, _Lines(outPath), pidDir, backend)
    if backend == "processes":
        deadline = time.monotonic() + 10
        while any(_alive(p) for p in workers) and time.monotonic() < deadline:
            time.sleep(0.05)
        stray = {p for p in workers if _alive(p)}
        _killStrays(stray)
        assert not stray, f"worker processes still running: {stray}"


def _interrupt(proc: subprocess.Popen, lines: _Lines, pidDir: Path, backend: str) -> set[int]:
    try:
        assert lines.next(timeout=120) == "started"
        # Every worker is inside a mapper that will not return for an hour.
        nWorkers = 2 if backend == "processes" else 1
        workers = _waitForPids(pidDir, nWorkers, exclude=-1 if backend != "processes" else proc.pid)
        time.sleep(0.5)
        sent = time.monotonic()
        proc.send_signal(signal.SIGINT)
        line = lines.next(timeout=30)
        wall = time.monotonic() - sent
        assert line.startswith("interrupted")
        inside = float(line.split()[1])
        # The run stops within a second of the signal reaching Python (and,
        # with slack for a loaded machine, of the signal being sent).
        assert inside < 1.0, f"took {inside:.2f} s after SIGINT"
        assert wall < 10.0
        proc.wait(timeout=30)  # the process exits: nothing waits for the hung mapper
        assert proc.returncode == 130
        return workers
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


# ------------------------------------------------------------- parent death

DEATH_SCRIPT = (
    COMMON
    + """
if __name__ == "__main__":
    # The workers alone must unlink the result slots (not multiprocessing's
    # resource tracker, the fallback for a worker stuck in C code).
    from imagemapper.mapreduce import _shm
    _shm._track = lambda name, register: None
    exp = makeExposure()
    task = im.ImageMapReduceTask(makeConfig(hang="all", pidDir={pidDir!r}))
    print("started", flush=True)
    task.run(exp)
"""
)


def _descendants(pid: int) -> set[int]:
    out: set[int] = set()
    todo = [pid]
    while todo:
        p = todo.pop()
        try:
            tids = os.listdir(f"/proc/{p}/task")
        except FileNotFoundError:
            continue
        for tid in tids:
            try:
                with open(f"/proc/{p}/task/{tid}/children") as f:
                    kids = {int(k) for k in f.read().split()}
            except FileNotFoundError:
                continue
            todo += list(kids - out)
            out |= kids
    return out


def _shmMapped(pids: set[int]) -> set[str]:
    """The /dev/shm files (shared memory, named semaphores) ``pids`` map."""
    paths = set()
    for pid in pids:
        try:
            with open(f"/proc/{pid}/maps") as f:
                for line in f:
                    parts = line.split(maxsplit=5)
                    if len(parts) == 6 and parts[5].startswith("/dev/shm/"):
                        paths.add(parts[5].strip().removesuffix(" (deleted)"))
        except (FileNotFoundError, PermissionError):
            continue
    return paths


@pytest.mark.skipif(not Path("/proc/self/maps").exists(), reason="needs Linux /proc")
def test_sigkill_of_the_parent_stops_workers_and_frees_shared_memory(tmp_path):
    pidDir = tmp_path / "pids"
    pidDir.mkdir()
    script = DEATH_SCRIPT.format(tests=TESTS, backend="processes", pidDir=str(pidDir))
    outPath = tmp_path / "out.txt"
    with open(outPath, "w") as out:
        proc = subprocess.Popen([sys.executable, "-c", script], stdout=out)
    _killParent(proc, _Lines(outPath), pidDir)


def _killParent(proc: subprocess.Popen, lines: _Lines, pidDir: Path) -> None:
    try:
        assert lines.next(timeout=120) == "started"
        workers = _waitForPids(pidDir, 2, exclude=proc.pid)
        family = _descendants(proc.pid)
        assert workers <= family
        shm = _shmMapped(family | {proc.pid})
        # The input's three planes are shared with the workers, and the
        # chunks sent have result slots ("imagemapper_r<pid>_..."): all
        # must go when the parent is killed.
        ours = [p.rsplit("/", 1)[1] for p in shm if "imagemapper_" in p]
        assert len([n for n in ours if not n.startswith("imagemapper_r")]) == 3, shm
        assert [n for n in ours if n.startswith("imagemapper_r")], shm
        proc.kill()
        proc.wait(timeout=30)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            alive = {p for p in family if _alive(p)}
            left = {p for p in shm if os.path.exists(p)}
            if not alive and not left:
                break
            time.sleep(0.1)
        _killStrays(alive)
        assert not alive, f"processes left behind by the killed parent: {alive}"
        assert not left, f"shared memory or semaphores left behind: {left}"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


# ---------------------------------------------------------------- warm pool


def _workerPids(task):
    pool = task._poolKeeper.pool
    return None if pool is None else sorted(w.proc.pid for w in pool._workers)


def _config(**fields):
    c = im.ImageMapReduceConfig()
    c.mapper.retarget(HangMapper)
    c.mapper.hang = "none"
    c.scaleByFwhm = False
    c.cellSizeX = c.cellSizeY = 16.0
    c.gridStepX = c.gridStepY = 12.0
    c.borderSizeX = c.borderSizeY = 2.0
    c.reducer.reduceOperation = "average"
    c.progress = False
    for k, v in fields.items():
        setattr(c, k, v)
    return c


def test_warm_pool_is_reused_and_sees_every_change():
    rng = np.random.default_rng(1)
    exp = im.Exposure.fromArrays(rng.normal(size=(60, 70)).astype(np.float32), xy0=(2, 5))
    serial = im.ImageMapReduceTask(_config(backend="serial"))
    with im.ImageMapReduceTask(_config(backend="processes", numWorkers=2)) as task:
        assertExposuresEqual(task.run(exp).exposure, serial.run(exp).exposure)
        pids = _workerPids(task)
        shm = sorted(s.name for s in task._poolKeeper.pool._shms.values())
        assert len(pids) == 2 and len(shm) == 3
        # Same task and exposure: the same processes and shared memory.
        assertExposuresEqual(task.run(exp).exposure, serial.run(exp).exposure)
        assert _workerPids(task) == pids
        assert sorted(s.name for s in task._poolKeeper.pool._shms.values()) == shm
        # Pixels changed in place: the workers see the new pixels.
        exp.image.array[10:20, 5:30] += 7.0
        exp.mask.array[3, 4] = 1
        assertExposuresEqual(task.run(exp).exposure, serial.run(exp).exposure)
        # Another exposure of another shape: new shared memory, same processes.
        other = im.Exposure.fromArrays(rng.normal(size=(40, 50)).astype(np.float32))
        assertExposuresEqual(task.run(other).exposure, serial.run(other).exposure)
        assert _workerPids(task) == pids
        # A changed mapper config reaches the workers.
        task.config.mapper.hang = "all"
        task.config.mapper.how = "raise"
        with pytest.raises(im.MapperError, match="planted failure"):
            task.run(exp)
        task.config.mapper.hang = "none"
        assertExposuresEqual(task.run(exp).exposure, serial.run(exp).exposure)
        # A worker killed between runs is replaced.
        pids = _workerPids(task)
        os.kill(pids[0], signal.SIGKILL)
        time.sleep(0.2)
        assertExposuresEqual(task.run(exp).exposure, serial.run(exp).exposure)
        pids = _workerPids(task)
        names = [s._name for s in task._poolKeeper.pool._shms.values()]
    # Leaving the block closes the pool: workers gone, shared memory unlinked.
    deadline = time.monotonic() + 10
    while any(_alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not [p for p in pids if _alive(p)]
    assert not [n for n in names if os.path.exists("/dev/shm/" + n.lstrip("/"))]
    # The task stays usable: a new pool.
    assertExposuresEqual(task.run(exp).exposure, serial.run(exp).exposure)
    assert _workerPids(task) is not None and set(_workerPids(task)).isdisjoint(pids)
    task.close()
    assert task._poolKeeper.pool is None
