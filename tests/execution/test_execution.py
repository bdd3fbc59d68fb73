"""Backends, streaming reduce, failure policy and progress."""

from __future__ import annotations

import logging
import os

import numpy as np
import pytest

import imagemapper as im
from imagemapper.testing import assertExposuresEqual
from mappers_for_tests import (
    COUNTER,
    CountedMapper,
    DecorrelationLikeMapper,
    DieOnceMapper,
    FailingMapper,
    NotThreadSafeMapper,
    SharedMapper,
    SleepyMapper,
    decorrelationLikeCell,
)


def makeExposure(width=96, height=80, seed=3):
    rng = np.random.default_rng(seed)
    image = rng.normal(10.0, 2.0, size=(height, width)).astype(np.float32)
    variance = rng.uniform(1.0, 2.0, size=(height, width)).astype(np.float32)
    mask = (rng.uniform(size=(height, width)) < 0.01).astype(np.int32)
    return im.Exposure.fromArrays(image, mask, variance, xy0=(3, -2))


def makeConfig(mapper, op="average", **fields):
    config = im.ImageMapReduceConfig()
    config.mapper.retarget(mapper)
    config.reducer.reduceOperation = op
    config.scaleByFwhm = False
    config.cellSizeX = config.cellSizeY = 16.0
    config.gridStepX = config.gridStepY = 8.0
    config.borderSizeX = config.borderSizeY = 3.0
    config.progress = False
    for k, v in fields.items():
        setattr(config, k, v)
    return config


def localCluster(nWorkers):
    """A local dask cluster of single-threaded worker processes."""
    import distributed

    return distributed.LocalCluster(
        n_workers=nWorkers,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address=":0",
        silence_logs=logging.ERROR,
    )


@pytest.fixture(scope="module")
def daskClient():
    distributed = pytest.importorskip("distributed")
    cluster = localCluster(2)
    client = distributed.Client(cluster)
    yield client
    client.close()
    cluster.close()


@pytest.mark.parametrize("op", ["average", "copy", "sum"])
def test_bit_identical_across_backends(op, daskClient):
    exposure = makeExposure()
    reference = im.ImageMapReduceTask(makeConfig(SleepyMapper, op, backend="serial")).run(exposure)
    runs = [
        ("threads", 1),
        ("threads", 2),
        ("threads", 4),
        ("processes", 2),
        ("dask", 2),
    ]
    for backend, n in runs:
        task = im.ImageMapReduceTask(
            makeConfig(SleepyMapper, op, backend=backend, numWorkers=n), client=daskClient
        )
        out = task.run(exposure)
        assertExposuresEqual(out.exposure, reference.exposure, msg=f"{backend}({n})")
    # A different chunking / in-flight window changes nothing either.
    task = im.ImageMapReduceTask(makeConfig(SleepyMapper, op, backend="threads", numWorkers=3))
    out = task.run(exposure, maxCellsInFlight=5)
    assertExposuresEqual(out.exposure, reference.exposure, msg="window 5")


def test_none_reduce_keeps_cell_order_with_threads():
    exposure = makeExposure()
    serial = im.ImageMapReduceTask(makeConfig(SleepyMapper, "none", backend="serial")).run(exposure)
    threaded = im.ImageMapReduceTask(
        makeConfig(SleepyMapper, "none", backend="threads", numWorkers=4)
    ).run(exposure)
    assert [r.subExposure.getBBox() for r in threaded.result] == [
        r.subExposure.getBBox() for r in serial.result
    ]
    for a, b in zip(threaded.result, serial.result):
        assertExposuresEqual(a.subExposure, b.subExposure)


def test_results_held_are_bounded(monkeypatch):
    from imagemapper.mapreduce import _reducer

    slowAdd = _reducer.Stitcher.add

    def slow(self, batch):
        import time

        time.sleep(0.002)
        return slowAdd(self, batch)

    monkeypatch.setattr(_reducer.Stitcher, "add", slow)
    exposure = makeExposure(128, 128)
    bound = 12
    config = makeConfig(
        CountedMapper, "average", backend="threads", numWorkers=4, maxCellsInFlight=bound
    )
    task = im.ImageMapReduceTask(config)
    COUNTER.maxAlive = COUNTER.alive = 0
    out = task.run(exposure).exposure
    nCells = len(task.boxes0)
    assert nCells > 5 * bound
    md = task.metadata
    assert md["maxCellsHeld"] <= bound
    # Live results: those in flight plus the batch being stitched.
    from imagemapper.mapreduce._executors import chooseChunkSize

    chunk = chooseChunkSize(nCells, 4)
    assert COUNTER.maxAlive <= bound + chunk
    assert COUNTER.alive == 0
    np.testing.assert_allclose(out.image.array, exposure.image.array + 1.0, rtol=1e-6)


def test_custom_reducer_gets_the_full_list():
    received = {}

    class ListReducer(im.ImageReducer):
        def run(self, mapperResults, exposure, **kwargs):
            received["n"] = len(mapperResults)
            received["boxes"] = [r.subExposure.getBBox() for r in mapperResults]
            return super().run(mapperResults, exposure, **kwargs)

    config = makeConfig(SleepyMapper, "average", backend="threads", numWorkers=2)
    config.reducer.retarget(ListReducer)
    config.reducer.reduceOperation = "average"
    task = im.ImageMapReduceTask(config)
    out = task.run(makeExposure()).exposure
    assert received["n"] == len(task.boxes0)
    assert received["boxes"] == task.boxes0
    ref = im.ImageMapReduceTask(makeConfig(SleepyMapper, "average", backend="serial"))
    assertExposuresEqual(out, ref.run(makeExposure()).exposure)


@pytest.mark.parametrize("backend", ["serial", "threads", "processes"])
def test_on_mapper_error_raise(backend):
    exposure = makeExposure()
    config = makeConfig(FailingMapper, "average", backend=backend, numWorkers=2)
    task = im.ImageMapReduceTask(config)
    task._generateGrid(exposure)
    bad = task.boxes0[5]
    config.mapper.failCells = [bad.getMinX()]
    first = next(i for i, b in enumerate(task.boxes0) if b.getMinX() == bad.getMinX())
    with pytest.raises(im.MapperError) as info:
        task.run(exposure)
    msg = str(info.value)
    assert f"cell {first} " in msg
    assert str(task.boxes0[first]) in msg and str(task.boxes1[first]) in msg
    assert isinstance(info.value.__cause__, ZeroDivisionError)


@pytest.mark.parametrize("op", ["average", "sum", "copy"])
def test_on_mapper_error_mask(op, caplog):
    exposure = makeExposure()
    config = makeConfig(
        FailingMapper,
        op,
        backend="threads",
        numWorkers=2,
        onMapperError="mask",
        adjustGridOption="none",
        gridStepX=16.0,
        gridStepY=16.0,
    )
    task = im.ImageMapReduceTask(config)
    task._generateGrid(exposure)
    failX = task.boxes0[0].getMinX()  # the first column of cells fails
    config.mapper.failCells = [failX]
    with caplog.at_level(logging.WARNING):
        res = task.run(exposure)
    failedIdx = [i for i, b in enumerate(task.boxes0) if b.getMinX() == failX]
    assert [f.index for f in res.failedCells] == failedIdx
    assert all("ZeroDivisionError" in f.error for f in res.failedCells)
    assert any("failed on cell" in r.getMessage() for r in caplog.records)
    out = res.exposure
    bit = out.mask.getPlaneBitMask("INVALID_MAPREDUCE")
    invalid = (out.mask.array & bit) != 0
    # Independent answer: pixels covered by failed cells and by no good cell.
    full = exposure.getBBox()
    good = np.zeros(invalid.shape, bool)
    failed = np.zeros(invalid.shape, bool)
    for i, b in enumerate(task.boxes0):
        (failed if i in failedIdx else good)[b.slices(full)] = True
    np.testing.assert_array_equal(invalid, failed & ~good)
    assert task.metadata["numFailedCells"] == len(failedIdx)
    goodCount = np.zeros(invalid.shape)
    for i, b in enumerate(task.boxes0):
        if i not in failedIdx:
            goodCount[b.slices(full)] += 1
    expected = exposure.image.array + 1.0
    if op == "sum":
        expected = expected * goodCount
    np.testing.assert_allclose(out.image.array[good], expected[good], rtol=1e-5)


def test_killed_worker_is_retried_with_identical_output(tmp_path):
    exposure = makeExposure()
    marker = tmp_path / "died"
    config = makeConfig(
        DieOnceMapper, "average", backend="processes", numWorkers=2, maxCellsInFlight=8
    )
    config.mapper.marker = str(marker)
    task = im.ImageMapReduceTask(config)
    out = task.run(exposure).exposure
    assert marker.exists()
    assert task.metadata["workerRestarts"] >= 1
    ref = im.ImageMapReduceTask(makeConfig(DieOnceMapper, "average", backend="serial"))
    ref.config.mapper.marker = str(marker)  # exists now: the serial run does not die
    assertExposuresEqual(out, ref.run(exposure).exposure)


def test_worker_that_always_dies_gives_a_clear_error(tmp_path):
    config = makeConfig(DieOnceMapper, "average", backend="processes", numWorkers=2)
    config.mapper.marker = str(tmp_path / "died")
    config.mapper.always = True
    with pytest.raises(RuntimeError, match="worker process died"):
        im.ImageMapReduceTask(config).run(makeExposure())


def test_killed_dask_worker_is_retried(tmp_path, daskClient):
    exposure = makeExposure()
    marker = tmp_path / "died"
    config = makeConfig(DieOnceMapper, "average", backend="dask")
    config.mapper.marker = str(marker)
    out = im.ImageMapReduceTask(config, client=daskClient).run(exposure).exposure
    assert marker.exists()
    daskClient.wait_for_workers(2, timeout=60)
    ref = im.ImageMapReduceTask(makeConfig(DieOnceMapper, "average", backend="serial"))
    ref.config.mapper.marker = str(marker)
    assertExposuresEqual(out, ref.run(exposure).exposure)


def test_dask_run_survives_losing_every_copy_of_its_scattered_inputs(tmp_path):
    # One worker: the scattered mapper and exposure live only there. The
    # mapper kills it, so the scheduler forgets them and cancels the chunks
    # that need them ("already forgotten"); the run scatters them again to
    # the restarted worker and resubmits, with the serial run's exact pixels.
    distributed = pytest.importorskip("distributed")
    exposure = makeExposure()
    marker = tmp_path / "died"
    with localCluster(1) as cluster, distributed.Client(cluster) as client:
        config = makeConfig(DieOnceMapper, "average", backend="dask")
        config.mapper.marker = str(marker)
        out = im.ImageMapReduceTask(config, client=client).run(exposure).exposure
    assert marker.exists()
    ref = im.ImageMapReduceTask(makeConfig(DieOnceMapper, "average", backend="serial"))
    ref.config.mapper.marker = str(marker)
    assertExposuresEqual(out, ref.run(exposure).exposure)


def test_unpicklable_mapper_under_processes_says_so():
    class LocalMapper(im.ImageMapper):  # a local class cannot be pickled
        _DefaultName = "local"

        def run(self, subExposure, expandedSubExposure, fullBBox, **kwargs):
            return im.Struct(subExposure=subExposure)

    config = makeConfig(LocalMapper, "average", backend="processes", numWorkers=2)
    with pytest.raises(TypeError, match="cannot be pickled"):
        im.ImageMapReduceTask(config).run(makeExposure())


def test_each_worker_thread_runs_its_own_mapper():
    NotThreadSafeMapper.INSTANCES.clear()
    config = makeConfig(NotThreadSafeMapper, "average", backend="threads", numWorkers=4)
    task = im.ImageMapReduceTask(config)
    out = task.run(makeExposure())
    # The task's own mapper and one copy per other worker thread, each made
    # as the task made its own: same config, same parent, same name.
    instances = NotThreadSafeMapper.INSTANCES
    assert len(instances) == 4 and instances[0] is task.mapper
    for copy in instances[1:]:
        assert copy.config is task.mapper.config
        assert copy.getFullName() == task.mapper.getFullName()
        assert copy._parentTask is task
    assert all(m.maxActive <= 1 for m in instances)
    # The task's hierarchy still names its own mapper.
    assert task.getTaskDict()[task.mapper.getFullName()]() is task.mapper
    ref = im.ImageMapReduceTask(makeConfig(NotThreadSafeMapper, "average", backend="serial"))
    assertExposuresEqual(out.exposure, ref.run(makeExposure()).exposure)


def test_thread_safe_mapper_is_shared():
    SharedMapper.INSTANCES.clear()
    task = im.ImageMapReduceTask(makeConfig(SharedMapper, "average", numWorkers=4))
    task.run(makeExposure())
    assert SharedMapper.INSTANCES == [task.mapper]


@pytest.fixture(scope="module")
def threadedDaskClient():
    distributed = pytest.importorskip("distributed")
    cluster = distributed.LocalCluster(
        n_workers=1,
        threads_per_worker=4,
        processes=True,
        host="127.0.0.1",
        dashboard_address=":0",
        silence_logs=logging.ERROR,
    )
    client = distributed.Client(cluster)
    yield client
    client.close()
    cluster.close()


def decorrelationReference(exposure, task):
    """The whole-image numpy computation of DecorrelationLikeMapper + copy."""
    full = exposure.getBBox()
    image = np.full(exposure.image.array.shape, np.nan, dtype=exposure.image.array.dtype)
    for b0, b1 in zip(task.boxes0, task.boxes1):
        image[b0.slices(full)] = decorrelationLikeCell(exposure.image.array, b1, b0, full)
    return image


def test_stateful_writing_mapper_same_bits_on_every_backend(daskClient, threadedDaskClient):
    # ip_diffim's decorrelation mapper keeps per-call state on self and writes
    # into its expanded cell: every backend gives the serial bits, the input
    # is untouched, and the pixels are those of a whole-image computation.
    exposure = makeExposure(width=120, height=100)
    before = exposure.clone()
    config = makeConfig(DecorrelationLikeMapper, "copy", backend="serial")
    config.cellSizeX, config.cellSizeY = 20.0, 24.0
    serialTask = im.ImageMapReduceTask(config)
    serial = serialTask.run(exposure).exposure
    expected = decorrelationReference(before, serialTask)
    np.testing.assert_allclose(serial.image.array, expected, rtol=1e-6, atol=1e-5)
    np.testing.assert_array_equal(serial.variance.array, before.variance.array * 0.5)
    runs = [
        ("threads", 1, None),
        ("threads", 2, None),
        ("threads", 4, None),
        ("processes", 2, None),
        ("dask", 2, daskClient),
        ("dask", 4, threadedDaskClient),
    ]
    for backend, n, client in runs:
        task = im.ImageMapReduceTask(config, client=client)
        out = task.run(exposure, backend=backend, numWorkers=n).exposure
        assertExposuresEqual(out, serial, msg=f"{backend}({n})")
        assertExposuresEqual(exposure, before, msg=f"input after {backend}({n})")


def test_sharing_a_stateful_mapper_would_break_it():
    # The property above is not vacuous: the same mapper declared thread-safe
    # (one instance on four threads) fails or gives other pixels.
    config = makeConfig(DecorrelationLikeMapper, "copy", backend="serial")
    config.cellSizeX, config.cellSizeY = 20.0, 24.0
    config.mapper.maxSleep = 0.01
    exposure = makeExposure(width=120, height=100)
    serial = im.ImageMapReduceTask(config).run(exposure).exposure
    DecorrelationLikeMapper.threadSafe = True
    try:
        task = im.ImageMapReduceTask(config)
        try:
            out = task.run(exposure, backend="threads", numWorkers=4).exposure
        except im.MapperError:
            return
        assert not np.array_equal(out.image.array, serial.image.array, equal_nan=True)
    finally:
        DecorrelationLikeMapper.threadSafe = False


def test_progress_bar_when_forced_and_not_in_ci(capsys, monkeypatch):
    config = makeConfig(SleepyMapper, "average", backend="serial")
    config.mapper.maxSleep = 0.0
    task = im.ImageMapReduceTask(config)
    task.run(makeExposure(), progress=True)
    err = capsys.readouterr().err
    assert f"{len(task.boxes0)}/{len(task.boxes0)}" in err
    monkeypatch.setenv("CI", "true")
    config.progress = None
    task.run(makeExposure())
    assert capsys.readouterr().err == ""


def test_metadata_records_cells_and_phases():
    task = im.ImageMapReduceTask(
        makeConfig(SleepyMapper, "average", backend="threads", numWorkers=2)
    )
    task.run(makeExposure())
    md = task.metadata
    assert md["numCells"] == len(task.boxes0)
    assert md["numFailedCells"] == 0
    assert md["gridTime"] >= 0 and md["mapReduceTime"] > 0
    assert 1.0 <= md["minOverlap"] <= md["meanOverlap"] <= md["maxOverlap"] <= 9.0


def test_bad_execution_options_are_clear():
    task = im.ImageMapReduceTask(makeConfig(SleepyMapper))
    with pytest.raises(ValueError, match="backend='gpu'"):
        task.run(makeExposure(), backend="gpu")
    with pytest.raises(ValueError, match="numWorkers=-1"):
        task.run(makeExposure(), numWorkers=-1)
    # backend='dask' without a client: tests/mapreduce/test_facade.py
    # (this module keeps one running).


INTERRUPT_SCRIPT = """
import sys, numpy as np
sys.path.insert(0, {testsDir!r})
import imagemapper as im
from mappers_for_tests import PidRecordingMapper
config = im.ImageMapReduceConfig()
config.mapper.retarget(PidRecordingMapper)
config.mapper.pidDir = {pidDir!r}
config.scaleByFwhm = False
config.cellSizeX = config.cellSizeY = 8.0
config.backend = {backend!r}
config.numWorkers = 2
config.progress = False
exp = im.Exposure.fromArrays(np.zeros((200, 200), np.float32))
print("started", flush=True)
try:
    im.ImageMapReduceTask(config).run(exp)
except KeyboardInterrupt:
    print("interrupted", flush=True)
    sys.exit(130)
"""


@pytest.mark.parametrize("backend", ["processes", "threads"])
def test_ctrl_c_stops_promptly_and_leaves_no_worker(tmp_path, backend, testsDir):
    import signal
    import subprocess
    import sys
    import time

    pidDir = tmp_path / "pids"
    pidDir.mkdir()
    script = INTERRUPT_SCRIPT.format(testsDir=testsDir, pidDir=str(pidDir), backend=backend)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "started"
    deadline = time.monotonic() + 60
    while not any(pidDir.iterdir()):  # wait until workers are busy
        assert time.monotonic() < deadline, "workers never started"
        time.sleep(0.05)
    time.sleep(0.3)
    proc.send_signal(signal.SIGINT)
    # A hang would raise TimeoutExpired here (400 cells of 0.2 s would take 40 s).
    out, _ = proc.communicate(timeout=20)
    assert proc.returncode == 130 and "interrupted" in out
    time.sleep(0.5)
    workerPids = {int(p.name) for p in pidDir.iterdir()} - {proc.pid}
    alive = []
    for pid in workerPids:
        try:
            os.kill(pid, 0)
            alive.append(pid)
        except ProcessLookupError:
            pass
    assert not alive, f"worker processes still running: {alive}"


class BadThenFailingMapper(im.ImageMapper):
    """Adds 1; returns a result without an exposure on the cell whose box
    starts at ``badAt`` and raises on the ones that start at ``failAt``."""

    _DefaultName = "badThenFailing"
    badAt: tuple[int, int] = (0, 0)
    failAt: frozenset = frozenset()

    def run(self, subExposure, expandedSubExposure, fullBBox, **kwargs):
        b = subExposure.getBBox()
        if (b.getMinX(), b.getMinY()) == self.badAt:
            return im.Struct(subExposure="not an exposure")
        if (b.getMinX(), b.getMinY()) in self.failAt:
            raise ZeroDivisionError("planted failure")
        out = subExposure.clone()
        out.maskedImage += 1.0
        return im.Struct(subExposure=out)


@pytest.mark.parametrize("backend", ["serial", "threads"])
def test_errors_come_in_cell_order_while_the_stitch_runs_behind(backend):
    # Serial runs stitch chunk k while mapping chunk k + 1: a bad result in an
    # early chunk must still be the error raised, not the mapper failure of a
    # later chunk that was mapped meanwhile (the threads backend, which
    # stitches in the caller's thread, is the reference).
    exposure = makeExposure(160, 160)
    task = im.ImageMapReduceTask(makeConfig(BadThenFailingMapper))
    task._generateGrid(exposure)
    # Cell 0 is bad; every cell after the first chunk fails (the next chunk
    # is mapped while the first is stitched).
    from imagemapper.mapreduce._executors import chooseChunkSize

    size = chooseChunkSize(len(task.boxes0), 1)
    first = task.boxes0[0]
    Mapper = type(
        "M", (BadThenFailingMapper,),
        {"badAt": (first.getMinX(), first.getMinY()),
         "failAt": frozenset((b.getMinX(), b.getMinY()) for b in task.boxes0[size:])},
    )  # fmt: skip
    config = makeConfig(Mapper, backend=backend, numWorkers=1)
    with pytest.raises(TypeError, match=r"cell 0\b") as info:
        im.ImageMapReduceTask(config).run(exposure)
    assert not isinstance(info.value, im.MapperError)
    # Without the bad cell, the later failure is what is raised.
    Mapper.badAt = (-1, -1)
    with pytest.raises(im.MapperError, match="planted"):
        im.ImageMapReduceTask(config).run(exposure)


def test_stitch_behind_runs_calls_in_order_on_one_thread_and_raises_in_order():
    import threading

    from imagemapper.mapreduce._executors import StitchBehind

    seen = []

    def record(k):
        seen.append((k, threading.current_thread().name))

    def fail(k):
        raise KeyError(k)

    with StitchBehind(True) as behind:
        for k in range(20):
            behind.call(record, k)
    assert [k for k, _ in seen] == list(range(20))
    names = {n for _, n in seen}
    assert len(names) == 1 and names != {threading.current_thread().name}
    # An error surfaces at the next call (before it runs) or at the exit.
    seen.clear()
    with pytest.raises(KeyError, match="3"), StitchBehind(True) as behind:
        behind.call(fail, 3)
        behind.call(record, 4)
    assert seen == []
    with pytest.raises(KeyError, match="5"), StitchBehind(True) as behind:
        behind.call(fail, 5)
    # An error of the caller wins; the pending call is waited for, its own
    # error dropped.
    with pytest.raises(RuntimeError, match="caller"), StitchBehind(True) as behind:
        behind.call(fail, 6)
        raise RuntimeError("caller")
    # Not enabled: the calls run at once in the caller's thread.
    seen.clear()
    with StitchBehind(False) as behind:
        behind.call(record, 7)
        assert seen == [(7, threading.current_thread().name)]
