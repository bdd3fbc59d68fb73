//! Reduce operations beyond LSST's: seam-free `weighted` blending, `owner`
//! (each pixel from the cell whose centre is nearest), `max`, `min`, and the
//! bilinear interpolation behind `mesh`.
//!
//! Semantics shared with [`crate::stitch`]:
//! * a cell pixel is *valid* when `image * variance` is not NaN;
//! * every cell's mask is OR'ed into the output mask over the whole cell;
//! * [`finalize`] sets `bad_bits` wherever `image * variance` is NaN;
//! * the output is split into disjoint bands of rows processed in parallel,
//!   and inside a band the cells are applied in the order given, so the
//!   result is bit-identical for any number of threads and for any split of
//!   the cells into successive batches (given in cell order).
//!
//! The operations:
//! * [`BlendOp::Weighted`]: every cell carries a separable window
//!   `w(x, y) = wx(x) · wy(y)`; each factor is 1 inside the cell and ramps
//!   down only on the edges listed in its [`CellGeom::ramps`] (edges that
//!   face another cell, never the image border). The ramp profile `p(u)`
//!   (`u` in `(0, 1)`, the position across the ramp) satisfies
//!   `p(u) + p(1 - u) = 1`, so two cells overlapping by exactly the ramp
//!   width form a partition of unity. The output is `Σ w v / Σ w`; the
//!   variance is `Σ w σ² / Σ w` ([`VariancePolicy::Correlated`]) or
//!   `Σ w² σ² / (Σ w)²` ([`VariancePolicy::Independent`]). With
//!   `inverse_variance`, `w` is further multiplied by `1 / σ²` (a pixel whose
//!   variance is not positive is then not valid). The `aux` plane holds `Σ w`.
//! * [`BlendOp::Owner`]: each output pixel takes the value (and variance)
//!   of the valid contribution whose cell centre ([`CellGeom::centre`]) is
//!   nearest; ties go to the earlier cell. The `aux` plane holds the squared
//!   distance of the owner (`+inf` where none).
//! * [`BlendOp::Max`], [`BlendOp::Min`]: the largest / smallest valid value
//!   (with its variance); ties keep the earlier cell; NaN where none.

use std::str::FromStr;
use std::sync::Mutex;

use ndarray::{s, ArrayView2, ArrayViewMut2, Axis, Zip};
use rayon::prelude::*;

use crate::error::{Error, Result};
use crate::geom::Box2I;
use crate::stitch::{
    check_cells, check_plane, for_each_band, or_mask, overlap, shape_of, thread_pool, Band,
    CellView, Pixel,
};

/// The reduce operations of this module.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlendOp {
    /// Window-weighted mean, renormalised by the summed weights.
    Weighted,
    /// The value of the valid cell whose centre is nearest.
    Owner,
    /// Largest valid value.
    Max,
    /// Smallest valid value.
    Min,
}

impl FromStr for BlendOp {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "weighted" => Ok(Self::Weighted),
            "owner" => Ok(Self::Owner),
            "max" => Ok(Self::Max),
            "min" => Ok(Self::Min),
            other => Err(Error::InvalidValue(format!(
                "reduceOperation {other:?} is not a blending operation; expected one of \
                 \"weighted\", \"owner\", \"max\", \"min\""
            ))),
        }
    }
}

impl BlendOp {
    /// Whether the operation needs the `f64` auxiliary plane.
    pub fn needs_aux(self) -> bool {
        matches!(self, Self::Weighted | Self::Owner)
    }
}

/// The ramp profile of a [`BlendOp::Weighted`] window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Window {
    /// `p(u) = u`.
    Linear,
    /// Hann: `p(u) = sin²(π u / 2)`.
    Cosine,
    /// Gaussian step: `p(u) = Φ(6 (u - 1/2))`, Φ the normal CDF (σ = 1/6 of
    /// the ramp width).
    Gaussian,
}

impl FromStr for Window {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "linear" => Ok(Self::Linear),
            "cosine" => Ok(Self::Cosine),
            "gaussian" => Ok(Self::Gaussian),
            other => Err(Error::InvalidValue(format!(
                "blend window {other:?} is unknown; expected one of \"linear\", \"cosine\", \"gaussian\""
            ))),
        }
    }
}

/// How [`BlendOp::Weighted`] combines variances.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VariancePolicy {
    /// `Σ w σ² / Σ w`: the variance is averaged like the image (as LSST's
    /// `average` does); right for fully correlated overlapping cells.
    Correlated,
    /// `Σ w² σ² / (Σ w)²`: the variance of a weighted mean of independent
    /// values.
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

/// Options of [`BlendOp::Weighted`] (ignored by the other operations).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BlendParams {
    pub window: Window,
    pub inverse_variance: bool,
    pub variance: VariancePolicy,
}

impl Default for BlendParams {
    fn default() -> Self {
        Self {
            window: Window::Cosine,
            inverse_variance: false,
            variance: VariancePolicy::Correlated,
        }
    }
}

/// Per-cell geometry: ramp widths in pixels on the `[left, right, bottom,
/// top]` edges of the cell's box (0: no ramp; [`BlendOp::Weighted`]) and the
/// cell centre in parent pixel coordinates ([`BlendOp::Owner`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CellGeom {
    pub ramps: [i32; 4],
    pub centre: [f64; 2],
}

impl CellGeom {
    /// No ramps, centred on `bbox`.
    pub fn of_box(bbox: &Box2I) -> Self {
        let c = bbox.center();
        Self {
            ramps: [0; 4],
            centre: [c.x, c.y],
        }
    }
}

/// The output planes, covering `bbox`; `aux` (`f64`) is required for
/// [`BlendOp::Weighted`] (Σ w) and [`BlendOp::Owner`] (squared distance).
pub struct BlendOut<'a, T> {
    pub bbox: Box2I,
    pub image: ArrayViewMut2<'a, T>,
    pub mask: ArrayViewMut2<'a, i32>,
    pub variance: ArrayViewMut2<'a, T>,
    pub aux: Option<ArrayViewMut2<'a, f64>>,
}

/// What [`finalize`] measured.
#[derive(Debug, Clone, PartialEq)]
pub struct BlendStats {
    /// Pixels flagged with the bad bits.
    pub n_bad: u64,
    /// Pixels with no valid contribution.
    pub n_uncovered: u64,
    /// Smallest and largest Σ w over covered pixels (`weighted` only).
    pub min_weight: f64,
    pub max_weight: f64,
}

// ------------------------------------------------------------------ windows

/// `0.5 · erfc(z)` for `z >= 0`, fractional error below 1.2e-7 (Numerical
/// Recipes' Chebyshev fit).
fn half_erfc(z: f64) -> f64 {
    let t = 1.0 / (1.0 + 0.5 * z);
    let poly = -z * z - 1.265_512_23
        + t * (1.000_023_68
            + t * (0.374_091_96
                + t * (0.096_784_18
                    + t * (-0.186_288_06
                        + t * (0.278_868_07
                            + t * (-1.135_203_98
                                + t * (1.488_515_87 + t * (-0.822_152_23 + t * 0.170_872_77))))))));
    0.5 * t * poly.exp()
}

/// The normal CDF, exactly antisymmetric: `phi(z) + phi(-z) == 1` up to one
/// rounding.
fn phi(z: f64) -> f64 {
    if z == 0.0 {
        return 0.5;
    }
    let h = half_erfc(z.abs() / std::f64::consts::SQRT_2);
    if z < 0.0 {
        h
    } else {
        1.0 - h
    }
}

/// The ramp profile at `u` in `(0, 1)`.
pub fn profile(window: Window, u: f64) -> f64 {
    match window {
        Window::Linear => u,
        Window::Cosine => {
            let s = (std::f64::consts::FRAC_PI_2 * u).sin();
            s * s
        }
        Window::Gaussian => phi(6.0 * (u - 0.5)),
    }
}

/// The 1-D window factor of a pixel `t_lo` pixels from the low edge and
/// `t_hi` pixels from the high edge of its cell, with ramps `r_lo`, `r_hi`.
pub fn window_1d(window: Window, t_lo: i64, t_hi: i64, r_lo: i32, r_hi: i32) -> f64 {
    let ramp = |t: i64, r: i32| -> f64 {
        if r <= 0 || t >= i64::from(r) {
            1.0
        } else {
            profile(window, (t as f64 + 0.5) / f64::from(r))
        }
    };
    ramp(t_lo, r_lo) * ramp(t_hi, r_hi)
}

/// The window factors along the columns of `bbox` (`ramps[0]`, `ramps[1]`)
/// or along its rows (`ramps[2]`, `ramps[3]`).
fn axis_window(window: Window, n: usize, r_lo: i32, r_hi: i32) -> Vec<f64> {
    (0..n as i64)
        .map(|t| window_1d(window, t, n as i64 - 1 - t, r_lo, r_hi))
        .collect()
}

/// Ramp widths `[left, right, bottom, top]` for every cell of a grid: on
/// each edge, the largest overlap (in that direction) with a cell that
/// overlaps this one and reaches beyond that edge; 0 where no cell does
/// (in particular on the image border). Each ramp is at most
/// `max_fraction` of the cell's width (height), so that opposite ramps do
/// not cross.
///
/// # Errors
/// [`Error::InvalidValue`] when `max_fraction` is not in `(0, 1]`.
pub fn cell_ramps(cells: &[Box2I], max_fraction: f64) -> Result<Vec<[i32; 4]>> {
    if !(max_fraction > 0.0 && max_fraction <= 1.0) {
        return Err(Error::InvalidValue(format!(
            "ramp fraction {max_fraction} must be in (0, 1]"
        )));
    }
    // Sweep over cells sorted by min x: the cells overlapping one in x lie in
    // a window of that order bounded by the widest cell.
    let mut order: Vec<usize> = (0..cells.len()).filter(|&i| !cells[i].is_empty()).collect();
    order.sort_by_key(|&i| (cells[i].min_x(), i));
    let min_xs: Vec<i64> = order.iter().map(|&i| i64::from(cells[i].min_x())).collect();
    let max_w = order
        .iter()
        .map(|&i| i64::from(cells[i].width()))
        .max()
        .unwrap_or(0);
    let out: Vec<[i32; 4]> = (0..cells.len())
        .into_par_iter()
        .map(|i| {
            let c = &cells[i];
            if c.is_empty() {
                return [0; 4];
            }
            let (cx0, cx1) = (i64::from(c.min_x()), i64::from(c.max_x()));
            let (cy0, cy1) = (i64::from(c.min_y()), i64::from(c.max_y()));
            let lo = min_xs.partition_point(|&x| x < cx0 - max_w + 1);
            let hi = min_xs.partition_point(|&x| x <= cx1);
            let mut r = [0i64; 4];
            for &j in &order[lo..hi] {
                if j == i {
                    continue;
                }
                let n = &cells[j];
                let (nx0, nx1) = (i64::from(n.min_x()), i64::from(n.max_x()));
                let (ny0, ny1) = (i64::from(n.min_y()), i64::from(n.max_y()));
                if nx1 < cx0 || nx0 > cx1 || ny1 < cy0 || ny0 > cy1 {
                    continue;
                }
                if nx0 < cx0 {
                    r[0] = r[0].max(nx1.min(cx1) - cx0 + 1);
                }
                if nx1 > cx1 {
                    r[1] = r[1].max(cx1 - nx0.max(cx0) + 1);
                }
                if ny0 < cy0 {
                    r[2] = r[2].max(ny1.min(cy1) - cy0 + 1);
                }
                if ny1 > cy1 {
                    r[3] = r[3].max(cy1 - ny0.max(cy0) + 1);
                }
            }
            let cap_x = (max_fraction * (cx1 - cx0 + 1) as f64).floor() as i64;
            let cap_y = (max_fraction * (cy1 - cy0 + 1) as f64).floor() as i64;
            [
                r[0].min(cap_x) as i32,
                r[1].min(cap_x) as i32,
                r[2].min(cap_y) as i32,
                r[3].min(cap_y) as i32,
            ]
        })
        .collect();
    Ok(out)
}

// ------------------------------------------------------------------ kernel

fn check_out<T>(op: BlendOp, out: &BlendOut<'_, T>) -> Result<()> {
    let want = shape_of(&out.bbox);
    check_plane("image", out.image.dim(), want, &out.bbox)?;
    check_plane("mask", out.mask.dim(), want, &out.bbox)?;
    check_plane("variance", out.variance.dim(), want, &out.bbox)?;
    match &out.aux {
        Some(a) => check_plane("weights", a.dim(), want, &out.bbox),
        None if op.needs_aux() => Err(Error::InvalidValue(format!(
            "reduceOperation {:?} needs a float64 weights plane",
            format!("{op:?}").to_lowercase()
        ))),
        None => Ok(()),
    }
}

/// The shared band driver over a [`BlendOut`] (its float64 plane as auxiliary).
fn for_each_blend_band<T, F>(out: &mut BlendOut<'_, T>, n_threads: usize, f: F) -> Result<()>
where
    T: Pixel,
    F: Fn(&mut Band<'_, T, f64>) + Sync + Send,
{
    for_each_band(
        i64::from(out.bbox.min_y()),
        &mut out.image,
        &mut out.mask,
        &mut out.variance,
        out.aux.as_mut(),
        n_threads,
        f,
    )
}

/// Initialise the output for `op`: image and variance 0 and Σw 0
/// (`weighted`), or NaN with squared distance `+inf` (`owner`), or NaN
/// (`max`, `min`). The mask is left as it is.
///
/// # Errors
/// [`Error::Shape`] when the planes do not match the output box.
pub fn init<T: Pixel>(op: BlendOp, out: &mut BlendOut<'_, T>, n_threads: usize) -> Result<()> {
    check_out(op, out)?;
    let start = if op == BlendOp::Weighted {
        T::ZERO
    } else {
        T::NAN
    };
    let aux0 = if op == BlendOp::Owner {
        f64::INFINITY
    } else {
        0.0
    };
    for_each_blend_band(out, n_threads, |b| {
        b.image.fill(start);
        b.variance.fill(start);
        if let Some(a) = b.aux.as_mut() {
            a.fill(aux0);
        }
    })
}

#[allow(clippy::too_many_arguments)]
fn apply_cell<T: Pixel>(
    op: BlendOp,
    params: &BlendParams,
    band: &mut Band<'_, T, f64>,
    out_x0: i64,
    cell: &CellView<'_, T>,
    geom: &CellGeom,
    wx: &[f64],
) {
    let Some(o) = overlap(band.y0, band.image.nrows(), out_x0, &cell.bbox) else {
        return;
    };
    let (br, cols) = (o.band_rows.clone(), o.cols.clone());
    let (cr0, cr1) = (o.cell_rows.start, o.cell_rows.end);
    let cy0 = i64::from(cell.bbox.min_y());
    let cy1 = i64::from(cell.bbox.end_y());
    let img = cell.image.slice(s![cr0..cr1, ..]);
    let var = cell.variance.slice(s![cr0..cr1, ..]);
    let mut out_img = band.image.slice_mut(s![br.clone(), cols.clone()]);
    let mut out_var = band.variance.slice_mut(s![br.clone(), cols.clone()]);
    let height = cy1 - cy0;
    match op {
        BlendOp::Weighted => {
            let Some(aux) = band.aux.as_mut() else { return };
            let mut out_w = aux.slice_mut(s![br.clone(), cols.clone()]);
            let independent = params.variance == VariancePolicy::Independent;
            for (k, cr) in (cr0..cr1).enumerate() {
                let t = cr as i64;
                let wy = window_1d(
                    params.window,
                    t,
                    height - 1 - t,
                    geom.ramps[2],
                    geom.ramps[3],
                );
                let row_img = img.row(k);
                let row_var = var.row(k);
                let mut o_img = out_img.row_mut(k);
                let mut o_var = out_var.row_mut(k);
                let mut o_w = out_w.row_mut(k);
                for j in 0..wx.len() {
                    let (ci, cv) = (row_img[j], row_var[j]);
                    if (ci * cv).is_nan() {
                        continue;
                    }
                    let mut w = wx[j] * wy;
                    let v = cv.to_f64();
                    if params.inverse_variance {
                        if v <= 0.0 || v.is_infinite() {
                            continue;
                        }
                        w /= v;
                    }
                    if w == 0.0 {
                        continue;
                    }
                    o_img[j] = T::from_f64(o_img[j].to_f64() + w * ci.to_f64());
                    let wv = if independent { w * w * v } else { w * v };
                    o_var[j] = T::from_f64(o_var[j].to_f64() + wv);
                    o_w[j] += w;
                }
            }
        }
        BlendOp::Owner => {
            let Some(aux) = band.aux.as_mut() else { return };
            let mut out_d = aux.slice_mut(s![br.clone(), cols.clone()]);
            let cx0 = f64::from(cell.bbox.min_x());
            let [gx, gy] = geom.centre;
            for (k, cr) in (cr0..cr1).enumerate() {
                let dy = (cy0 + cr as i64) as f64 - gy;
                let dy2 = dy * dy;
                let row_img = img.row(k);
                let row_var = var.row(k);
                let mut o_img = out_img.row_mut(k);
                let mut o_var = out_var.row_mut(k);
                let mut o_d = out_d.row_mut(k);
                for j in 0..row_img.len() {
                    let (ci, cv) = (row_img[j], row_var[j]);
                    if (ci * cv).is_nan() {
                        continue;
                    }
                    let dx = cx0 + j as f64 - gx;
                    let d2 = dx * dx + dy2;
                    if d2 < o_d[j] {
                        o_d[j] = d2;
                        o_img[j] = ci;
                        o_var[j] = cv;
                    }
                }
            }
        }
        BlendOp::Max | BlendOp::Min => {
            let want_max = op == BlendOp::Max;
            Zip::from(&mut out_img)
                .and(&mut out_var)
                .and(&img)
                .and(&var)
                .for_each(|oi, ov, &ci, &cv| {
                    if (ci * cv).is_nan() {
                        return;
                    }
                    let (a, b) = (ci.to_f64(), oi.to_f64());
                    let better = b.is_nan() || if want_max { a > b } else { a < b };
                    if better {
                        *oi = ci;
                        *ov = cv;
                    }
                });
        }
    }
    or_mask(band, cell, &o);
}

/// Stitch a batch of cells with `op`, in the order given; `geoms[i]` is the
/// geometry of `cells[i]`.
///
/// # Errors
/// [`Error::Shape`] when a cell lies outside the output box, a plane does
/// not match its box, or `geoms` and `cells` differ in length; nothing is
/// written then.
pub fn accumulate<T: Pixel>(
    op: BlendOp,
    params: &BlendParams,
    out: &mut BlendOut<'_, T>,
    cells: &[CellView<'_, T>],
    geoms: &[CellGeom],
    n_threads: usize,
) -> Result<()> {
    check_out(op, out)?;
    check_cells(&out.bbox, cells)?;
    if geoms.len() != cells.len() {
        return Err(Error::Shape(format!(
            "{} cells but {} cell geometries; expected one per cell",
            cells.len(),
            geoms.len()
        )));
    }
    for (i, g) in geoms.iter().enumerate() {
        if g.ramps.iter().any(|&r| r < 0) || !g.centre.iter().all(|c| c.is_finite()) {
            return Err(Error::InvalidValue(format!(
                "cell {i}: ramps {:?} must be >= 0 and centre {:?} finite",
                g.ramps, g.centre
            )));
        }
    }
    if cells.is_empty() {
        return Ok(());
    }
    let wxs: Vec<Vec<f64>> = if op == BlendOp::Weighted {
        cells
            .iter()
            .zip(geoms)
            .map(|(c, g)| {
                axis_window(
                    params.window,
                    c.bbox.width().max(0) as usize,
                    g.ramps[0],
                    g.ramps[1],
                )
            })
            .collect()
    } else {
        vec![Vec::new(); cells.len()]
    };
    let out_x0 = i64::from(out.bbox.min_x());
    for_each_blend_band(out, n_threads, |band| {
        for ((cell, geom), wx) in cells.iter().zip(geoms).zip(&wxs) {
            apply_cell(op, params, band, out_x0, cell, geom, wx);
        }
    })
}

/// Finish: for `weighted`, divide by Σ w (NaN where Σ w is 0); then set
/// `bad_bits` wherever `image * variance` is NaN.
///
/// # Errors
/// [`Error::Shape`] when the planes do not match the output box.
pub fn finalize<T: Pixel>(
    op: BlendOp,
    params: &BlendParams,
    out: &mut BlendOut<'_, T>,
    bad_bits: i32,
    n_threads: usize,
) -> Result<BlendStats> {
    check_out(op, out)?;
    let independent = params.variance == VariancePolicy::Independent;
    let per_band: Mutex<Vec<(u64, u64, f64, f64)>> = Mutex::new(Vec::new());
    for_each_blend_band(out, n_threads, |b| {
        let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
        let mut n_unc = 0u64;
        if op == BlendOp::Weighted {
            if let Some(a) = b.aux.as_ref() {
                Zip::from(&mut b.image)
                    .and(&mut b.variance)
                    .and(a)
                    .for_each(|oi, ov, &w| {
                        if w > 0.0 {
                            *oi = T::from_f64(oi.to_f64() / w);
                            let d = if independent { w * w } else { w };
                            *ov = T::from_f64(ov.to_f64() / d);
                        } else {
                            *oi = T::NAN;
                            *ov = T::NAN;
                        }
                    });
                for &w in a.iter() {
                    if w > 0.0 {
                        lo = lo.min(w);
                        hi = hi.max(w);
                    } else {
                        n_unc += 1;
                    }
                }
            }
        } else {
            n_unc = b.image.iter().filter(|v| v.is_nan()).count() as u64;
        }
        let mut n_bad = 0u64;
        Zip::from(&mut b.mask)
            .and(&b.image)
            .and(&b.variance)
            .for_each(|om, &oi, &ov| {
                if (oi * ov).is_nan() {
                    *om |= bad_bits;
                    n_bad += 1;
                }
            });
        if let Ok(mut v) = per_band.lock() {
            v.push((n_bad, n_unc, lo, hi));
        }
    })?;
    let bands = per_band
        .into_inner()
        .map_err(|_| Error::Runtime("a stitching thread panicked".to_string()))?;
    let mut stats = BlendStats {
        n_bad: 0,
        n_uncovered: 0,
        min_weight: f64::INFINITY,
        max_weight: f64::NEG_INFINITY,
    };
    for (nb, nu, lo, hi) in bands {
        stats.n_bad += nb;
        stats.n_uncovered += nu;
        stats.min_weight = stats.min_weight.min(lo);
        stats.max_weight = stats.max_weight.max(hi);
    }
    if !stats.min_weight.is_finite() {
        stats.min_weight = 0.0;
        stats.max_weight = 0.0;
    }
    Ok(stats)
}

// ------------------------------------------------------------------ mesh

/// Index and fraction of `v` among the sorted nodes (constant beyond the
/// first and last node).
fn bracket(nodes: &[f64], v: f64) -> (usize, f64) {
    let n = nodes.len();
    if n == 1 || v <= nodes[0] {
        return (0, 0.0);
    }
    if v >= nodes[n - 1] {
        return (n - 2, 1.0);
    }
    let k = nodes.partition_point(|&x| x <= v).clamp(1, n - 1) - 1;
    let f = (v - nodes[k]) / (nodes[k + 1] - nodes[k]);
    (k, f)
}

/// Bilinear interpolation of `values` (shape `(ys.len(), xs.len())`, at the
/// nodes `xs` × `ys` in parent pixel coordinates) at every pixel of `out`
/// (covering `bbox`). Beyond the outermost nodes the value is that at the
/// nearest point of the node rectangle (constant extrapolation).
///
/// # Errors
/// [`Error::InvalidValue`] for empty or non-increasing nodes, or non-finite
/// values; [`Error::Shape`] when the shapes disagree.
pub fn mesh_bilinear<T: Pixel>(
    xs: &[f64],
    ys: &[f64],
    values: ArrayView2<'_, f64>,
    bbox: &Box2I,
    mut out: ArrayViewMut2<'_, T>,
    n_threads: usize,
) -> Result<()> {
    for (name, nodes) in [("x", xs), ("y", ys)] {
        if nodes.is_empty()
            || nodes
                .windows(2)
                .any(|w| w[1].partial_cmp(&w[0]) != Some(std::cmp::Ordering::Greater))
        {
            return Err(Error::InvalidValue(format!(
                "mesh {name} nodes {nodes:?} must be non-empty and strictly increasing"
            )));
        }
    }
    if values.dim() != (ys.len(), xs.len()) {
        return Err(Error::Shape(format!(
            "mesh values have shape {:?} but the nodes need ({}, {})",
            values.dim(),
            ys.len(),
            xs.len()
        )));
    }
    if values.iter().any(|v| !v.is_finite()) {
        return Err(Error::InvalidValue(
            "mesh values must be finite (fill missing nodes first)".to_string(),
        ));
    }
    check_plane("image", out.dim(), shape_of(bbox), bbox)?;
    let x0 = f64::from(bbox.min_x());
    let y0 = i64::from(bbox.min_y());
    let cols: Vec<(usize, f64)> = (0..out.ncols())
        .map(|j| bracket(xs, x0 + j as f64))
        .collect();
    let nx = xs.len();
    let pool = thread_pool(n_threads)?;
    pool.install(|| {
        out.axis_iter_mut(Axis(0))
            .into_par_iter()
            .enumerate()
            .for_each(|(i, mut row)| {
                let (ky, fy) = bracket(ys, (y0 + i as i64) as f64);
                let ky1 = (ky + 1).min(ys.len() - 1);
                let (r0, r1) = (values.row(ky), values.row(ky1));
                for (o, &(kx, fx)) in row.iter_mut().zip(&cols) {
                    let kx1 = (kx + 1).min(nx - 1);
                    let a = r0[kx] + fx * (r0[kx1] - r0[kx]);
                    let b = r1[kx] + fx * (r1[kx1] - r1[kx]);
                    *o = T::from_f64(a + fy * (b - a));
                }
            });
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profiles_are_complementary() {
        for w in [Window::Linear, Window::Cosine, Window::Gaussian] {
            for k in 0..20 {
                let u = (f64::from(k) + 0.5) / 20.0;
                let s = profile(w, u) + profile(w, 1.0 - u);
                assert!((s - 1.0).abs() < 1e-15, "{w:?} {u} {s}");
            }
            assert!(profile(w, 0.01) < 0.02 && profile(w, 0.99) > 0.98);
        }
        assert!((phi(1.0) - 0.841_344_746_068_542_9).abs() < 1e-7);
    }

    #[test]
    fn bracket_clamps() {
        let n = [10.0, 20.0, 40.0];
        assert_eq!(bracket(&n, 0.0), (0, 0.0));
        assert_eq!(bracket(&n, 15.0), (0, 0.5));
        assert_eq!(bracket(&n, 20.0), (1, 0.0));
        assert_eq!(bracket(&n, 50.0), (1, 1.0));
        assert_eq!(bracket(&[3.0], 7.0), (0, 0.0));
    }

    #[test]
    fn ramps_face_neighbours_only() {
        use crate::geom::{Extent2I, Point2I};
        let bx = |x, y, w, h| {
            Box2I::from_corner_dims(Point2I::new(x, y), Extent2I::new(w, h), true).unwrap()
        };
        // Two cells side by side overlapping by 8 columns, one above overlapping by 4 rows.
        let cells = [bx(0, 0, 32, 32), bx(24, 0, 32, 32), bx(0, 28, 32, 32)];
        let r = cell_ramps(&cells, 0.5).unwrap();
        assert_eq!(r[0], [0, 8, 0, 4]);
        assert_eq!(r[1], [8, 0, 0, 4]);
        assert_eq!(r[2], [0, 8, 4, 0]);
        let r = cell_ramps(&cells, 0.1).unwrap();
        assert_eq!(r[0], [0, 3, 0, 3]);
        assert!(cell_ramps(&cells, 0.0).is_err());
    }
}
