"""Python API of the Rust-backed geometry (lsst.geom semantics)."""

from __future__ import annotations

import copy
import pickle

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import imagemapper as im

P, E, B = im.Point2I, im.Extent2I, im.Box2I


def pixelset(b):
    if b.isEmpty():
        return set()
    return {
        (x, y)
        for x in range(b.getMinX(), b.getMaxX() + 1)
        for y in range(b.getMinY(), b.getMaxY() + 1)
    }


boxes = st.one_of(
    st.just(B()),
    st.builds(
        lambda x, y, w, h: B(P(x, y), E(w, h)),
        st.integers(-15, 15),
        st.integers(-15, 15),
        st.integers(0, 9),
        st.integers(0, 9),
    ),
)


def test_inclusive_accessors():
    b = B(P(2, 3), P(11, 7))
    assert (b.getWidth(), b.getHeight(), b.getArea()) == (10, 5, 50)
    assert b.getBegin() == P(2, 3) and b.getEnd() == P(12, 8) and b.getMax() == P(11, 7)
    assert (b.getBeginX(), b.getEndX(), b.getBeginY(), b.getEndY()) == (2, 12, 3, 8)
    assert b.getDimensions() == E(10, 5)
    assert b.getCenter() == im.Point2D(6.5, 5.0)
    assert b.getCorners() == [P(2, 3), P(11, 3), P(11, 7), P(2, 7)]
    assert B(P(2, 3), E(10, 5)) == b
    assert B(b) == b and B(b) is not b
    assert (b.width, b.height, b.area, b.minX, b.maxY) == (10, 5, 50, 2, 7)


def test_invert_and_empty():
    assert B(P(5, 5), P(1, 1)) == B(P(1, 1), P(5, 5))
    assert B(P(5, 5), P(1, 1), invert=False).isEmpty()
    assert B(P(5, 5), E(-3, 2)) == B(P(3, 5), P(5, 6))
    assert B(P(5, 5), E(0, 2)) == B()
    e = B()
    e.grow(3)
    e.shift(E(2, 2))
    assert e.isEmpty() and e == B()
    c = B(P(0, 0), E(4, 4))
    c.clip(B(P(10, 10), E(2, 2)))
    assert c.isEmpty() and c == B()
    assert repr(B()) == "Box2I()"


def test_in_place_and_new_box_methods():
    b = B(P(0, 0), E(4, 4))
    g = b.dilatedBy(2)
    assert b == B(P(0, 0), E(4, 4)) and g == B(P(-2, -2), E(8, 8))
    b.grow(E(1, 2))
    assert b == B(P(-1, -2), E(6, 8))
    b.shift(E(1, 2))
    assert b == B(P(0, 0), E(6, 8))
    b.include(P(10, -1))
    assert b == B(P(0, -1), P(10, 7))
    b.include(B(P(-3, 0), E(1, 1)))
    assert b.getMinX() == -3
    assert b.erodedBy(1) == B(P(-2, 0), P(9, 6))
    assert b.shiftedBy(E(5, 0)).getMinX() == 2
    assert b.clippedTo(B(P(0, 0), E(2, 2))) == B(P(0, 0), E(2, 2))


def test_contains_overlaps():
    b = B(P(0, 0), E(10, 10))
    assert b.contains(P(0, 0)) and b.contains(P(9, 9)) and not b.contains(P(10, 9))
    assert b.contains((5, 5))
    assert b.contains(B(P(2, 2), E(3, 3))) and not b.contains(B(P(8, 8), E(3, 3)))
    assert b.contains(B())  # empty boxes are contained in every box
    assert not B().contains(P(0, 0))
    assert b.overlaps(B(P(9, 9), E(5, 5))) and not b.overlaps(B(P(10, 0), E(5, 5)))
    assert not b.overlaps(B())


def test_slices_into_numpy():
    parent = B(P(10, 20), E(30, 40))
    arr = np.arange(40 * 30).reshape(40, 30)
    child = B(P(12, 25), E(3, 2))
    sy, sx = child.slices(parent)
    assert arr[sy, sx].shape == (2, 3)
    assert arr[sy, sx][0, 0] == arr[25 - 20, 12 - 10]
    with pytest.raises(ValueError, match="not contained"):
        B(P(0, 0), E(5, 5)).slices(parent)


def test_pickle_copy_repr_and_errors():
    b = B(P(-3, 4), E(7, 2))
    for obj in (b, B(), P(1, -2), E(3, 4), im.Point2D(0.5, -1.25)):
        assert pickle.loads(pickle.dumps(obj)) == obj
    c = copy.copy(b)
    c.grow(1)
    assert c != b
    assert eval(repr(b), {"Box2I": B, "Point2I": P, "Extent2I": E}) == b
    assert P(1, 2) + E(3, 4) == P(4, 6)
    assert P(4, 6) - P(1, 2) == E(3, 4)
    assert tuple(P(3, 4)) == (3, 4) and list(E(5, 6)) == [5, 6]
    assert hash(P(1, 2)) == hash(P(1, 2))
    with pytest.raises(TypeError, match="Box2I"):
        B(1, 2, 3)
    with pytest.raises(ValueError, match="32-bit"):
        B(P(-(2**31), 0), P(2**31 - 1, 0))
    with pytest.raises(IndexError):
        P(1, 2)[2]


@given(boxes, boxes)
def test_clip_include_overlap_match_pixel_sets(a, b):
    c = B(a)
    c.clip(b)
    assert pixelset(c) == pixelset(a) & pixelset(b)
    assert a.overlaps(b) == bool(pixelset(a) & pixelset(b))
    assert a.contains(b) == (pixelset(b) <= pixelset(a))
    u = B(a)
    u.include(b)
    assert pixelset(a) | pixelset(b) <= pixelset(u)


@given(boxes, st.integers(-4, 4), st.integers(-6, 6), st.integers(-6, 6))
def test_grow_and_shift_match_pixel_sets(a, g, dx, dy):
    s = a.shiftedBy(E(dx, dy))
    assert pixelset(s) == {(x + dx, y + dy) for x, y in pixelset(a)}
    gr = a.dilatedBy(g)
    if a.isEmpty() or a.getWidth() + 2 * g <= 0 or a.getHeight() + 2 * g <= 0:
        assert gr.isEmpty()
    else:
        assert gr.getArea() == (a.getWidth() + 2 * g) * (a.getHeight() + 2 * g)
