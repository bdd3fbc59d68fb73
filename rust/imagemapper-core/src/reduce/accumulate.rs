//! The accumulate family: contributions are added, then normalised —
//! `sum` (no normalisation), `average` (by their count) and `weighted` (by
//! the summed window weights).

use ndarray::Zip;

use super::band::{Band, Overlap};
use super::{BandStats, CellGeom, CellView, Params, Pixel, ReduceOp, VariancePolicy};

/// `sum` and `average`: add the valid pixels (and count them when there is
/// a count plane). A `sum` with a variance plane marks "no contribution
/// yet" with a NaN variance, so its first contribution is assigned. An
/// integer `average` adds into its exact `i128` plane instead of the image.
pub(super) fn sum<T: Pixel>(band: &mut Band<'_, T>, cell: &CellView<'_, T>, o: &Overlap) {
    let ci = o.cell(&cell.image);
    let oi = o.out(&mut band.image);
    match (
        band.variance.as_mut(),
        cell.variance.as_ref(),
        band.count.as_mut(),
    ) {
        (Some(ov), Some(cv), Some(n)) => Zip::from(oi)
            .and(o.out(ov))
            .and(o.out(n))
            .and(ci)
            .and(o.cell(cv))
            .for_each(|oi, ov, n, &ci, &cv| {
                if T::valid(ci, cv) {
                    *oi = oi.add(ci);
                    *ov = ov.add(cv);
                    *n += 1;
                }
            }),
        (Some(ov), Some(cv), None) => Zip::from(oi)
            .and(o.out(ov))
            .and(ci)
            .and(o.cell(cv))
            .for_each(|oi, ov, &ci, &cv| {
                if T::valid(ci, cv) {
                    *oi = oi.add(ci);
                    *ov = if ov.is_nan() { cv } else { ov.add(cv) };
                }
            }),
        (_, _, Some(n)) => match band.wide.as_mut() {
            Some(wide) => Zip::from(o.out(wide))
                .and(o.out(n))
                .and(ci)
                .for_each(|s, n, &ci| {
                    *s += ci.to_i128();
                    *n += 1;
                }),
            None => Zip::from(oi).and(o.out(n)).and(ci).for_each(|oi, n, &ci| {
                *oi = oi.add(ci);
                *n += 1;
            }),
        },
        _ => Zip::from(oi).and(ci).for_each(|oi, &ci| *oi = oi.add(ci)),
    }
}

/// `weighted`: add `w · v` (and `w σ²` or `w² σ²`) in `f64`, rounded to
/// the pixel type after each cell; Σ w in the auxiliary plane.
pub(super) fn weighted<T: Pixel>(
    params: &Params,
    band: &mut Band<'_, T>,
    cell: &CellView<'_, T>,
    o: &Overlap,
    geom: &CellGeom,
    wx: &[f64],
) {
    let Some(aux) = band.aux.as_mut() else {
        return;
    };
    let independent = params.variance == VariancePolicy::Independent;
    let height = i64::from(cell.bbox.height());
    let ci = o.cell(&cell.image);
    let cv = cell.variance.as_ref().map(|v| o.cell(v));
    let mut oi = o.out(&mut band.image);
    let mut ov = band.variance.as_mut().map(|v| o.out(v));
    let mut ow = o.out(aux);
    let wx = &wx[o.cell_cols.clone()];
    for k in 0..ci.nrows() {
        let t = (o.cell_rows.start + k) as i64;
        let wy = super::window::window_1d(
            params.window,
            t,
            height - 1 - t,
            geom.ramps[2],
            geom.ramps[3],
        );
        for (j, &wxj) in wx.iter().enumerate() {
            let c = ci[[k, j]];
            let v = cv.as_ref().map(|cv| cv[[k, j]]);
            let mut w = wxj * wy;
            if let Some(v) = v {
                if !T::valid(c, v) {
                    continue;
                }
                if params.inverse_variance {
                    let vf = v.to_f64();
                    if vf <= 0.0 || vf.is_infinite() {
                        continue;
                    }
                    w /= vf;
                }
            }
            if w == 0.0 {
                continue;
            }
            oi[[k, j]] = T::from_f64(oi[[k, j]].to_f64() + w * c.to_f64());
            if let (Some(ov), Some(v)) = (ov.as_mut(), v) {
                let wv = if independent {
                    w * w * v.to_f64()
                } else {
                    w * v.to_f64()
                };
                ov[[k, j]] = T::from_f64(ov[[k, j]].to_f64() + wv);
            }
            ow[[k, j]] += w;
        }
    }
}

/// Settle one output pixel of an accumulate operation at the end: `sum`
/// pixels with no valid contribution become 0; `average` and `weighted`
/// divide by their count / Σ w (in `f64`, rounded once) or become EMPTY;
/// an integer `average` divides its exact sum `wide`, rounding half to even.
/// Gathers the weight statistics; returns whether no valid value landed.
#[inline]
#[allow(clippy::too_many_arguments)]
pub(super) fn settle<T: Pixel>(
    op: ReduceOp,
    independent: bool,
    image: &mut T,
    variance: Option<&mut T>,
    count: Option<i32>,
    sum_w: Option<f64>,
    wide: Option<i128>,
    st: &mut BandStats,
) -> bool {
    match op {
        ReduceOp::Sum => {
            let uncovered = match (&variance, count) {
                (Some(v), _) => v.is_nan(),
                (None, Some(n)) => n == 0,
                (None, None) => false,
            };
            if uncovered {
                *image = T::ZERO;
                if let Some(v) = variance {
                    *v = T::ZERO;
                }
            }
            uncovered
        }
        ReduceOp::Average => {
            let n = count.unwrap_or(0);
            let nf = f64::from(n);
            st.min_w = st.min_w.min(nf);
            st.max_w = st.max_w.max(nf);
            st.sum_w += nf;
            if let (Some(s), true) = (wide, n > 0) {
                *image = T::from_i128(super::div_round_half_even(s, i128::from(n)));
                return false;
            }
            divide(image, variance, (n > 0).then_some((nf, nf)), st)
        }
        ReduceOp::Weighted => {
            let sw = sum_w.unwrap_or(0.0);
            if sw > 0.0 {
                st.min_w = st.min_w.min(sw);
                st.max_w = st.max_w.max(sw);
                st.sum_w += sw;
            }
            let dv = if independent { sw * sw } else { sw };
            divide(image, variance, (sw > 0.0).then_some((sw, dv)), st)
        }
        _ => image.is_nan(),
    }
}

#[inline]
fn divide<T: Pixel>(
    image: &mut T,
    variance: Option<&mut T>,
    by: Option<(f64, f64)>,
    st: &mut BandStats,
) -> bool {
    match by {
        Some((di, dv)) => {
            *image = T::from_f64(image.to_f64() / di);
            if let Some(v) = variance {
                *v = T::from_f64(v.to_f64() / dv);
            }
            false
        }
        None => {
            *image = T::EMPTY;
            if let Some(v) = variance {
                *v = T::EMPTY;
            }
            st.n_zero += 1;
            true
        }
    }
}
