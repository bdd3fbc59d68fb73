//! Integer and floating-point points, extents and inclusive integer boxes with
//! the semantics of `lsst.geom` (`Point2I`, `Point2D`, `Extent2I`, `Box2I`).
//!
//! Boxes are *inclusive*: a box with minimum `(0, 0)` and maximum `(9, 4)` is
//! 10 pixels wide and 5 pixels high. Every empty box is the same value
//! (minimum `(0, 0)`, dimensions `(0, 0)`), so empty boxes compare equal, and
//! operations on an empty box leave it empty.
//!
//! The types here are immutable `Copy` values; the in-place LSST operations
//! (`grow`, `shift`, `clip`, `include`) are the `*_by`/`*_to` methods that
//! return a new box, which the Python layer assigns back.

use std::ops::Range;

use crate::error::{Error, Result};

/// An integer point `(x, y)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Point2I {
    pub x: i32,
    pub y: i32,
}

/// A floating-point point `(x, y)`.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Point2D {
    pub x: f64,
    pub y: f64,
}

/// An integer extent (a width and a height, or an offset) `(x, y)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Extent2I {
    pub x: i32,
    pub y: i32,
}

impl Point2I {
    /// A point at `(x, y)`.
    pub const fn new(x: i32, y: i32) -> Self {
        Self { x, y }
    }
}

impl Point2D {
    /// A point at `(x, y)`.
    pub const fn new(x: f64, y: f64) -> Self {
        Self { x, y }
    }
}

impl Extent2I {
    /// An extent `(x, y)`.
    pub const fn new(x: i32, y: i32) -> Self {
        Self { x, y }
    }
    /// The same extent in both dimensions.
    pub const fn splat(v: i32) -> Self {
        Self { x: v, y: v }
    }
}

/// An inclusive integer box, as `lsst.geom.Box2I`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Box2I {
    min: Point2I,
    dims: Extent2I,
}

fn to_i32(v: i64, what: &str) -> Result<i32> {
    i32::try_from(v)
        .map_err(|_| Error::InvalidValue(format!("{what} {v} does not fit in a 32-bit integer")))
}

impl Box2I {
    /// The empty box.
    pub const EMPTY: Box2I = Box2I {
        min: Point2I::new(0, 0),
        dims: Extent2I::new(0, 0),
    };

    /// The empty box.
    pub const fn empty() -> Self {
        Self::EMPTY
    }

    /// A box from its inclusive minimum and maximum corners.
    ///
    /// When `invert` is true (the LSST default) a maximum smaller than the
    /// minimum in some dimension swaps the two; otherwise it gives an empty box.
    ///
    /// # Errors
    /// [`Error::InvalidValue`] when the dimensions do not fit in 32 bits.
    pub fn from_min_max(min: Point2I, max: Point2I, invert: bool) -> Result<Self> {
        let mut lo = [i64::from(min.x), i64::from(min.y)];
        let mut hi = [i64::from(max.x), i64::from(max.y)];
        for n in 0..2 {
            if hi[n] < lo[n] {
                if invert {
                    std::mem::swap(&mut lo[n], &mut hi[n]);
                } else {
                    return Ok(Self::EMPTY);
                }
            }
        }
        Self::checked(lo, hi)
    }

    /// A box from its minimum corner and its dimensions.
    ///
    /// A zero dimension gives the empty box. A negative dimension is inverted
    /// (the box extends to the left/below `corner`) when `invert` is true, and
    /// gives the empty box otherwise.
    ///
    /// # Errors
    /// [`Error::InvalidValue`] when the maximum corner does not fit in 32 bits.
    pub fn from_corner_dims(corner: Point2I, dims: Extent2I, invert: bool) -> Result<Self> {
        let mut min = [i64::from(corner.x), i64::from(corner.y)];
        let mut d = [i64::from(dims.x), i64::from(dims.y)];
        for n in 0..2 {
            if d[n] == 0 {
                return Ok(Self::EMPTY);
            }
            if d[n] < 0 {
                if invert {
                    min[n] += d[n] + 1;
                    d[n] = -d[n];
                } else {
                    return Ok(Self::EMPTY);
                }
            }
        }
        Self::checked(min, [min[0] + d[0] - 1, min[1] + d[1] - 1])
    }

    /// Construct from minimum and dimensions that are known to be valid
    /// (positive dimensions, maximum in range); returns the empty box when a
    /// dimension is not positive.
    fn raw(min: [i64; 2], max: [i64; 2]) -> Self {
        if max[0] < min[0] || max[1] < min[1] {
            return Self::EMPTY;
        }
        // Callers only pass corners that come from intersections, unions or
        // shifts checked to stay inside i32.
        Self {
            min: Point2I::new(min[0] as i32, min[1] as i32),
            dims: Extent2I::new((max[0] - min[0] + 1) as i32, (max[1] - min[1] + 1) as i32),
        }
    }

    /// True when the box holds no pixel.
    pub const fn is_empty(&self) -> bool {
        self.dims.x <= 0 || self.dims.y <= 0
    }
    /// The minimum (lower-left) corner; `(0, 0)` for the empty box.
    pub const fn min(&self) -> Point2I {
        self.min
    }
    /// The inclusive maximum (upper-right) corner; `(-1, -1)` for the empty box.
    pub const fn max(&self) -> Point2I {
        Point2I::new(self.max_x(), self.max_y())
    }
    /// Same as [`Box2I::min`].
    pub const fn begin(&self) -> Point2I {
        self.min
    }
    /// One past the maximum corner.
    pub const fn end(&self) -> Point2I {
        Point2I::new(self.min.x + self.dims.x, self.min.y + self.dims.y)
    }
    pub const fn min_x(&self) -> i32 {
        self.min.x
    }
    pub const fn min_y(&self) -> i32 {
        self.min.y
    }
    pub const fn max_x(&self) -> i32 {
        self.min.x + (self.dims.x - 1)
    }
    pub const fn max_y(&self) -> i32 {
        self.min.y + (self.dims.y - 1)
    }
    pub const fn begin_x(&self) -> i32 {
        self.min.x
    }
    pub const fn begin_y(&self) -> i32 {
        self.min.y
    }
    pub const fn end_x(&self) -> i32 {
        self.min.x + self.dims.x
    }
    pub const fn end_y(&self) -> i32 {
        self.min.y + self.dims.y
    }
    /// Width in pixels (0 when empty).
    pub const fn width(&self) -> i32 {
        self.dims.x
    }
    /// Height in pixels (0 when empty).
    pub const fn height(&self) -> i32 {
        self.dims.y
    }
    /// `(width, height)`.
    pub const fn dimensions(&self) -> Extent2I {
        self.dims
    }
    /// Number of pixels, as a 64-bit integer (it can exceed 2^31).
    pub const fn area(&self) -> i64 {
        self.dims.x as i64 * self.dims.y as i64
    }
    /// The centre, `(min + max) / 2` in each dimension.
    pub fn center(&self) -> Point2D {
        Point2D::new(
            0.5 * (f64::from(self.min.x) + f64::from(self.max_x())),
            0.5 * (f64::from(self.min.y) + f64::from(self.max_y())),
        )
    }
    /// The four corners in the LSST order: min, (maxX, minY), max, (minX, maxY).
    pub const fn corners(&self) -> [Point2I; 4] {
        [
            self.min,
            Point2I::new(self.max_x(), self.min.y),
            self.max(),
            Point2I::new(self.min.x, self.max_y()),
        ]
    }
    /// True when the point is inside the box (never for the empty box).
    pub const fn contains_point(&self, p: Point2I) -> bool {
        !self.is_empty()
            && p.x >= self.min.x
            && p.y >= self.min.y
            && p.x <= self.max_x()
            && p.y <= self.max_y()
    }
    /// True when every pixel of `other` is inside `self` (always for an empty `other`).
    pub const fn contains_box(&self, other: &Box2I) -> bool {
        other.is_empty()
            || (!self.is_empty()
                && other.min.x >= self.min.x
                && other.min.y >= self.min.y
                && other.max_x() <= self.max_x()
                && other.max_y() <= self.max_y())
    }
    /// True when the boxes share at least one pixel (never when either is empty).
    pub const fn overlaps(&self, other: &Box2I) -> bool {
        !(self.is_empty()
            || other.is_empty()
            || other.max_x() < self.min.x
            || other.max_y() < self.min.y
            || other.min.x > self.max_x()
            || other.min.y > self.max_y())
    }

    fn lo(&self) -> [i64; 2] {
        [i64::from(self.min.x), i64::from(self.min.y)]
    }
    fn hi(&self) -> [i64; 2] {
        [i64::from(self.max_x()), i64::from(self.max_y())]
    }

    /// The box grown by `buffer` on every side (shrunk for negative values).
    /// An empty box stays empty; a box shrunk to nothing becomes empty.
    ///
    /// # Errors
    /// [`Error::InvalidValue`] when a corner leaves the 32-bit range.
    pub fn dilated_by(&self, buffer: Extent2I) -> Result<Box2I> {
        if self.is_empty() {
            return Ok(Self::EMPTY);
        }
        let b = [i64::from(buffer.x), i64::from(buffer.y)];
        let (lo, hi) = (self.lo(), self.hi());
        let nlo = [lo[0] - b[0], lo[1] - b[1]];
        let nhi = [hi[0] + b[0], hi[1] + b[1]];
        if nhi[0] < nlo[0] || nhi[1] < nlo[1] {
            return Ok(Self::EMPTY);
        }
        Self::checked(nlo, nhi)
    }

    /// The box shrunk by `buffer` on every side (`dilated_by(-buffer)`).
    ///
    /// # Errors
    /// As [`Box2I::dilated_by`].
    pub fn eroded_by(&self, buffer: Extent2I) -> Result<Box2I> {
        self.dilated_by(Extent2I::new(
            buffer
                .x
                .checked_neg()
                .ok_or_else(|| overflow("erosion x", buffer.x))?,
            buffer
                .y
                .checked_neg()
                .ok_or_else(|| overflow("erosion y", buffer.y))?,
        ))
    }

    /// The box moved by `offset`. An empty box stays empty.
    ///
    /// # Errors
    /// [`Error::InvalidValue`] when a corner leaves the 32-bit range.
    pub fn shifted_by(&self, offset: Extent2I) -> Result<Box2I> {
        if self.is_empty() {
            return Ok(Self::EMPTY);
        }
        let o = [i64::from(offset.x), i64::from(offset.y)];
        let (lo, hi) = (self.lo(), self.hi());
        Self::checked([lo[0] + o[0], lo[1] + o[1]], [hi[0] + o[0], hi[1] + o[1]])
    }

    /// The intersection of the two boxes; empty when they do not overlap or
    /// either is empty.
    pub fn clipped_to(&self, other: &Box2I) -> Box2I {
        if self.is_empty() || other.is_empty() {
            return Self::EMPTY;
        }
        let (alo, ahi, blo, bhi) = (self.lo(), self.hi(), other.lo(), other.hi());
        Self::raw(
            [alo[0].max(blo[0]), alo[1].max(blo[1])],
            [ahi[0].min(bhi[0]), ahi[1].min(bhi[1])],
        )
    }

    /// The smallest box holding `self` and the point (a 1×1 box when `self`
    /// is empty).
    ///
    /// # Errors
    /// [`Error::InvalidValue`] when the result leaves the 32-bit range
    /// (a point at `i32::MAX` has no exclusive end).
    pub fn expanded_to_point(&self, p: Point2I) -> Result<Box2I> {
        let (px, py) = (i64::from(p.x), i64::from(p.y));
        if self.is_empty() {
            return Self::checked([px, py], [px, py]);
        }
        let (lo, hi) = (self.lo(), self.hi());
        Self::checked(
            [lo[0].min(px), lo[1].min(py)],
            [hi[0].max(px), hi[1].max(py)],
        )
    }

    /// The smallest box holding both boxes (an empty `other` changes nothing).
    pub fn expanded_to_box(&self, other: &Box2I) -> Box2I {
        if other.is_empty() {
            return *self;
        }
        if self.is_empty() {
            return *other;
        }
        let (alo, ahi, blo, bhi) = (self.lo(), self.hi(), other.lo(), other.hi());
        Self::raw(
            [alo[0].min(blo[0]), alo[1].min(blo[1])],
            [ahi[0].max(bhi[0]), ahi[1].max(bhi[1])],
        )
    }

    /// A box from i64 corners, checked so that every corner, the dimensions
    /// and the exclusive end (`max + 1`) fit in i32: all accessors are then
    /// overflow-free.
    fn checked(lo: [i64; 2], hi: [i64; 2]) -> Result<Box2I> {
        for (v, what) in [
            (lo[0], "box minimum x"),
            (lo[1], "box minimum y"),
            (hi[0] + 1, "box end x (maximum + 1)"),
            (hi[1] + 1, "box end y (maximum + 1)"),
        ] {
            to_i32(v, what)?;
        }
        to_i32(hi[0] - lo[0] + 1, "box width")?;
        to_i32(hi[1] - lo[1] + 1, "box height")?;
        Ok(Self::raw(lo, hi))
    }

    /// The `(rows, columns)` index ranges of this box inside the array of
    /// `parent` (numpy order `[y, x]`).
    ///
    /// # Errors
    /// [`Error::Shape`] when `self` is not contained in `parent`.
    pub fn slices_within(&self, parent: &Box2I) -> Result<(Range<usize>, Range<usize>)> {
        if !parent.contains_box(self) {
            return Err(Error::Shape(format!(
                "box {self} is not contained in the parent box {parent}"
            )));
        }
        if self.is_empty() {
            return Ok((0..0, 0..0));
        }
        let y0 = (i64::from(self.min.y) - i64::from(parent.min.y)) as usize;
        let x0 = (i64::from(self.min.x) - i64::from(parent.min.x)) as usize;
        Ok((y0..y0 + self.dims.y as usize, x0..x0 + self.dims.x as usize))
    }
}

fn overflow(what: &str, v: i32) -> Error {
    Error::InvalidValue(format!("{what} {v} cannot be negated in 32 bits"))
}

impl std::fmt::Display for Box2I {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.is_empty() {
            return write!(f, "Box2I()");
        }
        write!(
            f,
            "Box2I(minimum=({}, {}), dimensions=({}, {}))",
            self.min.x, self.min.y, self.dims.x, self.dims.y
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(x0: i32, y0: i32, x1: i32, y1: i32) -> Box2I {
        Box2I::from_min_max(Point2I::new(x0, y0), Point2I::new(x1, y1), true).unwrap()
    }

    #[test]
    fn inclusive_dimensions() {
        let bx = b(2, 3, 11, 7);
        assert_eq!(bx.width(), 10);
        assert_eq!(bx.height(), 5);
        assert_eq!(bx.area(), 50);
        assert_eq!(bx.end(), Point2I::new(12, 8));
        assert_eq!(bx.center(), Point2D::new(6.5, 5.0));
    }

    #[test]
    fn empty_rules() {
        let e = Box2I::EMPTY;
        assert!(e.is_empty());
        assert_eq!(e.dilated_by(Extent2I::splat(3)).unwrap(), e);
        assert_eq!(e.shifted_by(Extent2I::splat(3)).unwrap(), e);
        assert_eq!(b(0, 0, 3, 3).clipped_to(&b(5, 5, 6, 6)), e);
        assert_eq!(b(0, 0, 3, 3).dilated_by(Extent2I::splat(-2)).unwrap(), e);
        assert!(b(0, 0, 3, 3).contains_box(&e));
        assert!(!e.overlaps(&e));
        assert_eq!(
            e.expanded_to_point(Point2I::new(4, 5)).unwrap(),
            b(4, 5, 4, 5)
        );
        let zero = Box2I::from_corner_dims(Point2I::new(5, 5), Extent2I::new(0, 4), true).unwrap();
        assert_eq!(zero, e);
    }

    #[test]
    fn invert() {
        assert_eq!(b(5, 5, 1, 1), b(1, 1, 5, 5));
        let no = Box2I::from_min_max(Point2I::new(5, 0), Point2I::new(1, 3), false).unwrap();
        assert!(no.is_empty());
        let neg = Box2I::from_corner_dims(Point2I::new(5, 5), Extent2I::new(-3, 2), true).unwrap();
        assert_eq!(neg, b(3, 5, 5, 6));
    }

    #[test]
    fn boxes_at_the_edge_of_i32() {
        let top = Box2I::from_min_max(
            Point2I::new(i32::MAX - 3, 0),
            Point2I::new(i32::MAX - 1, 2),
            true,
        )
        .unwrap();
        assert_eq!(top.end_x(), i32::MAX);
        assert!(top.contains_box(&top));
        assert!(Box2I::from_min_max(Point2I::new(0, 0), Point2I::new(i32::MAX, 0), true).is_err());
        assert!(top.expanded_to_point(Point2I::new(i32::MAX, 0)).is_err());
        let low =
            Box2I::from_corner_dims(Point2I::new(i32::MIN, i32::MIN), Extent2I::new(3, 3), true)
                .unwrap();
        assert_eq!(low.max(), Point2I::new(i32::MIN + 2, i32::MIN + 2));
        assert!(low.shifted_by(Extent2I::new(-1, 0)).is_err());
    }

    #[test]
    fn overflow_is_an_error() {
        let r = Box2I::from_min_max(Point2I::new(i32::MIN, 0), Point2I::new(i32::MAX, 0), true);
        assert!(r.is_err());
        let big = b(0, 0, i32::MAX - 1, 0);
        assert!(big.shifted_by(Extent2I::new(5, 0)).is_err());
    }

    #[test]
    fn slices() {
        let parent = b(10, 20, 29, 39);
        let (ys, xs) = b(12, 25, 14, 26).slices_within(&parent).unwrap();
        assert_eq!((ys, xs), (5..7, 2..5));
        assert!(b(0, 0, 12, 25).slices_within(&parent).is_err());
    }
}
