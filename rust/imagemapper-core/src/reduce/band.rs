//! The one band driver shared by every reduce family.
//!
//! The output planes are cut into disjoint bands of rows, processed in
//! parallel on a cached rayon pool; inside a band the cells are applied in
//! the order given. Each pixel therefore sees the same sequence of
//! operations whatever the number of threads, and the result is
//! bit-identical.

use std::collections::HashMap;
use std::ops::Range;
use std::sync::{Arc, Mutex, OnceLock};

use ndarray::{s, Array2, ArrayView2, ArrayViewMut2, Axis};
use rayon::prelude::*;

use crate::error::{Error, Result};
use crate::geom::Box2I;

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

/// One band of output rows: its first row and column in parent coordinates
/// and its parts of the output planes.
pub(crate) struct Band<'a, T> {
    pub(crate) y0: i64,
    pub(crate) x0: i64,
    pub(crate) image: ArrayViewMut2<'a, T>,
    pub(crate) mask: Option<ArrayViewMut2<'a, i32>>,
    pub(crate) variance: Option<ArrayViewMut2<'a, T>>,
    /// Per-pixel count of valid contributions (`average`; `sum` without variance).
    pub(crate) count: Option<ArrayViewMut2<'a, i32>>,
    /// Σ w (`weighted`) or the owner's squared distance (`owner`).
    pub(crate) aux: Option<ArrayViewMut2<'a, f64>>,
    /// The exact sum of an integer `average`.
    pub(crate) wide: Option<ArrayViewMut2<'a, i128>>,
}

/// The output planes a band driver cuts up.
pub(crate) struct Planes<T> {
    pub(crate) image: Array2<T>,
    pub(crate) mask: Option<Array2<i32>>,
    pub(crate) variance: Option<Array2<T>>,
    pub(crate) count: Option<Array2<i32>>,
    pub(crate) aux: Option<Array2<f64>>,
    pub(crate) wide: Option<Array2<i128>>,
}

/// Batches with fewer cell pixels than this are stitched in the calling
/// thread (about 0.2 ms of work: less than a hand-off to the pool costs on a
/// busy machine).
pub(crate) const MIN_PARALLEL_PIXELS: usize = 1 << 18;

fn band_rows(height: usize, n_threads: usize) -> usize {
    // Several bands per thread for balance, but not so thin that per-band
    // cell scanning dominates.
    let target = (n_threads.max(1) * 4).max(1);
    height.div_ceil(target).max(16)
}

fn split<A>(
    plane: Option<&mut Array2<A>>,
    rows: usize,
    n: usize,
) -> Vec<Option<ArrayViewMut2<'_, A>>> {
    match plane {
        Some(p) => p.axis_chunks_iter_mut(Axis(0), rows).map(Some).collect(),
        None => (0..n).map(|_| None).collect(),
    }
}

impl<T: Send + Sync> Planes<T> {
    /// Run `f` on every band in parallel; its results in band order.
    pub(crate) fn for_each_band<R, F>(
        &mut self,
        bbox: &Box2I,
        n_threads: usize,
        f: F,
    ) -> Result<Vec<R>>
    where
        R: Send,
        F: Fn(&mut Band<'_, T>) -> R + Sync + Send,
    {
        let height = self.image.nrows();
        if height == 0 || self.image.ncols() == 0 {
            return Ok(Vec::new());
        }
        // One thread: the calling one, as a single band (no pool, no hand-off).
        let pool = if n_threads == 1 {
            None
        } else {
            Some(thread_pool(n_threads)?)
        };
        let rows = match &pool {
            Some(p) => band_rows(height, p.current_num_threads()),
            None => height,
        };
        let n = height.div_ceil(rows);
        let (y0, x0) = (i64::from(bbox.min_y()), i64::from(bbox.min_x()));
        let masks = split(self.mask.as_mut(), rows, n);
        let variances = split(self.variance.as_mut(), rows, n);
        let counts = split(self.count.as_mut(), rows, n);
        let auxes = split(self.aux.as_mut(), rows, n);
        let wides = split(self.wide.as_mut(), rows, n);
        let mut bands: Vec<Band<'_, T>> = self
            .image
            .axis_chunks_iter_mut(Axis(0), rows)
            .zip(masks)
            .zip(variances)
            .zip(counts.into_iter().zip(auxes).zip(wides))
            .enumerate()
            .map(
                |(k, (((image, mask), variance), ((count, aux), wide)))| Band {
                    y0: y0 + (k * rows) as i64,
                    x0,
                    image,
                    mask,
                    variance,
                    count,
                    aux,
                    wide,
                },
            )
            .collect();
        Ok(match pool {
            Some(pool) => pool.install(|| bands.par_iter_mut().map(&f).collect()),
            None => bands.iter_mut().map(&f).collect(),
        })
    }
}

/// Where a cell's box meets a band: rows and columns in the band, and the
/// same rows and columns counted from the cell's corner.
pub(crate) struct Overlap {
    pub(crate) rows: Range<usize>,
    pub(crate) cols: Range<usize>,
    pub(crate) cell_rows: Range<usize>,
    pub(crate) cell_cols: Range<usize>,
}

impl<T> Band<'_, T> {
    /// The part of `cell` inside this band; None when they do not meet.
    pub(crate) fn overlap(&self, cell: &Box2I) -> Option<Overlap> {
        if cell.is_empty() {
            return None;
        }
        let (h, w) = (self.image.nrows() as i64, self.image.ncols() as i64);
        let (cy0, cx0) = (i64::from(cell.min_y()), i64::from(cell.min_x()));
        let r0 = cy0.max(self.y0);
        let r1 = i64::from(cell.end_y()).min(self.y0 + h);
        let c0 = cx0.max(self.x0);
        let c1 = i64::from(cell.end_x()).min(self.x0 + w);
        if r0 >= r1 || c0 >= c1 {
            return None;
        }
        Some(Overlap {
            rows: (r0 - self.y0) as usize..(r1 - self.y0) as usize,
            cols: (c0 - self.x0) as usize..(c1 - self.x0) as usize,
            cell_rows: (r0 - cy0) as usize..(r1 - cy0) as usize,
            cell_cols: (c0 - cx0) as usize..(c1 - cx0) as usize,
        })
    }
}

impl Overlap {
    /// The overlap of an output plane of the band.
    pub(crate) fn out<'b, A>(&self, plane: &'b mut ArrayViewMut2<'_, A>) -> ArrayViewMut2<'b, A> {
        plane.slice_mut(s![self.rows.clone(), self.cols.clone()])
    }
    /// The overlap of a cell plane.
    pub(crate) fn cell<'b, A>(&self, plane: &ArrayView2<'b, A>) -> ArrayView2<'b, A> {
        (*plane).slice_move(s![self.cell_rows.clone(), self.cell_cols.clone()])
    }
}
