"""``imagemapper._core.generate_grid`` against a naive numpy reimplementation
of LSST ``ImageMapReduceTask._generateGrid`` (same numpy calls: ``rint``,
``linspace``, ``arange``, ``floor``), box list for box list."""

from __future__ import annotations

import itertools
import math
from fractions import Fraction

import numpy as np
import pytest

import imagemapper as im
from imagemapper import _core

Box = tuple[int, int, int, int]  # (minX, minY, maxX, maxY), inclusive
EMPTY = None


class _Invalid(Exception):
    """The reference rejects the configuration (ValueError in the core)."""


def _clip(a: Box | None, b: Box | None) -> Box | None:
    if a is None or b is None:
        return None
    r = (max(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), min(a[3], b[3]))
    return r if r[2] >= r[0] and r[3] >= r[1] else None


def _include(a: Box | None, x: int, y: int) -> Box:
    if a is None:
        return (x, y, x, y)
    return (min(a[0], x), min(a[1], y), max(a[2], x), max(a[3], y))


def _width(a: Box | None) -> int:
    return 0 if a is None else a[2] - a[0] + 1


def _height(a: Box | None) -> int:
    return 0 if a is None else a[3] - a[1] + 1


def _even(bb: Box | None, frame: Box) -> Box | None:
    if _width(bb) % 2 == 1:
        assert bb is not None
        bb = _clip(_include(bb, bb[2] + 1, bb[3]), frame)
        if _width(bb) % 2 == 1:
            assert bb is not None
            bb = _clip(_include(bb, bb[0] - 1, bb[3]), frame)
    if _height(bb) % 2 == 1:
        assert bb is not None
        bb = _clip(_include(bb, bb[2], bb[3] + 1), frame)
        if _height(bb) % 2 == 1:
            assert bb is not None
            bb = _clip(_include(bb, bb[2], bb[1] - 1), frame)
    if _width(bb) % 2 == 1 or _height(bb) % 2 == 1:
        raise RuntimeError("Cannot make bounding box even-sized")
    return bb


def reference_grid(
    frame: Box,
    cell_size: tuple[float, float],
    grid_step: tuple[float, float],
    border_size: tuple[float, float],
    adjust: str = "spacing",
    centroids_x: list[float] | None = None,
    centroids_y: list[float] | None = None,
    fwhm_scale: float | None = None,
    force_even_sized: bool = False,
) -> tuple[list[Box], list[Box]]:
    """The LSST rules, written out with numpy and tuples."""
    x0, y0, x1, y1 = frame
    width, height = x1 - x0 + 1, y1 - y0 + 1
    if min(border_size) < 0:
        raise _Invalid
    if centroids_x:
        assert centroids_y is not None
        cell_x, cell_y = (int(np.rint(v)) for v in cell_size)
        border_x, border_y = (int(np.rint(v)) for v in border_size)
        centroids = list(zip(centroids_x, centroids_y, strict=True))
    else:

        def rescale(val: float) -> int:
            if fwhm_scale is not None:
                return int(np.rint(val * fwhm_scale).astype(int))
            return int(np.rint(val).astype(int))

        cell_x, cell_y = (rescale(v) for v in cell_size)
        step_x, step_y = (rescale(v) for v in grid_step)
        border_x, border_y = (rescale(v) for v in border_size)
        if step_x < 1 or step_y < 1 or (adjust != "size" and min(cell_x, cell_y) < 1):
            raise _Invalid
        xs: np.ndarray
        ys: np.ndarray
        if adjust == "spacing":
            xs = np.linspace(cell_x // 2, width - cell_x // 2, width // cell_x + 1)
            ys = np.linspace(cell_y // 2, height - cell_y // 2, height // cell_y + 1)
        elif adjust == "size":
            cell_x, cell_y = step_x, step_y
            xs = np.arange(cell_x // 2, width + cell_x // 2, cell_x)
            ys = np.arange(cell_y // 2, height + cell_y // 2, cell_y)
            cell_x += 1
            cell_y += 1
        else:
            xs = np.arange(cell_x // 2, width + cell_x // 2, step_x)
            ys = np.arange(cell_y // 2, height + cell_y // 2, step_y)
        centroids = [(float(x), float(y)) for x in xs for y in ys]

    t0: Box | None = None
    if cell_x != 0 and cell_y != 0:
        t0 = (x0, y0, x0 + cell_x - 1, y0 + cell_y - 1)
    t1 = (
        None
        if t0 is None
        else (t0[0] - border_x, t0[1] - border_y, t0[2] + border_x, t0[3] + border_y)
    )
    half_w, half_h = _width(t0) // 2, _height(t0) // 2

    def shift(b: Box | None, dx: int, dy: int) -> Box | None:
        return None if b is None else (b[0] + dx, b[1] + dy, b[2] + dx, b[3] + dy)

    boxes0: list[Box] = []
    boxes1: list[Box] = []
    for x, y in centroids:
        dx = int(np.floor(x)) - half_w
        dy = int(np.floor(y)) - half_h
        bb0 = _clip(shift(t0, dx, dy), frame)
        if force_even_sized:
            bb0 = _even(bb0, frame)
        bb1 = _clip(shift(t1, dx, dy), frame)
        if force_even_sized:
            bb1 = _even(bb1, frame)
        if _width(bb0) * _height(bb0) > 1 and _width(bb1) * _height(bb1) > 1:
            assert bb0 is not None and bb1 is not None
            boxes0.append(bb0)
            boxes1.append(bb1)
    return boxes0, boxes1


def _tuple(b: _core.Box2I) -> Box:
    return (b.getMinX(), b.getMinY(), b.getMaxX(), b.getMaxY())


def _frame(x0: int, y0: int, w: int, h: int) -> _core.Box2I:
    return _core.Box2I(_core.Point2I(x0, y0), _core.Extent2I(w, h))


def _compare(frame: Box, **kw: object) -> str:
    """Run both; return "ok", "invalid" or "runtime" (asserting they agree)."""
    x0, y0, x1, y1 = frame
    bbox = _frame(x0, y0, x1 - x0 + 1, y1 - y0 + 1)
    try:
        want = reference_grid(frame, **kw)  # type: ignore[arg-type]
    except _Invalid:
        with pytest.raises(ValueError):
            _core.generate_grid(bbox, **kw)  # type: ignore[arg-type]
        return "invalid"
    except RuntimeError:
        with pytest.raises(RuntimeError, match="even-sized"):
            _core.generate_grid(bbox, **kw)  # type: ignore[arg-type]
        return "runtime"
    got0, got1 = _core.generate_grid(bbox, **kw)  # type: ignore[arg-type]
    assert [_tuple(b) for b in got0] == want[0], kw
    assert [_tuple(b) for b in got1] == want[1], kw
    return "ok"


# ------------------------------------------------------------------ sweeps


@pytest.mark.parametrize("adjust", ["spacing", "size", "none"])
@pytest.mark.parametrize("force_even_sized", [False, True])
@pytest.mark.parametrize("fwhm_scale", [None, 1.7, 2.5])
def test_sweep_matches_reference(
    adjust: str, force_even_sized: bool, fwhm_scale: float | None
) -> None:
    frames = [(0, 0, 99, 63), (-17, 40, 81, 40 + 36), (1000, -3000, 1000 + 64, -3000 + 95)]
    sizes = [1.5, 2.5, 3.0, 7.3, 16.0, 33.5, 64.0]
    outcomes = set()
    for frame, cx, cy, step, border in itertools.product(
        frames, sizes, [4.0, 15.5], [3.0, 5.5, 12.0], [0.0, 2.5, 6.0]
    ):
        outcomes.add(
            _compare(
                frame,
                cell_size=(cx, cy),
                grid_step=(step, step + 1.0),
                border_size=(border, border / 2),
                adjust=adjust,
                fwhm_scale=fwhm_scale,
                force_even_sized=force_even_sized,
            )
        )
    assert "ok" in outcomes


def test_random_configs_match_reference() -> None:
    rng = np.random.default_rng(20240611)
    counts = {"ok": 0, "invalid": 0, "runtime": 0}
    for _ in range(1500):
        x0, y0 = (int(v) for v in rng.integers(-500, 500, 2))
        w, h = (int(v) for v in rng.integers(1, 300, 2))
        frame = (x0, y0, x0 + w - 1, y0 + h - 1)

        def size() -> float:
            r = rng.random()
            if r < 0.3:
                return float(rng.integers(1, 80))
            if r < 0.5:
                return float(rng.integers(1, 160)) / 2
            return float(rng.uniform(0.5, 80))

        kw: dict[str, object] = {
            "cell_size": (size(), size()),
            "grid_step": (size(), size()),
            "border_size": (float(rng.uniform(0, 20)), float(rng.integers(0, 40)) / 2),
            "adjust": str(rng.choice(["spacing", "size", "none"])),
            "fwhm_scale": None if rng.random() < 0.5 else float(rng.uniform(0.5, 5)),
            "force_even_sized": bool(rng.random() < 0.5),
        }
        if rng.random() < 0.2:
            n = int(rng.integers(1, 12))
            kw["centroids_x"] = [float(v) for v in rng.uniform(-50, 350, n)]
            kw["centroids_y"] = [float(v) for v in rng.uniform(-50, 350, n)]
        counts[_compare(frame, **kw)] += 1
    assert counts["ok"] > 1000, counts


def test_linspace_float_rounding_matches_numpy() -> None:
    """Widths where numpy's float64 linspace gives values just below an
    integer that the exact rational would reach: floor must follow numpy."""
    hits = 0
    for w in range(2, 400):
        for c in range(1, min(w, 40) + 1):
            n = w // c + 1
            lin = np.linspace(c // 2, w - c // 2, n)
            if n == 1:
                continue
            start, stop = c // 2, w - c // 2
            exact = [start + Fraction(i * (stop - start), n - 1) for i in range(n)]
            if any(math.floor(a) != math.floor(b) for a, b in zip(lin, exact, strict=True)):
                hits += 1
                _compare(
                    (0, 0, w - 1, 7),
                    cell_size=(c, 8.0),
                    grid_step=(1.0, 1.0),
                    border_size=(0.0, 0.0),
                )
    assert hits > 0  # the sweep exercises the float64 subtlety


def test_explicit_centroids() -> None:
    frame = (10, 10, 29, 29)
    kw: dict[str, object] = {
        "cell_size": (2.5, 3.5),
        "grid_step": (0.0, 1e300),  # unused
        "border_size": (0.5, 1.5),
        "centroids_x": [3.7, 0.0, -0.5, 19.99],
        "centroids_y": [2.2, 0.0, 9.9, 19.99],
        "fwhm_scale": 10.0,  # ignored with centroids
    }
    assert _compare(frame, **kw) == "ok"
    got0, _ = _core.generate_grid(_frame(10, 10, 20, 20), **kw)  # type: ignore[arg-type]
    # rint(2.5) = 2, rint(3.5) = 4; (3.7, 2.2) -> offset (3 - 1, 2 - 2) from (10, 10).
    assert _tuple(got0[0]) == (12, 10, 13, 13)


def test_large_grid_count() -> None:
    boxes0, boxes1 = _core.generate_grid(
        _frame(0, 0, 4096, 4096), cell_size=(64, 64), grid_step=(32, 32), border_size=(8, 8)
    )
    assert len(boxes0) == len(boxes1) == 65 * 65
    assert _tuple(boxes0[0]) == (0, 0, 63, 63)
    assert _tuple(boxes1[-1]) == (4024, 4024, 4095, 4095)


def test_defaults_and_keyword_only() -> None:
    bbox = _frame(0, 0, 10, 10)
    a = _core.generate_grid(bbox, cell_size=(4, 4), grid_step=(2, 2), border_size=(1, 1))
    b = _core.generate_grid(
        bbox, cell_size=(4, 4), grid_step=(2, 2), border_size=(1, 1), adjust="spacing"
    )
    assert a == b
    with pytest.raises(TypeError):
        _core.generate_grid(bbox, (4, 4), (2, 2), (1, 1))  # type: ignore[misc]


# ------------------------------------------------------------------ errors


def _grid(**kw: object) -> tuple[list[_core.Box2I], list[_core.Box2I]]:
    args: dict[str, object] = {
        "cell_size": (4.0, 4.0),
        "grid_step": (2.0, 2.0),
        "border_size": (1.0, 1.0),
    }
    args.update(kw)
    bbox = args.pop("bbox", _frame(0, 0, 10, 10))
    return _core.generate_grid(bbox, **args)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        ({"bbox": _core.Box2I()}, "exposure box is empty"),
        (
            {"cell_size": (0.2, 4.0), "fwhm_scale": 2.0},
            r"cellSizeX = 0\.2 x FWHM 2\.0 rounds to 0 pixels; expected at least 1",
        ),
        ({"grid_step": (2.0, 0.5)}, r"gridStepY = 0\.5 rounds to 0 pixels"),
        ({"border_size": (-1.0, 0.0)}, r"borderSizeX = -1\.0 is negative"),
        ({"cell_size": (4.0, float("nan"))}, r"cellSizeY = NaN is not finite"),
        ({"grid_step": (float("inf"), 1.0)}, r"gridStepX = inf is not finite"),
        ({"fwhm_scale": 0.0}, r"fwhm_scale = 0\.0"),
        ({"fwhm_scale": float("nan")}, r"fwhm_scale = NaN"),
        ({"cell_size": (1e12, 4.0)}, r"cellSizeX = .* 32-bit"),
        ({"adjust": "Spacing"}, r'adjustGridOption = "Spacing".*"spacing", "size", "none"'),
        ({"centroids_x": [1.0, 2.0, 3.0], "centroids_y": [1.0, 2.0]}, r"3 values.*has 2"),
        ({"centroids_x": [1.0]}, "centroids_x given without centroids_y"),
        ({"centroids_y": [1.0]}, "centroids_y given without centroids_x"),
        (
            {"centroids_x": [1.0, float("nan")], "centroids_y": [1.0, 2.0]},
            r"cellCentroidsX\[1\] = NaN",
        ),
    ],
)
def test_value_errors(kw: dict[str, object], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        _grid(**kw)


def test_runtime_error_when_even_sizing_impossible() -> None:
    bbox = _frame(10, 20, 5, 4)
    kw: dict[str, object] = {
        "cell_size": (6.0, 2.0),
        "grid_step": (6.0, 2.0),
        "border_size": (0.0, 0.0),
    }
    assert _core.generate_grid(bbox, **kw)[0]  # type: ignore[arg-type]
    with pytest.raises(
        RuntimeError, match=r"Cannot make bounding box .* even-sized .*dimensions=\(5, 4\)"
    ):
        _core.generate_grid(bbox, force_even_sized=True, **kw)  # type: ignore[arg-type]


def test_empty_centroid_lists_generate_the_grid() -> None:
    a = _grid(centroids_x=[], centroids_y=[])
    assert a == _grid()
    assert len(a[0]) > 0


def test_cell_slices_of_a_chunk_equal_each_box_slices():
    # The one-call slices of a chunk against Box2I.slices per box (the
    # per-cell path), with cells outside the parent and cells not inside
    # their expanded cell mixed in: those are None.
    from imagemapper import _core
    from imagemapper.mapreduce._cells import CopyOnWriteSource

    rng = np.random.default_rng(3)
    parent = im.Box2I(im.Point2I(-5, 7), im.Extent2I(60, 40))
    boxes0, boxes1, expected = [], [], []
    for _ in range(300):
        x, y = int(rng.integers(-8, 45)), int(rng.integers(4, 40))
        w, h = (int(v) for v in rng.integers(5, 15, 2))
        b1 = im.Box2I(im.Point2I(x, y), im.Extent2I(w, h))
        dx, dy = (int(v) for v in rng.integers(-1, 3, 2))
        b0 = im.Box2I(im.Point2I(x + dx, y + dy), im.Extent2I(max(1, w - 4), max(1, h - 4)))
        boxes0.append(b0)
        boxes1.append(b1)
        if parent.contains(b1) and b1.contains(b0):
            expected.append((*b1.slices(parent), *b0.slices(parent)))
        else:
            expected.append(None)
    assert 50 < sum(e is None for e in expected) < 250
    assert _core.cell_slices(parent, boxes0, boxes1) == expected
    with pytest.raises(ValueError, match="2 cells but 1 expanded cells"):
        _core.cell_slices(parent, boxes0[:2], boxes1[:1])
    # Through the cells' source: anything that is not a box leaves each
    # cell to report itself.
    exp = im.Exposure.fromArrays(
        np.zeros((40, 60), np.float32), np.zeros((40, 60), np.int32),
        np.ones((40, 60), np.float32), xy0=(-5, 7),
    )  # fmt: skip
    src = CopyOnWriteSource(im.Exposure(exp, parent, writeable=False))
    chunk = [(i, b0, b1) for i, (b0, b1) in enumerate(zip(boxes0, boxes1))]
    assert src.slicesOf(chunk) == expected
    assert src.slicesOf([(0, "not a box", boxes1[0])]) == [None]
    bad = next(i for i, e in enumerate(expected) if e is None)
    with pytest.raises(ValueError, match="is not contained in the Exposure's bbox"):
        src.pair(boxes0[bad], boxes1[bad], None)
