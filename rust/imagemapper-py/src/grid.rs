//! `generate_grid`: the cell grid of `ImageMapReduceTask` (`boxes0`, `boxes1`).

use imagemapper_core::grid::{self as core, AdjustGrid, GridSpec};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyList, PySlice};

use crate::errors::{run_detached, to_pyerr};
use crate::geom::Box2I;

/// Generate the cells and expanded cells covering ``bbox``, exactly as LSST
/// ``ImageMapReduceTask._generateGrid``.
///
/// Parameters
/// ----------
/// bbox : Box2I
///     The exposure's bounding box (not empty).
/// cell_size, grid_step, border_size : tuple[float, float]
///     ``(cellSizeX, cellSizeY)``, ``(gridStepX, gridStepY)`` and
///     ``(borderSizeX, borderSizeY)``, in pixels (in FWHM units when
///     ``fwhm_scale`` is given and the grid is generated).
/// adjust : {"spacing", "size", "none"}
///     ``adjustGridOption``.
/// centroids_x, centroids_y : list[float], optional
///     Explicit cell centres (``cellCentroidsX/Y``), relative to the
///     exposure origin; both or neither, of the same length. Sizes are then
///     only rounded (no FWHM scaling) and ``grid_step`` is unused.
/// fwhm_scale : float, optional
///     The PSF FWHM in pixels when ``scaleByFwhm``.
/// force_even_sized : bool
///     Grow every box to even dimensions (``forceEvenSized``).
///
/// Returns
/// -------
/// tuple[list[Box2I], list[Box2I]]
///     ``(boxes0, boxes1)``: the cells and the cells grown by the border,
///     both clipped to ``bbox``.
///
/// Raises
/// ------
/// ValueError
///     For an invalid parameter (the message names it) or centroid lists of
///     different lengths.
/// RuntimeError
///     When ``force_even_sized`` cannot make a box even-sized.
#[pyfunction]
#[pyo3(signature = (
    bbox, *, cell_size, grid_step, border_size, adjust="spacing",
    centroids_x=None, centroids_y=None, fwhm_scale=None, force_even_sized=false
))]
#[allow(clippy::too_many_arguments)]
pub fn generate_grid(
    py: Python<'_>,
    bbox: Box2I,
    cell_size: (f64, f64),
    grid_step: (f64, f64),
    border_size: (f64, f64),
    adjust: &str,
    centroids_x: Option<Vec<f64>>,
    centroids_y: Option<Vec<f64>>,
    fwhm_scale: Option<f64>,
    force_even_sized: bool,
) -> PyResult<(Vec<Box2I>, Vec<Box2I>)> {
    let adjust: AdjustGrid = adjust.parse().map_err(to_pyerr)?;
    let centroids = match (centroids_x, centroids_y) {
        (None, None) => Vec::new(),
        (Some(xs), Some(ys)) => {
            if xs.len() != ys.len() {
                return Err(PyValueError::new_err(format!(
                    "centroids_x has {} values but centroids_y has {}; expected lists of the same length",
                    xs.len(),
                    ys.len()
                )));
            }
            xs.into_iter().zip(ys).collect()
        }
        (Some(_), None) => {
            return Err(PyValueError::new_err(
                "centroids_x given without centroids_y; expected both or neither",
            ))
        }
        (None, Some(_)) => {
            return Err(PyValueError::new_err(
                "centroids_y given without centroids_x; expected both or neither",
            ))
        }
    };
    let spec = GridSpec {
        cell_size: [cell_size.0, cell_size.1],
        grid_step: [grid_step.0, grid_step.1],
        border_size: [border_size.0, border_size.1],
        adjust,
        centroids,
        fwhm_scale,
        force_even_sized,
    };
    let frame = bbox.0;
    let grid = run_detached(py, move || core::generate_grid(&frame, &spec))?;
    Ok((
        grid.cells.into_iter().map(Box2I).collect(),
        grid.expanded.into_iter().map(Box2I).collect(),
    ))
}

/// The numpy slices of a chunk of cells inside the array of ``parent``, in
/// one call: for each ``(box0, box1)`` (a cell and its expanded cell), the
/// tuple ``(slice_y1, slice_x1, slice_y0, slice_x0)`` of the expanded cell
/// and the cell, or ``None`` where ``box1`` is not inside ``parent`` or
/// ``box0`` not inside ``box1`` (the caller reports that cell).
#[pyfunction]
pub fn cell_slices<'py>(
    py: Python<'py>,
    parent: Box2I,
    boxes0: Vec<Box2I>,
    boxes1: Vec<Box2I>,
) -> PyResult<Bound<'py, PyList>> {
    if boxes0.len() != boxes1.len() {
        return Err(PyValueError::new_err(format!(
            "{} cells but {} expanded cells; expected one expanded cell per cell",
            boxes0.len(),
            boxes1.len()
        )));
    }
    let slice = |r: std::ops::Range<usize>| PySlice::new(py, r.start as isize, r.end as isize, 1);
    let out = PyList::empty(py);
    for (b0, b1) in boxes0.iter().zip(&boxes1) {
        match (b1.0.slices_within(&parent.0), b0.0.slices_within(&parent.0)) {
            (Ok((y1, x1)), Ok((y0, x0)))
                if y1.start <= y0.start
                    && y0.end <= y1.end
                    && x1.start <= x0.start
                    && x0.end <= x1.end =>
            {
                out.append((slice(y1), slice(x1), slice(y0), slice(x0)))?;
            }
            _ => out.append(py.None())?,
        }
    }
    Ok(out)
}
