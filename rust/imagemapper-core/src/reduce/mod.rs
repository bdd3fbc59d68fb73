//! The reduce step of `ImageMapReduceTask`: one [`ReduceOp`] for every
//! operation that builds an output image from per-cell results, and one
//! stateful [`Reducer`] that owns the output planes (and the weight or
//! auxiliary plane an operation needs), takes cells in batches
//! ([`Reducer::add`]) and finishes ([`Reducer::finish`]).
//!
//! The families live in their own modules and share one band driver
//! ([`band`]): `stitch` (copy, owner: each pixel takes one contribution),
//! `accumulate` (sum, average, weighted: contributions are added and
//! normalised), `extremum` (max, min) and [`mesh`] (per-cell scalars
//! interpolated to full resolution).
//!
//! Semantics shared by every operation (those of LSST's `ImageReducer`,
//! extended):
//! * a cell pixel is *valid* when `image * variance` (in the pixel type) is
//!   not NaN; in image-only mode (no variance plane) every pixel is valid
//!   and its value is used as it is (±inf, NaN and −0.0 included);
//! * every cell's mask is OR'ed into the output mask over the whole cell;
//! * [`Reducer::finish`] ORs `bad_bits` into every pixel that holds no
//!   valid value (`image * variance` NaN, or a `sum` pixel with no valid
//!   contribution) and every pixel of a cell recorded as failed
//!   ([`Reducer::add_failed`]), and counts those pixels;
//! * the result is bit-identical for any number of threads and for any
//!   split of the cells into successive batches given in cell order.
//!
//! The operations:
//! * `copy`: the later valid cell wins; NaN where none;
//! * `sum`: Σ of valid contributions, exact for the first (−0.0 is kept);
//!   0 and flagged where none;
//! * `average`: Σ / count in `f64`, rounded once to the pixel type; NaN where
//!   none; the count is the weight plane;
//! * `weighted`: every cell carries a separable window `w = wx(x) · wy(y)`
//!   ramping down on the edges that face another cell (never the image
//!   border); `Σ w v / Σ w`, the variance `Σ w σ² / Σ w` (correlated) or
//!   `Σ w² σ² / (Σ w)²` (independent); with `inverse_variance` `w` is also
//!   divided by σ² (then a pixel whose variance is not positive is not
//!   valid); Σ w is the weight plane;
//! * `owner`: the valid contribution whose cell centre is nearest; ties go
//!   to the earlier cell;
//! * `max`, `min`: the largest / smallest valid value (with its variance);
//!   ties keep the earlier cell; NaN where none.
//!
//! Integer pixels (`i8` ... `u64`, see [`Pixel`]) are image-only and have
//! no `weighted`; a pixel no cell reached is 0 (flagged and counted as
//! uncovered), `sum` wraps around in the pixel type and `average` is the
//! exact quotient rounded half to even.
//!
//! Long module: the `Pixel` trait, the operation and parameter types and the
//! one stateful `Reducer` (its planes, weights, coverage and the add/finish
//! paths shared by every pixel type) are one unit that every family module
//! uses; the per-family kernels, the band driver, the row kernels and the tests
//! already live in their own modules.

mod accumulate;
pub mod band;
mod extremum;
mod memory;
pub mod mesh;
mod rows;
mod stitch;
pub mod window;

use std::str::FromStr;
use std::sync::Arc;

use ndarray::{Array2, ArrayView2, Zip};

use crate::error::{Error, Result};
use crate::geom::Box2I;

pub use band::thread_pool;
pub use window::{cell_ramps, unclipped_centres, CellGeom, Window};

use band::{Band, Planes};

/// A pixel type of the output image.
///
/// Floating-point types mark "no value" with NaN. Integer types (`i8` ...
/// `u64`, the image-only mode of the numpy façade) have no NaN: their empty
/// value is 0 and the reducer tracks which pixels a cell reached itself.
/// With integer pixels every operation but `weighted` is exact: `copy`,
/// `owner`, `max` and `min` move values unchanged, `sum` wraps as numpy's
/// integer `add` does (two's complement, in the pixel type) and `average`
/// adds in `i128` and rounds the quotient once, half to even.
pub trait Pixel: Copy + Send + Sync + PartialEq + PartialOrd + 'static {
    /// The value of a pixel nothing landed on (NaN for floats, 0 for integers).
    const EMPTY: Self;
    /// Zero.
    const ZERO: Self;
    /// The starting value of a sum: −0.0 for floats (so that the first
    /// contribution is kept exactly, −0.0 included), 0 otherwise.
    const SUM_START: Self;
    /// The starting value of `max`: EMPTY (NaN: the first valid value
    /// replaces it) for floats, the smallest value for integers.
    const MAX_START: Self;
    /// The starting value of `min`: EMPTY for floats, the largest value for
    /// integers.
    const MIN_START: Self;
    /// Whether this is an integer type (no NaN; image-only; no `weighted`;
    /// `average` accumulates exactly in `i128`).
    const INTEGER: bool;
    /// True for NaN.
    fn is_nan(self) -> bool;
    /// `a + b` in the pixel type (integers wrap around).
    fn add(self, other: Self) -> Self;
    /// Whether `image * variance` is not NaN (LSST's validity test).
    fn valid(image: Self, variance: Self) -> bool;
    /// Widen to `f64`.
    fn to_f64(self) -> f64;
    /// Round from `f64` (once, to nearest; integers: ties to even,
    /// saturating, NaN to 0).
    fn from_f64(v: f64) -> Self;
    /// Widen to `i128`, exactly for integers (floats: truncated and
    /// saturated; the reducer never asks them).
    fn to_i128(self) -> i128;
    /// Narrow from `i128` (a value of the type's range for integers).
    fn from_i128(v: i128) -> Self;
    /// `if pick { a } else { b }`. Floats override it with bit masks: a loop
    /// over slices that selects this way vectorises, where a branch (or a
    /// select that the compiler turns into a conditional store) does not.
    #[inline]
    fn select(pick: bool, a: Self, b: Self) -> Self {
        if pick {
            a
        } else {
            b
        }
    }
}

macro_rules! float_pixel {
    ($t:ty, $bits:ty) => {
        impl Pixel for $t {
            const EMPTY: Self = <$t>::NAN;
            const ZERO: Self = 0.0;
            const SUM_START: Self = -0.0;
            const MAX_START: Self = <$t>::NAN;
            const MIN_START: Self = <$t>::NAN;
            const INTEGER: bool = false;
            fn is_nan(self) -> bool {
                <$t>::is_nan(self)
            }
            fn add(self, other: Self) -> Self {
                self + other
            }
            fn valid(image: Self, variance: Self) -> bool {
                !(image * variance).is_nan()
            }
            fn to_f64(self) -> f64 {
                f64::from(self)
            }
            #[allow(clippy::cast_possible_truncation)]
            fn from_f64(v: f64) -> Self {
                v as $t
            }
            #[allow(clippy::cast_possible_truncation)]
            fn to_i128(self) -> i128 {
                self as i128
            }
            #[allow(clippy::cast_precision_loss)]
            fn from_i128(v: i128) -> Self {
                v as $t
            }
            #[inline]
            fn select(pick: bool, a: Self, b: Self) -> Self {
                let m = (0 as $bits).wrapping_sub(<$bits>::from(pick));
                <$t>::from_bits((a.to_bits() & m) | (b.to_bits() & !m))
            }
        }
    };
}

float_pixel!(f32, u32);
float_pixel!(f64, u64);

macro_rules! int_pixel {
    ($($t:ty),*) => {$(
        impl Pixel for $t {
            const EMPTY: Self = 0;
            const ZERO: Self = 0;
            const SUM_START: Self = 0;
            const MAX_START: Self = <$t>::MIN;
            const MIN_START: Self = <$t>::MAX;
            const INTEGER: bool = true;
            fn is_nan(self) -> bool {
                false
            }
            fn add(self, other: Self) -> Self {
                self.wrapping_add(other)
            }
            fn valid(_image: Self, _variance: Self) -> bool {
                true
            }
            #[allow(clippy::cast_precision_loss, clippy::cast_lossless)]
            fn to_f64(self) -> f64 {
                self as f64
            }
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            fn from_f64(v: f64) -> Self {
                // `as` saturates and maps NaN to 0.
                v.round_ties_even() as $t
            }
            #[allow(clippy::cast_lossless)]
            fn to_i128(self) -> i128 {
                self as i128
            }
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            fn from_i128(v: i128) -> Self {
                v as $t
            }
        }
    )*};
}

int_pixel!(i8, i16, i32, i64, u8, u16, u32, u64);

/// `s / n` rounded to the nearest integer, ties to even (`n > 0`): the
/// integer `average`.
pub(crate) fn div_round_half_even(s: i128, n: i128) -> i128 {
    let (q, r) = (s.div_euclid(n), s.rem_euclid(n));
    match (2 * r).cmp(&n) {
        std::cmp::Ordering::Greater => q + 1,
        std::cmp::Ordering::Equal if q & 1 == 1 => q + 1,
        _ => q,
    }
}

/// Every operation that builds an output image from per-cell results.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReduceOp {
    Copy,
    Sum,
    Average,
    Weighted,
    Owner,
    Max,
    Min,
    /// Per-cell scalars interpolated over the cell centres ([`mesh`]).
    Mesh,
}

impl ReduceOp {
    /// Every operation, in documentation order.
    pub const ALL: [ReduceOp; 8] = [
        Self::Copy,
        Self::Sum,
        Self::Average,
        Self::Weighted,
        Self::Owner,
        Self::Max,
        Self::Min,
        Self::Mesh,
    ];

    /// The configuration name (`"copy"`, ...).
    pub const fn name(self) -> &'static str {
        match self {
            Self::Copy => "copy",
            Self::Sum => "sum",
            Self::Average => "average",
            Self::Weighted => "weighted",
            Self::Owner => "owner",
            Self::Max => "max",
            Self::Min => "min",
            Self::Mesh => "mesh",
        }
    }

    /// Whether a [`Reducer`] stitches cell images with it (all but `mesh`).
    pub const fn stitches(self) -> bool {
        !matches!(self, Self::Mesh)
    }
}

impl std::fmt::Display for ReduceOp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for ReduceOp {
    type Err = Error;
    /// The one parser of operation names.
    fn from_str(s: &str) -> Result<Self> {
        Self::ALL
            .iter()
            .copied()
            .find(|op| op.name() == s)
            .ok_or_else(|| {
                let names: Vec<String> = Self::ALL
                    .iter()
                    .map(|o| format!("{:?}", o.name()))
                    .collect();
                Error::InvalidValue(format!(
                    "reduceOperation {s:?} cannot be stitched; expected one of {}",
                    names.join(", ")
                ))
            })
    }
}

/// How `weighted` combines variances.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VariancePolicy {
    /// `Σ w σ² / Σ w`: averaged like the image (as `average` does).
    Correlated,
    /// `Σ w² σ² / (Σ w)²`: the variance of a weighted mean of independent values.
    Independent,
}

impl FromStr for VariancePolicy {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "correlated" => Ok(Self::Correlated),
            "independent" => Ok(Self::Independent),
            other => Err(Error::InvalidValue(format!(
                "variance policy {other:?} is unknown; expected \"correlated\" or \"independent\""
            ))),
        }
    }
}

/// The parameters of a reduce (those of `weighted`; ignored by the others).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Params {
    pub window: Window,
    pub inverse_variance: bool,
    pub variance: VariancePolicy,
    /// Largest ramp as a fraction of the cell's size, in `(0, 1]`.
    pub max_ramp_fraction: f64,
}

impl Default for Params {
    fn default() -> Self {
        Self {
            window: Window::Cosine,
            inverse_variance: false,
            variance: VariancePolicy::Correlated,
            max_ramp_fraction: 0.5,
        }
    }
}

/// One cell's result: its index in the grid, its box (inside the reducer's
/// full box) and its planes, each of the box's shape `(height, width)`; any
/// strides. `mask` is optional; `variance` is present exactly when the
/// reducer has a variance plane.
pub struct CellView<'a, T> {
    pub index: usize,
    pub bbox: Box2I,
    pub image: ArrayView2<'a, T>,
    pub mask: Option<ArrayView2<'a, i32>>,
    pub variance: Option<ArrayView2<'a, T>>,
}

/// What [`Reducer::finish`] measured.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Stats {
    /// Pixels flagged with the bad bits (no valid value, or in a failed cell).
    pub n_bad: u64,
    /// Pixels with no valid contribution.
    pub n_uncovered: u64,
    /// Smallest, largest and mean weight: the count of valid contributions
    /// over every pixel (`average`), Σ w over covered pixels (`weighted`);
    /// 0 for the other operations.
    pub min_weight: f64,
    pub max_weight: f64,
    pub mean_weight: f64,
    /// Pixels whose weight is 0 (`average`, `weighted`).
    pub n_zero_weight: u64,
}

/// The weight plane a reduce leaves besides the image.
pub enum Weights {
    /// Count of valid contributions (`average`).
    Count(Array2<i32>),
    /// Σ w (`weighted`).
    Sum(Array2<f64>),
}

/// The output planes of a finished reduce.
pub struct Output<T> {
    pub bbox: Box2I,
    pub image: Array2<T>,
    pub mask: Option<Array2<i32>>,
    pub variance: Option<Array2<T>>,
    pub weights: Option<Weights>,
}

/// An array of `shape` filled with `value`, or [`Error::Memory`] when it
/// cannot be allocated (never an abort).
pub fn alloc<A: Clone>(shape: (usize, usize), value: A, what: &str) -> Result<Array2<A>> {
    let n = shape
        .0
        .checked_mul(shape.1)
        .ok_or_else(|| Error::Memory(format!("{what} of {shape:?} pixels is too large")))?;
    let mut v = reserve_plane::<A>(shape, n, what)?;
    v.resize(n, value);
    Array2::from_shape_vec(shape, v).map_err(|e| Error::Shape(e.to_string()))
}

/// An empty buffer with room for the `n` pixels of a `what` plane of
/// `shape`, on huge pages when large; [`Error::Memory`] when it cannot be had.
fn reserve_plane<A>(shape: (usize, usize), n: usize, what: &str) -> Result<Vec<A>> {
    let mut v = Vec::new();
    v.try_reserve_exact(n).map_err(|_| {
        Error::Memory(format!(
            "cannot allocate the {what} plane of {} x {} pixels ({} bytes)",
            shape.0,
            shape.1,
            n.saturating_mul(std::mem::size_of::<A>())
        ))
    })?;
    memory::advise_huge_pages(&mut v);
    Ok(v)
}

/// A copy of `plane` in a new C-order array, allocated as [`alloc`]
/// allocates (huge pages for large planes; [`Error::Memory`] when it cannot).
pub fn copy_plane<A: Clone>(plane: ArrayView2<'_, A>, what: &str) -> Result<Array2<A>> {
    let shape = plane.dim();
    let n = plane.len();
    let mut v = reserve_plane::<A>(shape, n, what)?;
    for row in plane.rows() {
        match row.to_slice() {
            Some(s) => v.extend_from_slice(s),
            None => v.extend(row.iter().cloned()),
        }
    }
    Array2::from_shape_vec(shape, v).map_err(|e| Error::Shape(e.to_string()))
}

fn shape_of(b: &Box2I) -> (usize, usize) {
    (b.height().max(0) as usize, b.width().max(0) as usize)
}

/// The stateful reducer: output planes over `bbox`, filled from cells lying
/// inside `full_bbox` (a band of an out-of-core output clips them).
pub struct Reducer<T> {
    op: ReduceOp,
    params: Params,
    bbox: Box2I,
    full_bbox: Box2I,
    planes: Planes<T>,
    geoms: Arc<[CellGeom]>,
    failed: Vec<Box2I>,
    /// The boxes of the cells added (clipped to `bbox`), kept where nothing
    /// else tells a reached pixel from an empty one: integer `copy`,
    /// `owner`, `max` and `min`.
    covered: Option<Vec<Box2I>>,
    n_threads: usize,
    finished: bool,
}

impl<T: Pixel> Reducer<T> {
    /// A reducer for `op` over `bbox`.
    ///
    /// * `mask`: the starting output mask (a copy of the input's), of
    ///   `bbox`'s shape; None for no mask plane.
    /// * `with_variance`: false for the image-only mode.
    /// * `grid`: the grid's cells (they give `weighted` its ramps and
    ///   `owner` its centres); a cell added with an index beyond the grid
    ///   uses its own box (no ramps).
    /// * `full_bbox`: the box every cell must lie in (the exposure's).
    ///
    /// # Errors
    /// [`Error::InvalidValue`] for `mesh`, bad parameters, an image-only
    /// `weighted` with inverse variance, or integer pixels with a variance
    /// plane or `weighted`; [`Error::Shape`] for a mask of the wrong shape;
    /// [`Error::Memory`] when the planes cannot be allocated.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        op: ReduceOp,
        params: Params,
        bbox: Box2I,
        full_bbox: Box2I,
        mask: Option<Array2<i32>>,
        with_variance: bool,
        grid: &[Box2I],
        n_threads: usize,
    ) -> Result<Self> {
        let geoms: Arc<[CellGeom]> = match op {
            ReduceOp::Weighted => {
                let ramps = cell_ramps(grid, params.max_ramp_fraction)?;
                let centres = unclipped_centres(grid, &full_bbox);
                ramps
                    .into_iter()
                    .zip(centres)
                    .map(|(ramps, centre)| CellGeom { ramps, centre })
                    .collect()
            }
            ReduceOp::Owner => unclipped_centres(grid, &full_bbox)
                .into_iter()
                .map(|centre| CellGeom {
                    ramps: [0; 4],
                    centre,
                })
                .collect(),
            _ => Arc::from(Vec::new()),
        };
        Self::with_geoms(
            op,
            params,
            bbox,
            full_bbox,
            mask,
            with_variance,
            geoms,
            n_threads,
        )
    }

    /// As [`Reducer::new`] with the grid geometry of another reducer
    /// ([`Reducer::geoms`]): the bands of one out-of-core output share it.
    ///
    /// # Errors
    /// As [`Reducer::new`].
    #[allow(clippy::too_many_arguments)]
    pub fn with_geoms(
        op: ReduceOp,
        params: Params,
        bbox: Box2I,
        full_bbox: Box2I,
        mask: Option<Array2<i32>>,
        with_variance: bool,
        geoms: Arc<[CellGeom]>,
        n_threads: usize,
    ) -> Result<Self> {
        if !op.stitches() {
            return Err(Error::InvalidValue(format!(
                "reduceOperation \"{op}\" interpolates per-cell scalars (mesh::bilinear); it does \
                 not stitch cell images"
            )));
        }
        if !(params.max_ramp_fraction > 0.0 && params.max_ramp_fraction <= 1.0) {
            return Err(Error::InvalidValue(format!(
                "ramp fraction {} must be in (0, 1]",
                params.max_ramp_fraction
            )));
        }
        if !with_variance && params.inverse_variance && op == ReduceOp::Weighted {
            return Err(Error::InvalidValue(
                "inverse-variance weighting needs a variance plane".to_string(),
            ));
        }
        if T::INTEGER && with_variance {
            return Err(Error::InvalidValue(
                "integer pixels are image-only: a reducer with a variance plane needs float32 \
                 or float64 pixels"
                    .to_string(),
            ));
        }
        if T::INTEGER && op == ReduceOp::Weighted {
            return Err(Error::InvalidValue(
                "reduceOperation \"weighted\" blends in floating point; it needs float32 or \
                 float64 pixels"
                    .to_string(),
            ));
        }
        if !bbox.is_empty() && !full_bbox.contains_box(&bbox) {
            return Err(Error::Shape(format!(
                "output box {bbox} is not inside the full box {full_bbox}"
            )));
        }
        let shape = shape_of(&bbox);
        if let Some(m) = &mask {
            if m.dim() != shape {
                return Err(Error::Shape(format!(
                    "output mask has shape {:?} but the output box {bbox} needs {shape:?} (rows, columns)",
                    m.dim()
                )));
            }
        }
        let (start, aux0) = match op {
            ReduceOp::Sum | ReduceOp::Average | ReduceOp::Weighted => (T::SUM_START, 0.0),
            ReduceOp::Owner => (T::EMPTY, f64::INFINITY),
            ReduceOp::Max => (T::MAX_START, 0.0),
            ReduceOp::Min => (T::MIN_START, 0.0),
            _ => (T::EMPTY, 0.0),
        };
        // `sum` marks "no contribution yet" with a NaN variance; without a
        // variance plane it counts.
        let var0 = if op == ReduceOp::Sum { T::EMPTY } else { start };
        let needs_count = op == ReduceOp::Average || (op == ReduceOp::Sum && !with_variance);
        let planes = Planes {
            image: alloc(shape, start, "image")?,
            mask,
            variance: if with_variance {
                Some(alloc(shape, var0, "variance")?)
            } else {
                None
            },
            count: if needs_count {
                Some(alloc(shape, 0i32, "count")?)
            } else {
                None
            },
            aux: if matches!(op, ReduceOp::Weighted | ReduceOp::Owner) {
                Some(alloc(shape, aux0, "weights")?)
            } else {
                None
            },
            // Integer `average` adds exactly, beside the pixel type.
            wide: if T::INTEGER && op == ReduceOp::Average {
                Some(alloc(shape, 0i128, "sum")?)
            } else {
                None
            },
        };
        let covered = (T::INTEGER
            && matches!(
                op,
                ReduceOp::Copy | ReduceOp::Owner | ReduceOp::Max | ReduceOp::Min
            ))
        .then(Vec::new);
        Ok(Self {
            op,
            params,
            bbox,
            full_bbox,
            planes,
            geoms,
            failed: Vec::new(),
            covered,
            n_threads,
            finished: false,
        })
    }

    /// The operation.
    pub fn op(&self) -> ReduceOp {
        self.op
    }
    /// The output box.
    pub fn bbox(&self) -> Box2I {
        self.bbox
    }
    /// The box cells must lie in.
    pub fn full_bbox(&self) -> Box2I {
        self.full_bbox
    }
    /// Whether the reducer has a variance plane.
    pub fn has_variance(&self) -> bool {
        self.planes.variance.is_some()
    }
    /// The grid geometry (ramps and centres), shared.
    pub fn geoms(&self) -> Arc<[CellGeom]> {
        Arc::clone(&self.geoms)
    }

    fn geom(&self, cell: &CellView<'_, T>) -> CellGeom {
        self.geoms
            .get(cell.index)
            .copied()
            .unwrap_or_else(|| CellGeom::of_box(&cell.bbox))
    }

    /// Check a batch of cells: each box inside the full box, each plane of
    /// its box's shape, a variance plane exactly when the reducer has one.
    ///
    /// # Errors
    /// [`Error::Shape`] naming the cell index.
    pub fn check_cells(&self, cells: &[CellView<'_, T>]) -> Result<()> {
        for c in cells {
            let i = c.index;
            if !c.bbox.is_empty() && !self.full_bbox.contains_box(&c.bbox) {
                return Err(Error::Shape(format!(
                    "cell {i}: its box {} is not inside the output box {}",
                    c.bbox, self.full_bbox
                )));
            }
            if c.variance.is_some() != self.has_variance() {
                return Err(Error::Shape(format!(
                    "cell {i}: a variance plane is {} but the reducer {} one",
                    if c.variance.is_some() {
                        "given"
                    } else {
                        "missing"
                    },
                    if self.has_variance() { "has" } else { "has no" }
                )));
            }
            let want = shape_of(&c.bbox);
            let planes = [
                ("image", Some(c.image.dim())),
                ("mask", c.mask.as_ref().map(ArrayView2::dim)),
                ("variance", c.variance.as_ref().map(ArrayView2::dim)),
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

    fn check_open(&self) -> Result<()> {
        if self.finished {
            return Err(Error::Runtime(
                "this reducer has finished; make a new one for another output".to_string(),
            ));
        }
        Ok(())
    }

    /// Stitch a batch of cells, in the order given (cell order).
    ///
    /// # Errors
    /// As [`Reducer::check_cells`] (nothing is written then), or after
    /// [`Reducer::finish`].
    pub fn add(&mut self, cells: &[CellView<'_, T>]) -> Result<()> {
        self.check_open()?;
        self.check_cells(cells)?;
        let cells: Vec<&CellView<'_, T>> = cells
            .iter()
            .filter(|c| c.bbox.overlaps(&self.bbox))
            .collect();
        if cells.is_empty() {
            return Ok(());
        }
        if let Some(covered) = self.covered.as_mut() {
            covered.extend(cells.iter().map(|c| c.bbox.clipped_to(&self.bbox)));
        }
        let (op, params) = (self.op, self.params);
        let geoms: Vec<CellGeom> = cells.iter().map(|c| self.geom(c)).collect();
        // The column window of each `weighted` cell, computed once per batch.
        let wxs: Vec<Vec<f64>> = if op == ReduceOp::Weighted {
            cells
                .iter()
                .zip(&geoms)
                .map(|(c, g)| {
                    window::axis_window(params.window, shape_of(&c.bbox).1, g.ramps[0], g.ramps[1])
                })
                .collect()
        } else {
            Vec::new()
        };
        // A small batch is stitched in the calling thread: handing it to the
        // pool costs more than the work (same bits either way).
        let pixels: usize = cells.iter().map(|c| c.image.len()).sum();
        let n_threads = if pixels < band::MIN_PARALLEL_PIXELS {
            1
        } else {
            self.n_threads
        };
        self.planes.for_each_band(&self.bbox, n_threads, |band| {
            for (k, cell) in cells.iter().enumerate() {
                let Some(o) = band.overlap(&cell.bbox) else {
                    continue;
                };
                match op {
                    ReduceOp::Copy => {
                        if T::INTEGER || !rows::copy(band, cell, &o) {
                            stitch::copy(band, cell, &o);
                        }
                    }
                    ReduceOp::Owner => stitch::owner(band, cell, &o, &geoms[k]),
                    ReduceOp::Sum | ReduceOp::Average => {
                        if T::INTEGER || !rows::sum(band, cell, &o) {
                            accumulate::sum(band, cell, &o);
                        }
                    }
                    ReduceOp::Weighted => {
                        accumulate::weighted(&params, band, cell, &o, &geoms[k], &wxs[k]);
                    }
                    ReduceOp::Max => extremum::apply(true, band, cell, &o),
                    ReduceOp::Min => extremum::apply(false, band, cell, &o),
                    ReduceOp::Mesh => {}
                }
                if !rows::or_mask(band, cell, &o) {
                    or_mask(band, cell, &o);
                }
            }
        })?;
        Ok(())
    }

    /// Record cells whose mapper failed: every output pixel they would have
    /// contributed to (their box) is flagged by [`Reducer::finish`].
    pub fn add_failed(&mut self, boxes: &[Box2I]) {
        self.failed
            .extend(boxes.iter().filter(|b| b.overlaps(&self.bbox)).copied());
    }

    /// Finish: normalise (`average`, `weighted`), settle pixels with no
    /// contribution, OR `bad_bits` into the mask of every pixel with no
    /// valid value or in a failed cell, and measure.
    ///
    /// # Errors
    /// After a previous `finish`.
    pub fn finish(&mut self, bad_bits: i32) -> Result<Stats> {
        self.check_open()?;
        self.finished = true;
        let (op, params) = (self.op, self.params);
        let failed = &self.failed;
        let covered = self.covered.as_deref();
        let independent = params.variance == VariancePolicy::Independent;
        let per_band = self
            .planes
            .for_each_band(&self.bbox, self.n_threads, |band| {
                finish_band(op, independent, band, failed, covered, bad_bits)
            })?;
        let npix = (self.planes.image.len() as u64).max(1);
        let mut s = Stats::default();
        let (mut lo, mut hi, mut sum) = (f64::INFINITY, f64::NEG_INFINITY, 0.0);
        for b in &per_band {
            s.n_bad += b.n_bad;
            s.n_uncovered += b.n_uncovered;
            s.n_zero_weight += b.n_zero;
            lo = lo.min(b.min_w);
            hi = hi.max(b.max_w);
            sum += b.sum_w;
        }
        if matches!(op, ReduceOp::Average | ReduceOp::Weighted) && lo.is_finite() {
            s.min_weight = lo;
            s.max_weight = hi;
            s.mean_weight = sum / npix as f64;
        }
        Ok(s)
    }

    /// The output planes (after [`Reducer::finish`]).
    pub fn into_output(self) -> Output<T> {
        let weights = match self.op {
            ReduceOp::Average => self.planes.count.map(Weights::Count),
            ReduceOp::Weighted => self.planes.aux.map(Weights::Sum),
            _ => None,
        };
        Output {
            bbox: self.bbox,
            image: self.planes.image,
            mask: self.planes.mask,
            variance: self.planes.variance,
            weights,
        }
    }
}

/// Per-band measurements gathered by `finish`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct BandStats {
    pub(crate) n_bad: u64,
    pub(crate) n_uncovered: u64,
    pub(crate) n_zero: u64,
    pub(crate) min_w: f64,
    pub(crate) max_w: f64,
    pub(crate) sum_w: f64,
}

impl Default for BandStats {
    fn default() -> Self {
        Self {
            n_bad: 0,
            n_uncovered: 0,
            n_zero: 0,
            min_w: f64::INFINITY,
            max_w: f64::NEG_INFINITY,
            sum_w: 0.0,
        }
    }
}

/// OR the cell's mask (if any) into the band over the whole overlap.
fn or_mask<T>(band: &mut Band<'_, T>, cell: &CellView<'_, T>, o: &band::Overlap) {
    if let (Some(out), Some(m)) = (band.mask.as_mut(), cell.mask.as_ref()) {
        Zip::from(o.out(out))
            .and(o.cell(m))
            .for_each(|om, &cm| *om |= cm);
    }
}

/// The column ranges (in a band `w` columns wide starting at `x0`) of the
/// boxes that hold row `y`.
fn row_ranges(boxes: &[Box2I], y: i64, x0: i64, w: usize, out: &mut Vec<std::ops::Range<usize>>) {
    out.clear();
    for b in boxes {
        if i64::from(b.min_y()) <= y && y < i64::from(b.end_y()) {
            let c0 = (i64::from(b.min_x()) - x0).clamp(0, w as i64) as usize;
            let c1 = (i64::from(b.end_x()) - x0).clamp(0, w as i64) as usize;
            if c0 < c1 {
                out.push(c0..c1);
            }
        }
    }
}

/// Finish one band in one pass over its rows: settle every pixel (the
/// accumulate family normalises; an integer pixel outside every `covered`
/// box becomes EMPTY), then OR `bad_bits` into each pixel with no valid
/// value (`image * variance` NaN, image NaN without variance, a `sum` or
/// `average` pixel nothing valid reached, an integer pixel no cell reached)
/// or inside a failed box, and count them.
fn finish_band<T: Pixel>(
    op: ReduceOp,
    independent: bool,
    band: &mut Band<'_, T>,
    failed: &[Box2I],
    covered: Option<&[Box2I]>,
    bad_bits: i32,
) -> BandStats {
    let mut st = BandStats::default();
    let (h, w) = band.image.dim();
    let x0 = band.x0;
    // Only the covered boxes that meet this band's rows.
    let (y0, y1) = (band.y0, band.y0 + h as i64);
    let covered: Option<Vec<Box2I>> = covered.map(|boxes| {
        boxes
            .iter()
            .filter(|b| i64::from(b.min_y()) < y1 && i64::from(b.end_y()) > y0)
            .copied()
            .collect()
    });
    let mut fails: Vec<std::ops::Range<usize>> = Vec::new();
    let mut bad = vec![0u8; w];
    let mut spans: Vec<std::ops::Range<usize>> = Vec::new();
    let mut reached: Vec<bool> = Vec::new();
    for r in 0..h {
        let y = band.y0 + r as i64;
        row_ranges(failed, y, x0, w, &mut fails);
        if let Some(boxes) = covered.as_deref() {
            row_ranges(boxes, y, x0, w, &mut spans);
            reached.clear();
            reached.resize(w, false);
            for s in &spans {
                reached[s.clone()].fill(true);
            }
        }
        // Rows of the owned C-order planes are contiguous slices.
        const CONTIGUOUS: &str = "rows of the owned C-order planes are contiguous";
        let mut img_row = band.image.row_mut(r);
        let img = &mut img_row.as_slice_mut().expect(CONTIGUOUS)[..w];
        let mut var_row = band.variance.as_mut().map(|v| v.row_mut(r));
        let mut var = var_row
            .as_mut()
            .map(|v| &mut v.as_slice_mut().expect(CONTIGUOUS)[..w]);
        let mut mask_row = band.mask.as_mut().map(|m| m.row_mut(r));
        let mut mask = mask_row
            .as_mut()
            .map(|m| &mut m.as_slice_mut().expect(CONTIGUOUS)[..w]);
        let cnt = band.count.as_ref().map(|c| c.row(r));
        if fails.is_empty() && !T::INTEGER {
            // The vectorised row kernels (floats; every operation but `weighted`).
            let cnt = cnt.as_ref().map(|c| c.as_slice().expect(CONTIGUOUS));
            if let Some(u) = rows::settle_row(op, img, var.as_deref_mut(), cnt, &mut bad, &mut st) {
                st.n_uncovered += u;
                st.n_bad += rows::flag_row(mask.as_deref_mut(), &bad[..w], bad_bits);
                continue;
            }
        }
        let aux = band.aux.as_ref().map(|a| a.row(r));
        let wide = band.wide.as_ref().map(|a| a.row(r));
        for c in 0..w {
            let mut uncovered = accumulate::settle(
                op,
                independent,
                &mut img[c],
                var.as_mut().map(|v| &mut v[c]),
                cnt.as_ref().map(|n| n[c]),
                aux.as_ref().map(|a| a[c]),
                wide.as_ref().map(|s| s[c]),
                &mut st,
            );
            if covered.is_some() && !reached[c] {
                img[c] = T::EMPTY;
                uncovered = true;
            }
            st.n_uncovered += u64::from(uncovered);
            let valid = match var.as_ref() {
                Some(v) => T::valid(img[c], v[c]),
                None => !img[c].is_nan(),
            };
            if uncovered || !valid || fails.iter().any(|f| f.contains(&c)) {
                st.n_bad += 1;
                if let Some(m) = mask.as_mut() {
                    m[c] |= bad_bits;
                }
            }
        }
    }
    st
}

#[cfg(test)]
mod tests;
