"""Bad input (the Rust boundary): every one gives a clear error or a correct result, never a crash,
a hang or a silently wrong image (issue 7). Each test names the class of bad input it feeds
and checks what the user sees: the exception and a message naming the bad value and what
was expected, or the exact result.
"""

from __future__ import annotations

import numpy as np
import pytest

import imagemapper as im
import imagemapper.mappers
from bad_input_support import makeConfig, makeExposure, mapperOf, outsideCell
from imagemapper import _core

# --------------------------------------------------- the Rust boundary (FFI)


def test_rust_panic_becomes_runtime_error():
    # A panic inside the core must not surface as pyo3's PanicException
    # (a BaseException that `except Exception` does not catch).
    with pytest.raises(RuntimeError, match=r"internal error in imagemapper's Rust core.*boom"):
        _core._panic_for_tests("boom")
    try:
        _core._panic_for_tests("again")
    except Exception as err:  # the point of the test: a plain Exception
        assert type(err) is RuntimeError
    # The module still works afterwards.
    assert _core.generate_grid(
        im.Box2I(im.Point2I(0, 0), im.Extent2I(4, 4)),
        cell_size=(2, 2),
        grid_step=(2, 2),
        border_size=(0, 0),
    )


@pytest.mark.parametrize(
    ("expr", "match"),
    [
        (lambda: im.Point2I(2**31 - 1, 0) + im.Extent2I(1, 0), r"2147483647 \+ 1 does not fit"),
        (lambda: im.Point2I(-(2**31), 0) - im.Point2I(1, 0), r"-2147483648 - 1 does not fit"),
        (lambda: im.Point2I(0, -(2**31)) - im.Extent2I(0, 1), r"does not fit"),
        (lambda: -im.Extent2I(-(2**31), 0), r"0 - -2147483648 does not fit"),
        (lambda: im.Extent2I(2**16, 1) * 2**16, r"65536 \* 65536 does not fit"),
        (lambda: im.Extent2I(2**30, 0) + im.Extent2I(2**30, 0), r"does not fit"),
    ],
)
def test_integer_geometry_overflow_raises(expr, match):
    with pytest.raises(OverflowError, match=match):
        expr()


@pytest.mark.parametrize(
    "args",
    [(2**31, 0), (0, -(2**31) - 1), (2**63, 0)],
)
def test_out_of_range_coordinates(args):
    with pytest.raises(OverflowError):
        im.Point2I(*args)


def test_box_arithmetic_near_the_32_bit_edge():
    with pytest.raises(ValueError, match=r"32-bit"):
        im.Box2I(im.Point2I(0, 0), im.Extent2I(2**31 - 1, 1)).shift(im.Extent2I(5, 0))
    big = im.Box2I(im.Point2I(-(2**30), -(2**30)), im.Extent2I(2**31 - 1, 2**31 - 1))
    assert big.getArea() == (2**31 - 1) ** 2  # past 2**31 pixels, exact
    assert big.getMaxX() == 2**30 - 2
    corner = im.Box2I(im.Point2I(2**30 - 11, 2**30 - 21), im.Extent2I(10, 20))
    sy, sx = corner.slices(big)
    assert (sy.start, sx.start) == (2**31 - 21, 2**31 - 11)
    assert (sy.stop - sy.start, sx.stop - sx.start) == (20, 10)


def test_grid_over_a_box_past_2_31_pixels():
    # No pixel is allocated: the grid is computed on the box alone.
    frame = im.Box2I(im.Point2I(-(2**31), 7), im.Extent2I(2**31 - 1, 2**20))
    boxes0, boxes1 = _core.generate_grid(
        frame, cell_size=(2**27, 2**18), grid_step=(1, 1), border_size=(2**26, 100)
    )
    assert len(boxes0) == (frame.getWidth() // 2**27 + 1) * (2**20 // 2**18 + 1)
    for b0, b1 in zip(boxes0, boxes1):
        assert frame.contains(b1) and b1.contains(b0)
        sy, sx = b0.slices(frame)
        assert sx.start == b0.getMinX() - frame.getMinX()
        assert sy.start == b0.getMinY() - frame.getMinY()
    last = boxes0[-1]
    assert last.getMaxX() == frame.getMaxX() and last.getMaxY() == frame.getMaxY()
    assert last.slices(frame)[1].stop == frame.getWidth() > 2**30


def test_reducer_output_too_large_to_allocate():
    huge = im.Box2I(im.Point2I(0, 0), im.Extent2I(2**31 - 1, 2**20))
    with pytest.raises(MemoryError, match=r"cannot allocate the image plane of 1048576 x"):
        _core.Reducer("copy", huge, np.float64)


@pytest.mark.parametrize(
    ("kwargs", "exc", "match"),
    [
        (dict(op="median"), ValueError, r"reduceOperation \"median\" cannot be stitched"),
        (dict(dtype=np.complex64), TypeError, r"float64 or an integer type .*, got complex64"),
        (dict(dtype=np.int32), ValueError, r"integer pixels are image-only"),
        (dict(dtype="no such type"), TypeError, r"not a numpy dtype"),
        (
            dict(mask=np.zeros((4, 4), np.int64)),
            TypeError,
            r"output mask: expected .*int32, got int64",
        ),
        (dict(mask=np.zeros((4, 3), np.int32)), ValueError, r"mask has shape \(4, 3\)"),
        (dict(window="box"), ValueError, r"blend window \"box\" is unknown"),
        (dict(max_ramp_fraction=0.0), ValueError, r"ramp fraction 0 must be in \(0, 1\]"),
    ],
)
def test_reducer_argument_errors(kwargs, exc, match):
    args = dict(op="copy", dtype=np.float32, mask=np.zeros((4, 4), np.int32))
    args.update(kwargs)
    box = im.Box2I(im.Point2I(0, 0), im.Extent2I(4, 4))
    op, dtype = args.pop("op"), args.pop("dtype")
    with pytest.raises(exc, match=match):
        _core.Reducer(op, box, dtype, **args)


def test_rust_mapper_with_an_absurd_sigma_is_refused_not_aborted():
    # sigma = 1e12 used to ask for a 8e12-element kernel (the allocator
    # aborts the process, no exception); now it is a ValueError naming it.
    config = makeConfig(mapper=im.RustGaussianConvolveMapper, op="average")
    config.mapper.sigma = 1e12
    with pytest.raises(ValueError, match=r"sigma = 1000000000000 gives a kernel half-width"):
        im.ImageMapReduceTask(config).run(makeExposure())


@pytest.mark.parametrize("op", ["copy", "none"])
def test_worker_pool_is_shut_down_when_a_result_is_rejected(op):
    # The error is raised while stitching (or sorting) results, outside the
    # workers: the pool must be shut down before run() returns, not when the
    # generator is garbage-collected (which could happen on one of the pool's
    # own threads: "RuntimeError: cannot join current thread").
    import threading

    def boomOrOutside(s, e, f):
        if s.getBBox().getMinX() > 0:
            raise KeyError("late failure")
        return im.Struct(subExposure=outsideCell(s))

    mapper = mapperOf(boomOrOutside, "LateFailureMapper")
    task = im.ImageMapReduceTask(makeConfig(mapper=mapper, op=op, backend="threads", numWorkers=4))
    exposure = makeExposure(64, 64)
    # Keep the tracebacks (as a user inspecting the error does): they hold
    # the frames, so nothing is left to reference counting.
    with pytest.raises((ValueError, im.MapperError)) as first:
        task.run(exposure)
    with pytest.raises(im.MapperError) as second:
        task._runMapper(exposure)
    assert first.tb is not None and second.tb is not None
    alive = [t.name for t in threading.enumerate() if t.name.startswith("imagemapper")]
    assert alive == []
