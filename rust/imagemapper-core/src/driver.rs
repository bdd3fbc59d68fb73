//! A pure-Rust map-reduce driver: run a Rust closure on every cell of a grid,
//! in parallel on rayon, and stitch the results — no Python involved.
//!
//! ```
//! use imagemapper_core::driver::{map_reduce, CellOutput, ImageView};
//! use imagemapper_core::grid::{generate_grid, AdjustGrid, GridSpec};
//! use imagemapper_core::reduce::{Params, ReduceOp, Reducer};
//! use imagemapper_core::{Box2I, Extent2I, Point2I};
//! use ndarray::Array2;
//!
//! let bbox = Box2I::from_corner_dims(Point2I::new(0, 0), Extent2I::new(64, 48), true).unwrap();
//! let image = Array2::<f32>::from_shape_fn((48, 64), |(y, x)| (x + y) as f32);
//! let variance = Array2::<f32>::ones((48, 64));
//! let mask = Array2::<i32>::zeros((48, 64));
//! let grid = generate_grid(&bbox, &GridSpec::new([16.0, 16.0], [8.0, 8.0], [2.0, 2.0], AdjustGrid::None)).unwrap();
//!
//! let mut out = Reducer::new(ReduceOp::Average, Params::default(), bbox, bbox,
//!                            Some(mask.clone()), true, &grid.cells, 2).unwrap();
//! let input = ImageView { bbox, image: image.view(), mask: mask.view(), variance: variance.view() };
//! // The mapper: add one to the cell.
//! map_reduce(&input, &grid, &mut out, 0, 2, |cell| {
//!     Ok(CellOutput { image: cell.cell_image().mapv(|v| v + 1.0), mask: None,
//!                     variance: cell.cell_variance().to_owned() })
//! }).unwrap();
//! let out = out.into_output();
//! assert!(out.image.iter().zip(image.iter()).all(|(o, i)| *o == i + 1.0));
//! ```
//!
//! Cells are processed in rounds of a few cells per thread: the cells of a
//! round run in parallel, then their results are stitched in cell order and
//! dropped. Memory is therefore bounded by one round of results, and the
//! output is bit-identical for any number of threads.

use ndarray::{s, Array2, ArrayView2};
use rayon::prelude::*;

use crate::error::{Error, Result};
use crate::geom::Box2I;
use crate::grid::Grid;
use crate::reduce::{thread_pool, CellView, Pixel, Reducer, Stats};

/// The input exposure: planes of `bbox`'s shape.
pub struct ImageView<'a, T> {
    pub bbox: Box2I,
    pub image: ArrayView2<'a, T>,
    pub mask: ArrayView2<'a, i32>,
    pub variance: ArrayView2<'a, T>,
}

/// What the closure is given for one cell: read-only views of the
/// expanded cell (the cell plus its border, clipped to the image).
pub struct CellInput<'a, T> {
    /// Index of the cell in the grid.
    pub index: usize,
    /// The cell's box.
    pub bbox: Box2I,
    /// The expanded cell's box (the planes below cover it).
    pub expanded_bbox: Box2I,
    /// The whole image's box.
    pub full_bbox: Box2I,
    pub image: ArrayView2<'a, T>,
    pub mask: ArrayView2<'a, i32>,
    pub variance: ArrayView2<'a, T>,
}

impl<'a, T> CellInput<'a, T> {
    fn cell_slices(&self) -> (std::ops::Range<usize>, std::ops::Range<usize>) {
        let y0 = (self.bbox.min_y() - self.expanded_bbox.min_y()) as usize;
        let x0 = (self.bbox.min_x() - self.expanded_bbox.min_x()) as usize;
        (
            y0..y0 + self.bbox.height() as usize,
            x0..x0 + self.bbox.width() as usize,
        )
    }
    /// The cell's part of the expanded image.
    pub fn cell_image(&self) -> ArrayView2<'_, T> {
        let (ys, xs) = self.cell_slices();
        self.image.slice(s![ys, xs])
    }
    /// The cell's part of the expanded mask.
    pub fn cell_mask(&self) -> ArrayView2<'_, i32> {
        let (ys, xs) = self.cell_slices();
        self.mask.slice(s![ys, xs])
    }
    /// The cell's part of the expanded variance.
    pub fn cell_variance(&self) -> ArrayView2<'_, T> {
        let (ys, xs) = self.cell_slices();
        self.variance.slice(s![ys, xs])
    }
}

/// The closure's result for one cell: planes of the cell's shape
/// (`(height, width)` of `CellInput::bbox`).
pub struct CellOutput<T> {
    pub image: Array2<T>,
    pub mask: Option<Array2<i32>>,
    pub variance: Array2<T>,
}

/// Run `mapper` on every cell of `grid`, stitch the results into `out` and
/// finish it; returns the stitching statistics.
///
/// `out` must cover `input.bbox`; its mask should start as a copy of the
/// input mask (as in LSST). `n_threads` = 0 uses every core.
///
/// # Errors
/// [`Error::Shape`] when the planes do not match their boxes or a result has
/// the wrong shape; the first error returned by `mapper` (in cell order),
/// with the cell index and box prepended.
pub fn map_reduce<T, F>(
    input: &ImageView<'_, T>,
    grid: &Grid,
    out: &mut Reducer<T>,
    bad_bits: i32,
    n_threads: usize,
    mapper: F,
) -> Result<Stats>
where
    T: Pixel,
    F: Fn(&CellInput<'_, T>) -> Result<CellOutput<T>> + Sync,
{
    let want = (input.bbox.height() as usize, input.bbox.width() as usize);
    for (name, dim) in [
        ("image", input.image.dim()),
        ("mask", input.mask.dim()),
        ("variance", input.variance.dim()),
    ] {
        if dim != want {
            return Err(Error::Shape(format!(
                "input {name} has shape {dim:?} but the input box {} needs {want:?}",
                input.bbox
            )));
        }
    }
    if out.bbox() != input.bbox {
        return Err(Error::Shape(format!(
            "output box {} differs from the input box {}",
            out.bbox(),
            input.bbox
        )));
    }
    if grid.cells.len() != grid.expanded.len() {
        return Err(Error::InvalidValue(format!(
            "grid has {} cells but {} expanded cells",
            grid.cells.len(),
            grid.expanded.len()
        )));
    }
    let pool = thread_pool(n_threads)?;
    let threads = pool.current_num_threads();
    let round = (4 * threads).max(1);
    let n = grid.cells.len();
    let mut start = 0;
    while start < n {
        let end = (start + round).min(n);
        let results: Vec<Result<(usize, Box2I, CellOutput<T>)>> = pool.install(|| {
            (start..end)
                .into_par_iter()
                .map(|i| run_cell(input, grid, i, &mapper))
                .collect()
        });
        let mut outputs = Vec::with_capacity(results.len());
        for r in results {
            outputs.push(r?);
        }
        let views: Vec<CellView<'_, T>> = outputs
            .iter()
            .map(|(index, bbox, o)| CellView {
                index: *index,
                bbox: *bbox,
                image: o.image.view(),
                mask: o.mask.as_ref().map(|m| m.view()),
                variance: Some(o.variance.view()),
            })
            .collect();
        out.add(&views)
            .map_err(|e| Error::Shape(format!("cells {start}..{end}: {e}")))?;
        start = end;
    }
    out.finish(bad_bits)
}

fn run_cell<T, F>(
    input: &ImageView<'_, T>,
    grid: &Grid,
    i: usize,
    mapper: &F,
) -> Result<(usize, Box2I, CellOutput<T>)>
where
    T: Pixel,
    F: Fn(&CellInput<'_, T>) -> Result<CellOutput<T>> + Sync,
{
    let (bbox, expanded) = (grid.cells[i], grid.expanded[i]);
    if !expanded.contains_box(&bbox) {
        return Err(Error::Shape(format!(
            "cell {i}: box {bbox} is not inside its expanded box {expanded}"
        )));
    }
    let (ys, xs) = expanded
        .slices_within(&input.bbox)
        .map_err(|e| Error::Shape(format!("cell {i}: {e}")))?;
    let cell = CellInput {
        index: i,
        bbox,
        expanded_bbox: expanded,
        full_bbox: input.bbox,
        image: input.image.slice(s![ys.clone(), xs.clone()]),
        mask: input.mask.slice(s![ys.clone(), xs.clone()]),
        variance: input.variance.slice(s![ys, xs]),
    };
    let result = mapper(&cell).map_err(|e| match e {
        Error::InvalidValue(m) => {
            Error::InvalidValue(format!("mapper failed on cell {i} ({bbox}): {m}"))
        }
        Error::Shape(m) => Error::Shape(format!("mapper failed on cell {i} ({bbox}): {m}")),
        Error::Runtime(m) => Error::Runtime(format!("mapper failed on cell {i} ({bbox}): {m}")),
        Error::Memory(m) => Error::Memory(format!("mapper failed on cell {i} ({bbox}): {m}")),
    })?;
    Ok((i, bbox, result))
}
