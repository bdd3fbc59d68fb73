//! Python classes `Point2I`, `Point2D`, `Extent2I`, `Box2I`: newtypes over the
//! core geometry with the `lsst.geom` Python API (camelCase methods, in-place
//! `grow`/`shift`/`clip`/`include` on `Box2I`), pickling and numpy slices.
//!
//! Long module: the four `lsst.geom` classes convert into one another
//! (`PointLike`, `ExtentLike`) and share their index and overflow checks; it is
//! a few lines over the limit.

use imagemapper_core::geom as core;
use pyo3::basic::CompareOp;
use pyo3::exceptions::{PyIndexError, PyOverflowError, PyTypeError};
use pyo3::prelude::*;
use pyo3::types::{PySlice, PyTuple};

use crate::errors::to_pyerr;

fn index2(i: isize, what: &str) -> PyResult<usize> {
    match i {
        0 | -2 => Ok(0),
        1 | -1 => Ok(1),
        _ => Err(PyIndexError::new_err(format!(
            "{what} index {i} out of range (0 or 1)"
        ))),
    }
}

/// `a op b` in 32 bits, or `OverflowError` naming the operands (lsst.geom
/// wraps silently in C++; a wrong coordinate is worse than an error).
fn ck(a: i32, op: &str, b: i32, r: Option<i32>) -> PyResult<i32> {
    r.ok_or_else(|| {
        PyOverflowError::new_err(format!(
            "{a} {op} {b} does not fit in a 32-bit integer coordinate; expected a result in \
             [{}, {}]",
            i32::MIN,
            i32::MAX
        ))
    })
}

// ---------------------------------------------------------------- Point2I

/// An integer point ``(x, y)`` (``lsst.geom.Point2I``).
///
/// ``Point2I()`` is ``(0, 0)``; ``Point2I(x, y)``; ``Point2I(other)`` takes a
/// Point2I, an Extent2I or an ``(x, y)`` tuple. Immutable and hashable;
/// ``point + extent`` and ``point - extent`` are points, ``point - point`` is
/// an Extent2I, and arithmetic that leaves 32 bits raises ``OverflowError``.
#[pyclass(module = "imagemapper._core", frozen, eq, hash, from_py_object)]
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Point2I(pub core::Point2I);

/// Arguments accepted where an integer point is expected.
#[derive(FromPyObject)]
pub enum PointLike {
    Point(Point2I),
    Tuple((i32, i32)),
}

impl PointLike {
    pub fn get(&self) -> core::Point2I {
        match self {
            PointLike::Point(p) => p.0,
            PointLike::Tuple((x, y)) => core::Point2I::new(*x, *y),
        }
    }
}

#[pymethods]
impl Point2I {
    #[new]
    #[pyo3(signature = (x=None, y=None))]
    fn new(x: Option<&Bound<'_, PyAny>>, y: Option<i32>) -> PyResult<Self> {
        match (x, y) {
            (None, None) => Ok(Self(core::Point2I::default())),
            (Some(x), Some(y)) => Ok(Self(core::Point2I::new(x.extract()?, y))),
            (Some(x), None) => {
                if let Ok(p) = x.extract::<Point2I>() {
                    Ok(p)
                } else if let Ok(e) = x.extract::<Extent2I>() {
                    Ok(Self(core::Point2I::new(e.0.x, e.0.y)))
                } else if let Ok((a, b)) = x.extract::<(i32, i32)>() {
                    Ok(Self(core::Point2I::new(a, b)))
                } else {
                    Err(PyTypeError::new_err(format!(
                        "Point2I() expects two integers, a Point2I, an Extent2I or an (x, y) tuple, got {}",
                        x.repr()?
                    )))
                }
            }
            (None, Some(_)) => Err(PyTypeError::new_err("Point2I() given y without x")),
        }
    }
    /// The x coordinate.
    #[getter]
    fn x(&self) -> i32 {
        self.0.x
    }
    /// The y coordinate.
    #[getter]
    fn y(&self) -> i32 {
        self.0.y
    }
    /// The x coordinate.
    #[allow(non_snake_case)]
    fn getX(&self) -> i32 {
        self.0.x
    }
    /// The y coordinate.
    #[allow(non_snake_case)]
    fn getY(&self) -> i32 {
        self.0.y
    }
    fn __len__(&self) -> usize {
        2
    }
    fn __getitem__(&self, i: isize) -> PyResult<i32> {
        Ok([self.0.x, self.0.y][index2(i, "Point2I")?])
    }
    fn __repr__(&self) -> String {
        format!("Point2I({}, {})", self.0.x, self.0.y)
    }
    fn __str__(&self) -> String {
        format!("({}, {})", self.0.x, self.0.y)
    }
    fn __reduce__<'py>(slf: &Bound<'py, Self>) -> PyResult<(Bound<'py, PyAny>, (i32, i32))> {
        let p = slf.get().0;
        Ok((slf.get_type().into_any(), (p.x, p.y)))
    }
    /// ``point + extent -> Point2I``.
    fn __add__(&self, other: Extent2I) -> PyResult<Self> {
        let (a, b) = (self.0, other.0);
        Ok(Self(core::Point2I::new(
            ck(a.x, "+", b.x, a.x.checked_add(b.x))?,
            ck(a.y, "+", b.y, a.y.checked_add(b.y))?,
        )))
    }
    /// ``point - point -> Extent2I``; ``point - extent -> Point2I``.
    fn __sub__<'py>(&self, other: &Bound<'py, PyAny>) -> PyResult<Py<PyAny>> {
        let py = other.py();
        if let Ok(p) = other.extract::<Point2I>() {
            let (a, b) = (self.0, p.0);
            let e = Extent2I(core::Extent2I::new(
                ck(a.x, "-", b.x, a.x.checked_sub(b.x))?,
                ck(a.y, "-", b.y, a.y.checked_sub(b.y))?,
            ));
            return Ok(Py::new(py, e)?.into_any());
        }
        if let Ok(e) = other.extract::<Extent2I>() {
            let (a, b) = (self.0, e.0);
            let p = Point2I(core::Point2I::new(
                ck(a.x, "-", b.x, a.x.checked_sub(b.x))?,
                ck(a.y, "-", b.y, a.y.checked_sub(b.y))?,
            ));
            return Ok(Py::new(py, p)?.into_any());
        }
        Ok(py.NotImplemented())
    }
}

// ---------------------------------------------------------------- Point2D

/// A floating-point point ``(x, y)`` (``lsst.geom.Point2D``).
///
/// ``Point2D()`` is ``(0.0, 0.0)``; ``Point2D(x, y)``; ``Point2D(other)``
/// takes a Point2D, a Point2I or an ``(x, y)`` tuple. Immutable.
#[pyclass(module = "imagemapper._core", frozen, from_py_object)]
#[derive(Clone, Copy, PartialEq)]
pub struct Point2D(pub core::Point2D);

#[pymethods]
impl Point2D {
    #[new]
    #[pyo3(signature = (x=None, y=None))]
    fn new(x: Option<&Bound<'_, PyAny>>, y: Option<f64>) -> PyResult<Self> {
        match (x, y) {
            (None, None) => Ok(Self(core::Point2D::default())),
            (Some(x), Some(y)) => Ok(Self(core::Point2D::new(x.extract()?, y))),
            (Some(x), None) => {
                if let Ok(p) = x.extract::<Point2D>() {
                    Ok(p)
                } else if let Ok(p) = x.extract::<Point2I>() {
                    Ok(Self(core::Point2D::new(f64::from(p.0.x), f64::from(p.0.y))))
                } else if let Ok((a, b)) = x.extract::<(f64, f64)>() {
                    Ok(Self(core::Point2D::new(a, b)))
                } else {
                    Err(PyTypeError::new_err(format!(
                        "Point2D() expects two numbers, a Point2D, a Point2I or an (x, y) tuple, got {}",
                        x.repr()?
                    )))
                }
            }
            (None, Some(_)) => Err(PyTypeError::new_err("Point2D() given y without x")),
        }
    }
    /// The x coordinate.
    #[getter]
    fn x(&self) -> f64 {
        self.0.x
    }
    /// The y coordinate.
    #[getter]
    fn y(&self) -> f64 {
        self.0.y
    }
    /// The x coordinate.
    #[allow(non_snake_case)]
    fn getX(&self) -> f64 {
        self.0.x
    }
    /// The y coordinate.
    #[allow(non_snake_case)]
    fn getY(&self) -> f64 {
        self.0.y
    }
    fn __len__(&self) -> usize {
        2
    }
    fn __getitem__(&self, i: isize) -> PyResult<f64> {
        Ok([self.0.x, self.0.y][index2(i, "Point2D")?])
    }
    fn __richcmp__(&self, other: &Bound<'_, PyAny>, op: CompareOp) -> PyResult<Py<PyAny>> {
        let py = other.py();
        let Ok(o) = other.extract::<Point2D>() else {
            return Ok(py.NotImplemented());
        };
        let eq = self.0 == o.0;
        match op {
            CompareOp::Eq => Ok(eq.into_pyobject(py)?.to_owned().into_any().unbind()),
            CompareOp::Ne => Ok((!eq).into_pyobject(py)?.to_owned().into_any().unbind()),
            _ => Ok(py.NotImplemented()),
        }
    }
    fn __repr__(&self) -> String {
        format!("Point2D({:?}, {:?})", self.0.x, self.0.y)
    }
    fn __str__(&self) -> String {
        format!("({:?}, {:?})", self.0.x, self.0.y)
    }
    fn __reduce__<'py>(slf: &Bound<'py, Self>) -> PyResult<(Bound<'py, PyAny>, (f64, f64))> {
        let p = slf.get().0;
        Ok((slf.get_type().into_any(), (p.x, p.y)))
    }
}

// ---------------------------------------------------------------- Extent2I

/// An integer extent ``(x, y)``: a size or an offset (``lsst.geom.Extent2I``).
///
/// ``Extent2I()`` is ``(0, 0)``; ``Extent2I(x, y)``; ``Extent2I(n)`` is
/// ``(n, n)``; ``Extent2I(other)`` takes an Extent2I, a Point2I or an
/// ``(x, y)`` tuple. Immutable and hashable; supports ``+``, ``-``, unary
/// ``-`` and ``*`` by an integer, raising ``OverflowError`` past 32 bits.
#[pyclass(module = "imagemapper._core", frozen, eq, hash, from_py_object)]
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Extent2I(pub core::Extent2I);

/// Arguments accepted where an extent is expected: an int (both
/// dimensions), an `Extent2I` or an `(x, y)` tuple.
#[derive(FromPyObject)]
pub enum ExtentLike {
    Int(i32),
    Extent(Extent2I),
    Tuple((i32, i32)),
}

impl ExtentLike {
    pub fn get(&self) -> core::Extent2I {
        match self {
            ExtentLike::Int(v) => core::Extent2I::splat(*v),
            ExtentLike::Extent(e) => e.0,
            ExtentLike::Tuple((x, y)) => core::Extent2I::new(*x, *y),
        }
    }
}

#[pymethods]
impl Extent2I {
    #[new]
    #[pyo3(signature = (x=None, y=None))]
    fn new(x: Option<&Bound<'_, PyAny>>, y: Option<i32>) -> PyResult<Self> {
        match (x, y) {
            (None, None) => Ok(Self(core::Extent2I::default())),
            (Some(x), Some(y)) => Ok(Self(core::Extent2I::new(x.extract()?, y))),
            (Some(x), None) => {
                if let Ok(e) = x.extract::<Extent2I>() {
                    Ok(e)
                } else if let Ok(p) = x.extract::<Point2I>() {
                    Ok(Self(core::Extent2I::new(p.0.x, p.0.y)))
                } else if let Ok(v) = x.extract::<i32>() {
                    Ok(Self(core::Extent2I::splat(v)))
                } else if let Ok((a, b)) = x.extract::<(i32, i32)>() {
                    Ok(Self(core::Extent2I::new(a, b)))
                } else {
                    Err(PyTypeError::new_err(format!(
                        "Extent2I() expects two integers, one integer, an Extent2I, a Point2I or an (x, y) tuple, got {}",
                        x.repr()?
                    )))
                }
            }
            (None, Some(_)) => Err(PyTypeError::new_err("Extent2I() given y without x")),
        }
    }
    /// The size in x.
    #[getter]
    fn x(&self) -> i32 {
        self.0.x
    }
    /// The size in y.
    #[getter]
    fn y(&self) -> i32 {
        self.0.y
    }
    /// The size in x.
    #[allow(non_snake_case)]
    fn getX(&self) -> i32 {
        self.0.x
    }
    /// The size in y.
    #[allow(non_snake_case)]
    fn getY(&self) -> i32 {
        self.0.y
    }
    fn __len__(&self) -> usize {
        2
    }
    fn __getitem__(&self, i: isize) -> PyResult<i32> {
        Ok([self.0.x, self.0.y][index2(i, "Extent2I")?])
    }
    fn __repr__(&self) -> String {
        format!("Extent2I({}, {})", self.0.x, self.0.y)
    }
    fn __str__(&self) -> String {
        format!("({}, {})", self.0.x, self.0.y)
    }
    fn __reduce__<'py>(slf: &Bound<'py, Self>) -> PyResult<(Bound<'py, PyAny>, (i32, i32))> {
        let e = slf.get().0;
        Ok((slf.get_type().into_any(), (e.x, e.y)))
    }
    fn __add__(&self, other: Extent2I) -> PyResult<Self> {
        let (a, b) = (self.0, other.0);
        Ok(Self(core::Extent2I::new(
            ck(a.x, "+", b.x, a.x.checked_add(b.x))?,
            ck(a.y, "+", b.y, a.y.checked_add(b.y))?,
        )))
    }
    fn __sub__(&self, other: Extent2I) -> PyResult<Self> {
        let (a, b) = (self.0, other.0);
        Ok(Self(core::Extent2I::new(
            ck(a.x, "-", b.x, a.x.checked_sub(b.x))?,
            ck(a.y, "-", b.y, a.y.checked_sub(b.y))?,
        )))
    }
    fn __neg__(&self) -> PyResult<Self> {
        let a = self.0;
        Ok(Self(core::Extent2I::new(
            ck(0, "-", a.x, a.x.checked_neg())?,
            ck(0, "-", a.y, a.y.checked_neg())?,
        )))
    }
    fn __mul__(&self, k: i32) -> PyResult<Self> {
        let a = self.0;
        Ok(Self(core::Extent2I::new(
            ck(a.x, "*", k, a.x.checked_mul(k))?,
            ck(a.y, "*", k, a.y.checked_mul(k))?,
        )))
    }
    fn __rmul__(&self, k: i32) -> PyResult<Self> {
        self.__mul__(k)
    }
    /// The extent as a point.
    #[allow(non_snake_case)]
    fn asPoint(&self) -> Point2I {
        Point2I(core::Point2I::new(self.0.x, self.0.y))
    }
}

// ---------------------------------------------------------------- Box2I

/// An inclusive integer box (``lsst.geom.Box2I``).
///
/// ``Box2I()`` is empty; ``Box2I(minimum, maximum, invert=True)``;
/// ``Box2I(corner, dimensions, invert=True)``; ``Box2I(other)`` copies.
/// ``grow``, ``shift``, ``clip`` and ``include`` change the box in place, as
/// in LSST; ``dilatedBy``, ``erodedBy``, ``shiftedBy`` and ``clippedTo``
/// return new boxes. Every empty box equals every other.
#[pyclass(module = "imagemapper._core", from_py_object)]
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Box2I(pub core::Box2I);

/// A point or a box (for `contains` and `include`).
#[derive(FromPyObject)]
enum PointOrBox {
    Box(Box2I),
    Point(PointLike),
}

#[allow(non_snake_case)]
#[pymethods]
impl Box2I {
    #[new]
    #[pyo3(signature = (*args, minimum=None, maximum=None, dimensions=None, invert=true))]
    fn new(
        args: &Bound<'_, PyTuple>,
        minimum: Option<PointLike>,
        maximum: Option<PointLike>,
        dimensions: Option<Extent2I>,
        invert: bool,
    ) -> PyResult<Self> {
        if minimum.is_some() || maximum.is_some() || dimensions.is_some() {
            if !args.is_empty() {
                return Err(PyTypeError::new_err(
                    "Box2I() takes either positional arguments or the keywords minimum=, maximum=, dimensions=",
                ));
            }
            return match (minimum, maximum, dimensions) {
                (Some(lo), Some(hi), None) => core::Box2I::from_min_max(lo.get(), hi.get(), invert)
                    .map(Self)
                    .map_err(to_pyerr),
                (Some(lo), None, Some(d)) => core::Box2I::from_corner_dims(lo.get(), d.0, invert)
                    .map(Self)
                    .map_err(to_pyerr),
                _ => Err(PyTypeError::new_err(
                    "Box2I() keywords: give minimum= with exactly one of maximum= or dimensions=",
                )),
            };
        }
        match args.len() {
            0 => Ok(Self(core::Box2I::EMPTY)),
            1 => {
                let a = args.get_item(0)?;
                a.extract::<Box2I>().map_err(|_| {
                    PyTypeError::new_err(format!(
                        "Box2I(other) expects a Box2I to copy, got {}",
                        a.repr().map(|r| r.to_string()).unwrap_or_default()
                    ))
                })
            }
            2 => {
                let a = args.get_item(0)?;
                let b = args.get_item(1)?;
                let min = a.extract::<PointLike>().map_err(|_| {
                    PyTypeError::new_err(format!(
                        "Box2I(minimum, ...) expects a Point2I or (x, y) as first argument, got {}",
                        a.repr().map(|r| r.to_string()).unwrap_or_default()
                    ))
                })?;
                if let Ok(e) = b.extract::<Extent2I>() {
                    core::Box2I::from_corner_dims(min.get(), e.0, invert)
                        .map(Self)
                        .map_err(to_pyerr)
                } else if let Ok(p) = b.extract::<PointLike>() {
                    core::Box2I::from_min_max(min.get(), p.get(), invert)
                        .map(Self)
                        .map_err(to_pyerr)
                } else {
                    Err(PyTypeError::new_err(format!(
                        "Box2I(minimum, x) expects a Point2I maximum or an Extent2I dimensions, got {}",
                        b.repr()?
                    )))
                }
            }
            n => Err(PyTypeError::new_err(format!(
                "Box2I() takes 0, 1 or 2 positional arguments, got {n}"
            ))),
        }
    }

    /// The minimum (lower-left) corner.
    fn getMin(&self) -> Point2I {
        Point2I(self.0.min())
    }
    /// The maximum (upper-right) corner, inclusive.
    fn getMax(&self) -> Point2I {
        Point2I(self.0.max())
    }
    /// The minimum corner (the start of a half-open range).
    fn getBegin(&self) -> Point2I {
        Point2I(self.0.begin())
    }
    /// One past the maximum corner (the end of a half-open range).
    fn getEnd(&self) -> Point2I {
        Point2I(self.0.end())
    }
    /// The smallest x inside the box.
    fn getMinX(&self) -> i32 {
        self.0.min_x()
    }
    /// The smallest y inside the box.
    fn getMinY(&self) -> i32 {
        self.0.min_y()
    }
    /// The largest x inside the box.
    fn getMaxX(&self) -> i32 {
        self.0.max_x()
    }
    /// The largest y inside the box.
    fn getMaxY(&self) -> i32 {
        self.0.max_y()
    }
    /// The smallest x (as getMinX).
    fn getBeginX(&self) -> i32 {
        self.0.begin_x()
    }
    /// The smallest y (as getMinY).
    fn getBeginY(&self) -> i32 {
        self.0.begin_y()
    }
    /// One past the largest x.
    fn getEndX(&self) -> i32 {
        self.0.end_x()
    }
    /// One past the largest y.
    fn getEndY(&self) -> i32 {
        self.0.end_y()
    }
    /// The number of columns (0 for an empty box).
    fn getWidth(&self) -> i32 {
        self.0.width()
    }
    /// The number of rows (0 for an empty box).
    fn getHeight(&self) -> i32 {
        self.0.height()
    }
    /// ``Extent2I(width, height)``.
    fn getDimensions(&self) -> Extent2I {
        Extent2I(self.0.dimensions())
    }
    /// The number of pixels, width × height.
    fn getArea(&self) -> i64 {
        self.0.area()
    }
    /// The centre, ``((minX + maxX) / 2, (minY + maxY) / 2)``, as a Point2D.
    fn getCenter(&self) -> Point2D {
        Point2D(self.0.center())
    }
    /// The four corners: (minX, minY), (maxX, minY), (maxX, maxY), (minX, maxY).
    fn getCorners(&self) -> Vec<Point2I> {
        self.0.corners().into_iter().map(Point2I).collect()
    }
    /// True for a box with no pixel.
    fn isEmpty(&self) -> bool {
        self.0.is_empty()
    }

    // Pythonic read-only properties (as in recent lsst.geom).
    /// The smallest x inside the box.
    #[getter]
    fn minX(&self) -> i32 {
        self.0.min_x()
    }
    /// The smallest y inside the box.
    #[getter]
    fn minY(&self) -> i32 {
        self.0.min_y()
    }
    /// The largest x inside the box.
    #[getter]
    fn maxX(&self) -> i32 {
        self.0.max_x()
    }
    /// The largest y inside the box.
    #[getter]
    fn maxY(&self) -> i32 {
        self.0.max_y()
    }
    /// The number of columns (0 for an empty box).
    #[getter]
    fn width(&self) -> i32 {
        self.0.width()
    }
    /// The number of rows (0 for an empty box).
    #[getter]
    fn height(&self) -> i32 {
        self.0.height()
    }
    /// The number of pixels, width × height.
    #[getter]
    fn area(&self) -> i64 {
        self.0.area()
    }
    /// ``Extent2I(width, height)``.
    #[getter]
    fn dimensions(&self) -> Extent2I {
        Extent2I(self.0.dimensions())
    }

    /// True when the point, or every pixel of the box, is inside this box.
    fn contains(&self, other: PointOrBox) -> bool {
        match other {
            PointOrBox::Box(b) => self.0.contains_box(&b.0),
            PointOrBox::Point(p) => self.0.contains_point(p.get()),
        }
    }
    /// True when the boxes share a pixel (never for empty boxes).
    fn overlaps(&self, other: Box2I) -> bool {
        self.0.overlaps(&other.0)
    }

    /// Grow in place by ``buffer`` (int or Extent2I) on every side.
    fn grow(&mut self, buffer: ExtentLike) -> PyResult<()> {
        self.0 = self.0.dilated_by(buffer.get()).map_err(to_pyerr)?;
        Ok(())
    }
    /// Shrink in place by ``buffer`` (int or Extent2I) on every side.
    fn erode(&mut self, buffer: ExtentLike) -> PyResult<()> {
        self.0 = self.0.eroded_by(buffer.get()).map_err(to_pyerr)?;
        Ok(())
    }
    /// Move in place by ``offset``.
    fn shift(&mut self, offset: ExtentLike) -> PyResult<()> {
        self.0 = self.0.shifted_by(offset.get()).map_err(to_pyerr)?;
        Ok(())
    }
    /// Shrink in place to the intersection with ``other`` (empty if disjoint).
    fn clip(&mut self, other: Box2I) {
        self.0 = self.0.clipped_to(&other.0);
    }
    /// Expand in place to include a point or a box.
    fn include(&mut self, other: PointOrBox) -> PyResult<()> {
        self.0 = match other {
            PointOrBox::Box(b) => self.0.expanded_to_box(&b.0),
            PointOrBox::Point(p) => self.0.expanded_to_point(p.get()).map_err(to_pyerr)?,
        };
        Ok(())
    }
    /// A new box grown by ``buffer`` on every side.
    fn dilatedBy(&self, buffer: ExtentLike) -> PyResult<Self> {
        self.0.dilated_by(buffer.get()).map(Self).map_err(to_pyerr)
    }
    /// A new box shrunk by ``buffer`` on every side.
    fn erodedBy(&self, buffer: ExtentLike) -> PyResult<Self> {
        self.0.eroded_by(buffer.get()).map(Self).map_err(to_pyerr)
    }
    /// A new box moved by ``offset``.
    fn shiftedBy(&self, offset: ExtentLike) -> PyResult<Self> {
        self.0.shifted_by(offset.get()).map(Self).map_err(to_pyerr)
    }
    /// A new box: the intersection with ``other``.
    fn clippedTo(&self, other: Box2I) -> Self {
        Self(self.0.clipped_to(&other.0))
    }
    /// A new box that also includes a point or a box.
    fn expandedTo(&self, other: PointOrBox) -> PyResult<Self> {
        let mut b = *self;
        b.include(other)?;
        Ok(b)
    }

    /// The ``(slice_y, slice_x)`` of this box inside the array of ``parent``
    /// (numpy order ``[y, x]``). Raises ``ValueError`` when this box is not
    /// contained in ``parent``.
    fn slices<'py>(
        &self,
        py: Python<'py>,
        parent: Box2I,
    ) -> PyResult<(Bound<'py, PySlice>, Bound<'py, PySlice>)> {
        let (ys, xs) = self.0.slices_within(&parent.0).map_err(to_pyerr)?;
        Ok((
            PySlice::new(py, ys.start as isize, ys.end as isize, 1),
            PySlice::new(py, xs.start as isize, xs.end as isize, 1),
        ))
    }

    fn __richcmp__(&self, other: &Bound<'_, PyAny>, op: CompareOp) -> PyResult<Py<PyAny>> {
        let py = other.py();
        let Ok(o) = other.extract::<Box2I>() else {
            return Ok(py.NotImplemented());
        };
        let eq = self.0 == o.0;
        match op {
            CompareOp::Eq => Ok(eq.into_pyobject(py)?.to_owned().into_any().unbind()),
            CompareOp::Ne => Ok((!eq).into_pyobject(py)?.to_owned().into_any().unbind()),
            _ => Ok(py.NotImplemented()),
        }
    }
    pub(crate) fn __repr__(&self) -> String {
        if self.0.is_empty() {
            return "Box2I()".to_string();
        }
        let (m, d) = (self.0.min(), self.0.dimensions());
        format!(
            "Box2I(minimum=Point2I({}, {}), dimensions=Extent2I({}, {}))",
            m.x, m.y, d.x, d.y
        )
    }
    fn __str__(&self) -> String {
        if self.0.is_empty() {
            return "(empty)".to_string();
        }
        let (lo, hi) = (self.0.min(), self.0.max());
        format!(
            "(minimum=({}, {}), maximum=({}, {}))",
            lo.x, lo.y, hi.x, hi.y
        )
    }
    fn __reduce__<'py>(
        slf: &Bound<'py, Self>,
    ) -> PyResult<(Bound<'py, PyAny>, (Point2I, Extent2I))> {
        let b = slf.borrow().0;
        Ok((
            slf.get_type().into_any(),
            (Point2I(b.min()), Extent2I(b.dimensions())),
        ))
    }
    fn __copy__(&self) -> Self {
        *self
    }
    fn __deepcopy__(&self, _memo: &Bound<'_, PyAny>) -> Self {
        *self
    }
}
