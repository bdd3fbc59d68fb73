//! Stitching per-cell results into an output image: the reduce step of
//! `ImageMapReduceTask` (`copy`, `sum`, `average`).
//!
//! Semantics (those of LSST's `ImageReducer`):
//! * a cell pixel is *valid* when `image * variance` (in the pixel type) is
//!   not NaN;
//! * `copy`: the output starts as NaN; valid pixels overwrite it (where cells
//!   overlap, the later cell wins);
//! * `sum`: the output starts at 0; valid pixels are added (image and
//!   variance);
//! * `average`: as `sum`, and a per-pixel count of valid contributions; at
//!   the end the sums are divided by the count (in `f64`, rounded once to the
//!   pixel type, as numpy does) and pixels with no contribution become NaN;
//! * every cell's mask is OR'ed into the output mask over the whole cell;
//! * finally every pixel whose `image * variance` is NaN gets `bad_bits`.
//!
//! Determinism: the output is split into disjoint bands of rows processed in
//! parallel; within a band the cells are applied in the order given. Each
//! pixel therefore sees the same sequence of operations whatever the number
//! of threads, and the result is bit-identical. Cells may be given in several
//! successive batches ([`accumulate`] called repeatedly) with the same
//! result as one batch, as long as the batches come in cell order.

use std::collections::HashMap;
use std::ops::{Add, Mul};
use std::str::FromStr;
use std::sync::{Arc, Mutex, OnceLock};

use ndarray::{s, ArrayView2, ArrayViewMut2, Axis, Zip};
use rayon::prelude::*;

use crate::error::{Error, Result};
use crate::geom::Box2I;

/// A floating-point pixel type (`f32` or `f64`).
pub trait Pixel:
    Copy + Send + Sync + PartialEq + Add<Output = Self> + Mul<Output = Self> + 'static
{
    /// Not-a-number.
    const NAN: Self;
    /// Zero.
    const ZERO: Self;
    /// True for NaN.
    fn is_nan(self) -> bool;
    /// Widen to `f64` (exact).
    fn to_f64(self) -> f64;
    /// Round from `f64` (once, to nearest).
    fn from_f64(v: f64) -> Self;
}

impl Pixel for f32 {
    const NAN: Self = f32::NAN;
    const ZERO: Self = 0.0;
    fn is_nan(self) -> bool {
        f32::is_nan(self)
    }
    fn to_f64(self) -> f64 {
        f64::from(self)
    }
    fn from_f64(v: f64) -> Self {
        v as f32
    }
}

impl Pixel for f64 {
    const NAN: Self = f64::NAN;
    const ZERO: Self = 0.0;
    fn is_nan(self) -> bool {
        f64::is_nan(self)
    }
    fn to_f64(self) -> f64 {
        self
    }
    fn from_f64(v: f64) -> Self {
        v
    }
}

/// The stitching reduce operations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReduceOp {
    /// Later valid cells overwrite earlier ones; NaN where nothing landed.
    Copy,
    /// Sum of valid contributions; 0 where nothing landed.
    Sum,
    /// Mean of valid contributions; NaN where nothing landed.
    Average,
}

impl FromStr for ReduceOp {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "copy" => Ok(Self::Copy),
            "sum" => Ok(Self::Sum),
            "average" => Ok(Self::Average),
            other => Err(Error::InvalidValue(format!(
                "reduceOperation {other:?} cannot be stitched; expected one of \"copy\", \"sum\", \"average\""
            ))),
        }
    }
}

/// One cell's result: its box (inside the output box) and its planes, each
/// of the box's shape `(height, width)`; any strides.
pub struct CellView<'a, T> {
    pub bbox: Box2I,
    pub image: ArrayView2<'a, T>,
    pub mask: Option<ArrayView2<'a, i32>>,
    pub variance: ArrayView2<'a, T>,
}

/// The output planes, covering `bbox`. `weights` (the per-pixel count of
/// valid contributions) is required for [`ReduceOp::Average`].
pub struct OutputMut<'a, T> {
    pub bbox: Box2I,
    pub image: ArrayViewMut2<'a, T>,
    pub mask: ArrayViewMut2<'a, i32>,
    pub variance: ArrayViewMut2<'a, T>,
    pub weights: Option<ArrayViewMut2<'a, i32>>,
}

/// What [`finalize`] measured.
#[derive(Debug, Clone, PartialEq)]
pub struct StitchStats {
    /// Pixels flagged with the bad bits (their image × variance is NaN).
    pub n_bad: u64,
    /// Smallest, largest and mean number of contributions per pixel
    /// (`average` only; 0 otherwise).
    pub min_weight: i32,
    pub max_weight: i32,
    pub mean_weight: f64,
    /// Pixels with no valid contribution (`average` only).
    pub n_zero_weight: u64,
}

pub(crate) fn shape_of(b: &Box2I) -> (usize, usize) {
    (b.height().max(0) as usize, b.width().max(0) as usize)
}

pub(crate) fn check_plane(
    name: &str,
    got: (usize, usize),
    want: (usize, usize),
    bbox: &Box2I,
) -> Result<()> {
    if got != want {
        return Err(Error::Shape(format!(
            "output {name} has shape {got:?} but the output box {bbox} needs {want:?} (rows, columns)"
        )));
    }
    Ok(())
}

fn check_output<T>(op: ReduceOp, out: &OutputMut<'_, T>) -> Result<()> {
    let want = shape_of(&out.bbox);
    check_plane("image", out.image.dim(), want, &out.bbox)?;
    check_plane("mask", out.mask.dim(), want, &out.bbox)?;
    check_plane("variance", out.variance.dim(), want, &out.bbox)?;
    match (&out.weights, op) {
        (Some(w), _) => check_plane("weights", w.dim(), want, &out.bbox),
        (None, ReduceOp::Average) => Err(Error::InvalidValue(
            "reduceOperation \"average\" needs a weights plane".to_string(),
        )),
        (None, _) => Ok(()),
    }
}

pub(crate) fn check_cells<T>(out_bbox: &Box2I, cells: &[CellView<'_, T>]) -> Result<()> {
    for (i, c) in cells.iter().enumerate() {
        if !out_bbox.contains_box(&c.bbox) {
            return Err(Error::Shape(format!(
                "cell {i}: its box {} is not inside the output box {out_bbox}",
                c.bbox
            )));
        }
        let want = shape_of(&c.bbox);
        let planes = [
            ("image", Some(c.image.dim())),
            ("mask", c.mask.as_ref().map(|m| m.dim())),
            ("variance", Some(c.variance.dim())),
        ];
        for (name, dim) in planes {
            if let Some(dim) = dim {
                if dim != want {
                    return Err(Error::Shape(format!(
                        "cell {i}: {name} has shape {dim:?} but its box {} needs {want:?} (rows, columns)",
                        c.bbox
                    )));
                }
            }
        }
    }
    Ok(())
}

/// A cached rayon pool with `n` threads (0: all available cores; at most
/// four per core).
///
/// # Errors
/// [`Error::Runtime`] when the pool cannot be built.
pub fn thread_pool(n: usize) -> Result<Arc<rayon::ThreadPool>> {
    static POOLS: OnceLock<Mutex<HashMap<usize, Arc<rayon::ThreadPool>>>> = OnceLock::new();
    let cores = std::thread::available_parallelism().map_or(1, |v| v.get());
    // Stitching gives the same bits for any thread count, so an absurd
    // request (numWorkers = 10**6) is clamped rather than spawning threads
    // until the system refuses.
    let n = if n == 0 { cores } else { n.min(4 * cores) };
    let pools = POOLS.get_or_init(|| Mutex::new(HashMap::new()));
    let mut guard = pools
        .lock()
        .map_err(|_| Error::Runtime("the thread-pool cache was poisoned".to_string()))?;
    if let Some(p) = guard.get(&n) {
        return Ok(Arc::clone(p));
    }
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(n)
        .thread_name(|i| format!("imagemapper-stitch-{i}"))
        .build()
        .map_err(|e| Error::Runtime(format!("cannot start {n} stitching threads: {e}")))?;
    let pool = Arc::new(pool);
    guard.insert(n, Arc::clone(&pool));
    Ok(pool)
}

/// One band of output rows: its first row in parent coordinates, its planes
/// and the operation's auxiliary plane (`A`: counts or weights), if any.
pub(crate) struct Band<'a, T, A> {
    pub(crate) y0: i64,
    pub(crate) image: ArrayViewMut2<'a, T>,
    pub(crate) mask: ArrayViewMut2<'a, i32>,
    pub(crate) variance: ArrayViewMut2<'a, T>,
    pub(crate) aux: Option<ArrayViewMut2<'a, A>>,
}

pub(crate) fn band_rows(height: usize, n_threads: usize) -> usize {
    // Several bands per thread for balance, but not so thin that per-band
    // cell scanning dominates.
    let target = (n_threads.max(1) * 4).max(1);
    height.div_ceil(target).max(16)
}

/// Cut the output planes into disjoint bands of rows and run `f` on every
/// band in parallel (the pool's threads). Shared by every reduce kernel:
/// each pixel belongs to one band, so results do not depend on the number
/// of threads.
pub(crate) fn for_each_band<T, A, F>(
    y0: i64,
    image: &mut ArrayViewMut2<'_, T>,
    mask: &mut ArrayViewMut2<'_, i32>,
    variance: &mut ArrayViewMut2<'_, T>,
    aux: Option<&mut ArrayViewMut2<'_, A>>,
    n_threads: usize,
    f: F,
) -> Result<()>
where
    T: Pixel,
    A: Send,
    F: Fn(&mut Band<'_, T, A>) + Sync + Send,
{
    let height = image.nrows();
    if height == 0 || image.ncols() == 0 {
        return Ok(());
    }
    let pool = thread_pool(n_threads)?;
    let rows = band_rows(height, pool.current_num_threads());
    let mut auxes: Vec<Option<ArrayViewMut2<'_, A>>> = match aux {
        Some(a) => a.axis_chunks_iter_mut(Axis(0), rows).map(Some).collect(),
        None => Vec::new(),
    };
    auxes.reverse();
    let mut bands: Vec<Band<'_, T, A>> = image
        .axis_chunks_iter_mut(Axis(0), rows)
        .zip(mask.axis_chunks_iter_mut(Axis(0), rows))
        .zip(variance.axis_chunks_iter_mut(Axis(0), rows))
        .enumerate()
        .map(|(k, ((image, mask), variance))| Band {
            y0: y0 + (k * rows) as i64,
            image,
            mask,
            variance,
            aux: auxes.pop().flatten(),
        })
        .collect();
    pool.install(|| bands.par_iter_mut().for_each(f));
    Ok(())
}

/// Where a cell meets a band: rows in the band, rows in the cell, and the
/// output columns.
pub(crate) struct Overlap {
    pub(crate) band_rows: std::ops::Range<usize>,
    pub(crate) cell_rows: std::ops::Range<usize>,
    pub(crate) cols: std::ops::Range<usize>,
}

/// The part of `cell` (inside the output, whose first column is `out_x0`)
/// that falls in the band starting at parent row `band_y0` with
/// `band_h` rows; None when they do not meet.
pub(crate) fn overlap(band_y0: i64, band_h: usize, out_x0: i64, cell: &Box2I) -> Option<Overlap> {
    let (cy0, cy1) = (i64::from(cell.min_y()), i64::from(cell.end_y()));
    let r0 = cy0.max(band_y0);
    let r1 = cy1.min(band_y0 + band_h as i64);
    if r0 >= r1 || cell.is_empty() {
        return None;
    }
    let x0 = (i64::from(cell.min_x()) - out_x0) as usize;
    Some(Overlap {
        band_rows: (r0 - band_y0) as usize..(r1 - band_y0) as usize,
        cell_rows: (r0 - cy0) as usize..(r1 - cy0) as usize,
        cols: x0..x0 + cell.width() as usize,
    })
}

/// OR the cell's mask (if any) into the band over the whole overlap.
pub(crate) fn or_mask<T, A>(band: &mut Band<'_, T, A>, cell: &CellView<'_, T>, o: &Overlap) {
    if let Some(m) = cell.mask.as_ref() {
        Zip::from(band.mask.slice_mut(s![o.band_rows.clone(), o.cols.clone()]))
            .and(m.slice(s![o.cell_rows.clone(), ..]))
            .for_each(|om, &cm| *om |= cm);
    }
}

/// The band driver over an [`OutputMut`] (the count plane as auxiliary).
fn for_each_output_band<T, F>(out: &mut OutputMut<'_, T>, n_threads: usize, f: F) -> Result<()>
where
    T: Pixel,
    F: Fn(&mut Band<'_, T, i32>) + Sync + Send,
{
    for_each_band(
        i64::from(out.bbox.min_y()),
        &mut out.image,
        &mut out.mask,
        &mut out.variance,
        out.weights.as_mut(),
        n_threads,
        f,
    )
}

/// Initialise the output for `op`: image and variance NaN (`copy`) or 0,
/// weights 0. The mask is left as it is (a copy of the input's mask).
///
/// # Errors
/// [`Error::Shape`] when the planes do not match the output box.
pub fn init<T: Pixel>(op: ReduceOp, out: &mut OutputMut<'_, T>, n_threads: usize) -> Result<()> {
    check_output(op, out)?;
    let start = if op == ReduceOp::Copy {
        T::NAN
    } else {
        T::ZERO
    };
    for_each_output_band(out, n_threads, |b| {
        b.image.fill(start);
        b.variance.fill(start);
        if let Some(w) = b.aux.as_mut() {
            w.fill(0);
        }
    })
}

/// Apply one cell to the rows of one band.
fn apply_cell<T: Pixel>(
    op: ReduceOp,
    band: &mut Band<'_, T, i32>,
    out_x0: i64,
    cell: &CellView<'_, T>,
) {
    let Some(o) = overlap(band.y0, band.image.nrows(), out_x0, &cell.bbox) else {
        return;
    };
    let (br, cr, cols) = (o.band_rows.clone(), o.cell_rows.clone(), o.cols.clone());
    let out_img = band.image.slice_mut(s![br.clone(), cols.clone()]);
    let out_var = band.variance.slice_mut(s![br.clone(), cols.clone()]);
    let img = cell.image.slice(s![cr.clone(), ..]);
    let var = cell.variance.slice(s![cr, ..]);
    match op {
        ReduceOp::Copy => {
            Zip::from(out_img)
                .and(out_var)
                .and(img)
                .and(var)
                .for_each(|oi, ov, &ci, &cv| {
                    if !(ci * cv).is_nan() {
                        *oi = ci;
                        *ov = cv;
                    }
                });
        }
        ReduceOp::Sum => {
            Zip::from(out_img)
                .and(out_var)
                .and(img)
                .and(var)
                .for_each(|oi, ov, &ci, &cv| {
                    if !(ci * cv).is_nan() {
                        *oi = *oi + ci;
                        *ov = *ov + cv;
                    }
                });
        }
        ReduceOp::Average => {
            if let Some(w) = band.aux.as_mut() {
                let out_w = w.slice_mut(s![br, cols]);
                Zip::from(out_img)
                    .and(out_var)
                    .and(out_w)
                    .and(img)
                    .and(var)
                    .for_each(|oi, ov, ow, &ci, &cv| {
                        if !(ci * cv).is_nan() {
                            *oi = *oi + ci;
                            *ov = *ov + cv;
                            *ow += 1;
                        }
                    });
            }
        }
    }
    or_mask(band, cell, &o);
}

/// Stitch a batch of cells into the output, in the order given.
///
/// # Errors
/// [`Error::Shape`] when a cell lies outside the output box or a plane does
/// not match its box; nothing is written then.
pub fn accumulate<T: Pixel>(
    op: ReduceOp,
    out: &mut OutputMut<'_, T>,
    cells: &[CellView<'_, T>],
    n_threads: usize,
) -> Result<()> {
    check_output(op, out)?;
    check_cells(&out.bbox, cells)?;
    if cells.is_empty() {
        return Ok(());
    }
    let out_x0 = i64::from(out.bbox.min_x());
    for_each_output_band(out, n_threads, |band| {
        for cell in cells {
            apply_cell(op, band, out_x0, cell);
        }
    })
}

/// Finish: divide `average` sums by their counts (NaN where there is none)
/// and set `bad_bits` in the mask wherever `image * variance` is NaN.
///
/// # Errors
/// [`Error::Shape`] when the planes do not match the output box.
pub fn finalize<T: Pixel>(
    op: ReduceOp,
    out: &mut OutputMut<'_, T>,
    bad_bits: i32,
    n_threads: usize,
) -> Result<StitchStats> {
    check_output(op, out)?;
    let npix = out.image.len() as u64;
    let per_band: Mutex<Vec<(i64, [i64; 5])>> = Mutex::new(Vec::new());
    for_each_output_band(out, n_threads, |b| {
        // [n_bad, min_w, max_w, sum_w, n_zero]
        let mut acc = [0i64, i64::MAX, i64::MIN, 0, 0];
        if op == ReduceOp::Average {
            if let Some(w) = b.aux.as_ref() {
                Zip::from(&mut b.image)
                    .and(&mut b.variance)
                    .and(w)
                    .for_each(|oi, ov, &ow| {
                        if ow > 0 {
                            let n = f64::from(ow);
                            *oi = T::from_f64(oi.to_f64() / n);
                            *ov = T::from_f64(ov.to_f64() / n);
                        } else {
                            *oi = T::NAN;
                            *ov = T::NAN;
                        }
                    });
                for &ow in w.iter() {
                    let ow = i64::from(ow);
                    acc[1] = acc[1].min(ow);
                    acc[2] = acc[2].max(ow);
                    acc[3] += ow;
                    acc[4] += i64::from(ow == 0);
                }
            }
        }
        let mut n_bad = 0i64;
        Zip::from(&mut b.mask)
            .and(&b.image)
            .and(&b.variance)
            .for_each(|om, &oi, &ov| {
                if (oi * ov).is_nan() {
                    *om |= bad_bits;
                    n_bad += 1;
                }
            });
        acc[0] = n_bad;
        if let Ok(mut v) = per_band.lock() {
            v.push((b.y0, acc));
        }
    })?;
    let bands = per_band
        .into_inner()
        .map_err(|_| Error::Runtime("a stitching thread panicked".to_string()))?;
    let mut stats = StitchStats {
        n_bad: 0,
        min_weight: 0,
        max_weight: 0,
        mean_weight: 0.0,
        n_zero_weight: 0,
    };
    let (mut lo, mut hi, mut sum) = (i64::MAX, i64::MIN, 0i64);
    for (_, acc) in &bands {
        stats.n_bad += acc[0] as u64;
        lo = lo.min(acc[1]);
        hi = hi.max(acc[2]);
        sum += acc[3];
        stats.n_zero_weight += acc[4] as u64;
    }
    if op == ReduceOp::Average && npix > 0 {
        stats.min_weight = lo.clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32;
        stats.max_weight = hi.clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32;
        stats.mean_weight = sum as f64 / npix as f64;
    }
    Ok(stats)
}

/// [`init`], [`accumulate`] and [`finalize`] in one call.
///
/// # Errors
/// As those functions.
pub fn stitch<T: Pixel>(
    op: ReduceOp,
    out: &mut OutputMut<'_, T>,
    cells: &[CellView<'_, T>],
    bad_bits: i32,
    n_threads: usize,
) -> Result<StitchStats> {
    init(op, out, n_threads)?;
    accumulate(op, out, cells, n_threads)?;
    finalize(op, out, bad_bits, n_threads)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::geom::{Extent2I, Point2I};
    use ndarray::Array2;

    fn bx(x: i32, y: i32, w: i32, h: i32) -> Box2I {
        Box2I::from_corner_dims(Point2I::new(x, y), Extent2I::new(w, h), true).unwrap()
    }

    #[test]
    fn average_of_two_overlapping_cells_by_hand() {
        // Output 4x1 at x0 = 10; cell A covers x 10..12 with 1s, cell B x 11..13 with 3s.
        let ob = bx(10, 0, 4, 1);
        let (mut img, mut var) = (Array2::<f32>::zeros((1, 4)), Array2::<f32>::zeros((1, 4)));
        let (mut msk, mut w) = (Array2::<i32>::zeros((1, 4)), Array2::<i32>::zeros((1, 4)));
        let a_img = Array2::from_elem((1, 3), 1.0f32);
        let b_img = Array2::from_elem((1, 3), 3.0f32);
        let ones = Array2::from_elem((1, 3), 1.0f32);
        let a_msk = Array2::from_elem((1, 3), 2i32);
        let cells = [
            CellView {
                bbox: bx(10, 0, 3, 1),
                image: a_img.view(),
                mask: Some(a_msk.view()),
                variance: ones.view(),
            },
            CellView {
                bbox: bx(11, 0, 3, 1),
                image: b_img.view(),
                mask: None,
                variance: ones.view(),
            },
        ];
        let mut out = OutputMut {
            bbox: ob,
            image: img.view_mut(),
            mask: msk.view_mut(),
            variance: var.view_mut(),
            weights: Some(w.view_mut()),
        };
        let stats = stitch(ReduceOp::Average, &mut out, &cells, 1 << 9, 2).unwrap();
        assert_eq!(img.row(0).to_vec(), vec![1.0, 2.0, 2.0, 3.0]);
        assert_eq!(msk.row(0).to_vec(), vec![2, 2, 2, 0]);
        assert_eq!(w.row(0).to_vec(), vec![1, 2, 2, 1]);
        assert_eq!(stats.n_bad, 0);
        assert_eq!((stats.min_weight, stats.max_weight), (1, 2));
        assert!((stats.mean_weight - 1.5).abs() < 1e-12);
    }

    #[test]
    fn copy_leaves_nan_and_flags_it() {
        let ob = bx(0, 0, 3, 2);
        let mut img = Array2::<f64>::zeros((2, 3));
        let mut var = Array2::<f64>::zeros((2, 3));
        let mut msk = Array2::<i32>::zeros((2, 3));
        let mut c_img = Array2::from_elem((1, 2), 5.0f64);
        c_img[[0, 1]] = f64::NAN;
        let c_var = Array2::from_elem((1, 2), 1.0f64);
        let cells = [CellView {
            bbox: bx(1, 1, 2, 1),
            image: c_img.view(),
            mask: None,
            variance: c_var.view(),
        }];
        let mut out = OutputMut {
            bbox: ob,
            image: img.view_mut(),
            mask: msk.view_mut(),
            variance: var.view_mut(),
            weights: None,
        };
        let stats = stitch(ReduceOp::Copy, &mut out, &cells, 4, 1).unwrap();
        assert_eq!(stats.n_bad, 5);
        assert_eq!(img[[1, 1]], 5.0);
        assert!(img[[1, 2]].is_nan() && img[[0, 0]].is_nan());
        assert_eq!(msk[[1, 1]], 0);
        assert_eq!(msk[[1, 2]], 4);
    }

    #[test]
    fn errors_name_the_cell() {
        let mut img = Array2::<f32>::zeros((2, 2));
        let mut var = Array2::<f32>::zeros((2, 2));
        let mut msk = Array2::<i32>::zeros((2, 2));
        let c = Array2::<f32>::zeros((2, 2));
        let cells = [
            CellView {
                bbox: bx(0, 0, 2, 2),
                image: c.view(),
                mask: None,
                variance: c.view(),
            },
            CellView {
                bbox: bx(1, 0, 2, 2),
                image: c.view(),
                mask: None,
                variance: c.view(),
            },
        ];
        let mut out = OutputMut {
            bbox: bx(0, 0, 2, 2),
            image: img.view_mut(),
            mask: msk.view_mut(),
            variance: var.view_mut(),
            weights: None,
        };
        let err = accumulate(ReduceOp::Sum, &mut out, &cells, 1).unwrap_err();
        assert!(err.to_string().contains("cell 1"), "{err}");
        let bad = [CellView {
            bbox: bx(0, 0, 1, 2),
            image: c.view(),
            mask: None,
            variance: c.view(),
        }];
        let err = accumulate(ReduceOp::Sum, &mut out, &bad, 1).unwrap_err();
        assert!(err.to_string().contains("shape"), "{err}");
        let err = init(ReduceOp::Average, &mut out, 1).unwrap_err();
        assert!(err.to_string().contains("weights"), "{err}");
        assert!("median".parse::<ReduceOp>().is_err());
    }
}
