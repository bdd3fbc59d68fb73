//! `stitch_init`, `stitch_accumulate`, `stitch_finalize`: the reduce kernel
//! over numpy arrays. The pixel type (float32 or float64) is taken from the
//! output image; cells must match it. Arrays are borrowed, never copied; the
//! GIL is released while Rust works.

use imagemapper_core::stitch::{self, CellView, OutputMut, Pixel, ReduceOp, StitchStats};
use numpy::{Element, PyArray2, PyArrayMethods, PyReadonlyArray2, PyReadwriteArray2};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyTuple};

use crate::errors::{run_detached, to_pyerr};
use crate::geom::Box2I;

fn parse_op(op: &str) -> PyResult<ReduceOp> {
    op.parse().map_err(to_pyerr)
}

/// The numpy name of a Rust element type.
fn np_name<T>() -> &'static str {
    match std::any::type_name::<T>() {
        "f32" => "float32",
        "f64" => "float64",
        "i32" => "int32",
        other => other,
    }
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

fn rw<'py, T: Element>(a: &Bound<'py, PyAny>, name: &str) -> PyResult<PyReadwriteArray2<'py, T>> {
    let arr = a.cast::<PyArray2<T>>().map_err(|_| {
        PyTypeError::new_err(format!(
            "output {name}: expected a 2-D numpy array of {}, got {}",
            np_name::<T>(),
            dtype_name(a)
        ))
    })?;
    arr.try_readwrite().map_err(|e| {
        PyValueError::new_err(format!(
            "output {name} is not writeable or is borrowed elsewhere: {e}"
        ))
    })
}

fn ro<'py, T: Element>(a: &Bound<'py, PyAny>, what: &str) -> PyResult<PyReadonlyArray2<'py, T>> {
    let arr = a.cast::<PyArray2<T>>().map_err(|_| {
        let dims = a
            .getattr("ndim")
            .map(|n| n.to_string())
            .unwrap_or_else(|_| "?".to_string());
        PyTypeError::new_err(format!(
            "{what}: expected a 2-D numpy array of {}, got dtype {} with {dims} dimension(s)",
            np_name::<T>(),
            dtype_name(a)
        ))
    })?;
    arr.try_readonly()
        .map_err(|e| PyValueError::new_err(format!("{what} cannot be borrowed: {e}")))
}

/// Whether the image array holds float32 (true) or float64 (false).
fn is_f32(image: &Bound<'_, PyAny>) -> PyResult<bool> {
    if image.cast::<PyArray2<f32>>().is_ok() {
        return Ok(true);
    }
    if image.cast::<PyArray2<f64>>().is_ok() {
        return Ok(false);
    }
    Err(PyTypeError::new_err(format!(
        "output image: expected a 2-D numpy array of float32 or float64, got {}",
        dtype_name(image)
    )))
}

struct Outputs<'py, T: Element> {
    image: PyReadwriteArray2<'py, T>,
    mask: PyReadwriteArray2<'py, i32>,
    variance: PyReadwriteArray2<'py, T>,
    weights: Option<PyReadwriteArray2<'py, i32>>,
}

impl<'py, T: Element + Pixel> Outputs<'py, T> {
    fn borrow(
        image: &Bound<'py, PyAny>,
        mask: &Bound<'py, PyAny>,
        variance: &Bound<'py, PyAny>,
        weights: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Self> {
        Ok(Self {
            image: rw::<T>(image, "image")?,
            mask: rw::<i32>(mask, "mask")?,
            variance: rw::<T>(variance, "variance")?,
            weights: weights.map(|w| rw::<i32>(w, "weights")).transpose()?,
        })
    }

    fn view(&mut self, bbox: imagemapper_core::Box2I) -> OutputMut<'_, T> {
        OutputMut {
            bbox,
            image: self.image.as_array_mut(),
            mask: self.mask.as_array_mut(),
            variance: self.variance.as_array_mut(),
            weights: self.weights.as_mut().map(|w| w.as_array_mut()),
        }
    }
}

/// The output box implied by the image's shape when none is given.
fn implied_box(image: &Bound<'_, PyAny>) -> PyResult<imagemapper_core::Box2I> {
    let shape: Vec<usize> = image.getattr("shape")?.extract()?;
    let dim = |n: usize, what: &str| {
        i32::try_from(n).map_err(|_| {
            PyValueError::new_err(format!(
                "output image has {n} {what}; expected at most {} (32-bit pixel coordinates)",
                i32::MAX
            ))
        })
    };
    let (h, w) = match shape.as_slice() {
        [h, w] => (dim(*h, "rows")?, dim(*w, "columns")?),
        _ => {
            return Err(PyValueError::new_err(format!(
                "output image has shape {shape:?}; expected a 2-D array"
            )))
        }
    };
    imagemapper_core::Box2I::from_corner_dims(
        imagemapper_core::Point2I::new(0, 0),
        imagemapper_core::Extent2I::new(w, h),
        true,
    )
    .map_err(to_pyerr)
}

fn init_t<T: Element + Pixel>(
    py: Python<'_>,
    op: ReduceOp,
    image: &Bound<'_, PyAny>,
    mask: &Bound<'_, PyAny>,
    variance: &Bound<'_, PyAny>,
    weights: Option<&Bound<'_, PyAny>>,
    n_threads: usize,
) -> PyResult<()> {
    let bbox = implied_box(image)?;
    let mut outs = Outputs::<T>::borrow(image, mask, variance, weights)?;
    let mut out = outs.view(bbox);
    run_detached(py, || stitch::init(op, &mut out, n_threads))
}

/// Initialise the output planes for ``op``: image and variance to NaN
/// (``copy``) or 0, weights to 0. The mask is left unchanged.
#[pyfunction]
#[pyo3(signature = (op, image, mask, variance, weights=None, n_threads=0))]
pub fn stitch_init(
    py: Python<'_>,
    op: &str,
    image: &Bound<'_, PyAny>,
    mask: &Bound<'_, PyAny>,
    variance: &Bound<'_, PyAny>,
    weights: Option<&Bound<'_, PyAny>>,
    n_threads: usize,
) -> PyResult<()> {
    let op = parse_op(op)?;
    if is_f32(image)? {
        init_t::<f32>(py, op, image, mask, variance, weights, n_threads)
    } else {
        init_t::<f64>(py, op, image, mask, variance, weights, n_threads)
    }
}

struct CellBorrow<'py, T: Element> {
    bbox: imagemapper_core::Box2I,
    image: PyReadonlyArray2<'py, T>,
    mask: Option<PyReadonlyArray2<'py, i32>>,
    variance: PyReadonlyArray2<'py, T>,
}

fn borrow_cells<'py, T: Element>(cells: &Bound<'py, PyList>) -> PyResult<Vec<CellBorrow<'py, T>>> {
    let mut out = Vec::with_capacity(cells.len());
    for (i, item) in cells.iter().enumerate() {
        let t = item.cast::<PyTuple>().map_err(|_| {
            PyTypeError::new_err(format!(
                "cell {i}: expected a tuple (bbox, image, mask or None, variance)"
            ))
        })?;
        if t.len() != 4 {
            return Err(PyTypeError::new_err(format!(
                "cell {i}: expected a tuple (bbox, image, mask or None, variance) of 4 items, got {}",
                t.len()
            )));
        }
        let bbox: Box2I = t.get_item(0)?.extract().map_err(|_| {
            PyTypeError::new_err(format!("cell {i}: the first item must be a Box2I"))
        })?;
        let m = t.get_item(2)?;
        let mask = if m.is_none() {
            None
        } else {
            Some(ro::<i32>(&m, &format!("cell {i} mask"))?)
        };
        out.push(CellBorrow {
            bbox: bbox.0,
            image: ro::<T>(&t.get_item(1)?, &format!("cell {i} image"))?,
            mask,
            variance: ro::<T>(&t.get_item(3)?, &format!("cell {i} variance"))?,
        });
    }
    Ok(out)
}

#[allow(clippy::too_many_arguments)]
fn accumulate_t<T: Element + Pixel>(
    py: Python<'_>,
    op: ReduceOp,
    bbox: imagemapper_core::Box2I,
    image: &Bound<'_, PyAny>,
    mask: &Bound<'_, PyAny>,
    variance: &Bound<'_, PyAny>,
    weights: Option<&Bound<'_, PyAny>>,
    cells: &Bound<'_, PyList>,
    n_threads: usize,
) -> PyResult<()> {
    let borrowed = borrow_cells::<T>(cells)?;
    let views: Vec<CellView<'_, T>> = borrowed
        .iter()
        .map(|c| CellView {
            bbox: c.bbox,
            image: c.image.as_array(),
            mask: c.mask.as_ref().map(|m| m.as_array()),
            variance: c.variance.as_array(),
        })
        .collect();
    let mut outs = Outputs::<T>::borrow(image, mask, variance, weights)?;
    let mut out = outs.view(bbox);
    run_detached(py, || stitch::accumulate(op, &mut out, &views, n_threads))
}

/// Stitch a batch of cells, in list order, into the output planes.
///
/// ``cells`` is a list of ``(bbox, image, mask or None, variance)`` with
/// arrays of the bbox's shape, of the output image's dtype (masks int32).
/// Raises ``ValueError`` for a cell outside ``out_bbox`` or of the wrong
/// shape and ``TypeError`` for a wrong dtype, naming the cell.
#[pyfunction]
#[pyo3(signature = (op, out_bbox, image, mask, variance, weights, cells, n_threads=0))]
#[allow(clippy::too_many_arguments)]
pub fn stitch_accumulate(
    py: Python<'_>,
    op: &str,
    out_bbox: Box2I,
    image: &Bound<'_, PyAny>,
    mask: &Bound<'_, PyAny>,
    variance: &Bound<'_, PyAny>,
    weights: Option<&Bound<'_, PyAny>>,
    cells: &Bound<'_, PyList>,
    n_threads: usize,
) -> PyResult<()> {
    let op = parse_op(op)?;
    if is_f32(image)? {
        accumulate_t::<f32>(
            py, op, out_bbox.0, image, mask, variance, weights, cells, n_threads,
        )
    } else {
        accumulate_t::<f64>(
            py, op, out_bbox.0, image, mask, variance, weights, cells, n_threads,
        )
    }
}

#[allow(clippy::too_many_arguments)]
fn finalize_t<T: Element + Pixel>(
    py: Python<'_>,
    op: ReduceOp,
    image: &Bound<'_, PyAny>,
    mask: &Bound<'_, PyAny>,
    variance: &Bound<'_, PyAny>,
    weights: Option<&Bound<'_, PyAny>>,
    bad_bits: i32,
    n_threads: usize,
) -> PyResult<StitchStats> {
    let bbox = implied_box(image)?;
    let mut outs = Outputs::<T>::borrow(image, mask, variance, weights)?;
    let mut out = outs.view(bbox);
    run_detached(py, || stitch::finalize(op, &mut out, bad_bits, n_threads))
}

/// Finish the output: divide ``average`` sums by their counts (NaN where
/// none) and OR ``bad_bits`` into the mask wherever image × variance is NaN.
///
/// Returns a dict with ``n_bad``, ``min_weight``, ``max_weight``,
/// ``mean_weight`` and ``n_zero_weight`` (the last four for ``average``).
#[pyfunction]
#[pyo3(signature = (op, image, mask, variance, weights, bad_bits, n_threads=0))]
#[allow(clippy::too_many_arguments)]
pub fn stitch_finalize<'py>(
    py: Python<'py>,
    op: &str,
    image: &Bound<'py, PyAny>,
    mask: &Bound<'py, PyAny>,
    variance: &Bound<'py, PyAny>,
    weights: Option<&Bound<'py, PyAny>>,
    bad_bits: i32,
    n_threads: usize,
) -> PyResult<Bound<'py, PyDict>> {
    let op = parse_op(op)?;
    let stats = if is_f32(image)? {
        finalize_t::<f32>(py, op, image, mask, variance, weights, bad_bits, n_threads)?
    } else {
        finalize_t::<f64>(py, op, image, mask, variance, weights, bad_bits, n_threads)?
    };
    stats_dict(py, &stats)
}

/// Input planes (image, mask, variance).
type Planes3<'a, 'py> = (
    &'a Bound<'py, PyAny>,
    &'a Bound<'py, PyAny>,
    &'a Bound<'py, PyAny>,
);
/// Output planes (image, mask, variance, weights).
type Planes4<'a, 'py> = (
    &'a Bound<'py, PyAny>,
    &'a Bound<'py, PyAny>,
    &'a Bound<'py, PyAny>,
    Option<&'a Bound<'py, PyAny>>,
);

#[allow(clippy::too_many_arguments)]
fn gaussian_t<T: Element + Pixel>(
    py: Python<'_>,
    sigma: f64,
    op: ReduceOp,
    bbox: imagemapper_core::Box2I,
    input: Planes3<'_, '_>,
    grid: &imagemapper_core::grid::Grid,
    output: Planes4<'_, '_>,
    bad_bits: i32,
    n_threads: usize,
) -> PyResult<StitchStats> {
    let image = ro::<T>(input.0, "input image")?;
    let mask = ro::<i32>(input.1, "input mask")?;
    let variance = ro::<T>(input.2, "input variance")?;
    let view = imagemapper_core::driver::ImageView {
        bbox,
        image: image.as_array(),
        mask: mask.as_array(),
        variance: variance.as_array(),
    };
    let mut outs = Outputs::<T>::borrow(output.0, output.1, output.2, output.3)?;
    let mut out = outs.view(bbox);
    run_detached(py, || {
        imagemapper_core::driver::map_reduce(&view, grid, op, &mut out, bad_bits, n_threads, |c| {
            imagemapper_core::builtin::gaussian_convolve_cell(c, sigma)
        })
    })
}

/// Run the built-in Rust Gaussian-convolution mapper over the cells and
/// stitch with ``op``, entirely in Rust (no Python per cell).
///
/// ``cells``/``expanded`` are the grid's boxes; the input and output planes
/// cover ``bbox``; the output mask should start as a copy of the input mask.
/// Returns the stitching statistics (as ``stitch_finalize``).
#[pyfunction]
#[pyo3(signature = (sigma, op, bbox, image, mask, variance, cells, expanded, out_image, out_mask, out_variance, weights, bad_bits, n_threads=0))]
#[allow(clippy::too_many_arguments)]
pub fn map_reduce_gaussian<'py>(
    py: Python<'py>,
    sigma: f64,
    op: &str,
    bbox: Box2I,
    image: &Bound<'py, PyAny>,
    mask: &Bound<'py, PyAny>,
    variance: &Bound<'py, PyAny>,
    cells: Vec<Box2I>,
    expanded: Vec<Box2I>,
    out_image: &Bound<'py, PyAny>,
    out_mask: &Bound<'py, PyAny>,
    out_variance: &Bound<'py, PyAny>,
    weights: Option<&Bound<'py, PyAny>>,
    bad_bits: i32,
    n_threads: usize,
) -> PyResult<Bound<'py, PyDict>> {
    let op = parse_op(op)?;
    let grid = imagemapper_core::grid::Grid {
        cells: cells.into_iter().map(|b| b.0).collect(),
        expanded: expanded.into_iter().map(|b| b.0).collect(),
    };
    let input = (image, mask, variance);
    let output = (out_image, out_mask, out_variance, weights);
    let stats = if is_f32(out_image)? {
        gaussian_t::<f32>(
            py, sigma, op, bbox.0, input, &grid, output, bad_bits, n_threads,
        )?
    } else {
        gaussian_t::<f64>(
            py, sigma, op, bbox.0, input, &grid, output, bad_bits, n_threads,
        )?
    };
    stats_dict(py, &stats)
}

fn stats_dict<'py>(py: Python<'py>, stats: &StitchStats) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("n_bad", stats.n_bad)?;
    d.set_item("min_weight", stats.min_weight)?;
    d.set_item("max_weight", stats.max_weight)?;
    d.set_item("mean_weight", stats.mean_weight)?;
    d.set_item("n_zero_weight", stats.n_zero_weight)?;
    Ok(d)
}

// ---------------------------------------------------------------- blending

use imagemapper_core::blend::{self, BlendOp, BlendOut, BlendParams, BlendStats, CellGeom};

fn parse_blend(op: &str) -> PyResult<BlendOp> {
    op.parse().map_err(to_pyerr)
}

fn blend_params(window: &str, inverse_variance: bool, policy: &str) -> PyResult<BlendParams> {
    Ok(BlendParams {
        window: window.parse().map_err(to_pyerr)?,
        inverse_variance,
        variance: policy.parse().map_err(to_pyerr)?,
    })
}

struct BlendOutputs<'py, T: Element> {
    image: PyReadwriteArray2<'py, T>,
    mask: PyReadwriteArray2<'py, i32>,
    variance: PyReadwriteArray2<'py, T>,
    aux: Option<PyReadwriteArray2<'py, f64>>,
}

impl<'py, T: Element + Pixel> BlendOutputs<'py, T> {
    fn borrow(planes: Planes4<'_, 'py>) -> PyResult<Self> {
        Ok(Self {
            image: rw::<T>(planes.0, "image")?,
            mask: rw::<i32>(planes.1, "mask")?,
            variance: rw::<T>(planes.2, "variance")?,
            aux: planes.3.map(|w| rw::<f64>(w, "weights")).transpose()?,
        })
    }

    fn view(&mut self, bbox: imagemapper_core::Box2I) -> BlendOut<'_, T> {
        BlendOut {
            bbox,
            image: self.image.as_array_mut(),
            mask: self.mask.as_array_mut(),
            variance: self.variance.as_array_mut(),
            aux: self.aux.as_mut().map(|w| w.as_array_mut()),
        }
    }
}

fn blend_init_t<T: Element + Pixel>(
    py: Python<'_>,
    op: BlendOp,
    planes: Planes4<'_, '_>,
    n_threads: usize,
) -> PyResult<()> {
    let bbox = implied_box(planes.0)?;
    let mut outs = BlendOutputs::<T>::borrow(planes)?;
    let mut out = outs.view(bbox);
    run_detached(py, || blend::init(op, &mut out, n_threads))
}

/// Initialise the output planes for a blending ``op`` (``weighted``,
/// ``owner``, ``max``, ``min``); ``weights`` is a float64 plane, required
/// for ``weighted`` (Σw) and ``owner`` (squared distance to the owner).
#[pyfunction]
#[pyo3(signature = (op, image, mask, variance, weights=None, n_threads=0))]
pub fn blend_init(
    py: Python<'_>,
    op: &str,
    image: &Bound<'_, PyAny>,
    mask: &Bound<'_, PyAny>,
    variance: &Bound<'_, PyAny>,
    weights: Option<&Bound<'_, PyAny>>,
    n_threads: usize,
) -> PyResult<()> {
    let op = parse_blend(op)?;
    let planes = (image, mask, variance, weights);
    if is_f32(image)? {
        blend_init_t::<f32>(py, op, planes, n_threads)
    } else {
        blend_init_t::<f64>(py, op, planes, n_threads)
    }
}

type Geom = ([i32; 4], (f64, f64));

#[allow(clippy::too_many_arguments)]
fn blend_accumulate_t<T: Element + Pixel>(
    py: Python<'_>,
    op: BlendOp,
    params: BlendParams,
    bbox: imagemapper_core::Box2I,
    planes: Planes4<'_, '_>,
    cells: &Bound<'_, PyList>,
    geoms: &[CellGeom],
    n_threads: usize,
) -> PyResult<()> {
    let borrowed = borrow_cells::<T>(cells)?;
    let views: Vec<CellView<'_, T>> = borrowed
        .iter()
        .map(|c| CellView {
            bbox: c.bbox,
            image: c.image.as_array(),
            mask: c.mask.as_ref().map(|m| m.as_array()),
            variance: c.variance.as_array(),
        })
        .collect();
    let mut outs = BlendOutputs::<T>::borrow(planes)?;
    let mut out = outs.view(bbox);
    run_detached(py, || {
        blend::accumulate(op, &params, &mut out, &views, geoms, n_threads)
    })
}

/// Stitch a batch of cells with a blending ``op``, in list order.
///
/// ``cells`` as for ``stitch_accumulate``; ``geoms`` holds, per cell,
/// ``((left, right, bottom, top) ramp widths, (centre_x, centre_y))``.
#[pyfunction]
#[pyo3(signature = (op, out_bbox, image, mask, variance, weights, cells, geoms, window="cosine", inverse_variance=false, variance_policy="correlated", n_threads=0))]
#[allow(clippy::too_many_arguments)]
pub fn blend_accumulate(
    py: Python<'_>,
    op: &str,
    out_bbox: Box2I,
    image: &Bound<'_, PyAny>,
    mask: &Bound<'_, PyAny>,
    variance: &Bound<'_, PyAny>,
    weights: Option<&Bound<'_, PyAny>>,
    cells: &Bound<'_, PyList>,
    geoms: Vec<Geom>,
    window: &str,
    inverse_variance: bool,
    variance_policy: &str,
    n_threads: usize,
) -> PyResult<()> {
    let op = parse_blend(op)?;
    let params = blend_params(window, inverse_variance, variance_policy)?;
    let geoms: Vec<CellGeom> = geoms
        .into_iter()
        .map(|(ramps, (cx, cy))| CellGeom {
            ramps,
            centre: [cx, cy],
        })
        .collect();
    let planes = (image, mask, variance, weights);
    if is_f32(image)? {
        blend_accumulate_t::<f32>(py, op, params, out_bbox.0, planes, cells, &geoms, n_threads)
    } else {
        blend_accumulate_t::<f64>(py, op, params, out_bbox.0, planes, cells, &geoms, n_threads)
    }
}

fn blend_finalize_t<T: Element + Pixel>(
    py: Python<'_>,
    op: BlendOp,
    params: BlendParams,
    planes: Planes4<'_, '_>,
    bad_bits: i32,
    n_threads: usize,
) -> PyResult<BlendStats> {
    let bbox = implied_box(planes.0)?;
    let mut outs = BlendOutputs::<T>::borrow(planes)?;
    let mut out = outs.view(bbox);
    run_detached(py, || {
        blend::finalize(op, &params, &mut out, bad_bits, n_threads)
    })
}

/// Finish a blending reduce: divide ``weighted`` sums by Σw (NaN where 0)
/// and OR ``bad_bits`` into the mask wherever image × variance is NaN.
///
/// Returns a dict with ``n_bad``, ``n_uncovered``, ``min_weight`` and
/// ``max_weight`` (Σw over covered pixels; ``weighted`` only).
#[pyfunction]
#[pyo3(signature = (op, image, mask, variance, weights, bad_bits, variance_policy="correlated", n_threads=0))]
#[allow(clippy::too_many_arguments)]
pub fn blend_finalize<'py>(
    py: Python<'py>,
    op: &str,
    image: &Bound<'py, PyAny>,
    mask: &Bound<'py, PyAny>,
    variance: &Bound<'py, PyAny>,
    weights: Option<&Bound<'py, PyAny>>,
    bad_bits: i32,
    variance_policy: &str,
    n_threads: usize,
) -> PyResult<Bound<'py, PyDict>> {
    let op = parse_blend(op)?;
    let params = blend_params("cosine", false, variance_policy)?;
    let planes = (image, mask, variance, weights);
    let stats = if is_f32(image)? {
        blend_finalize_t::<f32>(py, op, params, planes, bad_bits, n_threads)?
    } else {
        blend_finalize_t::<f64>(py, op, params, planes, bad_bits, n_threads)?
    };
    let d = PyDict::new(py);
    d.set_item("n_bad", stats.n_bad)?;
    d.set_item("n_uncovered", stats.n_uncovered)?;
    d.set_item("min_weight", stats.min_weight)?;
    d.set_item("max_weight", stats.max_weight)?;
    Ok(d)
}

/// Ramp widths ``(left, right, bottom, top)`` of the ``weighted`` window of
/// every cell: on each edge the largest overlap with a cell reaching beyond
/// it (0 on the image border), at most ``max_fraction`` of the cell's size.
#[pyfunction]
#[pyo3(signature = (cells, max_fraction=0.5))]
pub fn cell_ramps(py: Python<'_>, cells: Vec<Box2I>, max_fraction: f64) -> PyResult<Vec<[i32; 4]>> {
    let boxes: Vec<imagemapper_core::Box2I> = cells.into_iter().map(|b| b.0).collect();
    run_detached(py, || blend::cell_ramps(&boxes, max_fraction))
}

fn mesh_t<T: Element + Pixel>(
    py: Python<'_>,
    xs: &[f64],
    ys: &[f64],
    values: &Bound<'_, PyAny>,
    bbox: imagemapper_core::Box2I,
    out: &Bound<'_, PyAny>,
    n_threads: usize,
) -> PyResult<()> {
    let vals = ro::<f64>(values, "mesh values")?;
    let mut o = rw::<T>(out, "image")?;
    let v = vals.as_array();
    let ov = o.as_array_mut();
    run_detached(py, || blend::mesh_bilinear(xs, ys, v, &bbox, ov, n_threads))
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
    if is_f32(out)? {
        mesh_t::<f32>(py, &xs, &ys, values, bbox.0, out, n_threads)
    } else {
        mesh_t::<f64>(py, &xs, &ys, values, bbox.0, out, n_threads)
    }
}
