//! The `weighted` window (ramp profiles and per-cell ramp widths) and the
//! cell centres used by `owner`: geometry shared by the accumulate and
//! stitch families, computed once per grid.

use rayon::prelude::*;

use crate::error::{Error, Result};
use crate::geom::Box2I;

/// The ramp profile of a `weighted` window.
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

impl std::str::FromStr for Window {
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

/// Per-cell geometry: ramp widths in pixels on the `[left, right, bottom,
/// top]` edges of the cell's box (0: no ramp; `weighted`) and the cell
/// centre in parent pixel coordinates (`owner`).
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

/// The window factors along an axis of `n` pixels with ramps `r_lo`, `r_hi`.
pub(crate) fn axis_window(window: Window, n: usize, r_lo: i32, r_hi: i32) -> Vec<f64> {
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

/// The centre of every cell before it was clipped to the exposure `full`.
///
/// A cell clipped by the image edge is smaller than the others; its centroid
/// on the grid lies where the full-size cell would be centred (for the last
/// cell of a row, possibly beyond the image). Using it for `owner` keeps each
/// pixel with the cell whose core holds it, instead of handing it to a sliver
/// of a cell whose clipped centre moved towards the edge. Cells no smaller
/// than the largest are used as they are.
pub fn unclipped_centres(cells: &[Box2I], full: &Box2I) -> Vec<[f64; 2]> {
    let cw = cells
        .iter()
        .map(|b| i64::from(b.width()))
        .max()
        .unwrap_or(0);
    let ch = cells
        .iter()
        .map(|b| i64::from(b.height()))
        .max()
        .unwrap_or(0);
    let centre = |lo: i64, hi: i64, size: i64, f0: i64, f1: i64| -> f64 {
        let (mut lo, mut hi) = (lo, hi);
        if hi - lo + 1 < size {
            if lo == f0 && hi != f1 {
                lo = hi - size + 1;
            } else if hi == f1 && lo != f0 {
                hi = lo + size - 1;
            }
        }
        (lo + hi) as f64 / 2.0
    };
    let (fx0, fx1) = (i64::from(full.min_x()), i64::from(full.max_x()));
    let (fy0, fy1) = (i64::from(full.min_y()), i64::from(full.max_y()));
    cells
        .iter()
        .map(|b| {
            [
                centre(i64::from(b.min_x()), i64::from(b.max_x()), cw, fx0, fx1),
                centre(i64::from(b.min_y()), i64::from(b.max_y()), ch, fy0, fy1),
            ]
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::geom::{Extent2I, Point2I};

    fn bx(x: i32, y: i32, w: i32, h: i32) -> Box2I {
        Box2I::from_corner_dims(Point2I::new(x, y), Extent2I::new(w, h), true).unwrap()
    }

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
    fn ramps_face_neighbours_only() {
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

    #[test]
    fn clipped_cells_keep_their_grid_centre() {
        // Cells of 10 columns; the last one is clipped to 4 columns at the right edge.
        let full = bx(0, 0, 24, 10);
        let c = unclipped_centres(
            &[bx(0, 0, 10, 10), bx(10, 0, 10, 10), bx(20, 0, 4, 10)],
            &full,
        );
        assert_eq!(c[0], [4.5, 4.5]);
        assert_eq!(c[2], [24.5, 4.5]);
    }
}
