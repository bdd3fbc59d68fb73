"""The process backend's results come back through shared memory (result
slots, `imagemapper.mapreduce._shm`): same bits as serial, any result type,
results the caller keeps are never overwritten, no segment left behind."""

from __future__ import annotations

import glob
import os
import pickle

import numpy as np
import pytest

import imagemapper as im
from imagemapper.mapreduce._shm import ResultSlots, SlotWriter
from imagemapper.testing import assertExposuresEqual
from mappers_for_tests import (
    AddOneMapper,
    ExtrasMapper,
    FailingMapper,
    WideResultMapper,
    cellExtras,
)

pytestmark = pytest.mark.skipif(os.name != "posix", reason="result slots need POSIX shared memory")


def makeExposure(width=120, height=100, seed=5):
    rng = np.random.default_rng(seed)
    image = rng.normal(10.0, 2.0, size=(height, width)).astype(np.float32)
    variance = rng.uniform(1.0, 2.0, size=(height, width)).astype(np.float32)
    mask = (rng.uniform(size=(height, width)) < 0.02).astype(np.int32)
    return im.Exposure.fromArrays(image, mask, variance, xy0=(4, -7))


def makeConfig(mapper, op, **fields):
    config = im.ImageMapReduceConfig()
    config.mapper.retarget(mapper)
    config.reducer.reduceOperation = op
    config.scaleByFwhm = False
    config.cellSizeX = config.cellSizeY = 16.0
    config.gridStepX = config.gridStepY = 10.0
    config.borderSizeX = config.borderSizeY = 2.0
    config.progress = False
    config.backend = "processes"
    config.numWorkers = 2
    for k, v in fields.items():
        setattr(config, k, v)
    return config


def ours() -> list[str]:
    """This process's segments in /dev/shm: the input's planes
    (imagemapper_<pid>_...) and the result slots (imagemapper_r<pid>_...)."""
    pid = os.getpid()
    return sorted(
        glob.glob(f"/dev/shm/imagemapper_{pid}_*") + glob.glob(f"/dev/shm/imagemapper_r{pid}_*")
    )


def slotsOf(task):
    return task._poolKeeper.pool._slots


@pytest.mark.parametrize("op", ["copy", "average"])
def test_stitched_results_come_through_slots_with_serial_bits(op):
    exposure = makeExposure()
    ref = im.ImageMapReduceTask(makeConfig(AddOneMapper, op, backend="serial")).run(exposure)
    # Independent check of the reference: the mapper adds 1 to every pixel.
    np.testing.assert_array_equal(ref.exposure.image.array, exposure.image.array + np.float32(1))
    with im.ImageMapReduceTask(makeConfig(AddOneMapper, op)) as task:
        assertExposuresEqual(task.run(exposure).exposure, ref.exposure)
        slots = slotsOf(task)
        loaded, piped = slots.loaded, slots.piped
        assert loaded > 0 and slots.made > 0
        # Warm runs: every chunk through a slot, and the slots are reused.
        # How many exist at once depends on how the chunks' timing falls
        # (the chunks in flight and those waiting to be stitched), but never
        # more than the pool's limit, and none is retired: 3 more runs of
        # more chunks each than the limit go through at most `limit` slots.
        nChunks = _nChunks(task)
        assert nChunks > slots.limit
        for _ in range(3):
            assertExposuresEqual(task.run(exposure).exposure, ref.exposure)
        assert slots.piped == piped
        assert slots.loaded - loaded == 3 * nChunks
        assert slots.made <= slots.limit and slots.retired == 0
        assert ours()  # held by the warm pool
    assert ours() == []


def _nChunks(task):
    from imagemapper.mapreduce._executors import chooseChunkSize

    n = len(task.boxes0)
    return -(-n // chooseChunkSize(n, 2))


def test_results_the_caller_keeps_are_never_overwritten():
    # reduceOperation "none" keeps every cell's result: many more chunks
    # than slots, so the pool must retire the slots the results live in
    # instead of reusing them.
    exposure = makeExposure(200, 180)
    serial = im.ImageMapReduceTask(makeConfig(AddOneMapper, "none", backend="serial"))
    ref = serial.run(exposure).result
    task = im.ImageMapReduceTask(makeConfig(AddOneMapper, "none"))
    got = task.run(exposure).result
    slots = slotsOf(task)
    assert slots.retired > 0 and slots.loaded > slots.limit
    again = task.run(exposure).result  # a second run may not disturb the first's results
    assert len(got) == len(ref) == len(again) > 40
    for a, b, c in zip(got, ref, again):
        assertExposuresEqual(a.subExposure, b.subExposure)
        assertExposuresEqual(c.subExposure, b.subExposure)
        np.testing.assert_array_equal(
            a.subExposure.image.array, exposure[b.subExposure.getBBox()].image.array + 1
        )
    task.close()
    # Closed: nothing left in /dev/shm, and the results stay readable (their
    # pages live as long as the arrays) and writable, as unpickled ones are.
    assert ours() == []
    for a, b in zip(got, ref):
        assertExposuresEqual(a.subExposure, b.subExposure)
    got[0].subExposure.image.array[0, 0] = 7.0
    assert got[0].subExposure.image.array[0, 0] == 7.0


def test_any_result_type_comes_back_equal():
    exposure = makeExposure(64, 48)
    with im.ImageMapReduceTask(makeConfig(ExtrasMapper, "none")) as task:
        got = task.run(exposure).result
        assert slotsOf(task).loaded > 0
    boxes = [r.box for r in got]
    assert boxes == task.boxes0
    for r in got:
        box = r.subExposure.getBBox()
        want = cellExtras(r.index, box)
        assert r.label == want["label"] and r.box == box and r.index == want["index"]
        for key in ("big", "fortran", "strided", "readOnly", "bigEndian", "records", "small"):
            a, b = getattr(r, key), want[key]
            assert a.dtype == b.dtype and a.shape == b.shape, key
            np.testing.assert_array_equal(a, b, err_msg=key)
        assert r.fortran.flags.f_contiguous
        assert r.objects.dtype == object and list(r.objects) == list(want["objects"])
        assert r.scalar == want["scalar"] and type(r.scalar) is np.float64
        assert r.zeroD.shape == () and r.zeroD == want["zeroD"]
        assert r.empty.shape == (0, 7) and r.empty.dtype == np.float32
        assert r.same[0] is r.same[1]
        np.testing.assert_array_equal(r.same[0], want["big"])
        np.testing.assert_array_equal(
            r.subExposure.image.array, exposure[box].image.array * np.float32(2)
        )
    assert ours() == []


def test_results_larger_than_the_slot_grow_it():
    # float64 planes: 20 bytes per pixel, where the slots are first sized
    # from the float32 input (12): the first chunks come through the pipe,
    # then the slots are made larger. Cells of 256² (1.3 MB of results,
    # more than the smallest slot, 1 MiB).
    exposure = makeExposure(512, 512)
    big = dict(cellSizeX=256.0, cellSizeY=256.0, gridStepX=256.0, gridStepY=256.0)
    ref = im.ImageMapReduceTask(makeConfig(WideResultMapper, "copy", backend="serial", **big))
    refOut = ref.run(exposure).exposure
    np.testing.assert_array_equal(
        refOut.image.array, (exposure.image.array.astype(np.float64) * 3.0 + 0.5).astype(np.float32)
    )
    with im.ImageMapReduceTask(makeConfig(WideResultMapper, "copy", **big)) as task:
        assertExposuresEqual(task.run(exposure).exposure, refOut)
        slots = slotsOf(task)
        assert slots.piped > 0
        assert slots.perPixel >= 20
        piped = slots.piped
        assertExposuresEqual(task.run(exposure).exposure, refOut)
        assert slots.piped == piped  # the warm run: every chunk fits
    assert ours() == []


def test_failed_and_interrupted_runs_leave_no_segment():
    exposure = makeExposure()
    task = im.ImageMapReduceTask(makeConfig(FailingMapper, "average"))
    task.config.mapper.failCells = [exposure.getBBox().getMinX()]
    with pytest.raises(im.MapperError, match="planted failure"):
        task.run(exposure)
    # A failed run closes the pool it used: its segments are gone.
    assert ours() == []
    # The consumer stopping early (an error while stitching, Ctrl-C) too.
    task.config.mapper.failCells = []
    gen = task._iterOutcomes(
        exposure,
        task._cellList(exposure, False),
        False,
        {},
        task._executionOptions({}),
        None,
    )
    first = next(gen)
    assert first and ours()
    gen.close()
    assert ours() == []
    # The results handed out before stay valid.
    for index, ok, result in first:
        assert ok
        box = task.boxes0[index]
        np.testing.assert_array_equal(
            result.subExposure.image.array, exposure[box].image.array + np.float32(1)
        )
    task.close()


# ------------------------------------------------------- the slots themselves


def _roundTrip(slots, writer, owner, outcomes, want=1 << 20):
    slot = slots.take(owner, want)
    payload, need = writer.dump(outcomes, (slot.name, slot.size))
    assert payload is not None
    out = slots.load(slot, payload)
    slots.release(slot, need, 1)
    return slot, out


def test_a_slot_is_reused_only_when_nothing_refers_to_its_memory():
    slots, writer = ResultSlots(limit=2), SlotWriter()
    try:
        a = np.arange(10_000, dtype=np.float32)
        slot, out = _roundTrip(slots, writer, 1, [a])
        assert slot.refs() == slot.BASE + 1  # the one array made from it
        view = out[0][10:20]
        del out
        assert slot.busy()  # a view of a view still refers to it
        slot2, out2 = _roundTrip(slots, writer, 2, [a * 2])
        assert slot2 is not slot
        del view
        assert not slot.busy()
        del out2
        # Both free: the next chunk reuses one of them (no new segment).
        slot3, out3 = _roundTrip(slots, writer, 3, [a * 3])
        assert slot3 in (slot, slot2) and slots.made == 2
        np.testing.assert_array_equal(out3[0], a * 3)
        # The limit reached with every slot busy: the oldest busy one is
        # retired (unlinked) and its results stay intact.
        keep = out3
        _, out4 = _roundTrip(slots, writer, 4, [a * 4])  # the other free slot
        held = out4
        _, out5 = _roundTrip(slots, writer, 5, [a * 5])
        assert slots.retired == 1 and slots.made == 3
        np.testing.assert_array_equal(keep[0], a * 3)
        np.testing.assert_array_equal(held[0], a * 4)
        np.testing.assert_array_equal(out5[0], a * 5)
        assert slot3.name not in slots.names()
        assert not os.path.exists("/dev/shm/" + slot3.name)
    finally:
        slots.close()
        writer.keep([])
    assert ours() == []


def test_results_too_large_for_the_slot_are_refused_by_the_writer():
    slots, writer = ResultSlots(), SlotWriter()
    try:
        slot = slots.take(1, 1 << 20)
        big = np.zeros(300_000, np.float64)  # 2.4 MB > 1 MiB
        payload, need = writer.dump([big], (slot.name, slot.size))
        assert payload is None and need == big.nbytes
        # Nothing worth a slot (no large array): the pipe.
        payload, need = writer.dump([{"a": 1, "b": np.arange(3)}], (slot.name, slot.size))
        assert payload is None and need == 0
        # A slot's pickle cannot be loaded outside `load` (no silent garbage).
        payload, _ = writer.dump([np.ones(1000)], (slot.name, slot.size))
        with pytest.raises(pickle.UnpicklingError, match="shared memory"):
            pickle.loads(payload)
    finally:
        slots.close()
        writer.keep([])


@pytest.mark.parametrize("n", [0, 1, 7, 8, 9, 4096 + 3])
@pytest.mark.parametrize("dtype", [np.uint8, np.float32, np.float64])
def test_same_bytes_sees_every_changed_byte(n, dtype):
    # The warm pool's test for "the input changed": any byte, including
    # the tail after the last 8-byte word, a NaN payload and -0.0.
    from imagemapper.mapreduce._shm import sameBytes

    rng = np.random.default_rng(n)
    a = rng.integers(0, 255, size=n * np.dtype(dtype).itemsize, dtype=np.uint8).view(dtype)
    assert sameBytes(a, a.copy())
    for pos in {0, n // 2, n - 1} if n else ():
        for bit in (0, 7):
            b = a.copy()
            b.view(np.uint8)[pos * b.itemsize + (b.itemsize - 1 if bit else 0)] ^= 1 << bit
            assert not sameBytes(a, b), (pos, bit)
    if np.dtype(dtype).kind == "f" and n:
        z = np.zeros(n, dtype)
        neg = z.copy()
        neg[-1] = -0.0
        assert (z == neg).all() and not sameBytes(z, neg)


def test_a_timed_out_cell_leaves_no_segment():
    # A worker killed in the middle of a chunk (cellTimeout) is replaced;
    # its slot goes back to the pool, and closing the pool unlinks them all.
    from fault_mappers import HangMapper

    exposure = makeExposure(64, 48)
    ref = im.ImageMapReduceTask(makeConfig(HangMapper, "average", backend="serial"))
    ref.config.mapper.how = "raise"  # the same cell fails at once instead
    want = ref.run(exposure, onMapperError="mask").exposure
    task = im.ImageMapReduceTask(makeConfig(HangMapper, "average"))
    got = task.run(exposure, onMapperError="mask", cellTimeout=1.0).exposure
    assert task.metadata["numTimedOutCells"] == 1
    assert slotsOf(task).loaded > 0
    assertExposuresEqual(got, want)
    task.close()
    assert ours() == []


@pytest.mark.parametrize("reduce", ["none", "average"])
def test_map_reduce_on_arrays_through_slots(reduce, monkeypatch):
    # The numpy façade: func's plain arrays come back through slots, are
    # stitched (average) or all kept (none: far more chunks than slots).
    from imagemapper.mapreduce import _shm

    loads = []
    load = _shm.ResultSlots.load

    def counted(self, slot, payload):
        loads.append(slot.name)
        return load(self, slot, payload)

    monkeypatch.setattr(_shm.ResultSlots, "load", counted)
    image = np.random.default_rng(2).normal(size=(300, 260)).astype(np.float32)
    kw = dict(cellSize=40, gridStep=30, borderSize=2, reduce=reduce)
    ref = im.map_reduce(image, lambda a: a * np.float32(2) + np.float32(1), backend="serial", **kw)
    got = im.map_reduce(
        image,
        lambda a: a * np.float32(2) + np.float32(1),
        backend="processes",
        numWorkers=2,
        **kw,
    )
    assert len(loads) > 10
    if reduce == "none":
        assert len(got) == len(ref) > 60
        for a, b in zip(got, ref):
            assert a.bbox == b.bbox and a.slices == b.slices
            assert a.value.dtype == b.value.dtype
            np.testing.assert_array_equal(a.value, b.value)
            e = b.expandedBBox  # func saw the expanded cell
            expanded = image[e.getMinY() : e.getMaxY() + 1, e.getMinX() : e.getMaxX() + 1]
            np.testing.assert_array_equal(b.value, expanded * np.float32(2) + np.float32(1))
    else:
        np.testing.assert_array_equal(got, ref)
        np.testing.assert_allclose(ref, image * 2 + 1, rtol=1e-6)
    assert ours() == []
