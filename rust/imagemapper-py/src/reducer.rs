//! `Reducer`: the one stitcher class over the core [`Reducer`], for every
//! stitching operation, both drivers (in memory and out of core) and the
//! numpy façade. The pixel type is dispatched once, when the reducer is
//! made; the checks every cell result needs (box inside the exposure, plane
//! shapes, dtypes) run here, in Rust, for a whole batch, and their errors
//! name the cell. The GIL is released while the core works.
//!
//! Long module: the `Reducer` pyclass is one binding whose pixel-type dispatch,
//! batch checks and conversions to and from numpy belong together; splitting
//! them would make the checks that name a cell live apart from the code that
//! reads the cell.

use std::sync::Arc;

use imagemapper_core::reduce::{
    self, CellGeom, CellView, Output, Params, Pixel, ReduceOp, Reducer as CoreReducer, Stats,
    Weights,
};
use ndarray::{Array, Array2, ArrayView, Axis, Dimension, Ix2, Ix3};
use numpy::{Element, PyArray2, PyArrayMethods, PyReadonlyArray, PyReadonlyArray2};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyList, PyTuple, PyType};

use crate::errors::{run_detached, to_pyerr};
use crate::geom::Box2I;

/// The Python spelling of a box (`Box2I(minimum=Point2I(x, y), ...)`).
fn repr(b: &imagemapper_core::Box2I) -> String {
    Box2I(*b).__repr__()
}

fn dtype_name(a: &Bound<'_, PyAny>) -> String {
    a.getattr("dtype")
        .and_then(|d| d.str())
        .map(|s| s.to_string())
        .unwrap_or_else(|_| {
            a.get_type()
                .name()
                .map(|n| n.to_string())
                .unwrap_or_default()
        })
}

/// A cell plane (2-D) or a stack of them (3-D, a batch) of the reducer's
/// pixel type: borrowed from numpy when the dtype matches, else converted once.
enum HeldN<'py, T: Element, D: Dimension> {
    Borrowed(PyReadonlyArray<'py, T, D>),
    Owned(Array<T, D>),
}

type Held<'py, T> = HeldN<'py, T, Ix2>;

impl<T: Element, D: Dimension> HeldN<'_, T, D> {
    fn view(&self) -> ArrayView<'_, T, D> {
        match self {
            Self::Borrowed(a) => a.as_array(),
            Self::Owned(a) => a.view(),
        }
    }
}

impl<T: Element> Held<'_, T> {
    fn dim(&self) -> (usize, usize) {
        self.view().dim()
    }
}

/// A floating-point array as numpy gives it (the one dtype dispatch).
enum FloatArray<'py, D: Dimension> {
    F32(PyReadonlyArray<'py, f32, D>),
    F64(PyReadonlyArray<'py, f64, D>),
}

impl<'py, D: Dimension> FloatArray<'py, D> {
    fn extract(a: &Bound<'py, PyAny>) -> Option<Self> {
        if let Ok(p) = a.extract::<PyReadonlyArray<'py, f32, D>>() {
            return Some(Self::F32(p));
        }
        a.extract::<PyReadonlyArray<'py, f64, D>>()
            .ok()
            .map(Self::F64)
    }
}

/// Conversion of a plane (or a stack of planes) to the pixel type `T`.
trait FromPlane: Element + Pixel {
    fn hold_n<'py, D: Dimension>(
        a: &Bound<'py, PyAny>,
        what: &dyn Fn() -> String,
    ) -> PyResult<HeldN<'py, Self, D>>;
    fn hold<'py>(a: &Bound<'py, PyAny>, what: &dyn Fn() -> String) -> PyResult<Held<'py, Self>> {
        Self::hold_n::<Ix2>(a, what)
    }
}

fn not_2d(a: &Bound<'_, PyAny>, what: &dyn Fn() -> String, want: &str) -> PyErr {
    not_nd(a, what, want, 2)
}

fn not_nd(a: &Bound<'_, PyAny>, what: &dyn Fn() -> String, want: &str, n: usize) -> PyErr {
    let dims = a
        .getattr("ndim")
        .map(|n| n.to_string())
        .unwrap_or_else(|_| "?".to_string());
    PyTypeError::new_err(format!(
        "{}: expected a {n}-D numpy array of {want}, got dtype {} with {dims} dimension(s)",
        what(),
        dtype_name(a)
    ))
}

/// Another dtype of one of the numpy `kinds` (``"fiub"``: integers,
/// float16, ...): numpy's `astype`, once.
fn astype<'py>(
    a: &Bound<'py, PyAny>,
    dtype: &str,
    ndim: usize,
    kinds: &str,
) -> Option<Bound<'py, PyAny>> {
    let is_2d = a.getattr("ndim").and_then(|n| n.extract::<usize>()).ok() == Some(ndim);
    let kind: Option<String> = a
        .getattr("dtype")
        .and_then(|d| d.getattr("kind"))
        .and_then(|k| k.extract())
        .ok();
    match kind {
        Some(k) if is_2d && k.len() == 1 && kinds.contains(k.as_str()) => {
            a.call_method1("astype", (dtype,)).ok()
        }
        _ => None,
    }
}

macro_rules! from_plane {
    ($t:ty, $name:literal, $same:ident, $other:ident) => {
        impl FromPlane for $t {
            fn hold_n<'py, D: Dimension>(
                a: &Bound<'py, PyAny>,
                what: &dyn Fn() -> String,
            ) -> PyResult<HeldN<'py, Self, D>> {
                match FloatArray::<'py, D>::extract(a) {
                    Some(FloatArray::$same(p)) => Ok(HeldN::Borrowed(p)),
                    #[allow(clippy::cast_possible_truncation, clippy::cast_lossless)]
                    Some(FloatArray::$other(p)) => Ok(HeldN::Owned(p.as_array().mapv(|v| v as $t))),
                    None => match astype(a, $name, D::NDIM.unwrap_or(2), "fiub") {
                        Some(c) => Self::hold_n(&c, what),
                        None => Err(not_nd(a, what, "float32 or float64", D::NDIM.unwrap_or(2))),
                    },
                }
            }
        }
    };
}

from_plane!(f32, "float32", F32, F64);
from_plane!(f64, "float64", F64, F32);

/// Integer pixels take integer (or bool) planes, borrowed when the dtype
/// matches, else converted by numpy's `astype` (which wraps around); a
/// float plane is refused rather than truncated.
macro_rules! int_plane {
    ($($t:ty => $name:literal),*) => {$(
        impl FromPlane for $t {
            fn hold_n<'py, D: Dimension>(
                a: &Bound<'py, PyAny>,
                what: &dyn Fn() -> String,
            ) -> PyResult<HeldN<'py, Self, D>> {
                if let Ok(p) = a.extract::<PyReadonlyArray<'py, $t, D>>() {
                    return Ok(HeldN::Borrowed(p));
                }
                let n = D::NDIM.unwrap_or(2);
                let want = concat!($name, " (or another integer or bool dtype)");
                astype(a, $name, n, "iub")
                    .and_then(|c| c.extract::<PyReadonlyArray<'py, $t, D>>().ok())
                    .map(HeldN::Borrowed)
                    .ok_or_else(|| not_nd(a, what, want, n))
            }
        }
    )*};
}

int_plane!(
    i8 => "int8", i16 => "int16", i32 => "int32", i64 => "int64",
    u8 => "uint8", u16 => "uint16", u32 => "uint32", u64 => "uint64"
);

fn hold_mask_n<'py, D: Dimension>(
    a: &Bound<'py, PyAny>,
    what: &dyn Fn() -> String,
) -> PyResult<HeldN<'py, i32, D>> {
    if let Ok(m) = a.extract::<PyReadonlyArray<'py, i32, D>>() {
        return Ok(HeldN::Borrowed(m));
    }
    let n = D::NDIM.unwrap_or(2);
    match astype(a, "int32", n, "fiub") {
        Some(c) => hold_mask_n(&c, what),
        None => Err(not_nd(a, what, "int32", n)),
    }
}

fn hold_mask<'py>(a: &Bound<'py, PyAny>, what: &dyn Fn() -> String) -> PyResult<Held<'py, i32>> {
    hold_mask_n::<Ix2>(a, what)
}

/// One cell result, borrowed.
struct Cell<'py, T: Element> {
    index: usize,
    bbox: imagemapper_core::Box2I,
    image: Held<'py, T>,
    mask: Option<Held<'py, i32>>,
    variance: Option<Held<'py, T>>,
}

/// The reducer over one pixel type: the one dispatch on the dtype, made
/// when the reducer is.
enum Any {
    F32(CoreReducer<f32>),
    F64(CoreReducer<f64>),
    I8(CoreReducer<i8>),
    I16(CoreReducer<i16>),
    I32(CoreReducer<i32>),
    I64(CoreReducer<i64>),
    U8(CoreReducer<u8>),
    U16(CoreReducer<u16>),
    U32(CoreReducer<u32>),
    U64(CoreReducer<u64>),
}

/// `body` with `$r` the core reducer and `$t` its pixel type.
macro_rules! dispatch {
    ($any:expr, $r:ident => $body:expr) => {
        dispatch!($any, $r, _T => $body)
    };
    ($any:expr, $r:ident, $t:ident => $body:expr) => {
        match $any {
            Any::F32($r) => { #[allow(dead_code)] type $t = f32; $body }
            Any::F64($r) => { #[allow(dead_code)] type $t = f64; $body }
            Any::I8($r) => { #[allow(dead_code)] type $t = i8; $body }
            Any::I16($r) => { #[allow(dead_code)] type $t = i16; $body }
            Any::I32($r) => { #[allow(dead_code)] type $t = i32; $body }
            Any::I64($r) => { #[allow(dead_code)] type $t = i64; $body }
            Any::U8($r) => { #[allow(dead_code)] type $t = u8; $body }
            Any::U16($r) => { #[allow(dead_code)] type $t = u16; $body }
            Any::U32($r) => { #[allow(dead_code)] type $t = u32; $body }
            Any::U64($r) => { #[allow(dead_code)] type $t = u64; $body }
        }
    };
}

/// The pixel types, by numpy name (the one list `dtype` is parsed against).
const DTYPES: [&str; 10] = [
    "float32", "float64", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
];

/// The reduce step: one output's planes, owned in Rust, filled cell batch by
/// cell batch (in cell order) and finished once.
///
/// Parameters
/// ----------
/// op : `str`
///     A name from `reduce_operations` other than ``mesh`` (ValueError
///     otherwise, naming the choices).
/// bbox : `Box2I`
///     The output box (its planes are allocated here; MemoryError when they
///     cannot be).
/// dtype : numpy dtype
///     The pixel type: ``float32``, ``float64``, or an integer type
///     ``int8`` ... ``uint64`` (image-only, no ``weighted``: ValueError
///     otherwise); TypeError for another dtype. Integer pixels are exact:
///     ``copy``, ``owner``, ``max`` and ``min`` move values unchanged,
///     ``sum`` wraps around as numpy's integer ``add`` does, ``average`` is
///     the exact mean rounded to the nearest integer (ties to even), and a
///     pixel no cell reached is 0 (counted in ``n_uncovered``).
/// full_bbox : `Box2I`, optional
///     The box every cell must lie in (default ``bbox``); a band of an
///     out-of-core output is a ``bbox`` inside it.
/// mask : int32 array, optional
///     The starting output mask (copied), of ``bbox``'s shape; without it the
///     output has no mask plane and cells' masks are ignored.
/// variance : `bool`
///     False for the image-only mode: no variance plane, and every value a
///     cell gives is used as it is (NaN, ±inf and -0.0 included).
/// grid : list of `Box2I`, optional
///     The grid's cells: ``weighted`` ramps and ``owner`` centres come from
///     them (a cell index beyond the grid uses its own box, no ramps).
/// window, inverse_variance, variance_policy, max_ramp_fraction
///     The parameters of ``weighted``.
/// n_threads : `int`
///     Threads (0: every core); the result is the same bits for any count.
#[pyclass(module = "imagemapper._core", name = "Reducer")]
pub struct PyReducer {
    inner: Option<Any>,
    op: ReduceOp,
    params: Params,
    n_threads: usize,
    dtype: &'static str,
}

fn parse_params(
    window: &str,
    inverse_variance: bool,
    variance_policy: &str,
    max_ramp_fraction: f64,
) -> PyResult<Params> {
    Ok(Params {
        window: window.parse().map_err(to_pyerr)?,
        inverse_variance,
        variance: variance_policy.parse().map_err(to_pyerr)?,
        max_ramp_fraction,
    })
}

fn take_mask(mask: Option<&Bound<'_, PyAny>>) -> PyResult<Option<Array2<i32>>> {
    mask.map(|m| {
        let arr = m.cast::<PyArray2<i32>>().map_err(|_| {
            PyTypeError::new_err(format!(
                "output mask: expected a 2-D numpy array of int32, got {}",
                dtype_name(m)
            ))
        })?;
        reduce::copy_plane(arr.readonly().as_array(), "output mask").map_err(to_pyerr)
    })
    .transpose()
}

fn numpy_dtype(dtype: &Bound<'_, PyAny>) -> PyResult<&'static str> {
    let np = dtype.py().import("numpy")?;
    let name: String = np
        .getattr("dtype")?
        .call1((dtype,))
        .and_then(|d| d.getattr("name"))
        .and_then(|n| n.extract())
        .map_err(|_| PyTypeError::new_err(format!("dtype {dtype}: not a numpy dtype")))?;
    DTYPES.iter().copied().find(|d| *d == name).ok_or_else(|| {
        PyTypeError::new_err(format!(
            "output image: expected a dtype of float32, float64 or an integer type (int8 ... \
                 uint64), got {name}"
        ))
    })
}

fn stats_dict<'py>(py: Python<'py>, s: &Stats) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("n_bad", s.n_bad)?;
    d.set_item("n_uncovered", s.n_uncovered)?;
    d.set_item("min_weight", s.min_weight)?;
    d.set_item("max_weight", s.max_weight)?;
    d.set_item("mean_weight", s.mean_weight)?;
    d.set_item("n_zero_weight", s.n_zero_weight)?;
    Ok(d)
}

static EXPOSURE: PyOnceLock<Py<PyType>> = PyOnceLock::new();

impl PyReducer {
    fn inner(&self) -> PyResult<&Any> {
        self.inner.as_ref().ok_or_else(|| {
            PyValueError::new_err("this reducer's planes were taken; make a new one")
        })
    }
    fn inner_mut(&mut self) -> PyResult<&mut Any> {
        self.inner.as_mut().ok_or_else(|| {
            PyValueError::new_err("this reducer's planes were taken; make a new one")
        })
    }

    #[allow(clippy::too_many_arguments)]
    fn build(
        op: ReduceOp,
        params: Params,
        bbox: imagemapper_core::Box2I,
        full: imagemapper_core::Box2I,
        mask: Option<Array2<i32>>,
        variance: bool,
        geoms: GeomSource<'_>,
        dtype: &'static str,
        n_threads: usize,
    ) -> imagemapper_core::Result<Any> {
        fn make<T: Pixel>(
            op: ReduceOp,
            params: Params,
            bbox: imagemapper_core::Box2I,
            full: imagemapper_core::Box2I,
            mask: Option<Array2<i32>>,
            variance: bool,
            geoms: GeomSource<'_>,
            n_threads: usize,
        ) -> imagemapper_core::Result<CoreReducer<T>> {
            match geoms {
                GeomSource::Grid(g) => {
                    CoreReducer::new(op, params, bbox, full, mask, variance, g, n_threads)
                }
                GeomSource::Shared(g) => {
                    CoreReducer::with_geoms(op, params, bbox, full, mask, variance, g, n_threads)
                }
            }
        }
        macro_rules! of {
            ($variant:ident) => {
                Any::$variant(make(
                    op, params, bbox, full, mask, variance, geoms, n_threads,
                )?)
            };
        }
        Ok(match dtype {
            "float32" => of!(F32),
            "float64" => of!(F64),
            "int8" => of!(I8),
            "int16" => of!(I16),
            "int32" => of!(I32),
            "int64" => of!(I64),
            "uint8" => of!(U8),
            "uint16" => of!(U16),
            "uint32" => of!(U32),
            "uint64" => of!(U64),
            other => {
                return Err(imagemapper_core::Error::InvalidValue(format!(
                    "dtype {other} is not a pixel type"
                )))
            }
        })
    }
}

enum GeomSource<'a> {
    Grid(&'a [imagemapper_core::Box2I]),
    Shared(Arc<[CellGeom]>),
}

/// Python-facing checks of a batch (the messages tests and users rely on).
fn check_batch<T: Element>(
    cells: &[Cell<'_, T>],
    planes: &[Planes2<'_, T>],
    full: &imagemapper_core::Box2I,
    with_variance: bool,
) -> PyResult<()> {
    for (c, (image, mask, variance)) in cells.iter().zip(planes) {
        let i = c.index;
        if !c.bbox.is_empty() && !full.contains_box(&c.bbox) {
            return Err(PyValueError::new_err(format!(
                "Mapper result for cell {i}: its subExposure covers {}, which is not inside the \
                 input exposure's box {}; expected (a part of) the cell, in the parent \
                 coordinates of the input",
                repr(&c.bbox),
                repr(full)
            )));
        }
        let want = (
            c.bbox.height().max(0) as usize,
            c.bbox.width().max(0) as usize,
        );
        let dims = [
            ("image", Some(image.dim())),
            ("mask", mask.as_ref().map(ndarray::ArrayView2::dim)),
            ("variance", variance.as_ref().map(ndarray::ArrayView2::dim)),
        ];
        for (name, dim) in dims {
            if let Some(d) = dim {
                if d != want {
                    return Err(PyValueError::new_err(format!(
                        "Mapper result for cell {i}: its subExposure's {name} array has shape \
                         ({}, {}) but its box {} needs ({}, {}) (rows, columns)",
                        d.0,
                        d.1,
                        repr(&c.bbox),
                        want.0,
                        want.1
                    )));
                }
            }
        }
        if with_variance && variance.is_none() {
            return Err(PyValueError::new_err(format!(
                "cell {i}: no variance plane, but this reducer has one"
            )));
        }
    }
    Ok(())
}

type Planes2<'a, T> = (
    ndarray::ArrayView2<'a, T>,
    Option<ndarray::ArrayView2<'a, i32>>,
    Option<ndarray::ArrayView2<'a, T>>,
);

fn add_cells<T: Pixel + Element>(
    py: Python<'_>,
    r: &mut CoreReducer<T>,
    cells: &[Cell<'_, T>],
) -> PyResult<()> {
    let views: Vec<Planes2<'_, T>> = cells
        .iter()
        .map(|c| {
            (
                c.image.view(),
                c.mask.as_ref().map(HeldN::view),
                c.variance.as_ref().map(HeldN::view),
            )
        })
        .collect();
    add_views(py, r, cells, &views)
}

/// One plane of a batch (`Reducer.add_batch`): a stack `(n, h, w)`, or
/// the 2-D plane the cells were cut from.
enum BatchPlane<'py, T: Element> {
    Stack(HeldN<'py, T, Ix3>, &'static str),
    Source(Held<'py, T>, &'static str),
}

type Hold<'py, T, D> = fn(&Bound<'py, PyAny>, &dyn Fn() -> String) -> PyResult<HeldN<'py, T, D>>;

impl<'py, T: Element> BatchPlane<'py, T> {
    fn hold(
        a: &Bound<'py, PyAny>,
        name: &'static str,
        hold2: Hold<'py, T, Ix2>,
        hold3: Hold<'py, T, Ix3>,
    ) -> PyResult<Self> {
        let ndim: usize = a.getattr("ndim").and_then(|d| d.extract()).unwrap_or(3);
        Ok(if ndim == 2 {
            Self::Source(hold2(a, &|| format!("batch {name} source plane"))?, name)
        } else {
            Self::Stack(hold3(a, &|| format!("batch {name}"))?, name)
        })
    }

    /// A stack holds `n` cells; a source plane needs an origin.
    fn check(&self, n: usize, origin: Option<(i32, i32)>) -> PyResult<()> {
        match self {
            Self::Stack(s, name) => {
                let d = s.view().dim();
                if d.0 != n {
                    return Err(PyValueError::new_err(format!(
                        "batch {name} holds {} cells but {n} cells were given; expected shape \
                         ({n}, height, width)",
                        d.0
                    )));
                }
            }
            Self::Source(_, name) if origin.is_none() => {
                return Err(PyValueError::new_err(format!(
                    "batch {name} is a 2-D plane (the plane the cells were cut from) but no \
                     origin was given; expected origin=(x0, y0) of its pixel [0, 0]"
                )));
            }
            Self::Source(..) => {}
        }
        Ok(())
    }

    fn view(&self) -> BatchView<'_, T> {
        match self {
            Self::Stack(s, _) => BatchView::Stack(s.view()),
            Self::Source(p, name) => BatchView::Source(p.view(), name),
        }
    }
}

enum BatchView<'a, T> {
    Stack(ArrayView<'a, T, Ix3>),
    Source(ndarray::ArrayView2<'a, T>, &'static str),
}

impl<'a, T> BatchView<'a, T> {
    /// Cell `k`'s plane: its layer of the stack, or its box of the source
    /// plane (which must hold it).
    fn layer(
        &self,
        k: usize,
        index: usize,
        b: imagemapper_core::Box2I,
        (x0, y0): (i32, i32),
    ) -> PyResult<ndarray::ArrayView2<'a, T>> {
        match self {
            Self::Stack(s) => Ok((*s).index_axis_move(Axis(0), k)),
            Self::Source(p, name) => {
                let (rows, cols) = p.dim();
                let y = i64::from(b.min_y()) - i64::from(y0);
                let x = i64::from(b.min_x()) - i64::from(x0);
                let (h, w) = (i64::from(b.height().max(0)), i64::from(b.width().max(0)));
                if y < 0 || x < 0 || y + h > rows as i64 || x + w > cols as i64 {
                    return Err(PyValueError::new_err(format!(
                        "batch {name}: cell {index} covers {}, which is not inside the source \
                         plane of shape ({rows}, {cols}) at origin ({x0}, {y0})",
                        repr(&b)
                    )));
                }
                // In range (checked above), so the casts are exact.
                #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
                let (y, x, h, w) = (y as usize, x as usize, h as usize, w as usize);
                Ok((*p).slice_move(ndarray::s![y..y + h, x..x + w]))
            }
        }
    }
}

/// Check a batch (with the messages users rely on) and stitch it; `cells`
/// give the indices and boxes, `planes` the arrays.
fn add_views<T: Pixel + Element>(
    py: Python<'_>,
    r: &mut CoreReducer<T>,
    cells: &[Cell<'_, T>],
    planes: &[Planes2<'_, T>],
) -> PyResult<()> {
    check_batch(cells, planes, &r.full_bbox(), r.has_variance())?;
    let with_var = r.has_variance();
    let views: Vec<CellView<'_, T>> = cells
        .iter()
        .zip(planes)
        .map(|(c, (i, m, v))| CellView {
            index: c.index,
            bbox: c.bbox,
            image: *i,
            mask: *m,
            variance: if with_var { *v } else { None },
        })
        .collect();
    let (first, last) = (cells[0].index, cells[cells.len() - 1].index);
    let bbox = r.bbox();
    run_detached(py, || r.add(&views)).map_err(|e| {
        PyValueError::new_err(format!(
            "cannot stitch the results of cells {first}..{last} into the exposure box {}: {}",
            repr(&bbox),
            e.value(py)
        ))
    })
}

/// Borrow the planes of `(index, bbox, image, mask or None, variance or None)` tuples.
fn raw_cells<'py, T: FromPlane>(items: &Bound<'py, PyList>) -> PyResult<Vec<Cell<'py, T>>> {
    let mut out = Vec::with_capacity(items.len());
    for (k, item) in items.iter().enumerate() {
        let t = item.cast::<PyTuple>().map_err(|_| {
            PyTypeError::new_err(format!(
                "item {k}: expected a tuple (index, bbox, image, mask or None, variance or None)"
            ))
        })?;
        if t.len() != 5 {
            return Err(PyTypeError::new_err(format!(
                "item {k}: expected a tuple (index, bbox, image, mask or None, variance or None) \
                 of 5 items, got {}",
                t.len()
            )));
        }
        let index: usize = t.get_item(0)?.extract()?;
        let bbox: Box2I = t.get_item(1)?.extract().map_err(|_| {
            PyTypeError::new_err(format!("cell {index}: the second item must be a Box2I"))
        })?;
        let (m, v) = (t.get_item(3)?, t.get_item(4)?);
        out.push(Cell {
            index,
            bbox: bbox.0,
            image: T::hold(&t.get_item(2)?, &|| format!("cell {index} image"))?,
            mask: if m.is_none() {
                None
            } else {
                Some(hold_mask(&m, &|| format!("cell {index} mask"))?)
            },
            variance: if v.is_none() {
                None
            } else {
                Some(T::hold(&v, &|| format!("cell {index} variance"))?)
            },
        });
    }
    Ok(out)
}

/// The planes of mapper results `(index, Struct(subExposure=Exposure))`,
/// read from the exposure's planes without copying them.
fn result_cells<'py, T: FromPlane>(
    items: &Bound<'py, PyList>,
    op: ReduceOp,
    with_variance: bool,
) -> PyResult<Vec<(Cell<'py, T>, Bound<'py, PyAny>)>> {
    let py = items.py();
    let exposure = EXPOSURE.import(py, "imagemapper.image", "Exposure")?;
    let mut out = Vec::with_capacity(items.len());
    for item in items.iter() {
        let (index, result): (usize, Bound<'py, PyAny>) = item.extract()?;
        let sub = result
            .getattr(pyo3::intern!(py, "subExposure"))
            .ok()
            .filter(|s| !s.is_none());
        let sub = match sub {
            Some(s) if s.is_instance(exposure)? => s,
            other => {
                let found = match other {
                    None => "no 'subExposure' item".to_string(),
                    Some(s) => format!("subExposure of type {}", s.get_type().name()?),
                };
                return Err(PyTypeError::new_err(format!(
                    "Mapper result for cell {index} has {found}; reduceOperation='{op}' expects \
                     an Exposure in result.subExposure. Consider using reduceOperation='none' to \
                     receive the results as they are."
                )));
            }
        };
        // The planes' own arrays (`_array`), not `.array`: a copy-on-write
        // cell handed back unchanged is read without being copied.
        let mi = sub.getattr(pyo3::intern!(py, "_maskedImage"))?;
        let img = mi.getattr(pyo3::intern!(py, "_image"))?;
        let arr = img.getattr(pyo3::intern!(py, "_array"))?;
        let x0: i32 = img.getattr(pyo3::intern!(py, "_x0"))?.extract()?;
        let y0: i32 = img.getattr(pyo3::intern!(py, "_y0"))?.extract()?;
        let image = T::hold(&arr, &|| format!("Mapper result for cell {index}: image"))?;
        let (h, w) = image.dim();
        let bbox = imagemapper_core::Box2I::from_corner_dims(
            imagemapper_core::Point2I::new(x0, y0),
            imagemapper_core::Extent2I::new(w as i32, h as i32),
            false,
        )
        .map_err(to_pyerr)?;
        let mask = mi
            .getattr(pyo3::intern!(py, "_mask"))?
            .getattr(pyo3::intern!(py, "_array"))?;
        let variance = if with_variance {
            let v = mi
                .getattr(pyo3::intern!(py, "_variance"))?
                .getattr(pyo3::intern!(py, "_array"))?;
            Some(T::hold(&v, &|| {
                format!("Mapper result for cell {index}: variance")
            })?)
        } else {
            None
        };
        out.push((
            Cell {
                index,
                bbox,
                image,
                mask: Some(hold_mask(&mask, &|| {
                    format!("Mapper result for cell {index}: mask")
                })?),
                variance,
            },
            sub,
        ));
    }
    Ok(out)
}

fn into_numpy<'py>(
    py: Python<'py>,
    out: Output<impl Element + Pixel>,
) -> PyResult<Bound<'py, PyTuple>> {
    let image = PyArray2::from_owned_array(py, out.image).into_any();
    let mask = out
        .mask
        .map(|m| PyArray2::from_owned_array(py, m).into_any());
    let variance = out
        .variance
        .map(|v| PyArray2::from_owned_array(py, v).into_any());
    let weights = out.weights.map(|w| match w {
        Weights::Count(c) => PyArray2::from_owned_array(py, c).into_any(),
        Weights::Sum(s) => PyArray2::from_owned_array(py, s).into_any(),
    });
    PyTuple::new(py, [Some(image), mask, variance, weights])
}

#[pymethods]
impl PyReducer {
    #[new]
    #[pyo3(signature = (op, bbox, dtype, *, full_bbox=None, mask=None, variance=true, grid=None,
                        window="cosine", inverse_variance=false, variance_policy="correlated",
                        max_ramp_fraction=0.5, n_threads=0))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        op: &str,
        bbox: Box2I,
        dtype: &Bound<'_, PyAny>,
        full_bbox: Option<Box2I>,
        mask: Option<&Bound<'_, PyAny>>,
        variance: bool,
        grid: Option<Vec<Box2I>>,
        window: &str,
        inverse_variance: bool,
        variance_policy: &str,
        max_ramp_fraction: f64,
        n_threads: usize,
    ) -> PyResult<Self> {
        let op: ReduceOp = op.parse().map_err(to_pyerr)?;
        let params = parse_params(window, inverse_variance, variance_policy, max_ramp_fraction)?;
        let dtype = numpy_dtype(dtype)?;
        let mask = take_mask(mask)?;
        let full = full_bbox.map_or(bbox.0, |b| b.0);
        let grid: Vec<imagemapper_core::Box2I> =
            grid.unwrap_or_default().into_iter().map(|b| b.0).collect();
        let inner = run_detached(py, || {
            Self::build(
                op,
                params,
                bbox.0,
                full,
                mask,
                variance,
                GeomSource::Grid(&grid),
                dtype,
                n_threads,
            )
        })?;
        Ok(Self {
            inner: Some(inner),
            op,
            params,
            n_threads,
            dtype,
        })
    }

    /// A reducer for another box of the same output (same operation,
    /// parameters and grid geometry): one band of an out-of-core output.
    #[pyo3(signature = (bbox, mask=None, n_threads=None))]
    fn band(
        &self,
        py: Python<'_>,
        bbox: Box2I,
        mask: Option<&Bound<'_, PyAny>>,
        n_threads: Option<usize>,
    ) -> PyResult<Self> {
        let (full, geoms, variance) =
            dispatch!(self.inner()?, r => (r.full_bbox(), r.geoms(), r.has_variance()));
        let mask = take_mask(mask)?;
        let n_threads = n_threads.unwrap_or(self.n_threads);
        let (op, params, dtype) = (self.op, self.params, self.dtype);
        let inner = run_detached(py, || {
            Self::build(
                op,
                params,
                bbox.0,
                full,
                mask,
                variance,
                GeomSource::Shared(geoms),
                dtype,
                n_threads,
            )
        })?;
        Ok(Self {
            inner: Some(inner),
            op,
            params,
            n_threads,
            dtype,
        })
    }

    /// Stitch ``(index, bbox, image, mask or None, variance or None)`` cells,
    /// in the order given. Planes of another real dtype are converted as
    /// numpy's ``astype`` does (an integer reducer takes integer and bool
    /// planes only: TypeError for a float plane); a cell outside
    /// ``full_bbox`` or with a plane of the wrong shape raises ValueError
    /// naming the cell, and nothing is written then.
    fn add(&mut self, py: Python<'_>, cells: &Bound<'_, PyList>) -> PyResult<()> {
        if cells.is_empty() {
            return Ok(());
        }
        dispatch!(self.inner_mut()?, r, T => add_cells(py, r, &raw_cells::<T>(cells)?))
    }

    /// Stitch mapper results ``(index, Struct(subExposure=Exposure))``
    /// (planes read without copying); TypeError naming the cell for a result
    /// without an `Exposure`. Returns the results' ``subExposure`` objects.
    fn add_results<'py>(
        &mut self,
        py: Python<'py>,
        results: &Bound<'py, PyList>,
    ) -> PyResult<Bound<'py, PyList>> {
        let op = self.op;
        if results.is_empty() {
            return Ok(PyList::empty(py));
        }
        dispatch!(self.inner_mut()?, r, T => {
            let pairs = result_cells::<T>(results, op, r.has_variance())?;
            let subs: Vec<Bound<'py, PyAny>> = pairs.iter().map(|(_, s)| s.clone()).collect();
            let cells: Vec<Cell<'py, T>> = pairs.into_iter().map(|(c, _)| c).collect();
            add_cells(py, r, &cells)?;
            PyList::new(py, subs)
        })
    }

    /// Stitch equal-shape cells given as stacks of shape ``(n, h, w)``
    /// (cell ``k`` is ``indices[k]`` over ``bboxes[k]``), with the checks and
    /// messages of `add`. A plane given as a 2-D array instead is the plane
    /// the cells were cut from, whose pixel ``[0, 0]`` is at ``origin``
    /// ``(x0, y0)`` (parent coordinates): each cell reads its box from it,
    /// so a plane the mapper left untouched needs no stack.
    #[pyo3(signature = (indices, bboxes, image, mask, variance, origin=None))]
    #[allow(clippy::too_many_arguments)]
    fn add_batch(
        &mut self,
        py: Python<'_>,
        indices: Vec<usize>,
        bboxes: Vec<Box2I>,
        image: &Bound<'_, PyAny>,
        mask: Option<&Bound<'_, PyAny>>,
        variance: Option<&Bound<'_, PyAny>>,
        origin: Option<(i32, i32)>,
    ) -> PyResult<()> {
        if indices.len() != bboxes.len() {
            return Err(PyValueError::new_err(format!(
                "{} cell indices but {} boxes; expected one box per cell",
                indices.len(),
                bboxes.len()
            )));
        }
        let n = indices.len();
        dispatch!(self.inner_mut()?, r, T => {
            let img = BatchPlane::hold(image, "image", <T>::hold_n::<Ix2>, <T>::hold_n::<Ix3>)?;
            let msk = mask
                .map(|m| BatchPlane::hold(m, "mask", hold_mask_n::<Ix2>, hold_mask_n::<Ix3>))
                .transpose()?;
            let var = variance
                .map(|v| BatchPlane::hold(v, "variance", <T>::hold_n::<Ix2>, <T>::hold_n::<Ix3>))
                .transpose()?;
            img.check(n, origin)?;
            if let Some(m) = &msk {
                m.check(n, origin)?;
            }
            if let Some(v) = &var {
                v.check(n, origin)?;
            }
            if n == 0 {
                return Ok(());
            }
            let cells: Vec<Cell<'_, T>> = indices
                .iter()
                .zip(&bboxes)
                .map(|(&index, b)| Cell {
                    index,
                    bbox: b.0,
                    image: HeldN::Owned(Array2::zeros((0, 0))),
                    mask: None,
                    variance: None,
                })
                .collect();
            // Views of each cell's layer of the stacks or box of the source
            // planes (no copy).
            let (iv, mv, vv) = (img.view(), msk.as_ref().map(BatchPlane::view),
                                var.as_ref().map(BatchPlane::view));
            let origin = origin.unwrap_or((0, 0));
            let views = cells
                .iter()
                .enumerate()
                .map(|(k, c)| {
                    Ok((
                        iv.layer(k, c.index, c.bbox, origin)?,
                        mv.as_ref().map(|m| m.layer(k, c.index, c.bbox, origin)).transpose()?,
                        vv.as_ref().map(|v| v.layer(k, c.index, c.bbox, origin)).transpose()?,
                    ))
                })
                .collect::<PyResult<Vec<Planes2<'_, T>>>>()?;
            add_views(py, r, &cells, &views)
        })
    }

    /// Record cells whose mapper failed: `finish` flags every output pixel
    /// in their boxes.
    fn add_failed(&mut self, boxes: Vec<Box2I>) -> PyResult<()> {
        let boxes: Vec<imagemapper_core::Box2I> = boxes.into_iter().map(|b| b.0).collect();
        dispatch!(self.inner_mut()?, r => r.add_failed(&boxes));
        Ok(())
    }

    /// Normalise (``average``, ``weighted``), OR ``bad_bits`` into every
    /// pixel with no valid value or in a failed cell, and return ``n_bad``
    /// (pixels flagged), ``n_uncovered``, ``min_weight``, ``max_weight``,
    /// ``mean_weight`` and ``n_zero_weight``.
    fn finish<'py>(&mut self, py: Python<'py>, bad_bits: i32) -> PyResult<Bound<'py, PyDict>> {
        let inner = self.inner_mut()?;
        let stats = dispatch!(inner, r => run_detached(py, || r.finish(bad_bits))?);
        stats_dict(py, &stats)
    }

    /// Hand the planes over to numpy, without copying: ``(image, mask,
    /// variance, weights)``; ``weights`` is the count of valid contributions
    /// (``average``) or the summed window weights (``weighted``).
    fn take<'py>(&mut self, py: Python<'py>) -> PyResult<Bound<'py, PyTuple>> {
        let inner = self
            .inner
            .take()
            .ok_or_else(|| PyValueError::new_err("this reducer's planes were taken already"))?;
        dispatch!(inner, r => into_numpy(py, r.into_output()))
    }

    /// The operation's name.
    #[getter]
    fn op(&self) -> &'static str {
        self.op.name()
    }

    /// The output box.
    #[getter]
    fn bbox(&self) -> PyResult<Box2I> {
        Ok(Box2I(dispatch!(self.inner()?, r => r.bbox())))
    }

    /// The pixel type: ``"float32"``, ``"float64"`` or an integer type
    /// (``"int8"`` ... ``"uint64"``).
    #[getter]
    fn dtype(&self) -> &'static str {
        self.dtype
    }

    fn __repr__(&self) -> String {
        format!("Reducer(op={:?}, dtype={:?})", self.op.name(), self.dtype)
    }
}

/// The names of every stitching operation (``copy``, ``sum``, ``average``,
/// ``weighted``, ``owner``, ``max``, ``min``, ``mesh``), parsed in one place.
#[pyfunction]
pub fn reduce_operations() -> Vec<&'static str> {
    ReduceOp::ALL.iter().map(|o| o.name()).collect()
}

/// Run the built-in Rust Gaussian mapper over the cells and stitch into
/// ``reducer`` (finishing it), all in Rust; returns `Reducer.finish`'s
/// statistics.
#[pyfunction]
#[pyo3(signature = (sigma, reducer, image, mask, variance, cells, expanded, bad_bits))]
#[allow(clippy::too_many_arguments)]
pub fn map_reduce_gaussian<'py>(
    py: Python<'py>,
    sigma: f64,
    reducer: &mut PyReducer,
    image: &Bound<'py, PyAny>,
    mask: &Bound<'py, PyAny>,
    variance: &Bound<'py, PyAny>,
    cells: Vec<Box2I>,
    expanded: Vec<Box2I>,
    bad_bits: i32,
) -> PyResult<Bound<'py, PyDict>> {
    let grid = imagemapper_core::grid::Grid {
        cells: cells.into_iter().map(|b| b.0).collect(),
        expanded: expanded.into_iter().map(|b| b.0).collect(),
    };
    let (n_threads, dtype) = (reducer.n_threads, reducer.dtype);
    macro_rules! go {
        ($r:ident, $t:ty) => {{
            let img = <$t>::hold(image, &|| "input image".to_string())?;
            let var = <$t>::hold(variance, &|| "input variance".to_string())?;
            let msk = hold_mask(mask, &|| "input mask".to_string())?;
            let view = imagemapper_core::driver::ImageView {
                bbox: $r.bbox(),
                image: img.view(),
                mask: msk.view(),
                variance: var.view(),
            };
            run_detached(py, || {
                imagemapper_core::driver::map_reduce(&view, &grid, $r, bad_bits, n_threads, |c| {
                    imagemapper_core::builtin::gaussian_convolve_cell(c, sigma)
                })
            })?
        }};
    }
    let stats = match reducer.inner_mut()? {
        Any::F32(r) => go!(r, f32),
        Any::F64(r) => go!(r, f64),
        _ => {
            return Err(PyTypeError::new_err(format!(
                "the Rust Gaussian mapper needs a float32 or float64 reducer, got {dtype}"
            )))
        }
    };
    stats_dict(py, &stats)
}

fn mesh_t<T: FromPlane>(
    py: Python<'_>,
    xs: &[f64],
    ys: &[f64],
    values: &Bound<'_, PyAny>,
    bbox: imagemapper_core::Box2I,
    out: &Bound<'_, PyArray2<T>>,
    n_threads: usize,
) -> PyResult<()> {
    let vals = values
        .extract::<PyReadonlyArray2<'_, f64>>()
        .map_err(|_| not_2d(values, &|| "mesh values".to_string(), "float64"))?;
    let mut o = out.try_readwrite().map_err(|e| {
        PyValueError::new_err(format!(
            "output image is not writeable or is borrowed elsewhere: {e}"
        ))
    })?;
    let v = vals.as_array();
    let ov = o.as_array_mut();
    run_detached(py, || {
        reduce::mesh::bilinear(xs, ys, v, &bbox, ov, n_threads)
    })
}

/// Bilinear interpolation of ``values`` (float64, shape ``(len(ys),
/// len(xs))``) given at the nodes ``xs`` × ``ys`` (parent pixel
/// coordinates) into ``out`` (covering ``bbox``), constant beyond the
/// outermost nodes.
#[pyfunction]
#[pyo3(signature = (xs, ys, values, bbox, out, n_threads=0))]
pub fn mesh_bilinear(
    py: Python<'_>,
    xs: Vec<f64>,
    ys: Vec<f64>,
    values: &Bound<'_, PyAny>,
    bbox: Box2I,
    out: &Bound<'_, PyAny>,
    n_threads: usize,
) -> PyResult<()> {
    if let Ok(o) = out.cast::<PyArray2<f32>>() {
        return mesh_t::<f32>(py, &xs, &ys, values, bbox.0, o, n_threads);
    }
    if let Ok(o) = out.cast::<PyArray2<f64>>() {
        return mesh_t::<f64>(py, &xs, &ys, values, bbox.0, o, n_threads);
    }
    Err(PyTypeError::new_err(format!(
        "output image: expected a 2-D numpy array of float32 or float64, got {}",
        dtype_name(out)
    )))
}
